#!/usr/bin/env python3
"""Plain-PyTorch oracle for modelgate: textbook FGSM, PGD (L-inf) and Gaussian blur.

    plain_pytorch.py --model M.pt --data D.npz|D.pt [--batch-size 128]
                     [--fgsm EPS ...] [--pgd EPS:STEPS:STEP_SIZE ...] [--blur K:SIGMA ...]
                     [--json OUT.json]

Semantics (the C++ engine implements the same):
  * inputs float32 N x C x H x W in [0, 1]; model = torch.jit.load(...).eval();
  * loss = cross-entropy with reduction='sum' (per-sample input gradients do not depend
    on the batch size), evaluated batch by batch in dataset order;
  * clean: number of samples with argmax(model(x)) == y;
  * FGSM: x_adv = clamp(x + eps * sign(grad_x CE), 0, 1);
  * PGD (no random start): x = x0; repeat steps times:
        g = grad_x CE(model(x), y)
        x = clamp(min(max(x + alpha * sign(g), x0 - eps), x0 + eps), 0, 1)
    and the last iterate is scored;
  * blur: separable k x k Gaussian per channel (depthwise conv), reflect-101 borders
    (F.pad mode='reflect'), g[i] = exp(-(i - (k-1)/2)^2 / (2 sigma^2)) normalised to
    sum 1 (computed in float64, then cast to float32); sigma <= 0 -> OpenCV's default
    0.3 * ((k - 1) * 0.5 - 1) + 0.8. Horizontal pass, then vertical pass, in float32.

Output JSON:
  {"clean": {"correct", "total"},
   "fgsm": [{"epsilon", "correct", "total"}],
   "pgd":  [{"epsilon", "steps", "stepSize", "correct", "total"}],
   "blur": [{"kernel", "sigma", "correct", "total"}]}
("sigma" is the value as requested; "sigmaUsed" is the one applied.)
"""
import argparse
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


# ----------------------------------------------------------------------------- data
def load_model(path, device="cpu"):
    with warnings.catch_warnings():  # torch 2.11 marks torch.jit.load deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        model = torch.jit.load(str(path), map_location=device)
    model.eval()
    return model


def load_dataset(path):
    """(inputs float32 tensor N x C x H x W, labels int64 tensor N) from .npz or .pt."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as d:
            x, y = d["inputs"], d["labels"]
        x = torch.from_numpy(np.ascontiguousarray(x))
        y = torch.from_numpy(np.ascontiguousarray(y))
    else:
        obj = torch.load(str(path), map_location="cpu")
        x, y = obj["inputs"], obj["labels"]
    return x.to(torch.float32).contiguous(), y.to(torch.int64).contiguous()


def batches(n, batch_size):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


# -------------------------------------------------------------------------- helpers
@torch.no_grad()
def count_correct(model, x, y):
    return int((model(x).argmax(dim=1) == y).sum().item())


def input_grad(model, x, y):
    """grad_x of CE(model(x), y) with reduction='sum'."""
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(model, x, y, eps):
    g = input_grad(model, x, y)
    return torch.clamp(x + eps * torch.sign(g), 0.0, 1.0).detach()


def pgd(model, x0, y, eps, steps, step_size):
    x = x0.clone()
    lo, hi = x0 - eps, x0 + eps
    for _ in range(steps):
        g = input_grad(model, x, y)
        x = torch.clamp(torch.min(torch.max(x + step_size * torch.sign(g), lo), hi), 0.0, 1.0)
        x = x.detach()
    return x


def _per_sample_norm(t):
    return t.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (t.dim() - 1)))


def pgd_l2(model, x0, y, eps, steps, step_size):
    """Textbook L2 PGD: normalised gradient step, projection onto the eps-ball, clamp."""
    x = x0.clone()
    for _ in range(steps):
        g = input_grad(model, x, y)
        gn = _per_sample_norm(g)
        x = x + step_size * torch.where(gn > 0, g / gn.clamp_min(1e-30), torch.zeros_like(g))
        d = x - x0
        dn = _per_sample_norm(d)
        d = d * torch.clamp(eps / dn.clamp_min(1e-30), max=1.0)
        x = torch.clamp(x0 + d, 0.0, 1.0).detach()
    return x


def opencv_default_sigma(k):
    return 0.3 * ((k - 1) * 0.5 - 1) + 0.8


def gaussian_kernel1d(k, sigma):
    if k < 1 or k % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 1, got {k}")
    if sigma <= 0:
        sigma = opencv_default_sigma(k)
    c = (k - 1) / 2.0
    g = np.array([math.exp(-((i - c) ** 2) / (2.0 * sigma * sigma)) for i in range(k)],
                 dtype=np.float64)
    g /= g.sum()
    return torch.from_numpy(g.astype(np.float32))


def gaussian_blur(x, k, sigma):
    """Separable Gaussian blur of N x C x H x W float32, reflect-101 borders."""
    c = x.shape[1]
    g = gaussian_kernel1d(k, sigma).to(dtype=x.dtype, device=x.device)
    p = (k - 1) // 2
    if p == 0:
        return x.clone()
    wh = g.view(1, 1, 1, k).repeat(c, 1, 1, 1)
    wv = g.view(1, 1, k, 1).repeat(c, 1, 1, 1)
    out = F.conv2d(F.pad(x, (p, p, 0, 0), mode="reflect"), wh, groups=c)
    out = F.conv2d(F.pad(out, (0, 0, p, p), mode="reflect"), wv, groups=c)
    return out


# ------------------------------------------------------------------- whole-set runs
def clean_correct(model, x, y, batch_size=128):
    return sum(count_correct(model, x[s], y[s]) for s in batches(len(y), batch_size))


def fgsm_correct(model, x, y, eps, batch_size=128):
    return sum(count_correct(model, fgsm(model, x[s], y[s], eps), y[s])
               for s in batches(len(y), batch_size))


def pgd_correct(model, x, y, eps, steps, step_size, batch_size=128):
    return sum(count_correct(model, pgd(model, x[s], y[s], eps, steps, step_size), y[s])
               for s in batches(len(y), batch_size))


def pgd_l2_correct(model, x, y, eps, steps, step_size, batch_size=128):
    return sum(count_correct(model, pgd_l2(model, x[s], y[s], eps, steps, step_size), y[s])
               for s in batches(len(y), batch_size))


def blur_correct(model, x, y, k, sigma, batch_size=128):
    return sum(count_correct(model, gaussian_blur(x[s], k, sigma), y[s])
               for s in batches(len(y), batch_size))


def setup_determinism():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def evaluate(model, x, y, batch_size=128, fgsm_eps=(), pgd_specs=(), blur_specs=()):
    """pgd_specs: (eps, steps, step_size) tuples; blur_specs: (k, sigma) tuples."""
    n = int(len(y))
    out = {"clean": {"correct": clean_correct(model, x, y, batch_size), "total": n},
           "fgsm": [], "pgd": [], "blur": []}
    for eps in fgsm_eps:
        out["fgsm"].append({"epsilon": eps, "total": n,
                            "correct": fgsm_correct(model, x, y, eps, batch_size)})
    for eps, steps, alpha in pgd_specs:
        out["pgd"].append({"epsilon": eps, "steps": steps, "stepSize": alpha, "total": n,
                           "correct": pgd_correct(model, x, y, eps, steps, alpha,
                                                  batch_size)})
    for k, sigma in blur_specs:
        out["blur"].append({"kernel": k, "sigma": sigma,
                            "sigmaUsed": sigma if sigma > 0 else opencv_default_sigma(k),
                            "total": n,
                            "correct": blur_correct(model, x, y, k, sigma, batch_size)})
    return out


# ---------------------------------------------------------------------------- CLI
def _pgd_spec(s):
    parts = s.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected EPS:STEPS:STEP_SIZE, got {s!r}")
    return float(parts[0]), int(parts[1]), float(parts[2])


def _blur_spec(s):
    parts = s.split(":")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected K[:SIGMA], got {s!r}")
    k = int(parts[0].lower().split("x")[0])
    return k, float(parts[1]) if len(parts) == 2 else 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--fgsm", type=float, nargs="*", default=[], metavar="EPS")
    ap.add_argument("--pgd", type=_pgd_spec, nargs="*", default=[],
                    metavar="EPS:STEPS:STEP_SIZE")
    ap.add_argument("--blur", type=_blur_spec, nargs="*", default=[], metavar="K:SIGMA")
    ap.add_argument("--json", help="write the JSON here (default: stdout)")
    args = ap.parse_args(argv)

    setup_determinism()
    model = load_model(args.model)
    x, y = load_dataset(args.data)
    out = evaluate(model, x, y, args.batch_size, args.fgsm, args.pgd, args.blur)
    text = json.dumps(out, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
