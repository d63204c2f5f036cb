#!/usr/bin/env bash
# install_deps.sh: the Debian 12 packages deeplob-mpi needs (build, tests, Slurm CI).
# Idempotent; skips apt when everything is already installed.
# --fuzz: also what scripts/fuzz.sh needs (clang with libFuzzer, clang's OpenMP); not
# needed to build, test or run (the corpus replay of the fuzz harnesses builds with gcc).
set -euo pipefail
PKGS=(build-essential cmake git pkg-config
      openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
      libcurl4-openssl-dev zlib1g-dev libisal-dev libopenblas-dev libopenblas0-pthread libcjson-dev libcmocka-dev
      libplplot-dev plplot-driver-cairo fonts-dejavu-core
      python3 python3-numpy python3-h5py python3-torch python3-pandas libjemalloc2
      python3-statsmodels python3-sklearn libxgboost-dev
      slurmctld slurmd slurm-client munge)
if [ "${1:-}" = "--fuzz" ]; then PKGS+=(clang libclang-rt-14-dev libomp-dev); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
