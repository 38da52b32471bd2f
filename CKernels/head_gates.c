// Head gates: a gate xi_h multiplies head h's columns of the attention context (B,T,NH*HS) before the
// output projection. Two kernels serve gradient head importance (Michel et al. 2019):
//   ck_scale_heads            multiplies each head's columns by its gate (the forward with heads removed,
//                             gate 0, and the same on the context's gradient in the backward);
//   ck_head_gate_gradients    d loss / d xi_h at xi = 1 for each example b: the sum over the example's
//                             rows t and the head's columns d of d_context[b,t,h,d] * context[b,t,h,d].
// Both are a few multiply-adds per context element, against the thousands of the GEMMs around them, so
// one scalar path serves every ISA. Each (example, head) sum runs on one thread in (t, d) order, in
// double, so the bits do not depend on the thread count.
#include "internal.h"

typedef struct {
    float *x;
    const float *gates;
    int rows, NH, HS;
} scale_heads_job;

static void scale_heads_item(void *context, int block, int thread) {
    (void)thread;
    const scale_heads_job *j = context;
    const int r0 = block * 64, r1 = CK_MIN(j->rows, r0 + 64);
    const size_t C = (size_t)j->NH * j->HS;
    for (int r = r0; r < r1; r++) {
        float *row = j->x + (size_t)r * C;
        for (int h = 0; h < j->NH; h++) {
            const float g = j->gates[h];
            if (g == 1.0f) continue;
            float *head = row + (size_t)h * j->HS;
            for (int d = 0; d < j->HS; d++) head[d] = g == 0.0f ? 0.0f : head[d] * g;
        }
    }
}

void ck_scale_heads(float *x, const float *gates, int rows, int NH, int HS) {
    if (rows <= 0 || NH <= 0 || HS <= 0) return;
    scale_heads_job job = {x, gates, rows, NH, HS};
    const int blocks = (rows + 63) / 64;
    ck_parallel_for(blocks, (long)rows * NH * HS > 65536 ? ck_threads_max() : 1, 0, scale_heads_item, &job);
}

typedef struct {
    float *out;
    const float *d_context, *context;
    int T, NH, HS;
    float scale;
} gate_gradients_job;

static void gate_gradients_item(void *context, int item, int thread) {
    (void)thread;
    const gate_gradients_job *j = context;
    const int b = item / j->NH, h = item % j->NH;
    const size_t C = (size_t)j->NH * j->HS;
    double sum = 0.0;
    for (int t = 0; t < j->T; t++) {
        const size_t offset = ((size_t)b * j->T + t) * C + (size_t)h * j->HS;
        const float *dc = j->d_context + offset, *c = j->context + offset;
        for (int d = 0; d < j->HS; d++) sum += (double)dc[d] * (double)c[d];
    }
    j->out[item] = (float)(sum * j->scale);
}

void ck_head_gate_gradients(float *out, const float *d_context, const float *context, int B, int T, int NH, int HS,
                            float scale) {
    if (B <= 0 || NH <= 0) return;
    gate_gradients_job job = {out, d_context, context, T, NH, HS, scale};
    ck_parallel_for(B * NH, (long)B * T * NH * HS > 65536 ? ck_threads_max() : 1, 0, gate_gradients_item, &job);
}
