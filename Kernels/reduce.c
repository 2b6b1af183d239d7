/* Reduction kernels. The order of every floating-point addition is written out here: with no
 * contraction and no fast-math (npu_build.h) the compiler keeps it, whatever vector width it uses. */
#include "npu_build.h"
#include "npu_philox.h"
#include "npu_reduce.h"
#include "npu_rng.h"

#include <math.h>
#include <string.h>

#define LANES 64

/* x: [n] */
NPU_VECTOR float npu_sum_f32(const float *restrict x, size_t n) {
    float acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += x[i];
    for (int width = LANES / 2; width >= 1; width /= 2)
        for (int j = 0; j < width; j++) acc[j] = acc[j] + acc[j + width];
    return acc[0];
}

/* partial: [inner], x: [rows][inner] */
NPU_VECTOR void npu_sum_rows_f32(float *restrict partial, const float *restrict x, size_t rows, size_t inner) {
    if (inner == 1) {
        partial[0] = npu_sum_f32(x, rows);
        return;
    }
    for (size_t i = 0; i < inner; i++) partial[i] = 0.0f;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * inner;
        for (size_t i = 0; i < inner; i++) partial[i] += row[i];
    }
}

/* Outputs are summed a strip of 64 at a time in registers (4 AVX-512 vectors), all blocks in
 * order, and stored once: out = ((0 + p[σ0]) + p[σ1]) + … per element, as the atomic adds give. */
#define STRIP 64

/* out[lo..<hi] = 0 + partials[order[0]][lo..<hi] + …; partials: [blocks][n]. */
static inline void combine_range(float *restrict out, const float *restrict partials, const int32_t *restrict order,
                                 size_t blocks, size_t n, size_t lo, size_t hi) {
    size_t i = lo;
    for (; i + STRIP <= hi; i += STRIP) {
        float acc[STRIP];
        for (int j = 0; j < STRIP; j++) acc[j] = 0.0f;
        for (size_t b = 0; b < blocks; b++) {
            const float *p = partials + (size_t)order[b] * n + i;
            for (int j = 0; j < STRIP; j++) acc[j] += p[j];
        }
        for (int j = 0; j < STRIP; j++) out[i + j] = acc[j];
    }
    for (; i < hi; i++) {
        float acc = 0.0f;
        for (size_t b = 0; b < blocks; b++) acc += partials[(size_t)order[b] * n + i];
        out[i] = acc;
    }
}

NPU_VECTOR void npu_sum_ptrs_ordered_f32(float *restrict out, const float *const *rows, const int32_t *restrict order, size_t k,
                                         size_t lo, size_t hi, float divisor) {
    if (k == 0) return;
    size_t i = lo;
    for (; i + STRIP <= hi; i += STRIP) {
        float acc[STRIP];
        const float *first = rows[order[0]] + i;
        for (int j = 0; j < STRIP; j++) acc[j] = first[j];
        for (size_t r = 1; r < k; r++) {
            const float *p = rows[order[r]] + i;
            for (int j = 0; j < STRIP; j++) acc[j] += p[j];
        }
        if (divisor != 1.0f)
            for (int j = 0; j < STRIP; j++) acc[j] /= divisor;
        for (int j = 0; j < STRIP; j++) out[i + j] = acc[j];
    }
    for (; i < hi; i++) {
        float acc = rows[order[0]][i];
        for (size_t r = 1; r < k; r++) acc += rows[order[r]][i];
        out[i] = divisor != 1.0f ? acc / divisor : acc;
    }
}

/* Elements lo ..< hi, each in its tile's order (tiles from norders on use the last order). */
NPU_VECTOR void npu_combine_span_f32(float *restrict out, const float *restrict partials, const int32_t *restrict orders, size_t norders,
                                     size_t blocks, size_t n, size_t tile, size_t lo, size_t hi) {
    if (norders == 1) { /* one order for every tile */
        combine_range(out, partials, orders, blocks, n, lo, hi);
        return;
    }
    while (lo < hi) {
        size_t t = lo / tile, end = (t + 1) * tile < hi ? (t + 1) * tile : hi;
        combine_range(out, partials, orders + (t < norders ? t : norders - 1) * blocks, blocks, n, lo, end);
        lo = end;
    }
}

uint64_t npu_order_launch_key(uint64_t seed, uint64_t site_hash, uint32_t card, uint32_t launch) {
    uint32_t out[4];
    const uint32_t counter[4] = {(uint32_t)site_hash, (uint32_t)(site_hash >> 32), card, launch};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    npu_philox4x32_10(out, counter, key);
    return ((uint64_t)(out[1] ^ out[3]) << 32) | (uint64_t)(out[0] ^ out[2]);
}

void npu_order_permutation(int32_t *restrict order, size_t n, uint64_t launch_key, uint64_t step, uint32_t tile) {
    const uint32_t key[2] = {(uint32_t)launch_key, (uint32_t)(launch_key >> 32)};
    uint32_t words[4];
    uint32_t block = 0;
    int used = 4;
    for (size_t i = 0; i < n; i++) order[i] = (int32_t)i;
    for (size_t i = n; i-- > 1;) {
        uint32_t bound = (uint32_t)(i + 1), limit = UINT32_MAX - UINT32_MAX % bound, x;
        do {
            if (used == 4) {
                const uint32_t counter[4] = {(uint32_t)step, (uint32_t)(step >> 32), tile, block++};
                npu_philox4x32_10(words, counter, key);
                used = 0;
            }
            x = words[used++];
        } while (x >= limit);
        size_t j = x % bound;
        int32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

NPU_VECTOR void npu_order_permutations_from(int32_t *restrict order, size_t n, size_t first, size_t tiles, uint64_t launch_key,
                                            uint64_t step) {
    if (n < 2 || n > 5) { /* more blocks than one Philox block of words can order: tile by tile */
        for (size_t t = 0; t < tiles; t++) npu_order_permutation(order + t * n, n, launch_key, step, (uint32_t)(first + t));
        return;
    }
    const uint32_t k0 = (uint32_t)launch_key, k1 = (uint32_t)(launch_key >> 32);
    const uint32_t s0 = (uint32_t)step, s1 = (uint32_t)(step >> 32);
    enum { BATCH = 64 };
    uint32_t w[4][BATCH];
    for (size_t t0 = 0; t0 < tiles; t0 += BATCH) {
        const size_t m = tiles - t0 < BATCH ? tiles - t0 : BATCH;
        /* The first Philox4x32-10 block of each tile (counter (step, tile, 0)), vectorised across tiles:
         * the rounds of npu_philox4x32_10. */
        for (size_t j = 0; j < m; j++) {
            uint32_t c[4] = {s0, s1, (uint32_t)(first + t0 + j), 0};
            npu_philox_rounds(c, k0, k1);
            for (int i = 0; i < 4; i++) w[i][j] = c[i];
        }
        /* Fisher–Yates from those words, as npu_order_permutation does; a tile whose draw is
         * rejected (needs a second block) is redone by it, giving the same order. */
        for (size_t j = 0; j < m; j++) {
            int32_t *o = order + (t0 + j) * n;
            for (size_t i = 0; i < n; i++) o[i] = (int32_t)i;
            int used = 0, rejected = 0;
            for (size_t i = n; i-- > 1;) {
                uint32_t bound = (uint32_t)(i + 1), limit = UINT32_MAX - UINT32_MAX % bound, x = w[used++][j];
                if (x >= limit) {
                    rejected = 1;
                    break;
                }
                size_t r = x % bound;
                int32_t tmp = o[i];
                o[i] = o[r];
                o[r] = tmp;
            }
            if (rejected) npu_order_permutation(o, n, launch_key, step, (uint32_t)(first + t0 + j));
        }
    }
}

NPU_VECTOR void npu_order_permutations(int32_t *restrict order, size_t n, size_t tiles, uint64_t launch_key, uint64_t step) {
    npu_order_permutations_from(order, n, 0, tiles, launch_key, step);
}

/* ---- exact accumulator ----
 * A fixed-point number with 24 digits of 32 bits, digit k weighing 2^(32k + LOW). Each digit is
 * an int64 that takes 32-bit pieces; carries are normalised before 2^30 additions accumulate. */

#define LOW (-384)
#define NORMALISE_EVERY (1 << 29)

void npu_exact_init(npu_exact *a) { memset(a, 0, sizeof *a); }

static void normalise(npu_exact *a) {
    int64_t carry = 0;
    for (int k = 0; k < NPU_EXACT_DIGITS; k++) {
        int64_t v = a->digit[k] + carry;
        carry = v >> 32; /* arithmetic shift: floor division by 2^32 */
        a->digit[k] = v - carry * ((int64_t)1 << 32);
    }
    a->digit[NPU_EXACT_DIGITS - 1] += carry * ((int64_t)1 << 32);
    a->pending = 0;
}

/* Adds sign·m·2^e (m < 2^53) exactly. */
static inline void add_scaled(npu_exact *a, uint64_t m, int e, int negative) {
    int p = e - LOW; /* bit position of m's lowest bit, ≥ 0 for every float and float product */
    int k = p >> 5, s = p & 31;
    unsigned __int128 v = (unsigned __int128)m << s; /* < 2^85: three digits */
    int64_t d0 = (int64_t)(uint32_t)v, d1 = (int64_t)(uint32_t)(v >> 32), d2 = (int64_t)(uint32_t)(v >> 64);
    if (negative) {
        a->digit[k] -= d0;
        a->digit[k + 1] -= d1;
        a->digit[k + 2] -= d2;
    } else {
        a->digit[k] += d0;
        a->digit[k + 1] += d1;
        a->digit[k + 2] += d2;
    }
    if (++a->pending >= NORMALISE_EVERY) normalise(a);
}

void npu_exact_merge(npu_exact *restrict a, const npu_exact *restrict b) {
    npu_exact c = *b;
    normalise(a);
    normalise(&c);
    /* Normalised digits below the top are under 2^32: their sums cannot overflow. */
    for (int k = 0; k < NPU_EXACT_DIGITS; k++) a->digit[k] += c.digit[k];
    a->nan += c.nan;
    a->pos_inf += c.pos_inf;
    a->neg_inf += c.neg_inf;
    normalise(a);
}

void npu_exact_add_f64(npu_exact *a, double x) {
    if (x == 0.0) return;
    if (isnan(x)) {
        a->nan++;
        return;
    }
    if (isinf(x)) {
        if (x > 0) a->pos_inf++; else a->neg_inf++;
        return;
    }
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int biased = (int)((bits >> 52) & 0x7FF);
    uint64_t m = bits & 0xFFFFFFFFFFFFFull;
    if (biased != 0) m |= 1ull << 52; else biased = 1;
    add_scaled(a, m, biased - 1075, (int)(bits >> 63));
}

NPU_VECTOR void npu_exact_add_f32(npu_exact *restrict a, const float *restrict x, size_t n) {
    /* Fast path: within a chunk of 1024 values, scale every value by 2^(179 - emax) (emax: the
     * chunk's largest biased exponent), exactly; values that land on integers (all but those 2^28
     * times smaller than the largest) are summed as int64 (1024 values below 2^53 cannot
     * overflow). When the chunk's smallest non-zero exponent shows that every value lands on an
     * integer (the usual case), the scaling is done in float and converted straight to int64,
     * with no per-value check; otherwise in double with one, and the rare values off the grid
     * go through the general path. */
    const size_t chunk = 1024;
    for (size_t start = 0; start < n; start += chunk) {
        size_t len = n - start < chunk ? n - start : chunk;
        const float *xs = x + start;
        const uint32_t *bits = (const uint32_t *)(const void *)xs;
        /* The largest magnitude, and the smallest non-zero one (a zero wraps to the top when 1 is
         * subtracted, so it never wins the minimum). */
        uint32_t largest = 0, smallest = 0xFFFFFFFFu;
        for (size_t i = 0; i < len; i++) {
            uint32_t magnitude = bits[i] & 0x7FFFFFFFu;
            largest = magnitude > largest ? magnitude : largest;
            smallest = magnitude - 1u < smallest ? magnitude - 1u : smallest;
        }
        uint32_t emax = largest >> 23;
        /* A subnormal lies on the grid of exponent 1; an all-zero chunk on every grid. */
        uint32_t emin = smallest == 0xFFFFFFFFu ? 0xFFu : ((smallest + 1u) >> 23 == 0 ? 1u : (smallest + 1u) >> 23);
        if (emax == 0xFF) { /* NaN or inf in the chunk: take the general path for all of it */
            for (size_t i = 0; i < len; i++) npu_exact_add_f64(a, (double)xs[i]);
            continue;
        }
        int base = (int)emax - 29; /* one unit = 2^(base - 150) */
        int64_t sum = 0;
        if ((int)emin >= base && base >= 23) {
            /* Every value is an integer once scaled, and 2^(150 - base) is a normal float. */
            const float scale = ldexpf(1.0f, 150 - base);
            for (size_t i = 0; i < len; i++) sum += (int64_t)(xs[i] * scale);
        } else {
            const double scale = ldexp(1.0, 150 - base);
            int inexact = 0;
            for (size_t i = 0; i < len; i++) {
                double v = (double)xs[i] * scale;
                int64_t q = (int64_t)v;
                int ok = (double)q == v;
                sum += ok ? q : 0;
                inexact |= !ok;
            }
            if (inexact) {
                for (size_t i = 0; i < len; i++) {
                    double v = (double)xs[i] * scale;
                    if ((double)(int64_t)v != v) npu_exact_add_f64(a, (double)xs[i]);
                }
            }
        }
        if (sum != 0) {
            int negative = sum < 0;
            uint64_t mag = negative ? (uint64_t)(-(sum + 1)) + 1u : (uint64_t)sum;
            /* mag < 2^63: two pieces below 2^53 for add_scaled. */
            int e0 = base - 150;
            add_scaled(a, mag & ((1ull << 32) - 1), e0, negative);
            add_scaled(a, mag >> 32, e0 + 32, negative);
        }
    }
}

/* Adds sign·m·2^e for m < 2^127 exactly, in four 32-bit pieces. */
static void add_wide(npu_exact *a, unsigned __int128 m, int e, int negative) {
    for (int k = 0; k < 4; k++) {
        uint64_t piece = (uint64_t)(m >> (32 * k)) & 0xFFFFFFFFull;
        if (piece) add_scaled(a, piece, e + 32 * k, negative);
    }
}

/* One chunk of products a[i·sa]·b[i·sb], i < len, on the grid 2^(*base − 300) with *base = the
 * largest ea+eb − 63: returns the int128 sum of the products on the grid. *special is set if a
 * NaN or infinity is present (nothing summed); products below the grid are added to `acc`
 * exactly when it is given, or set *below and stop when it is NULL. */
static __int128 product_chunk(const float *restrict a, size_t sa, const float *restrict b, size_t sb, size_t len,
                              npu_exact *acc, int *base, int *special, int *below) {
    int emax = 0;
    *special = 0;
    *below = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t ba, bb;
        memcpy(&ba, &a[i * sa], 4);
        memcpy(&bb, &b[i * sb], 4);
        int ea = (int)((ba >> 23) & 0xFF), eb = (int)((bb >> 23) & 0xFF);
        *special |= ea == 0xFF || eb == 0xFF;
        int e = (ea ? ea : 1) + (eb ? eb : 1);
        emax = e > emax ? e : emax;
    }
    *base = emax - 63;
    __int128 sum = 0;
    if (*special) return 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t ba, bb;
        memcpy(&ba, &a[i * sa], 4);
        memcpy(&bb, &b[i * sb], 4);
        int ea = (int)((ba >> 23) & 0xFF), eb = (int)((bb >> 23) & 0xFF);
        uint64_t m = ((ba & 0x7FFFFF) | (ea ? 0x800000u : 0u)) * (uint64_t)((bb & 0x7FFFFF) | (eb ? 0x800000u : 0u));
        if (m == 0) continue;
        int shift = (ea ? ea : 1) + (eb ? eb : 1) - *base;
        if (shift < 0) { /* below the grid */
            if (!acc) {
                *below = 1;
                return 0;
            }
            npu_exact_add_f64(acc, (double)a[i * sa] * (double)b[i * sb]);
            continue;
        }
        __int128 v = (__int128)((unsigned __int128)m << shift);
        sum += ((ba ^ bb) >> 31) ? -v : v;
    }
    return sum;
}

static unsigned __int128 magnitude(__int128 v, int *negative) {
    *negative = v < 0;
    return *negative ? (unsigned __int128)(-(v + 1)) + 1u : (unsigned __int128)v;
}

NPU_VECTOR void npu_exact_add_dot_f32(npu_exact *restrict acc, const float *restrict a, size_t sa, const float *restrict b,
                           size_t sb, size_t n) {
    /* A product of floats is ma·mb·2^(ea+eb−300) with ma·mb < 2^48: on a chunk's grid it is an
     * int128 below 2^111, and 4096 of them stay below 2^123. */
    const size_t chunk = 4096;
    for (size_t start = 0; start < n; start += chunk) {
        size_t len = n - start < chunk ? n - start : chunk;
        int base, special, below, negative;
        __int128 sum = product_chunk(a + start * sa, sa, b + start * sb, sb, len, acc, &base, &special, &below);
        if (special) {
            for (size_t i = start; i < start + len; i++) npu_exact_add_f64(acc, (double)a[i * sa] * (double)b[i * sb]);
            continue;
        }
        unsigned __int128 mag = magnitude(sum, &negative);
        if (mag) add_wide(acc, mag, base - 300, negative);
    }
}

float npu_exact_round_f32(const npu_exact *in) {
    if (in->nan || (in->pos_inf && in->neg_inf)) return NAN;
    if (in->pos_inf) return INFINITY;
    if (in->neg_inf) return -INFINITY;
    npu_exact a = *in;
    normalise(&a);
    /* Two's complement across digits: negative when the top digit is negative. */
    int negative = a.digit[NPU_EXACT_DIGITS - 1] < 0;
    if (negative) {
        for (int k = 0; k < NPU_EXACT_DIGITS; k++) a.digit[k] = -a.digit[k];
        normalise(&a);
    }
    int top = NPU_EXACT_DIGITS - 1;
    while (top >= 0 && a.digit[top] == 0) top--;
    if (top < 0) return 0.0f;
    /* Gather 96 bits from the top three digits into a 64-bit window with a sticky bit. */
    uint64_t hi = (uint64_t)a.digit[top];
    uint64_t mid = top >= 1 ? (uint64_t)a.digit[top - 1] : 0;
    uint64_t lo = top >= 2 ? (uint64_t)a.digit[top - 2] : 0;
    int sticky = 0;
    for (int k = top - 3; k >= 0; k--) sticky |= a.digit[k] != 0;
    int lead = 63 - __builtin_clzll(hi); /* highest set bit of hi, < 32 */
    /* window = the 64 bits below and including the leading bit. */
    unsigned __int128 all = ((unsigned __int128)hi << 64) | (mid << 32) | lo; /* 96 significant bits */
    int shift = lead + 64 - 63;                                               /* bits to drop */
    uint64_t window = (uint64_t)(all >> shift);
    if (shift > 0 && (all & (((unsigned __int128)1 << shift) - 1)) != 0) sticky = 1;
    window |= (uint64_t)sticky;
    /* value = window · 2^(32·(top-2) + LOW + shift); long double holds 64 bits exactly, so the
     * cast to float is the only rounding. */
    long double v = ldexpl((long double)window, 32 * (top - 2) + LOW + shift);
    float r = (float)v;
    return negative ? -r : r;
}

/* sign·m·2^e rounded once to float32: the top 64 bits of m with a sticky bit are exact in long
 * double, so the final cast is the only rounding (subnormal results included). */
static float round_wide(unsigned __int128 m, int e, int negative) {
    if (m == 0) return 0.0f;
    uint64_t hi = (uint64_t)(m >> 64);
    int lead = hi ? 127 - __builtin_clzll(hi) : 63 - __builtin_clzll((uint64_t)m);
    uint64_t top;
    int shift = lead > 63 ? lead - 63 : 0;
    if (shift) {
        top = (uint64_t)(m >> shift);
        if ((m & (((unsigned __int128)1 << shift) - 1)) != 0) top |= 1u;
    } else {
        top = (uint64_t)m;
    }
    float r = (float)ldexpl((long double)top, e + shift);
    return negative ? -r : r;
}

float npu_exact_dot_f32(const float *restrict a, size_t sa, const float *restrict b, size_t sb, size_t n) {
    if (n <= 4096) {  /* one chunk with nothing below its grid: round the int128 sum directly */
        int base, special, below, negative;
        __int128 sum = product_chunk(a, sa, b, sb, n, NULL, &base, &special, &below);
        if (!special && !below) {
            unsigned __int128 mag = magnitude(sum, &negative);
            return round_wide(mag, base - 300, negative);
        }
    }
    npu_exact acc;
    npu_exact_init(&acc);
    npu_exact_add_dot_f32(&acc, a, sa, b, sb, n);
    return npu_exact_round_f32(&acc);
}

/* The exact sum of one column, rounded once (the general path). */
static float exact_column(const float *const *rows, size_t k, size_t i) {
    npu_exact acc;
    float column[64];
    npu_exact_init(&acc);
    for (size_t r0 = 0; r0 < k; r0 += 64) {
        size_t m = k - r0 < 64 ? k - r0 : 64;
        for (size_t r = 0; r < m; r++) column[r] = rows[r0 + r][i];
        npu_exact_add_f32(&acc, column, m);
    }
    return npu_exact_round_f32(&acc);
}

/* Columns [i0, i0 + m) of the fast path below (m ≤ 32; inlined with m = 32, so the sums and
 * exponents stay in registers across the rows). */
static inline __attribute__((always_inline)) void exact_sum_block(float *restrict out, const float *const *rows, size_t k,
                                                                  size_t i0, size_t m, float divisor, uint32_t window) {
    double s[32];
    uint32_t largest[32], smallest[32];
    for (size_t i = 0; i < m; i++) {
        s[i] = 0.0;
        largest[i] = 0;
        smallest[i] = 0xFFFFFFFFu;
    }
    for (size_t r = 0; r < k; r++) {
        const float *restrict row = rows[r] + i0;
        const uint32_t *restrict bits = (const uint32_t *)(const void *)row;
        for (size_t i = 0; i < m; i++) {
            uint32_t magnitude = bits[i] & 0x7FFFFFFFu;
            largest[i] = magnitude > largest[i] ? magnitude : largest[i];
            smallest[i] = magnitude - 1u < smallest[i] ? magnitude - 1u : smallest[i]; /* a zero wraps to the top */
            s[i] += (double)row[i];
        }
    }
    /* Every column as if exact (branch-free; x / 1 is x), then the others again through the
     * general path. */
    int inexact = 0;
    for (size_t i = 0; i < m; i++) {
        float v = (float)s[i];
        out[i0 + i] = (s[i] == 0.0 ? 0.0f : v) / divisor;
        uint32_t emax = largest[i] >> 23, emin = (smallest[i] + 1u) >> 23; /* a subnormal is on exponent 1's grid */
        emin = smallest[i] == 0xFFFFFFFFu ? emax : (emin == 0 ? 1u : emin);
        inexact |= emax == 0xFFu || emax > emin + window;
    }
    if (inexact) {
        for (size_t i = 0; i < m; i++) {
            uint32_t emax = largest[i] >> 23, emin = (smallest[i] + 1u) >> 23;
            emin = smallest[i] == 0xFFFFFFFFu ? emax : (emin == 0 ? 1u : emin);
            if (emax == 0xFFu || emax > emin + window) out[i0 + i] = exact_column(rows, k, i0 + i) / divisor;
        }
    }
}

/* Fast path: a column's floats are integer multiples of the smallest one's grid, 2^(emin − 150),
 * and below 2^(emax − 126); when k · 2^(24 + emax − emin) ≤ 2^53 every partial sum is an integer
 * of at most 53 bits on that grid, so a plain double sum is exact and its one rounding to float is
 * the exact sum's (zero as +0, as the accumulator gives it). Columns with a wider exponent spread,
 * a NaN or an infinity take the general path; cards' gradients of like magnitudes never do. */
NPU_VECTOR void npu_exact_sum_rows_f32(float *restrict out, const float *const *rows, size_t k, size_t n, float divisor) {
    uint32_t bits = 0; /* ⌈log2 k⌉ */
    while (bits < 64 && ((size_t)1 << bits) < k) bits++;
    if (k == 0 || bits > 29) {
        for (size_t i = 0; i < n; i++) out[i] = k == 0 ? 0.0f : exact_column(rows, k, i) / divisor;
        return;
    }
    uint32_t window = 29 - bits;
    size_t i0 = 0;
    for (; i0 + 32 <= n; i0 += 32) exact_sum_block(out, rows, k, i0, 32, divisor, window);
    if (i0 < n) exact_sum_block(out, rows, k, i0, n - i0, divisor, window);
}
