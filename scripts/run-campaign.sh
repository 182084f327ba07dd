#!/usr/bin/env bash
# Sets up, builds and runs thinsim's main job: a conformance campaign of random pools and
# damaged images through thinsim and thin-provisioning-tools, writing a report directory
# (report.json, junit.xml, failure bundles) under reports/ and appending to
# reports/history.jsonl. Arguments go to thinsim-conformance (e.g. --seeds 500, --seed S,
# --profile P, --out DIR) and replace the defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake --preset default
cmake --build --preset default --target thinsim thinsim-conformance

args=("$@")
has() { local o; for o in "${args[@]}"; do [[ $o == "$1" || $o == "$1="* ]] && return 0; done; return 1; }
has --seeds || has --case || args+=(--seeds 100)
has --profile || args+=(--profile mixed)
has --out || args+=(--out "reports/run-$(date -u +%Y%m%dT%H%M%SZ)")

status=0
./build/default/tests/peer/thinsim-conformance "${args[@]}" || status=$?
exit "$status"
