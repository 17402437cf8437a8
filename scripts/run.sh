#!/usr/bin/env bash
# Install hazewarn into .venv and run it on its embedded default: a SQLite file
# (./hazewarn.db), the demo scenario loaded from ../shared/data, the API and the duty
# officers' dashboard on http://127.0.0.1:8000/.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/hazewarn demo --serve "$@"
