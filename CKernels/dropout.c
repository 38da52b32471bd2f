// Dropout with a counter-based generator (the hash is documented in ckernels.h): element i's fate
// depends only on (seed, stream, offset + i), so any split of the work gives the same mask.
#include "internal.h"
#include "training.h"
#include "vecmath.h"

// MARK: - Scalar reference

// mask (may be NULL) and out (may be NULL) for elements i0..i1-1 of one call.
static void dropout_range_scalar(uint8_t *mask, float *out, const float *inp, size_t i0, size_t i1,
                                 uint64_t key, uint64_t offset, uint64_t threshold, float scale) {
    for (size_t i = i0; i < i1; i++) {
        const int keep = ck_dropout_bits(key, offset + i) >= threshold;
        if (mask) mask[i] = (uint8_t)keep;
        if (out) out[i] = keep ? inp[i] * scale : 0.0f;
    }
}

typedef void (*dropout_range_fn)(uint8_t *, float *, const float *, size_t, size_t, uint64_t, uint64_t,
                                 uint64_t, float);

// MARK: - Driver

#define DROPOUT_CHUNK 4096

static dropout_range_fn dropout_range(void) {
    return dropout_range_scalar;
}

typedef struct {
    dropout_range_fn range;
    uint8_t *mask;
    float *out;
    const float *inp;
    size_t n;
    uint64_t key, offset, threshold;
    float scale;
} dropout_job;

static void dropout_item(void *context, int c, int thread) {
    (void)thread;
    const dropout_job *j = context;
    const size_t i0 = (size_t)c * DROPOUT_CHUNK, i1 = CK_MIN(j->n, i0 + DROPOUT_CHUNK);
    j->range(j->mask, j->out, j->inp, i0, i1, j->key, j->offset, j->threshold, j->scale);
}

static void dropout_run(uint8_t *mask, float *out, const float *inp, size_t n, float p, uint64_t seed,
                        uint64_t stream, uint64_t offset) {
    dropout_job job = {dropout_range(), mask, out, inp, n, ck_dropout_key(seed, stream), offset,
                       ck_dropout_threshold(p), ck_dropout_scale(p)};
    const int chunks = (int)((n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK);
    ck_parallel_for(chunks, chunks > 4 ? ck_threads_max() : 1, 0, dropout_item, &job);
}

void ck_dropout_mask(uint8_t *mask, size_t n, float p, uint64_t seed, uint64_t stream, uint64_t offset) {
    dropout_run(mask, NULL, NULL, n, p, seed, stream, offset);
}

void ck_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t stream,
                        uint64_t offset) {
    if (!(p > 0.0f)) {
        if (out != inp)
            for (size_t i = 0; i < n; i++) out[i] = inp[i];
        return;
    }
    dropout_run(NULL, out, inp, n, p, seed, stream, offset);
}

void ck_dropout_backward(float *d_inp, const float *d_out, size_t n, float p, uint64_t seed, uint64_t stream,
                         uint64_t offset) {
    // The same mask and scale as the forward: d_inp = kept ? d_out * scale : 0.
    ck_dropout_forward(d_inp, d_out, n, p, seed, stream, offset);
}
