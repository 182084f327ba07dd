#!/usr/bin/env bash
# Sets up, builds and runs thinsim's main job: a conformance campaign of random pools and
# damaged images through thinsim and thin-provisioning-tools, writing a report directory
# (report.json, junit.xml, failure bundles) under reports/ and appending to
# reports/history.jsonl. Extra arguments go to thinsim-conformance, e.g. --seeds 500.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake --preset default
cmake --build --preset default --target thinsim thinsim-conformance
out="reports/run-$(date -u +%Y%m%dT%H%M%SZ)"
status=0
./build/default/tests/peer/thinsim-conformance --seeds 100 --profile mixed --out "$out" "$@" || status=$?
echo "report: $out/report.json (JUnit: $out/junit.xml)"
exit "$status"
