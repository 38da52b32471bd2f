// Multi-head self-attention over a fused QKV projection, one (example, head) pair per work item:
// scores = q kᵀ over the real keys, scaled masked softmax, the head's intervention, then p V.
#include "internal.h"
#include "vecmath.h"

#include <string.h>

typedef struct {
    float *context;        // (B,T,C)
    float *probs;          // (B,NH,T,T) or NULL
    const float *qkv;      // (B,T,3C)
    const int32_t *lengths;
    const int32_t *head_modes;
    int B, T, NH, HS;
    float scale;
} attention_args;

// Vector primitives one ISA provides to the shared head loop below.
typedef float (*dot_fn)(const float *a, const float *b, int n);
typedef void (*axpy_fn)(float *y, float a, const float *x, int n);  // y += a x

// MARK: - Scalar reference

static float dot_scalar(const float *a, const float *b, int n) {
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static void axpy_scalar(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

#if CK_X86
// MARK: - AVX-512

CK_TARGET_AVX512 static float dot_avx512(const float *a, const float *b, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = ck_tail_mask512(n - i);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

CK_TARGET_AVX512 static void axpy_avx512(float *y, float a, const float *x, int n) {
    const __m512 av = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = ck_tail_mask512(n - i);
        __m512 out = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, out);
    }
}

// MARK: - AVX2

CK_TARGET_AVX2 static float dot_avx2(const float *a, const float *b, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i m = ck_tail_mask256(n - i);
        acc = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), acc);
    }
    return ck_hsum256(acc);
}

CK_TARGET_AVX2 static void axpy_avx2(float *y, float a, const float *x, int n) {
    const __m256 av = _mm256_set1_ps(a);
    for (int i = 0; i < n; i += 8) {
        __m256i m = ck_tail_mask256(n - i);
        __m256 out = _mm256_fmadd_ps(av, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m));
        _mm256_maskstore_ps(y + i, m, out);
    }
}
#endif

// MARK: - One (example, head)

// row is T floats of scratch, or the probs row itself.
static void attention_head(const attention_args *a, int b, int h, float *row_scratch,
                           dot_fn dot, axpy_fn axpy, ck_softmax_row_fn softmax_row) {
    const int T = a->T, HS = a->HS, C = a->NH * a->HS, C3 = 3 * C;
    const int len = a->lengths[b];
    const int mode = a->head_modes ? a->head_modes[h] : CK_HEAD_KEEP;
    const float *q = a->qkv + (size_t)b * T * C3 + h * HS;
    const float *k = q + C;
    const float *v = q + 2 * C;
    float *context = a->context + (size_t)b * T * C + h * HS;
    const float uniform = len > 0 ? 1.0f / (float)len : 0.0f;

    for (int i = 0; i < T; i++) {
        float *p = a->probs ? a->probs + (((size_t)b * a->NH + h) * T + i) * T : row_scratch;
        float *out = context + (size_t)i * C;
        memset(out, 0, sizeof(float) * HS);
        if (mode == CK_HEAD_ZERO) {
            memset(p, 0, sizeof(float) * T);
            continue;
        }
        if (mode == CK_HEAD_UNIFORM) {
            for (int j = 0; j < T; j++) p[j] = j < len ? uniform : 0.0f;
        } else {
            for (int j = 0; j < len; j++) p[j] = dot(q + (size_t)i * C3, k + (size_t)j * C3, HS);
            softmax_row(p, T, len, a->scale);
        }
        for (int j = 0; j < len; j++) axpy(out, p[j], v + (size_t)j * C3, HS);
    }
}

// MARK: - Driver

void ck_attention_forward(float *context, float *probs, const float *qkv, const int32_t *lengths,
                          const int32_t *head_modes, int B, int T, int NH, int HS, float scale) {
    attention_args args = {context, probs, qkv, lengths, head_modes, B, T, NH, HS, scale};
    dot_fn dot = dot_scalar;
    axpy_fn axpy = axpy_scalar;
#if CK_X86
    switch (ck_isa_active()) {
    case CK_ISA_AVX512: dot = dot_avx512; axpy = axpy_avx512; break;
    case CK_ISA_AVX2: dot = dot_avx2; axpy = axpy_avx2; break;
    default: break;
    }
#endif
    ck_softmax_row_fn softmax_row = ck_softmax_row_worker();
    const int pairs = B * NH;
#pragma omp parallel for schedule(dynamic, 1) if (pairs > 1)
    for (int pair = 0; pair < pairs; pair++) {
        float row[T > 0 ? T : 1];  // per-thread stack scratch when probs are not kept
        attention_head(&args, pair / NH, pair % NH, row, dot, axpy, softmax_row);
    }
}
