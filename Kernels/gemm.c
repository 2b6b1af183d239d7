/* The fused split-K product (npu_gemm.h). Work is split by panels of NR output columns; a panel
 * is packed k-major (op(B) transposed, or its last, narrower panel zero-padded) into its thread's
 * workspace, then every MR-row micro-tile computes its block partials into a small buffer and
 * combines them in each tile's order. Vector types map to AVX-512, AVX2 or SSE registers by clone;
 * the micro-tile is 6 × 32 where AVX-512's 32 registers hold its accumulators, else two 6 × 16
 * halves. The arithmetic is the same in each (fused multiply-adds, element by element). */
#include "npu_build.h"
#include "npu_gemm.h"
#include "npu_parallel.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

typedef float v16 __attribute__((ext_vector_type(16), aligned(4)));
typedef float v8 __attribute__((ext_vector_type(8), aligned(4)));
typedef double v8d __attribute__((ext_vector_type(8)));

#define MR 6
#define NR 32

#define LOAD16(p) (*(const v16 *)(p))
#define STORE16(p, v) (*(v16 *)(p) = (v))

typedef struct {
    float *c;
    const float *a, *b;
    size_t lda, ldb, m, n, k, blocks, norders, tile, per_thread;
    size_t tile_step, tile_rem; /* n = tile_step · tile + tile_rem: from one row's first element to the next */
    int ta, tb;
    const int64_t *bounds;
    const int32_t *orders;
    float *workspace;
    int wide; /* the 6 × 32 micro-tile (AVX-512 hosts) rather than 6 × 16 twice */
} product;

size_t npu_splitk_gemm_workspace(size_t k, size_t blocks, size_t threads) {
    return (threads ? threads : 1) * (blocks * MR * NR + k * NR + 16);
}

/* The 8 × 8 block at s (rows ld apart) transposed: col[p][j] = s[j·ld + p]. */
static inline __attribute__((always_inline)) void transpose8(const float *s, size_t ld, v8 col[8]) {
    v8 r0 = *(const v8 *)(s), r1 = *(const v8 *)(s + ld), r2 = *(const v8 *)(s + 2 * ld), r3 = *(const v8 *)(s + 3 * ld);
    v8 r4 = *(const v8 *)(s + 4 * ld), r5 = *(const v8 *)(s + 5 * ld), r6 = *(const v8 *)(s + 6 * ld), r7 = *(const v8 *)(s + 7 * ld);
    /* Pairs, then quads, then halves. */
    v8 t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13), t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
    v8 t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13), t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
    v8 t4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13), t5 = __builtin_shufflevector(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
    v8 t6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13), t7 = __builtin_shufflevector(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
    v8 u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    v8 u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    v8 u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    v8 u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    col[0] = __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
    col[1] = __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
    col[2] = __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
    col[3] = __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
    col[4] = __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
    col[5] = __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
    col[6] = __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
    col[7] = __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
}

/* dst[q·NR + j] = src[j·ld + q] for j < nr (nr ≤ NR), q < k; columns nr..NR-1 zero. */
NPU_VECTOR static void pack_transposed(float *restrict dst, const float *restrict src, size_t ld, size_t nr, size_t k) {
    size_t j0 = 0;
    for (; j0 + 8 <= nr; j0 += 8) {
        size_t q = 0;
        for (; q + 8 <= k; q += 8) {
            v8 col[8];
            transpose8(src + j0 * ld + q, ld, col);
            for (int p = 0; p < 8; p++) *(v8 *)(dst + (q + p) * NR + j0) = col[p];
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
    if (p->wide) {
        /* 6 × 32: twelve 16-float accumulators, one AVX-512 register each. */
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
    } else {
        /* 6 × 16 twice: twelve AVX2 registers of accumulators (6 × 32 would need 24 of its 16 and
         * spill every step). Each element's fused multiply-adds are the same, in the same order. */
        for (size_t h = 0; h < NR; h += 16) {
            for (size_t bl = 0; bl < p->blocks; bl++) {
                v16 c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0;
                for (size_t q = (size_t)p->bounds[bl], end = (size_t)p->bounds[bl + 1]; q < end; q++) {
                    const v16 b = LOAD16(bp + q * ldbp + h);
                    const size_t o = q * step;
                    c0 = __builtin_elementwise_fma((v16)(row[0][o]), b, c0);
                    c1 = __builtin_elementwise_fma((v16)(row[1][o]), b, c1);
                    c2 = __builtin_elementwise_fma((v16)(row[2][o]), b, c2);
                    c3 = __builtin_elementwise_fma((v16)(row[3][o]), b, c3);
                    c4 = __builtin_elementwise_fma((v16)(row[4][o]), b, c4);
                    c5 = __builtin_elementwise_fma((v16)(row[5][o]), b, c5);
                }
                float *d = buf + bl * MR * NR + h;
                STORE16(d + 0 * NR, c0); STORE16(d + 1 * NR, c1); STORE16(d + 2 * NR, c2);
                STORE16(d + 3 * NR, c3); STORE16(d + 4 * NR, c4); STORE16(d + 5 * NR, c5);
            }
        }
    }
    /* Each row's columns, a run of one tile at a time, add the blocks in that tile's order. Rows
     * are n apart: the tile of a row's first element and its offset in that tile step by n's
     * quotient and remainder (no division per row). */
    size_t t0 = (i0 * p->n + j0) / p->tile, into = (i0 * p->n + j0) - t0 * p->tile;
    for (size_t r = 0; r < mr; r++) {
        if (r > 0) {
            t0 += p->tile_step;
            into += p->tile_rem;
            if (into >= p->tile) { into -= p->tile; t0++; }
        }
        const size_t e0 = (i0 + r) * p->n + j0;
        float *out = p->c + e0;
        const float *base = buf + r * NR;
        size_t t = t0, hi = p->tile - into < nr ? p->tile - into : nr;
        for (size_t lo = 0; lo < nr;) {
            const int32_t *order = p->orders + (t < p->norders ? t : p->norders - 1) * p->blocks;
            v16 s0 = 0, s1 = 0;
            for (size_t q = 0; q < p->blocks; q++) {
                const float *s = base + (size_t)order[q] * MR * NR;
                s0 = s0 + LOAD16(s);
                s1 = s1 + LOAD16(s + 16);
            }
            if (lo == 0 && hi == NR) {
                STORE16(out, s0);
                STORE16(out + 16, s1);
            } else {
                /* Every lane summed in this tile's order; only the run's lanes are kept. */
                float sums[NR];
                STORE16(sums, s0);
                STORE16(sums + 16, s1);
                for (size_t j = lo; j < hi; j++) out[j] = sums[j];
            }
            lo = hi;
            hi = hi + p->tile < nr ? hi + p->tile : nr;
            t++;
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

static _Atomic int tile_choice = -1;

void npu_splitk_gemm_choose_tiles(int wide) { tile_choice = wide < 0 ? -1 : wide != 0; }

/* Whether the 6 × 32 micro-tile fits the host's vector registers: the x86-64-v4 clone's. */
static int wide_tiles(void) {
    int chosen = tile_choice;
    if (chosen >= 0) return chosen;
#if defined(__x86_64__) && __has_builtin(__builtin_cpu_supports)
    return __builtin_cpu_supports("x86-64-v4"); /* a load and a mask: the runtime probed the CPU at start-up */
#else
    return 0;
#endif
}

void npu_splitk_gemm_f32(float *c, const float *a, size_t lda, int ta, const float *b, size_t ldb, int tb, size_t m, size_t n,
                         size_t k, const int64_t *bounds, size_t blocks, const int32_t *orders, size_t norders, size_t tile,
                         float *workspace, size_t threads) {
    if (m == 0 || n == 0) return;
    if (tile == 0) tile = 1;
    product p = {c, a, b, lda, ldb, m, n, k, blocks, norders ? norders : 1, tile, npu_splitk_gemm_workspace(k, blocks, 1),
                 n / tile, n % tile, ta, tb, bounds, orders, workspace, wide_tiles()};
    npu_parallel_for((n + NR - 1) / NR, threads ? threads : 1, panel_task, &p);
}

/* The ends r ∓ e of an interval that holds [r − bound, r + bound] however the ends round: the
 * margin w = (|r| + bound)·2^-51 + 2^-1022 is more than the rounding of |r| + bound, of bound + w
 * and of r ∓ e can take back (each at most 2^-53 of its result, or 2^-1075 below 2^-1022; 2^-1022
 * rather than the least subnormal: as safe, and no slow subnormal operand). Float rounding is
 * monotone, so when both ends round to the same float every value between them does. */
#define STRICT_MARGIN(r, bound, abs) ((bound) + ((abs)(r) + (bound)) * 0x1p-51 + 0x1p-1022)

/* The float every value within bound of r rounds to, in *f, when there is one; returns 0
 * otherwise (not for NaN or infinite r or bound: the caller tests those). */
static inline __attribute__((always_inline)) int one_float(double r, double bound, float *f) {
    double e = STRICT_MARGIN(r, bound, fabs);
    float fl = (float)(r - e), fh = (float)(r + e);
    uint32_t bl, bh;
    memcpy(&bl, &fl, 4);
    memcpy(&bh, &fh, 4);
    *f = fl;
    return bl == bh;
}

/* The strict product's acceptance test on an nr × nc block, vectorised: out[i·ldo + j] = the float
 * every value within γ·rows[i]·cols[j] of c[i·ldc + j] rounds to (`one_float`), or NaN, the mark
 * of an output left undecided (an accepted one never is: its value is finite). A zero row or
 * column (the bound 0) is an exact +0. Returns how many were not accepted. */
NPU_VECTOR static size_t strict_round(float *restrict out, size_t ldo, const double *restrict c, size_t ldc, const double *restrict rows,
                                      const double *restrict cols, size_t nr, size_t nc, double gamma) {
    size_t rejected = 0;
    for (size_t i = 0; i < nr; i++) {
        double scale = gamma * rows[i];
        for (size_t j = 0; j < nc; j++) {
            double r = c[i * ldc + j], magnitude = rows[i] * cols[j], bound = scale * cols[j];
            float fl;
            int same = one_float(r, bound, &fl);
            /* NaN or infinity anywhere makes r, bound or the ends non-finite: not accepted. */
            int finite = (r - r == 0.0) & (bound - bound == 0.0);
            int zero = magnitude == 0.0;
            int ok = zero | (finite & same);
            out[i * ldo + j] = !ok ? NAN : zero ? 0.0f : fl;
            rejected += !ok;
        }
    }
    return rejected;
}

typedef struct {
    float *out;
    const float *a, *b;
    size_t lda, ldb, m, n, k;
    int ta, tb;
    double *da, *db, *rows, *cols, *dc, gamma;
    size_t chunk;    /* vectors per packing task */
    size_t band;     /* output rows per refine task */
    size_t slices;   /* K slices (1: tiles) */
    size_t *rejected;
    /* The tiled path: op(A) in SMR-row panels (ap[panel·SMR·k + q·SMR + r], zero past m; its row
     * norms in rows), and per worker a scratch of `scratch` doubles: a micro-tile's results, one
     * SNR-column panel's norms, the panel (k × SNR), and, with `own`, the worker's own op(A)
     * panels, row norms and a byte per row panel saying it is packed. */
    double *ap, *scratch_base;
    size_t scratch, groups;
    int wide;
    int own; /* each worker packs the row panels it uses into its own scratch (a small op(A)) */
} strict_product;

/* Σ x[p]² over k floats, in double (eight lanes). */
NPU_VECTOR static double sum_squares(const float *x, size_t k) {
    v8d s = 0;
    size_t p = 0;
    for (; p + 8 <= k; p += 8) {
        v8d d = __builtin_convertvector(*(const v8 *)(x + p), v8d);
        s = __builtin_elementwise_fma(d, d, s);
    }
    double t = 0;
    for (; p < k; p++) t += (double)x[p] * x[p];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

#define SMR 8  /* rows of a strict micro-tile: op(A)'s, broadcast */
#define SNR 16 /* its columns: two vectors of 8 doubles */

/* `count` vectors of k floats (vector l at src + l·step, its element q at + q·stride) into dst in
 * double, dst[q·ld + l], and their Euclidean norms; dst's lanes count ..< width are zero, with norm
 * 0. Eight at a time where there are eight: a load of 8 floats per element (step 1), or 8 × 8
 * blocks transposed (stride 1). In whatever order the squares add, a norm is within γ_k of its
 * value, which the doubled γ of the bound allows for. */
NPU_VECTOR static void pack_lanes(double *restrict dst, size_t ld, double *restrict norms, const float *src, size_t step, size_t stride,
                                  size_t count, size_t width, size_t k) {
    typedef double v8du __attribute__((ext_vector_type(8), aligned(8)));
    size_t l = 0;
    for (; l + 8 <= count && (step == 1 || stride == 1); l += 8) {
        const float *x = src + l * step;
        v8d s = 0;
        size_t q = 0;
        if (step == 1)
            for (; q < k; q++) {
                v8d d = __builtin_convertvector(*(const v8 *)(x + q * stride), v8d);
                *(v8du *)(dst + q * ld + l) = d;
                s += d * d;
            }
        else
            for (; q + 8 <= k; q += 8) {
                v8 col[8];
                transpose8(x + q, step, col);
                for (int r = 0; r < 8; r++) {
                    v8d d = __builtin_convertvector(col[r], v8d);
                    *(v8du *)(dst + (q + r) * ld + l) = d;
                    s += d * d;
                }
            }
        for (; q < k; q++)
            for (int r = 0; r < 8; r++) {
                double d = x[r * step + q * stride];
                dst[q * ld + l + r] = d;
                s[r] += d * d;
            }
        for (int r = 0; r < 8; r++) norms[l + r] = sqrt(s[r]);
    }
    for (; l < width; l++) {
        double s = 0;
        for (size_t q = 0; q < k; q++) {
            double d = l < count ? src[l * step + q * stride] : 0.0;
            dst[q * ld + l] = d;
            s += d * d;
        }
        norms[l] = sqrt(s);
    }
}

/* A thin product's operands for its dgemm slices, `chunk` vectors a task (rows of op(A) first,
 * then columns of op(B)): k-major, da[q·m + i] and db[q·n + j], with their norms. */
static void strict_pack_task(void *context, size_t task, size_t worker) {
    (void)worker;
    strict_product *p = context;
    size_t rowTasks = (p->m + p->chunk - 1) / p->chunk;
    if (task < rowTasks) {
        size_t v0 = task * p->chunk, count = v0 + p->chunk > p->m ? p->m - v0 : p->chunk;
        pack_lanes(p->da + v0, p->m, p->rows + v0, p->ta ? p->a + v0 : p->a + v0 * p->lda, p->ta ? 1 : p->lda, p->ta ? p->lda : 1, count,
                   count, p->k);
    } else {
        size_t v0 = (task - rowTasks) * p->chunk, count = v0 + p->chunk > p->n ? p->n - v0 : p->chunk;
        pack_lanes(p->db + v0, p->n, p->cols + v0, p->tb ? p->b + v0 * p->ldb : p->b + v0, p->tb ? p->ldb : 1, p->tb ? 1 : p->ldb, count,
                   count, p->k);
    }
}

/* Panel `panel` of op(A) (rows i0 ..< i0 + SMR, zero past m) in double, k-major, into ap (the
 * panels' base), and its rows' norms into rows. */
static void strict_pack_rows(const strict_product *p, size_t panel, double *ap, double *rows) {
    const size_t i0 = panel * SMR, mr = p->m - i0 < SMR ? p->m - i0 : SMR;
    /* op(A)[i][q] = ta ? a[q·lda + i] : a[i·lda + q] */
    pack_lanes(ap + panel * SMR * p->k, SMR, rows + i0, p->ta ? p->a + i0 : p->a + i0 * p->lda, p->ta ? 1 : p->lda, p->ta ? p->lda : 1,
               mr, SMR, p->k);
}

static void strict_pack_rows_task(void *context, size_t panel, size_t worker) {
    (void)worker;
    const strict_product *p = context;
    strict_pack_rows(p, panel, p->ap, p->rows);
}

/* Panel `panel` of op(B) (columns j0 ..< j0 + SNR, zero past n) in double, k-major (dst[q·SNR + c]),
 * and its columns' norms. */
static void strict_pack_columns(const strict_product *p, size_t panel, double *restrict dst, double *restrict norms) {
    const size_t j0 = panel * SNR, nc = p->n - j0 < SNR ? p->n - j0 : SNR;
    /* op(B)[q][j] = tb ? b[j·ldb + q] : b[q·ldb + j] */
    pack_lanes(dst, SNR, norms, p->tb ? p->b + j0 * p->ldb : p->b + j0, p->tb ? p->ldb : 1, p->tb ? 1 : p->ldb, nc, SNR, p->k);
}

#define LOADD(p) (*(const v8d *)(p))
#define STORED(p, v) (*(v8d *)(p) = (v))

/* The 8 × 16 micro-tile in double (AVX-512's registers hold its sixteen accumulators): tile[r·SNR
 * + c] = Σ_q ap[q·SMR + r]·bp[q·SNR + c]. Any order of the additions is within the bound. */
static inline __attribute__((always_inline)) void strict_micro_8x16(const double *ap, const double *bp, size_t k, double *tile) {
    v8d c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0, c30 = 0, c31 = 0;
    v8d c40 = 0, c41 = 0, c50 = 0, c51 = 0, c60 = 0, c61 = 0, c70 = 0, c71 = 0;
    for (size_t q = 0; q < k; q++) {
        const v8d b0 = LOADD(bp + q * SNR), b1 = LOADD(bp + q * SNR + 8);
        const double *x = ap + q * SMR;
        v8d s;
        s = (v8d)(x[0]); c00 = __builtin_elementwise_fma(s, b0, c00); c01 = __builtin_elementwise_fma(s, b1, c01);
        s = (v8d)(x[1]); c10 = __builtin_elementwise_fma(s, b0, c10); c11 = __builtin_elementwise_fma(s, b1, c11);
        s = (v8d)(x[2]); c20 = __builtin_elementwise_fma(s, b0, c20); c21 = __builtin_elementwise_fma(s, b1, c21);
        s = (v8d)(x[3]); c30 = __builtin_elementwise_fma(s, b0, c30); c31 = __builtin_elementwise_fma(s, b1, c31);
        s = (v8d)(x[4]); c40 = __builtin_elementwise_fma(s, b0, c40); c41 = __builtin_elementwise_fma(s, b1, c41);
        s = (v8d)(x[5]); c50 = __builtin_elementwise_fma(s, b0, c50); c51 = __builtin_elementwise_fma(s, b1, c51);
        s = (v8d)(x[6]); c60 = __builtin_elementwise_fma(s, b0, c60); c61 = __builtin_elementwise_fma(s, b1, c61);
        s = (v8d)(x[7]); c70 = __builtin_elementwise_fma(s, b0, c70); c71 = __builtin_elementwise_fma(s, b1, c71);
    }
    STORED(tile + 0 * SNR, c00); STORED(tile + 0 * SNR + 8, c01); STORED(tile + 1 * SNR, c10); STORED(tile + 1 * SNR + 8, c11);
    STORED(tile + 2 * SNR, c20); STORED(tile + 2 * SNR + 8, c21); STORED(tile + 3 * SNR, c30); STORED(tile + 3 * SNR + 8, c31);
    STORED(tile + 4 * SNR, c40); STORED(tile + 4 * SNR + 8, c41); STORED(tile + 5 * SNR, c50); STORED(tile + 5 * SNR + 8, c51);
    STORED(tile + 6 * SNR, c60); STORED(tile + 6 * SNR + 8, c61); STORED(tile + 7 * SNR, c70); STORED(tile + 7 * SNR + 8, c71);
}

/* A 4 × 8 quarter of it (eight AVX2 registers of accumulators; the whole would spill there). */
static inline __attribute__((always_inline)) void strict_micro_4x8(const double *ap, const double *bp, size_t k, double *tile) {
    v8d c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    for (size_t q = 0; q < k; q++) {
        const v8d b = LOADD(bp + q * SNR);
        const double *x = ap + q * SMR;
        c0 = __builtin_elementwise_fma((v8d)(x[0]), b, c0);
        c1 = __builtin_elementwise_fma((v8d)(x[1]), b, c1);
        c2 = __builtin_elementwise_fma((v8d)(x[2]), b, c2);
        c3 = __builtin_elementwise_fma((v8d)(x[3]), b, c3);
    }
    STORED(tile + 0 * SNR, c0); STORED(tile + 1 * SNR, c1); STORED(tile + 2 * SNR, c2); STORED(tile + 3 * SNR, c3);
}

/* Row panel ip of op(A) against one packed column panel (columns j0 ..< j0 + nc): the micro-tile
 * in double, then the acceptance test straight from it (no m × n double result in memory). */
NPU_VECTOR static size_t strict_block(const strict_product *p, size_t ip, const double *panels, const double *rowNorms, const double *bp,
                                      const double *norms, size_t j0, size_t nc, double *tile) {
    const double *ap = panels + ip * SMR * p->k;
    const size_t i0 = ip * SMR, mr = p->m - i0 < SMR ? p->m - i0 : SMR;
    if (p->wide) strict_micro_8x16(ap, bp, p->k, tile);
    else
        for (size_t r = 0; r < mr; r += 4)
            for (size_t c = 0; c < nc; c += 8) strict_micro_4x8(ap + r, bp + c, p->k, tile + r * SNR + c);
    float *out = p->out + i0 * p->n + j0;
    if (nc < SNR) return strict_round(out, p->n, tile, SNR, rowNorms + i0, norms, mr, nc, p->gamma);
    /* strict_round's test, eight outputs at a time. A finite result means row i and column j hold
     * no infinity or NaN (each would make some product, and so the sum, one), so their norms and
     * the bound are finite too; a zero row or column (a zero norm) is then an exact +0. */
    typedef float v8f __attribute__((ext_vector_type(8), aligned(1)));
    typedef int32_t v8i __attribute__((ext_vector_type(8)));
    const size_t n = p->n;
    const double *rows = rowNorms + i0, gamma = p->gamma;
    const v8d cols[2] = {LOADD(norms), LOADD(norms + 8)};
    const v8i zeroColumn[2] = {__builtin_convertvector(cols[0] == 0.0, v8i), __builtin_convertvector(cols[1] == 0.0, v8i)};
    v8i rejected = 0;
    for (size_t r = 0; r < mr; r++) {
        /* STRICT_MARGIN in two fused multiply-adds: e = |v|·2^-51 + (scale·(1 + 2^-51)·column +
         * 2^-1022) is at least bound + (|v| + bound)·2^-51·(1 − 2^-52) + 2^-1023, enough for the
         * same proof (the doubled γ leaves the bound twice the error it covers). */
        const double scale = gamma * rows[r], wide = scale * (1 + 0x1p-51);
        const v8i zeroRow = (v8i)(rows[r] == 0.0 ? -1 : 0);
        for (int h = 0; h < 2; h++) {
            const v8d v = LOADD(tile + r * SNR + 8 * h);
            const v8d e = __builtin_elementwise_fma(__builtin_elementwise_abs(v), (v8d)0x1p-51,
                                                    __builtin_elementwise_fma((v8d)wide, cols[h], (v8d)0x1p-1022));
            const v8 fl = __builtin_convertvector(v - e, v8), fh = __builtin_convertvector(v + e, v8);
            const v8i same = __builtin_bit_cast(v8i, fl) == __builtin_bit_cast(v8i, fh);
            const v8i finite = __builtin_convertvector(v - v == 0.0, v8i), zero = zeroRow | zeroColumn[h];
            const v8i ok = finite & (zero | same); /* lanes -1 (true) or 0 */
            const v8i value = __builtin_bit_cast(v8i, fl) & ~zero, undecided = 0x7fc00000; /* a quiet NaN */
            *(v8f *)(out + r * n + 8 * h) = __builtin_bit_cast(v8, (value & ok) | (undecided & ~ok));
            rejected += ok + 1;
        }
    }
    size_t total = 0;
    for (int l = 0; l < 8; l++) total += (size_t)rejected[l];
    return total;
}

/* Task = (column panel, group of row panels): pack the column panel into this worker's scratch,
 * then every row panel of the group against it (with `own`, packing a row panel into the worker's
 * scratch the first time the worker needs it: a core then writes only lines it alone reads, where
 * packing op(A) once for all would make the next call's packing wait for the other cores to give
 * up the lines they read). */
/* Worker w's scratch: its tile, column panel norms, column panel, and with `own` its op(A) panels,
 * row norms and packed flags (`packed` is NULL without). */
typedef struct {
    double *tile, *norms, *bp, *ap, *rows;
    unsigned char *packed;
} strict_scratch;

static strict_scratch strict_worker_scratch(const strict_product *p, size_t worker) {
    strict_scratch w = {p->scratch_base + worker * p->scratch, NULL, NULL, p->ap, p->rows, NULL};
    w.norms = w.tile + SMR * SNR;
    w.bp = w.norms + SNR;
    if (p->own) {
        const size_t rowPanels = (p->m + SMR - 1) / SMR;
        w.ap = w.bp + p->k * SNR;
        w.rows = w.ap + rowPanels * SMR * p->k;
        w.packed = (unsigned char *)(w.rows + rowPanels * SMR);
    }
    return w;
}

static void strict_tile_task(void *context, size_t task, size_t worker) {
    strict_product *p = context;
    const size_t panel = task / p->groups, group = task % p->groups;
    const strict_scratch w = strict_worker_scratch(p, worker);
    double *tile = w.tile, *norms = w.norms, *bp = w.bp, *ap = w.ap, *rows = w.rows;
    unsigned char *packed = w.packed;
    strict_pack_columns(p, panel, bp, norms);
    const size_t j0 = panel * SNR, nc = p->n - j0 < SNR ? p->n - j0 : SNR;
    const size_t rowPanels = (p->m + SMR - 1) / SMR, per = (rowPanels + p->groups - 1) / p->groups;
    size_t rejected = 0;
    for (size_t ip = group * per; ip < rowPanels && ip < (group + 1) * per; ip++) {
        if (packed && !packed[ip]) {
            strict_pack_rows(p, ip, ap, rows);
            packed[ip] = 1;
        }
        rejected += strict_block(p, ip, ap, rows, bp, norms, j0, nc, tile);
    }
    p->rejected[task] = rejected;
}

/* One K slice's product into its own m × n buffer (slice 0 into dc itself). */
static void strict_slice_task(void *context, size_t task, size_t worker) {
    (void)worker;
    strict_product *p = context;
    size_t per = (p->k + p->slices - 1) / p->slices, k0 = task * per, k1 = k0 + per > p->k ? p->k : k0 + per;
    double *c = p->dc + task * p->m * p->n;
    if (k1 <= k0) {
        memset(c, 0, p->m * p->n * sizeof(double));
        return;
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p->m, (int)p->n, (int)(k1 - k0), 1, p->da + k0 * p->m, (int)p->m,
                p->db + k0 * p->n, (int)p->n, 0, c, (int)p->n);
}

/* Second chance for an output the bound above left undecided (cancellation in a deep sum makes
 * ‖row‖·‖column‖ far larger than the result): the dot product of x and y (k floats at strides
 * sx and sy; each term a float product, exact in double) by compensated summation, eight lanes of TwoSum (Ogita, Rump & Oishi,
 * "Accurate sum and dot product", 2005, Algorithm 4.4 Sum2). Every TwoSum is error-free, so the
 * exact sum is s + Σq; only Σq's own sum and the final s + c round. |Σq| ≤ u·Σ over the partial
 * sums ≤ k·u·Σ|p| (with slack), and Σq errs by at most γ_k of that, so the result is within
 * u·|res| + (γ_k)²·Σ|p| of the exact sum; doubled here. Writes the float and returns 1 when
 * every value in that interval rounds to it; returns 0 (undecided) otherwise. */
NPU_VECTOR static int strict_refine(float *out, const float *x, size_t sx, const float *y, size_t sy, size_t k) {
    v8d s = 0, c = 0, abs = 0;
    size_t p = 0;
    for (; p + 8 <= k; p += 8) {
        v8 xf, yf;
        if (sx == 1) xf = *(const v8 *)(x + p);
        else for (int l = 0; l < 8; l++) xf[l] = x[(p + l) * sx];
        if (sy == 1) yf = *(const v8 *)(y + p);
        else for (int l = 0; l < 8; l++) yf[l] = y[(p + l) * sy];
        v8d prod = __builtin_convertvector(xf, v8d) * __builtin_convertvector(yf, v8d);
        v8d t = s + prod, z = t - s;
        c += (s - (t - z)) + (prod - z);
        s = t;
        abs += __builtin_elementwise_abs(prod);
    }
    double ss = 0, cc = 0, aa = 0;
    for (int l = 0; l < 8; l++) {
        double t = ss + s[l], z = t - ss;
        cc += ((ss - (t - z)) + (s[l] - z)) + c[l];
        ss = t;
        aa += abs[l];
    }
    for (; p < k; p++) {
        double prod = (double)x[p * sx] * y[p * sy], t = ss + prod, z = t - ss;
        cc += (ss - (t - z)) + (prod - z);
        ss = t;
        aa += fabs(prod);
    }
    double res = ss + cc, u = 0x1p-53, kd = (double)k + 16;
    /* Every product exactly ±0 (a row and a column whose nonzeros never meet, as ReLU leaves
     * them; a product of floats is exact in double, so |p| = 0 means p = ±0): the exact sum is
     * zero, which the exact accumulator rounds to +0. */
    if (aa == 0.0) {
        *out = 0.0f;
        return 1;
    }
    if (kd * u >= 0.25) return 0;
    double g = kd * u / (1 - kd * u);
    double bound = 2 * (u * fabs(res) + g * g * aa);
    float fl;
    if (!(res - res == 0.0) || !(aa - aa == 0.0) || !one_float(res, bound, &fl)) return 0;
    *out = fl;
    return 1;
}

NPU_VECTOR static void strict_refine_task(void *context, size_t task, size_t worker) {
    (void)worker;
    typedef float v16u __attribute__((ext_vector_type(16), aligned(4)));
    strict_product *p = context;
    size_t r0 = task * p->band, r1 = r0 + p->band > p->m ? p->m : r0 + p->band, left = 0;
    /* The undecided are few and marked NaN: skip sixteen outputs at a time while none is. */
    const float *out = p->out;
    for (size_t e = r0 * p->n, end = r1 * p->n; e < end;) {
        if (e + 16 <= end) {
            const v16u x = *(const v16u *)(out + e);
            if (!__builtin_reduce_or(x != x)) {
                e += 16;
                continue;
            }
        }
        for (size_t stop = e + 16 < end ? e + 16 : end; e < stop; e++) {
            if (out[e] == out[e]) continue;
            size_t i = e / p->n, j = e % p->n;
            const float *x = p->ta ? p->a + i : p->a + i * p->lda, *y = p->tb ? p->b + j * p->ldb : p->b + j;
            if (!strict_refine(p->out + e, x, p->ta ? p->lda : 1, y, p->tb ? 1 : p->ldb, p->k)) left++;
        }
    }
    p->rejected[task] = left;
}

#define THIN_R 4
#define THIN_S 4
#define THIN_CHUNK 1024

/* The thin product's slice `task` (K split in `slices`): dc_slice[i·n + j] = Σ a[i][p]·b[j][p] in
 * double over the slice, and the slice's Σ a[i][p]² and Σ b[j][p]², rows of A and of B read as floats (no double copy: a deep product's
 * operands are large), 4 × 4 outputs at a time, a chunk of K at a time so the rows stay in cache.
 * Any order of additions is within the same γ_k bound; a float product is exact in double, so a
 * fused multiply-add gives the bits of a multiply and an add, in one instruction. */
NPU_VECTOR static void strict_thin_task(void *context, size_t task, size_t worker) {
    (void)worker;
    strict_product *p = context;
    size_t per = (p->k + p->slices - 1) / p->slices, k0 = task * per, k1 = k0 + per > p->k ? p->k : k0 + per;
    double *c = p->dc + task * p->m * p->n;
    /* This slice's squares of the rows and columns (their norms' parts), summed chunk by chunk
     * while the chunk is in cache for the products. */
    double *rows2 = p->dc + p->slices * p->m * p->n + task * (p->m + p->n), *cols2 = rows2 + p->m;
    memset(c, 0, p->m * p->n * sizeof(double));
    memset(rows2, 0, (p->m + p->n) * sizeof(double));
    for (size_t c0 = k0; c0 < k1; c0 += THIN_CHUNK) {
        size_t c1 = c0 + THIN_CHUNK < k1 ? c0 + THIN_CHUNK : k1;
        for (size_t i = 0; i < p->m; i++) rows2[i] += sum_squares(p->a + i * p->lda + c0, c1 - c0);
        for (size_t j = 0; j < p->n; j++) cols2[j] += sum_squares(p->b + j * p->ldb + c0, c1 - c0);
        for (size_t i0 = 0; i0 < p->m; i0 += THIN_R)
            for (size_t j0 = 0; j0 < p->n; j0 += THIN_S) {
                /* Edge tiles repeat their last row or column; the repeats are not stored. */
                const float *ra[THIN_R], *rb[THIN_S];
                for (int r = 0; r < THIN_R; r++) ra[r] = p->a + (i0 + r < p->m ? i0 + r : p->m - 1) * p->lda;
                for (int t = 0; t < THIN_S; t++) rb[t] = p->b + (j0 + t < p->n ? j0 + t : p->n - 1) * p->ldb;
                v8d acc[THIN_R][THIN_S];
                for (int r = 0; r < THIN_R; r++)
                    for (int t = 0; t < THIN_S; t++) acc[r][t] = 0;
                size_t q = c0;
                for (; q + 8 <= c1; q += 8) {
                    v8d x[THIN_R], y[THIN_S];
                    for (int r = 0; r < THIN_R; r++) x[r] = __builtin_convertvector(*(const v8 *)(ra[r] + q), v8d);
                    for (int t = 0; t < THIN_S; t++) y[t] = __builtin_convertvector(*(const v8 *)(rb[t] + q), v8d);
                    for (int r = 0; r < THIN_R; r++)
                        for (int t = 0; t < THIN_S; t++) acc[r][t] = __builtin_elementwise_fma(x[r], y[t], acc[r][t]);
                }
                for (int r = 0; r < THIN_R && i0 + r < p->m; r++)
                    for (int t = 0; t < THIN_S && j0 + t < p->n; t++) {
                        v8d v = acc[r][t];
                        double sum = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
                        for (size_t e = q; e < c1; e++) sum += (double)ra[r][e] * rb[t][e];
                        c[(i0 + r) * p->n + j0 + t] += sum;
                    }
            }
    }
}

size_t npu_strict_product_f32(float *out, const float *a, size_t lda, int ta, const float *b, size_t ldb,
                              int tb, size_t m, size_t n, size_t k, double gamma, size_t threads) {
    if (m == 0 || n == 0) return 0;
    if (threads < 1) threads = 1;
    /* A small output over a deep K (a convolution's filter gradient): K slices, of the float rows
     * themselves when op(A)'s rows and op(B)'s columns are contiguous, else of the operands in
     * double through OpenBLAS. Otherwise micro-tiles in double, tested as they finish. */
    int thin = m * n < 4096 && k >= 1024;
    int direct = thin && !ta && tb;
    size_t slices = thin ? threads : 1;
    const size_t rowPanels = (m + SMR - 1) / SMR, columnPanels = (n + SNR - 1) / SNR;
    /* Enough tasks for every thread: split the row panels into groups when the column panels are
     * few (each group packs its column panel again; that is cheap where they are few). */
    size_t groups = 1;
    if (!thin && threads > 1 && columnPanels < 2 * threads) {
        groups = (2 * threads + columnPanels - 1) / columnPanels;
        if (groups > rowPanels) groups = rowPanels;
    }
    /* op(A) in each worker's scratch up to 256 KiB of panels (twice that over two workers). */
    const size_t panelDoubles = rowPanels * SMR * (k + 1);
    const int own = threads > 1 && panelDoubles <= 32768;
    const size_t tasks = thin ? slices : columnPanels * groups;
    const size_t scratch = (SMR * SNR + SNR + k * SNR + (own ? panelDoubles + (rowPanels + 7) / 8 : 0) + 7) / 8 * 8;
    size_t doubles = direct ? m + n + (m * n + m + n) * slices
                     : thin ? m * k + n * k + m + n + m * n * slices
                            : (own ? 0 : panelDoubles) + threads * scratch;
    /* 64-byte aligned (a vector of 8 doubles), the size rounded up to that. */
    double *da = aligned_alloc(64, (sizeof(double) * doubles + 63) / 64 * 64);
    size_t *rejected = malloc(sizeof(size_t) * ((tasks > threads ? tasks : threads) + 1));
    if (!da || !rejected) {
        free(da);
        free(rejected);
        return (size_t)-1;
    }
    strict_product p = {out, a, b, lda, ldb, m, n, k, ta, tb, NULL, NULL, NULL, NULL, NULL, gamma, 16, 0, slices, rejected,
                        NULL, NULL, scratch, groups, wide_tiles(), own};
    size_t total = 0;
    if (!thin) {
        if (own) {
            p.scratch_base = da;
            for (size_t w = 0; w < threads; w++) memset(strict_worker_scratch(&p, w).packed, 0, rowPanels);
        } else {
            p.ap = da;
            p.rows = da + rowPanels * SMR * k;
            p.scratch_base = da + panelDoubles;
            npu_parallel_for(rowPanels, threads, strict_pack_rows_task, &p);
        }
        npu_parallel_for(tasks, threads, strict_tile_task, &p);
        for (size_t t = 0; t < tasks; t++) total += rejected[t];
    } else {
        p.da = direct ? NULL : da;
        p.db = direct ? NULL : da + m * k;
        p.rows = direct ? da : p.db + n * k;
        p.cols = p.rows + m;
        p.dc = p.cols + n;
        if (!direct) npu_parallel_for((m + p.chunk - 1) / p.chunk + (n + p.chunk - 1) / p.chunk, threads, strict_pack_task, &p);
        double *dc = p.dc, *rows = p.rows, *cols = p.cols;
        npu_parallel_for(slices, threads, direct ? strict_thin_task : strict_slice_task, &p);
        /* The slices' partial sums add in double: k additions in all still, so γ_k still bounds the error. */
        for (size_t s = 1; s < slices; s++)
            for (size_t e = 0; e < m * n; e++) dc[e] += dc[s * m * n + e];
        if (direct) {
            /* The norms from the slices' squares (any order: within γ_k, as above). */
            const double *squares = dc + slices * m * n;
            for (size_t v = 0; v < m + n; v++) {
                double t = 0;
                for (size_t s = 0; s < slices; s++) t += squares[s * (m + n) + v];
                rows[v] = sqrt(t);  /* rows and cols are adjacent: m then n */
            }
        }
        total = strict_round(out, n, dc, n, rows, cols, m, n, gamma);
    }
    if (total > 0) {
        /* The undecided ones again, by compensated sums, in bands across the threads. */
        p.band = (m + threads - 1) / threads;
        size_t bands = (m + p.band - 1) / p.band;
        npu_parallel_for(bands, threads, strict_refine_task, &p);
        total = 0;
        for (size_t t = 0; t < bands; t++) total += rejected[t];
    }
    free(da);
    free(rejected);
    return total;
}
