/* registry.c - the list of adapters in one benchmark binary, chosen by the
 * Makefile with -DWITH_CAPHEAP, -DWITH_FIRSTFIT and -DWITH_SYSTEM. */
#include "adapter.h"

extern const bench_adapter_t adapter_capheap, adapter_firstfit, adapter_system, adapter_null;

const bench_adapter_t *const bench_adapters[] = {
#ifdef WITH_CAPHEAP
    &adapter_capheap,
#endif
#ifdef WITH_FIRSTFIT
    &adapter_firstfit,
#endif
#ifdef WITH_SYSTEM
    &adapter_system,
#endif
    &adapter_null,
    0,
};
