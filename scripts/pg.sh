#!/usr/bin/env bash
# Start a private PostgreSQL server for the test suite: its own data directory and port,
# no system service. Installs Debian's postgresql package first if no server is present.
# Prints the SQLAlchemy URL on stdout. Usage: scripts/pg.sh DATADIR PORT
set -euo pipefail
datadir=${1:?data directory}
port=${2:?port}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "installing PostgreSQL from Debian..." >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >&2
  as_root apt-get install -y -qq postgresql >&2
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

# initdb refuses to run as root: run the server as the unprivileged `postgres` user.
run_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ ! -f "$datadir/PG_VERSION" ]; then
  mkdir -p "$datadir"
  [ "$(id -u)" = 0 ] && chown postgres "$datadir"
  run_pg "$pg_bin/initdb" -D "$datadir" -U hazewarn --auth=trust -E UTF8 >/dev/null
fi
if ! run_pg "$pg_bin/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
  run_pg "$pg_bin/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
    -o "-p $port -k $datadir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >&2
fi
echo "postgresql+psycopg://hazewarn@127.0.0.1:$port/postgres"
