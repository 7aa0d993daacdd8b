#!/usr/bin/env bash
# The GPU check, for an offline machine with a CUDA GPU, CUDA 13.0 (nvcc), CMake, Ninja, a C++
# compiler and a Python with PyTorch 2.11.0+cu130 — no apt, no pip index, no network. It needs
# .bundle/ from scripts/make_gpu_bundle.sh (made on a connected machine) and:
#   1. python     makes the test suite's Python: the project's .venv if there is one, else a
#                 .venv/bin/python shim running $PYTHON (default python3) with the bundle's
#                 wheels (pytest, jsonschema, torchattacks) when it lacks them
#   2. configure  build-gpu/ against torch (torch.utils.cmake_prefix_path) and .bundle/root/usr,
#                 with the CUDA kernels; reports where each dependency was found
#   3. build      everything
#   4. test       ctest, every label (cpu and cuda); the CUDA kernel tests again with
#                 MODELGATE_CUDA_SYNC=1, and under compute-sanitizer (memcheck) where it exists
#   5. bench      bench_cuda_ops and bench_ops
# Usage: scripts/gpu_check.sh [python|configure|build|test|bench]...   (no argument: all five)
# Results, at most eight files, go to $OUT when set, else build-gpu/results/: summary.txt,
# build.log, ctest.log, cuda_sync.log, sanitizer.log, bench_cuda_ops.{txt,json}, bench_ops.txt.
# Exit status 0 only if every step run passed. Environment: PYTHON, GPU_CHECK_JOBS (default:
# all cores), GPU_CHECK_SANITIZER=0 (skip compute-sanitizer), GPU_CHECK_BENCH_ARGS (extra
# Google Benchmark flags).
# shellcheck disable=SC2317  # the run_* step functions are called by name
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo=$PWD
bundle=$repo/.bundle
usr=$bundle/root/usr
lib=$usr/lib/x86_64-linux-gnu
build=$repo/build-gpu
results=${OUT:-$build/results}
jobs=${GPU_CHECK_JOBS:-$(nproc)}
# Torch comes from $PYTHON, else the project venv where there is one, else python3.
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x .venv/bin/python ] && [ ! -f .venv/.gpu_check_shim ]; then
  PY=$repo/.venv/bin/python
else
  PY=python3
fi
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(python configure build test bench)
mkdir -p "$results" "$build"
summary=$results/summary.txt
failed=0

say() { echo "gpu_check: $*" | tee -a "$summary"; }
step_result() {  # name status
  if [ "$2" -eq 0 ]; then say "$1: ok"; else say "$1: FAILED (exit $2)"; failed=1; fi
}
has_gpu() { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }

if [ ! -x "$usr/bin/pkgconf" ]; then
  echo "gpu_check: no .bundle/ here; make it with scripts/make_gpu_bundle.sh on a connected machine" >&2
  exit 2
fi
# nvcc is often not on PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export CUDACXX=/usr/local/cuda/bin/nvcc; fi

{
  echo "# modelgate GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), steps: ${steps[*]}"
  echo "host: $(uname -srm); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"); $(nproc) cores"
  echo "gpu: $(has_gpu && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | paste -sd';' || echo none)"
  echo "nvcc: $("${CUDACXX:-nvcc}" --version 2>/dev/null | grep -o 'release [0-9.]*' || echo none)"
  echo "python: $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1)"
  echo "bundle: $(head -1 "$bundle/MANIFEST" 2>/dev/null)"
} >> "$summary"

run_python() {
  if [ -x .venv/bin/python ] && [ ! -f .venv/.gpu_check_shim ]; then
    say "python: using the project venv .venv/bin/python"
    return 0
  fi
  local site=$build/python
  local py
  py=$(command -v "$PY") || { say "python: $PY not found"; return 1; }
  if ! "$py" -c 'import pytest, jsonschema, torchattacks' 2>/dev/null; then
    rm -rf "$site"
    "$py" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$site" \
      "$bundle"/wheels/*.whl || return 1
  fi
  # tests/CMakeLists.txt runs the CLI suite and fixtures with .venv/bin/python.
  mkdir -p .venv/bin
  touch .venv/.gpu_check_shim
  cat > .venv/bin/python <<EOF
#!/bin/sh
# Made by scripts/gpu_check.sh: no project venv here, so the tests run the system Python
# with the wheels from .bundle/ that it lacks.
PYTHONPATH="$site\${PYTHONPATH:+:\$PYTHONPATH}" exec "$py" "\$@"
EOF
  chmod +x .venv/bin/python
  .venv/bin/python -c 'import torch, numpy, sklearn, pytest, jsonschema, torchattacks' || return 1
  say "python: .venv/bin/python runs $py ($(.venv/bin/python -c 'from importlib.metadata import version as v; print("pytest", v("pytest") + ", jsonschema", v("jsonschema"))'))"
}

run_configure() {
  local torch_prefix
  torch_prefix=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)') || return 1
  # The bundle's prefix comes right after torch's, before any system path; its pkg-config
  # reads its own .pc files first.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$usr" -DCMAKE_LIBRARY_PATH="$lib" \
    -DPKG_CONFIG_EXECUTABLE="$bundle/bin/pkg-config" || return 1
  local cache=$build/CMakeCache.txt
  {
    echo "where each dependency was found:"
    grep -E '^(yaml-cpp|nlohmann_json|CLI11|fmt|GTest|benchmark|Torch)_DIR:|^OPENSSL_(INCLUDE_DIR|CRYPTO_LIBRARY):|^pkgcfg_lib_LIBZIP_zip:|^PKG_CONFIG_EXECUTABLE:|^CMAKE_CUDA_COMPILER:' \
      "$cache" | sed 's/^/  /'
  } | tee -a "$summary"
  grep -q '^CMAKE_CUDA_COMPILER:[A-Z]*=.\+' "$cache" || say "configure: note: no nvcc found, the CUDA kernels are not built"
}

run_build() {
  ninja -C "$build" -j "$jobs" 2>&1 | tee "$results/build.log" | grep -E '^(FAILED|ninja: build stopped)|error' | head -20
  return "${PIPESTATUS[0]}"
}

run_test() {
  local status=0
  # The demo model and data that the CLI suite uses (scripts/test.sh does the same).
  .venv/bin/python scripts/make_demo.py > "$results/ctest.log" 2>&1 || status=1
  ctest --test-dir "$build" --output-on-failure -j "$jobs" >> "$results/ctest.log" 2>&1 || status=1
  grep -E 'tests passed|tests failed' "$results/ctest.log" | tee -a "$summary"
  say "test: $(ctest --test-dir "$build" -N -L cuda | grep -o 'Total Tests: [0-9]*' | sed 's/Total Tests/tests labelled cuda/')"
  step_result "test: ctest (labels cpu and cuda)" "$status"
  local cuda_tests=$build/tests/kernels/test_cuda_kernels
  if ! has_gpu; then
    say "test: no GPU here, so the CUDA tests above skipped and the sync/sanitizer runs are left out"
    return "$status"
  fi
  if [ -x "$cuda_tests" ]; then
    MODELGATE_CUDA_SYNC=1 "$cuda_tests" > "$results/cuda_sync.log" 2>&1
    step_result "test: test_cuda_kernels with MODELGATE_CUDA_SYNC=1" $?
    local sanitizer
    sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
    if [ "${GPU_CHECK_SANITIZER:-1}" != 0 ] && [ -n "$sanitizer" ]; then
      timeout 1200 "$sanitizer" --tool memcheck --error-exitcode 99 "$cuda_tests" > "$results/sanitizer.log" 2>&1
      step_result "test: test_cuda_kernels under compute-sanitizer memcheck" $?
    fi
  fi
  return "$status"
}

run_bench() {
  local status=0
  # shellcheck disable=SC2086
  "$build/bench/bench_cuda_ops" --benchmark_counters_tabular=true --benchmark_out="$results/bench_cuda_ops.json" \
    --benchmark_out_format=json ${GPU_CHECK_BENCH_ARGS:-} > "$results/bench_cuda_ops.txt" 2>&1 || status=1
  # shellcheck disable=SC2086
  "$build/bench/bench_ops" ${GPU_CHECK_BENCH_ARGS:-} > "$results/bench_ops.txt" 2>&1 || status=1
  grep -E 'frac_of_copy|^BM_' "$results/bench_cuda_ops.txt" | head -40 >> "$summary"
  return "$status"
}

for s in "${steps[@]}"; do
  case $s in
    python | configure | build | test | bench)
      say "== $s"
      "run_$s"
      step_result "$s" $?
      ;;
    *) echo "gpu_check: unknown step '$s' (python, configure, build, test, bench)" >&2; exit 2 ;;
  esac
done
say "results in $results"
exit "$failed"
