/* Reduction kernels of the reduction planner (Docs/Determinism.md). Every function fixes its own
 * order of additions, so a result depends only on the inputs, the blocking and the block order. */
#ifndef NPU_REDUCE_H
#define NPU_REDUCE_H

#include <stddef.h>
#include <stdint.h>

/* Sum of x[n] in a fixed vectorised order: 64 float accumulators (lane j takes elements
 * i ≡ j mod 64), then a fixed pairwise tree over the accumulators. */
float npu_sum_f32(const float *restrict x, size_t n);

/* partial[inner] = Σ_r x[r·inner + i] for r = 0..rows-1 in order (inner > 1: vectorised across i).
 * inner == 1 uses npu_sum_f32. */
void npu_sum_rows_f32(float *restrict partial, const float *restrict x, size_t rows, size_t inner);

/* The atomic adds of block partials, in block order, each tile of `tile` outputs in its own
 * order (atomic adds race per tile on the card): out[e] = 0 + partials[σ0][e] + partials[σ1][e]
 * + … for e in lo ..< hi, σ = orders[t·blocks ..< (t+1)·blocks] with t = e / tile (tiles from
 * norders on use the last order, so norders = 1 is one order for all). partials: [blocks][n]. */
void npu_combine_span_f32(float *restrict out, const float *restrict partials, const int32_t *restrict orders, size_t norders,
                          size_t blocks, size_t n, size_t tile, size_t lo, size_t hi);

/* ---- keyed block orders (the `off` policy) ---- */

/* npu_order_permutation for tiles 0 ..< tiles of one launch: order [tiles][n]. The same orders,
 * computed faster (the first Philox block of many tiles at once). */
void npu_order_permutations(int32_t *restrict order, size_t n, size_t tiles, uint64_t launch_key, uint64_t step);

/* Tiles first ..< first + tiles of a launch's orders only (order: [tiles][n]), so threads can
 * share them. */
void npu_order_permutations_from(int32_t *restrict order, size_t n, size_t first, size_t tiles, uint64_t launch_key, uint64_t step);

/* The key of one launch's orders: Philox4x32-10(counter = (lo, hi of site_hash, card, launch),
 * key = (lo, hi of seed)), its four words folded to 64 bits. */
uint64_t npu_order_launch_key(uint64_t seed, uint64_t site_hash, uint32_t card, uint32_t launch);

/* order[n] = a uniform permutation of 0..n-1 (Fisher–Yates from i = n-1 down, rejection sampling)
 * drawn from Philox4x32-10(counter = (lo, hi of step, tile, block j), key = launch_key). */
void npu_order_permutation(int32_t *restrict order, size_t n, uint64_t launch_key, uint64_t step, uint32_t tile);

/* A collective's chunk: out[lo..<hi] = rows[order[0]][lo..<hi] + rows[order[1]][…] + …, the
 * first contribution as it is, then added left to right in float32, then divided by `divisor`
 * (a mean; 1: none); rows[r] is row r's first element, anywhere in memory (the cards' own
 * tensors). */
void npu_sum_ptrs_ordered_f32(float *restrict out, const float *const *rows, const int32_t *restrict order, size_t k,
                              size_t lo, size_t hi, float divisor);

/* The `strict` collective: out[i] = (Σ_r rows[r][i] exactly, rounded once to float32) / divisor;
 * rows: k pointers to n floats each (the cards' buffers, read in place). */
void npu_exact_sum_rows_f32(float *restrict out, const float *const *rows, size_t k, size_t n, float divisor);

/* ---- exact accumulation (the `strict` policy) ---- */

#define NPU_EXACT_DIGITS 24 /* 32-bit digits of weight 2^(32k - 384): every float and float product */

typedef struct {
    int64_t digit[NPU_EXACT_DIGITS];
    int64_t pending; /* additions since the last carry normalisation */
    int32_t nan, pos_inf, neg_inf;
} npu_exact;

void npu_exact_init(npu_exact *a);
/* a += b, exactly (accumulators filled by different threads, merged in any order). */
void npu_exact_merge(npu_exact *restrict a, const npu_exact *restrict b);
/* Adds a finite or non-finite double exactly. */
void npu_exact_add_f64(npu_exact *a, double x);
/* Adds x[n] exactly (fast path for float32 data). */
void npu_exact_add_f32(npu_exact *restrict a, const float *restrict x, size_t n);
/* Adds Σ a[i·sa]·b[i·sb] exactly (float products are exact in double). */
void npu_exact_add_dot_f32(npu_exact *restrict acc, const float *restrict a, size_t sa, const float *restrict b,
                           size_t sb, size_t n);
/* Σ a[i·sa]·b[i·sb] exactly, rounded once to float32 (a fast path for one chunk). */
float npu_exact_dot_f32(const float *restrict a, size_t sa, const float *restrict b, size_t sb, size_t n);
/* The exact sum rounded once to float32 (to nearest, ties to even); NaN / ±inf as IEEE addition
 * of the inputs would give in any order. */
float npu_exact_round_f32(const npu_exact *a);

#endif
