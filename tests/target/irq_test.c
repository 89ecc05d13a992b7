/*
 * irq_test.c - interrupts allocate while the main loop allocates.
 *
 * Cortex-M (mps2-an385/an386): SysTick fires every 4..80 timer ticks (160..3200 instructions
 * at -icount shift=0). RISC-V (virt): the machine timer fires every 2..32 ticks of mtime
 * (200..3200 instructions). A new random period each time, while main runs a random
 * alloc / free / realloc sequence on the same heap. The handler allocates, fills, verifies, reallocates and frees blocks of its own
 * on that heap. Run under QEMU with -icount, so that interrupts are taken between any two
 * instructions, including inside the allocator's code.
 *
 * Built twice:
 *   IRQ_TEST_LOCK=1  the heap has the interrupt-masking lock port: PRIMASK
 *                    (ports/capheap_port_cortexm.h) or mstatus.MIE (capheap_port_riscv.h).
 *                    Passes when every block in main and in the handler keeps its contents,
 *                    capheap_check() passes throughout, no call is refused as re-entry, and
 *                    at least MIN_MID_OP interrupts arrived in the middle of a heap call.
 *   IRQ_TEST_LOCK=0  no lock: the handler's calls that land inside main's heap calls must be
 *                    caught, as CAPHEAP_E_REENTRY reports or as damage found by the checks.
 *                    Passes only if that detection happened: the proof that this test can
 *                    fail when the heap is not protected.
 *
 * "In the middle of a heap call" is counted two ways: main sets a volatile flag around each
 * heap call (mid_op), and the handler looks at the interrupted PC in its exception frame and
 * counts those inside the core's code (pc_in_core; the linker script brackets the core
 * library's .text with __capheap_text_start/__capheap_text_end). With the lock, interrupts
 * raised inside the locked part are held until the unlock, so they land at its end.
 *
 * Usage: irq_test [seed] [main steps]. Exit status 0 = pass.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capheap.h"
#include "target_args.h"
#if IRQ_TEST_LOCK && defined(__arm__)
#include "capheap_port_cortexm.h"
#define PORT_NAME "PRIMASK lock port"
#define PORT_INSTALL(h) capheap_port_cortexm_install(h)
#elif IRQ_TEST_LOCK && defined(__riscv)
#include "capheap_port_riscv.h"
#define PORT_NAME "mstatus.MIE lock port"
#define PORT_INSTALL(h) capheap_port_riscv_install(h)
#else
#define PORT_NAME "NO lock"
#endif

#ifndef IRQ_TEST_LOCK
#error "define IRQ_TEST_LOCK to 1 or 0"
#endif

#define MAIN_SLOTS 48
#define ISR_SLOTS 8
#define DEFAULT_STEPS 100000ul
#define MIN_MID_OP 5000ul


static _Alignas(8) unsigned char ram_a[64u * 1024u];
static _Alignas(8) unsigned char ram_b[64u * 1024u] __attribute__((section(".dram2_uninit.irq")));
static capheap_heap_t heap;

extern const char __capheap_text_start[], __capheap_text_end[];

typedef struct slot {
    unsigned char *p;
    size_t size;
    uint32_t key;
} slot_t;

/* ---- PRNGs: one for main, one for the handler ---- */
static uint32_t xs(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}
static uint32_t below(uint32_t *s, uint32_t n) { return (uint32_t)(((uint64_t)xs(s) * n) >> 32); }

/* Byte i of a block's pattern is byte i % 4 (little-endian) of word i / 4, so blocks are
 * filled and checked a word at a time, and any prefix can be checked after a resize. */
static uint32_t pattern_word(uint32_t key, size_t i)
{
    uint32_t x = key + (uint32_t)i * 0x9E3779B1u;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    return x;
}
static unsigned char pattern_byte(uint32_t key, size_t i)
{
    return (unsigned char)(pattern_word(key, i / 4u) >> (8u * (i % 4u)));
}
static void fill(const slot_t *s)
{
    uint32_t *w = (uint32_t *)(void *)s->p; /* payloads are 8-byte aligned */
    size_t nw = s->size / 4u;
    for (size_t i = 0; i < nw; i++)
        w[i] = pattern_word(s->key, i);
    for (size_t i = nw * 4u; i < s->size; i++)
        s->p[i] = pattern_byte(s->key, i);
}
/* The first n bytes still hold the pattern. */
static int intact(const slot_t *s, size_t n)
{
    const uint32_t *w = (const uint32_t *)(const void *)s->p;
    size_t nw = n / 4u;
    for (size_t i = 0; i < nw; i++)
        if (w[i] != pattern_word(s->key, i))
            return 0;
    for (size_t i = nw * 4u; i < n; i++)
        if (s->p[i] != pattern_byte(s->key, i))
            return 0;
    return 1;
}

/* ---- shared with the handler ---- */
static volatile int in_op;
static volatile unsigned long isr_count, mid_op, pc_in_core;
static volatile unsigned long isr_allocs, isr_frees, isr_reallocs, isr_refused, isr_nomem;
static volatile unsigned long isr_damage;
static slot_t isr_slots[ISR_SLOTS];
static uint32_t isr_rng = 0x9E3779B9u;
static uint32_t isr_key = 1;

static void timer_next(uint32_t ticks);

/* The work of one timer interrupt; pc is where it interrupted main. */
static void isr_body(uintptr_t pc)
{
    isr_count++;
    if (in_op)
        mid_op++;
    if (pc >= (uintptr_t)__capheap_text_start && pc < (uintptr_t)__capheap_text_end)
        pc_in_core++;

    slot_t *s = &isr_slots[below(&isr_rng, ISR_SLOTS)];
    if (s->p == NULL) {
        size_t size = 1 + below(&isr_rng, 96);
        void *p = below(&isr_rng, 2) ? capheap_alloc(&heap, size)
                                     : capheap_alloc_caps(&heap, size, CAPHEAP_CAP_INTERNAL);
        if (p == NULL) {
            isr_refused++;
        } else {
            *s = (slot_t){p, size, isr_key++};
            fill(s);
            isr_allocs++;
        }
    } else if (!intact(s, s->size)) {
        isr_damage++;
        s->p = NULL; /* do not free what we cannot trust */
    } else if (below(&isr_rng, 4) == 0) {
        size_t nsize = 1 + below(&isr_rng, 96);
        unsigned char *np = capheap_realloc(&heap, s->p, nsize);
        if (np == NULL) {
            isr_refused++;
        } else {
            slot_t moved = {np, s->size < nsize ? s->size : nsize, s->key};
            if (!intact(&moved, moved.size))
                isr_damage++;
            *s = (slot_t){np, nsize, isr_key++};
            fill(s);
            isr_reallocs++;
        }
    } else {
        if (capheap_free(&heap, s->p) == CAPHEAP_OK) {
            s->p = NULL;
            isr_frees++;
        } else {
            isr_refused++;
        }
    }
    timer_next(below(&isr_rng, 1024));
}

#if defined(__arm__)
/* ---- Cortex-M: SysTick ---- */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

/* r in 0..1023 -> next period 4..80 SysTick ticks (takes effect at the next reload) */
static void timer_next(uint32_t r) { SYST_RVR = 4u + r * 77u / 1024u; }
static void timer_start(void)
{
    SYST_RVR = 100;
    SYST_CVR = 0;
    SYST_CSR = 7; /* enable, interrupt, processor clock */
}
static void timer_stop(void) { SYST_CSR = 0; }

/* The C part of the SysTick handler; frame is the exception frame (r0-r3, r12, lr, pc, xpsr). */
void systick_c(const uint32_t *frame);
void systick_c(const uint32_t *frame) { isr_body(frame[6]); }

__attribute__((naked)) void SysTick_Handler(void)
{
    __asm__ volatile("mrs r0, msp\n\t"
                     "b systick_c\n\t");
}

#elif defined(__riscv)
/* ---- RISC-V virt: the CLINT machine timer (mtime at 10 MHz) ---- */
#define CLINT_MTIMECMP_LO (*(volatile uint32_t *)0x02004000u)
#define CLINT_MTIMECMP_HI (*(volatile uint32_t *)0x02004004u)
#define CLINT_MTIME_LO (*(volatile uint32_t *)0x0200BFF8u)
#define CLINT_MTIME_HI (*(volatile uint32_t *)0x0200BFFCu)
#define MIE_MTIE (1u << 7)
#define MSTATUS_MIE (1u << 3)

static uint64_t mtime(void)
{
    uint32_t hi, lo;
    do {
        hi = CLINT_MTIME_HI;
        lo = CLINT_MTIME_LO;
    } while (hi != CLINT_MTIME_HI);
    return ((uint64_t)hi << 32) | lo;
}
/* r in 0..1023 -> next interrupt 2..32 mtime ticks from now; also acknowledges this one. */
static void timer_next(uint32_t r)
{
    uint64_t when = mtime() + 2u + r * 31u / 1024u;
    CLINT_MTIMECMP_HI = 0xFFFFFFFFu; /* no spurious match while the halves change */
    CLINT_MTIMECMP_LO = (uint32_t)when;
    CLINT_MTIMECMP_HI = (uint32_t)(when >> 32);
}

__attribute__((interrupt("machine"), aligned(4))) static void machine_trap(void)
{
    uintptr_t cause, pc;
    __asm__ volatile("csrr %0, mcause" : "=r"(cause));
    __asm__ volatile("csrr %0, mepc" : "=r"(pc));
    if (cause != ((1u << 31) | 7u)) { /* anything but the machine timer: give up cleanly */
        printf("unexpected trap: mcause 0x%lx at 0x%lx\n", (unsigned long)cause, (unsigned long)pc);
        _Exit(98);
    }
    isr_body(pc);
}

static void timer_start(void)
{
    __asm__ volatile("csrw mtvec, %0" ::"r"((uintptr_t)machine_trap));
    timer_next(100);
    __asm__ volatile("csrs mie, %0" ::"r"(MIE_MTIE));
    __asm__ volatile("csrs mstatus, %0" ::"r"(MSTATUS_MIE));
}
static void timer_stop(void)
{
    __asm__ volatile("csrc mstatus, %0" ::"r"(MSTATUS_MIE));
    __asm__ volatile("csrc mie, %0" ::"r"(MIE_MTIE));
}
#else
#error "irq_test.c: Cortex-M or RISC-V only"
#endif

/* ---- main ---- */
static slot_t main_slots[MAIN_SLOTS];
static uint32_t main_rng;
static unsigned long main_allocs, main_frees, main_reallocs, main_refused, main_damage, check_fails;

static void main_step(void)
{
    static uint32_t key = 0x80000000u;
    slot_t *s = &main_slots[below(&main_rng, MAIN_SLOTS)];
    if (s->p == NULL) {
        size_t size = 1 + below(&main_rng, 768);
        uint32_t caps = below(&main_rng, 3) == 0 ? CAPHEAP_CAP_INTERNAL : 0u;
        in_op = 1;
        void *p = capheap_alloc_caps(&heap, size, caps);
        in_op = 0;
        if (p == NULL) {
            main_refused++;
            return;
        }
        *s = (slot_t){p, size, key++};
        fill(s);
        main_allocs++;
    } else if (!intact(s, s->size)) {
        main_damage++;
        s->p = NULL;
    } else if (below(&main_rng, 3) == 0) {
        size_t nsize = 1 + below(&main_rng, 768);
        in_op = 1;
        unsigned char *np = capheap_realloc(&heap, s->p, nsize);
        in_op = 0;
        if (np == NULL) {
            main_refused++;
            return;
        }
        slot_t moved = {np, s->size < nsize ? s->size : nsize, s->key};
        if (!intact(&moved, moved.size))
            main_damage++;
        *s = (slot_t){np, nsize, key++};
        fill(s);
        main_reallocs++;
    } else {
        in_op = 1;
        int rc = capheap_free(&heap, s->p);
        in_op = 0;
        if (rc != CAPHEAP_OK) {
            main_refused++;
            return;
        }
        s->p = NULL;
        main_frees++;
    }
}

int main(int argc, char **argv)
{
    int a = target_args(argc, argv);
    uint32_t seed = a < argc ? (uint32_t)strtoul(argv[a], NULL, 0) : 1u;
    unsigned long steps = a + 1 < argc ? strtoul(argv[a + 1], NULL, 0) : DEFAULT_STEPS;
    main_rng = seed * 2654435761u + 1u;
    isr_rng ^= seed;
    if (isr_rng == 0)
        isr_rng = 1;
    printf("irq_test (%s): seed %" PRIu32 ", %lu main steps\n",
           PORT_NAME, seed, steps);

    capheap_init(&heap);
    if (capheap_add_region(&heap, ram_a, sizeof ram_a, CAPHEAP_CAPS_INTERNAL) != CAPHEAP_OK ||
        capheap_add_region(&heap, ram_b, sizeof ram_b, CAPHEAP_CAPS_INTERNAL) != CAPHEAP_OK) {
        printf("FAIL: adding regions\n");
        return 1;
    }
#if IRQ_TEST_LOCK
    PORT_INSTALL(&heap);
#endif
    timer_start();

    for (unsigned long i = 1; i <= steps; i++) {
        main_step();
        if (i % 16 == 0 && capheap_check(&heap, NULL) != CAPHEAP_OK)
            check_fails++;
        if (i % 512 == 0)
            for (int k = 0; k < MAIN_SLOTS; k++)
                if (main_slots[k].p != NULL && !intact(&main_slots[k], main_slots[k].size)) {
                    main_damage++;
                    main_slots[k].p = NULL;
                }
    }
    timer_stop();

    /* Quiet now: final checks without interrupts. */
    capheap_check_result_t cr;
    int final_check = capheap_check(&heap, &cr);
    capheap_stats_t st;
    capheap_get_stats(&heap, &st);
    unsigned long reentry = st.error_count[-CAPHEAP_E_REENTRY];

    printf("interrupts: %lu, in the middle of a heap call: %lu (flag), interrupted PC in the core: %lu\n",
           isr_count, mid_op, pc_in_core);
    printf("handler: %lu allocs, %lu reallocs, %lu frees, %lu refused, %lu damaged blocks\n",
           isr_allocs, isr_reallocs, isr_frees, isr_refused, isr_damage);
    printf("main:    %lu allocs, %lu reallocs, %lu frees, %lu refused, %lu damaged blocks\n",
           main_allocs, main_reallocs, main_frees, main_refused, main_damage);
    printf("heap:    %lu re-entries reported, %lu failed checks during the run, final check %s (%s)\n",
           reentry, check_fails, final_check == CAPHEAP_OK ? "OK" : "FAILED",
           cr.first ? cr.first : "-");

    int damage = main_damage != 0 || isr_damage != 0 || check_fails != 0 || final_check != CAPHEAP_OK;
#if IRQ_TEST_LOCK
    int ok = 1;
    if (damage) {
        printf("FAIL: blocks or heap damaged although the lock port was installed\n");
        ok = 0;
    }
    if (reentry != 0 || isr_refused != 0) {
        printf("FAIL: calls were refused although the lock port was installed\n");
        ok = 0;
    }
    if (mid_op < MIN_MID_OP) {
        printf("FAIL: only %lu interrupts arrived during a heap call (need %lu): run under -icount\n",
               mid_op, MIN_MID_OP);
        ok = 0;
    }
    if (isr_allocs < MIN_MID_OP || main_allocs < steps / 8) {
        printf("FAIL: too little work was done\n");
        ok = 0;
    }
    printf("irq_test (lock): %s\n", ok ? "passed" : "FAILED");
    return ok ? 0 : 1;
#else
    int detected = damage || reentry != 0;
    printf("irq_test (no lock): unprotected heap %s\n",
           detected ? "was caught (re-entry reported or damage found): the test can fail"
                    : "was NOT caught: the test cannot tell a protected heap from an unprotected one");
    if (detected && mid_op < MIN_MID_OP) {
        printf("FAIL: only %lu interrupts arrived during a heap call\n", mid_op);
        detected = 0;
    }
    return detected ? 0 : 1;
#endif
}
