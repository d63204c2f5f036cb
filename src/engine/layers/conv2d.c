/* conv2d.c: CPU Conv2d (and Conv1d as W=1, kw=1) as GEMMs on our register-blocked kernels.
 *
 * Layout (backend.h): in (B,H,W,Cin) rows of stride in_ld, w (Cout,kh,kw,Cin) = a
 * (Cout, K) matrix with K = kh*kw*Cin, out (B,Ho,Wo,Cout) rows of stride out_ld.
 * Output row m = (b*Ho + ho)*Wo + wo is one row of A (M, K) @ w^T, where A's row
 * m is the input patch of that output point. Three ways to get A:
 *   PATH_1X1    1x1 conv, stride 1, no padding: A is the input itself, lda = in_ld
 *               (strided concat rows need no copy).
 *   PATH_ROWS   kh == 1, stride_w == kw, W % kw == 0 (or W == kw: Wo = 1), dense
 *               rows (in_ld == Cin): the patch of output (b,h,wo) is the kw*Cin
 *               contiguous floats starting at input row (b,h,wo*kw), so A is the
 *               input with lda = kw*Cin (conv1a, conv2a, conv3a).
 *   PATH_IM2COL anything else (kh > 1, time padding, dilation, strides): A is
 *               built tile by tile in scratch, one tile sized to stay in L2.
 * Direct path (conv2d_kernels.c, AVX2+FMA, and its AVX-512 twins chosen at run time):
 * every conv in every build with AVX2+FMA. Whatever the path, a patch is ntaps row
 * segments of L floats of the input (a tap = one (i, j) of the kernel; with dense rows
 * the kw taps of a kernel row merge into one segment), so the forward and dW kernels
 * read the input rows in place through a table of row pointers (a zero row for time
 * padding): no im2col, no bias prefill pass, no packing but the weights' once per
 * call. Convs with more than CONV_MAX_TAPS taps take their rows from im2col tiles as
 * one tap (the same (tap, c) order, so the same chains). The input gradient runs the
 * forward kernel too: as the transposed conv (stride-1 kh x 1), as a 1x1 conv of dout
 * with w^T (PATH_ROWS, PATH_1X1), or as dout @ w into a tile scattered back by col2im.
 * Large outputs are written with streaming stores (CONV_NT_BYTES).
 * Bits: each output element is one fixed-order FMA chain (conv2d_kernels.h), so the
 * result does not depend on the CPU, the ISA (AVX2 / AVX-512), the thread count or
 * OpenBLAS's kernel choice: OpenBLAS is only the route of builds without AVX2+FMA
 * (-DDEEPLOB_ARCH_FLAGS=""), whose bits then follow OpenBLAS's core.
 *
 * Parallelism and determinism: the batch is cut into G = min(B, CONV_GROUPS)
 * groups of whole samples. G and the tile size depend only on the dims, never on
 * the thread count. A group runs on one thread, in row order, with its own slot
 * of scratch (im2col tile, dcol tile, partial dW/db), so OpenMP may hand groups to
 * any thread: the arithmetic is the same. Partial dW/db are summed in group order.
 * Whole samples per group also mean a group's col2im scatter-add only touches its
 * own input rows (no races). BLAS (no-AVX2 builds) must be single-threaded.
 */
/* layers_cpu.h first: OpenBLAS's cblas.h pulls in <complex.h>, whose macro I
 * would break LinearDims' field I in backend.h */
#include "layers_cpu.h"
#include "../../common/util.h"

#include "conv2d_kernels.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* Groups of samples: the unit of parallel work and of dW/db partial sums.
 * Fixed (not the thread count) so the summation order never changes. */
#define CONV_GROUPS 16
/* im2col tile: A tile + dcol tile per group, 2 x 128 KB, stays in a 512 KB+ L2.
 * The #ifndef knobs below may be set with -D when tuning with tests/bench/bench_conv.c
 * (like CONV_GROUPS they change summation order, so bits, but never correctness). */
#ifndef CONV_TILE_FLOATS
#define CONV_TILE_FLOATS (32 * 1024)
#endif
/* rows per GEMM on the copy-free paths (bounds the bias prefill / out tile) */
#ifndef CONV_FAST_ROWS
#define CONV_FAST_ROWS 2048
#endif

/* direct forward: outputs of at least this many bytes are written with streaming stores */
#define CONV_NT_BYTES (8u << 20)
/* direct path: taps per patch bounded so the row-pointer tables live on the stack */
#define CONV_MAX_TAPS 16

enum { PATH_IM2COL = 0, PATH_1X1 = 1, PATH_ROWS = 2 };

typedef struct {
    int Ho, Wo, K, path;
    int direct;            /* 1: our kernels (AVX2 / AVX-512): every build with AVX2+FMA */
    int tiled;             /* direct with more than CONV_MAX_TAPS taps: A from im2col tiles, one tap */
    int kwt, ntaps, L;     /* direct: taps per kernel row, taps, floats per tap segment */
    long off[CONV_MAX_TAPS]; /* direct: input offset of tap t = (i, j): i*dil time steps, j rows on */
    int lda_fast;          /* row stride of A on the copy-free paths */
    long rps;              /* output rows per sample = Ho*Wo */
    int G;                 /* sample groups */
    int tile_rows;         /* rows of A per GEMM */
    size_t tile;           /* floats per tile (0 on copy-free paths), 16-float multiple */
    size_t part;           /* floats per partial dW+db, 16-float multiple */
    size_t pack, zero;     /* floats of the packed weights and of the zero row */
} ConvPlan;

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static ConvPlan conv_plan(ConvDims d) {
    ConvPlan p;
    DL_CHECK(d.B > 0 && d.H > 0 && d.W > 0 && d.Cin > 0 && d.Cout > 0, "conv2d: bad dims B=%d H=%d W=%d Cin=%d Cout=%d",
             d.B, d.H, d.W, d.Cin, d.Cout);
    DL_CHECK(d.kh > 0 && d.kw > 0 && d.stride_h > 0 && d.stride_w > 0 && d.dil_h > 0 && d.pad_top >= 0 &&
                 d.pad_bottom >= 0, "conv2d: bad kernel kh=%d kw=%d stride=(%d,%d) dil=%d pad=(%d,%d)",
             d.kh, d.kw, d.stride_h, d.stride_w, d.dil_h, d.pad_top, d.pad_bottom);
    DL_CHECK(d.in_ld >= d.Cin && d.out_ld >= d.Cout, "conv2d: in_ld %d < Cin %d or out_ld %d < Cout %d", d.in_ld,
             d.Cin, d.out_ld, d.Cout);
    p.Ho = conv_out_h(d);
    p.Wo = conv_out_w(d);
    DL_CHECK(p.Ho > 0 && p.Wo > 0 && d.W >= d.kw, "conv2d: empty output Ho=%d Wo=%d", p.Ho, p.Wo);
    p.K = d.kh * d.kw * d.Cin;
    p.rps = (long)p.Ho * p.Wo;
    p.G = d.B < CONV_GROUPS ? d.B : CONV_GROUPS;
    int unpadded = d.stride_h == 1 && d.pad_top == 0 && d.pad_bottom == 0;
    if (unpadded && d.kh == 1 && d.kw == 1 && d.stride_w == 1) {
        p.path = PATH_1X1;
        p.lda_fast = d.in_ld;
    } else if (unpadded && d.kh == 1 && ((d.stride_w == d.kw && d.W % d.kw == 0) || d.W == d.kw) &&
               d.in_ld == d.Cin) { /* W == kw: Wo = 1, one patch = one whole row (conv3a) */
        p.path = PATH_ROWS;
        p.lda_fast = d.kw * d.Cin;
    } else {
        p.path = PATH_IM2COL;
        p.lda_fast = 0;
    }
    if (p.path == PATH_IM2COL) {
        p.tile_rows = CONV_TILE_FLOATS / p.K;
        if (p.tile_rows < 1) p.tile_rows = 1;
        p.tile = round16((size_t)p.tile_rows * p.K);
    } else if (p.path == PATH_ROWS && d.stride_w != d.kw) {
        p.tile_rows = CONV_TILE_FLOATS / p.K; /* W == kw: the im2col path's tiles (and bits) */
        if (p.tile_rows < 1) p.tile_rows = 1;
        p.tile = 0;
    } else {
        p.tile_rows = CONV_FAST_ROWS;
        p.tile = 0;
    }
    p.kwt = d.in_ld == d.Cin ? 1 : d.kw;
    p.ntaps = d.kh * p.kwt;
    p.L = d.in_ld == d.Cin ? d.kw * d.Cin : d.Cin;
    p.direct = CONVK_AVAILABLE;
    p.tiled = p.direct && p.ntaps > CONV_MAX_TAPS;
    if (p.tiled) { /* an im2col tile row is the taps' segments in the same (tap, c) order */
        p.ntaps = 1;
        p.L = p.K;
    }
    for (int i = 0; p.direct && !p.tiled && i < d.kh; i++)
        for (int j = 0; j < p.kwt; j++) p.off[i * p.kwt + j] = ((long)i * d.dil_h * d.W + j) * d.in_ld;
    p.part = round16((size_t)d.Cout * p.K + d.Cout); /* partial dW + db */
    /* sized for w (Cout, K), w^T (the din products) and the transposed conv's w (Cin, kh*kw*Cout) */
    const int kt = d.kh * d.kw * d.Cout;
    long pk = convk_pack_floats(d.Cout, p.K), pkt = convk_pack_floats(p.K, d.Cout);
    long pkc = convk_pack_floats(d.Cin, kt);
    pk = pk > pkt ? pk : pkt;
    p.pack = CONVK_AVAILABLE ? round16((size_t)(pk > pkc ? pk : pkc)) : 0;
    p.zero = CONVK_AVAILABLE ? round16((size_t)(d.kw * d.Cin > d.Cout ? d.kw * d.Cin : d.Cout)) : 0;
    return p;
}

/* sample range of group g: [s0, s1) */
static void group_range(int g, int G, int B, int *s0, int *s1) {
    *s0 = (int)((long)B * g / G);
    *s1 = (int)((long)B * (g + 1) / G);
}

/* short row copies (32..256 floats): an inlined, vectorised loop; a memcpy call
 * per row segment cost 10 % of a training step in call overhead */
static inline void copy_row(float *restrict dst, const float *restrict src, int n) {
    for (int i = 0; i < n; i++) dst[i] = src[i];
}
static inline void zero_row(float *restrict dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = 0.0f;
}

/* col (m1-m0, K): patches of output rows [m0, m1); zero where time padding */
static void im2col(float *col, const float *in, ConvDims d, const ConvPlan *p, long m0, long m1) {
    const int K = p->K, seg = d.kw * d.Cin;
    const int dense = d.in_ld == d.Cin;
    for (long m = m0; m < m1; m++) {
        long t = m / p->Wo;
        int wo = (int)(m - t * p->Wo), ho = (int)(t % p->Ho);
        long b = t / p->Ho;
        float *dst = col + (m - m0) * K;
        for (int i = 0; i < d.kh; i++, dst += seg) {
            int h = ho * d.stride_h - d.pad_top + i * d.dil_h;
            if (h < 0 || h >= d.H) {
                zero_row(dst, seg);
                continue;
            }
            const float *src = in + ((b * d.H + h) * d.W + (long)wo * d.stride_w) * d.in_ld;
            if (dense) {
                copy_row(dst, src, seg);
            } else {
                for (int j = 0; j < d.kw; j++) copy_row(dst + j * d.Cin, src + (long)j * d.in_ld, d.Cin);
            }
        }
    }
}

/* din (B,H,W,Cin) += scatter of dcol (m1-m0, K), the inverse of im2col */
static void col2im_add(float *din, const float *dcol, ConvDims d, const ConvPlan *p, long m0, long m1) {
    const int K = p->K, Cin = d.Cin;
    for (long m = m0; m < m1; m++) {
        long t = m / p->Wo;
        int wo = (int)(m - t * p->Wo), ho = (int)(t % p->Ho);
        long b = t / p->Ho;
        const float *src = dcol + (m - m0) * K;
        for (int i = 0; i < d.kh; i++) {
            int h = ho * d.stride_h - d.pad_top + i * d.dil_h;
            if (h < 0 || h >= d.H) continue;
            float *dst = din + ((b * d.H + h) * d.W + (long)wo * d.stride_w) * d.in_ld;
            for (int j = 0; j < d.kw; j++) {
                const float *s = src + (i * d.kw + j) * Cin;
                float *o = dst + (long)j * d.in_ld;
                for (int c = 0; c < Cin; c++) o[c] += s[c];
            }
        }
    }
}

/* rows [m0, m1) of A: pointer and leading dimension (fills tile on the im2col path) */
static const float *a_rows(float *tile, int *lda, const float *in, ConvDims d, const ConvPlan *p, long m0, long m1) {
    if (p->path == PATH_IM2COL) {
        im2col(tile, in, d, p, m0, m1);
        *lda = p->K;
        return tile;
    }
    *lda = p->lda_fast;
    return in + m0 * p->lda_fast;
}

/* rows[t*stride + r] (ntaps, mr): start of tap t's segment of output row m0 + r's
 * patch, or the zero row where the tap falls in the time padding. Tap offsets are
 * fixed per conv, so a row whose taps all lie inside the input is one add per tap
 * (this table is rebuilt for every register block: it was 15 % of conv time). */
static void tap_rows(const float **rows, int stride, const float *in, const float *zero, ConvDims d,
                     const ConvPlan *p, long m0, int mr) {
    const long *off = p->off;
    const int span = d.dil_h * (d.kh - 1);
    long t = m0 / p->Wo, b = t / p->Ho; /* divide once, then step (b, ho, wo) */
    int wo = (int)(m0 - t * p->Wo), ho = (int)(t - b * p->Ho);
    for (int r = 0; r < mr; r++) {
        const int h0 = ho * d.stride_h - d.pad_top;
        const long base = ((b * d.H + h0) * d.W + (long)wo * d.stride_w) * d.in_ld;
        if (h0 >= 0 && h0 + span < d.H) {
            for (int k = 0; k < p->ntaps; k++) rows[k * stride + r] = in + (base + off[k]);
        } else {
            for (int i = 0; i < d.kh; i++) {
                const int h = h0 + i * d.dil_h;
                for (int j = 0; j < p->kwt; j++)
                    rows[(i * p->kwt + j) * stride + r] =
                        h < 0 || h >= d.H ? zero : in + (base + off[i * p->kwt + j]);
            }
        }
        if (++wo == p->Wo) {
            wo = 0;
            if (++ho == p->Ho) ho = 0, b++;
        }
    }
}

/* rows[r] (mr): rows m0.. of an im2col tile (the tiled direct path: one tap) */
static void tile_rows(const float **rows, const float *tile, int lda, long m0, int mr) {
    for (int r = 0; r < mr; r++) rows[r] = tile + (m0 + r) * lda;
}

/* scratch: [packed weights][zero row][per group: tile, dtile][per group: partial dW+db] */
size_t conv2d_scratch_floats_cpu(ConvDims d, int nthreads) {
    (void)nthreads; /* slots are per group, so any thread count fits */
    ConvPlan p = conv_plan(d);
    return p.pack + p.zero + (size_t)p.G * (2 * p.tile + p.part);
}

/* out rows [m0, m1) by one OpenBLAS sgemm (im2col into tile where needed): builds
 * without AVX2+FMA only, whose bits then depend on OpenBLAS's kernel */
static void gemm_tile(float *out, const float *in, const float *w, int w_trans, const float *b, ConvDims d,
                      const ConvPlan *p, float *tile, long m0, long m1, float beta) {
    int mt = (int)(m1 - m0), lda;
    const float *A = a_rows(tile, &lda, in, d, p, m0, m1);
    float *C = out + m0 * d.out_ld;
    if (b) { /* bias prefill, then the GEMM accumulates onto it */
        for (int r = 0; r < mt; r++) copy_row(C + (long)r * d.out_ld, b, d.Cout);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, w_trans ? CblasNoTrans : CblasTrans, mt, d.Cout, p->K, 1.0f, A, lda, w,
                w_trans ? d.Cout : p->K, beta, C, d.out_ld);
}

/* out (B,Ho,Wo,Cout) ld out_ld = conv(in, w) + b, or, with b == NULL,
 * out = beta0*out + conv(in, w) (beta0 0 or 1: accumulate, used by the backward).
 * w (Cout, K), or (K, Cout) with w_trans. pack (p.pack) and zero (p.zero) are used
 * on the direct path, tiles (G x p.tile) on the im2col path. */
static void forward_impl(float *out, const float *in, const float *w, int w_trans, const float *b, ConvDims d,
                         float *pack, float *zero, float *tiles, float beta0) {
    const ConvPlan p = conv_plan(d);
    if (CONVK_AVAILABLE && p.direct) { /* the constant drops the kernel calls from builds without them */
        DL_CHECK(beta0 == 0.0f || beta0 == 1.0f, "conv2d: direct path beta %g", beta0);
        convk_pack(pack, w, d.Cout, p.K, w_trans);
        if (!p.tiled) memset(zero, 0, sizeof(float) * p.L);
    }
    /* outputs too large to stay cached for their reader (the front end's, 30-65 MB at
     * B = 256): streaming stores skip each line's read-for-ownership; same values */
    const int stream = CONVK_AVAILABLE && p.direct && beta0 == 0.0f && convk_stream_ok(out, d.out_ld, p.K) &&
                       (double)d.B * p.rps * d.out_ld * sizeof(float) >= CONV_NT_BYTES;
#pragma omp parallel for schedule(dynamic, 1)
    for (int g = 0; g < p.G; g++) {
        float *tile = tiles + (size_t)g * p.tile;
        const float *rows[CONV_MAX_TAPS * CONVK_MR_MAX];
        const int MR = p.direct ? convk_mr(d.Cout) : CONVK_MR;
        int s0, s1;
        group_range(g, p.G, d.B, &s0, &s1);
        for (long m0 = s0 * p.rps, r1 = s1 * p.rps; m0 < r1; m0 += p.tile_rows) {
            long m1 = m0 + p.tile_rows < r1 ? m0 + p.tile_rows : r1;
            if (!CONVK_AVAILABLE) {
                gemm_tile(out, in, w, w_trans, b, d, &p, tile, m0, m1, beta0);
                continue;
            }
            int lda = 0;
            const float *A = p.tiled ? a_rows(tile, &lda, in, d, &p, m0, m1) : NULL;
            for (long b0 = m0; b0 < m1; b0 += MR) {
                int mr = (int)(m1 - b0 < MR ? m1 - b0 : MR);
                if (p.tiled) tile_rows(rows, A, lda, b0 - m0, mr);
                else tap_rows(rows, MR, in, zero, d, &p, b0, mr);
                convk_forward_rows(out + b0 * d.out_ld, d.out_ld, rows, p.ntaps, p.L, pack, d.Cout, b,
                                   stream ? CONVK_STREAM : beta0 != 0.0f, mr);
            }
        }
        if (stream) convk_fence();
    }
}

/* out (B,Ho,Wo,Cout) ld out_ld = conv(in (B,H,W,Cin) ld in_ld, w (Cout,kh,kw,Cin)) + b (Cout or NULL).
 * scratch: conv2d_scratch_floats_cpu(d) floats. Columns >= Cout of out rows untouched. */
void conv2d_forward_cpu(float *out, const float *in, const float *w, const float *b, ConvDims d, float *scratch) {
    const ConvPlan p = conv_plan(d);
    forward_impl(out, in, w, 0, b, d, scratch, scratch + p.pack, scratch + p.pack + p.zero, 0.0f);
}

/* The input gradient of a stride-1 (kh x 1) conv is itself a conv: of dout, zero
 * padded by dil*(kh-1) - pad on each side, with the kernel flipped in time and
 * Cin/Cout swapped. Computing it that way is a K = kh*Cout GEMM written straight
 * into din (no K = Cout GEMM into a tile followed by a col2im scatter-add). */
static int transposed_ok(ConvDims d) {
    return d.kw == 1 && d.stride_h == 1 && d.stride_w == 1 && d.kh > 1 && d.pad_top <= d.dil_h * (d.kh - 1) &&
           d.pad_bottom <= d.dil_h * (d.kh - 1);
}

static ConvDims transposed_dims(ConvDims d, int Ho) {
    ConvDims t = d;
    t.H = Ho;
    t.Cin = d.Cout;
    t.Cout = d.Cin;
    t.pad_top = d.dil_h * (d.kh - 1) - d.pad_top;
    t.pad_bottom = d.dil_h * (d.kh - 1) - d.pad_bottom;
    t.in_ld = d.out_ld;
    t.out_ld = d.in_ld;
    return t;
}

/* On the copy-free paths din's output-row view (M, K) ld lda_fast = dout (M, Cout) @ w
 * (Cout, K): a 1x1 conv of dout with the weights w^T (K, Cout). */
static ConvDims rows_din_dims(ConvDims d, const ConvPlan *p) {
    ConvDims t = {d.B, p->Ho, p->Wo, d.Cout, p->K, 1, 1, 1, 1, 1, 0, 0, d.out_ld, p->lda_fast, d.accumulate_din};
    return t;
}

/* dw (Cout,kh,kw,Cin) += dout^T @ patches; db (Cout, or NULL) += column sums of dout;
 * din (B,H,W,Cin) ld in_ld (+)= col2im(dout @ w), or skipped when din is NULL.
 * dout (B,Ho,Wo,Cout) ld out_ld; in as in forward. scratch as forward. */
void conv2d_backward_cpu(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                         ConvDims d, float *scratch) {
    const ConvPlan p = conv_plan(d);
    const int K = p.K, Cout = d.Cout;
    float *pack = scratch, *zero = pack + p.pack, *slots = zero + p.zero;
    float *parts = slots + (size_t)p.G * 2 * p.tile;
    const int transposed = din && p.path == PATH_IM2COL && transposed_ok(d);
    /* copy-free paths: din by the direct kernel as a 1x1 conv of dout (with AVX-512,
     * tcn0_res backward 12.7 -> 9.4 ms) */
    const int rows_din = din && CONVK_AVAILABLE && (p.path == PATH_ROWS || p.path == PATH_1X1);
    float *din_scatter = transposed || rows_din ? NULL : din; /* din of the in-loop GEMM route */
    if (p.direct && !p.tiled) memset(zero, 0, sizeof(float) * p.L);
    /* the in-loop din product dA = D @ w runs on the kernels with w^T packed once */
    if (CONVK_AVAILABLE && din_scatter) convk_pack(pack, w, K, Cout, 1);
#pragma omp parallel for schedule(dynamic, 1)
    for (int g = 0; g < p.G; g++) {
        float *tile = slots + (size_t)g * 2 * p.tile, *dtile = tile + p.tile;
        float *dwp = parts + (size_t)g * p.part, *dbp = dwp + (size_t)Cout * K;
        memset(dwp, 0, sizeof(float) * ((size_t)Cout * K + Cout));
        int s0, s1;
        group_range(g, p.G, d.B, &s0, &s1);
        /* im2col path scatters with +=, so clear this group's own din rows first */
        if (din_scatter && !d.accumulate_din && p.path == PATH_IM2COL) {
            for (long r = (long)s0 * d.H * d.W; r < (long)s1 * d.H * d.W; r++)
                memset(din + r * d.in_ld, 0, sizeof(float) * d.Cin);
        }
        for (long t0 = s0 * p.rps, r1 = s1 * p.rps; t0 < r1; t0 += p.tile_rows) {
            long t1 = t0 + p.tile_rows < r1 ? t0 + p.tile_rows : r1;
            const int mt = (int)(t1 - t0);
            const float *Dt = dout + t0 * d.out_ld;
            if (!CONVK_AVAILABLE) { /* OpenBLAS: builds without the kernels only */
                int lda;
                const float *A = a_rows(tile, &lda, in, d, &p, t0, t1);
                for (int r = 0; db && r < mt; r++) {
                    const float *dr = Dt + (long)r * d.out_ld;
                    for (int c = 0; c < Cout; c++) dbp[c] += dr[c];
                }
                /* dW (Cout, K) += D^T (Cout, mt) @ A (mt, K) */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Cout, K, mt, 1.0f, Dt, d.out_ld, A, lda, 1.0f,
                            dwp, K);
                if (!din_scatter) continue;
                /* dA (mt, K) = D (mt, Cout) @ w (Cout, K): straight into din on the copy-free
                 * paths (each input element is in exactly one patch there) */
                if (p.path == PATH_IM2COL) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mt, K, Cout, 1.0f, Dt, d.out_ld, w, K,
                                0.0f, dtile, K);
                    col2im_add(din, dtile, d, &p, t0, t1);
                } else {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mt, K, Cout, 1.0f, Dt, d.out_ld, w, K,
                                d.accumulate_din ? 1.0f : 0.0f, din + t0 * p.lda_fast, p.lda_fast);
                }
                continue;
            }
            /* direct dW: dW^T (K, Cout) and db into this group's partial: per tile, per K
             * block of its rows (convk_kblock) a sum from zero over the rows in order, then
             * added to the partial; db row by row */
            int lda = 0;
            const float *A = p.tiled ? a_rows(tile, &lda, in, d, &p, t0, t1) : NULL;
            for (long m0 = t0; m0 < t1;) {
                int mb = convk_kblock(t1 - m0);
                const float *D = dout + m0 * d.out_ld, *rows[CONV_MAX_TAPS * CONVK_KC];
                if (db) convk_colsum(dbp, D, d.out_ld, mb, Cout);
                if (p.tiled) tile_rows(rows, A, lda, m0 - t0, mb);
                else tap_rows(rows, CONVK_KC, in, zero, d, &p, m0, mb);
                for (int t = 0; t < p.ntaps; t++)
                    /* no copy of D (NULL): it would be made once per tap, and at
                     * these widths (Cout 32-64) it does not pay (tests/bench/bench_conv.c) */
                    convk_dw_tap(dwp + (size_t)t * p.L * Cout, rows + t * CONVK_KC, D, d.out_ld, mb, p.L, Cout,
                                 NULL);
                m0 += mb;
            }
            if (!din_scatter) continue;
            /* dA (mt, K) = D (mt, Cout) @ w (Cout, K) on the kernels (w^T packed above), then
             * scattered back (im2col path), or straight into din on the copy-free paths */
            if (p.path == PATH_IM2COL) {
                convk_gemm_nt(dtile, K, Dt, d.out_ld, mt, Cout, pack, K, NULL, 0);
                col2im_add(din, dtile, d, &p, t0, t1);
            } else {
                convk_gemm_nt(din + t0 * p.lda_fast, p.lda_fast, Dt, d.out_ld, mt, Cout, pack, K, NULL,
                              d.accumulate_din);
            }
        }
    }
    /* partials summed in group order: each element's sum is independent of threads.
     * The direct path's partial dW is transposed (K, Cout). */
    const long nw = (long)Cout * K, nall = nw + (db ? Cout : 0);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nall; i++) {
        long src = i < nw && p.direct ? (i % K) * Cout + i / K : i;
        float s = 0.0f;
        for (int g = 0; g < p.G; g++) s += parts[(size_t)g * p.part + src];
        if (i < nw) dw[i] += s;
        else db[i - nw] += s;
    }
    const float beta = d.accumulate_din ? 1.0f : 0.0f;
    if (rows_din) {
        ConvDims t = rows_din_dims(d, &p);
        ConvPlan tp = conv_plan(t);
        DL_CHECK(tp.pack <= p.pack && (tp.tiled || tp.L <= (int)p.zero), "conv2d: 1x1 input-gradient scratch plan");
        forward_impl(din, dout, w, 1, NULL, t, pack, zero, slots, beta);
    }
    if (!transposed) return;
    /* din (+)= conv(dout, flipped w): wt (Cin, kh, 1, Cout) goes where the partials
     * were (free now), the transposed conv's tiles where ours were */
    ConvDims t = transposed_dims(d, p.Ho);
    ConvPlan tp = conv_plan(t);
    DL_CHECK(conv_out_h(t) == d.H && (size_t)tp.G * tp.tile <= (size_t)p.G * 2 * p.tile &&
                 (size_t)nw <= p.part * p.G && (!tp.direct || (tp.pack <= p.pack && (tp.tiled || tp.L <= (int)p.zero))),
             "conv2d: transposed-conv scratch plan");
    float *wt = parts;
    for (int co = 0; co < Cout; co++)
        for (int i = 0; i < d.kh; i++)
            for (int ci = 0; ci < d.Cin; ci++)
                wt[((size_t)ci * d.kh + (d.kh - 1 - i)) * Cout + co] = w[((size_t)co * d.kh + i) * d.Cin + ci];
    forward_impl(din, dout, wt, 0, NULL, t, pack, zero, slots, beta);
}
