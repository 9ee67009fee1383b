#!/usr/bin/env bash
# Open the generated report in headless Chromium, as an auditor's browser would,
# and keep what it rendered: a PNG screenshot, or the DOM when OUTPUT ends in .html.
#
#   scripts/screenshot-report.sh [REPORT_HTML] [OUTPUT] [FRAGMENT]
#
# Defaults: reports/latest/html/index.html -> reports/latest/html/report.png.  FRAGMENT is a test
# result id, to open that test's page with its steps.  Chromium is Debian's
# package, installed when missing and when running as root.  Exit 3 when it
# cannot be had.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
page="$(realpath -m "${1:-$root/reports/latest/html/index.html}")"
output="$(realpath -m "${2:-$(dirname "$page")/report.png}")"
fragment="${3:-}"

fail() { echo "screenshot-report: $*" >&2; exit 3; }
[ -f "$page" ] || fail "no report at $page: run make report first"
mkdir -p "$(dirname "$output")" || fail "cannot create $(dirname "$output")"

if ! command -v chromium >/dev/null; then
  [ "$(id -u)" = 0 ] || fail "chromium is not installed (Debian: apt-get install -y chromium)"
  echo "screenshot-report: installing chromium" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 \
    || fail "could not install chromium"
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# no network, no background services: the report must render from the file alone
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$profile" --window-size=1400,1000 --virtual-time-budget=15000)
url="file://$page${fragment:+#$fragment}"

case "$output" in
  *.html) chromium "${flags[@]}" --dump-dom "$url" >"$output" 2>/dev/null ;;
  *) chromium "${flags[@]}" --screenshot="$output" "$url" >/dev/null 2>&1 ;;
esac
[ -s "$output" ] || fail "chromium produced no $output"
echo "$output"
