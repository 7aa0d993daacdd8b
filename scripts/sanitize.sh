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

# Runtime options, for every instrumented process (ctest, the pytest-spawned CLI and its
# workers inherit them). Each one and why:
#   detect_leaks=0        LeakSanitizer reports LibTorch's process-lifetime allocations (operator
#                         registries, thread pools) as leaks, and it cannot stop the world inside
#                         a confined worker (seccomp denies ptrace). Leaks are not what this
#                         build looks for; the fuzz targets run with leak checks of their own.
#   allocator_may_return_null=1
#                         malloc returns null when the worker's address-space limit refuses
#                         memory, as it does without ASan (the isolation tests check that limit);
#                         ASan would abort the process instead.
#   print_stacktrace=1    UBSan prints the stack of each report.
# No suppressions are needed (see bench/results/sanitize.md).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
export MODELGATE_SANITIZER_BUILD=1

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
