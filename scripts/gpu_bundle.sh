#!/usr/bin/env bash
# gpu_bundle.sh: what travels to a GPU machine that has the NVIDIA driver, the CUDA
# runtime libraries and PyTorch, but none of our apt packages and no internet
# (docs/gpu.md, "The bundle").
#
#   scripts/gpu_bundle.sh [DEST]        (default dist/gpu-bundle)
#
# Builds the CUDA tree (build-bundle: CUDA archs 80;90, no PLplot, no XGBoost: neither is
# needed there) and fills DEST with
#   bin/     deeplob_mpi, test_cuda_backend, test_gpu_seq, test_parity, test_dp_nccl; Open MPI's
#            mpirun (orterun) and orted
#   lib/     (in runtime.tar.xz, unpacked by gpu_check.sh) every shared library they need that such a machine may lack (ldd closure):
#            Open MPI, parallel HDF5, OpenBLAS, cJSON, libcurl and their dependencies.
#            Left out: glibc, libstdc++/libgcc_s, zlib, OpenSSL (in every Ubuntu/Debian
#            base image) and the CUDA libraries (cudart, cuBLAS, cuDNN, NCCL): the check
#            finds those where the machine has them (the toolkit's lib64, or the nvidia-*
#            Python packages PyTorch brings) and prints which it used
#   lib/x86_64-linux-gnu/openmpi/lib/openmpi3/, share/openmpi/, pmix2/
#            Open MPI's components and help files and PMIx's, in Debian's layout under a
#            new prefix: OPAL_PREFIX and PMIX_MCA_mca_base_component_path relocate them
#   tests/   the parity fixtures (test_cuda_backend compares every model on them),
#            bench_torch.py and the reference models it imports
#   scripts/gpu_check.sh, and MANIFEST.txt (what was bundled from where, versions)
# The runtime part (lib/, the components, help files) is packed into runtime.tar.xz (OpenBLAS
# alone is 36 MB unpacked, 4 MB packed); gpu_check.sh unpacks it in place. It says its size
# (the target: under 60 MB). Run it on this build machine; run
# DEST/scripts/gpu_check.sh on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEST=${1:-dist/gpu-bundle}
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
[ -n "$NVCC" ] || { echo "gpu_bundle: no nvcc (the CUDA toolkit is needed to build the bundle)" >&2; exit 1; }
JOBS=${JOBS:-$(nproc)}

echo "== building the CUDA tree (build-bundle) with $NVCC"
cmake -S . -B build-bundle -DCMAKE_BUILD_TYPE=Release -DDEEPLOB_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" \
      "-DCMAKE_CUDA_ARCHITECTURES=80;90" -DDEEPLOB_PLPLOT=OFF -DDEEPLOB_XGBOOST=OFF >/dev/null
cmake --build build-bundle -j"$JOBS" --target deeplob_mpi test_cuda_backend test_gpu_seq test_parity test_dp_nccl test_dp_model

rm -rf "$DEST"
mkdir -p "$DEST"/{bin,lib,scripts,tests/fixtures,tests/bench,tests/ref}
DEST=$(cd "$DEST" && pwd)
MAN="$DEST/MANIFEST.txt"
{
  echo "deeplob-mpi GPU bundle, git $(git rev-parse --short HEAD 2>/dev/null || echo '?'), built $(date -u +%FT%TZ) on $(hostname)"
  echo "build machine: $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -1)"
  echo "nvcc: $("$NVCC" --version | tail -1)"
  echo "CUDA archs: 80;90 (sm_80 and sm_90 code plus PTX)"
  echo
  echo "files:"
} > "$MAN"

for b in deeplob_mpi test_cuda_backend test_gpu_seq test_parity test_dp_nccl test_dp_model; do cp build-bundle/$b "$DEST/bin/"; done
cp tests/fixtures/*_ref.h5 "$DEST/tests/fixtures/"
cp tests/bench/bench_torch.py "$DEST/tests/bench/"
cp tests/ref/models.py tests/ref/mmf_lstm_ref.py "$DEST/tests/ref/"
cp scripts/gpu_check.sh "$DEST/scripts/"

# ---- Open MPI and PMIx, relocatable (Debian layout under the new prefix) ----------------
OMPI_LIBDIR=$(ompi_info --path libdir --parsable 2>/dev/null | sed 's/.*:libdir://' || true)
OMPI_PKGLIB=$(ompi_info --path pkglibdir --parsable 2>/dev/null | sed 's/.*:pkglibdir://' || true)
OMPI_PKGDATA=$(ompi_info --path pkgdatadir --parsable 2>/dev/null | sed 's/.*:pkgdatadir://' || true)
OMPI_PREFIX=$(ompi_info --path prefix --parsable 2>/dev/null | sed 's/.*:prefix://' || true)
: "${OMPI_LIBDIR:=/usr/lib/x86_64-linux-gnu/openmpi/lib}" "${OMPI_PKGLIB:=$OMPI_LIBDIR/openmpi3}"
: "${OMPI_PKGDATA:=/usr/share/openmpi}" "${OMPI_PREFIX:=/usr}"
rel() { echo "${1#$OMPI_PREFIX/}"; }
mkdir -p "$DEST/$(rel "$OMPI_PKGLIB")" "$DEST/$(rel "$OMPI_PKGDATA")"
# every component but the interconnects (UCX, libfabric, PSM, verbs) and OpenSHMEM: one node,
# shared memory, is all the check needs, and those pull in large libraries
for c in "$OMPI_PKGLIB"/*.so; do
  case "$(basename "$c")" in
    *ucx*|*ofi*|*psm*|*openib*|*uct*|*usnic*|*portals*|*verbs*|mca_spml_*|mca_atomic_*|mca_scoll_*|mca_sshmem_*|mca_memheap_*) continue ;;
  esac
  cp -L "$c" "$DEST/$(rel "$OMPI_PKGLIB")/"
done
cp -rL "$OMPI_PKGDATA"/. "$DEST/$(rel "$OMPI_PKGDATA")/"
cp -L "$(command -v orterun || readlink -f "$(command -v mpirun)")" "$DEST/bin/orterun"
ln -sf orterun "$DEST/bin/mpirun"
cp -L "$(command -v orted)" "$DEST/bin/orted"
if [ -d /usr/lib/x86_64-linux-gnu/pmix2 ]; then   # PMIx's plugins and help files (libpmix itself: lib/)
  mkdir -p "$DEST/pmix2/lib"
  [ -d /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix ] && cp -rL /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix "$DEST/pmix2/lib/"
  [ -d /usr/lib/x86_64-linux-gnu/pmix2/share ] && cp -rL /usr/lib/x86_64-linux-gnu/pmix2/share "$DEST/pmix2/"
fi
echo "Open MPI $(ompi_info 2>/dev/null | sed -n 's/ *Open MPI: //p' | head -1): components from $OMPI_PKGLIB, help from $OMPI_PKGDATA" >> "$MAN"

# ---- the shared-library closure ---------------------------------------------------------
# present on any Ubuntu/Debian image, or the CUDA stack the check finds on the machine
skip_re='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so|libutil\.so|libstdc\+\+\.so|libgcc_s\.so|libz\.so|libssl\.so|libcrypto\.so|libcuda\.so|libcudart\.so|libcublas\.so|libcublasLt\.so|libcudnn|libnccl\.so|libnvidia|libnvrtc|libnvJitLink)'
elfs=$(ls "$DEST"/bin/* ; find "$DEST/lib" "$DEST/pmix2" -name '*.so*' -type f 2>/dev/null)
declare -A seen=()
for f in $elfs; do
  [ -L "$f" ] && continue
  file -L "$f" | grep -q ELF || continue
  while read -r name _ path _; do
    [ -n "$name" ] || continue
    if [[ "$name" =~ $skip_re ]]; then continue; fi
    [[ "$path" == /* ]] || { [ "$path" = "not" ] && echo "gpu_bundle: $f needs $name, which is not found here" >&2; continue; }
    [ -n "${seen[$name]:-}" ] && continue
    seen[$name]=1
    cp -L "$path" "$DEST/lib/$name"
    echo "  lib/$name <- $path" >> "$MAN"
  done < <(ldd "$f" 2>/dev/null | awk '{print $1, $2, $3, $4}')
done
# (ldd lists the whole closure, indirect dependencies included)

{
  echo
  echo "left out (found on the GPU machine): glibc, libstdc++, libgcc_s, zlib, OpenSSL; CUDA runtime, cuBLAS, cuDNN"
  echo "binaries need (ldd here):"
  ldd "$DEST/bin/deeplob_mpi" | grep -E "cuda|cublas|cudnn" | sed 's/^/  /'
} >> "$MAN"

# the runtime (libraries, components, help files) travels as one xz archive: OpenBLAS alone is
# 36 MB uncompressed (every CPU's kernels), 4 MB packed. gpu_check.sh unpacks it in place.
unpacked_k=$(du -sk "$DEST" | cut -f1)
tar -C "$DEST" -cJf "$DEST/runtime.tar.xz" lib pmix2 share 2>/dev/null || tar -C "$DEST" -cJf "$DEST/runtime.tar.xz" lib share
rm -rf "$DEST/lib" "$DEST/pmix2" "$DEST/share"
echo "runtime.tar.xz: lib/, pmix2/, share/ ($((unpacked_k / 1024)) MB unpacked with the rest)" >> "$MAN"
size_k=$(du -sk "$DEST" | cut -f1)
echo "bundle size: $((size_k / 1024)) MB ($size_k KiB; $((unpacked_k / 1024)) MB once unpacked)" | tee -a "$MAN"
if [ "$size_k" -gt $((60 * 1024)) ]; then
  echo "gpu_bundle: WARNING: the bundle is over 60 MB" >&2
fi
echo "== $DEST ready: copy it to the GPU machine and run $(basename "$DEST")/scripts/gpu_check.sh there"
