/*
 * Startup code for QEMU mps2-an385 / mps2-an386 with newlib + semihosting (librdimon).
 *
 * The program is linked with -nostartfiles: this file provides the vector table and the reset
 * handler (copy .data, clear .bss, enable the FPU on Cortex-M4F, open the semihosting console,
 * run constructors, call main with the semihosting command line as argv, exit with its
 * status). Faults print their name over semihosting and exit with status 99 instead of
 * locking up, so a crash fails the test run cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv);
void Reset_Handler(void);
void Default_Handler(void);
void initialise_monitor_handles(void); /* librdimon */
void __libc_init_array(void);         /* newlib */

/* Handlers a program may define; the rest end in Default_Handler. */
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

extern uint32_t __stack_top;
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;

typedef void (*vector_fn)(void);
#define MPS2_EXTERNAL_IRQS 32
#define IRQ2 Default_Handler, Default_Handler
#define IRQ8 IRQ2, IRQ2, IRQ2, IRQ2

__attribute__((section(".vectors"), used)) const vector_fn mps2_vectors[16 + MPS2_EXTERNAL_IRQS] = {
    (vector_fn)(uintptr_t)&__stack_top,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0, 0, 0, 0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    IRQ8, IRQ8, IRQ8, IRQ8,
};

/* One semihosting call: r0 = operation, r1 = argument block. */
static uintptr_t semihost(uintptr_t op, const void *arg)
{
    register uintptr_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

#define SYS_WRITE0 0x04u
#define SYS_GET_CMDLINE 0x15u
#define SYS_EXIT_EXTENDED 0x20u
#define FAULT_EXIT_STATUS 99u

static void fault(const char *what)
{
    const uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, FAULT_EXIT_STATUS};
    semihost(SYS_WRITE0, "\n*** ");
    semihost(SYS_WRITE0, what);
    semihost(SYS_WRITE0, ": the program crashed\n");
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

void HardFault_Handler(void) { fault("HardFault"); }
void Default_Handler(void) { fault("unexpected exception"); }

/* Empty: -nostartfiles drops crti/crtn, but newlib's __libc_init_array calls _init. */
void _init(void) {}
void _fini(void) {}

/* argv from the semihosting command line: QEMU passes "<kernel> <-append text>". */
#define MAX_ARGS 8
static char cmdline[256];
static char *args[MAX_ARGS + 1];

static int split_cmdline(void)
{
    struct {
        char *buf;
        uintptr_t len;
    } block = {cmdline, sizeof cmdline - 1};
    int argc = 0;
    if (semihost(SYS_GET_CMDLINE, &block) != 0)
        return 0;
    cmdline[sizeof cmdline - 1] = '\0';
    for (char *p = cmdline; *p != '\0' && argc < MAX_ARGS;) {
        while (*p == ' ')
            *p++ = '\0';
        if (*p == '\0')
            break;
        args[argc++] = p;
        while (*p != '\0' && *p != ' ')
            p++;
    }
    args[argc] = 0;
    return argc;
}

void Reset_Handler(void)
{
    memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
    memset(&__bss_start, 0, (size_t)((char *)&__bss_end - (char *)&__bss_start));
#if defined(__ARM_FP)
    /* CPACR: full access to coprocessors 10 and 11 (the FPU) before any float instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    initialise_monitor_handles();
    __libc_init_array();
    int argc = split_cmdline();
    exit(main(argc, args));
}
