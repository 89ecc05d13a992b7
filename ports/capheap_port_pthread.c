#include "capheap_port_pthread.h"

static uintptr_t pt_lock(void *ctx)
{
    capheap_pthread_lock_t *lk = ctx;
    /* EDEADLK: this thread already holds it (re-entry). */
    return pthread_mutex_lock(&lk->mutex) == 0 ? 0u : CAPHEAP_LOCK_FAILED;
}

static void pt_unlock(void *ctx, uintptr_t token)
{
    capheap_pthread_lock_t *lk = ctx;
    (void)token;
    (void)pthread_mutex_unlock(&lk->mutex);
}

int capheap_pthread_lock_init(capheap_pthread_lock_t *lk)
{
    pthread_mutexattr_t at;
    int rc = pthread_mutexattr_init(&at);
    if (rc != 0) return rc;
    rc = pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK);
    if (rc == 0) rc = pthread_mutex_init(&lk->mutex, &at);
    (void)pthread_mutexattr_destroy(&at);
    return rc;
}

void capheap_pthread_lock_install(capheap_heap_t *heap, capheap_pthread_lock_t *lk)
{
    capheap_set_lock(heap, pt_lock, pt_unlock, lk);
}

void capheap_pthread_lock_destroy(capheap_pthread_lock_t *lk) { (void)pthread_mutex_destroy(&lk->mutex); }
