/*
 * Randomized model test. A seeded sequence of operations (alloc, alloc with
 * caps, aligned, calloc, realloc with and without caps, free, regions added
 * mid-run) runs against a heap of several regions with different
 * capabilities and sizes, including tiny ones. The test keeps its own book of
 * every live block and after EVERY operation:
 *   - runs capheap_check (the invariant checker);
 *   - checks each new pointer for alignment, the capabilities of the region
 *     that holds it, containment in that region and non-overlap with every
 *     other live block;
 *   - checks the heap's used bytes against its own book.
 * Every block is filled with a pattern derived from its address and size and
 * verified before it is freed or resized. The seed is printed; rerun with
 * --seed N to replay a failure, --ops N to change the length.
 *
 * Usage: test_model [--seed N] [--ops N]
 */
#include "test.h"

#define MAX_LIVE 600
#define MAX_REGIONS 8

typedef struct live {
    unsigned char *p;
    size_t n;       /* requested bytes (pattern length) */
    size_t us;      /* usable size the heap reported */
    uint64_t key;   /* pattern key */
    uint32_t caps;  /* capabilities the block must keep */
    size_t align;
} live_t;

typedef struct region_def {
    size_t size;
    uint32_t caps;
    int prio;
    unsigned add_at_op; /* 0: at start */
} region_def_t;

static _Alignas(64) unsigned char arena[1536 * 1024];

static region_def_t defs[] = {
    {0 /* set at run time: a few blocks */, CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_TCM, 3, 0},                 /* tiny */
    {4 * 1024 + 3, CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_DMA, 2, 0},        /* small, odd */
    {64 * 1024, CAPHEAP_CAPS_INTERNAL, 0, 0},
    {16 * 1024, CAPHEAP_CAP_32BIT | CAPHEAP_CAP_EXEC, 5, 0},               /* 32-bit only */
    {512 * 1024, CAPHEAP_CAPS_EXTERNAL, -1, 0},
    {2 * 1024, CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_USER(1), 0, 1},        /* added mid-run */
    {256 * 1024, CAPHEAP_CAPS_EXTERNAL | CAPHEAP_CAP_DMA, -1, 2},         /* added mid-run */
};
#define NDEFS (sizeof defs / sizeof defs[0])

static const uint32_t caps_choices[] = {
    0, 0, 0, CAPHEAP_CAP_INTERNAL, CAPHEAP_CAP_EXTERNAL, CAPHEAP_CAP_DMA,
    CAPHEAP_CAP_INTERNAL | CAPHEAP_CAP_DMA, CAPHEAP_CAP_EXEC, CAPHEAP_CAP_TCM,
    CAPHEAP_CAP_USER(1), CAPHEAP_CAP_USER(7) /* never present: NO_CAPS */,
};

static capheap_heap_t H;
static live_t live[MAX_LIVE];
static t_region_t reg[MAX_REGIONS];
static size_t nreg;
static err_log_t LOG;
static unsigned long long n_alloc, n_fail, n_realloc, n_free, n_checks;

static void refresh_regions(void)
{
    capheap_stats_t s;
    (void)capheap_get_stats(&H, &s);
    nreg = s.region_count;
    for (size_t i = 0; i < nreg; i++) {
        capheap_region_stats_t rs;
        (void)capheap_get_region_stats(&H, i, &rs);
        reg[i].lo = rs.start;
        reg[i].hi = (unsigned char *)rs.start + rs.span;
        reg[i].caps = rs.caps;
    }
}

static size_t draw_size(rng_t *r)
{
    uint32_t k = rng_below(r, 100);
    if (k < 50) return rng_below(r, 64);
    if (k < 85) return 64 + rng_below(r, 512);
    if (k < 97) return 512 + rng_below(r, 8192);
    return 8192 + rng_below(r, 100000); /* sometimes only external RAM fits */
}

/* Returns NULL if fine, else what is wrong with the new block. */
static const char *vet(size_t slot, const unsigned char *p, size_t n, size_t align, uint32_t caps)
{
    size_t us = 0;
    const char *bad = t_vet_block(&H, reg, nreg, p, n, align, caps, &us);
    if (bad != NULL) return bad;
    for (size_t j = 0; j < MAX_LIVE; j++) {
        if (j == slot || live[j].p == NULL) continue;
        if (p < live[j].p + live[j].us && live[j].p < p + us) return "blocks overlap";
    }
    return NULL;
}

static size_t book_used(void)
{
    size_t sum = 0;
    for (size_t j = 0; j < MAX_LIVE; j++)
        if (live[j].p) {
            if (capheap_usable_size(&H, live[j].p) != live[j].us) return 0;
            sum += live[j].us + CAPHEAP_HEADER_SIZE;
        }
    return sum;
}

#define FAIL_AT(op, what)                                                              \
    do {                                                                               \
        fprintf(stderr, "  op %lu: %s\n", (unsigned long)(op), (what));               \
        t_fail(__FILE__, __LINE__, what, 0, 0, 0);                                     \
        return;                                                                        \
    } while (0)

static unsigned long long g_seed;
static unsigned long g_ops;

static void test_random_operations(void)
{
    rng_t r = {g_seed * 0x9E3779B97F4A7C15ull + 1};
    /* The tiny region holds a handful of minimum blocks whatever the options. */
    size_t tiny = 64;
    while (capheap_region_overhead(tiny) >= tiny) tiny += 8;
    defs[0].size = tiny + 4 * CAPHEAP_MIN_BLOCK;
    memset(live, 0, sizeof live);
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    size_t off = 0;
    size_t next_def = 0;
    for (; next_def < NDEFS && defs[next_def].add_at_op == 0; next_def++) {
        CHECK_EQ(capheap_add_region_ex(&H, arena + off + (next_def & 1), defs[next_def].size,
                                       defs[next_def].caps, defs[next_def].prio, NULL),
                 CAPHEAP_OK);
        off += (defs[next_def].size + 64) & ~(size_t)63;
    }
    refresh_regions();

    for (unsigned long op = 0; op < g_ops; op++) {
        /* regions added mid-run, at 1/3 and 2/3 */
        if (next_def < NDEFS && op == g_ops / 3 * defs[next_def].add_at_op) {
            CHECK_EQ(capheap_add_region_ex(&H, arena + off, defs[next_def].size,
                                           defs[next_def].caps, defs[next_def].prio, NULL),
                     CAPHEAP_OK);
            off += (defs[next_def].size + 64) & ~(size_t)63;
            next_def++;
            refresh_regions();
        }
        size_t slot = rng_below(&r, MAX_LIVE);
        live_t *L = &live[slot];
        uint32_t kind = rng_below(&r, 100);
        if (L->p == NULL) {
            size_t n = draw_size(&r);
            uint32_t caps = caps_choices[rng_below(&r, sizeof caps_choices / sizeof caps_choices[0])];
            size_t align = 0;
            unsigned char *p;
            if (kind < 15) {
                align = (size_t)1 << rng_below(&r, 13); /* 1 .. 4096 */
                p = capheap_aligned_alloc_caps(&H, align, n, caps);
            } else if (kind < 25) {
                p = capheap_calloc_caps(&H, 1 + n / 8, 8, caps);
                if (p) {
                    for (size_t i = 0; i < 1 + n / 8 * 8; i++)
                        if (p[i] != 0) FAIL_AT(op, "calloc memory not zero");
                    n = (1 + n / 8) * 8;
                }
            } else if (kind < 30) {
                p = capheap_realloc_caps(&H, NULL, n, caps);
            } else {
                p = capheap_alloc_caps(&H, n, caps);
            }
            if (p == NULL) {
                n_fail++;
                if (LOG.last.code != CAPHEAP_E_NOMEM && LOG.last.code != CAPHEAP_E_NO_CAPS)
                    FAIL_AT(op, "allocation failed with an unexpected error");
            } else {
                n_alloc++;
                const char *bad = vet(slot, p, n, align, caps);
                if (bad) FAIL_AT(op, bad);
                L->p = p;
                L->us = capheap_usable_size(&H, p);
                L->n = n;
                L->caps = caps;
                L->align = align;
                L->key = t_key(p, n);
                t_fill_key(p, n, L->key);
            }
        } else if (kind < 30) {
            /* realloc: keep the block's capabilities */
            if (!t_verify_key(L->p, L->n, L->key)) FAIL_AT(op, "block content damaged");
            size_t n = draw_size(&r);
            unsigned char *q = capheap_realloc_caps(&H, L->p, n, L->caps);
            if (q == NULL) {
                if (n == 0) {
                    L->p = NULL; /* size 0 freed it */
                } else {
                    n_fail++;
                    if (!t_verify_key(L->p, L->n, L->key)) FAIL_AT(op, "failed realloc damaged block");
                }
            } else {
                n_realloc++;
                size_t keep = L->n < n ? L->n : n;
                if (!t_verify_key(q, keep, L->key)) FAIL_AT(op, "realloc lost the contents");
                L->p = NULL; /* exclude itself from the overlap scan */
                const char *bad = vet(slot, q, n, 0, L->caps);
                if (bad) FAIL_AT(op, bad);
                L->p = q;
                L->us = capheap_usable_size(&H, q);
                L->n = n;
                L->align = 0;
                L->key = t_key(q, n) ^ 0x5555;
                t_fill_key(q, n, L->key);
            }
        } else {
            if (!t_verify_key(L->p, L->n, L->key)) FAIL_AT(op, "block content damaged before free");
            if (capheap_free(&H, L->p) != CAPHEAP_OK) FAIL_AT(op, "free of a live block failed");
            L->p = NULL;
            n_free++;
        }
        capheap_check_result_t cr;
        if (capheap_check(&H, &cr) != CAPHEAP_OK) {
            fprintf(stderr, "  checker: %s at %p\n", cr.first, (void *)(uintptr_t)cr.where);
            FAIL_AT(op, "invariant checker failed");
        }
        n_checks++;
        if (op % 64 == 0) {
            capheap_stats_t s;
            (void)capheap_get_stats(&H, &s);
            if (s.used != book_used()) FAIL_AT(op, "heap used bytes differ from the test's book");
            if (s.used + s.free != s.total_size) FAIL_AT(op, "used + free != total");
            /* the reported largest free block really is allocatable */
            if (s.largest_free > 0) {
                void *big = capheap_alloc(&H, s.largest_free);
                if (big == NULL) FAIL_AT(op, "largest_free is not allocatable");
                (void)capheap_free(&H, big);
            }
        }
    }
    for (size_t j = 0; j < MAX_LIVE; j++) {
        if (live[j].p == NULL) continue;
        CHECK(t_verify_key(live[j].p, live[j].n, live[j].key));
        CHECK_EQ(capheap_free(&H, live[j].p), CAPHEAP_OK);
        live[j].p = NULL;
    }
    capheap_stats_t s;
    CHECK_EQ(capheap_get_stats(&H, &s), CAPHEAP_OK);
    CHECK_EQ(s.used, 0);
    CHECK_EQ(s.region_count, NDEFS);
    /* bad input never happened in this run */
    CHECK_EQ(s.error_count[-CAPHEAP_E_INVALID_PTR] + s.error_count[-CAPHEAP_E_DOUBLE_FREE] +
                 s.error_count[-CAPHEAP_E_FOREIGN_PTR] + s.error_count[-CAPHEAP_E_CORRUPT],
             0);
    /* after everything is freed each region is one free block again */
    for (size_t i = 0; i < s.region_count; i++) {
        capheap_region_stats_t rs;
        CHECK_EQ(capheap_get_region_stats(&H, i, &rs), CAPHEAP_OK);
        CHECK_EQ(rs.largest_free + CAPHEAP_HEADER_SIZE, rs.size);
    }
    CHECK_HEAP(&H);
    CHECK(n_alloc > g_ops / 4 && n_free > g_ops / 8 && n_realloc > g_ops / 50);
}

int main(int argc, char **argv)
{
    g_seed = 20261125;
    g_ops = 2000000;
    for (int i = 1; i + 1 < argc; i++) { /* scan every word: some crt0s prepend their own */
        if (strcmp(argv[i], "--seed") == 0) g_seed = strtoull(argv[i + 1], NULL, 0);
        if (strcmp(argv[i], "--ops") == 0) g_ops = strtoul(argv[i + 1], NULL, 0);
    }
    printf("model test: seed %llu, %lu operations (replay: --seed %llu --ops %lu)\n", g_seed,
           g_ops, g_seed, g_ops);
    RUN(test_random_operations);
    printf("  allocations %llu, failed %llu, reallocs %llu, frees %llu, checks %llu\n", n_alloc,
           n_fail, n_realloc, n_free, n_checks);
    return t_summary();
}
