/*
 * capheap demo for QEMU riscv32 virt (RV32IMAC), picolibc, output over semihosting.
 *
 * The same steps as examples/mps2-an385: a 72 KiB internal heap, 64 000 bytes in the
 * .dram2_uninit section (rv32-virt.ld), 16 MiB of "external RAM" carved from virt's RAM,
 * picolibc's malloc replaced (libc/picolibc/capheap_picolibc.c), the mstatus.MIE lock port;
 * then allocations by capability, a buffer only external RAM can hold, and the report.
 * Exit status 0 if everything went where it should.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capheap.h"
#include "capheap_port_riscv.h"

#define EXTERNAL_BASE ((void *)0x81000000) /* see rv32-virt.ld */
#define EXTERNAL_SIZE (16u << 20)

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        printf("  !! FAILED: %s\n", what);
        failures++;
    }
}

static void write_stdout(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    (void)fwrite(text, 1, len, stdout);
}

/* Capabilities of the region holding p (0 if none). */
static uint32_t caps_at(const void *p)
{
    capheap_region_stats_t rs;
    for (size_t i = 0; capheap_get_region_stats(&capheap_global, i, &rs) == CAPHEAP_OK; i++)
        if ((uintptr_t)p >= (uintptr_t)rs.start && (uintptr_t)p < (uintptr_t)rs.start + rs.span)
            return rs.caps;
    return 0;
}

static const char *kind(const void *p)
{
    uint32_t c = caps_at(p);
    return c & CAPHEAP_CAP_EXTERNAL ? "external" : c & CAPHEAP_CAP_INTERNAL ? "internal" : "NOT IN THE HEAP";
}

int main(void)
{
    CAPHEAP_HEAP_ALLOCATOR(72 * 1024);
    CAPHEAP_HEAP_ALLOCATOR_IN_SECTION(".dram2_uninit", 64000);
    int rc = CAPHEAP_ADD_EXTERNAL(EXTERNAL_BASE, EXTERNAL_SIZE);
    capheap_port_riscv_install(&capheap_global);

    printf("capheap demo on riscv32 virt (RV32IMAC), picolibc + semihosting\n");
    expect(rc == CAPHEAP_OK, "external region added");

    void *a = capheap_alloc_caps(&capheap_global, 40 * 1024, CAPHEAP_CAP_INTERNAL);
    void *b = capheap_allocator_alloc(&capheap_internal, 36000);
    void *e = capheap_alloc_caps(&capheap_global, 256 * 1024, CAPHEAP_CAP_EXTERNAL);
    unsigned char *big = malloc(4u << 20);
    char *s = strdup("strdup on picolibc, through capheap");
    printf("  40 KiB internal at %p (%s)\n", a, kind(a));
    printf("  36000 B internal at %p (%s)\n", b, kind(b));
    printf("  256 KiB external at %p (%s)\n", e, kind(e));
    printf("  malloc(4 MiB)    at %p (%s)\n", (void *)big, kind(big));
    printf("  %s, pi = %f\n", s ? s : "?", 3.14159265);
    expect(a && b && (caps_at(a) & caps_at(b) & CAPHEAP_CAP_INTERNAL), "internal allocations");
    expect(e && (caps_at(e) & CAPHEAP_CAP_EXTERNAL), "external allocation");
    expect(big && (caps_at(big) & CAPHEAP_CAP_EXTERNAL), "the 4 MiB buffer is in external RAM");
    expect(s && caps_at(s) != 0, "strdup drew from capheap");
    expect(capheap_alloc_caps(&capheap_global, 100 * 1024, CAPHEAP_CAP_INTERNAL) == NULL,
           "100 KiB of internal RAM does not exist");

    printf("\n");
    capheap_report(&capheap_global, write_stdout, NULL);

    free(s);
    free(big);
    capheap_free(&capheap_global, e);
    capheap_allocator_free(&capheap_internal, b);
    capheap_free(&capheap_global, a);
    expect(capheap_check(&capheap_global, NULL) == CAPHEAP_OK, "capheap_check passes");
    capheap_stats_t st;
    capheap_get_stats(&capheap_global, &st);
    expect(st.used == 0, "everything was given back");

    printf("\ndemo %s\n", failures == 0 ? "finished: OK" : "FAILED");
    return failures == 0 ? 0 : 1;
}
