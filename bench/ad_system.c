/* Adapter: the process's malloc. The Makefile links each benchmark binary
 * with at most one malloc replacement (jemalloc, mimalloc or tcmalloc), so
 * this file measures whichever allocator that binary's malloc is; SYS_NAME
 * names it and sys_identity() reports which shared object really defines
 * malloc, so a wrong link shows up in the results instead of a wrong label.
 * These allocators take memory from the operating system: they ignore the
 * heap bound, never fail in the workloads, and W2/W2b/W6-largest do not apply. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

#include "adapter.h"

#ifndef SYS_NAME
#define SYS_NAME "glibc"
#endif

static int sys_init(void *buf, size_t size)
{
    (void)buf;
    (void)size;
    return 0;
}

BENCHOP void *benchop_sys_alloc(size_t size, size_t align)
{
    if (align != 0) { /* explicit alignment: small blocks may otherwise be 8-aligned */
        void *p = NULL;
        return posix_memalign(&p, align, size) == 0 ? p : NULL;
    }
    return malloc(size);
}

BENCHOP void benchop_sys_free(void *p) { free(p); }

BENCHOP void *benchop_sys_realloc(void *p, size_t size) { return realloc(p, size); }

/* The file name of the shared object (or the program) defining malloc. */
const char *sys_identity(void)
{
    Dl_info info;
    void *fn = dlsym(RTLD_DEFAULT, "malloc");
    if (fn && dladdr(fn, &info) && info.dli_fname)
        return info.dli_fname;
    return "unknown";
}

const bench_adapter_t adapter_system = {
    .name = SYS_NAME,
    .note = "system allocator: ignores the heap bound (memory from the OS)",
    .flags = AD_SYSTEM,
    .init = sys_init,
    .fini = NULL,
    .alloc = benchop_sys_alloc,
    .free = benchop_sys_free,
    .realloc = benchop_sys_realloc,
    .free_bytes = NULL,
    .check = NULL,
    .control_bytes = NULL,
    .default_align = 2 * sizeof(void *),
};
