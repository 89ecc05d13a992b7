/*
 * capheap lock port for POSIX threads (hosts, Linux-based RTOS layers).
 *
 *   static capheap_pthread_lock_t lk;
 *   capheap_pthread_lock_init(&lk);
 *   capheap_pthread_lock_install(&heap, &lk);
 *
 * The mutex is error-checking: a thread that re-enters the heap while it
 * holds it (an error handler or walk callback calling back in) gets
 * CAPHEAP_E_REENTRY instead of a deadlock.
 */
#ifndef CAPHEAP_PORT_PTHREAD_H
#define CAPHEAP_PORT_PTHREAD_H
#include <pthread.h>

#include "capheap.h"

typedef struct capheap_pthread_lock {
    pthread_mutex_t mutex;
} capheap_pthread_lock_t;

/** Initialise the mutex. Returns 0 or a pthread error number. */
int capheap_pthread_lock_init(capheap_pthread_lock_t *lk);
/** Install lk as heap's lock (capheap_set_lock). */
void capheap_pthread_lock_install(capheap_heap_t *heap, capheap_pthread_lock_t *lk);
/** Destroy the mutex (after the heap is no longer used). */
void capheap_pthread_lock_destroy(capheap_pthread_lock_t *lk);

#endif
