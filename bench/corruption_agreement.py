#!/usr/bin/env python3
"""The corruption benchmark's agreement and speed tables (issue 14), measured in one run.

Agreement, per implemented corruption and severity, against imagecorruptions (the reference
package; ImageNet-C's parameters, which it applies at every size) on the same images:
  - deterministic corruptions: mean absolute difference in levels of 255, both 8-bit (as the
    package quantises: truncated), on 48 photo-like 32x32 images and 6 at 80x80;
  - random ones: the perturbation's mean and standard deviation, ours against the reference's;
  - all: the colour demo model's accuracy (configs/models/digits_rgb32.pt, normalised inputs)
    on its test digits repeated to ~2500 samples, modelgate's validate against the model on the
    reference package's images.
Speed: images per second at severity 3, modelgate's CPU implementation (build/bench/
bench_corruptions, all cores) against imagecorruptions.corrupt (one process) on images of the
same sizes (32x32 and 224x224).

  .venv/bin/python bench/corruption_agreement.py --out bench/results/corruption_benchmark.md
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
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "reference"), str(ROOT / "tests" / "cli"), str(ROOT / "scripts")]
os.environ.setdefault("MODELGATE_BIN", str(ROOT / "build" / "modelgate"))
BIN = Path(os.environ["MODELGATE_BIN"])

import corruption_reference as cr  # noqa: E402
from make_examples import MEAN, STD  # noqa: E402
from test_corruption_benchmark import DETERMINISTIC, RANDOM, photo_like  # noqa: E402


def job(path, dataset, tests=None, model=None):
    docs = [{"apiVersion": "security.nootropic.ai/v1", "kind": "ValidationJob", "metadata": {"name": "agree"},
             "spec": {"models": [{"name": "m", "path": str(model or path.parent / "unused.pt"),
                                  "normalize": {"mean": list(MEAN), "std": list(STD)}}],
                      "dataset": {"path": str(dataset)}, "device": "cpu", "seed": 0,
                      "reports": {"format": "json", "location": str(path.parent / "reports")}}}]
    if tests:
        docs.append({"apiVersion": "security.nootropic.ai/v1", "kind": "RobustnessTesting",
                     "metadata": {"name": "rob"}, "spec": {"tests": tests}})
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def export(tmp, job_path, name, severity, parameters):
    out = tmp / "export"
    args = [BIN, "dataset", job_path, "--export", out, "--corrupt", name, "--severity", str(severity)]
    if parameters:
        args += ["--parameters", parameters]
    subprocess.run(list(map(str, args)), check=True, capture_output=True)
    return np.load(out / "inputs.npy")


def npy_set(tmp, images, labels=None):
    d = tmp / f"set{images.shape[1]}"
    d.mkdir(exist_ok=True)
    np.save(d / "inputs.npy", images)
    np.save(d / "labels.npy", np.zeros(len(images), np.int64) if labels is None else labels)
    return d / "inputs.npy"


def agreement(tmp, names):
    rows = {}
    sets = [(photo_like(48, 32, 1), "imagenet"), (photo_like(6, 80, 2), None)]
    for images, params in sets:
        jp = job(tmp / f"j{images.shape[1]}.yaml", npy_set(tmp, images))
        for name in names:
            for s in range(1, 6):
                mine = cr.as_reference_bytes(export(tmp, jp, name, s, params))
                ref = cr.reference(images, name, s)
                row = rows.setdefault((name, s), {})
                if name in RANDOM:
                    if images.shape[1] == 32:
                        row["ours"], row["ref"] = cr.perturbation_stats(mine, images), cr.perturbation_stats(ref, images)
                else:
                    row[f"mad{images.shape[1]}"] = cr.mean_abs_diff(mine, ref)
    return rows


def effect(tmp, names, rows):
    raw = np.fromfile(ROOT / "configs" / "data" / "examples" / "test_batch.bin", dtype=np.uint8).reshape(-1, 3073)
    labels, images = raw[:, 0].astype(np.int64), raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    reps = max(1, 2500 // len(images))
    images, labels = np.tile(images, (reps, 1, 1, 1)), np.tile(labels, reps)
    d = tmp / "effect"
    d.mkdir()
    np.save(d / "inputs.npy", images)
    np.save(d / "labels.npy", labels)
    model_path = ROOT / "configs" / "models" / "digits_rgb32.pt"
    jp = job(d / "job.yaml", d / "inputs.npy", [{"type": n, "parameters": "imagenet"} for n in names], model_path)
    subprocess.run([str(BIN), "validate", str(jp), "--report", str(d / "r.json")], capture_output=True)
    report = json.loads((d / "r.json").read_text())
    model = torch.jit.load(str(model_path)).eval()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)

    def accuracy(u8):
        x = torch.from_numpy(u8.transpose(0, 3, 1, 2).astype(np.float32) / 255)
        with torch.no_grad():
            pred = torch.cat([model((b - mean) / std).argmax(1) for b in x.split(500)])
        return float((pred.numpy() == labels).mean())

    for c in report["models"][0]["robustness"]:
        row = rows[(c["name"], c["severity"])]
        row["acc_ours"], row["acc_ref"] = c["accuracy"], accuracy(cr.reference(images, c["name"], c["severity"]))
    return len(images), accuracy(images)


def speed(names):
    proc = subprocess.run([str(ROOT / "build" / "bench" / "bench_corruptions"), "--benchmark_min_time=0.3",
                           "--benchmark_format=json"], check=True, capture_output=True, text=True)
    ours = {b["name"].rsplit("/real_time", 1)[0]: b["items_per_second"] for b in json.loads(proc.stdout)["benchmarks"]}
    out = {}
    for side in (32, 224):
        images = photo_like(64 if side == 32 else 8, side, 3)
        for name in names:
            np.random.seed(0)
            t0 = time.perf_counter()
            reps = 0
            while time.perf_counter() - t0 < 1.0 or reps == 0:
                for im in images:
                    cr.imagecorruptions.corrupt(im, corruption_name=name, severity=3)
                reps += 1
            ref = reps * len(images) / (time.perf_counter() - t0)
            out[(name, side)] = (ours[f"{name}/{side}"], ref)
    return out


def markdown(rows, n_effect, clean_acc, speeds, names):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    lines = [f"# The corruption benchmark against imagecorruptions",
             "",
             f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {cpu} ({os.cpu_count()} cores), no GPU, by "
             "`bench/corruption_agreement.py`; imagecorruptions 1.1.2 with ImageNet-C's parameters at every size.",
             "",
             "## Agreement",
             "",
             "Deterministic corruptions: mean absolute difference in levels of 255 (both 8-bit, truncated as the "
             "package does) on 48 photo-like 32x32 images and 6 at 80x80; bound 1.0. Random ones: the perturbation's "
             "mean / standard deviation in levels, modelgate vs the reference, on the 48 32x32 images; bound 5 % "
             f"(the mean: of the reference's standard deviation). Accuracy: the colour demo model on {n_effect} "
             f"test digits (clean {clean_acc:.4f}), modelgate's validate vs the model on the package's images; "
             "bound 2 points for the random ones.",
             "",
             "| corruption | severity | difference 32 px | difference 80 px | perturbation (ours) | perturbation (ref) "
             "| accuracy ours | accuracy ref | gap |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        for s in range(1, 6):
            r = rows[(name, s)]
            f = lambda k: f"{r[k]:.3f}" if k in r else ""  # noqa: E731
            pert = lambda k: f"{r[k][0]:+.2f} / {r[k][1]:.2f}" if k in r else ""  # noqa: E731
            gap = f"{100 * (r['acc_ours'] - r['acc_ref']):+.2f}" if "acc_ours" in r else ""
            lines.append(f"| {name} | {s} | {f('mad32')} | {f('mad80')} | {pert('ours')} | {pert('ref')} | "
                         f"{r.get('acc_ours', 0):.4f} | {r.get('acc_ref', 0):.4f} | {gap} |")
    lines += ["", "## Speed (images per second, severity 3)", "",
              "| corruption | ours 32 px | imagecorruptions 32 px | ratio | ours 224 px | imagecorruptions 224 px | ratio |",
              "|---|---|---|---|---|---|---|"]
    tot = {32: [0.0, 0.0], 224: [0.0, 0.0]}
    for name in names:
        cells = []
        for side in (32, 224):
            o, ref = speeds[(name, side)]
            tot[side][0] += 1 / o
            tot[side][1] += 1 / ref
            cells += [f"{o:,.0f}", f"{ref:,.0f}", f"{o / ref:.1f}x"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    suite = [f"{1 / tot[s][0]:,.1f}" for s in (32, 224)]
    lines.append(f"| **all {len(names)} in turn** | {suite[0]} | {1 / tot[32][1]:,.1f} | {tot[32][1] / tot[32][0]:.1f}x | "
                 f"{suite[1]} | {1 / tot[224][1]:,.1f} | {tot[224][1] / tot[224][0]:.1f}x |")
    lines += ["", f"Platform: {platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    names = [n for n in cr.NAMES if n in DETERMINISTIC + RANDOM]
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        rows = agreement(tmp, names)
        n_effect, clean_acc = effect(tmp, names, rows)
    speeds = speed(names)
    args.out.write_text(markdown(rows, n_effect, clean_acc, speeds, names))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
