#!/usr/bin/env bash
# Install hazewarn into .venv and run the demo on its embedded default: a SQLite file
# (./hazewarn.db, reused on the next run; --reset starts over), the Beijing red alert of
# December 2016 from the data extract shipped in the package (nothing else needed beside
# the clone), the API, the duty officers' dashboard, the outbox dispatcher and a local
# webhook receiver on http://127.0.0.1:8000/ (--port N for another port).
#
# HAZEWARN_VENV=DIR uses another virtual environment; HAZEWARN_SKIP_INSTALL=1 skips the
# install (that environment already has hazewarn's dependencies). This clone's code runs
# either way.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=${HAZEWARN_VENV:-.venv}
if [ "${HAZEWARN_SKIP_INSTALL:-0}" != 1 ]; then
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e .
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$venv/bin/python" -c 'from app.cli import main; main()' demo --serve "$@"
