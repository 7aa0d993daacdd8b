"""Session fixtures for the modelgate CLI tests.

Environment:
  MODELGATE_FIXTURES  fixture folder (default <repo>/build/test-fixtures); made with
                      tests/fixtures/make_fixtures.py when missing or stale
"""
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = Path(os.environ.get("MODELGATE_FIXTURES",
                                   REPO_ROOT / "build" / "test-fixtures"))
DEMO_MODEL = REPO_ROOT / "configs" / "models" / "digits_cnn.pt"
DEMO_NPZ = REPO_ROOT / "configs" / "data" / "digits_test.npz"
DEMO_PT = REPO_ROOT / "configs" / "data" / "digits_test.pt"

sys.path.insert(0, str(REPO_ROOT / "tests" / "reference"))


def _run_script(*args):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=REPO_ROOT)
    if proc.returncode != 0:
        pytest.fail(f"{args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def demo():
    """Paths of the demo model and data (scripts/make_demo.py; fast when present)."""
    _run_script(REPO_ROOT / "scripts" / "make_demo.py")
    return {"model": DEMO_MODEL, "npz": DEMO_NPZ, "pt": DEMO_PT}


@pytest.fixture(scope="session")
def examples(demo):
    """The example jobs' data and colour model (scripts/make_examples.py; fast when present)."""
    _run_script(REPO_ROOT / "scripts" / "make_examples.py")
    return {"cifar": REPO_ROOT / "configs" / "data" / "examples" / "test_batch.bin",
            "model": REPO_ROOT / "configs" / "models" / "digits_rgb32.pt"}


@pytest.fixture(scope="session")
def fixtures_dir(demo):
    _run_script(REPO_ROOT / "tests" / "fixtures" / "make_fixtures.py", FIXTURES_DIR)
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def oracle(demo):
    """The plain-PyTorch reference module with the demo model and data loaded."""
    import plain_pytorch as pp

    pp.setup_determinism()

    x, y = pp.load_dataset(demo["npz"])
    return types.SimpleNamespace(module=pp, model=pp.load_model(demo["model"]), x=x, y=y)
