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
typedef struct {
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

// MARK: - Drivers

typedef double (*sum_squares_fn)(const float *, size_t, size_t);
typedef void (*scale_fn)(float *, size_t, size_t, float);
typedef void (*adamw_fn)(float *, const float *, float *, float *, size_t, size_t, const adamw_scalars *);

#define SUMSQ_BLOCKS 64
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
    optimizer_job job = {.sum_squares = sum_squares_scalar, .cx = x, .n = n, .block = block, .partial = partial};
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
    optimizer_job job = {.scale = scale_scalar, .x = x, .n = n, .s = s};
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
    optimizer_job job = {.adamw = adamw_range_scalar, .x = param, .grad = grad, .m = m, .v = v, .n = n,
                         .scalars = &scalars};
    const int chunks = (int)((n + OPT_CHUNK - 1) / OPT_CHUNK);
    ck_parallel_for(chunks, chunks > 2 ? ck_threads_max() : 1, 0, adamw_item, &job);
}
