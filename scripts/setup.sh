#!/usr/bin/env bash
# Installs what modelgate needs and skips what is already there. Safe to run repeatedly.
#   - Debian packages: compilers, CMake/Ninja, yaml-cpp, nlohmann-json, CLI11, fmt, spdlog,
#     OpenSSL, libseccomp, libzip, libpng, libjpeg-turbo, Eigen, GoogleTest, Google Benchmark, ccache, clang with its
#     sanitiser and libFuzzer runtimes (scripts/sanitize.sh, scripts/fuzz.sh).
#   - .venv/: Python with torch==2.11.0 (LibTorch), numpy, scikit-learn, pytest, jsonschema.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(build-essential cmake ninja-build pkg-config python3-venv ccache
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libssl-dev libseccomp-dev libzip-dev libpng-dev libjpeg62-turbo-dev libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev libpugixml-dev
  chromium chromium-driver clang libclang-rt-14-dev)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
req_hash=$(sha256sum scripts/requirements.txt | cut -c1-16)
if [ "$(cat .venv/.requirements 2>/dev/null)" != "$req_hash" ]; then
  echo "setup: installing Python requirements into .venv (torch is a large download the first time)"
  .venv/bin/pip install -q --progress-bar off --disable-pip-version-check -r scripts/requirements.txt
  echo "$req_hash" > .venv/.requirements
fi
