// Private SIMD math: exp and erf on AVX2 and AVX-512 vectors, and horizontal sums.
// Included only by op files; every function is static inline with its target attribute.
#ifndef CKERNELS_VECMATH_H
#define CKERNELS_VECMATH_H

#include "internal.h"

#if CK_X86
#include <immintrin.h>

// exp(x) by Cephes' range reduction (x = n ln2 + r, |r| <= ln2/2) and a degree-6 polynomial:
// about 1 ulp over the clamp range. Inputs below -87.3 give 2^-126 * p(r) instead of a denormal or
// zero; softmax only feeds x <= 0 and the difference is far below float resolution of a sum >= 1.
#define CK_EXP_HI 88.3762626647949f
#define CK_EXP_LO -87.3365447504f
#define CK_LOG2E 1.44269504088896341f
#define CK_EXP_C1 0.693359375f
#define CK_EXP_C2 -2.12194440e-4f
#define CK_EXP_P0 1.9875691500E-4f
#define CK_EXP_P1 1.3981999507E-3f
#define CK_EXP_P2 8.3334519073E-3f
#define CK_EXP_P3 4.1665795894E-2f
#define CK_EXP_P4 1.6666665459E-1f
#define CK_EXP_P5 5.0000001201E-1f

CK_TARGET_AVX512 static inline __m512 ck_exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(CK_EXP_LO)), _mm512_set1_ps(CK_EXP_HI));
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(CK_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(CK_EXP_C1), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(CK_EXP_C2), x);
    __m512 y = _mm512_set1_ps(CK_EXP_P0);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(CK_EXP_P1));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(CK_EXP_P2));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(CK_EXP_P3));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(CK_EXP_P4));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(CK_EXP_P5));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, fx);
}

CK_TARGET_AVX2 static inline __m256 ck_exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(CK_EXP_LO)), _mm256_set1_ps(CK_EXP_HI));
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(CK_LOG2E)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(CK_EXP_C1), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(CK_EXP_C2), x);
    __m256 y = _mm256_set1_ps(CK_EXP_P0);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(CK_EXP_P1));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(CK_EXP_P2));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(CK_EXP_P3));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(CK_EXP_P4));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(CK_EXP_P5));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    // 2^n built in the exponent bits; n is in [-126, 127] after the clamp.
    __m256i n = _mm256_cvtps_epi32(fx);
    __m256i pow2n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(pow2n));
}

// erf(x) as the odd/even rational approximation used by Eigen and XLA (clamped to [-4, 4], where
// float erf is already +-1): measured max |error| about 1e-7 against erff (Tests/KernelTests).
#define CK_ERF_A1 -1.60960333262415e-02f
#define CK_ERF_A3 -2.95459980854025e-03f
#define CK_ERF_A5 -7.34990630326855e-04f
#define CK_ERF_A7 -5.69250639462346e-05f
#define CK_ERF_A9 -2.10102402082508e-06f
#define CK_ERF_A11 2.77068142495902e-08f
#define CK_ERF_A13 -2.72614225801306e-10f
#define CK_ERF_B0 -1.42647390514189e-02f
#define CK_ERF_B2 -7.37332916720468e-03f
#define CK_ERF_B4 -1.68282697438203e-03f
#define CK_ERF_B6 -2.13374055278905e-04f
#define CK_ERF_B8 -1.45660718464996e-05f

CK_TARGET_AVX512 static inline __m512 ck_erf512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(CK_ERF_A13), _mm512_set1_ps(CK_ERF_A11));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(CK_ERF_A9));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(CK_ERF_A7));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(CK_ERF_A5));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(CK_ERF_A3));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(CK_ERF_A1));
    p = _mm512_mul_ps(x, p);
    __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(CK_ERF_B8), _mm512_set1_ps(CK_ERF_B6));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(CK_ERF_B4));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(CK_ERF_B2));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(CK_ERF_B0));
    return _mm512_div_ps(p, q);
}

CK_TARGET_AVX2 static inline __m256 ck_erf256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-4.0f)), _mm256_set1_ps(4.0f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(CK_ERF_A13), _mm256_set1_ps(CK_ERF_A11));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(CK_ERF_A9));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(CK_ERF_A7));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(CK_ERF_A5));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(CK_ERF_A3));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(CK_ERF_A1));
    p = _mm256_mul_ps(x, p);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(CK_ERF_B8), _mm256_set1_ps(CK_ERF_B6));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(CK_ERF_B4));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(CK_ERF_B2));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(CK_ERF_B0));
    return _mm256_div_ps(p, q);
}

CK_TARGET_AVX2 static inline float ck_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

CK_TARGET_AVX2 static inline float ck_hmax256(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Mask of the first n lanes, for AVX2 tails: none when n <= 0, all 8 when n >= 8.
CK_TARGET_AVX2 static inline __m256i ck_tail_mask256(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Stores v at p: all 8 lanes when remaining >= 8, else the lanes of m (the tail's mask). VMASKMOVPS
// stores are slow on AMD's cores (microcoded before Zen 4), so a loop that masks every step stores
// whole vectors with a plain store and masks only its tail; the values written are the same.
CK_TARGET_AVX2 static inline void ck_store_tail256(float *p, long remaining, __m256i m, __m256 v) {
    if (remaining >= 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m, v);
}

// Mask of the first n lanes, for AVX-512 tails: none when n <= 0, all 16 when n >= 16.
static inline __mmask16 ck_tail_mask512(int n) {
    return (__mmask16)(n <= 0 ? 0 : n >= 16 ? 0xFFFF : ((1u << n) - 1u));
}
#endif  // CK_X86

#endif  // CKERNELS_VECMATH_H
