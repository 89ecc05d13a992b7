/*
 * capheap_port_cortexm.h - interrupt-masking lock for Arm Cortex-M (ARMv6-M, ARMv7-M, ARMv8-M).
 *
 * Header only. Install on a heap before it is shared with interrupt handlers:
 *
 *   #include "capheap.h"
 *   #include "capheap_port_cortexm.h"
 *   capheap_port_cortexm_install(&capheap_global);
 *   // same as: capheap_set_lock(&capheap_global, capheap_port_cortexm_lock,
 *   //                           capheap_port_cortexm_unlock, NULL);
 *
 * lock() reads PRIMASK, then sets it (cpsid i) and returns the value it read; unlock() writes
 * that value back. Nesting is therefore free: an inner lock returns 1 and its unlock leaves
 * interrupts masked; only the outermost unlock unmasks them, and only if they were unmasked
 * when it locked. Interrupt handlers may call the heap: while any heap call runs, no
 * interrupt of configurable priority can preempt it. (NMI and HardFault cannot be masked by
 * PRIMASK: they must not allocate.)
 *
 * Single-core only: PRIMASK is per core. Cost: 2 instructions to lock, 1 to unlock.
 */
#ifndef CAPHEAP_PORT_CORTEXM_H
#define CAPHEAP_PORT_CORTEXM_H

#include <stdint.h>

#include "capheap.h"

#if !defined(__arm__) || !defined(__ARM_ARCH_PROFILE) || __ARM_ARCH_PROFILE != 'M'
#error "capheap_port_cortexm.h is for Arm M-profile cores (Cortex-M)"
#endif

/* Returns the PRIMASK value before masking (0: interrupts were enabled, 1: masked). It can
 * never be CAPHEAP_LOCK_FAILED: masking interrupts always succeeds. */
static inline uintptr_t capheap_port_cortexm_lock(void *ctx)
{
    uint32_t primask;
    (void)ctx;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask) : : "memory");
    return (uintptr_t)primask;
}

/* Restores the PRIMASK value that the matching lock() returned. */
static inline void capheap_port_cortexm_unlock(void *ctx, uintptr_t token)
{
    (void)ctx;
    __asm__ volatile("msr primask, %0" : : "r"((uint32_t)token) : "memory");
}

/* Install the PRIMASK lock on heap (NULL: does nothing). */
static inline void capheap_port_cortexm_install(capheap_heap_t *heap)
{
    capheap_set_lock(heap, capheap_port_cortexm_lock, capheap_port_cortexm_unlock, (void *)0);
}

#endif /* CAPHEAP_PORT_CORTEXM_H */
