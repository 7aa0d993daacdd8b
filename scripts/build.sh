#!/usr/bin/env bash
# Configures build/ (once) and builds the given targets (default: everything).
#   MODELGATE_CMAKE_ARGS  extra arguments for the first configure, e.g. -DMODELGATE_WITH_CUDA=OFF
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
mkdir -p build
# Paths inside the repository are hashed relative to it, so clones and worktrees share ccache hits.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
# nvcc lives in /usr/local/cuda/bin on these machines, which is not always on PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export CUDACXX=/usr/local/cuda/bin/nvcc; fi
if [ ! -f build/build.ninja ]; then
  prefix=$(.venv/bin/python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DPython3_EXECUTABLE="$PWD/.venv/bin/python" ${MODELGATE_CMAKE_ARGS:-} >build/cmake-configure.log 2>&1 \
    || { mkdir -p build; cat build/cmake-configure.log >&2; exit 1; }
fi
cmake --build build ${1:+--target "$@"}
