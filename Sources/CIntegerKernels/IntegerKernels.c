// See include/CIntegerKernels.h. Integer arithmetic only; sums wrap modulo 2^32 through
// unsigned arithmetic (signed overflow would be undefined behaviour in C).

#include "CIntegerKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define VQK_X86 1
#include <immintrin.h>
#endif

// MARK: Portable path

static inline uint32_t product(int16_t x, int16_t y) {
    return (uint32_t)((int32_t)x * (int32_t)y);  // |x·y| ≤ 2^30: exact in int32
}

void vqk_gemm_accumulate_portable(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                  const int16_t *a, ptrdiff_t lda,
                                  const int16_t *w, ptrdiff_t ldw,
                                  int32_t *c, ptrdiff_t ldc) {
    for (ptrdiff_t i = 0; i < m; i++) {
        const int16_t *x = a + i * lda;
        for (ptrdiff_t j = 0; j < n; j++) {
            const int16_t *y = w + j * ldw;
            uint32_t sum = 0;
            for (ptrdiff_t t = 0; t < k; t++) sum += product(x[t], y[t]);
            c[i * ldc + j] = (int32_t)((uint32_t)c[i * ldc + j] + sum);
        }
    }
}

static inline int32_t rescaled_logit(int32_t sum, int64_t multiplier, int64_t shift, int32_t limit) {
    // |sum · multiplier| < 2^62 and the rounding term is at most 2^61: no overflow.
    int64_t v = ((int64_t)sum * multiplier + ((int64_t)1 << (shift - 1))) >> shift;
    return (int32_t)(v < -limit ? -limit : v > limit ? limit : v);
}

static inline void exp_weights(ptrdiff_t from, ptrdiff_t n, const int32_t *logits, int32_t maximum,
                               const int32_t *exp_table, int32_t exp_last, uint32_t *weights) {
    for (ptrdiff_t s = from; s < n; s++) {
        int32_t distance = maximum - logits[s];  // 0 … 2·limit
        weights[s] = (uint32_t)exp_table[distance < exp_last ? distance : exp_last];
    }
}

void vqk_logit_weights_portable(ptrdiff_t n, const int32_t *sums, const int64_t *multiplier,
                                const int64_t *shift, int32_t limit, const int32_t *exp_table,
                                int32_t exp_last, int32_t *logits, uint32_t *weights) {
    int32_t maximum = -limit;
    for (ptrdiff_t s = 0; s < n; s++) {
        logits[s] = rescaled_logit(sums[s], multiplier[s], shift[s], limit);
        if (logits[s] > maximum) maximum = logits[s];
    }
    exp_weights(0, n, logits, maximum, exp_table, exp_last, weights);
}

#if VQK_X86

// MARK: AVX2 path
//
// vpmaddwd multiplies 16 pairs of Int16 and adds neighbouring products into 8 Int32 lanes; its
// one rounding-free corner, (−2^15)² + (−2^15)² = 2^31, wraps to −2^31, which is the sum modulo
// 2^32 like every other addition here.

#define AVX2 __attribute__((target("avx2")))

/// Σ of the 8 lanes of each of v0…v7, as lanes 0…7 of one vector.
static inline AVX2 __m256i sum_lanes8(__m256i v0, __m256i v1, __m256i v2, __m256i v3,
                                      __m256i v4, __m256i v5, __m256i v6, __m256i v7) {
    __m256i t0 = _mm256_hadd_epi32(v0, v1), t1 = _mm256_hadd_epi32(v2, v3);
    __m256i t2 = _mm256_hadd_epi32(v4, v5), t3 = _mm256_hadd_epi32(v6, v7);
    __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/// Σ of the 8 lanes of v.
static inline AVX2 uint32_t sum_lanes(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

static inline AVX2 __m256i load16(const int16_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// Σ_{t ≥ k16} x[t]·y[t]: the tail after the 16-wide loop.
static inline uint32_t tail(const int16_t *x, const int16_t *y, ptrdiff_t from, ptrdiff_t k) {
    uint32_t sum = 0;
    for (ptrdiff_t t = from; t < k; t++) sum += product(x[t], y[t]);
    return sum;
}

/// Four input rows × two weight rows.
static inline AVX2 void block4x2(ptrdiff_t k, const int16_t *a, ptrdiff_t lda, const int16_t *w, ptrdiff_t ldw,
                                 int32_t *c, ptrdiff_t ldc) {
    const int16_t *x0 = a, *x1 = a + lda, *x2 = a + 2 * lda, *x3 = a + 3 * lda;
    const int16_t *y0 = w, *y1 = w + ldw;
    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
    ptrdiff_t t = 0;
    for (; t + 16 <= k; t += 16) {
        __m256i w0 = load16(y0 + t), w1 = load16(y1 + t);
        __m256i v = load16(x0 + t);
        s00 = _mm256_add_epi32(s00, _mm256_madd_epi16(v, w0));
        s01 = _mm256_add_epi32(s01, _mm256_madd_epi16(v, w1));
        v = load16(x1 + t);
        s10 = _mm256_add_epi32(s10, _mm256_madd_epi16(v, w0));
        s11 = _mm256_add_epi32(s11, _mm256_madd_epi16(v, w1));
        v = load16(x2 + t);
        s20 = _mm256_add_epi32(s20, _mm256_madd_epi16(v, w0));
        s21 = _mm256_add_epi32(s21, _mm256_madd_epi16(v, w1));
        v = load16(x3 + t);
        s30 = _mm256_add_epi32(s30, _mm256_madd_epi16(v, w0));
        s31 = _mm256_add_epi32(s31, _mm256_madd_epi16(v, w1));
    }
    uint32_t r[8];
    _mm256_storeu_si256((__m256i *)r, sum_lanes8(s00, s01, s10, s11, s20, s21, s30, s31));
    if (t < k) {
        r[0] += tail(x0, y0, t, k); r[1] += tail(x0, y1, t, k);
        r[2] += tail(x1, y0, t, k); r[3] += tail(x1, y1, t, k);
        r[4] += tail(x2, y0, t, k); r[5] += tail(x2, y1, t, k);
        r[6] += tail(x3, y0, t, k); r[7] += tail(x3, y1, t, k);
    }
    for (int i = 0; i < 4; i++) {
        int32_t *out = c + i * ldc;
        out[0] = (int32_t)((uint32_t)out[0] + r[2 * i]);
        out[1] = (int32_t)((uint32_t)out[1] + r[2 * i + 1]);
    }
}

/// One input row × eight weight rows (a matrix–vector product's step).
static inline AVX2 void block1x8(ptrdiff_t k, const int16_t *x, const int16_t *w, ptrdiff_t ldw, int32_t *c) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    ptrdiff_t t = 0;
    for (; t + 16 <= k; t += 16) {
        __m256i v = load16(x + t);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(v, load16(w + t)));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(v, load16(w + ldw + t)));
        s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(v, load16(w + 2 * ldw + t)));
        s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(v, load16(w + 3 * ldw + t)));
        s4 = _mm256_add_epi32(s4, _mm256_madd_epi16(v, load16(w + 4 * ldw + t)));
        s5 = _mm256_add_epi32(s5, _mm256_madd_epi16(v, load16(w + 5 * ldw + t)));
        s6 = _mm256_add_epi32(s6, _mm256_madd_epi16(v, load16(w + 6 * ldw + t)));
        s7 = _mm256_add_epi32(s7, _mm256_madd_epi16(v, load16(w + 7 * ldw + t)));
    }
    __m256i r = sum_lanes8(s0, s1, s2, s3, s4, s5, s6, s7);
    if (t < k) {
        uint32_t extra[8];
        for (int j = 0; j < 8; j++) extra[j] = tail(x, w + j * ldw, t, k);
        r = _mm256_add_epi32(r, _mm256_loadu_si256((const __m256i *)extra));
    }
    _mm256_storeu_si256((__m256i *)c, _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)c), r));
}

/// One input row × one weight row.
static inline AVX2 void block1x1(ptrdiff_t k, const int16_t *x, const int16_t *y, int32_t *c) {
    __m256i s = _mm256_setzero_si256();
    ptrdiff_t t = 0;
    for (; t + 16 <= k; t += 16) s = _mm256_add_epi32(s, _mm256_madd_epi16(load16(x + t), load16(y + t)));
    *c = (int32_t)((uint32_t)*c + sum_lanes(s) + tail(x, y, t, k));
}

static AVX2 void gemm_avx2(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const int16_t *a, ptrdiff_t lda,
                           const int16_t *w, ptrdiff_t ldw, int32_t *c, ptrdiff_t ldc) {
    ptrdiff_t i = 0;
    for (; i + 4 <= m; i += 4) {
        ptrdiff_t j = 0;
        for (; j + 2 <= n; j += 2) block4x2(k, a + i * lda, lda, w + j * ldw, ldw, c + i * ldc + j, ldc);
        for (; j < n; j++)
            for (ptrdiff_t r = 0; r < 4; r++) block1x1(k, a + (i + r) * lda, w + j * ldw, c + (i + r) * ldc + j);
    }
    for (; i < m; i++) {
        ptrdiff_t j = 0;
        for (; j + 8 <= n; j += 8) block1x8(k, a + i * lda, w + j * ldw, ldw, c + i * ldc + j);
        for (; j < n; j++) block1x1(k, a + i * lda, w + j * ldw, c + i * ldc + j);
    }
}

/// Four logits (64-bit lanes `x`, sign-extended accumulators) rescaled and clamped.
static inline AVX2 __m256i rescale4(__m256i x, const int64_t *multiplier, const int64_t *shift,
                                    __m256i low, __m256i high) {
    __m256i m = _mm256_loadu_si256((const __m256i *)multiplier);
    __m256i r = _mm256_loadu_si256((const __m256i *)shift);
    // vpmuldq: signed low halves; the accumulator is sign-extended, the multiplier below 2^31.
    __m256i product = _mm256_mul_epi32(x, m);
    __m256i one = _mm256_set1_epi64x(1);
    __m256i rounding = _mm256_sllv_epi64(one, _mm256_sub_epi64(r, one));
    // AVX2 has no 64-bit arithmetic shift: shift (v + 2^62) ≥ 0 logically and take 2^62 >> r
    // back off; exact because 2^r divides 2^62 (r ≤ 62), and v + 2^62 < 2^64 (|v| < 2^62 + 2^61).
    __m256i offset = _mm256_set1_epi64x((int64_t)1 << 62);
    __m256i v = _mm256_add_epi64(_mm256_add_epi64(product, rounding), offset);
    v = _mm256_sub_epi64(_mm256_srlv_epi64(v, r), _mm256_srlv_epi64(offset, r));
    v = _mm256_blendv_epi8(v, low, _mm256_cmpgt_epi64(low, v));
    return _mm256_blendv_epi8(v, high, _mm256_cmpgt_epi64(v, high));
}

static AVX2 void logit_weights_avx2(ptrdiff_t n, const int32_t *sums, const int64_t *multiplier,
                                    const int64_t *shift, int32_t limit, const int32_t *exp_table,
                                    int32_t exp_last, int32_t *logits, uint32_t *weights) {
    __m256i low = _mm256_set1_epi64x(-(int64_t)limit), high = _mm256_set1_epi64x(limit);
    __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    __m256i maximum8 = _mm256_set1_epi32(-limit);
    ptrdiff_t s = 0;
    for (; s + 8 <= n; s += 8) {
        __m256i acc = _mm256_loadu_si256((const __m256i *)(sums + s));
        __m256i a = rescale4(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc)), multiplier + s, shift + s, low, high);
        __m256i b = rescale4(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc, 1)), multiplier + s + 4, shift + s + 4,
                             low, high);
        // The low 32 bits of each 64-bit lane (the clamped values fit), in order.
        __m256i packed = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm256_castsi256_si128(_mm256_permutevar8x32_epi32(a, evens))),
            _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, evens)), 1);
        _mm256_storeu_si256((__m256i *)(logits + s), packed);
        maximum8 = _mm256_max_epi32(maximum8, packed);
    }
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, maximum8);
    int32_t maximum = -limit;
    for (int i = 0; i < 8; i++) if (lanes[i] > maximum) maximum = lanes[i];
    for (ptrdiff_t t = s; t < n; t++) {
        logits[t] = rescaled_logit(sums[t], multiplier[t], shift[t], limit);
        if (logits[t] > maximum) maximum = logits[t];
    }
    __m256i top = _mm256_set1_epi32(maximum), last = _mm256_set1_epi32(exp_last);
    s = 0;
    for (; s + 8 <= n; s += 8) {
        __m256i distance = _mm256_min_epi32(_mm256_sub_epi32(top, _mm256_loadu_si256((const __m256i *)(logits + s))), last);
        _mm256_storeu_si256((__m256i *)(weights + s), _mm256_i32gather_epi32((const int *)exp_table, distance, 4));
    }
    exp_weights(s, n, logits, maximum, exp_table, exp_last, weights);
}

static int detect_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}

// Written once, before the first use, by whichever thread gets there first; every thread
// computes the same value, so a race only repeats the same store (atomics keep it defined).
static int avx2_state = -1;

int vqk_uses_avx2(void) {
    int state = __atomic_load_n(&avx2_state, __ATOMIC_RELAXED);
    if (state < 0) {
        state = detect_avx2();
        __atomic_store_n(&avx2_state, state, __ATOMIC_RELAXED);
    }
    return state;
}

#else

int vqk_uses_avx2(void) { return 0; }

#endif

void vqk_gemm_accumulate(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                         const int16_t *a, ptrdiff_t lda,
                         const int16_t *w, ptrdiff_t ldw,
                         int32_t *c, ptrdiff_t ldc) {
#if VQK_X86
    if (vqk_uses_avx2()) {
        gemm_avx2(m, n, k, a, lda, w, ldw, c, ldc);
        return;
    }
#endif
    vqk_gemm_accumulate_portable(m, n, k, a, lda, w, ldw, c, ldc);
}

void vqk_logit_weights(ptrdiff_t n, const int32_t *sums, const int64_t *multiplier, const int64_t *shift,
                       int32_t limit, const int32_t *exp_table, int32_t exp_last,
                       int32_t *logits, uint32_t *weights) {
#if VQK_X86
    if (vqk_uses_avx2()) {
        logit_weights_avx2(n, sums, multiplier, shift, limit, exp_table, exp_last, logits, weights);
        return;
    }
#endif
    vqk_logit_weights_portable(n, sums, multiplier, shift, limit, exp_table, exp_last, logits, weights);
}
