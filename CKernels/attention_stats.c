// Per-map sums for the attention analyses (Sources/BertologyExperiments/Analysis): one pass over each
// (example, head) probability map of a batch, cropped to the example's real tokens.
//
// Scalar only, on purpose: the work is O(L^2) per map against the O(L^2 * HS) of the attention that
// produced it, and the entropy needs a log per probability, which no SIMD path here provides. The
// column loop is written so the compiler vectorises it; OpenMP spreads the maps over the threads.
#include "internal.h"

#include <math.h>

// MARK: - One map

// map is (T,T), rows = queries; the real tokens are 0..n-1, the second segment starts at `split`
// (n for a single sentence). columns is (2,T): segment-0 rows' column sums, then segment-1 rows'.
static void map_statistics(double *columns, double *entropy, const float *map, int n, int split, int T) {
    for (int j = 0; j < 2 * T; j++) columns[j] = 0.0;
    double total_entropy = 0.0;
    for (int i = 0; i < n; i++) {
        const float *row = map + (size_t)i * T;
        double *sums = columns + (i < split ? 0 : T);
        for (int j = 0; j < n; j++) sums[j] += (double)row[j];
        // -sum p ln p over the real keys; 0 ln 0 = 0 (padding keys are exactly 0 and never read).
        double row_entropy = 0.0;
        for (int j = 0; j < n; j++) {
            float p = row[j];
            if (p > 0.0f) row_entropy -= (double)p * (double)logf(p);
        }
        total_entropy += row_entropy;
    }
    *entropy = total_entropy;
}

// Sums of a*b, a*a and b*b over the first n rows and n columns of two (T,T) maps.
static void map_products(double *out, const float *a, const float *b, int n, int T) {
    double dot = 0.0, aa = 0.0, bb = 0.0;
    for (int i = 0; i < n; i++) {
        const float *ra = a + (size_t)i * T, *rb = b + (size_t)i * T;
        for (int j = 0; j < n; j++) {
            double x = ra[j], y = rb[j];
            dot += x * y;
            aa += x * x;
            bb += y * y;
        }
    }
    out[0] = dot;
    out[1] = aa;
    out[2] = bb;
}

// MARK: - Drivers

void ck_attention_map_statistics(double *column_sums, double *entropy_sums, const float *probs,
                                 const int32_t *lengths, const int32_t *segment_starts, int B, int NH, int T) {
    const long maps = (long)B * NH;
#pragma omp parallel for schedule(dynamic, 4) if (maps * T * T > 65536)
    for (long m = 0; m < maps; m++) {
        const int b = (int)(m / NH);
        map_statistics(column_sums + (size_t)m * 2 * T, entropy_sums + m, probs + (size_t)m * T * T,
                       lengths[b], segment_starts[b], T);
    }
}

void ck_attention_map_products(double *products, const float *a, const float *b, const int32_t *lengths,
                               int crop, int B, int NH, int T) {
    const long maps = (long)B * NH;
#pragma omp parallel for schedule(dynamic, 4) if (maps * T * T > 65536)
    for (long m = 0; m < maps; m++) {
        const int n = crop ? lengths[m / NH] : T;
        map_products(products + (size_t)m * 3, a + (size_t)m * T * T, b + (size_t)m * T * T, n, T);
    }
}
