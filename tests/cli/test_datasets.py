"""The dataset formats users already have (real-data issue): .npy/.npz/.pt with uint8 pixels and
NHWC layout, CIFAR binary records, torchvision-style image folders, limit and sample, and
per-model normalisation inside the forward wrapper.

Every file here is written by the test itself (CIFAR records byte by byte, images with Pillow);
what modelgate reads is compared with what NumPy, plain PyTorch and torchvision read from the
same files (`modelgate dataset --export` writes modelgate's view as .npy).
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from test_cli import error_line, load_report, manifest, run, write_job  # noqa: E402

PIL = pytest.importorskip("PIL.Image")
tv = pytest.importorskip("torchvision")
from torchvision import transforms  # noqa: E402

# Measured on this suite's images (random noise, the hardest case for resampling; three seeds,
# RGB and grey, 2026-12-03): modelgate's 8-bit antialiased bilinear resize (LibTorch's) and
# Pillow's differ on about 5% of pixels, by one level of 255 (two on one pixel of one seed):
# 0.047-0.050 levels on average.
RESIZE_MAX_DIFF = 2.0 / 255 + 1e-6
RESIZE_MEAN_DIFF = 0.1 / 255


# ============================================================================== helpers
def _job(tmp_path, model, dataset, attacks=None, models=None, name="data"):
    spec = {"models": models or [{"name": "m", "path": str(model)}],
            "dataset": dataset, "device": "cpu", "seed": 0,
            "reports": {"format": "json", "location": str(tmp_path / "reports")}}
    docs = [manifest("ValidationJob", name, spec)]
    if attacks:
        docs.append(manifest("AdversarialTesting", "adv", {"attacks": attacks}))
    return write_job(tmp_path, "\n---\n".join(docs) + "\n", f"{name}.yaml")


def _export(tmp_path, job, tag="export"):
    out = Path(tmp_path) / tag
    proc = run("dataset", job, "--export", out, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    return np.load(out / "inputs.npy"), np.load(out / "labels.npy"), info


def _refused(proc, *needles):
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = error_line(proc)
    for n in needles:
        assert n in line, line
    return line


def _demo_arrays(demo):
    with np.load(demo["npz"]) as z:
        return z["inputs"], z["labels"]


def _rgb_model(tmp_path, classes=10):
    """A small random-weight CNN for 3-channel inputs of any size."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
                            torch.nn.Flatten(), torch.nn.Linear(128, classes)).eval()
    path = Path(tmp_path) / "rgb.pt"
    torch.jit.trace(m, torch.rand(2, 3, 32, 32)).save(str(path))
    return m, path


def _clean_predictions(tmp_path, job):
    """modelgate's clean prediction of every sample, from the per-sample records of a tiny FGSM."""
    rec = Path(tmp_path) / "records.jsonl"
    proc = run("validate", job, "--report", Path(tmp_path) / "r.json", "--records", rec)
    assert proc.returncode in (0, 1, 2), proc.stderr
    lines = [json.loads(line) for line in rec.read_text().splitlines()]
    return {r["index"]: r["cleanPrediction"] for r in lines}, load_report(Path(tmp_path) / "r.json", proc)


FGSM_TINY = [{"type": "fgsm", "epsilon": 0.001}]


def splitmix_sample(n, k, seed):
    """The documented draw of spec.dataset.sample: a partial Fisher-Yates shuffle driven by SplitMix64."""
    mask = (1 << 64) - 1
    state, idx = seed, list(range(n))
    for i in range(min(k, n)):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        j = i + z % (n - i)
        idx[i], idx[j] = idx[j], idx[i]
    return sorted(idx[:min(k, n)])


# ============================================================================== arrays
def test_npy_float_nchw_and_uint8_nhwc(tmp_path, demo):
    x, y = _demo_arrays(demo)
    (tmp_path / "f").mkdir()
    np.save(tmp_path / "f" / "inputs.npy", x)
    np.save(tmp_path / "f" / "labels.npy", y)
    u8 = np.round(x * 255).astype(np.uint8).transpose(0, 2, 3, 1).copy()  # N×8×8×1
    (tmp_path / "u").mkdir()
    np.save(tmp_path / "u" / "pixels.npy", u8)
    np.save(tmp_path / "u" / "y.npy", y.astype(np.int32))
    np.savez(tmp_path / "u8.npz", inputs=u8, labels=y)

    fx, fy, info = _export(tmp_path, _job(tmp_path, demo["model"], {"path": str(tmp_path / "f" / "inputs.npy")}), "e1")
    np.testing.assert_array_equal(fx, x)
    np.testing.assert_array_equal(fy, y)
    assert info["format"] == "npy" and "read per batch" in info["storage"] and info["inputShape"] == [1, 8, 8]

    expected = u8.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    ux, uy, info = _export(tmp_path, _job(tmp_path, demo["model"], {"path": str(tmp_path / "u" / "pixels.npy"),
                                                                    "labelsPath": str(tmp_path / "u" / "y.npy")}), "e2")
    np.testing.assert_array_equal(ux, expected)
    np.testing.assert_array_equal(uy, y)
    assert info["storage"].startswith("uint8 NHWC")
    zx, _, info = _export(tmp_path, _job(tmp_path, demo["model"], {"path": str(tmp_path / "u8.npz")}), "e3")
    np.testing.assert_array_equal(zx, expected)
    assert info["storage"].startswith("uint8 NHWC")

    # The same samples give the same clean count as the demo's own .npz.
    counts = []
    for data in ({"path": str(demo["npz"])}, {"path": str(tmp_path / "f" / "inputs.npy"), "batchSize": 50}):
        job = _job(tmp_path, demo["model"], data)
        proc = run("validate", job, "--report", tmp_path / "r.json")
        counts.append(load_report(tmp_path / "r.json", proc)["models"][0]["clean"]["correct"])
    assert counts[0] == counts[1]


def test_npy_values_and_labels_are_checked(tmp_path, demo):
    x, y = _demo_arrays(demo)
    bad = x.copy()
    bad[17, 0, 3, 3] = 1.5
    np.save(tmp_path / "inputs.npy", bad)
    np.save(tmp_path / "labels.npy", y)
    job = _job(tmp_path, demo["model"], {"path": str(tmp_path / "inputs.npy")})
    _refused(run("dataset", job), "inputs.npy", "sample 17", "[0, 1]")
    _refused(run("validate", job, "--report", tmp_path / "r.json"), "sample 17")
    assert not (tmp_path / "r.json").exists()
    np.save(tmp_path / "inputs.npy", x)
    np.save(tmp_path / "labels.npy", y[:-1])
    _refused(run("dataset", job), "labels")
    (tmp_path / "labels.npy").unlink()
    _refused(run("dataset", job), "labels.npy")


def test_layout_field_only_where_it_applies(tmp_path, demo):
    job = _job(tmp_path, demo["model"], {"path": str(demo["npz"]), "resize": 32})
    _refused(run("dataset", job), "spec.dataset.resize", "imagefolder")
    job = _job(tmp_path, demo["model"], {"path": str(demo["npz"]), "format": "parquet"})
    _refused(run("dataset", job), "spec.dataset.format", "parquet")


# ============================================================================== CIFAR binary
def _cifar_file(path, images, *label_rows):
    """CIFAR records written byte by byte: label byte(s), then 1024 R, 1024 G, 1024 B."""
    with open(path, "wb") as f:
        for i, img in enumerate(images):
            for row in label_rows:
                f.write(bytes([int(row[i])]))
            f.write(img[0].tobytes() + img[1].tobytes() + img[2].tobytes())


def test_cifar10_and_cifar100_records(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(37, 3, 32, 32), dtype=np.uint8)
    fine, coarse = rng.integers(0, 100, 37), rng.integers(0, 20, 37)
    _cifar_file(tmp_path / "test_batch.bin", images, fine % 10)
    _cifar_file(tmp_path / "test.bin", images, coarse, fine)
    model, model_path = _rgb_model(tmp_path, classes=100)

    x, y, info = _export(tmp_path, _job(tmp_path, model_path, {"path": str(tmp_path / "test_batch.bin")}), "c10")
    np.testing.assert_array_equal(x, images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, fine % 10)
    assert info["format"] == "cifar-bin" and info["samples"] == 37 and info["inputShape"] == [3, 32, 32]
    for which, expected in (("fine", fine), ("coarse", coarse)):
        job = _job(tmp_path, model_path, {"path": str(tmp_path / "test.bin"), "labels": which})
        _, y, _ = _export(tmp_path, job, which)
        np.testing.assert_array_equal(y, expected)

    # Every sample's clean prediction is plain PyTorch's on the same bytes.
    job = _job(tmp_path, model_path, {"path": str(tmp_path / "test.bin"), "labels": "fine", "batchSize": 16},
               attacks=FGSM_TINY)
    preds, report = _clean_predictions(tmp_path, job)
    with torch.no_grad():
        expected = model(torch.from_numpy(images.astype(np.float32) / 255)).argmax(1).tolist()
    assert [preds[i] for i in range(37)] == expected
    assert report["dataset"]["format"] == "cifar-bin" and report["dataset"]["samples"] == 37


def test_cifar_wrong_size_is_exit_3(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(4, 3, 32, 32), dtype=np.uint8)
    _cifar_file(tmp_path / "data_batch_1.bin", images, [1, 2, 3, 4])
    _, model_path = _rgb_model(tmp_path)
    raw = (tmp_path / "data_batch_1.bin").read_bytes()
    (tmp_path / "data_batch_1.bin").write_bytes(raw[:-1])
    job = _job(tmp_path, model_path, {"path": str(tmp_path / "data_batch_1.bin")})
    _refused(run("dataset", job), "data_batch_1.bin", "not a whole number of 3073-byte CIFAR-10 records")
    _refused(run("validate", job, "--report", tmp_path / "r.json"), "3073-byte")
    # CIFAR-100 records read as CIFAR-10: the message says which field to set.
    _cifar_file(tmp_path / "test.bin", images[:3], [1, 2, 3], [4, 5, 6])
    job = _job(tmp_path, model_path, {"path": str(tmp_path / "test.bin")})
    _refused(run("dataset", job), "3074-byte CIFAR-100", "labels: fine or coarse")


# ============================================================================== image folders
def _noise_image(rng, w, h, mode):
    rgb = PIL.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB")
    if mode == "RGB":
        return rgb
    if mode == "P":
        return rgb.convert("P", palette=PIL.Palette.ADAPTIVE, colors=64)
    if mode == "RGBA":
        img = rgb.convert("RGBA")
        img.putalpha(PIL.fromarray(rng.integers(0, 256, size=(h, w), dtype=np.uint8), "L"))
        return img
    return rgb.convert(mode)


def _image_folder(root, rng):
    """Three classes (made out of order, one with a nested folder) of PNG (RGB, grey, palette,
    RGBA) and JPEG (colour, grey) files of different sizes."""
    plan = {
        "b_second": [("x1.png", 40, 50, "RGB"), ("x0.jpg", 64, 48, "RGB"), ("sub/z.png", 37, 37, "L")],
        "a_first": [("p.png", 90, 60, "P"), ("q.jpeg", 33, 70, "L"), ("r.PNG", 48, 48, "RGBA")],
        "c_third": [("m.jpg", 120, 80, "RGB"), ("n.png", 32, 45, "RGB")],
    }
    for cls, files in plan.items():
        for name, w, h, mode in files:
            path = root / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            img = _noise_image(rng, w, h, mode)
            if name.lower().endswith((".jpg", ".jpeg")):
                img.save(path, quality=90)
            else:
                img.save(path)
    (root / "a_first" / "notes.txt").write_text("not an image: ignored, as torchvision does")


def test_imagefolder_matches_torchvision(tmp_path):
    root = tmp_path / "images"
    _image_folder(root, np.random.default_rng(3))
    model, model_path = _rgb_model(tmp_path, classes=3)
    job = _job(tmp_path, model_path, {"path": str(root), "resize": 32, "centerCrop": 28, "batchSize": 3})
    x, y, info = _export(tmp_path, job)
    assert info["format"] == "imagefolder" and info["inputShape"] == [3, 28, 28] and info["perClass"] == [3, 3, 2]

    ref = tv.datasets.ImageFolder(str(root), transform=transforms.Compose(
        [transforms.Resize(32), transforms.CenterCrop(28), transforms.ToTensor()]))
    assert [t for _, t in ref.samples] == y.tolist()
    rx = torch.stack([ref[i][0] for i in range(len(ref))]).numpy()
    diff = np.abs(x - rx)
    assert diff.max() <= RESIZE_MAX_DIFF, f"max difference {diff.max() * 255:.2f}/255"
    assert diff.mean() <= RESIZE_MEAN_DIFF, f"mean difference {diff.mean() * 255:.3f}/255"
    # channels: 1 is Pillow's luma, as torchvision's Grayscale() before the same transforms.
    gx, _, info = _export(tmp_path, _job(tmp_path, model_path, {"path": str(root), "resize": 32, "centerCrop": 28,
                                                                "channels": 1}, name="g"), "grey")
    assert info["inputShape"] == [1, 28, 28]
    grey = tv.datasets.ImageFolder(str(root), transform=transforms.Compose(
        [transforms.Grayscale(1), transforms.Resize(32), transforms.CenterCrop(28), transforms.ToTensor()]))
    gdiff = np.abs(gx - torch.stack([grey[i][0] for i in range(len(grey))]).numpy())
    assert gdiff.max() <= RESIZE_MAX_DIFF and gdiff.mean() <= RESIZE_MEAN_DIFF, (gdiff.max() * 255, gdiff.mean() * 255)
    # Decoding alone (no resampling: images already 28×28 after the crop of a same-size set) is exact.
    exact = tmp_path / "exact"
    for i, (path, _) in enumerate(ref.samples):
        dst = exact / Path(path).relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(Path(path).read_bytes())
    ex, _, _ = _export(tmp_path, _job(tmp_path, model_path, {"path": str(exact), "centerCrop": 32}, name="e"), "ex")
    ref_exact = tv.datasets.ImageFolder(str(exact), transform=transforms.Compose(
        [transforms.CenterCrop(32), transforms.ToTensor()]))
    np.testing.assert_array_equal(ex, torch.stack([ref_exact[i][0] for i in range(len(ref_exact))]).numpy())

    # The model's clean predictions are plain PyTorch's on torchvision's tensors, within the
    # resampling tolerance (a borderline sample may flip; none does on this set).
    job = _job(tmp_path, model_path, {"path": str(root), "resize": 32, "centerCrop": 28, "batchSize": 3},
               attacks=FGSM_TINY)
    preds, report = _clean_predictions(tmp_path, job)
    with torch.no_grad():
        expected = model(torch.from_numpy(rx)).argmax(1).tolist()
    assert [preds[i] for i in range(len(expected))] == expected
    assert report["dataset"]["format"] == "imagefolder" and report["dataset"]["inputShape"] == [3, 28, 28]


def test_imagefolder_bad_image_and_empty_class(tmp_path):
    root = tmp_path / "images"
    _image_folder(root, np.random.default_rng(4))
    _, model_path = _rgb_model(tmp_path, classes=3)
    (root / "c_third" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    good = (root / "b_second" / "x0.jpg").read_bytes()
    (root / "b_second" / "y_truncated.jpg").write_bytes(good[: len(good) // 2])
    dataset = {"path": str(root), "resize": 32, "centerCrop": 28}
    job = _job(tmp_path, model_path, dataset)
    line = _refused(run("dataset", job), "does not decode", "onError: skip")
    assert "broken.png" in line or "y_truncated.jpg" in line
    _refused(run("validate", job, "--report", tmp_path / "r.json"), "does not decode")
    assert not (tmp_path / "r.json").exists()

    job = _job(tmp_path, model_path, dict(dataset, onError="skip"))
    _, y, info = _export(tmp_path, job)
    assert sorted(info["skippedFiles"]) == ["b_second/y_truncated.jpg", "c_third/broken.png"]
    assert info["samples"] == 8 and len(y) == 8
    proc = run("validate", job, "--report", tmp_path / "r.json")
    report = load_report(tmp_path / "r.json", proc)
    assert sorted(report["dataset"]["skippedFiles"]) == ["b_second/y_truncated.jpg", "c_third/broken.png"]

    (root / "d_empty").mkdir()
    (root / "d_empty" / "readme.txt").write_text("no images")
    _refused(run("dataset", job), "d_empty", "holds no .png, .jpg or .jpeg files")


def test_imagefolder_sizes_must_agree(tmp_path):
    root = tmp_path / "images"
    _image_folder(root, np.random.default_rng(5))
    _, model_path = _rgb_model(tmp_path, classes=3)
    _refused(run("dataset", _job(tmp_path, model_path, {"path": str(root), "resize": 32})), "centerCrop")


# ============================================================================== subsets
def test_limit_and_sample_are_deterministic(tmp_path, demo):
    x, y = _demo_arrays(demo)
    np.save(tmp_path / "inputs.npy", x)
    np.save(tmp_path / "labels.npy", y)
    path = str(tmp_path / "inputs.npy")
    lx, ly, info = _export(tmp_path, _job(tmp_path, demo["model"], {"path": path, "limit": 100}), "l")
    np.testing.assert_array_equal(lx, x[:100])
    assert info["samples"] == 100 and info["fileSamples"] == len(x)
    for seed in (0, 7):
        sx, sy, _ = _export(tmp_path, _job(tmp_path, demo["model"], {"path": path, "sample": {"n": 50, "seed": seed}}), f"s{seed}")
        idx = splitmix_sample(len(x), 50, seed)
        np.testing.assert_array_equal(sx, x[idx])
        np.testing.assert_array_equal(sy, y[idx])
    assert splitmix_sample(len(x), 50, 0) != splitmix_sample(len(x), 50, 7)
    # limit first, then the draw from what is left
    sx, _, _ = _export(tmp_path, _job(tmp_path, demo["model"], {"path": path, "limit": 200, "sample": {"n": 20, "seed": 3}}), "ls")
    np.testing.assert_array_equal(sx, x[splitmix_sample(200, 20, 3)])
    job = _job(tmp_path, demo["model"], {"path": path, "sample": {"n": 50, "seed": 7}}, attacks=FGSM_TINY)
    preds, report = _clean_predictions(tmp_path, job)
    assert sorted(preds) == splitmix_sample(len(x), 50, 7)  # records name samples by their index in the file
    assert report["dataset"]["selection"] == f"50 drawn with seed 7 from all"
    assert report["dataset"]["samples"] == 50


# ============================================================================== normalisation
class _Denormalised(torch.nn.Module):
    """The demo model for inputs normalised with (mean, std): undoes the normalisation first."""

    def __init__(self, inner, mean, std):
        super().__init__()
        self.inner = inner
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return self.inner(x * self.std + self.mean)


def test_normalize_inside_the_forward_wrapper(tmp_path, demo):
    inner = torch.jit.load(str(demo["model"]))
    wrapped = torch.jit.script(_Denormalised(inner, [0.25], [0.5]))
    wrapped.save(str(tmp_path / "normalised.pt"))
    attacks = [{"type": "fgsm", "epsilon": 0.05}, {"type": "pgd", "epsilon": 0.05, "steps": 5, "randomStart": False}]
    results = []
    for model, norm in ((demo["model"], None), (tmp_path / "normalised.pt", {"mean": [0.25], "std": [0.5]})):
        entry = {"name": "m", "path": str(model)}
        if norm:
            entry["normalize"] = norm
        job = _job(tmp_path, model, {"path": str(demo["npz"])}, attacks=attacks, models=[entry])
        proc = run("validate", job, "--report", tmp_path / "r.json")
        report = load_report(tmp_path / "r.json", proc)
        m = report["models"][0]
        assert m["normalize"] == norm
        results.append((m["clean"]["correct"], [a["correct"] for a in m["adversarial"]]))
    # ε is in pixel space either way: the same model gives the same counts, up to float
    # reassociation in (x - mean) / std · std + mean on a borderline sample.
    (c0, a0), (c1, a1) = results
    assert c0 == c1
    assert all(abs(p - q) <= 1 for p, q in zip(a0, a1)), (a0, a1)

    entry = {"name": "m", "path": str(tmp_path / "normalised.pt"), "normalize": {"mean": [0.5, 0.5, 0.5], "std": [1, 1, 1]}}
    job = _job(tmp_path, demo["model"], {"path": str(demo["npz"])}, models=[entry])
    _refused(run("validate", job, "--report", tmp_path / "r2.json"), "normalize gives 3 channel(s)", "have 1")
    entry = {"name": "m", "path": str(demo["model"]), "normalize": {"mean": [0.5], "std": [0]}}
    job = _job(tmp_path, demo["model"], {"path": str(demo["npz"])}, models=[entry])
    _refused(run("validate", job, "--report", tmp_path / "r2.json"), "normalize.std[0]", "positive")


def test_input_shape_must_match_the_samples(tmp_path, demo):
    entry = {"name": "m", "path": str(demo["model"]), "inputShape": [3, 8, 8]}
    job = _job(tmp_path, demo["model"], {"path": str(demo["npz"])}, models=[entry])
    _refused(run("validate", job, "--report", tmp_path / "r.json"), "inputShape is [3, 8, 8]", "[1, 8, 8]")


# ============================================================================== example jobs
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "configs" / "datasets").glob("*.yaml"))


@pytest.mark.parametrize("job", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_jobs_run(tmp_path, examples, job):
    proc = run("validate", job, "--report", tmp_path / "r.json")
    report = load_report(tmp_path / "r.json", proc)
    fmt = job.stem.replace("-grey", "")
    assert report["dataset"]["format"] == fmt
    m = report["models"][0]
    # Every example model is far better than chance on its data (10 classes).
    assert m["clean"]["accuracy"] > 0.8, (job.name, m["clean"])
    stored = {(e["name"], e["severity"]): e["accuracy"] for e in m["robustness"] if e["corruption"] == "stored"}
    assert len(m["adversarial"]) == 3 and len(m["robustness"]) - len(stored) == 2
    if fmt == "corrupted-npy":  # three corruptions at five severities; the strongest brightening costs accuracy
        assert sorted(stored) == [(c, s) for c in ("brightness", "contrast", "gaussian_noise") for s in range(1, 6)]
        assert stored[("brightness", 5)] < m["clean"]["accuracy"] - 0.02
    else:
        assert not stored


# ============================================================================== batch size and memory
MIXED_ATTACKS = [{"type": "fgsm", "epsilon": 0.05},
                 {"type": "pgd", "epsilon": 0.05, "steps": 3, "randomStart": True}]


def _counts(report):
    m = report["models"][0]
    return m["clean"]["correct"], [a["correct"] for a in m["adversarial"]]


def test_out_of_memory_halves_the_batch_and_retries(tmp_path, demo, monkeypatch):
    job = _job(tmp_path, demo["model"], {"path": str(demo["npz"]), "batchSize": 128}, attacks=MIXED_ATTACKS)
    proc = run("validate", job, "--report", tmp_path / "a.json")
    before = load_report(tmp_path / "a.json", proc)
    assert before["models"][0]["batchRetries"] == [] and before["models"][0]["batchSize"] == 128
    # A device that fits at most 50 samples a batch (the fault-injection hook): the first batch of
    # the first evaluation fails at 128 and at 64, runs at 32, and everything after runs at 32.
    monkeypatch.setenv("MODELGATE_FAULT_OOM_ABOVE", "50")
    proc = run("validate", job, "--report", tmp_path / "b.json")
    after = load_report(tmp_path / "b.json", proc)
    retries = after["models"][0]["batchRetries"]
    assert [(r["first"], r["from"], r["to"]) for r in retries] == [(0, 128, 64), (0, 64, 32)], retries
    assert retries[0]["check"] == "clean evaluation" and "out of memory" in retries[0]["reason"]
    assert "ran out of memory at batch 128" in proc.stderr
    # Every sample's randomness is keyed by its index, so the halved batches give the same counts.
    assert _counts(after) == _counts(before)


def test_batch_size_auto_keeps_within_the_budget(tmp_path, demo):
    sizes = {}
    for budget in ("1Mi", "64Mi"):
        job = _job(tmp_path, demo["model"], {"path": str(demo["npz"]), "batchSize": "auto", "memoryBudget": budget},
                   attacks=MIXED_ATTACKS)
        proc = run("validate", job, "--report", tmp_path / f"{budget}.json")
        report = load_report(tmp_path / f"{budget}.json", proc)
        m = report["models"][0]
        assert report["dataset"]["batchAuto"] is True
        assert report["dataset"]["memoryBudget"] == {"1Mi": 1 << 20, "64Mi": 64 << 20}[budget]
        assert m["sampleBytes"] > 0 and 1 <= m["batchSize"] <= 450
        # the chosen batch's measured memory fits the budget (unless one sample alone does not)
        assert m["batchSize"] == 1 or m["batchSize"] * m["sampleBytes"] <= report["dataset"]["memoryBudget"]
        sizes[budget] = (m["batchSize"], _counts(report))
    assert sizes["1Mi"][0] < sizes["64Mi"][0]
    assert sizes["1Mi"][1] == sizes["64Mi"][1]  # the batch size does not change a result
    job = _job(tmp_path, demo["model"], {"path": str(demo["npz"]), "batchSize": 64, "memoryBudget": "1Gi"})
    _refused(run("dataset", job), "memoryBudget", "batchSize: auto")
