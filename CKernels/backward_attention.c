// Attention for training: the forward with dropout on the probabilities, and its backward.
// One (example, head) pair per work item, like ck_attention_forward; every pair writes only its own
// columns of context / d_qkv, so nothing is reduced across threads (the bits do not depend on the
// thread count). The dropout mask is regenerated from (seed, stream, index), never stored.
//
// Backward, per pair, with P the saved probabilities, Pd = dropout(P), s the score scale:
//   dPd = dctx · Vᵀ,  dP = dropout_backward(dPd),  dS = s · P ⊙ (dP − rowsum(P ⊙ dP)),
//   dQ = dS · K,  dK = dSᵀ · Q,  dV = Pdᵀ · dctx            (keys j >= length: dS = Pd = 0).
#include "internal.h"
#include "microkernel.h"
#include "training.h"
#include "vecmath.h"

#include <string.h>

typedef struct {
    float *context;         // forward: (B,T,C)
    float *probs;           // forward: (B,NH,T,T)
    float *d_qkv;           // backward: (B,T,3C)
    const float *d_context; // backward: (B,T,C)
    const float *cprobs;    // backward: (B,NH,T,T)
    const float *qkv;       // (B,T,3C)
    const int32_t *lengths;
    int B, T, NH, HS;
    float scale;
    uint64_t key, threshold;  // dropout (threshold 0: none)
    float dropout_scale;
    float *workspace;
    size_t workspace_per_thread;
} attention_train_args;

// The dropout index of probability (b, h, i, 0).
static inline uint64_t row_index(const attention_train_args *a, int b, int h, int i) {
    return (((uint64_t)b * a->NH + h) * a->T + i) * a->T;
}

// MARK: - Scalar reference

static void forward_head_scalar(const attention_train_args *a, int b, int h, float *scratch,
                                ck_softmax_row_fn softmax_row) {
    const int T = a->T, HS = a->HS, C = a->NH * a->HS, C3 = 3 * C;
    const int len = a->lengths[b];
    const float *q = a->qkv + (size_t)b * T * C3 + h * HS;
    const float *k = q + C, *v = q + 2 * C;
    for (int i = 0; i < T; i++) {
        float *p = a->probs + (((size_t)b * a->NH + h) * T + i) * T;
        float *out = a->context + ((size_t)b * T + i) * C + h * HS;
        for (int j = 0; j < len; j++) {
            float acc = 0.0f;
            for (int d = 0; d < HS; d++) acc += q[(size_t)i * C3 + d] * k[(size_t)j * C3 + d];
            p[j] = acc;
        }
        softmax_row(p, T, len, a->scale);
        const float *pd = p;
        if (a->threshold) {
            const uint64_t base = row_index(a, b, h, i);
            for (int j = 0; j < len; j++)
                scratch[j] = ck_dropout_bits(a->key, base + j) >= a->threshold ? p[j] * a->dropout_scale : 0.0f;
            pd = scratch;
        }
        for (int d = 0; d < HS; d++) out[d] = 0.0f;
        for (int j = 0; j < len; j++)
            for (int d = 0; d < HS; d++) out[d] += pd[j] * v[(size_t)j * C3 + d];
    }
}

static void backward_head_scalar(const attention_train_args *a, int b, int h, float *scratch) {
    const int T = a->T, HS = a->HS, C = a->NH * a->HS, C3 = 3 * C;
    const int len = a->lengths[b];
    const float *q = a->qkv + (size_t)b * T * C3 + h * HS;
    const float *k = q + C, *v = q + 2 * C;
    float *dq = a->d_qkv + (size_t)b * T * C3 + h * HS;
    float *dk = dq + C, *dv = dq + 2 * C;
    for (int t = 0; t < T; t++) {
        memset(dq + (size_t)t * C3, 0, sizeof(float) * HS);
        memset(dk + (size_t)t * C3, 0, sizeof(float) * HS);
        memset(dv + (size_t)t * C3, 0, sizeof(float) * HS);
    }
    float *ds = scratch;  // one row of dS
    for (int i = 0; i < T; i++) {
        const float *p = a->cprobs + (((size_t)b * a->NH + h) * T + i) * T;
        const float *dctx = a->d_context + ((size_t)b * T + i) * C + h * HS;
        const uint64_t base = row_index(a, b, h, i);
        // dP and the dropped probabilities' contribution to dV.
        for (int j = 0; j < len; j++) {
            const int keep = a->threshold == 0 || ck_dropout_bits(a->key, base + j) >= a->threshold;
            float dpd = 0.0f;
            for (int d = 0; d < HS; d++) dpd += dctx[d] * v[(size_t)j * C3 + d];
            ds[j] = keep ? (a->threshold ? dpd * a->dropout_scale : dpd) : 0.0f;
            const float pd = keep ? (a->threshold ? p[j] * a->dropout_scale : p[j]) : 0.0f;
            for (int d = 0; d < HS; d++) dv[(size_t)j * C3 + d] += pd * dctx[d];
        }
        float dot = 0.0f;
        for (int j = 0; j < len; j++) dot += p[j] * ds[j];
        for (int j = 0; j < len; j++) ds[j] = a->scale * (p[j] * (ds[j] - dot));
        for (int j = 0; j < len; j++) {
            for (int d = 0; d < HS; d++) dq[(size_t)i * C3 + d] += ds[j] * k[(size_t)j * C3 + d];
            for (int d = 0; d < HS; d++) dk[(size_t)j * C3 + d] += ds[j] * q[(size_t)i * C3 + d];
        }
    }
}

// MARK: - Drivers

typedef void (*forward_head_fn)(const attention_train_args *, int, int, float *, ck_softmax_row_fn);
typedef void (*backward_head_fn)(const attention_train_args *, int, int, float *);

static size_t padded32(int n) { return (size_t)(n + CK_NR - 1) / CK_NR * CK_NR; }

size_t ck_attention_train_workspace_size(int T, int HS, int threads) {
    // ck_attention_forward's share, plus MR rows of dropped probabilities.
    const size_t per_thread = ck_attention_workspace_size(T, HS, 1) + ((size_t)CK_MR512 * padded32(T) + 15) / 16 * 16;
    return (size_t)(threads < 1 ? 1 : threads) * per_thread;
}

size_t ck_attention_backward_workspace_size(int T, int HS, int threads) {
    // Vᵀ in 32-key panels (HS x padded T), dS and the dropped probabilities (T x padded T each).
    const size_t padded = padded32(T);
    const size_t per_thread = ((size_t)HS * padded + 2 * (size_t)T * padded + 15) / 16 * 16;
    return (size_t)(threads < 1 ? 1 : threads) * per_thread;
}

typedef struct {
    const attention_train_args *args;
    forward_head_fn forward;
    backward_head_fn backward;
    ck_softmax_row_fn softmax_row;
} attention_train_job;

static void forward_item(void *context, int pair, int thread) {
    const attention_train_job *job = context;
    const attention_train_args *a = job->args;
    job->forward(a, pair / a->NH, pair % a->NH, a->workspace + (size_t)thread * a->workspace_per_thread,
                 job->softmax_row);
}

static void backward_item(void *context, int pair, int thread) {
    const attention_train_job *job = context;
    const attention_train_args *a = job->args;
    job->backward(a, pair / a->NH, pair % a->NH, a->workspace + (size_t)thread * a->workspace_per_thread);
}

void ck_attention_forward_train(float *context, float *probs, const float *qkv, const int32_t *lengths,
                                int B, int T, int NH, int HS, float scale,
                                float dropout_p, uint64_t seed, uint64_t stream,
                                float *workspace, size_t workspace_floats) {
    const size_t per_thread = ck_attention_train_workspace_size(T, HS, 1);
    const int threads = CK_MAX(1, CK_MIN(ck_threads_max(), (int)(workspace_floats / per_thread)));
    attention_train_args args = {.context = context, .probs = probs, .qkv = qkv, .lengths = lengths, .B = B, .T = T,
                                 .NH = NH, .HS = HS, .scale = scale, .key = ck_dropout_key(seed, stream),
                                 .threshold = ck_dropout_threshold(dropout_p),
                                 .dropout_scale = ck_dropout_scale(dropout_p), .workspace = workspace,
                                 .workspace_per_thread = per_thread};
    attention_train_job job = {&args, forward_head_scalar, NULL, ck_dispatch()->softmax_row};
    ck_parallel_for(B * NH, threads, 1, forward_item, &job);
}

void ck_attention_backward(float *d_qkv, const float *d_context, const float *qkv, const float *probs,
                           const int32_t *lengths, int B, int T, int NH, int HS, float scale,
                           float dropout_p, uint64_t seed, uint64_t stream,
                           float *workspace, size_t workspace_floats) {
    const size_t per_thread = ck_attention_backward_workspace_size(T, HS, 1);
    const int threads = CK_MAX(1, CK_MIN(ck_threads_max(), (int)(workspace_floats / per_thread)));
    attention_train_args args = {.d_qkv = d_qkv, .d_context = d_context, .cprobs = probs, .qkv = qkv,
                                 .lengths = lengths, .B = B, .T = T, .NH = NH, .HS = HS, .scale = scale,
                                 .key = ck_dropout_key(seed, stream), .threshold = ck_dropout_threshold(dropout_p),
                                 .dropout_scale = ck_dropout_scale(dropout_p), .workspace = workspace,
                                 .workspace_per_thread = per_thread};
    attention_train_job job = {&args, NULL, backward_head_scalar, NULL};
    ck_parallel_for(B * NH, threads, 1, backward_item, &job);
}
