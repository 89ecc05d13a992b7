/*
 * capheap_newlib.c - newlib's allocator replaced by capheap_global.
 *
 * Link this file into a newlib program and every allocation in it - malloc() and friends,
 * printf's stream buffers, strdup, the C++ runtime - draws from capheap_global, the heap that
 * CAPHEAP_HEAP_ALLOCATOR() and capheap_add_region() fill. Add at least one region to
 * capheap_global before the first allocation (early in main, before the first printf):
 * until then every allocation fails with ENOMEM.
 *
 * Defined here, so that no object of newlib's own allocator (mallocr.o and the rest of its
 * dlmalloc family) is ever linked:
 *   reentrant:     _malloc_r _free_r _realloc_r _calloc_r _memalign_r _valloc_r _pvalloc_r
 *                  _malloc_usable_size_r _mallinfo_r _malloc_stats_r _mallopt_r _malloc_trim_r
 *                  _mstats_r
 *   plain:         malloc free realloc calloc memalign valloc pvalloc aligned_alloc
 *                  posix_memalign malloc_usable_size mallinfo malloc_stats mallopt malloc_trim
 *                  mstats
 *   lock:          __malloc_lock __malloc_unlock
 * newlib's reallocf, reallocarray and cfree call the functions above and may stay newlib's.
 *
 * Failures set errno (or the reentrancy structure's errno) to ENOMEM, or EINVAL for a bad
 * alignment, as newlib's own allocator does; posix_memalign returns the code instead. calloc's
 * count * size overflow is detected by capheap_calloc. Interrupt safety is capheap's: install a
 * lock port (ports/) on capheap_global if interrupt handlers allocate.
 */
#include <errno.h>
#include <malloc.h>
#include <reent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "capheap.h"
#include "../capheap_libc.h"

#if !CAPHEAP_GLOBAL
#error "capheap_newlib.c routes malloc() to capheap_global: build the core with CAPHEAP_GLOBAL 1"
#endif

/* valloc and pvalloc align to this "page" (newlib's own value). */
#define NEWLIB_PAGE_SIZE 4096u

static int is_power_of_two(size_t x) { return x != 0 && (x & (x - 1u)) == 0; }

/* memalign accepts any alignment: round it up to a power of two, at least CAPHEAP_ALIGN. */
static size_t round_alignment(size_t align)
{
    size_t a = CAPHEAP_ALIGN;
    while (a < align && a <= SIZE_MAX / 2u)
        a <<= 1;
    return a < align ? 0 : a;
}

static void *nomem(int *err)
{
    *err = ENOMEM;
    return NULL;
}

/* ---- the reentrant family: what newlib itself calls ---- */

void *_malloc_r(struct _reent *r, size_t size)
{
    void *p = capheap_alloc(&capheap_global, size);
    return p != NULL ? p : nomem(&r->_errno);
}

void _free_r(struct _reent *r, void *ptr)
{
    (void)r;
    (void)capheap_free(&capheap_global, ptr);
}

void *_realloc_r(struct _reent *r, void *ptr, size_t size)
{
    void *p = capheap_realloc(&capheap_global, ptr, size);
    if (p == NULL && size != 0)
        r->_errno = ENOMEM;
    return p;
}

void *_calloc_r(struct _reent *r, size_t count, size_t size)
{
    void *p = capheap_calloc(&capheap_global, count, size);
    return p != NULL ? p : nomem(&r->_errno);
}

void *_memalign_r(struct _reent *r, size_t align, size_t size)
{
    size_t a = round_alignment(align);
    void *p;
    if (a == 0) {
        r->_errno = EINVAL;
        return NULL;
    }
    p = capheap_aligned_alloc(&capheap_global, a, size);
    return p != NULL ? p : nomem(&r->_errno);
}

void *_valloc_r(struct _reent *r, size_t size) { return _memalign_r(r, NEWLIB_PAGE_SIZE, size); }

void *_pvalloc_r(struct _reent *r, size_t size)
{
    if (size > SIZE_MAX - (NEWLIB_PAGE_SIZE - 1u))
        return nomem(&r->_errno);
    return _memalign_r(r, NEWLIB_PAGE_SIZE, (size + NEWLIB_PAGE_SIZE - 1u) & ~(size_t)(NEWLIB_PAGE_SIZE - 1u));
}

size_t _malloc_usable_size_r(struct _reent *r, void *ptr)
{
    (void)r;
    return capheap_usable_size(&capheap_global, ptr);
}

struct mallinfo _mallinfo_r(struct _reent *r)
{
    struct mallinfo mi = {0};
    capheap_libc_info_t info;
    (void)r;
    if (capheap_libc_info(&info)) {
        mi.arena = info.arena;
        mi.uordblks = info.used;
        mi.fordblks = info.free;
        mi.usmblks = info.peak;
        mi.ordblks = info.free_blocks;
    }
    return mi;
}

void _malloc_stats_r(struct _reent *r)
{
    (void)r;
    capheap_report(&capheap_global, capheap_libc_write_stderr, NULL);
}

/* The old statistics call: a title line, then the report. */
void _mstats_r(struct _reent *r, char *title)
{
    (void)fprintf(stderr, "Memory allocation statistics %s\n", title != NULL ? title : "");
    _malloc_stats_r(r);
}

/* No tunables: every option is refused (0), as mallopt does for unknown options. */
int _mallopt_r(struct _reent *r, int option, int value)
{
    (void)r;
    (void)option;
    (void)value;
    return 0;
}

/* Regions are never shrunk: nothing is released (0). */
int _malloc_trim_r(struct _reent *r, size_t pad)
{
    (void)r;
    (void)pad;
    return 0;
}

/* ---- the plain entry points (so newlib's malloc.o, realloc.o, ... are not linked either) ---- */

void *malloc(size_t size) { return _malloc_r(_REENT, size); }
void free(void *ptr) { (void)capheap_free(&capheap_global, ptr); }
void *realloc(void *ptr, size_t size) { return _realloc_r(_REENT, ptr, size); }
void *calloc(size_t count, size_t size) { return _calloc_r(_REENT, count, size); }
void *memalign(size_t align, size_t size) { return _memalign_r(_REENT, align, size); }
void *valloc(size_t size) { return _valloc_r(_REENT, size); }
void *pvalloc(size_t size) { return _pvalloc_r(_REENT, size); }
size_t malloc_usable_size(void *ptr) { return capheap_usable_size(&capheap_global, ptr); }
struct mallinfo mallinfo(void) { return _mallinfo_r(_REENT); }
void malloc_stats(void) { _malloc_stats_r(_REENT); }
int mallopt(int option, int value) { return _mallopt_r(_REENT, option, value); }
int malloc_trim(size_t pad) { return _malloc_trim_r(_REENT, pad); }
void mstats(char *title) { _mstats_r(_REENT, title); }

/* C11: align must be a power of two (any size is accepted, as C17 allows). */
void *aligned_alloc(size_t align, size_t size)
{
    void *p;
    if (!is_power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    p = capheap_aligned_alloc(&capheap_global, align, size);
    if (p == NULL)
        errno = ENOMEM;
    return p;
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

/* ---- __malloc_lock: newlib's "hold the allocator" lock ----
 * capheap locks each call itself (the heap's lock port). These make __malloc_lock ...
 * __malloc_unlock a critical section on Cortex-M and RISC-V (interrupts masked, nesting
 * allowed), so code that relies on newlib's documented contract still gets one, and newlib's
 * own lock object is not linked. Elsewhere they only count the nesting. */
#if defined(__arm__) && defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
#include "capheap_port_cortexm.h"
#define MALLOC_IRQ_SAVE() capheap_port_cortexm_lock(NULL)
#define MALLOC_IRQ_RESTORE(t) capheap_port_cortexm_unlock(NULL, (t))
#elif defined(__riscv)
#include "capheap_port_riscv.h"
#define MALLOC_IRQ_SAVE() capheap_port_riscv_lock(NULL)
#define MALLOC_IRQ_RESTORE(t) capheap_port_riscv_unlock(NULL, (t))
#else
#define MALLOC_IRQ_SAVE() ((uintptr_t)0)
#define MALLOC_IRQ_RESTORE(t) ((void)(t))
#endif

static uintptr_t malloc_lock_token;
static unsigned malloc_lock_depth;

void __malloc_lock(struct _reent *r)
{
    uintptr_t token = MALLOC_IRQ_SAVE();
    (void)r;
    if (malloc_lock_depth++ == 0u)
        malloc_lock_token = token;
}

void __malloc_unlock(struct _reent *r)
{
    (void)r;
    if (malloc_lock_depth != 0u && --malloc_lock_depth == 0u)
        MALLOC_IRQ_RESTORE(malloc_lock_token);
}
