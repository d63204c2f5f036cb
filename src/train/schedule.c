/* schedule.c: see schedule.h for the exact rules. */
#include "train/schedule.h"

#include <math.h>

void plateau_init(Plateau *p, double lr, double factor, int patience, double threshold) {
    p->lr = lr;
    p->factor = factor;
    p->threshold = threshold;
    p->min_lr = 0.0;
    p->eps = 1e-8;
    p->patience = patience;
    p->best = INFINITY;
    p->num_bad = 0;
}

int plateau_step(Plateau *p, double val_loss) {
    if (val_loss < p->best * (1.0 - p->threshold)) { /* false for NaN */
        p->best = val_loss;
        p->num_bad = 0;
    } else {
        p->num_bad++;
    }
    if (p->num_bad > p->patience) {
        double nl = fmax(p->lr * p->factor, p->min_lr);
        int reduced = 0;
        if (p->lr - nl > p->eps) { p->lr = nl; reduced = 1; }
        p->num_bad = 0;   /* PyTorch resets after the cooldown branch, reduced or not */
        return reduced;
    }
    return 0;
}

void early_init(EarlyStop *s, int patience) {
    s->patience = patience;
    s->best = INFINITY;
    s->best_epoch = -1;
    s->num_bad = 0;
    s->stop = 0;
}

int early_step(EarlyStop *s, double val_loss, int epoch) {
    int improved = val_loss < s->best;
    if (improved) {
        s->best = val_loss;
        s->best_epoch = epoch;
        s->num_bad = 0;
    } else {
        s->num_bad++;
    }
    if (s->num_bad >= s->patience) s->stop = 1;
    return improved;
}
