/* Plain-C yardstick for `npusim bench reduce-sum`: the best vectorised float32 sum we can write
 * in C — the compiler may reorder the additions freely (the pragma below is -ffast-math's
 * reassociation, without flags) and the loops are compiled for AVX-512, AVX2 and SSE2, the best
 * one picked at load time (what -march=native gave, on any x86-64 host).
 * usage: npusim-yardstick-sum N RUNS -> one line per timed run: seconds for one sum of N floats
 * (the faster of a plain loop and 64 explicit accumulators). A product of the package. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define VECTOR __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#endif
#ifndef VECTOR
#define VECTOR
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

VECTOR static float sum_plain(const float *x, size_t n) {
#pragma clang fp reassociate(on)
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

VECTOR static float sum_lanes(const float *x, size_t n) {
#pragma clang fp reassociate(on)
    float acc[64] = {0};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 64; j++) acc[j] += x[i + j];
    float s = 0.0f;
    for (int j = 0; j < 64; j++) s += acc[j];
    for (; i < n; i++) s += x[i];
    return s;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: npusim-yardstick-sum N RUNS\n");
        return 2;
    }
    size_t n = (size_t)atol(argv[1]);
    int runs = atoi(argv[2]);
    float *x = malloc(n * sizeof(float));
    if (!x || runs <= 0) return 2;
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    volatile float sink = 0.0f;
    for (int w = 0; w < 3; w++) sink += sum_plain(x, n) + sum_lanes(x, n);
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        sink += sum_plain(x, n);
        double t1 = now();
        sink += sum_lanes(x, n);
        double t2 = now();
        printf("%.9f\n", (t1 - t0) < (t2 - t1) ? (t1 - t0) : (t2 - t1));
    }
    free(x);
    return sink == 12345.0f;
}
