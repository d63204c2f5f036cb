/* schedule.h: LR halving on plateau, early stopping, best tracking (pure).
 *
 * Plateau follows PyTorch ReduceLROnPlateau(mode='min', threshold_mode='rel',
 * cooldown=0, min_lr=0, eps=1e-8) exactly:
 *   better  <=> loss < best * (1 - threshold)
 *   better: best = loss, bad = 0;  else bad += 1
 *   bad > patience: new = lr * factor; if lr - new > eps: lr = new; bad = 0
 * (so with patience 3 the LR drops on the 4th epoch in a row without improvement).
 * A NaN loss never counts as better.
 *
 * Early stopping (the seed's rule): improved <=> loss < best (strict, no threshold);
 * improved: best = loss, best_epoch = epoch, bad = 0, the caller saves the weights;
 * else bad += 1 and stop when bad >= patience. */
#ifndef DL_TRAIN_SCHEDULE_H
#define DL_TRAIN_SCHEDULE_H

typedef struct {
    double lr;
    double factor, threshold, min_lr, eps;
    int patience;
    double best;     /* +inf initially */
    int num_bad;
} Plateau;

void plateau_init(Plateau *p, double lr, double factor, int patience, double threshold);
/* after each epoch's validation loss; returns 1 if the LR was reduced */
int plateau_step(Plateau *p, double val_loss);

typedef struct {
    int patience;
    double best;     /* +inf initially */
    int best_epoch;  /* -1 until the first improvement; epochs count from 1 */
    int num_bad;
    int stop;
} EarlyStop;

void early_init(EarlyStop *s, int patience);
/* returns 1 when this epoch is the new best (save its weights); sets s->stop */
int early_step(EarlyStop *s, double val_loss, int epoch);

#endif
