#!/usr/bin/env bash
# Installs dbt-core and dbt-postgres (pinned below 1.12: 1.12 does not install without
# downloads from outside the package registries) into a virtualenv cached in
# $PGT_CACHE_DIR/venv-dbt, once, and prints the path of its `dbt` executable. Used by
# tests/dbt.rs and by anyone trying the example project in dbt-pgtrickle/example.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
venv="$PGT_CACHE_DIR/venv-dbt"
want='dbt-core>=1.11,<1.12 dbt-postgres>=1.11,<1.12'
if [ ! -x "$venv/bin/dbt" ] || [ "$(cat "$venv/.pgt-requirements" 2>/dev/null)" != "$want" ]; then
  log "installing $want into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $want >&2
  echo "$want" > "$venv/.pgt-requirements"
fi
echo "$venv/bin/dbt"
