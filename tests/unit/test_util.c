#include "test.h"

static int passed, failed;
int t_current_failed;

void capheap_test_assert_fail(const char *msg, const char *file, int line)
{
    fprintf(stderr, "CAPHEAP_ASSERT failed at %s:%d: %s\n", file, line, msg);
    abort();
}

void t_fail(const char *file, int line, const char *expr, long long a, long long b, int has_vals)
{
    t_current_failed = 1;
    if (has_vals)
        fprintf(stderr, "  FAIL %s:%d: %s (%lld vs %lld)\n", file, line, expr, a, b);
    else
        fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, expr);
}

void t_run(const char *name, void (*fn)(void))
{
    t_current_failed = 0;
    fn();
    if (t_current_failed) {
        failed++;
        printf("[FAIL] %s\n", name);
    } else {
        passed++;
        printf("[ ok ] %s\n", name);
    }
    fflush(stdout);
}

int t_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}

static void log_handler(capheap_heap_t *h, const capheap_event_t *ev, void *ctx)
{
    (void)h;
    err_log_t *log = ctx;
    log->count++;
    log->last = *ev;
}

void t_log_errors(capheap_heap_t *h, err_log_t *log)
{
    memset(log, 0, sizeof *log);
    capheap_set_error_handler(h, log_handler, log);
}

static unsigned char pattern_byte(uint64_t key, size_t i)
{
    uint64_t x = (key + i) * 0x9E3779B97F4A7C15ull;
    return (unsigned char)(x >> 56);
}

uint64_t t_key(const void *p, size_t n) { return ((uint64_t)(uintptr_t)p << 16) ^ (uint64_t)n; }

void t_fill_key(void *p, size_t n, uint64_t key)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++) c[i] = pattern_byte(key, i);
}

int t_verify_key(const void *p, size_t n, uint64_t key)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != pattern_byte(key, i)) return 0;
    return 1;
}

void t_fill(void *p, size_t n) { t_fill_key(p, n, t_key(p, n)); }
int t_verify(const void *p, size_t n) { return t_verify_key(p, n, t_key(p, n)); }

size_t t_region_index(const t_region_t *regs, size_t nregs, const unsigned char *p)
{
    size_t i = 0;
    while (i < nregs && !(p >= regs[i].lo && p < regs[i].hi)) i++;
    return i;
}

/* The walk's view of the block before the target. */
typedef struct {
    const unsigned char *target;
    const capheap_region_t *region; /* of the last block walked */
    unsigned char *last;
    bool last_free;
    unsigned char *found;
} before_t;

static bool before_cb(const capheap_block_info_t *b, void *ctx)
{
    before_t *w = ctx;
    if (b->ptr == w->target) {
        w->found = w->last_free && w->region == b->region ? w->last : NULL;
        return false;
    }
    w->region = b->region;
    w->last = b->ptr;
    w->last_free = !b->used;
    return true;
}

unsigned char *t_free_block_before(capheap_heap_t *h, const unsigned char *p)
{
    before_t w = {p, NULL, NULL, false, NULL};
    (void)capheap_walk(h, before_cb, &w);
    return w.found;
}

const char *t_vet_block(capheap_heap_t *h, const t_region_t *regs, size_t nregs, const unsigned char *p,
                        size_t n, size_t align, uint32_t caps, size_t *usable)
{
    if ((uintptr_t)p % CAPHEAP_ALIGN != 0) return "payload not CAPHEAP_ALIGN aligned";
    if (align > 1 && (uintptr_t)p % align != 0) return "payload not aligned as requested";
    size_t us = capheap_usable_size(h, (void *)(uintptr_t)p);
    if (us < n) return "usable size below the request";
    size_t i = t_region_index(regs, nregs, p);
    if (i == nregs) return "pointer in no region";
    if (p + us > regs[i].hi) return "block runs past its region";
    if ((regs[i].caps & caps) != caps) return "region lacks the requested capabilities";
    *usable = us;
    return NULL;
}

bool t_count_walk(const capheap_block_info_t *b, void *ctx)
{
    size_t *n = ctx;
    n[b->used ? 0 : 1]++;
    n[2] += b->size + CAPHEAP_HEADER_SIZE;
    return true;
}
