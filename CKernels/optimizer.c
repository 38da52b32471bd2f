// The optimizer's kernels: the gradient norm's sum of squares, scaling (clipping) and one AdamW step.
//
// ck_sum_squares cuts x into SUMSQ_BLOCKS blocks whose bounds depend only on n, sums each in double
// and adds the block sums in block order: the same bits on any thread count.
// ck_adamw_step does torch.optim.AdamW's single-tensor operations in torch's order, element by
// element (the SIMD paths use no contraction the scalar path does not, so every path gives the same
// bits; torch's lerp is a fused multiply-add, so is ours).
#include "internal.h"
#include "vecmath.h"

#include <math.h>

// MARK: - Scalar reference

static double sum_squares_scalar(const float *x, size_t i0, size_t i1) {
    double sum = 0.0;
    for (size_t i = i0; i < i1; i++) sum += (double)x[i] * (double)x[i];
    return sum;
}

static void scale_scalar(float *x, size_t i0, size_t i1, float s) {
    for (size_t i = i0; i < i1; i++) x[i] *= s;
}

// The step's scalars, computed once (in double where torch computes them in Python floats, then
// rounded to float where torch hands them to a float tensor operation).
typedef struct ck_adamw_scalars {
    float decay;      // 1 - lr * weight_decay
    float w1;         // 1 - beta1 (lerp weight)
    float beta2, w2;  // beta2, 1 - beta2
    float bc2_sqrt;   // sqrt(1 - beta2^step)
    float eps;
    float step_size;  // -lr / (1 - beta1^step)
} adamw_scalars;

static void adamw_range_scalar(float *param, const float *grad, float *m, float *v, size_t i0, size_t i1,
                               const adamw_scalars *s) {
    for (size_t i = i0; i < i1; i++) {
        const float g = grad[i];
        const float p = param[i] * s->decay;
        const float mi = fmaf(s->w1, g - m[i], m[i]);
        const float vi = v[i] * s->beta2 + (s->w2 * g) * g;
        const float denom = sqrtf(vi) / s->bc2_sqrt + s->eps;
        m[i] = mi;
        v[i] = vi;
        param[i] = p + (s->step_size * mi) / denom;
    }
}

#if CK_X86
// MARK: - AVX-512

CK_TARGET_AVX512 static double sum_squares_avx512(const float *x, size_t i0, size_t i1) {
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    for (size_t i = i0; i < i1; i += 16) {
        const __m512 v = _mm512_maskz_loadu_ps(ck_tail_mask512((int)CK_MIN(i1 - i, 16)), x + i);
        const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        acc0 = _mm512_fmadd_pd(lo, lo, acc0);
        acc1 = _mm512_fmadd_pd(hi, hi, acc1);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
}

CK_TARGET_AVX512 static void scale_avx512(float *x, size_t i0, size_t i1, float s) {
    const __m512 sv = _mm512_set1_ps(s);
    for (size_t i = i0; i < i1; i += 16) {
        const __mmask16 m = ck_tail_mask512((int)CK_MIN(i1 - i, 16));
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv));
    }
}

// adamw_range_scalar's operations, 16 at a time (the same roundings: mul, add, sqrt and div are
// exact-rounded in both, the lerp is a fused multiply-add in both).
CK_TARGET_AVX512 static void adamw_range_avx512(float *param, const float *grad, float *m, float *v, size_t i0,
                                                size_t i1, const adamw_scalars *s) {
    const __m512 decay = _mm512_set1_ps(s->decay), w1 = _mm512_set1_ps(s->w1), beta2 = _mm512_set1_ps(s->beta2);
    const __m512 w2 = _mm512_set1_ps(s->w2), bc2 = _mm512_set1_ps(s->bc2_sqrt), eps = _mm512_set1_ps(s->eps);
    const __m512 step = _mm512_set1_ps(s->step_size);
    for (size_t i = i0; i < i1; i += 16) {
        const __mmask16 k = ck_tail_mask512((int)CK_MIN(i1 - i, 16));
        const __m512 g = _mm512_maskz_loadu_ps(k, grad + i);
        const __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, param + i), decay);
        const __m512 m0 = _mm512_maskz_loadu_ps(k, m + i);
        const __m512 mi = _mm512_fmadd_ps(w1, _mm512_sub_ps(g, m0), m0);
        const __m512 vi = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, v + i), beta2),
                                        _mm512_mul_ps(_mm512_mul_ps(w2, g), g));
        const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
        _mm512_mask_storeu_ps(m + i, k, mi);
        _mm512_mask_storeu_ps(v + i, k, vi);
        _mm512_mask_storeu_ps(param + i, k, _mm512_add_ps(p, _mm512_div_ps(_mm512_mul_ps(step, mi), denom)));
    }
}

// MARK: - AVX2

CK_TARGET_AVX2 static double sum_squares_avx2(const float *x, size_t i0, size_t i1) {
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    for (size_t i = i0; i < i1; i += 8) {
        const __m256 v = _mm256_maskload_ps(x + i, ck_tail_mask256((int)CK_MIN(i1 - i, 8)));
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        acc0 = _mm256_fmadd_pd(lo, lo, acc0);
        acc1 = _mm256_fmadd_pd(hi, hi, acc1);
    }
    const __m256d acc = _mm256_add_pd(acc0, acc1);
    const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
    return _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
}

CK_TARGET_AVX2 static void scale_avx2(float *x, size_t i0, size_t i1, float s) {
    const __m256 sv = _mm256_set1_ps(s);
    for (size_t i = i0; i < i1; i += 8) {
        const __m256i m = ck_tail_mask256((int)CK_MIN(i1 - i, 8));
        ck_store_tail256(x + i, (long)(i1 - i), m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), sv));
    }
}

CK_TARGET_AVX2 static void adamw_range_avx2(float *param, const float *grad, float *m, float *v, size_t i0, size_t i1,
                                            const adamw_scalars *s) {
    const __m256 decay = _mm256_set1_ps(s->decay), w1 = _mm256_set1_ps(s->w1), beta2 = _mm256_set1_ps(s->beta2);
    const __m256 w2 = _mm256_set1_ps(s->w2), bc2 = _mm256_set1_ps(s->bc2_sqrt), eps = _mm256_set1_ps(s->eps);
    const __m256 step = _mm256_set1_ps(s->step_size);
    for (size_t i = i0; i < i1; i += 8) {
        const __m256i k = ck_tail_mask256((int)CK_MIN(i1 - i, 8));
        const __m256 g = _mm256_maskload_ps(grad + i, k);
        const __m256 p = _mm256_mul_ps(_mm256_maskload_ps(param + i, k), decay);
        const __m256 m0 = _mm256_maskload_ps(m + i, k);
        const __m256 mi = _mm256_fmadd_ps(w1, _mm256_sub_ps(g, m0), m0);
        const __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_maskload_ps(v + i, k), beta2),
                                        _mm256_mul_ps(_mm256_mul_ps(w2, g), g));
        const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
        ck_store_tail256(m + i, (long)(i1 - i), k, mi);
        ck_store_tail256(v + i, (long)(i1 - i), k, vi);
        ck_store_tail256(param + i, (long)(i1 - i), k, _mm256_add_ps(p, _mm256_div_ps(_mm256_mul_ps(step, mi), denom)));
    }
}
#endif  // CK_X86

// MARK: - Drivers

typedef ck_sum_squares_fn sum_squares_fn;
typedef ck_scale_fn scale_fn;
typedef ck_adamw_range_fn adamw_fn;

#define SUMSQ_BLOCKS 64

void ck_register_optimizer(ck_dispatch_table *table, ck_isa isa) {
    table->sum_squares = sum_squares_scalar;
    table->scale = scale_scalar;
    table->adamw_range = adamw_range_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) {
        table->sum_squares = sum_squares_avx512;
        table->scale = scale_avx512;
        table->adamw_range = adamw_range_avx512;
    }
    if (isa == CK_ISA_AVX2) {
        table->sum_squares = sum_squares_avx2;
        table->scale = scale_avx2;
        table->adamw_range = adamw_range_avx2;
    }
#else
    (void)isa;
#endif
}

#define OPT_CHUNK 16384

typedef struct {
    sum_squares_fn sum_squares;
    scale_fn scale;
    adamw_fn adamw;
    float *x, *m, *v;
    const float *cx, *grad;
    size_t n, block;
    float s;
    const adamw_scalars *scalars;
    double *partial;
} optimizer_job;

static void sum_squares_item(void *context, int b, int thread) {
    (void)thread;
    const optimizer_job *j = context;
    const size_t i0 = CK_MIN(j->n, (size_t)b * j->block), i1 = CK_MIN(j->n, i0 + j->block);
    j->partial[b] = j->sum_squares(j->cx, i0, i1);
}

double ck_sum_squares(const float *x, size_t n) {
    // Blocks of a multiple of 64 values, so every SIMD path sees whole vectors but in the last block.
    const size_t block = ((n + SUMSQ_BLOCKS - 1) / SUMSQ_BLOCKS + 63) / 64 * 64;
    double partial[SUMSQ_BLOCKS] = {0};
    optimizer_job job = {.sum_squares = ck_dispatch()->sum_squares, .cx = x, .n = n, .block = block, .partial = partial};
    const int blocks = block == 0 ? 0 : (int)((n + block - 1) / block);
    ck_parallel_for(blocks, n > 65536 ? ck_threads_max() : 1, 0, sum_squares_item, &job);
    double sum = 0.0;
    for (int b = 0; b < blocks; b++) sum += partial[b];
    return sum;
}

static void scale_item(void *context, int c, int thread) {
    (void)thread;
    const optimizer_job *j = context;
    j->scale(j->x, (size_t)c * OPT_CHUNK, CK_MIN(j->n, (size_t)(c + 1) * OPT_CHUNK), j->s);
}

void ck_scale(float *x, size_t n, float s) {
    optimizer_job job = {.scale = ck_dispatch()->scale, .x = x, .n = n, .s = s};
    const int chunks = (int)((n + OPT_CHUNK - 1) / OPT_CHUNK);
    ck_parallel_for(chunks, chunks > 4 ? ck_threads_max() : 1, 0, scale_item, &job);
}

static void adamw_item(void *context, int c, int thread) {
    (void)thread;
    const optimizer_job *j = context;
    j->adamw(j->x, j->grad, j->m, j->v, (size_t)c * OPT_CHUNK, CK_MIN(j->n, (size_t)(c + 1) * OPT_CHUNK),
             j->scalars);
}

void ck_adamw_step(float *param, const float *grad, float *m, float *v, size_t n,
                   double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step) {
    const double bias_correction1 = 1.0 - pow(beta1, (double)step);
    const double bias_correction2 = 1.0 - pow(beta2, (double)step);
    const adamw_scalars scalars = {
        .decay = (float)(1.0 - lr * weight_decay),
        .w1 = (float)(1.0 - beta1),
        .beta2 = (float)beta2,
        .w2 = (float)(1.0 - beta2),
        .bc2_sqrt = (float)sqrt(bias_correction2),
        .eps = (float)eps,
        .step_size = (float)(-(lr / bias_correction1)),
    };
    optimizer_job job = {.adamw = ck_dispatch()->adamw_range, .x = param, .grad = grad, .m = m, .v = v, .n = n,
                         .scalars = &scalars};
    const int chunks = (int)((n + OPT_CHUNK - 1) / OPT_CHUNK);
    ck_parallel_for(chunks, chunks > 2 ? ck_threads_max() : 1, 0, adamw_item, &job);
}
