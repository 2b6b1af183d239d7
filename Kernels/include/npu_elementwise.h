/* Elementwise kernels and MindSpore's fused optimizer updates. Each output element is computed
 * with exactly the float32 operations written in its comment, in that order, each rounded (no
 * fused multiply-add): the same bits as the chain of single ops it replaces. */
#ifndef NPU_ELEMENTWISE_H
#define NPU_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

/* The binary ops with a C kernel. */
typedef enum {
    NPU_ADD = 0,      /* a + b */
    NPU_SUB = 1,      /* a − b */
    NPU_MUL = 2,      /* a · b */
    NPU_DIV = 3,      /* a / b */
    NPU_RELU_GRAD = 4 /* b > 0 ? a : 0 (a = dy, b = y) */
} npu_binary_op;

/* How an operand is laid out against the output [rows][width]. */
typedef enum {
    NPU_FULL = 0,   /* one value per output element */
    NPU_SCALAR = 1, /* one value for all */
    NPU_ROW = 2     /* [width], repeated for every row */
} npu_operand;

/* out[r][j] = op(a, b) for r < rows, j < width. */
void npu_binary_f32(npu_binary_op op, float *restrict out, const float *restrict a, npu_operand la, const float *restrict b,
                    npu_operand lb, size_t rows, size_t width);

/* out[i] = x[i] > 0 ? x[i] : 0 (a NaN gives 0). */
void npu_relu_f32(float *restrict out, const float *restrict x, size_t n);

/* out[o][c][i] = x[o][c][i] + bias[c]: x [outer][channels][inner]. */
void npu_bias_add_f32(float *restrict out, const float *restrict x, const float *restrict bias, size_t outer, size_t channels,
                      size_t inner);

/* MindSpore's ApplyMomentum (no Nesterov): accum' = accum·momentum + grad; var' = var − lr·accum'.
 * Outputs may be the inputs themselves (an in-place update). */
void npu_apply_momentum_f32(float *var_out, float *accum_out, const float *var, const float *accum, const float *grad,
                            float lr, float momentum, size_t n);

/* MindSpore's Adam: lr_t = lr·(√(1 − β2ᵗ) / (1 − β1ᵗ)) (computed by the caller);
 * m' = m + (g − m)·(1 − β1); v' = v + (g·g − v)·(1 − β2); var' = var − (lr_t·m') / (√v' + ε).
 * Outputs may be the inputs themselves. */
void npu_adam_f32(float *var_out, float *m_out, float *v_out, const float *var, const float *m, const float *v,
                  const float *grad, float lr_t, float one_minus_beta1, float one_minus_beta2, float epsilon, size_t n);

/* ---- row kernels: each row in one fixed order ---- */

/* Softmax (log_softmax when `log`) of x [outer][extent][inner] along the middle axis: per row
 * m = max (a NaN never wins: m = v >= m ? v : m from −inf), s = Σ expf(x − m) in order, then
 * out = expf(x − m) / s, or out = (x − m) − logf(s). */
void npu_softmax_f32(float *restrict out, const float *restrict x, size_t outer, size_t extent, size_t inner, int log);

/* sq[r][k] = (x[r][k] − mean[r])², x [rows][d]. */
void npu_squared_deviations_f32(float *restrict sq, const float *restrict x, const float *restrict mean, size_t rows, size_t d);

/* LayerNorm's output: y[r][k] = ((x[r][k] − mean[r]) · rstd) · gamma[k] + beta[k] with
 * rstd = 1 / √(variance[r] + ε). */
void npu_layernorm_apply_f32(float *restrict y, const float *restrict x, const float *restrict mean, const float *restrict variance,
                             const float *restrict gamma, const float *restrict beta, float epsilon, size_t rows, size_t d);

/* BatchNorm's output over x [n][c][inner]: y = ((x − mean[c]) · rstd) · scale[c] + bias[c] with
 * rstd = 1 / √(variance[c] + ε). */
void npu_batchnorm_apply_f32(float *restrict y, const float *restrict x, const float *restrict mean, const float *restrict variance,
                             const float *restrict scale, const float *restrict bias, float epsilon, size_t n, size_t c,
                             size_t inner);

/* ---- conversions ---- */

/* out[i] = x[i] rounded to float16 (nearest, ties to even), as IEEE binary16 bits. */
void npu_f32_to_f16(uint16_t *restrict out, const float *restrict x, size_t n);

/* out[i] = the float16 x[i] (bits) widened to float32, exactly. */
void npu_f16_to_f32(float *restrict out, const uint16_t *restrict x, size_t n);

#endif
