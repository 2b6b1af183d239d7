/* Elementwise kernels and MindSpore's fused optimizer updates. Each output element is computed
 * with exactly the float32 operations written in its comment, in that order, each rounded (no
 * fused multiply-add): the same bits as the chain of single ops it replaces. */
#ifndef NPU_ELEMENTWISE_H
#define NPU_ELEMENTWISE_H

#include <stddef.h>

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

#endif
