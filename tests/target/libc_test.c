/*
 * libc_test.c - the C library's allocation goes through capheap (newlib on Cortex-M,
 * picolibc on RV32).
 *
 * capheap_global gets three regions the way a firmware would declare them (the macros, the
 * .dram2_uninit section, external RAM), then each libc call that allocates must raise
 * capheap's allocation counter and return memory inside capheap's regions: printf with %f
 * (newlib allocates stdout's buffer and its number-conversion state), asprintf, strdup,
 * strndup, malloc, calloc, realloc, reallocarray, memalign, aligned_alloc, posix_memalign,
 * valloc, malloc_usable_size, mallinfo, malloc_stats / mstats; and the error paths (calloc overflow, huge malloc, bad
 * alignments) must fail with the errno values the C library documents. That the libc's own
 * allocator is not even linked is checked on the ELF by tests/target/check-symbols.sh.
 *
 * Built with -fno-builtin so that the compiler keeps every call. Exit status 0 = pass.
 */
#define _GNU_SOURCE /* asprintf, strndup, reallocarray, memalign, valloc */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capheap.h"

extern char __external_start[];

static int failures;
/* Sizes the compiler must not see through (it warns about overflowing constant products). */
static volatile size_t huge_count = SIZE_MAX / 2, huge_count2 = SIZE_MAX / 4;
#define EXPECT(cond, ...)                                                                        \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            printf("  FAIL (line %d): ", __LINE__);                                              \
            printf(__VA_ARGS__);                                                                 \
            printf("\n");                                                                        \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)

static uint32_t allocs(void)
{
    capheap_stats_t st;
    memset(&st, 0, sizeof st);
    (void)capheap_get_stats(&capheap_global, &st);
    return st.alloc_count;
}

/* p is the start of a live capheap block (usable_size reports foreign pointers with 0). */
static int owned(const void *p) { return p != NULL && capheap_usable_size(&capheap_global, (void *)p) > 0; }

int main(void)
{
    CAPHEAP_HEAP_ALLOCATOR(32 * 1024);
    CAPHEAP_HEAP_ALLOCATOR_IN_SECTION(".dram2_uninit", 16000);
    int rc = CAPHEAP_ADD_EXTERNAL(__external_start, 1u << 20);

    uint32_t a0 = allocs();
    printf("libc_test: pi = %f, %d regions added\n", 3.14159265358979, rc == CAPHEAP_OK ? 3 : 2);
    uint32_t a1 = allocs();
    EXPECT(rc == CAPHEAP_OK, "external region: %d", rc);
#if defined(__PICOLIBC__)
    printf("  printf: %u allocation(s) (picolibc's stdio allocates nothing)\n", (unsigned)(a1 - a0));
#else
    printf("  printf: %u allocation(s) from capheap (stdout buffer, %%f conversion)\n",
           (unsigned)(a1 - a0));
    EXPECT(a1 > a0, "newlib's printf did not allocate from capheap");
#endif

    char *s = NULL;
    a0 = allocs();
    int n = asprintf(&s, "%s %f %e", "capheap", 2.5, 1e-3);
    EXPECT(n > 0 && s != NULL && allocs() > a0 && owned(s), "asprintf through capheap");
    if (s)
        EXPECT(strcmp(s, "capheap 2.500000 1.000000e-03") == 0, "asprintf text: %s", s);
    free(s);

    a0 = allocs();
    char *d = strdup("strdup goes through capheap");
    EXPECT(d != NULL && allocs() == a0 + 1 && owned(d) && strcmp(d, "strdup goes through capheap") == 0,
           "strdup");
    char *nd = strndup("0123456789", 4);
    EXPECT(nd != NULL && owned(nd) && strcmp(nd, "0123") == 0, "strndup");
    free(nd);

    a0 = allocs();
    unsigned *c = calloc(1000, sizeof *c);
    int zero = c != NULL;
    for (int i = 0; c != NULL && i < 1000; i++)
        zero &= c[i] == 0;
    EXPECT(c != NULL && zero && allocs() == a0 + 1 && owned(c), "calloc");

    errno = 0;
    void *ov = calloc(huge_count, 3);
    EXPECT(ov == NULL && errno == ENOMEM, "calloc overflow: %p, errno %d", ov, errno);

    char *r = malloc(16);
    EXPECT(owned(r), "malloc");
    if (r) {
        memcpy(r, "0123456789abcde", 16);
        r = realloc(r, 20000); /* grows (in place or by moving) */
        EXPECT(owned(r) && memcmp(r, "0123456789abcde", 16) == 0, "realloc keeps the contents");
        char *r2 = realloc(r, 8);
        EXPECT(r2 != NULL && owned(r2) && memcmp(r2, "01234567", 8) == 0, "realloc shrinks");
        r = r2 ? r2 : r;
    }
    errno = 0;
    void *ra = reallocarray(NULL, huge_count2, 8);
    EXPECT(ra == NULL && errno == ENOMEM, "reallocarray overflow");

    a0 = allocs();
    void *al = aligned_alloc(64, 200);
    EXPECT(al != NULL && ((uintptr_t)al & 63u) == 0 && owned(al) && allocs() == a0 + 1, "aligned_alloc(64)");
    errno = 0;
    void *bad = aligned_alloc(48, 10);
    EXPECT(bad == NULL && errno == EINVAL, "aligned_alloc(48) must fail with EINVAL");

    void *pm = NULL;
    a0 = allocs();
    int prc = posix_memalign(&pm, 256, 1000);
    EXPECT(prc == 0 && pm != NULL && ((uintptr_t)pm & 255u) == 0 && owned(pm) && allocs() == a0 + 1,
           "posix_memalign(256)");
    void *pm2 = (void *)1;
    EXPECT(posix_memalign(&pm2, 3, 10) == EINVAL && pm2 == (void *)1, "posix_memalign bad alignment");

    void *ma = memalign(128, 50);
    EXPECT(ma != NULL && ((uintptr_t)ma & 127u) == 0 && owned(ma), "memalign(128)");
    void *va = valloc(100);
    EXPECT(va != NULL && ((uintptr_t)va & 4095u) == 0 && owned(va), "valloc");

    void *m = malloc(100);
    EXPECT(m != NULL && malloc_usable_size(m) >= 100, "malloc_usable_size");

    errno = 0;
    void *huge = malloc(64u << 20);
    EXPECT(huge == NULL && errno == ENOMEM, "malloc(64 MiB) must fail with ENOMEM");

    capheap_stats_t st;
    capheap_get_stats(&capheap_global, &st);
    printf("  capheap served %u allocations, %u frees so far\n", (unsigned)st.alloc_count,
           (unsigned)st.free_count);

    free(d);
    free(c);
    free(r);
    free(al);
    free(pm);
    free(ma);
    free(va);
    free(m);
    free(NULL);
    EXPECT(capheap_check(&capheap_global, NULL) == CAPHEAP_OK, "capheap_check after the frees");

    /* The libc's own statistics calls print capheap's report (on stderr). */
    fflush(stdout);
#if defined(__PICOLIBC__)
    malloc_stats();
#else
    mstats((char *)"(libc_test)");
#endif
    struct mallinfo mi = mallinfo();
    EXPECT(mi.arena == st.total_size && mi.uordblks + mi.fordblks == mi.arena && mi.ordblks >= 1,
           "mallinfo: arena %u, used %u, free %u, free blocks %u", (unsigned)mi.arena,
           (unsigned)mi.uordblks, (unsigned)mi.fordblks, (unsigned)mi.ordblks);
    printf("libc_test: %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
