#!/usr/bin/env python3
"""Make the modelgate demo: a small CNN trained on scikit-learn's bundled digits.

    make_demo.py [--out-dir DIR] [--force]

Writes (DIR defaults to <repo>/configs):
    DIR/models/digits_cnn.pt   TorchScript (torch.jit.script), eval mode, with the
                               extra file "modelgate.json" (name, input_shape, ...)
    DIR/data/digits_test.npz   inputs float32 N x 1 x 8 x 8 in [0, 1], labels int64 N
    DIR/data/digits_test.pt    torch.save({'inputs': ..., 'labels': ...}), same content

Idempotent: when all three files exist and --force is not given it says so and exits
without importing torch. Files are written atomically (temp file + os.replace).

The model class and the helpers (build_model, load_digits_split, train, export_model,
...) are importable; tests/fixtures/make_fixtures.py reuses them.
"""
import argparse
import io
import json
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "configs"
MODEL_REL = Path("models") / "digits_cnn.pt"
NPZ_REL = Path("data") / "digits_test.npz"
PT_REL = Path("data") / "digits_test.pt"

DEFAULT_SEED = 0
DEFAULT_EPOCHS = 12
METADATA = {"name": "digits-cnn", "input_shape": [1, 8, 8], "num_classes": 10,
            "input_range": [0, 1]}


def demo_paths(out_dir):
    out_dir = Path(out_dir)
    return out_dir / MODEL_REL, out_dir / NPZ_REL, out_dir / PT_REL


def _parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT_DIR),
                    help="output folder (default: <repo>/configs)")
    ap.add_argument("--force", action="store_true", help="rebuild even if present")
    return ap.parse_args(argv)


# Fast path: decide before torch is imported (importing torch takes seconds).
if __name__ == "__main__":
    _ARGS = _parse_args(sys.argv[1:])
    _PATHS = demo_paths(_ARGS.out_dir)
    if not _ARGS.force and all(p.is_file() and p.stat().st_size > 0 for p in _PATHS):
        print("demo data present: " + ", ".join(str(p) for p in _PATHS))
        sys.exit(0)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def set_determinism(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


class DigitsCNN(nn.Module):
    """conv1 -> relu -> conv2 -> relu -> pool -> flatten -> fc1 -> relu -> fc2 (logits)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.pool(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def build_model(seed=None):
    """A freshly initialised DigitsCNN (seeded when seed is given)."""
    if seed is not None:
        torch.manual_seed(seed)
    return DigitsCNN()


def load_digits_split():
    """(x_train, x_test, y_train, y_test): float32 N x 1 x 8 x 8 in [0, 1], int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0,
                                              stratify=y)
    return (np.ascontiguousarray(x_tr), np.ascontiguousarray(x_te),
            np.ascontiguousarray(y_tr), np.ascontiguousarray(y_te))


def train(model, x, y, seed=DEFAULT_SEED, epochs=DEFAULT_EPOCHS, lr=3e-3, batch_size=32,
          params=None, augment=None):
    """Adam + cross-entropy, shuffled with a seeded generator. x, y: numpy or tensors.

    params: the parameters to optimise (default: all). augment: optional callable
    (xb, generator) -> xb applied to each batch. Returns the model (in eval mode).
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.int64)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters() if params is None else params, lr=lr)
    model.train()
    n = x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, gen)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model, x, y):
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.int64)
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def _tmp_path(path):
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_bytes_atomic(path, data):
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    _atomic(path, write)


def _atomic(path, write):
    """Call write(tmp_path), then os.replace it onto path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def export_model(module, path, metadata=None, script=True, example=None):
    """Script (or trace with example) an eval-mode copy and save it atomically."""
    module.eval()
    sm = torch.jit.trace(module, example) if not script else torch.jit.script(module)
    sm.eval()
    extra = {"modelgate.json": json.dumps(METADATA if metadata is None else metadata)}
    buf = io.BytesIO()  # via memory: the archive's folder name does not depend on the temp name
    torch.jit.save(sm, buf, _extra_files=extra)
    write_bytes_atomic(path, buf.getvalue())
    return sm


def save_npz(path, **arrays):
    def write(tmp):
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, **arrays)
    _atomic(path, write)


def save_pt_dataset(path, inputs, labels):
    obj = {"inputs": torch.as_tensor(inputs), "labels": torch.as_tensor(labels)}
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())


def train_demo_model(seed=DEFAULT_SEED, epochs=DEFAULT_EPOCHS):
    """Deterministically train the demo model; returns (model, split)."""
    set_determinism(seed)
    split = load_digits_split()
    x_tr, x_te, y_tr, y_te = split
    model = build_model(seed)
    train(model, x_tr, y_tr, seed=seed, epochs=epochs)
    return model, split


def main(argv=None):
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    model_path, npz_path, pt_path = demo_paths(args.out_dir)
    if not args.force and all(p.is_file() and p.stat().st_size > 0
                              for p in (model_path, npz_path, pt_path)):
        print("demo data present: " + ", ".join(map(str, (model_path, npz_path, pt_path))))
        return 0
    model, (x_tr, x_te, y_tr, y_te) = train_demo_model()
    acc = accuracy(model, x_te, y_te)
    print(f"digits-cnn: train {len(y_tr)} test {len(y_te)} test accuracy {acc:.4f}")
    if acc < 0.95:
        print(f"make_demo: error: test accuracy {acc:.4f} < 0.95", file=sys.stderr)
        return 1
    export_model(model, model_path)
    save_npz(npz_path, inputs=x_te.astype(np.float32), labels=y_te.astype(np.int64))
    save_pt_dataset(pt_path, x_te.astype(np.float32), y_te.astype(np.int64))
    for p in (model_path, npz_path, pt_path):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
