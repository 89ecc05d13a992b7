/*
 * capheap.h - a constant-time, capability-aware heap over many memory regions.
 *
 * This header is the reference manual. Read "Concepts" first, then the call you need.
 *
 * ============================================================================
 * CONCEPTS
 * ============================================================================
 * Heap      A capheap_heap_t: a list of regions plus statistics, hooks and a lock.
 *           Any number of independent heaps may exist. A zero-filled heap
 *           (static storage, or CAPHEAP_HEAP_INIT, or capheap_init()) is a valid,
 *           empty heap. One ready heap, capheap_global, is what malloc() uses
 *           when a libc layer from libc/ is linked.
 * Region    A caller-provided range of RAM plus a 32-bit capability mask and a
 *           priority. All bookkeeping for a region lives at the start of that
 *           region (see capheap_region_overhead()); its size grows with the
 *           logarithm of the region size (a 64 KiB region on a 32-bit target
 *           costs under 400 bytes). Regions may be added at any time, also after
 *           allocations have started. A region is never removed.
 * Block     Every allocation is one block: a one-word header (4 bytes on 32-bit
 *           targets, 8 bytes on 64-bit) followed by the payload. Payloads are
 *           aligned to CAPHEAP_ALIGN (8 on 32-bit, 16 on 64-bit), the smallest
 *           block is CAPHEAP_MIN_BLOCK bytes (16 / 32).
 * Caps      An allocation may require capabilities (CAPHEAP_CAP_*). A region
 *           qualifies when it has ALL required bits; 0 requires nothing, so
 *           every region qualifies.
 * Order     Regions are tried by descending priority; regions of equal priority
 *           in the order they were added (the reference's insertion order). The
 *           first qualifying region that can satisfy the request wins.
 *
 * ============================================================================
 * ALGORITHM AND COMPLEXITY
 * ============================================================================
 * Each region is a segregated-fit heap: free blocks sit in size classes, by
 * default one per power of two (CAPHEAP_SL_BITS 0), and a bitmap with one bit
 * per class finds the smallest non-empty class that is large enough with one
 * count-trailing-zeros (with CAPHEAP_SL_BITS 1..5 there are 2^SL_BITS classes
 * per power of two and a two-level bitmap, as in TLSF). Neighbouring free
 * blocks are merged on free through boundary tags. Allocation first walks
 * the first CAPHEAP_FIT_SCAN (default 5) blocks of the request's own class,
 * stopping at the second that fits, and takes the tighter fit; if none fits,
 * it takes the tighter of the first two blocks of the smallest non-empty
 * class whose every block is large enough (good fit). The walks are
 * bounded, so both steps are O(1).
 * Because the own class is always looked at, the largest free block that
 * capheap reports can always really be allocated.
 *
 *   O(1)          capheap_free, capheap_usable_size, and the per-region part of
 *                 every allocation call (alloc, alloc_caps, aligned, calloc's
 *                 search, realloc's in-place paths). The work per region is
 *                 bounded by a constant independent of the number of blocks and
 *                 of the region size.
 *   O(regions)    every allocation call (it tries qualifying regions in order),
 *                 free / realloc / usable_size (they find the owning region by
 *                 address), capheap_add_region (overlap check and ordering),
 *                 capheap_get_stats and capheap_get_caps_stats (O(blocks)
 *                 with CAPHEAP_STATS 0).
 *   O(blocks)     capheap_check, capheap_walk, and free/realloc/usable_size when
 *                 CAPHEAP_CHECK_LEVEL is 2. calloc and realloc's copy are
 *                 additionally linear in the number of bytes they clear/copy;
 *                 with CAPHEAP_POISON every call that allocates, frees or adds
 *                 a region is linear in the bytes it hands out or takes back.
 *
 * ============================================================================
 * ERRORS
 * ============================================================================
 * Every detected error is (1) returned as a negative CAPHEAP_E_* code where the
 * call returns int, or signalled by a NULL / 0 return, (2) counted in
 * capheap_stats_t.error_count[-code], and (3) passed to the heap's error
 * handler if one is set (capheap_set_error_handler), after the heap lock has
 * been released. An erroneous call leaves the heap exactly as it was. The one
 * exception is CAPHEAP_E_USE_AFTER_FREE (CAPHEAP_POISON builds): it reports
 * damage found by a call that otherwise succeeds, and that call completes.
 * A NULL heap is not counted or reported (there is no heap to count it in):
 * the call returns CAPHEAP_E_ARGUMENT, NULL or 0 as it says below. Any other
 * invalid argument (a NULL output, callback or list) is CAPHEAP_E_ARGUMENT,
 * counted and reported like the other errors (a region index past the last
 * region is returned only: see capheap_get_region_stats).
 * A call refused with CAPHEAP_E_REENTRY is reported while the heap is still
 * busy (or its lock still refuses); if the handler then calls into the heap,
 * that call is refused too, counted and returned, but not passed to the
 * handler again (which would recurse without end).
 *
 * ============================================================================
 * THREADS AND INTERRUPTS
 * ============================================================================
 * Each heap has optional lock hooks (capheap_set_lock); with none the heap is
 * single-threaded. Ports for pthreads, Cortex-M (PRIMASK) and RISC-V
 * (mstatus.MIE) are in ports/. While a call is inside the heap it is marked
 * busy; a call that finds the heap busy (an interrupt handler that allocates
 * while no interrupt-masking lock is installed, an error handler that calls
 * back into the heap from inside a lock that does not nest) fails with
 * CAPHEAP_E_REENTRY instead of corrupting the heap or deadlocking
 * (CAPHEAP_CHECK_LEVEL >= 1).
 */
#ifndef CAPHEAP_H
#define CAPHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ============================================================================
 * CONFIGURATION
 * Define CAPHEAP_CONFIG_HEADER as "file.h" (with quotes) to have that file
 * included here, or define the options on the compiler command line. Every
 * option must have the same value in every file that includes this header.
 * ========================================================================= */
#ifdef CAPHEAP_CONFIG_HEADER
#include CAPHEAP_CONFIG_HEADER
#endif

/* CAPHEAP_CHECK_LEVEL
 *   0  no validation: free/realloc of a bad pointer is undefined behaviour;
 *      no re-entry detection. Smallest and fastest.
 *   1  (default) O(1) validation on free/realloc/usable_size: foreign,
 *      misaligned, interior and already-freed pointers are reported (see
 *      capheap_free for the exact guarantee); re-entry is detected.
 *      Cost (x86-64, callgrind, bench W1): about 20 instructions per
 *      operation on average, nearly all of it in free (about 39 per free).
 *      On RV32 the worst-case free is 142 instructions with checks and
 *      statistics, 99 without either (docs/target-figures.md, constructed
 *      longest paths).
 *   2  as 1, and every pointer given to free/realloc/usable_size is proven to
 *      be the start of a live block by walking its region: certain detection
 *      of interior pointers at O(blocks) per call. For debugging. */
#ifndef CAPHEAP_CHECK_LEVEL
#define CAPHEAP_CHECK_LEVEL 1
#endif

/* CAPHEAP_STATS
 *   0  no counters on the allocation paths: only the counts of failed
 *      allocations and of each error (ERRORS) are kept, on the failure and
 *      error paths. The bytes in use are found when statistics are read, by
 *      summing the used blocks of each region: capheap_get_stats,
 *      capheap_get_region_stats, capheap_get_caps_stats and capheap_report
 *      are then O(blocks), with
 *      the lock held for the walk of each region.
 *   1  (default) bytes in use and peak use per region and in total,
 *      counters of allocations/frees/failures, bytes allocated/freed in
 *      total; the statistics calls are O(regions). Cost: about 8
 *      instructions per operation (x86-64, bench W1), 16 bytes per region
 *      and 16 (32-bit) / 24 (64-bit) bytes per heap.
 *   2  as 1, and counters of the paths the allocator takes
 *      (capheap_get_path_stats): for tuning CAPHEAP_SL_BITS and
 *      CAPHEAP_FIT_SCAN and for the benchmarks. Cost: 28 more bytes of control data per region (up to
 *      one granule more after rounding) and one counter increment on each
 *      counted path (a few instructions per call). */
#ifndef CAPHEAP_STATS
#define CAPHEAP_STATS 1
#endif

/* CAPHEAP_POISON: fill patterns that catch use of memory after free and
 * use of memory that was never written (default 0: off, zero cost).
 *   0  off: nothing is written into payloads (calloc still zeroes).
 *   1  every byte of a free block other than its header, its two list links
 *      and its boundary tag holds CAPHEAP_POISON_FREED, and every byte that
 *      an allocation hands out holds CAPHEAP_POISON_NEW (calloc: zero;
 *      realloc: the old contents, then CAPHEAP_POISON_NEW in the bytes it
 *      added). So:
 *      - an allocation checks that the free bytes it hands out still hold
 *        CAPHEAP_POISON_FREED. If a byte differs (something wrote to memory
 *        after freeing it), the allocation still succeeds, and the error
 *        CAPHEAP_E_USE_AFTER_FREE is counted and passed to the error handler
 *        with ptr = the first byte found changed (size and caps 0);
 *      - capheap_check checks every byte of every free block and reports the
 *        first changed byte as CAPHEAP_E_CORRUPT ("free block written after
 *        it was freed"), with check_result.where = that byte;
 *      - reading uninitialised memory returns the NEW pattern, not old data.
 *      Cost: no bytes of memory; time linear in the bytes concerned: a free
 *      writes its block (merges write 2 or 3 more words), an allocation
 *      reads and writes the bytes it hands out, adding a region writes the
 *      whole region, capheap_check reads every free byte. The heap stays
 *      O(1) in the number of blocks but not in the block size: a debugging
 *      option, not for latency budgets. Measured (bench W1, x86-64, 1 MiB
 *      heap): 364 instructions per operation with requests of 8-512 bytes,
 *      2 150 with requests up to 16 KiB (98 without, in both).
 * CAPHEAP_POISON_FREED (default 0xDE, bit 0 must be clear: a freed header
 * overwritten with it still reads as free) and CAPHEAP_POISON_NEW (default
 * 0xCD) are the fill bytes. */
#ifndef CAPHEAP_POISON
#define CAPHEAP_POISON 0
#endif
#ifndef CAPHEAP_POISON_FREED
#define CAPHEAP_POISON_FREED 0xDE
#endif
#ifndef CAPHEAP_POISON_NEW
#define CAPHEAP_POISON_NEW 0xCD
#endif

/* CAPHEAP_TRACE: 1 lets a hook see every successful allocation, free and
 * realloc (capheap_set_trace), for leak tracing, heap profiling or logging;
 * default 0: off, zero cost, and capheap_set_trace does not exist. Cost when
 * 1: two words per heap; without a hook one load and compare per successful
 * call; with a hook one indirect call. The hook is called with the heap
 * lock held, so it sees the events of all threads in the order they
 * happened (a block is reported freed before anyone can be given it again). */
#ifndef CAPHEAP_TRACE
#define CAPHEAP_TRACE 0
#endif

/* CAPHEAP_SL_BITS: log2 of the number of size classes per power of two
 * (0..5, default 0: one class per power of two). 0 keeps one bitmap word per
 * region (one bit per class) and no second level; lists rarely switch
 * between empty and non-empty, and the control data is small (96 bytes for
 * a 64 KiB region on 32-bit). 1..5 add 2^SL_BITS classes per power of two
 * under a two-level bitmap (TLSF's layout): each class is narrower, so its
 * first block fits more often without a scan, at one word of control data
 * per class (4 bytes on 32-bit, 8 on 64-bit: a 64 KiB region has
 * (log2(64 KiB / CAPHEAP_ALIGN) - CAPHEAP_SL_BITS + 2) << CAPHEAP_SL_BITS
 * classes, 408 bytes of control data with 3 on 32-bit) and a second bitmap
 * level to keep. bench/RESULTS.md has the
 * measured trade-off for every setting (W1 speed, W2 efficiency, control
 * data); docs/target-figures.md the worst case on RV32. */
#ifndef CAPHEAP_SL_BITS
#define CAPHEAP_SL_BITS 0
#endif

/* CAPHEAP_FIT_SCAN: how many blocks of the request's own size class an
 * allocation examines at most (1..8, default 5). The walk stops at the
 * second block that fits, or earlier at a block at most 1/8 larger than
 * needed, and the tighter fit is taken. Above 1, when the own class has no
 * block that fits, the tighter of the first two blocks of the good-fit class
 * is taken instead of its first (its first alone with 2). The walks are
 * bounded, so allocation stays O(1): on RV32 each block examined costs 5 to
 * 10 instructions in the worst case, and one read of that block's header
 * (on external RAM behind a cache, such as PSRAM, each may be a cache miss:
 * count them in a latency budget). With 1 (the first block only, no
 * scanning code) and CAPHEAP_SL_BITS 0 the core is fastest; measured with
 * the default options (bench/, W1): 91.1 instructions per operation on
 * average against 98.8 with 5, W2 efficiency 1.5 points lower at 1 MiB,
 * worst case on RV32 138 / 142 instructions per alloc / free against
 * 174 / 142 (constructed longest paths). */
#ifndef CAPHEAP_FIT_SCAN
#define CAPHEAP_FIT_SCAN 5
#endif

/* CAPHEAP_GLOBAL: 1 (default) defines the global heap capheap_global and the
 * ready allocator handles; 0 leaves the core without any global state. */
#ifndef CAPHEAP_GLOBAL
#define CAPHEAP_GLOBAL 1
#endif

/* CAPHEAP_ASSERT(cond, msg): internal consistency assertions (never triggered
 * by bad input, which is reported as an error instead). Default: none, zero
 * cost. Tests define it to abort with the message. */
#ifndef CAPHEAP_ASSERT
#define CAPHEAP_ASSERT(cond, msg) ((void)0)
#endif

/* CAPHEAP_USE_INTRINSICS: 1 uses __builtin_ctz/__builtin_clz, 0 uses portable
 * table-based versions. Default: 1 on GCC/Clang except on RISC-V without the
 * Zbb extension, where the builtins become library calls and the tables win. */
#ifndef CAPHEAP_USE_INTRINSICS
#if (defined(__GNUC__) || defined(__clang__)) && !(defined(__riscv) && !defined(__riscv_zbb))
#define CAPHEAP_USE_INTRINSICS 1
#else
#define CAPHEAP_USE_INTRINSICS 0
#endif
#endif

/* CAPHEAP_DMA_ALIGN: alignment the ready DMA allocator handle uses (a cache
 * line on most MCUs with a data cache). Default 32. */
#ifndef CAPHEAP_DMA_ALIGN
#define CAPHEAP_DMA_ALIGN 32
#endif

#if CAPHEAP_CHECK_LEVEL < 0 || CAPHEAP_CHECK_LEVEL > 2
#error "CAPHEAP_CHECK_LEVEL must be 0, 1 or 2"
#endif
#if CAPHEAP_STATS != 0 && CAPHEAP_STATS != 1 && CAPHEAP_STATS != 2
#error "CAPHEAP_STATS must be 0, 1 or 2"
#endif
#if CAPHEAP_TRACE != 0 && CAPHEAP_TRACE != 1
#error "CAPHEAP_TRACE must be 0 or 1"
#endif
#if CAPHEAP_POISON != 0 && CAPHEAP_POISON != 1
#error "CAPHEAP_POISON must be 0 or 1"
#endif
#if CAPHEAP_POISON_FREED < 0 || CAPHEAP_POISON_FREED > 255 || (CAPHEAP_POISON_FREED & 1) != 0
#error "CAPHEAP_POISON_FREED must be a byte value with bit 0 clear"
#endif
#if CAPHEAP_POISON_NEW < 0 || CAPHEAP_POISON_NEW > 255
#error "CAPHEAP_POISON_NEW must be a byte value"
#endif
#if CAPHEAP_SL_BITS < 0 || CAPHEAP_SL_BITS > 5
#error "CAPHEAP_SL_BITS must be between 0 and 5"
#endif
#if CAPHEAP_FIT_SCAN < 1 || CAPHEAP_FIT_SCAN > 8
#error "CAPHEAP_FIT_SCAN must be between 1 and 8"
#endif
#if CAPHEAP_DMA_ALIGN < 1 || (CAPHEAP_DMA_ALIGN & (CAPHEAP_DMA_ALIGN - 1)) != 0
#error "CAPHEAP_DMA_ALIGN must be a power of two"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================
 * LAYOUT CONSTANTS (queryable overheads)
 * ========================================================================= */
/** Bytes of header in front of every payload: one machine word. */
#define CAPHEAP_HEADER_SIZE  (sizeof(uintptr_t))
/** Alignment of every payload: two machine words (8 on 32-bit, 16 on 64-bit). */
#define CAPHEAP_ALIGN        (2u * sizeof(uintptr_t))
/** Smallest block (header included): four machine words. */
#define CAPHEAP_MIN_BLOCK    (4u * sizeof(uintptr_t))

/* ============================================================================
 * CAPABILITIES
 * ========================================================================= */
#define CAPHEAP_CAP_INTERNAL  (1u << 0) /**< on-chip RAM */
#define CAPHEAP_CAP_EXTERNAL  (1u << 1) /**< external RAM: PSRAM, SDRAM */
#define CAPHEAP_CAP_DMA       (1u << 2) /**< reachable by DMA engines */
#define CAPHEAP_CAP_EXEC      (1u << 3) /**< code may execute from it */
#define CAPHEAP_CAP_8BIT      (1u << 4) /**< byte (8/16-bit) accesses work */
#define CAPHEAP_CAP_32BIT     (1u << 5) /**< 32-bit accesses work; a region with
                                             this bit and without 8BIT is
                                             32-bit-only (e.g. instruction RAM) */
#define CAPHEAP_CAP_TCM       (1u << 6) /**< tightly-coupled, single-cycle RAM */
#define CAPHEAP_CAP_RETENTION (1u << 7) /**< kept across low-power sleep */
/** Bits 16..31 are reserved for the user: CAPHEAP_CAP_USER(0..15). */
#define CAPHEAP_CAP_USER(n)   (1u << (16u + (unsigned)(n)))

/** Capabilities the declaration macros give to internal RAM. */
#define CAPHEAP_CAPS_INTERNAL (CAPHEAP_CAP_INTERNAL | CAPHEAP_CAP_8BIT | CAPHEAP_CAP_32BIT)
/** Capabilities the declaration macros give to external RAM (PSRAM). */
#define CAPHEAP_CAPS_EXTERNAL (CAPHEAP_CAP_EXTERNAL | CAPHEAP_CAP_8BIT | CAPHEAP_CAP_32BIT)

/* ============================================================================
 * ERROR CODES (all negative; 0 is success)
 * ========================================================================= */
typedef enum capheap_error {
    CAPHEAP_OK = 0,
    /** capheap_add_region: mem is NULL. */
    CAPHEAP_E_REGION_NULL = -1,
    /** capheap_add_region: after trimming the start up to the required
     *  alignment and the size down to whole granules, the range cannot hold
     *  the region's control data plus one block of CAPHEAP_MIN_BLOCK bytes
     *  and the end marker (see capheap_region_overhead()). */
    CAPHEAP_E_REGION_TOO_SMALL = -2,
    /** capheap_add_region: mem + size wraps around the end of the address space. */
    CAPHEAP_E_REGION_WRAPS = -3,
    /** capheap_add_region: the range overlaps a region already in this heap
     *  (including the same region added twice). */
    CAPHEAP_E_REGION_OVERLAP = -4,
    /** An allocation found no qualifying region with a large enough free
     *  block. Counted in fail_count too. */
    CAPHEAP_E_NOMEM = -5,
    /** An allocation found no region at all with the requested capabilities
     *  (a configuration error rather than exhaustion), including any
     *  allocation from a heap that has no region yet. Counted in fail_count. */
    CAPHEAP_E_NO_CAPS = -6,
    /** A size too large to represent: size + header overflows, or
     *  calloc's count * size overflows size_t. Counted in fail_count. */
    CAPHEAP_E_SIZE_OVERFLOW = -7,
    /** An alignment that is zero or not a power of two. */
    CAPHEAP_E_BAD_ALIGN = -8,
    /** free/realloc/usable_size of a pointer that lies in no region of this
     *  heap (a pointer from another heap, the stack, static data, ...). */
    CAPHEAP_E_FOREIGN_PTR = -9,
    /** free/realloc/usable_size of a pointer inside a region that is not the
     *  start of a live block: misaligned, into the middle of a block, into the
     *  region's control data, or a block whose header was overwritten. */
    CAPHEAP_E_INVALID_PTR = -10,
    /** free/realloc/usable_size of a block that is already free. */
    CAPHEAP_E_DOUBLE_FREE = -11,
    /** A call entered the heap while another call was inside it. */
    CAPHEAP_E_REENTRY = -12,
    /** capheap_check found the heap's structures inconsistent; or free /
     *  realloc / usable_size found that a neighbour the block would merge
     *  with is not a sound free block (its header, size or boundary tag was
     *  overwritten): the block is then left allocated. */
    CAPHEAP_E_CORRUPT = -13,
    /** A NULL heap or NULL output pointer was passed where one is required,
     *  or an index beyond the last region. */
    CAPHEAP_E_ARGUMENT = -14,
    /** CAPHEAP_POISON builds only: an allocation found that a byte it hands
     *  out was changed while the memory was free (written after free). The
     *  allocation succeeds; the event's ptr is the first changed byte. */
    CAPHEAP_E_USE_AFTER_FREE = -15
} capheap_error_t;

/** Number of error kinds: error_count[] is indexed by -code, 1..CAPHEAP_ERROR_KINDS-1. */
#define CAPHEAP_ERROR_KINDS 16

/** A short English description of an error code ("unknown error" for others). */
const char *capheap_strerror(int code);

/* ============================================================================
 * TYPES
 * ========================================================================= */
typedef struct capheap_heap capheap_heap_t;
/** A region. Its definition is private to capheap.c. */
typedef struct capheap_region capheap_region_t;

/** What the error handler is told. */
typedef struct capheap_event {
    capheap_error_t code; /**< what went wrong */
    void *ptr;            /**< the pointer concerned (free/realloc/add_region), or NULL */
    size_t size;          /**< the size requested (allocations, add_region), or 0 */
    uint32_t caps;        /**< the capabilities requested, or 0 */
} capheap_event_t;

/** Error handler: called once per detected error, after the heap lock has
 *  been released, from the context that made the failing call. It may call
 *  into the heap again (for example to print a report). */
typedef void (*capheap_error_fn)(capheap_heap_t *heap, const capheap_event_t *event, void *ctx);

/** Lock hooks. lock() is called on entry to every call that reads or
 *  changes the heap and returns a token (for example the saved interrupt
 *  state) that unlock() receives. A lock that detects it is already held by
 *  the caller may return CAPHEAP_LOCK_FAILED; the call then fails with
 *  CAPHEAP_E_REENTRY and unlock() is not called. */
typedef uintptr_t (*capheap_lock_fn)(void *ctx);
typedef void (*capheap_unlock_fn)(void *ctx, uintptr_t token);
#define CAPHEAP_LOCK_FAILED (~(uintptr_t)0)

/** Heap statistics, totals over all regions. Sizes are in bytes and count
 *  whole blocks, headers included, so used + free == total_size. */
typedef struct capheap_stats {
    size_t total_size;     /**< bytes in blocks over all regions (capacity) */
    size_t used;           /**< bytes in allocated blocks */
    size_t free;           /**< total_size - used */
    size_t largest_free;   /**< payload bytes of the largest request that
                                capheap_alloc is guaranteed to satisfy now;
                                0 when no region has a free block at all
                                (then not even a 0-byte request succeeds) */
    size_t min_free_ever;  /**< sum over regions of each region's lowest free */
    size_t peak_used;      /**< highest value of used over the heap's life */
    size_t region_count;
    uint32_t alloc_count;  /**< successful allocations (calloc, aligned and a
                                moving realloc count once each) */
    uint32_t free_count;   /**< successful frees (a moving realloc counts one) */
    uint32_t fail_count;   /**< allocations that returned NULL with NOMEM,
                                NO_CAPS, SIZE_OVERFLOW or BAD_ALIGN (a call
                                refused with REENTRY is only in error_count) */
    uint64_t bytes_allocated; /**< block bytes handed out over the heap's life */
    uint64_t bytes_freed;     /**< block bytes given back over the heap's life */
    uint32_t error_count[CAPHEAP_ERROR_KINDS]; /**< [-code] for each error code */
} capheap_stats_t;

/** How often each path of the allocator ran (CAPHEAP_STATS 2), summed over
 *  the regions; each counter wraps at 2^32. An allocation is served either
 *  from its own size class (the first CAPHEAP_FIT_SCAN blocks examined) or by
 *  the bitmap search. */
typedef struct capheap_path_stats {
    uint32_t own_class;     /**< allocations served from the request's own class */
    uint32_t searches;      /**< bitmap searches for a larger class (no fit in the own class) */
    uint32_t first_level;   /**< searches that read the first-level map (every search
                                 when CAPHEAP_SL_BITS is 0: it is the only map) */
    uint32_t splits;        /**< blocks split, the rest returned to the lists */
    uint32_t merges;        /**< free neighbours merged (free, realloc shrink) */
    uint32_t lists_filled;  /**< a size class list went from empty to one block (bitmap bits set) */
    uint32_t lists_emptied; /**< a size class list became empty (bitmap bits cleared) */
} capheap_path_stats_t;

/** Statistics of one region. */
typedef struct capheap_region_stats {
    void *start;           /**< first byte of the region: the start given to
                                add_region rounded up to CAPHEAP_ALIGN */
    size_t span;           /**< bytes of the range after trimming (from start) */
    size_t overhead;       /**< span - size: control data, padding, end marker */
    size_t size;           /**< bytes in blocks (capacity) */
    size_t used;
    size_t free;
    size_t largest_free;   /**< as in capheap_stats_t, for this region */
    size_t min_free_ever;  /**< size - peak_used */
    size_t peak_used;
    uint32_t caps;
    int priority;
    uint32_t alloc_count;
    uint32_t free_count;
} capheap_region_stats_t;

/** Statistics of the regions that have a set of capabilities: what
 *  capheap_alloc_caps with those caps can draw on (capheap_get_caps_stats).
 *  Sizes count whole blocks, headers included, as in capheap_stats_t. */
typedef struct capheap_caps_stats {
    uint32_t caps;         /**< the capabilities asked for */
    size_t region_count;   /**< regions that have every one of them */
    size_t total_size;     /**< bytes in blocks over those regions */
    size_t used;
    size_t free;           /**< total_size - used */
    size_t largest_free;   /**< payload bytes of the largest request that
                                capheap_alloc_caps(heap, size, caps) is
                                guaranteed to satisfy now (default
                                alignment); 0 when none of those regions has
                                a free block */
    size_t min_free_ever;  /**< sum over those regions of each one's lowest free */
    uint32_t alloc_count;  /**< successful allocations served by those regions */
    uint32_t free_count;   /**< frees of blocks in those regions */
} capheap_caps_stats_t;

#if CAPHEAP_TRACE
struct capheap_trace_event; /* below, with capheap_set_trace */
#endif

/** The heap. Its fields are private: use the calls below. All-zero is a
 *  valid empty heap with no lock, no handler and no regions. */
struct capheap_heap {
    capheap_region_t *regions_; /* sorted by descending priority, then insertion */
    capheap_lock_fn lock_;
    capheap_unlock_fn unlock_;
    void *lock_ctx_;
    capheap_error_fn on_error_;
    void *error_ctx_;
    uint32_t state_; /* bit 0: a call is inside; bit 1: lock hooks set */
    uint32_t region_count_;
    uint32_t error_count_[CAPHEAP_ERROR_KINDS];
    uint32_t fail_count_;
    uint32_t reporting_; /* nonzero while the handler is told of a refused call */
#if CAPHEAP_TRACE
    void (*trace_)(capheap_heap_t *, const struct capheap_trace_event *, void *);
    void *trace_ctx_;
#endif
#if CAPHEAP_POISON
    void *poison_hit_; /* first changed free byte found inside a call, reported on leaving */
#endif
#if CAPHEAP_STATS
    size_t used_;
    size_t peak_;
    size_t bytes_allocated_;    /* low word of the 64-bit total ... */
#if SIZE_MAX <= 0xFFFFFFFFu
    uint32_t bytes_allocated_hi_; /* ... and its high word on 32-bit targets */
#endif
#endif
};

/** Static initializer for a heap: capheap_heap_t h = CAPHEAP_HEAP_INIT; */
#define CAPHEAP_HEAP_INIT {0}

/* ============================================================================
 * HEAPS AND REGIONS
 * ========================================================================= */

/** Reset a heap to empty (no regions, no hooks, zero statistics).
 *  Precondition: no other call is using the heap. Regions it had are simply
 *  forgotten. NULL heap: does nothing. Complexity O(1). */
void capheap_init(capheap_heap_t *heap);

/** Add the memory [mem, mem + size) to the heap with capabilities caps and
 *  priority 0. Same as capheap_add_region_ex(heap, mem, size, caps, 0, NULL). */
int capheap_add_region(capheap_heap_t *heap, void *mem, size_t size, uint32_t caps);

/** Add the memory [mem, mem + size) to the heap.
 *  - The start is rounded up and the size rounded down to whole granules
 *    (misaligned and odd sizes are trimmed, not refused); the usable range
 *    is also capped at 4 GiB - 64 bytes on 64-bit hosts (a region's
 *    offsets and byte counts are 32-bit).
 *  - The control data for the region is placed at its start; the rest
 *    becomes one free block.
 *  - priority: regions with a higher priority are tried first; equal
 *    priorities keep insertion order. Clamped to -128..127.
 *  - region_out: if not NULL, receives the region (or NULL on error).
 *  Returns CAPHEAP_OK, or (and the heap is unchanged):
 *    CAPHEAP_E_ARGUMENT       heap is NULL (not counted: there is no heap);
 *    CAPHEAP_E_REGION_NULL    mem is NULL;
 *    CAPHEAP_E_REGION_WRAPS   mem + size wraps around the address space;
 *    CAPHEAP_E_REGION_TOO_SMALL the trimmed range cannot hold the control
 *                             data, one CAPHEAP_MIN_BLOCK block and the end
 *                             marker (capheap_region_overhead(size) + MIN);
 *    CAPHEAP_E_REGION_OVERLAP [mem, mem + size) overlaps a region of this heap;
 *    CAPHEAP_E_REENTRY        the heap was busy.
 *  Precondition: the memory is not used by anything else and stays valid for
 *  the life of the heap. Complexity O(regions). Takes the heap lock. */
int capheap_add_region_ex(capheap_heap_t *heap, void *mem, size_t size, uint32_t caps,
                          int priority, capheap_region_t **region_out);

/** Bytes of control data, alignment padding and end marker that a region
 *  given as size bytes at a granule-aligned address costs (its span minus
 *  its capacity). O(1). Returns size if the region would be too small. */
size_t capheap_region_overhead(size_t size);

/** Install lock hooks (both or neither; NULL removes them). Call before the
 *  heap is shared. NULL heap: does nothing. */
void capheap_set_lock(capheap_heap_t *heap, capheap_lock_fn lock, capheap_unlock_fn unlock,
                      void *ctx);

/** Install an error handler (NULL removes it). NULL heap: does nothing. */
void capheap_set_error_handler(capheap_heap_t *heap, capheap_error_fn fn, void *ctx);

#if CAPHEAP_TRACE
/** What a trace hook is told (CAPHEAP_TRACE builds). */
typedef enum capheap_trace_op {
    CAPHEAP_TRACE_ALLOC = 1,  /**< ptr was allocated: every allocation call,
                                   also realloc(NULL, n) and the handles */
    CAPHEAP_TRACE_FREE = 2,   /**< ptr was freed: capheap_free, realloc(p, 0) */
    CAPHEAP_TRACE_REALLOC = 3 /**< old_ptr was resized to ptr (ptr == old_ptr
                                   when it stayed in place, else old_ptr was
                                   freed and ptr allocated) */
} capheap_trace_op_t;

typedef struct capheap_trace_event {
    capheap_trace_op_t op;
    void *ptr;        /**< the block allocated, freed, or realloc's result */
    void *old_ptr;    /**< REALLOC: the block before; otherwise NULL */
    size_t size;      /**< ALLOC and REALLOC: bytes requested (calloc: count *
                           size); FREE: 0 */
    uint32_t caps;    /**< capabilities requested (capheap_alloc_prefer: the
                           entry of the list that was served); FREE: 0 */
} capheap_trace_event_t;

/** Trace hook: called once for each successful allocation, free and
 *  realloc of the heap, after the heap has changed and before the call
 *  returns, with the heap lock held. Calls that fail (NULL, an error code)
 *  and free(NULL) are not traced. The hook must not call into the same heap
 *  (at CAPHEAP_CHECK_LEVEL >= 1 such a call fails with CAPHEAP_E_REENTRY; at
 *  0 it is undefined) and should be short: it runs inside every call. */
typedef void (*capheap_trace_fn)(capheap_heap_t *heap, const capheap_trace_event_t *event,
                                 void *ctx);

/** Install a trace hook (NULL removes it); set it before the heap is shared
 *  between threads or interrupts, as the lock hooks. NULL heap: does nothing.
 *  Exists only when CAPHEAP_TRACE is 1. */
void capheap_set_trace(capheap_heap_t *heap, capheap_trace_fn fn, void *ctx);
#endif

/* ============================================================================
 * ALLOCATION
 * All allocation calls return a payload aligned to at least CAPHEAP_ALIGN (or
 * to align for the aligned calls) or NULL. On NULL the cause was reported as
 * described under ERRORS: CAPHEAP_E_NOMEM, CAPHEAP_E_NO_CAPS,
 * CAPHEAP_E_SIZE_OVERFLOW, CAPHEAP_E_BAD_ALIGN or CAPHEAP_E_REENTRY; a NULL
 * heap returns NULL without a report. size 0 is valid and returns a unique
 * minimal block that must be freed like any other.
 * ========================================================================= */

/** Allocate size bytes from any region. Complexity O(regions). */
void *capheap_alloc(capheap_heap_t *heap, size_t size);

/** Allocate size bytes from the first region (in priority order) whose
 *  capabilities include all bits of caps. CAPHEAP_E_NO_CAPS if no region has
 *  them, CAPHEAP_E_NOMEM if none of those has room. O(regions). */
void *capheap_alloc_caps(capheap_heap_t *heap, size_t size, uint32_t caps);

/** Allocate size bytes aligned to align, a power of two (any value up to the
 *  region size; values up to CAPHEAP_ALIGN cost nothing extra). Not a power
 *  of two or zero: CAPHEAP_E_BAD_ALIGN. The search asks for
 *  size + align + CAPHEAP_ALIGN bytes, so an aligned request can fail where
 *  a plain one of the same size succeeds. O(regions). */
void *capheap_aligned_alloc(capheap_heap_t *heap, size_t align, size_t size);
void *capheap_aligned_alloc_caps(capheap_heap_t *heap, size_t align, size_t size, uint32_t caps);

/** Allocate count * size bytes set to zero. If the product overflows size_t:
 *  CAPHEAP_E_SIZE_OVERFLOW and NULL (the event's size is the element size,
 *  size). O(regions + bytes). */
void *capheap_calloc(capheap_heap_t *heap, size_t count, size_t size);
void *capheap_calloc_caps(capheap_heap_t *heap, size_t count, size_t size, uint32_t caps);

/** Try the capability sets caps_list[0..n-1] in turn (ESP-IDF's
 *  malloc_prefer): the first that succeeds wins. One failure is reported if
 *  all fail: SIZE_OVERFLOW if size cannot be a block, else NOMEM if some set
 *  matched a region, else NO_CAPS (also for n == 0). caps_list NULL with
 *  n > 0: CAPHEAP_E_ARGUMENT and NULL (not counted in fail_count).
 *  O(n * regions). */
void *capheap_alloc_prefer(capheap_heap_t *heap, size_t size, const uint32_t *caps_list, size_t n);

/** Resize the block at ptr to size bytes, keeping its contents up to the
 *  smaller of the two sizes. ptr NULL: same as capheap_alloc_caps. size 0:
 *  capheap_free(heap, ptr) and NULL; a bad ptr is then reported as by
 *  capheap_free (the return value is NULL either way). Otherwise, in order:
 *   1. if ptr's region has all of caps: shrink in place (the tail goes back
 *      to the free lists), or grow in place into a free next neighbour, or
 *      into a free previous neighbour (contents are moved down); O(1);
 *   2. else allocate a new block in a region that has all of caps, copy,
 *      and free the old block. O(regions + bytes).
 *  capheap_realloc uses caps 0 (any region): a block allocated with caps
 *  must be resized with capheap_realloc_caps and the same caps (or through
 *  its allocator handle) to keep them.
 *  On failure returns NULL and ptr is untouched and still valid: NOMEM,
 *  NO_CAPS, SIZE_OVERFLOW, REENTRY, or ptr's own errors as for capheap_free
 *  (FOREIGN_PTR, INVALID_PTR, DOUBLE_FREE, CORRUPT). Alignment beyond CAPHEAP_ALIGN
 *  is not preserved when the block moves. */
void *capheap_realloc(capheap_heap_t *heap, void *ptr, size_t size);
void *capheap_realloc_caps(capheap_heap_t *heap, void *ptr, size_t size, uint32_t caps);

/** Give the block at ptr back. ptr NULL: does nothing, returns CAPHEAP_OK.
 *  heap NULL (ptr not NULL): CAPHEAP_E_ARGUMENT, not reported. Returns CAPHEAP_OK or (and the heap is unchanged), at CAPHEAP_CHECK_LEVEL >= 1:
 *    CAPHEAP_E_FOREIGN_PTR  ptr lies in no region of this heap: always detected;
 *    CAPHEAP_E_INVALID_PTR  ptr lies in a region but is not the start of a
 *        live block. Always detected when ptr is misaligned, points into the
 *        control data, or the word before it does not read as a used block
 *        header whose size stays inside the region and whose successor marks
 *        it as used. An aligned pointer into the middle of a live block whose
 *        preceding payload bytes happen to form such a header is detected only
 *        at CAPHEAP_CHECK_LEVEL 2;
 *    CAPHEAP_E_DOUBLE_FREE  the header before ptr says the block is free: always
 *        detected for a block freed once whose memory has not been handed out
 *        again (an interior pointer whose preceding word has its low bit clear
 *        is also reported this way; at CAPHEAP_CHECK_LEVEL 2, any pointer
 *        into a free block);
 *    CAPHEAP_E_CORRUPT      a neighbour the block would merge with is not a
 *        sound free block (memory around the block was overwritten); the
 *        block stays allocated;
 *    CAPHEAP_E_REENTRY      the heap was busy.
 *  At level 0 no check is made: a bad pointer is undefined behaviour.
 *  Complexity: O(regions) to find the region, O(1) in it. */
int capheap_free(capheap_heap_t *heap, void *ptr);

/** Bytes usable at ptr (at least what was requested). Errors as for
 *  capheap_free, then 0 is returned. ptr NULL: 0, no error. O(regions). */
size_t capheap_usable_size(capheap_heap_t *heap, void *ptr);

/* ============================================================================
 * STATISTICS, REPORT, INTEGRITY
 * ========================================================================= */

/** Copy the heap's totals into *out. CAPHEAP_OK; CAPHEAP_E_ARGUMENT if heap
 *  or out is NULL; CAPHEAP_E_REENTRY if the heap was busy. With
 *  CAPHEAP_STATS 0, alloc_count, free_count, peak_used and the byte totals
 *  read 0 (min_free_ever then equals free); fail_count and error_count are
 *  kept at every level. O(regions); with CAPHEAP_STATS 0, O(blocks): used
 *  is summed over the blocks (a block whose header cannot be right, as
 *  capheap_check would report, ends the sum for its region). */
int capheap_get_stats(capheap_heap_t *heap, capheap_stats_t *out);

/** Copy the path counters of all regions, summed, into *out. CAPHEAP_OK;
 *  CAPHEAP_E_ARGUMENT if heap or out is NULL; CAPHEAP_E_REENTRY if the heap
 *  was busy. Below CAPHEAP_STATS 2 every counter reads 0. O(regions). */
int capheap_get_path_stats(capheap_heap_t *heap, capheap_path_stats_t *out);

/** Copy the statistics of the index-th region (in the order regions are
 *  tried, from 0) into *out. CAPHEAP_OK; CAPHEAP_E_ARGUMENT if a pointer is
 *  NULL, or if index is past the last region: that one is not counted or
 *  reported, so that `for (i = 0; capheap_get_region_stats(h, i, &rs) ==
 *  CAPHEAP_OK; i++)` enumerates the regions quietly; CAPHEAP_E_REENTRY if
 *  the heap was busy. O(index); with CAPHEAP_STATS 0 also O(blocks of the
 *  region), as capheap_get_stats. */
int capheap_get_region_stats(capheap_heap_t *heap, size_t index, capheap_region_stats_t *out);

/** Totals over the regions that have every bit of caps (the regions
 *  capheap_alloc_caps(heap, size, caps) may allocate from; caps 0: every
 *  region) into *out: how much DMA-capable or internal memory is left, and
 *  the largest such request that will succeed now. CAPHEAP_OK, also when no
 *  region has the caps (region_count and every size 0); CAPHEAP_E_ARGUMENT
 *  if heap or out is NULL (a NULL out is counted and reported, as for
 *  capheap_get_stats); CAPHEAP_E_REENTRY if the heap was busy. With
 *  CAPHEAP_STATS 0, alloc_count and free_count read 0 and min_free_ever
 *  equals free. O(regions); with CAPHEAP_STATS 0, O(blocks of those
 *  regions), as capheap_get_stats. With caps 0, total_size, used, free,
 *  largest_free, min_free_ever, alloc_count and free_count equal
 *  capheap_get_stats's. */
int capheap_get_caps_stats(capheap_heap_t *heap, uint32_t caps, capheap_caps_stats_t *out);

/** A write callback: emit len bytes of text. */
typedef void (*capheap_write_fn)(void *ctx, const char *text, size_t len);

/** Print the heap report through write (src/capheap_report.c): the
 *  reference's layout (HEAP INFO, Size, Current usage, Max usage, Total
 *  freed, Total allocated, Memory Layout with a 35-cell usage bar per region)
 *  followed by the fields the reference lacks (largest free block, minimum
 *  free ever, counts of allocations, frees, failures and each error). Needs no
 *  libc. Takes the lock once per region and once for totals. heap NULL:
 *  nothing is written. write NULL: nothing is written, and CAPHEAP_E_ARGUMENT
 *  is counted and reported. A busy heap: "(unavailable: heap busy)" is
 *  written and CAPHEAP_E_REENTRY is counted and reported. */
void capheap_report(capheap_heap_t *heap, capheap_write_fn write, void *ctx);

/** What capheap_check found. */
typedef struct capheap_check_result {
    uint32_t problems;       /**< number of inconsistencies found (0: healthy) */
    const char *first;       /**< description of the first one, or NULL */
    const void *where;       /**< address involved in the first one, or NULL */
    size_t blocks_used;      /**< used blocks walked */
    size_t blocks_free;      /**< free blocks walked */
} capheap_check_result_t;

/** Walk every region and cross-check: blocks tile the region exactly from the
 *  first block to the end marker; sizes are whole granules of at least
 *  CAPHEAP_MIN_BLOCK; no two free blocks are adjacent; every block's
 *  previous-used flag matches its neighbour; every free block's end tag
 *  matches its size; every free block is in the list of its size class
 *  exactly once and the lists hold nothing else; list links are mutual;
 *  bitmap bits are set exactly for the non-empty classes; the region's and
 *  the heap's used bytes and peaks agree with the blocks. With
 *  CAPHEAP_POISON, also every byte of every free block between its links and
 *  its tag holds CAPHEAP_POISON_FREED ("free block written after it was
 *  freed", where = the first changed byte).
 *  out may be NULL. Returns CAPHEAP_OK, CAPHEAP_E_CORRUPT (out->problems > 0;
 *  also counted and reported to the handler once per call), CAPHEAP_E_REENTRY,
 *  or CAPHEAP_E_ARGUMENT (heap NULL). O(blocks + classes); with
 *  CAPHEAP_POISON also linear in the free bytes. */
int capheap_check(capheap_heap_t *heap, capheap_check_result_t *out);

/** Information given to a walk callback about one block. */
typedef struct capheap_block_info {
    void *ptr;          /**< payload address */
    size_t size;        /**< payload bytes (block size - header) */
    bool used;
    const capheap_region_t *region;
} capheap_block_info_t;
/** Walk callback: return false to stop the walk. */
typedef bool (*capheap_walk_fn)(const capheap_block_info_t *block, void *ctx);

/** Call fn for every block of every region in address order, under the
 *  lock (fn must not call into the heap: that is reported as REENTRY).
 *  A block whose header cannot be right (a size below the minimum or past
 *  the region's end: corruption, which capheap_check reports) is not passed
 *  to fn and ends the walk of its region. Returns CAPHEAP_OK,
 *  CAPHEAP_E_REENTRY or CAPHEAP_E_ARGUMENT. O(blocks). */
int capheap_walk(capheap_heap_t *heap, capheap_walk_fn fn, void *ctx);

/* ============================================================================
 * ALLOCATOR HANDLES
 * A handle binds a heap to the capabilities (and minimum alignment) its
 * allocations require, so a library can be given "internal memory only"
 * without seeing the heap's policy.
 * ========================================================================= */
typedef struct capheap_allocator {
    capheap_heap_t *heap;
    uint32_t caps;   /**< capabilities every allocation requires */
    size_t align;    /**< minimum alignment (0 or <= CAPHEAP_ALIGN: default) */
} capheap_allocator_t;

/** Allocate / free / resize through a handle: capheap_aligned_alloc_caps,
 *  capheap_free and capheap_realloc_caps with the handle's heap, caps and
 *  alignment. A NULL handle returns NULL / CAPHEAP_E_ARGUMENT. The realloc
 *  result has the handle's capabilities and alignment: with an alignment
 *  above CAPHEAP_ALIGN, a block that has both is resized in place as by
 *  capheap_realloc_caps (step 1), except that it grows into its previous
 *  neighbour only if the moved contents stay aligned; any other block
 *  (misaligned, in a region without the caps, or with no room in place)
 *  moves to a new aligned block, O(regions + bytes). One lock round trip.
 *  A bad ptr returns NULL with its error reported once, as for
 *  capheap_free, and nothing is allocated; a handle alignment that is not a
 *  power of two is then CAPHEAP_E_BAD_ALIGN, and ptr stays valid. */
void *capheap_allocator_alloc(const capheap_allocator_t *a, size_t size);
int capheap_allocator_free(const capheap_allocator_t *a, void *ptr);
void *capheap_allocator_realloc(const capheap_allocator_t *a, void *ptr, size_t size);

/* ============================================================================
 * THE GLOBAL HEAP (CAPHEAP_GLOBAL)
 * ========================================================================= */
#if CAPHEAP_GLOBAL
/** The one global heap: what the libc layers in libc/ route malloc() to. */
extern capheap_heap_t capheap_global;
/** Ready handles on the global heap: any region; internal RAM only; external
 *  RAM only; DMA-capable memory aligned to CAPHEAP_DMA_ALIGN. */
extern const capheap_allocator_t capheap_any;
extern const capheap_allocator_t capheap_internal;
extern const capheap_allocator_t capheap_external;
extern const capheap_allocator_t capheap_dma;
#endif

/* ============================================================================
 * DECLARING A HEAP (the book's heap_allocator! in C)
 * Each is one statement, used inside a function (typically early in main):
 *
 *   CAPHEAP_HEAP_ALLOCATOR(72 * 1024);                          // internal RAM
 *   CAPHEAP_HEAP_ALLOCATOR_IN_SECTION(".dram2_uninit", 64000);  // reclaimed RAM
 *   CAPHEAP_ADD_EXTERNAL((void *)0x21000000, 16u << 20);        // PSRAM
 *
 * The first two declare static storage of that many bytes, aligned to
 * CAPHEAP_ALIGN, and add it to capheap_global with CAPHEAP_CAPS_INTERNAL;
 * they evaluate to nothing and report errors like capheap_add_region.
 * Executing the same statement twice adds nothing the second time
 * (CAPHEAP_E_REGION_OVERLAP is reported). The section form needs a linker
 * script that places the section (NOLOAD for *_uninit sections, so startup
 * code neither copies nor clears it); it uses a GCC/Clang attribute.
 * ========================================================================= */
#define CAPHEAP_HEAP_ALLOCATOR_CAPS(size_bytes, caps)                                  \
    do {                                                                               \
        static _Alignas(2 * sizeof(uintptr_t)) unsigned char capheap_storage_[(size_bytes)]; \
        (void)capheap_add_region(&capheap_global, capheap_storage_, sizeof capheap_storage_, \
                                 (caps));                                              \
    } while (0)

#define CAPHEAP_HEAP_ALLOCATOR(size_bytes) \
    CAPHEAP_HEAP_ALLOCATOR_CAPS(size_bytes, CAPHEAP_CAPS_INTERNAL)

#define CAPHEAP_HEAP_ALLOCATOR_IN_SECTION(section_name, size_bytes)                    \
    do {                                                                               \
        static _Alignas(2 * sizeof(uintptr_t)) unsigned char capheap_storage_[(size_bytes)] \
            __attribute__((section(section_name), used));                              \
        (void)capheap_add_region(&capheap_global, capheap_storage_, sizeof capheap_storage_, \
                                 CAPHEAP_CAPS_INTERNAL);                               \
    } while (0)

/** Add external RAM (PSRAM/SDRAM) at addr of size bytes to the global heap
 *  with CAPHEAP_CAPS_EXTERNAL and priority -1 (tried after internal RAM).
 *  Evaluates to capheap_add_region_ex's result. */
#define CAPHEAP_ADD_EXTERNAL(addr, size_bytes)                                             \
    capheap_add_region_ex(&capheap_global, (void *)(addr), (size_bytes), CAPHEAP_CAPS_EXTERNAL, \
                          -1, NULL)

#ifdef __cplusplus
}
#endif

#endif /* CAPHEAP_H */
