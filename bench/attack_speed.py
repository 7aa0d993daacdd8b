#!/usr/bin/env python3
"""PGD speed, side by side in one run: torchattacks, the textbook loop, and modelgate (plain and
with the active set), on the same TorchScript file, the same data, eps/alpha/steps, no random
start, and the same thread count.

  (a) torchattacks.PGD(random_start=False) on torch.jit.load(model)
  (b) the textbook loop, tests/reference/plain_pytorch.py's pgd()
  (c) modelgate's attacks::run_pgd, active set off (build/bench/bench_attack)
  (d) the same with the active set

Every method's time covers the attack and the forward pass that scores its result: (a) and (b)
predict on the returned last iterate; modelgate scores every iterate as it goes, so its last
evaluation is that forward pass. Rounds are interleaved (a, b, c+d, then again) so that drift in
machine load hits every method alike; medians over the rounds are reported.

Robust counts: torchattacks and the textbook loop report the last iterate; modelgate reports
"any iterate" (a sample counts as fooled if some evaluated iterate was misclassified, as in
AutoAttack) and, without the active set, the last iterate too. Like is compared with like.

Models: the demo CNN (scripts/make_demo.py) and torchvision's resnet18(num_classes=10) with
seeded random weights, scripted, eval mode, at 3x32x32 with seeded uniform inputs labelled with
the model's own clean predictions (every sample starts correct).

  .venv/bin/python bench/attack_speed.py --threads 2 --repeats 5 --json out.json
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reference"))
import plain_pytorch  # noqa: E402  (the textbook loop the CLI tests use as oracle)


def make_resnet(folder, samples, seed):
    import torchvision
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=10).eval()
    path = Path(folder) / "resnet18_cifar_random.pt"
    torch.jit.script(model).save(str(path))
    scripted = torch.jit.load(str(path)).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(samples, 3, 32, 32, generator=gen)
    with torch.no_grad():
        y = scripted(x).argmax(1)
    data = Path(folder) / "resnet18_cifar_random.npz"
    np.savez(data, inputs=x.numpy(), labels=y.numpy().astype(np.int64))
    return path, data


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class ForeignCpu:
    """Share of the machine's CPU time used by other processes while the block ran: our own
    process and its finished children (the C++ runs) are subtracted from the machine's busy time."""

    def __enter__(self):
        self.machine = cpu_jiffies()
        self.own = os.times()
        return self

    def __exit__(self, *exc):
        busy0, total0 = self.machine
        busy1, total1 = cpu_jiffies()
        t0, t1 = self.own, os.times()
        own = (t1.user - t0.user + t1.system - t0.system + t1.children_user - t0.children_user
               + t1.children_system - t0.children_system) * os.sysconf("SC_CLK_TCK")
        self.share = max(0.0, (busy1 - busy0) - own) / max(1, total1 - total0)


def batches(n, size):
    return [(i, min(size, n - i)) for i in range(0, n, size)]


def run_python(method, model, x, y, spec, passes=1):
    """Seconds of each of `passes` passes over the data, and the last-iterate robust count."""
    eps, alpha, steps, batch = spec["eps"], spec["alpha"], spec["steps"], spec["batch"]
    if method == "torchattacks":
        import torchattacks
        atk = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
        attack = lambda xb, yb: atk(xb, yb)  # noqa: E731
    else:
        attack = lambda xb, yb: plain_pytorch.pgd(model, xb, yb, eps, steps, alpha)  # noqa: E731
    seconds = []
    for _ in range(passes):
        robust = 0
        start = time.perf_counter()
        for i, n in batches(len(y), batch):
            xb, yb = x[i:i + n], y[i:i + n]
            adv = attack(xb, yb)
            with torch.no_grad():
                robust += int((model(adv).argmax(1) == yb).sum())
        seconds.append(time.perf_counter() - start)
    return seconds, robust


def run_modelgate(binary, model_path, data_path, spec, threads, passes=1):
    cmd = [str(binary), "--model", str(model_path), "--data", str(data_path), "--eps", repr(spec["eps"]),
           "--alpha", repr(spec["alpha"]), "--steps", str(spec["steps"]), "--batch", str(spec["batch"]),
           "--threads", str(threads), "--repeats", str(passes), "--warmup", "1", "--mode", "both"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return {o["method"]: o for o in map(json.loads, proc.stdout.splitlines())}, cmd


def machine():
    cpu = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    top = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    return {"cpu": cpu, "nproc": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
            "loadavg": os.getloadavg(), "busiest": [ln.strip()[:160] for ln in top.splitlines()[1:6]]}


def bench_model(name, model_path, data_path, spec, args):
    model = torch.jit.load(str(model_path)).eval()
    arrays = np.load(data_path)
    x = torch.from_numpy(arrays["inputs"])
    y = torch.from_numpy(arrays["labels"])
    if spec.get("samples"):
        x, y = x[:spec["samples"]], y[:spec["samples"]]
    spec = dict(spec, samples=len(y))
    for method in ("torchattacks", "textbook"):  # TorchScript profiles its first calls (bench_attack: --warmup 1)
        run_python(method, model, x, y, spec)
    methods = ("torchattacks", "textbook", "modelgate-plain", "modelgate-active-set")
    rounds = []  # per round: {method: [seconds of each pass]}, and the foreign CPU share per method
    counts = {}
    cmd = None
    for r in range(args.repeats):
        this = {"seconds": {}, "foreignCpu": {}}
        for method in ("torchattacks", "textbook"):
            with ForeignCpu() as fc:
                seconds, robust = run_python(method, model, x, y, spec, spec["passes"])
            this["seconds"][method], this["foreignCpu"][method] = seconds, fc.share
            counts[method] = {"robustLast": robust}
        with ForeignCpu() as fc:
            out, cmd = run_modelgate(args.bin, model_path, data_path, spec, args.threads, spec["passes"])
        for method, o in out.items():
            assert o["samples"] == spec["samples"], (o, spec)
            this["seconds"][method], this["foreignCpu"][method] = o["seconds"], fc.share
            counts[method] = {"robustAny": o["robustAny"], "robustLast": o["robustLast"]}
        rounds.append(this)
        print(f"  {name} round {r + 1}: " + ", ".join(
            f"{m} {statistics.median(this['seconds'][m]):.3f}s (other processes {100 * this['foreignCpu'][m]:.0f}% CPU)"
            for m in methods), file=sys.stderr)
    # A round in which other processes took more than --quiet-limit of the CPU is left out of the
    # medians when enough quiet rounds remain (OpenMP threads degrade sharply under contention).
    quiet = [rd for rd in rounds if max(rd["foreignCpu"].values()) <= args.quiet_limit]
    used = quiet if len(quiet) >= max(1, (args.repeats + 1) // 2) else rounds
    times = {m: [t for rd in used for t in rd["seconds"][m]] for m in methods}
    medians = {m: statistics.median(t) for m, t in times.items()}
    ta = medians["torchattacks"]
    return {"model": name, "modelFile": str(model_path), "spec": spec, "rounds": rounds,
            "roundsUsed": len(used), "quietRounds": len(quiet), "seconds": times, "medians": medians,
            "speedupOverTorchattacks": {m: ta / s for m, s in medians.items()}, "counts": counts,
            "modelgateCommand": " ".join(cmd)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "bench" / "bench_attack"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="demo,resnet18")
    ap.add_argument("--demo-eps", type=float, default=0.1, help="the demo's L-inf radius; the step is a quarter of it")
    ap.add_argument("--resnet-samples", type=int, default=128)
    ap.add_argument("--resnet-batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet-limit", type=float, default=0.05,
                    help="rounds where other processes used more than this share of the CPU are dropped")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "threads": args.threads,
              "repeats": args.repeats, "command": " ".join([sys.executable, *sys.argv]),
              "machineBefore": machine(), "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            if name == "demo":
                spec = {"eps": args.demo_eps, "alpha": args.demo_eps / 4, "steps": 10, "batch": 128, "passes": 5}
                model_path, data_path = ROOT / "configs/models/digits_cnn.pt", ROOT / "configs/data/digits_test.npz"
                if not model_path.exists():
                    sys.exit("bench: run scripts/make_demo.py first (configs/models/digits_cnn.pt is missing)")
            elif name == "resnet18":
                spec = {"eps": 8 / 255, "alpha": 2 / 255, "steps": 10, "batch": args.resnet_batch, "passes": 1}
                model_path, data_path = make_resnet(tmp, args.resnet_samples, args.seed)
            else:
                sys.exit(f"bench: unknown model {name!r} (expected demo or resnet18)")
            result["models"].append(bench_model(name, model_path, data_path, spec, args))
    result["machineAfter"] = machine()
    for m in result["models"]:
        print(f"\n{m['model']}: {m['spec']}; rounds used {m['roundsUsed']} of {args.repeats} "
              f"({m['quietRounds']} quiet)")
        for method, med in m["medians"].items():
            print(f"  {method:22s} median {med:8.3f}s  ×{m['speedupOverTorchattacks'][method]:.2f} vs torchattacks"
                  f"  {m['counts'][method]}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
