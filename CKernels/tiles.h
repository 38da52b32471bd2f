// Private to CKernels: the GEMM micro-kernels of microkernel.h for any row count, with A read
// through strides (a_cs == 1: plain rows of stride a_rs; else a_rs == 1: columns of stride a_cs),
// for the training kernels (backward_linear.c, backward_attention.c).
#ifndef CKERNELS_TILES_H
#define CKERNELS_TILES_H

#include "microkernel.h"

#if CK_X86
// C[mr x n] (+)= A[mr x kc] · B[kc x n]; A element (r, k) at a[r * a_rs + k * a_cs].
CK_TARGET_AVX512 __attribute__((unused)) static void ck_tile512_strided(int mr, int kc, const float *a, long a_rs, long a_cs, const float *b, long ldb,
                                     int n, float *c, long ldc, int accumulate) {
    if (a_cs == 1) {
        switch (mr) {
#define CK_CASE(R) case R: ck_tile512(R, kc, a, a_rs, 1, b, ldb, n, c, ldc, accumulate, NULL, NULL, 0); break;
        CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
        CK_CASE(7) CK_CASE(8) CK_CASE(9) CK_CASE(10) CK_CASE(11) CK_CASE(12)
#undef CK_CASE
        }
    } else {
        switch (mr) {
#define CK_CASE(R) case R: ck_tile512(R, kc, a, 1, a_cs, b, ldb, n, c, ldc, accumulate, NULL, NULL, 0); break;
        CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
        CK_CASE(7) CK_CASE(8) CK_CASE(9) CK_CASE(10) CK_CASE(11) CK_CASE(12)
#undef CK_CASE
        }
    }
}

CK_TARGET_AVX2 __attribute__((unused)) static void ck_tile256_strided(int mr, int kc, const float *a, long a_rs, long a_cs, const float *b, long ldb,
                                   int n, float *c, long ldc, int accumulate) {
    if (a_cs == 1) {
        switch (mr) {
#define CK_CASE(R) case R: ck_tile256(R, kc, a, a_rs, 1, b, ldb, n, c, ldc, accumulate, NULL, NULL, 0); break;
        CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
#undef CK_CASE
        }
    } else {
        switch (mr) {
#define CK_CASE(R) case R: ck_tile256(R, kc, a, 1, a_cs, b, ldb, n, c, ldc, accumulate, NULL, NULL, 0); break;
        CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(5) CK_CASE(6)
#undef CK_CASE
        }
    }
}
#endif  // CK_X86

#endif  // CKERNELS_TILES_H
