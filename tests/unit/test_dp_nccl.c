/* test_dp_nccl.c: the NCCL gather of a data-parallel group (dp_nccl.h) against MPI's
 * on the same data: every rank puts a rank-dependent pattern in its slot on its GPU,
 * gathers in place and out of place with NCCL, and the result must equal the MPI
 * gather of the same host data byte for byte. Skipped (exit 77) in a build without
 * CUDA or on a machine without a usable GPU, and where ranks share a GPU: NCCL (2.5 and
 * later) refuses two ranks of one communicator on one device, and training then gathers
 * through host memory with MPI instead (train/dp.c). scripts/gpu_check.sh runs it on 2
 * ranks, each on its own GPU when the machine has two. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "train/dp_nccl.h"
#ifdef DL_HAVE_CUDA
#include <cuda_runtime.h>
#endif

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size, rc = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
#if !defined(DL_HAVE_CUDA) || !defined(DL_HAVE_NCCL)
    (void)rc;
    if (rank == 0) printf("SKIP: test_dp_nccl: this build has no CUDA or no NCCL (NCCL path not compiled)\n");
    MPI_Finalize();
    return 77;
#else
    int ndev = 0;
    cudaError_t ce = cudaGetDeviceCount(&ndev);
    int have = ce == cudaSuccess && ndev > 0, all = 0;
    MPI_Allreduce(&have, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all) {
        if (rank == 0) printf("SKIP: test_dp_nccl: no usable GPU (%s)\n", ce == cudaSuccess ? "0 devices" : cudaGetErrorString(ce));
        MPI_Finalize();
        return 77;
    }
    DL_CHECK(cudaSetDevice(rank % ndev) == cudaSuccess, "cudaSetDevice");
    DpGroup g = {MPI_COMM_WORLD, rank, size, size, NULL};
    char why[256] = "";
    if (!dp_nccl_gpus_distinct(&g, why, sizeof why)) {   /* agreed: every rank saw the same records */
        if (rank == 0) printf("SKIP: test_dp_nccl: %s (NCCL needs one GPU per rank; %d GPU(s) here)\n", why, ndev);
        MPI_Finalize();
        return 77;
    }
    DlErr e;
    DpNccl *n = dp_nccl_create(&g, &e);
    if (!n) { fprintf(stderr, "FAIL: %s\n", e.msg); MPI_Finalize(); return 1; }
    ShardComm c = dp_comm_nccl(n);
    const size_t bytes = 3 * 1000 * sizeof(double) + 7;   /* odd size: byte-wise gather */
    unsigned char *mine = malloc(bytes), *ref = malloc(bytes * size), *got = malloc(bytes * size);
    for (size_t i = 0; i < bytes; i++) mine[i] = (unsigned char)(i * 131 + rank * 17 + 1);
    MPI_Allgather(mine, (int)bytes, MPI_BYTE, ref, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    void *d_all = NULL, *d_mine = NULL;
    DL_CHECK(cudaMalloc(&d_all, bytes * size) == cudaSuccess && cudaMalloc(&d_mine, bytes) == cudaSuccess, "cudaMalloc");
    for (int inplace = 0; inplace < 2; inplace++) {
        DL_CHECK(cudaMemset(d_all, 0, bytes * size) == cudaSuccess, "cudaMemset");
        void *src = inplace ? (char *)d_all + rank * bytes : d_mine;
        DL_CHECK(cudaMemcpy(src, mine, bytes, cudaMemcpyHostToDevice) == cudaSuccess, "upload");
        c.allgather(c.ctx, src, d_all, bytes);
        DL_CHECK(cudaMemcpy(got, d_all, bytes * size, cudaMemcpyDeviceToHost) == cudaSuccess, "download");
        int bad = memcmp(got, ref, bytes * size) != 0, any = 0;
        MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (rank == 0) printf("%s: NCCL gather (%s) of %zu bytes x %d ranks %s MPI's\n", any ? "FAIL" : "ok",
                              inplace ? "in place" : "out of place", bytes, size, any ? "differs from" : "equals");
        rc |= any;
    }
    cudaFree(d_all);
    cudaFree(d_mine);
    dp_nccl_free(n);
    free(mine); free(ref); free(got);
    MPI_Finalize();
    return rc;
#endif
}
