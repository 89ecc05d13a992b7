/*
 * capheap_report.c - the heap report, written through a callback (no libc).
 *
 * Layout: the reference's (esp-alloc's HeapStats Display) first, then the
 * fields it lacks. Example:
 *
 *   HEAP INFO
 *   Size: 131068
 *   Current usage: 46148
 *   Max usage: 46148
 *   Total freed: 0
 *   Total allocated: 46148
 *   Memory Layout:
 *   Internal | ████████████░░░░░░░░░░░░░░░░░░░░░░░ | Used: 35% (Used 46148 of 131068, free: 84920)
 *       at 0x20001000, priority 0, caps internal 8bit 32bit, largest free 84904, ...
 *   Largest free block: 84904
 *   Minimum free ever: 84920
 *   Allocations: 3, frees: 0, failed: 0
 *   Errors: none
 *
 * Optional: a drop-in user who does not want a report does not compile this file.
 */
#include "capheap.h"

#define BAR_CELLS 35u

typedef struct out {
    capheap_write_fn write;
    void *ctx;
} out_t;

static size_t slen(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') n++;
    return n;
}

static void put(const out_t *o, const char *s) { o->write(o->ctx, s, slen(s)); }

static void put_u(const out_t *o, uint64_t v)
{
    char buf[24];
    size_t i = sizeof buf;
    do {
        buf[--i] = (char)('0' + (char)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    o->write(o->ctx, buf + i, sizeof buf - i);
}

static void put_hex(const out_t *o, uintptr_t v)
{
    char buf[2 + 2 * sizeof(uintptr_t)];
    static const char digits[] = "0123456789abcdef";
    buf[0] = '0';
    buf[1] = 'x';
    for (size_t i = 0; i < 2 * sizeof(uintptr_t); i++)
        buf[2 + i] = digits[(v >> (4u * (2 * sizeof(uintptr_t) - 1 - i))) & 0xFu];
    o->write(o->ctx, buf, sizeof buf);
}

static void line(const out_t *o, const char *label, uint64_t v)
{
    put(o, label);
    put_u(o, v);
    put(o, "\n");
}

static const char *region_label(uint32_t caps)
{
    if (caps & CAPHEAP_CAP_EXTERNAL) return "External";
    if (caps & CAPHEAP_CAP_INTERNAL) return "Internal";
    return "Unknown";
}

static void put_caps(const out_t *o, uint32_t caps)
{
    static const char *const names[] = {"internal", "external", "dma",       "exec",
                                        "8bit",     "32bit",    "tcm",       "retention"};
    bool any = false;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (caps & (1u << i)) {
            put(o, any ? " " : "");
            put(o, names[i]);
            any = true;
        }
    }
    for (unsigned i = 0; i < 16u; i++) {
        if (caps & CAPHEAP_CAP_USER(i)) {
            put(o, any ? " user" : "user");
            put_u(o, i);
            any = true;
        }
    }
    if (!any) put(o, "none");
}

/* The reference prints the usage bar with full and light shade blocks. */
static void bar(const out_t *o, size_t used, size_t size)
{
    unsigned full = size ? (unsigned)(((uint64_t)used * BAR_CELLS) / size) : 0u;
    for (unsigned i = 0; i < BAR_CELLS; i++) put(o, i < full ? "\xE2\x96\x88" : "\xE2\x96\x91");
}

static void region_lines(const out_t *o, const capheap_region_stats_t *rs)
{
    put(o, region_label(rs->caps));
    put(o, " | ");
    bar(o, rs->used, rs->size);
    put(o, " | Used: ");
    put_u(o, rs->size ? ((uint64_t)rs->used * 100u) / rs->size : 0u);
    put(o, "% (Used ");
    put_u(o, rs->used);
    put(o, " of ");
    put_u(o, rs->size);
    put(o, ", free: ");
    put_u(o, rs->free);
    put(o, ")\n    at ");
    put_hex(o, (uintptr_t)rs->start);
    put(o, ", priority ");
    if (rs->priority < 0) {
        put(o, "-");
        put_u(o, (uint64_t)(-(int64_t)rs->priority));
    } else {
        put_u(o, (uint64_t)rs->priority);
    }
    put(o, ", caps ");
    put_caps(o, rs->caps);
    put(o, ", overhead ");
    put_u(o, rs->overhead);
    put(o, ", largest free ");
    put_u(o, rs->largest_free);
    put(o, ", min free ever ");
    put_u(o, rs->min_free_ever);
    put(o, ", allocs ");
    put_u(o, rs->alloc_count);
    put(o, ", frees ");
    put_u(o, rs->free_count);
    put(o, "\n");
}

void capheap_report(capheap_heap_t *heap, capheap_write_fn write, void *ctx)
{
    if (heap == NULL) return;
    if (write == NULL) {
        /* Nothing can be written: count and report the bad argument the
         * way capheap_get_stats does for a NULL output. */
        (void)capheap_get_stats(heap, NULL);
        return;
    }
    out_t o = {write, ctx};
    capheap_stats_t s;
    if (capheap_get_stats(heap, &s) != CAPHEAP_OK) {
        put(&o, "HEAP INFO\n(unavailable: heap busy)\n");
        return;
    }
    put(&o, "HEAP INFO\n");
    line(&o, "Size: ", s.total_size);
    line(&o, "Current usage: ", s.used);
    line(&o, "Max usage: ", s.peak_used);
    line(&o, "Total freed: ", s.bytes_freed);
    line(&o, "Total allocated: ", s.bytes_allocated);
    put(&o, "Memory Layout:\n");
    for (size_t i = 0; i < s.region_count; i++) {
        capheap_region_stats_t rs;
        if (capheap_get_region_stats(heap, i, &rs) != CAPHEAP_OK) break;
        region_lines(&o, &rs);
    }
    line(&o, "Largest free block: ", s.largest_free);
    line(&o, "Minimum free ever: ", s.min_free_ever);
    put(&o, "Allocations: ");
    put_u(&o, s.alloc_count);
    put(&o, ", frees: ");
    put_u(&o, s.free_count);
    put(&o, ", failed: ");
    put_u(&o, s.fail_count);
    put(&o, "\nErrors:");
    bool any = false;
    for (int i = 1; i < CAPHEAP_ERROR_KINDS; i++) {
        if (s.error_count[i] == 0u) continue;
        put(&o, any ? ", " : " ");
        put(&o, capheap_strerror(-i));
        put(&o, ": ");
        put_u(&o, s.error_count[i]);
        any = true;
    }
    put(&o, any ? "\n" : " none\n");
}
