#!/usr/bin/env bash
# The fakes' throughput with a C load generator (Debian's wrk), so that the client is not the limit on
# a 2-core machine: each fake pinned to core 0, wrk to core 1, 8 s each, instant latency.
# Targets (issue 3): fake Claude >= 2,000 requests/s, fake Telegram >= 3,000 sendMessage/s on one core.
# Needs: wrk (apt-get install wrk), taskset (util-linux). Usage: benchmarks/fakes_wrk.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${BOTCAP_VENV:-.venv}/bin/python
SECONDS_=${1:-8}
command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 2; }
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

# rotate 5,000 API keys / chats so the rate limits (4,000 RPM per key, 1 msg/s per chat) never answer 429
cat >"$tmp/claude.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/messages", {["Content-Type"]="application/json",
    ["anthropic-version"]="2023-06-01", ["x-api-key"]="k" .. (n % 5000)},
    '{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"hello there"}]}')
end
LUA
cat >"$tmp/telegram.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/bot123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/sendMessage",
    {["Content-Type"]="application/json"}, '{"chat_id":' .. (1 + n % 10000) .. ',"text":"hello"}')
end
LUA

run() {  # name, target, module args...
  local name=$1 target=$2; shift 2
  taskset -c 0 "$PY" -m "$@" --port 0 >"$tmp/$name.url" 2>"$tmp/$name.err" &
  local pid=$!
  for _ in $(seq 100); do [ -s "$tmp/$name.url" ] && break; sleep 0.2; done
  local url; url=$("$PY" -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['url'])" "$tmp/$name.url")
  local out; out=$(taskset -c 1 wrk -t1 -c32 -d"${SECONDS_}s" -s "$tmp/$name.lua" "$url")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local rate; rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  local bad; bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-9s %8.0f requests/s on one core = %.2fx the %s target (non-2xx: %s)\n' \
    "$name" "$rate" "$(awk -v r="$rate" -v t="$target" 'BEGIN {print r / t}')" "$target" "${bad:-0}"
}
run claude 2000 loadtest.fakes.claude --time-scale 0 --seed 1
run telegram 3000 loadtest.fakes.telegram --send-rate-per-s 1000000 --per-chat-rate-per-s 1000000
