/* Build rules every kernel file includes first, so the package needs no compiler flags (and no
 * unsafeFlags: it can be a versioned dependency).
 *
 * Bits: no fused multiply-add is formed from a separate multiply and add (clang's default for C
 * contracts within an expression), and there is no fast-math. Every kernel writes out its own
 * order of floating-point operations, so its result does not depend on the vector width below.
 *
 * Speed: hot loops are compiled three times (x86-64-v4 = AVX-512, v3 = AVX2, and baseline SSE2)
 * and the dynamic loader picks the best one the CPU supports (an ifunc), so a binary built on one
 * x86-64 machine runs at full speed on another. Elsewhere NPU_VECTOR is empty. */
#ifndef NPU_BUILD_H
#define NPU_BUILD_H

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define NPU_VECTOR __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#endif
#ifndef NPU_VECTOR
#define NPU_VECTOR
#endif

#endif
