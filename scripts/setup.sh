#!/usr/bin/env bash
# Makes everything pg_trickle needs available, idempotently:
#   system packages, PostgreSQL 18, cargo-pgrx 0.18.1, `cargo pgrx init`.
# Prints `export PG_CONFIG=...` as its last line of stdout (everything else goes to stderr).
#
# Respects an existing PostgreSQL 18: set PG_CONFIG, or have an 18.x pg_config on PATH.
# Otherwise builds PostgreSQL 18 from Debian's postgresql-18 source package into
# $PGT_CACHE_DIR/pg18-<flavor>, where flavor is "cassert" (tests, demo; default) or
# "release" (benchmarks), chosen with PGT_PG_FLAVOR.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

flavor="${PGT_PG_FLAVOR:-cassert}"
mkdir -p "$PGT_CACHE_DIR"
chmod 755 "$PGT_CACHE_DIR"

# ---------------------------------------------------------------- system packages
apt_packages=(patch libssl-dev openssl bison flex libreadline-dev zlib1g-dev libicu-dev pkg-config libclang-dev clang sudo make gcc dpkg-dev bzip2 xz-utils)
install_apt_packages() {
  local missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing system packages (${missing[*]}); install them or run as root"
  log "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# ---------------------------------------------------------------- PostgreSQL 18
find_pg18() {
  if [ -n "${PG_CONFIG:-}" ]; then
    [ -x "$PG_CONFIG" ] || die "PG_CONFIG=$PG_CONFIG is not executable"
    [ "$(pg_major "$PG_CONFIG")" = 18 ] || die "PG_CONFIG=$PG_CONFIG is not PostgreSQL 18"
    echo "$PG_CONFIG"; return 0
  fi
  if command -v pg_config >/dev/null && [ "$(pg_major "$(command -v pg_config)")" = 18 ]; then
    command -v pg_config; return 0
  fi
  return 1
}

# The cassert (test) build carries the patches in scripts/pg-patches: each removes an
# assertion PostgreSQL 18.6 can fail in ordinary use (the reason is in the patch and the
# ADR it names). Builds without assertions are the upstream source unchanged.
pg_patches() {
  [ "$flavor" = cassert ] || return 0
  local p
  for p in "$PGT_REPO_ROOT"/scripts/pg-patches/*.patch; do
    [ -f "$p" ] && echo "$p"
  done
}

build_pg18() {
  local prefix="$PGT_CACHE_DIR/pg18-$flavor"
  # What the build holds, so that a new or changed patch rebuilds it.
  # --with-openssl: TLS connections (the CLI's TLS test, and any client that needs them).
  local conf=(--prefix="$prefix" --with-icu --with-openssl --enable-debug)
  [ "$flavor" = cassert ] && conf+=(--enable-cassert)
  local want="flavor=$flavor configure=${conf[*]}" p
  for p in $(pg_patches); do want+=" $(basename "$p"):$(sha256sum < "$p" | cut -c1-16)"; done
  if [ -x "$prefix/bin/pg_config" ] && [ -f "$prefix/.complete" ] \
     && [ "$(cat "$prefix/.complete")" = "$want" ]; then
    echo "$prefix/bin/pg_config"; return 0
  fi
  local work="$PGT_CACHE_DIR/src"
  mkdir -p "$work"
  local tarball
  tarball="$(ls "$work"/postgresql-18_*.orig.tar.bz2 2>/dev/null | head -n1 || true)"
  if [ -z "$tarball" ]; then
    log "downloading the postgresql-18 Debian source package (suite sid)"
    # Reuse the mirror already configured for this machine; never hard-code a host.
    local uri
    uri="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    [ -n "$uri" ] || uri="$(awk '$1=="deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
    [ -n "$uri" ] || die "cannot find a Debian mirror URI in /etc/apt"
    local aptdir="$PGT_CACHE_DIR/apt"
    rm -rf "$aptdir"; mkdir -p "$aptdir/lists/partial" "$aptdir/sources.list.d"
    cat > "$aptdir/sources.list.d/sid-src.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    local aptopts=(-o "Dir::State::Lists=$aptdir/lists" -o "Dir::Etc::SourceList=/dev/null"
                   -o "Dir::Etc::SourceParts=$aptdir/sources.list.d" -o "APT::Sandbox::User=root")
    apt-get "${aptopts[@]}" update -qq >&2
    (cd "$work" && apt-get "${aptopts[@]}" source --download-only postgresql-18 >&2)
    tarball="$(ls "$work"/postgresql-18_*.orig.tar.bz2 | head -n1)"
  fi
  log "building PostgreSQL 18 ($flavor) from $(basename "$tarball") into $prefix (about 5 minutes)"
  local build="$work/build-$flavor"
  rm -rf "$build"; mkdir -p "$build"
  tar -xjf "$tarball" -C "$build" --strip-components=1
  for p in $(pg_patches); do
    log "applying $(basename "$p")"
    (cd "$build" && patch -s -p1 < "$p") || die "could not apply $p"
  done
  (cd "$build" && ./configure "${conf[@]}" CFLAGS="-O2 -g" >"$build/configure.log" 2>&1) \
    || { tail -n 40 "$build/configure.log" >&2; die "configure failed"; }
  (cd "$build" && make -j"$(nproc)" -s >"$build/make.log" 2>&1 && make -s install >>"$build/make.log" 2>&1 \
     && make -s -C contrib/test_decoding install >>"$build/make.log" 2>&1) \
    || { tail -n 40 "$build/make.log" >&2; die "PostgreSQL build failed"; }
  chmod -R a+rX "$prefix"
  rm -rf "$build"
  echo "$want" > "$prefix/.complete"
  echo "$prefix/bin/pg_config"
}

# ---------------------------------------------------------------- cargo-pgrx
install_cargo_pgrx() {
  if cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then return 0; fi
  log "installing cargo-pgrx $PGRX_VERSION (about 6 minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --quiet >&2
}

pgrx_init() {
  local pgc="$1" cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
  if [ -f "$cfg" ] && grep -q "pg18 = \"$pgc\"" "$cfg"; then return 0; fi
  log "registering $pgc with cargo pgrx init"
  cargo pgrx init --pg18 "$pgc" >&2
}

main() {
  install_apt_packages
  local pgc
  if [ "${1:-}" = --pg-only ]; then
    pgc="$(find_pg18 || build_pg18)"; echo "export PG_CONFIG=$pgc"; return 0
  fi
  if [ "${1:-}" = --pgrx-only ]; then install_cargo_pgrx; return 0; fi
  pgc="$(find_pg18 || build_pg18)"
  install_cargo_pgrx
  pgrx_init "$pgc"
  echo "export PG_CONFIG=$pgc"
}
main "$@"
