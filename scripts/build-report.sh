#!/usr/bin/env bash
# Build meshproof's offline HTML report with Allure 3: one self-contained
# index.html an auditor can open from disk.
#
#   scripts/build-report.sh [RESULTS_DIR] [OUTPUT_DIR]
#
# Defaults: the last run's evidence, reports/latest/allure-results ->
# reports/latest/html (inside that run's own directory, reports/runs/<id>/;
# `latest` is resolved once, so a run finishing meanwhile cannot mix in).
# The report's first page shows the run's verdict and conditions, read from
# the conformance.json beside the results (report/allurerc.mjs).  Node packages are
# installed into report/node_modules from report/package-lock.json the first
# time (and again only when the lock file changes); after that no network is
# used.  Exit 3 when Node or the results are missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
latest="$(realpath -m "$root/reports/latest")"
results="$(realpath -m "${1:-$latest/allure-results}")"
output="$(realpath -m "${2:-$(dirname "$results")/html}")"
node_project="$root/report"

fail() { echo "build-report: $*" >&2; exit 3; }

[ -d "$results" ] || fail "no Allure results in $results: run the suite first (make conformance)"
command -v node >/dev/null && command -v npm >/dev/null \
  || fail "Node.js and npm are needed (Debian: apt-get install -y nodejs npm)"

# npm ci is the reproducible install; it is skipped while the installed tree
# (node_modules/.package-lock.json, written by npm) is newer than the lock file.
installed="$node_project/node_modules/.package-lock.json"
if [ ! -x "$node_project/node_modules/.bin/allure" ] || [ "$node_project/package-lock.json" -nt "$installed" ]; then
  echo "build-report: installing Allure 3 into report/node_modules" >&2
  (cd "$node_project" && npm ci --no-audit --no-fund --loglevel=error >&2) || fail "npm ci failed"
fi

rm -rf "$output"
MESHPROOF_ALLURE_RESULTS="$results" "$node_project/node_modules/.bin/allure" generate \
  --config "$node_project/allurerc.mjs" --output "$output" "$results" >&2
[ -s "$output/index.html" ] || fail "Allure wrote no $output/index.html"
echo "$output/index.html"
