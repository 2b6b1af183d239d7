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
    int ta, tb;
    const int64_t *bounds;
    const int32_t *orders;
    float *workspace;
    int wide; /* the 6 × 32 micro-tile (AVX-512 hosts) rather than 6 × 16 twice */
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
    product p = {c, a, b, lda, ldb, m, n, k, blocks, norders ? norders : 1, tile ? tile : 1, npu_splitk_gemm_workspace(k, blocks, 1),
                 ta, tb, bounds, orders, workspace, wide_tiles()};
    npu_parallel_for((n + NR - 1) / NR, threads ? threads : 1, panel_task, &p);
}

/* The float every value in [lo, hi] rounds to, in *f, when there is one: the ends are widened by
 * at least a double ulp (for their own rounding; 2^-1022 rather than the least subnormal: as safe,
 * and no slow subnormal operand) and must give the same bits. Returns 0 otherwise. */
static inline __attribute__((always_inline)) int one_float(double lo, double hi, float *f) {
    lo = lo - (fabs(lo) * 0x1p-52 + 0x1p-1022);
    hi = hi + (fabs(hi) * 0x1p-52 + 0x1p-1022);
    float fl = (float)lo, fh = (float)hi;
    uint32_t bl, bh;
    memcpy(&bl, &fl, 4);
    memcpy(&bh, &fh, 4);
    *f = fl;
    return bl == bh;
}

/* The strict product's acceptance test on rows [r0, r1) and columns [c0, c1), vectorised:
 * out[e] = the float every value within γ·rows[i]·cols[j] of c[e] rounds to (`one_float`);
 * otherwise again[e] = 1. A zero row or column (the bound 0) is an exact +0. Returns how many
 * were not accepted. */
NPU_VECTOR static size_t strict_round(float *restrict out, unsigned char *restrict again, const double *restrict c,
                                      const double *restrict rows, const double *restrict cols, size_t r0, size_t r1, size_t c0,
                                      size_t c1, size_t n, double gamma) {
    size_t rejected = 0;
    for (size_t i = r0; i < r1; i++) {
        double scale = gamma * rows[i];
        for (size_t j = c0; j < c1; j++) {
            size_t e = i * n + j;
            double r = c[e], magnitude = rows[i] * cols[j], bound = scale * cols[j];
            float fl;
            int same = one_float(r - bound, r + bound, &fl);
            /* NaN or infinity anywhere makes r, bound or the ends non-finite: not accepted. */
            int finite = (r - r == 0.0) & (bound - bound == 0.0);
            int zero = magnitude == 0.0;
            int ok = zero | (finite & same);
            out[e] = zero ? 0.0f : fl;
            again[e] = (unsigned char)!ok;
            rejected += !ok;
        }
    }
    return rejected;
}

typedef struct {
    float *out;
    unsigned char *again;
    const float *a, *b;
    size_t lda, ldb, m, n, k;
    int ta, tb;
    double *da, *db, *rows, *cols, *dc, gamma;
    size_t chunk;    /* vectors per packing task */
    size_t band;     /* output rows per band task */
    size_t slices;   /* K slices (1: bands) */
    size_t *rejected;
} strict_product;

/* Σ x[p]² over k floats, in double (eight lanes). */
NPU_VECTOR static double sum_squares(const float *x, size_t k) {
    v8d s = 0;
    size_t p = 0;
    for (; p + 8 <= k; p += 8) {
        v8d d = __builtin_convertvector(*(const v8 *)(x + p), v8d);
        s += d * d;
    }
    double t = 0;
    for (; p < k; p++) t += (double)x[p] * x[p];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

/* Vectors [v0, v1) of k floats (vector v at base + v·step, element p at + p·stride) to[v·k + p] in
 * double, and their Euclidean norms. In whatever order the squares add the norm is within γ_k of
 * its value, which the doubled γ of the bound allows for. */
NPU_VECTOR static void pack_vectors(double *restrict to, double *restrict norms, const float *base, size_t step, size_t stride,
                                    size_t v0, size_t v1, size_t k) {
    typedef double v8du __attribute__((ext_vector_type(8), aligned(8)));
    if (stride != 1) {
        /* step == 1: row p of the matrix holds element p of every vector. Eight vectors at a time:
         * a row's eight floats are one load, and the eight vectors being written stay in cache. */
        size_t v = v0;
        for (; v + 8 <= v1; v += 8)
            for (size_t p = 0; p < k; p++) {
                v8d d = __builtin_convertvector(*(const v8 *)(base + p * stride + v), v8d);
                for (int l = 0; l < 8; l++) to[(v + l) * k + p] = d[l];
            }
        for (; v < v1; v++)
            for (size_t p = 0; p < k; p++) to[v * k + p] = (double)base[p * stride + v];
    }
    /* The norms, eight lanes of squares; contiguous vectors are converted in the same pass. */
    for (size_t v = v0; v < v1; v++) {
        double *x = to + v * k;
        const float *f = base + v * step;
        v8d s = 0;
        size_t p = 0;
        if (stride == 1) {
            for (; p + 8 <= k; p += 8) {
                v8d d = __builtin_convertvector(*(const v8 *)(f + p), v8d);
                *(v8du *)(x + p) = d;
                s += d * d;
            }
            for (size_t q = p; q < k; q++) x[q] = (double)f[q];
        } else {
            for (; p + 8 <= k; p += 8) {
                v8d d = *(const v8du *)(x + p);
                s += d * d;
            }
        }
        double t = 0;
        for (; p < k; p++) t += x[p] * x[p];
        norms[v] = sqrt(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t);
    }
}

static void strict_pack_task(void *context, size_t task, size_t worker) {
    (void)worker;
    strict_product *p = context;
    /* Tasks for the rows of op(A) first, then for the columns of op(B). */
    size_t rowTasks = (p->m + p->chunk - 1) / p->chunk;
    if (task < rowTasks) {
        size_t v0 = task * p->chunk, v1 = v0 + p->chunk > p->m ? p->m : v0 + p->chunk;
        pack_vectors(p->da, p->rows, p->a, p->ta ? 1 : p->lda, p->ta ? p->lda : 1, v0, v1, p->k);
    } else {
        size_t v0 = (task - rowTasks) * p->chunk, v1 = v0 + p->chunk > p->n ? p->n : v0 + p->chunk;
        pack_vectors(p->db, p->cols, p->b, p->tb ? p->ldb : 1, p->tb ? 1 : p->ldb, v0, v1, p->k);
    }
}

static void strict_band_task(void *context, size_t task, size_t worker) {
    (void)worker;
    strict_product *p = context;
    size_t r0 = task * p->band, r1 = r0 + p->band > p->m ? p->m : r0 + p->band;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)p->n, (int)p->k, 1, p->da + r0 * p->k, (int)p->k, p->db,
                (int)p->k, 0, p->dc + r0 * p->n, (int)p->n);
    p->rejected[task] = strict_round(p->out, p->again, p->dc, p->rows, p->cols, r0, r1, 0, p->n, p->n, p->gamma);
}

/* A block of `band` output columns: all of op(A) against those columns of op(B). A wide output
 * splits this way, so each call packs its own columns of op(B) and the small op(A), instead of
 * every row band packing all of op(B). */
static void strict_column_task(void *context, size_t task, size_t worker) {
    (void)worker;
    strict_product *p = context;
    size_t c0 = task * p->band, c1 = c0 + p->band > p->n ? p->n : c0 + p->band;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->m, (int)(c1 - c0), (int)p->k, 1, p->da, (int)p->k, p->db + c0 * p->k,
                (int)p->k, 0, p->dc + c0, (int)p->n);
    p->rejected[task] = strict_round(p->out, p->again, p->dc, p->rows, p->cols, 0, p->m, c0, c1, p->n, p->gamma);
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
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->m, (int)p->n, (int)(k1 - k0), 1, p->da + k0, (int)p->k, p->db + k0,
                (int)p->k, 0, c, (int)p->n);
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
    if (!(res - res == 0.0) || !(aa - aa == 0.0) || !one_float(res - bound, res + bound, &fl)) return 0;
    *out = fl;
    return 1;
}

static void strict_refine_task(void *context, size_t task, size_t worker) {
    (void)worker;
    strict_product *p = context;
    size_t r0 = task * p->band, r1 = r0 + p->band > p->m ? p->m : r0 + p->band, left = 0;
    /* The undecided are few: find them with memchr's wide scan, not a test per output. */
    const unsigned char *start = p->again + r0 * p->n, *end = p->again + r1 * p->n;
    for (const unsigned char *at = memchr(start, 1, (size_t)(end - start)); at; at = memchr(at + 1, 1, (size_t)(end - at - 1))) {
        size_t e = (size_t)(at - p->again), i = e / p->n, j = e % p->n;
        const float *x = p->ta ? p->a + i : p->a + i * p->lda, *y = p->tb ? p->b + j * p->ldb : p->b + j;
        if (strict_refine(p->out + e, x, p->ta ? p->lda : 1, y, p->tb ? 1 : p->ldb, p->k)) p->again[e] = 0;
        else left++;
    }
    p->rejected[task] = left;
}

#define THIN_R 4
#define THIN_S 4
#define THIN_CHUNK 1024

/* The thin product's slice `task` (K split in `slices`): dc_slice[i·n + j] = Σ a[i][p]·b[j][p] in
 * double over the slice, and the slice's Σ a[i][p]² and Σ b[j][p]², rows of A and of B read as floats (no double copy: a deep product's
 * operands are large), 4 × 4 outputs at a time, a chunk of K at a time so the rows stay in cache.
 * Any order of additions is within the same γ_k bound. */
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
                        for (int t = 0; t < THIN_S; t++) acc[r][t] += x[r] * y[t];
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

size_t npu_strict_product_f32(float *out, unsigned char *again, const float *a, size_t lda, int ta, const float *b, size_t ldb,
                              int tb, size_t m, size_t n, size_t k, double gamma, size_t threads) {
    if (m == 0 || n == 0) return 0;
    if (threads < 1) threads = 1;
    /* A small output over a deep K (a convolution's filter gradient) with op(A)'s rows and op(B)'s
     * columns contiguous: K slices of the float rows themselves. Otherwise the operands in double
     * and OpenBLAS: row bands when the output has rows enough for every thread, else K slices. */
    int thin = m * n < 4096 && k >= 1024;
    int direct = thin && !ta && tb;
    size_t slices = thin ? threads : 1;
    size_t doubles = direct ? m + n + (m * n + m + n) * slices : m * k + n * k + m + n + m * n * slices;
    double *da = malloc(sizeof(double) * doubles);
    size_t *rejected = malloc(sizeof(size_t) * ((m > n ? m : n) + 1));
    if (!da || !rejected) {
        free(da);
        free(rejected);
        return (size_t)-1;
    }
    double *db = direct ? da : da + m * k, *rows = direct ? da : db + n * k, *cols = rows + m, *dc = cols + n;
    /* Bands of about 64 KiB of double output (in L2 for the test), and at least one per thread. */
    size_t band = 65536 / (8 * n) ? 65536 / (8 * n) : 1;
    if (band * threads > m) band = (m + threads - 1) / threads;
    size_t chunk = 16;
    strict_product p = {out, again, a, b, lda, ldb, m, n, k, ta, tb, direct ? NULL : da, direct ? NULL : db, rows, cols, dc, gamma,
                        chunk, band, slices, rejected};
    if (!direct) npu_parallel_for((m + chunk - 1) / chunk + (n + chunk - 1) / chunk, threads, strict_pack_task, &p);
    size_t total = 0;
    if (!thin) {
        /* Blocks of about 64 KiB of double output either way; a block packs the operand it
         * does not split whole, so split the wider side. */
        size_t blocks;
        if (n > m) {
            size_t width = 65536 / (8 * m) ? 65536 / (8 * m) : 1;
            if (width * threads > n) width = (n + threads - 1) / threads;
            p.band = width;
            blocks = (n + width - 1) / width;
            npu_parallel_for(blocks, threads, strict_column_task, &p);
        } else {
            blocks = (m + band - 1) / band;
            npu_parallel_for(blocks, threads, strict_band_task, &p);
        }
        for (size_t t = 0; t < blocks; t++) total += rejected[t];
    } else {
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
        total = strict_round(out, again, dc, rows, cols, 0, m, 0, n, n, gamma);
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
