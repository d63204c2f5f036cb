/* fuzz_lobds: the LOB HDF5 dataset reader. The input is an HDF5 file image, written to a
 * tmpfs file: the symbol list is read through the sec2 driver (as `train` does), each listed
 * symbol through the core driver (the whole image in memory, H5Pset_fapl_core, no backing
 * store): metadata first (the scheduler's read), then the data with all its shape checks.
 * (H5Pset_file_image was tried: HDF5 1.10.8's core driver refuses an image whose name
 * exists on disk, and the reader checks the path first.) */
#include "fuzz_common.h"
#include <hdf5.h>
#include "io/lobds.h"

/* every file, group, dataset, attribute, type and space the reader opened is closed again,
 * on every error path (LeakSanitizer cannot tell: HDF5 frees its objects at exit) */
static void check_closed(void) {
    ssize_t open_files = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_files != 0) {
        fprintf(stderr, "fuzz_lobds: %zd HDF5 objects left open\n", open_files);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (4u << 20) || size == 0) return 0;
    const char *path = fz_named_file("ds.h5", data, size);
    DlErr e;
    char **names = NULL;
    int n = 0;
    static int dbg = -1;
    if (dbg < 0) dbg = getenv("FUZZ_DEBUG") != NULL;
    if (lobds_list(path, &names, &n, &e) != 0) {
        if (dbg) fprintf(stderr, "list: %s\n", e.msg);
        check_closed();
        return 0;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    for (int i = 0; i < n && i < 8; i++) {
        LobSymbol s;
        memset(&s, 0, sizeof s);
        if (lobds_read_symbol_meta(path, fapl, names[i], &s, &e) == 0) lobds_symbol_free(&s);
        memset(&s, 0, sizeof s);
        int rc = lobds_read_symbol(path, fapl, names[i], &s, &e);
        if (dbg) fprintf(stderr, "read %s: %s\n", names[i], rc ? e.msg : "ok");
        if (rc == 0) {
            lobds_check_symbol(&s, path, &e);
            lobds_symbol_free(&s);
        }
    }
    H5Pclose(fapl);
    lobds_free_names(names, n);
    check_closed();
    return 0;
}
