/* Memory-bandwidth kernels for `npusim bench membw` (STREAM copy and triad). */
#include "npu_build.h"
#include "npu_kernels.h"

/* dst: [n], src: [n] */
NPU_VECTOR void npu_copy_f32(float *restrict dst, const float *restrict src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}

/* a: [n], b: [n], c: [n] */
NPU_VECTOR void npu_triad_f32(float *restrict a, const float *restrict b, const float *restrict c, float s, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}
