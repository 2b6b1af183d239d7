/* Convolution and pooling helpers (NCHW, float32). */
#ifndef NPU_CONV_H
#define NPU_CONV_H

#include <stddef.h>

/* Geometry of a 2-D window sweep: input C×H×W, kernel KH×KW, stride, padding (top, left),
 * dilation, output OH×OW. */
typedef struct {
    int c, h, w, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow;
} npu_window;

/* col: [C·KH·KW][cols] with the N images side by side: image n fills columns
 * n·OH·OW … (n+1)·OH·OW − 1. x: [N][C][H][W]. Padding reads as 0. */
void npu_im2col_f32(float *restrict col, const float *restrict x, const npu_window *g, int n);

/* x[N][C][H][W] = Σ of col entries over the windows (the adjoint of im2col); x is overwritten. */
void npu_col2im_f32(float *restrict x, const float *restrict col, const npu_window *g, int n);

/* Max pooling of x: [N·C][H][W] → y: [N·C][OH][OW]; argmax[...] = the winning input offset
 * within its channel plane (first maximum in window order; padding never wins). */
void npu_maxpool_f32(float *restrict y, int *restrict argmax, const float *restrict x, const npu_window *g, int planes);

/* MaxPool's backward: dx[N·C][H][W] (overwritten) = each dy element added to its window's first
 * maximum of x (npu_maxpool_f32's choice), windows in order. scratch: room for planes·OH·OW
 * floats and as many ints. */
void npu_maxpool_grad_f32(float *restrict dx, const float *restrict x, const float *restrict dy, const npu_window *g, int planes,
                          void *scratch);

/* Average pooling over the valid (non-padding) elements of each window. */
void npu_avgpool_f32(float *restrict y, const float *restrict x, const npu_window *g, int planes);

/* dx[N·C][H][W] (overwritten) from dy: each dy element divided over its window's valid elements. */
void npu_avgpool_grad_f32(float *restrict dx, const float *restrict dy, const npu_window *g, int planes);

/* dst[b][a][p] = src[a][b][p]: swaps the two outer axes of an [A][B][P] array (P contiguous). */
void npu_swap_outer_f32(float *restrict dst, const float *restrict src, size_t a, size_t b, size_t p);

#endif
