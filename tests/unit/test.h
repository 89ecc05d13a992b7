/* A small test harness: CHECK stops the current test and counts a failure.
 * Every program ends with "N passed, N failed" and exits non-zero on failure. */
#ifndef CAPHEAP_TEST_H
#define CAPHEAP_TEST_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capheap.h"

void t_fail(const char *file, int line, const char *expr, long long a, long long b, int has_vals);
void t_run(const char *name, void (*fn)(void));
int t_summary(void);
extern int t_current_failed;

#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            t_fail(__FILE__, __LINE__, #c, 0, 0, 0);                             \
            return;                                                              \
        }                                                                        \
    } while (0)
#define CHECK_EQ(a, b)                                                           \
    do {                                                                         \
        long long a_ = (long long)(a), b_ = (long long)(b);                      \
        if (a_ != b_) {                                                          \
            t_fail(__FILE__, __LINE__, #a " == " #b, a_, b_, 1);                 \
            return;                                                              \
        }                                                                        \
    } while (0)
#define RUN(fn) t_run(#fn, fn)

/* Records every event the heap reports. */
typedef struct err_log {
    int count;
    capheap_event_t last;
} err_log_t;
void t_log_errors(capheap_heap_t *h, err_log_t *log);

/* A capheap_walk callback that counts: ctx is size_t[3], the used blocks,
 * the free blocks and the bytes of both (payload + header). */
bool t_count_walk(const capheap_block_info_t *b, void *ctx);

/* Deterministic PRNG (xorshift64*), seeded by the caller. */
typedef struct rng {
    uint64_t s;
} rng_t;
static inline uint64_t rng_next(rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}
static inline uint32_t rng_below(rng_t *r, uint32_t n) { return (uint32_t)(rng_next(r) % n); }

/* A region as a test books it: [lo, hi) and its capabilities. */
typedef struct t_region {
    unsigned char *lo, *hi;
    uint32_t caps;
} t_region_t;

/* Index of the region holding p, nregs if none. */
size_t t_region_index(const t_region_t *regs, size_t nregs, const unsigned char *p);

/* The payload of the free block just before the block at p in its region
 * (found by capheap_walk), or NULL if the block before it is used or p
 * starts its region. */
unsigned char *t_free_block_before(capheap_heap_t *h, const unsigned char *p);

/* Check a block the heap just returned for n bytes with alignment align (0:
 * the default) and capabilities caps: aligned, usable size at least n, inside
 * one of the regions and not past its end, in a region with the caps. Returns
 * NULL and the usable size in *usable, or what is wrong. */
const char *t_vet_block(capheap_heap_t *h, const t_region_t *regs, size_t nregs, const unsigned char *p,
                        size_t n, size_t align, uint32_t caps, size_t *usable);

/* Fill and verify a block with a pattern derived from its address and size. */
void t_fill(void *p, size_t n);
uint64_t t_key(const void *p, size_t n);
void t_fill_key(void *p, size_t n, uint64_t key);
int t_verify_key(const void *p, size_t n, uint64_t key);
int t_verify(const void *p, size_t n);

/* Check the heap and fail the test with the checker's message if it is sick. */
#define CHECK_HEAP(h)                                                            \
    do {                                                                         \
        capheap_check_result_t cr_;                                              \
        int rc_ = capheap_check((h), &cr_);                                      \
        if (rc_ != CAPHEAP_OK) {                                                 \
            fprintf(stderr, "  heap check: %s at %p\n", cr_.first ? cr_.first : "?", \
                    (void *)(uintptr_t)cr_.where);                               \
            t_fail(__FILE__, __LINE__, "capheap_check(" #h ") == CAPHEAP_OK", rc_, 0, 1); \
            return;                                                              \
        }                                                                        \
    } while (0)

#endif
