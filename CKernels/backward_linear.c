// nn.Linear's gradients: d_inp = d_out · weight, d_weight += d_outᵀ · inp, d_bias += Σ_rows d_out.
//
// Layout choice: no packed copy of the weight, ever. Both products are run on the forward's GEMM
// micro-kernels (microkernel.h), whose operands are addressed through strides, and the operands
// already have the layout those kernels stream:
//   d_inp (M,K) = d_out (M,N) · W (N,K): B's row n is W's row n, 32 consecutive k of it per tile
//     (W read in place, ldb = K); A's element (m, n) is d_out[m*N + n] (rows of stride N).
//   d_weight (N,K) += d_outᵀ (N,M) · inp (M,K): B's row m is inp's row m (ldb = K); A's element
//     (n, m) is d_out[m*N + n]: the MR output rows of a tile are MR consecutive floats of one d_out
//     row, so its broadcasts walk d_out row by row.
// The weights change at every optimizer step, so a packed copy would have to be made (and
// written, and read again) every step for one use in the backward; the plain weight costs nothing.
// The reduction dimension is cut into blocks of LB_KC so a tile's A and B slices stay in L1/L2.
//
// Determinism: every output element is owned by one work item, which sums its reduction blocks in
// order; nothing is split across threads, so the bits do not depend on the thread count.
#include "internal.h"
#include "tiles.h"

#include <string.h>

typedef struct ck_linear_backward_args {
    float *d_inp, *d_weight, *d_bias;
    const float *d_out, *inp, *weight;
    int M, N, K;
} linear_backward_args;

// Tiles of work: LB_ROWS output rows x LB_COLS output columns (multiples of every register block).
#define LB_ROWS 48
#define LB_COLS 128
#define LB_KC 128

// d_inp rows m0..m1-1, columns k0..k1-1 (overwritten).
typedef ck_d_inp_tile_fn d_inp_tile_fn;
// d_weight rows n0..n1-1, columns k0..k1-1 (accumulated).
typedef ck_d_weight_tile_fn d_weight_tile_fn;

// MARK: - Scalar reference

static void d_inp_tile_scalar(const linear_backward_args *g, int m0, int m1, int k0, int k1) {
    const int N = g->N, K = g->K;
    for (int m = m0; m < m1; m++) {
        float *dx = g->d_inp + (size_t)m * K;
        for (int k = k0; k < k1; k++) dx[k] = 0.0f;
        for (int n = 0; n < N; n++) {
            const float dy = g->d_out[(size_t)m * N + n];
            const float *w = g->weight + (size_t)n * K;
            for (int k = k0; k < k1; k++) dx[k] += dy * w[k];
        }
    }
}

static void d_weight_tile_scalar(const linear_backward_args *g, int n0, int n1, int k0, int k1) {
    const int N = g->N, K = g->K;
    for (int n = n0; n < n1; n++) {
        float *dw = g->d_weight + (size_t)n * K;
        for (int k = k0; k < k1; k++) {
            float acc = 0.0f;
            for (int m = 0; m < g->M; m++) acc += g->d_out[(size_t)m * N + n] * g->inp[(size_t)m * K + k];
            dw[k] += acc;
        }
    }
}

#if CK_X86
// MARK: - AVX-512

// d_inp[m, k] = Σ_n d_out[m, n] W[n, k], the reduction over n in LB_KC blocks (the first overwrites).
CK_TARGET_AVX512 static void d_inp_tile_avx512(const linear_backward_args *g, int m0, int m1, int k0, int k1) {
    const int N = g->N, K = g->K;
    for (int nb = 0; nb < N; nb += LB_KC) {
        const int kc = CK_MIN(LB_KC, N - nb);
        for (int k = k0; k < k1; k += CK_NR)
            for (int m = m0; m < m1; m += CK_MR512)
                ck_tile512_strided(CK_MIN(CK_MR512, m1 - m), kc, g->d_out + (size_t)m * N + nb, N, 1,
                                   g->weight + (size_t)nb * K + k, K, CK_MIN(CK_NR, k1 - k),
                                   g->d_inp + (size_t)m * K + k, K, nb > 0);
    }
}

// d_weight[n, k] += Σ_m d_out[m, n] inp[m, k], the reduction over m in LB_KC blocks, each added.
CK_TARGET_AVX512 static void d_weight_tile_avx512(const linear_backward_args *g, int n0, int n1, int k0, int k1) {
    const int N = g->N, K = g->K;
    for (int mb = 0; mb < g->M; mb += LB_KC) {
        const int kc = CK_MIN(LB_KC, g->M - mb);
        for (int k = k0; k < k1; k += CK_NR)
            for (int n = n0; n < n1; n += CK_MR512)
                ck_tile512_strided(CK_MIN(CK_MR512, n1 - n), kc, g->d_out + (size_t)mb * N + n, 1, N,
                                   g->inp + (size_t)mb * K + k, K, CK_MIN(CK_NR, k1 - k),
                                   g->d_weight + (size_t)n * K + k, K, 1);
    }
}

// MARK: - AVX2

CK_TARGET_AVX2 static void d_inp_tile_avx2(const linear_backward_args *g, int m0, int m1, int k0, int k1) {
    const int N = g->N, K = g->K;
    for (int nb = 0; nb < N; nb += LB_KC) {
        const int kc = CK_MIN(LB_KC, N - nb);
        for (int k = k0; k < k1; k += 16)
            for (int m = m0; m < m1; m += CK_MR256)
                ck_tile256_strided(CK_MIN(CK_MR256, m1 - m), kc, g->d_out + (size_t)m * N + nb, N, 1,
                                   g->weight + (size_t)nb * K + k, K, CK_MIN(16, k1 - k),
                                   g->d_inp + (size_t)m * K + k, K, nb > 0);
    }
}

CK_TARGET_AVX2 static void d_weight_tile_avx2(const linear_backward_args *g, int n0, int n1, int k0, int k1) {
    const int N = g->N, K = g->K;
    for (int mb = 0; mb < g->M; mb += LB_KC) {
        const int kc = CK_MIN(LB_KC, g->M - mb);
        for (int k = k0; k < k1; k += 16)
            for (int n = n0; n < n1; n += CK_MR256)
                ck_tile256_strided(CK_MIN(CK_MR256, n1 - n), kc, g->d_out + (size_t)mb * N + n, 1, N,
                                   g->inp + (size_t)mb * K + k, K, CK_MIN(16, k1 - k),
                                   g->d_weight + (size_t)n * K + k, K, 1);
    }
}
#endif  // CK_X86

// MARK: - Driver

// d_bias columns n0..n1-1: each column's sum over the rows in row order, then added. Plain adds in
// a fixed order, so one loop serves every ISA (vectorised across columns, the bits are the same).
static void d_bias_block(const linear_backward_args *g, int n0, int n1) {
    float sum[LB_COLS];
    for (int n = n0; n < n1; n++) sum[n - n0] = 0.0f;
    for (int m = 0; m < g->M; m++) {
        const float *dy = g->d_out + (size_t)m * g->N;
        for (int n = n0; n < n1; n++) sum[n - n0] += dy[n];
    }
    for (int n = n0; n < n1; n++) g->d_bias[n] += sum[n - n0];
}

typedef struct {
    const linear_backward_args *g;
    d_inp_tile_fn d_inp_tile;
    d_weight_tile_fn d_weight_tile;
    int tiles_dx, tiles_dx_k, tiles_dw, tiles_dw_k, bias_blocks;
} linear_backward_job;

// Items 0..tiles_dx-1 are d_inp tiles, then d_weight tiles, then d_bias column blocks.
static void linear_backward_item(void *context, int item, int thread) {
    (void)thread;
    const linear_backward_job *job = context;
    const linear_backward_args *g = job->g;
    if (item < job->tiles_dx) {
        const int m0 = item / job->tiles_dx_k * LB_ROWS, k0 = item % job->tiles_dx_k * LB_COLS;
        job->d_inp_tile(g, m0, CK_MIN(g->M, m0 + LB_ROWS), k0, CK_MIN(g->K, k0 + LB_COLS));
        return;
    }
    item -= job->tiles_dx;
    if (item < job->tiles_dw) {
        const int n0 = item / job->tiles_dw_k * LB_ROWS, k0 = item % job->tiles_dw_k * LB_COLS;
        job->d_weight_tile(g, n0, CK_MIN(g->N, n0 + LB_ROWS), k0, CK_MIN(g->K, k0 + LB_COLS));
        return;
    }
    item -= job->tiles_dw;
    const int n0 = item * LB_COLS;
    d_bias_block(g, n0, CK_MIN(g->N, n0 + LB_COLS));
}

void ck_register_linear_backward(ck_dispatch_table *table, ck_isa isa) {
    table->linear_backward_d_inp_tile = d_inp_tile_scalar;
    table->linear_backward_d_weight_tile = d_weight_tile_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) {
        table->linear_backward_d_inp_tile = d_inp_tile_avx512;
        table->linear_backward_d_weight_tile = d_weight_tile_avx512;
    }
    if (isa == CK_ISA_AVX2) {
        table->linear_backward_d_inp_tile = d_inp_tile_avx2;
        table->linear_backward_d_weight_tile = d_weight_tile_avx2;
    }
#else
    (void)isa;
#endif
}

size_t ck_linear_backward_workspace_size(int M, int N, int K, int threads) {
    (void)M, (void)N, (void)K, (void)threads;
    return 0;
}

void ck_linear_backward(float *d_inp, float *d_weight, float *d_bias,
                        const float *d_out, const float *inp, const float *weight,
                        int M, int N, int K, float *workspace, size_t workspace_floats) {
    (void)workspace, (void)workspace_floats;
    if (M <= 0 || N <= 0 || K <= 0) {
        // An empty batch: d_inp (M,K) is empty or, with N == 0, zero; nothing to accumulate.
        if (d_inp && M > 0 && K > 0) memset(d_inp, 0, sizeof(float) * (size_t)M * K);
        return;
    }
    linear_backward_args g = {d_inp, d_weight, d_bias, d_out, inp, weight, M, N, K};
    const ck_dispatch_table *table = ck_dispatch();
    linear_backward_job job = {&g, table->linear_backward_d_inp_tile, table->linear_backward_d_weight_tile,
                               0, 0, 0, 0, 0};
    const int col_tiles = (K + LB_COLS - 1) / LB_COLS;
    if (d_inp) {
        job.tiles_dx_k = col_tiles;
        job.tiles_dx = (M + LB_ROWS - 1) / LB_ROWS * col_tiles;
    }
    if (d_weight) {
        job.tiles_dw_k = col_tiles;
        job.tiles_dw = (N + LB_ROWS - 1) / LB_ROWS * col_tiles;
    }
    if (d_bias) job.bias_blocks = (N + LB_COLS - 1) / LB_COLS;
    const double flops = 2.0 * M * N * (double)K;
    ck_parallel_for(job.tiles_dx + job.tiles_dw + job.bias_blocks, flops > 2e5 ? ck_threads_max() : 1, 1,
                    linear_backward_item, &job);
}
