#!/usr/bin/env bash
# Install every Debian package the demo, the tests and the benchmarks need.
# Safe to run again: packages already present are skipped quickly.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build gcc clang clang-tidy cppcheck gcc-multilib qemu-user valgrind
  gcc-arm-none-eabi libnewlib-arm-none-eabi picolibc-arm-none-eabi
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
  qemu-system-arm qemu-system-misc
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev gnuplot-nox python3 xz-utils git
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
