// The linear layer in bf16, an opt-in reduced precision, in two modes (`terms`):
//   1 (bf16):   out (M,N) = epilogue(bf16(inp) · bf16(W)ᵀ), products of bf16 operands in fp32;
//   3 (bf16x3): each operand x split into hi = bf16(x) and lo = bf16(x - hi) (x - hi is exact in fp32),
//               and per pair step the three products hi·lo, lo·hi, hi·hi added in that order (lo·lo
//               dropped): about 16 significant bits per operand, near fp32, at three times bf16's work.
// Both as the CPU's bf16 dot-product instructions compute them. The fp32 linear layer (gemm.c) is
// untouched; nothing uses this form unless asked to.
//
// The numbers, defined by the scalar emulation below (the reference; it runs on every CPU):
// - fp32 -> bf16: round to nearest even, an fp32 denormal becomes a zero of its sign (VCVTNE2PS2BF16);
// - K is taken in pairs (k = 2p, 2p + 1; an odd K's last pair has a zero second half); each pair
//   adds to the fp32 accumulator its odd product, then its even product, each sum rounded to
//   nearest even, a denormal product or sum flushed to zero (VDPBF16PS; checked bit for bit on an
//   Emerald Rapids against 3.2 M random lanes: this order, not the even one first, nor a fused pair);
// - K is cut into the fp32 form's reduction blocks (ck_linear_k_block); each block sums from zero
//   and is then added to the output, and the epilogue (bias, GELU, residual, layernorm) is the fp32
//   form's, in fp32.
// The AVX512-BF16 form (VDPBF16PS) must equal the emulation bit for bit; on a CPU without it the
// emulation runs (slowly: callers decide whether to fall back to fp32 instead, see ck_cpu()->avx512_bf16).
//
// Layouts (32-bit words, each a pair: the even k in the low half, the odd k in the high half):
// - weights, packed once (ck_pack_weight_bf16): panels of 32 output columns; panel p holds pair row
//   q (K rounded up to even, halved) as 32 words, word j = pair (W[32p + j][2q], W[32p + j][2q + 1]),
//   zero past N and past K; with terms 3 the hi words fill the first half, the lo words the second;
// - activations, per block (the workspace): 12-row panels, word (r, q) at panel * 12 * pairs + q * 12 + r
//   (terms 3: the hi panels, then the lo panels, rows rounded up to 12).
#include "internal.h"
#include "bf16.h"
#include "microkernel.h"

#include <float.h>
#include <math.h>
#include <string.h>

// MARK: - bf16 numbers

static inline uint32_t bf16_pair(float even, float odd) {
    return (uint32_t)bf16_from_float(even) | (uint32_t)bf16_from_float(odd) << 16;
}

static inline uint32_t bf16_pair_part(float even, float odd, int low) {
    return low ? (uint32_t)bf16_low(even) | (uint32_t)bf16_low(odd) << 16 : bf16_pair(even, odd);
}

static inline float flush_denormal(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }

// One pair step of VDPBF16PS on one lane.
static inline float pair_step(float acc, uint32_t a, uint32_t b) {
    acc = flush_denormal(acc + flush_denormal(float_from_bf16(a >> 16) * float_from_bf16(b >> 16)));
    return flush_denormal(acc + flush_denormal(float_from_bf16(a & 0xffffu) * float_from_bf16(b & 0xffffu)));
}

// MARK: - Weights

static int pairs_of(int K) { return (K + 1) / 2; }

static int terms_valid(int terms) { return terms == 3 ? 3 : 1; }

size_t ck_pack_weight_bf16_size(int N, int K, int terms) {
    return (size_t)((N + CK_NR - 1) / CK_NR) * CK_NR * (size_t)pairs_of(K) * (terms_valid(terms) == 3 ? 2 : 1);
}

void ck_pack_weight_bf16(uint32_t *packed, const float *weight, int N, int K, int terms) {
    const int panels = (N + CK_NR - 1) / CK_NR, pairs = pairs_of(K);
    const size_t half = ck_pack_weight_bf16_size(N, K, 1);
    for (int part = 0; part < (terms_valid(terms) == 3 ? 2 : 1); part++)
        for (int p = 0; p < panels; p++)
            for (int q = 0; q < pairs; q++)
                for (int j = 0; j < CK_NR; j++) {
                    const int n = p * CK_NR + j;
                    const float *row = weight + (size_t)n * K;
                    packed[part * half + ((size_t)p * pairs + q) * CK_NR + j] =
                        n < N ? bf16_pair_part(row[2 * q], 2 * q + 1 < K ? row[2 * q + 1] : 0.0f, part) : 0u;
                }
}

// MARK: - Scalar emulation (the reference)

static void linear_block_bf16_scalar(const struct ck_linear_args *g, float *pack, int i0, int i1, int p0, int p1) {
    (void)pack;
    const int K = g->K, N = g->N, kb = ck_linear_k_block(K), pairs = pairs_of(K), x3 = g->bf16_terms == 3;
    const size_t half = ck_pack_weight_bf16_size(N, K, 1);
    const ck_linear_epilogue *ep = g->epilogue;
    for (int i = i0; i < i1; i++) {
        const float *x = g->inp + (size_t)i * K;
        for (int j = p0 * CK_NR; j < CK_MIN(N, p1 * CK_NR); j++) {
            const uint32_t *w = g->packed_bf16 + (size_t)(j / CK_NR) * pairs * CK_NR + j % CK_NR;
            float sum = 0.0f;
            for (int pc = 0; pc < K; pc += kb) {
                const int end = CK_MIN(K, pc + kb);
                float acc = 0.0f;
                for (int k = pc; k < end; k += 2) {
                    const float even = x[k], odd = k + 1 < K ? x[k + 1] : 0.0f;
                    const uint32_t a = bf16_pair(even, odd), b = w[(size_t)(k / 2) * CK_NR];
                    if (x3) {
                        acc = pair_step(acc, a, w[half + (size_t)(k / 2) * CK_NR]);
                        acc = pair_step(acc, bf16_pair_part(even, odd, 1), b);
                    }
                    acc = pair_step(acc, a, b);
                }
                sum = pc == 0 ? acc : sum + acc;
            }
            if (ep->bias) sum += ep->bias[j];
            if (ep->activation == CK_ACTIVATION_GELU) sum = 0.5f * sum * (1.0f + erff(sum * CK_INV_SQRT2_F));
            if (ep->residual) sum += ep->residual[(size_t)i * N + j];
            g->out[(size_t)i * N + j] = sum;
        }
    }
}

#if CK_X86
// MARK: - AVX512-BF16

#define CK_TARGET_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2")))

// One 12 x 32 tile over `pairs` pair rows: a = 12-row panel of pair words, b = 32-column pair panel;
// with x3, a_lo / b_lo are the low halves' panels and each step adds hi·lo, lo·hi, then hi·hi.
CK_TARGET_AVX512BF16 static CK_ALWAYS_INLINE void tile_bf16(const int mr, const int x3, const int pairs,
                                                            const uint32_t *a, const uint32_t *a_lo,
                                                            const uint32_t *b, const uint32_t *b_lo, const int n,
                                                            float *c, const long ldc, const int accumulate,
                                                            const ck_tile_epilogue *ep, const float *residual,
                                                            const int col0) {
    __m512 acc[CK_MR512][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR512; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int t = 0; t < pairs; t++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)t * CK_NR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)t * CK_NR + 16);
        __m512bh l0 = b0, l1 = b1;
        if (x3) {
            l0 = (__m512bh)_mm512_loadu_si512(b_lo + (size_t)t * CK_NR);
            l1 = (__m512bh)_mm512_loadu_si512(b_lo + (size_t)t * CK_NR + 16);
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < CK_MR512; r++) {
            if (r < mr) {
                const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[(size_t)t * CK_MR512 + r]);
                if (x3) {
                    const __m512bh lo = (__m512bh)_mm512_set1_epi32((int)a_lo[(size_t)t * CK_MR512 + r]);
                    acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, l0);
                    acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, l1);
                    acc[r][0] = _mm512_dpbf16_ps(acc[r][0], lo, b0);
                    acc[r][1] = _mm512_dpbf16_ps(acc[r][1], lo, b1);
                }
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
            }
        }
    }
    ck_tile_finish512(acc, mr, n, c, ldc, accumulate, ep, residual, col0);
}

CK_TARGET_AVX512BF16 static CK_ALWAYS_INLINE void tile_bf16_rows(int mr, int x3, int pairs, const uint32_t *a,
                                                                 const uint32_t *a_lo, const uint32_t *b,
                                                                 const uint32_t *b_lo, int n, float *c, long ldc,
                                                                 int accumulate, const ck_tile_epilogue *ep,
                                                                 const float *res, int col0) {
    if (x3) {
        switch (mr) {
#define CK_CASE(R) case R: tile_bf16(R, 1, pairs, a, a_lo, b, b_lo, n, c, ldc, accumulate, ep, res, col0); break;
        CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
        CK_CASE(7) CK_CASE(8) CK_CASE(9) CK_CASE(10) CK_CASE(11) CK_CASE(12)
#undef CK_CASE
        }
        return;
    }
    switch (mr) {
#define CK_CASE(R) case R: tile_bf16(R, 0, pairs, a, a_lo, b, b_lo, n, c, ldc, accumulate, ep, res, col0); break;
    CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
    CK_CASE(7) CK_CASE(8) CK_CASE(9) CK_CASE(10) CK_CASE(11) CK_CASE(12)
#undef CK_CASE
    }
}

// pack_activation_pairs with VCVTNE2PS2BF16 (the emulation's rounding, checked by the tests): per
// 12-row panel and 32 columns, 12 row loads (a zero past kc) converted to 16 pair words each, one
// in-register 16 x 16 transpose of the words, 16 stores of 12 words.
// The bf16 value of each pair word's halves back in fp32: the 16 low halves (even k) and 16 high.
CK_TARGET_AVX512BF16 static CK_ALWAYS_INLINE __m512 bf16_halves(__m512i words, int high) {
    return _mm512_castsi512_ps(high ? _mm512_and_si512(words, _mm512_set1_epi32((int)0xffff0000u))
                                    : _mm512_slli_epi32(words, 16));
}

// With dst_lo (bf16x3), also the low halves: bf16(x - hi), whose subtraction is exact.
CK_TARGET_AVX512BF16 static void pack_activation_pairs_avx512(uint32_t *dst, uint32_t *dst_lo, const float *inp, int K,
                                                              int i0, int mc, int p0, int kc) {
    const int pairs = (kc + 1) / 2;
    for (int q = 0; q < mc; q += CK_MR512) {
        const int rows = CK_MIN(CK_MR512, mc - q);
        uint32_t *panel = dst + (size_t)q * pairs;
        const float *src = inp + (size_t)(i0 + q) * K + p0;
        for (int k0 = 0; k0 < kc; k0 += 32) {
            const __mmask16 m0 = ck_tail_mask512(kc - k0), m1 = ck_tail_mask512(kc - k0 - 16);
            __m512 r[16], rl[16];
            for (int i = 0; i < 16; i++) {
                if (i < rows) {
                    const float *row = src + (size_t)i * K + k0;
                    // Words pair neighbouring columns: even k and odd k. Split the 32 values so that
                    // vector e holds the even columns and vector o the odd ones (the pair's halves).
                    const __m512 x0 = _mm512_maskz_loadu_ps(m0, row), x1 = _mm512_maskz_loadu_ps(m1, row + 16);
                    const __m512i words = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
                    r[i] = _mm512_castsi512_ps(words);
                    if (dst_lo) {
                        const __m512i even_index = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                        const __m512i odd_index = _mm512_add_epi32(even_index, _mm512_set1_epi32(1));
                        const __m512 even = _mm512_permutex2var_ps(x0, even_index, x1);
                        const __m512 odd = _mm512_permutex2var_ps(x0, odd_index, x1);
                        const __m512 even_lo = _mm512_sub_ps(even, bf16_halves(words, 0));
                        const __m512 odd_lo = _mm512_sub_ps(odd, bf16_halves(words, 1));
                        // Re-interleave (even, odd) -> columns 0..31 and convert: word t = (lo[2t], lo[2t+1]).
                        const __m512i lo_index = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                        const __m512i hi_index = _mm512_add_epi32(lo_index, _mm512_set1_epi32(8));
                        const __m512 c0 = _mm512_permutex2var_ps(even_lo, lo_index, odd_lo);
                        const __m512 c1 = _mm512_permutex2var_ps(even_lo, hi_index, odd_lo);
                        rl[i] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(c1, c0));
                    }
                } else {
                    r[i] = _mm512_setzero_ps();
                    rl[i] = _mm512_setzero_ps();
                }
            }
            transpose16x16(r);
            const int columns = CK_MIN(16, pairs - k0 / 2);
            for (int t = 0; t < columns; t++)
                _mm512_mask_storeu_ps((float *)(panel + (size_t)(k0 / 2 + t) * CK_MR512), 0x0FFF, r[t]);
            if (dst_lo) {
                transpose16x16(rl);
                uint32_t *panel_lo = dst_lo + (size_t)q * pairs;
                for (int t = 0; t < columns; t++)
                    _mm512_mask_storeu_ps((float *)(panel_lo + (size_t)(k0 / 2 + t) * CK_MR512), 0x0FFF, rl[t]);
            }
        }
    }
}

// The fp32 form's block walk (gemm.c's linear_block_avx512) on pair panels.
CK_TARGET_AVX512BF16 static void linear_block_bf16_avx512(const struct ck_linear_args *g, float *pack, int i0, int i1,
                                                          int p0, int p1) {
    const int K = g->K, N = g->N, kb = ck_linear_k_block(K), pairs = pairs_of(K), x3 = g->bf16_terms == 3;
    const size_t half = ck_pack_weight_bf16_size(N, K, 1);
    const ck_linear_epilogue *ep = g->epilogue;
    const ck_tile_epilogue tile_ep = {ep->bias, ep->residual, N, ep->activation == CK_ACTIVATION_GELU};
    int group = 8;
    ck_gemm_blocking(NULL, &group);
    uint32_t *apack = (uint32_t *)pack;
    for (int pc = 0; pc < K; pc += kb) {
        const int kc = CK_MIN(kb, K - pc), block_pairs = (kc + 1) / 2;
        const int last = pc + kc == K;
        const size_t panel_words = (size_t)((i1 - i0 + CK_MR512 - 1) / CK_MR512) * CK_MR512 * block_pairs;
        uint32_t *apack_lo = x3 ? apack + panel_words : NULL;
        pack_activation_pairs_avx512(apack, apack_lo, g->inp, K, i0, i1 - i0, pc, kc);
        for (int pg = p0; pg < p1; pg += group) {
            const int pg1 = CK_MIN(p1, pg + group);
            for (int i = i0; i < i1; i += CK_MR512) {
                const int mr = CK_MIN(CK_MR512, i1 - i);
                for (int p = pg; p < pg1; p++) {
                    const int col = p * CK_NR, n = CK_MIN(CK_NR, N - col);
                    const uint32_t *b = g->packed_bf16 + ((size_t)p * pairs + pc / 2) * CK_NR;
                    float *c = g->out + (size_t)i * N + col;
                    const float *res = last && ep->residual ? ep->residual + (size_t)i * N + col : NULL;
                    const size_t offset = (size_t)(i - i0) * block_pairs;
                    tile_bf16_rows(mr, x3, block_pairs, apack + offset, x3 ? apack_lo + offset : NULL, b,
                                   x3 ? b + half : NULL, n, c, N, pc > 0, last ? &tile_ep : NULL, res, col);
                }
            }
        }
    }
}

// MARK: - AMX (compiled, not yet run: written from Intel's documentation on a guest without AMX)

// TDPBF16PS on 16 x 16 fp32 tiles: per 32-row chunk of the block, 2 A tiles (16 rows x 16 pair words
// each) x 2 B tiles (16 pair rows x 16 columns of a 32-column weight panel) -> 4 C tiles, so each loaded
// tile serves two products. B is the bf16 weight pack as it is (a pair row of a panel is 32 words: a
// B tile is 16 of them at a stride of 128 bytes); A is converted per chunk into the workspace as
// row-major pair words, rows and pairs zero-padded to 32 and 16. TDPBF16PS's sum of a pair is not
// VDPBF16PS's two rounded steps, so the results equal the emulation only within a bound from K
// (AMX tests: skipped on CPUs without AMX), not bit for bit.
#define CK_TARGET_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2,amx-tile,amx-bf16")))

typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tile_config;

// Rows r0..r0+31 of the K block [p0, p0 + kc) as row-major pair words, padded_pairs per row (zeros
// past kc and past `rows`); `low`: bf16x3's low halves.
static void pack_activation_chunk_amx(uint32_t *dst, int low, const float *inp, int K, int r0, int rows, int p0,
                                      int kc, int padded_pairs) {
    for (int r = 0; r < 32; r++)
        for (int q = 0; q < padded_pairs; q++) {
            uint32_t word = 0;
            if (r < rows && 2 * q < kc) {
                const float *x = inp + (size_t)(r0 + r) * K + p0;
                word = bf16_pair_part(x[2 * q], 2 * q + 1 < kc ? x[2 * q + 1] : 0.0f, low);
            }
            dst[(size_t)r * padded_pairs + q] = word;
        }
}

#define CK_AMX_DP4() \
    do { \
        _tile_dpbf16ps(0, 4, 6); \
        _tile_dpbf16ps(1, 4, 7); \
        _tile_dpbf16ps(2, 5, 6); \
        _tile_dpbf16ps(3, 5, 7); \
    } while (0)

CK_TARGET_AMX static void linear_block_bf16_amx(const struct ck_linear_args *g, float *pack, int i0, int i1, int p0,
                                                int p1) {
    const int K = g->K, N = g->N, kb = ck_linear_k_block(K), pairs = pairs_of(K), x3 = g->bf16_terms == 3;
    const size_t half = ck_pack_weight_bf16_size(N, K, 1);
    const ck_linear_epilogue *ep = g->epilogue;
    const ck_tile_epilogue tile_ep = {ep->bias, ep->residual, N, ep->activation == CK_ACTIVATION_GELU};
    amx_tile_config config;
    memset(&config, 0, sizeof config);
    config.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.colsb[t] = 64;
    }
    _tile_loadconfig(&config);
    uint32_t *apack = (uint32_t *)pack;
    float cbuf[32 * 32] __attribute__((aligned(64)));
    uint32_t tail[2][16 * CK_NR] __attribute__((aligned(64)));
    for (int pc = 0; pc < K; pc += kb) {
        const int kc = CK_MIN(kb, K - pc), block_pairs = (kc + 1) / 2, padded_pairs = (block_pairs + 15) / 16 * 16;
        const int last = pc + kc == K;
        const long lda = (long)padded_pairs * 4;
        uint32_t *apack_lo = apack + (size_t)32 * padded_pairs;
        for (int i = i0; i < i1; i += 32) {
            const int rows = CK_MIN(32, i1 - i);
            pack_activation_chunk_amx(apack, 0, g->inp, K, i, rows, pc, kc, padded_pairs);
            if (x3) pack_activation_chunk_amx(apack_lo, 1, g->inp, K, i, rows, pc, kc, padded_pairs);
            for (int p = p0; p < p1; p++) {
                const int col = p * CK_NR, n = CK_MIN(CK_NR, N - col);
                const uint32_t *b = g->packed_bf16 + ((size_t)p * pairs + pc / 2) * CK_NR;
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                for (int q = 0; q < block_pairs; q += 16) {
                    const uint32_t *bh = b + (size_t)q * CK_NR, *bl = bh + half;
                    // Past the panel's last pair row (the K tail of the last panel) a zero-padded copy:
                    // the A words there are zero, but the memory need not exist.
                    if (pc / 2 + q + 16 > pairs) {
                        const int valid = pairs - pc / 2 - q;
                        memset(tail, 0, sizeof tail);
                        memcpy(tail[0], bh, sizeof(uint32_t) * (size_t)valid * CK_NR);
                        if (x3) memcpy(tail[1], bl, sizeof(uint32_t) * (size_t)valid * CK_NR);
                        bh = tail[0];
                        bl = tail[1];
                    }
                    const uint32_t *a = apack + q, *al = apack_lo + q;
                    const long ldb = CK_NR * 4;
                    // bf16x3 in the AVX512-BF16 form's order: hi·lo, lo·hi, then hi·hi.
                    _tile_loadd(4, a, lda);
                    _tile_loadd(5, a + (size_t)16 * padded_pairs, lda);
                    if (x3) {
                        _tile_loadd(6, bl, ldb);
                        _tile_loadd(7, bl + 16, ldb);
                        CK_AMX_DP4();
                        _tile_loadd(4, al, lda);
                        _tile_loadd(5, al + (size_t)16 * padded_pairs, lda);
                    }
                    _tile_loadd(6, bh, ldb);
                    _tile_loadd(7, bh + 16, ldb);
                    CK_AMX_DP4();
                    if (x3) {
                        _tile_loadd(4, a, lda);
                        _tile_loadd(5, a + (size_t)16 * padded_pairs, lda);
                        CK_AMX_DP4();
                    }
                }
                _tile_stored(0, cbuf, 128);
                _tile_stored(1, cbuf + 16, 128);
                _tile_stored(2, cbuf + 16 * 32, 128);
                _tile_stored(3, cbuf + 16 * 32 + 16, 128);
                // The AVX-512 forms' finish (accumulate, bias, GELU, residual), 12 rows at a time.
                for (int r0 = 0; r0 < rows; r0 += CK_MR512) {
                    const int mr = CK_MIN(CK_MR512, rows - r0);
                    __m512 acc[CK_MR512][2];
                    for (int r = 0; r < CK_MR512; r++) {
                        acc[r][0] = r < mr ? _mm512_load_ps(cbuf + (r0 + r) * 32) : _mm512_setzero_ps();
                        acc[r][1] = r < mr ? _mm512_load_ps(cbuf + (r0 + r) * 32 + 16) : _mm512_setzero_ps();
                    }
                    float *c = g->out + (size_t)(i + r0) * N + col;
                    const float *res = last && ep->residual ? ep->residual + (size_t)(i + r0) * N + col : NULL;
                    ck_tile_finish512(acc, mr, n, c, N, pc > 0, last ? &tile_ep : NULL, res, col);
                }
            }
        }
    }
    _tile_release();
}
#undef CK_AMX_DP4
#endif  // CK_X86

// MARK: - Driver

void ck_linear_bf16_forward(float *out, const float *inp, const uint32_t *packed_weight, int terms,
                            const ck_linear_epilogue *epilogue, int M, int N, int K,
                            float *workspace, size_t workspace_floats) {
    if (M <= 0 || N <= 0) return;
    static const ck_linear_epilogue none = {0};
    struct ck_linear_args g = {out, inp, NULL, packed_weight, terms_valid(terms), epilogue ? epilogue : &none, M, N, K};
    ck_linear_run(&g, ck_dispatch()->linear_bf16, workspace, workspace_floats);
}

void ck_linear_amx_forward(float *out, const float *inp, const uint32_t *packed_weight, int terms,
                           const ck_linear_epilogue *epilogue, int M, int N, int K,
                           float *workspace, size_t workspace_floats) {
#if CK_X86
    // Kernels never fail: without AMX (or the OS's permission) the bf16 form computes it.
    if (M > 0 && N > 0 && ck_amx_request_permission()) {
        static const ck_linear_epilogue none = {0};
        struct ck_linear_args g = {out, inp, NULL, packed_weight, terms_valid(terms), epilogue ? epilogue : &none, M, N, K};
        ck_linear_run(&g, (ck_linear_kernel){linear_block_bf16_amx, CK_LINEAR_ROWS_BY_CACHE}, workspace, workspace_floats);
        return;
    }
#endif
    ck_linear_bf16_forward(out, inp, packed_weight, terms, epilogue, M, N, K, workspace, workspace_floats);
}

void ck_register_gemm_bf16(ck_dispatch_table *table, ck_isa isa) {
    table->linear_bf16 = (ck_linear_kernel){linear_block_bf16_scalar, CK_LINEAR_ROWS_BY_CACHE};
#if CK_X86
    if (isa == CK_ISA_AVX512 && ck_cpu()->avx512_bf16) table->linear_bf16.block = linear_block_bf16_avx512;
#else
    (void)isa;
#endif
}
