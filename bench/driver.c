/*
 * driver.c - the benchmark driver: workloads W1-W4, W2b and W6 of
 * ../shared/BENCH.md over the adapters linked into this binary.
 *
 *   bench-<name> list
 *   bench-<name> w1    --adapter A --heap H --dist a|b|c [--variant free|realloc]
 *                      [--steps S] [--warmup W] [--seed X] [--check 1] [--callgrind 1]
 *   bench-<name> time  --adapters A,B,null --heap H --dist D [--variant V] [--reps 3]
 *   bench-<name> w3    --adapter A --heap H --dist D [--reps 3] [--steps S]
 *   bench-<name> w2    --adapter A --heap H --p 0.3 [--seeds 100] [--check 1]
 *   bench-<name> w2b   --adapter A --heap H
 *   bench-<name> w6    --adapter A
 *   bench-<name> quick              (correctness only, every adapter; prints
 *                                    "N passed, N failed")
 *
 * Every result is one line "RESULT <workload> key=value ...", read by
 * bench/run.py. Diagnostics start with "ERROR" and make the exit status 1.
 *
 * Determinism: the random stream (xoshiro256** seeded through splitmix64)
 * depends only on the seed, and every workload draws its numbers in the same
 * order whatever the allocator does, except that a failed allocation leaves
 * its slot empty (BENCH.md's rule), which then changes later decisions.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <valgrind/callgrind.h>

#include "adapter.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

/* ------------------------------------------------------------------ adapters */
/* The adapters linked into this binary (registry.c, built per binary). */
extern const bench_adapter_t *const bench_adapters[];
#define adapters bench_adapters
/* Defined by ad_system.c when a system allocator is linked in. */
const char *sys_identity(void) __attribute__((weak));
extern const bench_adapter_t adapter_system __attribute__((weak));

static const bench_adapter_t *find_adapter(const char *name)
{
    for (int i = 0; adapters[i]; i++)
        if (strcmp(adapters[i]->name, name) == 0)
            return adapters[i];
    fprintf(stderr, "ERROR unknown adapter '%s' in this binary\n", name);
    exit(1);
}

static int errors; /* pattern/overlap/alignment failures seen */

/* Report a failure (the first 20 are printed) and count it. */
#define FAIL(...)                                     \
    do {                                              \
        if (errors < 20) {                            \
            fprintf(stdout, "ERROR " __VA_ARGS__);    \
            fputc('\n', stdout);                      \
        }                                             \
        errors++;                                     \
    } while (0)

/* ---------------------------------------------------------------------- PRNG */
typedef struct { uint64_t s[4]; } rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* uniform in [0, n), n < 2^32 (multiply-shift; bias < 2^-32) */
static inline uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* uniform in [0, 1) with 53 bits */
static inline double rng_unit(rng_t *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

/* log-uniform in [lo, hi): floor(lo * (hi/lo)^u) */
static inline size_t rng_logu(rng_t *r, size_t lo, size_t hi)
{
    double v = (double)lo * exp2(log2((double)hi / (double)lo) * rng_unit(r));
    size_t s = (size_t)v;
    if (s < lo)
        s = lo;
    if (s >= hi)
        s = hi - 1;
    return s;
}

/* ------------------------------------------------------------- distributions */
/* a: uniform 8..512; b: log-uniform 8..16383; c: 70% 16..127, 25% 128..2047,
 * 5% 2048..16383 (uniform inside each band). */
static inline size_t draw_size(rng_t *r, char dist)
{
    switch (dist) {
    case 'a':
        return 8 + rng_below(r, 505);
    case 'b':
        return rng_logu(r, 8, 16384);
    default: {
        uint32_t band = rng_below(r, 100);
        if (band < 70)
            return 16 + rng_below(r, 112);
        if (band < 95)
            return 128 + rng_below(r, 1920);
        return 2048 + rng_below(r, 14336);
    }
    }
}

static double dist_mean(char dist)
{
    switch (dist) {
    case 'a':
        return 260.0;
    case 'b': /* mean of floor(8 * 2048^u): (16384 - 8) / ln 2048 - 0.5 */
        return (16384.0 - 8.0) / log(2048.0) - 0.5;
    default:
        return 0.70 * 71.5 + 0.25 * 1087.5 + 0.05 * 9215.5;
    }
}

/* BENCH.md's slot rule: N = 0.6 * heap / mean request size (rounded). */
static size_t slot_count(size_t heap, char dist)
{
    double n = 0.6 * (double)heap / dist_mean(dist);
    size_t k = (size_t)(n + 0.5);
    return k < 1 ? 1 : k;
}

static size_t warmup_steps(size_t n) { return 10 * n > 50000 ? 10 * n : 50000; }

/* -------------------------------------------------------------------- timing */
static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t tick(void)
{
#if HAVE_TSC
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#else
    return now_ns();
#endif
}

/* -------------------------------------------------------------------- memory */
static void *heap_buf;
static size_t heap_map;

static int prefault = 1; /* off under callgrind: page faults cost no instructions */

/* A page-aligned buffer of `size` bytes for a bounded heap. The buffer is
 * reused while the size stays the same, and its pages are touched once
 * before use: a firmware heap is RAM that is simply there, so the first-touch
 * page faults of this host process must not be billed to the allocator call
 * that happens to write a fresh page. */
static void *buffer_get(size_t size)
{
    size_t map = (size + 4095) & ~(size_t)4095;
    if (heap_buf && map == heap_map)
        return heap_buf;
    if (heap_buf)
        munmap(heap_buf, heap_map);
    heap_map = map;
    heap_buf = mmap(NULL, heap_map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                    -1, 0);
    if (heap_buf == MAP_FAILED) {
        fprintf(stderr, "ERROR mmap of %zu bytes failed\n", size);
        exit(1);
    }
    if (prefault)
        memset(heap_buf, 0, heap_map);
    return heap_buf;
}

static void adapter_start(const bench_adapter_t *ad, size_t heap)
{
    void *buf = (ad->flags & AD_BOUNDED) ? buffer_get(heap) : NULL;
    if (ad->init(buf, heap) != 0) {
        fprintf(stderr, "ERROR %s: init on %zu bytes failed\n", ad->name, heap);
        exit(1);
    }
}

/* ------------------------------------------------------------ block checking */
/* Light mode: the first word of every block holds a tag, checked on free.
 * Check mode: every byte holds a pattern derived from the tag, checked on
 * free and realloc, and live blocks are checked for overlaps periodically. */
typedef struct {
    unsigned char **ptr;
    size_t *size;
    uint32_t *tag;
    size_t n;
    uint32_t gen;
    int check;        /* full patterns + overlap scans */
    int touch;        /* 0 for the null adapter */
    size_t align;     /* alignment every pointer must have */
} slots_t;

static inline unsigned char pat_byte(uint32_t tag, size_t i) { return (unsigned char)(tag * 0x9Du + i * 7u + 1u); }

static inline void mark(slots_t *t, size_t i, unsigned char *p, size_t size)
{
    uint32_t tag = ++t->gen;
    t->tag[i] = tag;
    if (!t->touch)
        return;
    if (t->check) {
        for (size_t k = 0; k < size; k++)
            p[k] = pat_byte(tag, k);
    } else {
        memcpy(p, &tag, sizeof tag);
    }
}

static inline void verify(slots_t *t, size_t i, size_t upto, const char *what)
{
    if (!t->touch)
        return;
    unsigned char *p = t->ptr[i];
    uint32_t tag = t->tag[i];
    if (t->check) {
        for (size_t k = 0; k < upto; k++)
            if (p[k] != pat_byte(tag, k)) {
                FAIL("pattern mismatch in block %p (%zu bytes) at offset %zu after %s", (void *)p,
                     t->size[i], k, what);
                return;
            }
    } else {
        uint32_t got;
        memcpy(&got, p, sizeof got);
        if (got != tag)
            FAIL("tag mismatch in block %p after %s", (void *)p, what);
    }
}

/* The promised alignment, relaxed for requests smaller than it (an 8-byte
 * block needs no more than 8-byte alignment: size-class allocators use that). */
static inline void check_align(slots_t *t, void *p, size_t size)
{
    size_t need = t->align;
    while (need > 1 && need > size)
        need >>= 1;
    if (t->touch && ((uintptr_t)p & (need - 1)))
        FAIL("pointer %p (%zu bytes) not aligned to %zu", p, size, need);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort live blocks by address and prove that none overlaps the next. */
static void overlap_scan(slots_t *t)
{
    if (!t->touch)
        return;
    uintptr_t *v = malloc(2 * t->n * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->ptr[i]) {
            v[2 * m] = (uintptr_t)t->ptr[i];
            v[2 * m + 1] = t->size[i];
            m++;
        }
    qsort(v, m, 2 * sizeof *v, cmp_ptr);
    for (size_t k = 1; k < m; k++)
        if (v[2 * (k - 1)] + v[2 * (k - 1) + 1] > v[2 * k])
            FAIL("blocks overlap: %#" PRIxPTR "+%" PRIuPTR " and %#" PRIxPTR, v[2 * (k - 1)],
                 v[2 * (k - 1) + 1], v[2 * k]);
    free(v);
}

static void slots_init(slots_t *t, size_t n, const bench_adapter_t *ad, int check)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->ptr = calloc(n, sizeof *t->ptr);
    t->size = calloc(n, sizeof *t->size);
    t->tag = calloc(n, sizeof *t->tag);
    t->check = check;
    t->touch = !(ad->flags & AD_NO_MEMORY);
    t->align = ad->default_align;
    if (!t->ptr || !t->size || !t->tag) {
        fprintf(stderr, "ERROR out of memory for %zu slots\n", n);
        exit(1);
    }
}

/* Free what is still live (system allocators must not keep it between runs)
 * and release the table. */
static void slots_done(slots_t *t, const bench_adapter_t *ad)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->ptr[i]) {
            verify(t, i, t->check ? t->size[i] : 0, "the run");
            ad->free(t->ptr[i]);
        }
    if (ad->fini)
        ad->fini();
    free(t->ptr);
    free(t->size);
    free(t->tag);
}

/* ------------------------------------------------------------------------ W1 */
typedef struct {
    uint64_t ops, allocs, frees, reallocs, fails, realloc_fails, moved;
    uint64_t live, live_bytes; /* at the end of the run */
    int ncounters;             /* the adapter's own counters: growth in the measured phase */
    const char *const *counter_names;
    uint64_t counter_delta[BENCH_MAX_COUNTERS];
} w1_count_t;

enum { OP_ALLOC = 0, OP_FREE = 1, OP_REALLOC = 2 };

/* One W1 step; returns the operation done. Latency (if lat != NULL) brackets
 * exactly the allocator call. */
static inline __attribute__((always_inline)) int w1_step(const bench_adapter_t *ad, slots_t *t, rng_t *r,
                                                         char dist, int variant_realloc, w1_count_t *c,
                                                         uint32_t *lat)
{
    size_t i = rng_below(r, (uint32_t)t->n);
    c->ops++;
    if (!t->ptr[i]) {
        size_t sz = draw_size(r, dist);
        uint64_t t0 = lat ? tick() : 0;
        unsigned char *p = ad->alloc(sz, 0);
        if (lat)
            *lat = (uint32_t)(tick() - t0);
        c->allocs++;
        if (p) {
            check_align(t, p, sz);
            t->ptr[i] = p;
            t->size[i] = sz;
            mark(t, i, p, sz);
        } else {
            c->fails++;
        }
        return OP_ALLOC;
    }
    if (variant_realloc && rng_below(r, 4) == 0) {
        size_t nsz = draw_size(r, dist);
        unsigned char *old = t->ptr[i];
        uint64_t t0 = lat ? tick() : 0;
        unsigned char *q = ad->realloc(old, nsz);
        if (lat)
            *lat = (uint32_t)(tick() - t0);
        c->reallocs++;
        if (q) {
            check_align(t, q, nsz);
            c->moved += q != old;
            t->ptr[i] = q;
            verify(t, i, nsz < t->size[i] ? nsz : t->size[i], "realloc");
            t->size[i] = nsz;
            mark(t, i, q, nsz);
        } else {
            c->realloc_fails++; /* the old block stays valid */
        }
        return OP_REALLOC;
    }
    verify(t, i, t->size[i], "the block's life");
    uint64_t t0 = lat ? tick() : 0;
    ad->free(t->ptr[i]);
    if (lat)
        *lat = (uint32_t)(tick() - t0);
    t->ptr[i] = NULL;
    c->frees++;
    return OP_FREE;
}

typedef struct {
    const bench_adapter_t *ad;
    size_t heap;
    char dist;
    int variant_realloc;
    uint64_t seed;
    size_t warmup, steps;
    int check;
    int callgrind;
} w1_cfg_t;

/* Runs warmup + measured steps. Returns the measured phase's wall time in ns
 * (or fills lat/kind per measured step when lat != NULL). */
static uint64_t w1_run(const w1_cfg_t *cfg, w1_count_t *out, uint32_t *lat, unsigned char *kind)
{
    const bench_adapter_t *ad = cfg->ad;
    slots_t t;
    rng_t r;
    w1_count_t warm = {0}, c = {0};
    size_t n = slot_count(cfg->heap, cfg->dist);
    adapter_start(ad, cfg->heap);
    slots_init(&t, n, ad, cfg->check);
    rng_seed(&r, cfg->seed);
    for (size_t s = 0; s < cfg->warmup; s++) {
        w1_step(ad, &t, &r, cfg->dist, cfg->variant_realloc, &warm, NULL);
        if (cfg->check && (s + 1) % 4096 == 0) {
            overlap_scan(&t);
            if (ad->check && ad->check() != 0)
                FAIL("%s: heap check failed during warmup step %zu", ad->name, s);
        }
    }
    uint64_t t0 = 0, t1 = 0;
    uint64_t before[BENCH_MAX_COUNTERS] = {0};
    if (ad->counters)
        c.ncounters = ad->counters(before, &c.counter_names);
    if (lat) {
        for (size_t s = 0; s < cfg->steps; s++)
            kind[s] = (unsigned char)w1_step(ad, &t, &r, cfg->dist, cfg->variant_realloc, &c, &lat[s]);
    } else if (cfg->callgrind) {
        CALLGRIND_START_INSTRUMENTATION;
        for (size_t s = 0; s < cfg->steps; s++)
            w1_step(ad, &t, &r, cfg->dist, cfg->variant_realloc, &c, NULL);
        CALLGRIND_STOP_INSTRUMENTATION;
    } else if (cfg->check) {
        for (size_t s = 0; s < cfg->steps; s++) {
            w1_step(ad, &t, &r, cfg->dist, cfg->variant_realloc, &c, NULL);
            if ((s + 1) % 4096 == 0) {
                overlap_scan(&t);
                if (ad->check && ad->check() != 0)
                    FAIL("%s: heap check failed at measured step %zu", ad->name, s);
            }
        }
    } else {
        t0 = now_ns();
        for (size_t s = 0; s < cfg->steps; s++)
            w1_step(ad, &t, &r, cfg->dist, cfg->variant_realloc, &c, NULL);
        t1 = now_ns();
    }
    if (c.ncounters > 0) {
        uint64_t after[BENCH_MAX_COUNTERS] = {0};
        const char *const *names = NULL;
        if (ad->counters(after, &names) != c.ncounters)
            FAIL("%s: its counters changed shape during the run", ad->name);
        for (int i = 0; i < c.ncounters; i++) /* 32-bit counters may wrap once */
            c.counter_delta[i] = (after[i] - before[i]) & 0xFFFFFFFFu;
    }
    if (cfg->check) {
        overlap_scan(&t);
        if (ad->check && ad->check() != 0)
            FAIL("%s: heap check failed at the end", ad->name);
    }
    for (size_t i = 0; i < n; i++)
        if (t.ptr[i]) {
            c.live++;
            c.live_bytes += t.size[i];
        }
    slots_done(&t, ad);
    if (out)
        *out = c;
    return t1 - t0;
}

/* ------------------------------------------------------------------- options */
typedef struct {
    const char *adapter, *adapters, *variant;
    size_t heap, steps, warmup, seeds, reps;
    char dist;
    double p;
    uint64_t seed;
    int check, callgrind;
} opts_t;

static void parse(opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->adapter = "capheap";
    o->adapters = "null";
    o->variant = "free";
    o->heap = 65536;
    o->dist = 'a';
    o->p = 0.3;
    o->seed = 1;
    o->seeds = 100;
    o->reps = 3;
    o->steps = 1000000;
    o->warmup = (size_t)-1;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--adapter"))
            o->adapter = v;
        else if (!strcmp(k, "--adapters"))
            o->adapters = v;
        else if (!strcmp(k, "--variant"))
            o->variant = v;
        else if (!strcmp(k, "--heap"))
            o->heap = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--steps"))
            o->steps = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--warmup"))
            o->warmup = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--seeds"))
            o->seeds = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--reps"))
            o->reps = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--dist"))
            o->dist = v[0];
        else if (!strcmp(k, "--p"))
            o->p = strtod(v, NULL);
        else if (!strcmp(k, "--seed"))
            o->seed = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--check"))
            o->check = atoi(v);
        else if (!strcmp(k, "--callgrind"))
            o->callgrind = atoi(v);
        else {
            fprintf(stderr, "ERROR unknown option %s\n", k);
            exit(2);
        }
    }
    if (o->dist != 'a' && o->dist != 'b' && o->dist != 'c') {
        fprintf(stderr, "ERROR --dist must be a, b or c\n");
        exit(2);
    }
    if (o->callgrind)
        prefault = 0;
    if (strcmp(o->variant, "free") && strcmp(o->variant, "realloc")) {
        fprintf(stderr, "ERROR --variant must be free or realloc\n");
        exit(2);
    }
}

static w1_cfg_t w1_cfg_from(const opts_t *o, const bench_adapter_t *ad)
{
    w1_cfg_t c = {
        .ad = ad,
        .heap = o->heap,
        .dist = o->dist,
        .variant_realloc = !strcmp(o->variant, "realloc"),
        .seed = o->seed,
        .steps = o->steps,
        .check = o->check,
        .callgrind = o->callgrind,
    };
    size_t n = slot_count(o->heap, o->dist);
    c.warmup = o->warmup == (size_t)-1 ? warmup_steps(n) : o->warmup;
    return c;
}

static const char *bits(void) { return sizeof(void *) == 8 ? "64" : "32"; }

/* ------------------------------------------------------------------ commands */
static void cmd_w1(const opts_t *o)
{
    const bench_adapter_t *ad = find_adapter(o->adapter);
    w1_cfg_t cfg = w1_cfg_from(o, ad);
    w1_count_t c;
    uint64_t ns = w1_run(&cfg, &c, NULL, NULL);
    printf("RESULT w1 adapter=%s bits=%s heap=%zu dist=%c variant=%s slots=%zu warmup=%zu steps=%zu "
           "ops=%" PRIu64 " allocs=%" PRIu64 " frees=%" PRIu64 " reallocs=%" PRIu64 " fails=%" PRIu64
           " realloc_fails=%" PRIu64 " moved=%" PRIu64 " live=%" PRIu64 " live_bytes=%" PRIu64 " ns=%" PRIu64
           " callgrind=%d check=%d",
           ad->name, bits(), cfg.heap, cfg.dist, o->variant, slot_count(cfg.heap, cfg.dist), cfg.warmup,
           cfg.steps, c.ops, c.allocs, c.frees, c.reallocs, c.fails, c.realloc_fails, c.moved, c.live, c.live_bytes, ns,
           cfg.callgrind, cfg.check);
    for (int i = 0; i < c.ncounters; i++)
        printf(" path_%s=%" PRIu64, c.counter_names[i], c.counter_delta[i]);
    printf("\n");
}

/* Wall time of the measured phase for several adapters in this one process,
 * reps interleaved, minimum per adapter. */
static void cmd_time(const opts_t *o)
{
    const bench_adapter_t *list[16];
    size_t m = 0;
    char *names = strdup(o->adapters);
    for (char *tok = strtok(names, ","); tok && m < 16; tok = strtok(NULL, ","))
        list[m++] = find_adapter(tok);
    uint64_t best[16];
    for (size_t k = 0; k < m; k++)
        best[k] = UINT64_MAX;
    for (size_t rep = 0; rep < o->reps; rep++)
        for (size_t k = 0; k < m; k++) {
            w1_cfg_t cfg = w1_cfg_from(o, list[k]);
            w1_count_t c;
            uint64_t ns = w1_run(&cfg, &c, NULL, NULL);
            if (ns < best[k])
                best[k] = ns;
        }
    for (size_t k = 0; k < m; k++)
        printf("RESULT time adapter=%s bits=%s heap=%zu dist=%c variant=%s steps=%zu reps=%zu "
               "ns_per_op=%.3f\n",
               list[k]->name, bits(), o->heap, o->dist, o->variant, o->steps, o->reps,
               (double)best[k] / (double)o->steps);
    free(names);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t pct(const uint32_t *sorted, size_t n, double q)
{
    size_t k = (size_t)ceil(q * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

/* W3: per-operation ticks (lfence; rdtsc; lfence around each call), minimum
 * over reps of the same seeded run, then percentiles. Also the cost of an
 * empty bracket, so readers can subtract it. */
static void cmd_w3(const opts_t *o)
{
    const bench_adapter_t *ad = find_adapter(o->adapter);
    w1_cfg_t cfg = w1_cfg_from(o, ad);
    size_t n = cfg.steps;
    uint32_t *best = malloc(n * sizeof *best), *lat = malloc(n * sizeof *lat);
    unsigned char *kind = malloc(n), *kind0 = malloc(n);
    if (!best || !lat || !kind || !kind0) {
        fprintf(stderr, "ERROR out of memory\n");
        exit(1);
    }
    for (size_t s = 0; s < n; s++)
        best[s] = UINT32_MAX;
    int same_ops = 1;
    for (size_t rep = 0; rep < o->reps; rep++) {
        w1_count_t c;
        w1_run(&cfg, &c, lat, kind);
        for (size_t s = 0; s < n; s++) {
            if (lat[s] < best[s])
                best[s] = lat[s];
            if (rep == 0)
                kind0[s] = kind[s];
            else if (kind0[s] != kind[s])
                same_ops = 0;
        }
    }
    uint32_t empty = UINT32_MAX;
    for (int k = 0; k < 100000; k++) {
        uint64_t t0 = tick();
        uint32_t d = (uint32_t)(tick() - t0);
        if (d < empty)
            empty = d;
    }
    uint32_t max_kind[3] = {0, 0, 0};
    for (size_t s = 0; s < n; s++)
        if (best[s] > max_kind[kind0[s]])
            max_kind[kind0[s]] = best[s];
    qsort(best, n, sizeof *best, cmp_u32);
    printf("RESULT w3 adapter=%s bits=%s heap=%zu dist=%c variant=%s steps=%zu reps=%zu same_ops=%d "
           "empty=%u p50=%u p90=%u p99=%u p999=%u p9999=%u p99999=%u max=%u max_alloc=%u max_free=%u "
           "max_realloc=%u unit=%s\n",
           ad->name, bits(), cfg.heap, cfg.dist, o->variant, n, o->reps, same_ops, empty, pct(best, n, 0.5),
           pct(best, n, 0.9), pct(best, n, 0.99), pct(best, n, 0.999), pct(best, n, 0.9999),
           pct(best, n, 0.99999), best[n - 1], max_kind[OP_ALLOC], max_kind[OP_FREE], max_kind[OP_REALLOC],
           HAVE_TSC ? "tsc" : "ns");
    free(best);
    free(lat);
    free(kind);
    free(kind0);
}

/* W2: with probability p free a random live block, else allocate log-uniform
 * in 8..H/64; stop at the first allocation that fails although the
 * allocator's own free-byte count is >= the request. Score = live requested
 * bytes / H at that moment. */
typedef struct {
    double score;
    uint64_t steps;
    int stopped; /* 0: the step cap was reached */
    uint64_t honest_fails;
} w2_one_t;

static w2_one_t w2_once(const bench_adapter_t *ad, size_t heap, double p, uint64_t seed, int check)
{
    enum { CAP = 20000000 };
    size_t cap = 1 + heap / 8;
    slots_t t;
    rng_t r;
    w2_one_t res = {0};
    adapter_start(ad, heap);
    slots_init(&t, cap, ad, check);
    rng_seed(&r, seed);
    size_t live = 0, live_req = 0;
    for (uint64_t step = 0; step < CAP; step++) {
        if (live > 0 && rng_unit(&r) < p) {
            size_t k = rng_below(&r, (uint32_t)live);
            verify(&t, k, t.size[k], "W2 life");
            ad->free(t.ptr[k]);
            live_req -= t.size[k];
            live--;
            t.ptr[k] = t.ptr[live];
            t.size[k] = t.size[live];
            t.tag[k] = t.tag[live];
            t.ptr[live] = NULL;
            continue;
        }
        size_t sz = rng_logu(&r, 8, heap / 64);
        unsigned char *q = ad->alloc(sz, 0);
        if (q) {
            if (live == cap) {
                FAIL("%s: W2 more than %zu live blocks", ad->name, cap);
                break;
            }
            check_align(&t, q, sz);
            t.ptr[live] = q;
            t.size[live] = sz;
            mark(&t, live, q, sz);
            live++;
            live_req += sz;
            continue;
        }
        if (ad->free_bytes() >= sz) {
            res.stopped = 1;
            res.steps = step + 1;
            break;
        }
        res.honest_fails++;
    }
    if (!res.stopped)
        res.steps = CAP;
    res.score = (double)live_req / (double)heap;
    if (check) {
        overlap_scan(&t);
        if (ad->check && ad->check() != 0)
            FAIL("%s: heap check failed after W2 seed %" PRIu64, ad->name, seed);
    }
    slots_done(&t, ad);
    return res;
}

static void cmd_w2(const opts_t *o)
{
    const bench_adapter_t *ad = find_adapter(o->adapter);
    if (!(ad->flags & AD_BOUNDED) || !ad->free_bytes) {
        printf("RESULT w2 adapter=%s bits=%s heap=%zu p=%.2f applicable=0\n", ad->name, bits(), o->heap, o->p);
        return;
    }
    double sum = 0, lo = 1e9, hi = 0;
    uint64_t steps = 0, capped = 0, honest = 0;
    for (size_t s = 0; s < o->seeds; s++) {
        w2_one_t r = w2_once(ad, o->heap, o->p, o->seed + s, o->check);
        sum += r.score;
        lo = r.score < lo ? r.score : lo;
        hi = r.score > hi ? r.score : hi;
        steps += r.steps;
        capped += !r.stopped;
        honest += r.honest_fails;
    }
    printf("RESULT w2 adapter=%s bits=%s heap=%zu p=%.2f applicable=1 seeds=%zu mean=%.5f min=%.5f max=%.5f "
           "mean_steps=%.1f capped=%" PRIu64 " honest_fails=%" PRIu64 "\n",
           ad->name, bits(), o->heap, o->p, o->seeds, sum / (double)o->seeds, lo, hi,
           (double)steps / (double)o->seeds, capped, honest);
}

static void cmd_w2b(const opts_t *o)
{
    const bench_adapter_t *ad = find_adapter(o->adapter);
    static const size_t sizes[] = {8, 16, 32, 64, 256};
    if (!(ad->flags & AD_BOUNDED)) {
        printf("RESULT w2b adapter=%s bits=%s heap=%zu applicable=0\n", ad->name, bits(), o->heap);
        return;
    }
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t S = sizes[k], count = 0, cap = o->heap / S + 1;
        slots_t t;
        adapter_start(ad, o->heap);
        slots_init(&t, cap, ad, o->check);
        for (;;) {
            unsigned char *p = ad->alloc(S, 0);
            if (!p)
                break;
            if (count == cap) {
                FAIL("%s: W2b more blocks than bytes", ad->name);
                break;
            }
            check_align(&t, p, S);
            t.ptr[count] = p;
            t.size[count] = S;
            mark(&t, count, p, S);
            count++;
        }
        if (o->check) {
            overlap_scan(&t);
            if (ad->check && ad->check() != 0)
                FAIL("%s: heap check failed after W2b S=%zu", ad->name, S);
        }
        slots_done(&t, ad);
        printf("RESULT w2b adapter=%s bits=%s heap=%zu applicable=1 S=%zu count=%zu score=%.5f\n", ad->name,
               bits(), o->heap, S, count, (double)(S * count) / (double)o->heap);
    }
}

/* W6: header bytes, smallest block and alignment measured from addresses;
 * control bytes and the largest allocation in a fresh 64 KiB heap. */
static size_t stride_of(const bench_adapter_t *ad, size_t size, uintptr_t *or_addr)
{
    enum { K = 16 };
    uintptr_t a[K];
    void *p[K];
    if (ad->flags & AD_BOUNDED)
        adapter_start(ad, 65536);
    for (int i = 0; i < K; i++) {
        p[i] = ad->alloc(size, 0);
        a[i] = (uintptr_t)p[i];
        *or_addr |= a[i];
    }
    qsort(a, K, sizeof a[0], cmp_ptr);
    size_t best = SIZE_MAX;
    for (int i = 1; i < K; i++)
        if (a[i - 1] && a[i] - a[i - 1] < best)
            best = a[i] - a[i - 1];
    for (int i = 0; i < K; i++)
        ad->free(p[i]);
    if (ad->fini)
        ad->fini();
    return best;
}

static void cmd_w6(const opts_t *o)
{
    const bench_adapter_t *ad = find_adapter(o->adapter);
    const size_t H = 65536;
    uintptr_t or_addr = 0;
    size_t header = SIZE_MAX, min_block = stride_of(ad, 1, &or_addr);
    for (size_t s = 1; s <= 512; s++) {
        size_t st = stride_of(ad, s, &or_addr);
        if (st >= s && st - s < header)
            header = st - s;
    }
    /* alignment also over a random W1 run */
    rng_t r;
    rng_seed(&r, o->seed);
    if (ad->flags & AD_BOUNDED)
        adapter_start(ad, H);
    void *keep[64];
    for (int i = 0; i < 64; i++) {
        keep[i] = ad->alloc(draw_size(&r, 'c') % 2000, 0);
        or_addr |= (uintptr_t)keep[i];
    }
    for (int i = 0; i < 64; i++)
        ad->free(keep[i]);
    if (ad->fini)
        ad->fini();
    size_t align = (size_t)(or_addr & (~or_addr + 1));
    printf("RESULT w6 adapter=%s bits=%s header=%zu min_block=%zu align=%zu promised_align=%zu", ad->name, bits(),
           header, min_block, align, ad->default_align);
    if ((ad->flags & AD_BOUNDED) && ad->free_bytes) {
        adapter_start(ad, H);
        size_t fb = ad->free_bytes();
        if (ad->fini)
            ad->fini();
        printf(" control=%zu", H - fb);
    }
    if (ad->control_bytes)
        printf(" control_api=%zu", ad->control_bytes(H));
    if (ad->flags & AD_BOUNDED) {
        size_t lo = 0, hi = H; /* lo succeeds (size 0 or nothing), hi fails */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            adapter_start(ad, H);
            void *p = ad->alloc(mid, 0);
            if (p) {
                ad->free(p);
                lo = mid;
            } else {
                hi = mid;
            }
            if (ad->fini)
                ad->fini();
        }
        printf(" largest=%zu largest_pct=%.3f", lo, 100.0 * (double)lo / (double)H);
    }
    printf("\n");
}

/* ------------------------------------------------------------------- quick */
static int quick_pass, quick_fail;

static void quick_result(const char *what, const char *name, int before)
{
    int ok = errors == before;
    printf("%s %s %s\n", ok ? "ok  " : "FAIL", name, what);
    if (ok)
        quick_pass++;
    else
        quick_fail++;
    fflush(stdout);
}

/* Aligned allocations of every power of two up to 4 KiB, checked. */
static void quick_aligned(const bench_adapter_t *ad)
{
    slots_t t;
    rng_t r;
    rng_seed(&r, 7);
    adapter_start(ad, 1 << 20);
    slots_init(&t, 64, ad, 1);
    for (int round = 0; round < 2000; round++) {
        size_t i = rng_below(&r, 64);
        if (t.ptr[i]) {
            verify(&t, i, t.size[i], "aligned life");
            ad->free(t.ptr[i]);
            t.ptr[i] = NULL;
            continue;
        }
        size_t align = (size_t)1 << (3 + rng_below(&r, 10)), sz = 1 + rng_below(&r, 3000);
        unsigned char *p = ad->alloc(sz, align);
        if (!p)
            continue;
        if (t.touch && ((uintptr_t)p & (align - 1)))
            FAIL("%s: aligned_alloc(%zu) returned %p", ad->name, align, (void *)p);
        t.ptr[i] = p;
        t.size[i] = sz;
        mark(&t, i, p, sz);
    }
    overlap_scan(&t);
    if (ad->check && ad->check() != 0)
        FAIL("%s: heap check failed after aligned allocations", ad->name);
    slots_done(&t, ad);
}

static void cmd_quick(void)
{
    for (int k = 0; adapters[k]; k++) {
        const bench_adapter_t *ad = adapters[k];
        const char *dists = "abc";
        static const size_t heaps[] = {65536, 1 << 20};
        for (int h = 0; h < 2; h++)
            for (int d = 0; d < 3; d++)
                for (int v = 0; v < 2; v++) {
                    int before = errors;
                    opts_t o;
                    char *argv[] = {"", ""};
                    parse(&o, 2, argv);
                    o.adapter = ad->name;
                    o.heap = heaps[h];
                    o.dist = dists[d];
                    o.variant = v ? "realloc" : "free";
                    o.check = 1;
                    o.steps = 10000;
                    o.warmup = 3000;
                    w1_cfg_t cfg = w1_cfg_from(&o, ad);
                    w1_count_t c;
                    w1_run(&cfg, &c, NULL, NULL);
                    if (c.ops != o.steps || c.allocs + c.frees + c.reallocs != c.ops)
                        FAIL("%s: W1 counted %" PRIu64 " ops", ad->name, c.ops);
                    if ((ad->flags & AD_BOUNDED) == 0 && c.fails)
                        FAIL("%s: unbounded allocator failed %" PRIu64 " times", ad->name, c.fails);
                    char what[80];
                    snprintf(what, sizeof what, "W1 heap=%zu dist=%c variant=%s (patterns, overlaps, check)",
                             heaps[h], dists[d], o.variant);
                    quick_result(what, ad->name, before);
                }
        if (ad->flags & AD_NO_MEMORY)
            continue;
        int before = errors;
        quick_aligned(ad);
        quick_result("aligned allocations 8..4096", ad->name, before);
        if ((ad->flags & AD_BOUNDED) && ad->free_bytes) {
            before = errors;
            for (uint64_t s = 1; s <= 3; s++) {
                w2_one_t r = w2_once(ad, 65536, 0.3, s, 1);
                if (!(r.score > 0.2 && r.score <= 1.0))
                    FAIL("%s: W2 score %.3f out of range", ad->name, r.score);
            }
            quick_result("W2 64 KiB, 3 seeds (patterns, overlaps, check)", ad->name, before);
        }
    }
    printf("%d passed, %d failed\n", quick_pass, quick_fail);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: %s list|w1|time|w3|w2|w2b|w6|quick [--option value ...]\n", argv[0]);
        return 2;
    }
    const char *cmd = argv[1];
    opts_t o;
    parse(&o, argc, argv);
    if (!strcmp(cmd, "list")) {
        for (int i = 0; adapters[i]; i++)
            printf("RESULT adapter name=%s flags=%u bits=%s\n", adapters[i]->name, adapters[i]->flags, bits());
        if (sys_identity)
            printf("RESULT malloc_from name=%s file=%s\n", adapter_system.name, sys_identity());
    } else if (!strcmp(cmd, "w1")) {
        cmd_w1(&o);
    } else if (!strcmp(cmd, "time")) {
        cmd_time(&o);
    } else if (!strcmp(cmd, "w3")) {
        cmd_w3(&o);
    } else if (!strcmp(cmd, "w2")) {
        cmd_w2(&o);
    } else if (!strcmp(cmd, "w2b")) {
        cmd_w2b(&o);
    } else if (!strcmp(cmd, "w6")) {
        cmd_w6(&o);
    } else if (!strcmp(cmd, "quick")) {
        cmd_quick();
    } else {
        fprintf(stderr, "ERROR unknown command %s\n", cmd);
        return 2;
    }
    return errors ? 1 : 0;
}
