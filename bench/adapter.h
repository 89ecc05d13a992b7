/*
 * adapter.h - the small interface every allocator under benchmark implements.
 *
 * One adapter drives one allocator. An adapter keeps its own state in statics
 * (one heap at a time), so the operation functions take no context argument
 * and the measured call is as short as it can be.
 *
 * Instruction counting (see bench/README.md): callgrind collects only inside
 * functions whose name starts with "benchop_", so every adapter names its
 * alloc/free/realloc functions benchop_<adapter>_<op> and marks them noinline.
 * Whatever those functions execute (the allocator call plus a wrapper of a
 * few instructions) is what "instructions per operation" counts; the
 * harness's random numbers, slot table and memory touching are not counted.
 */
#ifndef BENCH_ADAPTER_H
#define BENCH_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#define BENCHOP __attribute__((noinline, used))

/* Adapter flags. */
#define AD_BOUNDED    1u /* allocates only from the buffer given to init: heap-size
                            results (W2, W2b, W6 largest) are meaningful */
#define AD_NO_MEMORY  2u /* null adapter: returns no usable memory, harness must not
                            write to or verify blocks */
#define AD_SYSTEM     4u /* process-wide malloc: ignores the heap bound */

typedef struct bench_adapter {
    const char *name;
    const char *note;     /* shown in the results (e.g. "not confined to the heap") */
    unsigned flags;
    /* Take [buf, buf + size) as the heap. Returns 0 on success. System allocators
     * ignore buf. Called again (after fini) to start from a fresh heap. */
    int (*init)(void *buf, size_t size);
    /* Forget the heap. The harness has freed every live block before (for system
     * allocators) or simply drops them (bounded allocators). May be NULL. */
    void (*fini)(void);
    /* align 0 means the allocator's default alignment. */
    void *(*alloc)(size_t size, size_t align);
    void (*free)(void *p);
    void *(*realloc)(void *p, size_t size);
    /* Free bytes by the allocator's own accounting (W2), or NULL. */
    size_t (*free_bytes)(void);
    /* Full integrity check of the heap, 0 when healthy; may be NULL. */
    int (*check)(void);
    /* Control-structure bytes for a region of the given size, or NULL (W6). */
    size_t (*control_bytes)(size_t region_size);
    /* Default payload alignment the allocator promises (W6). */
    size_t default_align;
    /* The allocator's own event counters, or NULL: fills vals (at most
     * BENCH_MAX_COUNTERS), points *names at their names, returns how many.
     * W1 prints how much each grew during the measured phase. */
    int (*counters)(uint64_t *vals, const char *const **names);
} bench_adapter_t;

#define BENCH_MAX_COUNTERS 8

#endif
