// Private to CKernels: helpers shared by the training kernels (dropout.c, backward_attention.c).
#ifndef CKERNELS_TRAINING_H
#define CKERNELS_TRAINING_H

#include "internal.h"

#define CK_GOLDEN64 0x9E3779B97F4A7C15ull

// splitmix64's finaliser (Steele, Lea and Flood 2014), a bijection of 64-bit integers.
static inline uint64_t ck_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// The per-(seed, stream) key of the dropout generator (documented in ckernels.h).
static inline uint64_t ck_dropout_key(uint64_t seed, uint64_t stream) {
    return ck_mix64(seed ^ ck_mix64(stream + CK_GOLDEN64));
}

// The 32 random bits of element `index`.
static inline uint32_t ck_dropout_bits(uint64_t key, uint64_t index) {
    return (uint32_t)(ck_mix64(key + (index + 1) * CK_GOLDEN64) >> 32);
}

// Values with bits below the threshold are dropped: floor(p * 2^32), 2^32 (drop all) for p >= 1.
static inline uint64_t ck_dropout_threshold(float p) {
    if (!(p > 0.0f)) return 0;
    if (p >= 1.0f) return 1ull << 32;
    return (uint64_t)((double)p * 4294967296.0);
}

// What a kept value is multiplied by (0 when everything is dropped).
static inline float ck_dropout_scale(float p) {
    return p >= 1.0f ? 0.0f : 1.0f / (float)(1.0 - (double)p);
}

#endif  // CKERNELS_TRAINING_H
