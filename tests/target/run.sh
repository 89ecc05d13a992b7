#!/usr/bin/env bash
# The target test stage: builds every firmware for the emulated boards and runs it in QEMU
# through ctest; the output ends with ctest's summary, the exit status is non-zero on any
# failure.
#
#   tests/target/run.sh                 build in build/target, run everything
#   BUILD_DIR=dir tests/target/run.sh   build elsewhere
#   CAPHEAP_SEED=N tests/target/run.sh  replay the randomized tests with seed N
#   tests/target/run.sh -R irq          extra arguments go to ctest
#
# Boards and C libraries: QEMU mps2-an385 (Cortex-M3) and mps2-an386 (Cortex-M4F) with newlib,
# QEMU virt riscv32 (RV32IMAC) with picolibc. Tests (tests/target/CMakeLists.txt):
#   <board>.model, .model_check_level2   randomized model test, 5 regions incl. a linker section
#   <board>.unit.<test>.<config>         the core's tests/unit programs built for the target
#                                        (core, model, corrupt, report, fuzz; with
#                                        CAPHEAP_POISON 1: poison, model, fuzz; with
#                                        CAPHEAP_TRACE 1: trace)
#   <board>.libc, .libc_symbols          libc allocation goes through capheap; libc's
#                                        allocator is not linked
#   <board>.irq_lock, .irq_nolock_detected
#                                        a timer interrupt (SysTick / CLINT) allocates while
#                                        main does, under -icount; with and without the port
#   rv32.latency_smoke, an385.latency_smoke
#                                        the latency firmware runs (counts not asserted)
#   <board>.latency_native_smoke         its build around picolibc's / newlib's own malloc runs
#   an385.demo, rv32.demo                the demos, with their report
#   an385.demo_readme                    the report README.md quotes is what the demo prints
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD_DIR:-$root/build/target}
jobs=$(nproc 2>/dev/null || echo 2)

gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
echo "target tests: configuring and building in $build"
cmake -S "$root/tests/target" -B "$build" "${gen[@]}" >/dev/null
cmake --build "$build" -j "$jobs"
echo
echo "target tests: running (seed: ${CAPHEAP_SEED:-random per test, printed in the log})"
ctest --test-dir "$build" -j "$jobs" --output-on-failure "$@"
