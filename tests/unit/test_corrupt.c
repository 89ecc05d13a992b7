/*
 * Plant corruption on purpose and prove that the invariant checker and the
 * free-path checks report it. A checker never shown to fail proves nothing.
 */
#include "test.h"

static _Alignas(64) unsigned char mem[32 * 1024];
static capheap_heap_t H;
static err_log_t LOG;
static unsigned char *p[8];

/* Blocks: p0 p1 [free p2] p3 p4 [free p5] p6 p7 [free tail] */
static void setup(void)
{
    memset(mem, 0, sizeof mem);
    capheap_init(&H);
    t_log_errors(&H, &LOG);
    (void)capheap_add_region(&H, mem, sizeof mem, 0);
    for (int i = 0; i < 8; i++) p[i] = capheap_alloc(&H, 96);
    (void)capheap_free(&H, p[2]);
    (void)capheap_free(&H, p[5]);
}

static uintptr_t *hdr(void *q) { return (uintptr_t *)q - 1; }

/* The checker must report a problem, count it and tell the handler. */
static int checker_reports(void)
{
    capheap_check_result_t cr;
    capheap_stats_t s0, s1;
    (void)capheap_get_stats(&H, &s0);
    int before = LOG.count;
    int rc = capheap_check(&H, &cr);
    (void)capheap_get_stats(&H, &s1);
    if (rc != CAPHEAP_E_CORRUPT || cr.problems == 0 || cr.first == NULL) return 0;
    if (LOG.count != before + 1 || LOG.last.code != CAPHEAP_E_CORRUPT) return 0;
    if (s1.error_count[-CAPHEAP_E_CORRUPT] != s0.error_count[-CAPHEAP_E_CORRUPT] + 1) return 0;
    printf("       checker: %s (%lu problem%s)\n", cr.first, (unsigned long)cr.problems,
           cr.problems == 1 ? "" : "s");
    return 1;
}

static void test_healthy_heap_passes(void)
{
    setup();
    capheap_check_result_t cr;
    CHECK_EQ(capheap_check(&H, &cr), CAPHEAP_OK);
    CHECK_EQ(cr.problems, 0);
    CHECK(cr.first == NULL);
    CHECK_EQ(cr.blocks_used, 6);
    CHECK_EQ(cr.blocks_free, 3);
    CHECK_EQ(LOG.count, 0);
}

static void test_overwritten_header_size(void)
{
    setup();
    uintptr_t save = *hdr(p[3]);
    *hdr(p[3]) = save + 4 * CAPHEAP_ALIGN;
    CHECK(checker_reports());
    *hdr(p[3]) = (uintptr_t)1 << (sizeof(uintptr_t) * 8 - 2) | 3u; /* absurd size, USED */
    CHECK(checker_reports());
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK_EQ(capheap_free(&H, p[3]), CAPHEAP_E_INVALID_PTR);
    CHECK(capheap_realloc(&H, p[3], 10) == NULL);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_INVALID_PTR);
#endif
    *hdr(p[3]) = save;
    CHECK_HEAP(&H);
}

static void test_used_bit_cleared(void)
{
    setup();
    uintptr_t save = *hdr(p[6]);
    *hdr(p[6]) = save & ~(uintptr_t)1;
    CHECK(checker_reports());
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK_EQ(capheap_free(&H, p[6]), CAPHEAP_E_DOUBLE_FREE);
#endif
    *hdr(p[6]) = save;
    CHECK_HEAP(&H);
}

static void test_prev_used_flag_flipped(void)
{
    setup();
    uintptr_t save = *hdr(p[4]);
    *hdr(p[4]) = save & ~(uintptr_t)2; /* claims p3 is free */
    CHECK(checker_reports());
#if CAPHEAP_CHECK_LEVEL >= 1
    /* free must not merge with a "free" neighbour that is not one */
    memset(p[3], 0x11, 96);
    CHECK_EQ(capheap_free(&H, p[4]), CAPHEAP_E_CORRUPT);
    CHECK_EQ(LOG.last.code, CAPHEAP_E_CORRUPT);
#endif
    *hdr(p[4]) = save;
    CHECK_HEAP(&H);
}

/* I9: the flag bits between PREV_USED and the size are never set by the
 * core (the fit scan compares a listed block's header unmasked). */
static void test_unused_flag_bit_set(void)
{
    setup();
    uintptr_t stray = (uintptr_t)4u; /* below CAPHEAP_ALIGN, above PREV_USED */
    uintptr_t save = *hdr(p[3]);
    *hdr(p[3]) = save | stray; /* a used block */
    CHECK(checker_reports());
    *hdr(p[3]) = save;
    uintptr_t *fh = hdr(p[2]); /* a free, listed block */
    save = *fh;
    *fh = save | stray;
    CHECK(checker_reports());
    *fh = save;
    CHECK_HEAP(&H);
}

static void test_broken_free_list_link(void)
{
    setup();
    uintptr_t *links = (uintptr_t *)(void *)p[2]; /* next, prev of the free block */
    uintptr_t save = links[0];
    links[0] = (uintptr_t)mem + sizeof mem + 0x100u; /* next points outside the region */
    CHECK(checker_reports());
    links[0] = save;
    uintptr_t save_prev = links[1];
    links[1] = (uintptr_t)mem + 8u; /* prev link into the control data */
    CHECK(checker_reports());
    links[1] = save_prev;
    CHECK_HEAP(&H);
}

static void test_overwritten_boundary_tag(void)
{
    setup();
    uintptr_t *tag = hdr(p[3]) - 1; /* last word of the free block p2 */
    uintptr_t save = *tag;
    *tag = save + CAPHEAP_ALIGN;
    CHECK(checker_reports());
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK_EQ(capheap_free(&H, p[3]), CAPHEAP_E_CORRUPT); /* would merge with p2 */
#endif
    *tag = save;
    CHECK_HEAP(&H);
}

static void test_free_neighbour_header_overwritten(void)
{
    setup();
    uintptr_t save = *hdr(p[5]); /* free block after p4 */
    *hdr(p[5]) = save + 64 * CAPHEAP_ALIGN;
    CHECK(checker_reports());
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK_EQ(capheap_free(&H, p[4]), CAPHEAP_E_CORRUPT); /* would merge with p5 */
#endif
    *hdr(p[5]) = save;
    CHECK_HEAP(&H);
}

static void test_overrun_into_next_header(void)
{
    setup();
    size_t us = capheap_usable_size(&H, p[0]);
    uintptr_t save = *hdr(p[1]);
    memset(p[0], 0, us + sizeof(uintptr_t)); /* classic off-by-a-word overrun */
    CHECK(checker_reports());
#if CAPHEAP_CHECK_LEVEL >= 1
    CHECK_EQ(capheap_free(&H, p[1]), CAPHEAP_E_DOUBLE_FREE);
#endif
    *hdr(p[1]) = save;
    CHECK_HEAP(&H);
}

static void test_end_marker_overwritten(void)
{
    setup();
    capheap_region_stats_t rs;
    CHECK_EQ(capheap_get_region_stats(&H, 0, &rs), CAPHEAP_OK);
    uintptr_t *end = (uintptr_t *)(void *)((unsigned char *)rs.start + rs.span) - 1;
    uintptr_t save = *end;
    *end = 0;
    CHECK(checker_reports());
    *end = save;
    CHECK_HEAP(&H);
}

#if CAPHEAP_STATS
static void test_lying_statistics(void)
{
    setup();
    H.used_ += CAPHEAP_ALIGN; /* heap total disagrees with the regions */
    CHECK(checker_reports());
    H.used_ -= CAPHEAP_ALIGN;
    H.peak_ = 0; /* peak below current use */
    CHECK(checker_reports());
    H.peak_ = H.used_;
    CHECK_HEAP(&H);
}
#endif

/* A word of the first region's header, found through its known value (as a
 * stray write would hit it): one granule is added, the checker must report
 * it, and the word is put back. */
static void region_word_lies(uint32_t (*known)(const capheap_region_stats_t *))
{
    setup();
    capheap_region_stats_t rs;
    CHECK_EQ(capheap_get_region_stats(&H, 0, &rs), CAPHEAP_OK);
    uint32_t *w = rs.start;
    uint32_t *hit = NULL;
    for (size_t i = 0; i < 16 && hit == NULL; i++)
        if (w[i] == known(&rs)) hit = &w[i];
    CHECK(hit != NULL);
    *hit += (uint32_t)CAPHEAP_ALIGN;
    CHECK(checker_reports());
    *hit -= (uint32_t)CAPHEAP_ALIGN;
    CHECK_HEAP(&H);
}

#if CAPHEAP_STATS
/* The region's own used counter (kept from CAPHEAP_STATS 1 up). */
static uint32_t used_bytes(const capheap_region_stats_t *rs) { return (uint32_t)rs->used; }

static void test_region_used_bytes_lie(void) { region_word_lies(used_bytes); }
#endif

/* Header: the calls that walk the blocks return on a damaged heap, having
 * stopped at the header whose size cannot be right (too small, or, with the
 * size wrapping the address space, past the end) instead of looping or
 * running off the region: the statistics (a walk with CAPHEAP_STATS 0),
 * capheap_walk (the blocks before the damaged one only) and, at
 * CAPHEAP_CHECK_LEVEL 2, free's walk to the pointer after it. */
static void test_walks_on_damaged_heap_return(void)
{
    setup();
    capheap_stats_t s0, s;
    CHECK_EQ(capheap_get_stats(&H, &s0), CAPHEAP_OK);
    uintptr_t save = *hdr(p[3]);
    const uintptr_t bad[] = {0u, (uintptr_t)CAPHEAP_ALIGN | 1u, ~(uintptr_t)0 & ~(uintptr_t)2u};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        *hdr(p[3]) = bad[i];
        CHECK_EQ(capheap_get_stats(&H, &s), CAPHEAP_OK);
        CHECK(s.used <= s0.used);
        CHECK_EQ(s.used + s.free, s.total_size);
        capheap_region_stats_t rs;
        CHECK_EQ(capheap_get_region_stats(&H, 0, &rs), CAPHEAP_OK);
        CHECK(rs.used <= rs.size);
        size_t n[3] = {0, 0, 0};
        CHECK_EQ(capheap_walk(&H, t_count_walk, n), CAPHEAP_OK);
        CHECK_EQ(n[0], 2); /* p0, p1 used */
        CHECK_EQ(n[1], 1); /* p2 free; p3 (damaged) is not passed */
#if CAPHEAP_CHECK_LEVEL >= 2
        CHECK_EQ(capheap_free(&H, p[4]), CAPHEAP_E_INVALID_PTR);
#endif
    }
    *hdr(p[3]) = save;
    CHECK_EQ(capheap_get_stats(&H, &s), CAPHEAP_OK);
    CHECK_EQ(s.used, s0.used);
    CHECK_HEAP(&H);
}

/* I8: the region's largest request (the fast path's only bound on its class
 * lookups): capacity - header. */
static uint32_t largest_request(const capheap_region_stats_t *rs)
{
    return (uint32_t)(rs->size - CAPHEAP_HEADER_SIZE);
}

static void test_region_largest_request_lies(void) { region_word_lies(largest_request); }

int main(void)
{
    RUN(test_healthy_heap_passes);
    RUN(test_overwritten_header_size);
    RUN(test_used_bit_cleared);
    RUN(test_prev_used_flag_flipped);
    RUN(test_unused_flag_bit_set);
    RUN(test_broken_free_list_link);
    RUN(test_overwritten_boundary_tag);
    RUN(test_free_neighbour_header_overwritten);
    RUN(test_overrun_into_next_header);
    RUN(test_end_marker_overwritten);
#if CAPHEAP_STATS
    RUN(test_lying_statistics);
    RUN(test_region_used_bytes_lie);
#endif
    RUN(test_region_largest_request_lies);
    RUN(test_walks_on_damaged_heap_return);
    return t_summary();
}
