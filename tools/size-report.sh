#!/usr/bin/env bash
# Code size of the capheap core on Cortex-M4 and RV32IMAC, measured as BENCH.md W5 says:
# compile src/capheap.c at -Os with one section per function, partially link it with
# -nostdlib -r -Wl,--gc-sections keeping only what the root functions reach, and read the
# result with size(1). Roots: capheap_init, capheap_add_region, capheap_alloc, capheap_free;
# then the same plus capheap_realloc. Four configurations: the default options; the smallest
# (-DCAPHEAP_CHECK_LEVEL=0 -DCAPHEAP_STATS=0); that without the fit scan (-DCAPHEAP_FIT_SCAN=1);
# and the two-level bitmap (-DCAPHEAP_SL_BITS=3 -DCAPHEAP_FIT_SCAN=1, the previous default).
#
#   tools/size-report.sh            prints a markdown section (used by tools/rv32-latency.sh
#                                   to regenerate docs/target-figures.md)
# The C library functions the core calls (memset, memcpy, memmove) stay undefined: they are
# not counted, and are listed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

base_roots="capheap_init capheap_add_region capheap_alloc capheap_free"
targets=("Cortex-M4" "RV32IMAC")
declare -A cc=([Cortex-M4]=arm-none-eabi-gcc [RV32IMAC]=riscv64-unknown-elf-gcc)
declare -A sz=([Cortex-M4]=arm-none-eabi-size [RV32IMAC]=riscv64-unknown-elf-size)
declare -A nm=([Cortex-M4]=arm-none-eabi-nm [RV32IMAC]=riscv64-unknown-elf-nm)
declare -A readelf=([Cortex-M4]=arm-none-eabi-readelf [RV32IMAC]=riscv64-unknown-elf-readelf)
declare -A flags=([Cortex-M4]="-mcpu=cortex-m4 -mthumb"
                  [RV32IMAC]="-march=rv32imac -mabi=ilp32 -mcmodel=medany")
# Headers only (stdint.h & co): Debian's riscv64-unknown-elf has no libc but picolibc.
declare -A hdrs=([Cortex-M4]="" [RV32IMAC]="--specs=picolibc.specs")
configs=("default" "smallest" "fastsmallest" "sl3")
declare -A defs=([default]="" [smallest]="-DCAPHEAP_CHECK_LEVEL=0 -DCAPHEAP_STATS=0"
                 [fastsmallest]="-DCAPHEAP_FIT_SCAN=1 -DCAPHEAP_CHECK_LEVEL=0 -DCAPHEAP_STATS=0"
                 [sl3]="-DCAPHEAP_SL_BITS=3 -DCAPHEAP_FIT_SCAN=1")
declare -A labels=([default]="default" [smallest]="smallest (\`CHECK_LEVEL=0 STATS=0\`)"
                   [fastsmallest]="\`FIT_SCAN=1 CHECK_LEVEL=0 STATS=0\`"
                   [sl3]="two-level bitmap (\`SL_BITS=3 FIT_SCAN=1\`)")

# partial TARGET CONFIG OUT ROOTS... -> OUT: the core compiled and partially linked, keeping
# only what the roots reach
partial() {
  local t=$1 c=$2 part=$3; shift 3
  local obj=$work/core-$RANDOM.o us=()
  # shellcheck disable=SC2086
  ${cc[$t]} ${flags[$t]} ${hdrs[$t]} -Os -std=c11 -ffreestanding -ffunction-sections -fdata-sections \
    ${defs[$c]} -I"$root/include" -c "$root/src/capheap.c" -o "$obj"
  for r in "$@"; do us+=("-Wl,-u,$r"); done
  # shellcheck disable=SC2086
  ${cc[$t]} ${flags[$t]} -nostdlib -r -Wl,--gc-sections "${us[@]}" "$obj" -o "$part"
  [ -f "$part" ] || { echo "size-report: partial link failed for $t $c" >&2; exit 1; }
}

# measure TARGET CONFIG ROOTS... -> "text data bss|undefined"
measure() {
  local t=$1 c=$2; shift 2
  local part=$work/part-$RANDOM.o
  partial "$t" "$c" "$part" "$@"
  local s und
  s=$(${sz[$t]} "$part" | awk 'NR == 2 {print $1, $2, $3}')
  # undefined symbols that a kept section really calls (the symbol table keeps stale ones)
  und=$(for u in $(${nm[$t]} -u "$part" | awk '{print $NF}'); do
          ${readelf[$t]} -rW "$part" | awk '{print $5}' | grep -qx -- "$u" && printf '%s ' "$u"
        done | sed 's/ $//')
  echo "$s|$und"
}

echo "## Code size of the core (BENCH.md W5)"
echo
echo "\`src/capheap.c\` at \`-Os -ffunction-sections -fdata-sections\`, partially linked with"
echo "\`-nostdlib -r -Wl,--gc-sections\` rooted at the functions named; bytes of \`.text\`"
echo "(code and read-only tables) as \`size\` reports them; \`.data\`/\`.bss\` were 0 in every row"
echo "unless shown. Compilers: $(arm-none-eabi-gcc -dumpversion) (arm-none-eabi),"
echo "$(riscv64-unknown-elf-gcc -dumpversion) (riscv64-unknown-elf, \`-march=rv32imac -mabi=ilp32\`)."
echo
echo "| target | configuration | init + add_region + alloc + free | ... + realloc | calls outside (not counted) |"
echo "|---|---|---|---|---|"
for t in "${targets[@]}"; do
  for c in "${configs[@]}"; do
    # shellcheck disable=SC2086
    a=$(measure "$t" "$c" $base_roots) || exit 1
    # shellcheck disable=SC2086
    b=$(measure "$t" "$c" $base_roots capheap_realloc) || exit 1
    read -r at ad ab <<<"${a%%|*}"
    read -r bt bd bb <<<"${b%%|*}"
    cell() { local x="$1 B"; [ "$2" != 0 ] && x="$x + $2 B data"; [ "$3" != 0 ] && x="$x + $3 B bss"; echo "$x"; }
    label=${labels[$c]}
    echo "| $t | $label | $(cell "$at" "$ad" "$ab") | $(cell "$bt" "$bd" "$bb") | ${a#*|} / ${b#*|} |"
  done
done
echo
echo "Reference (BENCH.md, Cortex-M4 / RV32IMAC, init+alloc+free | +realloc): TLSF 1087 | 1299 /"
echo "1455 | 1755 B; o1heap 608 / 828 B; umm_malloc 568 | 980 / 1148 | 1738 B. Target for capheap:"
echo "<= 700 B and <= 1000 B on Cortex-M4."
echo
# Where the bytes go: the functions the compiler kept out of line, with what each is for.
declare -A what=(
  [capheap_add_region_ex]="add a region: NULL, wrap, overlap and size checks with error codes; header, class table, first block; priority order"
  [capheap_add_region]="the same with priority 0 (a call)"
  [capheap_init]="empty heap"
  [geometry]="class table size and block bounds of a new region"
  [capheap_alloc]="entry (a call)"
  [alloc_fast]="alloc: first region inline, then the others"
  [alloc_plain]="alloc: the regions with the capabilities, in order"
  [region_take]="alloc: own class, else bitmap search for a larger one"
  [scan_list]="alloc: the tighter of the first two fits among the first blocks of a list (the fit scan)"
  [carve]="alloc: split off the tail"
  [capheap_free]="free: entry, busy mark, merge"
  [locate]="free: find the region; with checks, validate the pointer and its neighbours"
  [release]="free: merge with free neighbours, relink"
  [list_insert]="free lists: push (shared)"
  [list_remove]="free lists: unlink (shared)"
  [note_alloc]="statistics of an allocation"
  [note_fail]="failed allocation: which error (NOMEM, NO_CAPS, SIZE_OVERFLOW), counters"
  [raise_error]="error handler call"
  [count_error]="error counters"
  [enter]="lock hooks and busy mark"
  [leave_heap]="lock hooks and busy mark"
  [reentry]="re-entry report"
)
breakdown() {
  local t=Cortex-M4
  # shellcheck disable=SC2086
  partial "$t" default "$work/bd-default.o" $base_roots
  # shellcheck disable=SC2086
  partial "$t" smallest "$work/bd-smallest.o" $base_roots
  for c in default smallest; do
    # name (without the compiler's .isra/.constprop suffixes) and size in bytes
    ${nm[$t]} -S "$work/bd-$c.o" | while read -r _ sz ty n; do
      case $ty in t|T) echo "$c ${n%%.*} $((16#$sz))";; esac
    done
  done
}
echo "### Where the bytes go (Cortex-M4, init + add_region + alloc + free)"
echo
echo "The functions the compiler kept out of line at \`-Os\` (helpers it inlined count in their"
echo "caller), largest first."
echo
echo "| function | default | smallest | what it is for |"
echo "|---|---|---|---|"
bd=$(breakdown)
declare -A bytes_d bytes_s
while read -r c n b; do
  if [ "$c" = default ]; then bytes_d[$n]=$(( ${bytes_d[$n]:-0} + b )); else bytes_s[$n]=$(( ${bytes_s[$n]:-0} + b )); fi
done <<<"$bd"
total_d=0 total_s=0
for n in $(for k in "${!bytes_d[@]}" "${!bytes_s[@]}"; do echo "$k"; done | sort -u); do
  echo "${bytes_d[$n]:-0} $n"
done | sort -rn | while read -r b n; do
  echo "| \`$n\` | ${bytes_d[$n]:-–} | ${bytes_s[$n]:-–} | ${what[$n]:-} |"
done
for n in "${!bytes_d[@]}"; do total_d=$((total_d + bytes_d[$n])); done
for n in "${!bytes_s[@]}"; do total_s=$((total_s + bytes_s[$n])); done
echo "| total | $total_d | $total_s | |"
echo
echo "Regenerate: \`tools/size-report.sh\`."
