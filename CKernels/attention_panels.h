// Private: the panels attention's products stream (attention.c, and the training forward and backward
// in backward_attention.c, which must give the inference forward's bits): K transposed into 32-key
// panels and V copied into 32-column panels, from a head's rows of the fused (B,T,3C) QKV.
#ifndef CKERNELS_ATTENTION_PANELS_H
#define CKERNELS_ATTENTION_PANELS_H

#include "internal.h"
#include "microkernel.h"

#include <string.h>

// Transposes the head's first len keys (rows of stride C3) into 32-key panels: panel p holds, for
// d = 0..HS-1, keys 32p..32p+31 (the last panel's unused columns are never read).
static inline void pack_keys(float *panels, const float *k, int len, int HS, int C3) {
    for (int j = 0; j < len; j++) {
        float *dst = panels + (size_t)(j / CK_NR) * HS * CK_NR + j % CK_NR;
        const float *src = k + (size_t)j * C3;
        for (int d = 0; d < HS; d++) dst[(size_t)d * CK_NR] = src[d];
    }
}

// Copies the head's first len values (rows of stride C3, one per key) into panels of 32 of the HS
// columns: panel p holds, for j = 0..len-1, v[j, 32p..32p+31]. Read in place, V rows are 9 KB
// apart in bert-base: every k step of the PV product would miss the cache with no prefetch (page
// crossings); copied, the product streams them.
static inline void pack_values(float *panels, const float *v, int len, int HS, int C3) {
    for (int p = 0; p < HS; p += CK_NR) {
        const int width = CK_MIN(CK_NR, HS - p);
        float *dst = panels + (size_t)(p / CK_NR) * len * CK_NR;
        for (int j = 0; j < len; j++) memcpy(dst + (size_t)j * CK_NR, v + (size_t)j * C3 + p, sizeof(float) * width);
    }
}

#if CK_X86
// pack_keys by 16 x 16 blocks transposed in registers (the scalar form compiles to scatters).
CK_TARGET_AVX512 static inline void pack_keys_avx512(float *panels, const float *k, int len, int HS, int C3) {
    for (int j0 = 0; j0 < len; j0 += 16) {
        float *panel = panels + (size_t)(j0 / CK_NR) * HS * CK_NR + j0 % CK_NR;
        for (int d0 = 0; d0 < HS; d0 += 16) {
            const __mmask16 m = ck_tail_mask512(HS - d0);
            __m512 r[16];
            for (int jj = 0; jj < 16; jj++)
                r[jj] = j0 + jj < len ? _mm512_maskz_loadu_ps(m, k + (size_t)(j0 + jj) * C3 + d0) : _mm512_setzero_ps();
            transpose16x16(r);
            for (int dd = 0; dd < CK_MIN(16, HS - d0); dd++) _mm512_storeu_ps(panel + (size_t)(d0 + dd) * CK_NR, r[dd]);
        }
    }
}
#endif

#endif  // CKERNELS_ATTENTION_PANELS_H
