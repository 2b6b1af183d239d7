/* A small pool of helper threads that share one loop's independent tasks with the calling
 * thread. The one place in the C kernels with global state: the helpers and the job they work on.
 * Results never depend on which thread runs a task (tasks write disjoint outputs). */
#ifndef NPU_PARALLEL_H
#define NPU_PARALLEL_H

#include <stddef.h>

/* A task; `worker` is 0 on the calling thread and 1 ..< threads on helpers (per-thread scratch). */
typedef void (*npu_task_fn)(void *context, size_t task, size_t worker);

/* Runs fn(context, t, worker) for every t in 0 ..< tasks, on the calling thread and up to threads − 1
 * helpers, and returns when all have run. The calling thread never waits for a helper to wake:
 * it takes tasks itself and waits only for tasks a helper has started. With threads < 2,
 * tasks < 2, or while another thread is using the pool, the calling thread runs every task. */
void npu_parallel_for(size_t tasks, size_t threads, npu_task_fn fn, void *context);

/* Sends spinning helpers to sleep now (they wake with the next job): before timing something
 * else on the same cores, or when the simulator goes idle. */
void npu_parallel_rest(void);

/* How many threads kernels use for their own loops: set by npu_parallel_set_threads, else
 * OpenBLAS's thread count when first asked (which honours OPENBLAS_NUM_THREADS). */
size_t npu_parallel_threads(void);
void npu_parallel_set_threads(size_t threads);

#endif
