#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine (installs what it needs first):
#   1. pure crates (cargo test, no PostgreSQL),
#   2. in-server #[pg_test]s and the end-to-end tests against throwaway PostgreSQL 18
#      clusters (cargo pgrx test; the e2e harness starts its own clusters), including the
#      dbt package (tests/dbt.rs, dbt from a cached virtualenv),
#   3. the Docker tier (tests/docker_e2e.rs): the image of Dockerfile.e2e through
#      testcontainers, when a Docker engine can be started (as root).
# Extra arguments are passed to both cargo invocations as a test-name filter.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGT_REPO_ROOT"

eval "$(bash scripts/setup.sh | tail -n 1)"
export PG_CONFIG
log "using $PG_CONFIG ($("$PG_CONFIG" --version))"

log "tier 1: pure crates"
cargo test --quiet -p pgt_core -p pgt_sql -p pgt_dvm -p pgt_cdc -p pgt_dag -p pgt_scheduler -p pgt_testkit -p pgt_cli -p pgt_sidecar -p pgt_pgquery "$@"

log "tier 4 setup: a Docker engine and the pg_trickle-e2e image (tests/docker_e2e.rs)"
if [ "$(id -u)" != 0 ]; then
  log "Docker tier skipped: starting dockerd needs root"
elif ! docker_env="$(bash scripts/docker.sh start)"; then
  log "Docker tier skipped: no Docker engine could be started (see above)"
else
  eval "$docker_env"
  export DOCKER_HOST
  trap 'bash scripts/docker.sh stop' EXIT
  # A failure to build the image is a failure of the suite, not a reason to skip.
  PGT_E2E_IMAGE="$(bash scripts/docker.sh image)"
  export PGT_E2E_IMAGE
fi

log "tier 2+3: in-server #[pg_test]s and end-to-end tests against PostgreSQL 18"
if [ "$(id -u)" = 0 ]; then
  pgdata_parent="$PGT_CACHE_DIR/pgrx-test"
  mkdir -p "$pgdata_parent"
  chown "$PGT_PG_USER": "$pgdata_parent"
  cargo pgrx test pg18 --runas "$PGT_PG_USER" --pgdata "$pgdata_parent/data" "$@"
else
  cargo pgrx test pg18 "$@"
fi
log "all tests passed"
