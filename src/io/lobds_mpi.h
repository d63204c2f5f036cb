/* lobds_mpi.h: the LOB dataset (lobds.h layout) written by all ranks of comm into one
 * file through parallel HDF5: collective creation of every symbol's objects, then
 * independent raw-data writes by each symbol's owner; path.tmp renamed at the end. */
#ifndef DL_LOBDS_MPI_H
#define DL_LOBDS_MPI_H

#include <mpi.h>

#include "lobds.h"

#define LOBDS_MPI_MAX_ATTRS 16

/* Collective over comm. mine: this rank's symbols (n_mine may be 0); provenance[i]: one
 * string per symbol; attr_values (n_mine, n_attrs): extra int64 attributes named
 * attr_names (same names on every rank). -1 on any rank's failure (on all ranks). */
int lobds_mpi_write(const char *path, const char *source, MPI_Comm comm, const LobSymbol *mine, int n_mine,
                    const char *const *provenance, int n_attrs, const char *const *attr_names,
                    const int64_t *attr_values, DlErr *e);

#endif
