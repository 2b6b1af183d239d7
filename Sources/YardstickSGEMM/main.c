/* Plain-C yardstick for `npusim bench sgemm`: the same cblas_sgemm call the package makes.
 * usage: npusim-yardstick-sgemm N THREADS RUNS -> one line per timed run: seconds for one
 * N×N×N sgemm. A product of the package (built next to npusim against the system OpenBLAS);
 * npusim runs it in the same session. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: npusim-yardstick-sgemm N THREADS RUNS\n");
        return 2;
    }
    int n = atoi(argv[1]), threads = atoi(argv[2]), runs = atoi(argv[3]);
    if (n <= 0 || threads <= 0 || runs <= 0) {
        fprintf(stderr, "npusim-yardstick-sgemm: N, THREADS and RUNS must be positive\n");
        return 2;
    }
    openblas_set_num_threads(threads);
    size_t count = (size_t)n * (size_t)n;
    float *a = malloc(count * sizeof(float)), *b = malloc(count * sizeof(float)), *c = malloc(count * sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "npusim-yardstick-sgemm: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        a[i] = (float)((i * 7) % 13) * 0.25f - 1.5f;
        b[i] = (float)((i * 5) % 11) * 0.125f - 0.5f;
        c[i] = 0.0f;
    }
    /* Warm-up for 0.25 s: page faults, OpenBLAS buffers, and the OS spreading threads over cores. */
    double warm_end = now() + 0.25;
    while (now() < warm_end)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        printf("%.9f\n", now() - t0);
    }
    fprintf(stderr, "core=%s checksum=%g\n", openblas_get_corename(), (double)c[count / 2]);
    free(a);
    free(b);
    free(c);
    return 0;
}
