#!/usr/bin/env python3
"""What running model code in a confined worker costs: `modelgate validate` on the same job with
the default isolation (a worker process per model) and with ModelRuntimeProtection
`isolation: none` (model code in modelgate's own process), interleaved, medians over repeats.

Jobs: the demo CNN (scripts/make_demo.py) on its 450 digits, and torchvision's resnet18
(num_classes=10, seeded random weights, scripted) on 64 seeded 3x32x32 inputs labelled with its
own predictions; each with FGSM at one epsilon and the fingerprint. The difference is the worker's
start-up (a second LibTorch process, the warm-up, confinement), the model loaded there, and the
result transfer.

  .venv/bin/python bench/isolation_overhead.py --repeats 5 --out bench/results/isolation.md
"""
import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / "build" / "modelgate"


def job(model, data, isolation, reports):
    docs = [f"""apiVersion: security.nootropic.ai/v1
kind: ValidationJob
metadata: {{name: bench}}
spec:
  models: [{{name: m, path: {model}}}]
  dataset: {{path: {data}, batchSize: 64}}
  device: cpu
  baseline: {{report: none}}
  reports: {{format: json, location: {reports}}}""",
            """apiVersion: security.nootropic.ai/v1
kind: AdversarialTesting
metadata: {name: adv}
spec:
  attacks: [{type: fgsm, epsilon: 0.03}]""",
            f"""apiVersion: security.nootropic.ai/v1
kind: ModelRuntimeProtection
metadata: {{name: runtime}}
spec:
  memory: {{protection: enabled, isolation: {isolation}}}"""]
    return "\n---\n".join(docs) + "\n"


def resnet(folder):
    import torchvision

    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = m(x).argmax(1)
    path = folder / "resnet18.pt"
    torch.jit.script(m).save(str(path))
    data = folder / "resnet_inputs.npz"
    with open(data, "wb") as f:
        np.savez(f, inputs=x.numpy(), labels=y.numpy())
    return path, data


def time_run(job_file):
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN), "-q", "validate", str(job_file)], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"validate failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [("demo CNN, 450 digits", REPO / "configs" / "models" / "digits_cnn.pt",
                  REPO / "configs" / "data" / "digits_test.npz"),
                 ("resnet18, 64 × 3×32×32", *resnet(tmp))]
        for label, model, data in cases:
            files = {}
            for iso in ("process", "none"):
                f = tmp / f"{model.stem}-{iso}.yaml"
                f.write_text(job(model, data, iso, tmp / "reports"))
                files[iso] = f
            times = {"process": [], "none": []}
            time_run(files["process"])  # warm the page cache
            for _ in range(args.repeats):
                for iso in ("process", "none"):
                    times[iso].append(time_run(files[iso]))
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append((label, med["none"], med["process"], med["process"] - med["none"]))
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    text = [f"# Isolation overhead: `validate` with a worker process per model vs in process",
            "",
            f"{datetime.now(timezone.utc):%Y-%m-%d}, {cpu}, {len(open('/proc/cpuinfo').read().split('processor')) - 1} cores, CPU only, "
            f"torch {torch.__version__}; median of {args.repeats} interleaved runs of the whole command "
            "(`bench/isolation_overhead.py`).",
            "",
            "| job | in process (`isolation: none`) | worker (default) | overhead |",
            "|---|---|---|---|"]
    for label, none, proc, diff in rows:
        text.append(f"| {label} | {none:.2f} s | {proc:.2f} s | {diff:+.2f} s ({100 * diff / none:+.0f}%) |")
    out = "\n".join(text) + "\n"
    print(out)
    if args.out:
        args.out.write_text(out)


if __name__ == "__main__":
    main()
