#!/usr/bin/env bash
# Builds everything and runs the whole test suite (C++ unit tests, CLI tests, schema checks),
# then the same tests on the sanitiser build and each fuzz target for FUZZ_SECONDS (60).
#   scripts/test.sh [ctest args...]     ctest arguments apply to the first (normal) run
#   MODELGATE_QUICK=1                   the normal build and its tests only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$(date +%s)
bash scripts/build.sh
.venv/bin/python scripts/make_demo.py
ctest --test-dir build --output-on-failure -j2 "$@"
t1=$(date +%s)
echo "test: build and tests $((t1 - t0)) s"
[ "${MODELGATE_QUICK:-0}" = 1 ] && exit 0
bash scripts/sanitize.sh
FUZZ_SECONDS="${FUZZ_SECONDS:-60}" bash scripts/fuzz.sh
echo "test: all steps $(($(date +%s) - t0)) s"
