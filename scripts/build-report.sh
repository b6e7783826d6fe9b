#!/usr/bin/env bash
# Rebuild the committed example report, reports/default/ (index.html + report.json), from the
# embedded default scenario with the current code. Extra arguments go to `botcap report`
# (e.g. scripts/build-report.sh --quick --out /tmp/r).
#
#   scripts/build-report.sh --from-scratch [ARGS]   the build time from scratch (issue 13: <= 10 min on
#                                                   2 cores): the report's cache is moved aside first
#
# --from-scratch moves the cache (.botcap/report-sweeps: simulated variants, capacity searches,
# optimizer runs) into a new temporary folder, printed, so that everything is simulated again; it is
# kept there, never deleted (move it back to reuse it). reports/default is only ever replaced whole by
# `botcap report` once the new build is complete. Printed: seconds per section, then the wall time of
# the whole command (the Dask cluster's start and the imports included) and the load average, since
# the machine may be shared.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(scripts/setup-venv.sh)
CACHE=.botcap/report-sweeps
if [ "${1:-}" = "--from-scratch" ]; then
  shift
  if [ -e "$CACHE" ]; then
    aside=$(mktemp -d "${TMPDIR:-/tmp}/botcap-report-cache.XXXXXX")
    mv "$CACHE" "$aside/"
    echo "from scratch: the earlier cache is now $aside/report-sweeps (move it back to reuse it)" >&2
  fi
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
"$VENV/bin/botcap" report --out reports/default --workers 2 --cache "$CACHE" "$@"
end=$(date +%s.%N)
echo "build-report: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s wall for the" \
     "whole command on $(nproc) CPUs; load average (1, 5, 15 min) $load_start at the start," \
     "$(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2
