// Training kernels over rows and elements: layernorm with saved statistics and its backward, the
// GELU and tanh derivatives, and the embeddings' scatter-add. tanh's derivative (the pooler's: B x C
// values) and the scatter-add (adds in a fixed order, which the compiler may vectorise without
// changing a bit) have one path for every ISA.
//
// Reductions over rows (layernorm's d_weight and d_bias, the embedding gradients) are partitioned
// over columns: each column's sum runs over the rows in row order on one thread, so the bits do not
// depend on the thread count.
#include "internal.h"
#include <string.h>
#include "vecmath.h"

#include <math.h>

#define CK_INV_SQRT2 0.70710678118654752440f
// 1/sqrt(2 pi), torch's kAlpha = M_2_SQRTPI * M_SQRT1_2 * 0.5.
#define CK_INV_SQRT_2PI 0.39894228040143267794f

// MARK: - Scalar reference

// ck_layernorm_forward's scalar rows, also storing mean and rstd.
static void layernorm_train_rows_scalar(float *out, float *mean_out, float *rstd_out, const float *inp,
                                        const float *weight, const float *bias, int r0, int r1, int C, float eps) {
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
        mean_out[r] = mean;
        rstd_out[r] = rstd;
    }
}

// d_inp rows r0..r1-1: with xhat = (x - mean) rstd and g = d_out * weight,
// d_inp = rstd (g - mean(g) - xhat mean(g xhat)).
static void layernorm_backward_rows_scalar(float *d_inp, const float *d_out, const float *inp, const float *mean,
                                           const float *rstd, const float *weight, int r0, int r1, int C) {
    for (int r = r0; r < r1; r++) {
        const float *dy = d_out + (size_t)r * C, *x = inp + (size_t)r * C;
        float *dx = d_inp + (size_t)r * C;
        const float mu = mean[r], rs = rstd[r];
        float sum_g = 0.0f, sum_gx = 0.0f;
        for (int i = 0; i < C; i++) {
            const float g = dy[i] * weight[i];
            sum_g += g;
            sum_gx += g * ((x[i] - mu) * rs);
        }
        const float mean_g = sum_g / (float)C, mean_gx = sum_gx / (float)C;
        for (int i = 0; i < C; i++) {
            const float xhat = (x[i] - mu) * rs;
            dx[i] = (dy[i] * weight[i] - mean_g - xhat * mean_gx) * rs;
        }
    }
}

// d_weight and d_bias for columns c0..c1-1, over every row in order.
static void layernorm_backward_columns_scalar(float *d_weight, float *d_bias, const float *d_out, const float *inp,
                                              const float *mean, const float *rstd, int N, int C, int c0, int c1) {
    for (int r = 0; r < N; r++) {
        const float *dy = d_out + (size_t)r * C, *x = inp + (size_t)r * C;
        const float mu = mean[r], rs = rstd[r];
        for (int i = c0; i < c1; i++) {
            if (d_weight) d_weight[i] += dy[i] * ((x[i] - mu) * rs);
            if (d_bias) d_bias[i] += dy[i];
        }
    }
}

static void gelu_backward_range_scalar(float *d_inp, const float *d_out, const float *inp, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) {
        const float x = inp[i];
        const float cdf = 0.5f * (1.0f + erff(x * CK_INV_SQRT2));
        const float pdf = CK_INV_SQRT_2PI * expf(x * x * -0.5f);
        d_inp[i] = d_out[i] * (cdf + x * pdf);
    }
}

static void tanh_backward_range_scalar(float *d_inp, const float *d_out, const float *out, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) d_inp[i] = d_out[i] * (1.0f - out[i] * out[i]);
}

// d/dx of 0.5 x (1 + tanh(u)), u = k (x + 0.044715 x^3): 0.5 (1 + th) + 0.5 x (1 - th^2) k (1 + 3 * 0.044715 x^2),
// as torch's autograd differentiates NewGELUActivation's expression (float32).
static void gelu_tanh_backward_range_scalar(float *d_inp, const float *d_out, const float *inp, size_t i0, size_t i1) {
    const float k = 0.7978845608028654f;
    for (size_t i = i0; i < i1; i++) {
        const float x = inp[i];
        const float th = tanhf(k * (x + 0.044715f * (x * x * x)));
        const float derivative = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * k * (1.0f + 3.0f * 0.044715f * x * x);
        d_inp[i] = d_out[i] * derivative;
    }
}

// ReLU's derivative from its input: 1 where x > 0 (0 at x = 0, as torch's threshold_backward).
static void relu_backward_range_scalar(float *d_inp, const float *d_out, const float *inp, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) d_inp[i] = inp[i] > 0.0f ? d_out[i] : 0.0f;
}

#if CK_X86
// MARK: - AVX-512

// layernorm.c's layernorm_rows_avx512 (the same operations: ck_layernorm_forward's bits), also
// storing mean and rstd.
CK_TARGET_AVX512 static void layernorm_train_rows_avx512(float *out, float *mean_out, float *rstd_out, const float *inp,
                                                         const float *weight, const float *bias, int r0, int r1, int C,
                                                         float eps) {
    for (int r = r0; r < r1; r++) {
        const float *x = inp + (size_t)r * C;
        float *y = out + (size_t)r * C;
        __m512 sum = _mm512_setzero_ps();
        for (int i = 0; i < C; i += 16)
            sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(ck_tail_mask512(C - i), x + i));
        const float mean_value = _mm512_reduce_add_ps(sum) / (float)C;
        const __m512 mean = _mm512_set1_ps(mean_value);
        __m512 squares = _mm512_setzero_ps();
        for (int i = 0; i < C; i += 16) {
            __mmask16 m = ck_tail_mask512(C - i);
            __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mean);
            squares = _mm512_fmadd_ps(d, d, squares);
        }
        const float variance = _mm512_reduce_add_ps(squares) / (float)C;
        const float rstd_value = 1.0f / sqrtf(variance + eps);
        const __m512 rstd = _mm512_set1_ps(rstd_value);
        for (int i = 0; i < C; i += 16) {
            __mmask16 m = ck_tail_mask512(C - i);
            __m512 n = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mean), rstd);
            __m512 o = _mm512_fmadd_ps(n, _mm512_maskz_loadu_ps(m, weight + i), _mm512_maskz_loadu_ps(m, bias + i));
            _mm512_mask_storeu_ps(y + i, m, o);
        }
        mean_out[r] = mean_value;
        rstd_out[r] = rstd_value;
    }
}

CK_TARGET_AVX512 static void layernorm_backward_rows_avx512(float *d_inp, const float *d_out, const float *inp,
                                                            const float *mean, const float *rstd, const float *weight,
                                                            int r0, int r1, int C) {
    for (int r = r0; r < r1; r++) {
        const float *dy = d_out + (size_t)r * C, *x = inp + (size_t)r * C;
        float *dx = d_inp + (size_t)r * C;
        const __m512 mu = _mm512_set1_ps(mean[r]), rs = _mm512_set1_ps(rstd[r]);
        __m512 sum_g = _mm512_setzero_ps(), sum_gx = _mm512_setzero_ps();
        for (int i = 0; i < C; i += 16) {
            const __mmask16 m = ck_tail_mask512(C - i);
            const __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), _mm512_maskz_loadu_ps(m, weight + i));
            const __m512 xhat = _mm512_maskz_mul_ps(m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mu), rs);
            sum_g = _mm512_add_ps(sum_g, g);
            sum_gx = _mm512_fmadd_ps(g, xhat, sum_gx);
        }
        const __m512 mean_g = _mm512_set1_ps(_mm512_reduce_add_ps(sum_g) / (float)C);
        const __m512 mean_gx = _mm512_set1_ps(_mm512_reduce_add_ps(sum_gx) / (float)C);
        for (int i = 0; i < C; i += 16) {
            const __mmask16 m = ck_tail_mask512(C - i);
            const __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), _mm512_maskz_loadu_ps(m, weight + i));
            const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mu), rs);
            const __m512 d = _mm512_fnmadd_ps(xhat, mean_gx, _mm512_sub_ps(g, mean_g));
            _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(d, rs));
        }
    }
}

// Columns c0..c1-1 (at most COLUMN_BLOCK = 64: four vectors each of d_weight and d_bias in registers).
CK_TARGET_AVX512 static void layernorm_backward_columns_avx512(float *d_weight, float *d_bias, const float *d_out,
                                                               const float *inp, const float *mean, const float *rstd,
                                                               int N, int C, int c0, int c1) {
    __m512 dw[4], db[4];
    __mmask16 m[4];
    for (int v = 0; v < 4; v++) {
        m[v] = ck_tail_mask512(c1 - c0 - 16 * v);
        dw[v] = d_weight ? _mm512_maskz_loadu_ps(m[v], d_weight + c0 + 16 * v) : _mm512_setzero_ps();
        db[v] = d_bias ? _mm512_maskz_loadu_ps(m[v], d_bias + c0 + 16 * v) : _mm512_setzero_ps();
    }
    for (int r = 0; r < N; r++) {
        const float *dy = d_out + (size_t)r * C + c0, *x = inp + (size_t)r * C + c0;
        const __m512 mu = _mm512_set1_ps(mean[r]), rs = _mm512_set1_ps(rstd[r]);
        for (int v = 0; v < 4; v++) {
            if (!m[v]) break;
            const __m512 g = _mm512_maskz_loadu_ps(m[v], dy + 16 * v);
            const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m[v], x + 16 * v), mu), rs);
            dw[v] = _mm512_add_ps(dw[v], _mm512_mul_ps(g, xhat));
            db[v] = _mm512_add_ps(db[v], g);
        }
    }
    for (int v = 0; v < 4; v++) {
        if (d_weight) _mm512_mask_storeu_ps(d_weight + c0 + 16 * v, m[v], dw[v]);
        if (d_bias) _mm512_mask_storeu_ps(d_bias + c0 + 16 * v, m[v], db[v]);
    }
}

CK_TARGET_AVX512 static void gelu_backward_range_avx512(float *d_inp, const float *d_out, const float *inp, size_t i0,
                                                        size_t i1) {
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f), r2 = _mm512_set1_ps(CK_INV_SQRT2);
    const __m512 alpha = _mm512_set1_ps(CK_INV_SQRT_2PI), minus_half = _mm512_set1_ps(-0.5f);
    for (size_t i = i0; i < i1; i += 16) {
        const __mmask16 m = ck_tail_mask512((int)CK_MIN(i1 - i, 16));
        const __m512 x = _mm512_maskz_loadu_ps(m, inp + i);
        const __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(one, ck_erf512(_mm512_mul_ps(x, r2))));
        const __m512 pdf = _mm512_mul_ps(alpha, ck_exp512(_mm512_mul_ps(_mm512_mul_ps(x, x), minus_half)));
        const __m512 d = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, d_out + i), _mm512_fmadd_ps(x, pdf, cdf));
        _mm512_mask_storeu_ps(d_inp + i, m, d);
    }
}

// MARK: - AVX2

CK_TARGET_AVX2 static void layernorm_train_rows_avx2(float *out, float *mean_out, float *rstd_out, const float *inp,
                                                     const float *weight, const float *bias, int r0, int r1, int C,
                                                     float eps) {
    for (int r = r0; r < r1; r++) {
        const float *x = inp + (size_t)r * C;
        float *y = out + (size_t)r * C;
        __m256 sum = _mm256_setzero_ps();
        for (int i = 0; i < C; i += 8)
            sum = _mm256_add_ps(sum, _mm256_maskload_ps(x + i, ck_tail_mask256(C - i)));
        const float mean_value = ck_hsum256(sum) / (float)C;
        const __m256 mean = _mm256_set1_ps(mean_value);
        __m256 squares = _mm256_setzero_ps();
        for (int i = 0; i < C; i += 8) {
            __m256i m = ck_tail_mask256(C - i);
            __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), _mm256_castsi256_ps(m));
            squares = _mm256_fmadd_ps(d, d, squares);
        }
        const float variance = ck_hsum256(squares) / (float)C;
        const float rstd_value = 1.0f / sqrtf(variance + eps);
        const __m256 rstd = _mm256_set1_ps(rstd_value);
        for (int i = 0; i < C; i += 8) {
            __m256i m = ck_tail_mask256(C - i);
            __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), rstd);
            __m256 o = _mm256_fmadd_ps(n, _mm256_maskload_ps(weight + i, m), _mm256_maskload_ps(bias + i, m));
            ck_store_tail256(y + i, C - i, m, o);
        }
        mean_out[r] = mean_value;
        rstd_out[r] = rstd_value;
    }
}

CK_TARGET_AVX2 static void layernorm_backward_rows_avx2(float *d_inp, const float *d_out, const float *inp,
                                                        const float *mean, const float *rstd, const float *weight,
                                                        int r0, int r1, int C) {
    for (int r = r0; r < r1; r++) {
        const float *dy = d_out + (size_t)r * C, *x = inp + (size_t)r * C;
        float *dx = d_inp + (size_t)r * C;
        const __m256 mu = _mm256_set1_ps(mean[r]), rs = _mm256_set1_ps(rstd[r]);
        __m256 sum_g = _mm256_setzero_ps(), sum_gx = _mm256_setzero_ps();
        for (int i = 0; i < C; i += 8) {
            const __m256i m = ck_tail_mask256(C - i);
            const __m256 g = _mm256_mul_ps(_mm256_maskload_ps(dy + i, m), _mm256_maskload_ps(weight + i, m));
            const __m256 xhat = _mm256_and_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mu), rs),
                                              _mm256_castsi256_ps(m));
            sum_g = _mm256_add_ps(sum_g, g);
            sum_gx = _mm256_fmadd_ps(g, xhat, sum_gx);
        }
        const __m256 mean_g = _mm256_set1_ps(ck_hsum256(sum_g) / (float)C);
        const __m256 mean_gx = _mm256_set1_ps(ck_hsum256(sum_gx) / (float)C);
        for (int i = 0; i < C; i += 8) {
            const __m256i m = ck_tail_mask256(C - i);
            const __m256 g = _mm256_mul_ps(_mm256_maskload_ps(dy + i, m), _mm256_maskload_ps(weight + i, m));
            const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mu), rs);
            const __m256 d = _mm256_fnmadd_ps(xhat, mean_gx, _mm256_sub_ps(g, mean_g));
            ck_store_tail256(dx + i, C - i, m, _mm256_mul_ps(d, rs));
        }
    }
}

CK_TARGET_AVX2 static void layernorm_backward_columns_avx2(float *d_weight, float *d_bias, const float *d_out,
                                                           const float *inp, const float *mean, const float *rstd,
                                                           int N, int C, int c0, int c1) {
    __m256 dw[8], db[8];
    __m256i m[8];
    const int vectors = (c1 - c0 + 7) / 8;
    for (int v = 0; v < vectors; v++) {
        m[v] = ck_tail_mask256(c1 - c0 - 8 * v);
        dw[v] = d_weight ? _mm256_maskload_ps(d_weight + c0 + 8 * v, m[v]) : _mm256_setzero_ps();
        db[v] = d_bias ? _mm256_maskload_ps(d_bias + c0 + 8 * v, m[v]) : _mm256_setzero_ps();
    }
    for (int r = 0; r < N; r++) {
        const float *dy = d_out + (size_t)r * C + c0, *x = inp + (size_t)r * C + c0;
        const __m256 mu = _mm256_set1_ps(mean[r]), rs = _mm256_set1_ps(rstd[r]);
        for (int v = 0; v < vectors; v++) {
            const __m256 g = _mm256_maskload_ps(dy + 8 * v, m[v]);
            const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + 8 * v, m[v]), mu), rs);
            dw[v] = _mm256_add_ps(dw[v], _mm256_mul_ps(g, xhat));
            db[v] = _mm256_add_ps(db[v], g);
        }
    }
    for (int v = 0; v < vectors; v++) {
        if (d_weight) ck_store_tail256(d_weight + c0 + 8 * v, c1 - c0 - 8 * v, m[v], dw[v]);
        if (d_bias) ck_store_tail256(d_bias + c0 + 8 * v, c1 - c0 - 8 * v, m[v], db[v]);
    }
}

CK_TARGET_AVX2 static void gelu_backward_range_avx2(float *d_inp, const float *d_out, const float *inp, size_t i0,
                                                    size_t i1) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), r2 = _mm256_set1_ps(CK_INV_SQRT2);
    const __m256 alpha = _mm256_set1_ps(CK_INV_SQRT_2PI), minus_half = _mm256_set1_ps(-0.5f);
    for (size_t i = i0; i < i1; i += 8) {
        const __m256i m = ck_tail_mask256((int)CK_MIN(i1 - i, 8));
        const __m256 x = _mm256_maskload_ps(inp + i, m);
        const __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, ck_erf256(_mm256_mul_ps(x, r2))));
        const __m256 pdf = _mm256_mul_ps(alpha, ck_exp256(_mm256_mul_ps(_mm256_mul_ps(x, x), minus_half)));
        const __m256 d = _mm256_mul_ps(_mm256_maskload_ps(d_out + i, m), _mm256_fmadd_ps(x, pdf, cdf));
        ck_store_tail256(d_inp + i, (long)(i1 - i), m, d);
    }
}
#endif  // CK_X86

// MARK: - Drivers

typedef ck_layernorm_train_rows_fn layernorm_train_rows_fn;
typedef ck_layernorm_backward_rows_fn layernorm_backward_rows_fn;
typedef ck_layernorm_backward_columns_fn layernorm_backward_columns_fn;
typedef ck_pointwise_backward_fn pointwise_backward_fn;

void ck_register_training_elementwise(ck_dispatch_table *table, ck_isa isa) {
    table->layernorm_train_rows = layernorm_train_rows_scalar;
    table->layernorm_backward_rows = layernorm_backward_rows_scalar;
    table->layernorm_backward_columns = layernorm_backward_columns_scalar;
    table->gelu_backward_range = gelu_backward_range_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) {
        table->layernorm_train_rows = layernorm_train_rows_avx512;
        table->layernorm_backward_rows = layernorm_backward_rows_avx512;
        table->layernorm_backward_columns = layernorm_backward_columns_avx512;
        table->gelu_backward_range = gelu_backward_range_avx512;
    }
    if (isa == CK_ISA_AVX2) {
        table->layernorm_train_rows = layernorm_train_rows_avx2;
        table->layernorm_backward_rows = layernorm_backward_rows_avx2;
        table->layernorm_backward_columns = layernorm_backward_columns_avx2;
        table->gelu_backward_range = gelu_backward_range_avx2;
    }
#else
    (void)isa;
#endif
}

#define ROW_BLOCK 16
#define COLUMN_BLOCK 64
#define POINTWISE_CHUNK 4096

typedef struct {
    layernorm_train_rows_fn train_rows;
    layernorm_backward_rows_fn backward_rows;
    layernorm_backward_columns_fn backward_columns;
    pointwise_backward_fn pointwise;
    float *out, *mean, *rstd, *d_weight, *d_bias;
    const float *inp, *weight, *bias, *d_out, *cmean, *crstd;
    int N, C;
    float eps;
    size_t n;
} training_job;

static void layernorm_train_item(void *context, int t, int thread) {
    (void)thread;
    const training_job *j = context;
    j->train_rows(j->out, j->mean, j->rstd, j->inp, j->weight, j->bias, t * ROW_BLOCK,
                  CK_MIN(j->N, (t + 1) * ROW_BLOCK), j->C, j->eps);
}

void ck_layernorm_forward_train(float *out, float *mean, float *rstd, const float *inp,
                                const float *weight, const float *bias, int N, int C, float eps) {
    training_job job = {.train_rows = ck_dispatch()->layernorm_train_rows, .out = out, .mean = mean, .rstd = rstd,
                        .inp = inp, .weight = weight, .bias = bias, .N = N, .C = C, .eps = eps};
    const int blocks = (N + ROW_BLOCK - 1) / ROW_BLOCK;
    ck_parallel_for(blocks, (long)N * C > 65536 ? ck_threads_max() : 1, 0, layernorm_train_item, &job);
}

static void layernorm_backward_row_item(void *context, int t, int thread) {
    (void)thread;
    const training_job *j = context;
    j->backward_rows(j->out, j->d_out, j->inp, j->cmean, j->crstd, j->weight, t * ROW_BLOCK,
                     CK_MIN(j->N, (t + 1) * ROW_BLOCK), j->C);
}

static void layernorm_backward_column_item(void *context, int t, int thread) {
    (void)thread;
    const training_job *j = context;
    j->backward_columns(j->d_weight, j->d_bias, j->d_out, j->inp, j->cmean, j->crstd, j->N, j->C,
                        t * COLUMN_BLOCK, CK_MIN(j->C, (t + 1) * COLUMN_BLOCK));
}

void ck_layernorm_backward(float *d_inp, float *d_weight, float *d_bias, const float *d_out,
                           const float *inp, const float *mean, const float *rstd, const float *weight,
                           int N, int C) {
    const ck_dispatch_table *table = ck_dispatch();
    training_job job = {.backward_rows = table->layernorm_backward_rows,
                        .backward_columns = table->layernorm_backward_columns,
                        .out = d_inp, .d_weight = d_weight, .d_bias = d_bias, .d_out = d_out, .inp = inp,
                        .cmean = mean, .crstd = rstd, .weight = weight, .N = N, .C = C};
    const int threads = (long)N * C > 65536 ? ck_threads_max() : 1;
    if (d_inp) ck_parallel_for((N + ROW_BLOCK - 1) / ROW_BLOCK, threads, 0, layernorm_backward_row_item, &job);
    if (d_weight || d_bias)
        ck_parallel_for((C + COLUMN_BLOCK - 1) / COLUMN_BLOCK, threads, 0, layernorm_backward_column_item, &job);
}

static void pointwise_item(void *context, int c, int thread) {
    (void)thread;
    const training_job *j = context;
    j->pointwise(j->out, j->d_out, j->inp, (size_t)c * POINTWISE_CHUNK, CK_MIN(j->n, (size_t)(c + 1) * POINTWISE_CHUNK));
}

static void pointwise_run(pointwise_backward_fn fn, float *d_inp, const float *d_out, const float *x, size_t n) {
    training_job job = {.pointwise = fn, .out = d_inp, .d_out = d_out, .inp = x, .n = n};
    const int chunks = (int)((n + POINTWISE_CHUNK - 1) / POINTWISE_CHUNK);
    ck_parallel_for(chunks, chunks > 4 ? ck_threads_max() : 1, 0, pointwise_item, &job);
}

void ck_gelu_backward(float *d_inp, const float *d_out, const float *inp, size_t n) {
    pointwise_run(ck_dispatch()->gelu_backward_range, d_inp, d_out, inp, n);
}

void ck_tanh_backward(float *d_inp, const float *d_out, const float *out, size_t n) {
    pointwise_run(tanh_backward_range_scalar, d_inp, d_out, out, n);
}

void ck_activation_backward(float *d_inp, const float *d_out, const float *inp, size_t n, int activation) {
    switch (activation) {
    case CK_ACTIVATION_GELU: ck_gelu_backward(d_inp, d_out, inp, n); break;
    case CK_ACTIVATION_GELU_TANH: pointwise_run(gelu_tanh_backward_range_scalar, d_inp, d_out, inp, n); break;
    case CK_ACTIVATION_RELU: pointwise_run(relu_backward_range_scalar, d_inp, d_out, inp, n); break;
    default:
        // tanh's derivative is taken from its output: ck_tanh_backward. NONE passes the gradient through.
        if (d_inp != d_out) memcpy(d_inp, d_out, sizeof(float) * n);
        break;
    }
}

// MARK: - Embeddings

typedef struct {
    float *d_word, *d_position, *d_token_type;
    const float *d_out;
    const int32_t *ids, *types, *positions;
    int BT, T, C;
} embeddings_backward_job;

// Columns c0..c1-1 of every row, in (b,t) order. Plain adds in a fixed order: vectorised by the
// compiler or not, the bits are the same, so this one loop is every ISA's path.
static void embeddings_backward_item(void *context, int t, int thread) {
    (void)thread;
    const embeddings_backward_job *j = context;
    const int c0 = t * COLUMN_BLOCK, c1 = CK_MIN(j->C, c0 + COLUMN_BLOCK);
    const size_t C = (size_t)j->C;
    for (int bt = 0; bt < j->BT; bt++) {
        const float *g = j->d_out + (size_t)bt * C;
        float *word = j->d_word ? j->d_word + (size_t)j->ids[bt] * C : NULL;
        const size_t p = j->positions ? (size_t)j->positions[bt] : (size_t)(bt % j->T);
        float *position = j->d_position ? j->d_position + p * C : NULL;
        float *type = j->d_token_type ? j->d_token_type + (size_t)(j->types ? j->types[bt] : 0) * C : NULL;
        if (word)
            for (int c = c0; c < c1; c++) word[c] += g[c];
        if (position)
            for (int c = c0; c < c1; c++) position[c] += g[c];
        if (type)
            for (int c = c0; c < c1; c++) type[c] += g[c];
    }
}

void ck_embeddings_backward(float *d_word, float *d_position, float *d_token_type, const float *d_out,
                            const int32_t *input_ids, const int32_t *token_type_ids, int B, int T, int C) {
    ck_embeddings_backward_positions(d_word, d_position, d_token_type, d_out, input_ids, token_type_ids, NULL, B, T, C);
}

void ck_embeddings_backward_positions(float *d_word, float *d_position, float *d_token_type, const float *d_out,
                                      const int32_t *input_ids, const int32_t *token_type_ids,
                                      const int32_t *position_ids, int B, int T, int C) {
    embeddings_backward_job job = {d_word, d_position, d_token_type, d_out, input_ids, token_type_ids, position_ids,
                                   B * T, T, C};
    ck_parallel_for((C + COLUMN_BLOCK - 1) / COLUMN_BLOCK, (long)B * T * C > 65536 ? ck_threads_max() : 1, 0,
                    embeddings_backward_item, &job);
}
