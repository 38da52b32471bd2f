// The machine's own peak: independent FMA chains on every thread, for the benchmarks' "% of peak".
// KVM hides the turbo clock, so the peak is measured rather than computed from a nominal frequency.
// A benchmark tool, not a kernel: it lives with the benchmarks and uses only CKernels' public header
// (the active ISA and OpenMP), so that the same ISA the kernels run is the one measured.
#include "fmaprobe.h"

#include <ckernels.h>

#include <math.h>
#if defined(__x86_64__) || defined(_M_X64)
#define CK_X86 1
#include <immintrin.h>
#define CK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define CK_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")))
#else
#define CK_X86 0
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

// 12 independent accumulators per thread: more than FMA latency (4 cycles) x ports (2) needs.
#define CK_PROBE_CHAINS 12

static double fma_chains_scalar(long iterations) {
    float acc[CK_PROBE_CHAINS];
    for (int j = 0; j < CK_PROBE_CHAINS; j++) acc[j] = (float)j * 1e-3f;
    for (long i = 0; i < iterations; i++)
        for (int j = 0; j < CK_PROBE_CHAINS; j++) acc[j] = fmaf(acc[j], 0.999f, 1e-4f);
    float sum = 0.0f;
    for (int j = 0; j < CK_PROBE_CHAINS; j++) sum += acc[j];
    return sum;  // returned so the loop is not removed
}

#if CK_X86
CK_TARGET_AVX2 static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

CK_TARGET_AVX512 static double fma_chains_avx512(long iterations) {
    __m512 acc[CK_PROBE_CHAINS];
    for (int j = 0; j < CK_PROBE_CHAINS; j++) acc[j] = _mm512_set1_ps((float)j * 1e-3f);
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-4f);
    for (long i = 0; i < iterations; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < CK_PROBE_CHAINS; j++) acc[j] = _mm512_fmadd_ps(acc[j], x, y);
    float sum = 0.0f;
    for (int j = 0; j < CK_PROBE_CHAINS; j++) sum += _mm512_reduce_add_ps(acc[j]);
    return sum;
}

CK_TARGET_AVX2 static double fma_chains_avx2(long iterations) {
    __m256 acc[CK_PROBE_CHAINS];
    for (int j = 0; j < CK_PROBE_CHAINS; j++) acc[j] = _mm256_set1_ps((float)j * 1e-3f);
    const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-4f);
    for (long i = 0; i < iterations; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < CK_PROBE_CHAINS; j++) acc[j] = _mm256_fmadd_ps(acc[j], x, y);
    float sum = 0.0f;
    for (int j = 0; j < CK_PROBE_CHAINS; j++) sum += hsum256(acc[j]);
    return sum;
}
#endif

double bench_fma_probe(long iterations) {
    double (*chains)(long) = fma_chains_scalar;
    double lanes = 1;
#if CK_X86
    switch (ck_isa_active()) {
    case CK_ISA_AVX512: chains = fma_chains_avx512; lanes = 16; break;
    case CK_ISA_AVX2: chains = fma_chains_avx2; lanes = 8; break;
    default: break;
    }
#endif
    double sink = 0.0;
    int threads = 1;
#pragma omp parallel reduction(+ : sink)
    {
        sink += chains(iterations);
#ifdef _OPENMP
        if (omp_get_thread_num() == 0) threads = omp_get_num_threads();
#endif
    }
    volatile double keep = sink;  // the sums are never used; this keeps the chains alive
    (void)keep;
    return 2.0 * lanes * CK_PROBE_CHAINS * (double)iterations * threads;
}

#if CK_X86
// The bf16 dot-product peak: independent VDPBF16PS chains (32 multiply-adds, 64 flops, each).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2")))
static double bf16_chains(long iterations) {
    __m512 acc[CK_PROBE_CHAINS];
    for (int j = 0; j < CK_PROBE_CHAINS; j++) acc[j] = _mm512_set1_ps((float)j * 1e-3f);
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x3a003a00);
    for (long i = 0; i < iterations; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < CK_PROBE_CHAINS; j++) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
    float sum = 0.0f;
    for (int j = 0; j < CK_PROBE_CHAINS; j++) sum += _mm512_reduce_add_ps(acc[j]);
    return sum;
}
#endif

double bench_bf16_probe(long iterations) {
#if CK_X86
    if (!ck_cpu()->avx512_bf16) return 0;
    double sink = 0.0;
    int threads = 1;
#pragma omp parallel reduction(+ : sink)
    {
        sink += bf16_chains(iterations);
#ifdef _OPENMP
        if (omp_get_thread_num() == 0) threads = omp_get_num_threads();
#endif
    }
    volatile double keep = sink;
    (void)keep;
    return 64.0 * CK_PROBE_CHAINS * (double)iterations * threads;
#else
    (void)iterations;
    return 0;
#endif
}
