// The linear layer in int8 (dynamic quantization), an opt-in reduced precision:
//   out (M,N) = epilogue(dequantize(q(inp) · q(W)ᵀ))
// with the weights quantized once, when they are packed, and the activations per call, per row, inside
// the driver. The fp32 linear layer (gemm.c) is untouched; nothing uses this form unless asked to.
//
// The numbers, defined by the scalar reference below (it runs on every CPU; every ISA path must equal
// it bit for bit, on any thread count):
// - weights, per output channel n (symmetric): s_w[n] = max_k |W[n,k]| / 127 (0 when that is 0),
//   q_w[n,k] = clamp(rint(W[n,k] / s_w[n]), -127, 127) (0 when s_w[n] is 0), c[n] = Σ_k q_w[n,k];
// - activations, per row i (asymmetric u8): lo = min(0, min_k x), hi = max(0, max_k x), range = hi - lo;
//   s_a = range / 255, inv = 1 / s_a, z = clamp(rint(-lo · inv), 0, 255),
//   q_a[i,k] = clamp(rint(x[i,k] · inv) + z, 0, 255); a row whose range is below 2^-100 (all zeros, or
//   NaN) gets s_a = inv = 0, z = 0, every q_a = 0 (its products are 0);
// - the product: acc = Σ_k q_a[i,k] · q_w[n,k] in int32 (exact: at most 255 · 127 · K, below 2^31 for
//   K < 66000), then out = (float)(acc - z · c[n]) · (s_a · s_w[n]), each operation rounded in fp32 in
//   that order (rint: nearest even); then the fp32 form's epilogue: + bias, GELU, + residual (and the
//   driver's layernorm).
// Integer sums do not depend on their order, so every path gets the same acc whatever its instructions;
// only the activation quantizers (per ISA, vectorised) and the dequantization must repeat the scalar
// operations exactly, which they do (the same IEEE operations, no fused multiply-add).
//
// The kernels:
// - AVX512-VNNI: VPDPBUSD (u8 activations x s8 weights, four products summed into each int32 lane,
//   without saturation), 12 x 32 tiles as the fp32 AVX-512 form's;
// - AVX2 (and AVX-512 without VNNI): VPMADDUBSW's int16 pair sums saturate (255 · 127 · 2 = 64770 >
//   32767), so this path does not use it: activations are stored as int16 (zero-extended u8), weights are
//   sign-extended to int16 as they are loaded, and VPMADDWD sums int16 pairs exactly into int32. The
//   numbers are the VNNI path's (no 7-bit reduction), at about half of VPMADDUBSW's rate: roughly fp32
//   FMA's rate, so int8 pays on AVX2 mainly in memory, not arithmetic (docs/PRECISION.md).
//
// Layouts:
// - weights, packed once (ck_pack_weight_int8), in 32-bit words: panels of 32 output columns; panel p
//   holds quad row t (K rounded up to a multiple of 4, quartered) as 32 words, word j = the four s8
//   q_w[32p + j][4t .. 4t + 3] (k = 4t in the low byte; zero past N and past K); after the panels,
//   s_w (32 · panels floats, 0 past N), then c (32 · panels int32);
// - activations, per row block (the caller's workspace, one slice per thread): s_a (rows floats), z
//   (rows int32), padded to 64 bytes, then the quantized rows, row-major, K rounded up to 4 values per
//   row (zeros past K): u8 for the scalar and VNNI paths, int16 for the AVX2 path.
#include "internal.h"
#include "microkernel.h"

#include <math.h>
#include <string.h>

// MARK: - Weights

static int quads_of(int K) { return (K + 3) / 4; }
static int panels_of(int N) { return (N + CK_NR - 1) / CK_NR; }

size_t ck_pack_weight_int8_size(int N, int K) {
    return (size_t)panels_of(N) * CK_NR * ((size_t)quads_of(K) + 2);
}

void ck_pack_weight_int8(uint32_t *packed, const float *weight, int N, int K) {
    const int panels = panels_of(N), quads = quads_of(K);
    const size_t data = (size_t)panels * quads * CK_NR;
    float *scales = (float *)(packed + data);
    int32_t *sums = (int32_t *)(packed + data + (size_t)panels * CK_NR);
    memset(packed, 0, sizeof(uint32_t) * ck_pack_weight_int8_size(N, K));
    for (int n = 0; n < N; n++) {
        const float *row = weight + (size_t)n * K;
        float amax = 0.0f;
        for (int k = 0; k < K; k++) amax = fmaxf(amax, fabsf(row[k]));
        const float scale = amax / 127.0f;
        int32_t sum = 0;
        if (scale > 0.0f && isfinite(scale)) {
            uint8_t *panel = (uint8_t *)(packed + (size_t)(n / CK_NR) * quads * CK_NR);
            for (int k = 0; k < K; k++) {
                long q = lrintf(row[k] / scale);
                q = q < -127 ? -127 : q > 127 ? 127 : q;
                panel[((size_t)(k / 4) * CK_NR + n % CK_NR) * 4 + k % 4] = (uint8_t)(int8_t)q;
                sum += (int32_t)q;
            }
            scales[n] = scale;
        }
        sums[n] = sum;
    }
}

// MARK: - Activations

// The per-row parameters from the row's lo and hi (lo <= 0 <= hi).
static inline void row_parameters(float lo, float hi, float *scale, float *inv, int32_t *zero) {
    const float range = hi - lo;
    if (!(range >= 0x1p-100f)) {
        *scale = 0.0f, *inv = 0.0f, *zero = 0;
        return;
    }
    *scale = range / 255.0f;
    *inv = 1.0f / *scale;
    long z = lrintf(-lo * *inv);
    *zero = (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

static inline int32_t quantize_value(float x, float inv, int32_t zero) {
    long q = lrintf(x * inv) + zero;
    return (int32_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

// The activation block's header: s_a and z of `rows` rows, padded to 64 bytes; the rows follow.
static size_t header_bytes(int rows) { return ((size_t)rows * 8 + 63) & ~(size_t)63; }

typedef struct {
    float *scale;
    int32_t *zero;
    void *rows;
    int ld;  // values per quantized row: K rounded up to 4
} quantized_block;

static quantized_block block_of(float *pack, int rows, int K) {
    uint8_t *bytes = (uint8_t *)pack;
    return (quantized_block){(float *)bytes, (int32_t *)(bytes + (size_t)rows * 4), bytes + header_bytes(rows),
                             quads_of(K) * 4};
}

// Rows i0..i0+rows-1 of inp quantized as u8 (the reference quantizer).
static void quantize_rows_scalar(const quantized_block *q, const float *inp, int K, int i0, int rows) {
    for (int r = 0; r < rows; r++) {
        const float *x = inp + (size_t)(i0 + r) * K;
        float lo = 0.0f, hi = 0.0f;
        for (int k = 0; k < K; k++) {
            lo = x[k] < lo ? x[k] : lo;
            hi = x[k] > hi ? x[k] : hi;
        }
        float inv;
        row_parameters(lo, hi, &q->scale[r], &inv, &q->zero[r]);
        uint8_t *dst = (uint8_t *)q->rows + (size_t)r * q->ld;
        for (int k = 0; k < K; k++) dst[k] = (uint8_t)quantize_value(x[k], inv, q->zero[r]);
        for (int k = K; k < q->ld; k++) dst[k] = 0;
    }
}

// MARK: - Scalar reference

// The fp32 form's scalar epilogue on one output.
static inline float finish_scalar(const struct ck_linear_args *g, float v, int i, int j) {
    const ck_linear_epilogue *ep = g->epilogue;
    if (ep->bias) v += ep->bias[j];
    if (ep->activation == CK_ACTIVATION_GELU) v = 0.5f * v * (1.0f + erff(v * CK_INV_SQRT2_F));
    if (ep->residual) v += ep->residual[(size_t)i * g->N + j];
    return v;
}

static void linear_block_int8_scalar(const struct ck_linear_args *g, float *pack, int i0, int i1, int p0, int p1) {
    const int K = g->K, N = g->N, panels = panels_of(N), quads = quads_of(K);
    const uint32_t *packed = g->packed_int8;
    const float *scales = (const float *)(packed + (size_t)panels * quads * CK_NR);
    const int32_t *sums = (const int32_t *)(packed + (size_t)panels * (quads + 1) * CK_NR);
    const quantized_block q = block_of(pack, i1 - i0, K);
    quantize_rows_scalar(&q, g->inp, K, i0, i1 - i0);
    for (int i = i0; i < i1; i++) {
        const uint8_t *a = (const uint8_t *)q.rows + (size_t)(i - i0) * q.ld;
        for (int j = p0 * CK_NR; j < CK_MIN(N, p1 * CK_NR); j++) {
            const int8_t *w = (const int8_t *)(packed + (size_t)(j / CK_NR) * quads * CK_NR) + (j % CK_NR) * 4;
            int32_t acc = 0;
            for (int k = 0; k < K; k++) acc += (int32_t)a[k] * (int32_t)w[(size_t)(k / 4) * CK_NR * 4 + k % 4];
            const int32_t corrected = acc - q.zero[i - i0] * sums[j];
            const float scale = q.scale[i - i0] * scales[j];
            const float v = (float)corrected * scale;
            g->out[(size_t)i * N + j] = finish_scalar(g, v, i, j);
        }
    }
}

#if CK_X86
// MARK: - AVX512-VNNI

#define CK_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,avx2")))

CK_TARGET_AVX512 static void quantize_rows_avx512(const quantized_block *q, const float *inp, int K, int i0, int rows) {
    for (int r = 0; r < rows; r++) {
        const float *x = inp + (size_t)(i0 + r) * K;
        __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 16) {
            const __m512 v = _mm512_maskz_loadu_ps(ck_tail_mask512(K - k), x + k);  // zeros past K: in range
            vlo = _mm512_min_ps(vlo, v);
            vhi = _mm512_max_ps(vhi, v);
        }
        float inv;
        row_parameters(_mm512_reduce_min_ps(vlo), _mm512_reduce_max_ps(vhi), &q->scale[r], &inv, &q->zero[r]);
        const __m512 vinv = _mm512_set1_ps(inv);
        const __m512i zero = _mm512_set1_epi32(q->zero[r]), top = _mm512_set1_epi32(255);
        uint8_t *dst = (uint8_t *)q->rows + (size_t)r * q->ld;
        for (int k = 0; k < q->ld; k += 16) {
            const __mmask16 m = ck_tail_mask512(K - k), store = ck_tail_mask512(q->ld - k);
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), vinv));  // nearest even
            v = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(v, zero), _mm512_setzero_si512()), top);
            v = _mm512_maskz_mov_epi32(m, v);  // zeros past K
            _mm512_mask_cvtepi32_storeu_epi8(dst + k, store, v);
        }
    }
}

// One 12 x 32 tile over `quads` quad rows: a = mr quantized rows (stride lda bytes), b = a weight panel.
CK_TARGET_VNNI static CK_ALWAYS_INLINE void tile_vnni(const int mr, const int quads, const uint8_t *a, const long lda,
                                                      const uint32_t *b, __m512i acc[CK_MR512][2]) {
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR512; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    for (int t = 0; t < quads; t++) {
        const __m512i b0 = _mm512_loadu_si512(b + (size_t)t * CK_NR), b1 = _mm512_loadu_si512(b + (size_t)t * CK_NR + 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < CK_MR512; r++) {
            if (r < mr) {
                int32_t word;
                memcpy(&word, a + r * lda + 4 * t, 4);
                const __m512i av = _mm512_set1_epi32(word);
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);
                acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);
            }
        }
    }
}

// Dequantizes a finished integer tile (rows r0.. of the block, columns col.. of the layer) into fp32
// accumulators for the fp32 form's finish: (float)(acc - z c) · (s_a s_w).
CK_TARGET_AVX512 static CK_ALWAYS_INLINE void dequantize512(const __m512i acc[CK_MR512][2], __m512 out[CK_MR512][2],
                                                            const int mr, const float *row_scale, const int32_t *row_zero,
                                                            const float *scales, const int32_t *sums) {
    const __m512 s0 = _mm512_loadu_ps(scales), s1 = _mm512_loadu_ps(scales + 16);
    const __m512i c0 = _mm512_loadu_si512(sums), c1 = _mm512_loadu_si512(sums + 16);
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR512; r++) {
        if (r < mr) {
            const __m512i z = _mm512_set1_epi32(row_zero[r]);
            const __m512 sa = _mm512_set1_ps(row_scale[r]);
            out[r][0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][0], _mm512_mullo_epi32(z, c0))),
                                      _mm512_mul_ps(sa, s0));
            out[r][1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][1], _mm512_mullo_epi32(z, c1))),
                                      _mm512_mul_ps(sa, s1));
        } else {
            out[r][0] = out[r][1] = _mm512_setzero_ps();
        }
    }
}

CK_TARGET_VNNI static CK_ALWAYS_INLINE void tile_vnni_finish(const int mr, const int quads, const uint8_t *a, const long lda,
                                                             const uint32_t *b, const float *row_scale,
                                                             const int32_t *row_zero, const float *scales,
                                                             const int32_t *sums, const int n, float *c, const long ldc,
                                                             const ck_tile_epilogue *ep, const float *res, const int col) {
    __m512i acc[CK_MR512][2];
    __m512 out[CK_MR512][2];
    tile_vnni(mr, quads, a, lda, b, acc);
    dequantize512(acc, out, mr, row_scale, row_zero, scales, sums);
    ck_tile_finish512(out, mr, n, c, ldc, 0, ep, res, col);
}

CK_TARGET_VNNI static void tile_vnni_rows(int mr, int quads, const uint8_t *a, long lda, const uint32_t *b,
                                          const float *row_scale, const int32_t *row_zero, const float *scales,
                                          const int32_t *sums, int n, float *c, long ldc, const ck_tile_epilogue *ep,
                                          const float *res, int col) {
    switch (mr) {
#define CK_CASE(R) case R: tile_vnni_finish(R, quads, a, lda, b, row_scale, row_zero, scales, sums, n, c, ldc, ep, res, col); break;
    CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
    CK_CASE(7) CK_CASE(8) CK_CASE(9) CK_CASE(10) CK_CASE(11) CK_CASE(12)
#undef CK_CASE
    }
}

// The weight panels that share L2 with the activation block: about a fifth of L2, as the fp32 form's
// group, counted in int8 panels (32 x K bytes).
static int panel_group(int K, int bytes_per_weight) {
    size_t l2 = 0;
    ck_cache_sizes(NULL, &l2, NULL);
    const size_t panel = (size_t)CK_NR * (size_t)quads_of(K) * 4 * (size_t)bytes_per_weight;
    return CK_MAX(1, CK_MIN(64, (int)(l2 / 5 / panel)));
}

// The fp32 form's block walk: the block's rows quantized once into the thread's slice, then groups of
// weight panels (in L2), each 12-row panel of the block (in L1) meeting every panel of the group.
CK_TARGET_VNNI static void linear_block_int8_vnni(const struct ck_linear_args *g, float *pack, int i0, int i1, int p0,
                                                  int p1) {
    const int K = g->K, N = g->N, panels = panels_of(N), quads = quads_of(K);
    const uint32_t *packed = g->packed_int8;
    const float *scales = (const float *)(packed + (size_t)panels * quads * CK_NR);
    const int32_t *sums = (const int32_t *)(packed + (size_t)panels * (quads + 1) * CK_NR);
    const ck_linear_epilogue *ep = g->epilogue;
    const ck_tile_epilogue tile_ep = {ep->bias, ep->residual, N, ep->activation == CK_ACTIVATION_GELU};
    const quantized_block q = block_of(pack, i1 - i0, K);
    quantize_rows_avx512(&q, g->inp, K, i0, i1 - i0);
    const int group = panel_group(K, 1);
    for (int pg = p0; pg < p1; pg += group) {
        const int pg1 = CK_MIN(p1, pg + group);
        for (int i = i0; i < i1; i += CK_MR512) {
            const int mr = CK_MIN(CK_MR512, i1 - i);
            const uint8_t *a = (const uint8_t *)q.rows + (size_t)(i - i0) * q.ld;
            for (int p = pg; p < pg1; p++) {
                const int col = p * CK_NR, n = CK_MIN(CK_NR, N - col);
                const float *res = ep->residual ? ep->residual + (size_t)i * N + col : NULL;
                tile_vnni_rows(mr, quads, a, q.ld, packed + (size_t)p * quads * CK_NR, q.scale + (i - i0),
                               q.zero + (i - i0), scales + col, sums + col, n, g->out + (size_t)i * N + col, N,
                               &tile_ep, res, col);
            }
        }
    }
}

// MARK: - AVX2 (exact int16 products)

// As quantize_rows_avx512, the values stored as int16.
CK_TARGET_AVX2 static void quantize_rows_avx2(const quantized_block *q, const float *inp, int K, int i0, int rows) {
    for (int r = 0; r < rows; r++) {
        const float *x = inp + (size_t)(i0 + r) * K;
        __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
        for (int k = 0; k < K; k += 8) {
            const __m256 v = _mm256_maskload_ps(x + k, ck_tail_mask256(K - k));  // zeros past K: in range
            vlo = _mm256_min_ps(vlo, v);
            vhi = _mm256_max_ps(vhi, v);
        }
        float lo_lanes[8], hi_lanes[8], lo = 0.0f, hi = 0.0f;
        _mm256_storeu_ps(lo_lanes, vlo);
        _mm256_storeu_ps(hi_lanes, vhi);
        for (int l = 0; l < 8; l++) {
            lo = lo_lanes[l] < lo ? lo_lanes[l] : lo;
            hi = hi_lanes[l] > hi ? hi_lanes[l] : hi;
        }
        float inv;
        row_parameters(lo, hi, &q->scale[r], &inv, &q->zero[r]);
        const __m256 vinv = _mm256_set1_ps(inv);
        const __m256i zero = _mm256_set1_epi32(q->zero[r]), top = _mm256_set1_epi32(255);
        int16_t *dst = (int16_t *)q->rows + (size_t)r * q->ld;
        int k = 0;
        for (; k + 8 <= K; k += 8) {
            __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv));  // nearest even
            v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(v, zero), _mm256_setzero_si256()), top);
            _mm_storeu_si128((__m128i *)(dst + k),
                             _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
        }
        for (; k < K; k++) dst[k] = (int16_t)quantize_value(x[k], inv, q->zero[r]);
        for (; k < q->ld; k++) dst[k] = 0;
    }
}

// Rows of one AVX2 tile: 6 x 8 columns = 12 int32 accumulators (each holding 4 columns' two partial
// sums) + 2 weight vectors + 1 broadcast, of 16 registers.
#define CK_MR_INT8_AVX2 6

// The exact sums of an mr x 8 block: columns col8..col8+7 of the panel b, into sums[r][0..7].
CK_TARGET_AVX2 static CK_ALWAYS_INLINE void tile_int16(const int mr, const int quads, const int16_t *a, const long lda,
                                                       const uint32_t *b, const int col8, int32_t sums[][8]) {
    __m256i acc[CK_MR_INT8_AVX2][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR_INT8_AVX2; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const uint8_t *w = (const uint8_t *)(b + col8);
    for (int t = 0; t < quads; t++) {
        // Columns col8..+3 and col8+4..+7, each column's four k as int16: [c0k0 c0k1 c0k2 c0k3 c1k0 ...].
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + (size_t)t * CK_NR * 4)));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + (size_t)t * CK_NR * 4 + 16)));
#pragma clang loop unroll(full)
        for (int r = 0; r < CK_MR_INT8_AVX2; r++) {
            if (r < mr) {
                long long quad;
                memcpy(&quad, a + r * lda + 4 * t, 8);
                const __m256i av = _mm256_set1_epi64x(quad);  // the row's four k as int16, four times
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, w0));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, w1));
            }
        }
    }
    // Lanes (c0: k01, c0: k23, c1: k01, c1: k23 | c2 .., c3 ..): adjacent lanes summed, in column order.
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR_INT8_AVX2; r++) {
        if (r < mr) {
            const __m256i h = _mm256_hadd_epi32(acc[r][0], acc[r][1]);  // c0 c1 c4 c5 | c2 c3 c6 c7
            _mm256_storeu_si256((__m256i *)sums[r], _mm256_permute4x64_epi64(h, 0xD8));
        }
    }
}

CK_TARGET_AVX2 static void tile_int16_rows(int mr, int quads, const int16_t *a, long lda, const uint32_t *b, int col8,
                                           int32_t sums[][8]) {
    switch (mr) {
#define CK_CASE(R) case R: tile_int16(R, quads, a, lda, b, col8, sums); break;
    CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
#undef CK_CASE
    }
}

CK_TARGET_AVX2 static void linear_block_int8_avx2(const struct ck_linear_args *g, float *pack, int i0, int i1, int p0,
                                                  int p1) {
    const int K = g->K, N = g->N, panels = panels_of(N), quads = quads_of(K);
    const uint32_t *packed = g->packed_int8;
    const float *scales = (const float *)(packed + (size_t)panels * quads * CK_NR);
    const int32_t *column_sums = (const int32_t *)(packed + (size_t)panels * (quads + 1) * CK_NR);
    const ck_linear_epilogue *ep = g->epilogue;
    const ck_tile_epilogue tile_ep = {ep->bias, ep->residual, N, ep->activation == CK_ACTIVATION_GELU};
    const quantized_block q = block_of(pack, i1 - i0, K);
    quantize_rows_avx2(&q, g->inp, K, i0, i1 - i0);
    const int group = panel_group(K, 1);
    for (int pg = p0; pg < p1; pg += group) {
        const int pg1 = CK_MIN(p1, pg + group);
        for (int i = i0; i < i1; i += CK_MR_INT8_AVX2) {
            const int mr = CK_MIN(CK_MR_INT8_AVX2, i1 - i);
            const int16_t *a = (const int16_t *)q.rows + (size_t)(i - i0) * q.ld;
            const float *row_scale = q.scale + (i - i0);
            const int32_t *row_zero = q.zero + (i - i0);
            for (int p = pg; p < pg1; p++) {
                const uint32_t *b = packed + (size_t)p * quads * CK_NR;
                for (int half = 0; half < 2; half++) {
                    const int col = p * CK_NR + 16 * half, n = CK_MIN(16, N - col);
                    if (n <= 0) break;
                    int32_t sums[CK_MR_INT8_AVX2][16];
                    int32_t part[CK_MR_INT8_AVX2][8];
                    for (int e = 0; e < 2 && 8 * e < n; e++) {
                        tile_int16_rows(mr, quads, a, q.ld, b, 16 * half + 8 * e, part);
                        for (int r = 0; r < mr; r++) memcpy(&sums[r][8 * e], part[r], sizeof part[r]);
                    }
                    // (float)(acc - z c) · (s_a s_w), then the fp32 form's AVX2 finish.
                    const __m256 s0 = _mm256_loadu_ps(scales + col), s1 = _mm256_loadu_ps(scales + col + 8);
                    const __m256i c0 = _mm256_loadu_si256((const __m256i *)(column_sums + col));
                    const __m256i c1 = _mm256_loadu_si256((const __m256i *)(column_sums + col + 8));
                    __m256 out[CK_MR256][2];
                    for (int r = 0; r < CK_MR256; r++) {
                        if (r >= mr) {
                            out[r][0] = out[r][1] = _mm256_setzero_ps();
                            continue;
                        }
                        const __m256i z = _mm256_set1_epi32(row_zero[r]);
                        const __m256 sa = _mm256_set1_ps(row_scale[r]);
                        const __m256i acc0 = _mm256_loadu_si256((const __m256i *)&sums[r][0]);
                        const __m256i acc1 = 8 < n ? _mm256_loadu_si256((const __m256i *)&sums[r][8]) : _mm256_setzero_si256();
                        out[r][0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc0, _mm256_mullo_epi32(z, c0))),
                                                  _mm256_mul_ps(sa, s0));
                        out[r][1] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc1, _mm256_mullo_epi32(z, c1))),
                                                  _mm256_mul_ps(sa, s1));
                    }
                    const float *res = ep->residual ? ep->residual + (size_t)i * N + col : NULL;
                    ck_tile_finish256(out, mr, n, g->out + (size_t)i * N + col, N, 0, &tile_ep, res, col);
                }
            }
        }
    }
}
#endif  // CK_X86

// MARK: - Driver

void ck_linear_int8_forward(float *out, const float *inp, const uint32_t *packed_weight,
                            const ck_linear_epilogue *epilogue, int M, int N, int K,
                            float *workspace, size_t workspace_floats) {
    if (M <= 0 || N <= 0) return;
    static const ck_linear_epilogue none = {0};
    struct ck_linear_args g = {out, inp, NULL, NULL, 0, epilogue ? epilogue : &none, M, N, K, packed_weight};
    ck_linear_run(&g, ck_dispatch()->linear_int8, workspace, workspace_floats);
}

int ck_linear_int8_rows(int K, int bytes_per_value, size_t slice_bytes) {
    const size_t row = (size_t)quads_of(K) * 4 * (size_t)bytes_per_value + 8;
    // The header is padded to 64 bytes: leave room for it.
    long rows = (long)((slice_bytes - 64) / row);
    return (int)CK_MAX(1, rows);
}

void ck_register_gemm_int8(ck_dispatch_table *table, ck_isa isa) {
    table->linear_int8 = (ck_linear_kernel){linear_block_int8_scalar, CK_LINEAR_ROWS_QUANTIZED, 1};
#if CK_X86
    if (isa == CK_ISA_AVX512 && ck_cpu()->avx512_vnni)
        table->linear_int8 = (ck_linear_kernel){linear_block_int8_vnni, CK_LINEAR_ROWS_QUANTIZED, 1};
    else if (isa == CK_ISA_AVX512 || isa == CK_ISA_AVX2)
        table->linear_int8 = (ck_linear_kernel){linear_block_int8_avx2, CK_LINEAR_ROWS_QUANTIZED, 2};
#else
    (void)isa;
#endif
}
