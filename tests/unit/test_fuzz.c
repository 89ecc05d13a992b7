/*
 * Bad input mixed with good, checked against the header's promises. An input
 * (a byte string) is decoded into a heap of one to three regions and a
 * sequence of calls: allocations of every kind (plain, aligned, calloc,
 * through allocator handles and preference lists; sizes that overflow,
 * alignments that are not powers of two, capabilities no region has),
 * realloc (also through a handle, which must keep its caps and alignment),
 * free, usable_size and add_region, interleaved with the bad
 * pointers and regions the header describes:
 *   - a block freed a second time, before its memory was handed out again;
 *   - a pointer into the middle of a live block, aligned or not;
 *   - a pointer into a region's control data, or into no region at all;
 *   - a call the lock hook refuses (installed for half the inputs; they
 *     also check that lock and unlock pair and that the error handler runs
 *     with the lock released and may call into the heap);
 *   - a NULL, wrapping or overlapping region, and regions around the
 *     smallest size (refused as too small exactly when
 *     capheap_region_overhead says so).
 * For every call the test computes from its own book what the header says
 * must happen (the return value and the one error code reported to the
 * handler, or none) and compares; a plain request within a region's
 * largest_free must succeed, from that region or one tried before it.
 * After every call it runs capheap_check and compares the heap's used
 * bytes, error counts per code, failed allocations and (with CAPHEAP_STATS)
 * allocation and free counts, byte totals and peaks with the book; every 32
 * calls also the walk, the region order, each region's statistics and the
 * contents of every live block (each block's contents are verified before
 * it is freed or resized). At the end everything is freed and each region
 * must be one free block again.
 *
 * Exact expectations for bad pointers need known payload contents: every
 * live block is filled over its whole usable size with even bytes, so an
 * aligned word inside a payload never reads as a used block header. At
 * CAPHEAP_CHECK_LEVEL 1 an aligned interior pointer is then a DOUBLE_FREE
 * (the word before it has its low bit clear), at level 2 an INVALID_PTR (the
 * walk finds it inside a used block). At level 0 no bad pointer is passed
 * (it is undefined behaviour there).
 *
 * Two ways to run it:
 *   test_fuzz [--inputs N] [--seed S]   N pseudo-random inputs (the suite)
 *   built with -DCAPHEAP_LIBFUZZER and clang -fsanitize=fuzzer: a libFuzzer
 *   target (coverage-guided inputs; tests/CMakeLists.txt adds it when the
 *   compiler supports it).
 * A failing input is printed in hex; test_fuzz --replay HEX runs it again.
 */
#include "test.h"

#include <limits.h>

#define MAX_LIVE 48
#define MAX_FREED 16
#define NREG_MAX 6
#define ARENA_SLOT (24 * 1024)

/* Page-aligned: aligned allocations then behave the same in every build. */
static _Alignas(4096) unsigned char arena[NREG_MAX * ARENA_SLOT];
static _Alignas(64) unsigned char foreign[256]; /* never part of a region */

typedef struct {
    unsigned char *p;
    size_t us;      /* usable size (the whole of it is filled) */
    uint32_t caps;  /* capabilities the block must keep */
    size_t align;   /* alignment it must keep (through a handle's realloc) */
    unsigned char fill;
} blk_t;

static capheap_heap_t H;
static blk_t live[MAX_LIVE];
static unsigned char *freed[MAX_FREED]; /* freed, memory not handed out since */
static t_region_t reg[NREG_MAX]; /* the ranges given to add_region, in the order added */
static int reg_prio[NREG_MAX];
static size_t nreg, next_slot;
static err_log_t LOG;
static unsigned long long n_calls, n_bad, n_sure, n_refused;
/* The book of counts: errors reported per code, allocations and frees. */
static uint32_t tally[CAPHEAP_ERROR_KINDS], b_allocs, b_frees;
static uint64_t b_bytes_seen;
static size_t b_peak;

/* ---- input decoding ---- */
typedef struct {
    const uint8_t *d;
    size_t n, i;
} in_t;

static unsigned u8(in_t *in) { return in->i < in->n ? in->d[in->i++] : 0u; }
static unsigned u16(in_t *in) { return u8(in) | (u8(in) << 8); }

static const uint32_t caps_set[] = {
    0, CAPHEAP_CAP_INTERNAL, CAPHEAP_CAP_EXTERNAL, CAPHEAP_CAP_DMA,
    CAPHEAP_CAP_INTERNAL | CAPHEAP_CAP_DMA, CAPHEAP_CAP_USER(3) /* usually absent */,
};
static const uint32_t region_caps[] = {
    CAPHEAP_CAPS_INTERNAL, CAPHEAP_CAPS_INTERNAL | CAPHEAP_CAP_DMA, CAPHEAP_CAPS_EXTERNAL,
    CAPHEAP_CAP_DMA | CAPHEAP_CAP_USER(3),
};

static uint32_t pick_caps(in_t *in) { return caps_set[u8(in) % (sizeof caps_set / sizeof caps_set[0])]; }

/* Sizes: mostly small, some up to a region, some that overflow. */
static size_t pick_size(in_t *in)
{
    unsigned k = u8(in);
    if (k < 120) return u8(in);
    if (k < 200) return u16(in) % 2048u;
    if (k < 240) return u16(in) % (ARENA_SLOT + 4096u);
    switch (k % 4u) {
    case 0: return SIZE_MAX - (size_t)u8(in); /* + header overflows */
    case 1: return SIZE_MAX / 2;              /* representable, never fits */
    case 2: return SIZE_MAX - CAPHEAP_HEADER_SIZE - CAPHEAP_ALIGN + 1u;
    default: return SIZE_MAX - CAPHEAP_HEADER_SIZE - CAPHEAP_ALIGN; /* the largest valid */
    }
}

/* ---- the book ---- */
static bool caps_exist(uint32_t caps)
{
    for (size_t i = 0; i < nreg; i++)
        if ((reg[i].caps & caps) == caps) return true;
    return false;
}

static size_t block_for(size_t size)
{
    size_t b = (size + CAPHEAP_HEADER_SIZE + CAPHEAP_ALIGN - 1u) & ~(size_t)(CAPHEAP_ALIGN - 1u);
    return b < CAPHEAP_MIN_BLOCK ? CAPHEAP_MIN_BLOCK : b;
}

/* The error an allocation that returned NULL must report (header, ERRORS). */
static int alloc_error(size_t size, size_t align, uint32_t caps)
{
    if (size > SIZE_MAX - CAPHEAP_HEADER_SIZE - CAPHEAP_ALIGN) return CAPHEAP_E_SIZE_OVERFLOW;
    if (align > CAPHEAP_ALIGN && block_for(size) > SIZE_MAX - align - CAPHEAP_ALIGN)
        return CAPHEAP_E_SIZE_OVERFLOW;
    return caps_exist(caps) ? CAPHEAP_E_NOMEM : CAPHEAP_E_NO_CAPS;
}

/* Index, in the order regions are tried, of the first region with caps
 * whose largest_free (a request it is sure to satisfy; 0: none) is at least
 * n: a plain request of n bytes must succeed, from that region or one tried
 * before it. nreg if there is none. */
static size_t sure_region(size_t n, uint32_t caps)
{
    for (size_t i = 0; i < nreg; i++) {
        capheap_region_stats_t rs;
        if (capheap_get_region_stats(&H, i, &rs) != CAPHEAP_OK) return nreg;
        if ((rs.caps & caps) == caps && rs.largest_free > 0 && n <= rs.largest_free) return i;
    }
    return nreg;
}

/* Index, in the order regions are tried, of the region holding p. */
static size_t region_index_of(const unsigned char *p)
{
    for (size_t i = 0; i < nreg; i++) {
        capheap_region_stats_t rs;
        if (capheap_get_region_stats(&H, i, &rs) != CAPHEAP_OK) break;
        if (p >= (unsigned char *)rs.start && p < (unsigned char *)rs.start + rs.span) return i;
    }
    return nreg;
}

static void fill(blk_t *b) { memset(b->p, b->fill, b->us); }

static bool intact(const blk_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b->p[i] != b->fill) return false;
    return true;
}

/* Capabilities of the region holding p (0 if none). */
static uint32_t region_caps_of(const unsigned char *p)
{
    size_t i = t_region_index(reg, nreg, p);
    return i < nreg ? reg[i].caps : 0u;
}

/* Forget freed pointers whose header word lies in [lo, hi): handed out again. */
static void handed_out(const unsigned char *lo, const unsigned char *hi)
{
    for (size_t i = 0; i < MAX_FREED; i++)
        if (freed[i] && freed[i] - CAPHEAP_HEADER_SIZE >= lo && freed[i] - CAPHEAP_HEADER_SIZE < hi)
            freed[i] = NULL;
}

static void remember_freed(unsigned char *p, unsigned salt)
{
    freed[salt % MAX_FREED] = p;
}

/* Record a new block; NULL if fine, else what is wrong with it. */
static const char *adopt(size_t slot, unsigned char *p, size_t n, size_t align, uint32_t caps,
                         unsigned char fillb)
{
    size_t us = 0;
    const char *bad = t_vet_block(&H, reg, nreg, p, n, align, caps, &us);
    if (bad != NULL) return bad;
    for (size_t j = 0; j < MAX_LIVE; j++)
        if (j != slot && live[j].p && p - CAPHEAP_HEADER_SIZE < live[j].p + live[j].us &&
            live[j].p - CAPHEAP_HEADER_SIZE < p + us)
            return "new block overlaps a live block";
    handed_out(p - CAPHEAP_HEADER_SIZE, p + us);
    live[slot] = (blk_t){p, us, caps, align, (unsigned char)(fillb & 0xFEu)};
    fill(&live[slot]);
    return NULL;
}

typedef struct {
    size_t blocks_used, payload;
} walk_t;

static bool walk_cb(const capheap_block_info_t *b, void *ctx)
{
    walk_t *w = ctx;
    if (b->used) {
        w->blocks_used++;
        w->payload += b->size;
    }
    return true;
}

/* The heap against the book after every call. */
static const char *audit(bool full)
{
    capheap_check_result_t cr;
    if (capheap_check(&H, &cr) != CAPHEAP_OK) return cr.first ? cr.first : "capheap_check failed";
    size_t n = 0, bytes = 0;
    for (size_t j = 0; j < MAX_LIVE; j++)
        if (live[j].p) {
            n++;
            bytes += live[j].us;
            if (full && !intact(&live[j], live[j].us)) return "a live block's contents changed";
        }
    capheap_stats_t s;
    if (capheap_get_stats(&H, &s) != CAPHEAP_OK) return "get_stats failed";
    if (s.used != bytes + n * CAPHEAP_HEADER_SIZE) return "used bytes differ from the book";
    if (s.used + s.free != s.total_size) return "used + free != total";
    for (int k = 1; k < CAPHEAP_ERROR_KINDS; k++)
        if (s.error_count[k] != tally[k]) return "error_count differs from the errors reported";
#if CAPHEAP_STATS
    uint32_t fails = tally[-CAPHEAP_E_NOMEM] + tally[-CAPHEAP_E_NO_CAPS] + tally[-CAPHEAP_E_SIZE_OVERFLOW] +
                     tally[-CAPHEAP_E_BAD_ALIGN];
    if (s.fail_count != fails) return "fail_count differs from the failed allocations reported";
    if (s.alloc_count != b_allocs) return "alloc_count differs from the book";
    if (s.free_count != b_frees) return "free_count differs from the book";
    /* totals and peaks: bytes handed out minus bytes given back is what is in use */
    if (s.bytes_allocated - s.bytes_freed != s.used) return "bytes_allocated - bytes_freed != used";
    if (s.bytes_allocated < b_bytes_seen) return "bytes_allocated went down";
    b_bytes_seen = s.bytes_allocated;
    if (s.used > b_peak) b_peak = s.used;
    if (s.peak_used < b_peak) return "peak_used below a use the test saw";
#endif
    if (full) {
        /* Regions are tried by priority, highest first; equal ones in the
         * order they were added. */
        int last_prio = INT_MAX;
        size_t last_added = 0, region_used = 0;
        capheap_region_stats_t all_rs[NREG_MAX]; /* kept for the caps sums below */
        for (size_t i = 0; i < nreg; i++) {
            capheap_region_stats_t rs;
            if (capheap_get_region_stats(&H, i, &rs) != CAPHEAP_OK) return "region stats failed";
            all_rs[i] = rs;
            /* start: the given start rounded up to CAPHEAP_ALIGN */
            size_t k = 0;
            unsigned char *st = rs.start;
            while (k < nreg && !(st >= reg[k].lo && st < reg[k].lo + CAPHEAP_ALIGN)) k++;
            if (k == nreg || (uintptr_t)st % CAPHEAP_ALIGN != 0 || st + rs.span > reg[k].hi ||
                rs.priority != reg_prio[k] || rs.caps != reg[k].caps)
                return "a region's stats differ from what was added";
            if (rs.priority > last_prio || (rs.priority == last_prio && k < last_added))
                return "regions are not tried in priority order";
            region_used += rs.used;
            if (rs.used + rs.free != rs.size || rs.size + rs.overhead != rs.span)
                return "a region's sizes do not add up";
#if CAPHEAP_STATS
            if (rs.peak_used < rs.used || rs.min_free_ever != rs.size - rs.peak_used)
                return "a region's peak or minimum free is inconsistent";
#endif
            last_prio = rs.priority;
            last_added = k;
        }
        if (region_used != s.used) return "the regions' used bytes do not add up to the heap's";
        /* capheap_get_caps_stats: the sums over the regions with every bit
         * of caps, for each region's caps, for one bit at a time, and 0 */
        for (size_t q = 0; q < nreg + 9; q++) {
            uint32_t caps = q < nreg ? reg[q].caps : q < nreg + 8 ? 1u << (q - nreg) : 0u;
            capheap_caps_stats_t cs;
            if (capheap_get_caps_stats(&H, caps, &cs) != CAPHEAP_OK) return "caps stats failed";
            size_t cnt = 0, tot = 0, used = 0, largest = 0, minfree = 0;
            uint32_t allocs = 0, frees = 0;
            for (size_t i = 0; i < nreg; i++) {
                const capheap_region_stats_t *rs = &all_rs[i];
                if ((rs->caps & caps) != caps) continue;
                cnt++;
                tot += rs->size;
                used += rs->used;
                minfree += rs->min_free_ever;
                if (rs->largest_free > largest) largest = rs->largest_free;
                allocs += rs->alloc_count;
                frees += rs->free_count;
            }
            if (cs.caps != caps || cs.region_count != cnt || cs.total_size != tot || cs.used != used ||
                cs.free != tot - used || cs.largest_free != largest || cs.min_free_ever != minfree ||
                cs.alloc_count != allocs || cs.free_count != frees)
                return "caps stats differ from the sum of the regions with those caps";
            if (caps == 0u && (cs.used != s.used || cs.total_size != s.total_size ||
                               cs.largest_free != s.largest_free || cs.region_count != s.region_count))
                return "caps stats for caps 0 differ from the heap's stats";
        }
        walk_t w = {0, 0};
        if (capheap_walk(&H, walk_cb, &w) != CAPHEAP_OK) return "walk failed";
        if (w.blocks_used != n || w.payload != bytes) return "walk differs from the book";
    }
    return NULL;
}

/* The error handler must have been called exactly once with code (or not
 * at all when code is CAPHEAP_OK); clears the log. */
static const char *reported(int code)
{
    int count = LOG.count, got = count ? (int)LOG.last.code : 0;
    LOG.count = 0;
    if (code == CAPHEAP_OK) return count == 0 ? NULL : "an error was reported for a good call";
    if (count != 1) return count == 0 ? "a bad call reported no error" : "one call reported twice";
    if (got == code) return NULL;
    static char msg[96];
    snprintf(msg, sizeof msg, "error %d (%s) reported, %d (%s) expected", got, capheap_strerror(got), code,
             capheap_strerror(code));
    return msg;
}

/* A slot holding a live block (want_live) or an empty one, from where the
 * input points on; MAX_LIVE if there is none. */
static size_t pick_slot(in_t *in, bool want_live)
{
    size_t k = u8(in) % MAX_LIVE;
    for (size_t t = 0; t < MAX_LIVE; t++, k = (k + 1) % MAX_LIVE)
        if ((live[k].p != NULL) == want_live) return k;
    return MAX_LIVE;
}

static size_t pick_live(in_t *in) { return pick_slot(in, true); }

/* A bad pointer and the error every call given it must report. */
typedef struct {
    unsigned char *p;
    int err;
    const char *what;
} bad_t;

static bool pick_bad(in_t *in, bad_t *b)
{
    unsigned kind = u8(in) % 5u;
    if (kind == 0) { /* a block freed before, its memory not handed out again */
        for (size_t t = 0, k = u8(in) % MAX_FREED; t < MAX_FREED; t++, k = (k + 1) % MAX_FREED)
            if (freed[k]) {
                *b = (bad_t){freed[k], CAPHEAP_E_DOUBLE_FREE, "a block freed before"};
                return true;
            }
        return false;
    }
    if (kind == 1 || kind == 2) { /* inside a live block: aligned, or not */
        size_t j = pick_live(in);
        if (j == MAX_LIVE) return false;
        size_t off = (size_t)u16(in) % live[j].us;
        if (kind == 1) off &= ~(size_t)(CAPHEAP_ALIGN - 1u);
        else off |= 1u;
        if (off == 0 || off >= live[j].us) return false;
        int err = (off % CAPHEAP_ALIGN) != 0 ? CAPHEAP_E_INVALID_PTR
                  : CAPHEAP_CHECK_LEVEL >= 2 ? CAPHEAP_E_INVALID_PTR
                                             : CAPHEAP_E_DOUBLE_FREE;
        *b = (bad_t){live[j].p + off, err, kind == 1 ? "aligned, inside a live block" : "misaligned"};
        return true;
    }
    if (kind == 3) { /* the control data at the start of a region */
        if (nreg == 0) return false;
        capheap_region_stats_t rs;
        if (capheap_get_region_stats(&H, u8(in) % nreg, &rs) != CAPHEAP_OK) return false;
        size_t off = CAPHEAP_ALIGN * (1u + u8(in) % 2u); /* below the first block */
        *b = (bad_t){(unsigned char *)rs.start + off, CAPHEAP_E_INVALID_PTR, "into control data"};
        return true;
    }
    *b = (bad_t){foreign + CAPHEAP_ALIGN * (u8(in) % 8u), CAPHEAP_E_FOREIGN_PTR, "foreign"};
    return true;
}

/* Lock hooks (installed for some inputs): count, check they nest
 * properly, and refuse the next call on request (as a lock that finds
 * itself already held does). */
#define TOKEN ((uintptr_t)0x5A5A)
static struct {
    bool refuse_next;
    int depth;
    unsigned long locks, unlocks;
    const char *broken; /* first broken promise seen inside a hook */
} lk;

static uintptr_t lock_fn(void *ctx)
{
    (void)ctx;
    if (lk.depth != 0 && !lk.broken) lk.broken = "lock taken twice (nested)";
    if (lk.refuse_next) {
        lk.refuse_next = false;
        return CAPHEAP_LOCK_FAILED;
    }
    lk.depth++;
    lk.locks++;
    return TOKEN;
}

static void unlock_fn(void *ctx, uintptr_t token)
{
    (void)ctx;
    if ((token != TOKEN || lk.depth != 1) && !lk.broken) lk.broken = "unlock without its lock";
    lk.depth--;
    lk.unlocks++;
}

/* The error handler runs after the lock is released and may call into the
 * heap: it reads the statistics every time. */
static void heap_error(capheap_heap_t *h, const capheap_event_t *ev, void *ctx)
{
    err_log_t *log = ctx;
    log->count++;
    log->last = *ev;
    if (ev->code < 0 && -(int)ev->code < CAPHEAP_ERROR_KINDS) tally[-(int)ev->code]++;
    if (lk.depth != 0 && !lk.broken) lk.broken = "error handler called with the lock held";
    capheap_stats_t st;
    if (capheap_get_stats(h, &st) != CAPHEAP_OK && !lk.broken) lk.broken = "heap refused a call from the handler";
}

/* Add a region from the arena; OK or its error, which must match. */
static const char *add_region(in_t *in, bool bad_ok)
{
    unsigned kind = bad_ok ? u8(in) % 6u : 5u;
    unsigned char *mem = NULL;
    size_t size = 0;
    int want = CAPHEAP_OK;
    uint32_t caps = region_caps[u8(in) % (sizeof region_caps / sizeof region_caps[0])];
    int prio = (int)(u8(in) % 5u) - 2;
    switch (kind) {
    case 0:
        size = 4096;
        want = CAPHEAP_E_REGION_NULL;
        break;
    case 1:
        mem = (unsigned char *)(UINTPTR_MAX - 63u);
        size = 128;
        want = CAPHEAP_E_REGION_WRAPS;
        break;
    case 2: /* a range inside (or equal to) one already added */
        if (nreg == 0) return NULL;
        { /* from the middle of the range: inside the region's blocks, whatever was trimmed */
            size_t i = u8(in) % nreg, span = (size_t)(reg[i].hi - reg[i].lo);
            if (span < 16) return NULL;
            size_t a = span / 4u + (size_t)u16(in) % (span / 4u);
            mem = reg[i].lo + a;
            size = 1u + (size_t)u16(in) % (span - a);
        }
        want = CAPHEAP_E_REGION_OVERLAP;
        break;
    case 3: /* around the smallest region: control data, one block, end marker */
        if (next_slot == NREG_MAX || nreg == NREG_MAX) return NULL;
        mem = arena + next_slot * ARENA_SLOT; /* aligned: nothing is trimmed */
        size = (size_t)u8(in) % 160u;
        if (capheap_region_overhead(size) + CAPHEAP_MIN_BLOCK > size) want = CAPHEAP_E_REGION_TOO_SMALL;
        break;
    default: /* a good one, odd start and size, in a fresh slot */
        if (next_slot == NREG_MAX || nreg == NREG_MAX) return NULL;
        mem = arena + next_slot * ARENA_SLOT + u8(in) % 16u;
        size = 1024u + (size_t)u16(in) % (ARENA_SLOT - 1024u - 16u);
        break;
    }
    capheap_region_t *out = (capheap_region_t *)&out; /* must be overwritten */
    int rc = capheap_add_region_ex(&H, mem, size, caps, prio, &out);
    n_calls++;
    if (rc != want) return "add_region returned an unexpected code";
    if (want == CAPHEAP_OK ? out == NULL : out != NULL) return "add_region's region_out is wrong";
    const char *e = reported(want);
    if (e) return e;
    if (want == CAPHEAP_OK) {
        reg[nreg].lo = mem;
        reg[nreg].hi = mem + size;
        reg[nreg].caps = caps;
        reg_prio[nreg] = prio;
        nreg++;
        next_slot++;
    } else {
        n_bad++;
    }
    return NULL;
}

/* One input: the heap, then calls until the input ends. NULL if every
 * promise held, else the first that did not. */
static const char *run_input(const uint8_t *data, size_t size)
{
    in_t in = {data, size, 0};
    const char *e;
    capheap_init(&H);
    memset(live, 0, sizeof live);
    memset(freed, 0, sizeof freed);
    nreg = next_slot = 0;
    memset(&LOG, 0, sizeof LOG);
    capheap_set_error_handler(&H, heap_error, &LOG);
    memset(&lk, 0, sizeof lk);
    memset(tally, 0, sizeof tally);
    b_allocs = b_frees = 0;
    b_bytes_seen = 0;
    b_peak = 0;
    bool locked = u8(&in) & 1u;
    if (locked) capheap_set_lock(&H, lock_fn, unlock_fn, NULL);
    unsigned first = 1u + u8(&in) % 3u;
    for (unsigned i = 0; i < first; i++)
        if ((e = add_region(&in, false)) != NULL) return e;

    for (unsigned op = 0; in.i < in.n; op++) {
        unsigned kind = u8(&in) % 16u;
        n_calls++;
        switch (kind) {
        case 0: case 1: case 2: case 3: case 4: { /* allocate */
            size_t slot = pick_slot(&in, false);
            if (slot == MAX_LIVE) break;
            size_t n = pick_size(&in), align = 0;
            uint32_t caps = pick_caps(&in);
            unsigned how = u8(&in) % 6u;
            unsigned char *p;
            int err;
            if (how == 0) {
                size_t sure = sure_region(n, caps);
                n_sure += sure < nreg;
                p = capheap_alloc_caps(&H, n, caps);
                err = alloc_error(n, 0, caps);
                if (!p && sure < nreg) return "a request within a region's largest_free failed";
                if (p && region_index_of(p) > sure)
                    return "a block came from a region tried after one sure to have room";
            } else if (how == 1) {
                unsigned a = u8(&in);
                /* some zero or not powers of two */
                align = a < 200 ? (size_t)1 << (a % 12u) : a == 255 ? 0u : (size_t)a;
                p = capheap_aligned_alloc_caps(&H, align, n, caps);
                err = align == 0 || (align & (align - 1u)) != 0 ? CAPHEAP_E_BAD_ALIGN
                                                               : alloc_error(n, align, caps);
            } else if (how == 2) {
                size_t count = u8(&in) % 4u == 0 ? SIZE_MAX / 2 + 1u : (size_t)u8(&in) % 64u;
                size_t each = n % 128u + 1u;
                bool ovf = count != 0 && each > SIZE_MAX / count;
                p = capheap_calloc_caps(&H, count, each, caps);
                err = ovf ? CAPHEAP_E_SIZE_OVERFLOW : alloc_error(count * each, 0, caps);
                if (p) {
                    for (size_t i = 0; i < count * each; i++)
                        if (p[i] != 0) return "calloc memory not zero";
                    n = count * each;
                }
            } else if (how == 3) {
                p = capheap_realloc_caps(&H, NULL, n, caps); /* realloc(NULL) allocates */
                err = alloc_error(n, 0, caps);
            } else if (how == 4) { /* through a handle: its caps and minimum alignment */
                static const size_t aligns[] = {0, 8, 16, 32, 64, 256};
                align = aligns[u8(&in) % 6u];
                capheap_allocator_t a = {&H, caps, align};
                p = capheap_allocator_alloc(&a, n);
                err = alloc_error(n, align, caps);
            } else { /* a preference list: the first set that succeeds */
                uint32_t sets[3] = {caps, pick_caps(&in), pick_caps(&in)};
                size_t nsets = u8(&in) % 4u;
                p = capheap_alloc_prefer(&H, n, sets, nsets);
                bool any = false;
                for (size_t i = 0; i < nsets; i++) any = any || caps_exist(sets[i]);
                err = alloc_error(n, 0, 0) == CAPHEAP_E_SIZE_OVERFLOW && nsets > 0 ? CAPHEAP_E_SIZE_OVERFLOW
                      : any ? CAPHEAP_E_NOMEM : CAPHEAP_E_NO_CAPS;
                /* the block's region must have one of the sets: keep that one */
                caps = 0;
                if (p) {
                    uint32_t rc = region_caps_of(p);
                    size_t i = 0;
                    while (i < nsets && (rc & sets[i]) != sets[i]) i++;
                    if (i == nsets) return "alloc_prefer's block is in a region with none of the sets";
                    caps = sets[i];
                }
            }
            if ((e = reported(p ? CAPHEAP_OK : err)) != NULL) return e;
            if (p && (e = adopt(slot, p, n, align, caps, (unsigned char)u8(&in))) != NULL) return e;
            b_allocs += p != NULL;
            break;
        }
        case 5: case 6: case 7: { /* free a live block */
            size_t j = pick_live(&in);
            if (j == MAX_LIVE) break;
            if (!intact(&live[j], live[j].us)) return "contents changed before free";
            if (capheap_free(&H, live[j].p) != CAPHEAP_OK) return "free of a live block failed";
            if ((e = reported(CAPHEAP_OK)) != NULL) return e;
            b_frees++;
            remember_freed(live[j].p, u8(&in));
            live[j].p = NULL;
            break;
        }
        case 8: case 9: { /* realloc a live block */
            size_t j = pick_live(&in);
            if (j == MAX_LIVE) break;
            size_t n = pick_size(&in);
            bool keep_caps = u8(&in) & 1u;
            uint32_t caps = keep_caps ? live[j].caps : pick_caps(&in);
            blk_t old = live[j];
            /* Through a handle with the block's alignment: kept when it moves.
             * Plain realloc keeps CAPHEAP_ALIGN only. */
            bool handle = u8(&in) & 1u;
            size_t align = handle ? old.align : 0;
            /* Growing into the free block before it is in place (not counted
             * as an allocation). A block resized in place must have the caps
             * (else a new block elsewhere) and, through a handle, the handle's
             * alignment, which the block moved down must keep; else a new
             * block may land on that same address, but it is a move. */
            uintptr_t amask = align > CAPHEAP_ALIGN ? align - 1u : 0u;
            bool in_place = (region_caps_of(old.p) & caps) == caps && ((uintptr_t)old.p & amask) == 0u;
            unsigned char *down = in_place ? t_free_block_before(&H, old.p) : NULL;
            if (down != NULL && ((uintptr_t)down & amask) != 0u) down = NULL;
            capheap_allocator_t a = {&H, caps, align};
            unsigned char *q = handle ? capheap_allocator_realloc(&a, old.p, n)
                                      : capheap_realloc_caps(&H, old.p, n, caps);
            if (n == 0) { /* frees, returns NULL, no error */
                if (q != NULL) return "realloc to 0 did not return NULL";
                if ((e = reported(CAPHEAP_OK)) != NULL) return e;
                b_frees++;
                live[j].p = NULL;
                remember_freed(old.p, (unsigned)j);
                break;
            }
            if (q == NULL) {
                if ((e = reported(alloc_error(n, align, caps))) != NULL) return e;
                if (!intact(&old, old.us)) return "a failed realloc changed the block";
                break;
            }
            if ((e = reported(CAPHEAP_OK)) != NULL) return e;
            live[j].p = NULL;
            blk_t moved = {q, old.us, caps, align, old.fill};
            if (!intact(&moved, old.us < n ? old.us : n)) return "realloc lost the contents";
            if (q != old.p) remember_freed(old.p, (unsigned)j);
            if (q != old.p && q != down) { /* moved: one allocation and one free */
                b_allocs++;
                b_frees++;
            }
            if ((e = adopt(j, q, n, align, caps, old.fill)) != NULL) return e;
            break;
        }
        case 10: { /* usable size of a live block */
            size_t j = pick_live(&in);
            if (j == MAX_LIVE) break;
            if (capheap_usable_size(&H, live[j].p) != live[j].us) return "usable size changed";
            if ((e = reported(CAPHEAP_OK)) != NULL) return e;
            break;
        }
        case 11: case 12: case 13: { /* a bad pointer to free, realloc or usable_size */
            bad_t b;
            if (CAPHEAP_CHECK_LEVEL < 1 || !pick_bad(&in, &b)) break;
            n_bad++;
            unsigned how = u8(&in) % 4u;
            if (how == 0) {
                if (capheap_free(&H, b.p) != b.err) return "free of a bad pointer: wrong code";
            } else if (how == 1) {
                if (capheap_realloc(&H, b.p, 1u + u8(&in)) != NULL) return "realloc of a bad pointer succeeded";
            } else if (how == 2) { /* through a handle that moves blocks to keep its alignment */
                capheap_allocator_t a = {&H, pick_caps(&in), 64};
                if (capheap_allocator_realloc(&a, b.p, 1u + u8(&in)) != NULL)
                    return "a handle's realloc of a bad pointer succeeded";
            } else {
                if (capheap_usable_size(&H, b.p) != 0) return "usable_size of a bad pointer is not 0";
            }
            if ((e = reported(b.err)) != NULL) {
                fprintf(stderr, "  bad pointer: %s, call %u\n", b.what, how);
                return e;
            }
            break;
        }
        case 14: /* a region, good or bad; or a call the lock refuses */
            if (!locked || (u8(&in) & 1u)) {
                if ((e = add_region(&in, true)) != NULL) return e;
                break;
            }
            {
                size_t j = pick_live(&in);
                if (j == MAX_LIVE) break;
                unsigned how = u8(&in) % 4u;
                lk.refuse_next = true;
                if (how == 0) {
                    if (capheap_alloc(&H, 16) != NULL) return "a refused alloc returned a block";
                } else if (how == 1) {
                    if (capheap_free(&H, live[j].p) != CAPHEAP_E_REENTRY) return "a refused free did not say REENTRY";
                } else if (how == 2) {
                    if (capheap_realloc(&H, live[j].p, 8) != NULL) return "a refused realloc returned a block";
                } else {
                    if (capheap_usable_size(&H, live[j].p) != 0) return "a refused usable_size was not 0";
                }
                if (lk.refuse_next) return "the call did not take the lock";
                n_bad++;
                n_refused++;
                if ((e = reported(CAPHEAP_E_REENTRY)) != NULL) return e;
            }
            break;
        default: { /* NULL: free does nothing, usable_size is 0, neither reports */
            if (capheap_free(&H, NULL) != CAPHEAP_OK) return "free(NULL) failed";
            if (capheap_usable_size(&H, NULL) != 0) return "usable_size(NULL) is not 0";
            if ((e = reported(CAPHEAP_OK)) != NULL) return e;
            break;
        }
        }
        if (lk.broken) return lk.broken;
        if (lk.depth != 0 || lk.locks != lk.unlocks) return "lock and unlock calls do not pair";
        if ((e = audit(op % 32u == 0)) != NULL) return e;
    }
    if ((e = audit(true)) != NULL) return e;
    /* Everything back: each region is one free block again. */
    for (size_t j = 0; j < MAX_LIVE; j++)
        if (live[j].p) {
            if (capheap_free(&H, live[j].p) != CAPHEAP_OK) return "final free failed";
            b_frees++;
            live[j].p = NULL;
        }
    capheap_stats_t s;
    (void)capheap_get_stats(&H, &s);
    if (s.used != 0) return "used bytes left after freeing everything";
    for (size_t i = 0; i < s.region_count; i++) {
        capheap_region_stats_t rs;
        if (capheap_get_region_stats(&H, i, &rs) != CAPHEAP_OK) return "region stats failed";
        if (rs.largest_free + CAPHEAP_HEADER_SIZE != rs.size) return "a region did not merge back";
    }
    return audit(true);
}

static void print_hex(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%02x", d[i]);
    fprintf(stderr, "\n");
}

#ifdef CAPHEAP_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *e = run_input(data, size);
    if (e != NULL) {
        fprintf(stderr, "promise broken: %s\ninput: ", e);
        print_hex(data, size);
        abort();
    }
    return 0;
}
#else
static unsigned long g_inputs = 3000;
static unsigned long long g_seed = 1;
static const char *g_replay;

static void test_random_inputs(void)
{
    static uint8_t buf[4096];
    rng_t r = {g_seed * 0x9E3779B97F4A7C15ull + 7};
    for (unsigned long k = 0; k < g_inputs; k++) {
        size_t n = 16u + rng_below(&r, (uint32_t)sizeof buf - 16u);
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rng_next(&r);
        const char *e = run_input(buf, n);
        if (e != NULL) {
            fprintf(stderr, "  input %lu (seed %llu): %s\n  replay: test_fuzz --replay ", k, g_seed, e);
            print_hex(buf, n);
            CHECK(e == NULL);
        }
    }
    /* The inputs reached the bad calls and the good ones in numbers. */
    printf("  %lu inputs, %llu calls, %llu with bad input (%llu refused by the lock), %llu allocations sure "
           "to succeed\n", g_inputs, n_calls, n_bad, n_refused, n_sure);
    CHECK(n_bad > n_calls / 50u || CAPHEAP_CHECK_LEVEL < 1);
    CHECK(n_sure > n_calls / 100u);
    CHECK(n_refused > n_calls / 1000u);
}

static void test_replay(void)
{
    static uint8_t buf[1 << 16];
    size_t n = 0;
    for (const char *s = g_replay; s[0] && s[1] && n < sizeof buf; s += 2) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) break;
        buf[n++] = (uint8_t)v;
    }
    const char *e = run_input(buf, n);
    if (e != NULL) fprintf(stderr, "  %s\n", e);
    CHECK(e == NULL);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--inputs")) g_inputs = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seed")) g_seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--replay")) g_replay = argv[i + 1];
    }
    if (g_replay) RUN(test_replay);
    else RUN(test_random_inputs);
    return t_summary();
}
#endif
