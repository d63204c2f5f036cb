/* blocks.c: the building blocks the DeepLOB models share: conv(+BN+LeakyReLU)
 * stages, the CNN + inception front end, TCN residual blocks, the regression
 * head. Each has decl (layout), forward and backward; all ops go through the
 * backend table. */
#include <string.h>

#include "../common/util.h"
#include "model_impl.h"

/* ---- conv (+ BN) stage -------------------------------------------------------------- */
void convbn_decl(Layout *L, ConvBN *s, const char *cname, const char *bname, ConvDims cd, int init,
                 float *out_buf, int out_ld) {
    const Model *m = L->m;
    char n[96];
    memset(s, 0, sizeof *s);
    cd.B = m->max_batch;
    if (!cd.in_ld) cd.in_ld = cd.Cin;
    cd.out_ld = cd.Cout;
    if (!cd.stride_h) cd.stride_h = 1;
    if (!cd.stride_w) cd.stride_w = 1;
    if (!cd.dil_h) cd.dil_h = 1;
    s->cd = cd;
    s->Ho = conv_out_h(cd);
    s->Wo = conv_out_w(cd);
    int fan_in = cd.Cin * cd.kh * cd.kw;
    /* Conv1d weights (W == 1 models' TCN) are 3-D in PyTorch, Conv2d 4-D */
    int conv1d = (cd.W == 1 && cd.kw == 1 && init == INIT_KAIMING_NORMAL);
    int shape4[4] = {cd.Cout, cd.Cin, cd.kh, cd.kw};
    snprintf(n, sizeof n, "%s.weight", cname);
    s->w = decl_param(L, n, conv1d ? 3 : 4, shape4, PT_CONV, init, fan_in, &s->gw);
    snprintf(n, sizeof n, "%s.bias", cname);
    s->b = decl_param(L, n, 1, &cd.Cout, PT_PLAIN, INIT_UNIFORM_FAN_IN, fan_in, &s->gb);
    size_t rows = (size_t)m->max_batch * s->Ho * s->Wo;
    s->y = decl_act(L, rows * cd.Cout);
    need_scratch(L, m->be->conv2d_scratch_floats(cd, L->threads));
    int external = out_ld > 0;  /* a goes into a caller's (strided) buffer; out_buf is NULL while measuring */
    int ld = external ? out_ld : cd.Cout;
    if (bname) {
        s->has_bn = 1;
        snprintf(n, sizeof n, "%s.weight", bname);
        s->gamma = decl_param(L, n, 1, &cd.Cout, PT_PLAIN, INIT_ONES, 1, &s->ggamma);
        snprintf(n, sizeof n, "%s.bias", bname);
        s->beta = decl_param(L, n, 1, &cd.Cout, PT_PLAIN, INIT_ZEROS, 1, &s->gbeta);
        snprintf(n, sizeof n, "%s.running_mean", bname);
        s->rmean = decl_buffer(L, n, cd.Cout, INIT_ZEROS);
        snprintf(n, sizeof n, "%s.running_var", bname);
        s->rvar = decl_buffer(L, n, cd.Cout, INIT_ONES);
        snprintf(n, sizeof n, "%s.num_batches_tracked", bname);
        s->nbt = decl_counter(L, n);
        s->a = external ? out_buf : decl_act(L, rows * cd.Cout);
        s->mean = decl_act(L, cd.Cout);
        s->rstd = decl_act(L, cd.Cout);
        BNDims bd = {.rows = (int)rows, .C = cd.Cout, .x_ld = cd.Cout, .y_ld = ld, .eps = m->cfg.bn_eps,
                     .momentum = m->cfg.bn_momentum, .slope = m->cfg.slope, .accumulate_dx = 0};
        s->bd = bd;
        need_scratch(L, m->be->batchnorm_scratch_floats(bd));
    } else {
        DL_CHECK(!external, "conv without BN writes its own buffer");
        s->a = s->y;  /* optional LeakyReLU runs in place */
    }
}

void convbn_forward(const Model *m, ConvBN *s, const float *x, int B, int training) {
    const Backend *be = m->be;
    ConvDims cd = s->cd;
    cd.B = B;
    sh_conv_forward(m, s->y, x, s->w, s->b, cd, training);
    int rows = B * s->Ho * s->Wo;
    if (s->has_bn) {
        BNDims bd = s->bd;
        bd.rows = rows;
        sh_bn_forward(m, s->a, s->mean, s->rstd, s->rmean, s->rvar, s->y, s->gamma, s->beta, bd, training, B);
        if (training) (*s->nbt)++;
    } else if (s->leaky_no_bn) {
        be->leaky_forward(s->a, s->y, rows, cd.Cout, cd.Cout, cd.Cout, m->cfg.slope);
    }
}

void convbn_backward(const Model *m, ConvBN *s, const float *x, const float *da, float *dy_tmp, float *dx,
                     int B) {
    const Backend *be = m->be;
    int rows = B * s->Ho * s->Wo;
    const float *dy = da;
    if (s->has_bn) {
        BNDims bd = s->bd;
        bd.rows = rows;
        bd.accumulate_dx = 0;
        sh_bn_backward(m, dy_tmp, s->ggamma, s->gbeta, da, s->a, s->y, s->gamma, s->beta, s->mean, s->rstd, bd, B);
        dy = dy_tmp;
    } else if (s->leaky_no_bn) {
        int C = s->cd.Cout;
        be->leaky_backward(dy_tmp, da, s->a, rows, C, C, C, C, m->cfg.slope, 0);
        dy = dy_tmp;
    }
    ConvDims cd = s->cd;
    cd.B = B;
    sh_conv_backward(m, dx, s->gw, s->gb, dy, x, s->w, cd);
}

static double convbn_flops(const ConvBN *s) {
    return 2.0 * s->Ho * s->Wo * s->cd.Cout * (double)s->cd.kh * s->cd.kw * s->cd.Cin;
}

/* ---- Linear ---------------------------------------------------------------------- */
void lin_decl(Layout *L, Lin *l, const char *name, int I, int O) {
    char n[96];
    int shape[2] = {O, I};
    snprintf(n, sizeof n, "%s.weight", name);
    l->w = decl_param(L, n, 2, shape, PT_PLAIN, INIT_UNIFORM_FAN_IN, I, &l->gw);
    snprintf(n, sizeof n, "%s.bias", name);
    l->b = decl_param(L, n, 1, &O, PT_PLAIN, INIT_UNIFORM_FAN_IN, I, &l->gb);
    LinearDims d = {.N = L->m->max_batch, .I = I, .O = O, .x_ld = I, .y_ld = O, .accumulate_dx = 0};
    l->d = d;
    need_scratch(L, L->m->be->linear_scratch_floats(d, L->threads));
}

/* ---- front end ----------------------------------------------------------------------- */
void frontend_decl(Layout *L, FrontEnd *f, int T, int F) {
    const Model *m = L->m;
    DL_CHECK(F == 40, "the DeepLOB front end needs 40 features (got %d)", F);
    size_t B = (size_t)m->max_batch;
    int U = INIT_UNIFORM_FAN_IN;
    f->T = T;
    f->Tp = T - 12;
    ConvDims d;
#define CD(H_, W_, Ci, Co, KH, KW, SW, PT, PB) \
    (d = (ConvDims){.H = (H_), .W = (W_), .Cin = (Ci), .Cout = (Co), .kh = (KH), .kw = (KW), .stride_h = 1, \
                    .stride_w = (SW), .dil_h = 1, .pad_top = (PT), .pad_bottom = (PB)})
    convbn_decl(L, &f->c1a, "conv1a", "bn1a", CD(T, 40, 1, 32, 1, 2, 2, 0, 0), U, NULL, 0);
    convbn_decl(L, &f->c1b, "conv1b", "bn1b", CD(T, 20, 32, 32, 4, 1, 1, 0, 0), U, NULL, 0);
    convbn_decl(L, &f->c1c, "conv1c", "bn1c", CD(T - 3, 20, 32, 32, 4, 1, 1, 0, 0), U, NULL, 0);
    convbn_decl(L, &f->c2a, "conv2a", "bn2a", CD(T - 6, 20, 32, 32, 1, 2, 2, 0, 0), U, NULL, 0);
    convbn_decl(L, &f->c2b, "conv2b", "bn2b", CD(T - 6, 10, 32, 32, 4, 1, 1, 0, 0), U, NULL, 0);
    convbn_decl(L, &f->c2c, "conv2c", "bn2c", CD(T - 9, 10, 32, 32, 4, 1, 1, 0, 0), U, NULL, 0);
    convbn_decl(L, &f->c3a, "conv3a", "bn3a", CD(T - 12, 10, 32, 32, 1, 10, 1, 0, 0), U, NULL, 0);
    int Tp = f->Tp;
    f->concat = decl_act(L, B * Tp * 256);
    convbn_decl(L, &f->i1, "inception1", "bn_inc1", CD(Tp, 1, 32, 64, 1, 1, 1, 0, 0), U, f->concat, 256);
    convbn_decl(L, &f->i2a, "inception2a", NULL, CD(Tp, 1, 32, 64, 1, 1, 1, 0, 0), U, NULL, 0);
    convbn_decl(L, &f->i2b, "inception2b", "bn_inc2", CD(Tp, 1, 64, 64, 3, 1, 1, 1, 1), U, L->measuring ? NULL : f->concat + 64, 256);
    convbn_decl(L, &f->i3a, "inception3a", NULL, CD(Tp, 1, 32, 64, 1, 1, 1, 0, 0), U, NULL, 0);
    convbn_decl(L, &f->i3b, "inception3b", "bn_inc3", CD(Tp, 1, 64, 64, 5, 1, 1, 2, 2), U, L->measuring ? NULL : f->concat + 128, 256);
    convbn_decl(L, &f->i4, "inception4_conv", "bn_inc4", CD(Tp, 1, 32, 64, 1, 1, 1, 0, 0), U, L->measuring ? NULL : f->concat + 192, 256);
#undef CD
    f->i2a.leaky_no_bn = f->i3a.leaky_no_bn = 1;
    /* gradients of the inception branches all flow into g_a3a */
    f->i1.cd.accumulate_din = f->i2a.cd.accumulate_din = f->i3a.cd.accumulate_din = 1;
    PoolDims pd = {.B = m->max_batch, .H = Tp, .W = 1, .C = 32, .x_ld = 32, .y_ld = 32, .accumulate_dx = 0};
    f->pool = pd;
    f->pooled = decl_act(L, B * Tp * 32);
    f->g_concat = decl_act(L, B * Tp * 256);
    f->g_a3a = decl_act(L, B * Tp * 32);
    f->g_pooled = decl_act(L, B * Tp * 32);
    f->g_branch = decl_act(L, B * Tp * 64);
    f->g_tmp = decl_act(L, B * Tp * 64);
    size_t big = B * T * 20 * 32;  /* largest CNN activation */
    f->g_big0 = decl_act(L, big);
    f->g_big1 = decl_act(L, big);
}

void frontend_forward(const Model *m, FrontEnd *f, const float *x, int B, int training) {
    convbn_forward(m, &f->c1a, x, B, training);
    convbn_forward(m, &f->c1b, f->c1a.a, B, training);
    convbn_forward(m, &f->c1c, f->c1b.a, B, training);
    convbn_forward(m, &f->c2a, f->c1c.a, B, training);
    convbn_forward(m, &f->c2b, f->c2a.a, B, training);
    convbn_forward(m, &f->c2c, f->c2b.a, B, training);
    convbn_forward(m, &f->c3a, f->c2c.a, B, training);
    const float *a3 = f->c3a.a;
    convbn_forward(m, &f->i1, a3, B, training);
    convbn_forward(m, &f->i2a, a3, B, training);
    convbn_forward(m, &f->i2b, f->i2a.a, B, training);
    convbn_forward(m, &f->i3a, a3, B, training);
    convbn_forward(m, &f->i3b, f->i3a.a, B, training);
    PoolDims pd = f->pool;
    pd.B = B;
    m->be->maxpool3_forward(f->pooled, a3, pd);
    convbn_forward(m, &f->i4, f->pooled, B, training);
}

void frontend_backward(const Model *m, FrontEnd *f, const float *x, int B) {
    const float *a3 = f->c3a.a;
    const float *gc = f->g_concat;
    /* branch 4 first: the pool backward overwrites g_a3a, the others accumulate */
    convbn_backward(m, &f->i4, f->pooled, gc + 192, f->g_tmp, f->g_pooled, B);
    PoolDims pd = f->pool;
    pd.B = B;
    m->be->maxpool3_backward(f->g_a3a, f->g_pooled, a3, pd);
    convbn_backward(m, &f->i3b, f->i3a.a, gc + 128, f->g_tmp, f->g_branch, B);
    convbn_backward(m, &f->i3a, a3, f->g_branch, f->g_tmp, f->g_a3a, B);
    convbn_backward(m, &f->i2b, f->i2a.a, gc + 64, f->g_tmp, f->g_branch, B);
    convbn_backward(m, &f->i2a, a3, f->g_branch, f->g_tmp, f->g_a3a, B);
    convbn_backward(m, &f->i1, a3, gc, f->g_tmp, f->g_a3a, B);
    /* CNN chain: gradient wrt each stage's output lives in g_big1, BN's dy in g_big0 */
    float *g = f->g_big1, *t = f->g_big0;
    convbn_backward(m, &f->c3a, f->c2c.a, f->g_a3a, t, g, B);
    convbn_backward(m, &f->c2c, f->c2b.a, g, t, g, B);
    convbn_backward(m, &f->c2b, f->c2a.a, g, t, g, B);
    convbn_backward(m, &f->c2a, f->c1c.a, g, t, g, B);
    convbn_backward(m, &f->c1c, f->c1b.a, g, t, g, B);
    convbn_backward(m, &f->c1b, f->c1a.a, g, t, g, B);
    convbn_backward(m, &f->c1a, x, g, t, NULL, B);
}

double frontend_flops(const FrontEnd *f) {
    const ConvBN *s[] = {&f->c1a, &f->c1b, &f->c1c, &f->c2a, &f->c2b, &f->c2c, &f->c3a,
                         &f->i1,  &f->i2a, &f->i2b, &f->i3a, &f->i3b, &f->i4};
    double n = 0;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) n += convbn_flops(s[i]);
    return n;
}

/* ---- TCN ------------------------------------------------------------------------------ */
void tcn_decl(Layout *L, TCN *t, const char *prefix, int n_blocks, int T, int Cin) {
    const Model *m = L->m;
    DL_CHECK(n_blocks <= TCN_MAX_BLOCKS, "too many TCN blocks");
    size_t BT = (size_t)m->max_batch * T;
    int p = m->cfg.dropout > 0;
    char c1[96], b1[96], c2[96], b2[96], rs[96];
    t->n = n_blocks;
    t->T = T;
    t->Cin = Cin;
    for (int i = 0; i < n_blocks; i++) {
        TCNBlock *k = &t->blk[i];
        int d = 1 << i, cin = i == 0 ? Cin : 64;
        k->dil = d;
        k->Cin = cin;
        snprintf(c1, sizeof c1, "%s.%d.conv1", prefix, i);
        snprintf(b1, sizeof b1, "%s.%d.bn1", prefix, i);
        snprintf(c2, sizeof c2, "%s.%d.conv2", prefix, i);
        snprintf(b2, sizeof b2, "%s.%d.bn2", prefix, i);
        snprintf(rs, sizeof rs, "%s.%d.residual", prefix, i);
        ConvDims cd = {.H = T, .W = 1, .Cin = cin, .Cout = 64, .kh = 3, .kw = 1, .dil_h = d, .pad_top = 2 * d};
        convbn_decl(L, &k->conv1, c1, b1, cd, INIT_KAIMING_NORMAL, NULL, 0);
        cd.Cin = 64;
        convbn_decl(L, &k->conv2, c2, b2, cd, INIT_KAIMING_NORMAL, NULL, 0);
        k->conv2.bd.slope = 1.0f;  /* bn2 has no activation before the residual add */
        k->has_res = cin != 64;
        if (k->has_res) {
            ConvDims rd = {.H = T, .W = 1, .Cin = cin, .Cout = 64, .kh = 1, .kw = 1};
            convbn_decl(L, &k->res, rs, NULL, rd, INIT_KAIMING_NORMAL, NULL, 0);
        }
        k->d1 = p ? decl_act(L, BT * 64) : k->conv1.a;
        k->d2 = p ? decl_act(L, BT * 64) : k->conv2.a;
        k->m1 = p ? decl_mask(L, BT * 64) : NULL;
        k->m2 = p ? decl_mask(L, BT * 64) : NULL;
        k->out = decl_act(L, BT * 64);
    }
    t->gA = decl_act(L, BT * 64);
    t->gB = decl_act(L, BT * 64);
    t->gs = decl_act(L, BT * 64);
    t->t1 = decl_act(L, BT * 64);
    t->t2 = decl_act(L, BT * 64);
    t->g_in = NULL;  /* set by the model: where dL/d(TCN input) goes, (B,T,Cin) */
}

void tcn_forward(const Model *m, TCN *t, const float *x, int B, int training, uint64_t key) {
    const Backend *be = m->be;
    size_t n = (size_t)B * t->T * 64;
    float p = m->cfg.dropout;
    int drop = training && p > 0;
    const float *in = x;
    for (int i = 0; i < t->n; i++) {
        TCNBlock *k = &t->blk[i];
        convbn_forward(m, &k->conv1, in, B, training);
        const float *h1 = k->conv1.a;
        if (drop) { sh_dropout_forward(m, k->d1, k->m1, h1, n, p, layer_key(key, 2 * i), B); h1 = k->d1; }
        convbn_forward(m, &k->conv2, h1, B, training);
        const float *h2 = k->conv2.a;
        if (drop) { sh_dropout_forward(m, k->d2, k->m2, h2, n, p, layer_key(key, 2 * i + 1), B); h2 = k->d2; }
        const float *r = in;
        if (k->has_res) { convbn_forward(m, &k->res, in, B, training); r = k->res.y; }
        be->add(k->out, h2, r, n);
        be->leaky_forward(k->out, k->out, B * t->T, 64, 64, 64, m->cfg.slope);
        in = k->out;
    }
}

void tcn_backward(const Model *m, TCN *t, const float *x, const float *g_out, int B) {
    const Backend *be = m->be;
    size_t n = (size_t)B * t->T * 64;
    int rows = B * t->T;
    int drop = m->cfg.dropout > 0;
    float p = m->cfg.dropout;
    const float *go = g_out;  /* dL/d(block output) */
    for (int i = t->n - 1; i >= 0; i--) {
        TCNBlock *k = &t->blk[i];
        const float *in = i == 0 ? x : t->blk[i - 1].out;
        const float *h1 = drop ? k->d1 : k->conv1.a;
        float *gx = i == 0 ? t->g_in : (go == t->gA ? t->gB : t->gA);  /* dL/d(block input) */
        /* out = LeakyReLU(branch + residual): gs = dL/d(sum), shared by both paths */
        be->leaky_backward(t->gs, go, k->out, rows, 64, 64, 64, 64, m->cfg.slope, 0);
        k->conv1.cd.accumulate_din = k->has_res;
        if (k->has_res) {
            k->res.cd.accumulate_din = 0;
            convbn_backward(m, &k->res, in, t->gs, NULL, gx, B);
        }
        const float *gd2 = t->gs;
        if (drop) { be->dropout_backward(t->t1, t->gs, k->m2, n, p); gd2 = t->t1; }
        /* BN2 reads gd2 before conv2 overwrites t1 with dL/dh1 */
        convbn_backward(m, &k->conv2, h1, gd2, t->t2, t->t1, B);
        const float *ga1 = t->t1;
        if (drop) { be->dropout_backward(t->t2, t->t1, k->m1, n, p); ga1 = t->t2; }
        convbn_backward(m, &k->conv1, in, ga1, ga1 == t->t1 ? t->t2 : t->t1, gx, B);
        if (!k->has_res) be->accumulate(gx, t->gs, (size_t)rows * k->Cin);  /* identity residual */
        go = gx;
    }
}

double tcn_flops(const TCN *t) {
    double n = 0;
    for (int i = 0; i < t->n; i++) {
        n += convbn_flops(&t->blk[i].conv1) + convbn_flops(&t->blk[i].conv2);
        if (t->blk[i].has_res) n += convbn_flops(&t->blk[i].res);
    }
    return n;
}

/* ---- regression head ---------------------------------------------------------------- */
void head_decl(Layout *L, Head *h, const char *fc1, const char *bn, const char *fc2) {
    const Model *m = L->m;
    size_t B = (size_t)m->max_batch;
    char n[96];
    int C = 64;
    lin_decl(L, &h->fc1, fc1, 64, 64);
    snprintf(n, sizeof n, "%s.weight", bn);
    h->gamma = decl_param(L, n, 1, &C, PT_PLAIN, INIT_ONES, 1, &h->ggamma);
    snprintf(n, sizeof n, "%s.bias", bn);
    h->beta = decl_param(L, n, 1, &C, PT_PLAIN, INIT_ZEROS, 1, &h->gbeta);
    snprintf(n, sizeof n, "%s.running_mean", bn);
    h->rmean = decl_buffer(L, n, C, INIT_ZEROS);
    snprintf(n, sizeof n, "%s.running_var", bn);
    h->rvar = decl_buffer(L, n, C, INIT_ONES);
    snprintf(n, sizeof n, "%s.num_batches_tracked", bn);
    h->nbt = decl_counter(L, n);
    lin_decl(L, &h->fc2, fc2, 64, 1);
    BNDims bd = {.rows = (int)B, .C = 64, .x_ld = 64, .y_ld = 64, .eps = m->cfg.bn_eps,
                 .momentum = m->cfg.bn_momentum, .slope = m->cfg.slope};
    h->bd = bd;
    need_scratch(L, m->be->batchnorm_scratch_floats(bd));
    h->y1 = decl_act(L, B * 64);
    h->a1 = decl_act(L, B * 64);
    h->d1 = decl_act(L, B * 64);
    h->mean = decl_act(L, 64);
    h->rstd = decl_act(L, 64);
    h->g_a1 = decl_act(L, B * 64);
    h->g_y1 = decl_act(L, B * 64);
    h->g_d1 = decl_act(L, B * 64);
    h->mask = decl_mask(L, B * 64);
}

void head_forward(const Model *m, Head *h, const float *x, int x_ld, float *out, int out_ld, int B,
                  int training, uint64_t key) {
    LinearDims d1 = h->fc1.d;
    d1.N = B;
    d1.x_ld = x_ld;
    sh_linear_forward(m, h->y1, x, h->fc1.w, h->fc1.b, d1, B, training);
    BNDims bd = h->bd;
    bd.rows = B;
    sh_bn_forward(m, h->a1, h->mean, h->rstd, h->rmean, h->rvar, h->y1, h->gamma, h->beta, bd, training, B);
    if (training) (*h->nbt)++;
    const float *a = h->a1;
    if (training && m->cfg.dropout > 0) {
        sh_dropout_forward(m, h->d1, h->mask, h->a1, (size_t)B * 64, m->cfg.dropout, key, B);
        a = h->d1;
    }
    LinearDims d2 = h->fc2.d;
    d2.N = B;
    d2.y_ld = out_ld;
    sh_linear_forward(m, out, a, h->fc2.w, h->fc2.b, d2, B, training);
}

void head_backward(const Model *m, Head *h, const float *x, int x_ld, const float *dout, int dout_ld,
                   float *dx, int dx_ld, int B) {
    const Backend *be = m->be;
    int drop = m->cfg.dropout > 0;
    const float *a = drop ? h->d1 : h->a1;
    LinearDims d2 = h->fc2.d;
    d2.N = B;
    d2.y_ld = dout_ld;
    d2.accumulate_dx = 0;
    sh_linear_backward(m, h->g_d1, h->fc2.gw, h->fc2.gb, dout, a, h->fc2.w, d2, B);
    const float *ga = h->g_d1;
    if (drop) { be->dropout_backward(h->g_a1, h->g_d1, h->mask, (size_t)B * 64, m->cfg.dropout); ga = h->g_a1; }
    BNDims bd = h->bd;
    bd.rows = B;
    bd.accumulate_dx = 0;
    sh_bn_backward(m, h->g_y1, h->ggamma, h->gbeta, ga, h->a1, h->y1, h->gamma, h->beta, h->mean, h->rstd, bd, B);
    LinearDims d1 = h->fc1.d;
    d1.N = B;
    d1.x_ld = x_ld;
    d1.accumulate_dx = 0;
    DL_CHECK(dx_ld == x_ld, "head_backward: dx must have the layout of x");
    sh_linear_backward(m, dx, h->fc1.gw, h->fc1.gb, h->g_y1, x, h->fc1.w, d1, B);
}
