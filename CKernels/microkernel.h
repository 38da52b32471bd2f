// Private: the register-tiled GEMM micro-kernels shared by the packed linear layer (gemm.c) and
// attention (attention.c). Each computes one tile C[mr x NR] += A[mr x kc] · B[kc x NR] with the
// tile held in registers for the whole k loop; callers choose the memory layouts through strides:
//   A element (r, k) is a[r * a_rs + k * a_cs]  (packed panels: a_rs = 1, a_cs = MR;
//                                                 plain rows: a_rs = lda, a_cs = 1),
//   B row k is b + k * ldb, NR floats of which the first n are used (packed panels: ldb = NR).
// They are `always_inline` and called with constant mr / strides where it matters, so clang
// specialises and fully unrolls them (the accumulators then live in registers, never on the stack).
#ifndef CKERNELS_MICROKERNEL_H
#define CKERNELS_MICROKERNEL_H

#include "internal.h"
#include "vecmath.h"

// Columns of one packed weight panel, for every ISA (the packed layout does not depend on the ISA,
// so weights are packed once and every path reads them).
#define CK_NR 32
// Rows of one AVX-512 tile: 12 x 32 = 24 zmm accumulators + 2 for B + broadcasts (of 32 registers).
#define CK_MR512 12
// Rows of one AVX2 tile (6 x 16 = 12 ymm accumulators of 16, BLIS's Haswell shape); the packed A
// panel has CK_MR512 rows for every ISA, AVX2 walks it in two halves.
#define CK_MR256 6

#define CK_ALWAYS_INLINE inline __attribute__((always_inline))

// How the finished tile is written.
typedef struct {
    const float *bias;      // (N) indexed by absolute column, or NULL
    const float *residual;  // row-major like C (ld = ldr), or NULL: added after the activation
    long ldr;
    int gelu;               // exact erf GELU after the bias
} ck_tile_epilogue;

#define CK_INV_SQRT2_F 0.70710678118654752440f

#if CK_X86
// MARK: - AVX-512

// Writes a finished 12 x 32 accumulator tile (rows < mr, columns < n) to C: added to C's contents
// when accumulate, then ep's bias, GELU and residual (ep may be NULL). Shared by every AVX-512 tile.
CK_TARGET_AVX512 static CK_ALWAYS_INLINE void ck_tile_finish512(
    __m512 acc[CK_MR512][2], const int mr, const int n, float *c, const long ldc, const int accumulate,
    const ck_tile_epilogue *ep, const float *residual, const int col0) {
    const __mmask16 m0 = ck_tail_mask512(n), m1 = ck_tail_mask512(n - 16);
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR512; r++) {
        if (r >= mr) continue;
        float *crow = c + r * ldc;
#pragma clang loop unroll(full)
        for (int h = 0; h < 2; h++) {
            const __mmask16 m = h ? m1 : m0;
            __m512 v = acc[r][h];
            if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, crow + 16 * h));
            if (ep != NULL) {
                if (ep->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, ep->bias + col0 + 16 * h));
                if (ep->gelu) {
                    const __m512 e = ck_erf512(_mm512_mul_ps(v, _mm512_set1_ps(CK_INV_SQRT2_F)));
                    v = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
                }
                if (residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, residual + r * ep->ldr + 16 * h));
            }
            _mm512_mask_storeu_ps(crow + 16 * h, m, v);
        }
    }
}

// C tile rows are c + r * ldc; n (1..32) valid columns. accumulate: add to C's contents, else
// overwrite. ep (may be NULL) applies to the finished values; col0 is the tile's first absolute
// column (for the bias) and the residual pointer is already at the tile's row 0, column 0.
CK_TARGET_AVX512 static CK_ALWAYS_INLINE void ck_tile512(
    const int mr, const int kc, const float *restrict a, const long a_rs, const long a_cs,
    const float *restrict b, const long ldb, const int n, float *c, const long ldc, const int accumulate,
    const ck_tile_epilogue *ep, const float *residual, const int col0) {
    __m512 acc[CK_MR512][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR512; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const __mmask16 m0 = ck_tail_mask512(n), m1 = ck_tail_mask512(n - 16);
    if (n == 32) {
        for (int k = 0; k < kc; k++) {
            const __m512 b0 = _mm512_loadu_ps(b + (long)k * ldb), b1 = _mm512_loadu_ps(b + (long)k * ldb + 16);
#pragma clang loop unroll(full)
            for (int r = 0; r < CK_MR512; r++) {
                if (r < mr) {
                    const __m512 av = _mm512_set1_ps(a[r * a_rs + (long)k * a_cs]);
                    acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
                }
            }
        }
    } else {
        for (int k = 0; k < kc; k++) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + (long)k * ldb);
            const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + (long)k * ldb + 16);
#pragma clang loop unroll(full)
            for (int r = 0; r < CK_MR512; r++) {
                if (r < mr) {
                    const __m512 av = _mm512_set1_ps(a[r * a_rs + (long)k * a_cs]);
                    acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
                }
            }
        }
    }
    ck_tile_finish512(acc, mr, n, c, ldc, accumulate, ep, residual, col0);
}

// ck_tile512 on packed panels (A: a 12-row panel, element (r, k) at a[k * 12 + r]; B: a 32-column
// panel, row k at b + k * 32), for the forward (gemm.c) and the training products
// (backward_linear.c). mr is a constant in every call of the switch, so ck_tile512 is specialised per
// row count.
CK_TARGET_AVX512 static CK_ALWAYS_INLINE void ck_tile512_packed(int mr, int kc, const float *a, const float *b, int n,
                                                                float *c, long ldc, int accumulate,
                                                                const ck_tile_epilogue *ep, const float *res, int col0) {
    switch (mr) {
#define CK_CASE(R) case R: ck_tile512(R, kc, a, 1, CK_MR512, b, CK_NR, n, c, ldc, accumulate, ep, res, col0); break;
    CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
    CK_CASE(7) CK_CASE(8) CK_CASE(9) CK_CASE(10) CK_CASE(11) CK_CASE(12)
#undef CK_CASE
    }
}

// In-register transpose of 16 rows of 16 floats: on return r[c] holds column c (unpack, then
// 128-bit and 256-bit lane shuffles; checked against pack_keys by the kernel tests).
CK_TARGET_AVX512 static CK_ALWAYS_INLINE void transpose16x16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 4; c++) {
            t[8 * i + c] = _mm512_shuffle_f32x4(r[8 * i + c], r[8 * i + 4 + c], 0x88);
            t[8 * i + 4 + c] = _mm512_shuffle_f32x4(r[8 * i + c], r[8 * i + 4 + c], 0xdd);
        }
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
    }
}

// Packs rows i0..i0+mc-1, columns p0..p0+kc-1 of inp (ld K) into MR-row panels: panel q holds
// element (r, k) at dst[q * MR * kc + k * MR + r] (MR = CK_MR512; rows past mc in the last panel are
// not written: the micro-kernel is specialised to the valid row count and never reads them).
// 16 columns at a time: 12 row loads, one in-register 16 x 16
// transpose (4 rows zero), 16 stores of 12 floats. The scalar form writes with a 48-byte stride and
// cost about 1.3 ns per value (measured), 20% of a 768-column GEMM.
CK_TARGET_AVX512 __attribute__((unused)) static void ck_pack_rows512(float *dst, const float *inp, int K, int i0, int mc,
                                                                     int p0, int kc) {
    for (int q = 0; q < mc; q += CK_MR512) {
        const int rows = CK_MIN(CK_MR512, mc - q);
        float *panel = dst + (size_t)q * kc;
        const float *src = inp + (size_t)(i0 + q) * K + p0;
        for (int k0 = 0; k0 < kc; k0 += 16) {
            const __mmask16 m = ck_tail_mask512(kc - k0);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + (size_t)i * K + k0) : _mm512_setzero_ps();
            transpose16x16(r);
            const int columns = CK_MIN(16, kc - k0);
            for (int k = 0; k < columns; k++) _mm512_mask_storeu_ps(panel + (size_t)(k0 + k) * CK_MR512, 0x0FFF, r[k]);
        }
    }
}

// MARK: - AVX2

// The k loop of an AVX2 tile of mr <= 6 rows and n <= 16 columns into acc. prefetch (a constant):
// 0, or how many k ahead to prefetch B's row into L1, for a B streamed from L2 (the forward's weight
// panels; a prefetch never faults, so the rows past the end cost nothing).
CK_TARGET_AVX2 static CK_ALWAYS_INLINE void ck_tile256_sum(
    __m256 acc[CK_MR256][2], const int mr, const int kc, const float *restrict a, const long a_rs, const long a_cs,
    const float *restrict b, const long ldb, const int n, const int prefetch) {
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR256; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    const __m256i m0 = ck_tail_mask256(n), m1 = ck_tail_mask256(n - 8);
    for (int k = 0; k < kc; k++) {
        __m256 b0, b1;
        if (prefetch) _mm_prefetch((const char *)(b + (long)(k + prefetch) * ldb), _MM_HINT_T0);
        if (n == 16) {
            b0 = _mm256_loadu_ps(b + (long)k * ldb);
            b1 = _mm256_loadu_ps(b + (long)k * ldb + 8);
        } else {
            b0 = _mm256_maskload_ps(b + (long)k * ldb, m0);
            b1 = _mm256_maskload_ps(b + (long)k * ldb + 8, m1);
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < CK_MR256; r++) {
            if (r < mr) {
                const __m256 av = _mm256_broadcast_ss(a + r * a_rs + (long)k * a_cs);
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
        }
    }
}

// Loads and stores of one 8-float half-row of an AVX2 tile: masked only for a partial tile (full is
// a constant in every call). VMASKMOVPS stores are slow on AMD's cores (microcoded before Zen 4),
// and a tile's 12 of them cost a large share of a short tile.
CK_TARGET_AVX2 static CK_ALWAYS_INLINE __m256 ck_load256(const int full, const float *p, const __m256i m) {
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}

// Writes a finished AVX2 tile to C, as ck_tile_finish512 does (full: n == 16, as a constant).
CK_TARGET_AVX2 static CK_ALWAYS_INLINE void ck_tile_finish256_cols(
    __m256 acc[CK_MR256][2], const int mr, const int full, const int n, float *c, const long ldc,
    const int accumulate, const ck_tile_epilogue *ep, const float *residual, const int col0) {
    const __m256i m0 = ck_tail_mask256(n), m1 = ck_tail_mask256(n - 8);
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR256; r++) {
        if (r >= mr) continue;
        float *crow = c + r * ldc;
#pragma clang loop unroll(full)
        for (int h = 0; h < 2; h++) {
            const __m256i m = h ? m1 : m0;
            __m256 v = acc[r][h];
            if (accumulate) v = _mm256_add_ps(v, ck_load256(full, crow + 8 * h, m));
            if (ep != NULL) {
                if (ep->bias) v = _mm256_add_ps(v, ck_load256(full, ep->bias + col0 + 8 * h, m));
                if (ep->gelu) {
                    const __m256 e = ck_erf256(_mm256_mul_ps(v, _mm256_set1_ps(CK_INV_SQRT2_F)));
                    v = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
                }
                if (residual) v = _mm256_add_ps(v, ck_load256(full, residual + r * ep->ldr + 8 * h, m));
            }
            if (full) _mm256_storeu_ps(crow + 8 * h, v);
            else _mm256_maskstore_ps(crow + 8 * h, m, v);
        }
    }
}

CK_TARGET_AVX2 static CK_ALWAYS_INLINE void ck_tile_finish256(
    __m256 acc[CK_MR256][2], const int mr, const int n, float *c, const long ldc, const int accumulate,
    const ck_tile_epilogue *ep, const float *residual, const int col0) {
    if (n == 16) ck_tile_finish256_cols(acc, mr, 1, 16, c, ldc, accumulate, ep, residual, col0);
    else ck_tile_finish256_cols(acc, mr, 0, n, c, ldc, accumulate, ep, residual, col0);
}

// The same contract as ck_tile512 for a tile of mr <= 6 rows and n <= 16 columns.
CK_TARGET_AVX2 static CK_ALWAYS_INLINE void ck_tile256(
    const int mr, const int kc, const float *restrict a, const long a_rs, const long a_cs,
    const float *restrict b, const long ldb, const int n, float *c, const long ldc, const int accumulate,
    const ck_tile_epilogue *ep, const float *residual, const int col0) {
    __m256 acc[CK_MR256][2];
    ck_tile256_sum(acc, mr, kc, a, a_rs, a_cs, b, ldb, n, 0);
    ck_tile_finish256(acc, mr, n, c, ldc, accumulate, ep, residual, col0);
}

// In-register transpose of 8 rows of 8 floats: on return r[c] holds column c.
CK_TARGET_AVX2 static CK_ALWAYS_INLINE void transpose8x8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        r[4 * i + 0] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int c = 0; c < 4; c++) {
        t[c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x20);
        t[c + 4] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x31);
    }
    for (int c = 0; c < 8; c++) r[c] = t[c];
}

// Packs rows i0..i0+mc-1, columns p0..p0+kc-1 of inp (ld K) into 6-row panels (AVX2's tile height):
// panel q holds element (r, k) at dst[q * 6 * kc + k * 6 + r]; rows past mc in the last panel are
// written as zeros (the tile is specialised to the valid row count and never reads them). 8 columns
// at a time: 6 row loads, one in-register 8 x 8 transpose (2 rows zero), 8 stores of 4 + 2 floats.
CK_TARGET_AVX2 __attribute__((unused)) static void ck_pack_rows256(float *dst, const float *inp, int K, int i0, int mc,
                                                                   int p0, int kc) {
    for (int q = 0; q < mc; q += CK_MR256) {
        const int rows = CK_MIN(CK_MR256, mc - q);
        float *panel = dst + (size_t)q * kc;
        const float *src = inp + (size_t)(i0 + q) * K + p0;
        for (int k0 = 0; k0 < kc; k0 += 8) {
            const int columns = CK_MIN(8, kc - k0);
            __m256 r[8];
            if (columns == 8)
                for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(src + (size_t)i * K + k0) : _mm256_setzero_ps();
            else {
                const __m256i m = ck_tail_mask256(columns);
                for (int i = 0; i < 8; i++)
                    r[i] = i < rows ? _mm256_maskload_ps(src + (size_t)i * K + k0, m) : _mm256_setzero_ps();
            }
            transpose8x8(r);
            for (int k = 0; k < columns; k++) {
                float *to = panel + (size_t)(k0 + k) * CK_MR256;
                _mm_storeu_ps(to, _mm256_castps256_ps128(r[k]));
                _mm_storel_pi((__m64 *)(to + 4), _mm256_extractf128_ps(r[k], 1));
            }
        }
    }
}
#endif  // CK_X86

#endif  // CKERNELS_MICROKERNEL_H
