// Storage conversion from the reduced-precision formats a checkpoint may hold.
#include "internal.h"
#include "vecmath.h"

#include <string.h>

// MARK: - Scalar reference

static float f16_to_f32_scalar(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    uint32_t bits;
    if (exponent == 0x1Fu) {
        bits = sign | 0x7F800000u | (mantissa << 13);  // infinity or NaN (payload kept)
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);  // rebias 15 -> 127
    } else if (mantissa == 0) {
        bits = sign;  // signed zero
    } else {
        // Subnormal half: normalise the mantissa into a normal float.
        exponent = 113u;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            exponent--;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void f16_range_scalar(float *out, const uint16_t *inp, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) out[i] = f16_to_f32_scalar(inp[i]);
}

#if CK_X86
// MARK: - AVX-512 and AVX2 (F16C)

CK_TARGET_AVX512 static void f16_range_avx512(float *out, const uint16_t *inp, size_t i0, size_t i1) {
    size_t i = i0;
    for (; i + 16 <= i1; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(inp + i))));
    for (; i < i1; i++) out[i] = f16_to_f32_scalar(inp[i]);
}

__attribute__((target("avx2,f16c"))) static void f16_range_avx2(float *out, const uint16_t *inp, size_t i0, size_t i1) {
    size_t i = i0;
    for (; i + 8 <= i1; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(inp + i))));
    for (; i < i1; i++) out[i] = f16_to_f32_scalar(inp[i]);
}
#endif

// MARK: - Drivers

void ck_register_convert(ck_dispatch_table *table, ck_isa isa) {
    table->f16_range = f16_range_scalar;
#if CK_X86
    if (isa == CK_ISA_AVX512) table->f16_range = f16_range_avx512;
    if (isa == CK_ISA_AVX2 && ck_cpu()->f16c) table->f16_range = f16_range_avx2;
#else
    (void)isa;
#endif
}

void ck_convert_f16_to_f32(float *out, const uint16_t *inp, size_t n) {
    ck_dispatch()->f16_range(out, inp, 0, n);
}

void ck_convert_bf16_to_f32(float *out, const uint16_t *inp, size_t n) {
    // Exact by construction; the compiler vectorises this loop on every ISA.
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)inp[i] << 16;
        memcpy(&out[i], &bits, sizeof bits);
    }
}
