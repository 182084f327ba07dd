#!/bin/sh
# Runs every bundled scenario once per bug-zoo switch with the reference model and the
# peer check, and prints which scenarios each switch makes fail (and where).
# Usage: scripts/bugzoo-sweep.sh [thinsim binary] [scenario files...]
set -u
THINSIM=${1:-build/default/cli/thinsim}
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then set -- scenarios/*/*.scn scenarios/*/*/*.scn; fi
files=""
for f in "$@"; do [ -f "$f" ] && files="$files $f"; done
# Failing runs keep their images: keep them in one place of our own and drop them after.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for id in $("$THINSIM" bugs | awk '/^BZ-/ {print $1}'); do
  out=$("$THINSIM" run --check-model --check-peer --peer-dir "$work" --bug "$id" $files 2>/dev/null)
  fails=$(printf '%s\n' "$out" | grep -c '^FAIL')
  echo "== $id: $fails failing scenario(s)"
  printf '%s\n' "$out" | grep -A1 '^FAIL' | grep -v '^--$' | sed 's/^/   /'
done
