// Dropout with a counter-based generator (the hash is documented in ckernels.h): element i's fate
// depends only on (seed, stream, offset + i), so any split of the work gives the same mask.
#include "internal.h"
#include "training.h"
#include "vecmath.h"

// MARK: - Scalar reference

// mask (may be NULL) and out (may be NULL) for elements i0..i1-1 of one call.
static void dropout_range_scalar(uint8_t *mask, float *out, const float *inp, size_t i0, size_t i1,
                                 uint64_t key, uint64_t offset, uint64_t threshold, float scale) {
    for (size_t i = i0; i < i1; i++) {
        const int keep = ck_dropout_bits(key, offset + i) >= threshold;
        if (mask) mask[i] = (uint8_t)keep;
        if (out) out[i] = keep ? inp[i] * scale : 0.0f;
    }
}

typedef ck_dropout_range_fn dropout_range_fn;

#if CK_X86
// MARK: - AVX-512

// 8 hashes in 64-bit lanes (AVX-512DQ multiplies 64-bit integers): the lanes' keep bits.
CK_TARGET_AVX512 static inline __mmask8 keep8_avx512(__m512i index, __m512i key, __m512i threshold) {
    const __m512i golden = _mm512_set1_epi64((long long)CK_GOLDEN64);
    __m512i z = _mm512_add_epi64(key, _mm512_mullo_epi64(_mm512_add_epi64(index, _mm512_set1_epi64(1)), golden));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ull));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64((long long)0x94D049BB133111EBull));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    return _mm512_cmpge_epu64_mask(_mm512_srli_epi64(z, 32), threshold);
}

CK_TARGET_AVX512 static void dropout_range_avx512(uint8_t *mask, float *out, const float *inp, size_t i0, size_t i1,
                                                  uint64_t key, uint64_t offset, uint64_t threshold, float scale) {
    const __m512i keys = _mm512_set1_epi64((long long)key), limit = _mm512_set1_epi64((long long)threshold);
    const __m512i lanes = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512 s = _mm512_set1_ps(scale);
    for (size_t i = i0; i < i1; i += 16) {
        const __mmask16 m = ck_tail_mask512((int)CK_MIN(i1 - i, 16));
        const __m512i base = _mm512_add_epi64(_mm512_set1_epi64((long long)(offset + i)), lanes);
        const __mmask16 keep = (__mmask16)(keep8_avx512(base, keys, limit) |
                                           ((unsigned)keep8_avx512(_mm512_add_epi64(base, _mm512_set1_epi64(8)), keys, limit) << 8));
        if (mask) _mm_mask_storeu_epi8(mask + i, m, _mm_maskz_set1_epi8(keep, 1));
        if (out) _mm512_mask_storeu_ps(out + i, m, _mm512_maskz_mul_ps(keep, _mm512_maskz_loadu_ps(m, inp + i), s));
    }
}

// MARK: - AVX2

// a * b mod 2^64 in each 64-bit lane, from 32-bit multiplies.
CK_TARGET_AVX2 static inline __m256i mullo64_avx2(__m256i a, __m256i b) {
    const __m256i low = _mm256_mul_epu32(a, b);
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), b),
                                           _mm256_mul_epu32(a, _mm256_srli_epi64(b, 32)));
    return _mm256_add_epi64(low, _mm256_slli_epi64(cross, 32));
}

// 4 hashes: bit l of the result is lane l's keep.
CK_TARGET_AVX2 static inline int keep4_avx2(__m256i index, __m256i key, __m256i threshold) {
    __m256i z = _mm256_add_epi64(key, mullo64_avx2(_mm256_add_epi64(index, _mm256_set1_epi64x(1)),
                                                   _mm256_set1_epi64x((long long)CK_GOLDEN64)));
    z = mullo64_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), _mm256_set1_epi64x((long long)0xBF58476D1CE4E5B9ull));
    z = mullo64_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), _mm256_set1_epi64x((long long)0x94D049BB133111EBull));
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
    // bits < 2^32 and threshold <= 2^32: a signed 64-bit comparison is exact. keep = !(threshold > bits).
    const __m256i drop = _mm256_cmpgt_epi64(threshold, _mm256_srli_epi64(z, 32));
    return ~_mm256_movemask_pd(_mm256_castsi256_pd(drop)) & 0xF;
}

CK_TARGET_AVX2 static void dropout_range_avx2(uint8_t *mask, float *out, const float *inp, size_t i0, size_t i1,
                                              uint64_t key, uint64_t offset, uint64_t threshold, float scale) {
    const __m256i keys = _mm256_set1_epi64x((long long)key), limit = _mm256_set1_epi64x((long long)threshold);
    const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256 s = _mm256_set1_ps(scale);
    for (size_t i = i0; i < i1; i += 8) {
        const int count = (int)CK_MIN(i1 - i, 8);
        const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x((long long)(offset + i)), lanes);
        const int keep = keep4_avx2(base, keys, limit) | keep4_avx2(_mm256_add_epi64(base, _mm256_set1_epi64x(4)), keys, limit) << 4;
        if (mask)
            for (int l = 0; l < count; l++) mask[i + l] = (uint8_t)(keep >> l & 1);
        if (out) {
            const __m256i m = ck_tail_mask256(count);
            const __m256i kept = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(keep), bit), bit);
            const __m256 x = _mm256_mul_ps(_mm256_maskload_ps(inp + i, m), s);
            ck_store_tail256(out + i, count, m, _mm256_and_ps(x, _mm256_castsi256_ps(kept)));
        }
    }
}
#endif  // CK_X86

// MARK: - Driver

#define DROPOUT_CHUNK 4096

void ck_register_dropout(ck_dispatch_table *table, ck_isa isa) {
    table->dropout_range = dropout_range_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) table->dropout_range = dropout_range_avx512;
    if (isa == CK_ISA_AVX2) table->dropout_range = dropout_range_avx2;
#else
    (void)isa;
#endif
}

typedef struct {
    dropout_range_fn range;
    uint8_t *mask;
    float *out;
    const float *inp;
    size_t n;
    uint64_t key, offset, threshold;
    float scale;
} dropout_job;

static void dropout_item(void *context, int c, int thread) {
    (void)thread;
    const dropout_job *j = context;
    const size_t i0 = (size_t)c * DROPOUT_CHUNK, i1 = CK_MIN(j->n, i0 + DROPOUT_CHUNK);
    j->range(j->mask, j->out, j->inp, i0, i1, j->key, j->offset, j->threshold, j->scale);
}

static void dropout_run(uint8_t *mask, float *out, const float *inp, size_t n, float p, uint64_t seed,
                        uint64_t stream, uint64_t offset) {
    dropout_job job = {ck_dispatch()->dropout_range, mask, out, inp, n, ck_dropout_key(seed, stream), offset,
                       ck_dropout_threshold(p), ck_dropout_scale(p)};
    const int chunks = (int)((n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK);
    ck_parallel_for(chunks, chunks > 4 ? ck_threads_max() : 1, 0, dropout_item, &job);
}

void ck_dropout_mask(uint8_t *mask, size_t n, float p, uint64_t seed, uint64_t stream, uint64_t offset) {
    dropout_run(mask, NULL, NULL, n, p, seed, stream, offset);
}

void ck_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t stream,
                        uint64_t offset) {
    if (!(p > 0.0f)) {
        if (out != inp)
            for (size_t i = 0; i < n; i++) out[i] = inp[i];
        return;
    }
    dropout_run(NULL, out, inp, n, p, seed, stream, offset);
}

void ck_dropout_backward(float *d_inp, const float *d_out, size_t n, float p, uint64_t seed, uint64_t stream,
                         uint64_t offset) {
    // The same mask and scale as the forward: d_inp = kept ? d_out * scale : 0.
    ck_dropout_forward(d_inp, d_out, n, p, seed, stream, offset);
}
