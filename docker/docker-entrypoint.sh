#!/bin/sh
# Initializes a cluster on first start (pg_trickle preloaded, created in the `postgres`
# database and in template1, so every new database has it), then runs the server in the
# foreground. Settings (environment):
#   PGPORT                  port to listen on (default 5432)
#   POSTGRES_PASSWORD       password of the postgres role; without it, connections over
#                           TCP are trusted (for throwaway test containers only)
#   PGTRICKLE_SETTINGS      extra postgresql.conf lines, e.g. "pg_trickle.enabled = off"
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${PGPORT:=5432}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --auth-local=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    method=scram-sha-256
  else
    method=trust
    echo "docker-entrypoint: no POSTGRES_PASSWORD: TCP connections are trusted" >&2
  fi
  cat >>"$PGDATA/pg_hba.conf" <<HBA
host all all 0.0.0.0/0 $method
host all all ::/0 $method
HBA
  cat >>"$PGDATA/postgresql.conf" <<CONF
# pg_trickle-e2e image
listen_addresses = '*'
shared_preload_libraries = 'pg_trickle'
wal_level = logical
max_replication_slots = 10
max_worker_processes = 32
temp_file_limit = 4GB
${PGTRICKLE_SETTINGS:-}
CONF
  # A private, socket-only server for the setup, logging to a file: the container's
  # output only ever shows the real server becoming ready.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p $PGPORT" -l "$PGDATA/setup.log" -w start >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT" -U postgres -d postgres <<SQL
CREATE EXTENSION pg_trickle;
\c template1
CREATE EXTENSION pg_trickle;
SQL
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT" -U postgres -d postgres \
      -c "ALTER ROLE postgres PASSWORD '$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")'"
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi

exec postgres -D "$PGDATA" -p "$PGPORT"
