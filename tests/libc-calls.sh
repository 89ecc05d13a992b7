#!/usr/bin/env bash
# The core is freestanding: its object may call nothing but memcpy, memmove
# and memset, and those only from calloc and realloc. Checked for gcc and
# clang on x86-64, Cortex-M4 and RV32IMAC at -O2 and -Os, default and smallest
# configurations and with poisoning (its fill loops must not become memset
# calls). Exits 1 (and says what) on any other outside call.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
obj=$(mktemp)
trap 'rm -f "$obj"' EXIT
allowed='^(memcpy|memmove|memset)$'
fail=0 n=0
check() { # name objdump cc...
  local name=$1 od=$2; shift 2
  for cfg in "" "-DCAPHEAP_CHECK_LEVEL=0 -DCAPHEAP_STATS=0" "-DCAPHEAP_POISON=1"; do
    for opt in -O2 -Os; do
      n=$((n + 1))
      # shellcheck disable=SC2086
      "$@" -std=c11 -ffreestanding -ffunction-sections $opt $cfg -I"$root/include" \
        -c "$root/src/capheap.c" -o "$obj" || { echo "FAIL $name: does not compile"; fail=$((fail + 1)); continue; }
      bad=$(nm -u "$obj" | awk '{print $2}' | grep -vE "$allowed" | tr '\n' ' ')
      where=$("$od" -dr "$obj" | awk '/^Disassembly of section/{f=$4}
              /R_[A-Z0-9_]+[[:space:]]+(memcpy|memmove|memset)/{print f}' | sort -u |
              grep -vE '\.text\.(capheap_calloc(_caps)?|capheap_realloc_caps|capheap_allocator_realloc):$' | tr '\n' ' ')
      if [ -n "$bad" ] || [ -n "$where" ]; then
        echo "FAIL $name $opt $cfg: outside calls: ${bad:-none}; memory functions used in: ${where:-nothing else}"
        fail=$((fail + 1))
      fi
    done
  done
}
check "gcc x86-64" objdump gcc
check "clang x86-64" objdump clang
check "gcc cortex-m4" arm-none-eabi-objdump arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb
check "gcc rv32imac" riscv64-unknown-elf-objdump riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32
# The report writer needs no libc either: only the core's own calls.
for cc in gcc clang; do
  n=$((n + 1))
  $cc -std=c11 -ffreestanding -O2 -I"$root/include" -c "$root/src/capheap_report.c" -o "$obj"
  bad=$(nm -u "$obj" | awk '{print $2}' | grep -vE '^capheap_' | tr '\n' ' ')
  if [ -n "$bad" ]; then echo "FAIL $cc capheap_report.c calls: $bad"; fail=$((fail + 1)); fi
done
echo "libc calls: $((n - fail)) of $n builds call only memcpy/memmove/memset, from calloc/realloc"
[ "$fail" -eq 0 ]
