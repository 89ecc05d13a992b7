/*
 * capheap_libc.h - pieces shared by the libc layers in libc/newlib and
 * libc/picolibc (included by their .c files, not part of the API): the
 * figures mallinfo() reports and the stderr writer malloc_stats() uses.
 */
#ifndef CAPHEAP_LIBC_H
#define CAPHEAP_LIBC_H
#include <stdbool.h>
#include <stdio.h>

#include "capheap.h"

/* What mallinfo() needs, read from capheap_global. */
typedef struct capheap_libc_info {
    size_t arena;       /* bytes in blocks over all regions */
    size_t used;        /* bytes in allocated blocks */
    size_t free;        /* bytes in free blocks */
    size_t peak;        /* highest use */
    size_t free_blocks; /* number of free blocks */
} capheap_libc_info_t;

static inline bool capheap_libc_count_free(const capheap_block_info_t *block, void *ctx)
{
    if (!block->used) ++*(size_t *)ctx;
    return true;
}

/* Fill *info; false if the heap could not be read (it was busy). */
static inline bool capheap_libc_info(capheap_libc_info_t *info)
{
    capheap_stats_t st;
    if (capheap_get_stats(&capheap_global, &st) != CAPHEAP_OK) return false;
    info->arena = st.total_size;
    info->used = st.used;
    info->free = st.free;
    info->peak = st.peak_used;
    info->free_blocks = 0;
    (void)capheap_walk(&capheap_global, capheap_libc_count_free, &info->free_blocks);
    return true;
}

/* capheap_write_fn that prints to stderr (malloc_stats, mstats). */
static inline void capheap_libc_write_stderr(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    (void)fwrite(text, 1, len, stderr);
}

#endif
