#!/usr/bin/env python3
"""Real-data figures, side by side in one run (real-data issue): modelgate against a plain
PyTorch loop on the same files, models and thread count.

  CIFAR:    ResNet-18 at 3x32x32 (torchvision resnet18(num_classes=10), 3x3 stem, no max-pool),
            random weights, normalised with CIFAR-10's mean/std inside modelgate's wrapper;
            N CIFAR-10 binary records written by this script (seeded uniform pixels).
  ImageNet: ResNet-50 (torchvision resnet50, random weights) on an image folder of M JPEG files
            (10 classes, 256x320 and 320x256, seeded noise), Resize(256) + CenterCrop(224),
            ImageNet's normalisation; the plain loop reads it with torchvision's ImageFolder.

Each modelgate figure is marginal: the wall time of `validate` on n samples minus that of the
same job on a few samples (so the process start, the scan, the load, the preflight and the
fingerprint are not counted), divided by the difference in samples. PGD-10 (L-inf, eps 8/255,
step 2/255, no random start, active set off): the time of clean + PGD minus clean alone. The
fingerprint: `modelgate fingerprint` (P synthetic probes, no boundary probes, no real samples)
minus `modelgate inspect` of the same file, against one plain forward pass over the probes.

Peak memory: the model worker's peak RSS (the job's ResourceMonitoring figure) and modelgate's
own (dataset.peakRssBytes), for clean evaluation of a small CNN on 1x, 4x and 16x the CIFAR
records, as cifar-bin and as uint8 .npy: it must stay flat.

  .venv/bin/python bench/dataset_bench.py --threads 2 --json bench/results/datasets.json
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("MODELGATE_BIN", ROOT / "build" / "modelgate"))
CIFAR_MEAN, CIFAR_STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
EPS, ALPHA, STEPS = 8 / 255, 2 / 255, 10


def yaml_job(path, model, normalize, dataset, attacks=(), resources=False, name="bench"):
    docs = [{"apiVersion": "security.nootropic.ai/v1", "kind": "ValidationJob", "metadata": {"name": name},
             "spec": {"models": [{"name": "m", "path": str(model), **({"normalize": normalize} if normalize else {})}],
                      "dataset": dataset, "device": "cpu", "seed": 0,
                      "reports": {"format": "json", "location": str(path.parent / "reports")}}}]
    if attacks:
        docs.append({"apiVersion": "security.nootropic.ai/v1", "kind": "AdversarialTesting",
                     "metadata": {"name": "adv"}, "spec": {"attacks": list(attacks)}})
    if resources:
        docs.append({"apiVersion": "security.nootropic.ai/v1", "kind": "ResourceMonitoring",
                     "metadata": {"name": "res"}, "spec": {"metrics": ["memory"]}})
    path.write_text("\n---\n".join(json.dumps(d) for d in docs) + "\n")  # JSON is YAML
    return path


def timed(*args, env=None):
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN), "--quiet", *map(str, args)], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"modelgate {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return dt


def validate(job, report):
    dt = timed("validate", job, "--report", report)
    return dt, json.loads(Path(report).read_text())


PGD = {"type": "pgd", "epsilon": EPS, "steps": STEPS, "stepSize": ALPHA, "randomStart": False, "activeSet": False}


def modelgate_rates(tmp, model, normalize, dataset, n_clean, n_small, n_pgd):
    """Marginal samples/s of clean evaluation and of PGD-10."""
    small = dict(dataset, limit=n_small)
    t_small, _ = validate(yaml_job(tmp / "s.yaml", model, normalize, small), tmp / "s.json")
    t_big, rep = validate(yaml_job(tmp / "b.yaml", model, normalize, dict(dataset, limit=n_clean)), tmp / "b.json")
    clean_rate = (n_clean - n_small) / (t_big - t_small)
    t_clean_p, _ = validate(yaml_job(tmp / "c.yaml", model, normalize, dict(dataset, limit=n_pgd)), tmp / "c.json")
    t_pgd, prep = validate(yaml_job(tmp / "p.yaml", model, normalize, dict(dataset, limit=n_pgd), [PGD]), tmp / "p.json")
    pgd_rate = n_pgd / (t_pgd - t_clean_p)
    m, pm = rep["models"][0], prep["models"][0]
    # Last-iterate correct: what the plain loop counts (modelgate's "correct" also needs every iterate).
    return clean_rate, pgd_rate, m["clean"]["correct"], pm["adversarial"][0]["lastIterateCorrect"]


def plain_rates(model, normalize, batches_clean, batches_pgd):
    """The textbook loop: normalise, forward (and PGD-10 with the input gradient), argmax."""
    mean = torch.tensor(normalize["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(normalize["std"]).view(1, -1, 1, 1)
    f = lambda x: model((x - mean) / std)  # noqa: E731
    n, correct, t0 = 0, 0, time.perf_counter()
    with torch.no_grad():
        for x, y in batches_clean():
            correct += (f(x).argmax(1) == y).sum().item()
            n += len(y)
    clean_rate = n / (time.perf_counter() - t0)
    n, robust, t0 = 0, 0, time.perf_counter()
    for x, y in batches_pgd():
        adv = x.clone()
        for _ in range(STEPS):
            adv.requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(f(adv), y)
            g, = torch.autograd.grad(loss, adv)
            adv = torch.min(torch.max(adv.detach() + ALPHA * g.sign(), x - EPS), x + EPS).clamp(0, 1)
        with torch.no_grad():
            robust += (f(adv).argmax(1) == y).sum().item()
        n += len(y)
    return clean_rate, n / (time.perf_counter() - t0), correct, robust


def fingerprint_rate(tmp, model, shape, probes, plain_model, normalize):
    t_fp = timed("fingerprint", model, "--input-shape", ",".join(map(str, shape)), "--probes", probes, "--real", 0,
                 "--boundary", 0, "--out", tmp / "fp.json")
    t_load = timed("inspect", model)
    x = torch.rand(probes, *shape)
    mean = torch.tensor(normalize["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(normalize["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        plain_model((x[:2] - mean) / std)
        t0 = time.perf_counter()
        plain_model((x - mean) / std)
        t_plain = time.perf_counter() - t0
    return probes / max(t_fp - t_load, 1e-9), probes / t_plain


def cifar_records(path, n, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for first in range(0, n, 1000):
            k = min(1000, n - first)
            rec = np.empty((k, 3073), np.uint8)
            rec[:, 0] = rng.integers(0, 10, k)
            rec[:, 1:] = rng.integers(0, 256, (k, 3072))
            f.write(rec.tobytes())


def cifar_arrays(path, n):
    rec = np.fromfile(path, np.uint8).reshape(-1, 3073)[:n]
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


def image_folder(root, m, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(m):
        d = root / f"class{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        h, w = (256, 320) if i % 2 else (320, 256)
        small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)  # smooth: compresses like a photo
        Image.fromarray(small).resize((w, h), Image.BILINEAR).save(d / f"{i:05d}.jpg", quality=90)


def traced(module, shape, path):
    module.eval()
    torch.jit.trace(module, torch.rand(2, *shape)).save(str(path))
    return torch.jit.load(str(path)).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cifar", type=int, default=10000, help="CIFAR records")
    ap.add_argument("--images", type=int, default=1000, help="image folder files")
    ap.add_argument("--pgd-cifar", type=int, default=256)
    ap.add_argument("--pgd-imagenet", type=int, default=16)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    torch.manual_seed(0)
    out = {"device": f"CPU {platform.processor() or platform.machine()}, {args.threads} threads",
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "torch": torch.__version__, "rows": [], "memory": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # ---- CIFAR / ResNet-18
        r18 = torchvision.models.resnet18(num_classes=10)
        r18.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        r18.maxpool = torch.nn.Identity()
        r18 = traced(r18, (3, 32, 32), tmp / "r18.pt")
        cifar_records(tmp / "test_batch.bin", args.cifar)
        norm = {"mean": CIFAR_MEAN, "std": CIFAR_STD}
        ds = {"path": str(tmp / "test_batch.bin"), "batchSize": 128}
        mg = modelgate_rates(tmp, tmp / "r18.pt", norm, ds, args.cifar, 256, args.pgd_cifar)
        x, y = cifar_arrays(tmp / "test_batch.bin", args.cifar)

        def batches(n):
            def gen():
                for i in range(0, n, 128):
                    yield torch.from_numpy(x[i:i + 128].astype(np.float32) / 255), torch.from_numpy(y[i:i + 128])
            return gen
        pl = plain_rates(r18, norm, batches(args.cifar), batches(args.pgd_cifar))
        fp = fingerprint_rate(tmp, tmp / "r18.pt", (3, 32, 32), 256, r18, norm)
        out["rows"].append({"model": "ResNet-18", "data": f"cifar-bin, {args.cifar} records", "modelgate": mg, "plain": pl,
                            "fingerprint": fp})
        print(out["rows"][-1], flush=True)
        # ---- ImageNet-style folder / ResNet-50
        r50 = traced(torchvision.models.resnet50(), (3, 224, 224), tmp / "r50.pt")
        image_folder(tmp / "images", args.images)
        norm = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
        ds = {"path": str(tmp / "images"), "resize": 256, "centerCrop": 224, "batchSize": 32}
        mg = modelgate_rates(tmp, tmp / "r50.pt", norm, ds, args.images, 32, args.pgd_imagenet)
        tf = torchvision.transforms.Compose([torchvision.transforms.Resize(256), torchvision.transforms.CenterCrop(224),
                                             torchvision.transforms.ToTensor()])
        folder = torchvision.datasets.ImageFolder(str(tmp / "images"), transform=tf)

        def loader(n):
            def gen():
                sub = torch.utils.data.Subset(folder, range(n))
                yield from torch.utils.data.DataLoader(sub, batch_size=32, num_workers=0)
            return gen
        pl = plain_rates(r50, norm, loader(args.images), loader(args.pgd_imagenet))
        fp = fingerprint_rate(tmp, tmp / "r50.pt", (3, 224, 224), 64, r50, norm)
        out["rows"].append({"model": "ResNet-50", "data": f"imagefolder, {args.images} JPEG", "modelgate": mg, "plain": pl,
                            "fingerprint": fp})
        print(out["rows"][-1], flush=True)
        # ---- peak memory against dataset size
        small = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
                                    torch.nn.Flatten(), torch.nn.Linear(128, 10))
        traced(small, (3, 32, 32), tmp / "small.pt")
        for times in (1, 4, 16):
            n = args.cifar * times
            cifar_records(tmp / "big.bin", n, seed=times)
            xs, _ = cifar_arrays(tmp / "big.bin", n)
            np.save(tmp / "big_nhwc.npy", xs.transpose(0, 2, 3, 1))
            np.save(tmp / "labels.npy", np.fromfile(tmp / "big.bin", np.uint8).reshape(-1, 3073)[:, 0].astype(np.int64))
            del xs
            for fmt, path in (("cifar-bin", tmp / "big.bin"), ("npy", tmp / "big_nhwc.npy")):
                job = yaml_job(tmp / "m.yaml", tmp / "small.pt", None, {"path": str(path), "batchSize": 256}, resources=True)
                t, rep = validate(job, tmp / "m.json")
                m = rep["models"][0]
                out["memory"].append({"format": fmt, "samples": n, "bytes": path.stat().st_size,
                                      "workerPeakRssMiB": m["monitoring"]["resources"]["peakRssBytes"] / 2**20,
                                      "modelgatePeakRssMiB": rep["dataset"]["peakRssBytes"] / 2**20, "seconds": t})
                print(out["memory"][-1], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
