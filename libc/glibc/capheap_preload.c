/*
 * capheap_preload.c - run unmodified Linux programs on capheap:
 *
 *   LD_PRELOAD=libcapheap_preload.so ls -l
 *
 * Replaces the whole malloc family of glibc (malloc, free, calloc, realloc,
 * reallocarray, memalign, aligned_alloc, posix_memalign, valloc, pvalloc,
 * malloc_usable_size) with calls on capheap_global. Memory comes from the
 * kernel in regions added at run time: the first is reserved on the first
 * allocation, and whenever no region can serve a request a new one (at
 * least twice the request) is mapped and added - capheap's "regions added
 * after allocations started" under real load. The heap is shared by all
 * threads through the pthread lock port; fork() is made safe with
 * pthread_atfork.
 *
 * Environment:
 *   CAPHEAP_PRELOAD_REPORT=1   print capheap's heap report to stderr at exit
 *   CAPHEAP_PRELOAD_CHECK=1    run the invariant checker at exit; exit status 99 if it fails
 *
 * Built with CAPHEAP_POISON=1 (the CMake target capheap_preload_poison), a
 * write to freed memory that a later allocation finds stops the program with
 * capheap's message, as a bad free does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capheap.h"

#define EXPORT __attribute__((visibility("default")))
#define FIRST_REGION ((size_t)64 << 20)   /* reserved, touched only as used */
#define REGION_LIMIT ((size_t)0xFFFFF000u) /* regions are addressed with 32 bits */

static pthread_mutex_t heap_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t grow_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uintptr_t lock_heap(void *ctx)
{
    (void)ctx;
    return pthread_mutex_lock(&heap_mutex) == 0 ? 0u : CAPHEAP_LOCK_FAILED;
}

static void unlock_heap(void *ctx, uintptr_t token)
{
    (void)ctx;
    (void)token;
    (void)pthread_mutex_unlock(&heap_mutex);
}

/* fork(): hold both locks across it so the child gets a consistent heap. */
static void before_fork(void)
{
    (void)pthread_mutex_lock(&grow_mutex);
    (void)pthread_mutex_lock(&heap_mutex);
}

static void after_fork(void)
{
    (void)pthread_mutex_unlock(&heap_mutex);
    (void)pthread_mutex_unlock(&grow_mutex);
}

/* stderr as it was at start-up: programs such as ls close fd 2 at exit. */
static int report_fd = 2;

static void write_stderr(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    while (len > 0) {
        ssize_t n = write(report_fd, text, len);
        if (n <= 0) return;
        text += n;
        len -= (size_t)n;
    }
}

__attribute__((destructor)) static void at_exit_report(void)
{
    const char *report = getenv("CAPHEAP_PRELOAD_REPORT");
    const char *check = getenv("CAPHEAP_PRELOAD_CHECK");
    if (report != NULL && report[0] == '1') capheap_report(&capheap_global, write_stderr, NULL);
    if (check != NULL && check[0] == '1') {
        capheap_check_result_t cr;
        if (capheap_check(&capheap_global, &cr) != CAPHEAP_OK) {
            write_stderr(NULL, "capheap: heap check FAILED: ", 28);
            write_stderr(NULL, cr.first, strlen(cr.first));
            write_stderr(NULL, "\n", 1);
            _exit(99);
        }
        write_stderr(NULL, "capheap: heap check OK\n", 23);
    }
}

#if CAPHEAP_POISON
/* Poisoning found a write after free: say where, and stop. */
static void on_heap_error(capheap_heap_t *heap, const capheap_event_t *ev, void *ctx)
{
    (void)heap;
    (void)ctx;
    if (ev->code != CAPHEAP_E_USE_AFTER_FREE) return;
    char hex[2 + 2 * sizeof(uintptr_t) + 1];
    uintptr_t a = (uintptr_t)ev->ptr;
    size_t n = sizeof hex - 1;
    hex[n] = '\n';
    while (n > 2) {
        hex[--n] = "0123456789abcdef"[a & 15u];
        a >>= 4;
    }
    hex[0] = '0';
    hex[1] = 'x';
    const char *msg = "capheap: freed memory written after free, at ";
    write_stderr(NULL, msg, strlen(msg));
    write_stderr(NULL, hex, sizeof hex);
    abort();
}
#endif

/* Map a new region of at least need bytes and add it to the heap. */
static bool grow(size_t need)
{
    size_t size = need > SIZE_MAX / 2 ? need : 2 * need;
    if (size < FIRST_REGION) size = FIRST_REGION;
    if (size > REGION_LIMIT) size = REGION_LIMIT;
    if (size < need) return false;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) return false;
    if (capheap_add_region(&capheap_global, m, size, CAPHEAP_CAPS_INTERNAL) != CAPHEAP_OK) {
        (void)munmap(m, size);
        return false;
    }
    return true;
}

static void init(void)
{
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (fd >= 0) report_fd = fd;
    capheap_set_lock(&capheap_global, lock_heap, unlock_heap, NULL);
#if CAPHEAP_POISON
    capheap_set_error_handler(&capheap_global, on_heap_error, NULL);
#endif
    (void)pthread_atfork(before_fork, after_fork, after_fork);
    (void)grow(FIRST_REGION);
}

/* Allocate through fn; on exhaustion map another region and retry once. */
static void *with_growth(size_t align, size_t size)
{
    (void)pthread_once(&once, init);
    void *p = align > CAPHEAP_ALIGN ? capheap_aligned_alloc(&capheap_global, align, size)
                                    : capheap_alloc(&capheap_global, size);
    if (p != NULL) return p;
    if (size > REGION_LIMIT / 2 || align > REGION_LIMIT / 4) {
        errno = ENOMEM;
        return NULL;
    }
    (void)pthread_mutex_lock(&grow_mutex);
    bool ok = grow(size + align + 4096);
    (void)pthread_mutex_unlock(&grow_mutex);
    if (ok)
        p = align > CAPHEAP_ALIGN ? capheap_aligned_alloc(&capheap_global, align, size)
                                  : capheap_alloc(&capheap_global, size);
    if (p == NULL) errno = ENOMEM;
    return p;
}

EXPORT void *malloc(size_t size) { return with_growth(0, size); }

EXPORT void free(void *ptr)
{
    if (ptr == NULL) return;
    int rc = capheap_free(&capheap_global, ptr);
    if (rc != CAPHEAP_OK) {
        /* A bad free in a real program: say so loudly, like glibc does. */
        const char *msg = capheap_strerror(rc);
        write_stderr(NULL, "capheap: free(): ", 17);
        write_stderr(NULL, msg, strlen(msg));
        write_stderr(NULL, "\n", 1);
        abort();
    }
}

EXPORT void *calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = with_growth(0, count * size);
    if (p != NULL) memset(p, 0, count * size);
    return p;
}

EXPORT void *realloc(void *ptr, size_t size)
{
    if (ptr == NULL) return malloc(size);
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    void *p = capheap_realloc(&capheap_global, ptr, size);
    if (p != NULL) return p;
    /* Out of room (or a bad pointer, which usable_size reports as 0). */
    size_t old = capheap_usable_size(&capheap_global, ptr);
    if (old == 0) abort();
    p = with_growth(0, size);
    if (p == NULL) return NULL;
    memcpy(p, ptr, old < size ? old : size);
    free(ptr);
    return p;
}

EXPORT void *reallocarray(void *ptr, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, count * size);
}

EXPORT void *memalign(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    return with_growth(align, size);
}

EXPORT void *aligned_alloc(size_t align, size_t size) { return memalign(align, size); }

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
    void *p = with_growth(align, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *valloc(size_t size) { return memalign((size_t)sysconf(_SC_PAGESIZE), size); }

EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(page, (size + page - 1) & ~(page - 1));
}

EXPORT size_t malloc_usable_size(void *ptr) { return capheap_usable_size(&capheap_global, ptr); }
