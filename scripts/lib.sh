# Shared helpers for pg_trickle's scripts. Source it; do not run it.
# Everything heavy is cached outside the repository, in $PGT_CACHE_DIR.

set -euo pipefail

PGT_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ -z "${PGT_CACHE_DIR:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    # /root is usually mode 700; the cluster runs as "postgres" and must read the install.
    PGT_CACHE_DIR=/var/cache/pg_trickle
  else
    PGT_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/pg_trickle"
  fi
fi
export PGT_CACHE_DIR

PGRX_VERSION=0.18.1
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1;34m[pg_trickle]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[pg_trickle] error:\033[0m %s\n' "$*" >&2; exit 1; }

# pg_major <pg_config>: prints the major version of a pg_config binary.
pg_major() { "$1" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'; }

# The user (and group) that runs clusters. PostgreSQL refuses to run as root.
if [ "$(id -u)" = 0 ]; then PGT_PG_USER=postgres; else PGT_PG_USER="$(id -un)"; fi
export PGT_PG_USER

# Runs a command as the PostgreSQL user. A server started this way must not inherit
# RUST_BACKTRACE: pgrx would append Rust backtraces to every error's DETAIL.
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PGT_PG_USER" -- env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$@"
  else
    env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$@"
  fi
}
