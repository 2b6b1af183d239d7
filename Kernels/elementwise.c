/* Elementwise kernels and fused optimizer updates: one pass over memory, vectorised across
 * elements (each element's arithmetic is independent, so the vector width never changes bits). */
#include "npu_build.h"
#include "npu_elementwise.h"
#include <math.h>

/* One loop per (op, layout of b) with a full a; the rarer layouts of a take the generic loop. */
#define BINARY_LOOPS(EXPR)                                                                          \
    do {                                                                                            \
        size_t n = rows * width;                                                                    \
        if (la == NPU_FULL && lb == NPU_FULL) {                                                     \
            for (size_t i = 0; i < n; i++) { float x = a[i], y = b[i]; out[i] = (EXPR); }           \
        } else if (la == NPU_FULL && lb == NPU_SCALAR) {                                            \
            const float y = b[0];                                                                   \
            for (size_t i = 0; i < n; i++) { float x = a[i]; out[i] = (EXPR); }                     \
        } else if (la == NPU_FULL && lb == NPU_ROW) {                                               \
            for (size_t r = 0; r < rows; r++) {                                                     \
                const float *ar = a + r * width;                                                    \
                float *o = out + r * width;                                                         \
                for (size_t j = 0; j < width; j++) { float x = ar[j], y = b[j]; o[j] = (EXPR); }    \
            }                                                                                       \
        } else {                                                                                    \
            for (size_t r = 0; r < rows; r++)                                                       \
                for (size_t j = 0; j < width; j++) {                                                \
                    size_t i = r * width + j;                                                       \
                    float x = a[la == NPU_FULL ? i : la == NPU_ROW ? j : 0];                        \
                    float y = b[lb == NPU_FULL ? i : lb == NPU_ROW ? j : 0];                        \
                    out[i] = (EXPR);                                                                \
                }                                                                                   \
        }                                                                                           \
    } while (0)

NPU_VECTOR void npu_binary_f32(npu_binary_op op, float *restrict out, const float *restrict a, npu_operand la,
                               const float *restrict b, npu_operand lb, size_t rows, size_t width) {
    switch (op) {
    case NPU_ADD: BINARY_LOOPS(x + y); break;
    case NPU_SUB: BINARY_LOOPS(x - y); break;
    case NPU_MUL: BINARY_LOOPS(x * y); break;
    case NPU_DIV: BINARY_LOOPS(x / y); break;
    case NPU_RELU_GRAD: BINARY_LOOPS(y > 0.0f ? x : 0.0f); break;
    }
}

NPU_VECTOR void npu_relu_f32(float *restrict out, const float *restrict x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

NPU_VECTOR void npu_bias_add_f32(float *restrict out, const float *restrict x, const float *restrict bias, size_t outer,
                                 size_t channels, size_t inner) {
    if (inner == 1) { /* [N, C]: the bias is a row */
        for (size_t o = 0; o < outer; o++)
            for (size_t c = 0; c < channels; c++) out[o * channels + c] = x[o * channels + c] + bias[c];
        return;
    }
    for (size_t o = 0; o < outer; o++)
        for (size_t c = 0; c < channels; c++) {
            const float s = bias[c];
            const float *xs = x + (o * channels + c) * inner;
            float *os = out + (o * channels + c) * inner;
            for (size_t i = 0; i < inner; i++) os[i] = xs[i] + s;
        }
}

NPU_VECTOR void npu_apply_momentum_f32(float *var_out, float *accum_out, const float *var, const float *accum, const float *grad,
                                       float lr, float momentum, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float a = accum[i] * momentum + grad[i];
        accum_out[i] = a;
        var_out[i] = var[i] - lr * a;
    }
}

NPU_VECTOR void npu_adam_f32(float *var_out, float *m_out, float *v_out, const float *var, const float *m, const float *v,
                             const float *grad, float lr_t, float one_minus_beta1, float one_minus_beta2, float epsilon,
                             size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float m1 = m[i] + (g - m[i]) * one_minus_beta1;
        float v1 = v[i] + (g * g - v[i]) * one_minus_beta2;
        m_out[i] = m1;
        v_out[i] = v1;
        var_out[i] = var[i] - (lr_t * m1) / (sqrtf(v1) + epsilon);
    }
}

/* ---- row kernels ---- */

void npu_softmax_f32(float *restrict out, const float *restrict x, size_t outer, size_t extent, size_t inner, int log) {
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *xr = x + o * extent * inner + i;
            float *yr = out + o * extent * inner + i;
            float m = -INFINITY;
            for (size_t r = 0; r < extent; r++) m = xr[r * inner] >= m ? xr[r * inner] : m;
            float s = 0.0f;
            for (size_t r = 0; r < extent; r++) s += expf(xr[r * inner] - m);
            if (log) {
                const float ls = logf(s);
                for (size_t r = 0; r < extent; r++) yr[r * inner] = xr[r * inner] - m - ls;
            } else {
                for (size_t r = 0; r < extent; r++) yr[r * inner] = expf(xr[r * inner] - m) / s;
            }
        }
}

NPU_VECTOR void npu_squared_deviations_f32(float *restrict sq, const float *restrict x, const float *restrict mean, size_t rows,
                                           size_t d) {
    for (size_t r = 0; r < rows; r++) {
        const float m = mean[r];
        for (size_t k = 0; k < d; k++) {
            float v = x[r * d + k] - m;
            sq[r * d + k] = v * v;
        }
    }
}

NPU_VECTOR void npu_layernorm_apply_f32(float *restrict y, const float *restrict x, const float *restrict mean,
                                        const float *restrict variance, const float *restrict gamma, const float *restrict beta,
                                        float epsilon, size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++) {
        const float m = mean[r], rstd = 1.0f / sqrtf(variance[r] + epsilon);
        for (size_t k = 0; k < d; k++) y[r * d + k] = (x[r * d + k] - m) * rstd * gamma[k] + beta[k];
    }
}

NPU_VECTOR void npu_batchnorm_apply_f32(float *restrict y, const float *restrict x, const float *restrict mean,
                                        const float *restrict variance, const float *restrict scale, const float *restrict bias,
                                        float epsilon, size_t n, size_t c, size_t inner) {
    for (size_t b = 0; b < n; b++)
        for (size_t ch = 0; ch < c; ch++) {
            const float m = mean[ch], rstd = 1.0f / sqrtf(variance[ch] + epsilon), g = scale[ch], t = bias[ch];
            const float *xs = x + (b * c + ch) * inner;
            float *ys = y + (b * c + ch) * inner;
            for (size_t i = 0; i < inner; i++) ys[i] = (xs[i] - m) * rstd * g + t;
        }
}

/* ---- conversions ---- */

NPU_VECTOR void npu_f32_to_f16(uint16_t *restrict out, const float *restrict x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        _Float16 h = (_Float16)x[i];
        __builtin_memcpy(&out[i], &h, 2);
    }
}

NPU_VECTOR void npu_f16_to_f32(float *restrict out, const uint16_t *restrict x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        _Float16 h;
        __builtin_memcpy(&h, &x[i], 2);
        out[i] = (float)h;
    }
}
