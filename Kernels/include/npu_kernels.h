/* NPUSim C kernels: plain C, outputs first, no allocation, no globals, no printing.
 * Built without contraction or fast-math (npu_build.h): every kernel fixes its own order of
 * floating-point operations, so results do not depend on the compiler's vector width. */
#ifndef NPU_KERNELS_H
#define NPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- OpenBLAS kernel selection (openblas_tune.c) ---- */

/* The OpenBLAS core type this CPU supports best ("SkylakeX", "Haswell"), or NULL when OpenBLAS's
 * own choice cannot be improved (or the CPU is not x86-64). */
const char *npu_openblas_wanted_coretype(void);

/* 1 if the process was re-executed at start-up with OPENBLAS_CORETYPE set by NPUSim. */
int npu_openblas_was_tuned(void);

/* 1 if OpenBLAS runs one of its AVX-512 kernel families (SkylakeX, Cooperlake, SapphireRapids). */
int npu_openblas_avx512_kernels(void);

/* 1 if the CPU supports OpenBLAS's AVX-512 kernels (and so its AVX2 ones too), whatever OpenBLAS
 * chose. */
int npu_cpu_supports_avx512_kernels(void);

/* The version of the C library (glibc's "2.36"), for the numerics fingerprint. */
const char *npu_libc_version(void);

/* ---- memory bandwidth (membw.c) ---- */

/* dst[i] = src[i], n floats. */
void npu_copy_f32(float *restrict dst, const float *restrict src, size_t n);

/* a[i] = b[i] + s * c[i], n floats (STREAM triad; multiply then add, no fused multiply-add). */
void npu_triad_f32(float *restrict a, const float *restrict b, const float *restrict c, float s, size_t n);

/* ---- layout (copy.c) ---- */

/* dst (contiguous, row-major) = the elements of a strided view: src + Σ index[d]·strides[d]
 * (strides in elements, may be 0 or negative), element size 1, 2, 4 or 8 bytes, rank ≤ 16. */
void npu_strided_copy(void *restrict dst, const void *restrict src, size_t elem_size, int rank, const long *shape, const long *strides);

#endif
