#!/usr/bin/env bash
# The demo's report as README.md quotes it must be what the demo prints: run the demo firmware
# and find every line of the README's excerpt in its output. A line "..." in the excerpt stands
# for lines left out; a line ending in ", ..." must match the start of an output line.
#
#   readme-demo.sh README ELF
set -euo pipefail
readme=$1 elf=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$here/qemu-run.sh" an385 "$elf" >"$out"
# the excerpt: from "HEAP INFO" to the end of its code block
excerpt=$(awk '/^HEAP INFO$/ {on = 1} on && /^```/ {exit} on' "$readme")
[ -n "$excerpt" ] || { echo "readme-demo.sh: no report excerpt in $readme" >&2; exit 1; }
lines=0 bad=0
while IFS= read -r line; do
  [ "$line" = "..." ] && continue
  lines=$((lines + 1))
  if [[ $line == *", ..." ]]; then
    prefix=${line%...}
    awk -v p="$prefix" 'index($0, p) == 1 {f = 1} END {exit !f}' "$out" && continue
  else
    grep -qxF -- "$line" "$out" && continue
  fi
  echo "readme-demo.sh: README line not in the demo's output: $line" >&2
  bad=$((bad + 1))
done <<<"$excerpt"
echo "readme-demo.sh: $lines README lines checked, $bad not found"
[ "$lines" -ge 10 ] && [ "$bad" = 0 ]
