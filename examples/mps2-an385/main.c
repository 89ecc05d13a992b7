/*
 * capheap demo for QEMU mps2-an385 (Cortex-M3), newlib, output over semihosting.
 *
 * What the esp-alloc book page does in Rust, in C:
 *   1. a 72 KiB internal heap, declared with one statement;
 *   2. 64 000 bytes more in the .dram2_uninit section: internal RAM nothing else uses, placed
 *      by the linker script (mps2.ld) as a NOLOAD section;
 *   3. the board's 16 MiB external RAM ("PSRAM") at 0x21000000 as an external region;
 *   4. newlib's allocator replaced (libc/newlib/capheap_newlib.c is linked), so malloc(),
 *      printf's buffers, strdup ... all draw from the one global heap.
 * Then allocations that require internal RAM, external RAM, a buffer that only fits in PSRAM,
 * printf with buffers, frees, and the heap report. Exit status 0 if everything went where it
 * should.
 *
 * Run: scripts/demo   (or: qemu-system-arm -M mps2-an385 -m 16M -display none -monitor none
 *       -serial none -semihosting-config enable=on,target=native -kernel demo.elf)
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capheap.h"
#include "capheap_port_cortexm.h"

#define PSRAM_BASE ((void *)0x21000000)
#define PSRAM_SIZE (16u << 20)

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        printf("  !! FAILED: %s\n", what);
        failures++;
    }
}

/* capheap_report's output goes to semihosting stdout. */
static void write_stdout(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    (void)fwrite(text, 1, len, stdout);
}

/* Errors (here: the deliberate out-of-memory below) are reported through this hook. */
static void on_heap_error(capheap_heap_t *heap, const capheap_event_t *ev, void *ctx)
{
    (void)heap;
    (void)ctx;
    printf("  [capheap] %s: %u bytes, caps 0x%02lx\n", capheap_strerror(ev->code),
           (unsigned)ev->size, (unsigned long)ev->caps);
}

/* Which region holds p, as "#i name". */
static const char *where(const void *p)
{
    static char buf[48];
    capheap_region_stats_t rs;
    for (size_t i = 0; capheap_get_region_stats(&capheap_global, i, &rs) == CAPHEAP_OK; i++) {
        uintptr_t a = (uintptr_t)p, s = (uintptr_t)rs.start;
        if (a >= s && a < s + rs.span) {
            const char *name = (rs.caps & CAPHEAP_CAP_EXTERNAL) ? "PSRAM"
                               : (s >= 0x20300000u && s < 0x20400000u) ? "internal, .dram2_uninit"
                                                                       : "internal, .bss";
            snprintf(buf, sizeof buf, "region %u (%s)", (unsigned)i, name);
            return buf;
        }
    }
    return "no region!";
}

static int in_caps(const void *p, uint32_t caps)
{
    capheap_region_stats_t rs;
    for (size_t i = 0; capheap_get_region_stats(&capheap_global, i, &rs) == CAPHEAP_OK; i++) {
        uintptr_t a = (uintptr_t)p, s = (uintptr_t)rs.start;
        if (a >= s && a < s + rs.span)
            return (rs.caps & caps) == caps;
    }
    return 0;
}

static capheap_stats_t stats(void)
{
    capheap_stats_t st;
    memset(&st, 0, sizeof st);
    (void)capheap_get_stats(&capheap_global, &st);
    return st;
}

static uint32_t allocs_so_far(void) { return stats().alloc_count; }

int main(void)
{
    /* 1. A 72 KiB internal heap (static storage in .bss). */
    CAPHEAP_HEAP_ALLOCATOR(72 * 1024);
    /* 2. 64 000 bytes in reclaimed RAM: the linker script places .dram2_uninit. */
    CAPHEAP_HEAP_ALLOCATOR_IN_SECTION(".dram2_uninit", 64000);
    /* 3. The board's 16 MiB PSRAM, tried after internal RAM. */
    int rc = CAPHEAP_ADD_EXTERNAL(PSRAM_BASE, PSRAM_SIZE);
    /* Interrupt handlers may allocate: mask interrupts (PRIMASK) inside heap calls. */
    capheap_port_cortexm_install(&capheap_global);
    capheap_set_error_handler(&capheap_global, on_heap_error, NULL);

    /* 4. newlib's malloc is now capheap: this very printf allocates stdout's buffer from it. */
    uint32_t before = allocs_so_far();
    printf("capheap demo on mps2-an385 (Cortex-M3), newlib + semihosting\n");
    printf("===========================================================\n");
    uint32_t after = allocs_so_far();
    expect(rc == CAPHEAP_OK, "PSRAM region added");
    expect(stats().region_count == 3, "three regions");
    static const char *const steps[3] = {
        "1. CAPHEAP_HEAP_ALLOCATOR(72 * 1024)                        ",
        "2. CAPHEAP_HEAP_ALLOCATOR_IN_SECTION(\".dram2_uninit\", 64000)",
        "3. CAPHEAP_ADD_EXTERNAL((void *)0x21000000, 16u << 20)       ",
    };
    /* Regions are listed in the order they are tried: internal (priority 0) before PSRAM (-1). */
    for (size_t i = 0; i < 3; i++) {
        capheap_region_stats_t rs;
        if (capheap_get_region_stats(&capheap_global, i, &rs) == CAPHEAP_OK)
            printf("%s -> region %u at %p, %u bytes usable\n", steps[i], (unsigned)i, rs.start,
                   (unsigned)rs.size);
    }
    printf("4. newlib's malloc family replaced (libc/newlib/capheap_newlib.c):\n"
           "   printf's first call just made %u allocation(s) from capheap (stdout's buffer)\n",
           (unsigned)(after - before));
    expect(after > before, "newlib's stdout buffer came from capheap");

    printf("\n-- allocations that require internal RAM\n");
    void *dma_desc = capheap_alloc_caps(&capheap_global, 512, CAPHEAP_CAP_INTERNAL);
    void *isr_buf = capheap_allocator_alloc(&capheap_internal, 40 * 1024);
    void *table = capheap_alloc_caps(&capheap_global, 36000, CAPHEAP_CAP_INTERNAL);
    printf("  512 B descriptors   at %p  %s\n", dma_desc, where(dma_desc));
    printf("  40 KiB ISR buffer   at %p  %s\n", isr_buf, where(isr_buf));
    printf("  36000 B table       at %p  %s\n", table, where(table));
    expect(dma_desc && isr_buf && table, "internal allocations succeed");
    expect(in_caps(dma_desc, CAPHEAP_CAP_INTERNAL) && in_caps(isr_buf, CAPHEAP_CAP_INTERNAL) &&
               in_caps(table, CAPHEAP_CAP_INTERNAL),
           "internal allocations are in internal RAM");
    capheap_caps_stats_t ic;
    expect(capheap_get_caps_stats(&capheap_global, CAPHEAP_CAP_INTERNAL, &ic) == CAPHEAP_OK,
           "internal RAM statistics");
    printf("  internal RAM now: %u regions, %u of %u bytes free, largest request it serves %u\n",
           (unsigned)ic.region_count, (unsigned)ic.free, (unsigned)ic.total_size,
           (unsigned)ic.largest_free);
    expect(ic.region_count == 2 && ic.largest_free < 100 * 1024, "two internal regions, none with 100 KiB");
    printf("  100 KiB internal (more than any internal region has):\n");
    void *too_big = capheap_alloc_caps(&capheap_global, 100 * 1024, CAPHEAP_CAP_INTERNAL);
    printf("  -> %p\n", too_big);
    expect(too_big == NULL, "an internal request larger than internal RAM fails");

    printf("\n-- allocations that require external RAM\n");
    void *frame = capheap_alloc_caps(&capheap_global, 320 * 240 * 2, CAPHEAP_CAP_EXTERNAL);
    void *log_ring = capheap_allocator_alloc(&capheap_external, 64 * 1024);
    printf("  320x240 framebuffer at %p  %s\n", frame, where(frame));
    printf("  64 KiB log ring     at %p  %s\n", log_ring, where(log_ring));
    expect(frame && log_ring && in_caps(frame, CAPHEAP_CAP_EXTERNAL) &&
               in_caps(log_ring, CAPHEAP_CAP_EXTERNAL),
           "external allocations are in PSRAM");

    printf("\n-- plain malloc of 4 MiB: only PSRAM can hold it\n");
    unsigned char *big = malloc(4u << 20);
    printf("  malloc(4 MiB)       at %p  %s\n", (void *)big, where(big));
    expect(big && in_caps(big, CAPHEAP_CAP_EXTERNAL), "the large buffer is in PSRAM");
    if (big) {
        for (size_t i = 0; i < (4u << 20); i += 4096)
            big[i] = (unsigned char)(i >> 12);
        int ok = 1;
        for (size_t i = 0; i < (4u << 20); i += 4096)
            ok &= big[i] == (unsigned char)(i >> 12);
        expect(ok, "PSRAM reads back what was written");
    }

    printf("\n-- libc on top: strdup, snprintf into malloc'd buffers, %%f\n");
    before = allocs_so_far();
    char *name = strdup("capheap on a Cortex-M3");
    char *line = malloc(96);
    if (line)
        snprintf(line, 96, "%s, pi = %f, e = %.3f", name ? name : "?", 3.14159265, 2.718281828);
    printf("  %s\n", line ? line : "(no memory)");
    after = allocs_so_far();
    printf("  that took %u allocation(s) from capheap (strdup, malloc, printf's number conversion)\n",
           (unsigned)(after - before));
    expect(name && line && after - before >= 2, "strdup and malloc go through capheap");

    printf("\n-- heap report with everything above still allocated\n\n");
    capheap_report(&capheap_global, write_stdout, NULL);

    printf("\n-- freeing\n");
    free(line);
    free(name);
    free(big);
    capheap_allocator_free(&capheap_external, log_ring);
    capheap_free(&capheap_global, frame);
    capheap_free(&capheap_global, table);
    capheap_allocator_free(&capheap_internal, isr_buf);
    capheap_free(&capheap_global, dma_desc);
    printf("  freeing a pointer the heap never gave out (a stack address):\n");
    int on_stack = 0;
    expect(capheap_free(&capheap_global, &on_stack) == CAPHEAP_E_FOREIGN_PTR,
           "a foreign pointer is reported");

    capheap_check_result_t chk;
    int crc = capheap_check(&capheap_global, &chk);
    printf("  integrity check: %s (%u used blocks, %u free blocks)\n",
           crc == CAPHEAP_OK ? "OK" : (chk.first ? chk.first : "FAILED"),
           (unsigned)chk.blocks_used, (unsigned)chk.blocks_free);
    expect(crc == CAPHEAP_OK, "capheap_check passes");

    printf("\n-- heap report after the frees\n\n");
    capheap_report(&capheap_global, write_stdout, NULL);

    printf("\ndemo %s\n", failures == 0 ? "finished: OK" : "FAILED");
    return failures == 0 ? 0 : 1;
}
