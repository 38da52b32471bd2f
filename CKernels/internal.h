// Private to CKernels: the ISA worker tables and helpers shared by the op files.
#ifndef CKERNELS_INTERNAL_H
#define CKERNELS_INTERNAL_H

#include "include/ckernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define CK_X86 1
// Target attributes for the SIMD workers. OpenMP regions never live inside these functions:
// clang outlines the region body without the target attribute and rejects __m512 there.
#define CK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define CK_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")))
#else
#define CK_X86 0
#endif

#define CK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CK_MAX(a, b) ((a) > (b) ? (a) : (b))

// MARK: - Parallel loops

// One work item of a parallel loop: `thread` (0 <= thread < threads) indexes per-thread scratch.
typedef void (*ck_item_fn)(void *context, int item, int thread);

// Runs body(context, item, thread) for item = 0..items-1 on up to `threads` OpenMP threads (serially
// when threads <= 1), in a plain `omp parallel` region: `dynamic` hands items out through an atomic
// counter, otherwise each thread takes one contiguous range. Every kernel parallelises through this,
// never `omp for`: libomp 19 mallocs in `schedule(dynamic)` dispatch (about 3 per chunk) and in
// every static worksharing loop (measured), and a steady-state forward pass must allocate nothing.
void ck_parallel_for(int items, int threads, int dynamic, ck_item_fn body, void *context);

// MARK: - Workers and the dispatch table
// The ISA is chosen once: dispatch.c fills one table of worker pointers per instruction set at load
// time, and every driver takes its workers from `ck_dispatch()`, the table of the calling thread's
// active ISA (the thread override, else BERTOLOGY_ISA or the best supported). No driver switches on
// the ISA. A new kernel family adds its worker types and fields here, a `ck_register_<family>`
// function in its .c file that fills them for one ISA (scalar when the ISA has no path of its own),
// and one line in `ck_registrations` (dispatch.c). Workers are never OpenMP regions; drivers are.

// Softmax of scale * x over the first `valid` of `cols` columns, zeros after (softmax.c; attention.c
// reuses it per query row).
typedef void (*ck_softmax_row_fn)(float *x, int cols, int valid, float scale);
// Layernorm of rows r0..r1-1 of (N,C), serially (layernorm.c; gemm.c's epilogue reuses it).
typedef void (*ck_layernorm_rows_fn)(float *out, const float *inp, const float *weight, const float *bias,
                                     int r0, int r1, int C, float eps);
// out[i] = f(inp[i]) / a[i] + b[i] for i0 <= i < i1 (elementwise.c).
typedef void (*ck_unary_range_fn)(float *out, const float *inp, size_t i0, size_t i1);
typedef void (*ck_binary_range_fn)(float *out, const float *a, const float *b, size_t i0, size_t i1);
// binary16 to float for i0 <= i < i1 (convert.c).
typedef void (*ck_f16_range_fn)(float *out, const uint16_t *inp, size_t i0, size_t i1);
// One (example, head) of attention (attention.c); the arguments are private to that file.
struct ck_attention_args;
typedef void (*ck_attention_head_fn)(const struct ck_attention_args *, int b, int h, float *scratch,
                                     ck_softmax_row_fn softmax_row);
// A tile of ck_sgemm (gemm.c): op(B) read along rows (dot, trans_b) or columns (axpy).
struct ck_gemm_args;
typedef void (*ck_gemm_tile_fn)(const struct ck_gemm_args *, int i0, int i1, int j0, int j1);
// A block of the packed linear layer (gemm.c): rows i0..i1-1, weight panels p0..p1-1.
struct ck_linear_args;
// The packed linear layer's arguments, shared by its fp32 form (gemm.c: `packed`, ck_pack_weight's
// panels) and its bf16 form (gemm_bf16.c: `packed_bf16`, ck_pack_weight_bf16's pair panels).
struct ck_linear_args {
    float *out;
    const float *inp, *packed;
    const uint32_t *packed_bf16;
    int bf16_terms;  // 1: bf16, 3: bf16x3 (hi·lo + lo·hi + hi·hi)
    const ck_linear_epilogue *epilogue;
    int M, N, K;
    const uint32_t *packed_int8;  // the int8 form (gemm_int8.c: ck_pack_weight_int8's panels and scales)
};
typedef void (*ck_linear_block_fn)(const struct ck_linear_args *, float *pack, int i0, int i1, int p0, int p1);
// How ck_linear_run cuts the rows for a block function: by the cache blocking (ck_gemm_blocking's
// rows, a row block's panels split among the threads when rows are few), or in the AVX2 forward's
// whole blocks (at most 576 rows, evened out, each given whole to one thread: two threads splitting
// a block's columns would both pack the same activation block), or, for the int8 form, as many rows of
// the cache blocking as fit the thread's slice quantized whole (every K, `value_bytes` per value:
// 1 for u8, 2 for int16). The table says which, beside the function: no driver compares function
// pointers or switches on the ISA.
typedef enum { CK_LINEAR_ROWS_BY_CACHE = 0, CK_LINEAR_ROWS_WHOLE = 1, CK_LINEAR_ROWS_QUANTIZED = 2 } ck_linear_rows;
typedef struct {
    ck_linear_block_fn block;
    ck_linear_rows rows;
    int value_bytes;  // CK_LINEAR_ROWS_QUANTIZED: bytes per quantized activation
} ck_linear_kernel;
// The driver both forms share (gemm.c): row blocks x column chunks over the threads, each item one
// `block` call on its thread's workspace slice, then the layernorm epilogue per finished row block.
void ck_linear_run(const struct ck_linear_args *g, ck_linear_kernel kernel, float *workspace,
                   size_t workspace_floats);
// The reduction blocks of the packed linear layer: K cut into equal blocks (multiples of 4) of at
// most 384 (gemm.c). Each output sums its products within a block from zero, then adds the block.
int ck_linear_k_block(int K);
// The rows of an int8 activation block that fit `slice_bytes` quantized (gemm_int8.c): each row K
// values rounded up to 4, of value_bytes each, and its scale and zero point; at least 1.
int ck_linear_int8_rows(int K, int value_bytes, size_t slice_bytes);

// The packed GEMM's pieces for kernel-bench (gemm.c): one thread's register tiles over its own
// panels (the job is private to that file), and the activation packing.
struct ck_piece_tiles_job;
typedef void (*ck_piece_tiles_fn)(const struct ck_piece_tiles_job *, int thread);
typedef void (*ck_piece_pack_fn)(float *dst, const float *src, int rows, int K, int kc);

// Training (fine-tuning) kernels.
// One (example, head) of attention with dropout, forward and backward (backward_attention.c); the
// arguments are private to that file.
struct ck_attention_train_args;
typedef void (*ck_attention_train_backward_head_fn)(const struct ck_attention_train_args *, int b, int h,
                                                    float *scratch);
// Layernorm forward keeping mean and rstd, rows r0..r1-1 (backward_elementwise.c).
typedef void (*ck_layernorm_train_rows_fn)(float *out, float *mean, float *rstd, const float *inp,
                                           const float *weight, const float *bias, int r0, int r1, int C,
                                           float eps);
// Layernorm backward: d_inp of rows r0..r1-1, and d_weight/d_bias of columns c0..c1-1 over all N rows.
typedef void (*ck_layernorm_backward_rows_fn)(float *d_inp, const float *d_out, const float *inp,
                                              const float *mean, const float *rstd, const float *weight,
                                              int r0, int r1, int C);
typedef void (*ck_layernorm_backward_columns_fn)(float *d_weight, float *d_bias, const float *d_out,
                                                 const float *inp, const float *mean, const float *rstd,
                                                 int N, int C, int c0, int c1);
// d_inp[i] = d_out[i] * f'(x[i]) for i0 <= i < i1 (backward_elementwise.c).
typedef void (*ck_pointwise_backward_fn)(float *d_inp, const float *d_out, const float *x, size_t i0, size_t i1);
// Tiles of the linear layer's backward (backward_linear.c): d_inp rows m0..m1-1 (overwritten) and
// d_weight rows n0..n1-1 (accumulated), columns k0..k1-1; the arguments are private to that file.
struct ck_linear_backward_args;
typedef void (*ck_d_inp_tile_fn)(const struct ck_linear_backward_args *, float *pack, int m0, int m1, int k0, int k1);
typedef void (*ck_d_weight_tile_fn)(const struct ck_linear_backward_args *, float *pack, int n0, int n1, int k0, int k1);
// Rows r0..r1-1 of one operand that every item reads, packed once per call (0: the weight, 1: inp,
// 2: d_out transposed); NULL where the ISA's items pack what they read.
typedef void (*ck_linear_backward_share_fn)(const struct ck_linear_backward_args *, int operand, int r0, int r1);
// Dropout of elements i0..i1-1: mask and/or out (either may be NULL) (dropout.c).
typedef void (*ck_dropout_range_fn)(uint8_t *mask, float *out, const float *inp, size_t i0, size_t i1,
                                    uint64_t key, uint64_t offset, uint64_t threshold, float scale);
// The optimizer's ranges (optimizer.c): sum of squares in double, x *= s, one AdamW step with the
// step's scalars (private to that file).
struct ck_adamw_scalars;
typedef double (*ck_sum_squares_fn)(const float *x, size_t i0, size_t i1);
typedef void (*ck_scale_fn)(float *x, size_t i0, size_t i1, float s);
typedef void (*ck_adamw_range_fn)(float *param, const float *grad, float *m, float *v, size_t i0, size_t i1,
                                  const struct ck_adamw_scalars *);

typedef struct {
    ck_isa isa;
    ck_softmax_row_fn softmax_row;
    ck_layernorm_rows_fn layernorm_rows;
    ck_unary_range_fn gelu_range;
    ck_binary_range_fn add_range;
    ck_f16_range_fn f16_range;
    ck_attention_head_fn attention_head;  // kept heads; changed heads take the shared scalar path
    ck_gemm_tile_fn gemm_tile_dot, gemm_tile_axpy;
    ck_linear_kernel linear;
    ck_linear_kernel linear_bf16;  // the AVX512-BF16 form where the CPU has it, else the emulation
    ck_linear_kernel linear_int8;  // AVX512-VNNI, else exact int16 products (AVX2), else the scalar reference
    // kernel-bench's pieces of the packed GEMM (gemm.c); NULL where the ISA has none (scalar).
    ck_piece_tiles_fn piece_tiles;
    ck_piece_pack_fn piece_pack;
    // Training.
    ck_attention_train_backward_head_fn attention_train_backward_head;
    ck_layernorm_train_rows_fn layernorm_train_rows;
    ck_layernorm_backward_rows_fn layernorm_backward_rows;
    ck_layernorm_backward_columns_fn layernorm_backward_columns;
    ck_pointwise_backward_fn gelu_backward_range;  // tanh's backward has one path: scalar for every ISA
    ck_d_inp_tile_fn linear_backward_d_inp_tile;
    ck_d_weight_tile_fn linear_backward_d_weight_tile;
    ck_linear_backward_share_fn linear_backward_share;
    ck_dropout_range_fn dropout_range;
    ck_sum_squares_fn sum_squares;
    ck_scale_fn scale;
    ck_adamw_range_fn adamw_range;
} ck_dispatch_table;

// The table of the calling thread's active ISA (read on the calling thread, before any parallel
// region: OpenMP workers get their function pointers from the driver).
const ck_dispatch_table *ck_dispatch(void);

// Each family fills its fields of `table` for `isa`.
void ck_register_softmax(ck_dispatch_table *table, ck_isa isa);
void ck_register_layernorm(ck_dispatch_table *table, ck_isa isa);
void ck_register_elementwise(ck_dispatch_table *table, ck_isa isa);
void ck_register_convert(ck_dispatch_table *table, ck_isa isa);
void ck_register_attention(ck_dispatch_table *table, ck_isa isa);
void ck_register_gemm(ck_dispatch_table *table, ck_isa isa);
void ck_register_attention_train(ck_dispatch_table *table, ck_isa isa);
void ck_register_training_elementwise(ck_dispatch_table *table, ck_isa isa);
void ck_register_linear_backward(ck_dispatch_table *table, ck_isa isa);
void ck_register_gemm_bf16(ck_dispatch_table *table, ck_isa isa);
void ck_register_gemm_int8(ck_dispatch_table *table, ck_isa isa);
void ck_register_dropout(ck_dispatch_table *table, ck_isa isa);
void ck_register_optimizer(ck_dispatch_table *table, ck_isa isa);

#endif  // CKERNELS_INTERNAL_H
