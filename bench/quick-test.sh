#!/usr/bin/env bash
# The benchmark's smoke test for the test suite: correctness only, never timing.
# Prints "N passed, N failed"; exit status 0 only when nothing failed.
exec "$(dirname "$0")/../scripts/bench" --quick "$@"
