/* loss.c: CPU Huber loss (PyTorch HuberLoss, reduction mean).
 * n is a batch of predictions (thousands at most): one thread, index order,
 * double accumulator, hence deterministic. Element arithmetic in elementwise.h. */
#include "../../common/util.h"
#include "elementwise.h"
#include "layers_cpu.h"

/* returns mean_i huber(pred_i - target_i); dpred (n) = weight * dL/dpred
 * = weight * clamp(d, -delta, delta) / n (dpred may be NULL: loss only);
 * pred, target (n) */
float huber_loss_cpu(float *dpred, const float *pred, const float *target, int n, float delta, float weight) {
    DL_CHECK(n > 0 && delta > 0.0f, "huber_loss: n=%d delta=%g", n, (double)delta);
    const float g = (float)((double)weight / (double)n); /* weight * d(mean)/d(element) */
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        float d = pred[i] - target[i];
        sum += (double)dl_huber_elem(d, delta);
        if (dpred) dpred[i] = g * dl_huber_grad(d, delta);
    }
    return (float)(sum / (double)n);
}
