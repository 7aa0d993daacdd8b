#!/usr/bin/env python3
"""Build the fingerprint calibration zoo: two base models, their descendants, and unrelated models.

    make_zoo.py [--out-dir DIR] [--force]

Writes (DIR defaults to <repo>/build/zoo) one TorchScript file per model, each in eval mode
with the demo's "modelgate.json" extra file, plus DIR/manifest.json:

    {"formatVersion": 1, "generatedBy": "scripts/make_zoo.py", "seed": ..., "data": {...},
     "models": [{"name", "path" (relative to DIR), "family", "base", "label", "kind",
                 "arch", "recipe", "test_accuracy"}, ...]}

family: the base a model descends from ("cnn" or "resnet"), or "independent".
base:   the reference model a suspect is compared with (null for the other architectures,
        which are negatives for every base).
label:  "base", "positive" (a descendant of its base) or "negative" (independently trained).
Every model whose family differs from a base's family is a negative for that base.

Bases:
  cnn     the demo DigitsCNN (make_demo.build_model), seed 1000.
  resnet  conv-BN-ReLU stem (16 ch), two residual blocks (the second with stride 2 and a 1x1
          conv-BN projection shortcut), global average pool, linear; torchvision-style
          in-place residual add and ReLU.
Both are trained on split A of make_demo's training split; split B (the rest of the training
split, disjoint from A and from configs/data/digits_test.npz) is the "other data" that the
fine-tuned descendants see. Descendants (per base):
  exact_copy     the base file's bytes re-saved
  rescripted     state_dict loaded into a freshly constructed module, torch.jit.script again
  traced         the same, torch.jit.trace on a zero input
  finetune_last  only the last linear layer trained, 5 epochs, Adam lr 3e-3, on split B with
                 random +-1 pixel shifts and 0.8-1.0 brightness; BatchNorm stays in eval mode
  finetune_all   all layers, 5 epochs, Adam lr 1e-3, same data (BatchNorm statistics update)
  prune20..80    global L1 unstructured magnitude pruning (torch.nn.utils.prune) over the
                 weights of every Conv2d and Linear (biases and BatchNorm untouched), no retraining
  int8           per-tensor symmetric int8 quantise-dequantise of every Conv2d/Linear weight
                 (scale = max|w| / 127), stored as float32; biases and BatchNorm kept float32
  fp16           every floating parameter and buffer rounded to float16, stored as float32
  distill_same   the same architecture trained from scratch (another seed) on the teacher's
                 soft labels (T = 4, KL loss) over splits A and B with shifts, 20 epochs
  distill_small  the same, into a narrower model with the same layer names (half the channels)
  permuted       hidden channels permuted: cnn: conv1 outputs (+ conv2 inputs) and fc1 outputs
                 (+ fc2 inputs); resnet: the inner channels of both residual blocks (conv1
                 outputs, bn1, conv2 inputs). Outputs are asserted equal to the base's.
  frozen         torch.jit.freeze of the scripted base
Negatives:
  independent_seedN  the base architecture trained from scratch with seed N (seeds 1-4 on
                     split A, the base's own data; seeds 5-6 on splits A and B)
  other_arch_mlp     64-128-64-10 MLP;  other_arch_widecnn: DigitsCNN with twice the width
  and, for each base, every model of the other base's family.

Deterministic: every model is built and trained from its own seed, single-threaded, with
torch.use_deterministic_algorithms, so the weights (manifest "weights_sha256") repeat from run
to run. The file bytes ("sha256") do not: torch.jit.save writes a random serialization_id and
orders a module's Final constants by Python's per-process string hash. Idempotent: when the manifest and every file it lists
exist, it says so and exits unless --force is given.
"""
import argparse
import copy
import hashlib
import io
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "build" / "zoo"
ZOO_SEED = 1000
SPLIT_A_FRACTION = 2 / 3


def _parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT_DIR),
                    help="output folder (default: <repo>/build/zoo)")
    ap.add_argument("--force", action="store_true", help="rebuild even if present")
    return ap.parse_args(argv)


def _zoo_complete(out_dir):
    manifest = Path(out_dir) / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        models = json.loads(manifest.read_text())["models"]
    except (ValueError, KeyError):
        return False
    return all((Path(out_dir) / m["path"]).is_file() for m in models)


# Fast path: decide before torch is imported (importing torch takes seconds).
if __name__ == "__main__":
    _ARGS = _parse_args(sys.argv[1:])
    if not _ARGS.force and _zoo_complete(_ARGS.out_dir):
        print(f"zoo present: {Path(_ARGS.out_dir) / 'manifest.json'} (use --force to rebuild)")
        sys.exit(0)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.nn.utils.prune as prune  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_demo  # noqa: E402
from make_demo import (METADATA, accuracy, build_model, export_model,  # noqa: E402
                       load_digits_split, set_determinism, train, write_bytes_atomic)

EXAMPLE = torch.zeros(1, 1, 8, 8)


# ---------------------------------------------------------------- architectures

class BasicBlock(nn.Module):
    """torchvision-style residual block: conv-BN-ReLU-conv-BN, + shortcut, ReLU (in place)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class DigitsResNet(nn.Module):
    """stem (conv-BN-ReLU) -> layer1 (w->w) -> layer2 (w->2w, stride 2) -> avgpool -> fc."""

    def __init__(self, width=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.layer1 = BasicBlock(width, width, 1)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SizedCNN(nn.Module):
    """DigitsCNN's layout and layer names with configurable widths (c1, c2, hidden)."""

    def __init__(self, c1, c2, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(c2 * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class DigitsMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def make_cnn(seed):
    return build_model(seed)  # the demo architecture, exactly


def make_resnet(seed, width=16):
    torch.manual_seed(seed)
    return DigitsResNet(width)


def make_small(family, seed):
    torch.manual_seed(seed)
    return SizedCNN(8, 16, 32) if family == "cnn" else DigitsResNet(8)


ARCH_OF = {"cnn": "DigitsCNN(16,32,64)", "resnet": "DigitsResNet(16)"}
FACTORY = {"cnn": make_cnn, "resnet": make_resnet}
BASE_EPOCHS = {"cnn": make_demo.DEFAULT_EPOCHS, "resnet": 15}


# ---------------------------------------------------------------- data and training

def shift_augment(xb, gen):
    """Random +-1 pixel shift (zero fill) and 0.8-1.0 brightness, from the training generator."""
    n = xb.shape[0]
    padded = F.pad(xb, (1, 1, 1, 1))
    dy = torch.randint(0, 3, (n,), generator=gen)
    dx = torch.randint(0, 3, (n,), generator=gen)
    out = torch.stack([padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8] for i in range(n)])
    scale = 0.8 + 0.2 * torch.rand(n, 1, 1, 1, generator=gen)
    return out * scale


def finetune_last(model, x, y, seed, epochs=5, lr=3e-3, batch_size=32):
    """Train only the last linear layer; the rest (BatchNorm included) stays in eval mode."""
    last = model.fc2 if hasattr(model, "fc2") else model.fc
    for p in model.parameters():
        p.requires_grad_(False)
    for p in last.parameters():
        p.requires_grad_(True)
    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(last.parameters(), lr=lr)
    model.eval()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            F.cross_entropy(model(shift_augment(x[idx], gen)), y[idx]).backward()
            opt.step()
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()


def distill(teacher, student, x, seed, epochs=20, lr=3e-3, temperature=4.0, batch_size=32):
    """Train student from scratch on the teacher's softened outputs (Hinton et al.)."""
    x = torch.as_tensor(x)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    teacher.eval()
    student.train()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], batch_size):
            xb = shift_augment(x[perm[i:i + batch_size]], gen)
            with torch.no_grad():
                soft = F.softmax(teacher(xb) / temperature, dim=1)
            opt.zero_grad()
            log_p = F.log_softmax(student(xb) / temperature, dim=1)
            (F.kl_div(log_p, soft, reduction="batchmean") * temperature ** 2).backward()
            opt.step()
    return student.eval()


# ---------------------------------------------------------------- weight transforms

def prunable(model):
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def pruned_copy(model, amount):
    m = copy.deepcopy(model)
    prune.global_unstructured(prunable(m), pruning_method=prune.L1Unstructured, amount=amount)
    for module, name in prunable(m):
        prune.remove(module, name)
    return m.eval()


@torch.no_grad()
def int8_copy(model):
    m = copy.deepcopy(model)
    for module, _ in prunable(m):
        w = module.weight
        scale = w.abs().max() / 127.0
        if scale > 0:
            w.copy_(torch.clamp(torch.round(w / scale), -127, 127) * scale)
    return m.eval()


@torch.no_grad()
def fp16_copy(model):
    m = copy.deepcopy(model)
    for t in list(m.parameters()) + list(m.buffers()):
        if t.is_floating_point():
            t.copy_(t.half().float())
    return m.eval()


@torch.no_grad()
def _permute_out(conv_or_linear, perm):
    conv_or_linear.weight.copy_(conv_or_linear.weight[perm])
    if conv_or_linear.bias is not None:
        conv_or_linear.bias.copy_(conv_or_linear.bias[perm])


@torch.no_grad()
def _permute_in(conv_or_linear, perm):
    conv_or_linear.weight.copy_(conv_or_linear.weight[:, perm])


@torch.no_grad()
def _permute_bn(bn, perm):
    for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
        t.copy_(t[perm])


def permuted_copy(model, family, seed):
    """A functionally identical copy with hidden units reordered (see the module doc)."""
    m = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    if family == "cnn":
        p1 = torch.randperm(m.conv1.out_channels, generator=gen)
        _permute_out(m.conv1, p1)
        _permute_in(m.conv2, p1)
        p2 = torch.randperm(m.fc1.out_features, generator=gen)
        _permute_out(m.fc1, p2)
        _permute_in(m.fc2, p2)
    else:
        for block in (m.layer1, m.layer2):
            p = torch.randperm(block.conv1.out_channels, generator=gen)
            _permute_out(block.conv1, p)
            _permute_bn(block.bn1, p)
            _permute_in(block.conv2, p)
    return m.eval()


# ---------------------------------------------------------------- export

def metadata_for(name):
    meta = dict(METADATA)
    meta["name"] = f"zoo/{name}"
    return meta


def save_frozen(model, path, metadata):
    frozen = torch.jit.freeze(torch.jit.script(copy.deepcopy(model).eval()))
    buf = io.BytesIO()
    torch.jit.save(frozen, buf, _extra_files={"modelgate.json": json.dumps(metadata)})
    write_bytes_atomic(path, buf.getvalue())
    return frozen


def weights_digest(module):
    """SHA-256 over the sorted state_dict names, dtypes, shapes and bytes (reproducible)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def max_abs_diff(a, b, x):
    return (a(x) - b(x)).abs().max().item()


class Zoo:
    def __init__(self, out_dir, x_test, y_test):
        self.out_dir = Path(out_dir)
        self.x_test = torch.as_tensor(x_test)
        self.y_test = y_test
        self.entries = []
        self.t0 = time.monotonic()

    def add(self, name, family, base, label, kind, arch, recipe, module=None, how="script",
            raw_bytes=None):
        """Export module (how: script | trace | freeze) or write raw_bytes; record it."""
        path = self.out_dir / f"{name}.pt"
        meta = metadata_for(name)
        if raw_bytes is not None:
            write_bytes_atomic(path, raw_bytes)
            saved = torch.jit.load(str(path))
        elif how == "freeze":
            saved = save_frozen(module, path, meta)
        else:
            saved = export_model(copy.deepcopy(module).eval(), path, meta,
                                 script=(how == "script"), example=EXAMPLE)
        acc = accuracy(saved, self.x_test, self.y_test)
        # A frozen module keeps its weights as graph constants: digest the eager module's.
        weights = module if (how == "freeze" and module is not None) else saved
        self.entries.append({"name": name, "path": path.name, "family": family, "base": base,
                             "label": label, "kind": kind, "arch": arch, "recipe": recipe,
                             "test_accuracy": round(acc, 4),
                             "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                             "weights_sha256": weights_digest(weights)})
        print(f"[{time.monotonic() - self.t0:6.1f}s] {name:28s} {label:8s} {kind:20s} "
              f"test acc {acc:.4f}", flush=True)
        return saved


def build_family(zoo, family, split_a, split_b, x_test):
    """The base of one family, its 16 descendants and its 6 same-architecture negatives."""
    xa, ya = split_a
    xb, yb = split_b
    x_ab = np.concatenate([xa, xb])
    y_ab = np.concatenate([ya, yb])
    fam_seed = ZOO_SEED + (0 if family == "cnn" else 500)
    factory, arch, epochs = FACTORY[family], ARCH_OF[family], BASE_EPOCHS[family]
    base_name = f"{family}_base"

    base = train(factory(fam_seed), xa, ya, seed=fam_seed, epochs=epochs)
    zoo.add(base_name, family, None, "base", "base", arch,
            f"seed {fam_seed}, split A, {epochs} epochs, Adam 3e-3", base)
    base_bytes = (zoo.out_dir / f"{base_name}.pt").read_bytes()

    def pos(kind, recipe, module=None, how="script", raw_bytes=None, arch_=arch):
        zoo.add(f"{family}_{kind}", family, base_name, "positive", kind, arch_, recipe,
                module, how, raw_bytes)

    pos("exact_copy", "the base file's bytes", raw_bytes=base_bytes)
    fresh = factory(fam_seed + 1)
    fresh.load_state_dict(base.state_dict())
    pos("rescripted", "state_dict into a fresh module, torch.jit.script", fresh.eval())
    pos("traced", "state_dict into a fresh module, torch.jit.trace", fresh.eval(), how="trace")

    ft_last = finetune_last(copy.deepcopy(base), xb, yb, seed=fam_seed + 2)
    pos("finetune_last", "last linear only, split B shifted, 5 epochs, Adam 3e-3", ft_last)
    ft_all = train(copy.deepcopy(base), xb, yb, seed=fam_seed + 3, epochs=5, lr=1e-3,
                   augment=shift_augment)
    pos("finetune_all", "all layers, split B shifted, 5 epochs, Adam 1e-3", ft_all)

    for pct in (20, 40, 60, 80):
        pos(f"prune{pct}", f"global L1 unstructured {pct}% of conv/linear weights",
            pruned_copy(base, pct / 100))
    pos("int8", "per-tensor symmetric int8 quantise-dequantise of conv/linear weights",
        int8_copy(base))
    pos("fp16", "all float tensors rounded to float16, stored float32", fp16_copy(base))

    student = distill(base, factory(fam_seed + 4), x_ab, seed=fam_seed + 4)
    pos("distill_same", "same arch from scratch on T=4 soft labels, splits A+B shifted, 20 ep",
        student)
    small = distill(base, make_small(family, fam_seed + 5), x_ab, seed=fam_seed + 5)
    small_arch = "SizedCNN(8,16,32)" if family == "cnn" else "DigitsResNet(8)"
    pos("distill_small", "half-width arch from scratch on T=4 soft labels, A+B shifted, 20 ep",
        small, arch_=small_arch)

    perm = permuted_copy(base, family, fam_seed + 6)
    diff = max(max_abs_diff(perm, base, x_test), max_abs_diff(perm, base, torch.rand(64, 1, 8, 8)))
    assert diff < 1e-4, f"{family} permuted copy changed outputs by {diff}"
    pos("permuted", f"hidden channels permuted, max |output diff| {diff:.1e}", perm)
    pos("frozen", "torch.jit.freeze of the scripted base", base, how="freeze")

    for seed in range(1, 7):
        data = "split A" if seed <= 4 else "splits A+B"
        x, y = (xa, ya) if seed <= 4 else (x_ab, y_ab)
        model = train(factory(seed), x, y, seed=seed, epochs=epochs)
        zoo.add(f"{family}_independent_seed{seed}", "independent", base_name, "negative",
                f"independent_seed{seed}", arch, f"seed {seed}, {data}, {epochs} epochs", model)


def main(argv=None):
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    out_dir = Path(args.out_dir)
    if not args.force and _zoo_complete(out_dir):
        print(f"zoo present: {out_dir / 'manifest.json'} (use --force to rebuild)")
        return 0
    set_determinism(ZOO_SEED)
    x_tr, x_te, y_tr, y_te = load_digits_split()
    # A fixed split of the training split: A trains the bases, B is the fine-tuning "other data".
    order = np.random.RandomState(ZOO_SEED).permutation(len(y_tr))
    n_a = int(round(len(y_tr) * SPLIT_A_FRACTION))
    split_a = (x_tr[order[:n_a]], y_tr[order[:n_a]])
    split_b = (x_tr[order[n_a:]], y_tr[order[n_a:]])
    x_test = torch.as_tensor(x_te)
    zoo = Zoo(out_dir, x_te, y_te)
    print(f"zoo -> {out_dir}: split A {n_a}, split B {len(y_tr) - n_a}, test {len(y_te)}")

    for family in ("cnn", "resnet"):
        build_family(zoo, family, split_a, split_b, x_test)

    xa, ya = split_a
    torch.manual_seed(ZOO_SEED + 900)
    zoo.add("other_arch_mlp", "independent", None, "negative", "other_arch_mlp",
            "DigitsMLP(64-128-64-10)", "seed 1900, split A, 12 epochs",
            train(DigitsMLP(), xa, ya, seed=ZOO_SEED + 900))
    torch.manual_seed(ZOO_SEED + 901)
    zoo.add("other_arch_widecnn", "independent", None, "negative", "other_arch_widecnn",
            "SizedCNN(32,64,128)", "seed 1901, split A, 12 epochs",
            train(SizedCNN(32, 64, 128), xa, ya, seed=ZOO_SEED + 901))

    manifest = {
        "formatVersion": 1,
        "generatedBy": "scripts/make_zoo.py",
        "seed": ZOO_SEED,
        "torch": torch.__version__,
        "data": {"source": "sklearn.datasets.load_digits, make_demo.load_digits_split",
                 "splitA": len(split_a[1]), "splitB": len(split_b[1]),
                 "test": len(y_te), "testFile": "configs/data/digits_test.npz"},
        "models": zoo.entries,
    }
    write_bytes_atomic(out_dir / "manifest.json",
                       (json.dumps(manifest, indent=1) + "\n").encode())
    n_pos = sum(e["label"] == "positive" for e in zoo.entries)
    n_neg = sum(e["label"] == "negative" for e in zoo.entries)
    print(f"wrote {out_dir / 'manifest.json'}: {len(zoo.entries)} models "
          f"(2 bases, {n_pos} positives, {n_neg} negatives) in {time.monotonic() - zoo.t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
