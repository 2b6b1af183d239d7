/* im2col / col2im and pooling. Loops in a fixed order; no allocation. */
#include "npu_build.h"
#include "npu_conv.h"
#include "npu_parallel.h"

#include <string.h>

typedef float v16f __attribute__((ext_vector_type(16), aligned(4)));
typedef float v8f __attribute__((ext_vector_type(8), aligned(4)));

/* dst[0 ..< w] = src[0 ..< w]. Rows of a small image are short (24 floats for LeNet): vector moves
 * in line, where a loop would become a call to memcpy per row or leave a short row to a scalar
 * remainder. */
static inline __attribute__((always_inline)) void copy_row(float *restrict dst, const float *restrict src, int w) {
    int j = 0;
    for (; j + 16 <= w; j += 16) *(v16f *)(dst + j) = *(const v16f *)(src + j);
    if (j + 8 <= w) {
        *(v8f *)(dst + j) = *(const v8f *)(src + j);
        j += 8;
    }
    for (; j < w; j++) dst[j] = src[j];
}

/* Rows [r0, r1) of col: [C·KH·KW][n·OH·OW], x: [n][C][H][W] */
NPU_VECTOR static void im2col_rows(float *restrict col, const float *restrict x, const npu_window *g, int n,
                              int r0, int r1) {
    /* The geometry in locals: the stores to col cannot then force reloads of it. */
    const int C = g->c, H = g->h, W = g->w, KH = g->kh, KW = g->kw, SH = g->sh, SW = g->sw;
    const int PT = g->pt, PL = g->pl, DH = g->dh, DW = g->dw, OH = g->oh, OW = g->ow;
    const size_t plane = (size_t)OH * OW, cols = (size_t)n * plane;
    for (int r = r0; r < r1; r++) {
        const int c = r / (KH * KW), ki = (r / KW) % KH, kj = r % KW;
                float *row = col + (size_t)r * cols;
                /* Output columns whose input column is inside the image: oj in [lo, hi). */
                const int off = kj * DW - PL;
                int lo = 0, hi = OW;
                while (lo < OW && lo * SW + off < 0) lo++;
                while (hi > lo && (hi - 1) * SW + off >= W) hi--;
                /* Every window row inside the image (valid padding, or the interior): no checks. */
                const int first_ii = -PT + ki * DH, last_ii = (OH - 1) * SH - PT + ki * DH;
                if (lo == 0 && hi == OW && first_ii >= 0 && last_ii < H) {
                    for (int img = 0; img < n; img++) {
                        const float *src = x + ((size_t)img * C + c) * H * W + (size_t)first_ii * W + off;
                        float *dst = row + (size_t)img * plane;
                        for (int oi = 0; oi < OH; oi++, dst += OW, src += (size_t)SH * W) {
                            if (SW == 1) {
                                copy_row(dst, src, OW);
                            } else {
                                for (int oj = 0; oj < OW; oj++) dst[oj] = src[oj * SW];
                            }
                        }
                    }
                    continue;
                }
                for (int img = 0; img < n; img++) {
                    const float *src = x + ((size_t)img * C + c) * H * W;
                    float *dst = row + (size_t)img * plane;
                    for (int oi = 0; oi < OH; oi++) {
                        const int ii = oi * SH - PT + ki * DH;
                        float *out = dst + (size_t)oi * OW;
                        if (ii < 0 || ii >= H) {
                            for (int oj = 0; oj < OW; oj++) out[oj] = 0.0f;
                            continue;
                        }
                        const float *in = src + (size_t)ii * W + off;
                        for (int oj = 0; oj < lo; oj++) out[oj] = 0.0f;
                        if (SW == 1) {
                            copy_row(out + lo, in + lo, hi - lo);
                        } else {
                            for (int oj = lo; oj < hi; oj++) out[oj] = in[oj * SW];
                        }
                        for (int oj = hi; oj < OW; oj++) out[oj] = 0.0f;
                    }
                }
            }
}

typedef struct {
    float *col;
    const float *x;
    const npu_window *g;
    int n, rows, per;
} im2col_job;

static void im2col_task(void *context, size_t task, size_t worker) {
    (void)worker;
    const im2col_job *j = context;
    int r0 = (int)task * j->per, r1 = r0 + j->per < j->rows ? r0 + j->per : j->rows;
    im2col_rows(j->col, j->x, j->g, j->n, r0, r1);
}

/* A large im2col (a whole batch's columns, megabytes) is written by every thread, a band of rows
 * each: it is bound by the stores, and one core cannot issue them fast enough. */
void npu_im2col_f32(float *restrict col, const float *restrict x, const npu_window *g, int n) {
    int rows = g->c * g->kh * g->kw;
    size_t size = (size_t)rows * n * g->oh * g->ow, threads = npu_parallel_threads();
    if (size < (1 << 17) || threads < 2 || rows < 2) {
        im2col_rows(col, x, g, n, 0, rows);
        return;
    }
    int tasks = rows < 4 * (int)threads ? rows : 4 * (int)threads;
    im2col_job job = {col, x, g, n, rows, (rows + tasks - 1) / tasks};
    npu_parallel_for((size_t)(rows + job.per - 1) / job.per, threads, im2col_task, &job);
}

/* x: [n][C][H][W], col: [C·KH·KW][n·OH·OW]. Each x element adds its col entries in the loops'
 * order (c, ki, kj, image, oi, oj); a row's in-image span [lo, hi) is found once, not per element. */
NPU_VECTOR void npu_col2im_f32(float *restrict x, const float *restrict col, const npu_window *g, int n) {
    const int C = g->c, H = g->h, W = g->w, KH = g->kh, KW = g->kw, SH = g->sh, SW = g->sw;
    const int PT = g->pt, PL = g->pl, DH = g->dh, DW = g->dw, OH = g->oh, OW = g->ow;
    const size_t plane = (size_t)OH * OW, cols = (size_t)n * plane;
    for (size_t i = 0; i < (size_t)n * C * H * W; i++) x[i] = 0.0f;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < KH; ki++)
            for (int kj = 0; kj < KW; kj++) {
                const float *row = col + ((size_t)(c * KH + ki) * KW + kj) * cols;
                const int off = kj * DW - PL;
                int lo = 0, hi = OW;
                while (lo < OW && lo * SW + off < 0) lo++;
                while (hi > lo && (hi - 1) * SW + off >= W) hi--;
                for (int img = 0; img < n; img++) {
                    float *dst = x + ((size_t)img * C + c) * H * W;
                    const float *src = row + (size_t)img * plane;
                    for (int oi = 0; oi < OH; oi++) {
                        const int ii = oi * SH - PT + ki * DH;
                        if (ii < 0 || ii >= H) continue;
                        float *out = dst + (size_t)ii * W + off;
                        const float *in = src + (size_t)oi * OW;
                        if (SW == 1) {
                            for (int oj = lo; oj < hi; oj++) out[oj] += in[oj];
                        } else {
                            for (int oj = lo; oj < hi; oj++) out[oj * SW] += in[oj];
                        }
                    }
                }
            }
}

/* The taps k in [*lo, *hi) of a window (output position o, stride s, padding pad, dilation d, k
 * taps) that land inside an input of n: the window clipped to the input, so a huge kernel costs
 * the input's size, not the kernel's. Taps keep their order. */
static inline void npu_tap_range(int o, int s, int pad, int d, int k, int n, int *lo, int *hi) {
    long long start = (long long)o * s - pad; /* where tap 0 lands */
    long long first = start >= 0 ? 0 : (-start + d - 1) / d;
    long long end = start > (long long)n - 1 ? 0 : ((long long)n - 1 - start) / d + 1;
    if (first > k) first = k;
    if (end > k) end = k;
    if (end < first) end = first;
    *lo = (int)first;
    *hi = (int)end;
}

/* y: [planes][OH][OW], argmax: same, x: [planes][H][W]. The first of equal maxima wins; a NaN
 * in the window is kept once it is the maximum so far (nothing compares greater than it). */
NPU_VECTOR void npu_maxpool_f32(float *restrict y, int *restrict argmax, const float *restrict x, const npu_window *g, int planes) {
    /* The geometry in locals: argmax stores could otherwise alias g's fields and force reloads. */
    const int H = g->h, W = g->w, KH = g->kh, KW = g->kw, SH = g->sh, SW = g->sw;
    const int PT = g->pt, PL = g->pl, DH = g->dh, DW = g->dw, OH = g->oh, OW = g->ow;
    if (KH == 2 && KW == 2 && SH == 2 && SW == 2 && PT == 0 && PL == 0 && DH == 1 && DW == 1 && 2 * OH <= H && 2 * OW <= W) {
        /* The common 2×2/2 window, every tap inside the plane: the same comparisons, unrolled. */
        for (int p = 0; p < planes; p++) {
            const float *src = x + (size_t)p * H * W;
            float *yp = y + (size_t)p * OH * OW;
            int *ap = argmax + (size_t)p * OH * OW;
            for (int oi = 0; oi < OH; oi++) {
                const float *r0 = src + (size_t)(2 * oi) * W, *r1 = r0 + W;
                for (int oj = 0; oj < OW; oj++) {
                    int base = 2 * oi * W + 2 * oj;
                    float best = r0[2 * oj];
                    int at = base;
                    if (r0[2 * oj + 1] > best) { best = r0[2 * oj + 1]; at = base + 1; }
                    if (r1[2 * oj] > best) { best = r1[2 * oj]; at = base + W; }
                    if (r1[2 * oj + 1] > best) { best = r1[2 * oj + 1]; at = base + W + 1; }
                    yp[oi * OW + oj] = best;
                    ap[oi * OW + oj] = at;
                }
            }
        }
        return;
    }
    for (int p = 0; p < planes; p++) {
        const float *src = x + (size_t)p * H * W;
        for (int oi = 0; oi < OH; oi++)
            for (int oj = 0; oj < OW; oj++) {
                float best = 0.0f;
                int at = -1, k0, k1, l0, l1;
                npu_tap_range(oi, SH, PT, DH, KH, H, &k0, &k1);
                npu_tap_range(oj, SW, PL, DW, KW, W, &l0, &l1);
                for (int ki = k0; ki < k1; ki++) {
                    int ii = oi * SH - PT + ki * DH;
                    for (int kj = l0; kj < l1; kj++) {
                        int jj = oj * SW - PL + kj * DW;
                        float v = src[ii * W + jj];
                        if (at < 0 || v > best) {
                            best = v;
                            at = ii * W + jj;
                        }
                    }
                }
                size_t o = ((size_t)p * OH + oi) * OW + oj;
                y[o] = best;
                argmax[o] = at;
            }
    }
}

void npu_maxpool_grad_f32(float *restrict dx, const float *restrict x, const float *restrict dy, const npu_window *g, int planes,
                          void *scratch) {
    size_t outs = (size_t)planes * g->oh * g->ow, plane = (size_t)g->h * g->w, outPlane = (size_t)g->oh * g->ow;
    float *y = scratch;
    int *argmax = (int *)(y + outs);
    npu_maxpool_f32(y, argmax, x, g, planes);
    memset(dx, 0, sizeof(float) * plane * (size_t)planes);
    for (size_t p = 0; p < (size_t)planes; p++)
        for (size_t o = 0; o < outPlane; o++) {
            int at = argmax[p * outPlane + o];
            if (at >= 0) dx[p * plane + (size_t)at] += dy[p * outPlane + o];
        }
}

/* y: [planes][OH][OW], x: [planes][H][W] */
NPU_VECTOR void npu_avgpool_f32(float *restrict y, const float *restrict x, const npu_window *g, int planes) {
    for (int p = 0; p < planes; p++) {
        const float *src = x + (size_t)p * g->h * g->w;
        for (int oi = 0; oi < g->oh; oi++)
            for (int oj = 0; oj < g->ow; oj++) {
                float s = 0.0f;
                int count = 0, k0, k1, l0, l1;
                npu_tap_range(oi, g->sh, g->pt, g->dh, g->kh, g->h, &k0, &k1);
                npu_tap_range(oj, g->sw, g->pl, g->dw, g->kw, g->w, &l0, &l1);
                for (int ki = k0; ki < k1; ki++) {
                    int ii = oi * g->sh - g->pt + ki * g->dh;
                    for (int kj = l0; kj < l1; kj++) {
                        int jj = oj * g->sw - g->pl + kj * g->dw;
                        s += src[ii * g->w + jj];
                        count++;
                    }
                }
                y[((size_t)p * g->oh + oi) * g->ow + oj] = count ? s / (float)count : 0.0f;
            }
    }
}

/* dx: [planes][H][W], dy: [planes][OH][OW] */
NPU_VECTOR void npu_avgpool_grad_f32(float *restrict dx, const float *restrict dy, const npu_window *g, int planes) {
    for (size_t i = 0; i < (size_t)planes * g->h * g->w; i++) dx[i] = 0.0f;
    for (int p = 0; p < planes; p++) {
        float *dst = dx + (size_t)p * g->h * g->w;
        for (int oi = 0; oi < g->oh; oi++)
            for (int oj = 0; oj < g->ow; oj++) {
                int k0, k1, l0, l1;
                npu_tap_range(oi, g->sh, g->pt, g->dh, g->kh, g->h, &k0, &k1);
                npu_tap_range(oj, g->sw, g->pl, g->dw, g->kw, g->w, &l0, &l1);
                int count = (k1 - k0) * (l1 - l0);
                if (!count) continue;
                float share = dy[((size_t)p * g->oh + oi) * g->ow + oj] / (float)count;
                for (int ki = k0; ki < k1; ki++) {
                    int ii = oi * g->sh - g->pt + ki * g->dh;
                    for (int kj = l0; kj < l1; kj++) {
                        int jj = oj * g->sw - g->pl + kj * g->dw;
                        dst[ii * g->w + jj] += share;
                    }
                }
            }
    }
}

/* dst: [b][a][p], src: [a][b][p] */
NPU_VECTOR void npu_swap_outer_f32(float *restrict dst, const float *restrict src, size_t a, size_t b, size_t p) {
    for (size_t i = 0; i < a; i++)
        for (size_t j = 0; j < b; j++) {
            const float *from = src + (i * b + j) * p;
            float *to = dst + (j * a + i) * p;
            size_t k = 0;
            for (; k + 16 <= p; k += 16) *(v16f *)(to + k) = *(const v16f *)(from + k);
            for (; k < p; k++) to[k] = from[k];
        }
}
