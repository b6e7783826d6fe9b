#!/usr/bin/env bash
# All set-up, then the whole test suite: venv + dependencies, PostgreSQL + Redis (found or started),
# ruff, pytest. Extra arguments go to pytest (e.g. scripts/test.sh -k scenario).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(scripts/setup-venv.sh test)
eval "$("$VENV/bin/python" scripts/ensure_services.py)"
scripts/ensure_browser.sh || echo "[browser] continuing: tests/report's browser tests will fail" >&2
"$VENV/bin/ruff" check .
exec "$VENV/bin/python" -m pytest "$@"
