// Element-wise kernels: GELU (erf form), bias and residual adds, tanh, and the input embeddings.
#include "internal.h"
#include "vecmath.h"

#include <math.h>

#define CK_INV_SQRT2 0.70710678118654752440f

// MARK: - Scalar reference

static void gelu_range_scalar(float *out, const float *inp, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * CK_INV_SQRT2));
}

static void add_range_scalar(float *out, const float *a, const float *b, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) out[i] = a[i] + b[i];
}

#if CK_X86
// MARK: - AVX-512

CK_TARGET_AVX512 static void gelu_range_avx512(float *out, const float *inp, size_t i0, size_t i1) {
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f), r2 = _mm512_set1_ps(CK_INV_SQRT2);
    for (size_t i = i0; i < i1; i += 16) {
        __mmask16 m = ck_tail_mask512((int)CK_MIN(i1 - i, 16));
        __m512 x = _mm512_maskz_loadu_ps(m, inp + i);
        __m512 e = _mm512_add_ps(one, ck_erf512(_mm512_mul_ps(x, r2)));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_mul_ps(half, x), e));
    }
}

CK_TARGET_AVX512 static void add_range_avx512(float *out, const float *a, const float *b, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i += 16) {
        __mmask16 m = ck_tail_mask512((int)CK_MIN(i1 - i, 16));
        _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

// MARK: - AVX2

CK_TARGET_AVX2 static void gelu_range_avx2(float *out, const float *inp, size_t i0, size_t i1) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), r2 = _mm256_set1_ps(CK_INV_SQRT2);
    for (size_t i = i0; i < i1; i += 8) {
        __m256i m = ck_tail_mask256((int)CK_MIN(i1 - i, 8));
        __m256 x = _mm256_maskload_ps(inp + i, m);
        __m256 e = _mm256_add_ps(one, ck_erf256(_mm256_mul_ps(x, r2)));
        ck_store_tail256(out + i, (long)(i1 - i), m, _mm256_mul_ps(_mm256_mul_ps(half, x), e));
    }
}

CK_TARGET_AVX2 static void add_range_avx2(float *out, const float *a, const float *b, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i += 8) {
        __m256i m = ck_tail_mask256((int)CK_MIN(i1 - i, 8));
        ck_store_tail256(out + i, (long)(i1 - i), m, _mm256_add_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
}
#endif

// MARK: - Drivers

// Element-wise work is split into chunks of this many values (a multiple of every vector width).
#define CK_CHUNK 4096

typedef ck_unary_range_fn unary_range_fn;
typedef ck_binary_range_fn binary_range_fn;

void ck_register_elementwise(ck_dispatch_table *table, ck_isa isa) {
    table->gelu_range = gelu_range_scalar;
    table->add_range = add_range_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) {
        table->gelu_range = gelu_range_avx512;
        table->add_range = add_range_avx512;
    }
    if (isa == CK_ISA_AVX2) {
        table->gelu_range = gelu_range_avx2;
        table->add_range = add_range_avx2;
    }
#else
    (void)isa;
#endif
}

// One job type serves every driver below; each item function reads the fields it needs.
typedef struct {
    unary_range_fn unary;
    binary_range_fn binary;
    float *out;
    const float *a, *b;
    size_t n;
    int C, T;
    const int32_t *ids, *types, *positions;
    const float *position, *token_type;
    int activation;
} elementwise_job;

static void gelu_item(void *context, int c, int thread) {
    (void)thread;
    const elementwise_job *j = context;
    j->unary(j->out, j->a, (size_t)c * CK_CHUNK, CK_MIN(j->n, (size_t)(c + 1) * CK_CHUNK));
}

static void add_item(void *context, int c, int thread) {
    (void)thread;
    const elementwise_job *j = context;
    j->binary(j->out, j->a, j->b, (size_t)c * CK_CHUNK, CK_MIN(j->n, (size_t)(c + 1) * CK_CHUNK));
}

static void add_bias_item(void *context, int r, int thread) {
    (void)thread;
    const elementwise_job *j = context;
    // Offsetting row and bias by the same base keeps the range's indices 0..C-1.
    float *row = j->out + (size_t)r * j->C;
    j->binary(row, row, j->b, 0, (size_t)j->C);
}

static void embeddings_item(void *context, int bt, int thread) {
    (void)thread;
    const elementwise_job *j = context;
    const size_t C = (size_t)j->C;
    float *row = j->out + (size_t)bt * C;
    const size_t p = j->positions ? (size_t)j->positions[bt] : (size_t)(bt % j->T);
    j->binary(row, j->a + (size_t)j->ids[bt] * C, j->position + p * C, 0, C);
    if (j->token_type) j->binary(row, row, j->token_type + (size_t)(j->types ? j->types[bt] : 0) * C, 0, C);
}

// The scalar reference of every activation (one value).
static inline float activation_scalar(float x, int activation) {
    switch (activation) {
    case CK_ACTIVATION_GELU: return 0.5f * x * (1.0f + erff(x * CK_INV_SQRT2));
    // transformers' NewGELUActivation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), torch computing
    // pow(x, 3.0) and the rest in float32.
    case CK_ACTIVATION_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * (x * x * x))));
    case CK_ACTIVATION_RELU: return x > 0.0f ? x : 0.0f;
    case CK_ACTIVATION_TANH: return tanhf(x);
    default: return x;
    }
}

static void activation_item(void *context, int c, int thread) {
    (void)thread;
    const elementwise_job *j = context;
    const size_t i1 = CK_MIN(j->n, (size_t)(c + 1) * CK_CHUNK);
    for (size_t i = (size_t)c * CK_CHUNK; i < i1; i++) j->out[i] = activation_scalar(j->a[i], j->activation);
}

static int chunks_of(size_t n) { return (int)((n + CK_CHUNK - 1) / CK_CHUNK); }

void ck_gelu_forward(float *out, const float *inp, size_t n) {
    elementwise_job job = {.unary = ck_dispatch()->gelu_range, .out = out, .a = inp, .n = n};
    const int chunks = chunks_of(n);
    ck_parallel_for(chunks, chunks > 4 ? ck_threads_max() : 1, 0, gelu_item, &job);
}

void ck_add(float *out, const float *a, const float *b, size_t n) {
    elementwise_job job = {.binary = ck_dispatch()->add_range, .out = out, .a = a, .b = b, .n = n};
    const int chunks = chunks_of(n);
    ck_parallel_for(chunks, chunks > 8 ? ck_threads_max() : 1, 0, add_item, &job);
}

void ck_add_bias(float *x, const float *bias, int N, int C) {
    // Each row is one add over C values; rows are independent.
    elementwise_job job = {.binary = ck_dispatch()->add_range, .out = x, .b = bias, .C = C};
    ck_parallel_for(N, (long)N * C > 65536 ? ck_threads_max() : 1, 0, add_bias_item, &job);
}

void ck_tanh_forward(float *out, const float *inp, size_t n) {
    // Only the pooler uses tanh (B x C values per batch): scalar tanhf is the whole story.
    for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}

void ck_activation_forward(float *out, const float *inp, size_t n, int activation) {
    elementwise_job job = {.out = out, .a = inp, .n = n, .activation = activation};
    const int chunks = chunks_of(n);
    ck_parallel_for(chunks, chunks > 4 ? ck_threads_max() : 1, 0, activation_item, &job);
}

void ck_embeddings_forward(float *out, const int32_t *input_ids, const int32_t *token_type_ids,
                           const float *word, const float *position, const float *token_type,
                           int B, int T, int C) {
    ck_embeddings_forward_positions(out, input_ids, token_type_ids, NULL, word, position, token_type, B, T, C);
}

void ck_embeddings_forward_positions(float *out, const int32_t *input_ids, const int32_t *token_type_ids,
                                     const int32_t *position_ids, const float *word, const float *position,
                                     const float *token_type, int B, int T, int C) {
    elementwise_job job = {.binary = ck_dispatch()->add_range, .out = out, .a = word, .C = C, .T = T, .ids = input_ids,
                           .types = token_type_ids, .positions = position_ids, .position = position,
                           .token_type = token_type};
    ck_parallel_for(B * T, (long)B * T * C > 65536 ? ck_threads_max() : 1, 0, embeddings_item, &job);
}

void ck_mean_pool(float *out, const float *hidden, const int32_t *lengths, int B, int T, int C) {
    // B x C outputs, each a sum over at most T rows: small next to one layer, so scalar and serial.
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * C;
        for (int c = 0; c < C; c++) o[c] = 0.0f;
        const int len = lengths[b];
        for (int t = 0; t < len; t++) {
            const float *h = hidden + ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++) o[c] += h[c];
        }
        const float inverse = 1.0f / (float)(len > 0 ? len : 1);
        for (int c = 0; c < C; c++) o[c] *= inverse;
    }
}
