/*
 * model_test.c - randomized model test of capheap, run on the target boards.
 *
 * One private heap with five regions of different capabilities and priorities: a small
 * "TCM" region tried first, a .bss region, a region in a custom linker section
 * (.dram2_uninit.model, placed by the board's linker script), a misaligned odd-sized range
 * (trimmed by add_region) and external RAM tried last. A seeded random sequence of
 * alloc / alloc_caps / aligned_alloc / calloc / realloc / realloc_caps / free / usable_size
 * runs against the test's own table of live blocks. After every operation:
 *   - capheap_check() passes;
 *   - every new block is aligned, lies inside a region that has the requested capabilities,
 *     overlaps no other live block, and has usable_size >= the request;
 *   - calloc memory is zero; realloc keeps the old contents;
 *   - a failed allocation is only NOMEM when no qualifying region reported a largest free
 *     block that would have served it, and NO_CAPS exactly when no region has the caps.
 * Every block is filled with a pattern derived from (address, size, serial) and verified
 * before it is freed or resized, and the whole table is re-verified periodically. Bad frees
 * (double, foreign, misaligned) are injected and must be reported without harm. At the end
 * everything is freed and the heap must be empty again.
 *
 * Usage (semihosting command line): model_test [seed] [steps]. Exit status 0 = pass.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capheap.h"
#include "target_args.h"
#include "target_rng.h"

#define SLOTS 192
#define DEFAULT_STEPS 20000u
#define FULL_VERIFY_EVERY 500u

/* ---- regions ---- */
#define TCM_SIZE (6u * 1024u)
#define BSS_SIZE (24u * 1024u)
#define SEC_SIZE 20000u
#define ODD_SIZE 3001u
#define EXT_SIZE (192u * 1024u)

#define CAP_TCM_SET (CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_TCM)
#define CAP_BSS_SET (CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_DMA)
#define CAP_SEC_SET (CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_USER(0))
#define CAP_ODD_SET (CAPHEAP_CAP_8BIT | CAPHEAP_CAP_USER(1))
#define CAP_EXT_SET (CAPHEAP_CAPS_EXTERNAL | CAPHEAP_CAP_DMA)

static _Alignas(8) unsigned char tcm_mem[TCM_SIZE];
static _Alignas(8) unsigned char bss_mem[BSS_SIZE];
static _Alignas(8) unsigned char sec_mem[SEC_SIZE] __attribute__((section(".dram2_uninit.model")));
static _Alignas(8) unsigned char odd_mem[ODD_SIZE + 8];
extern char __external_start[]; /* from the board's linker script */

static capheap_heap_t heap;

/* Capability sets the test asks for; the last two match no region. */
static const uint32_t cap_choices[] = {
    0u,
    0u,
    0u,
    CAPHEAP_CAP_INTERNAL,
    CAPHEAP_CAP_EXTERNAL,
    CAPHEAP_CAP_DMA,
    CAPHEAP_CAP_TCM,
    CAPHEAP_CAP_USER(0),
    CAPHEAP_CAP_USER(1),
    CAPHEAP_CAP_8BIT,
    CAPHEAP_CAP_INTERNAL | CAPHEAP_CAP_DMA,
    CAPHEAP_CAP_EXTERNAL | CAPHEAP_CAP_DMA,
    CAPHEAP_CAP_EXTERNAL | CAPHEAP_CAP_TCM,
    CAPHEAP_CAP_EXEC,
};
#define N_CAPS (sizeof cap_choices / sizeof cap_choices[0])

/* ---- the test's model ---- */
typedef struct slot {
    unsigned char *p;
    size_t size;     /* bytes requested (the pattern covers these) */
    size_t align;
    uint32_t caps;
    uint32_t serial; /* part of the pattern key: a reused address gets a new pattern */
} slot_t;

static slot_t slots[SLOTS];
static size_t live;
static uint32_t serial_counter;


static unsigned long step_no;
static int failed;

#define FAIL(...)                                                                                \
    do {                                                                                         \
        printf("FAIL at step %lu (line %d): ", step_no, __LINE__);                               \
        printf(__VA_ARGS__);                                                                     \
        printf("\n");                                                                            \
        failed = 1;                                                                              \
        return;                                                                                  \
    } while (0)

/* Last error the heap reported (through the handler). */
static int last_error;
static unsigned long errors_seen[CAPHEAP_ERROR_KINDS];
static void on_error(capheap_heap_t *h, const capheap_event_t *ev, void *ctx)
{
    (void)h;
    (void)ctx;
    last_error = ev->code;
    if (ev->code < 0 && -ev->code < CAPHEAP_ERROR_KINDS)
        errors_seen[-ev->code]++;
}

static unsigned char pattern(uintptr_t key, size_t i)
{
    uint32_t x = (uint32_t)key ^ (uint32_t)(i * 0x9E3779B1u);
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    return (unsigned char)x;
}
static uintptr_t key_of(const slot_t *s) { return (uintptr_t)s->p ^ (s->size << 7) ^ ((uintptr_t)s->serial << 19); }

static void fill(slot_t *s)
{
    uintptr_t k = key_of(s);
    for (size_t i = 0; i < s->size; i++)
        s->p[i] = pattern(k, i);
}
static size_t first_bad(const slot_t *s, size_t n)
{
    uintptr_t k = key_of(s);
    for (size_t i = 0; i < n; i++)
        if (s->p[i] != pattern(k, i))
            return i;
    return SIZE_MAX;
}

/* Region (by stats) holding [p, p+n), or -1. */
static int region_of(const void *p, size_t n, capheap_region_stats_t *out)
{
    capheap_region_stats_t rs;
    for (size_t i = 0; capheap_get_region_stats(&heap, i, &rs) == CAPHEAP_OK; i++) {
        uintptr_t a = (uintptr_t)p, lo = (uintptr_t)rs.start, hi = lo + rs.span;
        if (a >= lo && a < hi) {
            if (n > hi - a)
                return -2;
            if (out)
                *out = rs;
            return (int)i;
        }
    }
    return -1;
}

static bool caps_exist(uint32_t caps)
{
    capheap_region_stats_t rs;
    for (size_t i = 0; capheap_get_region_stats(&heap, i, &rs) == CAPHEAP_OK; i++)
        if ((rs.caps & caps) == caps)
            return true;
    return false;
}

/* capheap_get_caps_stats for caps must sum the regions the region
 * statistics name: n of them, used bytes in all, largest request best. */
static void check_caps_stats(uint32_t caps, size_t n, size_t used, size_t best)
{
    capheap_caps_stats_t cs;
    int rc = capheap_get_caps_stats(&heap, caps, &cs);
    if (rc != CAPHEAP_OK || cs.largest_free != best || cs.region_count != n || cs.used != used)
        FAIL("caps stats for 0x%" PRIx32 " (rc %d): %u regions, %u used, largest %u; regions say %u, %u, %u",
             caps, rc, (unsigned)cs.region_count, (unsigned)cs.used, (unsigned)cs.largest_free,
             (unsigned)n, (unsigned)used, (unsigned)best);
}

/* Largest request any region with caps promises to serve now, from the
 * region statistics (and capheap_get_caps_stats checked against them). */
static size_t largest_for(uint32_t caps)
{
    capheap_region_stats_t rs;
    size_t best = 0, n = 0, used = 0;
    for (size_t i = 0; capheap_get_region_stats(&heap, i, &rs) == CAPHEAP_OK; i++)
        if ((rs.caps & caps) == caps) {
            n++;
            used += rs.used;
            if (rs.largest_free > best)
                best = rs.largest_free;
        }
    check_caps_stats(caps, n, used, best);
    return best;
}

static size_t random_size(void)
{
    uint32_t r = below(100);
    if (r < 3)
        return 0;
    if (r < 70)
        return 1 + below(128);
    if (r < 95)
        return 129 + below(1920);
    if (r < 99)
        return 2049 + below(14000);
    return 16384 + below(48000);
}

static void check_heap(void)
{
    capheap_check_result_t cr;
    int rc = capheap_check(&heap, &cr);
    if (rc != CAPHEAP_OK)
        FAIL("capheap_check: %d, %" PRIu32 " problem(s), first: %s at %p", rc, cr.problems,
             cr.first ? cr.first : "?", cr.where);
    if (cr.blocks_used != live)
        FAIL("checker walked %u used blocks, the model has %u", (unsigned)cr.blocks_used, (unsigned)live);
}

/* A new or moved block: alignment, placement, overlap, usable size. */
static void check_block(const slot_t *s, int idx)
{
    capheap_region_stats_t rs;
    size_t align = s->align > CAPHEAP_ALIGN ? s->align : CAPHEAP_ALIGN;
    if ((uintptr_t)s->p % align != 0)
        FAIL("block %p not aligned to %u", (void *)s->p, (unsigned)align);
    int r = region_of(s->p, s->size, &rs);
    if (r < 0)
        FAIL("block %p+%u is outside every region (%d)", (void *)s->p, (unsigned)s->size, r);
    if ((rs.caps & s->caps) != s->caps)
        FAIL("block %p in region %d with caps 0x%" PRIx32 ", asked for 0x%" PRIx32, (void *)s->p, r,
             rs.caps, s->caps);
    size_t us = capheap_usable_size(&heap, s->p);
    if (us < s->size)
        FAIL("usable size %u < requested %u", (unsigned)us, (unsigned)s->size);
    for (int j = 0; j < SLOTS; j++) {
        const slot_t *o = &slots[j];
        if (j == idx || o->p == NULL)
            continue;
        size_t a = s->size ? s->size : 1, b = o->size ? o->size : 1;
        if ((uintptr_t)s->p < (uintptr_t)o->p + b && (uintptr_t)o->p < (uintptr_t)s->p + a)
            FAIL("block %p+%u overlaps live block %p+%u", (void *)s->p, (unsigned)a, (void *)o->p,
                 (unsigned)b);
    }
}

/* An allocation returned NULL: was that allowed? */
static void check_failure(size_t size, size_t align, uint32_t caps, size_t promised)
{
    if (!caps_exist(caps)) {
        if (last_error != CAPHEAP_E_NO_CAPS)
            FAIL("caps 0x%" PRIx32 " exist nowhere: expected NO_CAPS, got %d", caps, last_error);
        return;
    }
    if (last_error != CAPHEAP_E_NOMEM)
        FAIL("allocation of %u failed with %d, expected NOMEM", (unsigned)size, last_error);
    /* The largest free block reported must really be allocatable (plain alignment only:
     * aligned requests search for size + align + CAPHEAP_ALIGN). */
    if (align <= CAPHEAP_ALIGN && promised > 0 && size <= promised) /* 0: no free block at all */
        FAIL("NOMEM for %u bytes (caps 0x%" PRIx32 ") though a region promised %u", (unsigned)size,
             caps, (unsigned)promised);
}

static int free_slot_index(void)
{
    int start = (int)below(SLOTS);
    for (int k = 0; k < SLOTS; k++) {
        int i = (start + k) % SLOTS;
        if (slots[i].p == NULL)
            return i;
    }
    return -1;
}
static int live_slot_index(void)
{
    if (live == 0)
        return -1;
    int start = (int)below(SLOTS);
    for (int k = 0; k < SLOTS; k++) {
        int i = (start + k) % SLOTS;
        if (slots[i].p != NULL)
            return i;
    }
    return -1;
}

static unsigned long n_alloc, n_fail, n_nocaps, n_free, n_realloc, n_realloc_fail, n_aligned, n_calloc;

static void op_alloc(int kind)
{
    int i = free_slot_index();
    if (i < 0)
        return;
    slot_t *s = &slots[i];
    size_t size = random_size();
    uint32_t caps = kind == 0 ? 0u : cap_choices[below(N_CAPS)];
    size_t align = CAPHEAP_ALIGN;
    size_t promised = largest_for(caps);
    void *p;
    last_error = 0;
    if (kind == 2) {
        align = (size_t)1 << (1 + below(11)); /* 2 .. 2048 */
        p = caps ? capheap_aligned_alloc_caps(&heap, align, size, caps)
                 : capheap_aligned_alloc(&heap, align, size);
        n_aligned++;
    } else if (kind == 3) {
        size_t count = 1 + below(16), each = size / count;
        size = count * each;
        p = capheap_calloc_caps(&heap, count, each, caps);
        if (p != NULL)
            for (size_t k = 0; k < size; k++)
                if (((unsigned char *)p)[k] != 0)
                    FAIL("calloc memory not zero at +%u", (unsigned)k);
        n_calloc++;
    } else {
        p = kind == 0 ? capheap_alloc(&heap, size) : capheap_alloc_caps(&heap, size, caps);
    }
    if (p == NULL) {
        if (last_error == CAPHEAP_E_NO_CAPS)
            n_nocaps++;
        else
            n_fail++;
        check_failure(size, align, caps, promised);
        return;
    }
    n_alloc++;
    *s = (slot_t){p, size, align, caps, ++serial_counter};
    live++;
    check_block(s, i);
    if (failed)
        return;
    fill(s);
}

static void op_free(void)
{
    int i = live_slot_index();
    if (i < 0)
        return;
    slot_t *s = &slots[i];
    size_t bad = first_bad(s, s->size);
    if (bad != SIZE_MAX)
        FAIL("block %p+%u corrupted at +%u before free", (void *)s->p, (unsigned)s->size, (unsigned)bad);
    int rc = capheap_free(&heap, s->p);
    if (rc != CAPHEAP_OK)
        FAIL("free(%p) returned %d", (void *)s->p, rc);
    unsigned char *was = s->p;
    s->p = NULL;
    live--;
    n_free++;
    /* Sometimes: the same pointer again must be a reported double free (nothing reused it). */
    if (below(8) == 0) {
        last_error = 0;
        rc = capheap_free(&heap, was);
        if (rc != CAPHEAP_E_DOUBLE_FREE)
            FAIL("double free of %p returned %d, expected DOUBLE_FREE", (void *)was, rc);
    }
}

static void op_realloc(void)
{
    int i = live_slot_index();
    if (i < 0)
        return;
    slot_t *s = &slots[i];
    size_t bad = first_bad(s, s->size);
    if (bad != SIZE_MAX)
        FAIL("block %p+%u corrupted at +%u before realloc", (void *)s->p, (unsigned)s->size, (unsigned)bad);
    size_t nsize = below(4) == 0 ? s->size + below(64) : random_size();
    if (nsize == 0)
        nsize = 1; /* size 0 would free: op_free covers freeing */
    /* Keep the block's capabilities (realloc_caps) or drop them (plain realloc: caps 0). */
    uint32_t caps = below(2) ? s->caps : 0u;
    size_t promised = largest_for(caps);
    last_error = 0;
    unsigned char *np = caps ? capheap_realloc_caps(&heap, s->p, nsize, caps)
                             : capheap_realloc(&heap, s->p, nsize);
    n_realloc++;
    if (np == NULL) {
        n_realloc_fail++;
        /* The old block must be intact and still ours. */
        bad = first_bad(s, s->size);
        if (bad != SIZE_MAX)
            FAIL("failed realloc damaged the old block at +%u", (unsigned)bad);
        if (last_error != CAPHEAP_E_NOMEM)
            FAIL("realloc to %u failed with %d, expected NOMEM", (unsigned)nsize, last_error);
        (void)promised;
        return;
    }
    /* Contents up to min(old, new) must survive (the key was built from the old place). */
    slot_t old = *s;
    size_t keep = old.size < nsize ? old.size : nsize;
    uintptr_t k = key_of(&old);
    for (size_t b = 0; b < keep; b++)
        if (np[b] != pattern(k, b))
            FAIL("realloc %p->%p lost byte +%u of %u", (void *)old.p, (void *)np, (unsigned)b, (unsigned)keep);
    /* Alignment beyond CAPHEAP_ALIGN is not kept when a block moves. */
    *s = (slot_t){np, nsize, CAPHEAP_ALIGN, caps, ++serial_counter};
    check_block(s, i);
    if (failed)
        return;
    fill(s);
}

/* Bad pointers: reported, counted, and nothing changes. */
static void op_bad_free(void)
{
    int local = 0;
    int rc = capheap_free(&heap, &local);
    if (rc != CAPHEAP_E_FOREIGN_PTR)
        FAIL("free of a stack address returned %d, expected FOREIGN_PTR", rc);
    int i = live_slot_index();
    if (i >= 0) {
        rc = capheap_free(&heap, slots[i].p + 4);
        if (rc != CAPHEAP_E_INVALID_PTR)
            FAIL("free of a misaligned interior pointer returned %d, expected INVALID_PTR", rc);
        rc = capheap_free(&heap, slots[i].p + 1);
        if (rc != CAPHEAP_E_INVALID_PTR)
            FAIL("free of p+1 returned %d, expected INVALID_PTR", rc);
    }
}

static void verify_all(void)
{
    for (int i = 0; i < SLOTS; i++) {
        const slot_t *s = &slots[i];
        if (s->p == NULL)
            continue;
        size_t bad = first_bad(s, s->size);
        if (bad != SIZE_MAX)
            FAIL("live block %p+%u corrupted at +%u", (void *)s->p, (unsigned)s->size, (unsigned)bad);
    }
}

static void check_stats(void)
{
    capheap_stats_t st;
    if (capheap_get_stats(&heap, &st) != CAPHEAP_OK)
        FAIL("get_stats failed");
    if (st.used + st.free != st.total_size)
        FAIL("stats: used %u + free %u != total %u", (unsigned)st.used, (unsigned)st.free,
             (unsigned)st.total_size);
#if CAPHEAP_STATS
    if ((size_t)(st.alloc_count - st.free_count) != live)
        FAIL("stats: %" PRIu32 " allocations - %" PRIu32 " frees != %u live blocks", st.alloc_count,
             st.free_count, (unsigned)live);
    if (st.peak_used < st.used)
        FAIL("stats: peak %u < used %u", (unsigned)st.peak_used, (unsigned)st.used);
#endif
    size_t sum = 0;
    capheap_region_stats_t rs;
    for (size_t i = 0; capheap_get_region_stats(&heap, i, &rs) == CAPHEAP_OK; i++)
        sum += rs.used;
    if (sum != st.used)
        FAIL("stats: regions' used %u != heap used %u", (unsigned)sum, (unsigned)st.used);
}

static void setup(void)
{
    int rc;
    capheap_init(&heap);
    capheap_set_error_handler(&heap, on_error, NULL);
    rc = capheap_add_region_ex(&heap, tcm_mem, sizeof tcm_mem, CAP_TCM_SET, 2, NULL);
    if (rc != CAPHEAP_OK)
        FAIL("add tcm region: %d", rc);
    rc = capheap_add_region(&heap, bss_mem, sizeof bss_mem, CAP_BSS_SET);
    if (rc != CAPHEAP_OK)
        FAIL("add bss region: %d", rc);
    rc = capheap_add_region(&heap, sec_mem, sizeof sec_mem, CAP_SEC_SET);
    if (rc != CAPHEAP_OK)
        FAIL("add .dram2_uninit.model region: %d", rc);
    rc = capheap_add_region(&heap, odd_mem + 3, ODD_SIZE, CAP_ODD_SET);
    if (rc != CAPHEAP_OK)
        FAIL("add misaligned region: %d", rc);
    rc = capheap_add_region_ex(&heap, __external_start, EXT_SIZE, CAP_EXT_SET, -1, NULL);
    if (rc != CAPHEAP_OK)
        FAIL("add external region: %d", rc);
    /* The same memory again, or overlapping, is refused and changes nothing. */
    rc = capheap_add_region(&heap, bss_mem + 100, 1000, CAP_BSS_SET);
    if (rc != CAPHEAP_E_REGION_OVERLAP)
        FAIL("overlapping region: expected REGION_OVERLAP, got %d", rc);
    capheap_stats_t st;
    capheap_get_stats(&heap, &st);
    if (st.region_count != 5)
        FAIL("expected 5 regions, have %u", (unsigned)st.region_count);
    /* Order: TCM (priority 2) first, external (-1) last. */
    capheap_region_stats_t rs;
    capheap_get_region_stats(&heap, 0, &rs);
    if (rs.caps != CAP_TCM_SET)
        FAIL("region 0 should be the priority-2 TCM region (caps 0x%" PRIx32 ")", rs.caps);
    capheap_get_region_stats(&heap, 4, &rs);
    if (rs.caps != CAP_EXT_SET)
        FAIL("region 4 should be the priority -1 external region (caps 0x%" PRIx32 ")", rs.caps);
    if ((uintptr_t)sec_mem < (uintptr_t)bss_mem + sizeof bss_mem &&
        (uintptr_t)bss_mem < (uintptr_t)sec_mem + sizeof sec_mem)
        FAIL("section memory overlaps .bss: linker script?");
    printf("regions: tcm %p, bss %p, section %p, odd %p, external %p\n", (void *)tcm_mem,
           (void *)bss_mem, (void *)sec_mem, (void *)(odd_mem + 3), (void *)__external_start);
}

static void teardown(void)
{
    for (int i = 0; i < SLOTS && !failed; i++) {
        slot_t *s = &slots[i];
        if (s->p == NULL)
            continue;
        size_t bad = first_bad(s, s->size);
        if (bad != SIZE_MAX)
            FAIL("block %p corrupted at +%u at the end", (void *)s->p, (unsigned)bad);
        if (capheap_free(&heap, s->p) != CAPHEAP_OK)
            FAIL("final free of %p failed", (void *)s->p);
        s->p = NULL;
        live--;
    }
    if (failed)
        return;
    check_heap();
    capheap_stats_t st;
    capheap_get_stats(&heap, &st);
    if (st.used != 0)
        FAIL("heap not empty after freeing everything: %u bytes used", (unsigned)st.used);
    /* Every region is one free block again: its largest free block is its whole capacity. */
    capheap_region_stats_t rs;
    for (size_t i = 0; capheap_get_region_stats(&heap, i, &rs) == CAPHEAP_OK; i++)
        if (rs.largest_free + CAPHEAP_HEADER_SIZE != rs.size)
            FAIL("region %u not merged back: largest free %u of %u", (unsigned)i,
                 (unsigned)rs.largest_free, (unsigned)rs.size);
}

int main(int argc, char **argv)
{
    int a = target_args(argc, argv);
    unsigned long long seed = a < argc ? strtoull(argv[a], NULL, 0) : 1u;
    unsigned long steps = a + 1 < argc ? strtoul(argv[a + 1], NULL, 0) : DEFAULT_STEPS;
    printf("model_test: seed %llu, %lu steps (replay: -append \"%llu %lu\")\n", seed,
           steps, seed, steps);
    rng_state = seed * 0x9E3779B97F4A7C15ull + 0x1234567u;
    if (rng_state == 0)
        rng_state = 1;

    setup();
    for (step_no = 1; step_no <= steps && !failed; step_no++) {
        uint32_t r = below(100);
        if (r < 22)
            op_alloc(0);
        else if (r < 40)
            op_alloc(1);
        else if (r < 48)
            op_alloc(2);
        else if (r < 53)
            op_alloc(3);
        else if (r < 68)
            op_realloc();
        else if (r < 99)
            op_free();
        else
            op_bad_free();
        if (failed)
            break;
        check_heap();
        if (step_no % 64 == 0)
            check_stats();
        if (step_no % FULL_VERIFY_EVERY == 0)
            verify_all();
    }
    if (!failed)
        teardown();
    printf("ops: %lu allocs (%lu aligned, %lu calloc), %lu NOMEM, %lu NO_CAPS, %lu frees, "
           "%lu reallocs (%lu failed)\n",
           n_alloc, n_aligned, n_calloc, n_fail, n_nocaps, n_free, n_realloc, n_realloc_fail);
    printf("errors reported: double free %lu, foreign %lu, invalid %lu\n",
           errors_seen[-CAPHEAP_E_DOUBLE_FREE], errors_seen[-CAPHEAP_E_FOREIGN_PTR],
           errors_seen[-CAPHEAP_E_INVALID_PTR]);
    if (!failed && (n_fail == 0 || n_nocaps == 0 || n_realloc == 0 || n_free == 0)) {
        printf("FAIL: the run did not exercise exhaustion, missing caps, realloc and free\n");
        failed = 1;
    }
    printf("model_test: %s (seed %llu)\n", failed ? "FAILED" : "passed", seed);
    return failed ? 1 : 0;
}
