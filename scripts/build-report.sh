#!/usr/bin/env bash
# Rebuild the committed example report, reports/default/ (index.html + report.json), from the
# embedded default scenario with the current code. Extra arguments go to `botcap report`
# (e.g. scripts/build-report.sh --quick --out /tmp/r).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(scripts/setup-venv.sh)
exec "$VENV/bin/botcap" report --out reports/default --workers 2 --cache .botcap/report-sweeps "$@"
