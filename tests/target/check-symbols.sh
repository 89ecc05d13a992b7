#!/usr/bin/env bash
# check-symbols.sh [--expect-native] newlib|picolibc ELF
#
# Proves that a firmware's allocation never reaches the C library's own allocator:
#  1. no object of the libc's allocator was pulled from its archive (the link map's
#     "Archive member included" list; ELF.map next to the ELF);
#  2. none of that allocator's private state symbols is in the ELF (nm);
#  3. malloc and free (and for newlib _malloc_r, _free_r) are defined, and every member of the
#     allocation family that is linked comes from capheap's libc layer (the link map's
#     section -> object lines).
# Exit 0 when all hold; otherwise lists what was found and exits 1.
# --expect-native inverts the verdict, for a program linked WITHOUT capheap's layer: exit 0
# only if the checks do find the C library's allocator (proof that this check can fail).
# Needs the firmware built with -ffunction-sections (the toolchain files in cmake/ set it).
set -euo pipefail
expect_native=0
[ "${1:-}" = --expect-native ] && { expect_native=1; shift; }
[ $# -eq 2 ] || { echo "usage: $0 [--expect-native] newlib|picolibc ELF" >&2; exit 2; }
libc=$1 elf=$2 map=${2%.elf}.map
[ -f "$elf" ] && [ -f "$map" ] || { echo "check-symbols: missing $elf or $map" >&2; exit 2; }

case $libc in
  newlib)
    nm=arm-none-eabi-nm
    layer=capheap_newlib
    # newlib's dlmalloc family (mallocr.c split into one object per function) and nano-malloc.
    members='lib_a-(mallocr|freer|reallocr|callocr|malignr|mallinfor|mallstatsr|malloptr|msizer|vallocr|pvallocr|malloc|realloc|calloc|malign|mstats|mtrim|msize|valloc|aligned_alloc|mlock|nano-malloc[a-z]*)\.o'
    state='__malloc_av_ __malloc_top_pad __malloc_trim_threshold __malloc_sbrk_base __malloc_max_sbrked_mem __malloc_max_total_mem __malloc_current_mallinfo __malloc_update_mallinfo __malloc_free_list __malloc_sbrk_start'
    required='malloc free _malloc_r _free_r'
    optional='realloc calloc memalign aligned_alloc posix_memalign valloc pvalloc malloc_usable_size _realloc_r _calloc_r _memalign_r _valloc_r _pvalloc_r _malloc_usable_size_r __malloc_lock __malloc_unlock'
    ;;
  picolibc)
    nm=riscv64-unknown-elf-nm
    layer=capheap_picolibc
    members='nano-malloc-[a-z_]+\.c\.o'
    state='__malloc_malloc __malloc_free __malloc_free_list __malloc_sbrk_start __malloc_sbrk_top __malloc_grow_chunk __malloc_sbrk_aligned __malloc_block __malloc_validate'
    required='malloc free'
    optional='realloc calloc cfree memalign aligned_alloc posix_memalign valloc pvalloc malloc_usable_size mallinfo malloc_stats mallopt malloc_trim'
    ;;
  *) echo "check-symbols: unknown libc '$libc'" >&2; exit 2 ;;
esac

bad=0
# 1. archive members the link pulled in
pulled=$(sed -n '1,/^Memory Configuration/p' "$map" |
         grep -oE "\(($members)\)" | sort -u || true)
if [ -n "$pulled" ]; then
  echo "FAIL: the link pulled the C library's allocator objects:"; echo "$pulled" | sed 's/^/  /'
  bad=1
fi
# 2. allocator state symbols
syms=$($nm "$elf" | awk '{print $NF}')
for s in $state; do
  if grep -qx -- "$s" <<<"$syms"; then echo "FAIL: $s (the C library's allocator state) is linked"; bad=1; fi
done
# 3. entry points: the required ones defined, and every one that is linked is capheap's
defined=$($nm --defined-only "$elf" | awk '{print $NF}')
found=()
for s in $required $optional; do
  if ! grep -qx -- "$s" <<<"$defined"; then
    case " $required " in *" $s "*) echo "FAIL: $s is not defined in $elf"; bad=1 ;; esac
    continue
  fi
  found+=("$s")
  # The map names the object that supplied section .text.<sym> (on the same or the next line).
  # Only the memory map counts (the list of discarded sections comes before it).
  obj=$(awk -v sec=".text.$s" '
        /^Linker script and memory map/ { inmap = 1 }
        inmap && $1 == sec { if (NF >= 4) { print $4; exit } getline; print $3; exit }' "$map")
  case $obj in
    *"$layer"*) ;;
    *) echo "FAIL: $s comes from '${obj:-?}', not from $layer"; bad=1 ;;
  esac
done

if [ $expect_native = 1 ]; then
  if [ $bad -eq 1 ]; then
    echo "check-symbols ($libc): the C library's own allocator in $(basename "$elf") was found, as expected"
    exit 0
  fi
  echo "check-symbols ($libc): FAIL: found nothing of the C library's allocator in a program built without capheap's layer"
  exit 1
fi
if [ $bad -eq 0 ]; then
  echo "check-symbols ($libc): no allocator object or state of the C library in $(basename "$elf");"
  echo "  defined by $layer: ${found[*]}"
fi
exit $bad
