#!/usr/bin/env bash
# Real, unmodified programs on capheap: each runs with LD_PRELOAD of the glibc
# layer (libc/glibc/capheap_preload.c), must produce the same output as
# without it, must have allocated from capheap (its report says so) and must
# leave a heap that passes capheap_check at exit. A program that frees twice
# must be stopped with capheap's message.
# With --poison (a CAPHEAP_POISON=1 build of the layer), also: a program that
# writes to memory after freeing it is stopped with capheap's message.
# Usage: preload.sh [--poison] path/to/libcapheap_preload.so
set -u
poison=0
if [ "${1:-}" = --poison ]; then poison=1; shift; fi
lib=$(readlink -f "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0

# run NAME CMD... : compare output with a plain run, check the report
run() {
  local name=$1; shift
  local want got allocs
  want=$("$@" 2>/dev/null | md5sum)
  got=$(CAPHEAP_PRELOAD_REPORT=1 CAPHEAP_PRELOAD_CHECK=1 LD_PRELOAD=$lib "$@" 2>"$work/err" | md5sum)
  allocs=$(grep -E '^Allocations: ' "$work/err" | sed -E 's/Allocations: ([0-9]+).*/\1/' | sort -n | tail -1)
  if [ "$want" != "$got" ]; then
    echo "FAIL $name: output differs under capheap"; fail=$((fail + 1))
  elif ! grep -q 'capheap: heap check OK' "$work/err" || grep -q 'heap check FAILED' "$work/err"; then
    echo "FAIL $name: heap check at exit did not pass"; tail -5 "$work/err"; fail=$((fail + 1))
  elif [ -z "$allocs" ] || [ "$allocs" -lt 10 ]; then
    echo "FAIL $name: capheap served ${allocs:-no} allocations"; fail=$((fail + 1))
  else
    echo "ok   $name ($allocs allocations from capheap in its busiest process)"; pass=$((pass + 1))
  fi
}

seq 1 200000 | awk '{ print ($1 * 7919) % 200003 }' > "$work/nums"
cat > "$work/hello.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    char *s = NULL; size_t n = 0;
    for (int i = 0; i < 1000; i++) { s = realloc(s, n + 16); n += (size_t)sprintf(s + n, "%d,", i); }
    printf("%zu %.20s\n", strlen(s), s); free(s); return 0;
}
C
run "sort -n (200 000 lines)" sort -n "$work/nums"
run "python3 json round trip" python3 -c 'import json; d={str(i): list(range(i % 40)) for i in range(20000)}; s=json.dumps(d); assert json.loads(s)==d; print(len(s))'
run "gcc compiles and links a program" sh -c "gcc -O2 -o '$work/hello' '$work/hello.c' && '$work/hello'"
run "xz with two threads" sh -c "xz -T2 -6 -c '$work/nums' | xz -d -c | md5sum"
run "git log" git -C "$(dirname "$0")/.." log --oneline -n 20

# stopped NAME PROGRAM.c MESSAGE-REGEX: the program, built from PROGRAM.c, must be
# aborted by capheap (exit 134) with a line matching MESSAGE-REGEX on stderr
stopped() {
  local name=$1 src=$2 msg=$3 rc
  gcc -O0 -fno-builtin -o "${src%.c}" "$src"
  sh -c 'LD_PRELOAD="$1" "$2"; exit $?' sh "$lib" "${src%.c}" 2>"$work/err"; rc=$?
  if [ $rc -eq 134 ] && grep -qE "$msg" "$work/err"; then
    echo "ok   $name is stopped by capheap (abort, exit 134)"; pass=$((pass + 1))
  else
    echo "FAIL $name: exit $rc, stderr: $(head -2 "$work/err")"; fail=$((fail + 1))
  fi
}

# a double free in a real program is stopped with capheap's message
cat > "$work/twice.c" <<'C'
#include <stdlib.h>
int main(void) { char *volatile p = malloc(64); free(p); free(p); return 0; }
C
stopped "double free" "$work/twice.c" '^capheap: free\(\): block already free$'
if [ "$poison" -eq 1 ]; then
  # a write after free, found when the bytes are allocated again
  cat > "$work/late.c" <<'C'
#include <stdlib.h>
int main(void) {
    char *volatile p = malloc(64), *volatile guard = malloc(16);
    free(p);
    p[40] = 1;
    char *volatile q = malloc(64);
    return q == p && guard != NULL ? 0 : 1;
}
C
  stopped "write after free" "$work/late.c" '^capheap: freed memory written after free, at 0x[0-9a-f]+$'
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
