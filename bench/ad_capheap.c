/* Adapter: capheap, compiled from src/capheap.c with the configuration given on
 * the command line (the defaults unless the Makefile builds a variant). One
 * region covering the whole benchmark buffer; the region's control data lives
 * inside that buffer, so the heap size is the real RAM cost. */
#include "adapter.h"
#include "capheap.h"

static capheap_heap_t heap;

static int cap_init(void *buf, size_t size)
{
    capheap_init(&heap);
    return capheap_add_region(&heap, buf, size, CAPHEAP_CAPS_INTERNAL) == CAPHEAP_OK ? 0 : -1;
}

static void cap_fini(void) { capheap_init(&heap); }

BENCHOP void *benchop_capheap_alloc(size_t size, size_t align)
{
    if (align > CAPHEAP_ALIGN)
        return capheap_aligned_alloc(&heap, align, size);
    return capheap_alloc(&heap, size);
}

BENCHOP void benchop_capheap_free(void *p) { (void)capheap_free(&heap, p); }

BENCHOP void *benchop_capheap_realloc(void *p, size_t size) { return capheap_realloc(&heap, p, size); }

static size_t cap_free_bytes(void)
{
    capheap_stats_t st;
    if (capheap_get_stats(&heap, &st) != CAPHEAP_OK)
        return 0;
    return st.free;
}

static int cap_check(void)
{
    capheap_check_result_t r;
    return capheap_check(&heap, &r) == CAPHEAP_OK ? 0 : -1;
}

static size_t cap_control(size_t region_size) { return capheap_region_overhead(region_size); }

#if CAPHEAP_STATS >= 2
/* The path counters of a CAPHEAP_STATS 2 build (capheap_get_path_stats). */
static int cap_counters(uint64_t *vals, const char *const **names)
{
    static const char *const n[] = {"own_class", "searches", "first_level", "splits",
                                     "merges", "lists_filled", "lists_emptied"};
    capheap_path_stats_t ps;
    if (capheap_get_path_stats(&heap, &ps) != CAPHEAP_OK)
        return 0;
    const uint32_t v[] = {ps.own_class, ps.searches, ps.first_level, ps.splits,
                          ps.merges, ps.lists_filled, ps.lists_emptied};
    for (int i = 0; i < 7; i++)
        vals[i] = v[i];
    *names = n;
    return 7;
}
#else
#define cap_counters NULL
#endif

const bench_adapter_t adapter_capheap = {
    .name = "capheap",
    .note = "one region = the whole buffer (control data inside)",
    .flags = AD_BOUNDED,
    .init = cap_init,
    .fini = cap_fini,
    .alloc = benchop_capheap_alloc,
    .free = benchop_capheap_free,
    .realloc = benchop_capheap_realloc,
    .free_bytes = cap_free_bytes,
    .check = cap_check,
    .control_bytes = cap_control,
    .default_align = CAPHEAP_ALIGN,
    .counters = cap_counters,
};
