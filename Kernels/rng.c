/* Random engines and MindSpore CPU random kernels. The arithmetic order in every function is
 * part of the contract (bit-for-bit parity with MindSpore 2.10 CPU); npu_build.h keeps the
 * compiler from fusing multiply-adds. */
#include "npu_build.h"
#include "npu_philox.h"
#include "npu_rng.h"

#include <math.h>

/* ---- Philox4x32-10 ---- */

void npu_philox4x32_10(uint32_t out[4], const uint32_t counter[4], const uint32_t key[2]) {
    uint32_t c[4] = {counter[0], counter[1], counter[2], counter[3]};
    npu_philox_rounds(c, key[0], key[1]);
    for (int i = 0; i < 4; i++) out[i] = c[i];
}

void npu_philox_init(npu_philox *g, uint64_t seed, uint64_t seed2) {
    g->key[0] = (uint32_t)seed;
    g->key[1] = (uint32_t)(seed >> 32);
    g->counter[0] = 0;
    g->counter[1] = 0;
    g->counter[2] = (uint32_t)seed2;
    g->counter[3] = (uint32_t)(seed2 >> 32);
    g->index = 4;
}

uint32_t npu_philox_next(npu_philox *g) {
    if (g->index == 4) {
        npu_philox4x32_10(g->results, g->counter, g->key);
        for (int i = 0; i < 4; i++)
            if (++g->counter[i] != 0) break; /* 128-bit increment */
        g->index = 0;
    }
    return g->results[g->index++];
}

uint64_t npu_get_seed(uint64_t seed, uint64_t seed2) {
    const uint32_t key[2] = {0x3EC8F720u, 0x02461E29u};
    const uint32_t counter[4] = {(uint32_t)seed, (uint32_t)(seed >> 32), (uint32_t)seed2, (uint32_t)(seed2 >> 32)};
    uint32_t r[4];
    npu_philox4x32_10(r, counter, key);
    return ((uint64_t)r[1] << 32) | r[0];
}

/* ---- mt19937 ---- */

void npu_mt19937_seed(npu_mt19937 *g, uint32_t seed) {
    g->mt[0] = seed;
    for (uint32_t i = 1; i < 624; i++) g->mt[i] = 1812433253u * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + i;
    g->index = 624;
}

static void mt_twist(npu_mt19937 *g) {
    uint32_t *mt = g->mt;
    int i = 0;
    /* Split at the wrap-arounds so each loop is straight-line and vectorisable. */
    for (; i < 624 - 397; i++) {
        uint32_t y = (mt[i] & 0x80000000u) | (mt[i + 1] & 0x7FFFFFFFu);
        mt[i] = mt[i + 397] ^ (y >> 1) ^ ((0u - (y & 1u)) & 0x9908B0DFu);
    }
    for (; i < 623; i++) {
        uint32_t y = (mt[i] & 0x80000000u) | (mt[i + 1] & 0x7FFFFFFFu);
        mt[i] = mt[i + 397 - 624] ^ (y >> 1) ^ ((0u - (y & 1u)) & 0x9908B0DFu);
    }
    uint32_t y = (mt[623] & 0x80000000u) | (mt[0] & 0x7FFFFFFFu);
    mt[623] = mt[396] ^ (y >> 1) ^ ((0u - (y & 1u)) & 0x9908B0DFu);
    g->index = 0;
}

static inline uint32_t mt_temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    y ^= y >> 18;
    return y;
}

uint32_t npu_mt19937_next(npu_mt19937 *g) {
    if (g->index >= 624) mt_twist(g);
    return mt_temper(g->mt[g->index++]);
}

void npu_mt19937_fill(uint32_t *restrict out, npu_mt19937 *restrict g, size_t n) {
    size_t done = 0;
    while (done < n) {
        if (g->index >= 624) mt_twist(g);
        size_t take = (size_t)(624 - g->index);
        if (take > n - done) take = n - done;
        const uint32_t *src = g->mt + g->index;
        for (size_t i = 0; i < take; i++) out[done + i] = mt_temper(src[i]);
        g->index += (int)take;
        done += take;
    }
}

/* ---- minstd_rand0 ---- */

#define MINSTD_M 2147483647u

void npu_minstd_seed(npu_minstd *g, uint64_t seed) {
    uint64_t s = seed % MINSTD_M;
    g->x = s == 0 ? 1 : s;
}

uint32_t npu_minstd_next(npu_minstd *g) {
    g->x = (g->x * 16807u) % MINSTD_M;
    return (uint32_t)g->x;
}

/* generate_canonical<float,24> over minstd_rand0 (one draw: range 2^31-2 gives 30 bits). */
static inline float minstd_canonical_float(npu_minstd *g) {
    float s = (float)(npu_minstd_next(g) - 1u);
    float r = s / 2147483648.0f; /* float(2^31 - 2) rounds to 2^31 */
    return r >= 1.0f ? 0.99999994f : r;
}

/* ---- kernels ---- */

/* out: [n] */
void npu_uniform_real_f32(float *restrict out, npu_mt19937 *restrict g, size_t n) {
    const double below_one = 0x1.fffffffffffffp-1; /* nextafter(1.0, 0.0) */
    uint32_t buf[1248];
    size_t done = 0;
    while (done < n) {
        size_t take = n - done < 624 ? n - done : 624;
        npu_mt19937_fill(buf, g, 2 * take);
        for (size_t i = 0; i < take; i++) {
            /* generate_canonical<double,53>: two 32-bit draws, low first, summed in double;
             * dividing by 2^64 is exact, so multiplying by 2^-64 gives the same bits. */
            double s = (double)buf[2 * i] + (double)buf[2 * i + 1] * 4294967296.0;
            double u = s * 0x1p-64;
            u = u >= 1.0 ? below_one : u;
            out[done + i] = (float)u;
        }
        done += take;
    }
}

/* out: [n] */
void npu_standard_normal_f32(float *restrict out, npu_minstd *restrict g, size_t n) {
    size_t i = 0;
    while (i < n) {
        float x, y, r2;
        do {
            x = (float)((double)(2.0f * minstd_canonical_float(g)) - 1.0);
            y = (float)((double)(2.0f * minstd_canonical_float(g)) - 1.0);
            float xx = x * x, yy = y * y;
            r2 = xx + yy;
        } while (r2 > 1.0f || r2 == 0.0f);
        float mult = sqrtf((-2.0f * logf(r2)) / r2);
        out[i++] = (y * mult) * 1.0f + 0.0f;
        if (i < n) out[i++] = (x * mult) * 1.0f + 0.0f;
    }
}

/* mask: [n] */
void npu_dropout_mask_f32(float *restrict mask, npu_minstd *restrict g, float keep_prob, size_t n) {
    for (size_t i = 0; i < n; i++) mask[i] = minstd_canonical_float(g) < keep_prob ? 1.0f : 0.0f;
}

/* out: [n] */
void npu_init_uniform_f32(float *restrict out, npu_philox *restrict g, double a, double b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double s = (double)npu_philox_next(g) / 4294967296.0;
        out[i] = (float)((b - a) * s + a);
    }
}

/* NormalDistribution::to_float: mantissa bits under exponent 127, minus 1.0f. */
static inline float philox_float01(uint32_t u) {
    union {
        uint32_t i;
        float f;
    } v = {.i = (u & 0x7FFFFFu) | (127u << 23)};
    return v.f - 1.0f;
}

/* out: [n] */
void npu_init_normal_f32(float *restrict out, npu_philox *restrict g, double mean, double sigma, size_t n) {
    const double pi = (double)3.1415926f, threshold = (double)1.0e-7f;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = (double)philox_float01(npu_philox_next(g));
        double u2 = (double)philox_float01(npu_philox_next(g));
        if (u1 < threshold) u1 = threshold;
        if (u2 < threshold) u2 = threshold;
        double x = sqrt(-2.0 * log(u1)) * sigma;
        double y = 2.0 * pi * u2;
        out[i] = (float)(mean + x * cos(y));
        if (i + 1 < n) out[i + 1] = (float)(mean + x * sin(y));
    }
}
