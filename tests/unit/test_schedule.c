/* test_schedule.c: LR plateau (vs PyTorch 1.13 ReduceLROnPlateau, recorded below)
 * and early stopping / best tracking (hand-worked). */
#include <math.h>
#include <stdio.h>

#include "train/schedule.h"

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fails++; } } while (0)

int main(void) {
    /* torch.optim.lr_scheduler.ReduceLROnPlateau(opt, 'min', factor=0.5, patience=2,
     * threshold=0.1) stepped with this sequence gave these learning rates (torch 1.13) */
    const double seq[] = {1.0, 0.95, 0.91, 0.92, 0.5, 0.46, 0.455, 0.47, 0.41, 0.40, NAN, 0.39, 0.38, 0.38, 0.2};
    const double torch_lr[] = {1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125};
    Plateau p;
    plateau_init(&p, 1.0, 0.5, 2, 0.1);
    printf("plateau (factor 0.5, patience 2, rel threshold 0.1) vs PyTorch:\n");
    for (int i = 0; i < 15; i++) {
        plateau_step(&p, seq[i]);
        printf("  step %2d loss %-6g lr %-6g (torch %g)\n", i, seq[i], p.lr, torch_lr[i]);
        CHECK(p.lr == torch_lr[i], "step %d: lr %g != torch %g", i, p.lr, torch_lr[i]);
    }
    /* the project's defaults: patience 3 -> the 4th epoch in a row without a rel. 1e-4
     * improvement halves the LR; an improvement smaller than the threshold does not count */
    plateau_init(&p, 1e-3, 0.5, 3, 1e-4);
    int red[8];
    const double s2[] = {1.0, 0.99995, 0.99999, 1.2, 1.0, 0.5, 0.5, 0.5};
    for (int i = 0; i < 8; i++) red[i] = plateau_step(&p, s2[i]);
    CHECK(!red[0] && !red[1] && !red[2] && !red[3] && red[4], "reduction expected at the 5th step only (got %d%d%d%d%d)",
          red[0], red[1], red[2], red[3], red[4]);
    CHECK(fabs(p.lr - 5e-4) < 1e-15, "lr %g, expected 5e-4", p.lr);
    CHECK(p.best == 0.5 && p.num_bad == 2, "best %g num_bad %d", p.best, p.num_bad);
    /* lr floor: reductions smaller than eps=1e-8 are not applied */
    plateau_init(&p, 1.5e-8, 0.5, 0, 0.0);
    plateau_step(&p, 1.0);
    plateau_step(&p, 2.0);
    CHECK(p.lr == 1.5e-8, "tiny lr changed to %g (PyTorch keeps it: old-new <= eps)", p.lr);

    /* early stopping: patience 2, strict improvement, best epoch tracked */
    EarlyStop es;
    early_init(&es, 2);
    const double v[] = {1.0, 0.8, 0.8, 0.7, 0.75, 0.71};
    const int imp_exp[] = {1, 1, 0, 1, 0, 0};
    const int stop_exp[] = {0, 0, 0, 0, 0, 1};
    printf("early stopping (patience 2):\n");
    for (int i = 0; i < 6; i++) {
        int imp = early_step(&es, v[i], i + 1);
        printf("  epoch %d val %g improved %d stop %d best_epoch %d\n", i + 1, v[i], imp, es.stop, es.best_epoch);
        CHECK(imp == imp_exp[i], "epoch %d improved %d expected %d", i + 1, imp, imp_exp[i]);
        CHECK(es.stop == stop_exp[i], "epoch %d stop %d expected %d", i + 1, es.stop, stop_exp[i]);
    }
    CHECK(es.best_epoch == 4 && es.best == 0.7, "best epoch %d (4) best %g (0.7)", es.best_epoch, es.best);
    early_init(&es, 1);
    CHECK(!early_step(&es, NAN, 1) && es.stop && es.best_epoch == -1, "NaN val loss must not count as best");

    printf(fails ? "test_schedule: %d FAILED\n" : "test_schedule: all passed\n", fails);
    return fails ? 1 : 0;
}
