// Attention's backward for training (its forward, with dropout, is attention.c's: ck_attention_forward_train).
// One (example, head) pair per work item, like ck_attention_forward; every pair writes only its own
// columns of d_qkv, so nothing is reduced across threads (the bits do not depend on the thread count).
// The dropout mask is regenerated from (seed, stream, index), never stored.
//
// Backward, per pair, with P the saved probabilities, Pd = dropout(P), s the score scale:
//   dPd = dctx · Vᵀ,  dP = dropout_backward(dPd),  dS = s · P ⊙ (dP − rowsum(P ⊙ dP)),
//   dQ = dS · K,  dK = dSᵀ · Q,  dV = Pdᵀ · dctx            (keys j >= length: dS = Pd = 0).
#include "internal.h"
#include "attention_panels.h"
#include "microkernel.h"
#include "tiles.h"
#include "training.h"
#include "vecmath.h"

#include <string.h>

typedef struct ck_attention_train_args {
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


// The element-wise middle of the backward for rows i0..i0+mr-1, in place in ds (stride ldp), which
// holds dPd on entry and s · dS on return; pd (stride ldp, when dropout is on) receives Pd.
static void backward_rows(const attention_train_args *a, int b, int h, int i0, int mr, int len, float *ds,
                          float *pd, long ldp) {
    const int T = a->T;
    for (int r = 0; r < mr; r++) {
        const int i = i0 + r;
        const float *p = a->cprobs + (((size_t)b * a->NH + h) * T + i) * T;
        float *row = ds + r * ldp;
        if (a->threshold) {
            const uint64_t base = row_index(a, b, h, i);
            float *pdrow = pd + r * ldp;
            for (int j = 0; j < len; j++) {
                const int keep = ck_dropout_bits(a->key, base + j) >= a->threshold;
                row[j] = keep ? row[j] * a->dropout_scale : 0.0f;
                pdrow[j] = keep ? p[j] * a->dropout_scale : 0.0f;
            }
        }
        float dot = 0.0f;
        for (int j = 0; j < len; j++) dot += p[j] * row[j];
        for (int j = 0; j < len; j++) row[j] = a->scale * (p[j] * (row[j] - dot));
    }
}

// Rows len..T-1 of the head's dK and dV (padding keys) are 0; all rows when len == 0.
static void zero_padding_rows(const attention_train_args *a, int b, int h, int len) {
    const int T = a->T, HS = a->HS, C = a->NH * a->HS, C3 = 3 * C;
    float *dq = a->d_qkv + (size_t)b * T * C3 + h * HS;
    for (int t = 0; t < T; t++) {
        if (len == 0) memset(dq + (size_t)t * C3, 0, sizeof(float) * HS);
        if (t >= len) {
            memset(dq + (size_t)t * C3 + C, 0, sizeof(float) * HS);
            memset(dq + (size_t)t * C3 + 2 * C, 0, sizeof(float) * HS);
        }
    }
}

// The backward of one (example, head) on the micro-kernels: TILE is the ISA's strided tile, MR its
// rows, NW its columns, PACK the key-panel transpose. Scratch: Vᵀ panels, dS and Pd (T x ldp each),
// and K, Q and dctx copied into 32-column panels (rows 9 KB apart in bert-base's qkv would miss the
// cache at every k step of the products that stream them, as attention.c's values would).
#define CK_BACKWARD_HEAD(TILE, MR, NW, PACK)                                                                  \
    const int T = a->T, HS = a->HS, C = a->NH * a->HS, C3 = 3 * C;                                          \
    const int len = a->lengths[b];                                                                           \
    const float *q = a->qkv + (size_t)b * T * C3 + h * HS;                                                   \
    const float *k = q + C, *v = q + 2 * C;                                                                  \
    const float *dctx = a->d_context + (size_t)b * T * C + h * HS;                                           \
    float *dq = a->d_qkv + (size_t)b * T * C3 + h * HS;                                                      \
    float *dk = dq + C, *dv = dq + 2 * C;                                                                    \
    zero_padding_rows(a, b, h, len);                                                                         \
    if (len == 0) return;                                                                                    \
    const int panels = (len + CK_NR - 1) / CK_NR;                                                            \
    const long ldp = (long)panels * CK_NR;                                                                   \
    float *vt = scratch;                                   /* panels x HS x 32 */                            \
    float *ds = vt + (size_t)panels * HS * CK_NR;          /* T x ldp */                                     \
    float *pd = ds + (size_t)T * ldp;                      /* T x ldp, with dropout */                       \
    const long hsp = (HS + CK_NR - 1) / CK_NR * CK_NR;                                                       \
    float *kp = pd + (size_t)T * ldp;                      /* K, Q and dctx in 32-column panels */          \
    float *qp = kp + (size_t)len * hsp;                                                                      \
    float *cp = qp + (size_t)T * hsp;                                                                        \
    PACK(vt, v, len, HS, C3);                                                                                \
    pack_values(kp, k, len, HS, C3);                                                                         \
    pack_values(qp, q, T, HS, C3);                                                                           \
    pack_values(cp, dctx, T, HS, C);                                                                         \
    for (int i0 = 0; i0 < T; i0 += MR) {                                                                     \
        const int mr = CK_MIN(MR, T - i0);                                                                   \
        for (int j = 0; j < len; j += NW)                                                                    \
            TILE(mr, HS, dctx + (size_t)i0 * C, C, 1, vt + (size_t)(j / CK_NR) * HS * CK_NR + j % CK_NR, CK_NR, \
                 CK_MIN(NW, len - j), ds + i0 * ldp + j, ldp, 0);                                            \
        backward_rows(a, b, h, i0, mr, len, ds + i0 * ldp, pd + i0 * ldp, ldp);                             \
    }                                                                                                        \
    /* Pd: the dropped probabilities, or the saved ones in place. */                                         \
    const float *pdrop = a->threshold ? pd : a->cprobs + ((size_t)b * a->NH + h) * T * T;                    \
    const long ldpd = a->threshold ? ldp : T;                                                                \
    for (int d = 0; d < HS; d += NW) {                                                                       \
        const int n = CK_MIN(NW, HS - d);                                                                    \
        for (int j0 = 0; j0 < len; j0 += MR) {                                                               \
            const int mr = CK_MIN(MR, len - j0);                                                             \
            TILE(mr, T, pdrop + j0, 1, ldpd, cp + (size_t)(d / CK_NR) * T * CK_NR + d % CK_NR, CK_NR, n,     \
                 dv + (size_t)j0 * C3 + d, C3, 0);                                                           \
            TILE(mr, T, ds + j0, 1, ldp, qp + (size_t)(d / CK_NR) * T * CK_NR + d % CK_NR, CK_NR, n,         \
                 dk + (size_t)j0 * C3 + d, C3, 0);                                                           \
        }                                                                                                    \
        for (int i0 = 0; i0 < T; i0 += MR)                                                                   \
            TILE(CK_MIN(MR, T - i0), len, ds + i0 * ldp, ldp, 1, kp + (size_t)(d / CK_NR) * len * CK_NR + d % CK_NR, \
                 CK_NR, n, dq + (size_t)i0 * C3 + d, C3, 0);                                                 \
    }

#if CK_X86
CK_TARGET_AVX512 static void backward_head_avx512(const attention_train_args *a, int b, int h, float *scratch) {
    CK_BACKWARD_HEAD(ck_tile512_strided, CK_MR512, CK_NR, pack_keys_avx512)
}

CK_TARGET_AVX2 static void backward_head_avx2(const attention_train_args *a, int b, int h, float *scratch) {
    CK_BACKWARD_HEAD(ck_tile256_strided, CK_MR256, 16, pack_keys)
}
#endif  // CK_X86

// MARK: - Drivers

typedef ck_attention_train_backward_head_fn backward_head_fn;

void ck_register_attention_train(ck_dispatch_table *table, ck_isa isa) {
    table->attention_train_backward_head = backward_head_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) {
        table->attention_train_backward_head = backward_head_avx512;
    }
    if (isa == CK_ISA_AVX2) {
        table->attention_train_backward_head = backward_head_avx2;
    }
#else
    (void)isa;
#endif
}

static size_t padded32(int n) { return (size_t)(n + CK_NR - 1) / CK_NR * CK_NR; }

size_t ck_attention_train_workspace_size(int T, int HS, int threads) {
    // The forward's workers are ck_attention_forward's, and the dropped rows use its score rows.
    return ck_attention_workspace_size(T, HS, threads);
}

size_t ck_attention_backward_workspace_size(int T, int HS, int threads) {
    // Vᵀ in 32-key panels (HS x padded T), dS and the dropped probabilities (T x padded T each), K, Q
    // and d_context in 32-column panels (T x padded HS each).
    const size_t padded = padded32(T);
    const size_t per_thread = ((size_t)HS * padded + 2 * (size_t)T * padded + 3 * (size_t)T * padded32(HS) + 15) / 16 * 16;
    return (size_t)(threads < 1 ? 1 : threads) * per_thread;
}

typedef struct {
    const attention_train_args *args;
    backward_head_fn backward;
} attention_train_job;

static void backward_item(void *context, int pair, int thread) {
    const attention_train_job *job = context;
    const attention_train_args *a = job->args;
    job->backward(a, pair / a->NH, pair % a->NH, a->workspace + (size_t)thread * a->workspace_per_thread);
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
    attention_train_job job = {&args, ck_dispatch()->attention_train_backward_head};
    ck_parallel_for(B * NH, threads, 1, backward_item, &job);
}
