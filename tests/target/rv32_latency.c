/*
 * rv32_latency.c - instructions per capheap_alloc / capheap_free on RV32IMAC, counted with
 * minstret under QEMU -icount shift=0 (exact and repeatable). Also built for Cortex-M
 * (mps2-an385), where SysTick under -icount shift=6 gives the count to within one
 * instruction (see instret() below).
 *
 * For each region size (16 KiB, 256 KiB, 4 MiB; one fresh region in a fresh heap) and each
 * workload, a seeded run of BENCH.md's W1 random actions: a table of N slots, N = 0.6 x
 * region / mean request; each step picks a slot at random: empty -> allocate a size from the
 * distribution (a failed allocation leaves it empty and still counts), full -> free it.
 * Warm-up max(10 N, 50 000) steps, then STEPS measured steps (default 200 000).
 *   a    uniform 8..512 B
 *   b    log-uniform 8..16 383 B
 *   c    embedded mix: 70% 16..128 B, 25% 128..2048 B, 5% 2..16 KiB
 *   adv  adversarial, fragmenting: the table is sized for a 92%-full heap of small blocks;
 *        requests alternate between tiny sizes (8..64 B) and sizes one byte above a size
 *        class boundary (2^k + 1 and 2^k + 2^k/8 + 1), which a good-fit search must round up
 *        to the next class, with large ones (up to region/4) that often fail.
 * Each call is bracketed by two reads of minstret; the count includes the call instruction,
 * the return and the argument moves (2-3 instructions), minus the cost of an empty bracket.
 * Failed allocations are counted as allocations (their cost is part of the worst case).
 *
 * Output: one "RESULT ..." line per (size, workload); tools/rv32-latency.sh turns them into
 * docs/target-figures.md. Usage: rv32_latency [seed] [steps].
 *
 * Built with LATENCY_NATIVE=1 (and without capheap's libc layer) the same runs measure the C
 * library's own malloc/free instead: picolibc's on RV32, newlib's on Cortex-M. Its heap is the
 * same range of the same size, handed out by the sbrk() / _sbrk_r() defined here. Its
 * state cannot be reset, so that build does one (size, workload) per boot:
 * Usage: rv32_latency_native seed steps size-index(0..2) workload-index(0..3).
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capheap.h"
#include "target_args.h"
#include "target_rng.h"

#ifndef LATENCY_NATIVE
#define LATENCY_NATIVE 0
#endif

#define MAX_SLOTS 70000u
/* Exact histogram up to HIST - 1 instructions (picolibc's malloc needs the range); above:
 * counted, max kept, and a median that falls there is reported as HIST. */
#define HIST 131072u

extern char __external_start[];

#if defined(__riscv)
/* minstret: exact under -icount shift=0. */
static inline void counter_start(void) {}
static inline uint32_t instret(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, minstret" : "=r"(v)::"memory");
    return v;
}
static inline uint32_t counted(uint32_t t0, uint32_t t1) { return t1 - t0; }
#define COUNTER "minstret"
#define NATIVE_NAME "picolibc"
#else
/* Cortex-M: no instruction counter (DWT_CYCCNT is not emulated), but under -icount shift=6
 * every instruction advances virtual time by 64 ns and SysTick, clocked at the board's
 * 25 MHz, ticks 1.6 times per instruction: instructions = ticks / 1.6, to within one. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static inline void counter_start(void)
{
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 5u; /* enabled, processor clock, no interrupt */
}
static inline uint32_t instret(void)
{
    uint32_t v = SYST_CVR;
    __asm__ volatile("" ::: "memory");
    return v;
}
static inline uint32_t counted(uint32_t t0, uint32_t t1)
{
    return (((t0 - t1) & 0xFFFFFFu) * 5u + 4u) / 8u; /* a down-counter of 24 bits */
}
#define COUNTER "SysTick at -icount shift=6"
#define NATIVE_NAME "newlib"
#endif

static void *slots[MAX_SLOTS];

#if LATENCY_NATIVE
#include <stddef.h>
#define ALLOCATOR NATIVE_NAME
static char *brk_cur, *brk_end;
static void *grow(ptrdiff_t incr)
{
    if (incr < 0 || incr > brk_end - brk_cur)
        return (void *)-1;
    char *p = brk_cur;
    brk_cur += incr;
    return p;
}
#if defined(__riscv)
/* picolibc's malloc grows its heap through sbrk(): serve it from the measured range. */
void *sbrk(ptrdiff_t incr);
void *sbrk(ptrdiff_t incr) { return grow(incr); }
#else
/* newlib's malloc grows its heap through _sbrk_r(): the same. */
#include <errno.h>
#include <reent.h>
void *_sbrk_r(struct _reent *r, ptrdiff_t incr);
void *_sbrk_r(struct _reent *r, ptrdiff_t incr)
{
    void *p = grow(incr);
    if (p == (void *)-1)
        r->_errno = ENOMEM;
    return p;
}
#endif
static void *do_alloc(size_t n) { return malloc(n); }
static void do_free(void *p) { free(p); }
#else
#define ALLOCATOR "capheap"
static capheap_heap_t heap;
static void *do_alloc(size_t n) { return capheap_alloc(&heap, n); }
static void do_free(void *p) { capheap_free(&heap, p); }
#endif

static uint32_t range(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1u); }

typedef struct hist {
    uint32_t n, over, max;
    uint32_t count[HIST];
} hist_t;
static hist_t h_alloc, h_free;

static void hist_add(hist_t *h, uint32_t v)
{
    h->n++;
    if (v > h->max)
        h->max = v;
    if (v < HIST)
        h->count[v]++;
    else
        h->over++;
}
static uint32_t hist_median(const hist_t *h)
{
    uint32_t seen = 0, half = (h->n + 1u) / 2u;
    for (uint32_t v = 0; v < HIST; v++) {
        seen += h->count[v];
        if (seen >= half)
            return v;
    }
    return HIST;
}

enum workload { W_A, W_B, W_C, W_ADV, W_COUNT };
static const char *const wname[W_COUNT] = {"a", "b", "c", "adv"};
static size_t region_size;
static uint32_t adv_flip;

static size_t draw(enum workload w)
{
    switch (w) {
    case W_A:
        return range(8, 512);
    case W_B: {
        double lo = log(8.0), hi = log(16383.0);
        double u = (double)rnd() / 4294967296.0;
        return (size_t)exp(lo + u * (hi - lo));
    }
    case W_C: {
        uint32_t r = below(100);
        return r < 70 ? range(16, 128) : r < 95 ? range(128, 2048) : range(2048, 16384);
    }
    default: {
        uint32_t r = (adv_flip++) % 4u;
        if (r == 0 || r == 2)
            return range(8, 64);
        uint32_t k = range(5, 12);
        if (r == 1)
            return ((size_t)1 << k) + 1u + (below(2) ? ((size_t)1 << k) / 8u : 0u);
        return below(8) == 0 ? range(4096, (uint32_t)(region_size / 4u)) : ((size_t)1 << k) + 1u;
    }
    }
}

static double mean_of(enum workload w)
{
    switch (w) {
    case W_A: return 260.0;
    case W_B: return (16383.0 - 8.0) / log(16383.0 / 8.0);
    case W_C: return 0.70 * 72.0 + 0.25 * 1088.0 + 0.05 * 9216.0;
    default: return 60.0; /* small blocks dominate the live set */
    }
}

static uint32_t overhead; /* instructions of an empty bracket */
static uint32_t net(uint32_t t0, uint32_t t1)
{
    uint32_t c = counted(t0, t1);
    return c > overhead ? c - overhead : 0u;
}
static uint32_t n_fail;

static void step(size_t nslots, enum workload w, int measure)
{
    uint32_t i = below((uint32_t)nslots);
    if (slots[i] == NULL) {
        size_t size = draw(w);
        uint32_t t0 = instret();
        void *p = do_alloc(size);
        uint32_t t1 = instret();
        slots[i] = p;
        if (measure) {
            hist_add(&h_alloc, net(t0, t1));
            if (p == NULL)
                n_fail++;
        }
    } else {
        void *p = slots[i];
        uint32_t t0 = instret();
        do_free(p);
        uint32_t t1 = instret();
        slots[i] = NULL;
        if (measure)
            hist_add(&h_free, net(t0, t1));
    }
}

static int run(size_t size, enum workload w, unsigned long long seed, unsigned long steps)
{
    region_size = size;
#if LATENCY_NATIVE
    brk_cur = __external_start;
    brk_end = __external_start + size;
#else
    capheap_init(&heap);
    int rc = capheap_add_region(&heap, __external_start, size, CAPHEAP_CAPS_INTERNAL);
    if (rc != CAPHEAP_OK) {
        printf("add_region(%u): %d\n", (unsigned)size, rc);
        return 1;
    }
#endif
    size_t nslots = (size_t)(0.6 * (double)size / mean_of(w));
    if (w == W_ADV)
        nslots = (size_t)(0.92 * (double)size / mean_of(w));
    if (nslots < 2)
        nslots = 2;
    if (nslots > MAX_SLOTS)
        nslots = MAX_SLOTS;
    memset(slots, 0, sizeof slots);
    memset(&h_alloc, 0, sizeof h_alloc);
    memset(&h_free, 0, sizeof h_free);
    n_fail = 0;
    adv_flip = 0;
    rng_state = seed * 0x9E3779B97F4A7C15ull + (uint64_t)size + (uint64_t)w * 7919u;

    unsigned long warm = 10ul * nslots > 50000ul ? 10ul * nslots : 50000ul;
    for (unsigned long k = 0; k < warm; k++)
        step(nslots, w, 0);
    for (unsigned long k = 0; k < steps; k++)
        step(nslots, w, 1);

#if !LATENCY_NATIVE
    capheap_check_result_t cr;
    if (capheap_check(&heap, &cr) != CAPHEAP_OK) {
        printf("capheap_check failed: %s\n", cr.first ? cr.first : "?");
        return 1;
    }
#endif
    printf("RESULT allocator=" ALLOCATOR " size=%u workload=%s slots=%u allocs=%" PRIu32 " failed=%" PRIu32
           " frees=%" PRIu32 " alloc_max=%" PRIu32 " alloc_median=%" PRIu32 " free_max=%" PRIu32
           " free_median=%" PRIu32 " over_%u=%" PRIu32 "\n",
           (unsigned)size, wname[w], (unsigned)nslots, h_alloc.n, n_fail, h_free.n, h_alloc.max,
           hist_median(&h_alloc), h_free.max, hist_median(&h_free), HIST, h_alloc.over + h_free.over);
    return 0;
}

/* The region sizes measured (BENCH.md W3 on RV32). */
static const size_t sizes[] = {16u * 1024u, 256u * 1024u, 4u * 1024u * 1024u};

#if !LATENCY_NATIVE
/* Constructed states for the longest paths of one call, which random workloads reach only
 * by chance: every walk of the fit scan at its length, every list change that updates the
 * bitmap, and (for the allocations) new peaks in the statistics. Sizes in granules; built
 * at the start of a fresh region of each measured size, with used guard blocks between the
 * free ones so that none merges (the rest of the region is one more block, taken or free):
 * the same call must cost the same at every region size. The shapes are chosen for one
 * class per power of two (the default); other builds run them too, as ordinary states. */
static void *granules(size_t g)
{
    return capheap_alloc(&heap, g * CAPHEAP_ALIGN - CAPHEAP_HEADER_SIZE);
}

static int crafted_fresh(size_t size)
{
    capheap_init(&heap);
    return capheap_add_region(&heap, __external_start, size, CAPHEAP_CAPS_INTERNAL) == CAPHEAP_OK &&
           capheap_alloc(&heap, 1) != NULL;
}

/* Blocks of g[i] granules, each followed by a used guard; 0 if one does not fit. */
static int place(const unsigned *g, int n, void **out)
{
    for (int i = 0; i < n; i++)
        if ((out[i] = granules(g[i])) == NULL || capheap_alloc(&heap, 1) == NULL)
            return 0;
    return 1;
}

/* Free them last first, so that the first heads its class list (lists are LIFO). */
static void unplace(void *const *p, int n)
{
    for (int i = n - 1; i >= 0; i--)
        capheap_free(&heap, p[i]);
}

/* Free blocks of own[] granules (the own class of a request of req granules, head first),
 * then of good[] (the next class), take the rest of the region so that the measured
 * allocation sets new peaks, and count one allocation of req granules. */
static int crafted_alloc(size_t size, const char *name, const unsigned *own, int nown, const unsigned *good,
                         int ngood, unsigned req)
{
    void *o[8], *g[8];
    if (!crafted_fresh(size) || !place(own, nown, o) || !place(good, ngood, g))
        return 1;
    unplace(g, ngood);
    unplace(o, nown);
    capheap_stats_t st;
    if (capheap_get_stats(&heap, &st) != CAPHEAP_OK || capheap_alloc(&heap, st.largest_free) == NULL)
        return 1;
    uint32_t t0 = instret();
    void *p = granules(req);
    uint32_t t1 = instret();
    capheap_check_result_t cr;
    if (p == NULL || capheap_check(&heap, &cr) != CAPHEAP_OK) {
        printf("crafted %s: %s\n", name, p == NULL ? "allocation failed" : "heap check failed");
        return 1;
    }
    printf("RESULT crafted case=%s op=alloc size=%u count=%" PRIu32 "\n", name, (unsigned)size, net(t0, t1));
    return 0;
}

/* Free a block whose neighbours are both free and each alone in its class; the merged
 * block goes to an empty class. */
static int crafted_free(size_t size)
{
    if (!crafted_fresh(size))
        return 1;
    void *prev = granules(20), *b = granules(10), *next = granules(40);
    if (prev == NULL || b == NULL || next == NULL || capheap_alloc(&heap, 1) == NULL)
        return 1; /* adjacent on purpose: b's neighbours are prev and next */
    capheap_free(&heap, prev);
    capheap_free(&heap, next);
    uint32_t t0 = instret();
    int rc = capheap_free(&heap, b);
    uint32_t t1 = instret();
    capheap_check_result_t cr;
    if (rc != CAPHEAP_OK || capheap_check(&heap, &cr) != CAPHEAP_OK) {
        printf("crafted free: %s\n", rc != CAPHEAP_OK ? "free failed" : "heap check failed");
        return 1;
    }
    printf("RESULT crafted case=merge-both op=free size=%u count=%" PRIu32 "\n", (unsigned)size, net(t0, t1));
    return 0;
}

/* Blocks of the own class the fit scan examines (at least 2: the FIT_SCAN 1
 * build runs the same states). */
#define SCAN (CAPHEAP_FIT_SCAN < 2 ? 2 : CAPHEAP_FIT_SCAN)

static int crafted(size_t size)
{
    /* request 48 granules: own class 32..63, next class 64..127; 1/8 of 48 is 6.
     * own-scan-last: blocks too small, then two that fit, the second tighter, at
     * the end of the walk (the scan stops at the second block that fits). */
    static const unsigned last[8] = {40, 40, 40, 40, 40, 40, 62, 60};
    static const unsigned small[8] = {40, 40, 40, 40, 40, 40, 40, 40};
    static const unsigned two[] = {120, 70}, one[] = {70};
    return crafted_alloc(size, "own-scan-last", last + 8 - SCAN, SCAN, NULL, 0, 48) ||
           crafted_alloc(size, "search-tighter-2nd", small, SCAN, two, 2, 48) ||
           crafted_alloc(size, "search-list-empties", small, SCAN, one, 1, 48) || crafted_free(size);
}
#endif

int main(int argc, char **argv)
{
    int a = target_args(argc, argv);
    unsigned long long seed = a < argc ? strtoull(argv[a], NULL, 0) : 1u;
    unsigned long steps = a + 1 < argc ? strtoul(argv[a + 1], NULL, 0) : 200000ul;
    counter_start();
    uint32_t t0 = instret();
    uint32_t t1 = instret();
    overhead = counted(t0, t1);
    printf("rv32_latency: %s, seed %llu, %lu measured steps per run, CHECK_LEVEL %d, STATS %d, "
           "counter %s, empty bracket %" PRIu32 " instruction(s)\n",
           ALLOCATOR, seed, steps, CAPHEAP_CHECK_LEVEL, CAPHEAP_STATS, COUNTER, overhead);
    if (overhead == 0 || overhead > 4) {
        printf("the counter does not count instructions: run under -icount (shift=0 on RISC-V, "
               "shift=6 on Cortex-M)\n");
        return 2;
    }
#if LATENCY_NATIVE
    if (a + 3 >= argc) {
        printf("usage: rv32_latency_native seed steps size-index workload-index\n");
        return 2;
    }
    unsigned long si = strtoul(argv[a + 2], NULL, 0), wi = strtoul(argv[a + 3], NULL, 0);
    if (si >= sizeof sizes / sizeof sizes[0] || wi >= W_COUNT) {
        printf("size index 0..2, workload index 0..3\n");
        return 2;
    }
    if (run(sizes[si], (enum workload)wi, seed, steps) != 0)
        return 1;
    printf("rv32_latency: done\n");
    return 0;
#else
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        if (crafted(sizes[s]) != 0)
            return 1;
#endif
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int w = 0; w < W_COUNT; w++)
            if (run(sizes[s], (enum workload)w, seed, steps) != 0)
                return 1;
    printf("rv32_latency: done\n");
    return 0;
}
