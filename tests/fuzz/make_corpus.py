"""Writes the fuzz targets' seed corpora under tests/fuzz/corpus/<target>/ (committed; rerun
only to change the seeds). Each seed is small: valid inputs for the mutations to start from,
and the hostile-input issue's cases (bombs, lies about sizes, dangerous globals, deep nesting).

    .venv/bin/python tests/fuzz/make_corpus.py            # needs build/modelgate for the fingerprints
"""
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
MAX_SEED = 64 << 10
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    data = data.encode() if isinstance(data, str) else data
    assert len(data) <= MAX_SEED, f"{target}/{name}: {len(data)} bytes"
    (d / name).write_bytes(data)


def npy(array, header_override=None):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    raw = buf.getvalue()
    if header_override is None:
        return raw
    header = header_override.encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + raw[128:]


def npz(members, compress=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def job_seeds():
    for f in sorted((ROOT / "configs").rglob("*.yaml")):
        put("job", f.name, f.read_text())
    head = ("apiVersion: security.nootropic.ai/v1\nkind: ValidationJob\nmetadata: {name: j}\n"
            "spec:\n  models: [{name: m, path: m.pt}]\n  dataset: {path: d.npz}\n")
    adv = "---\napiVersion: security.nootropic.ai/v1\nkind: AdversarialTesting\nmetadata: {name: a}\nspec:\n  attacks:\n"
    put("job", "steps_huge.yaml", head + adv + "    - {type: pgd, steps: 1000000000, restarts: 100}\n")
    put("job", "eps_sweep.yaml", head + adv + "    - {type: fgsm, epsilon: [" + ", ".join(["0.01"] * 2000) + "]}\n")
    put("job", "eps_fraction.yaml", head + adv + "    - {type: apgd, epsilon: 8/255, steps: 5, minAccuracy: 0.5, severity: critical}\n")
    put("job", "complex_key.yaml", head + "  ? [a, b]\n  : 1\n")
    laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        laughs += f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]\n"
    put("job", "billion_laughs.yaml", head + "---\n" + laughs)
    put("job", "deep.yaml", head + "  extra: " + "[" * 5000 + "]" * 5000 + "\n")
    put("job", "probes.yaml", head + "---\napiVersion: security.nootropic.ai/v1\nkind: ModelFingerprinting\n"
        "metadata: {name: f}\nspec: {probes: 1000000000}\n")
    put("job", "tabs_and_nul.yaml", head.replace("  ", "\t") + "\x00\n")


def npz_seeds():
    x = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 1, 2, 2)
    y = np.array([0, 1, 2, 1], dtype=np.int64)
    put("npz", "valid.npz", npz({"inputs.npy": npy(x), "labels.npy": npy(y)}))
    put("npz", "valid_deflated.npz", npz({"inputs.npy": npy(x), "labels.npy": npy(y)}, compress=True))
    put("npz", "labels_int32.npz", npz({"inputs.npy": npy(x), "labels.npy": npy(y.astype(np.int32))}))
    put("npz", "big_endian.npz", npz({"inputs.npy": npy(x.astype(">f4")), "labels.npy": npy(y)}))
    put("npz", "fortran.npz", npz({"inputs.npy": npy(np.asfortranarray(x)), "labels.npy": npy(y)}))
    put("npz", "float64.npz", npz({"inputs.npy": npy(x.astype(np.float64)), "labels.npy": npy(y)}))
    put("npz", "shape_lie.npz", npz({"inputs.npy": npy(x, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1, 2, 2), }"),
                                     "labels.npy": npy(y)}))
    put("npz", "negative_dim.npz", npz({"inputs.npy": npy(x, "{'descr': '<f4', 'fortran_order': False, 'shape': (-4, 1, 2, 2), }"),
                                        "labels.npy": npy(y)}))
    put("npz", "object_dtype.npz", npz({"inputs.npy": npy(x, "{'descr': '|O', 'fortran_order': False, 'shape': (4, 1, 2, 2), }"),
                                        "labels.npy": npy(y)}))
    put("npz", "no_labels.npz", npz({"inputs.npy": npy(x)}))
    put("npz", "nan.npz", npz({"inputs.npy": npy(np.full_like(x, np.nan)), "labels.npy": npy(y)}))
    put("npz", "bomb.npz", npz({"inputs.npy": npy(np.zeros((4096, 1, 8, 8), np.float32)), "labels.npy": npy(np.zeros(4096, np.int64))},
                               compress=True))
    put("npz", "not_a_zip.npz", b"PK\x03\x04" + b"\xff" * 60)


class Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def pt_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def pt_dataset_seeds():
    x = torch.linspace(0, 1, 16).reshape(4, 1, 2, 2)
    y = torch.tensor([0, 1, 2, 1])
    put("pt_dataset", "valid.pt", pt_bytes({"inputs": x, "labels": y}))
    put("pt_dataset", "list.pt", pt_bytes([x, y]))
    put("pt_dataset", "string_labels.pt", pt_bytes({"inputs": x, "labels": "abcd"}))
    put("pt_dataset", "view.pt", pt_bytes({"inputs": torch.rand(8, 1, 2, 2)[::2], "labels": y}))
    put("pt_dataset", "os_system.pt", pt_bytes({"inputs": x, "labels": Reduce(os.system, "true")}))
    put("pt_dataset", "bare_pickle.pt", pickle.dumps({"inputs": 1, "labels": 2}, protocol=2))


def scan_seeds():
    import make_malicious
    with tempfile.TemporaryDirectory() as tmp:
        out, target = Path(tmp) / "out", Path(tmp) / "target"
        make_malicious.main(out, target)
        for f in sorted(out.iterdir()):
            if f.suffix in (".pt", ".pkl") and f.stat().st_size <= MAX_SEED:
                put("scan", f.name, f.read_bytes())


def fingerprint_seeds():
    binary = ROOT / "build" / "modelgate"
    model = ROOT / "configs" / "models" / "digits_cnn.pt"
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny.pt"
        torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4), torch.nn.ReLU(),
                                             torch.nn.Linear(4, 3))).save(str(tiny))
        for name, m, extra in (("tiny", tiny, ["--boundary", "2"]), ("digits_cnn", model, ["--boundary", "0"])):
            fp = Path(tmp) / f"{name}.json"
            subprocess.run([str(binary), "--quiet", "fingerprint", str(m), "--input-shape", "1,8,8", "--probes", "4",
                            *extra, "--out", str(fp)], check=True, stdout=subprocess.DEVNULL)
            put("fingerprint", f"{name}.json", fp.read_bytes())
            if name == "tiny":
                import json
                j = json.loads(fp.read_text())
                j["probes"]["synthetic"] = 20_000_000
                put("fingerprint", "probes_20m.json", json.dumps(j))
                j = json.loads(fp.read_text())
                j["logits"] = {"rows": 2**32, "cols": 0, "float32": ""}
                j["outputShape"] = [2**32, 0]
                put("fingerprint", "rows_2_32.json", json.dumps(j))
                j = json.loads(fp.read_text())
                j["layers"][0]["shape"][0] += 1
                put("fingerprint", "layer_rows.json", json.dumps(j))
    put("fingerprint", "deep.json", "[" * 300 + "]" * 300)
    put("fingerprint", "empty_object.json", "{}")


def image_seeds():
    """PNG (RGB, grey, palette with transparency, RGBA, 16-bit, interlaced) and JPEG (baseline,
    progressive, grey) files, a truncated one of each, and a PNG whose header claims 100000²."""
    import zlib
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, size=(12, 9, 3), dtype=np.uint8), "RGB")
    variants = {"rgb.png": (rgb, {}), "grey.png": (rgb.convert("L"), {}), "rgba.png": (rgb.convert("RGBA"), {}),
                "palette.png": (rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=8), {"transparency": 0}),
                "i16.png": (rgb.convert("I;16"), {}), "interlaced.png": (rgb, {"interlace": 1}),
                "baseline.jpg": (rgb, {"quality": 80}), "progressive.jpg": (rgb, {"quality": 80, "progressive": True}),
                "grey.jpg": (rgb.convert("L"), {"quality": 80})}
    for name, (img, opts) in variants.items():
        buf = io.BytesIO()
        img.save(buf, format="PNG" if name.endswith(".png") else "JPEG", **opts)
        put("image", name, buf.getvalue())
        put("image", "truncated_" + name, buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    put("image", "huge_header.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


if __name__ == "__main__":
    torch.manual_seed(0)
    which = sys.argv[1:] or ["job", "npz", "pt_dataset", "scan", "fingerprint", "image"]
    for w in which:
        shutil.rmtree(CORPUS / w, ignore_errors=True)
        globals()[f"{w}_seeds"]()
    for w in which:
        files = list((CORPUS / w).iterdir())
        print(f"{w}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")
