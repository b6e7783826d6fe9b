#!/usr/bin/env bash
# Headless Chromium for tests/report (the report page opened from disk). Found on PATH, or, as root
# with apt-get, Debian's `chromium` package installed. Exit 2 with what to do otherwise: the browser
# tests then fail (they never skip).
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[browser] installing Debian's chromium" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  command -v chromium >/dev/null 2>&1 && exit 0
fi
echo "[browser] no chromium: install it (Debian: apt-get install chromium) or run this script as root" >&2
exit 2
