// Single-precision matrix multiplication (row-major, cblas-like) and nn.Linear.
//
// Two SIMD forms cover every transpose the model needs without copies:
//   - "dot" form (A plain, B transposed): C[i,j] = A[i,:] · B[j,:], both rows contiguous in K;
//     a 4x4 block of outputs shares its loads. nn.Linear (weight stored (N,K)) is this form.
//   - "axpy" form (B plain): C[i, j..j+W] += A[i,k] * B[k, j..j+W], vectorised along N; A may be
//     transposed (its element is a broadcast scalar either way).
// A and B both transposed (not used by the model) runs on the scalar reference.
// OpenMP splits C into tiles in the baseline-ISA driver; workers own whole tiles.
//
// The model's own projections do not use ck_sgemm: they run ck_linear_packed_forward below, a
// BLIS-style packed GEMM on weights packed once at load time.
#include "internal.h"
#include "microkernel.h"
#include "vecmath.h"

#include <math.h>
#include <string.h>

typedef struct ck_gemm_args {
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
                    ck_store_tail256(crow + 8 * h, (long)j1 - j - 8 * h, m, out);
                }
            }
        }
    }
}
#endif  // CK_X86

// MARK: - Driver

typedef ck_gemm_tile_fn gemm_tile_fn;

static gemm_tile_fn choose_tile_worker(const gemm_args *g) {
    if (g->trans_a && g->trans_b) return gemm_tile_scalar;
    const ck_dispatch_table *table = ck_dispatch();
    return g->trans_b ? table->gemm_tile_dot : table->gemm_tile_axpy;
}

#define SGEMM_TM 32
#define SGEMM_TN 64

typedef struct {
    const gemm_args *g;
    gemm_tile_fn worker;
    int tiles_n;
} sgemm_job;

static void sgemm_tile_item(void *context, int t, int thread) {
    (void)thread;
    const sgemm_job *job = context;
    const int i0 = t / job->tiles_n * SGEMM_TM, j0 = t % job->tiles_n * SGEMM_TN;
    job->worker(job->g, i0, CK_MIN(i0 + SGEMM_TM, job->g->M), j0, CK_MIN(j0 + SGEMM_TN, job->g->N));
}

void ck_sgemm(int trans_a, int trans_b, int M, int N, int K,
              float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    gemm_args g = {trans_a, trans_b, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc};
    gemm_tile_fn worker = choose_tile_worker(&g);
    // Tiles of 32 rows x 64 columns: multiples of every worker's register block, and small
    // enough that batch-1 shapes (M = 32) still give each thread several tiles along N.
    const int tiles_m = (M + SGEMM_TM - 1) / SGEMM_TM, tiles_n = (N + SGEMM_TN - 1) / SGEMM_TN;
    const double flops = 2.0 * M * N * (double)K;
    sgemm_job job = {&g, worker, tiles_n};
    ck_parallel_for(tiles_m * tiles_n, flops > 1e5 ? ck_threads_max() : 1, 0, sgemm_tile_item, &job);
}

void ck_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int M, int N, int K) {
    ck_sgemm(0, 1, M, N, K, 1.0f, inp, K, weight, K, 0.0f, out, N);
    if (bias != NULL) ck_add_bias(out, bias, M, N);
}

// MARK: - Packed linear layer
//
// out (M,N) = epilogue(inp (M,K) · weightᵀ), weight (N,K) packed once by ck_pack_weight into
// panels of CK_NR output columns: panel p holds, for k = 0..K-1, the 32 weights
// weight[32p .. 32p+31, k] (zero past N), so the micro-kernel streams it with two aligned loads per k.
//
// Blocking (BLIS): the activation is cut into blocks of MC rows x KC columns, each packed by the
// thread that uses it into MR-row panels ([k][MR], contiguous broadcasts) in that thread's slice of
// the caller's workspace (at most 384 x 384 floats: stays in L2). For each 32-column weight panel
// (KC x 32, streamed from L3 once per row block, then from L1/L2 while every row panel of the block
// passes over it) the micro-kernel runs on each MR-row panel. Work items are (row block, column
// chunk) pairs handed out dynamically, numbered row block first: the threads work on the same rows
// at once, each on its own columns, so each weight panel is fetched once per row block, not once
// per thread; with few rows (short sequences, batch 1) the columns are cut finer so every thread has
// several items. The thread that completes a row block applies the layernorm to it while it is in
// cache. Block sizes were chosen by reasoning about L2 (2 MB) and checked in same-run A/B against
// MKL, where the differences between nearby choices were within this machine's noise; they are now
// derived from the L2 size the machine reports (derive_blocking), which gives the same numbers there.

#define CK_KC 384  // the deepest K block (fixed: the K blocks decide the sums' rounding)
// The most rows a packed activation block may have, whatever the cache.
#define CK_MC_MAX 768
// The columns of C one work item writes that the blocking plans room for (a thread's column chunk
// of a 768-wide layer on 2 threads).
#define CK_C_COLUMNS 384

// From the L2 size (per core), once: a group of weight panels takes about a fifth of L2 (8 panels of
// 384 x 32 floats, 384 KB, for 2 MB), and a packed activation block (rows x 384 floats) with the C
// block it writes (rows x up to 384 columns) fills the rest up to three quarters of L2 (384 rows
// for 2 MB). Rows are a multiple of 12 (the tile) and of 6 (AVX2's), between 96 and CK_MC_MAX.
static int gemm_rows = 384, gemm_group = 8;

// The AVX2 forward's blocking (linear_block_avx2): each 6-row activation panel (9 KB, in L1) meets a
// group of weight panels held in L2 (three eighths of it: 4 panels for 512 KB, 16 for 2 MB), so the
// activation block is read once per group and need not fit in L2; its rows then only set how often
// the weights are streamed from L3 (once per row block). 576 rows measured best on a 512 KB L2 (Zen 3:
// 384-768 alike, 96-288 up to a quarter slower, because every new group's first panel waits on L3),
// and are not halved for a long K (the C block is not kept in L2 on this path either). With several
// threads and rows enough, ck_linear_run evens the blocks out to between 384 and 576 rows.
#define CK_ROWS256 576
static int gemm_group256 = 16;

__attribute__((constructor)) static void derive_blocking(void) {
    size_t l2 = 0;
    ck_cache_sizes(NULL, &l2, NULL);
    const size_t panel_bytes = (size_t)CK_KC * CK_NR * sizeof(float);
    gemm_group = CK_MAX(1, CK_MIN(64, (int)(l2 / 5 / panel_bytes)));
    const size_t room = l2 / 4 * 3 - (size_t)gemm_group * panel_bytes;
    const int rows = (int)(room / ((CK_KC + CK_C_COLUMNS) * sizeof(float))) / CK_MR512 * CK_MR512;
    gemm_rows = CK_MAX(96, CK_MIN(CK_MC_MAX, rows));
    gemm_group256 = CK_MAX(1, CK_MIN(64, (int)(l2 / 8 * 3 / panel_bytes)));
}

void ck_gemm_blocking(int *rows_per_block, int *panel_group) {
    if (rows_per_block) *rows_per_block = gemm_rows;
    if (panel_group) *panel_group = gemm_group;
}

void ck_gemm_blocking_avx2(int *rows_per_block, int *panel_group) {
    if (rows_per_block) *rows_per_block = CK_ROWS256;
    if (panel_group) *panel_group = gemm_group256;
}

size_t ck_pack_weight_size(int N, int K) {
    return (size_t)((N + CK_NR - 1) / CK_NR) * CK_NR * (size_t)K;
}

void ck_pack_weight(float *packed, const float *weight, int N, int K) {
    const int panels = (N + CK_NR - 1) / CK_NR;
    for (int p = 0; p < panels; p++) {
        float *panel = packed + (size_t)p * K * CK_NR;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < CK_NR; j++) {
                const int n = p * CK_NR + j;
                panel[(size_t)k * CK_NR + j] = n < N ? weight[(size_t)n * K + k] : 0.0f;
            }
    }
}

void ck_unpack_weight(float *weight, const float *packed, int N, int K) {
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            weight[(size_t)n * K + k] = packed[((size_t)(n / CK_NR) * K + k) * CK_NR + n % CK_NR];
}

// Each thread's slice of the workspace holds one packed MC x KC activation block, of the larger of
// the two blockings (the active ISA may change after a workspace was sized).
#define CK_PACK_A_FLOATS ((size_t)CK_MAX(gemm_rows, CK_ROWS256) * CK_KC)

size_t ck_linear_workspace_size(int threads) {
    return (size_t)(threads < 1 ? 1 : threads) * CK_PACK_A_FLOATS;
}

// Rows per activation block. Fewer rows mean more passes over the weights (each row block streams
// its column chunk of every weight panel); more rows mean a larger block of C per K block. With a
// long K (the FFN output, K = 4 C) the C block is re-read once per K block, so it is kept to
// 192 x chunk there, and the packed activation block (rows x 384), C and the weight slice stay
// within L2 (2 MB).
static int rows_per_block(int K) { return K > 1024 ? gemm_rows / 2 : gemm_rows; }

// The KC blocks of K: as few as possible, of equal size (a multiple of 4), at most CK_KC.
static int k_block_size(int K) {
    const int blocks = (K + CK_KC - 1) / CK_KC;
    const int size = (K + blocks - 1) / blocks;
    return CK_MIN(CK_KC, (size + 3) & ~3);
}

typedef struct ck_linear_args linear_args;

// One work item: rows i0..i1-1 (at most gemm_rows), weight panels p0..p1-1, all of K.
typedef ck_linear_block_fn linear_block_fn;

// MARK: Scalar reference

static void linear_block_scalar(const linear_args *g, float *pack, int i0, int i1, int p0, int p1) {
    (void)pack;
    const int K = g->K, N = g->N;
    const ck_linear_epilogue *ep = g->epilogue;
    for (int i = i0; i < i1; i++) {
        for (int j = p0 * CK_NR; j < CK_MIN(N, p1 * CK_NR); j++) {
            const float *panel = g->packed + (size_t)(j / CK_NR) * K * CK_NR + j % CK_NR;
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += g->inp[(size_t)i * K + k] * panel[(size_t)k * CK_NR];
            if (ep->bias) acc += ep->bias[j];
            if (ep->activation == CK_ACTIVATION_GELU) acc = 0.5f * acc * (1.0f + erff(acc * CK_INV_SQRT2_F));
            if (ep->residual) acc += ep->residual[(size_t)i * N + j];
            g->out[(size_t)i * N + j] = acc;
        }
    }
}

#if CK_X86
// MARK: AVX-512

CK_TARGET_AVX512 static void linear_block_avx512(const linear_args *g, float *pack, int i0, int i1, int p0, int p1) {
    const int K = g->K, N = g->N, kb = k_block_size(K);
    const ck_linear_epilogue *ep = g->epilogue;
    const ck_tile_epilogue tile_ep = {ep->bias, ep->residual, N, ep->activation == CK_ACTIVATION_GELU};
    for (int pc = 0; pc < K; pc += kb) {
        const int kc = CK_MIN(kb, K - pc);
        const int last = pc + kc == K;
        ck_pack_rows512(pack, g->inp, K, i0, i1 - i0, pc, kc);
        // Groups of weight panels that stay in L2 (gemm_group x kc x 32 floats); within a group
        // each 12-row activation panel (in L1) meets every weight panel of the group.
        for (int pg = p0; pg < p1; pg += gemm_group) {
            const int pg1 = CK_MIN(p1, pg + gemm_group);
            for (int i = i0; i < i1; i += CK_MR512) {
                const int mr = CK_MIN(CK_MR512, i1 - i);
                for (int p = pg; p < pg1; p++) {
                    const int col = p * CK_NR, n = CK_MIN(CK_NR, N - col);
                    const float *b = g->packed + ((size_t)p * K + pc) * CK_NR;
                    float *c = g->out + (size_t)i * N + col;
                    const float *res = last && ep->residual ? ep->residual + (size_t)i * N + col : NULL;
                    ck_tile512_packed(mr, kc, pack + (size_t)(i - i0) * kc, b, n, c, N, pc > 0,
                                   last ? &tile_ep : NULL, res, col);
                }
            }
        }
    }
}

// MARK: AVX2

// ck_tile256 on packed panels (A: a 6-row panel, element (r, k) at a[k * 6 + r]; B: 16 columns of a
// 32-column weight panel, row k at b + k * 32), specialised per row count like ck_tile512_packed.
// The weight rows stream from L2 (linear_block_avx2's order), so each is prefetched 8 k ahead:
// +2-10% on Zen 3 in alternating runs (4 ahead less, 16 ahead no better).
CK_TARGET_AVX2 static CK_ALWAYS_INLINE void tile256_packed_rows(int mr, int kc, const float *a, const float *b, int n,
                                                                float *c, long ldc, int accumulate,
                                                                const ck_tile_epilogue *ep, const float *res, int col0) {
    __m256 acc[CK_MR256][2];
    ck_tile256_sum(acc, mr, kc, a, 1, CK_MR256, b, CK_NR, n, 8);
    ck_tile_finish256(acc, mr, n, c, ldc, accumulate, ep, res, col0);
}

CK_TARGET_AVX2 static CK_ALWAYS_INLINE void tile256_packed(int mr, int kc, const float *a, const float *b, int n,
                                                           float *c, long ldc, int accumulate,
                                                           const ck_tile_epilogue *ep, const float *res, int col0) {
    switch (mr) {
#define CK_CASE(R) case R: tile256_packed_rows(R, kc, a, b, n, c, ldc, accumulate, ep, res, col0); break;
    CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
#undef CK_CASE
    }
}

// The activation block is packed into 6-row panels (ck_pack_rows256: the tile's own height, so a
// tile's A is contiguous, 9 KB at kc 384). Each 6-row panel stays in L1 while it meets every weight
// panel of a group (gemm_group256, in L2), both halves of a panel one after the other. The other
// order (a weight panel's half in L1, every activation panel passing over it) cannot keep that half
// in L1: its 384 rows of 64 bytes sit 128 bytes apart, in half of the L1 sets (256 lines on a
// 32 KB 8-way L1); it measured alike to 15% slower on Zen 3.
CK_TARGET_AVX2 static void linear_block_avx2(const linear_args *g, float *pack, int i0, int i1, int p0, int p1) {
    const int K = g->K, N = g->N, kb = k_block_size(K);
    const ck_linear_epilogue *ep = g->epilogue;
    const ck_tile_epilogue tile_ep = {ep->bias, ep->residual, N, ep->activation == CK_ACTIVATION_GELU};
    for (int pc = 0; pc < K; pc += kb) {
        const int kc = CK_MIN(kb, K - pc);
        const int last = pc + kc == K;
        ck_pack_rows256(pack, g->inp, K, i0, i1 - i0, pc, kc);
        for (int pg = p0; pg < p1; pg += gemm_group256) {
            const int pg1 = CK_MIN(p1, pg + gemm_group256);
            for (int i = i0; i < i1; i += CK_MR256) {
                const int mr = CK_MIN(CK_MR256, i1 - i);
                const float *a = pack + (size_t)(i - i0) * kc;
                for (int p = pg; p < pg1; p++) {
                    const float *b = g->packed + ((size_t)p * K + pc) * CK_NR;
                    for (int half = 0; half < 2; half++) {
                        const int col = p * CK_NR + 16 * half, n = CK_MIN(16, N - col);
                        if (n <= 0) break;
                        float *c = g->out + (size_t)i * N + col;
                        const float *res = last && ep->residual ? ep->residual + (size_t)i * N + col : NULL;
                        tile256_packed(mr, kc, a, b + 16 * half, n, c, N, pc > 0, last ? &tile_ep : NULL, res, col);
                    }
                }
            }
        }
    }
}
#endif  // CK_X86


// MARK: Driver

// MARK: Driver

typedef struct {
    const linear_args *g;
    linear_block_fn block;
    ck_layernorm_rows_fn norm_rows;
    float *workspace;
    int chunks, per_chunk, panels, rows;
    int *remaining;  // (row blocks): column chunks not yet finished, when a layernorm follows
} linear_job;

// One (row block, column chunk) item, on the thread's own activation-pack slice. Items are numbered
// row block first, so the threads work on the same rows (and the same activation block) at once,
// each on its own columns: together they read every weight panel once per row block.
static void linear_item(void *context, int item, int thread) {
    const linear_job *job = context;
    const linear_args *g = job->g;
    const int rb = item / job->chunks, chunk = item % job->chunks;
    const int i0 = rb * job->rows, i1 = CK_MIN(g->M, i0 + job->rows);
    const int p0 = chunk * job->per_chunk, p1 = CK_MIN(job->panels, p0 + job->per_chunk);
    job->block(g, job->workspace + (size_t)thread * CK_PACK_A_FLOATS, i0, i1, p0, p1);
    // The thread that finishes a row block's last chunk normalises its rows while they are in cache
    // (acquire-release: it sees the other threads' columns).
    const ck_linear_epilogue *ep = g->epilogue;
    if (job->remaining && __atomic_sub_fetch(&job->remaining[rb], 1, __ATOMIC_ACQ_REL) == 0)
        job->norm_rows(g->out, g->out, ep->norm_weight, ep->norm_bias, i0, i1, g->N, ep->norm_eps);
}

void ck_linear_packed_forward(float *out, const float *inp, const float *packed_weight,
                              const ck_linear_epilogue *epilogue, int M, int N, int K,
                              float *workspace, size_t workspace_floats) {
    if (M <= 0 || N <= 0) return;
    static const ck_linear_epilogue none = {0};
    linear_args g = {out, inp, packed_weight, NULL, 0, epilogue ? epilogue : &none, M, N, K};
    ck_linear_run(&g, ck_dispatch()->linear, workspace, workspace_floats);
}

void ck_linear_run(const linear_args *g, ck_linear_kernel kernel, float *workspace, size_t workspace_floats) {
    const ck_linear_epilogue *ep = g->epilogue;
    const int M = g->M, N = g->N, K = g->K;
    const ck_dispatch_table *table = ck_dispatch();
    int threads = ck_threads_max();
    threads = CK_MAX(1, CK_MIN(threads, (int)(workspace_floats / CK_PACK_A_FLOATS)));
    if (2.0 * M * N * (double)K < 2e5) threads = 1;
    const int whole = kernel.rows == CK_LINEAR_ROWS_WHOLE;
    int rows = whole ? CK_ROWS256 : rows_per_block(K);
    // int8: the rows of the cache blocking that fit the slice quantized whole, a multiple of the tile.
    if (kernel.rows == CK_LINEAR_ROWS_QUANTIZED) {
        rows = CK_MIN(rows, ck_linear_int8_rows(K, kernel.value_bytes, CK_PACK_A_FLOATS * sizeof(float)));
        if (rows >= CK_MR512) rows = rows / CK_MR512 * CK_MR512;
    }
    const int panels = (N + CK_NR - 1) / CK_NR;
    // Columns split among the threads, and further when rows are few (batch 1, short sequences) so
    // that every thread gets several items.
    int chunks = threads;
    // AVX2, with rows enough: each row block goes whole to one thread (two threads splitting its
    // columns would both pack the same activation block: on two threads the pack's share of the time
    // doubles), its rows evened out (a multiple of 6, at most CK_ROWS256, at least 384) so that every
    // thread gets the same number of rows.
    if (whole && threads > 1) {
        const int per_thread = (M + threads * CK_ROWS256 - 1) / (threads * CK_ROWS256);
        const int even = ((M + threads * per_thread - 1) / (threads * per_thread) + CK_MR256 - 1) / CK_MR256 * CK_MR256;
        if (even >= 384) rows = even, chunks = 1;
    }
    const int row_blocks = (M + rows - 1) / rows;
    if (chunks > 1 && row_blocks < 4 * threads) chunks = CK_MAX(chunks, (4 * threads + row_blocks - 1) / row_blocks);
    chunks = CK_MIN(chunks, panels);
    const int per_chunk = (panels + chunks - 1) / chunks;
    chunks = (panels + per_chunk - 1) / per_chunk;
    int remaining[ep->norm_weight != NULL ? row_blocks : 1];  // on the stack: kernels never allocate
    for (int rb = 0; ep->norm_weight != NULL && rb < row_blocks; rb++) remaining[rb] = chunks;
    linear_job job = {g, kernel.block, table->layernorm_rows, workspace, chunks, per_chunk, panels, rows,
                      ep->norm_weight != NULL ? remaining : NULL};
    ck_parallel_for(row_blocks * chunks, threads, 1, linear_item, &job);
}

int ck_linear_k_block(int K) { return k_block_size(K); }

// MARK: - Pieces (benchmarks)

typedef struct ck_piece_tiles_job {
    const float *a, *b;
    float *c;
    int kc, panels, reps;
    ck_piece_tiles_fn tiles;  // the caller's ISA's, from its dispatch table
} piece_tiles_job;

// Per-thread passes of ck_gemm_piece_tiles run by each ISA's tiles since load (ck_gemm_piece_tile_runs):
// what shows that the pieces of one call all ran the ISA the caller chose.
static long piece_tile_runs[CK_ISA_AVX512 + 1];

long ck_gemm_piece_tile_runs(ck_isa isa) {
    return isa >= CK_ISA_SCALAR && isa <= CK_ISA_AVX512 ? __atomic_load_n(&piece_tile_runs[isa], __ATOMIC_RELAXED) : 0;
}

// A thread's own panels (panels pairs of 12 x kc and kc x 32) and C tile (12 x 32) in a pieces job.
typedef struct {
    const float *a, *b;
    float *c;
    size_t a_size, b_size;
} piece_operands;

static piece_operands piece_operands_of(const piece_tiles_job *job, int thread) {
    const size_t a_size = (size_t)CK_MR512 * job->kc, b_size = (size_t)job->kc * CK_NR;
    return (piece_operands){job->a + (size_t)thread * job->panels * a_size, job->b + (size_t)thread * job->panels * b_size,
                            job->c + (size_t)thread * CK_MR512 * CK_NR, a_size, b_size};
}

#if CK_X86
CK_TARGET_AVX512 static void piece_tiles_avx512(const piece_tiles_job *job, int thread) {
    const piece_operands o = piece_operands_of(job, thread);
    __atomic_add_fetch(&piece_tile_runs[CK_ISA_AVX512], 1, __ATOMIC_RELAXED);
    for (int r = 0; r < job->reps; r++)
        for (int p = 0; p < job->panels; p++)
            ck_tile512_packed(CK_MR512, job->kc, o.a + p * o.a_size, o.b + p * o.b_size, CK_NR, o.c, CK_NR, 0, NULL, NULL, 0);
}

CK_TARGET_AVX512 static void piece_pack_avx512(float *dst, const float *src, int rows, int K, int kc) {
    const int padded = (rows + CK_MR512 - 1) / CK_MR512 * CK_MR512;
    for (int pc = 0; pc < K; pc += kc) {
        const int width = CK_MIN(kc, K - pc);
        ck_pack_rows512(dst + (size_t)pc * padded, src, K, 0, rows, pc, width);
    }
}

CK_TARGET_AVX2 static void piece_pack_avx2(float *dst, const float *src, int rows, int K, int kc) {
    const int padded = (rows + CK_MR256 - 1) / CK_MR256 * CK_MR256;
    for (int pc = 0; pc < K; pc += kc) ck_pack_rows256(dst + (size_t)pc * padded, src, K, 0, rows, pc, CK_MIN(kc, K - pc));
}

// The AVX2 forward's work on one pair of panels: four 6 x 16 tiles (the 12 x kc A block as two 6-row
// panels, the two column halves of the 32-column panel), as linear_block_avx2 runs them.
CK_TARGET_AVX2 static void piece_tiles_avx2(const piece_tiles_job *job, int thread) {
    const piece_operands o = piece_operands_of(job, thread);
    __atomic_add_fetch(&piece_tile_runs[CK_ISA_AVX2], 1, __ATOMIC_RELAXED);
    for (int r = 0; r < job->reps; r++)
        for (int p = 0; p < job->panels; p++)
            for (int half = 0; half < 2; half++)
                for (int i = 0; i < CK_MR512; i += CK_MR256)
                    tile256_packed(CK_MR256, job->kc, o.a + p * o.a_size + (size_t)i * job->kc,
                                   o.b + p * o.b_size + 16 * half, 16, o.c + i * CK_NR + 16 * half, CK_NR, 0, NULL, NULL, 0);
}
#endif

static void piece_tiles_item(void *context, int item, int thread) {
    (void)thread;
    const piece_tiles_job *job = context;
    job->tiles(job, item);
}

int ck_gemm_piece_tiles(const float *a, const float *b, float *c, int kc, int panels, int reps, int threads) {
    const ck_piece_tiles_fn tiles = ck_dispatch()->piece_tiles;
    if (tiles == NULL || kc < 1 || panels < 1 || reps < 1 || threads < 1) return 0;
    piece_tiles_job job = {a, b, c, kc, panels, reps, tiles};
    ck_parallel_for(threads, threads, 0, piece_tiles_item, &job);
    return 1;
}

int ck_gemm_piece_pack(float *dst, const float *src, int rows, int K, int kc) {
    const ck_piece_pack_fn pack = ck_dispatch()->piece_pack;
    if (pack == NULL || rows < 1 || K < 1 || kc < 1) return 0;
    pack(dst, src, rows, K, kc);
    return 1;
}

// MARK: - Registration

void ck_register_gemm(ck_dispatch_table *table, ck_isa isa) {
    table->gemm_tile_dot = table->gemm_tile_axpy = gemm_tile_scalar;
    table->linear = (ck_linear_kernel){linear_block_scalar, CK_LINEAR_ROWS_BY_CACHE};
    table->piece_tiles = NULL;
    table->piece_pack = NULL;
#if CK_X86
    if (isa == CK_ISA_AVX512) {
        table->gemm_tile_dot = gemm_tile_dot_avx512;
        table->gemm_tile_axpy = gemm_tile_axpy_avx512;
        table->linear = (ck_linear_kernel){linear_block_avx512, CK_LINEAR_ROWS_BY_CACHE};
        table->piece_tiles = piece_tiles_avx512;
        table->piece_pack = piece_pack_avx512;
    }
    if (isa == CK_ISA_AVX2) {
        table->gemm_tile_dot = gemm_tile_dot_avx2;
        table->gemm_tile_axpy = gemm_tile_axpy_avx2;
        table->linear = (ck_linear_kernel){linear_block_avx2, CK_LINEAR_ROWS_WHOLE};
        table->piece_tiles = piece_tiles_avx2;
        table->piece_pack = piece_pack_avx2;
    }
#else
    (void)isa;
#endif
}
