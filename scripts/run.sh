#!/usr/bin/env bash
# The main job: builds modelgate, makes the demo model and data, and validates them with
# configs/nightly.yaml. Extra arguments go to `modelgate validate` (e.g. --device cpu).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/build.sh modelgate >&2
.venv/bin/python scripts/make_demo.py >&2
exec build/modelgate validate configs/nightly.yaml "$@"
