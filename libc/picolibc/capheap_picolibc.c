/*
 * capheap_picolibc.c - picolibc's allocator replaced by capheap_global.
 *
 * Link this file into a picolibc program and malloc() and friends draw from capheap_global,
 * the heap that CAPHEAP_HEAP_ALLOCATOR() and capheap_add_region() fill. Add at least one
 * region to capheap_global before the first allocation: until then allocations fail (ENOMEM).
 *
 * picolibc's allocator is one family of objects that share state; if any member stays
 * picolibc's, the link pulls its malloc.o and fails with multiple definitions. So the whole
 * family is defined here: malloc free cfree calloc realloc memalign aligned_alloc
 * posix_memalign valloc pvalloc malloc_usable_size mallinfo malloc_stats mallopt malloc_trim.
 * picolibc's reallocf and reallocarray call realloc/free and may stay picolibc's.
 *
 * Failures set errno to ENOMEM (EINVAL for a bad alignment); posix_memalign returns the code.
 * calloc's count * size overflow is detected by capheap_calloc. Interrupt safety is capheap's:
 * install a lock port (ports/) on capheap_global if interrupt handlers allocate.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "capheap.h"
#include "../capheap_libc.h"

#if !CAPHEAP_GLOBAL
#error "capheap_picolibc.c routes malloc() to capheap_global: build the core with CAPHEAP_GLOBAL 1"
#endif

/* valloc and pvalloc align to this "page". */
#define PICOLIBC_PAGE_SIZE 4096u

static int is_power_of_two(size_t x) { return x != 0 && (x & (x - 1u)) == 0; }

static void *checked(void *p)
{
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

void *malloc(size_t size) { return checked(capheap_alloc(&capheap_global, size)); }

void free(void *ptr) { (void)capheap_free(&capheap_global, ptr); }

void cfree(void *ptr) { (void)capheap_free(&capheap_global, ptr); }

void *calloc(size_t count, size_t size) { return checked(capheap_calloc(&capheap_global, count, size)); }

void *realloc(void *ptr, size_t size)
{
    void *p = capheap_realloc(&capheap_global, ptr, size);
    if (p == NULL && size != 0)
        errno = ENOMEM;
    return p;
}

/* memalign accepts any alignment: round it up to a power of two, at least CAPHEAP_ALIGN. */
void *memalign(size_t align, size_t size)
{
    size_t a = CAPHEAP_ALIGN;
    while (a < align && a <= SIZE_MAX / 2u)
        a <<= 1;
    if (a < align) {
        errno = EINVAL;
        return NULL;
    }
    return checked(capheap_aligned_alloc(&capheap_global, a, size));
}

/* C11: align must be a power of two (any size is accepted, as C17 allows). */
void *aligned_alloc(size_t align, size_t size)
{
    if (!is_power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    return checked(capheap_aligned_alloc(&capheap_global, align, size));
}

/* POSIX: align a power-of-two multiple of sizeof(void *); the error is returned, errno kept. */
int posix_memalign(void **out, size_t align, size_t size)
{
    void *p;
    if (!is_power_of_two(align) || align % sizeof(void *) != 0)
        return EINVAL;
    p = capheap_aligned_alloc(&capheap_global, align, size);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size) { return memalign(PICOLIBC_PAGE_SIZE, size); }

void *pvalloc(size_t size)
{
    if (size > SIZE_MAX - (PICOLIBC_PAGE_SIZE - 1u)) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(PICOLIBC_PAGE_SIZE,
                    (size + PICOLIBC_PAGE_SIZE - 1u) & ~(size_t)(PICOLIBC_PAGE_SIZE - 1u));
}

size_t malloc_usable_size(void *ptr) { return capheap_usable_size(&capheap_global, ptr); }

struct mallinfo mallinfo(void)
{
    struct mallinfo mi = {0};
    capheap_libc_info_t info;
    if (capheap_libc_info(&info)) {
        mi.arena = info.arena;
        mi.uordblks = info.used;
        mi.fordblks = info.free;
        mi.usmblks = info.peak;
        mi.ordblks = info.free_blocks;
    }
    return mi;
}

void malloc_stats(void) { capheap_report(&capheap_global, capheap_libc_write_stderr, NULL); }

/* No tunables: every option is refused (0). */
int mallopt(int option, int value)
{
    (void)option;
    (void)value;
    return 0;
}

/* Regions are never shrunk: nothing is released (0). */
int malloc_trim(size_t pad)
{
    (void)pad;
    return 0;
}
