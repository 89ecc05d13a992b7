/*
 * Threads sharing one heap through the pthread port: every thread keeps its
 * own blocks, fills them with a pattern and verifies it before freeing; the
 * heap is checked at the end and periodically while the others run. A second
 * test shows that a thread re-entering the heap it holds gets REENTRY.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "capheap_port_pthread.h"
#include "test.h"

#define THREADS 4
#define OPS 200000
#define SLOTS 64

static _Alignas(64) unsigned char mem_a[512 * 1024];
static _Alignas(64) unsigned char mem_b[128 * 1024];
static capheap_heap_t H;
static capheap_pthread_lock_t LK;
static int thread_errors[THREADS];
static int checker_failures;

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    rng_t r = {0x1234567ull + (uint64_t)id * 7919u};
    struct { unsigned char *p; size_t n; } slot[SLOTS] = {{0}};
    for (int op = 0; op < OPS; op++) {
        int i = (int)rng_below(&r, SLOTS);
        if (slot[i].p) {
            if (!t_verify(slot[i].p, slot[i].n)) thread_errors[id]++;
            if (capheap_free(&H, slot[i].p) != CAPHEAP_OK) thread_errors[id]++;
            slot[i].p = NULL;
        } else {
            size_t n = 1 + rng_below(&r, 2000);
            uint32_t caps = rng_below(&r, 4) == 0 ? CAPHEAP_CAP_EXTERNAL : 0;
            unsigned char *p = rng_below(&r, 8) == 0 ? capheap_aligned_alloc_caps(&H, 256, n, caps)
                                                      : capheap_alloc_caps(&H, n, caps);
            if (p) {
                t_fill(p, n);
                slot[i].p = p;
                slot[i].n = n;
            }
        }
        if (id == 0 && op % 5000 == 0 && capheap_check(&H, NULL) != CAPHEAP_OK) checker_failures++;
    }
    for (int i = 0; i < SLOTS; i++) {
        if (!slot[i].p) continue;
        if (!t_verify(slot[i].p, slot[i].n)) thread_errors[id]++;
        if (capheap_free(&H, slot[i].p) != CAPHEAP_OK) thread_errors[id]++;
    }
    return NULL;
}

static void test_threads_share_a_heap(void)
{
    capheap_init(&H);
    CHECK_EQ(capheap_pthread_lock_init(&LK), 0);
    capheap_pthread_lock_install(&H, &LK);
    CHECK_EQ(capheap_add_region(&H, mem_a, sizeof mem_a, CAPHEAP_CAPS_INTERNAL), 0);
    CHECK_EQ(capheap_add_region(&H, mem_b, sizeof mem_b, CAPHEAP_CAPS_EXTERNAL), 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) CHECK_EQ(thread_errors[i], 0);
    CHECK_EQ(checker_failures, 0);
    capheap_stats_t s;
    CHECK_EQ(capheap_get_stats(&H, &s), CAPHEAP_OK);
    CHECK_EQ(s.used, 0);
    CHECK_EQ(s.alloc_count, s.free_count);
    CHECK(s.alloc_count > THREADS * OPS / 4);
    CHECK_EQ(s.error_count[-CAPHEAP_E_REENTRY], 0);
    CHECK_HEAP(&H);
}

static int inner_rc;
static bool reenter(const capheap_block_info_t *b, void *ctx)
{
    (void)ctx;
    inner_rc = capheap_free(&H, b->ptr);
    return false;
}

static void test_same_thread_reentry_is_reported(void)
{
    void *p = capheap_alloc(&H, 64);
    CHECK(p != NULL);
    CHECK_EQ(capheap_walk(&H, reenter, NULL), CAPHEAP_OK);
    CHECK_EQ(inner_rc, CAPHEAP_E_REENTRY);
    CHECK_EQ(capheap_free(&H, p), CAPHEAP_OK);
    capheap_pthread_lock_destroy(&LK);
}

int main(void)
{
    RUN(test_threads_share_a_heap);
    RUN(test_same_thread_reentry_is_reported);
    return t_summary();
}
