/* weights_h5.h: model weights <-> HDF5, one dataset per PyTorch state_dict name
 * (float32 with the PyTorch shape; num_batches_tracked as an int64 scalar).
 * h5py + torch load them with load_state_dict, and we load theirs. Loading is
 * strict, like load_state_dict(strict=True): missing or unexpected names, wrong
 * shapes, wrong types and non-finite values are errors naming file and tensor. */
#ifndef DL_WEIGHTS_H5_H
#define DL_WEIGHTS_H5_H

#include <hdf5.h>

#include "../common/util.h"
#include "../engine/model.h"

/* write every entry under loc (a file or group) */
int weights_save_h5(const Model *m, hid_t loc, DlErr *e);
/* read every entry from loc; file names the source in messages */
int weights_load_h5(Model *m, hid_t loc, const char *file, DlErr *e);

/* whole-file helpers: save writes path.tmp then renames (never a half file) */
int weights_save_file(const Model *m, const char *path, DlErr *e);
int weights_load_file(Model *m, const char *path, DlErr *e);

/* internal (O,kh,kw,I) <-> PyTorch (O,I,kh,kw) for a PT_CONV entry */
void weights_to_torch(const ParamEntry *p, const float *internal, float *torch_layout);
void weights_from_torch(const ParamEntry *p, const float *torch_layout, float *internal);

#endif
