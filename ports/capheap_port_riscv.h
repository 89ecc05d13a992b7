/*
 * capheap_port_riscv.h - interrupt-masking lock for RISC-V in machine mode (mstatus.MIE).
 *
 * Header only. Install on a heap before it is shared with interrupt handlers:
 *
 *   #include "capheap.h"
 *   #include "capheap_port_riscv.h"
 *   capheap_port_riscv_install(&capheap_global);
 *   // same as: capheap_set_lock(&capheap_global, capheap_port_riscv_lock,
 *   //                           capheap_port_riscv_unlock, NULL);
 *
 * lock() clears mstatus.MIE with one atomic csrrci and returns the previous MIE bit; unlock()
 * sets MIE again only if that bit was set (csrs of the saved bit). Nested locks therefore leave
 * interrupts masked until the outermost unlock. Machine-mode, single-hart code only (S-mode
 * kernels mask with sstatus.SIE instead; harts do not share mstatus).
 *
 * The CSR instructions are emitted with ".option arch, +zicsr" so that the header assembles
 * with -march=rv32imac under GCC 12's default ISA spec too (binutils >= 2.38).
 * Cost: 1 instruction to lock, 1 to unlock.
 */
#ifndef CAPHEAP_PORT_RISCV_H
#define CAPHEAP_PORT_RISCV_H

#include <stdint.h>

#include "capheap.h"

#if !defined(__riscv)
#error "capheap_port_riscv.h is for RISC-V"
#endif

#define CAPHEAP_PORT_RISCV_MSTATUS_MIE 8u

/* Returns the mstatus.MIE bit before masking (8: interrupts were enabled, 0: masked). */
static inline uintptr_t capheap_port_riscv_lock(void *ctx)
{
    uintptr_t old;
    (void)ctx;
    __asm__ volatile(".option push\n\t.option arch, +zicsr\n\t"
                     "csrrci %0, mstatus, 8\n\t"
                     ".option pop"
                     : "=r"(old)
                     :
                     : "memory");
    return old & CAPHEAP_PORT_RISCV_MSTATUS_MIE;
}

/* Sets mstatus.MIE again if the matching lock() found it set. */
static inline void capheap_port_riscv_unlock(void *ctx, uintptr_t token)
{
    (void)ctx;
    __asm__ volatile(".option push\n\t.option arch, +zicsr\n\t"
                     "csrs mstatus, %0\n\t"
                     ".option pop"
                     :
                     : "r"(token & CAPHEAP_PORT_RISCV_MSTATUS_MIE)
                     : "memory");
}

/* Install the mstatus.MIE lock on heap (NULL: does nothing). */
static inline void capheap_port_riscv_install(capheap_heap_t *heap)
{
    capheap_set_lock(heap, capheap_port_riscv_lock, capheap_port_riscv_unlock, (void *)0);
}

#endif /* CAPHEAP_PORT_RISCV_H */
