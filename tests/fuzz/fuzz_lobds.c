/* fuzz_lobds: the LOB HDF5 dataset reader. The input is an HDF5 file image: the symbol
 * list is read through the file's path (a memfd, sec2 driver, as `train` does), each
 * listed symbol through the core driver opened on the image itself (H5Pset_file_image),
 * metadata first (the scheduler's read), then the data with all its shape checks. */
#include "fuzz_common.h"
#include <hdf5.h>
#include "io/lobds.h"

static FzFile g_f;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (4u << 20) || size == 0) return 0;
    const char *path = fz_file(&g_f, "ds.h5", data, size);
    DlErr e;
    char **names = NULL;
    int n = 0;
    if (lobds_list(path, &names, &n, &e) != 0) return 0;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    H5Pset_file_image(fapl, (void *)data, size);
    for (int i = 0; i < n && i < 8; i++) {
        LobSymbol s;
        memset(&s, 0, sizeof s);
        if (lobds_read_symbol_meta(path, fapl, names[i], &s, &e) == 0) lobds_symbol_free(&s);
        memset(&s, 0, sizeof s);
        if (lobds_read_symbol(path, fapl, names[i], &s, &e) == 0) {
            lobds_check_symbol(&s, path, &e);
            lobds_symbol_free(&s);
        }
    }
    H5Pclose(fapl);
    lobds_free_names(names, n);
    return 0;
}
