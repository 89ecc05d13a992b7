#!/usr/bin/env bash
# Run one firmware ELF in QEMU and exit with its status (semihosting exit code).
#
#   qemu-run.sh [--icount SHIFT] [--timeout SECONDS] [--expect REGEX]... BOARD ELF [ARGS...]
#
# BOARD: an385 | an386 (qemu-system-arm -M mps2-an385/-an386) | rv32 (qemu-system-riscv32 -M virt).
# ARGS are the firmware's command line (semihosting); the word SEED in them is replaced by
# $CAPHEAP_SEED, or by a fresh random number that is printed, so any run can be replayed:
#   CAPHEAP_SEED=1234 ctest --test-dir build/target -R model
# A run that exceeds the timeout (default 120 s) is killed and fails with status 124.
# Each --expect REGEX (grep -E) must match a line of the output, or the run fails (status 1).
set -euo pipefail
icount=()
limit=120
expect=()
while [ $# -gt 0 ]; do
  case $1 in
    --icount) icount=(-icount "shift=$2"); shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --expect) expect+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "usage: $0 [--icount N] [--timeout S] BOARD ELF [ARGS...]" >&2; exit 2; }
board=$1 elf=$2
shift 2

seed=${CAPHEAP_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
args=()
for a in "$@"; do
  [ "$a" = SEED ] && { a=$seed; echo "seed: $seed (replay with CAPHEAP_SEED=$seed)"; }
  args+=("$a")
done

common=(-display none -monitor none -serial none "${icount[@]}")
case $board in
  an385|an386)
    cmd=(qemu-system-arm -M "mps2-$board" -m 16M "${common[@]}"
         -semihosting-config enable=on,target=native -kernel "$elf") ;;
  rv32)
    # picolibc writes to the semihosting console: route it to stdout.
    cmd=(qemu-system-riscv32 -M virt -bios none -m 128M "${common[@]}"
         -chardev stdio,id=shout -semihosting-config enable=on,target=native,chardev=shout
         -kernel "$elf") ;;
  *) echo "qemu-run.sh: unknown board '$board'" >&2; exit 2 ;;
esac
[ ${#args[@]} -gt 0 ] && cmd+=(-append "${args[*]}")

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
timeout "$limit" "${cmd[@]}" </dev/null | tee "$out" || status=${PIPESTATUS[0]}
[ "$status" = 124 ] && echo "qemu-run.sh: timed out after ${limit}s: $elf" >&2
for re in "${expect[@]}"; do
  if ! grep -Eq -- "$re" "$out"; then
    echo "qemu-run.sh: no output line matches: $re" >&2
    [ "$status" = 0 ] && status=1
  fi
done
exit "$status"
