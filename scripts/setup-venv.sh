#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install botcap into it.
# Usage: scripts/setup-venv.sh [EXTRAS]   e.g. "test" -> pip install -e ".[test]"
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${BOTCAP_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
spec="."; [ -n "${1:-}" ] && spec=".[$1]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec" >&2
echo "$VENV"
