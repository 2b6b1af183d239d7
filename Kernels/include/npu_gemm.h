/* The split-K product of the reduction planner: block partials computed and combined in one
 * pass, each micro-tile's partials of every block kept in cache, never in an output-sized buffer. */
#ifndef NPU_GEMM_H
#define NPU_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* C[m×n] (row-major) = Σ over the K-blocks of P_b, added from 0 in each output tile's block
 * order (atomic adds on the card): out = ((0 + P_σ0) + P_σ1) + …, element e in tile e / tile,
 * whose order is orders[t·blocks ..< (t+1)·blocks] (tiles from norders on use the last order).
 * P_b[i][j] = Σ_{q ∈ block b} op(A)[i][q]·op(B)[q][j], q ascending from 0, every term a fused
 * multiply-add: the bits depend on nothing but the inputs, the blocks and the orders (not on
 * the vector width, the BLAS or the thread count).
 * op(A)[i][q] = ta ? a[q·lda + i] : a[i·lda + q]; op(B)[q][j] = tb ? b[j·ldb + q] : b[q·ldb + j].
 * bounds: [blocks + 1] ascending, bounds[0] = 0, bounds[blocks] = k.
 * workspace: npu_splitk_gemm_workspace(k, blocks, threads) floats. Runs on up to `threads`
 * threads (npu_parallel.h). */
void npu_splitk_gemm_f32(float *c, const float *a, size_t lda, int ta, const float *b, size_t ldb, int tb, size_t m, size_t n,
                         size_t k, const int64_t *bounds, size_t blocks, const int32_t *orders, size_t norders, size_t tile,
                         float *workspace, size_t threads);

/* The micro-tile npu_splitk_gemm_f32 uses: 1 the 6 × 32 one (AVX-512's registers hold it), 0 two
 * 6 × 16 halves (AVX2's), -1 (the default) the one that fits this CPU. Both give the same bits;
 * tests run each on any host. */
void npu_splitk_gemm_choose_tiles(int wide);

/* Floats of workspace npu_splitk_gemm_f32 needs. */
size_t npu_splitk_gemm_workspace(size_t k, size_t blocks, size_t threads);

/* The strict product's fast path (Docs/Determinism.md): op(A)·op(B) [m × n] in double on
 * `threads` threads — 8 × 16 micro-tiles of fused multiply-adds on the operands converted to double
 * (op(A) in 8-row panels, each 16-column panel of op(B) packed by the task that uses it), each tile
 * tested as it finishes; or, for a small output over a deep K, K slices (the float rows summed in
 * double directly where op(A)'s rows and op(B)'s columns are contiguous, else through OpenBLAS's
 * dgemm) — then the acceptance test: out[i·n + j] = the float every value within
 * gamma·‖row i‖·‖column j‖ of the double result rounds to (+0 where that bound is 0). Outputs it
 * leaves undecided get a compensated (Sum2) sum with its own bound. Returns how many are still
 * undecided (for the caller to sum exactly): those, and only those, are NaN in out (a decided
 * output is a float the exact sum rounds to, never NaN); or (size_t)-1 when memory for the double
 * operands could not be had. The micro-tile follows npu_splitk_gemm_choose_tiles
 * (4 × 8 quarters where AVX-512 is missing); the bits never depend on it or on the threads. */
size_t npu_strict_product_f32(float *out, const float *a, size_t lda, int ta, const float *b, size_t ldb,
                              int tb, size_t m, size_t n, size_t k, double gamma, size_t threads);

#endif
