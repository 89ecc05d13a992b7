#!/usr/bin/env bash
# The core must compile warning-free (-Werror) as the two-file drop-in with
# gcc and clang for x86-64, i386, Cortex-M4 and RV32IMAC, in every option
# combination that changes code, at -O2 and -Os; with gcc for x86-64 and
# Cortex-M4 also at -O1, -O3 and -Og (gcc's may-be-uninitialized analysis
# differs by level: -O1 once found a false positive the others did not).
# Prints one line per failed build and a count; exits 1 on any failure.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
warn=(-std=c11 -ffreestanding -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Werror)
configs=("" "-DCAPHEAP_CHECK_LEVEL=0 -DCAPHEAP_STATS=0" "-DCAPHEAP_CHECK_LEVEL=2"
         "-DCAPHEAP_SL_BITS=2 -DCAPHEAP_USE_INTRINSICS=0" "-DCAPHEAP_SL_BITS=5 -DCAPHEAP_GLOBAL=0"
         "-DCAPHEAP_STATS=2 -DCAPHEAP_CHECK_LEVEL=0" "-DCAPHEAP_FIT_SCAN=1"
         "-DCAPHEAP_SL_BITS=3 -DCAPHEAP_FIT_SCAN=1 -DCAPHEAP_STATS=2" "-DCAPHEAP_SL_BITS=1 -DCAPHEAP_FIT_SCAN=8"
         "-DCAPHEAP_POISON=1" "-DCAPHEAP_POISON=1 -DCAPHEAP_TRACE=1 -DCAPHEAP_CHECK_LEVEL=0 -DCAPHEAP_STATS=0 -DCAPHEAP_SL_BITS=2")
targets=(
  "gcc x86_64|gcc -m64"
  "gcc i386|gcc -m32"
  "gcc cortex-m4|arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb"
  "gcc cortex-m0|arm-none-eabi-gcc -mcpu=cortex-m0 -mthumb"
  "gcc rv32imac|riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32"
  "clang x86_64|clang -m64"
  "clang i386|clang -m32"
  "clang cortex-m4|clang --target=arm-none-eabi -mcpu=cortex-m4 -mthumb"
  "clang rv32imac|clang --target=riscv32-unknown-elf -march=rv32imac -mabi=ilp32"
)
fail=0 n=0
for t in "${targets[@]}"; do
  name=${t%%|*}; cc=${t#*|}
  opts=(-O2 -Os)
  case $name in "gcc x86_64" | "gcc cortex-m4") opts=(-O1 -O2 -O3 -Os -Og) ;; esac
  for cfg in "${configs[@]}"; do
    for opt in "${opts[@]}"; do
      n=$((n + 1))
      # shellcheck disable=SC2086
      if $cc "${warn[@]}" $opt $cfg -I"$root/include" -c "$root/src/capheap.c" -o "$out/c.o" 2>"$out/err" &&
         $cc "${warn[@]}" $opt $cfg -I"$root/include" -c "$root/src/capheap_report.c" -o "$out/r.o" 2>>"$out/err"; then
        :
      else
        fail=$((fail + 1)); echo "FAIL $name $opt $cfg"; head -5 "$out/err"
      fi
    done
  done
done
echo "compile matrix: $((n - fail)) of $n builds warning-free"
[ "$fail" -eq 0 ]
