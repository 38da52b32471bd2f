// Layer normalisation over the last dimension (biased variance, eps inside the square root,
// as torch.nn.LayerNorm).
#include "internal.h"
#include "vecmath.h"

#include <math.h>

// MARK: - Scalar reference

static void layernorm_rows_scalar(float *out, const float *inp, const float *weight,
                                  const float *bias, int r0, int r1, int C, float eps) {
    for (int r = r0; r < r1; r++) {
        const float *x = inp + (size_t)r * C;
        float *y = out + (size_t)r * C;
        float mean = 0.0f;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= (float)C;
        float variance = 0.0f;
        for (int i = 0; i < C; i++) variance += (x[i] - mean) * (x[i] - mean);
        variance /= (float)C;
        const float rstd = 1.0f / sqrtf(variance + eps);
        for (int i = 0; i < C; i++) y[i] = (x[i] - mean) * rstd * weight[i] + bias[i];
    }
}

#if CK_X86
// MARK: - AVX-512

CK_TARGET_AVX512 static void layernorm_rows_avx512(float *out, const float *inp, const float *weight,
                                                   const float *bias, int r0, int r1, int C, float eps) {
    for (int r = r0; r < r1; r++) {
        const float *x = inp + (size_t)r * C;
        float *y = out + (size_t)r * C;
        __m512 sum = _mm512_setzero_ps();
        for (int i = 0; i < C; i += 16)
            sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(ck_tail_mask512(C - i), x + i));
        const __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(sum) / (float)C);
        __m512 squares = _mm512_setzero_ps();
        for (int i = 0; i < C; i += 16) {
            __mmask16 m = ck_tail_mask512(C - i);
            __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mean);
            squares = _mm512_fmadd_ps(d, d, squares);
        }
        const float variance = _mm512_reduce_add_ps(squares) / (float)C;
        const __m512 rstd = _mm512_set1_ps(1.0f / sqrtf(variance + eps));
        for (int i = 0; i < C; i += 16) {
            __mmask16 m = ck_tail_mask512(C - i);
            __m512 n = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mean), rstd);
            __m512 o = _mm512_fmadd_ps(n, _mm512_maskz_loadu_ps(m, weight + i), _mm512_maskz_loadu_ps(m, bias + i));
            _mm512_mask_storeu_ps(y + i, m, o);
        }
    }
}

// MARK: - AVX2

CK_TARGET_AVX2 static void layernorm_rows_avx2(float *out, const float *inp, const float *weight,
                                               const float *bias, int r0, int r1, int C, float eps) {
    for (int r = r0; r < r1; r++) {
        const float *x = inp + (size_t)r * C;
        float *y = out + (size_t)r * C;
        __m256 sum = _mm256_setzero_ps();
        for (int i = 0; i < C; i += 8)
            sum = _mm256_add_ps(sum, _mm256_maskload_ps(x + i, ck_tail_mask256(C - i)));
        const __m256 mean = _mm256_set1_ps(ck_hsum256(sum) / (float)C);
        __m256 squares = _mm256_setzero_ps();
        for (int i = 0; i < C; i += 8) {
            __m256i m = ck_tail_mask256(C - i);
            __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), _mm256_castsi256_ps(m));
            squares = _mm256_fmadd_ps(d, d, squares);
        }
        const float variance = ck_hsum256(squares) / (float)C;
        const __m256 rstd = _mm256_set1_ps(1.0f / sqrtf(variance + eps));
        for (int i = 0; i < C; i += 8) {
            __m256i m = ck_tail_mask256(C - i);
            __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), rstd);
            __m256 o = _mm256_fmadd_ps(n, _mm256_maskload_ps(weight + i, m), _mm256_maskload_ps(bias + i, m));
            ck_store_tail256(y + i, C - i, m, o);
        }
    }
}
#endif

// MARK: - Driver

void ck_register_layernorm(ck_dispatch_table *table, ck_isa isa) {
    table->layernorm_rows = layernorm_rows_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) table->layernorm_rows = layernorm_rows_avx512;
    if (isa == CK_ISA_AVX2) table->layernorm_rows = layernorm_rows_avx2;
#else
    (void)isa;
#endif
}

#define LAYERNORM_BLOCK 16

typedef struct {
    ck_layernorm_rows_fn rows;
    float *out;
    const float *inp, *weight, *bias;
    int N, C;
    float eps;
} layernorm_job;

static void layernorm_item(void *context, int t, int thread) {
    (void)thread;
    const layernorm_job *j = context;
    j->rows(j->out, j->inp, j->weight, j->bias, t * LAYERNORM_BLOCK, CK_MIN(j->N, (t + 1) * LAYERNORM_BLOCK), j->C, j->eps);
}

void ck_layernorm_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int N, int C, float eps) {
    layernorm_job job = {ck_dispatch()->layernorm_rows, out, inp, weight, bias, N, C, eps};
    const int blocks = (N + LAYERNORM_BLOCK - 1) / LAYERNORM_BLOCK;
    ck_parallel_for(blocks, (long)N * C > 65536 ? ck_threads_max() : 1, 0, layernorm_item, &job);
}
