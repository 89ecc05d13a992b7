/*
 * Tracing (CAPHEAP_TRACE 1): one test or more per sentence of capheap.h about
 * capheap_set_trace and its events, and a leak tracer built on the hook whose
 * book must agree with the heap's own walk after many random calls. Built only
 * in the trace variant; the other tests also run there.
 */
#include "test.h"

#if !CAPHEAP_TRACE
#error "test_trace is built with CAPHEAP_TRACE=1"
#endif

#define KIB 1024u
static _Alignas(4096) unsigned char mem_a[64 * KIB];
static _Alignas(4096) unsigned char mem_b[64 * KIB];
static capheap_heap_t H;
static err_log_t LOG;

/* The events the hook saw. */
#define MAX_EV 64
static capheap_trace_event_t ev[MAX_EV];
static int nev;
static int reentry_rc; /* what a call into the heap from the hook returned */
static int try_reentry;

static void hook(capheap_heap_t *h, const capheap_trace_event_t *e, void *ctx)
{
    CHECK_EQ((uintptr_t)ctx, 0x1234u);
    if (try_reentry) {
        capheap_stats_t s;
        reentry_rc = capheap_get_stats(h, &s);
    }
    if (nev < MAX_EV) ev[nev] = *e;
    nev++;
}

static void fresh(void)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    (void)capheap_add_region(&H, mem_a, sizeof mem_a, CAPHEAP_CAPS_INTERNAL);
    (void)capheap_add_region(&H, mem_b, sizeof mem_b, CAPHEAP_CAPS_EXTERNAL | CAPHEAP_CAP_DMA);
    capheap_set_trace(&H, hook, (void *)(uintptr_t)0x1234u);
    nev = 0;
    try_reentry = 0;
}

/* The last event is exactly this one, and it is the n-th. */
#define CHECK_EVENT(N, OP, PTR, OLD, SIZE, CAPS)                                 \
    do {                                                                         \
        CHECK_EQ(nev, (N));                                                      \
        CHECK_EQ(ev[(N) - 1].op, (OP));                                          \
        CHECK(ev[(N) - 1].ptr == (void *)(PTR));                                 \
        CHECK(ev[(N) - 1].old_ptr == (void *)(OLD));                             \
        CHECK_EQ(ev[(N) - 1].size, (SIZE));                                      \
        CHECK_EQ(ev[(N) - 1].caps, (CAPS));                                      \
    } while (0)

static void test_every_allocation_call_is_traced(void)
{
    fresh();
    void *a = capheap_alloc(&H, 100);
    CHECK(a != NULL);
    CHECK_EVENT(1, CAPHEAP_TRACE_ALLOC, a, NULL, 100, 0);
    void *b = capheap_alloc_caps(&H, 200, CAPHEAP_CAP_DMA); /* the second region */
    CHECK(b != NULL && (unsigned char *)b >= mem_b);
    CHECK_EVENT(2, CAPHEAP_TRACE_ALLOC, b, NULL, 200, CAPHEAP_CAP_DMA);
    void *c = capheap_aligned_alloc(&H, 256, 10);
    CHECK(c != NULL);
    CHECK_EVENT(3, CAPHEAP_TRACE_ALLOC, c, NULL, 10, 0);
    void *d = capheap_calloc_caps(&H, 7, 9, CAPHEAP_CAP_INTERNAL);
    CHECK(d != NULL);
    CHECK_EVENT(4, CAPHEAP_TRACE_ALLOC, d, NULL, 63, CAPHEAP_CAP_INTERNAL);
    /* the preference list: the caps of the entry that was served */
    uint32_t prefs[] = {CAPHEAP_CAP_TCM, CAPHEAP_CAP_EXTERNAL};
    void *e = capheap_alloc_prefer(&H, 50, prefs, 2);
    CHECK(e != NULL && (unsigned char *)e >= mem_b);
    CHECK_EVENT(5, CAPHEAP_TRACE_ALLOC, e, NULL, 50, CAPHEAP_CAP_EXTERNAL);
    void *f = capheap_realloc(&H, NULL, 30); /* realloc(NULL, n) allocates */
    CHECK(f != NULL);
    CHECK_EVENT(6, CAPHEAP_TRACE_ALLOC, f, NULL, 30, 0);
    CHECK_EQ(LOG.count, 0);
}

static void test_free_and_realloc_are_traced(void)
{
    fresh();
    unsigned char *a = capheap_alloc(&H, 100);
    unsigned char *blocker = capheap_alloc(&H, 100);
    CHECK(a && blocker);
    CHECK_EQ(nev, 2);
    /* shrinking stays in place: old_ptr == ptr */
    void *s = capheap_realloc(&H, a, 20);
    CHECK(s == a);
    CHECK_EVENT(3, CAPHEAP_TRACE_REALLOC, a, a, 20, 0);
    /* growing past the used neighbour moves: a new ptr */
    void *m = capheap_realloc_caps(&H, s, 3000, CAPHEAP_CAP_INTERNAL);
    CHECK(m != NULL && m != s);
    CHECK_EVENT(4, CAPHEAP_TRACE_REALLOC, m, s, 3000, CAPHEAP_CAP_INTERNAL);
    CHECK_EQ(capheap_free(&H, blocker), CAPHEAP_OK);
    CHECK_EVENT(5, CAPHEAP_TRACE_FREE, blocker, NULL, 0, 0);
    /* realloc(p, 0) frees */
    CHECK(capheap_realloc(&H, m, 0) == NULL);
    CHECK_EVENT(6, CAPHEAP_TRACE_FREE, m, NULL, 0, 0);
    CHECK_EQ(LOG.count, 0);
}

static void test_handles_are_traced(void)
{
    fresh();
    capheap_allocator_t dma = {&H, CAPHEAP_CAP_DMA, 64};
    void *p = capheap_allocator_alloc(&dma, 40);
    CHECK(p != NULL && ((uintptr_t)p & 63u) == 0u);
    CHECK_EVENT(1, CAPHEAP_TRACE_ALLOC, p, NULL, 40, CAPHEAP_CAP_DMA);
    void *q = capheap_allocator_realloc(&dma, p, 4000);
    CHECK(q != NULL);
    CHECK_EVENT(2, CAPHEAP_TRACE_REALLOC, q, p, 4000, CAPHEAP_CAP_DMA);
    CHECK_EQ(capheap_allocator_free(&dma, q), CAPHEAP_OK);
    CHECK_EVENT(3, CAPHEAP_TRACE_FREE, q, NULL, 0, 0);
}

static void test_failures_are_not_traced(void)
{
    fresh();
    void *a = capheap_alloc(&H, 100);
    CHECK_EQ(nev, 1);
    CHECK(capheap_alloc(&H, 1u << 20) == NULL);                   /* NOMEM */
    CHECK(capheap_alloc_caps(&H, 8, CAPHEAP_CAP_TCM) == NULL);     /* NO_CAPS */
    CHECK(capheap_alloc(&H, SIZE_MAX) == NULL);                    /* SIZE_OVERFLOW */
    CHECK(capheap_aligned_alloc(&H, 3, 8) == NULL);                /* BAD_ALIGN */
    CHECK(capheap_calloc(&H, SIZE_MAX / 2, 4) == NULL);            /* overflow */
    CHECK(capheap_realloc(&H, a, 1u << 20) == NULL);               /* NOMEM, a stays */
    CHECK_EQ(capheap_free(&H, NULL), CAPHEAP_OK);                  /* nothing to free */
    CHECK_EQ(nev, 1);
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK_EQ(capheap_free(&H, mem_a + 1), CAPHEAP_E_INVALID_PTR);
    CHECK_EQ(capheap_free(&H, &nev), CAPHEAP_E_FOREIGN_PTR);
    CHECK(capheap_realloc(&H, &nev, 8) == NULL);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EQ(nev, 2);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_E_DOUBLE_FREE);
    CHECK_EQ(nev, 2);
#endif
}

/* The hook runs with the lock held: a call into the heap is refused. */
static void test_hook_must_not_call_the_heap(void)
{
#if CAPHEAP_CHECK_LEVEL >= 1
    fresh();
    try_reentry = 1;
    reentry_rc = 0;
    void *a = capheap_alloc(&H, 10);
    CHECK(a != NULL);
    CHECK_EQ(reentry_rc, CAPHEAP_E_REENTRY);
    try_reentry = 0;
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_HEAP(&H);
#endif
}

/* "Calls that fail (NULL, an error code) ... are not traced": also calls the
 * lock refuses (REENTRY; realloc(p, 0) then frees nothing), a handle with an
 * alignment that is not a power of two, a preference list that fails, and a
 * bad pointer given to realloc(p, 0) or usable_size. */
static int refuse_next;
static uintptr_t refusing_lock(void *ctx)
{
    (void)ctx;
    if (refuse_next) {
        refuse_next = 0;
        return CAPHEAP_LOCK_FAILED;
    }
    return 1u;
}
static void plain_unlock(void *ctx, uintptr_t token)
{
    (void)ctx;
    (void)token;
}

static void test_refused_and_bad_calls_are_not_traced(void)
{
    fresh();
    unsigned char *a = capheap_alloc(&H, 100);
    CHECK(a != NULL);
    CHECK_EQ(nev, 1);
    capheap_set_lock(&H, refusing_lock, plain_unlock, NULL);
    refuse_next = 1;
    CHECK(capheap_alloc(&H, 8) == NULL);
    refuse_next = 1;
    CHECK(capheap_calloc(&H, 2, 8) == NULL);
    refuse_next = 1;
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_E_REENTRY);
    refuse_next = 1;
    CHECK(capheap_realloc(&H, a, 300) == NULL);
    refuse_next = 1;
    CHECK(capheap_realloc(&H, a, 0) == NULL);
    CHECK_EQ(nev, 1);
    CHECK_EQ(LOG.count, 5);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_REENTRY);
    capheap_allocator_t odd = {&H, 0, 96};
    CHECK(capheap_allocator_alloc(&odd, 8) == NULL);
    CHECK(capheap_allocator_realloc(&odd, a, 300) == NULL);
    const uint32_t none[] = {CAPHEAP_CAP_TCM};
    CHECK(capheap_alloc_prefer(&H, 8, none, 1) == NULL);
    CHECK_EQ(LOG.count, 8);
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK(capheap_realloc(&H, a + 1, 0) == NULL);
    CHECK_EQ(capheap_usable_size(&H, a + 1), 0);
    CHECK_EQ(LOG.count, 10);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_INVALID_PTR);
#endif
    CHECK_EQ(nev, 1);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK); /* still allocated: its free is traced */
    CHECK_EVENT(2, CAPHEAP_TRACE_FREE, a, NULL, 0, 0);
    capheap_set_lock(&H, NULL, NULL, NULL);
    CHECK_HEAP(&H);
}

/* "The hook must not call into the same heap (at CAPHEAP_CHECK_LEVEL >= 1
 * such a call fails with CAPHEAP_E_REENTRY ...)": an allocation and a free
 * from the hook fail, are counted and reported like any error, are not
 * failed allocations, and are not traced themselves. */
#if CAPHEAP_CHECK_LEVEL >= 1
static int inner_alloc_null, inner_free_rc;
static void reentering_hook(capheap_heap_t *h, const capheap_trace_event_t *e, void *ctx)
{
    hook(h, e, ctx);
    inner_alloc_null = capheap_alloc(h, 8) == NULL;
    inner_free_rc = capheap_free(h, e->ptr);
}
#endif

static void test_calls_from_the_hook_fail_untraced(void)
{
#if CAPHEAP_CHECK_LEVEL >= 1
    fresh();
    capheap_set_trace(&H, reentering_hook, (void *)(uintptr_t)0x1234u);
    inner_alloc_null = 0;
    inner_free_rc = 0;
    void *a = capheap_alloc(&H, 10);
    CHECK(a != NULL);
    CHECK_EVENT(1, CAPHEAP_TRACE_ALLOC, a, NULL, 10, 0); /* the inner calls added none */
    CHECK(inner_alloc_null);
    CHECK_EQ(inner_free_rc, CAPHEAP_E_REENTRY);
    CHECK_EQ(LOG.count, 2);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_REENTRY);
    CHECK(LOG.last.ptr == a);
    capheap_stats_t s;
    CHECK_EQ(capheap_get_stats(&H, &s), CAPHEAP_OK);
    CHECK_EQ(s.error_count[-CAPHEAP_E_REENTRY], 2);
    CHECK_EQ(s.fail_count, 0);
    capheap_set_trace(&H, hook, (void *)(uintptr_t)0x1234u);
    CHECK(capheap_usable_size(&H, a) >= 10); /* the inner free did not free it */
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EVENT(2, CAPHEAP_TRACE_FREE, a, NULL, 0, 0);
    CHECK_HEAP(&H);
#endif
}

static void test_no_hook_and_removed_hook(void)
{
    fresh();
    capheap_set_trace(&H, NULL, NULL);
    void *a = capheap_alloc(&H, 10);
    CHECK(a != NULL);
    CHECK_EQ(capheap_free(&H, a), CAPHEAP_OK);
    CHECK_EQ(nev, 0);
    capheap_set_trace(NULL, hook, NULL); /* does nothing */
    /* another heap's calls do not reach this heap's hook; a zero heap has none */
    capheap_set_trace(&H, hook, (void *)(uintptr_t)0x1234u);
    static _Alignas(4096) unsigned char mem_z[8 * KIB];
    capheap_heap_t z = CAPHEAP_HEAP_INIT;
    CHECK(capheap_add_region(&z, mem_z, sizeof mem_z, 0) == CAPHEAP_OK);
    void *b = capheap_alloc(&z, 10);
    CHECK(b != NULL);
    CHECK_EQ(capheap_free(&z, b), CAPHEAP_OK);
    CHECK_EQ(nev, 0);
    capheap_init(&z); /* and capheap_init removes a hook */
    capheap_set_trace(&z, hook, (void *)(uintptr_t)0x1234u);
    capheap_init(&z);
    CHECK(capheap_add_region(&z, mem_z, sizeof mem_z, 0) == CAPHEAP_OK);
    CHECK(capheap_alloc(&z, 10) != NULL);
    CHECK_EQ(nev, 0);
}

/* With lock hooks the calls take their locked paths: traced the same way,
 * inside the lock. */
static int locked, lock_depth_at_event;
static uintptr_t lk(void *ctx)
{
    (void)ctx;
    locked++;
    return 7u;
}
static void unlk(void *ctx, uintptr_t tok)
{
    (void)ctx;
    (void)tok;
    locked--;
}
static void depth_hook(capheap_heap_t *h, const capheap_trace_event_t *e, void *ctx)
{
    lock_depth_at_event = locked;
    hook(h, e, ctx);
}

static void test_traced_under_lock_hooks(void)
{
    fresh();
    capheap_set_lock(&H, lk, unlk, NULL);
    capheap_set_trace(&H, depth_hook, (void *)(uintptr_t)0x1234u);
    lock_depth_at_event = 0;
    void *a = capheap_alloc(&H, 40);
    CHECK_EVENT(1, CAPHEAP_TRACE_ALLOC, a, NULL, 40, 0);
    CHECK_EQ(lock_depth_at_event, 1);
    void *b = capheap_alloc_caps(&H, 40, CAPHEAP_CAP_EXTERNAL); /* not the first region */
    CHECK_EVENT(2, CAPHEAP_TRACE_ALLOC, b, NULL, 40, CAPHEAP_CAP_EXTERNAL);
    void *c = capheap_realloc(&H, a, 80);
    CHECK_EVENT(3, CAPHEAP_TRACE_REALLOC, c, a, 80, 0);
    CHECK_EQ(capheap_free(&H, c), CAPHEAP_OK);
    CHECK_EVENT(4, CAPHEAP_TRACE_FREE, c, NULL, 0, 0);
    CHECK_EQ(lock_depth_at_event, 1);
    CHECK_EQ(capheap_free(&H, b), CAPHEAP_OK);
    CHECK_EVENT(5, CAPHEAP_TRACE_FREE, b, NULL, 0, 0);
    CHECK_EQ(locked, 0);
}

/* ---- a leak tracer on the hook: its book must be the heap's used blocks ---- */
#define SLOTS 300
typedef struct book {
    void *p[4 * SLOTS];
    size_t size[4 * SLOTS];
    size_t n;
    int errors;
} book_t;
static book_t BOOK;

static size_t book_find(const void *p)
{
    for (size_t i = 0; i < BOOK.n; i++)
        if (BOOK.p[i] == p) return i;
    return SIZE_MAX;
}

static void book_add(void *p, size_t size)
{
    if (book_find(p) != SIZE_MAX || BOOK.n == 4 * SLOTS) {
        BOOK.errors++;
        return;
    }
    BOOK.p[BOOK.n] = p;
    BOOK.size[BOOK.n++] = size;
}

static void book_remove(void *p)
{
    size_t i = book_find(p);
    if (i == SIZE_MAX) {
        BOOK.errors++;
        return;
    }
    BOOK.p[i] = BOOK.p[--BOOK.n];
    BOOK.size[i] = BOOK.size[BOOK.n];
}

static void tracer(capheap_heap_t *h, const capheap_trace_event_t *e, void *ctx)
{
    (void)h;
    (void)ctx;
    switch (e->op) {
    case CAPHEAP_TRACE_ALLOC: book_add(e->ptr, e->size); break;
    case CAPHEAP_TRACE_FREE: book_remove(e->ptr); break;
    case CAPHEAP_TRACE_REALLOC:
        book_remove(e->old_ptr);
        book_add(e->ptr, e->size);
        break;
    default: BOOK.errors++;
    }
}

typedef struct walked {
    size_t used, unknown, too_small;
} walked_t;

static bool walk_cb(const capheap_block_info_t *b, void *ctx)
{
    walked_t *w = ctx;
    if (!b->used) return true;
    w->used++;
    size_t i = book_find(b->ptr);
    if (i == SIZE_MAX) w->unknown++;
    else if (b->size < BOOK.size[i]) w->too_small++;
    return true;
}

static void test_leak_tracer_agrees_with_the_heap(void)
{
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    (void)capheap_add_region(&H, mem_a, sizeof mem_a, CAPHEAP_CAPS_INTERNAL);
    (void)capheap_add_region(&H, mem_b, sizeof mem_b, CAPHEAP_CAPS_EXTERNAL);
    BOOK.n = 0;
    BOOK.errors = 0;
    capheap_set_trace(&H, tracer, NULL);
    void *slot[SLOTS] = {0};
    rng_t r = {0x9E3779B97F4A7C15ull};
    for (int step = 0; step < 40000; step++) {
        uint32_t k = rng_below(&r, SLOTS), sz = 1u + rng_below(&r, 600);
        switch (rng_below(&r, 6)) {
        case 0:
        case 1:
            if (slot[k] == NULL) slot[k] = capheap_alloc(&H, sz);
            else if (capheap_free(&H, slot[k]) == CAPHEAP_OK) slot[k] = NULL;
            break;
        case 2: {
            void *p = capheap_realloc(&H, slot[k], sz);
            if (p != NULL) slot[k] = p;
            break;
        }
        case 3:
            if (slot[k] == NULL) slot[k] = capheap_aligned_alloc(&H, (size_t)8 << rng_below(&r, 6), sz);
            break;
        case 4:
            if (slot[k] == NULL) slot[k] = capheap_calloc_caps(&H, 1 + sz % 8, 16, CAPHEAP_CAP_EXTERNAL);
            break;
        default:
            if (slot[k] != NULL) {
                void *p = capheap_realloc(&H, slot[k], 0);
                CHECK(p == NULL);
                slot[k] = NULL;
            }
        }
    }
    CHECK_EQ(BOOK.errors, 0);
    size_t live = 0;
    for (int k = 0; k < SLOTS; k++) live += slot[k] != NULL;
    CHECK_EQ(BOOK.n, live);
    walked_t w = {0, 0, 0};
    CHECK_EQ(capheap_walk(&H, walk_cb, &w), CAPHEAP_OK);
    CHECK_EQ(w.used, live);     /* every used block is in the book ... */
    CHECK_EQ(w.unknown, 0);     /* ... under its own pointer ... */
    CHECK_EQ(w.too_small, 0);   /* ... at least as large as requested */
    for (int k = 0; k < SLOTS; k++)
        if (slot[k] != NULL) CHECK_EQ(capheap_free(&H, slot[k]), CAPHEAP_OK);
    CHECK_EQ(BOOK.n, 0); /* no leak left */
    CHECK_HEAP(&H);
}

int main(void)
{
    printf("capheap tracing tests: CHECK_LEVEL=%d STATS=%d, %u-bit\n", CAPHEAP_CHECK_LEVEL,
           CAPHEAP_STATS, (unsigned)(sizeof(void *) * 8));
    RUN(test_every_allocation_call_is_traced);
    RUN(test_free_and_realloc_are_traced);
    RUN(test_handles_are_traced);
    RUN(test_failures_are_not_traced);
    RUN(test_hook_must_not_call_the_heap);
    RUN(test_refused_and_bad_calls_are_not_traced);
    RUN(test_calls_from_the_hook_fail_untraced);
    RUN(test_traced_under_lock_hooks);
    RUN(test_no_hook_and_removed_hook);
    RUN(test_leak_tracer_agrees_with_the_heap);
    return t_summary();
}
