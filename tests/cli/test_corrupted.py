"""corrupted-npy (real-data issue): the CIFAR-10-C / Tiny-ImageNet-C layout, a folder of
<corruption>.npy files (uint8 N·5×H×W×C, severities 1 to 5 stacked in order) and labels.npy.
Each (corruption, severity) is one robustness entry, scored on exactly the rows of its block;
the clean set (spec.dataset.clean) is the clean evaluation's and the attacks'.

The files are written here from the demo digits with NumPy; every count is checked against the
plain PyTorch model on the same uint8 pixels.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from test_cli import load_report, manifest, run, write_job  # noqa: E402
from test_datasets import _refused, splitmix_sample  # noqa: E402


# ============================================================================== helpers
def _digits(demo):
    with np.load(demo["npz"]) as z:
        return z["inputs"], z["labels"]


def _corrupted_set(root, x, y, labels_per_row=True):
    """Two corruptions of the N digits at five severities each, as the published files are laid
    out: N·5×H×W×1 uint8, severity s in rows (s-1)·N .. s·N-1."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    clean = x.transpose(0, 2, 3, 1)  # N×8×8×1 in [0, 1]
    noise, contrast = [], []
    for s in range(1, 6):
        noise.append(np.clip(clean + rng.normal(0, 0.08 * s, clean.shape), 0, 1))
        m = clean.mean(axis=(1, 2, 3), keepdims=True)
        contrast.append((clean - m) * (1 - 0.18 * s) + m)
    files = {}
    for name, blocks in (("gaussian_noise", noise), ("contrast", contrast)):
        files[name] = np.round(np.concatenate(blocks) * 255).astype(np.uint8)
        np.save(root / f"{name}.npy", files[name])
    np.save(root / "labels.npy", np.tile(y, 5) if labels_per_row else y)
    return files


def _clean_npy(root, x, y):
    """The clean set the files were made from, as uint8 NHWC .npy (the same rounding)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "clean.npy", np.round(x.transpose(0, 2, 3, 1) * 255).astype(np.uint8))
    np.save(root / "labels.npy", y)
    return root / "clean.npy"


def _job(tmp_path, model, dataset, extra=(), name="c", formats=("json",)):
    spec = {"models": [{"name": "m", "path": str(model)}], "dataset": dataset, "device": "cpu", "seed": 0,
            "reports": {"format": list(formats), "location": str(tmp_path / "reports")}}
    return write_job(tmp_path, "\n---\n".join([manifest("ValidationJob", name, spec), *extra]) + "\n", f"{name}.yaml")


def _validate(tmp_path, job, tag="r", *extra):
    out = Path(tmp_path) / f"{tag}.json"
    proc = run("validate", job, "--report", out, *extra)
    return proc, load_report(out, proc)


def _correct(model, pixels_nhwc, y):
    """Plain PyTorch: the model's correct predictions on uint8 NHWC pixels scaled by 1/255."""
    x = torch.from_numpy(pixels_nhwc.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255))
    with torch.no_grad():
        return int((model(x).argmax(1) == torch.from_numpy(y)).sum())


def _stored(report):
    return {(e["name"], e["severity"]): e for e in report["models"][0]["robustness"] if e["corruption"] == "stored"}


# ============================================================================== scoring
@pytest.mark.parametrize("labels_per_row", [True, False], ids=["labels-5N", "labels-N"])
def test_each_block_is_scored_on_its_own_rows(tmp_path, demo, labels_per_row):
    x, y = _digits(demo)
    n = len(y)
    files = _corrupted_set(tmp_path / "C", x, y, labels_per_row)
    clean = _clean_npy(tmp_path / "clean", x, y)
    job = _job(tmp_path, demo["model"], {"path": str(tmp_path / "C"), "clean": str(clean)})
    proc, report = _validate(tmp_path, job)
    model = torch.jit.load(str(demo["model"])).eval()
    m = report["models"][0]
    assert report["dataset"]["format"] == "corrupted-npy" and report["dataset"]["clean"] == str(clean)
    assert m["clean"]["total"] == n
    assert m["clean"]["correct"] == _correct(model, np.load(clean), y)
    stored = _stored(report)
    assert sorted(stored) == [(c, s) for c in ("contrast", "gaussian_noise") for s in range(1, 6)]
    for (name, s), e in stored.items():
        block = files[name][(s - 1) * n:s * n]
        assert e["total"] == n and e["correct"] == _correct(model, block, y), (name, s)
    # The blocks differ (a test that read one block for every severity would fail here).
    assert len({e["correct"] for (name, _), e in stored.items() if name == "gaussian_noise"}) > 1
    assert report["complete"] is True
    summary = proc.stdout + proc.stderr
    assert "gaussian_noise severity=3 (stored)" in summary


def test_corruptions_severities_limit_and_sample(tmp_path, demo):
    x, y = _digits(demo)
    n = len(y)
    files = _corrupted_set(tmp_path / "C", x, y)
    clean = _clean_npy(tmp_path / "clean", x, y)
    model = torch.jit.load(str(demo["model"])).eval()
    ds = {"path": str(tmp_path / "C"), "format": "corrupted-npy", "clean": {"path": str(clean), "layout": "nhwc"},
          "corruptions": ["contrast"], "severities": [5, 2], "sample": {"n": 50, "seed": 3}}
    _, report = _validate(tmp_path, _job(tmp_path, demo["model"], ds))
    idx = np.array(splitmix_sample(n, 50, 3))
    stored = _stored(report)
    assert list(stored) == [("contrast", 5), ("contrast", 2)]  # in the order the job lists them
    for (_, s), e in stored.items():
        block = files["contrast"][(s - 1) * n:s * n][idx]
        assert e["total"] == 50 and e["correct"] == _correct(model, block, y[idx])
    assert report["models"][0]["clean"]["correct"] == _correct(model, np.load(clean)[idx], y[idx])

    ds = {"path": str(tmp_path / "C"), "clean": str(clean), "severities": 1, "limit": 40}
    _, report = _validate(tmp_path, _job(tmp_path, demo["model"], ds), "r2")
    stored = _stored(report)
    assert sorted(stored) == [("contrast", 1), ("gaussian_noise", 1)]
    for (name, _), e in stored.items():
        assert e["total"] == 40 and e["correct"] == _correct(model, files[name][:40], y[:40])


def test_without_a_clean_set(tmp_path, demo):
    x, y = _digits(demo)
    _corrupted_set(tmp_path / "C", x, y)
    job = _job(tmp_path, demo["model"], {"path": str(tmp_path / "C"), "severities": [1, 5]},
               formats=("json", "junit", "prometheus", "html"))
    proc = run("validate", job)
    files = {p.suffix: p for p in (tmp_path / "reports").iterdir()}
    assert sorted(files) == [".html", ".json", ".prom", ".xml"], files
    report = load_report(files[".json"], proc)
    m = report["models"][0]
    assert report["dataset"]["clean"] is None and m["clean"]["total"] == 0
    assert report["complete"] is True and m["skipped"] == []
    assert len(_stored(report)) == 4
    assert "none: the corrupted-npy set has no spec.dataset.clean" in proc.stdout + proc.stderr
    prom = files[".prom"].read_text()
    assert 'corruption="stored/contrast",level="5"' in prom
    assert "modelgate_clean_accuracy{" not in prom  # 0 of 0 is no figure
    assert "no clean samples" in files[".xml"].read_text()
    assert "not measured" in files[".html"].read_text()

    # Checks that start from clean samples cannot run: a one-line error, before anything.
    adv = manifest("AdversarialTesting", "adv", {"attacks": [{"type": "fgsm", "epsilon": 0.1}]})
    _refused(run("validate", _job(tmp_path, demo["model"], {"path": str(tmp_path / "C")}, [adv], name="a")),
             "AdversarialTesting needs clean samples", "spec.dataset.clean")
    rob = manifest("RobustnessTesting", "rob", {"tests": [{"type": "noise", "level": 0.1}]})
    _refused(run("validate", _job(tmp_path, demo["model"], {"path": str(tmp_path / "C")}, [rob], name="b")),
             "needs clean samples")


def test_baseline_compares_the_stored_entries(tmp_path, demo):
    x, y = _digits(demo)
    _corrupted_set(tmp_path / "C", x, y)
    job = _job(tmp_path, demo["model"], {"path": str(tmp_path / "C"), "corruptions": ["contrast"], "severities": [3]})
    run("validate", job)
    proc = run("validate", job)
    reports = sorted(p for p in (tmp_path / "reports").iterdir() if p.suffix == ".json")
    assert len(reports) == 2, proc.stderr
    second = json.loads(reports[-1].read_text())
    assert second["baseline"]["compared"] == 1 and second["baseline"]["drops"] == 0  # the stored entry; no clean figure


# ============================================================================== bad input
def test_bad_folders_are_exit_3(tmp_path, demo):
    x, y = _digits(demo)
    n = len(y)
    root = tmp_path / "C"
    files = _corrupted_set(root, x, y)
    clean = _clean_npy(tmp_path / "clean", x, y)
    ds = {"path": str(root), "clean": str(clean)}
    job = lambda d, name="j": _job(tmp_path, demo["model"], d, name=name)  # noqa: E731

    np.save(root / "contrast.npy", files["contrast"][:-3])  # not five equal severities
    _refused(run("validate", job(ds)), "contrast.npy", "5 severities")
    np.save(root / "contrast.npy", files["contrast"][:5 * (n - 1)])  # labels.npy has 5N
    _refused(run("validate", job(ds)), "labels.npy", f"{5 * (n - 1)} rows")
    np.save(root / "contrast.npy", files["contrast"][:, :7, :7].copy())  # other files are 8x8
    _refused(run("validate", job(ds)), "every corruption file holds the same samples")
    np.save(root / "contrast.npy", files["contrast"])

    _refused(run("validate", job(dict(ds, corruptions=["fog"]))), "fog.npy", "corruption 'fog' not found",
             "contrast, gaussian_noise")
    _refused(run("validate", job(dict(ds, severities=[6]))), "severities")
    _refused(run("validate", job(dict(ds, corruptions=[]))), "corruptions")
    _refused(run("validate", job(dict(ds, corruptions=["../x"]))), "corruptions[0]")
    _refused(run("validate", job(dict(ds, resize=8))), "resize", "corrupted-npy")

    np.save(root / "labels.npy", y[:-1])
    _refused(run("validate", job(ds)), "labels.npy", "expected")
    np.save(root / "labels.npy", np.tile(y, 5))

    short = tmp_path / "short"
    _clean_npy(short, x[:-1], y[:-1])
    _refused(run("validate", job(dict(ds, clean=str(short / "clean.npy")))), "the clean set is the one")

    # A folder with labels.npy is detected as corrupted-npy; without any corruption file it says so.
    empty = tmp_path / "E"
    empty.mkdir()
    np.save(empty / "labels.npy", y)
    _refused(run("validate", job({"path": str(empty)}, "e")), "no corruption files")
    (root / "labels.npy").unlink()
    _refused(run("validate", job(dict(ds, format="corrupted-npy"), "f")), "labels.npy")


def test_dataset_command_describes_the_set(tmp_path, demo):
    x, y = _digits(demo)
    _corrupted_set(tmp_path / "C", x, y)
    clean = _clean_npy(tmp_path / "clean", x, y)
    proc = run("dataset", _job(tmp_path, demo["model"], {"path": str(tmp_path / "C"), "clean": str(clean)}), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["format"] == "corrupted-npy" and info["corruptions"] == ["contrast", "gaussian_noise"]
    assert info["severities"] == [1, 2, 3, 4, 5] and info["clean"] == str(clean) and info["samples"] == len(y)
    proc = run("dataset", _job(tmp_path, demo["model"], {"path": str(tmp_path / "C")}, name="n"), "--export", tmp_path / "x")
    _refused(proc, "no clean samples")
