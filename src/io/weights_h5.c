#include "weights_h5.h"

#include <math.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"

/* conv dims of an entry: 4-D (O,I,kh,kw) or Conv1d 3-D (O,I,k) */
static void conv_dims(const ParamEntry *p, int *O, int *I, int *kh, int *kw) {
    *O = p->shape[0];
    *I = p->shape[1];
    *kh = p->shape[2];
    *kw = p->ndim == 4 ? p->shape[3] : 1;
}

/* internal (O,kh,kw,I) index <-> PyTorch (O,I,kh,kw) index, one loop for both ways */
static void conv_permute(const ParamEntry *p, const float *in, float *out, int to_torch) {
    if (p->kind != PT_CONV) { memcpy(out, in, p->numel * sizeof(float)); return; }
    int O, I, kh, kw;
    conv_dims(p, &O, &I, &kh, &kw);
    for (int o = 0; o < O; o++)
        for (int h = 0; h < kh; h++)
            for (int w = 0; w < kw; w++)
                for (int i = 0; i < I; i++) {
                    size_t ours = ((size_t)(o * kh + h) * kw + w) * I + i;
                    size_t torch = ((size_t)(o * I + i) * kh + h) * kw + w;
                    if (to_torch) out[torch] = in[ours];
                    else out[ours] = in[torch];
                }
}

void weights_to_torch(const ParamEntry *p, const float *in, float *out) { conv_permute(p, in, out, 1); }
void weights_from_torch(const ParamEntry *p, const float *in, float *out) { conv_permute(p, in, out, 0); }

/* scratch for one tensor in the other layout: as large as the largest entry */
static float *layout_buffer(const Model *m) {
    size_t maxn = 1;
    for (int k = 0; k < m->n_entries; k++)
        if (m->entries[k].numel > maxn) maxn = m->entries[k].numel;
    return dl_malloc(maxn * sizeof(float));
}

int weights_save_h5(const Model *m, hid_t loc, DlErr *e) {
    float *tmp = layout_buffer(m);
    int rc = 0;
    model_sync_host(m); /* device backends: the weights come to the host (entries' host) */
    for (int k = 0; k < m->n_entries && rc == 0; k++) {
        const ParamEntry *p = &m->entries[k];
        if (p->kind == PT_COUNTER) {
            rc = h5u_write_i64(loc, p->name, p->counter, 0, NULL, e);
            continue;
        }
        hsize_t dims[4];
        for (int i = 0; i < p->ndim; i++) dims[i] = (hsize_t)p->shape[i];
        weights_to_torch(p, p->host, tmp);
        rc = h5u_write_f32(loc, p->name, tmp, p->ndim, dims, e);
    }
    free(tmp);
    return rc;
}

typedef struct {
    Model *m;
    char unexpected[128];
} IterCtx;

static herr_t count_links(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    IterCtx *c = data;
    (void)g; (void)info;
    if (!c->unexpected[0] && !model_find(c->m, name)) snprintf(c->unexpected, sizeof c->unexpected, "%s", name);
    return 0;
}

int weights_load_h5(Model *m, hid_t loc, const char *file, DlErr *e) {
    IterCtx ctx = {.m = m};
    hsize_t idx = 0;
    H5Literate(loc, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, count_links, &ctx);
    if (ctx.unexpected[0])
        return dl_err(e, "%s: unexpected tensor '%s' (not in %s's state_dict)", file, ctx.unexpected,
                      model_kind_name(m->cfg.kind));
    float *tmp = layout_buffer(m);
    int rc = 0;
    model_sync_host(m); /* device backends: what the file does not set (Adam state) stays as it is */
    for (int k = 0; k < m->n_entries && rc == 0; k++) {
        ParamEntry *p = &m->entries[k];
        hsize_t dims[8];
        int r = h5u_dims(loc, p->name, dims, 8, file, e);
        if (r < 0) { rc = -1; break; }
        int ok = r == p->ndim;
        for (int i = 0; ok && i < r; i++) ok = dims[i] == (hsize_t)p->shape[i];
        if (!ok) {
            char got[96] = "", want[96] = "";
            for (int i = 0; i < r; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
            for (int i = 0; i < p->ndim; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? "," : "", p->shape[i]);
            rc = dl_err(e, "%s: tensor '%s' has shape (%s), expected (%s)", file, p->name, got, want);
            break;
        }
        if (p->kind == PT_COUNTER) {
            rc = h5u_read_i64(loc, p->name, p->counter, 1, file, e);
            continue;
        }
        if ((rc = h5u_read_f32(loc, p->name, tmp, p->numel, file, e)) != 0) break;
        for (size_t i = 0; i < p->numel; i++)
            if (!isfinite(tmp[i])) { rc = dl_err(e, "%s: tensor '%s' has a non-finite value at flat index %zu", file, p->name, i); break; }
        if (rc == 0) weights_from_torch(p, tmp, p->host);
    }
    free(tmp);
    if (rc == 0) model_sync_device(m); /* device backends: the loaded weights go over */
    return rc;
}

int weights_save_file(const Model *m, const char *path, DlErr *e) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    h5u_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: cannot create", tmp);
    int rc = weights_save_h5(m, f, e);
    if (rc == 0) rc = h5u_attr_write_str(f, ".", "model", model_kind_name(m->cfg.kind), e);
    if (h5u_close_file(f) < 0 && rc == 0) rc = dl_err(e, "%s: close failed%s", tmp, h5u_sys_reason(errno));
    if (rc == 0) rc = dl_commit_file(tmp, path, e);
    if (rc != 0) unlink(tmp);
    return rc;
}

int weights_load_file(Model *m, const char *path, DlErr *e) {
    h5u_quiet();
    if (access(path, R_OK) != 0) return dl_err(e, "%s: cannot read weights file", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: not an HDF5 file (or truncated/corrupt)", path);
    int rc = weights_load_h5(m, f, path, e);
    H5Fclose(f);
    return rc;
}
