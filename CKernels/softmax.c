// Scaled, masked row softmax.
#include "internal.h"
#include "vecmath.h"

#include <math.h>

// MARK: - Scalar reference

// One row: softmax(scale * x[0..valid-1]); x[valid..cols-1] = 0 (masked keys get exactly 0,
// as exp(-inf) does in the reference). valid == 0 gives a zero row.
static void softmax_row_scalar(float *x, int cols, int valid, float scale) {
    float maximum = -INFINITY;
    for (int j = 0; j < valid; j++) maximum = fmaxf(maximum, scale * x[j]);
    float sum = 0.0f;
    for (int j = 0; j < valid; j++) {
        x[j] = expf(scale * x[j] - maximum);
        sum += x[j];
    }
    float inverse = valid > 0 ? 1.0f / sum : 0.0f;
    for (int j = 0; j < valid; j++) x[j] *= inverse;
    for (int j = valid; j < cols; j++) x[j] = 0.0f;
}

#if CK_X86
// MARK: - AVX-512

CK_TARGET_AVX512 static void softmax_row_avx512(float *x, int cols, int valid, float scale) {
    const __m512 s = _mm512_set1_ps(scale);
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < valid; j += 16) {
        __mmask16 m = ck_tail_mask512(valid - j);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, x + j)));
    }
    const __m512 maximum = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 vsum = _mm512_setzero_ps();
    for (int j = 0; j < valid; j += 16) {
        __mmask16 m = ck_tail_mask512(valid - j);
        __m512 e = ck_exp512(_mm512_fmsub_ps(s, _mm512_maskz_loadu_ps(m, x + j), maximum));
        vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
        _mm512_mask_storeu_ps(x + j, m, e);
    }
    const float sum = _mm512_reduce_add_ps(vsum);
    const __m512 inverse = _mm512_set1_ps(valid > 0 ? 1.0f / sum : 0.0f);
    for (int j = 0; j < valid; j += 16) {
        __mmask16 m = ck_tail_mask512(valid - j);
        _mm512_mask_storeu_ps(x + j, m, _mm512_mul_ps(inverse, _mm512_maskz_loadu_ps(m, x + j)));
    }
    for (int j = valid; j < cols; j++) x[j] = 0.0f;
}

// MARK: - AVX2

CK_TARGET_AVX2 static void softmax_row_avx2(float *x, int cols, int valid, float scale) {
    const __m256 s = _mm256_set1_ps(scale);
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (int j = 0; j < valid; j += 8) {
        __m256i m = ck_tail_mask256(valid - j);
        __m256 v = _mm256_mul_ps(s, _mm256_maskload_ps(x + j, m));
        vmax = _mm256_blendv_ps(vmax, _mm256_max_ps(vmax, v), _mm256_castsi256_ps(m));
    }
    const __m256 maximum = _mm256_set1_ps(ck_hmax256(vmax));
    __m256 vsum = _mm256_setzero_ps();
    for (int j = 0; j < valid; j += 8) {
        __m256i m = ck_tail_mask256(valid - j);
        __m256 e = ck_exp256(_mm256_fmsub_ps(s, _mm256_maskload_ps(x + j, m), maximum));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        vsum = _mm256_add_ps(vsum, e);
        ck_store_tail256(x + j, valid - j, m, e);
    }
    const float sum = ck_hsum256(vsum);
    const __m256 inverse = _mm256_set1_ps(valid > 0 ? 1.0f / sum : 0.0f);
    for (int j = 0; j < valid; j += 8) {
        __m256i m = ck_tail_mask256(valid - j);
        ck_store_tail256(x + j, valid - j, m, _mm256_mul_ps(inverse, _mm256_maskload_ps(x + j, m)));
    }
    for (int j = valid; j < cols; j++) x[j] = 0.0f;
}
#endif

// MARK: - Driver

void ck_register_softmax(ck_dispatch_table *table, ck_isa isa) {
    table->softmax_row = softmax_row_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) table->softmax_row = softmax_row_avx512;
    if (isa == CK_ISA_AVX2) table->softmax_row = softmax_row_avx2;
#else
    (void)isa;
#endif
}

typedef struct {
    ck_softmax_row_fn row;
    float *x;
    int cols, valid;
    float scale;
} softmax_job;

static void softmax_item(void *context, int r, int thread) {
    (void)thread;
    const softmax_job *job = context;
    job->row(job->x + (size_t)r * job->cols, job->cols, job->valid, job->scale);
}

void ck_softmax_forward(float *x, int rows, int cols, int valid, float scale) {
    softmax_job job = {ck_dispatch()->softmax_row, x, cols, valid, scale};
    ck_parallel_for(rows, (long)rows * cols > 32768 ? ck_threads_max() : 1, 0, softmax_item, &job);
}
