/* Adapter: null. Returns a pointer to a fixed scratch area and frees nothing.
 * It measures the harness itself: its instructions per operation are the
 * wrapper's own cost (what every other adapter's count includes), and its
 * time is subtracted from the others' before ns ratios are formed. */
#include "adapter.h"

static _Alignas(64) unsigned char null_scratch[64];

static int null_init(void *buf, size_t size)
{
    (void)buf;
    (void)size;
    return 0;
}

BENCHOP void *benchop_null_alloc(size_t size, size_t align)
{
    (void)size;
    (void)align;
    return null_scratch;
}

BENCHOP void benchop_null_free(void *p) { (void)p; }

BENCHOP void *benchop_null_realloc(void *p, size_t size)
{
    (void)size;
    return p;
}

const bench_adapter_t adapter_null = {
    .name = "null",
    .note = "harness floor: returns a fixed scratch pointer, does no allocation",
    .flags = AD_NO_MEMORY,
    .init = null_init,
    .fini = NULL,
    .alloc = benchop_null_alloc,
    .free = benchop_null_free,
    .realloc = benchop_null_realloc,
    .free_bytes = NULL,
    .check = NULL,
    .control_bytes = NULL,
    .default_align = 64,
};
