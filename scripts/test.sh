#!/usr/bin/env bash
# Builds everything and runs the whole test suite (C++ unit tests, CLI tests, schema checks).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/build.sh
.venv/bin/python scripts/make_demo.py
ctest --test-dir build --output-on-failure -j2 "$@"
