/* Strided-to-contiguous copy (views made contiguous: transposes, broadcasts). */
#include "npu_build.h"
#include "npu_kernels.h"

#include <string.h>

/* dst: [Π shape] contiguous; src: strided view */
NPU_VECTOR void npu_strided_copy(void *restrict dst, const void *restrict src, size_t elem_size, int rank, const long *shape, const long *strides) {
    size_t total = 1;
    for (int d = 0; d < rank; d++) total *= (size_t)shape[d];
    if (total == 0) return;
    if (rank == 0) {
        memcpy(dst, src, elem_size);
        return;
    }
    long index[16] = {0};
    const long inner = shape[rank - 1], step = strides[rank - 1];
    const char *base = (const char *)src;
    char *out = (char *)dst;
    for (size_t done = 0; done < total; done += (size_t)inner) {
        long offset = 0;
        for (int d = 0; d < rank - 1; d++) offset += index[d] * strides[d];
        const char *row = base + offset * (long)elem_size;
        if (step == 1) {
            memcpy(out, row, (size_t)inner * elem_size);
        } else {
            switch (elem_size) {
            case 4:
                for (long k = 0; k < inner; k++) ((float *)(void *)out)[k] = *(const float *)(const void *)(row + k * step * 4);
                break;
            case 8:
                for (long k = 0; k < inner; k++) ((double *)(void *)out)[k] = *(const double *)(const void *)(row + k * step * 8);
                break;
            case 2:
                for (long k = 0; k < inner; k++) ((unsigned short *)(void *)out)[k] = *(const unsigned short *)(const void *)(row + k * step * 2);
                break;
            default:
                for (long k = 0; k < inner; k++) out[k] = row[k * step];
            }
        }
        out += (size_t)inner * elem_size;
        for (int d = rank - 2; d >= 0; d--) {  /* odometer over the outer dimensions */
            if (++index[d] < shape[d]) break;
            index[d] = 0;
        }
    }
}
