/* Adapter: a naive address-ordered first-fit free list, written for this
 * benchmark as the floor (what esp-alloc's default and many small libcs do).
 *
 * Layout: one word of header before each payload holding the block size in
 * bytes (a multiple of FF_ALIGN) with bit 0 set while the block is used.
 * Payloads are aligned to two words (8 B on 32-bit, 16 B on 64-bit). A free
 * block keeps the next free block's address in its first payload word. The
 * free list is sorted by address; free walks it to find the insertion point
 * and merges with both neighbours, alloc takes the first block that fits and
 * splits off the rest. Every call is O(free blocks). */
#include <string.h>

#include "adapter.h"

#define FF_WORD   sizeof(uintptr_t)
#define FF_ALIGN  (2 * FF_WORD)
#define FF_MIN    FF_ALIGN /* header + one link word, rounded to the granule */

typedef struct ff_block {
    uintptr_t size;        /* header: block bytes | used bit */
    struct ff_block *next; /* valid while free */
} ff_block_t;

static ff_block_t *ff_head;
static uintptr_t ff_lo, ff_hi;
static size_t ff_free_total;

static int ff_init(void *buf, size_t size)
{
    uintptr_t a = (uintptr_t)buf, end = a + size;
    /* the first header sits one word below an FF_ALIGN boundary */
    uintptr_t first = ((a + FF_WORD + FF_ALIGN - 1) & ~(uintptr_t)(FF_ALIGN - 1)) - FF_WORD;
    if (end < first + FF_MIN)
        return -1;
    size_t bytes = (end - first) & ~(uintptr_t)(FF_ALIGN - 1);
    ff_head = (ff_block_t *)first;
    ff_head->size = bytes;
    ff_head->next = NULL;
    ff_lo = first;
    ff_hi = first + bytes;
    ff_free_total = bytes;
    return 0;
}

static size_t ff_need(size_t size)
{
    if (size > SIZE_MAX / 2)
        return 0;
    size_t n = (size + FF_WORD + FF_ALIGN - 1) & ~(size_t)(FF_ALIGN - 1);
    return n < FF_MIN ? FF_MIN : n;
}

/* Take `need` bytes from the front of free block b (whose predecessor in the
 * list is *link). */
static void *ff_take(ff_block_t **link, ff_block_t *b, size_t need)
{
    size_t have = b->size;
    if (have - need >= FF_MIN) {
        ff_block_t *rest = (ff_block_t *)((char *)b + need);
        rest->size = have - need;
        rest->next = b->next;
        *link = rest;
    } else {
        need = have;
        *link = b->next;
    }
    b->size = need | 1u;
    ff_free_total -= need;
    return (char *)b + FF_WORD;
}

/* Insert a free block into the address-ordered list, merging neighbours. */
static void ff_insert(ff_block_t *b, size_t size)
{
    ff_free_total += size;
    ff_block_t **link = &ff_head, *prev = NULL;
    while (*link && *link < b) {
        prev = *link;
        link = &(*link)->next;
    }
    ff_block_t *next = *link;
    b->size = size;
    if (next && (char *)b + size == (char *)next) {
        b->size += next->size;
        next = next->next;
    }
    b->next = next;
    if (prev && (char *)prev + prev->size == (char *)b) {
        prev->size += b->size;
        prev->next = b->next;
    } else {
        *link = b;
    }
}

BENCHOP void *benchop_firstfit_alloc(size_t size, size_t align)
{
    size_t need = ff_need(size);
    if (need == 0)
        return NULL;
    if (align <= FF_ALIGN) {
        for (ff_block_t **link = &ff_head; *link; link = &(*link)->next)
            if ((*link)->size >= need)
                return ff_take(link, *link, need);
        return NULL;
    }
    /* Aligned: find a block holding an aligned payload with either no gap in
     * front or a gap that can stand alone as a free block. */
    for (ff_block_t **link = &ff_head; *link; link = &(*link)->next) {
        ff_block_t *b = *link;
        uintptr_t start = (uintptr_t)b, end = start + b->size;
        uintptr_t pay = (start + FF_WORD + align - 1) & ~(uintptr_t)(align - 1);
        while (pay - FF_WORD != start && pay - FF_WORD - start < FF_MIN)
            pay += align;
        if (pay - FF_WORD + need > end)
            continue;
        size_t gap = pay - FF_WORD - start;
        if (gap) {
            /* split: b keeps the gap, the aligned part becomes a new list entry */
            ff_block_t *c = (ff_block_t *)(pay - FF_WORD);
            c->size = b->size - gap;
            c->next = b->next;
            b->size = gap;
            b->next = c;
            link = &b->next;
            b = c;
        }
        return ff_take(link, b, need);
    }
    return NULL;
}

BENCHOP void benchop_firstfit_free(void *p)
{
    if (!p)
        return;
    ff_block_t *b = (ff_block_t *)((char *)p - FF_WORD);
    ff_insert(b, b->size & ~(uintptr_t)1);
}

BENCHOP void *benchop_firstfit_realloc(void *p, size_t size)
{
    if (!p)
        return benchop_firstfit_alloc(size, 0);
    ff_block_t *b = (ff_block_t *)((char *)p - FF_WORD);
    size_t have = b->size & ~(uintptr_t)1, need = ff_need(size);
    if (need == 0)
        return NULL;
    if (need <= have) { /* shrink in place */
        if (have - need >= FF_MIN) {
            b->size = need | 1u;
            ff_insert((ff_block_t *)((char *)b + need), have - need);
        }
        return p;
    }
    /* grow into a free block that follows directly */
    ff_block_t *nb = (ff_block_t *)((char *)b + have);
    for (ff_block_t **link = &ff_head; *link && *link <= nb; link = &(*link)->next) {
        if (*link == nb && have + nb->size >= need) {
            size_t nsize = nb->size, total = have + nsize;
            ff_block_t *after = nb->next;
            if (total - need >= FF_MIN) {
                ff_block_t *rest = (ff_block_t *)((char *)b + need);
                rest->size = total - need;
                rest->next = after;
                *link = rest;
                b->size = need | 1u;
                ff_free_total -= need - have;
            } else {
                *link = after;
                b->size = total | 1u;
                ff_free_total -= nsize;
            }
            return p;
        }
    }
    void *q = benchop_firstfit_alloc(size, 0);
    if (!q)
        return NULL;
    memcpy(q, p, have - FF_WORD);
    benchop_firstfit_free(p);
    return q;
}

static size_t ff_free_bytes(void) { return ff_free_total; }

static int ff_check(void)
{
    size_t total = 0;
    for (ff_block_t *b = ff_head; b; b = b->next) {
        if ((uintptr_t)b < ff_lo || (uintptr_t)b + b->size > ff_hi || (b->size & 1u))
            return -1;
        if (b->next && (char *)b + b->size >= (char *)b->next)
            return -1; /* unsorted, overlapping or unmerged */
        total += b->size;
    }
    return total == ff_free_total ? 0 : -1;
}

const bench_adapter_t adapter_firstfit = {
    .name = "firstfit",
    .note = "naive address-ordered first fit, written for the benchmark (the floor)",
    .flags = AD_BOUNDED,
    .init = ff_init,
    .fini = NULL,
    .alloc = benchop_firstfit_alloc,
    .free = benchop_firstfit_free,
    .realloc = benchop_firstfit_realloc,
    .free_bytes = ff_free_bytes,
    .check = ff_check,
    .control_bytes = NULL,
    .default_align = FF_ALIGN,
};
