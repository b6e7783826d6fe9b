#!/usr/bin/env bash
# All set-up, then the whole test suite: venv + dependencies, PostgreSQL + Redis (found or started),
# ruff, pytest. Extra arguments go to pytest (e.g. scripts/test.sh -k scenario).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(scripts/setup-venv.sh test)
eval "$("$VENV/bin/python" scripts/ensure_services.py)"
"$VENV/bin/ruff" check .
exec "$VENV/bin/python" -m pytest "$@"
