/*
 * capheap.c - the core: regions, blocks, size classes, capability dispatch,
 * validation, statistics and the invariant checker.
 *
 * Freestanding C11: only <stddef.h>, <stdint.h>, <stdbool.h>, <limits.h>.
 * memset/memcpy/memmove are used by calloc and realloc only (nothing else
 * calls them, and zeroing loops go through volatile stores so that the
 * compiler does not substitute calls either).
 *
 * ---------------------------------------------------------------------------
 * MEMORY LAYOUT OF A REGION (W = sizeof(uintptr_t), G = 2W granule)
 *
 *   base (G-aligned)
 *   +-------------------+  struct capheap_region (list link, caps, bitmaps'
 *   | region header     |  first level, stats)
 *   +-------------------+
 *   | class heads       |  uint32_t per size class: offset of the first free
 *   |                   |  block from base, 0 = empty. Classes 0 and 1 can
 *   |                   |  never hold a block (MIN_BLOCK is 2 granules) and
 *   |                   |  are not stored.
 *   +-------------------+
 *   | second-level maps |  one sl_map_t per first-level class (none when
 *   |                   |  CAPHEAP_SL_BITS is 0: one class per octave)
 *   +-------------------+  padding so that payloads are G-aligned
 *   | block | block |...|  blocks tile the rest exactly
 *   +-------------------+
 *   | end marker        |  one header word: size 0, USED. Lets free() merge
 *   +-------------------+  with the next block without a bounds check.
 *
 * A BLOCK
 *   used:  [hdr: size|flags][payload .............................]
 *   free:  [hdr: size|flags][next][prev] ......... [size (tag)]
 *   hdr bit 0 USED       this block is allocated
 *   hdr bit 1 PREV_USED  the block before this one is allocated; if clear,
 *                        the word before this header is the previous
 *                        block's size (its boundary tag)
 *   Sizes count the header and are multiples of G, so the low log2(G) bits
 *   of the header are free for flags. next/prev are addresses, one word
 *   each: header, links and tag fill the minimum block (4 words).
 *
 * INVARIANTS (checked by capheap_check, stated once here)
 *   I1 blocks tile [first block, end marker) exactly; sizes >= MIN_BLOCK.
 *   I2 no two free blocks are adjacent (merging is eager).
 *   I3 PREV_USED of every block (and of the end marker) equals USED of the
 *      block before it; the first block has PREV_USED set.
 *   I4 every free block ends with a tag equal to its size.
 *   I5 every free block is in the list of class class_of(size) exactly once;
 *      lists are doubly linked through addresses and hold nothing else.
 *   I6 bit (fl, sl) of the bitmaps is set iff that list is non-empty; bit fl
 *      of the first level is set iff its second-level map is non-zero. (With
 *      CAPHEAP_SL_BITS 0 the first level is the only map: bit i is set iff
 *      list i is non-empty.)
 *   I7 (CAPHEAP_STATS >= 1) region->used is the sum of the sizes of its used
 *      blocks; peak >= used; heap used is the sum over regions and heap
 *      peak >= heap used. (At 0 there are no counters: the used bytes are
 *      summed by a walk when statistics are read.)
 *   I8 region->max_req is end - lo - W, the request that fills the whole
 *      region. The class table holds the class of a block of that size, and
 *      the good class (see good_class) of any such block is at most one
 *      past it. A request with size <= max_req needs no bound check on its
 *      own class; with one level its good class needs none either (no
 *      bit of the map is set at or beyond nfl, so one past reads as empty).
 *      With two levels find_class checks the first-level index.
 *   I9 header bits below G other than USED and PREV_USED are zero (so a
 *      listed block's header is exactly its size | PREV_USED, by I2, I3).
 */
#include "capheap.h"

#include <limits.h>

/* ---- freestanding access to the three memory functions we may use ---- */
#if defined(__GNUC__) || defined(__clang__)
#define ch_memset __builtin_memset
#define ch_memcpy __builtin_memcpy
#define ch_memmove __builtin_memmove
#else
void *memset(void *, int, size_t);
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
#define ch_memset memset
#define ch_memcpy memcpy
#define ch_memmove memmove
#endif

/* Hot-path helpers are forced inline when optimising for speed; at -Os the
 * compiler decides (code size matters more there). */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__OPTIMIZE_SIZE__)
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif
/* Full unrolling of a short loop with a constant trip count (GCC speed
 * builds; clang unrolls such loops by itself, and warns where a demand
 * cannot be met). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8 && !defined(__OPTIMIZE_SIZE__)
#define UNROLL _Pragma("GCC unroll 8")
#else
#define UNROLL
#endif

/* alloc and free have a fast path for the unlocked, idle heap when
 * optimising for speed; at -Os they are the general path alone (smaller). */
#if defined(__OPTIMIZE_SIZE__)
#define FAST_PATHS 0
#else
#define FAST_PATHS 1
#endif

/* x86 has few registers and addressing modes with base, scaled index and
 * displacement. There the hot paths are written so that the compiler keeps
 * fewer values in registers (head_slot, good_class): on x86-64 that decided
 * whether the allocation fast path needs a stack frame (W1 lean 2 to 3
 * instructions per operation fewer). Elsewhere the plain forms are better:
 * on RV32 two instructions fewer in the worst case, on Cortex-M smaller. */
#if defined(__x86_64__) || defined(__i386__)
#define FEW_REGS 1
#else
#define FEW_REGS 0
#endif

/* A fact the compiler cannot see (here: a bound that an invariant
 * guarantees), so that it drops code for the impossible case. */
#if defined(__GNUC__) || defined(__clang__)
#define ASSUME(c) ((c) ? (void)0 : __builtin_unreachable())
#else
#define ASSUME(c) ((void)0)
#endif

/* Always inlined, also at -Os: for a body shared by two entry points that
 * pass constants, so that each folds to what it uses (the plain realloc
 * then does not pull in the aligned allocation). */
#if defined(__GNUC__) || defined(__clang__)
#define FOLD static inline __attribute__((always_inline))
#else
#define FOLD static inline
#endif

/* Paths kept out of the fast paths (locking, failures): never inlined, so
 * the fast paths stay leaves that save no registers. */
#if (defined(__GNUC__) || defined(__clang__)) && FAST_PATHS
#define COLD static __attribute__((noinline, cold))
#else
#define COLD static
#endif

typedef uintptr_t word_t;

#define W ((size_t)sizeof(word_t))
#define G ((size_t)CAPHEAP_ALIGN)
#define GMASK (G - 1u)
#define MIN_BLOCK ((size_t)CAPHEAP_MIN_BLOCK)
#define F_USED ((word_t)1u)
#define F_PREV_USED ((word_t)2u)
#define F_MASK ((word_t)GMASK)

#if UINTPTR_MAX == 0xFFFFFFFFu
#define GSHIFT 3u
#elif UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
#define GSHIFT 4u
#else
#error "capheap supports 32-bit and 64-bit pointers"
#endif

#define SLB ((unsigned)CAPHEAP_SL_BITS)
#define SLN (1u << SLB)
/* One class per power of two: the first-level map is the only bitmap, one
 * bit per class, and there are no second-level maps. */
#define ONE_LEVEL (CAPHEAP_SL_BITS == 0)
/* Classes 0 and 1 are never used: a block has at least 2 granules. */
#define FIRST_CLASS 2u

#if CAPHEAP_SL_BITS <= 3
typedef uint8_t sl_map_t;
#elif CAPHEAP_SL_BITS == 4
typedef uint16_t sl_map_t;
#else
typedef uint32_t sl_map_t;
#endif

/* A region's offsets and byte counts are 32-bit: at most this many bytes. */
#define REGION_MAX ((size_t)0xFFFFFFC0u)

struct capheap_region {
    capheap_region_t *next;  /* next region in try order */
    uint32_t caps;
    uint32_t fl_map;         /* bit fl: sl_map[fl] != 0 */
    uint32_t end;            /* bytes from base owned by the region (end marker + W) */
    uint32_t max_req;        /* largest request a block here can serve: end - lo - W (I8) */
    uint16_t lo;             /* offset of the first payload (control data < 64 KiB) */
#if !ONE_LEVEL
    uint16_t sl_off;         /* offset of the second-level maps */
#endif
    int8_t priority;
    uint8_t nfl;             /* number of first-level classes */
#if CAPHEAP_STATS
    uint32_t used;           /* bytes in used blocks */
    uint32_t peak;
    uint32_t allocs;
    uint32_t frees;
#endif
#if CAPHEAP_STATS >= 2
    capheap_path_stats_t path; /* how often each path ran (CAPHEAP_STATS 2) */
#endif
};

/* Counting a path (CAPHEAP_STATS 2 only; nothing otherwise). */
#if CAPHEAP_STATS >= 2
#define PATH(r, field) ((r)->path.field++)
#else
#define PATH(r, field) ((void)0)
#endif

/* Links (class heads, free-list next/prev) are addresses; 0 = none (no
 * block starts at address 0). */
typedef uintptr_t link_t;

typedef struct fblk {
    word_t hdr;
    link_t next; /* next free block in the class list, 0 = none */
    link_t prev; /* the word pointing here: class head slot or previous next */
} fblk_t;

_Static_assert(sizeof(word_t) == sizeof(void *), "header is one pointer-sized word");
_Static_assert(CAPHEAP_HEADER_SIZE * 2u == CAPHEAP_ALIGN, "granule is two words");
_Static_assert(sizeof(fblk_t) + sizeof(word_t) <= CAPHEAP_MIN_BLOCK,
               "a minimum block must hold header, links and boundary tag");
_Static_assert(sizeof(capheap_path_stats_t) == 7u * sizeof(uint32_t),
               "path counters are read and zeroed as an array of uint32_t");
_Static_assert(sizeof(struct capheap_region) + ((33u - GSHIFT) << CAPHEAP_SL_BITS) * sizeof(link_t) +
                       (33u - GSHIFT) * sizeof(sl_map_t) + 2u * G <= 0xFFFFu,
               "the first payload offset of any region fits region->lo (16 bits)");
_Static_assert(sizeof(struct capheap_region) % sizeof(link_t) == 0,
               "class heads follow the region header word-aligned");
_Static_assert(sizeof(struct capheap_region) >= FIRST_CLASS * sizeof(link_t),
               "head array base may point FIRST_CLASS entries into the header");

/* ===================================================================== */
/* Bit helpers                                                            */
/* ===================================================================== */
#if CAPHEAP_USE_INTRINSICS
static inline unsigned ctz32(uint32_t x) { return (unsigned)__builtin_ctz(x); }
/* 31 ^ clz rather than 31 - clz: compilers turn it into one bit-scan. */
static inline unsigned fls32(uint32_t x) { return (unsigned)__builtin_clz(x) ^ 31u; }
#else
/* de Bruijn sequences: a multiply and a 32-byte table instead of a libgcc
 * call on cores without count-leading/trailing-zero instructions. */
static const uint8_t ch_debruijn_ctz[32] = {0,  1,  28, 2,  29, 14, 24, 3,  30, 22, 20,
                                            15, 25, 17, 4,  8,  31, 27, 13, 23, 21, 19,
                                            16, 7,  26, 12, 18, 6,  11, 5,  10, 9};
/* floor(log2(i)) for i = 1..255 (entry 0 is never read). */
static const uint8_t ch_log2_byte[256] = {
    0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
};
static inline unsigned ctz32(uint32_t x)
{
    return ch_debruijn_ctz[((x & (0u - x)) * 0x077CB531u) >> 27];
}
static inline unsigned fls32(uint32_t x)
{
    /* Two branch-free shifts narrow x to a byte, then a 256-entry table:
     * eleven instructions on RV32IMAC whatever x is (a de Bruijn multiply
     * after smearing the bits takes sixteen). */
    unsigned k16 = (unsigned)(x > 0xFFFFu) << 4;
    x >>= k16;
    unsigned k8 = (unsigned)(x > 0xFFu) << 3;
    x >>= k8;
    return k16 + k8 + ch_log2_byte[x];
}
#endif

#if !ONE_LEVEL
/* Lowest set bit of a second-level map (m != 0). */
static inline unsigned ctz_sl(uint32_t m)
{
#if !CAPHEAP_USE_INTRINSICS && CAPHEAP_SL_BITS <= 3
    /* The map is a byte: isolate its lowest bit and read the log table
     * (four instructions instead of the multiply sequence). */
    return ch_log2_byte[m & (0u - m)];
#else
    return ctz32(m);
#endif
}
#endif

/* Class index of a block of n granules (n >= 2): classes are exact below
 * 2*SLN granules, then SLN classes per power of two (one per power of two
 * when SLB is 0). *sh receives log2 of the class's width in granules. */
static inline unsigned class_and_width(uint32_t n, unsigned *sh)
{
#if ONE_LEVEL
    *sh = fls32(n);
    return *sh + 1u;
#else
    *sh = fls32(n | SLN) - SLB;
    return (*sh << SLB) + (unsigned)(n >> *sh);
#endif
}

HOT unsigned class_of(uint32_t n)
{
    unsigned sh;
    return class_and_width(n, &sh);
}

/* ===================================================================== */
/* Region and block access                                                */
/* ===================================================================== */
static inline char *rbase(const capheap_region_t *r) { return (char *)(uintptr_t)r; }

static inline link_t *heads(const capheap_region_t *r)
{
    /* Entry i lives at header + sizeof(header) + sizeof(link_t) * (i - FIRST_CLASS). */
    return (link_t *)(void *)(rbase(r) + sizeof(*r) - FIRST_CLASS * sizeof(link_t));
}

/* &heads(r)[idx]. With FEW_REGS it is written as one offset from the
 * region base, which the compiler folds into the addressing mode of the
 * load or store instead of keeping heads(r) in a register. Elsewhere it is
 * a macro: as an inline function it changed gcc's inlining on RV32 and cost
 * the two-level build's worst case an instruction. */
#if FEW_REGS
static inline link_t *head_slot(const capheap_region_t *r, unsigned idx)
{
    return (link_t *)(void *)(rbase(r) + (sizeof(*r) - FIRST_CLASS * sizeof(link_t) +
                                          (size_t)idx * sizeof(link_t)));
}
#else
#define head_slot(r, idx) (&heads(r)[idx])
#endif

#if !ONE_LEVEL
static inline sl_map_t *sl_maps(const capheap_region_t *r)
{
    return (sl_map_t *)(void *)(rbase(r) + r->sl_off);
}
#endif

static inline void *link_ptr(link_t l) { return (void *)l; }
static inline link_t link_of(const void *p) { return (link_t)p; }
static inline fblk_t *at(link_t l) { return (fblk_t *)link_ptr(l); }

/* Offset from the region base of a link. */
static inline uintptr_t link_off(const capheap_region_t *r, link_t l) { return l - link_of(r); }

static inline size_t bsize(const fblk_t *b) { return (size_t)(b->hdr & ~F_MASK); }

static inline fblk_t *next_blk(fblk_t *b, size_t size)
{
    return (fblk_t *)(void *)((char *)b + size);
}

static inline void set_tag(fblk_t *b, size_t size)
{
    *(word_t *)(void *)((char *)b + size - W) = (word_t)size;
}

static inline fblk_t *end_marker(const capheap_region_t *r)
{
    return (fblk_t *)(void *)(rbase(r) + r->end - W);
}

static inline fblk_t *first_blk(const capheap_region_t *r)
{
    return (fblk_t *)(void *)(rbase(r) + r->lo - W);
}

/* The block after b, of s bytes, in a walk of a region whose end marker is
 * e; NULL when s cannot be a block size there (below the minimum, or past
 * the end marker: a corrupted header, which capheap_check reports), so that
 * every walk stops there instead of looping or leaving the region. */
static inline fblk_t *walk_next(fblk_t *b, size_t s, const fblk_t *e)
{
    if (s < MIN_BLOCK || s > (size_t)((const char *)e - (const char *)b)) return NULL;
    return next_blk(b, s);
}

/* ===================================================================== */
/* Free lists                                                             */
/* ===================================================================== */
/* A free block's prev field holds the link of the word that points to it:
 * the class head slot for the first block of a list, else the previous
 * block's next field. Removing any block is then the same two stores, and
 * the class (a count of leading zeros) is needed only when a list empties,
 * where it follows from the slot's position. */
static inline unsigned slot_class(const capheap_region_t *r, link_t slot)
{
    return (unsigned)(link_off(r, slot) - sizeof(struct capheap_region)) / (unsigned)sizeof(link_t) +
           FIRST_CLASS;
}

#define NEXT_FIELD ((link_t)offsetof(fblk_t, next))

HOT void bit_clear(capheap_region_t *r, unsigned idx)
{
    PATH(r, lists_emptied);
#if ONE_LEVEL
#if defined(__riscv)
    r->fl_map ^= 1u << idx; /* known set (I6): one instruction cheaper */
#else
    r->fl_map &= ~(1u << idx);
#endif
#else
    sl_map_t *m = &sl_maps(r)[idx >> SLB];
#if defined(__riscv)
    /* No and-not instruction: both bits are known set (the list was not
     * empty, I6), so XOR clears them one instruction cheaper. */
    *m = (sl_map_t)(*m ^ (sl_map_t)(1u << (idx & (SLN - 1u))));
    if (*m == 0u) r->fl_map ^= 1u << (idx >> SLB);
#else
    *m = (sl_map_t)(*m & ~(sl_map_t)(1u << (idx & (SLN - 1u))));
    if (*m == 0u) r->fl_map &= ~(1u << (idx >> SLB));
#endif
#endif
}

HOT void list_insert(capheap_region_t *r, fblk_t *b, size_t size)
{
    unsigned idx = class_of((uint32_t)(size >> GSHIFT));
    link_t *hd = head_slot(r, idx);
    link_t h = *hd;
    link_t o = link_of(b);
    b->next = h;
    *hd = o;
    b->prev = link_of(hd);
    if (h != 0u) {
        at(h)->prev = o + NEXT_FIELD;
    } else {
        PATH(r, lists_filled);
#if !ONE_LEVEL
        sl_maps(r)[idx >> SLB] |= (sl_map_t)(1u << (idx & (SLN - 1u)));
#endif
        r->fl_map |= 1u << (idx >> SLB);
    }
}

#if CAPHEAP_FIT_SCAN == 1
/* Remove the head of list idx (b), known to be its first element. */
HOT void list_pop(capheap_region_t *r, fblk_t *b, unsigned idx)
{
    link_t nx = b->next;
    link_t *hd = head_slot(r, idx);
    *hd = nx;
    if (nx != 0u)
        at(nx)->prev = link_of(hd);
    else
        bit_clear(r, idx);
}
#endif

/* Remove b from whichever list holds it. */
HOT void list_remove(capheap_region_t *r, fblk_t *b)
{
    link_t nx = b->next, pv = b->prev;
    *(link_t *)link_ptr(pv) = nx;
    if (nx != 0u)
        at(nx)->prev = pv;
    else if (link_off(r, pv) < r->lo) /* a head slot: it was alone, its list is now empty */
        bit_clear(r, slot_class(r, pv));
}

/* First non-empty class >= idx, or UINT_MAX. Precondition: idx is in the
 * table or one past it (I8). */
HOT unsigned find_class(capheap_region_t *r, unsigned idx)
{
#if ONE_LEVEL
    PATH(r, first_level);
    uint32_t f = r->fl_map & (~0u << idx);
    return f != 0u ? ctz32(f) : UINT_MAX;
#else
    unsigned fl = idx >> SLB;
    if (fl >= r->nfl) return UINT_MAX;
    uint32_t m = (uint32_t)sl_maps(r)[fl] & (~0u << (idx & (SLN - 1u)));
    if (m == 0u) {
        PATH(r, first_level);
        uint32_t f = r->fl_map & (~1u << fl);
        if (f == 0u) return UINT_MAX;
        fl = ctz32(f);
        m = sl_maps(r)[fl];
    }
    return (fl << SLB) + ctz_sl(m);
#endif
}

/* The good class: the first whose every block holds size bytes (n
 * granules). Class indices are contiguous across octaves, so it is own, or
 * own + 1 when n is not the smallest size of its class. */
static inline unsigned good_class(size_t size, unsigned own, unsigned sh)
{
    uint32_t n = (uint32_t)(size >> GSHIFT);
#if ONE_LEVEL && CAPHEAP_USE_INTRINSICS
    /* With a count-leading-zeros instruction, the class after that of n - 1
     * (n >= 2: requests are at least MIN_BLOCK) is one instruction or two.
     * With FEW_REGS n - 1 is derived from size, not from n: the compiler
     * then need not keep n in a register across the own-class scan. */
    (void)own;
    (void)sh;
#if FEW_REGS
    (void)n;
    return class_of((uint32_t)((size - G) >> GSHIFT)) + 1u;
#else
    return class_of(n - 1u) + 1u;
#endif
#else
    return own + (unsigned)((n & ((1u << sh) - 1u)) != 0u);
#endif
}

#if CAPHEAP_FIT_SCAN == 1
/* Class of region r to take a block of at least size bytes from (its
 * first block), or UINT_MAX. The head of the request's own class first,
 * when it is large enough (tight fit: it keeps big blocks whole, which is
 * what W2 rewards); else the smallest non-empty class from the good class
 * up (good fit). Precondition: size <= r->max_req + W (the block fits the
 * region), so the granule count fits 32 bits and its classes need no
 * bound check (I8). */
HOT unsigned region_find(capheap_region_t *r, size_t size)
{
    uint32_t n = (uint32_t)(size >> GSHIFT);
    unsigned sh;
    unsigned own = class_and_width(n, &sh);
    link_t h = *head_slot(r, own);
    if (h != 0u && at(h)->hdr > (word_t)size) { /* flags < G: hdr > size iff it fits */
        PATH(r, own_class);
        return own;
    }
    PATH(r, searches);
    return find_class(r, good_class(size, own, sh));
}

/* Take a block of at least size bytes out of region r's lists; NULL if
 * none is found (see region_find). */
HOT fblk_t *region_take(capheap_region_t *r, size_t size)
{
    unsigned idx = region_find(r, size);
    if (idx == UINT_MAX) return NULL;
    fblk_t *b = at(*head_slot(r, idx));
    list_pop(r, b, idx);
    return b;
}
#else
/* The tighter of the first two blocks that fit size bytes among the first
 * k blocks of list idx (the one fit if there is one, NULL if none); stops
 * at a block at most size/8 larger than needed. */
HOT fblk_t *scan_list(const capheap_region_t *r, unsigned idx, size_t size, unsigned k)
{
    fblk_t *best = NULL;
    size_t slack = SIZE_MAX;
    link_t l = *head_slot(r, idx);
    /* k is a constant: unrolled, the walk costs no loop counter. */
    UNROLL for (unsigned i = 0; i < k; i++) {
        if (l == 0u) break;
        fblk_t *x = at(l);
        /* A listed block's header is its size | PREV_USED (I2, I3, I9: the
         * block before a free one is used), so the header is compared
         * unmasked: hdr > size iff the block holds size bytes (sizes are
         * multiples of G and the flag bits are below G, so this holds even
         * for a corrupted flag), and hdr - size is the slack plus
         * PREV_USED. */
        size_t xs = (size_t)x->hdr;
        if (xs > size) {
            ASSUME(xs - size < SIZE_MAX); /* size > 0: lets gcc drop the first test below */
            bool second = best != NULL;
            if (xs - size < slack) {
                best = x;
                slack = xs - size;
                if (slack <= (size >> 3) + F_PREV_USED) break;
            }
            if (second) break;
        }
        l = x->next;
    }
    return best;
}

/* Blocks of the good-fit class examined: every one fits, so the scan takes
 * the tighter of its first two (its head alone with CAPHEAP_FIT_SCAN 2). */
#define GOOD_SCAN (CAPHEAP_FIT_SCAN >= 3 ? 2u : 1u)

/* As above, with up to CAPHEAP_FIT_SCAN blocks of the own class examined
 * instead of its head only, and the tighter of the first two blocks of the
 * good-fit class taken instead of its head. */
HOT fblk_t *region_take(capheap_region_t *r, size_t size)
{
    uint32_t n = (uint32_t)(size >> GSHIFT);
    unsigned sh;
    unsigned own = class_and_width(n, &sh);
    fblk_t *b = scan_list(r, own, size, CAPHEAP_FIT_SCAN);
    if (b != NULL) {
        PATH(r, own_class);
    } else {
        PATH(r, searches);
        unsigned idx = find_class(r, good_class(size, own, sh));
        if (idx == UINT_MAX) return NULL;
        b = scan_list(r, idx, size, GOOD_SCAN);
        /* The list is not empty (I6) and each of its blocks fits (good
         * class): the scan returns its head at least. */
        ASSUME(b != NULL);
    }
    list_remove(r, b);
    return b;
}
#endif

/* ---- Poisoning (CAPHEAP_POISON) ----
 * Invariant P (poisoning builds): every word of a free block between its
 * list links and its boundary tag, [b + 3W, b + size - W), holds FREED_WORD.
 * All ranges below are whole words (block bounds are multiples of W). The
 * stores go through a volatile pointer so that no compiler turns the loops
 * into memset calls (the core calls memset for calloc only). */
#if CAPHEAP_POISON
#define FREED_WORD ((word_t)(~(word_t)0 / 0xFFu) * (word_t)CAPHEAP_POISON_FREED)
#define NEW_WORD ((word_t)(~(word_t)0 / 0xFFu) * (word_t)CAPHEAP_POISON_NEW)

static void fill_words(void *lo, const void *hi, word_t pattern)
{
    volatile word_t *w = (volatile word_t *)lo;
    while ((const void *)w < hi) *w++ = pattern;
}

/* The first byte in [lo, hi) that differs from the FREED pattern, or NULL. */
static const unsigned char *changed_byte(const void *lo, const void *hi)
{
    for (const word_t *w = (const word_t *)lo; (const void *)w < hi; w++)
        if (*w != FREED_WORD)
            for (const unsigned char *c = (const unsigned char *)w;; c++)
                if (*c != (unsigned char)CAPHEAP_POISON_FREED) return c;
    return NULL;
}

#endif

/* Make free, unlinked block b (have bytes) a used block of size bytes;
 * the tail goes back to the lists if it can form a block. prev is the
 * block's PREV_USED bit, passed in rather than read: for a block taken off
 * the lists it is the constant F_PREV_USED (I3: the block before a free one
 * is used), and b's header need not be valid. Returns the bytes the block
 * really got. */
HOT size_t carve(capheap_region_t *r, fblk_t *b, size_t have, size_t size, word_t prev)
{
    size_t rest = have - size;
    if (rest >= MIN_BLOCK) {
        PATH(r, splits);
        fblk_t *t = next_blk(b, size);
        t->hdr = (word_t)rest | F_PREV_USED;
        set_tag(t, rest);
        list_insert(r, t, rest);
        b->hdr = (word_t)size | F_USED | prev;
        return size;
    }
    b->hdr = (word_t)have | F_USED | prev;
    next_blk(b, have)->hdr |= F_PREV_USED;
    return have;
}

/* Return used block b of size bytes, header word h (passed in: the caller
 * has read it, and the list stores below would make the compiler read it
 * again), to the lists, merging neighbours. */
HOT void release(capheap_region_t *r, fblk_t *b, size_t size, word_t h)
{
#if CAPHEAP_POISON
    fill_words((char *)b + W, (char *)b + size, FREED_WORD);
#endif
    fblk_t *n = next_blk(b, size);
    word_t nh = n->hdr;
    if ((nh & F_USED) == 0u) {
        size_t ns = (size_t)(nh & ~F_MASK);
        PATH(r, merges);
        list_remove(r, n);
#if CAPHEAP_POISON
        fill_words(n, (char *)n + 3u * W, FREED_WORD); /* n's header and links */
#endif
        size += ns;
    }
    if ((h & F_PREV_USED) == 0u) {
        size_t ps = (size_t)*(word_t *)(void *)((char *)b - W);
        fblk_t *p = (fblk_t *)(void *)((char *)b - ps);
        PATH(r, merges);
        list_remove(r, p);
#if CAPHEAP_POISON
        /* p's boundary tag and b's header; the header still reads as free
         * (CAPHEAP_POISON_FREED has bit 0 clear): a double free is reported */
        fill_words((char *)b - W, (char *)b + W, FREED_WORD);
#elif CAPHEAP_CHECK_LEVEL >= 1
        b->hdr = h & ~F_USED; /* the stale header now inside p reads as free (double free) */
#endif
        b = p;
        size += ps;
    }
    b->hdr = (word_t)size | F_PREV_USED;
    set_tag(b, size);
    next_blk(b, size)->hdr &= ~F_PREV_USED;
    list_insert(r, b, size);
}

/* ===================================================================== */
/* Locking, errors, statistics                                           */
/* ===================================================================== */
/* Keeps the compiler from moving heap accesses across the busy marking (an
 * interrupt handler must never see the heap changing while state_ is 0). */
#if defined(__GNUC__) || defined(__clang__)
#define BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#define BARRIER() ((void)0)
#endif

/* The heap's state word: one load decides the common case (no lock hooks,
 * nobody inside), so entering and leaving cost two stores and a compare.
 * ST_LOCK is set before the heap is shared and never changes after; ST_BUSY
 * is changed only by the call that is inside (holding the lock, if any). */
#define ST_BUSY 1u
#define ST_LOCK 2u

/* Returns the lock token, or CAPHEAP_LOCK_FAILED when the call must not
 * enter (the lock says so, or the heap is busy). */
static uintptr_t enter_slow(capheap_heap_t *h)
{
    uintptr_t tok = 0;
    BARRIER();
    if ((h->state_ & ST_LOCK) != 0u) {
        tok = h->lock_(h->lock_ctx_);
        if (tok == CAPHEAP_LOCK_FAILED) return tok;
    }
#if CAPHEAP_CHECK_LEVEL >= 1
    if ((h->state_ & ST_BUSY) != 0u) {
        if ((h->state_ & ST_LOCK) != 0u) h->unlock_(h->lock_ctx_, tok);
        return CAPHEAP_LOCK_FAILED;
    }
    h->state_ |= ST_BUSY;
#endif
    return tok;
}

HOT uintptr_t enter(capheap_heap_t *h)
{
    if (h->state_ == 0u) {
#if CAPHEAP_CHECK_LEVEL >= 1
        h->state_ = ST_BUSY;
        BARRIER();
#endif
        return 0;
    }
    return enter_slow(h);
}

HOT void leave_heap(capheap_heap_t *h, uintptr_t tok)
{
#if CAPHEAP_CHECK_LEVEL >= 1
    BARRIER();
    if (h->state_ == ST_BUSY) {
        h->state_ = 0u;
        return;
    }
    h->state_ &= ~ST_BUSY;
#endif
    if ((h->state_ & ST_LOCK) != 0u) h->unlock_(h->lock_ctx_, tok);
}

#if CAPHEAP_POISON
static void raise_error(capheap_heap_t *h, capheap_error_t code, void *ptr, size_t size,
                        uint32_t caps);

/* Take the change that poisoning found inside this call (lock held). */
static void *take_hit(capheap_heap_t *h)
{
    void *hit = h->poison_hit_;
    h->poison_hit_ = NULL;
    return hit;
}

/* Leaving also reports a use after free found inside the call, after the
 * lock is released (counted when it was found). */
static void leave(capheap_heap_t *h, uintptr_t tok)
{
    void *hit = take_hit(h);
    leave_heap(h, tok);
    if (hit != NULL) raise_error(h, CAPHEAP_E_USE_AFTER_FREE, hit, 0, 0);
}
#else
HOT void leave(capheap_heap_t *h, uintptr_t tok) { leave_heap(h, tok); }
#endif

static inline void count_error(capheap_heap_t *h, capheap_error_t code)
{
    h->error_count_[(unsigned)-(int)code]++;
}

/* Tell the handler (lock already released). */
static void raise_error(capheap_heap_t *h, capheap_error_t code, void *ptr, size_t size,
                        uint32_t caps)
{
    if (h->on_error_ != NULL) {
        capheap_event_t ev;
        ev.code = code;
        ev.ptr = ptr;
        ev.size = size;
        ev.caps = caps;
        h->on_error_(h, &ev, h->error_ctx_);
    }
}

/* A call that could not enter: count (without the lock: best effort, the
 * lock holder never writes this counter) and report. */
static void reentry(capheap_heap_t *h, void *ptr, size_t size, uint32_t caps)
{
    count_error(h, CAPHEAP_E_REENTRY);
    /* The heap is still busy (or its lock still refuses): a handler that
     * calls into it now is refused again. That refusal is counted and
     * returned but not passed to the handler, which would recurse without
     * end. */
    if (h->reporting_ != 0u) return;
    h->reporting_ = 1u;
    raise_error(h, CAPHEAP_E_REENTRY, ptr, size, caps);
    h->reporting_ = 0u;
}

/* enter() for the calls that only read or walk the heap: a refused entry
 * is counted and reported here, the caller just returns CAPHEAP_E_REENTRY. */
static uintptr_t enter_reporting(capheap_heap_t *h)
{
    uintptr_t tok = enter(h);
    if (tok == CAPHEAP_LOCK_FAILED) reentry(h, NULL, 0, 0);
    return tok;
}

/* An invalid argument given with a valid heap (a NULL output, callback or
 * list): counted with the lock held and reported like every other error.
 * Returns the code for the caller to return. */
static int argument_error(capheap_heap_t *h)
{
    uintptr_t tok = enter_reporting(h);
    if (tok == CAPHEAP_LOCK_FAILED) return CAPHEAP_E_REENTRY;
    count_error(h, CAPHEAP_E_ARGUMENT);
    leave(h, tok);
    raise_error(h, CAPHEAP_E_ARGUMENT, NULL, 0, 0);
    return CAPHEAP_E_ARGUMENT;
}

/* Tracing (CAPHEAP_TRACE): tell the hook about a successful call (lock
 * held, so the events of all callers arrive in the order they happened). */
#if CAPHEAP_TRACE
static void trace(capheap_heap_t *h, capheap_trace_op_t op, void *ptr, void *old, size_t size,
                  uint32_t caps)
{
    capheap_trace_fn fn = h->trace_;
    if (fn == NULL) return;
    capheap_trace_event_t ev;
    ev.op = op;
    ev.ptr = ptr;
    ev.old_ptr = old;
    ev.size = size;
    ev.caps = caps;
    fn(h, &ev, h->trace_ctx_);
}
#define TRACE(h, op, ptr, old, size, caps) trace((h), CAPHEAP_TRACE_##op, (ptr), (old), (size), (caps))
#else
#define TRACE(h, op, ptr, old, size, caps) ((void)0)
#endif

#if CAPHEAP_POISON
/* Bytes leaving the free state: check [lo, hi) (part of a free block's
 * poisoned interior) and keep the first change found for leave() to report
 * (lock held). */
static void check_freed(capheap_heap_t *h, const void *lo, const void *hi)
{
    if (lo >= hi) return;
    const unsigned char *c = changed_byte(lo, hi);
    if (c != NULL && h->poison_hit_ == NULL) {
        h->poison_hit_ = (void *)(uintptr_t)c;
        count_error(h, CAPHEAP_E_USE_AFTER_FREE);
    }
}

/* A free block fb of fsize bytes gave the bytes up to end (a block start)
 * to a used block: check its interior up to there. */
static void poison_taken(capheap_heap_t *h, const fblk_t *fb, size_t fsize, const char *end)
{
    const char *in_end = (const char *)fb + fsize - W;
    check_freed(h, (const char *)fb + 3u * W, end < in_end ? end : in_end);
}

/* An allocation made block b (got bytes) from a free block of have bytes. */
static void poison_alloc(capheap_heap_t *h, fblk_t *b, size_t have, size_t got)
{
    poison_taken(h, b, have, (const char *)b + got);
    fill_words((char *)b + W, (char *)b + got, NEW_WORD);
}
#endif

#if CAPHEAP_STATS
/* The 64-bit byte total as a word and, on 32-bit targets, a carry word: the
 * common case is one add and a compare that does not branch. */
HOT void add_bytes_allocated(capheap_heap_t *h, size_t n)
{
    h->bytes_allocated_ += n;
#if SIZE_MAX <= 0xFFFFFFFFu
    if (h->bytes_allocated_ < n) h->bytes_allocated_hi_++;
#endif
}

static uint64_t bytes_allocated(const capheap_heap_t *h)
{
#if SIZE_MAX <= 0xFFFFFFFFu
    return ((uint64_t)h->bytes_allocated_hi_ << 32) | h->bytes_allocated_;
#else
    return (uint64_t)h->bytes_allocated_;
#endif
}
#endif

HOT void note_alloc(capheap_heap_t *h, capheap_region_t *r, size_t size)
{
#if CAPHEAP_STATS
    r->used += (uint32_t)size;
    r->allocs++;
    if (r->used > r->peak) r->peak = r->used;
    h->used_ += size;
    if (h->used_ > h->peak_) h->peak_ = h->used_;
    add_bytes_allocated(h, size);
#else
    (void)h, (void)r, (void)size;
#endif
}

HOT void note_free(capheap_heap_t *h, capheap_region_t *r, size_t size)
{
#if CAPHEAP_STATS
    r->used -= (uint32_t)size;
    r->frees++;
    h->used_ -= size;
#else
    (void)h, (void)r, (void)size;
#endif
}

/* In-place resize by delta bytes (grow > 0, shrink < 0): no alloc/free count. */
static inline void note_resize(capheap_heap_t *h, capheap_region_t *r, size_t old, size_t now)
{
#if CAPHEAP_STATS
    r->used = r->used - (uint32_t)old + (uint32_t)now;
    if (r->used > r->peak) r->peak = r->used;
    h->used_ = h->used_ - old + now;
    if (h->used_ > h->peak_) h->peak_ = h->used_;
    if (now > old) add_bytes_allocated(h, now - old); /* a shrink shows in bytes_freed via used */
#else
    (void)h, (void)r, (void)old, (void)now;
#endif
}

/* ===================================================================== */
/* Sizes                                                                  */
/* ===================================================================== */
#define MAX_REQUEST (SIZE_MAX - W - G)

/* Block size for a request; 0 if it overflows. */
FOLD size_t block_for(size_t size)
{
    if (size > MAX_REQUEST) return 0;
    size_t b = (size + W + GMASK) & ~GMASK;
    return b < MIN_BLOCK ? MIN_BLOCK : b;
}

/* ===================================================================== */
/* Allocation (lock held)                                                 */
/* ===================================================================== */
/* Why did no region serve the request? (cold path) */
static capheap_error_t why_failed(const capheap_heap_t *h, size_t size, size_t align, uint32_t caps)
{
    if (size > MAX_REQUEST || (align > G && block_for(size) > SIZE_MAX - align - G))
        return CAPHEAP_E_SIZE_OVERFLOW;
    for (const capheap_region_t *r = h->regions_; r != NULL; r = r->next)
        if ((r->caps & caps) == caps) return CAPHEAP_E_NOMEM;
    return CAPHEAP_E_NO_CAPS;
}

/* Count a failed allocation (lock held). */
HOT capheap_error_t note_fail(capheap_heap_t *h, size_t size, size_t align, uint32_t caps)
{
    capheap_error_t err = why_failed(h, size, align, caps);
    count_error(h, err);
    h->fail_count_++;
    return err;
}

/* Allocate with the lock held; align > G only for the aligned calls. */
static void *alloc_locked(capheap_heap_t *h, size_t size, size_t align, uint32_t caps)
{
    size_t b = block_for(size);
    size_t need = b;
    if (align > G) {
        if (b == 0u || b > SIZE_MAX - align - G) return NULL;
        need = b + align + G;
    }
    if (need > REGION_MAX || b == 0u) return NULL;
    for (capheap_region_t *r = h->regions_; r != NULL; r = r->next) {
        if ((r->caps & caps) != caps || need - W > r->max_req) continue;
        fblk_t *blk = region_take(r, need);
        if (blk == NULL) continue;
        size_t have = bsize(blk);
        word_t prev = F_PREV_USED; /* a listed block (I3) */
        if (align > G) {
            /* Split off a leading free block so the payload lands on align. */
            uintptr_t p = (uintptr_t)blk + W;
            size_t gap = (size_t)(((p + align - 1u) & ~(uintptr_t)(align - 1u)) - p);
            if (gap != 0u && gap < MIN_BLOCK) gap += align;
            if (gap != 0u) {
                blk->hdr = (word_t)gap | F_PREV_USED;
                set_tag(blk, gap);
                list_insert(r, blk, gap);
                blk = next_blk(blk, gap);
                prev = 0u; /* the gap before it is free */
                have -= gap;
            }
        }
        size_t got = carve(r, blk, have, b, prev);
#if CAPHEAP_POISON
        poison_alloc(h, blk, have, got);
#endif
        note_alloc(h, r, got);
        return (char *)blk + W;
    }
    return NULL;
}

/* Failure or re-entry of an allocation call (cold path). */
COLD void *alloc_failed(capheap_heap_t *h, bool entered, uintptr_t tok, size_t size, size_t align,
                          uint32_t caps)
{
    if (!entered) {
        reentry(h, NULL, size, caps);
        return NULL;
    }
    capheap_error_t err = note_fail(h, size, align, caps);
    leave(h, tok);
    raise_error(h, err, NULL, size, caps);
    return NULL;
}

static void *alloc_entry(capheap_heap_t *h, size_t size, size_t align, uint32_t caps)
{
    if (h == NULL) return NULL;
    uintptr_t tok = 0;
    if ((tok = enter(h)) == CAPHEAP_LOCK_FAILED) return alloc_failed(h, false, 0, size, align, caps);
    void *p = alloc_locked(h, size, align, caps);
    if (p == NULL) return alloc_failed(h, true, tok, size, align, caps);
    TRACE(h, ALLOC, p, NULL, size, caps);
    leave(h, tok);
    return p;
}

#if FAST_PATHS
/* Marking the heap busy and idle on the fast paths (no lock hooks, nobody
 * inside: state_ was 0). Without checks there is nothing to mark. */
HOT void fast_enter(capheap_heap_t *h)
{
#if CAPHEAP_CHECK_LEVEL >= 1
    h->state_ = ST_BUSY;
    BARRIER();
#else
    (void)h;
#endif
}

HOT void fast_leave(capheap_heap_t *h)
{
#if CAPHEAP_POISON
    void *hit = take_hit(h);
#endif
#if CAPHEAP_CHECK_LEVEL >= 1
    BARRIER();
    h->state_ = 0u;
#else
    (void)h;
#endif
#if CAPHEAP_POISON
    if (hit != NULL) raise_error(h, CAPHEAP_E_USE_AFTER_FREE, hit, 0, 0);
#endif
}
#endif

/* A plain allocation from the first region, in order from r, that has the
 * caps and a block (lock held or busy marked); NULL if none. */
static void *alloc_plain(capheap_heap_t *h, capheap_region_t *r, size_t size, uint32_t caps)
{
    if (size > REGION_MAX) return NULL;
    size_t b = block_for(size);
    for (; r != NULL; r = r->next) {
        if ((r->caps & caps) != caps || size > r->max_req) continue;
        fblk_t *blk = region_take(r, b);
        if (blk == NULL) continue;
        size_t have = bsize(blk);
        size_t got = carve(r, blk, have, b, F_PREV_USED); /* a listed block (I3) */
#if CAPHEAP_POISON
        poison_alloc(h, blk, have, got);
#endif
        note_alloc(h, r, got);
        return (char *)blk + W;
    }
    return NULL;
}

/* Allocation through the lock hooks, or refused re-entry (out of line). */
COLD void *alloc_slow(capheap_heap_t *h, size_t size, uint32_t caps)
{
    uintptr_t tok = enter(h);
    if (tok == CAPHEAP_LOCK_FAILED) return alloc_failed(h, false, 0, size, G, caps);
    void *p = alloc_plain(h, h->regions_, size, caps);
    if (p == NULL) return alloc_failed(h, true, tok, size, G, caps);
    TRACE(h, ALLOC, p, NULL, size, caps);
    leave(h, tok);
    return p;
}

#if FAST_PATHS
/* The fast path's continuation after its first region (entered, busy
 * marked, no lock token): the other regions in order, then the failure. */
COLD void *alloc_rest(capheap_heap_t *h, capheap_region_t *r, size_t size, uint32_t caps)
{
    void *p = r != NULL && r->next != NULL ? alloc_plain(h, r->next, size, caps) : NULL;
    if (p == NULL) return alloc_failed(h, true, 0, size, G, caps);
    TRACE(h, ALLOC, p, NULL, size, caps);
    fast_leave(h);
    return p;
}
#endif

/* The hot path. When no lock hooks are set and nobody is inside, it is a
 * leaf that tries the first region inline and hands everything else (the
 * lock path, the other regions, failures) to out-of-line functions by tail
 * calls, so that it saves no registers. */
HOT void *alloc_fast(capheap_heap_t *heap, size_t size, uint32_t caps)
{
    if (heap == NULL) return NULL;
#if FAST_PATHS
    if (heap->state_ != 0u) return alloc_slow(heap, size, caps);
    fast_enter(heap);
    capheap_region_t *r = heap->regions_;
    if (r != NULL && (r->caps & caps) == caps && size <= r->max_req) {
        ASSUME(size <= REGION_MAX); /* max_req < REGION_MAX: no wrap below */
        size_t b = block_for(size);
        fblk_t *blk = region_take(r, b);
        if (blk != NULL) {
            size_t have = bsize(blk);
            size_t got = carve(r, blk, have, b, F_PREV_USED); /* a listed block (I3) */
#if CAPHEAP_POISON
            poison_alloc(heap, blk, have, got);
#endif
            note_alloc(heap, r, got);
            TRACE(heap, ALLOC, (char *)blk + W, NULL, size, caps);
            fast_leave(heap);
            return (char *)blk + W;
        }
    }
    return alloc_rest(heap, r, size, caps);
#else
    return alloc_slow(heap, size, caps);
#endif
}

void *capheap_alloc_caps(capheap_heap_t *heap, size_t size, uint32_t caps)
{
    return alloc_fast(heap, size, caps);
}

/* Its own copy of the fast path when optimising for speed: with caps 0 the
 * capability test folds away. */
void *capheap_alloc(capheap_heap_t *heap, size_t size)
{
#if FAST_PATHS
    return alloc_fast(heap, size, 0u);
#else
    return capheap_alloc_caps(heap, size, 0u);
#endif
}

/* An allocation refused before any search: count, report, NULL (cold). */
static void *alloc_refused(capheap_heap_t *h, capheap_error_t err, size_t size, uint32_t caps)
{
    uintptr_t tok = 0;
    if ((tok = enter(h)) == CAPHEAP_LOCK_FAILED) return alloc_failed(h, false, 0, size, G, caps);
    count_error(h, err);
    h->fail_count_++;
    leave(h, tok);
    raise_error(h, err, NULL, size, caps);
    return NULL;
}

void *capheap_aligned_alloc_caps(capheap_heap_t *heap, size_t align, size_t size, uint32_t caps)
{
    if (heap == NULL) return NULL;
    if (align == 0u || (align & (align - 1u)) != 0u)
        return alloc_refused(heap, CAPHEAP_E_BAD_ALIGN, size, caps);
    return alloc_entry(heap, size, align, caps);
}

void *capheap_aligned_alloc(capheap_heap_t *heap, size_t align, size_t size)
{
    return capheap_aligned_alloc_caps(heap, align, size, 0u);
}

void *capheap_calloc_caps(capheap_heap_t *heap, size_t count, size_t size, uint32_t caps)
{
    if (heap == NULL) return NULL;
    if (size != 0u && count > SIZE_MAX / size)
        return alloc_refused(heap, CAPHEAP_E_SIZE_OVERFLOW, size, caps);
    void *p = alloc_entry(heap, count * size, G, caps);
    if (p != NULL) ch_memset(p, 0, count * size);
    return p;
}

void *capheap_calloc(capheap_heap_t *heap, size_t count, size_t size)
{
    return capheap_calloc_caps(heap, count, size, 0u);
}

void *capheap_alloc_prefer(capheap_heap_t *heap, size_t size, const uint32_t *caps_list, size_t n)
{
    if (heap == NULL) return NULL;
    if (caps_list == NULL && n != 0u) {
        (void)argument_error(heap);
        return NULL;
    }
    uint32_t caps = n != 0u ? caps_list[0] : 0u;
    uintptr_t tok = 0;
    if ((tok = enter(heap)) == CAPHEAP_LOCK_FAILED) return alloc_failed(heap, false, 0, size, G, caps);
    /* Only the final failure is reported: NOMEM or SIZE_OVERFLOW if any set
     * had a qualifying region, else NO_CAPS. */
    capheap_error_t err = CAPHEAP_E_NO_CAPS;
    for (size_t i = 0; i < n; i++) {
        caps = caps_list[i];
        void *p = alloc_locked(heap, size, G, caps);
        if (p != NULL) {
            TRACE(heap, ALLOC, p, NULL, size, caps);
            leave(heap, tok);
            return p;
        }
        capheap_error_t e = why_failed(heap, size, G, caps);
        if (e != CAPHEAP_E_NO_CAPS) err = e;
    }
    count_error(heap, err);
    heap->fail_count_++;
    leave(heap, tok);
    raise_error(heap, err, NULL, size, caps);
    return NULL;
}

/* ===================================================================== */
/* Finding and validating a block (lock held)                            */
/* ===================================================================== */
typedef struct found {
    capheap_region_t *r;
    fblk_t *b;
    size_t size;
    word_t hdr; /* b's header word */
} found_t;

#if CAPHEAP_CHECK_LEVEL >= 2
/* Certain check: is b the start of a block of region r? If not, a pointer
 * into a free block is reported as a double free (the block it named was
 * freed and merged), anything else as invalid. */
static capheap_error_t walk_to(const capheap_region_t *r, const fblk_t *b)
{
    const fblk_t *e = end_marker(r);
    for (fblk_t *x = first_blk(r); x < e;) {
        if (x == b) return CAPHEAP_OK;
        fblk_t *nx = walk_next(x, bsize(x), e);
        if (nx == NULL) break;
        if (b < nx) return (x->hdr & F_USED) ? CAPHEAP_E_INVALID_PTR : CAPHEAP_E_DOUBLE_FREE;
        x = nx;
    }
    return CAPHEAP_E_INVALID_PTR;
}
#endif

HOT capheap_error_t locate(capheap_heap_t *h, void *ptr, found_t *f)
{
    capheap_region_t *r = h->regions_;
    uintptr_t off = 0;
    for (; r != NULL; r = r->next) {
        off = (uintptr_t)ptr - (uintptr_t)r;
        if (off < r->end) break;
    }
#if CAPHEAP_CHECK_LEVEL >= 1
    if (r == NULL) return CAPHEAP_E_FOREIGN_PTR;
    if (off < r->lo || (off & GMASK) != 0u) return CAPHEAP_E_INVALID_PTR;
#else
    /* Without checks ptr is a live block of this heap (the caller's
     * precondition at level 0): some region holds it. */
    ASSUME(r != NULL);
#endif
    fblk_t *b = (fblk_t *)(void *)((char *)ptr - W);
#if CAPHEAP_CHECK_LEVEL >= 2
    capheap_error_t w = walk_to(r, b);
    if (w != CAPHEAP_OK) return w;
#endif
    word_t hd = b->hdr;
    size_t size = (size_t)(hd & ~F_MASK);
#if CAPHEAP_CHECK_LEVEL >= 1
    if ((hd & F_USED) == 0u) return CAPHEAP_E_DOUBLE_FREE;
    if (size < MIN_BLOCK || size > r->end - off) return CAPHEAP_E_INVALID_PTR;
    fblk_t *n = next_blk(b, size);
    if ((n->hdr & F_PREV_USED) == 0u) return CAPHEAP_E_INVALID_PTR;
    /* Neighbours that free() would merge with must be sound free blocks.
     * The previous one first: its values are dead before the next one's
     * are needed by the merge, so free keeps one register fewer (x86-64: one
     * saved register less, W1 about 1 instruction per operation; RV32: 4
     * instructions off the longest free). */
    if ((hd & F_PREV_USED) == 0u) {
        size_t ps = (size_t)*(word_t *)(void *)((char *)b - W);
        if (ps < MIN_BLOCK || ps > off - r->lo ||
            ((fblk_t *)(void *)((char *)b - ps))->hdr != ((word_t)ps | F_PREV_USED))
            return CAPHEAP_E_CORRUPT;
    }
    word_t nh = n->hdr;
    if ((nh & F_USED) == 0u) {
        size_t ns = (size_t)(nh & ~F_MASK);
        if (ns < MIN_BLOCK || ns > r->end - off - size ||
            *(word_t *)(void *)((char *)n + ns - W) != (word_t)ns)
            return CAPHEAP_E_CORRUPT;
    }
#endif
    f->r = r;
    f->b = b;
    f->size = size;
    f->hdr = hd;
    return CAPHEAP_OK;
}

/* A rejected pointer or re-entry (cold path). */
COLD int free_failed(capheap_heap_t *h, bool entered, uintptr_t tok, void *ptr, capheap_error_t err)
{
    if (!entered) {
        reentry(h, ptr, 0, 0);
        return CAPHEAP_E_REENTRY;
    }
    count_error(h, err);
    leave(h, tok);
    raise_error(h, err, ptr, 0, 0);
    return err;
}

/* free() through the lock hooks, or refused re-entry (out of line). */
COLD int free_slow(capheap_heap_t *h, void *ptr)
{
    uintptr_t tok = enter(h);
    if (tok == CAPHEAP_LOCK_FAILED) return free_failed(h, false, 0, ptr, CAPHEAP_E_REENTRY);
    found_t f;
    capheap_error_t err = locate(h, ptr, &f);
    if (err != CAPHEAP_OK) return free_failed(h, true, tok, ptr, err);
    note_free(h, f.r, f.size);
    release(f.r, f.b, f.size, f.hdr);
    TRACE(h, FREE, ptr, NULL, 0, 0);
    leave(h, tok);
    return CAPHEAP_OK;
}

/* Like capheap_alloc_caps: a leaf when unlocked and idle. */
int capheap_free(capheap_heap_t *heap, void *ptr)
{
    if (ptr == NULL) return CAPHEAP_OK;
    if (heap == NULL) return CAPHEAP_E_ARGUMENT;
#if FAST_PATHS
    if (heap->state_ != 0u) return free_slow(heap, ptr);
    fast_enter(heap);
    found_t f;
    capheap_error_t err = locate(heap, ptr, &f);
    if (err != CAPHEAP_OK) return free_failed(heap, true, 0, ptr, err);
    note_free(heap, f.r, f.size);
    release(f.r, f.b, f.size, f.hdr);
    TRACE(heap, FREE, ptr, NULL, 0, 0);
    fast_leave(heap);
    return CAPHEAP_OK;
#else
    return free_slow(heap, ptr);
#endif
}

size_t capheap_usable_size(capheap_heap_t *heap, void *ptr)
{
    if (ptr == NULL || heap == NULL) return 0;
    uintptr_t tok = 0;
    if ((tok = enter(heap)) == CAPHEAP_LOCK_FAILED) {
        reentry(heap, ptr, 0, 0);
        return 0;
    }
    found_t f;
    capheap_error_t err = locate(heap, ptr, &f);
    if (err == CAPHEAP_OK) {
        leave(heap, tok);
        return f.size - W;
    }
    count_error(heap, err);
    leave(heap, tok);
    raise_error(heap, err, ptr, 0, 0);
    return 0;
}

/* ===================================================================== */
/* Realloc                                                                */
/* ===================================================================== */

/* Try to resize f's block to b bytes without leaving its region; a block
 * that moves down into its free previous neighbour must land on align.
 * Returns the new payload or NULL. */
FOLD void *resize_in_place(capheap_heap_t *h, found_t *f, size_t b, size_t align)
{
    capheap_region_t *r = f->r;
    fblk_t *blk = f->b;
    size_t cur = f->size;
    word_t prev = blk->hdr & F_PREV_USED;

    if (b <= cur) {
        size_t rest = cur - b;
        if (rest >= MIN_BLOCK) {
            blk->hdr = (word_t)b | F_USED | prev;
            fblk_t *t = next_blk(blk, b);
            t->hdr = (word_t)rest | F_USED | F_PREV_USED;
            release(r, t, rest, t->hdr); /* merges with a free next block */
            note_resize(h, r, cur, b);
        }
        return (char *)blk + W;
    }
    fblk_t *n = next_blk(blk, cur);
    size_t ns = (n->hdr & F_USED) ? 0u : bsize(n);
    if (cur + ns >= b) {
        list_remove(r, n);
        size_t got = carve(r, blk, cur + ns, b, prev);
#if CAPHEAP_POISON
        poison_taken(h, n, ns, (char *)blk + got);
        fill_words(n, (char *)blk + got, NEW_WORD);
#endif
        note_resize(h, r, cur, got);
        return (char *)blk + W;
    }
    if (prev == 0u) {
        size_t ps = (size_t)*(word_t *)(void *)((char *)blk - W);
        if (ps + cur + ns >= b && (align <= G || (((uintptr_t)blk - ps + W) & (align - 1u)) == 0u)) {
            fblk_t *p = (fblk_t *)(void *)((char *)blk - ps);
            list_remove(r, p);
            if (ns != 0u) list_remove(r, n);
#if CAPHEAP_POISON
            /* (the old header is overwritten below: by the move, the new
             * pattern, or the free tail's header or pattern) */
            check_freed(h, (char *)p + 3u * W, (char *)p + ps - W);
#elif CAPHEAP_CHECK_LEVEL >= 1
            /* The old header reads as free (a later free of the old pointer
             * is a DOUBLE_FREE) unless the move or the new block covers it. */
            blk->hdr = (word_t)cur; /* prev is 0 here: USED and PREV_USED clear */
#endif
            ch_memmove((char *)p + W, (char *)blk + W, cur - W);
            /* carve leaves a split-off tail free: its follower must say so */
            next_blk(p, ps + cur + ns)->hdr &= ~F_PREV_USED;
            size_t got = carve(r, p, ps + cur + ns, b, F_PREV_USED); /* p was listed (I3) */
#if CAPHEAP_POISON
            if (ns != 0u) poison_taken(h, n, ns, (char *)p + got);
            fill_words((char *)p + cur, (char *)p + got, NEW_WORD);
            /* a split-off tail holds old contents: make its interior free-poisoned */
            if (got < ps + cur + ns)
                fill_words((char *)p + got + 3u * W, (char *)p + ps + cur + ns - W, FREED_WORD);
#endif
            note_resize(h, r, cur, got);
            return (char *)p + W;
        }
    }
    return NULL;
}

/* Realloc of a non-NULL ptr to size > 0 bytes in a region with caps, at
 * alignment align (a power of two >= G, or reported as BAD_ALIGN): in place
 * when ptr's region has the caps and ptr has the alignment, else moved. */
FOLD void *realloc_entry(capheap_heap_t *heap, void *ptr, size_t size, size_t align, uint32_t caps)
{
    uintptr_t tok = 0;
    if ((tok = enter(heap)) == CAPHEAP_LOCK_FAILED) {
        reentry(heap, ptr, size, caps);
        return NULL;
    }
    found_t f;
    void *res = NULL;
    capheap_error_t err = locate(heap, ptr, &f);
    if (err == CAPHEAP_OK) {
        size_t b = block_for(size);
        if (b == 0u || (align & (align - 1u)) != 0u) {
            err = b == 0u ? CAPHEAP_E_SIZE_OVERFLOW : CAPHEAP_E_BAD_ALIGN;
            count_error(heap, err);
            heap->fail_count_++;
        } else {
            if ((f.r->caps & caps) == caps && (align <= G || ((uintptr_t)ptr & (align - 1u)) == 0u))
                res = resize_in_place(heap, &f, b, align);
            if (res == NULL) {
                res = align > G ? alloc_locked(heap, size, align, caps)
                                : alloc_plain(heap, heap->regions_, size, caps);
                if (res == NULL) {
                    err = note_fail(heap, size, align, caps);
                } else {
                    size_t keep = f.size - W;
                    ch_memcpy(res, ptr, keep < size ? keep : size);
                    note_free(heap, f.r, f.size);
                    /* The header is read again: an aligned block carved
                     * from the free block before it may have changed it. */
                    release(f.r, f.b, f.size, f.b->hdr);
                }
            }
        }
    } else {
        count_error(heap, err);
    }
    if (res != NULL) TRACE(heap, REALLOC, res, ptr, size, caps);
    leave(heap, tok);
    if (res == NULL) raise_error(heap, err, ptr, size, caps);
    return res;
}

void *capheap_realloc_caps(capheap_heap_t *heap, void *ptr, size_t size, uint32_t caps)
{
    if (ptr == NULL) return capheap_alloc_caps(heap, size, caps);
    if (heap == NULL) return NULL;
    if (size == 0u) {
        (void)capheap_free(heap, ptr);
        return NULL;
    }
    return realloc_entry(heap, ptr, size, G, caps);
}

void *capheap_realloc(capheap_heap_t *heap, void *ptr, size_t size)
{
    return capheap_realloc_caps(heap, ptr, size, 0u);
}

/* ===================================================================== */
/* Heaps and regions                                                      */
/* ===================================================================== */
/* Zero n words without letting the compiler substitute a memset call (the
 * core calls memset only for calloc). */
static void zero_words(uint32_t *w, size_t n)
{
    volatile uint32_t *v = w;
    for (size_t i = 0; i < n; i++) v[i] = 0;
}

void capheap_init(capheap_heap_t *heap)
{
    if (heap == NULL) return;
    /* Field by field (and through a volatile pointer for the array) so that
     * no compiler turns this into a call to memset. */
    heap->regions_ = NULL;
    heap->lock_ = NULL;
    heap->unlock_ = NULL;
    heap->lock_ctx_ = NULL;
    heap->on_error_ = NULL;
    heap->error_ctx_ = NULL;
    heap->state_ = 0;
    heap->region_count_ = 0;
    zero_words(heap->error_count_, CAPHEAP_ERROR_KINDS);
    heap->fail_count_ = 0;
#if CAPHEAP_TRACE
    heap->trace_ = NULL;
    heap->trace_ctx_ = NULL;
#endif
#if CAPHEAP_POISON
    heap->poison_hit_ = NULL;
#endif
#if CAPHEAP_STATS
    heap->used_ = 0;
    heap->peak_ = 0;
    heap->bytes_allocated_ = 0;
#if SIZE_MAX <= 0xFFFFFFFFu
    heap->bytes_allocated_hi_ = 0;
#endif
#endif
}

void capheap_set_lock(capheap_heap_t *heap, capheap_lock_fn lock, capheap_unlock_fn unlock,
                      void *ctx)
{
    if (heap == NULL) return;
    bool both = lock != NULL && unlock != NULL;
    heap->lock_ = both ? lock : NULL;
    heap->unlock_ = both ? unlock : NULL;
    heap->state_ = both ? (heap->state_ | ST_LOCK) : (heap->state_ & ~ST_LOCK);
    heap->lock_ctx_ = both ? ctx : NULL;
}

#if CAPHEAP_TRACE
void capheap_set_trace(capheap_heap_t *heap, capheap_trace_fn fn, void *ctx)
{
    if (heap == NULL) return;
    heap->trace_ = fn;
    heap->trace_ctx_ = ctx;
}
#endif

void capheap_set_error_handler(capheap_heap_t *heap, capheap_error_fn fn, void *ctx)
{
    if (heap == NULL) return;
    heap->on_error_ = fn;
    heap->error_ctx_ = fn ? ctx : NULL;
}

/* Geometry of a region of span bytes at a G-aligned base. */
typedef struct geometry {
    uint32_t nfl;
#if !ONE_LEVEL
    uint32_t sl_off; /* second-level maps' offset (after the class heads) */
#endif
    uint32_t lo;  /* first payload offset */
    uint32_t end; /* end marker offset + W */
} geometry_t;

static bool geometry(size_t span, geometry_t *g)
{
    if (span > REGION_MAX) span = REGION_MAX;
    if (span < sizeof(struct capheap_region) + 4u * W) return false;
    /* Blocks never include the region header: sizing the class table by
     * what is left keeps, e.g., 64 KiB regions out of the 2^13-granule row. */
    uint32_t nmax = (uint32_t)((span - sizeof(struct capheap_region) - W) >> GSHIFT);
    uint32_t nfl = (fls32(nmax | SLN) - SLB) + 2u;
    size_t heads_bytes = ((size_t)(nfl << SLB) - FIRST_CLASS) * sizeof(link_t);
    size_t sl_off = sizeof(struct capheap_region) + heads_bytes;
    size_t ctrl = sl_off + (ONE_LEVEL ? 0u : nfl * sizeof(sl_map_t));
    size_t lo = (ctrl + W + GMASK) & ~GMASK;
    /* End marker header at the last offset == W (mod G) that leaves room for it. */
    size_t endm = ((span - 2u * W) & ~GMASK) + W;
    if (endm < lo - W || endm - (lo - W) < MIN_BLOCK) return false;
    g->nfl = nfl;
#if !ONE_LEVEL
    g->sl_off = (uint32_t)sl_off;
#endif
    g->lo = (uint32_t)lo;
    g->end = (uint32_t)(endm + W);
    return true;
}

size_t capheap_region_overhead(size_t size)
{
    geometry_t g;
    if (!geometry(size, &g)) return size;
    size_t cap = (size_t)g.end - W - ((size_t)g.lo - W);
    return size - cap;
}

static capheap_error_t add_region_locked(capheap_heap_t *h, void *mem, size_t size, uint32_t caps,
                                         int priority, capheap_region_t **out)
{
    uintptr_t a = (uintptr_t)mem;
    if (mem == NULL) return CAPHEAP_E_REGION_NULL;
    if (size > UINTPTR_MAX - a) return CAPHEAP_E_REGION_WRAPS;
    for (capheap_region_t *r = h->regions_; r != NULL; r = r->next) {
        uintptr_t rs = (uintptr_t)r, re = rs + r->end;
        if (a < re && rs < a + size) return CAPHEAP_E_REGION_OVERLAP;
    }
    uintptr_t base = (a + GMASK) & ~(uintptr_t)GMASK;
    if (base - a >= size) return CAPHEAP_E_REGION_TOO_SMALL;
    geometry_t g;
    if (!geometry(size - (size_t)(base - a), &g)) return CAPHEAP_E_REGION_TOO_SMALL;

    capheap_region_t *r = (capheap_region_t *)base;
    r->next = NULL;
    r->caps = caps;
    r->fl_map = 0;
    r->end = g.end;
    r->lo = (uint16_t)g.lo;
    r->max_req = g.end - g.lo - (uint32_t)W;
    r->priority = (int8_t)(priority < -128 ? -128 : priority > 127 ? 127 : priority);
    r->nfl = (uint8_t)g.nfl;
#if !ONE_LEVEL
    r->sl_off = (uint16_t)g.sl_off;
#endif
#if CAPHEAP_STATS
    r->used = 0;
    r->peak = 0;
    r->allocs = 0;
    r->frees = 0;
#endif
#if CAPHEAP_STATS >= 2
    zero_words(&r->path.own_class, sizeof(r->path) / sizeof(uint32_t));
#endif
    /* class heads and second-level maps: the words from the end of the
     * header up to the first block header */
    zero_words((uint32_t *)(void *)&heads(r)[FIRST_CLASS],
               (g.lo - (uint32_t)W - (uint32_t)sizeof(*r)) / sizeof(uint32_t));

    fblk_t *first = first_blk(r);
    size_t cap = (size_t)(g.end - g.lo);
    first->hdr = (word_t)cap | F_PREV_USED;
    set_tag(first, cap);
    end_marker(r)->hdr = F_USED; /* size 0, previous block free */
    list_insert(r, first, cap);
#if CAPHEAP_POISON
    fill_words((char *)first + 3u * W, (char *)first + cap - W, FREED_WORD);
#endif

    /* Insert after every region of higher or equal priority. */
    capheap_region_t **pp = &h->regions_;
    while (*pp != NULL && (*pp)->priority >= r->priority) pp = &(*pp)->next;
    r->next = *pp;
    *pp = r;
    h->region_count_++;
    if (out != NULL) *out = r;
    return CAPHEAP_OK;
}

int capheap_add_region_ex(capheap_heap_t *heap, void *mem, size_t size, uint32_t caps,
                          int priority, capheap_region_t **region_out)
{
    if (region_out != NULL) *region_out = NULL;
    if (heap == NULL) return CAPHEAP_E_ARGUMENT;
    uintptr_t tok = 0;
    if ((tok = enter(heap)) == CAPHEAP_LOCK_FAILED) {
        reentry(heap, mem, size, caps);
        return CAPHEAP_E_REENTRY;
    }
    capheap_error_t err = add_region_locked(heap, mem, size, caps, priority, region_out);
    if (err != CAPHEAP_OK) count_error(heap, err);
    leave(heap, tok);
    if (err != CAPHEAP_OK) raise_error(heap, err, mem, size, caps);
    return err;
}

int capheap_add_region(capheap_heap_t *heap, void *mem, size_t size, uint32_t caps)
{
    return capheap_add_region_ex(heap, mem, size, caps, 0, NULL);
}

/* ===================================================================== */
/* Statistics                                                             */
/* ===================================================================== */
static size_t region_capacity(const capheap_region_t *r) { return (size_t)(r->end - r->lo); }

/* Payload of the largest request region_take is sure to satisfy: the
 * largest of the first CAPHEAP_FIT_SCAN blocks of the highest non-empty
 * class (see the header). */
static size_t region_largest(const capheap_region_t *r)
{
    if (r->fl_map == 0u) return 0;
    unsigned fl = fls32(r->fl_map);
#if ONE_LEVEL
    unsigned idx = fl;
#else
    unsigned idx = (fl << SLB) + fls32(sl_maps(r)[fl]);
#endif
    /* The largest of the blocks an allocation of that class examines (its
     * first CAPHEAP_FIT_SCAN): a request of its size has that class as its
     * own, and the scan finds it. */
    size_t best = 0;
    link_t l = heads(r)[idx];
    for (unsigned k = 0; k < CAPHEAP_FIT_SCAN && l != 0u; k++) {
        const fblk_t *x = at(l);
        if (bsize(x) > best) best = bsize(x);
        l = x->next;
    }
    return best - W;
}

/* Bytes in the region's used blocks: the counter (I7), or with
 * CAPHEAP_STATS 0, which keeps no counters, the sum over a walk of the
 * blocks (O(blocks)). A block size that cannot be right (below the minimum,
 * or past the end marker: a corrupted header, which capheap_check reports)
 * ends the walk, so that a statistics call on a damaged heap returns. */
static size_t region_used(const capheap_region_t *r)
{
#if CAPHEAP_STATS
    return r->used;
#else
    const fblk_t *e = end_marker(r);
    size_t used = 0;
    for (fblk_t *b = first_blk(r), *nx; b < e; b = nx) {
        size_t sz = bsize(b);
        if ((nx = walk_next(b, sz, e)) == NULL) break;
        if ((b->hdr & F_USED) != 0u) used += sz;
    }
    return used;
#endif
}

static void fill_region_stats(const capheap_region_t *r, capheap_region_stats_t *o)
{
    o->start = rbase(r);
    o->span = r->end;
    o->size = region_capacity(r);
    o->overhead = o->span - o->size;
    o->used = region_used(r);
    o->free = o->size - o->used;
    o->largest_free = region_largest(r);
    o->caps = r->caps;
    o->priority = r->priority;
#if CAPHEAP_STATS
    o->peak_used = r->peak;
    o->alloc_count = r->allocs;
    o->free_count = r->frees;
#else
    o->peak_used = 0;
    o->alloc_count = 0;
    o->free_count = 0;
#endif
    o->min_free_ever = o->size - (o->peak_used > o->used ? o->peak_used : o->used);
}

/* Totals over the regions that have every bit of caps (0: all of them). */
static void sum_regions(const capheap_heap_t *h, uint32_t caps, capheap_caps_stats_t *s)
{
    s->caps = caps;
    s->region_count = s->total_size = s->used = s->largest_free = s->min_free_ever = 0;
    s->alloc_count = s->free_count = 0;
    for (const capheap_region_t *r = h->regions_; r != NULL; r = r->next) {
        if ((r->caps & caps) != caps) continue;
        capheap_region_stats_t rs;
        fill_region_stats(r, &rs);
        s->region_count++;
        s->total_size += rs.size;
        s->used += rs.used;
        s->min_free_ever += rs.min_free_ever;
        if (rs.largest_free > s->largest_free) s->largest_free = rs.largest_free;
        s->alloc_count += rs.alloc_count;
        s->free_count += rs.free_count;
    }
    s->free = s->total_size - s->used;
}

int capheap_get_stats(capheap_heap_t *heap, capheap_stats_t *out)
{
    if (heap == NULL) return CAPHEAP_E_ARGUMENT;
    if (out == NULL) return argument_error(heap);
    uintptr_t tok = enter_reporting(heap);
    if (tok == CAPHEAP_LOCK_FAILED) return CAPHEAP_E_REENTRY;
    capheap_caps_stats_t t;
    sum_regions(heap, 0u, &t);
    capheap_stats_t *s = out; /* filled field by field: no struct copy (memcpy) */
    s->total_size = t.total_size;
    s->used = t.used;
    s->free = t.free;
    s->largest_free = t.largest_free;
    s->min_free_ever = t.min_free_ever;
    s->alloc_count = t.alloc_count;
    s->free_count = t.free_count;
    s->region_count = heap->region_count_;
    s->fail_count = heap->fail_count_;
#if CAPHEAP_STATS
    s->peak_used = heap->peak_;
    s->bytes_allocated = bytes_allocated(heap);
    s->bytes_freed = s->bytes_allocated - heap->used_; /* allocated - freed == used */
#else
    s->peak_used = 0;
    s->bytes_allocated = s->bytes_freed = 0;
#endif
    for (unsigned i = 0; i < CAPHEAP_ERROR_KINDS; i++) s->error_count[i] = heap->error_count_[i];
    leave(heap, tok);
    return CAPHEAP_OK;
}

int capheap_get_caps_stats(capheap_heap_t *heap, uint32_t caps, capheap_caps_stats_t *out)
{
    if (heap == NULL) return CAPHEAP_E_ARGUMENT;
    if (out == NULL) return argument_error(heap);
    uintptr_t tok = enter_reporting(heap);
    if (tok == CAPHEAP_LOCK_FAILED) return CAPHEAP_E_REENTRY;
    sum_regions(heap, caps, out);
    leave(heap, tok);
    return CAPHEAP_OK;
}

int capheap_get_path_stats(capheap_heap_t *heap, capheap_path_stats_t *out)
{
    if (heap == NULL) return CAPHEAP_E_ARGUMENT;
    if (out == NULL) return argument_error(heap);
    uintptr_t tok = enter_reporting(heap);
    if (tok == CAPHEAP_LOCK_FAILED) return CAPHEAP_E_REENTRY;
    uint32_t *o = &out->own_class;
    const size_t n = sizeof(*out) / sizeof(uint32_t);
    for (size_t i = 0; i < n; i++) o[i] = 0;
#if CAPHEAP_STATS >= 2
    for (const capheap_region_t *r = heap->regions_; r != NULL; r = r->next) {
        const uint32_t *c = &r->path.own_class;
        for (size_t i = 0; i < n; i++) o[i] += c[i];
    }
#endif
    leave(heap, tok);
    return CAPHEAP_OK;
}

int capheap_get_region_stats(capheap_heap_t *heap, size_t index, capheap_region_stats_t *out)
{
    if (heap == NULL) return CAPHEAP_E_ARGUMENT;
    if (out == NULL) return argument_error(heap);
    uintptr_t tok = enter_reporting(heap);
    if (tok == CAPHEAP_LOCK_FAILED) return CAPHEAP_E_REENTRY;
    const capheap_region_t *r = heap->regions_;
    while (r != NULL && index > 0u) {
        r = r->next;
        index--;
    }
    /* An index past the last region is how an enumeration of the regions
     * ends: returned, not counted or reported. */
    if (r != NULL) fill_region_stats(r, out);
    leave(heap, tok);
    return r != NULL ? CAPHEAP_OK : CAPHEAP_E_ARGUMENT;
}

const char *capheap_strerror(int code)
{
    switch (code) {
    case CAPHEAP_OK: return "no error";
    case CAPHEAP_E_REGION_NULL: return "region address is NULL";
    case CAPHEAP_E_REGION_TOO_SMALL: return "region too small";
    case CAPHEAP_E_REGION_WRAPS: return "region wraps around the address space";
    case CAPHEAP_E_REGION_OVERLAP: return "region overlaps a region of the heap";
    case CAPHEAP_E_NOMEM: return "out of memory";
    case CAPHEAP_E_NO_CAPS: return "no region has the requested capabilities";
    case CAPHEAP_E_SIZE_OVERFLOW: return "size overflows";
    case CAPHEAP_E_BAD_ALIGN: return "alignment is not a power of two";
    case CAPHEAP_E_FOREIGN_PTR: return "pointer not owned by the heap";
    case CAPHEAP_E_INVALID_PTR: return "pointer is not the start of a live block";
    case CAPHEAP_E_DOUBLE_FREE: return "block already free";
    case CAPHEAP_E_REENTRY: return "heap re-entered while busy";
    case CAPHEAP_E_CORRUPT: return "heap structures corrupt";
    case CAPHEAP_E_ARGUMENT: return "invalid argument";
    case CAPHEAP_E_USE_AFTER_FREE: return "freed memory written after free";
    default: return "unknown error";
    }
}

/* ===================================================================== */
/* Walk and invariant checker                                             */
/* ===================================================================== */
int capheap_walk(capheap_heap_t *heap, capheap_walk_fn fn, void *ctx)
{
    if (heap == NULL) return CAPHEAP_E_ARGUMENT;
    if (fn == NULL) return argument_error(heap);
    uintptr_t tok = enter_reporting(heap);
    if (tok == CAPHEAP_LOCK_FAILED) return CAPHEAP_E_REENTRY;
    bool go = true;
    for (const capheap_region_t *r = heap->regions_; r != NULL && go; r = r->next) {
        const fblk_t *e = end_marker(r);
        for (fblk_t *b = first_blk(r), *nx; b < e && go; b = nx) {
            size_t s = bsize(b);
            if ((nx = walk_next(b, s, e)) == NULL) break; /* corrupt: capheap_check says more */
            capheap_block_info_t bi;
            bi.ptr = (char *)b + W;
            bi.size = s - W;
            bi.used = (b->hdr & F_USED) != 0u;
            bi.region = r;
            go = fn(&bi, ctx);
        }
    }
    leave(heap, tok);
    return CAPHEAP_OK;
}

typedef struct checker {
    capheap_check_result_t *res;
} checker_t;

static void problem(checker_t *c, const char *what, const void *where)
{
    if (c->res->problems++ == 0u) {
        c->res->first = what;
        c->res->where = where;
    }
}

/* Walk the region's blocks (I1-I4, I7, I9). Returns the number of free blocks. */
static size_t check_blocks(checker_t *c, const capheap_region_t *r)
{
    const fblk_t *e = end_marker(r);
    fblk_t *b = first_blk(r);
    bool prev_used = true;
    size_t used = 0, nfree = 0;
    while (b < e) {
        size_t s = bsize(b);
        fblk_t *nx = walk_next(b, s, e);
        if (nx == NULL) {
            problem(c, "block size out of range (header overwritten?)", b);
            return nfree;
        }
        bool u = (b->hdr & F_USED) != 0u;
        if ((b->hdr & F_MASK & ~(F_USED | F_PREV_USED)) != 0u)
            problem(c, "header flag bits set that the core never sets", b);
        if (((b->hdr & F_PREV_USED) != 0u) != prev_used)
            problem(c, "PREV_USED flag disagrees with the previous block", b);
        if (u) {
            used += s;
            c->res->blocks_used++;
        } else {
            if (!prev_used) problem(c, "two adjacent free blocks", b);
            if (*(word_t *)(void *)((char *)b + s - W) != (word_t)s)
                problem(c, "free block's boundary tag differs from its size", b);
#if CAPHEAP_POISON
            const unsigned char *x = changed_byte((char *)b + 3u * W, (char *)b + s - W);
            if (x != NULL) problem(c, "free block written after it was freed (poison changed)", x);
#endif
            nfree++;
            c->res->blocks_free++;
        }
        prev_used = u;
        b = nx;
    }
    if (b != e) problem(c, "blocks overrun the end marker", b);
    if (bsize(e) != 0u || (e->hdr & F_USED) == 0u) problem(c, "end marker overwritten", e);
    else if (((e->hdr & F_PREV_USED) != 0u) != prev_used)
        problem(c, "end marker's PREV_USED disagrees with the last block", e);
#if CAPHEAP_STATS
    if (used != r->used) problem(c, "region used bytes disagree with its blocks", r);
    if (r->peak < r->used) problem(c, "region peak below current use", r);
#else
    (void)used; /* no counter to compare with (I7) */
#endif
    return nfree;
}

/* Walk the class lists and bitmaps (I5, I6, I8). */
static void check_lists(checker_t *c, const capheap_region_t *r, size_t nfree)
{
    size_t listed = 0;
    const link_t *hd = heads(r);
    unsigned nclass = (unsigned)r->nfl << SLB;
    if ((r->fl_map >> r->nfl) != 0u) problem(c, "first-level bit set beyond the last class", r);
    uint32_t nmax = (r->max_req + (uint32_t)W) >> GSHIFT;
    unsigned sh;
    unsigned own = class_and_width(nmax, &sh);
    if (r->max_req != r->end - r->lo - (uint32_t)W || own >= nclass ||
        (good_class((size_t)nmax << GSHIFT, own, sh) >> SLB) > r->nfl)
        problem(c, "largest request or class table size wrong for the region", r);
#if ONE_LEVEL
    if ((r->fl_map & ((1u << FIRST_CLASS) - 1u)) != 0u)
        problem(c, "bitmap bit set for an impossible class", r);
#else
    for (unsigned fl = 0; fl < r->nfl; fl++) {
        uint32_t m = sl_maps(r)[fl];
        if (((r->fl_map >> fl) & 1u) != (m != 0u))
            problem(c, "first-level bitmap disagrees with second level", r);
        if (fl == 0u && (m & ((1u << FIRST_CLASS) - 1u)) != 0u)
            problem(c, "bitmap bit set for an impossible class", r);
    }
#endif
    for (unsigned idx = FIRST_CLASS; idx < nclass; idx++) {
#if ONE_LEVEL
        bool bit = ((r->fl_map >> idx) & 1u) != 0u;
#else
        bool bit = ((sl_maps(r)[idx >> SLB] >> (idx & (SLN - 1u))) & 1u) != 0u;
#endif
        if (bit != (hd[idx] != 0u)) problem(c, "bitmap bit disagrees with its list", r);
        link_t prev = link_of(&hd[idx]);
        for (link_t l = hd[idx]; l != 0u; l = at(l)->next) {
            uintptr_t o = link_off(r, l);
            if (++listed > nfree) {
                problem(c, "free lists hold more blocks than the region (cycle or stray)", r);
                return;
            }
            if (o < r->lo - W || o >= r->end - W || ((o + W) & GMASK) != 0u) {
                problem(c, "free list link points outside the blocks", r);
                return;
            }
            const fblk_t *b = at(l);
            if ((b->hdr & F_USED) != 0u) problem(c, "used block in a free list", b);
            else if (bsize(b) < MIN_BLOCK || class_of((uint32_t)(bsize(b) >> GSHIFT)) != idx)
                problem(c, "free block in the wrong class list", b);
            if (b->prev != prev) problem(c, "free list back link broken", b);
            prev = l + NEXT_FIELD;
        }
    }
    if (listed != nfree) problem(c, "free blocks missing from the free lists", r);
}

/* Field by field: a struct assignment may become a memcpy call. */
static void copy_result(capheap_check_result_t *out, const capheap_check_result_t *res)
{
    if (out == NULL) return;
    out->problems = res->problems;
    out->first = res->first;
    out->where = res->where;
    out->blocks_used = res->blocks_used;
    out->blocks_free = res->blocks_free;
}

int capheap_check(capheap_heap_t *heap, capheap_check_result_t *out)
{
    if (heap == NULL) return CAPHEAP_E_ARGUMENT;
    capheap_check_result_t res;
    res.problems = 0;
    res.first = NULL;
    res.where = NULL;
    res.blocks_used = res.blocks_free = 0;
    checker_t c;
    c.res = &res;
    uintptr_t tok = enter_reporting(heap);
    if (tok == CAPHEAP_LOCK_FAILED) {
        copy_result(out, &res);
        return CAPHEAP_E_REENTRY;
    }
    size_t total_used = 0, nreg = 0;
    for (const capheap_region_t *r = heap->regions_; r != NULL; r = r->next) {
        if (++nreg > heap->region_count_) {
            problem(&c, "region list longer than the region count", r);
            break;
        }
        if (r->next != NULL && r->next->priority > r->priority)
            problem(&c, "regions out of priority order", r);
        size_t nfree = check_blocks(&c, r);
        if (res.problems == 0u) check_lists(&c, r, nfree);
#if CAPHEAP_STATS
        total_used += r->used;
#endif
    }
    if (nreg != heap->region_count_) problem(&c, "region count disagrees with the list", heap);
#if CAPHEAP_STATS
    if (total_used != heap->used_) problem(&c, "heap used bytes disagree with its regions", heap);
    if (heap->peak_ < heap->used_) problem(&c, "heap peak below current use", heap);
#else
    (void)total_used;
#endif
    if (res.problems != 0u) count_error(heap, CAPHEAP_E_CORRUPT);
    leave(heap, tok);
    copy_result(out, &res);
    if (res.problems != 0u) {
        raise_error(heap, CAPHEAP_E_CORRUPT, (void *)(uintptr_t)res.where, 0, 0);
        return CAPHEAP_E_CORRUPT;
    }
    return CAPHEAP_OK;
}

/* ===================================================================== */
/* Allocator handles and the global heap                                 */
/* ===================================================================== */
void *capheap_allocator_alloc(const capheap_allocator_t *a, size_t size)
{
    if (a == NULL) return NULL;
    if (a->align > G) return capheap_aligned_alloc_caps(a->heap, a->align, size, a->caps);
    return capheap_alloc_caps(a->heap, size, a->caps);
}

int capheap_allocator_free(const capheap_allocator_t *a, void *ptr)
{
    if (a == NULL) return CAPHEAP_E_ARGUMENT;
    return capheap_free(a->heap, ptr);
}

void *capheap_allocator_realloc(const capheap_allocator_t *a, void *ptr, size_t size)
{
    if (a == NULL) return NULL;
    if (a->align <= G || ptr == NULL || size == 0u)
        return ptr == NULL ? capheap_allocator_alloc(a, size)
                           : capheap_realloc_caps(a->heap, ptr, size, a->caps);
    if (a->heap == NULL) return NULL;
    return realloc_entry(a->heap, ptr, size, a->align, a->caps);
}

#if CAPHEAP_GLOBAL
capheap_heap_t capheap_global = CAPHEAP_HEAP_INIT;
const capheap_allocator_t capheap_any = {&capheap_global, 0u, 0u};
const capheap_allocator_t capheap_internal = {&capheap_global, CAPHEAP_CAP_INTERNAL, 0u};
const capheap_allocator_t capheap_external = {&capheap_global, CAPHEAP_CAP_EXTERNAL, 0u};
const capheap_allocator_t capheap_dma = {&capheap_global, CAPHEAP_CAP_DMA, CAPHEAP_DMA_ALIGN};
#endif
