/* The helper-thread pool of npu_parallel.h. One job at a time (a try-lock; a second caller runs
 * its tasks alone). Between jobs helpers poll, yielding the core, for about 0.1 s, then sleep on
 * a condition variable; the calling thread wakes sleepers but never waits for them to wake. */
#include "npu_parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#if defined(__x86_64__)
#define PAUSE() __builtin_ia32_pause()
#else
#define PAUSE() ((void)0)
#endif

#define MAX_HELPERS 15
/* Polls of the job counter before a helper sleeps (each a pause, a yield every 64): about
 * 0.1 s, as long as OpenBLAS's own threads wait, so a training loop's jobs find their helpers
 * awake (a woken helper tends to be placed on the waker's core and share it for a while). */
#define SPINS 4000000

static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static atomic_ulong generation;
static atomic_int sleepers;
static atomic_int resting; /* npu_parallel_rest: spinning helpers go to sleep now */
static size_t helpers_started;

static struct {
    npu_task_fn fn;
    void *context;
    size_t tasks;
    size_t helpers; /* helpers 0 ..< helpers take part */
    atomic_size_t next, done;
    atomic_int open, active;
} job;

static void wait_a_moment(unsigned spins) {
    if (spins % 64 == 0) sched_yield();
    else PAUSE();
}

static void take_tasks(size_t worker) {
    size_t t;
    while ((t = atomic_fetch_add(&job.next, 1)) < job.tasks) {
        job.fn(job.context, t, worker);
        atomic_fetch_add(&job.done, 1);
    }
}

static void *helper_main(void *argument) {
    size_t index = (size_t)(uintptr_t)argument;
    unsigned long seen = 0;
    for (;;) {
        unsigned spins = 0;
        while (atomic_load(&generation) == seen) {
            if (++spins < SPINS && !atomic_load(&resting)) {
                wait_a_moment(spins);
                continue;
            }
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&generation) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = atomic_load(&generation);
        /* `active` first, then `open`: the caller closes the job before it waits for active == 0,
         * so a helper that arrives late either sees it closed or holds it open until it is done. */
        atomic_fetch_add(&job.active, 1);
        if (atomic_load(&job.open) && index < job.helpers) take_tasks(index + 1);
        atomic_fetch_sub(&job.active, 1);
    }
    return NULL;
}

/* 0 until first asked for or set: then OpenBLAS's thread count at that moment. */
static atomic_size_t thread_budget;

void npu_parallel_rest(void) { atomic_store(&resting, 1); }

size_t npu_parallel_threads(void) {
    size_t n = atomic_load(&thread_budget);
    if (n == 0) {
        int blas = openblas_get_num_threads();
        size_t expected = 0;
        atomic_compare_exchange_strong(&thread_budget, &expected, blas > 0 ? (size_t)blas : 1);
        n = atomic_load(&thread_budget);
    }
    return n;
}

void npu_parallel_set_threads(size_t threads) { atomic_store(&thread_budget, threads > 0 ? threads : 1); }

void npu_parallel_for(size_t tasks, size_t threads, npu_task_fn fn, void *context) {
    if (threads < 2 || tasks < 2 || pthread_mutex_trylock(&busy) != 0) {
        for (size_t t = 0; t < tasks; t++) fn(context, t, 0);
        return;
    }
    size_t helpers = threads - 1 < MAX_HELPERS ? threads - 1 : MAX_HELPERS;
    while (helpers_started < helpers) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, helper_main, (void *)(uintptr_t)helpers_started);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        helpers_started++;
    }
    atomic_store(&resting, 0);
    job.fn = fn;
    job.context = context;
    job.tasks = tasks;
    job.helpers = helpers;
    atomic_store(&job.next, 0);
    atomic_store(&job.done, 0);
    atomic_store(&job.open, 1);
    atomic_fetch_add(&generation, 1);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    take_tasks(0);
    /* A helper may be descheduled mid-task when the cores are oversubscribed: yield to it. */
    for (unsigned spins = 1; atomic_load(&job.done) < tasks; spins++) wait_a_moment(spins);
    atomic_store(&job.open, 0);
    for (unsigned spins = 1; atomic_load(&job.active) > 0; spins++) wait_a_moment(spins);
    pthread_mutex_unlock(&busy);
}
