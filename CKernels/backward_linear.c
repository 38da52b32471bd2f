// nn.Linear's gradients: d_inp = d_out · weight, d_weight += d_outᵀ · inp, d_bias += Σ dY.
//
// Both products run on the forward's register micro-kernel (microkernel.h, a 12 x 32 tile held in
// registers) over operands packed per work item into the thread's slice of the workspace, as the
// forward packs its activations:
//   d_inp (M,K) = d_out (M,N) · W (N,K): A = d_out's rows, packed into 12-row panels by the
//     forward's own packer (ck_pack_rows512); B = W's rows n, 32 consecutive k each, copied into
//     32-column panels.
//   d_weight (N,K) += d_outᵀ (N,M) · inp (M,K): A element (n, m) = d_out[m*N + n], so a 12-row
//     panel's column m is 12 consecutive floats of d_out's row m (a copy, no transpose); B = inp's
//     rows m, copied into 32-column panels.
// No packed copy of the weight is kept between calls: the weights change at every optimizer step.
// Copying operands per work item is not free: in a perf profile of MRPC fine-tuning (AVX-512) the
// copies took about a quarter of the two products' time. Reading the operands in place instead (rows
// 1.5-12 KB apart) was slower still, by up to a third: those rows fall into a few L1 sets and evict
// each other (kernel-bench linear-backward). The AVX2 path therefore packs the operands that several
// items read once per call, into the workspace's shared part, and its items read them from there
// (see its section); the AVX-512 path still copies per item.
// The reduction dimension is cut into blocks of LB_KC so a tile's A and B slices stay in L1/L2.
//
// Determinism: every output element is owned by one work item, which sums its reduction blocks in
// order (each block's products in k order from zero, then added to the output); nothing is split
// across threads, so the bits do not depend on the thread count, the work-item size or packing.
#include "internal.h"
#include "tiles.h"

#include <string.h>

typedef struct ck_linear_backward_args {
    float *d_inp, *d_weight, *d_bias;
    const float *d_out, *inp, *weight;
    int M, N, K;
    float *wp, *xp, *dt;  // the operands packed once per call, where the ISA shares them (AVX2)
    size_t k16, n6;       // K rounded up to whole 16-column panels, N to whole 6-row panels
} linear_backward_args;

static size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// Tiles of work: LB_ROWS output rows x LB_COLS output columns (multiples of every register block).
#define LB_ROWS 96
#define LB_COLS 192
#define LB_KC 128
// Each thread's workspace slice: the A panels (LB_ROWS x LB_KC) and the B panels (LB_KC x LB_COLS).
#define LB_PACK_A ((size_t)LB_ROWS * LB_KC)
#define LB_PACK ((size_t)LB_ROWS * LB_KC + (size_t)LB_KC * LB_COLS)

// d_inp rows m0..m1-1, columns k0..k1-1 (overwritten); pack is the thread's LB_PACK floats.
typedef ck_d_inp_tile_fn d_inp_tile_fn;
// d_weight rows n0..n1-1, columns k0..k1-1 (accumulated).
typedef ck_d_weight_tile_fn d_weight_tile_fn;

// MARK: - Scalar reference

static void d_inp_tile_scalar(const linear_backward_args *g, float *pack, int m0, int m1, int k0, int k1) {
    (void)pack;
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

static void d_weight_tile_scalar(const linear_backward_args *g, float *pack, int n0, int n1, int k0, int k1) {
    (void)pack;
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

// Copies rows r0..r0+rows-1, columns c0..c0+cols-1 of src (ld) into 32-column panels: panel p
// holds element (r, j) at dst[p * rows * 32 + r * 32 + j] (columns past cols are not written).
CK_TARGET_AVX512 static void pack_column_panels512(float *dst, const float *src, long ld, int r0, int rows,
                                                  int c0, int cols) {
    for (int p = 0; p < cols; p += CK_NR) {
        const __mmask16 m0 = ck_tail_mask512(cols - p), m1 = ck_tail_mask512(cols - p - 16);
        float *panel = dst + (size_t)p * rows;
        for (int r = 0; r < rows; r++) {
            const float *from = src + (size_t)(r0 + r) * ld + c0 + p;
            _mm512_mask_storeu_ps(panel + (size_t)r * CK_NR, m0, _mm512_maskz_loadu_ps(m0, from));
            _mm512_mask_storeu_ps(panel + (size_t)r * CK_NR + 16, m1, _mm512_maskz_loadu_ps(m1, from + 16));
        }
    }
}

// 12-row panels of the transpose of src's block rows r0..r0+kc-1, columns c0..c0+rows-1: panel q
// holds element (i, k) = src[(r0 + k) * ld + c0 + q * 12 + i] at dst[q * 12 * kc + k * 12 + i].
CK_TARGET_AVX512 static void pack_transposed_panels512(float *dst, const float *src, long ld, int r0, int kc,
                                                      int c0, int rows) {
    for (int q = 0; q < rows; q += CK_MR512) {
        const __mmask16 m = ck_tail_mask512(CK_MIN(CK_MR512, rows - q));
        float *panel = dst + (size_t)q * kc;
        for (int k = 0; k < kc; k++)
            _mm512_mask_storeu_ps(panel + (size_t)k * CK_MR512, m,
                                  _mm512_maskz_loadu_ps(m, src + (size_t)(r0 + k) * ld + c0 + q));
    }
}

// Every tile of an item's packed A (rows) and B (cols) panels, kc deep, into c (ld ldc).
CK_TARGET_AVX512 static void packed_tiles512(const float *pa, const float *pb, int rows, int cols, int kc,
                                            float *c, long ldc, int accumulate) {
    for (int p = 0; p < cols; p += CK_NR)
        for (int q = 0; q < rows; q += CK_MR512)
            ck_tile512_packed(CK_MIN(CK_MR512, rows - q), kc, pa + (size_t)q * kc, pb + (size_t)p * kc,
                              CK_MIN(CK_NR, cols - p), c + (size_t)q * ldc + p, ldc, accumulate, NULL, NULL, 0);
}

// d_inp[m, k] = Σ_n d_out[m, n] W[n, k], the reduction over n in LB_KC blocks (the first overwrites).
CK_TARGET_AVX512 static void d_inp_tile_avx512(const linear_backward_args *g, float *pack, int m0, int m1, int k0,
                                              int k1) {
    const int N = g->N, K = g->K;
    float *pa = pack, *pb = pack + LB_PACK_A;
    for (int nb = 0; nb < N; nb += LB_KC) {
        const int kc = CK_MIN(LB_KC, N - nb);
        ck_pack_rows512(pa, g->d_out, N, m0, m1 - m0, nb, kc);
        pack_column_panels512(pb, g->weight, K, nb, kc, k0, k1 - k0);
        packed_tiles512(pa, pb, m1 - m0, k1 - k0, kc, g->d_inp + (size_t)m0 * K + k0, K, nb > 0);
    }
}

// d_weight[n, k] += Σ_m d_out[m, n] inp[m, k], the reduction over m in LB_KC blocks, each added.
CK_TARGET_AVX512 static void d_weight_tile_avx512(const linear_backward_args *g, float *pack, int n0, int n1, int k0,
                                                 int k1) {
    const int N = g->N, K = g->K;
    float *pa = pack, *pb = pack + LB_PACK_A;
    for (int mb = 0; mb < g->M; mb += LB_KC) {
        const int kc = CK_MIN(LB_KC, g->M - mb);
        pack_transposed_panels512(pa, g->d_out, N, mb, kc, n0, n1 - n0);
        pack_column_panels512(pb, g->inp, K, mb, kc, k0, k1 - k0);
        packed_tiles512(pa, pb, n1 - n0, k1 - k0, kc, g->d_weight + (size_t)n0 * K + k0, K, 1);
    }
}

// MARK: - AVX2
// The same products on AVX2's own tile (6 x 16) and its own panel shapes, so a tile's operands are
// contiguous: A in 6-row panels, B in 16-column panels. Unlike the AVX-512 items, the AVX2 items
// do not copy the operands that several items read: those are packed once per call, before any
// tile, into the workspace's shared part (linear_backward_share, in parallel by row chunks):
//   wp: the weight W (N, K) in 16-column panels (d_inp's B: every row item reads it);
//   xp: inp (M, K) in 16-column panels (d_weight's B: every row item reads it);
//   dt: d_outᵀ in 6-row panels (d_weight's A: every column item reads it).
// Copied per item, they were copied M / 96 (W), N / 96 (inp) and K / 192 (d_out) times per call,
// which held the AVX2 products to 41-58% of the FMA peak on Zen 3 (kernel-bench linear-backward).
// Only d_inp's A (d_out's rows, 6-row panels of one item's rows) is still packed per item. The
// tiles see the same values in the same order either way: the bits do not change.

// The shared operands are cut, along their reduction dimension (rows here), into the tiles' LB_KC
// blocks, each block's panels stored one after the other: a work item's operands for one block are
// then one contiguous run (48-96 KB read front to back), not a short slice of every panel.
// Rows r0..r1-1 of src (ld, cols columns) into 16-column panels: in the block of rows b..b+kc-1,
// panel P holds element (r, j) = src[r * ld + 16 P + j] at dst[b * cols16 + P * kc * 16 + (r - b) * 16 + j]
// (cols16: cols rounded up to 16; columns past cols are zero).
CK_TARGET_AVX2 static void pack_column_panels256(float *dst, int rows, const float *src, long ld, int cols, int r0,
                                                 int r1) {
    const size_t cols16 = round_up((size_t)cols, 16);
    for (int r = r0; r < r1; r++) {
        const int b = r / LB_KC * LB_KC, kc = CK_MIN(LB_KC, rows - b);
        float *block = dst + (size_t)b * cols16 + (size_t)(r - b) * 16;
        for (int p = 0; p < cols; p += 16) {
            const float *from = src + (size_t)r * ld + p;
            float *to = block + (size_t)p * kc;
            if (cols - p >= 16) {
                _mm256_storeu_ps(to, _mm256_loadu_ps(from));
                _mm256_storeu_ps(to + 8, _mm256_loadu_ps(from + 8));
            } else {
                _mm256_storeu_ps(to, _mm256_maskload_ps(from, ck_tail_mask256(cols - p)));
                _mm256_storeu_ps(to + 8, _mm256_maskload_ps(from + 8, ck_tail_mask256(cols - p - 8)));
            }
        }
    }
}

// Rows r0..r1-1 of src (ld, cols columns) transposed into 6-row panels, blocked as above: in the
// block of rows b..b+kc-1, panel Q holds element (i, r) = src[r * ld + 6 Q + i] at
// dst[b * cols6 + Q * kc * 6 + (r - b) * 6 + i] (cols6: cols rounded up to 6; i past cols is zero).
CK_TARGET_AVX2 static void pack_transposed_panels256(float *dst, int rows, const float *src, long ld, int cols,
                                                     int r0, int r1) {
    const size_t cols6 = round_up((size_t)cols, CK_MR256);
    for (int r = r0; r < r1; r++) {
        const int b = r / LB_KC * LB_KC, kc = CK_MIN(LB_KC, rows - b);
        float *block = dst + (size_t)b * cols6 + (size_t)(r - b) * CK_MR256;
        for (int q = 0; q < cols; q += CK_MR256) {
            const float *from = src + (size_t)r * ld + q;
            float *to = block + (size_t)q * kc;
            if (cols - q >= 8) {  // 6 floats of a full 8-float load (the row goes on past them)
                const __m256 v = _mm256_loadu_ps(from);
                _mm_storeu_ps(to, _mm256_castps256_ps128(v));
                _mm_storel_pi((__m64 *)(to + 4), _mm256_extractf128_ps(v, 1));
            } else
                for (int i = 0; i < CK_MR256; i++) to[i] = q + i < cols ? from[i] : 0.0f;
        }
    }
}

// Rows r0..r1-1 of one shared operand (0: wp, 1: xp, 2: dt).
CK_TARGET_AVX2 static void share_rows_avx2(const linear_backward_args *g, int operand, int r0, int r1) {
    if (operand == 0) pack_column_panels256(g->wp, g->N, g->weight, g->K, g->K, r0, r1);
    else if (operand == 1) pack_column_panels256(g->xp, g->M, g->inp, g->K, g->K, r0, r1);
    else pack_transposed_panels256(g->dt, g->M, g->d_out, g->N, g->N, r0, r1);
}

// Every tile of A (rows, 6-row panels a_panel floats apart) times B (cols, 16-column panels
// b_panel floats apart), kc deep, into c (ld ldc).
CK_TARGET_AVX2 static void packed_tiles256(const float *pa, size_t a_panel, const float *pb, size_t b_panel,
                                           int rows, int cols, int kc, float *c, long ldc, int accumulate) {
    for (int p = 0; p < cols; p += 16)
        for (int q = 0; q < rows; q += CK_MR256) {
            const float *a = pa + q / CK_MR256 * a_panel, *b = pb + p / 16 * b_panel;
            float *tile = c + (size_t)q * ldc + p;
            const int n = CK_MIN(16, cols - p);
            switch (CK_MIN(CK_MR256, rows - q)) {
#define CK_CASE(R) case R: ck_tile256(R, kc, a, 1, CK_MR256, b, 16, n, tile, ldc, accumulate, NULL, NULL, 0); break;
            CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
#undef CK_CASE
            }
        }
}

// d_inp: A = d_out's rows m0..m1-1 packed per item (the forward's ck_pack_rows256), B = wp.
CK_TARGET_AVX2 static void d_inp_tile_avx2(const linear_backward_args *g, float *pack, int m0, int m1, int k0, int k1) {
    const int N = g->N, K = g->K;
    for (int nb = 0; nb < N; nb += LB_KC) {
        const int kc = CK_MIN(LB_KC, N - nb);
        ck_pack_rows256(pack, g->d_out, N, m0, m1 - m0, nb, kc);
        packed_tiles256(pack, (size_t)CK_MR256 * kc, g->wp + (size_t)nb * g->k16 + (size_t)k0 * kc, (size_t)16 * kc,
                        m1 - m0, k1 - k0, kc, g->d_inp + (size_t)m0 * K + k0, K, nb > 0);
    }
}

// d_weight: A = dt, B = xp, both shared: nothing is packed per item.
CK_TARGET_AVX2 static void d_weight_tile_avx2(const linear_backward_args *g, float *pack, int n0, int n1, int k0, int k1) {
    (void)pack;
    const int M = g->M, K = g->K;
    for (int mb = 0; mb < M; mb += LB_KC) {
        const int kc = CK_MIN(LB_KC, M - mb);
        packed_tiles256(g->dt + (size_t)mb * g->n6 + (size_t)n0 * kc, (size_t)CK_MR256 * kc,
                        g->xp + (size_t)mb * g->k16 + (size_t)k0 * kc, (size_t)16 * kc, n1 - n0, k1 - k0, kc,
                        g->d_weight + (size_t)n0 * K + k0, K, 1);
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
    float *workspace;
    d_inp_tile_fn d_inp_tile;
    d_weight_tile_fn d_weight_tile;
    int tiles_dx, tiles_dx_k, tiles_dw, tiles_dw_k, bias_blocks;
} linear_backward_job;

// Items 0..tiles_dx-1 are d_inp tiles, then d_weight tiles, then d_bias column blocks.
static void linear_backward_item(void *context, int item, int thread) {
    const linear_backward_job *job = context;
    const linear_backward_args *g = job->g;
    float *pack = job->workspace + (size_t)thread * LB_PACK;
    if (item < job->tiles_dx) {
        const int m0 = item / job->tiles_dx_k * LB_ROWS, k0 = item % job->tiles_dx_k * LB_COLS;
        job->d_inp_tile(g, pack, m0, CK_MIN(g->M, m0 + LB_ROWS), k0, CK_MIN(g->K, k0 + LB_COLS));
        return;
    }
    item -= job->tiles_dx;
    if (item < job->tiles_dw) {
        const int n0 = item / job->tiles_dw_k * LB_ROWS, k0 = item % job->tiles_dw_k * LB_COLS;
        job->d_weight_tile(g, pack, n0, CK_MIN(g->N, n0 + LB_ROWS), k0, CK_MIN(g->K, k0 + LB_COLS));
        return;
    }
    item -= job->tiles_dw;
    const int n0 = item * LB_COLS;
    d_bias_block(g, n0, CK_MIN(g->N, n0 + LB_COLS));
}

void ck_register_linear_backward(ck_dispatch_table *table, ck_isa isa) {
    table->linear_backward_d_inp_tile = d_inp_tile_scalar;
    table->linear_backward_d_weight_tile = d_weight_tile_scalar;
    table->linear_backward_share = NULL;
#if CK_X86
    if (isa == CK_ISA_AVX512) {
        table->linear_backward_d_inp_tile = d_inp_tile_avx512;
        table->linear_backward_d_weight_tile = d_weight_tile_avx512;
    }
    if (isa == CK_ISA_AVX2) {
        table->linear_backward_d_inp_tile = d_inp_tile_avx2;
        table->linear_backward_d_weight_tile = d_weight_tile_avx2;
        table->linear_backward_share = share_rows_avx2;
    }
#else
    (void)isa;
#endif
}

// The shared part of the workspace (see the AVX2 section): wp (k16 x N floats), then xp (k16 x M),
// then dt (n6 x M), in floats from its start; sized for every ISA because the active one may change
// after a workspace was sized; a multiple of 16 floats.
#define LB_SHARE_ROWS LB_KC
typedef struct {
    size_t k16, n6, xp, dt, floats;
} shared_layout;

static shared_layout shared_layout_of(int M, int N, int K) {
    const size_t k16 = round_up((size_t)K, 16), n6 = round_up((size_t)N, CK_MR256);
    const size_t xp = k16 * (size_t)N, dt = xp + k16 * (size_t)M;
    return (shared_layout){k16, n6, xp, dt, round_up(dt + n6 * (size_t)M, 16)};
}

size_t ck_linear_backward_workspace_size(int M, int N, int K, int threads) {
    return shared_layout_of(CK_MAX(M, 0), CK_MAX(N, 0), CK_MAX(K, 0)).floats + (size_t)(threads < 1 ? 1 : threads) * LB_PACK;
}

typedef struct {
    const linear_backward_args *g;
    ck_linear_backward_share_fn share;
    int chunks[3];  // row chunks of LB_SHARE_ROWS per operand (0: wp, 1: xp, 2: dt)
} share_job;

static void share_item(void *context, int item, int thread) {
    (void)thread;
    const share_job *job = context;
    int operand = 0;
    while (item >= job->chunks[operand]) item -= job->chunks[operand++];
    const int rows = operand == 0 ? job->g->N : job->g->M, r0 = item * LB_SHARE_ROWS;
    job->share(job->g, operand, r0, CK_MIN(rows, r0 + LB_SHARE_ROWS));
}

void ck_linear_backward(float *d_inp, float *d_weight, float *d_bias,
                        const float *d_out, const float *inp, const float *weight,
                        int M, int N, int K, float *workspace, size_t workspace_floats) {
    if (M <= 0 || N <= 0 || K <= 0) {
        // An empty batch: d_inp (M,K) is empty or, with N == 0, zero; nothing to accumulate.
        if (d_inp && M > 0 && K > 0) memset(d_inp, 0, sizeof(float) * (size_t)M * K);
        return;
    }
    const shared_layout shared = shared_layout_of(M, N, K);
    linear_backward_args g = {d_inp, d_weight, d_bias, d_out, inp, weight, M, N, K,
                              workspace, workspace + shared.xp, workspace + shared.dt, shared.k16, shared.n6};
    const ck_dispatch_table *table = ck_dispatch();
    const double flops = 2.0 * M * N * (double)K;
    // As many threads as the workspace has slices for after its shared part (at least one is required).
    const size_t slices = workspace_floats > shared.floats ? (workspace_floats - shared.floats) / LB_PACK : 0;
    const int threads = (int)CK_MAX((size_t)1, CK_MIN((size_t)ck_threads_max(), slices));
    const int parallel = flops > 2e5 ? threads : 1;
    if (table->linear_backward_share && (d_inp || d_weight)) {
        share_job share = {&g, table->linear_backward_share, {0, 0, 0}};
        const int n_chunks = (N + LB_SHARE_ROWS - 1) / LB_SHARE_ROWS, m_chunks = (M + LB_SHARE_ROWS - 1) / LB_SHARE_ROWS;
        if (d_inp) share.chunks[0] = n_chunks;
        if (d_weight) share.chunks[1] = share.chunks[2] = m_chunks;
        ck_parallel_for(share.chunks[0] + share.chunks[1] + share.chunks[2], parallel, 1, share_item, &share);
    }
    linear_backward_job job = {&g, workspace + shared.floats, table->linear_backward_d_inp_tile,
                               table->linear_backward_d_weight_tile, 0, 0, 0, 0, 0};
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
    ck_parallel_for(job.tiles_dx + job.tiles_dw + job.bias_blocks, parallel, 1, linear_backward_item, &job);
}
