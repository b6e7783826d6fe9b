#!/usr/bin/env bash
# All set-up, then the main job on the embedded default scenario (10K DAU, 5 webhook instances):
# one simulated day, written to out/default/ (summary.json, requests.parquet, plots).
# Extra arguments go to `botcap sim run` (e.g. scripts/run.sh --replications 1).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(scripts/setup-venv.sh)
exec "$VENV/bin/botcap" sim run --out out/default "$@"
