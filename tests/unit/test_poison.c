/*
 * Poisoning (CAPHEAP_POISON 1): one test or more per sentence of capheap.h's
 * CAPHEAP_POISON entry. Built only in the poison variants; the other tests
 * (core, model, fuzz, ...) also run there, with capheap_check verifying the
 * free-block pattern after their operations.
 *
 * The tests read freed memory: it is memory of their own static buffers,
 * which the heap manages, so the reads are defined.
 */
#include "test.h"

#if !CAPHEAP_POISON
#error "test_poison is built with CAPHEAP_POISON=1"
#endif

#define KIB 1024u
#define WD sizeof(uintptr_t)
#define FREED ((unsigned char)CAPHEAP_POISON_FREED)
#define NEWB ((unsigned char)CAPHEAP_POISON_NEW)

static _Alignas(4096) unsigned char mem[64 * KIB];
static capheap_heap_t H;
static err_log_t LOG;

static void fresh(size_t size)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    memset(mem, 0x11, sizeof mem); /* old contents the heap must not leak */
    (void)capheap_add_region(&H, mem, size, 0);
}

static uint32_t errors(int code)
{
    capheap_stats_t s;
    if (capheap_get_stats(&H, &s) != CAPHEAP_OK) return UINT32_MAX;
    return s.error_count[-code];
}

/* Bytes [lo, hi) all equal v? */
static int all(const unsigned char *lo, const unsigned char *hi, unsigned char v)
{
    for (; lo < hi; lo++)
        if (*lo != v) return 0;
    return 1;
}

/* The bytes of a free block a walk finds, between its links and its tag. */
typedef struct interior {
    size_t blocks, bytes, bad;
} interior_t;

static bool interior_cb(const capheap_block_info_t *b, void *ctx)
{
    interior_t *t = ctx;
    if (b->used) return true;
    /* b->size is the payload: the block is one header word more */
    const unsigned char *pl = (const unsigned char *)b->ptr;
    const unsigned char *lo = pl + 2 * WD, *hi = pl + b->size - WD;
    t->blocks++;
    if (hi > lo) {
        t->bytes += (size_t)(hi - lo);
        if (!all(lo, hi, FREED)) t->bad++;
    }
    return true;
}

/* Every free block's interior holds the pattern, seen from outside the core. */
static interior_t interiors(void)
{
    interior_t t = {0, 0, 0};
    (void)capheap_walk(&H, interior_cb, &t);
    return t;
}

/* ------------------------------------------------------------------ tests */
static void test_new_region_is_poisoned(void)
{
    fresh(16 * KIB);
    interior_t t = interiors();
    CHECK_EQ(t.blocks, 1);
    CHECK(t.bytes > 15 * KIB); /* the whole region but its control data */
    CHECK_EQ(t.bad, 0);
    CHECK_HEAP(&H);
}

static void test_allocation_hands_out_new_pattern(void)
{
    fresh(16 * KIB);
    size_t sizes[] = {0, 1, 7, 8, 24, 100, 1000, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = capheap_alloc(&H, sizes[i]);
        CHECK(p != NULL);
        size_t u = capheap_usable_size(&H, p);
        CHECK(u >= sizes[i]);
        CHECK(all(p, p + u, NEWB)); /* every usable byte, not the 0x11 that was there */
    }
    CHECK_EQ(interiors().bad, 0);
    CHECK_EQ(LOG.count, 0);
    CHECK_HEAP(&H);
}

static void test_calloc_is_zero_and_aligned_is_new(void)
{
    fresh(32 * KIB);
    unsigned char *z = capheap_calloc(&H, 10, 33);
    CHECK(z != NULL);
    CHECK(all(z, z + 330, 0));
    unsigned char *a = capheap_aligned_alloc(&H, 512, 300);
    CHECK(a != NULL && ((uintptr_t)a & 511u) == 0u);
    CHECK(all(a, a + capheap_usable_size(&H, a), NEWB));
    CHECK_EQ(interiors().bad, 0); /* the free block split off in front of it too */
    CHECK_EQ(LOG.count, 0);
    CHECK_HEAP(&H);
}

static void test_free_writes_freed_pattern(void)
{
    fresh(16 * KIB);
    unsigned char *a = capheap_alloc(&H, 200);
    unsigned char *b = capheap_alloc(&H, 200);
    unsigned char *c = capheap_alloc(&H, 200);
    CHECK(a && b && c);
    memset(b, 0x5A, 200);
    size_t u = capheap_usable_size(&H, b);
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK); /* neighbours used: no merge */
    /* links in the first two words, the boundary tag in the last: the rest is the pattern */
    CHECK(all(b + 2 * WD, b + u - WD, FREED));
    CHECK_EQ(interiors().bad, 0);
    CHECK_HEAP(&H);
}

static void test_merges_poison_the_headers_they_absorb(void)
{
    fresh(16 * KIB);
    unsigned char *p[6];
    for (int i = 0; i < 6; i++) {
        p[i] = capheap_alloc(&H, 96);
        CHECK(p[i] != NULL);
        memset(p[i], 0x77, 96);
    }
    CHECK_EQ(capheap_free(&H, p[1]), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, p[3]), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, p[2]), CAPHEAP_OK); /* merges with both neighbours */
    /* p[2]'s and p[3]'s headers and p[1]'s tag are inside the merged block now */
    unsigned char *hdr2 = p[2] - WD, *hdr3 = p[3] - WD;
    CHECK(all(hdr2 - WD, hdr2 + WD, FREED));
    CHECK(all(hdr3, hdr3 + 3 * WD, FREED));
    CHECK_EQ(interiors().bad, 0);
    CHECK_HEAP(&H);
    /* a stale header overwritten with the pattern still reads as free */
    CHECK_EQ(capheap_free(&H, p[2]), CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(capheap_free(&H, p[3]), CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_DOUBLE_FREE);
    CHECK_HEAP(&H);
}

static void test_write_after_free_found_by_check(void)
{
    fresh(16 * KIB);
    unsigned char *a = capheap_alloc(&H, 300);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(a && guard);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    a[150] = 0x42; /* use after free */
    capheap_check_result_t cr;
    CHECK_EQ(capheap_check(&H, &cr), CAPHEAP_E_CORRUPT);
    CHECK(cr.where == &a[150]);
    CHECK(cr.first != NULL && strstr(cr.first, "written after it was freed") != NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_CORRUPT);
    CHECK(LOG.last.ptr == &a[150]);
    CHECK_EQ(errors(CAPHEAP_E_CORRUPT), 1);
    a[150] = FREED; /* put back: the heap is sound again */
    CHECK_HEAP(&H);
}

/* The handler runs after the lock is released: it can call into the heap. */
static int handler_calls, handler_check_rc;
static void *handler_ptr;
static void reentering_handler(capheap_heap_t *h, const capheap_event_t *ev, void *ctx)
{
    (void)ctx;
    handler_calls++;
    if (ev->code != CAPHEAP_E_USE_AFTER_FREE) return;
    handler_ptr = ev->ptr;
    capheap_stats_t s;
    handler_check_rc = capheap_get_stats(h, &s);
}

static void test_write_after_free_found_by_allocation(void)
{
    fresh(16 * KIB);
    capheap_set_error_handler(&H, reentering_handler, NULL);
    handler_calls = 0;
    handler_ptr = NULL;
    handler_check_rc = 1;
    unsigned char *a = capheap_alloc(&H, 300);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(a && guard);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    a[40] = 0x00;
    a[41] = 0x00;
    unsigned char *again = capheap_alloc(&H, 300);
    CHECK(again == a); /* the same block, handed out anyway */
    CHECK_EQ(handler_calls, 1);
    CHECK(handler_ptr == &a[40]); /* the first byte that changed */
    CHECK_EQ(handler_check_rc, CAPHEAP_OK); /* not inside the heap any more */
    CHECK_EQ(errors(CAPHEAP_E_USE_AFTER_FREE), 1);
    CHECK(all(again, again + 300, NEWB)); /* refilled: the change is gone */
    CHECK_HEAP(&H);
    /* nothing changed the second time: no report */
    CHECK_EQ(capheap_free(&H, again), CAPHEAP_OK);
    CHECK(capheap_alloc(&H, 300) == a);
    CHECK_EQ(handler_calls, 1);
    CHECK_EQ(errors(CAPHEAP_E_USE_AFTER_FREE), 1);
    CHECK(strcmp(capheap_strerror(CAPHEAP_E_USE_AFTER_FREE), "freed memory written after free") == 0);
}

/* A change in the free block outside the bytes an allocation takes is not
 * that allocation's business (it stays free); capheap_check finds it. */
static void test_allocation_checks_only_what_it_takes(void)
{
    fresh(16 * KIB);
    unsigned char *a = capheap_alloc(&H, 2000);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(a && guard);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    a[1500] = 0x01;
    unsigned char *small = capheap_alloc(&H, 100);
    CHECK(small == a);
    CHECK_EQ(errors(CAPHEAP_E_USE_AFTER_FREE), 0);
    capheap_check_result_t cr;
    CHECK_EQ(capheap_check(&H, &cr), CAPHEAP_E_CORRUPT);
    CHECK(cr.where == &a[1500]);
}

static void test_realloc_in_place_keeps_contents_and_poisons_the_rest(void)
{
    fresh(16 * KIB);
    unsigned char *a = capheap_alloc(&H, 100);
    unsigned char *n = capheap_alloc(&H, 400);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(a && n && guard);
    memset(a, 0x33, 100);
    CHECK_EQ(capheap_free(&H, n), CAPHEAP_OK);
    /* grow into the free next block: same address, old bytes kept, new bytes NEW */
    size_t old_u = capheap_usable_size(&H, a);
    unsigned char *g = capheap_realloc(&H, a, 300);
    CHECK(g == a);
    CHECK(all(g, g + 100, 0x33));
    CHECK(all(g + old_u, g + capheap_usable_size(&H, g), NEWB));
    CHECK_EQ(interiors().bad, 0);
    CHECK_HEAP(&H);
    /* shrink: the freed tail is poisoned (and merged with the free rest) */
    unsigned char *s = capheap_realloc(&H, g, 40);
    CHECK(s == g);
    CHECK(all(s, s + 40, 0x33));
    CHECK_EQ(interiors().bad, 0);
    CHECK_EQ(LOG.count, 0);
    CHECK_HEAP(&H);
}

static void test_realloc_move_down_poisons_the_tail(void)
{
    fresh(16 * KIB);
    unsigned char *p = capheap_alloc(&H, 1000);
    unsigned char *a = capheap_alloc(&H, 100);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(p && a && guard);
    memset(a, 0x44, 100);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    /* the next block is used: growing moves a down into p's free block, and
     * the rest of p's block (with a's old bytes in it) stays free */
    unsigned char *m = capheap_realloc(&H, a, 200);
    CHECK(m == p);
    CHECK(all(m, m + 100, 0x44));
    /* a's slack (NEW since its allocation) moved with it, the rest is new */
    CHECK(all(m + 100, m + capheap_usable_size(&H, m), NEWB));
    CHECK_EQ(interiors().bad, 0);
    CHECK_EQ(LOG.count, 0);
    CHECK_HEAP(&H);
    /* the old pointer lies in the free tail: its header reads as free */
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_E_DOUBLE_FREE);
    CHECK_HEAP(&H);
}

static void test_realloc_move_checks_what_it_takes(void)
{
    fresh(16 * KIB);
    unsigned char *p = capheap_alloc(&H, 1000);
    unsigned char *a = capheap_alloc(&H, 100);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(p && a && guard);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    p[500] = 0x99; /* written after free; the move down takes that byte */
    unsigned char *m = capheap_realloc(&H, a, 800);
    CHECK(m == p);
    CHECK_EQ(errors(CAPHEAP_E_USE_AFTER_FREE), 1);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_USE_AFTER_FREE);
    CHECK(LOG.last.ptr == &p[500]);
    CHECK_HEAP(&H);
}

static void test_realloc_grow_checks_what_it_takes(void)
{
    fresh(16 * KIB);
    unsigned char *a = capheap_alloc(&H, 100);
    unsigned char *n = capheap_alloc(&H, 400);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(a && n && guard);
    CHECK_EQ(capheap_free(&H, n), CAPHEAP_OK);
    n[200] = 0x99; /* written after free; growing a in place takes that byte */
    CHECK(capheap_realloc(&H, a, 350) == a);
    CHECK_EQ(errors(CAPHEAP_E_USE_AFTER_FREE), 1);
    CHECK(LOG.last.ptr == &n[200]);
    CHECK_HEAP(&H);
}

/* Moving down into the free block before it and growing into the free
 * block after it: the bytes taken from the second are checked too. */
static void test_realloc_move_and_grow_checks_both_neighbours(void)
{
    fresh(16 * KIB);
    unsigned char *p = capheap_alloc(&H, 200);
    unsigned char *a = capheap_alloc(&H, 100);
    unsigned char *n = capheap_alloc(&H, 200);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(p && a && n && guard);
    memset(a, 0x44, 100);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    CHECK_EQ(capheap_free(&H, n), CAPHEAP_OK);
    n[100] = 0x98;
    unsigned char *m = capheap_realloc(&H, a, 450); /* a + n alone are too small */
    CHECK(m == p);
    CHECK(all(m, m + 100, 0x44));
    CHECK_EQ(errors(CAPHEAP_E_USE_AFTER_FREE), 1);
    CHECK(LOG.last.ptr == &n[100]);
    CHECK_EQ(interiors().bad, 0);
    CHECK_HEAP(&H);
}

/* ERRORS and CAPHEAP_POISON: a use after free is "passed to the error
 * handler with ptr = the first byte found changed (size and caps 0)", after
 * the lock is released, and the allocation "still succeeds" (no failure is
 * counted). Every allocation call checks what it takes: plain with caps,
 * calloc (then zeroes) and aligned_alloc. */
static int depth, depth_at_event;
static uintptr_t depth_lock(void *ctx)
{
    (void)ctx;
    depth++;
    return 1u;
}
static void depth_unlock(void *ctx, uintptr_t token)
{
    (void)ctx;
    (void)token;
    depth--;
}
static void depth_handler(capheap_heap_t *h, const capheap_event_t *ev, void *ctx)
{
    (void)h;
    err_log_t *log = ctx;
    log->count++;
    log->last = *ev;
    depth_at_event += depth;
}

/* Free the block at a, write one byte at a[off], take it back with the call;
 * the call returns a block holding that byte and reports it once. */
#define EXPECT_CAUGHT(CALL, OFF, N)                                             \
    do {                                                                        \
        CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);                              \
        a[(OFF)] = 0x00;                                                        \
        int cnt_ = LOG.count;                                                   \
        uint32_t uaf_ = errors(CAPHEAP_E_USE_AFTER_FREE);                       \
        unsigned char *got_ = (CALL);                                           \
        CHECK(got_ != NULL);                                                    \
        CHECK(&a[(OFF)] >= got_ && &a[(OFF)] < got_ + (N));                    \
        CHECK_EQ(LOG.count, cnt_ + 1);                                          \
        CHECK_EQ(LOG.last.code, CAPHEAP_E_USE_AFTER_FREE);                      \
        CHECK(LOG.last.ptr == &a[(OFF)]);                                       \
        CHECK_EQ(LOG.last.size, 0);                                             \
        CHECK_EQ(LOG.last.caps, 0);                                             \
        CHECK_EQ(errors(CAPHEAP_E_USE_AFTER_FREE), uaf_ + 1);                   \
        a = got_;                                                               \
    } while (0)

static void test_use_after_free_event_of_every_allocation_call(void)
{
    capheap_init(&H);
    memset(&LOG, 0, sizeof LOG);
    capheap_set_error_handler(&H, depth_handler, &LOG);
    memset(mem, 0x11, sizeof mem);
    CHECK_EQ(capheap_add_region(&H, mem, 16 * KIB, CAPHEAP_CAPS_INTERNAL), CAPHEAP_OK);
    capheap_set_lock(&H, depth_lock, depth_unlock, NULL);
    depth = depth_at_event = 0;
    unsigned char *a = capheap_alloc(&H, 300);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(a != NULL && guard != NULL);
    unsigned char *first = a;
    EXPECT_CAUGHT(capheap_alloc_caps(&H, 300, CAPHEAP_CAP_INTERNAL), 100, 300);
    EXPECT_CAUGHT(capheap_calloc_caps(&H, 30, 10, CAPHEAP_CAP_INTERNAL), 120, 300);
    CHECK(all(a, a + 300, 0)); /* zeroed after the check */
    EXPECT_CAUGHT(capheap_aligned_alloc(&H, CAPHEAP_ALIGN, 300), 140, 300);
    EXPECT_CAUGHT(capheap_realloc(&H, NULL, 300), 160, 300);
    CHECK(a == first); /* the same block every time */
    CHECK_EQ(depth_at_event, 0);
    CHECK_EQ(depth, 0);
    capheap_stats_t s;
    CHECK_EQ(capheap_get_stats(&H, &s), CAPHEAP_OK);
    CHECK_EQ(s.fail_count, 0);
    CHECK_EQ(LOG.count, 4);
    capheap_set_lock(&H, NULL, NULL, NULL);
    CHECK_HEAP(&H);
}

/* The report lists the new error by name. */
typedef struct sink {
    char buf[4096];
    size_t n;
} sink_t;
static void sink_write(void *ctx, const char *s, size_t n)
{
    sink_t *k = ctx;
    if (k->n + n >= sizeof k->buf) n = sizeof k->buf - 1 - k->n;
    memcpy(k->buf + k->n, s, n);
    k->n += n;
    k->buf[k->n] = 0;
}

static void test_report_names_the_error(void)
{
    fresh(16 * KIB);
    unsigned char *a = capheap_alloc(&H, 64);
    unsigned char *guard = capheap_alloc(&H, 16);
    CHECK(a && guard);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    a[30] = 0;
    CHECK(capheap_alloc(&H, 64) == a);
    sink_t k;
    k.n = 0;
    k.buf[0] = 0;
    capheap_report(&H, sink_write, &k);
    CHECK(strstr(k.buf, "freed memory written after free: 1") != NULL);
}

int main(void)
{
    printf("capheap poisoning tests: CHECK_LEVEL=%d STATS=%d, freed 0x%02X, new 0x%02X, %u-bit\n",
           CAPHEAP_CHECK_LEVEL, CAPHEAP_STATS, (unsigned)FREED, (unsigned)NEWB,
           (unsigned)(sizeof(void *) * 8));
    RUN(test_new_region_is_poisoned);
    RUN(test_allocation_hands_out_new_pattern);
    RUN(test_calloc_is_zero_and_aligned_is_new);
    RUN(test_free_writes_freed_pattern);
    RUN(test_merges_poison_the_headers_they_absorb);
    RUN(test_write_after_free_found_by_check);
    RUN(test_write_after_free_found_by_allocation);
    RUN(test_allocation_checks_only_what_it_takes);
    RUN(test_realloc_in_place_keeps_contents_and_poisons_the_rest);
    RUN(test_realloc_move_down_poisons_the_tail);
    RUN(test_realloc_move_checks_what_it_takes);
    RUN(test_realloc_grow_checks_what_it_takes);
    RUN(test_realloc_move_and_grow_checks_both_neighbours);
    RUN(test_use_after_free_event_of_every_allocation_call);
    RUN(test_report_names_the_error);
    return t_summary();
}
