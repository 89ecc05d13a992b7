/* The report: the reference's layout, the usage bar, and the extra fields. */
#include "test.h"

static _Alignas(64) unsigned char mem_i[32 * 1024];
static _Alignas(64) unsigned char mem_e[64 * 1024];
static char out[8192];
static size_t out_len;

static void sink(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    if (out_len + len < sizeof out) {
        memcpy(out + out_len, text, len);
        out_len += len;
        out[out_len] = '\0';
    }
}

static unsigned long long field(const char *label)
{
    const char *f = strstr(out, label);
    return f ? strtoull(f + strlen(label), NULL, 10) : ~0ull;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *s = strstr(hay, needle); s; s = strstr(s + strlen(needle), needle)) n++;
    return n;
}

static void test_report_layout_and_values(void)
{
    capheap_heap_t h = CAPHEAP_HEAP_INIT;
    CHECK_EQ(capheap_add_region(&h, mem_i, sizeof mem_i, CAPHEAP_CAPS_INTERNAL), 0);
    CHECK_EQ(capheap_add_region_ex(&h, mem_e, sizeof mem_e, CAPHEAP_CAPS_EXTERNAL, -1, NULL), 0);
    void *a = capheap_alloc(&h, 10000);
    void *b = capheap_alloc_caps(&h, 30000, CAPHEAP_CAP_EXTERNAL);
    void *c = capheap_alloc(&h, 500);
    CHECK(a && b && c);
    CHECK_EQ(capheap_free(&h, c), CAPHEAP_OK);
#if CAPHEAP_CHECK_LEVEL >= 1
    (void)capheap_free(&h, mem_i + 1);        /* an invalid pointer */
#endif
    (void)capheap_alloc(&h, 1u << 20);        /* a failure */
    capheap_stats_t s;
    CHECK_EQ(capheap_get_stats(&h, &s), CAPHEAP_OK);
    out_len = 0;
    capheap_report(&h, sink, NULL);
    printf("%s", out);
    CHECK(strncmp(out, "HEAP INFO\nSize: ", 16) == 0);
    CHECK_EQ(field("Size: "), s.total_size);
    CHECK_EQ(field("Current usage: "), s.used);
#if CAPHEAP_STATS
    CHECK_EQ(field("Max usage: "), s.peak_used);
    CHECK_EQ(field("Total freed: "), s.bytes_freed);
    CHECK_EQ(field("Total allocated: "), s.bytes_allocated);
    CHECK(s.bytes_allocated > s.bytes_freed && s.bytes_freed > 0);
#endif
    CHECK(strstr(out, "Memory Layout:\nInternal | ") != NULL);
    CHECK(strstr(out, "\nExternal | ") != NULL);
    CHECK_EQ(field("Largest free block: "), s.largest_free);
    CHECK_EQ(field("Minimum free ever: "), s.min_free_ever);
    CHECK(strstr(out, "failed: 1") != NULL);
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK(strstr(out, "pointer is not the start of a live block: 1") != NULL);
#endif
    CHECK(strstr(out, "out of memory: 1") != NULL);
    /* Each bar has exactly 35 cells; filled cells follow used * 35 / size. */
    CHECK_EQ(count(out, "\xE2\x96\x88") + count(out, "\xE2\x96\x91"), 2 * 35);
    capheap_region_stats_t ri, re;
    CHECK_EQ(capheap_get_region_stats(&h, 0, &ri), CAPHEAP_OK);
    CHECK_EQ(capheap_get_region_stats(&h, 1, &re), CAPHEAP_OK);
    CHECK_EQ(count(out, "\xE2\x96\x88"), ri.used * 35 / ri.size + re.used * 35 / re.size);
    char want[160];
    snprintf(want, sizeof want, "| Used: %lu%% (Used %lu of %lu, free: %lu)",
             (unsigned long)(ri.used * 100 / ri.size), (unsigned long)ri.used,
             (unsigned long)ri.size, (unsigned long)ri.free);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "caps internal 8bit 32bit") != NULL);
    CHECK(strstr(out, "priority -1, caps external 8bit 32bit") != NULL);
}

static void test_report_of_empty_heap_and_nulls(void)
{
    capheap_heap_t h = CAPHEAP_HEAP_INIT;
    out_len = 0;
    capheap_report(&h, sink, NULL);
    CHECK(strstr(out, "Size: 0\n") != NULL);
    CHECK(strstr(out, "Errors: none\n") != NULL);
    /* heap NULL: nothing written; write NULL: nothing written, ARGUMENT
     * counted and reported */
    err_log_t log;
    t_log_errors(&h, &log);
    out_len = 0;
    capheap_report(NULL, sink, NULL);
    CHECK_EQ(out_len, 0);
    capheap_report(&h, NULL, NULL);
    CHECK_EQ(log.count, 1);
    CHECK_EQ(log.last.code, CAPHEAP_E_ARGUMENT);
    capheap_stats_t st;
    CHECK_EQ(capheap_get_stats(&h, &st), CAPHEAP_OK);
    CHECK_EQ(st.error_count[-CAPHEAP_E_ARGUMENT], 1);
}

#if CAPHEAP_CHECK_LEVEL >= 1
/* A busy heap: the report says so, and the refusal is counted and reported. */
static capheap_heap_t busy_h;
static bool report_from_walk(const capheap_block_info_t *b, void *ctx)
{
    (void)b;
    (void)ctx;
    capheap_report(&busy_h, sink, NULL);
    return false;
}

static void test_report_of_busy_heap(void)
{
    static _Alignas(16) unsigned char mem[4096];
    capheap_init(&busy_h);
    CHECK_EQ(capheap_add_region(&busy_h, mem, sizeof mem, 0), CAPHEAP_OK);
    err_log_t log;
    t_log_errors(&busy_h, &log);
    out_len = 0;
    CHECK_EQ(capheap_walk(&busy_h, report_from_walk, NULL), CAPHEAP_OK);
    CHECK(strstr(out, "(unavailable: heap busy)") != NULL);
    CHECK_EQ(log.count, 1);
    CHECK_EQ(log.last.code, CAPHEAP_E_REENTRY);
}
#endif

int main(void)
{
    RUN(test_report_layout_and_values);
    RUN(test_report_of_empty_heap_and_nulls);
#if CAPHEAP_CHECK_LEVEL >= 1
    RUN(test_report_of_busy_heap);
#endif
    return t_summary();
}
