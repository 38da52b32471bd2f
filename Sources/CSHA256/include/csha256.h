// SHA-256 (FIPS 180-4) for the engine's file fingerprints (Sources/BertologyEngine/Support/SHA256.swift).
#ifndef CSHA256_H
#define CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// SHA-256 in steps: init, update with any number of byte ranges, final.
typedef struct {
    uint32_t state[8];
    uint64_t length;     // bytes so far
    uint8_t block[64];   // the unfinished block
    size_t used;         // bytes in `block`
} bertology_sha256_context;

void bertology_sha256_init(bertology_sha256_context *context);
void bertology_sha256_update(bertology_sha256_context *context, const void *data, size_t n);
/// Writes the 32-byte digest; the context must be initialised again before reuse.
void bertology_sha256_final(bertology_sha256_context *context, uint8_t digest[32]);

#endif
