/* Debian's OpenBLAS 0.3.21 does not recognise recent CPUs and falls back to older kernels
 * (Haswell or even Prescott on AVX-512 machines: 2–7× slower sgemm). It picks its kernels in a
 * library constructor, before main, from OPENBLAS_CORETYPE; setting the variable later is too
 * late. So at start-up (this constructor runs after OpenBLAS's, as we depend on it) we compare
 * the kernels OpenBLAS chose with what the CPU supports and, only when the CPU can do better,
 * re-execute the same program once with OPENBLAS_CORETYPE set. This also upgrades an inherited
 * OPENBLAS_CORETYPE that is weaker than the CPU (machine images set one for older CPUs); it never
 * downgrades. NPUSIM_NO_OPENBLAS_TUNE=1 keeps OpenBLAS's choice exactly. */
#define _GNU_SOURCE
#include "npu_build.h"
#include "npu_kernels.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPU_TUNED_ENV "NPUSIM_OPENBLAS_TUNED"

/* Rank of an OpenBLAS core name: 3 AVX-512 kernels, 2 AVX2/FMA kernels, 1 anything older. */
static int core_rank(const char *name) {
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const avx2[] = {"Haswell", "Zen", "Excavator"};
    if (name == NULL) return 0;
    for (size_t i = 0; i < sizeof avx512 / sizeof avx512[0]; i++)
        if (strcasecmp(name, avx512[i]) == 0) return 3;
    for (size_t i = 0; i < sizeof avx2 / sizeof avx2[0]; i++)
        if (strcasecmp(name, avx2[i]) == 0) return 2;
    return 1;
}

static const char *best_supported(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

const char *npu_openblas_wanted_coretype(void) {
    const char *best = best_supported();
    if (best == NULL) return NULL;
    return core_rank(best) > core_rank(openblas_get_corename()) ? best : NULL;
}

int npu_openblas_avx512_kernels(void) { return core_rank(openblas_get_corename()) == 3; }

int npu_cpu_supports_avx512_kernels(void) { return core_rank(best_supported()) == 3; }

int npu_openblas_was_tuned(void) {
    const char *v = getenv(NPU_TUNED_ENV);
    return v != NULL && strcmp(v, "1") == 0;
}

__attribute__((constructor)) static void npu_openblas_tune(int argc, char **argv, char **envp) {
    (void)argc;
    (void)envp;
    if (getenv(NPU_TUNED_ENV) != NULL) return;
    const char *nt = getenv("NPUSIM_NO_OPENBLAS_TUNE");
    if (nt != NULL && strcmp(nt, "1") == 0) return;
    if (argv == NULL || argv[0] == NULL) return;
    const char *want = npu_openblas_wanted_coretype();
    if (want == NULL) return;
    const char *inherited = getenv("OPENBLAS_CORETYPE");
    char saved[64] = {0};
    if (inherited != NULL) strncpy(saved, inherited, sizeof saved - 1);
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv(NPU_TUNED_ENV, "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): go on with OpenBLAS's own choice; restore the environment. */
    if (inherited != NULL) setenv("OPENBLAS_CORETYPE", saved, 1); else unsetenv("OPENBLAS_CORETYPE");
    unsetenv(NPU_TUNED_ENV);
}

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

const char *npu_libc_version(void) {
#if defined(__GLIBC__)
    return gnu_get_libc_version();
#else
    return "unknown";
#endif
}
