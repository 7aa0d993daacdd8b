#!/usr/bin/env bash
# Makes .bundle/, what scripts/gpu_check.sh needs on an offline GPU machine that has only
# CUDA 13.0, CMake/Ninja, a C++ compiler and a Python 3.12 with PyTorch 2.11.0+cu130:
#   .bundle/root/      Debian bookworm's development packages for modelgate's C++ dependencies
#                      (yaml-cpp, nlohmann-json, CLI11, fmt, libzip, libseccomp, OpenSSL, GoogleTest,
#                      Google Benchmark) and pkgconf, unpacked with dpkg -x; the pkg-config
#                      files rewritten to be relative to their own location
#   .bundle/bin/pkg-config   runs the bundled pkgconf with its library
#   .bundle/wheels/    pytest, jsonschema and torchattacks (requirements.txt's versions) and
#                      the first two's dependencies, for CPython 3.12 on manylinux x86-64
#   .bundle/MANIFEST   what is in it, with versions
# Run on a connected Debian 12 machine (needs apt-get download and pip). Idempotent: it
# rebuilds .bundle/ from scratch. .bundle/ is git-ignored; it travels with the working tree
# as an ignored path (for the device tool: carry .bundle).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Headers, CMake/pkg-config files and libraries for the build, and the shared libraries the
# programs load. libzip4 needs libbz2, libz and libcrypto at run time: the first two are in
# every Debian/Ubuntu base system, libcrypto comes with libssl3. No -dev package of zlib or
# bzip2 is needed: modelgate links libzip dynamically, which uses neither's headers.
PACKAGES=(libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libcli11-dev libfmt-dev libfmt9
  libzip-dev libzip4 libssl-dev libssl3 libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
  libseccomp-dev libseccomp2 pkgconf-bin libpkgconf3)
# Python packages only the tests import, pinned as in scripts/requirements.txt: pytest and
# jsonschema with their (small) dependencies, resolved by pip for the target interpreter;
# torchattacks alone, since what it needs (torch, torchvision, scipy, requests, tqdm) is part
# of the GPU machine's PyTorch image. torch, numpy and scikit-learn are not carried.
pin() { grep -E "^$1==" scripts/requirements.txt || { echo "make_gpu_bundle: no $1 pin in scripts/requirements.txt" >&2; exit 1; }; }
WHEELS=("$(pin pytest)" "$(pin jsonschema)")
WHEELS_NO_DEPS=("$(pin torchattacks)")
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

bundle=.bundle
rm -rf "$bundle"
mkdir -p "$bundle/debs" "$bundle/root" "$bundle/wheels" "$bundle/bin"

echo "make_gpu_bundle: downloading ${#PACKAGES[@]} Debian packages"
(cd "$bundle/debs" && { apt-get download -q "${PACKAGES[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true; })
for p in "${PACKAGES[@]}"; do
  compgen -G "$bundle/debs/${p}_*.deb" >/dev/null || { echo "make_gpu_bundle: $p was not downloaded" >&2; exit 1; }
done
for deb in "$bundle"/debs/*.deb; do dpkg -x "$deb" "$bundle/root"; done

root=$bundle/root
lib=$root/usr/lib/x86_64-linux-gnu
# What the build never reads: documentation, static archives other than GoogleTest's (the
# CMake configs name the shared libraries), OpenSSL's engines and providers.
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian" "$lib/engines-3" "$lib/ossl-modules"
rm -f "$lib/libcrypto.a" "$lib/libssl.a" "$lib/libyaml-cpp.a"
# Debian keeps OpenSSL's per-architecture headers under include/x86_64-linux-gnu, a default
# include directory of Debian's compilers but not of an include path inside the bundle.
cp "$root"/usr/include/x86_64-linux-gnu/openssl/*.h "$root/usr/include/openssl/"

# pkg-config files name /usr: make them relative to their own folder (${pcfiledir}), so the
# bundle works wherever it is unpacked. The CMake config files need nothing: they compute
# their prefix from their own location (their one absolute path only detects a /usr-merge
# symlink).
# shellcheck disable=SC2016  # ${pcfiledir} is for pkg-config, not the shell
for pc in "$lib"/pkgconfig/*.pc; do sed -i 's#/usr\b#${pcfiledir}/../../..#g' "$pc"; done
# shellcheck disable=SC2016
for pc in "$root"/usr/share/pkgconfig/*.pc; do sed -i 's#/usr\b#${pcfiledir}/../..#g' "$pc"; done
if grep -rIl '/usr' "$root" --include='*.pc' >/dev/null; then
  echo "make_gpu_bundle: a pkg-config file still names /usr:" >&2
  grep -rIn '/usr' "$root" --include='*.pc' >&2
  exit 1
fi
# No symlink may point outside the bundle.
if find "$root" -type l -lname '/*' | grep -q .; then
  echo "make_gpu_bundle: absolute symlinks in the bundle:" >&2
  find "$root" -type l -lname '/*' >&2
  exit 1
fi

cat > "$bundle/bin/pkg-config" <<'EOF'
#!/bin/sh
# The bundle's pkgconf, with its library; the bundle's .pc files come first.
here=$(cd "$(dirname "$0")/.." && pwd)
lib=$here/root/usr/lib/x86_64-linux-gnu
export PKG_CONFIG_PATH="$lib/pkgconfig:$here/root/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/root/usr/bin/pkgconf" "$@"
EOF
chmod +x "$bundle/bin/pkg-config"
"$bundle/bin/pkg-config" --modversion libzip >/dev/null
"$bundle/bin/pkg-config" --modversion libseccomp >/dev/null

echo "make_gpu_bundle: downloading wheels for CPython 3.12: ${WHEELS[*]} (and dependencies), ${WHEELS_NO_DEPS[*]}"
target=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
"$PY" -m pip download -q --disable-pip-version-check "${target[@]}" -d "$bundle/wheels" "${WHEELS[@]}"
"$PY" -m pip download -q --disable-pip-version-check "${target[@]}" --no-deps -d "$bundle/wheels" "${WHEELS_NO_DEPS[@]}"

{
  echo "# modelgate GPU bundle, made $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "# Debian packages (unpacked in root/)"
  for deb in "$bundle"/debs/*.deb; do dpkg-deb -f "$deb" Package Version | sed 's/^[^:]*: //' | paste -sd' '; done
  echo "# wheels"
  (cd "$bundle/wheels" && ls -1 -- *.whl)
} > "$bundle/MANIFEST"
# The .deb files are unpacked; keeping them would double the bundle's size.
rm -rf "$bundle/debs"

echo "make_gpu_bundle: $(du -sh "$bundle" | cut -f1) in $bundle ($(grep -vc '^#' "$bundle/MANIFEST") items; see $bundle/MANIFEST)"
