// Private: the bf16 numbers every reduced-precision kernel shares (gemm_bf16.c, precision.c,
// attention.c), as the CPU's bf16 instructions define them.
#ifndef CKERNELS_BF16_H
#define CKERNELS_BF16_H

#include <stdint.h>
#include <string.h>

// fp32 -> bf16 bits: round to nearest even, denormals to a signed zero, NaN kept a (quiet) NaN
// (VCVTNE2PS2BF16).
static inline uint16_t bf16_from_float(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float float_from_bf16(uint32_t bits) {
    const uint32_t u = bits << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

// The low half of bf16x3's split: bf16 of what bf16(x) leaves (x - hi is exact in fp32).
static inline uint16_t bf16_low(float x) { return bf16_from_float(x - float_from_bf16(bf16_from_float(x))); }

// x as the bf16 modes see an operand: terms 1, bf16(x); terms 3, hi + lo (exact in fp32: lo is at
// least 8 binades below hi, so the sum spans at most 17 significant bits).
static inline float bf16_operand(float x, int terms) {
    const float hi = float_from_bf16(bf16_from_float(x));
    return terms == 3 ? hi + float_from_bf16(bf16_low(x)) : hi;
}

#endif  // CKERNELS_BF16_H
