/* Random engines and distributions that reproduce MindSpore 2.10's CPU random numbers bit for bit
 * (see Docs/Randomness.md). Engine state lives in caller-owned structs: no globals. */
#ifndef NPU_RNG_H
#define NPU_RNG_H

#include <stddef.h>
#include <stdint.h>

/* ---- Philox4x32-10 ---- */

/* One block: out[4] = Philox4x32-10(counter, key). */
void npu_philox4x32_10(uint32_t out[4], const uint32_t counter[4], const uint32_t key[2]);

/* MindSpore's random::Philox stream: key = (lo, hi) of seed, counter = (0, 0, lo, hi) of seed2;
 * four outputs per block, then a 128-bit counter increment. */
typedef struct {
    uint32_t key[2];
    uint32_t counter[4];
    uint32_t results[4];
    int index; /* next unused result; 4 = block exhausted */
} npu_philox;

void npu_philox_init(npu_philox *g, uint64_t seed, uint64_t seed2);
uint32_t npu_philox_next(npu_philox *g);

/* kernel::random::GetSeed for (seed, seed2) != (0, 0): the Philox scramble with key
 * (0x3EC8F720, 0x02461E29). */
uint64_t npu_get_seed(uint64_t seed, uint64_t seed2);

/* ---- std::mt19937 (also numpy's legacy MT19937 with init_genrand seeding) ---- */

typedef struct {
    uint32_t mt[624];
    int index; /* 624 = regenerate before the next output */
} npu_mt19937;

void npu_mt19937_seed(npu_mt19937 *g, uint32_t seed);
uint32_t npu_mt19937_next(npu_mt19937 *g);
/* out[n]: the next n outputs. */
void npu_mt19937_fill(uint32_t *restrict out, npu_mt19937 *restrict g, size_t n);

/* ---- std::minstd_rand0 (x <- 16807 x mod (2^31 - 1)) ---- */

typedef struct {
    uint64_t x;
} npu_minstd;

/* Seeds as libstdc++ does with a 64-bit seed: x = seed mod (2^31 - 1), 1 if that is 0. */
void npu_minstd_seed(npu_minstd *g, uint64_t seed);
uint32_t npu_minstd_next(npu_minstd *g);

/* ---- MindSpore CPU kernels ---- */

/* out[n]: UniformReal: float(generate_canonical<double,53>(mt19937)). */
void npu_uniform_real_f32(float *restrict out, npu_mt19937 *restrict g, size_t n);

/* out[n]: StandardNormal: normal_distribution<float>(0, 1) over minstd_rand0 (Marsaglia polar,
 * glibc logf/sqrtf); a fresh distribution per call, its spare value dropped at the end. */
void npu_standard_normal_f32(float *restrict out, npu_minstd *restrict g, size_t n);

/* mask[n]: Dropout keep mask: 1 if generate_canonical<float,24>(minstd) < keep_prob, else 0. */
void npu_dropout_mask_f32(float *restrict mask, npu_minstd *restrict g, float keep_prob, size_t n);

/* out[n]: initializer Uniform: float((b - a) * (u32 / 2^32) + a) over MindSpore's Philox. */
void npu_init_uniform_f32(float *restrict out, npu_philox *restrict g, double a, double b, size_t n);

/* out[n]: initializer Normal (Box-Muller in double, cos value first; a spare is dropped at the end). */
void npu_init_normal_f32(float *restrict out, npu_philox *restrict g, double mean, double sigma, size_t n);

#endif
