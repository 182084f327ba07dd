#!/usr/bin/env bash
# Sets up, builds and runs thinsim's main job, writing one report directory under
# reports/ (and a line per part to reports/history.jsonl):
#   1. a conformance campaign of random pools and damaged images through thinsim and
#      thin-provisioning-tools: report.json, junit.xml, bundles/case-*;
#   2. every bundled scenario (scenarios/) through the live pool, with the reference model
#      compared after every step and the real thin_check / thin_dump judging the metadata
#      at every commit: scenarios.json, scenarios-junit.xml, bundles/scenario-*;
#   3. crash exploration of every bundled scenario: a power cut at every IO, every
#      state the volatile caches may leave (exhaustive to a bound, seeded samples
#      beyond), each judged by the crash oracles, a sample through the real thin_check:
#      explore.json, crash-bundles/.
# Arguments go to thinsim-conformance (e.g. --seeds 500, --seed S, --profile P, --out DIR)
# and replace the defaults below; --out names the directory for both parts.
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
out=""
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --out) out=${args[i + 1]} ;;
    --out=*) out=${args[i]#--out=} ;;
  esac
done
force=()
has --force && force=(--force)

status=0
./build/default/tests/peer/thinsim-conformance "${args[@]}" || status=$?
mkdir -p "$out"
mapfile -t scenarios < <(find scenarios -name '*.scn' | sort)
./build/default/cli/thinsim run --check-model --check-peer --report "$out" "${force[@]}" \
  "${scenarios[@]}" || status=$?
if [[ -e $out/explore.json && ${#force[@]} -gt 0 ]]; then rm -rf "$out/explore.json" "$out/crash-bundles"; fi
./build/default/cli/thinsim explore --peer-sample 500 --json "$out/explore.json" \
  --bundles "$out/crash-bundles" "${scenarios[@]}" || status=$?
exit "$status"
