#!/usr/bin/env bash
# The sanitiser build: build-asan/, modelgate's own code compiled by clang with AddressSanitizer
# and UndefinedBehaviorSanitizer (LibTorch and the Debian libraries stay uninstrumented), and its
# ctest run: the unit tests, the CLI tests against build-asan/modelgate, and the fuzz targets over
# their regression inputs. The fuzz targets are built here too (scripts/fuzz.sh runs them).
#   scripts/sanitize.sh [ctest args...]   e.g. -R cli.pytest
# Prints the wall time of its build and of its tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

source scripts/sanitizer_env.sh

t0=$(date +%s)
if [ ! -f build-asan/build.ninja ]; then
  mkdir -p build-asan
  prefix=$(.venv/bin/python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DPython3_EXECUTABLE="$PWD/.venv/bin/python" \
    -DMODELGATE_WITH_CUDA=OFF -DMODELGATE_BUILD_BENCH=OFF -DMODELGATE_SANITIZE=ON -DMODELGATE_FUZZ=ON \
    >build-asan/cmake-configure.log 2>&1 || { cat build-asan/cmake-configure.log >&2; exit 1; }
fi
cmake --build build-asan
t1=$(date +%s)
.venv/bin/python scripts/make_demo.py
ctest --test-dir build-asan --output-on-failure -j2 "$@"
t2=$(date +%s)
echo "sanitize: build $((t1 - t0)) s, tests $((t2 - t1)) s"
