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

# The header's configuration checks: every out-of-range option value must stop
# the build with its own message (capheap.h, "#error" after the options).
bad=("-DCAPHEAP_CHECK_LEVEL=3|CAPHEAP_CHECK_LEVEL must be" "-DCAPHEAP_CHECK_LEVEL=-1|CAPHEAP_CHECK_LEVEL must be"
     "-DCAPHEAP_STATS=3|CAPHEAP_STATS must be" "-DCAPHEAP_TRACE=2|CAPHEAP_TRACE must be"
     "-DCAPHEAP_POISON=2|CAPHEAP_POISON must be" "-DCAPHEAP_POISON_FREED=0xDF|CAPHEAP_POISON_FREED must be"
     "-DCAPHEAP_POISON_FREED=256|CAPHEAP_POISON_FREED must be" "-DCAPHEAP_POISON_NEW=256|CAPHEAP_POISON_NEW must be"
     "-DCAPHEAP_POISON_NEW=-1|CAPHEAP_POISON_NEW must be" "-DCAPHEAP_SL_BITS=6|CAPHEAP_SL_BITS must be"
     "-DCAPHEAP_SL_BITS=-1|CAPHEAP_SL_BITS must be" "-DCAPHEAP_FIT_SCAN=0|CAPHEAP_FIT_SCAN must be"
     "-DCAPHEAP_FIT_SCAN=9|CAPHEAP_FIT_SCAN must be" "-DCAPHEAP_DMA_ALIGN=24|CAPHEAP_DMA_ALIGN must be"
     "-DCAPHEAP_DMA_ALIGN=0|CAPHEAP_DMA_ALIGN must be")
nbad=0 badfail=0
for b in "${bad[@]}"; do
  def=${b%%|*}; msg=${b#*|}
  nbad=$((nbad + 1))
  if gcc "${warn[@]}" "$def" -I"$root/include" -fsyntax-only "$root/src/capheap.c" 2>"$out/err"; then
    badfail=$((badfail + 1)); echo "FAIL $def: the build was not refused"
  elif ! grep -q "#error \"$msg" "$out/err"; then
    badfail=$((badfail + 1)); echo "FAIL $def: refused without the message '$msg'"; head -3 "$out/err"
  fi
done
echo "compile matrix: $((nbad - badfail)) of $nbad invalid configurations refused with their message"
[ "$fail" -eq 0 ] && [ "$badfail" -eq 0 ]
