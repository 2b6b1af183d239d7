/* Umbrella header of the NPUKernels C target (what Swift imports as `NPUKernels`). */
#include "npu_kernels.h"
#include "npu_rng.h"
#include "npu_reduce.h"
#include "npu_conv.h"
#include "npu_elementwise.h"
#include "npu_parallel.h"
#include "npu_gemm.h"
