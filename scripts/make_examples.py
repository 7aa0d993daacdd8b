#!/usr/bin/env python3
"""Make the data and model of the example jobs in configs/datasets/: the demo's test digits in
every dataset format modelgate reads, and a small RGB model that expects normalised inputs.

    make_examples.py [--out-dir DIR] [--force]

Writes (DIR defaults to <repo>/configs; the examples that use the demo model need scripts/make_demo.py too):
    DIR/data/examples/digits_u8_nhwc.npy     uint8 N x 8 x 8 x 1 pixels (layout detected as NHWC)
    DIR/data/examples/labels.npy             int64 labels, beside it
    DIR/data/examples/test_batch.bin         CIFAR-10 binary records: the digits as 3 x 32 x 32 colour images
    DIR/data/examples/digits_images/<d>/     an image folder: one class folder per digit of the colour digits,
                                             as 32 x 32 PNG and 40 x 40 JPEG files
    DIR/data/examples/digits_grey/<d>/       the grey digits as 24 x 24 PNG and 16 x 16 JPEG files
    DIR/data/examples/digits_c/              the colour digits in CIFAR-10-C's layout: gaussian_noise.npy,
                                             contrast.npy and brightness.npy (uint8 N*5 x 32 x 32 x 3, severities
                                             1-5 stacked, CIFAR-10-C's parameters) and labels.npy (N*5);
                                             test_batch.bin holds the same images clean, in the same order
    DIR/models/digits_rgb32.pt               a CNN for 3 x 32 x 32 colour digits trained on inputs normalised
                                             with MEAN and STD (its job entry gives them as `normalize`)

Idempotent: when every file exists and --force is not given it exits at once.
"""
import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

# The colour digits: the grey digit scaled per channel, so the channels differ.
TINT = (1.0, 0.7, 0.4)
# Mean and standard deviation per channel of the colour training digits, rounded (the example
# jobs' `normalize`).
MEAN = (0.31, 0.22, 0.12)
STD = (0.42, 0.29, 0.17)


def outputs(out_dir):
    d = Path(out_dir) / "data" / "examples"
    return {"npy": d / "digits_u8_nhwc.npy", "labels": d / "labels.npy", "cifar": d / "test_batch.bin",
            "images": d / "digits_images", "grey": d / "digits_grey", "corrupted": d / "digits_c" / "labels.npy",
            "model": Path(out_dir) / "models" / "digits_rgb32.pt"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(REPO_ROOT / "configs"))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    out = outputs(args.out_dir)
    if not args.force and all(p.exists() for p in out.values()) and (out["grey"] / "9").is_dir():
        print("example data present: " + str(out["npy"].parent))
        return 0

    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from PIL import Image

    import make_demo as md

    md.set_determinism(0)
    x_tr, x_te, y_tr, y_te = md.load_digits_split()
    u8 = np.round(x_te * 255).astype(np.uint8)  # N x 1 x 8 x 8

    npy_dir = out["npy"].parent
    npy_dir.mkdir(parents=True, exist_ok=True)
    md._atomic(out["npy"], lambda tmp: np.save(open(tmp, "wb"), u8.transpose(0, 2, 3, 1).copy()))
    md._atomic(out["labels"], lambda tmp: np.save(open(tmp, "wb"), y_te.astype(np.int64)))

    def colour32(x):  # N x 1 x 8 x 8 float -> N x 3 x 32 x 32 float
        big = np.kron(x, np.ones((1, 1, 4, 4), dtype=np.float32))
        return np.concatenate([big * t for t in TINT], axis=1).astype(np.float32)

    c_te = np.round(colour32(x_te) * 255).astype(np.uint8)
    records = b"".join(bytes([int(y)]) + img.tobytes() for img, y in zip(c_te, y_te))
    md.write_bytes_atomic(out["cifar"], records)

    for i, (img, y) in enumerate(zip(u8, y_te)):
        colour = Image.fromarray(c_te[i].transpose(1, 2, 0), "RGB")
        grey = Image.fromarray(img[0], "L")
        for root in (out["images"], out["grey"]):
            (root / str(int(y))).mkdir(parents=True, exist_ok=True)
        if i % 2 == 0:
            colour.save(out["images"] / str(int(y)) / f"{i:04d}.png")
            grey.resize((24, 24), Image.NEAREST).save(out["grey"] / str(int(y)) / f"{i:04d}.png")
        else:
            colour.resize((40, 40), Image.BILINEAR).save(out["images"] / str(int(y)) / f"{i:04d}.jpg", quality=95)
            grey.resize((16, 16), Image.BILINEAR).save(out["grey"] / str(int(y)) / f"{i:04d}.jpg", quality=95)

    # CIFAR-10-C's parameters for these three (Hendrycks & Dietterich's make_cifar_c.py): noise
    # sigma, contrast factor about the image mean, brightness added to HSV value (here to RGB).
    corrupted = out["corrupted"].parent
    corrupted.mkdir(parents=True, exist_ok=True)
    x = c_te.transpose(0, 2, 3, 1).astype(np.float32) / 255  # N x 32 x 32 x 3
    rng = np.random.default_rng(0)
    recipes = {
        "gaussian_noise": lambda x, c: x + rng.normal(size=x.shape, scale=c),
        "contrast": lambda x, c: (x - x.mean(axis=(1, 2, 3), keepdims=True)) * c + x.mean(axis=(1, 2, 3), keepdims=True),
        "brightness": lambda x, c: x + c,
    }
    params = {"gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10], "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],
              "brightness": [0.05, 0.1, 0.15, 0.2, 0.3]}
    for name, f in recipes.items():
        stacked = np.concatenate([np.clip(f(x, c), 0, 1) for c in params[name]])
        pixels = np.round(stacked * 255).astype(np.uint8)
        md._atomic(corrupted / f"{name}.npy", lambda tmp: np.save(open(tmp, "wb"), pixels))
    md._atomic(out["corrupted"], lambda tmp: np.save(open(tmp, "wb"), np.tile(y_te.astype(np.int64), 5)))

    class DigitsRGB(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
            self.fc = nn.Linear(32 * 8 * 8, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            return self.fc(torch.flatten(x, 1))

    mean = np.array(MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(STD, dtype=np.float32).reshape(1, 3, 1, 1)
    norm = lambda x: (x - mean) / std  # noqa: E731
    model = DigitsRGB()
    md.train(model, norm(colour32(x_tr)), y_tr, epochs=8)
    acc = md.accuracy(model, norm(colour32(x_te)), y_te)
    print(f"digits-rgb32: test accuracy {acc:.4f} on normalised inputs")
    if acc < 0.9:
        print(f"make_examples: error: test accuracy {acc:.4f} < 0.9", file=sys.stderr)
        return 1
    md.export_model(model, out["model"], metadata={"name": "digits-rgb32", "input_shape": [3, 32, 32],
                                                   "num_classes": 10, "normalize": {"mean": MEAN, "std": STD}})
    for p in out.values():
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
