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

// The row softmax worker for the active ISA (softmax.c); attention.c reuses it per query row.
// Softmax of scale * x over the first `valid` of `cols` columns, zeros after.
typedef void (*ck_softmax_row_fn)(float *x, int cols, int valid, float scale);
ck_softmax_row_fn ck_softmax_row_worker(void);

// The layernorm worker for the active ISA (layernorm.c): rows r0..r1-1 of (N,C), serially.
typedef void (*ck_layernorm_rows_fn)(float *out, const float *inp, const float *weight, const float *bias,
                                     int r0, int r1, int C, float eps);
ck_layernorm_rows_fn ck_layernorm_rows_worker(void);

#endif  // CKERNELS_INTERNAL_H
