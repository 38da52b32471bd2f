// The fine-tuning losses with their gradients, the mean over the batch as torch's CrossEntropyLoss
// and MSELoss. B x NL values per step: scalar, serial, and in double (the loss is what the training
// log and the NaN check read; the gradients are rounded to float once, at the end).
#include "internal.h"

#include <math.h>

double ck_cross_entropy_forward_backward(float *d_logits, const float *logits, const int32_t *labels, int B,
                                         int NL) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * NL;
        float *d = d_logits + (size_t)b * NL;
        double maximum = -INFINITY;
        for (int j = 0; j < NL; j++) maximum = fmax(maximum, (double)x[j]);
        double sum = 0.0;
        for (int j = 0; j < NL; j++) sum += exp((double)x[j] - maximum);
        const double log_sum = maximum + log(sum);
        const int y = labels[b];
        total += log_sum - (double)x[y];
        for (int j = 0; j < NL; j++)
            d[j] = (float)((exp((double)x[j] - log_sum) - (j == y ? 1.0 : 0.0)) / (double)B);
    }
    return B > 0 ? total / (double)B : 0.0;
}

double ck_mse_forward_backward(float *d_predictions, const float *predictions, const float *targets, int B) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const double difference = (double)predictions[b] - (double)targets[b];
        total += difference * difference;
        d_predictions[b] = (float)(2.0 * difference / (double)B);
    }
    return B > 0 ? total / (double)B : 0.0;
}
