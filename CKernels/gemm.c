// Single-precision matrix multiplication (row-major, cblas-like) and nn.Linear.
//
// Two SIMD forms cover every transpose the model needs without copies:
//   - "dot" form (A plain, B transposed): C[i,j] = A[i,:] · B[j,:], both rows contiguous in K;
//     a 4x4 block of outputs shares its loads. nn.Linear (weight stored (N,K)) is this form.
//   - "axpy" form (B plain): C[i, j..j+W] += A[i,k] * B[k, j..j+W], vectorised along N; A may be
//     transposed (its element is a broadcast scalar either way).
// A and B both transposed (not used by the model) runs on the scalar reference.
// OpenMP splits C into tiles in the baseline-ISA driver; workers own whole tiles.
#include "internal.h"
#include "vecmath.h"

#include <string.h>

typedef struct {
    int trans_a, trans_b, M, N, K;
    float alpha, beta;
    const float *A;
    int lda;
    const float *B;
    int ldb;
    float *C;
    int ldc;
} gemm_args;

static inline float a_at(const gemm_args *g, int i, int k) {
    return g->trans_a ? g->A[(size_t)k * g->lda + i] : g->A[(size_t)i * g->lda + k];
}

static inline float b_at(const gemm_args *g, int k, int j) {
    return g->trans_b ? g->B[(size_t)j * g->ldb + k] : g->B[(size_t)k * g->ldb + j];
}

static inline void store_c(const gemm_args *g, int i, int j, float acc) {
    float *c = &g->C[(size_t)i * g->ldc + j];
    *c = g->beta == 0.0f ? g->alpha * acc : g->alpha * acc + g->beta * *c;
}

// MARK: - Scalar reference

static void gemm_tile_scalar(const gemm_args *g, int i0, int i1, int j0, int j1) {
    for (int i = i0; i < i1; i++) {
        for (int j = j0; j < j1; j++) {
            float acc = 0.0f;
            for (int k = 0; k < g->K; k++) acc += a_at(g, i, k) * b_at(g, k, j);
            store_c(g, i, j, acc);
        }
    }
}

#if CK_X86
// MARK: - AVX-512

CK_TARGET_AVX512 static void gemm_tile_dot_avx512(const gemm_args *g, int i0, int i1, int j0, int j1) {
    const int K = g->K;
    for (int i = i0; i < i1; i += 4) {
        int mi = CK_MIN(4, i1 - i);
        for (int j = j0; j < j1; j += 4) {
            int nj = CK_MIN(4, j1 - j);
            __m512 acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
            // Rows past the edge reuse row 0 (their sums are computed and dropped).
            const float *a[4], *b[4];
            for (int r = 0; r < 4; r++) a[r] = g->A + (size_t)(i + (r < mi ? r : 0)) * g->lda;
            for (int c = 0; c < 4; c++) b[c] = g->B + (size_t)(j + (c < nj ? c : 0)) * g->ldb;
            for (int k = 0; k < K; k += 16) {
                __mmask16 m = ck_tail_mask512(K - k);
                __m512 bv[4];
                for (int c = 0; c < 4; c++) bv[c] = _mm512_maskz_loadu_ps(m, b[c] + k);
                for (int r = 0; r < 4; r++) {
                    __m512 av = _mm512_maskz_loadu_ps(m, a[r] + k);
                    for (int c = 0; c < 4; c++) acc[r][c] = _mm512_fmadd_ps(av, bv[c], acc[r][c]);
                }
            }
            for (int r = 0; r < mi; r++)
                for (int c = 0; c < nj; c++) store_c(g, i + r, j + c, _mm512_reduce_add_ps(acc[r][c]));
        }
    }
}

CK_TARGET_AVX512 static void gemm_tile_axpy_avx512(const gemm_args *g, int i0, int i1, int j0, int j1) {
    const int K = g->K;
    for (int i = i0; i < i1; i += 4) {
        int mi = CK_MIN(4, i1 - i);
        for (int j = j0; j < j1; j += 32) {
            __mmask16 m0 = ck_tail_mask512(j1 - j), m1 = ck_tail_mask512(j1 - j - 16);
            __m512 acc[4][2];
            for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
            for (int k = 0; k < K; k++) {
                const float *brow = g->B + (size_t)k * g->ldb + j;
                __m512 b0 = _mm512_maskz_loadu_ps(m0, brow);
                __m512 b1 = _mm512_maskz_loadu_ps(m1, brow + 16);
                for (int r = 0; r < mi; r++) {
                    __m512 av = _mm512_set1_ps(a_at(g, i + r, k));
                    acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
                }
            }
            __m512 alpha = _mm512_set1_ps(g->alpha), beta = _mm512_set1_ps(g->beta);
            for (int r = 0; r < mi; r++) {
                float *crow = g->C + (size_t)(i + r) * g->ldc + j;
                for (int h = 0; h < 2; h++) {
                    __mmask16 m = h ? m1 : m0;
                    __m512 out = _mm512_mul_ps(alpha, acc[r][h]);
                    if (g->beta != 0.0f)
                        out = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m, crow + 16 * h), out);
                    _mm512_mask_storeu_ps(crow + 16 * h, m, out);
                }
            }
        }
    }
}

// MARK: - AVX2

CK_TARGET_AVX2 static void gemm_tile_dot_avx2(const gemm_args *g, int i0, int i1, int j0, int j1) {
    const int K = g->K;
    for (int i = i0; i < i1; i += 4) {
        int mi = CK_MIN(4, i1 - i);
        for (int j = j0; j < j1; j += 2) {
            int nj = CK_MIN(2, j1 - j);
            __m256 acc[4][2];
            for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
            const float *a[4], *b[2];
            for (int r = 0; r < 4; r++) a[r] = g->A + (size_t)(i + (r < mi ? r : 0)) * g->lda;
            for (int c = 0; c < 2; c++) b[c] = g->B + (size_t)(j + (c < nj ? c : 0)) * g->ldb;
            for (int k = 0; k < K; k += 8) {
                __m256i m = ck_tail_mask256(K - k);
                __m256 b0 = _mm256_maskload_ps(b[0] + k, m), b1 = _mm256_maskload_ps(b[1] + k, m);
                for (int r = 0; r < 4; r++) {
                    __m256 av = _mm256_maskload_ps(a[r] + k, m);
                    acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                }
            }
            for (int r = 0; r < mi; r++)
                for (int c = 0; c < nj; c++) store_c(g, i + r, j + c, ck_hsum256(acc[r][c]));
        }
    }
}

CK_TARGET_AVX2 static void gemm_tile_axpy_avx2(const gemm_args *g, int i0, int i1, int j0, int j1) {
    const int K = g->K;
    for (int i = i0; i < i1; i += 4) {
        int mi = CK_MIN(4, i1 - i);
        for (int j = j0; j < j1; j += 16) {
            __m256i m0 = ck_tail_mask256(j1 - j), m1 = ck_tail_mask256(j1 - j - 8);
            __m256 acc[4][2];
            for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
            for (int k = 0; k < K; k++) {
                const float *brow = g->B + (size_t)k * g->ldb + j;
                __m256 b0 = _mm256_maskload_ps(brow, m0), b1 = _mm256_maskload_ps(brow + 8, m1);
                for (int r = 0; r < mi; r++) {
                    __m256 av = _mm256_set1_ps(a_at(g, i + r, k));
                    acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                }
            }
            __m256 alpha = _mm256_set1_ps(g->alpha), beta = _mm256_set1_ps(g->beta);
            for (int r = 0; r < mi; r++) {
                float *crow = g->C + (size_t)(i + r) * g->ldc + j;
                for (int h = 0; h < 2; h++) {
                    __m256i m = h ? m1 : m0;
                    __m256 out = _mm256_mul_ps(alpha, acc[r][h]);
                    if (g->beta != 0.0f)
                        out = _mm256_fmadd_ps(beta, _mm256_maskload_ps(crow + 8 * h, m), out);
                    _mm256_maskstore_ps(crow + 8 * h, m, out);
                }
            }
        }
    }
}
#endif  // CK_X86

// MARK: - Driver

typedef void (*gemm_tile_fn)(const gemm_args *, int, int, int, int);

static gemm_tile_fn choose_tile_worker(const gemm_args *g) {
    if (g->trans_a && g->trans_b) return gemm_tile_scalar;
#if CK_X86
    switch (ck_isa_active()) {
    case CK_ISA_AVX512: return g->trans_b ? gemm_tile_dot_avx512 : gemm_tile_axpy_avx512;
    case CK_ISA_AVX2: return g->trans_b ? gemm_tile_dot_avx2 : gemm_tile_axpy_avx2;
    default: break;
    }
#endif
    return gemm_tile_scalar;
}

void ck_sgemm(int trans_a, int trans_b, int M, int N, int K,
              float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    gemm_args g = {trans_a, trans_b, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc};
    gemm_tile_fn worker = choose_tile_worker(&g);
    // Tiles of 32 rows x 64 columns: multiples of every worker's register block, and small
    // enough that batch-1 shapes (M = 32) still give each thread several tiles along N.
    const int TM = 32, TN = 64;
    const int tiles_m = (M + TM - 1) / TM, tiles_n = (N + TN - 1) / TN;
    const long tiles = (long)tiles_m * tiles_n;
    const double flops = 2.0 * M * N * (double)K;
#pragma omp parallel for schedule(static) if (flops > 1e5)
    for (long t = 0; t < tiles; t++) {
        int i0 = (int)(t / tiles_n) * TM, j0 = (int)(t % tiles_n) * TN;
        worker(&g, i0, CK_MIN(i0 + TM, M), j0, CK_MIN(j0 + TN, N));
    }
}

void ck_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int M, int N, int K) {
    ck_sgemm(0, 1, M, N, K, 1.0f, inp, K, weight, K, 0.0f, out, N);
    if (bias != NULL) ck_add_bias(out, bias, M, N);
}
