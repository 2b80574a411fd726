#!/usr/bin/env bash
# Generates TPC-H data at scale factor $1 (CSV files, once, cached in
# $PGT_CACHE_DIR/tpch-data/sf$1) with `tpchgen-cli` from PyPI (installed into a virtualenv
# cached in $PGT_CACHE_DIR/venv-tpch) and prints the directory. Used by the TPC-H
# benchmark and the TPC-H correctness test.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sf="${1:?scale factor}"
mkdir -p "$PGT_CACHE_DIR"
# Tests call this concurrently (several scale factors at once): one caller at a time
# installs and generates, the others wait and then find everything there.
exec 9>"$PGT_CACHE_DIR/tpch-data.lock"
flock 9
venv="$PGT_CACHE_DIR/venv-tpch"
if [ ! -x "$venv/bin/tpchgen-cli" ]; then
  log "installing tpchgen-cli into $venv"
  python3 -m venv --clear "$venv"
  "$venv/bin/pip" install -q 'tpchgen-cli==4.0.0'
fi
data="$PGT_CACHE_DIR/tpch-data/sf$sf"
if [ ! -f "$data/lineitem.csv" ]; then
  log "generating TPC-H data at SF $sf"
  mkdir -p "$data.tmp"
  "$venv/bin/tpchgen-cli" csv -s "$sf" --output-dir="$data.tmp" >/dev/null
  rm -rf "$data" && mv "$data.tmp" "$data"
fi
chmod -R a+rX "$PGT_CACHE_DIR/tpch-data"
chmod a+x "$PGT_CACHE_DIR"
echo "$data"
