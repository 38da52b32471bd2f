// The machine's own peak: independent FMA chains on every thread, for the benchmarks' "% of peak".
// KVM hides the turbo clock, so the peak is measured rather than computed from a nominal frequency.
#include "internal.h"
#include "vecmath.h"

#include <math.h>
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
    for (int j = 0; j < CK_PROBE_CHAINS; j++) sum += ck_hsum256(acc[j]);
    return sum;
}
#endif

double ck_fma_probe(long iterations) {
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
