/* The fused split-K product (npu_gemm.h). Work is split by panels of NR output columns; a panel
 * is packed k-major (op(B) transposed, or its last, narrower panel zero-padded) into its thread's
 * workspace, then every MR-row micro-tile computes its block partials into a small buffer and
 * combines them in each tile's order. Vector types map to AVX-512, AVX2 or SSE registers by clone;
 * the arithmetic is the same in each (fused multiply-adds, element by element). */
#include "npu_build.h"
#include "npu_gemm.h"
#include "npu_parallel.h"

#include <math.h>
#include <string.h>

typedef float v16 __attribute__((ext_vector_type(16), aligned(4)));
typedef float v8 __attribute__((ext_vector_type(8), aligned(4)));

#define MR 6
#define NR 32

#define LOAD16(p) (*(const v16 *)(p))
#define STORE16(p, v) (*(v16 *)(p) = (v))

typedef struct {
    float *c;
    const float *a, *b;
    size_t lda, ldb, m, n, k, blocks, norders, tile, per_thread;
    int ta, tb;
    const int64_t *bounds;
    const int32_t *orders;
    float *workspace;
} product;

size_t npu_splitk_gemm_workspace(size_t k, size_t blocks, size_t threads) {
    return (threads ? threads : 1) * (blocks * MR * NR + k * NR + 16);
}

/* dst[q·NR + j] = src[j·ld + q] for j < nr (nr ≤ NR), q < k; columns nr..NR-1 zero. */
NPU_VECTOR static void pack_transposed(float *restrict dst, const float *restrict src, size_t ld, size_t nr, size_t k) {
    size_t j0 = 0;
    for (; j0 + 8 <= nr; j0 += 8) {
        size_t q = 0;
        for (; q + 8 <= k; q += 8) {
            const float *s = src + j0 * ld + q;
            v8 r0 = *(const v8 *)(s), r1 = *(const v8 *)(s + ld), r2 = *(const v8 *)(s + 2 * ld), r3 = *(const v8 *)(s + 3 * ld);
            v8 r4 = *(const v8 *)(s + 4 * ld), r5 = *(const v8 *)(s + 5 * ld), r6 = *(const v8 *)(s + 6 * ld), r7 = *(const v8 *)(s + 7 * ld);
            /* 8×8 transpose: pairs, then quads, then halves. */
            v8 t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13), t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
            v8 t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13), t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
            v8 t4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13), t5 = __builtin_shufflevector(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
            v8 t6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13), t7 = __builtin_shufflevector(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
            v8 u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
            v8 u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
            v8 u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
            v8 u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
            float *d = dst + q * NR + j0;
            *(v8 *)(d + 0 * NR) = __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
            *(v8 *)(d + 1 * NR) = __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
            *(v8 *)(d + 2 * NR) = __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
            *(v8 *)(d + 3 * NR) = __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
            *(v8 *)(d + 4 * NR) = __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
            *(v8 *)(d + 5 * NR) = __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
            *(v8 *)(d + 6 * NR) = __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
            *(v8 *)(d + 7 * NR) = __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
        }
        for (; q < k; q++)
            for (size_t j = j0; j < j0 + 8; j++) dst[q * NR + j] = src[j * ld + q];
    }
    for (size_t q = 0; q < k; q++) {
        for (size_t j = j0; j < nr; j++) dst[q * NR + j] = src[j * ld + q];
        for (size_t j = nr; j < NR; j++) dst[q * NR + j] = 0.0f;
    }
}

/* One MR × NR micro-tile: rows i0 ..< i0 + mr, the panel's columns (bp: k-major, row stride ldbp). */
NPU_VECTOR static void micro_tile(const product *p, size_t i0, size_t mr, size_t j0, size_t nr, const float *bp, size_t ldbp,
                                  float *restrict buf) {
    const float *row[MR];
    for (size_t r = 0; r < MR; r++) {
        size_t i = i0 + (r < mr ? r : 0); /* rows past mr repeat row 0; their results are dropped */
        row[r] = p->ta ? p->a + i : p->a + i * p->lda;
    }
    const size_t step = p->ta ? p->lda : 1;
    for (size_t bl = 0; bl < p->blocks; bl++) {
        v16 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0, c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
        for (size_t q = (size_t)p->bounds[bl], end = (size_t)p->bounds[bl + 1]; q < end; q++) {
            const v16 b0 = LOAD16(bp + q * ldbp), b1 = LOAD16(bp + q * ldbp + 16);
            const size_t o = q * step;
            v16 x;
            x = (v16)(row[0][o]); c00 = __builtin_elementwise_fma(x, b0, c00); c01 = __builtin_elementwise_fma(x, b1, c01);
            x = (v16)(row[1][o]); c10 = __builtin_elementwise_fma(x, b0, c10); c11 = __builtin_elementwise_fma(x, b1, c11);
            x = (v16)(row[2][o]); c20 = __builtin_elementwise_fma(x, b0, c20); c21 = __builtin_elementwise_fma(x, b1, c21);
            x = (v16)(row[3][o]); c30 = __builtin_elementwise_fma(x, b0, c30); c31 = __builtin_elementwise_fma(x, b1, c31);
            x = (v16)(row[4][o]); c40 = __builtin_elementwise_fma(x, b0, c40); c41 = __builtin_elementwise_fma(x, b1, c41);
            x = (v16)(row[5][o]); c50 = __builtin_elementwise_fma(x, b0, c50); c51 = __builtin_elementwise_fma(x, b1, c51);
        }
        float *d = buf + bl * MR * NR;
        STORE16(d + 0, c00); STORE16(d + 16, c01); STORE16(d + 32, c10); STORE16(d + 48, c11);
        STORE16(d + 64, c20); STORE16(d + 80, c21); STORE16(d + 96, c30); STORE16(d + 112, c31);
        STORE16(d + 128, c40); STORE16(d + 144, c41); STORE16(d + 160, c50); STORE16(d + 176, c51);
    }
    /* Each row's columns, a run of one tile at a time, add the blocks in that tile's order. */
    for (size_t r = 0; r < mr; r++) {
        const size_t e0 = (i0 + r) * p->n + j0;
        size_t t = e0 / p->tile, next = (t + 1) * p->tile; /* the tile of element e0 + lo, and where it ends */
        for (size_t lo = 0; lo < nr;) {
            size_t hi = next - e0 < nr ? next - e0 : nr;
            const int32_t *order = p->orders + (t < p->norders ? t : p->norders - 1) * p->blocks;
            float *out = p->c + e0;
            const float *base = buf + r * NR;
            if (lo == 0 && hi == NR) {
                v16 s0 = 0, s1 = 0;
                for (size_t q = 0; q < p->blocks; q++) {
                    const float *s = base + (size_t)order[q] * MR * NR;
                    s0 = s0 + LOAD16(s);
                    s1 = s1 + LOAD16(s + 16);
                }
                STORE16(out, s0);
                STORE16(out + 16, s1);
            } else {
                float acc[NR];
                for (size_t j = lo; j < hi; j++) acc[j] = 0.0f;
                for (size_t q = 0; q < p->blocks; q++) {
                    const float *s = base + (size_t)order[q] * MR * NR;
                    for (size_t j = lo; j < hi; j++) acc[j] += s[j];
                }
                for (size_t j = lo; j < hi; j++) out[j] = acc[j];
            }
            lo = hi;
            t++;
            next += p->tile;
        }
    }
}

/* One panel of NR columns: pack it if needed, then every micro-tile of its rows. */
static void panel_task(void *context, size_t panel, size_t worker) {
    const product *p = context;
    float *mine = p->workspace + worker * p->per_thread;
    float *buf = mine, *packed = mine + p->blocks * MR * NR;
    const size_t j0 = panel * NR, nr = p->n - j0 < NR ? p->n - j0 : NR;
    const float *bp;
    size_t ldbp;
    if (p->tb) {
        pack_transposed(packed, p->b + j0 * p->ldb, p->ldb, nr, p->k);
        bp = packed;
        ldbp = NR;
    } else if (nr < NR) {
        for (size_t q = 0; q < p->k; q++) {
            memcpy(packed + q * NR, p->b + q * p->ldb + j0, nr * sizeof(float));
            memset(packed + q * NR + nr, 0, (NR - nr) * sizeof(float));
        }
        bp = packed;
        ldbp = NR;
    } else {
        bp = p->b + j0;
        ldbp = p->ldb;
    }
    for (size_t i0 = 0; i0 < p->m; i0 += MR) micro_tile(p, i0, p->m - i0 < MR ? p->m - i0 : MR, j0, nr, bp, ldbp, buf);
}

void npu_splitk_gemm_f32(float *c, const float *a, size_t lda, int ta, const float *b, size_t ldb, int tb, size_t m, size_t n,
                         size_t k, const int64_t *bounds, size_t blocks, const int32_t *orders, size_t norders, size_t tile,
                         float *workspace, size_t threads) {
    if (m == 0 || n == 0) return;
    product p = {c, a, b, lda, ldb, m, n, k, blocks, norders ? norders : 1, tile ? tile : 1, npu_splitk_gemm_workspace(k, blocks, 1),
                 ta, tb, bounds, orders, workspace};
    npu_parallel_for((n + NR - 1) / NR, threads ? threads : 1, panel_task, &p);
}

/* The strict product's acceptance test, vectorised: out[i·n + j] = (float)c[i·n + j] when every
 * value within γ·rows[i]·cols[j] of it rounds to that float (the interval widened by at least a
 * double ulp at each end, for the rounding of its ends); otherwise again[i·n + j] = 1. A zero
 * row or column (the bound 0) is an exact +0. Returns how many were not accepted. */
NPU_VECTOR size_t npu_strict_round_f64(float *restrict out, unsigned char *restrict again, const double *restrict c,
                                       const double *restrict rows, const double *restrict cols, size_t m, size_t n, double gamma) {
    size_t rejected = 0;
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            size_t e = i * n + j;
            double r = c[e], magnitude = rows[i] * cols[j], bound = gamma * magnitude;
            double lo = r - bound, hi = r + bound;
            lo = lo - fabs(lo) * 0x1p-52 - 0x1p-1074;
            hi = hi + fabs(hi) * 0x1p-52 + 0x1p-1074;
            float fl = (float)lo, fh = (float)hi;
            uint32_t bl, bh;
            memcpy(&bl, &fl, 4);
            memcpy(&bh, &fh, 4);
            /* NaN or infinity anywhere makes r, bound or the ends non-finite: not accepted. */
            int finite = (r - r == 0.0) & (bound - bound == 0.0);
            int zero = magnitude == 0.0;
            int ok = zero | (finite & (bl == bh));
            out[e] = zero ? 0.0f : fl;
            again[e] = (unsigned char)!ok;
            rejected += !ok;
        }
    }
    return rejected;
}
