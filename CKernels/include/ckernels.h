// CKernels: the compute core of Bertology.
//
// Pure C, every symbol `ck_`-prefixed. Kernels compute: they never allocate, never fail and never
// decide. Shapes are checked by the Swift caller; model logic (layers, hooks, analyses) lives in Swift.
// All matrices are row-major and dense unless a leading dimension (`ld*`) says otherwise.
// Shape comments use B = batch, T = padded sequence length, C = hidden size, NH = heads,
// HS = head size (C = NH * HS), OC = output channels.
//
// Every kernel has a scalar reference path, written to be read; AVX2+FMA and AVX-512 paths are chosen
// at run time (never at build time), once, through the dispatch table of internal.h, and must agree
// with the scalar path (see Tests/). How to add a kernel: docs/DESIGN.md, "Where things go".
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Instruction sets and threads

typedef enum {
    CK_ISA_SCALAR = 0,
    CK_ISA_AVX2 = 1,    // AVX2 + FMA
    CK_ISA_AVX512 = 2,  // AVX-512 F/BW/VL/DQ
} ck_isa;

/// The best instruction set this CPU supports.
ck_isa ck_isa_best_supported(void);
/// 1 when `isa` can run on this CPU.
int ck_isa_is_supported(ck_isa isa);
/// The instruction set kernels use on the calling thread: the thread's override if one is set,
/// else the process-wide choice (the best supported one, or `BERTOLOGY_ISA=scalar|avx2|avx512`).
ck_isa ck_isa_active(void);
/// Sets the process-wide instruction set. Returns 0, or -1 (and changes nothing) if unsupported.
int ck_isa_set_global(ck_isa isa);
/// Overrides the instruction set for kernels called from this thread only (tests, benchmarks).
/// Pass -1 to remove the override. Returns 0, or -1 if unsupported.
int ck_isa_set_thread_override(int isa);
/// "scalar", "avx2" or "avx512".
const char *ck_isa_name(ck_isa isa);

/// 1 when the library was compiled with OpenMP.
int ck_openmp_enabled(void);
/// Threads a parallel region will use.
int ck_threads_max(void);
/// Sets the number of threads for later parallel regions (n >= 1).
void ck_threads_set(int n);
/// Runs one parallel region of `ck_threads_max()` threads and returns how many distinct threads
/// actually executed it (proves OpenMP is live, not just compiled in).
int ck_threads_observed(void);

/// What this CPU and its OS can run, probed once when the library is loaded (CKernels/cpu.c, the
/// only code that executes CPUID or XGETBV); the dispatch table, the precision modes, the blocking
/// and Swift all read this one struct. Each flag is 1 or 0. An instruction-set flag means the CPU
/// has the extension and the OS saves the registers it uses (XCR0: the AVX state for avx..avx_vnni,
/// the AVX-512 states for avx512*). The AMX flags are the CPU's alone: os_amx says whether the OS
/// saves the tile state, and Linux also wants a per-process permission (ck_amx_request_permission).
typedef struct {
    int os_avx, os_avx512, os_amx;  // XCR0 bits 1-2, 5-7, 17-18 (with CPUID.1:ECX.OSXSAVE)
    int avx, avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq;
    int avx512_bf16;  // VDPBF16PS, VCVTNE2PS2BF16 (CPUID.(7,1):EAX bit 5)
    int avx512_vnni;  // VPDPBUSD on 512 bits (CPUID.(7,0):ECX bit 11)
    int avx_vnni;     // VPDPBUSD, VEX-encoded (CPUID.(7,1):EAX bit 4)
    int amx_tile, amx_bf16, amx_int8;  // CPUID.(7,0):EDX bits 24, 22, 25
    // The data caches, in bytes, from the C library's sysconf (48 KB / 2 MB / 0 when it does not
    // say): L1d and L2 per core, L3 shared.
    size_t l1d, l2, l3;
} ck_cpu_features;
const ck_cpu_features *ck_cpu(void);
/// The data cache sizes the blocking is derived from (ck_cpu's l1d, l2, l3).
void ck_cache_sizes(size_t *l1d, size_t *l2, size_t *l3);
/// The packed linear layer's blocking on this machine, derived from ck_cache_sizes (docs/PERFORMANCE.md):
/// rows per packed activation block (K <= 1024; half for longer K) and weight panels per L2 group.
/// Neither changes a result's bits: only the K blocks do, and they are fixed (at most 384 deep).
void ck_gemm_blocking(int *rows_per_block, int *panel_group);
/// The AVX2 path's blocking: rows per activation block (fixed, any K) and weight panels per group
/// (three eighths of L2); ck_linear_workspace_size covers the larger of the two blockings.
void ck_gemm_blocking_avx2(int *rows_per_block, int *panel_group);

// MARK: - Matrix multiplication

/// The general GEMM. The model runs every linear layer (pooler and classifier included) on
/// ck_linear_packed_forward; ck_sgemm and ck_linear_forward stay as the unpacked, any-transpose
/// reference that the kernel and determinism tests call (and for future training kernels that
/// multiply activations by activations).
/// C = alpha * op(A) · op(B) + beta * C, row-major, like cblas_sgemm(CblasRowMajor, ...).
/// op(A) is (M,K): A is (M,K) with lda >= K, or (K,M) with lda >= M when trans_a.
/// op(B) is (K,N): B is (K,N) with ldb >= N, or (N,K) with ldb >= K when trans_b.
/// C is (M,N) with ldc >= N. beta == 0 ignores the old contents of C (NaN included).
void ck_sgemm(int trans_a, int trans_b, int M, int N, int K,
              float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);

/// A fully connected layer as PyTorch's nn.Linear stores it.
/// inp is (M,K), weight is (N,K), bias is (N) or NULL, out is (M,N): out = inp · weightᵀ + bias.
void ck_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int M, int N, int K);

// MARK: - Packed linear layer (the model's projections)

/// Floats of a weight (N,K) packed for ck_linear_packed_forward (N rounded up to 32 columns).
size_t ck_pack_weight_size(int N, int K);
/// Packs an nn.Linear weight (N,K) into K-major panels of 32 output columns (zero-padded past N).
/// The layout is the same for every instruction set: pack once at load time.
void ck_pack_weight(float *packed, const float *weight, int N, int K);
/// The inverse of ck_pack_weight: weight (N,K) from its packed form (for export).
void ck_unpack_weight(float *weight, const float *packed, int N, int K);
/// Floats of workspace ck_linear_packed_forward needs to run on `threads` threads (it runs on fewer
/// when given less). Independent of the shape.
size_t ck_linear_workspace_size(int threads);

typedef enum {
    CK_ACTIVATION_NONE = 0,
    CK_ACTIVATION_GELU = 1,       // exact (erf) GELU, as BERT's "gelu"
    CK_ACTIVATION_GELU_TANH = 2,  // tanh approximation, transformers' "gelu_new" (ALBERT)
    CK_ACTIVATION_RELU = 3,       // max(x, 0) (DistilBERT's pre-classifier, its "relu" option)
    CK_ACTIVATION_TANH = 4,       // tanh (the pooler and RoBERTa's classification head)
} ck_activation;

/// What ck_linear_packed_forward applies to each output row, in this order, before it is stored.
/// A zeroed struct (or NULL) means none of it.
typedef struct {
    const float *bias;         // (N) or NULL
    int activation;            // CK_ACTIVATION_NONE or CK_ACTIVATION_GELU, after the bias (the
                               // others run apart: ck_activation_forward)
    const float *residual;     // (M,N) or NULL, added after the activation; must not alias out
    const float *norm_weight;  // (N) or NULL: layernorm of each row after the residual
    const float *norm_bias;    // (N), with norm_weight
    float norm_eps;
} ck_linear_epilogue;

/// out (M,N) = epilogue(inp (M,K) · weightᵀ) with the weight packed by ck_pack_weight.
/// workspace holds workspace_floats floats (see ck_linear_workspace_size); out must not alias inp.
void ck_linear_packed_forward(float *out, const float *inp, const float *packed_weight,
                              const ck_linear_epilogue *epilogue, int M, int N, int K,
                              float *workspace, size_t workspace_floats);

/// The linear layer in reduced precision (opt-in; CKernels/gemm_bf16.c states the arithmetic), with
/// terms = 1 (bf16: operands rounded to bf16, products accumulated in fp32 as VDPBF16PS does) or 3
/// (bf16x3: each operand split into bf16 hi + lo, hi·lo + lo·hi + hi·hi per step). fp32 epilogue.
/// The weight is packed once by ck_pack_weight_bf16 for one terms value (32-bit words,
/// ck_pack_weight_bf16_size of them); the workspace is ck_linear_workspace_size's. On a CPU without
/// AVX512-BF16 (ck_cpu()->avx512_bf16 == 0) or another active ISA, a scalar emulation computes the
/// same bits, slowly.
size_t ck_pack_weight_bf16_size(int N, int K, int terms);
void ck_pack_weight_bf16(uint32_t *packed, const float *weight, int N, int K, int terms);
void ck_linear_bf16_forward(float *out, const float *inp, const uint32_t *packed_weight, int terms,
                            const ck_linear_epilogue *epilogue, int M, int N, int K,
                            float *workspace, size_t workspace_floats);

/// The linear layer in int8 (opt-in dynamic quantization; CKernels/gemm_int8.c states the arithmetic):
/// weights int8 per output channel (symmetric), quantized once by ck_pack_weight_int8 (32-bit words,
/// ck_pack_weight_int8_size of them: the s8 panels, the channels' scales and their sums); activations u8
/// per row with a zero point, quantized per call in the workspace (ck_linear_workspace_size's);
/// products summed exactly in int32, dequantized in fp32, then the fp32 epilogue. AVX512-VNNI, exact
/// int16 products on AVX2, or the scalar reference: the same bits on every path and thread count.
size_t ck_pack_weight_int8_size(int N, int K);
void ck_pack_weight_int8(uint32_t *packed, const float *weight, int N, int K);
void ck_linear_int8_forward(float *out, const float *inp, const uint32_t *packed_weight,
                            const ck_linear_epilogue *epilogue, int M, int N, int K,
                            float *workspace, size_t workspace_floats);

/// Asks the OS once per process for the tile data state (Linux: arch_prctl ARCH_REQ_XCOMP_PERM,
/// XFEATURE_XTILEDATA), as every tile instruction needs first; later calls return the first
/// answer. 1 when granted; 0 when refused or when the CPU or OS lacks AMX (nothing is asked then).
int ck_amx_request_permission(void);
/// Rounds n values in place as the bf16 modes round an operand: terms 1, to bf16 (nearest even,
/// denormals to zero); terms 3, to hi + lo with hi = bf16(x), lo = bf16(x - hi) (about 16 bits).
void ck_round_bf16(float *x, size_t n, int terms);

/// ck_linear_bf16_forward on AMX tiles (TDPBF16PS; the same packed weight, workspace and epilogue).
/// Compiled but not used by the model yet (not run on AMX hardware so far); equal to the emulation
/// within a bound from K, not bit for bit. Without AMX or the OS's tile permission
/// (ck_amx_request_permission) it runs ck_linear_bf16_forward.
void ck_linear_amx_forward(float *out, const float *inp, const uint32_t *packed_weight, int terms,
                           const ck_linear_epilogue *epilogue, int M, int N, int K,
                           float *workspace, size_t workspace_floats);

// MARK: - Attention

/// How one head's attention probabilities are changed after softmax, before they multiply V.
typedef enum {
    CK_HEAD_KEEP = 0,
    CK_HEAD_ZERO = 1,     // every probability 0 (Hugging Face head_mask = 0)
    CK_HEAD_UNIFORM = 2,  // 1/L on each of the L non-padding keys, in every query row (Kovaleva et al.)
} ck_head_mode;

/// Multi-head self-attention for a right-padded batch, from a fused QKV projection.
/// qkv is (B,T,3C): for token t, [q(C) | k(C) | v(C)], head h owning columns h*HS..h*HS+HS-1 of each.
/// lengths is (B): keys j >= lengths[b] are padding and get probability exactly 0.
/// Padding query rows are computed like any other row (as Hugging Face does).
/// head_modes is (NH) or NULL (all keep). scale is usually 1/sqrt(HS).
/// probs is (B,NH,T,T) or NULL: when given, it receives the probabilities actually used.
/// context is (B,T,C): context[b,t,h*HS+d] = sum_j probs[b,h,t,j] * v[b,j,h*HS+d].
/// workspace holds workspace_floats floats (see ck_attention_workspace_size; fewer threads run when
/// it is smaller, at least one thread's share is required).
void ck_attention_forward(float *context, float *probs, const float *qkv, const int32_t *lengths,
                          const int32_t *head_modes, int B, int T, int NH, int HS, float scale,
                          float *workspace, size_t workspace_floats);
/// ck_attention_forward in a bf16 mode (terms 1 or 3; 0 is ck_attention_forward itself): the caller
/// has rounded Q, K and V (ck_round_bf16), and the probabilities of each kept head are rounded the
/// same way for the product with V only; the probabilities written to probs, the softmax and the
/// changed heads stay fp32. The products then run in fp32 on the rounded operands (an emulation of
/// a bf16 kernel's operands, not of its summation order).
void ck_attention_forward_bf16(float *context, float *probs, const float *qkv, const int32_t *lengths,
                               const int32_t *head_modes, int B, int T, int NH, int HS, float scale,
                               float *workspace, size_t workspace_floats, int terms);
/// Floats of workspace ck_attention_forward needs for sequences of T tokens, heads of HS values,
/// on `threads` threads.
size_t ck_attention_workspace_size(int T, int HS, int threads);

/// The context columns of the changed heads only, exactly as ck_attention_forward computes them
/// (the same code, the same summation order): for every head h with head_modes[h] != CK_HEAD_KEEP,
/// context[b,t,h*HS..h*HS+HS-1] = 0 (zero) or the mean of v over the lengths[b] real keys (uniform).
/// Columns of kept heads are left as they are. Ablation sweeps patch a copy of the unchanged
/// layer's context with it instead of recomputing every head (shapes as ck_attention_forward).
void ck_attention_fixed_heads(float *context, const float *qkv, const int32_t *lengths,
                              const int32_t *head_modes, int B, int T, int NH, int HS);

/// Row-wise softmax of scale * x over the first `valid` columns; columns >= valid become 0.
/// x is (rows, cols), in place.
void ck_softmax_forward(float *x, int rows, int cols, int valid, float scale);

// MARK: - Embeddings, normalisation and element-wise

/// BERT input embeddings before their layernorm, for a right-padded batch.
/// input_ids and token_type_ids are (B,T); positions are 0..T-1. word is (V,C), position is (P,C)
/// with P >= T, token_type is (TT,C). out is (B,T,C) = word[id] + position[t] + token_type[type].
/// Ids are trusted: the caller has checked them against V and TT.
void ck_embeddings_forward(float *out, const int32_t *input_ids, const int32_t *token_type_ids,
                           const float *word, const float *position, const float *token_type,
                           int B, int T, int C);
/// The input embeddings of every encoder family: out (B,T,C) = word[id] + position[p] (+ token_type[s]),
/// summed in that order (ck_embeddings_forward's bits when position_ids is NULL and token types are given).
/// position_ids (B,T) or NULL (positions 0..T-1; RoBERTa passes its padding-offset ids); token_type NULL adds
/// no token-type row (DistilBERT); token_type_ids NULL with a token_type table adds its row 0 (RoBERTa).
void ck_embeddings_forward_positions(float *out, const int32_t *input_ids, const int32_t *token_type_ids,
                                     const int32_t *position_ids, const float *word, const float *position,
                                     const float *token_type, int B, int T, int C);


/// out = (inp - mean) / sqrt(var + eps) * weight + bias, per row; inp and out are (N,C).
/// out may equal inp.
void ck_layernorm_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int N, int C, float eps);

/// Exact (erf) GELU, as BERT's "gelu": out = 0.5 x (1 + erf(x / sqrt 2)); out may equal inp.
void ck_gelu_forward(float *out, const float *inp, size_t n);

/// x (N,C) += bias (C), per row.
void ck_add_bias(float *x, const float *bias, int N, int C);

/// out = a + b, element-wise over n values; out may equal a or b.
void ck_add(float *out, const float *a, const float *b, size_t n);

/// out (N) = tanh(inp (N)); out may equal inp.
void ck_tanh_forward(float *out, const float *inp, size_t n);

/// out (n) = activation(inp (n)) for any ck_activation (NONE copies); out may equal inp. Scalar C with
/// libm (erff, tanhf), parallel over chunks: the layers whose activation is not the GEMM epilogue's GELU
/// (ALBERT's gelu_new, DistilBERT's relu option) and the classification heads run it.
void ck_activation_forward(float *out, const float *inp, size_t n, int activation);

/// Mean over the real tokens of each example (sentence-transformers' mean pooling).
/// hidden is (B,T,C), lengths is (B) with 1 <= lengths[b] <= T, out is (B,C).
void ck_mean_pool(float *out, const float *hidden, const int32_t *lengths, int B, int T, int C);

// MARK: - Storage conversion

/// IEEE half precision (binary16) to float, n values; subnormals, infinities and NaN included.
void ck_convert_f16_to_f32(float *out, const uint16_t *inp, size_t n);
/// bfloat16 to float, n values (exact: bf16 is the top half of a float).
void ck_convert_bf16_to_f32(float *out, const uint16_t *inp, size_t n);

// MARK: - Attention statistics (analyses; attention_stats.c)
// Self-contained: scalar C with OpenMP over the (example, head) maps, no ISA dispatch. Each map is
// cropped to its example's real tokens: rows and columns 0..lengths[b]-1 of probs[b,h].

/// One pass over every map of a batch. probs is (B,NH,T,T), rows = queries; lengths is (B) with
/// 1 <= lengths[b] <= T; segment_starts is (B), the first token of the second segment (lengths[b]
/// for a single sentence).
/// column_sums is (B,NH,2,T): [b,h,s,j] = sum of probs[b,h,i,j] over the real query rows i of segment s
/// (s = 0: i < segment_starts[b]; s = 1: segment_starts[b] <= i < lengths[b]), for j < lengths[b]; 0 beyond.
/// entropy_sums is (B,NH): sum over the real rows i of -sum_{j < lengths[b]} p ln p, in nats (0 ln 0 = 0).
void ck_attention_map_statistics(double *column_sums, double *entropy_sums, const float *probs,
                                 const int32_t *lengths, const int32_t *segment_starts, int B, int NH, int T);

/// Products of two batches of maps with the same layout, for cosine similarities. a and b are
/// (B,NH,T,T); products is (B,NH,3) = (sum a*b, sum a*a, sum b*b) over rows and columns 0..n-1, where
/// n = lengths[b] when crop != 0 (the real tokens), else T (the whole padded map).
void ck_attention_map_products(double *products, const float *a, const float *b, const int32_t *lengths,
                               int crop, int B, int NH, int T);

// MARK: - Training
// The packed GEMM's pieces, apart, for `kernel-bench --kernel pieces` (the model never calls them):
// where the full GEMM falls short of the FMA peak, these say whether the register kernel, the cache
// level its operands come from, the packing or the second thread is the cause. AVX-512 and AVX2 (the
// active one; AVX2 runs each pair as its forward does, four 6 x 16 tiles); on the scalar path they do
// nothing and return 0 (else 1).
//   ck_gemm_piece_tiles: on each of `threads` threads, `reps` passes over that thread's `panels`
//     pairs of packed panels (A: 12 rows x kc, B: kc x 32 columns, as the forward packs them), each
//     pair one 12 x 32 register tile written to the thread's C tile (12 x 32 floats). a holds
//     threads * panels * 12 * kc floats, b threads * panels * kc * 32, c threads * 384.
//     Flops: 2 * 12 * 32 * kc * panels * reps * threads.
//   ck_gemm_piece_pack: packs `rows` x K of src (ld K) into 12-row panels, kc columns at a time, as
//     the forward packs its activations (one thread; dst holds rows rounded up to 12, times K).
int ck_gemm_piece_tiles(const float *a, const float *b, float *c, int kc, int panels, int reps, int threads);
int ck_gemm_piece_pack(float *dst, const float *src, int rows, int K, int kc);
/// Per-thread passes ck_gemm_piece_tiles has run with `isa`'s register tiles since the library was
/// loaded (the test that a call's threads all run the ISA its caller chose reads it).
long ck_gemm_piece_tile_runs(ck_isa isa);

// Gradients, dropout, losses and the optimizer for fine-tuning. Shapes: M = rows (B*T
// tokens), N = out features, K = in features, C = hidden, NH = heads, HS = head size. Like every
// kernel: no allocation, never fail, a scalar reference for each, SIMD paths tested against it.
// Deterministic: the same bits on any thread count (every reduction is over a fixed partition that
// does not depend on the thread count, summed in a fixed order; no atomics on floats).

// Linear layer gradients. out = inp · weightᵀ + bias (nn.Linear). Given d_out (M,N):
//   d_inp (M,K)  = d_out · weight            (overwritten; NULL skips it)
//   d_weight (N,K) += d_outᵀ · inp           (accumulated; NULL skips it)
//   d_bias (N)   += Σ_rows d_out             (accumulated; NULL skips it)
// `weight` is the plain (N,K) fp32 weight: no packed copy is kept (see backward_linear.c). The
// workspace holds the operands packed once per call and each thread's packed operand panels:
// ck_linear_backward_workspace_size floats (about (N + M) x K + M x N shared, then one slice per
// thread; fewer slices run fewer threads, at least one is needed).
size_t ck_linear_backward_workspace_size(int M, int N, int K, int threads);
void ck_linear_backward(float *d_inp, float *d_weight, float *d_bias,
                        const float *d_out, const float *inp, const float *weight,
                        int M, int N, int K, float *workspace, size_t workspace_floats);

// Dropout with a counter-based generator: the same mask for the same (seed, stream, index) on any
// thread count and instruction set. Element i of a call uses index = offset + i and
//   mix(z)  = splitmix64's finaliser: z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
//             z *= 0x94D049BB133111EB; z ^= z >> 31            (all arithmetic mod 2^64)
//   key     = mix(seed ^ mix(stream + 0x9E3779B97F4A7C15))
//   bits    = mix(key + (index + 1) * 0x9E3779B97F4A7C15) >> 32   (the top 32 bits)
//   keep    = bits >= floor(p * 2^32)    (p in [0, 1]; p computed in double from the float)
// (tools/reference/dropout_reference.py is the same in Python.) A kept value is multiplied by
// scale = 1.0f / (float)(1.0 - p), as torch multiplies by mask / (1 - p); a dropped one becomes 0.
// p == 0 keeps everything (out = inp exactly).
// mask[i] = 1 (kept) or 0 (dropped).
void ck_dropout_mask(uint8_t *mask, size_t n, float p, uint64_t seed, uint64_t stream, uint64_t offset);
// out = kept ? inp * scale : 0; out may equal inp.
void ck_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t stream, uint64_t offset);
// d_inp = kept ? d_out * scale : 0 (the same mask); d_inp may equal d_out.
void ck_dropout_backward(float *d_inp, const float *d_out, size_t n, float p, uint64_t seed, uint64_t stream, uint64_t offset);

// Attention for training: as ck_attention_forward (qkv (B,T,3C), lengths (B), padding keys get 0)
// with no head modes, plus dropout on the probabilities before they multiply V. probs (B,NH,T,T),
// required, receives the probabilities BEFORE dropout (saved for the backward); element (b,h,i,j)
// uses dropout index ((b*NH+h)*T+i)*T+j with the given seed and stream.
// It runs ck_attention_forward's workers (one per ISA): with dropout_p == 0 the results are its bits.
void ck_attention_forward_train(float *context, float *probs, const float *qkv, const int32_t *lengths,
                                int B, int T, int NH, int HS, float scale,
                                float dropout_p, uint64_t seed, uint64_t stream,
                                float *workspace, size_t workspace_floats);
size_t ck_attention_train_workspace_size(int T, int HS, int threads);
// d_qkv (B,T,3C) (overwritten) from d_context (B,T,C), the saved qkv and probs (pre-dropout),
// regenerating the dropout mask: dV = Pdᵀ·dctx, dPd = dctx·Vᵀ, dP = dropout_backward(dPd),
// dS = P ⊙ (dP − rowsum(P ⊙ dP)) (0 at padding keys), dQ = scale·dS·K, dK = scale·dSᵀ·Q.
// Padding query rows are differentiated like the others (the forward computes them); the K and V
// rows of padding keys get 0.
void ck_attention_backward(float *d_qkv, const float *d_context, const float *qkv, const float *probs,
                           const int32_t *lengths, int B, int T, int NH, int HS, float scale,
                           float dropout_p, uint64_t seed, uint64_t stream,
                           float *workspace, size_t workspace_floats);
size_t ck_attention_backward_workspace_size(int T, int HS, int threads);

// As ck_layernorm_forward (the same bits in out), also saving mean (N) and rstd (N) = 1/sqrt(var + eps).
void ck_layernorm_forward_train(float *out, float *mean, float *rstd, const float *inp,
                                const float *weight, const float *bias, int N, int C, float eps);
// d_inp (N,C) (overwritten), d_weight (C) +=, d_bias (C) += (reductions over rows in row order,
// per column; d_weight and d_bias may be NULL). d_inp must not alias d_out.
void ck_layernorm_backward(float *d_inp, float *d_weight, float *d_bias, const float *d_out,
                           const float *inp, const float *mean, const float *rstd, const float *weight,
                           int N, int C);
// d_inp = d_out * gelu'(inp), exact erf GELU (as torch's GeluBackward, approximate='none');
// d_inp may equal d_out.
void ck_gelu_backward(float *d_inp, const float *d_out, const float *inp, size_t n);
// d_inp = d_out * (1 - out²); d_inp may equal d_out.
void ck_tanh_backward(float *d_inp, const float *d_out, const float *out, size_t n);
// d_inp = d_out * activation'(inp) for CK_ACTIVATION_GELU (ck_gelu_backward), GELU_TANH (as torch differentiates
// transformers' gelu_new) and RELU (1 where inp > 0); NONE copies. tanh takes its output: ck_tanh_backward.
// d_inp may equal d_out.
void ck_activation_backward(float *d_inp, const float *d_out, const float *inp, size_t n, int activation);

// Scatter-add of d_out (B,T,C) into d_word (V,C) at input_ids, d_position (P,C) at rows 0..T-1,
// d_token_type (TT,C) at token_type_ids. Accumulated (+=); any of the three may be NULL (skipped).
// Deterministic: every row receives its contributions in (b,t) order whatever the thread count
// (the work is partitioned over columns).
void ck_embeddings_backward(float *d_word, float *d_position, float *d_token_type, const float *d_out,
                            const int32_t *input_ids, const int32_t *token_type_ids, int B, int T, int C);
// The same with position ids (B,T) (NULL: 0..T-1) and, when token_type_ids is NULL, every token's type row 0
// (ck_embeddings_forward_positions' backward).
void ck_embeddings_backward_positions(float *d_word, float *d_position, float *d_token_type, const float *d_out,
                                      const int32_t *input_ids, const int32_t *token_type_ids,
                                      const int32_t *position_ids, int B, int T, int C);

// Head gates (head_gates.c): a gate per head multiplies that head's HS columns of a (rows, NH*HS) context.
// x[r, h*HS + d] *= gates[h] for every row (a gate of 0 writes 0; a gate of 1 leaves the head's bits).
void ck_scale_heads(float *x, const float *gates, int rows, int NH, int HS);
// d loss / d gate at gate 1, per example and head: out[b*NH + h] = scale * sum over t < T and d < HS of
// d_context[b,t,h,d] * context[b,t,h,d], summed in double in (t, d) order (the same bits on any thread count).
void ck_head_gate_gradients(float *out, const float *d_context, const float *context, int B, int T, int NH, int HS,
                            float scale);

// Losses, the mean over the batch as torch's CrossEntropyLoss / MSELoss.
// logits (B,NL), labels (B) in 0..NL-1. Returns the mean loss (computed in double);
// d_logits (B,NL) = (softmax − onehot) / B.
double ck_cross_entropy_forward_backward(float *d_logits, const float *logits, const int32_t *labels, int B, int NL);
// predictions (B), targets (B). Returns mean (p − t)² (in double); d_predictions (B) = 2 (p − t) / B.
double ck_mse_forward_backward(float *d_predictions, const float *predictions, const float *targets, int B);

// Σ x², accumulated in double over a fixed partition (the same bits on any thread count).
double ck_sum_squares(const float *x, size_t n);
// x *= s.
void ck_scale(float *x, size_t n, float s);
// One torch.optim.AdamW step (foreach=False, the same operations in the same order). The
// hyperparameters are doubles, as torch's are (Python floats): with beta2 = 0.999f, 1 - beta2 would be
// 1.3e-5 away from torch's 0.001, and so would every exp_avg_sq. Scalars torch computes in double are
// computed in double, then rounded to float where torch hands them to a float tensor operation:
//   param *= 1 − lr·weight_decay
//   m = m + (1−beta1)·(g − m)  (torch's lerp) ;  v = beta2·v + (1−beta2)·g·g
//   bias_correction1 = 1 − beta1^step ; bias_correction2 = 1 − beta2^step   (step counts from 1)
//   denom = sqrt(v) / sqrt(bias_correction2) + eps ;  param += (−lr / bias_correction1) · m / denom
void ck_adamw_step(float *param, const float *grad, float *m, float *v, size_t n,
                   double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step);

#ifdef __cplusplus
}
#endif
#endif  // CKERNELS_H
