/*
 * Unit tests: one or more per sentence of capheap.h about behaviour and
 * errors. Tests that depend on the check level or statistics option say so.
 */
#include "test.h"

#define KIB 1024u
static _Alignas(4096) unsigned char mem_a[256 * KIB];
static _Alignas(4096) unsigned char mem_b[64 * KIB];
static _Alignas(4096) unsigned char mem_c[16 * KIB];
static capheap_heap_t H;
static err_log_t LOG;

static capheap_stats_t stats(capheap_heap_t *h)
{
    capheap_stats_t s;
    if (capheap_get_stats(h, &s) != CAPHEAP_OK) memset(&s, 0xff, sizeof s);
    return s;
}

static capheap_region_stats_t rstats(capheap_heap_t *h, size_t i)
{
    capheap_region_stats_t s;
    if (capheap_get_region_stats(h, i, &s) != CAPHEAP_OK) memset(&s, 0, sizeof s);
    return s;
}

/* A fresh heap with one region of size bytes of mem_a. */
static void fresh(size_t size, uint32_t caps)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    if (size) (void)capheap_add_region(&H, mem_a, size, caps);
}


/* --------------------------------------------------------------- regions */
static void test_zero_heap_is_valid_and_empty(void)
{
    capheap_heap_t z = CAPHEAP_HEAP_INIT;
    capheap_stats_t s = stats(&z);
    CHECK_EQ(s.total_size, 0);
    CHECK_EQ(s.region_count, 0);
    CHECK(capheap_alloc(&z, 8) == NULL);
    CHECK_EQ(stats(&z).error_count[-CAPHEAP_E_NO_CAPS], 1);
    CHECK_EQ(stats(&z).fail_count, 1);
    CHECK_HEAP(&z);
}

static void test_add_region_errors_leave_heap_unchanged(void)
{
    fresh(64 * KIB, CAPHEAP_CAPS_INTERNAL);
    capheap_stats_t before = stats(&H);
    capheap_region_t *out = (capheap_region_t *)1;
    CHECK_EQ(capheap_add_region_ex(&H, NULL, 4096, 0, 0, &out), CAPHEAP_E_REGION_NULL);
    CHECK(out == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_REGION_NULL);
    CHECK_EQ(capheap_add_region(&H, (void *)(UINTPTR_MAX - 100), 4096, 0), CAPHEAP_E_REGION_WRAPS);
    CHECK_EQ(capheap_add_region(&H, mem_b, 16, 0), CAPHEAP_E_REGION_TOO_SMALL);
    CHECK_EQ(capheap_add_region(&H, mem_b, 0, 0), CAPHEAP_E_REGION_TOO_SMALL);
    CHECK_EQ(capheap_add_region(&H, mem_a, 4096, 0), CAPHEAP_E_REGION_OVERLAP);
    CHECK_EQ(LOG.count, 5);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_REGION_OVERLAP);
    CHECK(LOG.last.ptr == mem_a);
    CHECK_EQ(LOG.last.size, 4096);
    capheap_stats_t after = stats(&H);
    CHECK_EQ(after.region_count, before.region_count);
    CHECK_EQ(after.total_size, before.total_size);
    CHECK_EQ(after.error_count[-CAPHEAP_E_REGION_NULL], 1);
    CHECK_EQ(after.error_count[-CAPHEAP_E_REGION_WRAPS], 1);
    CHECK_EQ(after.error_count[-CAPHEAP_E_REGION_TOO_SMALL], 2);
    CHECK_EQ(after.error_count[-CAPHEAP_E_REGION_OVERLAP], 1);
    CHECK_EQ(capheap_add_region(NULL, mem_b, 4096, 0), CAPHEAP_E_ARGUMENT);
    CHECK_HEAP(&H);
}

static void test_overlap_cases(void)
{
    fresh(0, 0);
    unsigned char *m = mem_a;
    CHECK_EQ(capheap_add_region(&H, m + 8192, 8192, 0), CAPHEAP_OK);
    /* same range, partial at the start, partial at the end, contained, containing */
    CHECK_EQ(capheap_add_region(&H, m + 8192, 8192, 0), CAPHEAP_E_REGION_OVERLAP);
    CHECK_EQ(capheap_add_region(&H, m + 4096, 4097, 0), CAPHEAP_E_REGION_OVERLAP);
    CHECK_EQ(capheap_add_region(&H, m + 16383, 8192, 0), CAPHEAP_E_REGION_OVERLAP);
    CHECK_EQ(capheap_add_region(&H, m + 9000, 100, 0), CAPHEAP_E_REGION_OVERLAP);
    CHECK_EQ(capheap_add_region(&H, m, 65536, 0), CAPHEAP_E_REGION_OVERLAP);
    /* touching on either side is not an overlap */
    CHECK_EQ(capheap_add_region(&H, m + 4096, 4096, 0), CAPHEAP_OK);
    CHECK_EQ(capheap_add_region(&H, m + 16384, 4096, 0), CAPHEAP_OK);
    CHECK_EQ(stats(&H).region_count, 3);
    CHECK_HEAP(&H);
}

/* capheap_add_region_ex: on every error region_out receives NULL (also for a
 * NULL heap), and the error is counted and reported once with mem, size and
 * caps; "the trimmed range cannot hold ..." is judged after the start is
 * rounded up. */
static void test_add_region_errors_report_their_arguments(void)
{
    fresh(64 * KIB, CAPHEAP_CAPS_INTERNAL);
    const uint32_t caps = CAPHEAP_CAP_DMA | CAPHEAP_CAP_USER(1);
    const struct {
        unsigned char *mem;
        size_t size;
        int code;
    } bad[] = {
        {NULL, 4096, CAPHEAP_E_REGION_NULL},
        {(unsigned char *)(UINTPTR_MAX - 100), 4096, CAPHEAP_E_REGION_WRAPS},
        {mem_b, 16, CAPHEAP_E_REGION_TOO_SMALL},
        {mem_a + 100, 4096, CAPHEAP_E_REGION_OVERLAP},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        capheap_stats_t before = stats(&H);
        int cnt = LOG.count;
        capheap_region_t *out = (capheap_region_t *)(void *)&out; /* must be overwritten */
        CHECK_EQ(capheap_add_region_ex(&H, bad[i].mem, bad[i].size, caps, 3, &out), bad[i].code);
        CHECK(out == NULL);
        CHECK_EQ(LOG.count, cnt + 1);
        CHECK_EQ(LOG.last.code, bad[i].code);
        CHECK(LOG.last.ptr == (void *)bad[i].mem);
        CHECK_EQ(LOG.last.size, bad[i].size);
        CHECK_EQ(LOG.last.caps, caps);
        capheap_stats_t after = stats(&H);
        CHECK_EQ(after.error_count[-bad[i].code], before.error_count[-bad[i].code] + 1);
        CHECK_EQ(after.region_count, before.region_count);
        CHECK_EQ(after.total_size, before.total_size);
        CHECK_EQ(after.fail_count, before.fail_count);
    }
    capheap_region_t *out = (capheap_region_t *)(void *)&out;
    CHECK_EQ(capheap_add_region_ex(NULL, mem_b, 4096, caps, 0, &out), CAPHEAP_E_ARGUMENT);
    CHECK(out == NULL);
    CHECK_HEAP(&H);
    /* the smallest size accepted at an aligned address is too small one byte
     * later (the start is rounded up), and enough with the lost bytes added */
    size_t smallest = 0;
    while (smallest < 4096 && capheap_region_overhead(smallest) + CAPHEAP_MIN_BLOCK > smallest)
        smallest++;
    CHECK(smallest < 4096);
    capheap_heap_t h = CAPHEAP_HEAP_INIT;
    CHECK_EQ(capheap_add_region(&h, mem_b + 1, smallest, 0), CAPHEAP_E_REGION_TOO_SMALL);
    CHECK_EQ(stats(&h).error_count[-CAPHEAP_E_REGION_TOO_SMALL], 1);
    CHECK_EQ(stats(&h).region_count, 0);
    CHECK_EQ(capheap_add_region(&h, mem_b + 1, smallest + CAPHEAP_ALIGN - 1, 0), CAPHEAP_OK);
    CHECK_EQ(rstats(&h, 0).size, CAPHEAP_MIN_BLOCK);
    CHECK_HEAP(&h);
}

static void test_misaligned_region_is_trimmed(void)
{
    fresh(0, 0);
    unsigned char *start = mem_a + 3;
    size_t size = 8191;
    CHECK_EQ(capheap_add_region(&H, start, size, 0), CAPHEAP_OK);
    capheap_region_stats_t rs = rstats(&H, 0);
    CHECK((unsigned char *)rs.start >= start);
    CHECK((uintptr_t)rs.start % CAPHEAP_ALIGN == 0);
    CHECK((unsigned char *)rs.start + rs.span <= start + size);
    CHECK_EQ(rs.span - rs.size, rs.overhead);
    /* everything allocated lies inside the given range */
    void *p = capheap_alloc(&H, rs.largest_free);
    CHECK(p != NULL);
    CHECK((unsigned char *)p >= start && (unsigned char *)p + rs.largest_free <= start + size);
    CHECK_HEAP(&H);
}

static void test_smallest_region_threshold(void)
{
    /* The smallest accepted size holds exactly one minimum block. */
    size_t smallest = 0;
    for (size_t s = 0; s < 2048; s++) {
        capheap_heap_t h = CAPHEAP_HEAP_INIT;
        if (capheap_add_region(&h, mem_b, s, 0) == CAPHEAP_OK) {
            smallest = s;
            break;
        }
        CHECK_EQ(stats(&h).error_count[-CAPHEAP_E_REGION_TOO_SMALL], 1);
    }
    CHECK(smallest > 0);
    CHECK_EQ(smallest - capheap_region_overhead(smallest), CAPHEAP_MIN_BLOCK);
    CHECK_EQ(capheap_region_overhead(smallest - 1), smallest - 1); /* "too small" */
    capheap_heap_t h = CAPHEAP_HEAP_INIT;
    CHECK_EQ(capheap_add_region(&h, mem_b, smallest, 0), CAPHEAP_OK);
    void *p = capheap_alloc(&h, CAPHEAP_MIN_BLOCK - CAPHEAP_HEADER_SIZE);
    CHECK(p != NULL);
    CHECK(capheap_alloc(&h, 1) == NULL);
    CHECK_EQ(capheap_free(&h, p), CAPHEAP_OK);
    CHECK_HEAP(&h);
}

static void test_region_overhead_budget(void)
{
    /* Control data scales with the region; 64 KiB on 32-bit fits 400 B with
     * up to 4 classes per power of two, 408 B with 8 (the two-level layout's
     * region header is one word longer); the path counters of CAPHEAP_STATS 2
     * add 28 B, 32 with the granule rounding. */
    size_t o4 = capheap_region_overhead(4 * KIB);
    size_t o64 = capheap_region_overhead(64 * KIB);
    size_t o1m = capheap_region_overhead(1024 * KIB);
    CHECK(o4 < o64 && o64 < o1m);
#if CAPHEAP_SL_BITS <= 3
    CHECK(o4 < 4 * KIB / 8);
    if (sizeof(void *) == 4)
        CHECK(o64 <= (CAPHEAP_STATS >= 2 ? 432u : CAPHEAP_SL_BITS == 3 ? 408u : 400u));
#endif
#if CAPHEAP_SL_BITS == 0 && CAPHEAP_STATS == 1
    /* the figures the header and README quote */
    CHECK_EQ(o64, sizeof(void *) == 4 ? 96u : 144u);
#endif
    fresh(64 * KIB, 0);
    CHECK_EQ(rstats(&H, 0).overhead, o64);
    CHECK_EQ(rstats(&H, 0).size + o64, 64 * KIB);
}

static void test_tiny_4k_region_usable(void)
{
    fresh(4 * KIB, 0);
    void *p[64];
    int n = 0;
    while (n < 64 && (p[n] = capheap_alloc(&H, 40)) != NULL) n++;
    CHECK(n >= 40);
    for (int i = 0; i < n; i += 2) CHECK_EQ(capheap_free(&H, p[i]), CAPHEAP_OK);
    for (int i = 1; i < n; i += 2) CHECK_EQ(capheap_free(&H, p[i]), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
}

static void test_99_percent_of_64k_in_one_allocation(void)
{
    fresh(64 * KIB, 0);
    size_t largest = stats(&H).largest_free;
#if CAPHEAP_SL_BITS <= 2 || (CAPHEAP_SL_BITS == 3 && UINTPTR_MAX == 0xFFFFFFFFu)
    /* wider class tables (one word per class) cost more than 1% of 64 KiB */
    CHECK(largest * 100 >= 64 * KIB * 99);
#endif
    void *p = capheap_alloc(&H, largest);
    CHECK(p != NULL);
    CHECK_EQ(stats(&H).free, 0);
    /* no free block left: largest_free says 0 and not even 0 bytes can be had */
    CHECK_EQ(stats(&H).largest_free, 0);
    CHECK(capheap_alloc(&H, 0) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NOMEM);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    CHECK_HEAP(&H);
}

static void test_largest_free_is_allocatable_after_fragmentation(void)
{
    fresh(64 * KIB, 0);
    rng_t r = {12345};
    void *live[256] = {0};
    for (int step = 0; step < 20000; step++) {
        int i = (int)rng_below(&r, 256);
        if (live[i]) {
            CHECK_EQ(capheap_free(&H, live[i]), CAPHEAP_OK);
            live[i] = NULL;
        } else {
            live[i] = capheap_alloc(&H, 8 + rng_below(&r, 700));
        }
        if (step % 97 == 0) {
            size_t l = stats(&H).largest_free;
            if (l) {
                void *p = capheap_alloc(&H, l);
                CHECK(p != NULL);
                CHECK(capheap_usable_size(&H, p) >= l);
                CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
            }
        }
    }
    CHECK_HEAP(&H);
}

/* Header: largest_free is the largest request capheap_alloc is guaranteed to
 * satisfy. With several free blocks in the highest class, a block behind the
 * class head counts when the fit scan would reach it. */
static void test_largest_free_counts_blocks_the_scan_reaches(void)
{
    fresh(64 * KIB, 0);
    CHECK(capheap_alloc(&H, 1) != NULL);
    unsigned char *a = capheap_alloc(&H, 20 * KIB);
    CHECK(capheap_alloc(&H, 1) != NULL);
    unsigned char *b = capheap_alloc(&H, 30 * KIB);
    CHECK(capheap_alloc(&H, 1) != NULL);
    CHECK(a != NULL && b != NULL && stats(&H).free < 20 * KIB);
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK); /* a heads its list when a and b share a class */
    size_t l = stats(&H).largest_free;
    unsigned char *p = capheap_alloc(&H, l);
    CHECK(p != NULL);
#if CAPHEAP_SL_BITS == 0 && CAPHEAP_FIT_SCAN == 1
    CHECK(p == a); /* only the head is examined: the smaller block is what is guaranteed */
#else
    CHECK(p == b); /* the 30 KiB block: a scan reaches it, or it has a class of its own */
#endif
    CHECK_EQ(capheap_usable_size(&H, p), l);
    CHECK_HEAP(&H);
}

/* One region of s bytes of mem_a: the largest request it reports is served
 * and one byte more is refused with NOMEM, fresh and with a small block
 * taken first (the request's class at or next to the top of the region's
 * class table, I8). Counts the region in *accepted unless it was refused. */
static void largest_request_holds(size_t s, size_t *accepted)
{
    capheap_heap_t h = CAPHEAP_HEAP_INIT;
    if (capheap_add_region(&h, mem_a, s, 0) != CAPHEAP_OK) return;
    ++*accepted;
    for (int round = 0; round < 2; round++) {
        void *small = round ? capheap_alloc(&h, 1) : NULL;
        if (round) CHECK(small != NULL);
        size_t l = stats(&h).largest_free;
        if (stats(&h).free == 0u) { /* the small block took the whole region */
            CHECK_EQ(l, 0);
            CHECK(capheap_alloc(&h, 0) == NULL);
            CHECK_EQ(capheap_free(&h, small), CAPHEAP_OK);
            continue;
        }
        uint32_t nomem = stats(&h).error_count[-CAPHEAP_E_NOMEM];
        CHECK(capheap_alloc(&h, l + 1) == NULL);
        CHECK_EQ(stats(&h).error_count[-CAPHEAP_E_NOMEM], nomem + 1);
        void *p = capheap_alloc(&h, l);
        CHECK(p != NULL);
        CHECK(capheap_usable_size(&h, p) >= l);
        CHECK_EQ(capheap_free(&h, p), CAPHEAP_OK);
        if (round) CHECK_EQ(capheap_free(&h, small), CAPHEAP_OK);
    }
    CHECK_HEAP(&h);
}

static void test_largest_request_at_every_region_size(void)
{
    /* every size up to 3000 bytes, then sizes around each power-of-two
     * granule count, where the top class of the table changes */
    size_t accepted = 0;
    for (size_t s = 0; s <= 3000 && !t_current_failed; s++) largest_request_holds(s, &accepted);
    for (size_t k = 9; (CAPHEAP_ALIGN << k) + 512 <= sizeof mem_a; k++)
        for (size_t s = (CAPHEAP_ALIGN << k) - 512; s <= (CAPHEAP_ALIGN << k) + 512 && !t_current_failed;
             s += 4)
            largest_request_holds(s, &accepted);
    CHECK(accepted > 3000);
}

/* A request larger than the first region can ever serve goes on to the
 * next region with the capabilities, on every path into the search. */
static void test_request_beyond_first_region_goes_to_next(void)
{
    capheap_init(&H);
    CHECK_EQ(capheap_add_region_ex(&H, mem_c, 4 * KIB, 1, 5, NULL), CAPHEAP_OK);
    CHECK_EQ(capheap_add_region_ex(&H, mem_b, 64 * KIB, 1, 0, NULL), CAPHEAP_OK);
    size_t first = rstats(&H, 0).largest_free;
    CHECK((unsigned char *)rstats(&H, 0).start >= mem_c);
    unsigned char *in_b[4];
    in_b[0] = capheap_alloc(&H, first + 1);
    in_b[1] = capheap_alloc_caps(&H, first + 1, 1);
    in_b[2] = capheap_aligned_alloc(&H, 64, first - 8);
    in_b[3] = capheap_calloc(&H, 1, first + 1);
    for (int i = 0; i < 4; i++) {
        CHECK(in_b[i] != NULL);
        CHECK(in_b[i] >= mem_b && in_b[i] < mem_b + 64 * KIB);
    }
    void *in_c = capheap_alloc(&H, first);
    CHECK(in_c != NULL && (unsigned char *)in_c >= mem_c && (unsigned char *)in_c < mem_c + 4 * KIB);
    CHECK_HEAP(&H);
    for (int i = 0; i < 4; i++) CHECK_EQ(capheap_free(&H, in_b[i]), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, in_c), CAPHEAP_OK);
    CHECK_HEAP(&H);
}

static void test_regions_added_after_allocations(void)
{
    fresh(4 * KIB, CAPHEAP_CAPS_INTERNAL);
    void *a = capheap_alloc(&H, 3000);
    CHECK(a != NULL);
    CHECK(capheap_alloc(&H, 3000) == NULL);
    CHECK_EQ(capheap_add_region(&H, mem_b, 16 * KIB, CAPHEAP_CAPS_EXTERNAL), CAPHEAP_OK);
    void *b = capheap_alloc(&H, 3000);
    CHECK(b != NULL);
    CHECK((unsigned char *)b >= mem_b && (unsigned char *)b < mem_b + 16 * KIB);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    CHECK_HEAP(&H);
}

static void test_priority_and_insertion_order(void)
{
    capheap_init(&H);
    capheap_region_t *r1, *r2, *r3, *r4;
    CHECK_EQ(capheap_add_region_ex(&H, mem_a, 8 * KIB, 1, 0, &r1), CAPHEAP_OK);
    CHECK_EQ(capheap_add_region_ex(&H, mem_a + 8 * KIB, 8 * KIB, 2, -5, &r2), CAPHEAP_OK);
    CHECK_EQ(capheap_add_region_ex(&H, mem_a + 16 * KIB, 8 * KIB, 3, 7, &r3), CAPHEAP_OK);
    CHECK_EQ(capheap_add_region_ex(&H, mem_a + 24 * KIB, 8 * KIB, 4, 0, &r4), CAPHEAP_OK);
    CHECK(r1 && r2 && r3 && r4);
    /* order: prio 7, then the two prio 0 in insertion order, then -5 */
    CHECK_EQ(rstats(&H, 0).caps, 3);
    CHECK_EQ(rstats(&H, 1).caps, 1);
    CHECK_EQ(rstats(&H, 2).caps, 4);
    CHECK_EQ(rstats(&H, 3).caps, 2);
    CHECK_EQ(rstats(&H, 0).priority, 7);
    /* allocations go to the first region first */
    void *p = capheap_alloc(&H, 100);
    CHECK((unsigned char *)p >= mem_a + 16 * KIB && (unsigned char *)p < mem_a + 24 * KIB);
    /* priorities are clamped */
    capheap_heap_t h2 = CAPHEAP_HEAP_INIT;
    CHECK_EQ(capheap_add_region_ex(&h2, mem_b, 4 * KIB, 0, 1000, NULL), CAPHEAP_OK);
    CHECK_EQ(capheap_add_region_ex(&h2, mem_c, 4 * KIB, 0, -1000, NULL), CAPHEAP_OK);
    CHECK_EQ(rstats(&h2, 0).priority, 127);
    CHECK_EQ(rstats(&h2, 1).priority, -128);
    CHECK_HEAP(&H);
}

/* ------------------------------------------------------------ capabilities */
static void test_caps_dispatch(void)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    CHECK_EQ(capheap_add_region(&H, mem_b, 8 * KIB, CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_DMA), 0);
    CHECK_EQ(capheap_add_region(&H, mem_a, 64 * KIB, CAPHEAP_CAPS_EXTERNAL | CAPHEAP_CAP_USER(3)), 0);
    unsigned char *p = capheap_alloc_caps(&H, 100, CAPHEAP_CAP_EXTERNAL);
    CHECK(p >= mem_a && p < mem_a + 64 * KIB);
    p = capheap_alloc_caps(&H, 100, CAPHEAP_CAP_DMA | CAPHEAP_CAP_8BIT);
    CHECK(p >= mem_b && p < mem_b + 8 * KIB);
    p = capheap_alloc_caps(&H, 100, CAPHEAP_CAP_USER(3));
    CHECK(p >= mem_a && p < mem_a + 64 * KIB);
    p = capheap_alloc(&H, 100); /* no requirement: first region */
    CHECK(p >= mem_b && p < mem_b + 8 * KIB);
    /* no region has both internal and external */
    CHECK(capheap_alloc_caps(&H, 100, CAPHEAP_CAP_INTERNAL | CAPHEAP_CAP_EXTERNAL) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NO_CAPS);
    CHECK_EQ(LOG.last.caps, CAPHEAP_CAP_INTERNAL | CAPHEAP_CAP_EXTERNAL);
    CHECK_EQ(LOG.last.size, 100);
    /* DMA memory exists but is too small */
    CHECK(capheap_alloc_caps(&H, 20000, CAPHEAP_CAP_DMA) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NOMEM);
    /* a plain request spills over to the next region */
    p = capheap_alloc(&H, 20000);
    CHECK(p >= mem_a && p < mem_a + 64 * KIB);
    capheap_stats_t s = stats(&H);
    CHECK_EQ(s.fail_count, 2);
    CHECK_EQ(s.error_count[-CAPHEAP_E_NO_CAPS], 1);
    CHECK_EQ(s.error_count[-CAPHEAP_E_NOMEM], 1);
    CHECK_HEAP(&H);
}

static void test_alloc_prefer(void)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    CHECK_EQ(capheap_add_region(&H, mem_b, 8 * KIB, CAPHEAP_CAPS_INTERNAL), 0);
    CHECK_EQ(capheap_add_region(&H, mem_a, 64 * KIB, CAPHEAP_CAPS_EXTERNAL), 0);
    uint32_t pref[] = {CAPHEAP_CAP_INTERNAL, CAPHEAP_CAP_EXTERNAL};
    unsigned char *p = capheap_alloc_prefer(&H, 100, pref, 2);
    CHECK(p >= mem_b && p < mem_b + 8 * KIB);
    p = capheap_alloc_prefer(&H, 20000, pref, 2);
    CHECK(p >= mem_a && p < mem_a + 64 * KIB);
    CHECK_EQ(LOG.count, 0); /* the first set's failure is not reported */
    CHECK(capheap_alloc_prefer(&H, 200000, pref, 2) == NULL);
    CHECK_EQ(LOG.count, 1);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NOMEM);
    uint32_t none[] = {CAPHEAP_CAP_EXEC, CAPHEAP_CAP_TCM};
    CHECK(capheap_alloc_prefer(&H, 10, none, 2) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NO_CAPS);
    CHECK(capheap_alloc_prefer(&H, 10, none, 0) == NULL);
    CHECK_EQ(stats(&H).fail_count, 3);
    CHECK_HEAP(&H);
}

/* -------------------------------------------------------------- allocation */
static void test_alignment_of_plain_allocations(void)
{
    fresh(256 * KIB, 0);
    CHECK(CAPHEAP_ALIGN >= _Alignof(max_align_t) || sizeof(void *) == 4);
    CHECK_EQ(CAPHEAP_ALIGN, 2 * sizeof(void *));
    CHECK_EQ(CAPHEAP_HEADER_SIZE, sizeof(void *));
    for (size_t n = 0; n < 600; n++) {
        void *p = capheap_alloc(&H, n);
        CHECK(p != NULL);
        CHECK_EQ((uintptr_t)p % CAPHEAP_ALIGN, 0);
        CHECK(capheap_usable_size(&H, p) >= n);
        CHECK(capheap_usable_size(&H, p) + CAPHEAP_HEADER_SIZE >= CAPHEAP_MIN_BLOCK);
        if (n % 3) CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    }
    CHECK_HEAP(&H);
}

static void test_size_zero_gives_unique_blocks(void)
{
    fresh(8 * KIB, 0);
    void *a = capheap_alloc(&H, 0), *b = capheap_alloc(&H, 0);
    CHECK(a != NULL && b != NULL && a != b);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
}

static void test_size_overflow(void)
{
    fresh(8 * KIB, 0);
    CHECK(capheap_alloc(&H, SIZE_MAX) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_SIZE_OVERFLOW);
    CHECK(capheap_alloc(&H, SIZE_MAX - CAPHEAP_HEADER_SIZE) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_SIZE_OVERFLOW);
    CHECK(capheap_alloc(&H, SIZE_MAX / 2) == NULL); /* representable: just too big */
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NOMEM);
    CHECK(capheap_aligned_alloc(&H, 64, SIZE_MAX - 64) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_SIZE_OVERFLOW);
    CHECK(capheap_calloc(&H, SIZE_MAX / 2, 3) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_SIZE_OVERFLOW);
    CHECK(capheap_calloc(&H, 3, SIZE_MAX / 2) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_SIZE_OVERFLOW);
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_SIZE_OVERFLOW], 5);
    CHECK_EQ(stats(&H).fail_count, 6);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
}

static void test_aligned_alloc(void)
{
    fresh(256 * KIB, 0);
    for (size_t align = 1; align <= 16384; align <<= 1) {
        for (size_t n = 1; n < 300; n += 37) {
            void *p = capheap_aligned_alloc(&H, align, n);
            CHECK(p != NULL);
            CHECK_EQ((uintptr_t)p % align, 0);
            CHECK_EQ((uintptr_t)p % CAPHEAP_ALIGN, 0);
            t_fill(p, n);
            CHECK_HEAP(&H);
            CHECK(t_verify(p, n));
            if (n % 2) CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
        }
    }
    CHECK(capheap_aligned_alloc_caps(&H, 64, 10, CAPHEAP_CAP_EXEC) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NO_CAPS);
    CHECK_HEAP(&H);
}

static void test_bad_alignment(void)
{
    fresh(8 * KIB, 0);
    size_t bad[] = {0, 3, 24, 48, 100, (SIZE_MAX >> 1) + 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(capheap_aligned_alloc(&H, bad[i], 16) == NULL);
        CHECK_EQ(LOG.last.code, CAPHEAP_E_BAD_ALIGN);
        CHECK_EQ(LOG.last.size, 16);
    }
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_BAD_ALIGN], 6);
    CHECK_EQ(stats(&H).used, 0);
}

/* The call just made returned NULL and reported exactly one error CODE for
 * a request of SIZE bytes (ptr NULL), counted in error_count and fail_count;
 * nothing was allocated (fail_count is kept at every CAPHEAP_STATS level). */
#define EXPECT_ALLOC_FAILS(CALL, CODE, SIZE)                                    \
    do {                                                                        \
        EXPECT_FAILED_CALL(CALL, CODE, NULL, SIZE);                             \
    } while (0)

/* The common part: CALL returned NULL, reported exactly one error CODE with
 * PTR and SIZE, counted in error_count and fail_count, and changed neither
 * the bytes in use nor the allocation count. Leaves sb_/sa_ (the statistics
 * before and after) for the caller's own checks. */
#define EXPECT_FAILED_CALL(CALL, CODE, PTR, SIZE)                               \
    capheap_stats_t sb_ = stats(&H);                                            \
    int cnt_ = LOG.count;                                                       \
    CHECK((CALL) == NULL);                                                      \
    CHECK_EQ(LOG.count, cnt_ + 1);                                              \
    CHECK_EQ(LOG.last.code, (CODE));                                            \
    CHECK(LOG.last.ptr == (void *)(PTR));                                       \
    CHECK_EQ(LOG.last.size, (SIZE));                                            \
    capheap_stats_t sa_ = stats(&H);                                            \
    CHECK_EQ(sa_.error_count[-(CODE)], sb_.error_count[-(CODE)] + 1);          \
    CHECK_EQ(sa_.fail_count, sb_.fail_count + 1);                               \
    CHECK_EQ(sa_.used, sb_.used);                                               \
    CHECK_EQ(sa_.alloc_count, sb_.alloc_count)

/* ERRORS and fail_count for every allocation call: BAD_ALIGN (also through
 * the _caps call and a handle), SIZE_OVERFLOW, NO_CAPS and NOMEM each return
 * NULL, are reported once with the request's size and caps and counted in
 * error_count and fail_count. alloc_prefer reports one failure: NO_CAPS for
 * an empty list or when no set matches a region, NOMEM, and SIZE_OVERFLOW for
 * a size that overflows. A heap without regions: NO_CAPS from every call. */
static void test_allocation_failures_count_and_report(void)
{
    const uint32_t in = CAPHEAP_CAP_INTERNAL;
    fresh(8 * KIB, CAPHEAP_CAPS_INTERNAL);
    EXPECT_ALLOC_FAILS(capheap_aligned_alloc_caps(&H, 48, 16, in), CAPHEAP_E_BAD_ALIGN, 16);
    CHECK_EQ(LOG.last.caps, in);
    EXPECT_ALLOC_FAILS(capheap_aligned_alloc(&H, 0, 16), CAPHEAP_E_BAD_ALIGN, 16);
    CHECK_EQ(LOG.last.caps, 0);
    capheap_allocator_t odd = {&H, in, 96};
    EXPECT_ALLOC_FAILS(capheap_allocator_alloc(&odd, 40), CAPHEAP_E_BAD_ALIGN, 40);
    CHECK_EQ(LOG.last.caps, in);
    EXPECT_ALLOC_FAILS(capheap_alloc_caps(&H, SIZE_MAX, in), CAPHEAP_E_SIZE_OVERFLOW, SIZE_MAX);
    CHECK_EQ(LOG.last.caps, in);
    EXPECT_ALLOC_FAILS(capheap_aligned_alloc_caps(&H, 64, SIZE_MAX - 64, in), CAPHEAP_E_SIZE_OVERFLOW,
                       SIZE_MAX - 64);
    EXPECT_ALLOC_FAILS(capheap_alloc_caps(&H, 100, CAPHEAP_CAP_EXEC), CAPHEAP_E_NO_CAPS, 100);
    CHECK_EQ(LOG.last.caps, CAPHEAP_CAP_EXEC);
    EXPECT_ALLOC_FAILS(capheap_calloc_caps(&H, 10, 10, CAPHEAP_CAP_EXEC), CAPHEAP_E_NO_CAPS, 100);
    EXPECT_ALLOC_FAILS(capheap_alloc_caps(&H, 100000, in), CAPHEAP_E_NOMEM, 100000);
    CHECK_EQ(LOG.last.caps, in);
    EXPECT_ALLOC_FAILS(capheap_aligned_alloc(&H, 256, 100000), CAPHEAP_E_NOMEM, 100000);
    /* calloc's overflow: one report (its size is not representable) */
    capheap_stats_t sb = stats(&H);
    CHECK(capheap_calloc_caps(&H, SIZE_MAX / 2, 3, in) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_SIZE_OVERFLOW);
    CHECK_EQ(LOG.last.caps, in);
    CHECK_EQ(stats(&H).fail_count, sb.fail_count + 1);
    CHECK_EQ(LOG.last.size, 3); /* the element size */
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_SIZE_OVERFLOW],
             sb.error_count[-CAPHEAP_E_SIZE_OVERFLOW] + 1);
    /* preference lists */
    const uint32_t list[] = {CAPHEAP_CAP_EXEC, CAPHEAP_CAP_INTERNAL};
    EXPECT_ALLOC_FAILS(capheap_alloc_prefer(&H, 10, list, 0), CAPHEAP_E_NO_CAPS, 10);
    EXPECT_ALLOC_FAILS(capheap_alloc_prefer(&H, 10, list, 1), CAPHEAP_E_NO_CAPS, 10);
    EXPECT_ALLOC_FAILS(capheap_alloc_prefer(&H, 100000, list, 2), CAPHEAP_E_NOMEM, 100000);
    EXPECT_ALLOC_FAILS(capheap_alloc_prefer(&H, SIZE_MAX, list, 2), CAPHEAP_E_SIZE_OVERFLOW, SIZE_MAX);
    /* a handle alignment at most CAPHEAP_ALIGN is the default, power of two or not */
    capheap_allocator_t small = {&H, in, 3};
    void *p = capheap_allocator_alloc(&small, 40);
    CHECK(p != NULL && (uintptr_t)p % CAPHEAP_ALIGN == 0);
    CHECK_EQ(capheap_allocator_free(&small, p), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
    /* no region at all */
    fresh(0, 0);
    EXPECT_ALLOC_FAILS(capheap_aligned_alloc(&H, 64, 8), CAPHEAP_E_NO_CAPS, 8);
    EXPECT_ALLOC_FAILS(capheap_calloc(&H, 2, 4), CAPHEAP_E_NO_CAPS, 8);
    EXPECT_ALLOC_FAILS(capheap_realloc(&H, NULL, 8), CAPHEAP_E_NO_CAPS, 8);
    EXPECT_ALLOC_FAILS(capheap_alloc_prefer(&H, 8, list, 2), CAPHEAP_E_NO_CAPS, 8);
    CHECK_HEAP(&H);
}

static void test_calloc_zeroes(void)
{
    fresh(8 * KIB, 0);
    unsigned char *p = capheap_alloc(&H, 1000);
    memset(p, 0xAB, 1000);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    unsigned char *q = capheap_calloc(&H, 10, 100);
    CHECK(q != NULL);
    for (int i = 0; i < 1000; i++) CHECK_EQ(q[i], 0);
    void *z = capheap_calloc(&H, 0, 100);
    CHECK(z != NULL);
    CHECK_EQ(capheap_free(&H, z), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, q), CAPHEAP_OK);
    unsigned char *c = capheap_calloc_caps(&H, 4, 4, CAPHEAP_CAP_EXEC);
    CHECK(c == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NO_CAPS);
}


static void test_aligned_small_alignments_cost_nothing(void)
{
    fresh(16 * KIB, 0);
    for (size_t align = 1; align <= CAPHEAP_ALIGN; align <<= 1) {
        size_t before = stats(&H).used;
        void *p = capheap_aligned_alloc(&H, align, 100);
        size_t cost_aligned = stats(&H).used - before;
        void *q = capheap_alloc(&H, 100);
        size_t cost_plain = stats(&H).used - before - cost_aligned;
        CHECK(p != NULL && q != NULL);
        CHECK_EQ(cost_aligned, cost_plain);
        CHECK_EQ(capheap_usable_size(&H, p), capheap_usable_size(&H, q));
        CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
        CHECK_EQ(capheap_free(&H, q), CAPHEAP_OK);
    }
}

static void test_aligned_request_needs_slack(void)
{
    /* The search asks for size + align + CAPHEAP_ALIGN: the largest free block
     * can be allocated plainly, but not with a large alignment. */
    fresh(16 * KIB, 0);
    size_t l = stats(&H).largest_free;
    CHECK(capheap_aligned_alloc(&H, 256, l) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NOMEM);
    void *p = capheap_alloc(&H, l);
    CHECK(p != NULL);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    p = capheap_aligned_alloc(&H, 256, l - 256 - CAPHEAP_ALIGN);
    CHECK(p != NULL);
    CHECK_EQ((uintptr_t)p % 256, 0);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    CHECK_HEAP(&H);
}

static void test_region_size_cap_on_64_bit(void)
{
    /* A region's offsets and byte counts are 32-bit: on 64-bit hosts a larger
     * range is capped at 4 GiB - 64 bytes (computed, nothing is touched). */
#if SIZE_MAX > 0xFFFFFFFFu
    {
        size_t big = (size_t)1 << 33;
        size_t cap = big - capheap_region_overhead(big);
        size_t max = (size_t)0xFFFFFFC0u;
        CHECK_EQ(cap, max - capheap_region_overhead(max));
        /* at most 800 classes (SL_BITS 5) of one 8-byte head each, plus the header */
        CHECK(capheap_region_overhead(max) < 8192);
    }
#else
    CHECK(capheap_region_overhead(SIZE_MAX) < 4096); /* the whole 32-bit space minus the cap */
#endif
}

/* ----------------------------------------------------------------- realloc */
static void test_realloc_null_and_zero(void)
{
    fresh(8 * KIB, 0);
    void *p = capheap_realloc(&H, NULL, 50);
    CHECK(p != NULL);
#if CAPHEAP_STATS
    CHECK_EQ(stats(&H).alloc_count, 1);
#endif
    CHECK(capheap_realloc(&H, p, 0) == NULL);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_EQ(LOG.count, 0);
    CHECK_HEAP(&H);
}

static void test_realloc_shrink_and_grow_in_place(void)
{
    fresh(8 * KIB, 0);
    unsigned char *p = capheap_alloc(&H, 1000);
    t_fill(p, 1000);
    uint64_t key = t_key(p, 1000);
    size_t used_before = stats(&H).used;
    CHECK(capheap_realloc(&H, p, 100) == p);
    CHECK(t_verify_key(p, 100, key));
    CHECK(stats(&H).used < used_before);
    CHECK_HEAP(&H);
    /* grow into the free next neighbour */
    CHECK(capheap_realloc(&H, p, 3000) == p);
    CHECK(t_verify_key(p, 100, key));
    CHECK(capheap_usable_size(&H, p) >= 3000);
    CHECK_HEAP(&H);
#if CAPHEAP_STATS
    CHECK_EQ(stats(&H).alloc_count, 1); /* in place: no new allocation */
#endif
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
}

static void test_realloc_grows_into_previous(void)
{
    fresh(8 * KIB, 0);
    void *a = capheap_alloc(&H, 500);
    unsigned char *b = capheap_alloc(&H, 200);
    void *c = capheap_alloc(&H, 100); /* keeps b's next neighbour used */
    CHECK(a && b && c);
    t_fill(b, 200);
    uint64_t key = t_key(b, 200);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    unsigned char *nb = capheap_realloc(&H, b, 600);
    CHECK(nb == a); /* moved down into the freed neighbour */
    CHECK(t_verify_key(nb, 200, key));
    CHECK_HEAP(&H);
    CHECK_EQ(capheap_free(&H, nb), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, c), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
}

/* The old pointer of a block realloc moved down, into the part of the
 * freed neighbour that stays free, is a double free (not an invalid
 * pointer): its header must read as free. */
static void test_realloc_moved_down_old_pointer_is_double_free(void)
{
#if CAPHEAP_CHECK_LEVEL >= 1
    fresh(8 * KIB, 0);
    void *a = capheap_alloc(&H, 500);
    unsigned char *b = capheap_alloc(&H, 100);
    void *c = capheap_alloc(&H, 100); /* keeps b's next neighbour used */
    CHECK(a && b && c);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    unsigned char *nb = capheap_realloc(&H, b, 300);
    CHECK(nb == a); /* moved down; the new block ends before b's old header */
    CHECK(nb + capheap_usable_size(&H, nb) < b - CAPHEAP_HEADER_SIZE);
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(LOG.count, 1);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_DOUBLE_FREE);
    CHECK(capheap_realloc(&H, b, 50) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(capheap_usable_size(&H, b), 0);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(LOG.count, 3);
    CHECK_HEAP(&H);
    CHECK_EQ(capheap_free(&H, nb), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, c), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
#endif
}

static void test_realloc_moves_and_keeps_caps(void)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    CHECK_EQ(capheap_add_region(&H, mem_c, 4 * KIB, CAPHEAP_CAPS_INTERNAL), 0);
    CHECK_EQ(capheap_add_region(&H, mem_b, 16 * KIB, CAPHEAP_CAPS_INTERNAL), 0);
    CHECK_EQ(capheap_add_region(&H, mem_a, 64 * KIB, CAPHEAP_CAPS_EXTERNAL), 0);
    unsigned char *p = capheap_alloc_caps(&H, 1000, CAPHEAP_CAP_INTERNAL);
    void *block = capheap_alloc(&H, 2000); /* blocks growth in place */
    CHECK(p >= mem_c && p < mem_c + 4 * KIB && block != NULL);
    t_fill(p, 1000);
    uint64_t key = t_key(p, 1000);
    unsigned char *q = capheap_realloc_caps(&H, p, 8000, CAPHEAP_CAP_INTERNAL);
    CHECK(q >= mem_b && q < mem_b + 16 * KIB);
    CHECK(t_verify_key(q, 1000, key));
    /* a block that no longer fits internal RAM fails, and stays valid */
    unsigned char *r = capheap_realloc_caps(&H, q, 30000, CAPHEAP_CAP_INTERNAL);
    CHECK(r == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NOMEM);
    CHECK(LOG.last.ptr == q);
    CHECK(t_verify_key(q, 1000, key));
    CHECK(capheap_usable_size(&H, q) >= 8000);
    /* without caps it may go anywhere */
    r = capheap_realloc(&H, q, 30000);
    CHECK(r >= mem_a && r < mem_a + 64 * KIB);
    CHECK(t_verify_key(r, 1000, key));
    /* caps the current region lacks force a move */
    unsigned char *s = capheap_realloc_caps(&H, r, 100, CAPHEAP_CAP_INTERNAL);
    CHECK(s != NULL && ((s >= mem_b && s < mem_b + 16 * KIB) || (s >= mem_c && s < mem_c + 4 * KIB)));
    CHECK(t_verify_key(s, 100, key));
    CHECK(capheap_realloc_caps(&H, s, 200, CAPHEAP_CAP_EXEC) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NO_CAPS);
    CHECK(capheap_realloc(&H, s, SIZE_MAX) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_SIZE_OVERFLOW);
    CHECK(t_verify_key(s, 100, key));
    CHECK_HEAP(&H);
}

/* capheap_realloc: "On failure returns NULL and ptr is untouched and still
 * valid". Each failure is reported once with ptr, size and caps and counted;
 * NOMEM, NO_CAPS, SIZE_OVERFLOW and (a handle's) BAD_ALIGN also in
 * fail_count. The block keeps its size and contents, the heap its use. */
#define EXPECT_REALLOC_FAILS(CALL, CODE, SIZE, CAPS)                            \
    do {                                                                        \
        EXPECT_FAILED_CALL(CALL, CODE, p, SIZE);                                \
        CHECK_EQ(LOG.last.caps, (CAPS));                                        \
        CHECK_EQ(sa_.free_count, sb_.free_count);                               \
        CHECK_EQ(capheap_usable_size(&H, p), us);                               \
        CHECK(t_verify_key(p, 200, key));                                       \
        CHECK_HEAP(&H);                                                         \
    } while (0)

static void test_realloc_failures_leave_the_block(void)
{
    fresh(8 * KIB, CAPHEAP_CAPS_INTERNAL);
    unsigned char *p = capheap_alloc(&H, 200);
    void *guard = capheap_alloc(&H, 16);
    CHECK(p != NULL && guard != NULL);
    t_fill(p, 200);
    uint64_t key = t_key(p, 200);
    size_t us = capheap_usable_size(&H, p);
    EXPECT_REALLOC_FAILS(capheap_realloc(&H, p, 100000), CAPHEAP_E_NOMEM, 100000, 0);
    EXPECT_REALLOC_FAILS(capheap_realloc_caps(&H, p, 300, CAPHEAP_CAP_EXEC), CAPHEAP_E_NO_CAPS, 300,
                         CAPHEAP_CAP_EXEC);
    EXPECT_REALLOC_FAILS(capheap_realloc_caps(&H, p, 50, CAPHEAP_CAP_EXEC), CAPHEAP_E_NO_CAPS, 50,
                         CAPHEAP_CAP_EXEC); /* a shrink that must move */
    EXPECT_REALLOC_FAILS(capheap_realloc(&H, p, SIZE_MAX), CAPHEAP_E_SIZE_OVERFLOW, SIZE_MAX, 0);
    capheap_allocator_t odd = {&H, CAPHEAP_CAP_INTERNAL, 96};
    EXPECT_REALLOC_FAILS(capheap_allocator_realloc(&odd, p, 300), CAPHEAP_E_BAD_ALIGN, 300,
                         CAPHEAP_CAP_INTERNAL);
    capheap_allocator_t a64 = {&H, 0, 64};
    EXPECT_REALLOC_FAILS(capheap_allocator_realloc(&a64, p, 100000), CAPHEAP_E_NOMEM, 100000, 0);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, guard), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
}

/* -------------------------------------------------------------- bad frees */
static void test_free_null(void)
{
    fresh(8 * KIB, 0);
    CHECK_EQ(capheap_free(&H, NULL), CAPHEAP_OK);
    CHECK_EQ(LOG.count, 0);
    CHECK_EQ(capheap_usable_size(&H, NULL), 0);
}

#if CAPHEAP_CHECK_LEVEL >= 1
/* Run a bad call and check that it was reported with code and left the
 * heap exactly as it was. */
#define EXPECT_BAD_FREE(PTR, CODE)                                            \
    do {                                                                      \
        capheap_stats_t sb_ = stats(&H);                                      \
        int cnt_ = LOG.count;                                                 \
        CHECK_EQ(capheap_free(&H, (PTR)), (CODE));                            \
        CHECK_EQ(LOG.count, cnt_ + 1);                                        \
        CHECK_EQ(LOG.last.code, (CODE));                                      \
        CHECK(LOG.last.ptr == (void *)(PTR));                                 \
        capheap_stats_t sa_ = stats(&H);                                      \
        CHECK_EQ(sa_.used, sb_.used);                                         \
        CHECK_EQ(sa_.free_count, sb_.free_count);                             \
        CHECK_EQ(sa_.error_count[-(CODE)], sb_.error_count[-(CODE)] + 1);     \
        CHECK_HEAP(&H);                                                       \
    } while (0)

static void test_free_foreign_pointers(void)
{
    fresh(8 * KIB, 0);
    int on_stack;
    static int in_data;
    capheap_region_stats_t rs = rstats(&H, 0);
    unsigned char *end = (unsigned char *)rs.start + rs.span;
    EXPECT_BAD_FREE(&on_stack, CAPHEAP_E_FOREIGN_PTR);
    EXPECT_BAD_FREE(&in_data, CAPHEAP_E_FOREIGN_PTR);
    EXPECT_BAD_FREE(end, CAPHEAP_E_FOREIGN_PTR);                /* one past the end */
    EXPECT_BAD_FREE((unsigned char *)rs.start - CAPHEAP_ALIGN, CAPHEAP_E_FOREIGN_PTR);
    EXPECT_BAD_FREE(mem_b, CAPHEAP_E_FOREIGN_PTR);
    /* a block of another heap */
    capheap_heap_t other = CAPHEAP_HEAP_INIT;
    CHECK_EQ(capheap_add_region(&other, mem_b, 8 * KIB, 0), 0);
    void *op = capheap_alloc(&other, 32);
    EXPECT_BAD_FREE(op, CAPHEAP_E_FOREIGN_PTR);
    CHECK_EQ(capheap_free(&other, op), CAPHEAP_OK);
    CHECK(capheap_realloc(&H, op, 10) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_FOREIGN_PTR);
    CHECK_EQ(capheap_usable_size(&H, &on_stack), 0);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_FOREIGN_PTR);
}

static void test_free_pointers_inside_region_not_blocks(void)
{
    fresh(8 * KIB, 0);
    capheap_region_stats_t rs = rstats(&H, 0);
    unsigned char *start = rs.start;
    unsigned char *end = start + rs.span;
    EXPECT_BAD_FREE(start, CAPHEAP_E_INVALID_PTR);              /* first byte: control data */
    EXPECT_BAD_FREE(start + CAPHEAP_ALIGN, CAPHEAP_E_INVALID_PTR);
    EXPECT_BAD_FREE(end - 1, CAPHEAP_E_INVALID_PTR);            /* last byte */
    unsigned char *p = capheap_alloc(&H, 256);
    memset(p, 0, 256);
    EXPECT_BAD_FREE(p + 1, CAPHEAP_E_INVALID_PTR);              /* misaligned */
    EXPECT_BAD_FREE(p + 7, CAPHEAP_E_INVALID_PTR);
    /* aligned interior pointers into payload bytes that are not a header */
    memset(p, 0xFF, 256);
    EXPECT_BAD_FREE(p + CAPHEAP_ALIGN, CAPHEAP_E_INVALID_PTR);
    EXPECT_BAD_FREE(p + 4 * CAPHEAP_ALIGN, CAPHEAP_E_INVALID_PTR);
    t_fill(p, 256);
    for (size_t off = CAPHEAP_ALIGN; off < 256; off += CAPHEAP_ALIGN) {
        int rc = capheap_free(&H, p + off);
#if CAPHEAP_CHECK_LEVEL >= 2
        CHECK_EQ(rc, CAPHEAP_E_INVALID_PTR);
#else
        CHECK(rc == CAPHEAP_E_INVALID_PTR || rc == CAPHEAP_E_DOUBLE_FREE);
#endif
        CHECK_HEAP(&H);
    }
    CHECK(t_verify(p, 256));
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
}

/* capheap_free: INVALID_PTR is "always detected" when the successor does not
 * mark the block used, whatever the neighbours look like; with a successor
 * that does, an unsound previous neighbour is CORRUPT (at level 1). */
static void test_forged_header_unmarked_successor_is_invalid(void)
{
    const size_t wd = CAPHEAP_HEADER_SIZE, bs = 2 * CAPHEAP_MIN_BLOCK;
    fresh(8 * KIB, 0);
    unsigned char *p = capheap_alloc(&H, 512);
    CHECK(p != NULL);
    memset(p, 0, 512);
    size_t off = 4 * CAPHEAP_MIN_BLOCK;
    /* a used header of bs bytes whose previous block is "free" ... */
    memcpy(p + off - wd, &(uintptr_t){bs | 1u}, sizeof(uintptr_t));
    /* ... with a boundary tag that no sound free block has (its header is 0) */
    memcpy(p + off - 2 * wd, &(uintptr_t){bs}, sizeof(uintptr_t));
    EXPECT_BAD_FREE(p + off, CAPHEAP_E_INVALID_PTR); /* the successor word is 0 */
    /* the successor says "used, previous used": now the neighbour is looked at */
    memcpy(p + off - wd + bs, &(uintptr_t){3u}, sizeof(uintptr_t));
#if CAPHEAP_CHECK_LEVEL >= 2
    EXPECT_BAD_FREE(p + off, CAPHEAP_E_INVALID_PTR); /* the walk finds no such block */
#else
    EXPECT_BAD_FREE(p + off, CAPHEAP_E_CORRUPT);
#endif
    memset(p, 0, 512);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    CHECK_HEAP(&H);
}

#if CAPHEAP_CHECK_LEVEL >= 2
static void test_level2_catches_forged_interior_header(void)
{
    fresh(8 * KIB, 0);
    unsigned char *p = capheap_alloc(&H, 512);
    void *q = capheap_alloc(&H, 64);
    /* Forge, inside p, a word that reads as a used header of a block that
     * ends exactly where q's block starts: level 1 would accept it. */
    size_t off = 256;
    uintptr_t forged = (uintptr_t)((unsigned char *)q - CAPHEAP_HEADER_SIZE) -
                       (uintptr_t)(p + off - CAPHEAP_HEADER_SIZE);
    memcpy(p + off - CAPHEAP_HEADER_SIZE, &(uintptr_t){forged | 3u}, sizeof(uintptr_t));
    EXPECT_BAD_FREE(p + off, CAPHEAP_E_INVALID_PTR);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, q), CAPHEAP_OK);
}
#endif

static void test_double_free(void)
{
    fresh(8 * KIB, 0);
    void *a = capheap_alloc(&H, 100), *b = capheap_alloc(&H, 100), *c = capheap_alloc(&H, 100);
    void *d = capheap_alloc(&H, 100);
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    EXPECT_BAD_FREE(b, CAPHEAP_E_DOUBLE_FREE);                  /* alone */
    CHECK_EQ(capheap_free(&H, c), CAPHEAP_OK);                  /* c merges into b */
    EXPECT_BAD_FREE(c, CAPHEAP_E_DOUBLE_FREE);
    EXPECT_BAD_FREE(b, CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);                  /* a absorbs b+c */
    EXPECT_BAD_FREE(a, CAPHEAP_E_DOUBLE_FREE);
    EXPECT_BAD_FREE(b, CAPHEAP_E_DOUBLE_FREE);
    EXPECT_BAD_FREE(c, CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(capheap_free(&H, d), CAPHEAP_OK);                  /* everything merged */
    EXPECT_BAD_FREE(d, CAPHEAP_E_DOUBLE_FREE);
    CHECK(capheap_realloc(&H, d, 10) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(capheap_usable_size(&H, d), 0);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(stats(&H).used, 0);
}

static void test_last_block_of_region(void)
{
    fresh(8 * KIB, 0);
    size_t l = stats(&H).largest_free;
    unsigned char *a = capheap_alloc(&H, l - 256);
    unsigned char *b = capheap_alloc(&H, stats(&H).largest_free);
    CHECK(a != NULL && b != NULL);
    capheap_region_stats_t rs = rstats(&H, 0);
    size_t ub = capheap_usable_size(&H, b);
    /* b's payload ends at the end marker: the region's last block */
    CHECK(b + ub + CAPHEAP_HEADER_SIZE == (unsigned char *)rs.start + rs.span);
    memset(b, 0xEE, ub); /* writes up to the last byte before the end marker */
    CHECK_HEAP(&H);
    EXPECT_BAD_FREE(b + ub, CAPHEAP_E_INVALID_PTR); /* the end marker itself */
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
}

/* One call given a bad pointer: 0 free, 1 realloc, 2 usable_size, 3 a handle's
 * realloc that keeps an alignment of 64, 4 a handle's free, 5 realloc to 0
 * (which frees). Each returns its failure value, reports CODE once with the
 * pointer, counts it, is no failed allocation, and changes nothing. */
static const char *const bad_call_name[] = {"free", "realloc", "usable_size", "handle realloc",
                                            "handle free", "realloc to 0"};

static void one_bad_call(int how, unsigned char *ptr, int code)
{
    capheap_allocator_t a64 = {&H, 0, 64}, plain = {&H, 0, 0};
    capheap_stats_t sb = stats(&H);
    int cnt = LOG.count;
    switch (how) {
    case 0: CHECK_EQ(capheap_free(&H, ptr), code); break;
    case 1: CHECK(capheap_realloc(&H, ptr, 40) == NULL); break;
    case 2: CHECK_EQ(capheap_usable_size(&H, ptr), 0); break;
    case 3: CHECK(capheap_allocator_realloc(&a64, ptr, 40) == NULL); break;
    case 4: CHECK_EQ(capheap_allocator_free(&plain, ptr), code); break;
    default: CHECK(capheap_realloc(&H, ptr, 0) == NULL); break;
    }
    CHECK_EQ(LOG.count, cnt + 1);
    CHECK_EQ(LOG.last.code, code);
    CHECK(LOG.last.ptr == (void *)ptr);
    capheap_stats_t sa = stats(&H);
    CHECK_EQ(sa.error_count[-code], sb.error_count[-code] + 1);
    CHECK_EQ(sa.fail_count, sb.fail_count);
    CHECK_EQ(sa.used, sb.used);
    CHECK_EQ(sa.alloc_count, sb.alloc_count);
    CHECK_EQ(sa.free_count, sb.free_count);
}

static void bad_everywhere(unsigned char *ptr, int code, const char *what)
{
    for (int how = 0; how < 6 && !t_current_failed; how++) {
        one_bad_call(how, ptr, code);
        if (t_current_failed) fprintf(stderr, "  (%s, through %s)\n", what, bad_call_name[how]);
    }
}

/* capheap_free's pointer errors, and "Errors as for capheap_free" in
 * usable_size, realloc and the handles, for each kind the header names:
 * foreign; misaligned; control data; a preceding word that is not a used
 * header of a block inside the region (too large, smaller than a block);
 * an interior pointer whose preceding word has its low bit clear
 * (DOUBLE_FREE at level 1, INVALID_PTR at level 2); a freed block and a
 * pointer into it (DOUBLE_FREE; at level 2 also where a word in it reads as a
 * used header); a block whose free neighbour's boundary tag was overwritten,
 * before or after it (CORRUPT, and the block stays allocated). */
static void test_bad_pointers_through_every_call(void)
{
    const size_t wd = CAPHEAP_HEADER_SIZE;
    fresh(8 * KIB, 0);
    capheap_region_stats_t rs = rstats(&H, 0);
    unsigned char *a = capheap_alloc(&H, 256), *b = capheap_alloc(&H, 256);
    unsigned char *c = capheap_alloc(&H, 256), *guard = capheap_alloc(&H, 16);
    CHECK(a && b && c && guard);
    static int in_data;
    bad_everywhere((unsigned char *)&in_data, CAPHEAP_E_FOREIGN_PTR, "static data");
    bad_everywhere((unsigned char *)rs.start + rs.span, CAPHEAP_E_FOREIGN_PTR, "one past the region");
    bad_everywhere((unsigned char *)rs.start + CAPHEAP_ALIGN, CAPHEAP_E_INVALID_PTR, "control data");
    bad_everywhere(a + 1, CAPHEAP_E_INVALID_PTR, "misaligned");
    unsigned char *mid = a + 4 * CAPHEAP_ALIGN;
    memset(a, 0xFF, 256);
    bad_everywhere(mid, CAPHEAP_E_INVALID_PTR, "a used header larger than the region");
    memset(a, 0, 256);
    memcpy(mid - wd, &(uintptr_t){3u}, sizeof(uintptr_t));
    bad_everywhere(mid, CAPHEAP_E_INVALID_PTR, "a used header smaller than a block");
    memset(a, 0, 256);
    bad_everywhere(mid, CAPHEAP_CHECK_LEVEL >= 2 ? CAPHEAP_E_INVALID_PTR : CAPHEAP_E_DOUBLE_FREE,
                   "interior, preceding word with its low bit clear");
    memset(b, 0x22, 256); /* even bytes: no word of the free block reads as used */
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    bad_everywhere(b, CAPHEAP_E_DOUBLE_FREE, "freed block");
    bad_everywhere(b + 4 * CAPHEAP_ALIGN, CAPHEAP_E_DOUBLE_FREE, "into a free block");
    CHECK_HEAP(&H);
#if CAPHEAP_CHECK_LEVEL >= 2
    {
        unsigned char *q = b + 4 * CAPHEAP_ALIGN;
        uintptr_t save;
        memcpy(&save, q - wd, sizeof save);
        memcpy(q - wd, &(uintptr_t){(uintptr_t)CAPHEAP_MIN_BLOCK | 3u}, sizeof(uintptr_t));
        bad_everywhere(q, CAPHEAP_E_DOUBLE_FREE, "into a free block, a word that reads as used");
        memcpy(q - wd, &save, sizeof save);
        if (t_current_failed) return;
        CHECK_HEAP(&H);
    }
#endif
    /* b's boundary tag (the word before c's header): a's next and c's previous neighbour */
    unsigned char *tag = c - 2 * wd;
    uintptr_t save;
    memcpy(&save, tag, sizeof save);
    memcpy(tag, &(uintptr_t){save + CAPHEAP_ALIGN}, sizeof(uintptr_t));
    bad_everywhere(a, CAPHEAP_E_CORRUPT, "free next neighbour with a wrong tag");
    bad_everywhere(c, CAPHEAP_E_CORRUPT, "free previous neighbour with a wrong tag");
    memcpy(tag, &save, sizeof save);
    if (t_current_failed) return;
    CHECK_HEAP(&H);
    CHECK_EQ(capheap_usable_size(&H, a), capheap_usable_size(&H, c)); /* both still allocated */
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, c), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, guard), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
}
#endif /* CAPHEAP_CHECK_LEVEL >= 1 */

/* ----------------------------------------------------- locking and reentry */
typedef struct lock_probe {
    int locks, unlocks, fail_next;
    uintptr_t last_token;
} lock_probe_t;

static uintptr_t probe_lock(void *ctx)
{
    lock_probe_t *lp = ctx;
    if (lp->fail_next) {
        lp->fail_next = 0;
        return CAPHEAP_LOCK_FAILED;
    }
    lp->locks++;
    return (uintptr_t)(0x1000 + lp->locks);
}

static void probe_unlock(void *ctx, uintptr_t token)
{
    lock_probe_t *lp = ctx;
    lp->unlocks++;
    lp->last_token = token;
}

static void test_lock_hooks_balanced(void)
{
    fresh(8 * KIB, 0);
    lock_probe_t lp = {0};
    capheap_set_lock(&H, probe_lock, probe_unlock, &lp);
    void *p = capheap_alloc(&H, 10);
    CHECK_EQ(lp.locks, 1);
    CHECK_EQ(lp.unlocks, 1);
    CHECK_EQ(lp.last_token, 0x1001);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
#if CAPHEAP_CHECK_LEVEL >= 1
    (void)capheap_free(&H, &lp); /* error path also balances */
#endif
    capheap_stats_t s;
    (void)capheap_get_stats(&H, &s);
    CHECK_EQ(lp.locks, lp.unlocks);
    /* a lock that reports failure: REENTRY, and unlock is not called */
    lp.fail_next = 1;
    int u = lp.unlocks;
    CHECK(capheap_alloc(&H, 10) == NULL);
    CHECK_EQ(lp.unlocks, u);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_REENTRY);
    /* one hook alone installs nothing */
    capheap_set_lock(&H, probe_lock, NULL, &lp);
    int l = lp.locks;
    p = capheap_alloc(&H, 10);
    CHECK_EQ(lp.locks, l);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
}

/* Since the statistics s0 were taken, refused calls were made and nothing
 * else: REENTRY counted refused more times, no failed allocation, and the
 * bytes in use, the one region, the allocations and frees are as they were.
 * (A failed check ends this helper; the caller tests t_current_failed.) */
static void expect_only_refusals(const capheap_stats_t *s0, int refused)
{
    capheap_stats_t s1 = stats(&H);
    CHECK_EQ(s1.error_count[-CAPHEAP_E_REENTRY], s0->error_count[-CAPHEAP_E_REENTRY] + (uint32_t)refused);
    CHECK_EQ(s1.fail_count, s0->fail_count);
    CHECK_EQ(s1.used, s0->used);
    CHECK_EQ(s1.region_count, 1);
    CHECK_EQ(s1.alloc_count, s0->alloc_count);
    CHECK_EQ(s1.free_count, s0->free_count);
}

#if CAPHEAP_CHECK_LEVEL >= 1
static capheap_heap_t *reenter_heap;
static int reenter_results[4];
static bool reenter_walk(const capheap_block_info_t *b, void *ctx)
{
    (void)b;
    (void)ctx;
    reenter_results[0] = capheap_alloc(reenter_heap, 8) == NULL;
    reenter_results[1] = capheap_free(reenter_heap, (void *)b->ptr) == CAPHEAP_E_REENTRY;
    capheap_stats_t s;
    reenter_results[2] = capheap_get_stats(reenter_heap, &s) == CAPHEAP_E_REENTRY;
    reenter_results[3] = capheap_check(reenter_heap, NULL) == CAPHEAP_E_REENTRY;
    return false;
}

static void test_reentry_is_reported_not_deadlocked(void)
{
    fresh(8 * KIB, 0);
    void *p = capheap_alloc(&H, 64);
    reenter_heap = &H;
    CHECK_EQ(capheap_walk(&H, reenter_walk, NULL), CAPHEAP_OK);
    for (int i = 0; i < 4; i++) CHECK(reenter_results[i]);
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_REENTRY], 4);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_REENTRY);
    CHECK(capheap_usable_size(&H, p) >= 64); /* p was not freed by the re-entrant call */
    CHECK_HEAP(&H);
}

/* THREADS: "a call that finds the heap busy ... fails with CAPHEAP_E_REENTRY"
 * - every call, from inside a walk callback. Each refusal is counted and
 * reported once, is not a failed allocation, and changes nothing; free(NULL)
 * and usable_size(NULL) do not enter and report nothing. */
static int busy_ok[32], busy_calls;
static void *busy_block;
static bool nop_walk(const capheap_block_info_t *b, void *ctx)
{
    (void)b;
    (void)ctx;
    return true;
}

static bool call_everything(const capheap_block_info_t *blk, void *ctx)
{
    (void)blk;
    (void)ctx;
    capheap_heap_t *h = &H;
    unsigned char *p = busy_block;
    const uint32_t list[] = {0};
    capheap_allocator_t a64 = {h, 0, 64}, plain = {h, 0, 0};
    capheap_stats_t s;
    capheap_path_stats_t ps;
    capheap_region_stats_t rs;
    capheap_caps_stats_t cs;
    capheap_check_result_t cr;
    int n = 0;
    busy_ok[n++] = capheap_alloc(h, 8) == NULL;
    busy_ok[n++] = capheap_alloc_caps(h, 8, 0) == NULL;
    busy_ok[n++] = capheap_aligned_alloc(h, 64, 8) == NULL;
    busy_ok[n++] = capheap_aligned_alloc(h, 3, 8) == NULL;
    busy_ok[n++] = capheap_calloc(h, 2, 8) == NULL;
    busy_ok[n++] = capheap_calloc(h, SIZE_MAX / 2, 3) == NULL;
    busy_ok[n++] = capheap_alloc_prefer(h, 8, list, 1) == NULL;
    busy_ok[n++] = capheap_realloc(h, NULL, 8) == NULL;
    busy_ok[n++] = capheap_realloc(h, p, 100) == NULL;
    busy_ok[n++] = capheap_realloc(h, p, 0) == NULL;
    busy_ok[n++] = capheap_free(h, p) == CAPHEAP_E_REENTRY;
    busy_ok[n++] = capheap_usable_size(h, p) == 0;
    busy_ok[n++] = capheap_add_region(h, mem_b, 4096, 0) == CAPHEAP_E_REENTRY;
    busy_ok[n++] = capheap_get_stats(h, &s) == CAPHEAP_E_REENTRY;
    busy_ok[n++] = capheap_get_path_stats(h, &ps) == CAPHEAP_E_REENTRY;
    busy_ok[n++] = capheap_get_region_stats(h, 0, &rs) == CAPHEAP_E_REENTRY;
    busy_ok[n++] = capheap_get_caps_stats(h, CAPHEAP_CAP_DMA, &cs) == CAPHEAP_E_REENTRY;
    busy_ok[n++] = capheap_check(h, &cr) == CAPHEAP_E_REENTRY;
    busy_ok[n++] = capheap_walk(h, nop_walk, NULL) == CAPHEAP_E_REENTRY;
    busy_ok[n++] = capheap_allocator_alloc(&a64, 8) == NULL;
    busy_ok[n++] = capheap_allocator_realloc(&a64, p, 100) == NULL;
    busy_ok[n++] = capheap_allocator_free(&plain, p) == CAPHEAP_E_REENTRY;
    busy_calls = n;
    /* not entering at all: no report */
    busy_ok[n++] = capheap_free(h, NULL) == CAPHEAP_OK;
    busy_ok[n++] = capheap_usable_size(h, NULL) == 0;
    return false;
}

static void test_reentry_refuses_every_call(void)
{
    fresh(8 * KIB, 0);
    unsigned char *p = capheap_alloc(&H, 64);
    CHECK(p != NULL);
    t_fill(p, 64);
    busy_block = p;
    memset(busy_ok, 0, sizeof busy_ok);
    capheap_stats_t s0 = stats(&H);
    int cnt = LOG.count;
    CHECK_EQ(capheap_walk(&H, call_everything, NULL), CAPHEAP_OK);
    CHECK_EQ(busy_calls, 22);
    for (int i = 0; i < busy_calls + 2; i++) {
        if (!busy_ok[i]) fprintf(stderr, "  call %d inside the walk was not refused\n", i);
        CHECK(busy_ok[i]);
    }
    CHECK_EQ(LOG.count, cnt + busy_calls);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_REENTRY);
    capheap_stats_t s1 = stats(&H);
    for (int k = 1; k < CAPHEAP_ERROR_KINDS; k++)
        if (k != -CAPHEAP_E_REENTRY) CHECK_EQ(s1.error_count[k], s0.error_count[k]);
    expect_only_refusals(&s0, busy_calls);
    if (t_current_failed) return;
    CHECK(t_verify(p, 64));
    CHECK_HEAP(&H);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
}
#endif

/* The handler may call back into the heap (it runs after the lock is released). */
static int handler_alloc_ok;
static void calling_handler(capheap_heap_t *h, const capheap_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    void *p = capheap_alloc(h, 16);
    handler_alloc_ok = p != NULL;
    (void)capheap_free(h, p);
}

static void test_handler_may_call_heap_and_can_be_removed(void)
{
    fresh(8 * KIB, 0);
    capheap_set_error_handler(&H, calling_handler, NULL);
    CHECK(capheap_alloc(&H, 100000) == NULL);
    CHECK(handler_alloc_ok);
    capheap_set_error_handler(&H, NULL, NULL);
    handler_alloc_ok = 0;
    CHECK(capheap_alloc(&H, 100000) == NULL);
    CHECK(!handler_alloc_ok);
}

/* ERRORS: the handler is called "after the heap lock has been released", so
 * it "may call into the heap again" - for an error of every kind and call,
 * with lock hooks installed. */
static int depth_now, depth_bad, depth_refused, depth_in_handler;
static uintptr_t depth_lock(void *ctx)
{
    (void)ctx;
    depth_now++;
    return 0x77u;
}
static void depth_unlock(void *ctx, uintptr_t token)
{
    (void)ctx;
    (void)token;
    depth_now--;
}
static void depth_handler(capheap_heap_t *h, const capheap_event_t *ev, void *ctx)
{
    err_log_t *log = ctx;
    log->count++;
    log->last = *ev;
    if (depth_now != 0) depth_bad++;
    if (depth_in_handler) return; /* a refused call from here must not recurse */
    depth_in_handler = 1;
    capheap_stats_t s;
    if (capheap_get_stats(h, &s) != CAPHEAP_OK) depth_refused++;
    depth_in_handler = 0;
}

static void test_handler_runs_after_the_lock_is_released(void)
{
    fresh(8 * KIB, CAPHEAP_CAPS_INTERNAL);
    memset(&LOG, 0, sizeof LOG);
    capheap_set_error_handler(&H, depth_handler, &LOG);
    depth_now = depth_bad = depth_refused = depth_in_handler = 0;
    capheap_set_lock(&H, depth_lock, depth_unlock, NULL);
    unsigned char *p = capheap_alloc(&H, 100), *b = capheap_alloc(&H, 100);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(p && b && guard);
    const uint32_t list[] = {CAPHEAP_CAP_INTERNAL};
    capheap_allocator_t a64 = {&H, 0, 64};
    CHECK(capheap_alloc(&H, 100000) == NULL);                        /* NOMEM */
    CHECK(capheap_alloc_caps(&H, 8, CAPHEAP_CAP_EXEC) == NULL);      /* NO_CAPS */
    CHECK(capheap_aligned_alloc(&H, 3, 8) == NULL);                  /* BAD_ALIGN */
    CHECK(capheap_calloc(&H, SIZE_MAX / 2, 3) == NULL);              /* SIZE_OVERFLOW */
    CHECK(capheap_alloc_prefer(&H, 100000, list, 1) == NULL);        /* NOMEM */
    CHECK(capheap_realloc(&H, p, 100000) == NULL);                   /* NOMEM */
    CHECK(capheap_allocator_realloc(&a64, p, 100000) == NULL);       /* NOMEM */
    CHECK_EQ(capheap_add_region(&H, mem_a, 4096, 0), CAPHEAP_E_REGION_OVERLAP);
    int n = 8;
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK_EQ(capheap_free(&H, p + 1), CAPHEAP_E_INVALID_PTR);
    CHECK_EQ(capheap_usable_size(&H, &n), 0);                        /* FOREIGN_PTR */
    CHECK(capheap_realloc(&H, p + 1, 8) == NULL);                    /* INVALID_PTR */
    CHECK(capheap_allocator_realloc(&a64, p + 1, 8) == NULL);        /* INVALID_PTR */
    n += 4;
#endif
    /* CORRUPT from capheap_check: b's boundary tag overwritten, then restored */
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    unsigned char *tag = guard - 2 * CAPHEAP_HEADER_SIZE;
    uintptr_t save;
    memcpy(&save, tag, sizeof save);
    memcpy(tag, &(uintptr_t){save + CAPHEAP_ALIGN}, sizeof(uintptr_t));
    int rc = capheap_check(&H, NULL);
    memcpy(tag, &save, sizeof save);
    CHECK_EQ(rc, CAPHEAP_E_CORRUPT);
    n++;
    CHECK_EQ(LOG.count, n);
    CHECK_EQ(depth_bad, 0);
    CHECK_EQ(depth_refused, 0);
    CHECK_EQ(depth_now, 0);
    capheap_set_lock(&H, NULL, NULL, NULL);
    CHECK_HEAP(&H);
}

/* Lock hooks: "A lock that detects it is already held by the caller may
 * return CAPHEAP_LOCK_FAILED; the call then fails with CAPHEAP_E_REENTRY and
 * unlock() is not called" - for every call. Each refusal is reported once,
 * counted in error_count only (fail_count: "a call refused with REENTRY is
 * only in error_count"), and changes nothing. At every check level. */
static bool nop_walk_any(const capheap_block_info_t *b, void *ctx)
{
    (void)b;
    ++*(size_t *)ctx;
    return true;
}

#define EXPECT_REFUSED(COND)                                                    \
    do {                                                                        \
        lp.fail_next = 1;                                                       \
        int u_ = lp.unlocks, l_ = lp.locks, c_ = LOG.count;                     \
        CHECK(COND);                                                            \
        CHECK_EQ(lp.fail_next, 0); /* the call did ask the lock */              \
        CHECK_EQ(lp.unlocks, u_);                                               \
        CHECK_EQ(lp.locks, l_);                                                 \
        CHECK_EQ(LOG.count, c_ + 1);                                            \
        CHECK_EQ(LOG.last.code, CAPHEAP_E_REENTRY);                             \
        refused++;                                                              \
    } while (0)

static void test_refused_lock_fails_every_call(void)
{
    fresh(8 * KIB, 0);
    unsigned char *p = capheap_alloc(&H, 100);
    CHECK(p != NULL);
    t_fill(p, 100);
    lock_probe_t lp = {0};
    capheap_set_lock(&H, probe_lock, probe_unlock, &lp);
    capheap_stats_t s0 = stats(&H);
    const uint32_t list[] = {0};
    capheap_allocator_t a64 = {&H, 0, 64}, plain = {&H, 0, 0};
    capheap_stats_t s;
    capheap_path_stats_t ps;
    capheap_region_stats_t rs;
    capheap_caps_stats_t cs;
    capheap_check_result_t cr;
    size_t calls = 0;
    int refused = 0;
    EXPECT_REFUSED(capheap_alloc(&H, 8) == NULL);
    EXPECT_REFUSED(capheap_alloc_caps(&H, 8, 0) == NULL);
    EXPECT_REFUSED(capheap_aligned_alloc(&H, 64, 8) == NULL);
    EXPECT_REFUSED(capheap_aligned_alloc(&H, 3, 8) == NULL);
    EXPECT_REFUSED(capheap_calloc(&H, 2, 8) == NULL);
    EXPECT_REFUSED(capheap_alloc_prefer(&H, 8, list, 1) == NULL);
    EXPECT_REFUSED(capheap_realloc(&H, NULL, 8) == NULL);
    EXPECT_REFUSED(capheap_realloc(&H, p, 300) == NULL);
    CHECK(LOG.last.ptr == (void *)p);
    EXPECT_REFUSED(capheap_realloc(&H, p, 0) == NULL); /* the free is refused: p stays */
    CHECK(LOG.last.ptr == (void *)p);
    EXPECT_REFUSED(capheap_free(&H, p) == CAPHEAP_E_REENTRY);
    CHECK(LOG.last.ptr == (void *)p);
    EXPECT_REFUSED(capheap_usable_size(&H, p) == 0);
    EXPECT_REFUSED(capheap_add_region(&H, mem_b, 4096, 0) == CAPHEAP_E_REENTRY);
    CHECK(LOG.last.ptr == (void *)mem_b);
    EXPECT_REFUSED(capheap_get_stats(&H, &s) == CAPHEAP_E_REENTRY);
    EXPECT_REFUSED(capheap_get_path_stats(&H, &ps) == CAPHEAP_E_REENTRY);
    EXPECT_REFUSED(capheap_get_region_stats(&H, 0, &rs) == CAPHEAP_E_REENTRY);
    EXPECT_REFUSED(capheap_get_caps_stats(&H, 0, &cs) == CAPHEAP_E_REENTRY);
    EXPECT_REFUSED(capheap_check(&H, &cr) == CAPHEAP_E_REENTRY);
    EXPECT_REFUSED(capheap_walk(&H, nop_walk_any, &calls) == CAPHEAP_E_REENTRY);
    CHECK_EQ(calls, 0);
    EXPECT_REFUSED(capheap_allocator_alloc(&a64, 8) == NULL);
    EXPECT_REFUSED(capheap_allocator_realloc(&a64, p, 300) == NULL);
    EXPECT_REFUSED(capheap_allocator_free(&plain, p) == CAPHEAP_E_REENTRY);
    expect_only_refusals(&s0, refused);
    if (t_current_failed) return;
    CHECK(t_verify(p, 100));
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    CHECK_EQ(lp.locks, lp.unlocks);
    capheap_set_lock(&H, NULL, NULL, NULL);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
}

/* -------------------------------------------------------------- statistics */
static void test_statistics(void)
{
    fresh(0, 0);
    CHECK_EQ(capheap_add_region(&H, mem_b, 64 * KIB, CAPHEAP_CAPS_INTERNAL), 0);
    CHECK_EQ(capheap_add_region(&H, mem_c, 16 * KIB, CAPHEAP_CAPS_EXTERNAL), 0);
    capheap_stats_t s0 = stats(&H);
    CHECK_EQ(s0.region_count, 2);
    CHECK_EQ(s0.used, 0);
    CHECK_EQ(s0.free, s0.total_size);
    CHECK_EQ(s0.total_size, rstats(&H, 0).size + rstats(&H, 1).size);
    CHECK_EQ(s0.min_free_ever, s0.total_size);
    void *a = capheap_alloc(&H, 1000);
    void *b = capheap_alloc_caps(&H, 2000, CAPHEAP_CAP_EXTERNAL);
    size_t ba = capheap_usable_size(&H, a) + CAPHEAP_HEADER_SIZE;
    size_t bb = capheap_usable_size(&H, b) + CAPHEAP_HEADER_SIZE;
    capheap_stats_t s1 = stats(&H);
    CHECK_EQ(s1.used, ba + bb);
    CHECK_EQ(s1.used + s1.free, s1.total_size);
    CHECK_EQ(rstats(&H, 0).used, ba);
    CHECK_EQ(rstats(&H, 1).used, bb);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    capheap_stats_t s2 = stats(&H);
    CHECK_EQ(s2.used, bb);
    CHECK(s2.largest_free <= s2.free);
#if CAPHEAP_STATS
    CHECK_EQ(s2.alloc_count, 2);
    CHECK_EQ(s2.free_count, 1);
    CHECK_EQ(s2.peak_used, ba + bb);
    CHECK_EQ(s2.bytes_allocated, ba + bb);
    CHECK_EQ(s2.bytes_freed, ba);
    CHECK_EQ(s2.min_free_ever, s2.total_size - ba - bb);
    CHECK_EQ(rstats(&H, 0).peak_used, ba);
    CHECK_EQ(rstats(&H, 0).min_free_ever, rstats(&H, 0).size - ba);
    CHECK_EQ(rstats(&H, 0).alloc_count, 1);
    CHECK_EQ(rstats(&H, 0).free_count, 1);
#else
    CHECK_EQ(s2.alloc_count, 0);
    CHECK_EQ(s2.peak_used, 0);
    CHECK_EQ(s2.bytes_allocated, 0);
    CHECK_EQ(s2.min_free_ever, s2.free);
#endif
    capheap_region_stats_t rs;
    CHECK_EQ(capheap_get_region_stats(&H, 2, &rs), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_region_stats(&H, 0, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_stats(&H, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_stats(NULL, &s2), CAPHEAP_E_ARGUMENT);
    capheap_init(&H);
    CHECK_EQ(stats(&H).region_count, 0);
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_NOMEM], 0);
}

/* capheap_get_caps_stats: "Totals over the regions that have every bit of
 * caps ... caps 0: every region"; "CAPHEAP_OK, also when no region has the
 * caps"; largest_free is a request capheap_alloc_caps is "guaranteed to
 * satisfy now"; "With caps 0 ... equal capheap_get_stats's"; the
 * errors. */
static capheap_caps_stats_t cstats(uint32_t caps)
{
    capheap_caps_stats_t s;
    if (capheap_get_caps_stats(&H, caps, &s) != CAPHEAP_OK) memset(&s, 0xff, sizeof s);
    return s;
}

static void test_caps_stats(void)
{
    const uint32_t dma_int = CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_DMA;
    fresh(0, 0);
    CHECK_EQ(capheap_add_region(&H, mem_a, 32 * KIB, dma_int), CAPHEAP_OK);
    CHECK_EQ(capheap_add_region(&H, mem_b, 64 * KIB, CAPHEAP_CAPS_INTERNAL), CAPHEAP_OK);
    CHECK_EQ(capheap_add_region(&H, mem_c, 16 * KIB, CAPHEAP_CAPS_EXTERNAL), CAPHEAP_OK);
    capheap_region_stats_t r0 = rstats(&H, 0), r1 = rstats(&H, 1), r2 = rstats(&H, 2);
    /* DMA: the first region alone; internal: the first two; none: nothing */
    capheap_caps_stats_t d = cstats(CAPHEAP_CAP_DMA);
    CHECK_EQ(d.caps, CAPHEAP_CAP_DMA);
    CHECK_EQ(d.region_count, 1);
    CHECK_EQ(d.total_size, r0.size);
    CHECK_EQ(d.used, 0);
    CHECK_EQ(d.free, r0.size);
    CHECK_EQ(d.largest_free, r0.size - CAPHEAP_HEADER_SIZE);
    CHECK_EQ(d.min_free_ever, r0.size);
    capheap_caps_stats_t in = cstats(CAPHEAP_CAP_INTERNAL);
    CHECK_EQ(in.region_count, 2);
    CHECK_EQ(in.total_size, r0.size + r1.size);
    CHECK_EQ(in.largest_free, r1.size - CAPHEAP_HEADER_SIZE);
    /* every bit must be there: DMA and external together match no region */
    capheap_caps_stats_t none = cstats(CAPHEAP_CAP_DMA | CAPHEAP_CAP_EXTERNAL);
    CHECK_EQ(none.caps, CAPHEAP_CAP_DMA | CAPHEAP_CAP_EXTERNAL);
    CHECK_EQ(none.region_count, 0);
    CHECK_EQ(none.total_size + none.used + none.free + none.largest_free + none.min_free_ever, 0);
    CHECK_EQ(none.alloc_count + none.free_count, 0);
    /* allocations land in the sums of the regions that served them */
    void *a = capheap_alloc_caps(&H, 3000, CAPHEAP_CAP_DMA);
    void *b = capheap_alloc_caps(&H, 30000, CAPHEAP_CAP_INTERNAL); /* too big for the DMA rest */
    void *c = capheap_alloc_caps(&H, 500, CAPHEAP_CAP_EXTERNAL);
    CHECK(a != NULL && b != NULL && c != NULL);
    size_t ba = capheap_usable_size(&H, a) + CAPHEAP_HEADER_SIZE;
    size_t bb = capheap_usable_size(&H, b) + CAPHEAP_HEADER_SIZE;
    size_t bc = capheap_usable_size(&H, c) + CAPHEAP_HEADER_SIZE;
    d = cstats(CAPHEAP_CAP_DMA);
    CHECK_EQ(d.used, ba);
    CHECK_EQ(d.free, r0.size - ba);
    in = cstats(CAPHEAP_CAP_INTERNAL);
    CHECK_EQ(in.used, ba + bb);
    CHECK_EQ(in.free, in.total_size - ba - bb);
    CHECK_EQ(cstats(CAPHEAP_CAP_EXTERNAL).used, bc);
    CHECK_EQ(cstats(CAPHEAP_CAP_EXTERNAL).total_size, r2.size);
    /* largest_free: that request succeeds, from a region with the caps */
    CHECK(d.largest_free > 0);
    void *big = capheap_alloc_caps(&H, d.largest_free, CAPHEAP_CAP_DMA);
    CHECK(big != NULL);
    CHECK((unsigned char *)big >= mem_a && (unsigned char *)big < mem_a + sizeof mem_a);
    size_t bbig = capheap_usable_size(&H, big) + CAPHEAP_HEADER_SIZE;
    CHECK_EQ(cstats(CAPHEAP_CAP_DMA).used, ba + bbig);
    CHECK_EQ(capheap_free(&H, big), CAPHEAP_OK);
#if CAPHEAP_STATS
    CHECK_EQ(d.alloc_count, 1);
    CHECK_EQ(in.alloc_count, 2);
    CHECK_EQ(cstats(CAPHEAP_CAP_DMA).alloc_count, 2);
    CHECK_EQ(cstats(CAPHEAP_CAP_DMA).free_count, 1);
    CHECK_EQ(cstats(CAPHEAP_CAP_DMA).min_free_ever, r0.size - ba - bbig);
#else
    CHECK_EQ(cstats(CAPHEAP_CAP_DMA).alloc_count + cstats(CAPHEAP_CAP_DMA).free_count, 0);
    CHECK_EQ(cstats(CAPHEAP_CAP_DMA).min_free_ever, cstats(CAPHEAP_CAP_DMA).free);
#endif
    /* caps 0: every region, the same figures as capheap_get_stats */
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    capheap_caps_stats_t all = cstats(0);
    capheap_stats_t s = stats(&H);
    CHECK_EQ(all.region_count, 3);
    CHECK_EQ(all.total_size, s.total_size);
    CHECK_EQ(all.used, s.used);
    CHECK_EQ(all.free, s.free);
    CHECK_EQ(all.largest_free, s.largest_free);
    CHECK_EQ(all.min_free_ever, s.min_free_ever);
    CHECK_EQ(all.alloc_count, s.alloc_count);
    CHECK_EQ(all.free_count, s.free_count);
    /* errors: a NULL heap is returned only; a NULL out is counted and reported */
    capheap_caps_stats_t cs;
    int cnt = LOG.count;
    CHECK_EQ(capheap_get_caps_stats(NULL, 0, &cs), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(LOG.count, cnt);
    CHECK_EQ(capheap_get_caps_stats(&H, 0, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(LOG.count, cnt + 1);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_ARGUMENT);
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_ARGUMENT], s.error_count[-CAPHEAP_E_ARGUMENT] + 1);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, c), CAPHEAP_OK);
    CHECK_EQ(cstats(0).used, 0);
    CHECK_HEAP(&H);
}

static void test_null_heap_arguments(void)
{
    CHECK(capheap_alloc(NULL, 8) == NULL);
    CHECK(capheap_alloc_caps(NULL, 8, 0) == NULL);
    CHECK(capheap_aligned_alloc(NULL, 64, 8) == NULL);
    CHECK(capheap_calloc(NULL, 1, 8) == NULL);
    CHECK(capheap_realloc(NULL, NULL, 8) == NULL);
    CHECK(capheap_realloc(NULL, mem_a, 8) == NULL);
    CHECK(capheap_alloc_prefer(NULL, 8, NULL, 0) == NULL);
    CHECK_EQ(capheap_free(NULL, mem_a), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_usable_size(NULL, mem_a), 0);
    CHECK_EQ(capheap_check(NULL, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_walk(NULL, NULL, NULL), CAPHEAP_E_ARGUMENT);
    capheap_init(NULL);
    capheap_set_lock(NULL, NULL, NULL, NULL);
    capheap_set_error_handler(NULL, NULL, NULL);
}

static void test_strerror(void)
{
    for (int i = 0; i < CAPHEAP_ERROR_KINDS; i++) {
        const char *s = capheap_strerror(-i);
        CHECK(s != NULL && strcmp(s, "unknown error") != 0);
        for (int j = 0; j < i; j++) CHECK(strcmp(s, capheap_strerror(-j)) != 0);
    }
    CHECK(strcmp(capheap_strerror(-CAPHEAP_ERROR_KINDS), "unknown error") == 0);
    CHECK(strcmp(capheap_strerror(5), "unknown error") == 0);
}

/* ----------------------------------------------------------- walk, handles */
static bool stop_walk(const capheap_block_info_t *b, void *ctx)
{
    (void)b;
    ++*(int *)ctx;
    return false;
}

static void test_walk(void)
{
    fresh(16 * KIB, 0);
    void *p[5];
    for (int i = 0; i < 5; i++) p[i] = capheap_alloc(&H, 100);
    CHECK_EQ(capheap_free(&H, p[1]), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, p[3]), CAPHEAP_OK);
    size_t n[3] = {0, 0, 0};
    CHECK_EQ(capheap_walk(&H, t_count_walk, n), CAPHEAP_OK);
    CHECK_EQ(n[0], 3);
    CHECK_EQ(n[1], 3); /* two holes and the tail */
    CHECK_EQ(n[2], stats(&H).total_size);
    int calls = 0;
    CHECK_EQ(capheap_walk(&H, stop_walk, &calls), CAPHEAP_OK);
    CHECK_EQ(calls, 1);
    capheap_check_result_t cr;
    CHECK_EQ(capheap_check(&H, &cr), CAPHEAP_OK);
    CHECK_EQ(cr.problems, 0);
    CHECK_EQ(cr.blocks_used, 3);
    CHECK_EQ(cr.blocks_free, 3);
}

/* capheap_check: "out may be NULL" - also for a sick heap: CORRUPT, counted
 * and reported once. capheap_walk (fn NULL) and capheap_get_region_stats
 * (heap NULL, index past the last region) return CAPHEAP_E_ARGUMENT and
 * change nothing. */
static void test_check_and_walk_bad_arguments(void)
{
    fresh(8 * KIB, 0);
    unsigned char *a = capheap_alloc(&H, 100), *b = capheap_alloc(&H, 100);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(a && b && guard);
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    unsigned char *tag = guard - 2 * CAPHEAP_HEADER_SIZE; /* b's boundary tag */
    uintptr_t save;
    memcpy(&save, tag, sizeof save);
    memcpy(tag, &(uintptr_t){save + CAPHEAP_ALIGN}, sizeof(uintptr_t));
    capheap_stats_t s0 = stats(&H);
    int cnt = LOG.count;
    int rc = capheap_check(&H, NULL);
    memcpy(tag, &save, sizeof save);
    CHECK_EQ(rc, CAPHEAP_E_CORRUPT);
    CHECK_EQ(LOG.count, cnt + 1);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_CORRUPT);
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_CORRUPT], s0.error_count[-CAPHEAP_E_CORRUPT] + 1);
    CHECK_HEAP(&H);
    /* bad arguments */
    s0 = stats(&H);
    capheap_region_stats_t rs;
    CHECK_EQ(capheap_walk(&H, NULL, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_region_stats(NULL, 0, &rs), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_region_stats(&H, 1, &rs), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_region_stats(&H, SIZE_MAX, &rs), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_path_stats(&H, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_check(NULL, &(capheap_check_result_t){0}), CAPHEAP_E_ARGUMENT);
    capheap_stats_t s1 = stats(&H);
    CHECK_EQ(s1.used, s0.used);
    CHECK_EQ(s1.region_count, s0.region_count);
    CHECK_EQ(s1.fail_count, s0.fail_count);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, guard), CAPHEAP_OK);
    CHECK_HEAP(&H);
}

/* ERRORS: "Any other invalid argument (a NULL output, callback or list) is
 * CAPHEAP_E_ARGUMENT, counted and reported like the other errors"; a NULL
 * heap and a region index past the last region are neither. alloc_prefer's
 * NULL list is not a failed allocation. */
static void test_argument_errors_are_counted_and_reported(void)
{
    fresh(8 * KIB, 0);
    capheap_region_stats_t rs;
    capheap_stats_t s0 = stats(&H);
    int cnt = LOG.count;
    CHECK_EQ(capheap_get_stats(&H, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_region_stats(&H, 0, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_path_stats(&H, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_walk(&H, NULL, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_caps_stats(&H, 0, NULL), CAPHEAP_E_ARGUMENT);
    CHECK(capheap_alloc_prefer(&H, 8, NULL, 2) == NULL);
    CHECK_EQ(LOG.count, cnt + 6);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_ARGUMENT);
    CHECK(LOG.last.ptr == NULL);
    CHECK_EQ(LOG.last.size, 0);
    capheap_stats_t s1 = stats(&H);
    CHECK_EQ(s1.error_count[-CAPHEAP_E_ARGUMENT], s0.error_count[-CAPHEAP_E_ARGUMENT] + 6);
    CHECK_EQ(s1.fail_count, s0.fail_count);
    CHECK_EQ(s1.used, s0.used);
    /* a NULL heap, and a region index past the last region (the end of an
     * enumeration): returned, not counted or reported */
    CHECK_EQ(capheap_get_stats(NULL, &s1), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_free(NULL, &rs), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_region_stats(&H, 1, &rs), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_region_stats(&H, SIZE_MAX, &rs), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_get_caps_stats(NULL, 0, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(LOG.count, cnt + 6);
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_ARGUMENT], s1.error_count[-CAPHEAP_E_ARGUMENT]);
    CHECK_HEAP(&H);
}

#if CAPHEAP_CHECK_LEVEL >= 1
/* ERRORS: a refused call is reported while the heap is still busy; a
 * handler that calls into the heap then is refused again, counted, "but not
 * passed to the handler again (which would recurse without end)". */
static int nest_depth, nest_max, nest_calls;
static int nest_results[2];
static void querying_handler(capheap_heap_t *h, const capheap_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    nest_calls++;
    if (++nest_depth > nest_max) nest_max = nest_depth;
    if (nest_depth < 64) { /* without the guard: unbounded, this bounds the test */
        capheap_stats_t st;
        nest_results[0] = capheap_get_stats(h, &st);
        if (nest_depth == 1) nest_results[1] = capheap_alloc(h, 8) == NULL;
    }
    nest_depth--;
}

static int walk_alloc_refused;
static bool alloc_in_walk(const capheap_block_info_t *b, void *ctx)
{
    (void)b;
    (void)ctx;
    walk_alloc_refused = capheap_alloc(&H, 8) == NULL;
    return false;
}

static void test_handler_of_a_refused_call_is_not_re_entered(void)
{
    fresh(8 * KIB, 0);
    capheap_set_error_handler(&H, querying_handler, NULL);
    nest_depth = nest_max = nest_calls = 0;
    capheap_stats_t s0 = stats(&H);
    CHECK_EQ(capheap_walk(&H, alloc_in_walk, NULL), CAPHEAP_OK);
    CHECK(walk_alloc_refused);
    CHECK_EQ(nest_calls, 1);
    CHECK_EQ(nest_max, 1);
    CHECK_EQ(nest_results[0], CAPHEAP_E_REENTRY);
    CHECK(nest_results[1]);
    /* the refused alloc, and both refused calls of the handler, are counted */
    CHECK_EQ(stats(&H).error_count[-CAPHEAP_E_REENTRY], s0.error_count[-CAPHEAP_E_REENTRY] + 3);
    /* the guard is released: the next refusal is reported again */
    CHECK_EQ(capheap_walk(&H, alloc_in_walk, NULL), CAPHEAP_OK);
    CHECK_EQ(nest_calls, 2);
    t_log_errors(&H, &LOG);
    CHECK_HEAP(&H);
}
#endif

/* Header: a handle's realloc result has the handle's capabilities and
 * alignment; a bad pointer fails before anything is allocated. */
static void test_handle_realloc_keeps_caps_and_refuses_bad_pointers(void)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    CHECK_EQ(capheap_add_region(&H, mem_b, 16 * KIB, CAPHEAP_CAPS_INTERNAL), 0);
    CHECK_EQ(capheap_add_region(&H, mem_c, 16 * KIB, CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_DMA), 0);
    capheap_allocator_t dma = {&H, CAPHEAP_CAP_DMA, 64};
    /* an aligned block in the region without DMA, shrunk through the DMA handle: it moves */
    unsigned char *p = capheap_aligned_alloc_caps(&H, 64, 200, CAPHEAP_CAP_INTERNAL);
    CHECK(p >= mem_b && p < mem_b + 16 * KIB && (uintptr_t)p % 64 == 0);
    t_fill(p, 200);
    uint64_t key = t_key(p, 200);
    unsigned char *q = capheap_allocator_realloc(&dma, p, 100);
    CHECK(q >= mem_c && q < mem_c + 16 * KIB && (uintptr_t)q % 64 == 0);
    CHECK(t_verify_key(q, 100, key));
    CHECK_EQ(LOG.count, 0);
    /* in the DMA region and aligned: it shrinks in place */
    CHECK(capheap_allocator_realloc(&dma, q, 40) == q);
    CHECK(capheap_usable_size(&H, q) < 100);
#if CAPHEAP_CHECK_LEVEL >= 1
    /* a bad pointer: NULL, one error, nothing allocated */
    size_t used = stats(&H).used;
    CHECK(capheap_allocator_realloc(&dma, q + 8, 300) == NULL);
    CHECK_EQ(LOG.count, 1);
    CHECK(LOG.last.code == CAPHEAP_E_INVALID_PTR || LOG.last.code == CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(stats(&H).used, used);
    CHECK_EQ(capheap_free(&H, q), CAPHEAP_OK);
    CHECK(capheap_allocator_realloc(&dma, q, 300) == NULL); /* freed: a double free */
    CHECK_EQ(LOG.count, 2);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_DOUBLE_FREE);
#else
    CHECK_EQ(capheap_free(&H, q), CAPHEAP_OK);
#endif
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
}

/* A handle with an alignment above CAPHEAP_ALIGN resizes in place a block
 * that has its caps and alignment (growing forward keeps the address); a
 * handle alignment that is not a power of two is BAD_ALIGN. */
static void test_handle_realloc_grows_in_place_when_aligned(void)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    CHECK_EQ(capheap_add_region(&H, mem_c, 16 * KIB, CAPHEAP_CAPS_INTERNAL), 0);
    capheap_allocator_t a64 = {&H, CAPHEAP_CAP_INTERNAL, 64};
    unsigned char *p = capheap_allocator_alloc(&a64, 100);
    CHECK(p != NULL && (uintptr_t)p % 64 == 0);
    t_fill(p, 100);
    uint64_t key = t_key(p, 100);
    uint32_t allocs = stats(&H).alloc_count;
    unsigned char *q = capheap_allocator_realloc(&a64, p, 1000); /* into the free rest */
    CHECK(q == p);
    CHECK(capheap_usable_size(&H, q) >= 1000);
    CHECK(t_verify_key(q, 100, key));
#if CAPHEAP_STATS
    CHECK_EQ(stats(&H).alloc_count, allocs); /* in place: no allocation counted */
#else
    (void)allocs;
#endif
    CHECK_HEAP(&H);
    /* a handle alignment that is not a power of two: BAD_ALIGN, q untouched */
    capheap_allocator_t bad = {&H, 0, 96};
    uint32_t fails = stats(&H).fail_count;
    size_t used = stats(&H).used;
    CHECK(capheap_allocator_realloc(&bad, q, 50) == NULL);
    CHECK_EQ(LOG.count, 1);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_BAD_ALIGN);
    CHECK_EQ(stats(&H).fail_count, fails + 1);
    CHECK_EQ(stats(&H).used, used);
    CHECK(t_verify_key(q, 100, key));
    /* one lock round trip, whether the block stays or moves */
    lock_probe_t lp = {0};
    capheap_set_lock(&H, probe_lock, probe_unlock, &lp);
    CHECK(capheap_allocator_realloc(&a64, q, 2000) == q);
    CHECK_EQ(lp.locks, 1);
    CHECK_EQ(lp.unlocks, 1);
    unsigned char *m1 = capheap_alloc(&H, 40), *m2 = capheap_alloc(&H, 40);
    CHECK(m1 != NULL && m2 != NULL);
    unsigned char *mis = (uintptr_t)m1 % 64 != 0 ? m1 : m2; /* 48 bytes apart: one is not 64-aligned */
    CHECK((uintptr_t)mis % 64 != 0);
    lp.locks = lp.unlocks = 0;
    unsigned char *moved = capheap_allocator_realloc(&a64, mis, 40);
    CHECK(moved != NULL && moved != mis && (uintptr_t)moved % 64 == 0);
    CHECK_EQ(lp.locks, 1);
    CHECK_EQ(lp.unlocks, 1);
    capheap_set_lock(&H, NULL, NULL, NULL);
    CHECK_EQ(capheap_free(&H, moved), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, mis == m1 ? m2 : m1), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, q), CAPHEAP_OK);
    CHECK_EQ(stats(&H).used, 0);
    CHECK_HEAP(&H);
}

/* Handles: "A NULL handle returns NULL / CAPHEAP_E_ARGUMENT"; a handle whose
 * heap is NULL behaves as the calls with a NULL heap (allocations NULL, free
 * of a pointer CAPHEAP_E_ARGUMENT, free of NULL CAPHEAP_OK), and reports
 * nothing to the heap it does not name. */
static void test_handles_without_a_heap(void)
{
    fresh(8 * KIB, 0);
    void *p = capheap_alloc(&H, 40);
    CHECK(p != NULL);
    capheap_allocator_t none = {NULL, 0, 0}, none64 = {NULL, 0, 64};
    CHECK(capheap_allocator_alloc(NULL, 8) == NULL);
    CHECK(capheap_allocator_realloc(NULL, p, 8) == NULL);
    CHECK_EQ(capheap_allocator_free(NULL, p), CAPHEAP_E_ARGUMENT);
    CHECK(capheap_allocator_alloc(&none, 8) == NULL);
    CHECK(capheap_allocator_alloc(&none64, 8) == NULL);
    CHECK(capheap_allocator_realloc(&none, p, 80) == NULL);
    CHECK(capheap_allocator_realloc(&none64, p, 80) == NULL);
    CHECK(capheap_allocator_realloc(&none, NULL, 80) == NULL);
    CHECK_EQ(capheap_allocator_free(&none, p), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(capheap_allocator_free(&none, NULL), CAPHEAP_OK);
    CHECK_EQ(LOG.count, 0);
    CHECK(capheap_usable_size(&H, p) >= 40); /* untouched */
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    CHECK_HEAP(&H);
}

/* A handle's realloc (alignment 64) of a block with a free block before it,
 * for many sizes of that free block and of the request, the rest of the
 * region full. The block moves down into the free block exactly when the
 * moved contents stay aligned and it fits there; else it grows forward or
 * moves to an aligned block, which may be carved from that very free block
 * (the old block's header then changes during the call); or the call fails
 * with NOMEM and the block is untouched. The heap stays consistent. */
static void test_handle_realloc_beside_a_free_block_sweep(void)
{
    capheap_allocator_t a64 = {&H, 0, 64};
    unsigned downs = 0, moves = 0, fails = 0;
    for (size_t off = 0; off < 64; off += 8) /* where the region starts, modulo 64 */
    for (size_t fs = 8; fs <= 400; fs += 16) {
        for (size_t n = 104; n <= 560; n += 24) {
            capheap_init(&H);
            t_log_errors(&H, &LOG);
            CHECK_EQ(capheap_add_region(&H, mem_c + off, 4 * KIB, CAPHEAP_CAPS_INTERNAL), 0);
            unsigned char *f = capheap_alloc(&H, fs);
            unsigned char *p = capheap_allocator_alloc(&a64, 100);
            unsigned char *fence = capheap_allocator_alloc(&a64, 8);
            CHECK(f != NULL && p != NULL && fence != NULL);
            unsigned char *fill[16];
            size_t nfill = 0;
            for (size_t big; nfill < 16 && (big = rstats(&H, 0).largest_free) > 0; nfill++) {
                fill[nfill] = capheap_alloc(&H, big);
                CHECK(fill[nfill] != NULL);
            }
            CHECK_EQ(rstats(&H, 0).largest_free, 0);
            t_fill(p, 100);
            uint64_t key = t_key(p, 100);
            CHECK_EQ(capheap_free(&H, f), CAPHEAP_OK);
            unsigned char *below = t_free_block_before(&H, p);
            /* block sizes: the free block before, p's, and what n needs */
            size_t below_block = below ? (size_t)(p - below) : 0;
            size_t p_block = capheap_usable_size(&H, p) + CAPHEAP_HEADER_SIZE;
            size_t need = (n + CAPHEAP_HEADER_SIZE + CAPHEAP_ALIGN - 1) / CAPHEAP_ALIGN * CAPHEAP_ALIGN;
            size_t used = stats(&H).used;
            unsigned char *q = capheap_allocator_realloc(&a64, p, n);
            CHECK_HEAP(&H);
            if (q == NULL) {
                fails++;
                CHECK_EQ(LOG.last.code, CAPHEAP_E_NOMEM);
                CHECK_EQ(stats(&H).used, used);
                q = p;
            } else {
                CHECK((uintptr_t)q % 64 == 0);
                CHECK(capheap_usable_size(&H, q) >= n);
                bool fits_below = below != NULL && below_block + p_block >= need;
                if (q == below) downs++;
                else if (q != p) moves++;
                /* unless it grew forward: down in place whenever that fits and keeps the alignment */
                if (fits_below && (uintptr_t)below % 64 == 0 && q != p) CHECK(q == below);
            }
            CHECK(t_verify_key(q, 100, key));
            CHECK_EQ(capheap_free(&H, q), CAPHEAP_OK);
            CHECK_EQ(capheap_free(&H, fence), CAPHEAP_OK);
            while (nfill > 0) CHECK_EQ(capheap_free(&H, fill[--nfill]), CAPHEAP_OK);
            CHECK_EQ(stats(&H).used, 0);
            CHECK_HEAP(&H);
        }
    }
    /* every outcome was reached */
    CHECK(downs > 0);
    CHECK(moves > 0);
    CHECK(fails > 0);
}

#if CAPHEAP_GLOBAL
static void test_global_heap_macros_and_handles(void)
{
    capheap_init(&capheap_global);
    t_log_errors(&capheap_global, &LOG);
    for (int i = 0; i < 2; i++) CAPHEAP_HEAP_ALLOCATOR(12 * 1024); /* second time: overlap */
    CHECK_EQ(stats(&capheap_global).region_count, 1);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_REGION_OVERLAP);
    CHECK_EQ(rstats(&capheap_global, 0).caps, CAPHEAP_CAPS_INTERNAL);
    CHECK_EQ(rstats(&capheap_global, 0).span + (size_t)0, 12 * 1024);

    CAPHEAP_HEAP_ALLOCATOR_IN_SECTION("capheap_test_sec", 6000);
    extern unsigned char __start_capheap_test_sec[], __stop_capheap_test_sec[];
    capheap_region_stats_t sec = rstats(&capheap_global, 1);
    CHECK((unsigned char *)sec.start >= __start_capheap_test_sec);
    CHECK((unsigned char *)sec.start + sec.span <= __stop_capheap_test_sec);
    CHECK_EQ(sec.caps, CAPHEAP_CAPS_INTERNAL);

    CHECK_EQ(CAPHEAP_ADD_EXTERNAL(mem_a, 64 * KIB), CAPHEAP_OK);
    capheap_region_stats_t ext = rstats(&capheap_global, 2);
    CHECK_EQ(ext.caps, CAPHEAP_CAPS_EXTERNAL);
    CHECK_EQ(ext.priority, -1);

    unsigned char *i = capheap_allocator_alloc(&capheap_internal, 100);
    unsigned char *e = capheap_allocator_alloc(&capheap_external, 100);
    unsigned char *a = capheap_allocator_alloc(&capheap_any, 100);
    CHECK(e >= mem_a && e < mem_a + 64 * KIB);
    CHECK(i != NULL && (i < mem_a || i >= mem_a + 64 * KIB));
    CHECK(a != NULL && (a < mem_a || a >= mem_a + 64 * KIB)); /* internal tried first */
    CHECK(capheap_allocator_alloc(&capheap_dma, 100) == NULL); /* no DMA region */
    CHECK_EQ(LOG.last.code, CAPHEAP_E_NO_CAPS);
    CHECK_EQ(capheap_add_region(&capheap_global, mem_b, 16 * KIB,
                                CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_DMA), 0);
    unsigned char *d = capheap_allocator_alloc(&capheap_dma, 100);
    CHECK(d >= mem_b && d < mem_b + 16 * KIB);
    CHECK_EQ((uintptr_t)d % CAPHEAP_DMA_ALIGN, 0);
    t_fill(d, 100);
    uint64_t key = t_key(d, 100);
    unsigned char *d2 = capheap_allocator_realloc(&capheap_dma, d, 3000);
    CHECK(d2 != NULL && (uintptr_t)d2 % CAPHEAP_DMA_ALIGN == 0);
    CHECK(t_verify_key(d2, 100, key));
    CHECK(d2 >= mem_b && d2 < mem_b + 16 * KIB);
    CHECK(capheap_allocator_realloc(&capheap_dma, d2, 50) == d2);
    unsigned char *e2 = capheap_allocator_realloc(&capheap_external, e, 5000);
    CHECK(e2 >= mem_a && e2 < mem_a + 64 * KIB);
    CHECK_EQ(capheap_allocator_free(&capheap_dma, d2), CAPHEAP_OK);
    CHECK_EQ(capheap_allocator_free(&capheap_external, e2), CAPHEAP_OK);
    CHECK_EQ(capheap_allocator_free(&capheap_internal, i), CAPHEAP_OK);
    CHECK_EQ(capheap_allocator_free(&capheap_any, a), CAPHEAP_OK);
    CHECK(capheap_allocator_alloc(NULL, 1) == NULL);
    CHECK(capheap_allocator_realloc(NULL, NULL, 1) == NULL);
    CHECK_EQ(capheap_allocator_free(NULL, NULL), CAPHEAP_E_ARGUMENT);
    CHECK_EQ(stats(&capheap_global).used, 0);
    CHECK_HEAP(&capheap_global);
    capheap_init(&capheap_global);
}
#endif

/* Header: bytes_allocated / bytes_freed are 64-bit totals on every target.
 * More than 2^32 bytes go through a 256 KiB region; the totals stay exact
 * (on 32-bit targets the core carries into a second word). */
static void test_byte_totals_pass_4_gib(void)
{
    fresh(256 * KIB, CAPHEAP_CAPS_INTERNAL);
    void *p = capheap_alloc(&H, 200 * KIB);
    CHECK(p != NULL);
    uint64_t blk = (uint64_t)capheap_usable_size(&H, p) + CAPHEAP_HEADER_SIZE;
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    uint64_t rounds = (((uint64_t)1 << 32) / blk) + 10u;
    for (uint64_t i = 1; i < rounds; i++) {
        p = capheap_alloc(&H, 200 * KIB);
        if (p == NULL || capheap_free(&H, p) != CAPHEAP_OK) break;
    }
    capheap_stats_t s = stats(&H);
#if CAPHEAP_STATS
    CHECK(rounds * blk > ((uint64_t)1 << 32));
    CHECK_EQ(s.bytes_allocated, rounds * blk);
    CHECK_EQ(s.bytes_freed, rounds * blk);
    CHECK_EQ(s.alloc_count, rounds);
#else
    CHECK_EQ(s.bytes_allocated, 0);
#endif
    CHECK_EQ(s.used, 0);
    CHECK_EQ(capheap_check(&H, NULL), CAPHEAP_OK);
}

/* Header: capheap_get_path_stats. With CAPHEAP_STATS 2 it counts each path
 * of a known sequence exactly; below 2 every counter reads 0. */
static void test_path_stats(void)
{
    capheap_path_stats_t ps;
    CHECK_EQ(capheap_get_path_stats(NULL, &ps), CAPHEAP_E_ARGUMENT);
    fresh(64 * KIB, CAPHEAP_CAPS_INTERNAL); /* the region's one free block fills a list */
    CHECK_EQ(capheap_get_path_stats(&H, NULL), CAPHEAP_E_ARGUMENT);
    /* Three small blocks: each time the own class is empty, the search
     * needs the first level, takes the big block (its list empties), splits it
     * and files the rest (a list fills). */
    void *p1 = capheap_alloc(&H, 100), *p2 = capheap_alloc(&H, 100), *p3 = capheap_alloc(&H, 100);
    CHECK(p1 != NULL && p2 != NULL && p3 != NULL);
    CHECK_EQ(capheap_free(&H, p2), CAPHEAP_OK);  /* no free neighbour: its class list fills */
    void *p4 = capheap_alloc(&H, 100);           /* own class head, exact: no split, list empties */
    CHECK(p4 == p2);
    CHECK_EQ(capheap_free(&H, p3), CAPHEAP_OK);  /* merges with the big rest: one more of each */
    CHECK_EQ(capheap_get_path_stats(&H, &ps), CAPHEAP_OK);
#if CAPHEAP_STATS >= 2
    CHECK_EQ(ps.own_class, 1);
    CHECK_EQ(ps.searches, 3);
    CHECK_EQ(ps.first_level, 3);
    CHECK_EQ(ps.splits, 3);
    CHECK_EQ(ps.merges, 1);
    CHECK_EQ(ps.lists_filled, 6);
    CHECK_EQ(ps.lists_emptied, 5);
#else
    CHECK_EQ(ps.own_class + ps.searches + ps.first_level + ps.splits + ps.merges + ps.lists_filled +
                 ps.lists_emptied,
             0);
#endif
    CHECK_EQ(capheap_check(&H, NULL), CAPHEAP_OK);
}

#if CAPHEAP_SL_BITS == 0
/* Free blocks of g[i] granules, each between used guards so that none
 * merges; blocks of one size class end up in its list in the order given
 * (the first at the head: lists are LIFO). */
static void free_in_list_order(const unsigned *g, int n, unsigned char **blk)
{
    for (int i = 0; i < n; i++) {
        CHECK(capheap_alloc(&H, 1) != NULL);
        blk[i] = capheap_alloc(&H, g[i] * CAPHEAP_ALIGN - CAPHEAP_HEADER_SIZE);
        CHECK(blk[i] != NULL);
    }
    CHECK(capheap_alloc(&H, 1) != NULL);
    for (int i = n - 1; i >= 0; i--) CHECK_EQ(capheap_free(&H, blk[i]), CAPHEAP_OK);
    CHECK_HEAP(&H);
}

/* A fresh region whose lists hold free blocks of g[i] granules (see
 * free_in_list_order), then one allocation of req bytes: *got is the block
 * it got, and the heap is checked after it. */
static void alloc_after(const unsigned *g, int n, unsigned char **blk, size_t req, unsigned char **got)
{
    fresh(64 * KIB, 0);
    free_in_list_order(g, n, blk);
    *got = capheap_alloc(&H, req);
    CHECK_HEAP(&H);
}

/* Header: CAPHEAP_SL_BITS 0 (one class per power of two) and CAPHEAP_FIT_SCAN:
 * which free block an allocation takes. Requests of 18 granules; the own
 * class holds blocks of 16..31 granules, the good class 32..63. */
static void test_fit_policy_one_class_per_octave(void)
{
    const size_t req = 18 * CAPHEAP_ALIGN - CAPHEAP_HEADER_SIZE;
    unsigned char *b[8], *p = NULL;

    /* FIT_SCAN 1: the head fits and is taken. Above: the scan stops at a
     * block within 1/8 of the request (20 for 18), even though an exact one
     * (18) follows */
    static const unsigned g1[] = {30, 20, 18, 17};
    alloc_after(g1, 4, b, req, &p);
    CHECK(p == b[CAPHEAP_FIT_SCAN == 1 ? 0 : 1]);

    /* None within 1/8: the walk stops at the second block that fits and
     * takes the tighter of the two (24, not 30), although tighter ones follow */
    static const unsigned g2[] = {30, 24, 22, 21, 19};
    alloc_after(g2, 5, b, req, &p);
    CHECK(p == b[CAPHEAP_FIT_SCAN == 1 ? 0 : 1]);

    /* Blocks too small do not count as fits: the walk goes past them to the
     * second that fits, if it is among the first CAPHEAP_FIT_SCAN. */
    static const unsigned g4[] = {17, 16, 30, 24, 19};
    alloc_after(g4, 5, b, req, &p);
#if CAPHEAP_FIT_SCAN >= 4
    CHECK(p == b[3]); /* 30 and 24 fit: the tighter */
#elif CAPHEAP_FIT_SCAN == 3
    CHECK(p == b[2]); /* only 30 is within the walk */
#else
    for (int i = 0; i < 5; i++) CHECK(p != b[i]); /* no fit in the walk: another class serves */
#endif

    /* The own class has no block that fits: the good class serves, with its
     * head (FIT_SCAN 1 and 2) or the tighter of its first two (60, 40). */
    static const unsigned g3[] = {17, 16, 17, 16, 60, 40, 33};
    alloc_after(g3, 7, b, req, &p);
    CHECK(p == b[CAPHEAP_FIT_SCAN >= 3 ? 5 : 4]);
    /* The rest of the split block went back: the heap lost exactly the request's block. */
    CHECK_EQ(capheap_usable_size(&H, p), 18u * CAPHEAP_ALIGN - CAPHEAP_HEADER_SIZE);
}
#endif

int main(void)
{
    printf("capheap unit tests: CHECK_LEVEL=%d STATS=%d SL_BITS=%d, %u-bit\n", CAPHEAP_CHECK_LEVEL,
           CAPHEAP_STATS, CAPHEAP_SL_BITS, (unsigned)(sizeof(void *) * 8));
    RUN(test_zero_heap_is_valid_and_empty);
    RUN(test_add_region_errors_leave_heap_unchanged);
    RUN(test_overlap_cases);
    RUN(test_add_region_errors_report_their_arguments);
    RUN(test_misaligned_region_is_trimmed);
    RUN(test_smallest_region_threshold);
    RUN(test_region_overhead_budget);
    RUN(test_tiny_4k_region_usable);
    RUN(test_99_percent_of_64k_in_one_allocation);
    RUN(test_largest_free_is_allocatable_after_fragmentation);
    RUN(test_largest_free_counts_blocks_the_scan_reaches);
    RUN(test_largest_request_at_every_region_size);
    RUN(test_request_beyond_first_region_goes_to_next);
    RUN(test_regions_added_after_allocations);
    RUN(test_priority_and_insertion_order);
    RUN(test_caps_dispatch);
    RUN(test_alloc_prefer);
    RUN(test_alignment_of_plain_allocations);
    RUN(test_size_zero_gives_unique_blocks);
    RUN(test_size_overflow);
    RUN(test_aligned_alloc);
    RUN(test_bad_alignment);
    RUN(test_allocation_failures_count_and_report);
    RUN(test_aligned_small_alignments_cost_nothing);
    RUN(test_aligned_request_needs_slack);
    RUN(test_region_size_cap_on_64_bit);
    RUN(test_calloc_zeroes);
    RUN(test_realloc_null_and_zero);
    RUN(test_realloc_shrink_and_grow_in_place);
    RUN(test_realloc_grows_into_previous);
    RUN(test_realloc_moved_down_old_pointer_is_double_free);
    RUN(test_realloc_moves_and_keeps_caps);
    RUN(test_realloc_failures_leave_the_block);
    RUN(test_free_null);
#if CAPHEAP_CHECK_LEVEL >= 1
    RUN(test_free_foreign_pointers);
    RUN(test_free_pointers_inside_region_not_blocks);
    RUN(test_forged_header_unmarked_successor_is_invalid);
#if CAPHEAP_CHECK_LEVEL >= 2
    RUN(test_level2_catches_forged_interior_header);
#endif
    RUN(test_double_free);
    RUN(test_last_block_of_region);
    RUN(test_bad_pointers_through_every_call);
    RUN(test_reentry_is_reported_not_deadlocked);
    RUN(test_reentry_refuses_every_call);
#endif
    RUN(test_lock_hooks_balanced);
    RUN(test_handler_may_call_heap_and_can_be_removed);
    RUN(test_handler_runs_after_the_lock_is_released);
    RUN(test_refused_lock_fails_every_call);
    RUN(test_statistics);
    RUN(test_caps_stats);
    RUN(test_byte_totals_pass_4_gib);
    RUN(test_path_stats);
#if CAPHEAP_SL_BITS == 0
    RUN(test_fit_policy_one_class_per_octave);
#endif
    RUN(test_null_heap_arguments);
    RUN(test_strerror);
    RUN(test_walk);
    RUN(test_check_and_walk_bad_arguments);
    RUN(test_argument_errors_are_counted_and_reported);
#if CAPHEAP_CHECK_LEVEL >= 1
    RUN(test_handler_of_a_refused_call_is_not_re_entered);
#endif
    RUN(test_handle_realloc_keeps_caps_and_refuses_bad_pointers);
    RUN(test_handle_realloc_grows_in_place_when_aligned);
    RUN(test_handles_without_a_heap);
    RUN(test_handle_realloc_beside_a_free_block_sweep);
#if CAPHEAP_GLOBAL
    RUN(test_global_heap_macros_and_handles);
#endif
    return t_summary();
}
