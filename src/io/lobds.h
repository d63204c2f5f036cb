/* lobds.h: the HDF5 LOB dataset (format documented in docs/data_format.md).
 *
 * File layout (format_version 1):
 *   /                      attrs: format = "deeplob-mpi LOB dataset", format_version = 1 (int),
 *                                 source ("synthetic" | "tardis" | "npy"), created_by, symbols (count)
 *   /symbols/<SYMBOL>/     one group per symbol; attrs: symbol, source, levels (10),
 *                          start_time, end_time (int64 unix seconds), horizons (int array),
 *                          rows_dropped_* counts (int64), provenance (string),
 *                          oracle_corr_h<H> (double, synthetic only), generator params (synthetic)
 *     time      (N)       int64 unix seconds, strictly increasing (regular 1 s grid within segments)
 *     features  (N, 40)   float32, seed column order: ask_price[0..9], ask_amount[0..9],
 *                                               bid_price[0..9], bid_amount[0..9]
 *     targets   (N, K)    float32, log returns in bps over horizons[k] seconds; NaN where t+h
 *                          leaves the segment
 *     segments  (S, 2)    int64 [start_row, end_row) of each contiguous segment
 *   Symbol names are validated (lobds_symbol_ok) before they become group names.
 */
#ifndef DL_LOBDS_H
#define DL_LOBDS_H

#include <hdf5.h>
#include <stdint.h>

#include "../common/util.h"

#define LOBDS_FORMAT "deeplob-mpi LOB dataset"
#define LOBDS_VERSION 1
#define LOBDS_NFEAT 40
#define LOBDS_MAX_H 8
#define LOBDS_MAX_ROWS (1ULL << 36) /* largest row count a reader accepts (a corrupt extent is refused) */

typedef struct {
    char symbol[64];
    int64_t n_rows;
    int n_horizons;
    int horizons[LOBDS_MAX_H];   /* seconds */
    int64_t *time;               /* (N) */
    float *features;             /* (N, 40) */
    float *targets;              /* (N, K) */
    int64_t n_segments;
    int64_t *segments;           /* (S, 2) [start, end) */
    double oracle_corr[LOBDS_MAX_H]; /* NaN when unknown */
} LobSymbol;

/* 1 if the name is safe as an HDF5 group and path component: 1..63 bytes,
 * no '/', '\\', '.', '..' or control characters, not starting with '.' or '-'.
 * UTF-8 letters are allowed (the seed's universe has a non-ASCII symbol). */
int lobds_symbol_ok(const char *s);

/* list symbols of a dataset file (sorted by name); caller frees names with lobds_free_names */
int lobds_list(const char *path, char ***names, int *n, DlErr *e);
void lobds_free_names(char **names, int n);

/* Read one symbol. fapl: H5P_DEFAULT or an MPI-IO access property list (parallel read).
 * Validates format/version, shapes, dtypes, monotonic time, segment bounds;
 * every error names the file and object. */
int lobds_read_symbol(const char *path, hid_t fapl, const char *symbol, LobSymbol *out, DlErr *e);
/* Only the sizes (n_rows, horizons, segments) without features: for scheduling */
int lobds_read_symbol_meta(const char *path, hid_t fapl, const char *symbol, LobSymbol *out, DlErr *e);
void lobds_symbol_free(LobSymbol *s);

/* Writer (serial). lobds_create writes root attributes into path.tmp;
 * lobds_write_symbol adds one group; lobds_finish closes and renames to path
 * so a crash never leaves a half-written dataset under the final name. */
typedef struct {
    hid_t file;
    char path[4096], tmp_path[4200];
    char source[32];             /* copied into each symbol group's 'source' attribute */
} LobdsWriter;
int lobds_create(LobdsWriter *w, const char *path, const char *source, DlErr *e);
/* extra string/double attributes go through lobds_set_attr_* on the symbol group after writing */
int lobds_write_symbol(LobdsWriter *w, const LobSymbol *s, const char *provenance, DlErr *e);
int lobds_set_attr_double(LobdsWriter *w, const char *symbol, const char *name, double v, DlErr *e);
int lobds_set_attr_int64(LobdsWriter *w, const char *symbol, const char *name, int64_t v, DlErr *e);
int lobds_set_attr_string(LobdsWriter *w, const char *symbol, const char *name, const char *v, DlErr *e);
int lobds_finish(LobdsWriter *w, DlErr *e);
void lobds_abort(LobdsWriter *w);  /* close and delete the temp file */

/* ---- added helpers (shared by the writers: synth, convert, import-npy) ---- */

/* Validate an in-memory symbol exactly as the reader validates a file's group:
 * name, n_rows >= 1, horizons 1..LOBDS_MAX_H positive, time strictly increasing and
 * on a 1 s grid inside each segment, segments sorted, non-empty, non-overlapping,
 * inside [0, N). `where` names the source in the message (file or "memory"). */
int lobds_check_symbol(const LobSymbol *s, const char *where, DlErr *e);

/* targets (N, K) = 1e4*ln(mid[t+h]/mid[t]), mid = (ask_price0 + bid_price0)/2 from
 * the float32 features, in double; NaN where t+h is outside t's segment (or t is in
 * no segment, or a mid is not positive). Fills s->targets (allocated by the caller). */
void lobds_compute_targets(LobSymbol *s);

/* Split a time axis into maximal runs on the 1 s grid (time[i+1] == time[i] + 1).
 * segments: (<= N, 2) output. Returns the number of segments S. */
int64_t lobds_segments_from_time(int64_t *segments, const int64_t *time, int64_t n);

/* Parallel read note: with an MPI-IO fapl, H5Fopen is collective over the fapl's
 * communicator, so every rank of that communicator must call lobds_read_symbol the
 * same number of times (or pass an fapl on MPI_COMM_SELF / H5P_DEFAULT for a
 * rank-private open). Dataset reads themselves are independent. */

#endif
