/* checkpoint.c: per-symbol training state in one small HDF5 file, replaced atomically. */
#include "train/checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"

#define HIST_COLS 7   /* epoch, train_loss, val_loss, lr, grad_norm, seconds, samples_per_s */

static void hist_pack(double *h, const SymbolResult *r) {
    for (int i = 0; i < r->epochs_run; i++) {
        const EpochRecord *q = &r->history[i];
        double row[HIST_COLS] = {q->epoch, q->train_loss, q->val_loss, q->lr, q->grad_norm, q->seconds, q->samples_per_s};
        memcpy(h + (size_t)i * HIST_COLS, row, sizeof row);
    }
}

static int write_state(hid_t f, const Model *m, const TrainState *st, const SymbolResult *r,
                       const char *config_json, DlErr *e) {
    hsize_t np = m->n_params, nb = m->n_buffers, nc = (hsize_t)m->n_counters;
    if (h5u_attr_write_str(f, ".", "format", CKPT_FORMAT, e) || h5u_attr_write_i64(f, ".", "format_version", CKPT_VERSION, e) ||
        h5u_attr_write_str(f, ".", "symbol", r->symbol, e) || h5u_attr_write_str(f, ".", "config", config_json, e) ||
        h5u_attr_write_i64(f, ".", "epoch_done", st->epoch_done, e) || h5u_attr_write_i64(f, ".", "finished", st->finished, e) ||
        h5u_attr_write_i64(f, ".", "adam_t", m->adam_t, e) || h5u_attr_write_f64(f, ".", "train_seconds", st->train_seconds, e) ||
        h5u_attr_write_f64(f, ".", "plateau_lr", st->plateau.lr, e) || h5u_attr_write_f64(f, ".", "plateau_best", st->plateau.best, e) ||
        h5u_attr_write_i64(f, ".", "plateau_num_bad", st->plateau.num_bad, e) ||
        h5u_attr_write_f64(f, ".", "early_best", st->early.best, e) || h5u_attr_write_i64(f, ".", "early_best_epoch", st->early.best_epoch, e) ||
        h5u_attr_write_i64(f, ".", "early_num_bad", st->early.num_bad, e) || h5u_attr_write_i64(f, ".", "early_stop", st->early.stop, e))
        return -1;
    model_sync_host(m); /* device backends: the state comes to the host mirrors */
    if (h5u_write_f32(f, "params", m->host_params, 1, &np, e) || h5u_write_f32(f, "adam_m", m->host_adam_m, 1, &np, e) ||
        h5u_write_f32(f, "adam_v", m->host_adam_v, 1, &np, e) || h5u_write_f32(f, "buffers", m->host_buffers, 1, &nb, e) ||
        h5u_write_i64(f, "counters", m->counters, 1, &nc, e) ||
        h5u_write_f32(f, "best_params", r->best_params, 1, &np, e) || h5u_write_f32(f, "best_buffers", r->best_buffers, 1, &nb, e) ||
        h5u_write_i64(f, "best_counters", r->best_counters, 1, &nc, e))
        return -1;
    hsize_t hd[2] = {(hsize_t)r->epochs_run, HIST_COLS};
    double *h = dl_malloc(sizeof(double) * (size_t)(r->epochs_run + 1) * HIST_COLS);
    hist_pack(h, r);
    int rc = h5u_write_f64(f, "history", h, 2, hd, e);
    free(h);
    return rc;
}

int checkpoint_save(const char *path, const Model *m, const TrainState *st, const SymbolResult *r,
                    const char *config_json, DlErr *e) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    errno = 0;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: cannot create checkpoint%s", tmp, h5u_sys_reason(errno));
    int rc = write_state(f, m, st, r, config_json, e);
    if (h5u_close_file(f) < 0 && rc == 0) rc = dl_err(e, "%s: closing the checkpoint failed%s", tmp, h5u_sys_reason(errno));
    if (rc == 0) rc = dl_commit_file(tmp, path, e);
    else {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        dl_err(e, "%s: %s", tmp, msg);
    }
    if (rc) unlink(tmp);
    return rc;
}

static int read_str(hid_t f, const char *name, char *buf, size_t n, DlErr *e) {
    return h5u_attr_read_str(f, ".", name, buf, n, e);
}

static int read_i(hid_t f, const char *name, int *v, DlErr *e) {
    int64_t x;
    if (h5u_attr_read_i64(f, ".", name, &x, e)) return -1;
    *v = (int)x;
    return 0;
}

int checkpoint_load(const char *path, Model *m, TrainState *st, SymbolResult *r,
                    const char *config_json, DlErr *e) {
    if (access(path, F_OK) != 0) return 0;
    h5u_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: cannot open checkpoint (damaged? delete it to restart the symbol)", path);
    int rc = -1;
    char fmt[64], sym[64];
    size_t cn = strlen(config_json) + 64;
    char *cfg = dl_malloc(cn);
    int64_t ver = 0;
    if (read_str(f, "format", fmt, sizeof fmt, e) || strcmp(fmt, CKPT_FORMAT) != 0 ||
        h5u_attr_read_i64(f, ".", "format_version", &ver, e) || ver != CKPT_VERSION) {
        dl_err(e, "%s: not a version-%d deeplob-mpi checkpoint", path, CKPT_VERSION);
        goto done;
    }
    if (read_str(f, "symbol", sym, sizeof sym, e) || strcmp(sym, r->symbol) != 0) {
        dl_err(e, "%s: checkpoint is for symbol '%s', not '%s'", path, sym, r->symbol);
        goto done;
    }
    if (read_str(f, "config", cfg, cn, e) || strcmp(cfg, config_json) != 0) {
        dl_err(e, "%s: checkpoint was written with a different training config; use a new run "
                  "(or --force to start over)", path);
        goto done;
    }
    if (read_i(f, "epoch_done", &st->epoch_done, e) || read_i(f, "finished", &st->finished, e) ||
        read_i(f, "adam_t", &m->adam_t, e) || h5u_attr_read_f64(f, ".", "train_seconds", &st->train_seconds, e) ||
        h5u_attr_read_f64(f, ".", "plateau_lr", &st->plateau.lr, e) || h5u_attr_read_f64(f, ".", "plateau_best", &st->plateau.best, e) ||
        read_i(f, "plateau_num_bad", &st->plateau.num_bad, e) || h5u_attr_read_f64(f, ".", "early_best", &st->early.best, e) ||
        read_i(f, "early_best_epoch", &st->early.best_epoch, e) || read_i(f, "early_num_bad", &st->early.num_bad, e) ||
        read_i(f, "early_stop", &st->early.stop, e))
        goto wrap;
    if (st->epoch_done < 0 || st->epoch_done > r->epochs_cap) {
        dl_err(e, "epoch_done %d out of range", st->epoch_done);
        goto wrap;
    }
    if (h5u_read_f32(f, "params", m->host_params, m->n_params, path, e) || h5u_read_f32(f, "adam_m", m->host_adam_m, m->n_params, path, e) ||
        h5u_read_f32(f, "adam_v", m->host_adam_v, m->n_params, path, e) || h5u_read_f32(f, "buffers", m->host_buffers, m->n_buffers, path, e) ||
        h5u_read_i64(f, "counters", m->counters, (size_t)m->n_counters, path, e) ||
        h5u_read_f32(f, "best_params", r->best_params, m->n_params, path, e) ||
        h5u_read_f32(f, "best_buffers", r->best_buffers, m->n_buffers, path, e) ||
        h5u_read_i64(f, "best_counters", r->best_counters, (size_t)m->n_counters, path, e))
        goto done;
    double *h = dl_malloc(sizeof(double) * (size_t)(st->epoch_done + 1) * HIST_COLS);
    if (h5u_read_f64(f, "history", h, (size_t)st->epoch_done * HIST_COLS, path, e)) { free(h); goto done; }
    for (int i = 0; i < st->epoch_done; i++) {
        const double *q = h + (size_t)i * HIST_COLS;
        r->history[i] = (EpochRecord){(int)q[0], q[1], q[2], q[3], q[4], q[5], q[6]};
    }
    free(h);
    r->epochs_run = st->epoch_done;
    model_sync_device(m); /* device backends: the loaded state goes over */
    rc = 1;
    goto done;
wrap: {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        dl_err(e, "%s: %s", path, msg);
    }
done:
    free(cfg);
    H5Fclose(f);
    return rc;
}
