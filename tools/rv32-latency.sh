#!/usr/bin/env bash
# Instructions per capheap_alloc / capheap_free on RV32IMAC, and the core's code size:
# regenerates docs/target-figures.md.
#
#   tools/rv32-latency.sh                 build, run (about 5 minutes on 2 cores, most of it
#                                         picolibc's malloc), write docs/target-figures.md
#   STEPS=20000 tools/rv32-latency.sh     a shorter run (the published figures use 200000)
#   CAPHEAP_SEED=N tools/rv32-latency.sh  another seed (the published figures use 1)
#   OUT=file tools/rv32-latency.sh        write somewhere else
#
# The firmware (tests/target/rv32_latency.c, built -O2 for rv32imac with picolibc) runs in
# qemu-system-riscv32 -M virt -icount shift=0, where minstret counts retired instructions
# exactly; it reads minstret before and after every call over BENCH.md's W1 workloads a, b, c
# and an adversarial fragmenting run, for a 16 KiB, a 256 KiB and a 4 MiB region. Built with
# the default options; with CAPHEAP_CHECK_LEVEL=0 CAPHEAP_STATS=0; with CAPHEAP_FIT_SCAN=1 (the
# speed setting); with CAPHEAP_SL_BITS=3 CAPHEAP_FIT_SCAN=1 (two-level bitmap, the previous
# default); and once calling picolibc's own malloc/free on the same range (rv32_latency_native),
# for comparison. The default, smallest and native builds also run on Cortex-M3 (mps2-an385,
# newlib's malloc), counted through SysTick under -icount shift=6 (tests/target/rv32_latency.c
# says how).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build/rv32-latency}
out=${OUT:-$root/docs/target-figures.md}
steps=${STEPS:-200000}
export CAPHEAP_SEED=${CAPHEAP_SEED:-1}

gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S "$root/tests/target/firmware" -B "$build" "${gen[@]}" -DCAPHEAP_BOARD=rv32 \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/riscv32-elf.cmake" >/dev/null
cmake --build "$build" --target rv32_latency rv32_latency_min rv32_latency_fast rv32_latency_sl3 \
  rv32_latency_native >/dev/null
# The same firmware for Cortex-M3 (mps2-an385, newlib), counted through SysTick.
build_arm=${BUILD_DIR_ARM:-$build-arm}
cmake -S "$root/tests/target/firmware" -B "$build_arm" "${gen[@]}" -DCAPHEAP_BOARD=an385 \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi.cmake" >/dev/null
cmake --build "$build_arm" --target arm_latency arm_latency_min arm_latency_native >/dev/null

run() { # BOARD ICOUNT ELF -> RESULT lines
  local log
  log=$("$root/tests/target/qemu-run.sh" --icount "$2" --timeout 900 "$1" "$3" SEED "$steps") || {
    echo "$log" >&2; echo "rv32-latency: $3 failed" >&2; exit 1; }
  echo "$log" >&2
  grep '^RESULT ' <<<"$log"
}
# The C library's own malloc: one (size, workload) per boot (its state cannot be reset), run
# in parallel; picolibc's 4 MiB adversarial run alone takes a few minutes (long free list).
native_one() { # BOARD ICOUNT ELF size-index workload-index -> RESULT line
  local log
  log=$("$root/tests/target/qemu-run.sh" --icount "$2" --timeout 1800 "$1" "$3" \
        "$CAPHEAP_SEED" "$steps" "$4" "$5") || { echo "$log" >&2; echo "rv32-latency: $3 $4 $5 failed" >&2; return 1; }
  grep '^RESULT ' <<<"$log"
}
export -f native_one
export root steps CAPHEAP_SEED
natives() { # BOARD ICOUNT ELF -> 12 RESULT lines
  local res
  res=$(for si in 2 1 0; do for wi in 3 0 1 2; do echo "$1 $2 $3 $si $wi"; done; done |
        xargs -P "$(nproc 2>/dev/null || echo 2)" -n 5 bash -c 'native_one "$0" "$1" "$2" "$3" "$4"') || {
    echo "rv32-latency: a native run failed" >&2; exit 1; }
  [ "$(grep -c '^RESULT ' <<<"$res")" = 12 ] || { echo "rv32-latency: native runs incomplete" >&2; exit 1; }
  echo "$res"
}
echo "rv32-latency: RV32, default options" >&2
res_default=$(run rv32 0 "$build/rv32_latency.elf")
echo "rv32-latency: RV32, CHECK_LEVEL=0 STATS=0" >&2
res_min=$(run rv32 0 "$build/rv32_latency_min.elf")
echo "rv32-latency: RV32, FIT_SCAN=1" >&2
res_fast=$(run rv32 0 "$build/rv32_latency_fast.elf")
echo "rv32-latency: RV32, SL_BITS=3 FIT_SCAN=1" >&2
res_sl3=$(run rv32 0 "$build/rv32_latency_sl3.elf")
echo "rv32-latency: RV32, picolibc's malloc (12 boots)" >&2
res_native=$(natives rv32 0 "$build/rv32_latency_native.elf")
echo "rv32-latency: Cortex-M3, default options" >&2
arm_default=$(run an385 6 "$build_arm/arm_latency.elf")
echo "rv32-latency: Cortex-M3, CHECK_LEVEL=0 STATS=0" >&2
arm_min=$(run an385 6 "$build_arm/arm_latency_min.elf")
echo "rv32-latency: Cortex-M3, newlib's malloc (12 boots)" >&2
arm_native=$(natives an385 6 "$build_arm/arm_latency_native.elf")

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# table RESULTS -> markdown: rows workloads, columns region sizes (max / median)
table() {
  local res=$1
  echo "| workload | 16 KiB alloc | 16 KiB free | 256 KiB alloc | 256 KiB free | 4 MiB alloc | 4 MiB free |"
  echo "|---|---|---|---|---|---|---|"
  for w in a b c adv; do
    local row="| $w"
    for s in 16384 262144 4194304; do
      local line
      line=$(grep " size=$s workload=$w " <<<"$res")
      row="$row | $(field "$line" alloc_max) / $(field "$line" alloc_median) | $(field "$line" free_max) / $(field "$line" free_median)"
    done
    echo "$row |"
  done
  local row="| **max, all workloads**"
  for s in 16384 262144 4194304; do
    local am fm
    am=$(grep " size=$s " <<<"$res" | sed 's/.* alloc_max=\([0-9]*\).*/\1/' | sort -n | tail -1)
    fm=$(grep " size=$s " <<<"$res" | sed 's/.* free_max=\([0-9]*\).*/\1/' | sort -n | tail -1)
    row="$row | **$am** | **$fm**"
  done
  echo "$row |"
}
maxof() { sed "s/.* $2=\([0-9]*\).*/\1/" <<<"$1" | sort -n | tail -1; }
growth() { # RESULTS -> sentence on whether the workloads' maximum grows with the region
  local res a16 a4m f16 f4m
  res=$(wl "$1")
  a16=$(maxof "$(grep ' size=16384 ' <<<"$res")" alloc_max)
  a4m=$(maxof "$(grep ' size=4194304 ' <<<"$res")" alloc_max)
  f16=$(maxof "$(grep ' size=16384 ' <<<"$res")" free_max)
  f4m=$(maxof "$(grep ' size=4194304 ' <<<"$res")" free_max)
  echo "Maximum per alloc: $a16 at 16 KiB, $a4m at 4 MiB; per free: $f16 at 16 KiB, $f4m at 4 MiB."
}
wl() { grep -v ' case=' <<<"$1" || true; }   # the workload runs' RESULT lines
cr() { grep ' case=' <<<"$1" || true; }      # the constructed states' RESULT lines
crafted_line() { # RESULTS -> the constructed longest paths, one sentence
  local res=$1 a="" f="" c counts
  for c in $(cr "$res" | sed 's/.* case=\([^ ]*\) .*/\1/' | awk '!seen[$0]++'); do
    counts=$(for s in 16384 262144 4194304; do field "$(grep " case=$c .* size=$s " <<<"$res")" count; done |
             awk 'NR == 1 { all = $1; same = 1; first = $1; next } { all = all " · " $1; if ($1 != first) same = 0 }
                  END { print same ? first : all }')
    if grep -q " case=$c op=alloc " <<<"$res"; then a="$a, $c $counts"; else f="$f, $c $counts"; fi
  done
  echo "Constructed longest paths (\`crafted()\` in \`tests/target/rv32_latency.c\`, each built in a" \
       "region of 16 KiB, 256 KiB and 4 MiB; one figure where the three are equal): per alloc${a#,};" \
       "per free${f#,}."
}
verdict() { # RESULTS -> the target check over the workloads and the constructed states
  local all=$1 res am fm same=yes wsame=yes s ca cf pa=() pf=() wa=() wf=() x
  res=$(wl "$all")
  am=$(maxof "$res" alloc_max); fm=$(maxof "$res" free_max)
  ca=$(maxof "$(cr "$all" | grep ' op=alloc ')" count)
  cf=$(maxof "$(cr "$all" | grep ' op=free ')" count)
  # the maximum at each region size: its workloads and its constructed states
  for s in 16384 262144 4194304; do
    wa+=("$(maxof "$(grep " size=$s " <<<"$res")" alloc_max)")
    wf+=("$(maxof "$(grep " size=$s " <<<"$res")" free_max)")
    x=$(maxof "$(cr "$all" | grep " op=alloc size=$s ")" count)
    pa+=("$(( ${x:-0} > ${wa[-1]} ? ${x:-0} : ${wa[-1]} ))")
    x=$(maxof "$(cr "$all" | grep " op=free size=$s ")" count)
    pf+=("$(( ${x:-0} > ${wf[-1]} ? ${x:-0} : ${wf[-1]} ))")
    [ "${pa[-1]}" = "${pa[0]}" ] && [ "${pf[-1]}" = "${pf[0]}" ] || same=no
    [ "${wa[-1]}" = "${wa[0]}" ] && [ "${wf[-1]}" = "${wf[0]}" ] || wsame=no
  done
  local va=MET vf=MET per="" wam=$am wfm=$fm
  [ -n "$ca" ] && [ "$ca" -gt "$am" ] && am=$ca
  [ -n "$cf" ] && [ "$cf" -gt "$fm" ] && fm=$cf
  [ "$am" -le 190 ] || va=MISSED
  [ "$fm" -le 150 ] || vf=MISSED
  per=" (alloc ${pa[0]} · ${pa[1]} · ${pa[2]}, free ${pf[0]} · ${pf[1]} · ${pf[2]} at 16 KiB · 256 KiB · 4 MiB"
  if [ "$wsame" = no ]; then
    per="$per; the random workloads alone reach alloc ${wa[0]} · ${wa[1]} · ${wa[2]}, free ${wf[0]} · ${wf[1]} · ${wf[2]}:"
    per="$per they take the longest paths only by chance"
  fi
  per="$per)"
  echo "Against the target (<= 190 per alloc, <= 150 per free), over the workloads ($wam / $wfm) and the" \
       "constructed states (${ca:-none} / ${cf:-none}): alloc **$va** ($am), free **$vf** ($fm);" \
       "maximum the same at every region size: **$same**$per."
}
details() { # RESULTS -> per-run counts
  echo "| region | workload | slots | allocations (failed) | frees |"
  echo "|---|---|---|---|---|"
  while read -r line; do
    echo "| $(field "$line" size) | $(field "$line" workload) | $(field "$line" slots) | $(field "$line" allocs) ($(field "$line" failed)) | $(field "$line" frees) |"
  done <<<"$(wl "$1")"
}

rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
[ -n "$(git -C "$root" status --porcelain -- src include 2>/dev/null)" ] && dirty=" (with uncommitted changes to src/ or include/)"
size_section=$("$root/tools/size-report.sh")

mkdir -p "$(dirname "$out")"
cat >"$out" <<EOF2
# capheap measured on the targets

Generated by \`tools/rv32-latency.sh\` (which also runs \`tools/size-report.sh\`) from commit
\`$rev\`$dirty. Do not edit by hand: run the command again.
Tools: $(qemu-system-riscv32 --version | head -1), riscv64-unknown-elf-gcc
$(riscv64-unknown-elf-gcc -dumpversion), arm-none-eabi-gcc $(arm-none-eabi-gcc -dumpversion).

## Instructions per operation on RV32IMAC (BENCH.md W3)

QEMU \`virt\` (\`qemu-system-riscv32 -icount shift=0\`, exact and repeatable counts), core built
\`-O2 -march=rv32imac -mabi=ilp32\` with picolibc; \`minstret\` read before and after every
\`capheap_alloc\` and \`capheap_free\`. The count includes the call, the return and the argument
moves (2-3 instructions), minus the one instruction of an empty bracket. Failed allocations
count as allocations. Each run: one fresh region, W1 random actions (N slots = 0.6 x region /
mean request), warm-up max(10 N, 50 000) steps, then $steps measured steps, seed $CAPHEAP_SEED.
Workloads: **a** uniform 8-512 B; **b** log-uniform 8-16 383 B; **c** 70% 16-128 B, 25% 128-2048 B,
5% 2-16 KiB; **adv** adversarial: 92% of the region in small blocks, requests alternating between
8-64 B and sizes one byte above a size-class boundary (2^k+1, 2^k+2^k/8+1), with large requests
(up to a quarter of the region) that often fail.

Cells: **maximum / median** instructions.

Random workloads reach the longest paths only by chance, so every capheap build also runs
constructed states, one call each: the fit scan walking its full length in the own class, then
in the next class, with the list emptied and a new class opened by the split, and new peaks in
the statistics; and a free that merges two neighbours, each alone in its class, into an empty
class (\`crafted()\` in \`tests/target/rv32_latency.c\`), each built in a fresh region of each
of the three sizes. The verdict takes the larger maximum, at each region size.

### Default options (CAPHEAP_CHECK_LEVEL 1, CAPHEAP_STATS 1)

$(table "$res_default")

$(growth "$res_default")
$(crafted_line "$res_default")
$(verdict "$res_default")

### Smallest configuration (CAPHEAP_CHECK_LEVEL 0, CAPHEAP_STATS 0)

$(table "$res_min")

$(growth "$res_min")
$(crafted_line "$res_min")
$(verdict "$res_min")

### Speed setting (CAPHEAP_FIT_SCAN 1), default checks and statistics

Only the first block of the own class is examined (no fit scan): the fastest core, with less
memory efficiency (see the trade-off table in [bench/RESULTS.md](../bench/RESULTS.md)).

$(table "$res_fast")

$(growth "$res_fast")
$(crafted_line "$res_fast")
$(verdict "$res_fast")

### Two-level bitmap (CAPHEAP_SL_BITS 3, CAPHEAP_FIT_SCAN 1), default checks and statistics

Eight classes per power of two under a two-level bitmap, TLSF's layout (the default before
one class per power of two with the fit scan replaced it).

$(table "$res_sl3")

$(growth "$res_sl3")
$(crafted_line "$res_sl3")
$(verdict "$res_sl3")

### picolibc's own malloc (measured here, same method and runs)

picolibc $(dpkg-query -W -f='${Version}' picolibc-riscv64-unknown-elf 2>/dev/null || echo "(version unknown)")'s \`malloc\`/\`free\` (nano-malloc: one free
list searched first fit), firmware \`rv32_latency_native\` built
without capheap's libc layer; its heap is the same range of the same size, handed out through
\`sbrk()\`. Cells: maximum / median instructions (a median of 131 072 means "above 131 071").

$(table "$res_native")

$(growth "$res_native")

Reference (BENCH.md, same method): TLSF 323 / 257 (alloc / free maximum) at every size;
o1heap 190 / 151; picolibc's malloc 65 425 · 65 969 · 524 475 per alloc at 16 KiB · 256 KiB · 4 MiB.
Target for capheap: <= 190 per alloc and <= 150 per free, the same at every size.

## Instructions per operation on Cortex-M3 (mps2-an385, newlib)

The same firmware and runs built for \`qemu-system-arm -M mps2-an385\` (\`-O2 -mcpu=cortex-m3
-mthumb\`, newlib $(dpkg-query -W -f='${Version}' libnewlib-arm-none-eabi 2>/dev/null || echo "(version unknown)")). Cortex-M has no instruction counter under QEMU
(DWT_CYCCNT is not emulated), so the count comes from SysTick under \`-icount shift=6\`: every
instruction advances virtual time by 64 ns and SysTick, clocked at the board's 25 MHz, ticks
1.6 times per instruction; instructions = ticks / 1.6, exact to within one. No BENCH.md target
is set for Cortex-M; the figures show capheap beside the C library's allocator on the board the
demo runs on.

### capheap, default options

$(table "$arm_default")

$(growth "$arm_default")
$(crafted_line "$arm_default")

### capheap, smallest configuration (CAPHEAP_CHECK_LEVEL 0, CAPHEAP_STATS 0)

$(table "$arm_min")

$(growth "$arm_min")
$(crafted_line "$arm_min")

### newlib's own malloc (measured here, same method and runs)

newlib's \`malloc\`/\`free\` (a dlmalloc: exact bins for small sizes, sorted bins above),
firmware \`arm_latency_native\` built without capheap's libc layer; its heap is the same range
of the same size, handed out through \`_sbrk_r()\`.

$(table "$arm_native")

$(growth "$arm_native")

<details><summary>Operations per run (RV32, default options)</summary>

$(details "$res_default")

</details>

$size_section
EOF2
echo "rv32-latency: wrote $out" >&2
