#!/usr/bin/env bash
# A Docker engine of our own, and the pg_trickle end-to-end image (Dockerfile.e2e).
#
#   bash scripts/docker.sh start   # installs docker.io + debootstrap if missing, starts dockerd
#                                  # (once), makes the debian:bookworm base image (once), and
#                                  # prints `export DOCKER_HOST=...`
#   bash scripts/docker.sh image   # builds pg_trickle's package and pg_trickle_sidecar on the
#                                  # host, and the images pg_trickle-e2e:<version> and
#                                  # pg_trickle-sidecar:<version>; prints the first's name
#   bash scripts/docker.sh stop    # stops the engine started by `start`
#
# Everything lives in $PGT_CACHE_DIR/docker (data root, socket, base image tarball), outside
# the repository. The engine runs without bridge networking or iptables (containers use
# the host's network), which is what these machines allow; no image registry is needed.
# Root only. PGT_PG_FLAVOR chooses the PostgreSQL build put in the image (setup.sh;
# default release).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGT_REPO_ROOT"

dir="$PGT_CACHE_DIR/docker"
sock="$dir/run/docker.sock"
pidfile="$dir/run/dockerd.pid"
export DOCKER_HOST="unix://$sock"

need_root() { [ "$(id -u)" = 0 ] || die "the Docker tier needs root (to start dockerd)"; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

engine_running() { [ -S "$sock" ] && docker version >/dev/null 2>&1; }

start_engine() {
  engine_running && return 0
  mkdir -p "$dir/run" "$dir/data" "$dir/exec"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    sleep 2
  fi
  rm -f "$sock" "$pidfile"
  log "starting dockerd ($DOCKER_HOST)"
  nohup dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" -H "$DOCKER_HOST" \
    >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    engine_running && return 0
    sleep 1
  done
  tail -20 "$dir/dockerd.log" >&2
  die "dockerd did not start"
}

base_image() {
  docker image inspect debian:bookworm >/dev/null 2>&1 && return 0
  local tarball="$dir/debian-bookworm.tar"
  if [ ! -s "$tarball" ]; then
    local uri root="$dir/bookworm-root"
    uri="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    [ -n "$uri" ] || uri="$(awk '$1=="deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
    [ -n "$uri" ] || die "cannot find a Debian mirror URI in /etc/apt"
    log "debootstrapping a minimal Debian bookworm from $uri"
    rm -rf "$root"
    debootstrap --variant=minbase bookworm "$root" "$uri" >"$dir/debootstrap.log" 2>&1 \
      || { tail -20 "$dir/debootstrap.log" >&2; die "debootstrap failed"; }
    # Images use the same mirror as the host (no registry host name in the repository).
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  log "importing debian:bookworm"
  docker import "$tarball" debian:bookworm >/dev/null
}

build_image() {
  local version flavor ctx pg_config prefix
  version="$(sed -nE 's/^version *= *"([^"]+)".*/\1/p' Cargo.toml | head -1)"
  flavor="${PGT_PG_FLAVOR:-release}"
  pg_config="$(PGT_PG_FLAVOR="$flavor" bash scripts/setup.sh | tail -n 1 | sed -E 's/^export PG_CONFIG=//; s/^"//; s/"$//')"
  prefix="$("$pg_config" --bindir)/.."
  ctx="$dir/context"
  log "packaging pg_trickle $version for $pg_config"
  rm -rf "$dir/package"
  # A target directory of its own: a release build that never waits for (or disturbs) the
  # test build's lock.
  CARGO_TARGET_DIR="$dir/target" cargo pgrx package --pg-config "$pg_config" --out-dir "$dir/package" >&2
  rm -rf "$ctx" && mkdir -p "$ctx/pg" "$ctx/ext"
  cp -a "$prefix"/. "$ctx/pg/"
  # `cargo pgrx package` lays the files out under the install's absolute prefix.
  cp -a "$dir/package/$(cd "$prefix" && pwd)"/. "$ctx/ext/"
  cp docker/docker-entrypoint.sh "$ctx/"
  log "building pg_trickle_sidecar (release)"
  CARGO_TARGET_DIR="$dir/target" cargo build --release -p pgt_sidecar >&2
  mkdir -p "$ctx/sidecar" && cp "$dir/target/release/pg_trickle_sidecar" "$ctx/sidecar/"
  log "building pg_trickle-e2e:$version and pg_trickle-sidecar:$version"
  docker build --network host -f Dockerfile.e2e -t "pg_trickle-e2e:$version" "$ctx" >&2
  docker build --network host -f Dockerfile.e2e --target sidecar -t "pg_trickle-sidecar:$version" "$ctx" >&2
  echo "pg_trickle-e2e:$version"
}

case "${1:-start}" in
  start)
    need_root; install_packages; start_engine; base_image
    echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  image)
    need_root; install_packages; start_engine; base_image; build_image ;;
  stop)
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi ;;
  *) die "usage: $0 start|image|stop" ;;
esac
