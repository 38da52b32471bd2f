// Multi-head self-attention over a fused QKV projection, one (example, head) pair per work item:
// scores = q kᵀ over the real keys, scaled masked softmax, the head's intervention, then p V.
//
// The SIMD paths run both products on the GEMM micro-kernels (microkernel.h), one block of MR query
// rows at a time: the head's real keys are first transposed into 32-key panels (HS x 32) and its
// values copied into 32-column panels (len x 32), both in the thread's workspace; then for each row
// block S = Q Kᵀ (MR x len, Q read in place, straight into the caller's probabilities when it keeps
// them, else into an MR-row scratch), the scaled masked softmax of those rows while they are in L1,
// and context = P V. Nothing larger than MR x T scores exists at once; padding keys are never
// computed. The scalar path below is the per-row reference (dot products, softmax, axpy).
//
// The same workers run the training forward (ck_attention_forward_train): the probabilities are always kept,
// and with dropout the rows that multiply V are a dropped copy (the mask regenerated from the dropout key and
// the element's index ((b*NH + h)*T + i)*T + j, as the backward regenerates it).
#include "internal.h"
#include "attention_panels.h"
#include "bf16.h"
#include "microkernel.h"
#include "training.h"
#include "vecmath.h"

#include <string.h>

typedef struct ck_attention_args {
    float *context;        // (B,T,C)
    float *probs;          // (B,NH,T,T) or NULL
    const float *qkv;      // (B,T,3C)
    const int32_t *lengths;
    const int32_t *head_modes;
    int B, T, NH, HS;
    float scale;
    float *workspace;   // per thread: workspace_per_thread floats
    size_t workspace_per_thread;
    int bf16_terms;     // 0: fp32; 1 or 3: kept heads' probabilities rounded for the product with V
    uint64_t dropout_key, dropout_threshold;  // training: dropout on the probabilities that multiply V (threshold 0: none)
    float dropout_scale;
} attention_args;

// The probabilities of rows i0..i0+mr-1 of head (b, h) (stride lds, len real keys) as the product with V
// takes them: s itself; with dropout (training) a dropped copy (kept values times 1/(1-p), the others 0) in
// scratch (stride ldr) when s is the caller's, which keeps them undropped for the backward; in a bf16 mode
// a rounded copy in the same way, else s rounded in place.
static inline const float *probabilities_for_values(const attention_args *a, int b, int h, int i0, float *s, long lds,
                                                    int mr, int len, float *scratch, long ldr, long *ld_out) {
    *ld_out = lds;
    if (a->dropout_threshold) {
        float *dst = a->probs ? scratch : s;
        if (a->probs) *ld_out = ldr;
        for (int r = 0; r < mr; r++) {
            const uint64_t base = (((uint64_t)b * a->NH + h) * a->T + i0 + r) * a->T;
            for (int j = 0; j < len; j++)
                dst[r * *ld_out + j] = ck_dropout_bits(a->dropout_key, base + j) >= a->dropout_threshold
                                           ? s[r * lds + j] * a->dropout_scale : 0.0f;
        }
        return dst;
    }
    if (a->bf16_terms == 0) return s;
    float *dst = a->probs ? scratch : s;
    if (a->probs) *ld_out = ldr;
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < len; j++) dst[r * *ld_out + j] = bf16_operand(s[r * lds + j], a->bf16_terms);
    return dst;
}

// The scalar reference's vector primitives.
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

// MARK: - One (example, head), scalar reference

// Per query row: scores by dot products, softmax, then p·V by axpy. scratch holds T floats when
// probs are not kept.
static void attention_head_scalar(const attention_args *a, int b, int h, float *row_scratch,
                                  ck_softmax_row_fn softmax_row) {
    const dot_fn dot = dot_scalar;
    const axpy_fn axpy = axpy_scalar;
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
        long ld;
        const float *pv = mode == CK_HEAD_KEEP ? probabilities_for_values(a, b, h, i, p, T, 1, len, row_scratch, T, &ld) : p;
        (void)ld;
        for (int j = 0; j < len; j++) axpy(out, pv[j], v + (size_t)j * C3, HS);
    }
}


// Uniform and zero heads need no scores: probabilities by definition, context 0 or the mean of V.
static void attention_head_fixed(const attention_args *a, int b, int h, int mode) {
    const int T = a->T, HS = a->HS, C = a->NH * a->HS, C3 = 3 * C;
    const int len = a->lengths[b];
    const float uniform = len > 0 ? 1.0f / (float)len : 0.0f;
    const float *v = a->qkv + (size_t)b * T * C3 + 2 * C + h * HS;
    float *context = a->context + (size_t)b * T * C + h * HS;
    if (a->probs) {
        float *p = a->probs + ((size_t)b * a->NH + h) * T * T;
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++) p[(size_t)i * T + j] = mode == CK_HEAD_UNIFORM && j < len ? uniform : 0.0f;
    }
    // Row 0 gets the result (the same sum, in the same order, as a p·V row of 1/L weights), the
    // other rows copy it.
    for (int d = 0; d < HS; d++) context[d] = 0.0f;
    if (mode == CK_HEAD_UNIFORM)
        for (int j = 0; j < len; j++)
            for (int d = 0; d < HS; d++) context[d] += uniform * v[(size_t)j * C3 + d];
    for (int i = 1; i < T; i++) memcpy(context + (size_t)i * C, context, sizeof(float) * HS);
}


#if CK_X86
// MARK: - AVX-512


// C[mr x n] = A[mr x kc] (rows of stride lda) · B[kc x n] (rows of stride ldb): the micro-kernel
// specialised for each row count.
CK_TARGET_AVX512 static void rows_times_panel512(int mr, int kc, const float *a, long lda, const float *b,
                                                 long ldb, int n, float *c, long ldc) {
    switch (mr) {
#define CK_CASE(R) case R: ck_tile512(R, kc, a, lda, 1, b, ldb, n, c, ldc, 0, NULL, NULL, 0); break;
    CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
    CK_CASE(7) CK_CASE(8) CK_CASE(9) CK_CASE(10) CK_CASE(11) CK_CASE(12)
#undef CK_CASE
    }
}

CK_TARGET_AVX512 static void attention_head_avx512(const attention_args *a, int b, int h, float *scratch,
                                                   ck_softmax_row_fn softmax_row) {
    const int T = a->T, HS = a->HS, C = a->NH * a->HS, C3 = 3 * C;
    const int len = a->lengths[b];
    const float *q = a->qkv + (size_t)b * T * C3 + h * HS;
    const float *v = q + 2 * C;
    float *context = a->context + (size_t)b * T * C + h * HS;
    const int panels = (len + CK_NR - 1) / CK_NR;
    const int hs_padded = (HS + CK_NR - 1) / CK_NR * CK_NR;
    float *keys = scratch;                                   // panels x HS x 32
    float *values = keys + (size_t)panels * HS * CK_NR;      // HS/32 panels x len x 32
    float *rows = values + (size_t)len * hs_padded;          // MR x ld scores, when probs are not kept
    pack_keys_avx512(keys, q + C, len, HS, C3);
    pack_values(values, v, len, HS, C3);
    for (int i0 = 0; i0 < T; i0 += CK_MR512) {
        const int mr = CK_MIN(CK_MR512, T - i0);
        float *s;
        long lds;
        if (a->probs) {
            s = a->probs + (((size_t)b * a->NH + h) * T + i0) * T;
            lds = T;
        } else {
            s = rows;
            lds = (long)panels * CK_NR;
        }
        for (int p = 0; p < panels; p++)
            rows_times_panel512(mr, HS, q + (size_t)i0 * C3, C3, keys + (size_t)p * HS * CK_NR, CK_NR,
                                CK_MIN(CK_NR, len - p * CK_NR), s + p * CK_NR, lds);
        for (int r = 0; r < mr; r++) softmax_row(s + r * lds, a->probs ? T : len, len, a->scale);
        long ldp;
        const float *pv = probabilities_for_values(a, b, h, i0, s, lds, mr, len, rows, (long)panels * CK_NR, &ldp);
        for (int d = 0; d < HS; d += CK_NR)
            rows_times_panel512(mr, len, pv, ldp, values + (size_t)(d / CK_NR) * len * CK_NR, CK_NR,
                                CK_MIN(CK_NR, HS - d), context + (size_t)i0 * C + d, C);
    }
}

// MARK: - AVX2

CK_TARGET_AVX2 static void rows_times_panel256(int mr, int kc, const float *a, long lda, const float *b,
                                               long ldb, int n, float *c, long ldc) {
    switch (mr) {
#define CK_CASE(R) case R: ck_tile256(R, kc, a, lda, 1, b, ldb, n, c, ldc, 0, NULL, NULL, 0); break;
    CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
#undef CK_CASE
    }
}

CK_TARGET_AVX2 static void attention_head_avx2(const attention_args *a, int b, int h, float *scratch,
                                               ck_softmax_row_fn softmax_row) {
    const int T = a->T, HS = a->HS, C = a->NH * a->HS, C3 = 3 * C;
    const int len = a->lengths[b];
    const float *q = a->qkv + (size_t)b * T * C3 + h * HS;
    const float *v = q + 2 * C;
    float *context = a->context + (size_t)b * T * C + h * HS;
    const int panels = (len + CK_NR - 1) / CK_NR;
    const int hs_padded = (HS + CK_NR - 1) / CK_NR * CK_NR;
    float *keys = scratch;
    float *values = keys + (size_t)panels * HS * CK_NR;
    float *rows = values + (size_t)len * hs_padded;
    pack_keys(keys, q + C, len, HS, C3);
    pack_values(values, v, len, HS, C3);
    for (int i0 = 0; i0 < T; i0 += CK_MR256) {
        const int mr = CK_MIN(CK_MR256, T - i0);
        float *s;
        long lds;
        if (a->probs) {
            s = a->probs + (((size_t)b * a->NH + h) * T + i0) * T;
            lds = T;
        } else {
            s = rows;
            lds = (long)panels * CK_NR;
        }
        for (int j = 0; j < len; j += 16)
            rows_times_panel256(mr, HS, q + (size_t)i0 * C3, C3, keys + (size_t)(j / CK_NR) * HS * CK_NR + j % CK_NR,
                                CK_NR, CK_MIN(16, len - j), s + j, lds);
        for (int r = 0; r < mr; r++) softmax_row(s + r * lds, a->probs ? T : len, len, a->scale);
        long ldp;
        const float *pv = probabilities_for_values(a, b, h, i0, s, lds, mr, len, rows, (long)panels * CK_NR, &ldp);
        for (int d = 0; d < HS; d += 16)
            rows_times_panel256(mr, len, pv, ldp, values + (size_t)(d / CK_NR) * len * CK_NR + d % CK_NR, CK_NR,
                                CK_MIN(16, HS - d), context + (size_t)i0 * C + d, C);
    }
}
#endif  // CK_X86

// MARK: - Driver

size_t ck_attention_workspace_size(int T, int HS, int threads) {
    const size_t padded = (size_t)(T + CK_NR - 1) / CK_NR * CK_NR;
    const size_t hs_padded = (size_t)(HS + CK_NR - 1) / CK_NR * CK_NR;
    // Key panels (HS x padded), value panels (T x hs_padded) and MR rows of scores (or the scalar
    // path's one row of T).
    const size_t per_thread = (padded * HS + (size_t)T * hs_padded + (size_t)CK_MR512 * padded + 15) / 16 * 16;
    return (size_t)(threads < 1 ? 1 : threads) * per_thread;
}

typedef ck_attention_head_fn attention_head_fn;

void ck_register_attention(ck_dispatch_table *table, ck_isa isa) {
    table->attention_head = attention_head_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) table->attention_head = attention_head_avx512;
    if (isa == CK_ISA_AVX2) table->attention_head = attention_head_avx2;
#else
    (void)isa;
#endif
}

typedef struct {
    const attention_args *args;
    attention_head_fn head;
    ck_softmax_row_fn softmax_row;
} attention_job;

// One (example, head) pair on the thread's own scratch.
static void attention_item(void *context, int pair, int thread) {
    const attention_job *job = context;
    const attention_args *a = job->args;
    const int b = pair / a->NH, h = pair % a->NH;
    const int mode = a->head_modes ? a->head_modes[h] : CK_HEAD_KEEP;
    float *scratch = a->workspace + (size_t)thread * a->workspace_per_thread;
    // The scalar reference handles every mode itself; the SIMD paths only compute kept heads.
    if (mode == CK_HEAD_KEEP || job->head == attention_head_scalar) job->head(a, b, h, scratch, job->softmax_row);
    else attention_head_fixed(a, b, h, mode);
}

void ck_attention_forward(float *context, float *probs, const float *qkv, const int32_t *lengths,
                          const int32_t *head_modes, int B, int T, int NH, int HS, float scale,
                          float *workspace, size_t workspace_floats) {
    ck_attention_forward_bf16(context, probs, qkv, lengths, head_modes, B, T, NH, HS, scale, workspace,
                              workspace_floats, 0);
}

void ck_attention_forward_bf16(float *context, float *probs, const float *qkv, const int32_t *lengths,
                               const int32_t *head_modes, int B, int T, int NH, int HS, float scale,
                               float *workspace, size_t workspace_floats, int terms) {
    const size_t per_thread = ck_attention_workspace_size(T, HS, 1);
    int threads = CK_MAX(1, CK_MIN(ck_threads_max(), (int)(workspace_floats / per_thread)));
    attention_args args = {context, probs, qkv, lengths, head_modes, B, T, NH, HS, scale, workspace, per_thread,
                           terms == 3 ? 3 : terms == 1 ? 1 : 0, 0, 0, 0.0f};
    const ck_dispatch_table *table = ck_dispatch();
    attention_job job = {&args, table->attention_head, table->softmax_row};
    ck_parallel_for(B * NH, threads, 1, attention_item, &job);
}

// The training forward: the same workers, every head kept, the probabilities always written (before dropout),
// dropout on the copy that multiplies V. With dropout_p == 0 it is ck_attention_forward itself.
void ck_attention_forward_train(float *context, float *probs, const float *qkv, const int32_t *lengths,
                                int B, int T, int NH, int HS, float scale,
                                float dropout_p, uint64_t seed, uint64_t stream,
                                float *workspace, size_t workspace_floats) {
    const size_t per_thread = ck_attention_workspace_size(T, HS, 1);
    const int threads = CK_MAX(1, CK_MIN(ck_threads_max(), (int)(workspace_floats / per_thread)));
    attention_args args = {context, probs, qkv, lengths, NULL, B, T, NH, HS, scale, workspace, per_thread, 0,
                           ck_dropout_key(seed, stream), ck_dropout_threshold(dropout_p), ck_dropout_scale(dropout_p)};
    const ck_dispatch_table *table = ck_dispatch();
    attention_job job = {&args, table->attention_head, table->softmax_row};
    ck_parallel_for(B * NH, threads, 1, attention_item, &job);
}

// MARK: - Changed heads only (ablation sweeps)

static void fixed_head_item(void *context, int pair, int thread) {
    (void)thread;
    const attention_args *a = context;
    const int b = pair / a->NH, h = pair % a->NH;
    const int mode = a->head_modes[h];
    if (mode != CK_HEAD_KEEP) attention_head_fixed(a, b, h, mode);
}

void ck_attention_fixed_heads(float *context, const float *qkv, const int32_t *lengths,
                              const int32_t *head_modes, int B, int T, int NH, int HS) {
    // The SIMD paths of ck_attention_forward compute changed heads with attention_head_fixed, and
    // the scalar path's per-row loop does the same additions in the same order, so a sweep that
    // patches a kept layer's context gets the bits a full ck_attention_forward would give
    // (AblationTests check it on every instruction set).
    attention_args args = {context, NULL, qkv, lengths, head_modes, B, T, NH, HS, 0.0f, NULL, 0, 0, 0, 0, 0.0f};
    ck_parallel_for(B * NH, ck_threads_max(), 1, fixed_head_item, &args);
}
