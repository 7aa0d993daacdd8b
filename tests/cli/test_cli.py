"""End-to-end tests of the modelgate executable (validate, fingerprint, compare, inspect).

Expected numbers come from tests/reference/plain_pytorch.py run in-process on the same
model and data, never from the C++ engine itself. Skips when the binary is not built.
"""
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MODELGATE_BIN", REPO_ROOT / "build" / "modelgate"))
SCHEMA = REPO_ROOT / "engine" / "schema" / "report.schema.json"

if not BIN.is_file():
    pytest.skip(f"modelgate binary not built: {BIN}", allow_module_level=True)

EXIT = {"pass": 0, "review": 1, "block": 2}
FORBIDDEN = ("terminate called", "Segmentation", "Traceback", "Exception raised from")
ERROR_PREFIX = "modelgate: error: "
HEX64 = re.compile(r"^[0-9a-f]{64}$")
PGD_DEFAULT_EPS = 8 / 255


# =============================================================================== helpers
def run(*args, cwd=None, timeout=300):
    proc = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
    for line in proc.stderr.splitlines() + proc.stdout.splitlines():
        for bad in FORBIDDEN:
            assert bad not in line, f"crash marker {bad!r} in output:\n{proc.stderr}"
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}:\n{proc.stderr}"
    assert proc.returncode not in (134, 139), f"abort/segfault:\n{proc.stderr}"
    _transcribe(args, proc.returncode, proc.stderr)
    return proc


def _transcribe(args, code, stderr, peak_mb=None):
    """With MODELGATE_TRANSCRIPT=FILE, appends what a command printed (for the README's examples)."""
    if not os.environ.get("MODELGATE_TRANSCRIPT"):
        return
    errors = [l for l in stderr.splitlines() if l.startswith("modelgate: error: ")]
    with open(os.environ["MODELGATE_TRANSCRIPT"], "a") as out:
        out.write(json.dumps({"test": os.environ.get("PYTEST_CURRENT_TEST", ""), "args": [str(a) for a in args][:3],
                              "exit": code, "error": errors[0] if errors else None, "peakMB": peak_mb}) + "\n")


def peak_rss_mb(*args):
    """Runs modelgate and returns (exit code, stderr, peak resident memory in MB of it and the
    workers it waited for)."""
    proc = subprocess.Popen([str(BIN), *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code not in (-6, -11, 134, 139), f"abort/segfault:\n{err}"
    _transcribe(args, code, err, round(usage.ru_maxrss / 1024))
    return code, err, usage.ru_maxrss / 1024


def error_line(proc, *names):
    """The single `modelgate: error: ` line; it must mention one of names (if given)."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(ERROR_PREFIX)]
    assert len(lines) == 1, f"expected exactly one error line, stderr:\n{proc.stderr}"
    line = lines[0]
    if names:
        assert any(str(n) in line for n in names), f"error line names none of {names}: {line}"
    return line


def _yaml(obj, indent=0):
    """Minimal block-style YAML emitter (scalars as JSON, which YAML accepts)."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(_yaml(v, indent + 2))
            else:
                out.append(f"{pad}{k}: {json.dumps(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                body = _yaml(item, indent + 2)
                out.append(f"{pad}- {body.lstrip()}")
            else:
                out.append(f"{pad}- {json.dumps(item)}")
    else:
        out.append(pad + json.dumps(obj))
    return "\n".join(out)


def manifest(kind, name, spec):
    return _yaml({"apiVersion": "security.nootropic.ai/v1", "kind": kind,
                  "metadata": {"name": name}, "spec": spec})


def job_text(model, data, attacks=None, tests=None, severity=None, extra_docs=(),
             name="nightly", model_name="digits-cnn", location="./security/reports",
             batch_size=128, job_extra=None):
    spec = {"models": [{"name": model_name, "path": str(model)}],
            "dataset": {"path": str(data), "batchSize": batch_size},
            "device": "auto", "seed": 0,
            "reports": {"format": "json", "location": location}}
    spec.update(job_extra or {})
    docs = [manifest("ValidationJob", name, spec)]
    if attacks is not None:
        docs.append(manifest("AdversarialTesting", "adv", {"attacks": attacks}))
    if tests is not None:
        docs.append(manifest("RobustnessTesting", "rob", {"tests": tests}))
    if severity is not None:
        docs.append(manifest("ModelVulnerabilityScanning", "scan", {"severity": severity}))
    docs.extend(extra_docs)
    return "\n---\n".join(docs) + "\n"


def write_job(tmp_path, text, filename="job.yaml"):
    path = Path(tmp_path) / filename
    path.write_text(text)
    return path


def sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_schema(report):
    if not SCHEMA.is_file():
        return  # engine/schema/report.schema.json not written yet
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors = sorted(cls(schema).iter_errors(report), key=lambda e: list(e.path))
    assert not errors, "report violates schema:\n" + "\n".join(
        f"  {'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])


def load_report(path, proc=None, models=None):
    """Read, schema-check and sanity-check a validate report."""
    path = Path(path)
    assert path.is_file(), f"no report at {path}; stderr:\n{proc.stderr if proc else ''}"
    report = json.loads(path.read_text())
    check_schema(report)
    assert report["verdict"] in EXIT
    assert report["exitCode"] == EXIT[report["verdict"]]
    if proc is not None:
        assert proc.returncode == report["exitCode"], proc.stderr
    assert isinstance(report["tool"]["version"], str) and report["tool"]["version"]
    assert "2.11.0" in str(report["environment"]["libtorch"])
    for key in ("device", "seed", "startedAt", "finishedAt", "manifests", "warnings",
                "models", "findings"):
        assert key in report, key
    for m in report["models"]:
        assert HEX64.match(m["sha256"])
        mp = Path(m["path"])
        if models and m["name"] in models:
            assert m["sha256"] == sha256_file(models[m["name"]])
        elif mp.is_absolute() and mp.is_file():
            assert m["sha256"] == sha256_file(mp)
        c = m["clean"]
        no_clean = report["dataset"].get("format") == "corrupted-npy" and report["dataset"]["clean"] is None
        if no_clean:  # a corrupted-npy set without clean samples: 0 of 0
            assert c == {"correct": 0, "total": 0, "accuracy": 0.0}
        else:
            assert c["total"] > 0 and 0 <= c["correct"] <= c["total"]
            assert math.isclose(c["accuracy"], c["correct"] / c["total"], abs_tol=1e-9)
        for e in m.get("adversarial", []):
            assert math.isclose(e["robustAccuracy"], e["correct"] / e["total"], abs_tol=1e-9)
            assert e["seconds"] >= 0
        for e in m.get("robustness", []):
            assert e["corruption"] in ("gaussian_noise", "gaussian_blur", "stored", "benchmark")
            assert (e["corruption"] in ("stored", "benchmark")) == ("name" in e and "severity" in e)
            assert (e["corruption"] == "benchmark") == ("parameters" in e)
            assert math.isclose(e["accuracy"], e["correct"] / e["total"], abs_tol=1e-9)
            assert e["seconds"] >= 0
        skipped = {k["section"] for k in m.get("skipped", [])}
        # A fingerprint the run did not reach (a budget, a signal) is null and listed as skipped.
        assert isinstance(m.get("fingerprint", {}), dict) or "fingerprint" in skipped
    for f in report["findings"]:
        for key in ("check", "severity", "action", "message", "observed", "threshold"):
            assert key in f, key
    return report


def kernel_size(value):
    """A report's blur kernel, 3 or "3x3" -> 3."""
    if isinstance(value, int):
        return value
    a, _, b = str(value).lower().partition("x")
    assert not b or a == b, value
    return int(a)


def adv_entries(model_report, attack):
    return [e for e in model_report["adversarial"] if e["attack"] == attack]


def rob_entries(model_report, corruption):
    return [e for e in model_report["robustness"] if e["corruption"] == corruption]


def find_eps(entries, eps):
    hits = [e for e in entries if math.isclose(e["epsilon"], eps, rel_tol=1e-6, abs_tol=1e-9)]
    assert len(hits) == 1, f"epsilon {eps}: {entries}"
    return hits[0]


def validate(tmp_path, text, *extra, report="report.json", cwd=None):
    job = write_job(tmp_path, text)
    rpath = Path(tmp_path) / report
    proc = run("validate", job, "--device", "cpu", "--report", rpath, *extra, cwd=cwd)
    return proc, rpath, job


PGD_FAST = {"type": "pgd", "epsilon": 0.1, "steps": 3, "stepSize": 0.04, "randomStart": False}


# ================================================================================ basics
def test_version():
    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    assert "modelgate " in proc.stdout
    assert "LibTorch 2.11.0" in proc.stdout


def test_help_lists_subcommands():
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    for sub in ("validate", "fingerprint", "compare", "inspect"):
        assert sub in proc.stdout, sub


# ====================================================== 1. agreement with plain PyTorch
def test_agreement_with_plain_pytorch(tmp_path, demo, oracle):
    pp = oracle.module
    # The textbook loops score the last iterate; modelgate keeps that count when the active set
    # is off (its headline count also fails samples fooled at any earlier iterate).
    attacks = [{"type": "fgsm", "epsilon": [0.03, 0.1], "activeSet": False},
               {"type": "pgd", "epsilon": 0.1, "steps": 10, "stepSize": 0.025,
                "randomStart": False, "activeSet": False},
               {"type": "pgd", "norm": "l2", "epsilon": 1.0, "steps": 10, "stepSize": 0.25,
                "randomStart": False, "activeSet": False}]
    tests = [{"type": "blur", "kernel": "3x3"}, {"type": "blur", "kernel": "5x5"}]
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], attacks, tests))
    assert proc.returncode in (0, 1, 2), proc.stderr
    report = load_report(rpath, proc, {"digits-cnn": demo["model"]})
    assert "cpu" in str(report["device"]).lower()
    (m,) = report["models"]
    assert m["sha256"] == sha256_file(demo["model"])

    x, y, model = oracle.x, oracle.y, oracle.model
    n = len(y)
    assert m["clean"]["total"] == n
    assert m["clean"]["correct"] == pp.clean_correct(model, x, y, 128)

    fgsm = adv_entries(m, "fgsm")
    assert len(fgsm) == 2
    for eps in (0.03, 0.1):
        e = find_eps(fgsm, eps)
        assert e["total"] == n
        assert abs(e["lastIterateCorrect"] - pp.fgsm_correct(model, x, y, eps, 128)) <= 1, e
        assert e["correct"] <= e["lastIterateCorrect"], e  # any-iterate is never kinder

    p, l2 = adv_entries(m, "pgd")
    assert p["steps"] == 10 and p["randomStart"] is False
    assert math.isclose(p["epsilon"], 0.1, rel_tol=1e-6)
    assert math.isclose(p["stepSize"], 0.025, rel_tol=1e-6)
    assert abs(p["lastIterateCorrect"] - pp.pgd_correct(model, x, y, 0.1, 10, 0.025, 128)) <= 1, p
    assert p["correct"] <= p["lastIterateCorrect"], p
    assert l2["norm"] == "l2"
    assert abs(l2["lastIterateCorrect"] - pp.pgd_l2_correct(model, x, y, 1.0, 10, 0.25, 128)) <= 1, l2

    blur = rob_entries(m, "gaussian_blur")
    assert sorted(kernel_size(b["kernel"]) for b in blur) == [3, 5]
    for b in blur:
        k = kernel_size(b["kernel"])
        # default sigma: reported either as requested (0 / absent) or as the value used
        assert b.get("sigma") in (None, 0) or math.isclose(
            b["sigma"], pp.opencv_default_sigma(k), rel_tol=1e-6), b
        assert b["total"] == n
        assert abs(b["correct"] - pp.blur_correct(model, x, y, k, 0.0, 128)) <= 1, b


def test_explicit_blur_sigma_agrees(tmp_path, demo, oracle):
    pp = oracle.module
    tests = [{"type": "blur", "kernel": "5x5", "sigma": 2.0}]
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], tests=tests))
    report = load_report(rpath, proc)
    (b,) = rob_entries(report["models"][0], "gaussian_blur")
    assert math.isclose(b["sigma"], 2.0)
    expected = pp.blur_correct(oracle.model, oracle.x, oracle.y, 5, 2.0, 128)
    assert abs(b["correct"] - expected) <= 1


# ================================================================ 2. the seed manifests
# Copied verbatim from the project's security document (the code blocks, dedented).
SEED_MANIFESTS = """\
# security/models/adversarial.yaml
apiVersion: security.nootropic.ai/v1
kind: AdversarialTesting
metadata:
  name: nootropic-adversarial
spec:
  attacks:
    - type: fgsm
      epsilon: 0.03
    - type: pgd
      steps: 10
  schedule:
    frequency: weekly
    duration: 2h
---
# security/models/robustness.yaml
apiVersion: security.nootropic.ai/v1
kind: RobustnessTesting
metadata:
  name: nootropic-robustness
spec:
  tests:
    - type: noise
      level: 0.1
    - type: blur
      kernel: 3x3
  schedule:
    frequency: daily
---
# security/models/fingerprinting.yaml
apiVersion: security.nootropic.ai/v1
kind: ModelFingerprinting
metadata:
  name: nootropic-fingerprinting
spec:
  method: neural
  features:
    - architecture
    - weights
    - activations
  verification:
    frequency: daily
---
# security/models/scanning.yaml
apiVersion: security.nootropic.ai/v1
kind: ModelVulnerabilityScanning
metadata:
  name: nootropic-model-scanning
spec:
  scanner: local
  schedule: daily
  severity:
    critical: block
    high: review
  reports:
    format: json
    location: ./security/reports
---
# security/models/watermarking.yaml
apiVersion: security.nootropic.ai/v1
kind: ModelWatermarking
metadata:
  name: nootropic-watermarking
spec:
  type: digital
  method: steganography
  metadata:
    - owner: local
    - version: 1.0.0
    - timestamp: 2024-03-20
    - license: MIT
"""


def test_seed_manifests_run_unchanged(tmp_path, demo):
    text = job_text(demo["model"], demo["npz"]).rstrip("\n") + "\n---\n" + SEED_MANIFESTS
    proc, rpath, _ = validate(tmp_path, text)
    assert proc.returncode in (0, 1, 2), proc.stderr
    report = load_report(rpath, proc, {"digits-cnn": demo["model"]})

    kinds = {(m["kind"], m["name"]): m["handled"] for m in report["manifests"]}
    assert kinds[("ModelWatermarking", "nootropic-watermarking")] is False
    assert kinds[("AdversarialTesting", "nootropic-adversarial")] is True
    assert kinds[("RobustnessTesting", "nootropic-robustness")] is True
    assert kinds[("ModelVulnerabilityScanning", "nootropic-model-scanning")] is True
    assert ("ModelFingerprinting", "nootropic-fingerprinting") in kinds
    assert any("ModelWatermarking" in w for w in report["warnings"]), report["warnings"]
    assert any("schedule" in w for w in report["warnings"]), report["warnings"]

    (m,) = report["models"]
    (f,) = adv_entries(m, "fgsm")
    assert math.isclose(f["epsilon"], 0.03, rel_tol=1e-6)
    (p,) = adv_entries(m, "pgd")
    assert p["steps"] == 10
    assert math.isclose(p["epsilon"], PGD_DEFAULT_EPS, rel_tol=1e-5)
    assert math.isclose(p["stepSize"], 2.5 * PGD_DEFAULT_EPS / 10, rel_tol=1e-5)
    assert p["randomStart"] is True
    (noise,) = rob_entries(m, "gaussian_noise")
    assert math.isclose(noise["level"], 0.1, rel_tol=1e-6)
    (blur,) = rob_entries(m, "gaussian_blur")
    assert kernel_size(blur["kernel"]) == 3
    assert isinstance(m["fingerprint"], dict) and m["fingerprint"]


# ============================================================== 3. exit codes / verdicts
@pytest.mark.parametrize("severity,mapping,code,action", [
    ("critical", None, 2, "block"),
    ("high", None, 1, "review"),
    (None, None, 1, "review"),            # default severity is high
    ("low", None, 0, "warn"),
    ("medium", {"medium": "block"}, 2, "block"),
])
def test_threshold_exit_codes(tmp_path, demo, severity, mapping, code, action):
    attack = dict(PGD_FAST, minAccuracy=0.999)
    if severity:
        attack["severity"] = severity
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], [attack],
                                                 severity=mapping))
    assert proc.returncode == code, proc.stderr
    report = load_report(rpath, proc)
    assert report["verdict"] == {0: "pass", 1: "review", 2: "block"}[code]
    hits = [f for f in report["findings"] if f["severity"] == (severity or "high")]
    assert len(hits) == 1, report["findings"]
    f = hits[0]
    assert f["action"] == action
    assert math.isclose(f["threshold"], 0.999)
    (p,) = adv_entries(report["models"][0], "pgd")
    assert f["observed"] < 0.999
    assert math.isclose(f["observed"], p["robustAccuracy"], abs_tol=1e-9)


def test_no_thresholds_pass(tmp_path, demo):
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], [PGD_FAST]))
    assert proc.returncode == 0, proc.stderr
    report = load_report(rpath, proc)
    assert report["verdict"] == "pass"
    assert not [f for f in report["findings"] if f["action"] in ("block", "review")]


def test_threshold_met_gives_no_finding(tmp_path, demo):
    attack = dict(PGD_FAST, minAccuracy=0.0, severity="critical")
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], [attack]))
    assert proc.returncode == 0, proc.stderr
    assert load_report(rpath, proc)["verdict"] == "pass"


# ================================================================== 4. atomic reports
def _relative_job_dir(tmp_path, demo):
    """A job folder with models/ and data/ next to the job file (relative paths)."""
    d = tmp_path / "job"
    (d / "models").mkdir(parents=True)
    (d / "data").mkdir()
    shutil.copy(demo["model"], d / "models" / "digits_cnn.pt")
    shutil.copy(demo["npz"], d / "data" / "digits_test.npz")
    return d


def test_reports_location_relative_and_distinct(tmp_path, demo, oracle):
    d = _relative_job_dir(tmp_path, demo)
    job = write_job(d, job_text("models/digits_cnn.pt", "data/digits_test.npz"))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    for _ in range(2):
        proc = run("validate", job, "--device", "cpu", cwd=elsewhere)
        assert proc.returncode == 0, proc.stderr
    reports_dir = d / "security" / "reports"
    files = sorted(reports_dir.iterdir())  # the runs' lock file went with them
    assert len(files) == 2, files
    for f in files:
        assert re.match(r"^nightly-.+\.json$", f.name), f.name
        report = load_report(f, models={"digits-cnn": demo["model"]})
        assert report["models"][0]["clean"]["correct"] == oracle.module.clean_correct(
            oracle.model, oracle.x, oracle.y, 128)
    assert not list(elsewhere.iterdir())


def test_failed_run_keeps_existing_report(tmp_path, demo, fixtures_dir):
    out = tmp_path / "out"
    out.mkdir()
    rpath = out / "report.json"
    old = b'{"previous": "report"}\n'
    rpath.write_bytes(old)
    job = write_job(tmp_path, job_text(fixtures_dir / "garbage.pt", demo["npz"], [PGD_FAST]))
    proc = run("validate", job, "--device", "cpu", "--report", rpath)
    assert proc.returncode == 3, proc.stderr
    error_line(proc, "garbage.pt")
    assert rpath.read_bytes() == old
    assert [p.name for p in out.iterdir()] == ["report.json"]


def test_report_overwrite_leaves_no_temp_files(tmp_path, demo):
    out = tmp_path / "out"
    out.mkdir()
    rpath = out / "report.json"
    rpath.write_text("old")
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"]))
    proc = run("validate", job, "--device", "cpu", "--report", rpath)
    assert proc.returncode == 0, proc.stderr
    load_report(rpath, proc)
    assert [p.name for p in out.iterdir()] == ["report.json"]


# ===================================================================== 5. bad input
def _expect_invalid(proc, rpath, *names):
    assert proc.returncode == 3, f"rc={proc.returncode}\n{proc.stderr}"
    line = error_line(proc, *names)
    assert not rpath.exists(), "a report was written although nothing was evaluated"
    return line


@pytest.mark.parametrize("fixture", ["MISSING", "truncated.pt", "not_torchscript.pt",
                                     "garbage.pt", "empty.pt"])
def test_bad_model_file(tmp_path, demo, fixtures_dir, fixture):
    model = tmp_path / "does_not_exist.pt" if fixture == "MISSING" else fixtures_dir / fixture
    proc, rpath, _ = validate(tmp_path, job_text(model, demo["npz"], [PGD_FAST]))
    _expect_invalid(proc, rpath, model.name)


def test_yaml_syntax_error(tmp_path, demo):
    text = job_text(demo["model"], demo["npz"]) + "---\nkind: [AdversarialTesting\n  spec: {\n"
    proc, rpath, job = validate(tmp_path, text)
    _expect_invalid(proc, rpath, job.name)


def test_job_file_missing(tmp_path):
    rpath = tmp_path / "r.json"
    proc = run("validate", tmp_path / "nope.yaml", "--device", "cpu", "--report", rpath)
    _expect_invalid(proc, rpath, "nope.yaml")


def test_unknown_field_is_a_warning(tmp_path, demo):
    attack = dict(PGD_FAST, bogusField=1)
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], [attack],
                                                 job_extra={"frobnicate": True}))
    assert proc.returncode in (0, 1, 2), proc.stderr
    report = load_report(rpath, proc)
    assert any("bogusField" in w for w in report["warnings"]), report["warnings"]
    assert any("frobnicate" in w for w in report["warnings"]), report["warnings"]


def test_unknown_kind_is_not_handled(tmp_path, demo):
    extra = manifest("ModelWatermarking", "wm", {"type": "digital"})
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"],
                                                 extra_docs=[extra]))
    assert proc.returncode == 0, proc.stderr
    report = load_report(rpath, proc)
    assert {"kind": "ModelWatermarking", "name": "wm", "handled": False} in [
        {k: m[k] for k in ("kind", "name", "handled")} for m in report["manifests"]]
    assert any("ModelWatermarking" in w for w in report["warnings"])


@pytest.mark.parametrize("fixture", ["wrong_shape.npz", "out_of_range.npz",
                                     "count_mismatch.npz", "bad_labels.npz",
                                     "nan_inputs.npz", "MISSING"])
def test_bad_dataset(tmp_path, demo, fixtures_dir, fixture):
    data = tmp_path / "missing.npz" if fixture == "MISSING" else fixtures_dir / fixture
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], data, [PGD_FAST]))
    names = [data.name] + (["digits_cnn.pt"] if fixture == "wrong_shape.npz" else [])
    _expect_invalid(proc, rpath, *names)


@pytest.mark.parametrize("fixture", ["wrong_dtype.npz", "labels_float.npz"])
def test_dataset_dtype_variants(tmp_path, demo, fixtures_dir, oracle, fixture):
    """The contract does not say whether these are converted or refused; either is fine,
    but refusal must be a clean exit 3 and acceptance must give the right count."""
    data = fixtures_dir / fixture
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], data))
    if proc.returncode == 3:
        _expect_invalid(proc, rpath, data.name)
        return
    assert proc.returncode in (0, 1, 2), proc.stderr
    report = load_report(rpath, proc)
    c = report["models"][0]["clean"]
    x, y = oracle.x[:32], oracle.y[:32]
    assert c["total"] == 32
    assert c["correct"] == oracle.module.clean_correct(oracle.model, x, y, 128)


def test_nan_model_fails_during_run(tmp_path, demo, fixtures_dir):
    model = fixtures_dir / "nan_model.pt"
    proc, rpath, _ = validate(tmp_path, job_text(model, demo["npz"], [PGD_FAST],
                                                 model_name="nan-model"))
    assert proc.returncode == 4, proc.stderr
    error_line(proc, model.name, "nan-model")


def test_cuda_request_without_gpu(tmp_path, demo):
    smi = shutil.which("nvidia-smi")
    if smi and subprocess.run([smi], capture_output=True).returncode == 0:
        pytest.skip("a GPU is present")
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"]))
    rpath = tmp_path / "report.json"
    proc = run("validate", job, "--device", "cuda", "--report", rpath)
    line = _expect_invalid(proc, rpath)
    assert "cuda" in line.lower()


@pytest.mark.parametrize("attacks,tests,words", [
    ([{"type": "carlini-wagner", "epsilon": 0.1}], None, ("carlini-wagner", "type")),
    ([{"type": "fgsm", "epsilon": -0.1}], None, ("epsilon",)),
    ([{"type": "fgsm", "epsilon": [0.03, -0.1]}], None, ("epsilon",)),
    ([{"type": "pgd", "steps": 0}], None, ("steps",)),
    ([{"type": "fgsm", "epsilon": 0.03, "minAccuracy": 1.5}], None, ("minAccuracy",)),
    ([{"type": "fgsm", "epsilon": 0.03, "severity": "apocalyptic"}], None, ("severity",)),
    (None, [{"type": "blur", "kernel": "4x4"}], ("kernel", "4x4")),
    (None, [{"type": "noise", "level": -0.2}], ("level",)),
    (None, [{"type": "fog", "level": 0.2}], ("fog", "type")),
], ids=["unknown-attack", "negative-eps", "negative-eps-in-list", "zero-steps",
        "minAccuracy-range", "bad-severity", "even-kernel",
        "negative-noise", "unknown-corruption"])
def test_invalid_config_values(tmp_path, demo, attacks, tests, words):
    proc, rpath, job = validate(tmp_path, job_text(demo["model"], demo["npz"], attacks, tests))
    line = _expect_invalid(proc, rpath, job.name)
    assert any(w in line for w in words), line


def test_missing_validation_job(tmp_path, demo):
    text = manifest("AdversarialTesting", "adv", {"attacks": [PGD_FAST]}) + "\n"
    proc, rpath, job = validate(tmp_path, text)
    _expect_invalid(proc, rpath, job.name)


def test_pt_dataset_matches_npz(tmp_path, demo, oracle):
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["pt"]))
    assert proc.returncode == 0, proc.stderr
    c = load_report(rpath, proc)["models"][0]["clean"]
    assert c["total"] == len(oracle.y)
    assert c["correct"] == oracle.module.clean_correct(oracle.model, oracle.x, oracle.y, 128)


def test_batch_size_does_not_change_results(tmp_path, demo, oracle):
    pp = oracle.module
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"],
                                                 [{"type": "fgsm", "epsilon": 0.1, "activeSet": False}],
                                                 batch_size=7))
    m = load_report(rpath, proc)["models"][0]
    (f,) = adv_entries(m, "fgsm")
    assert abs(f["lastIterateCorrect"] - pp.fgsm_correct(oracle.model, oracle.x, oracle.y, 0.1, 7)) <= 1


# ========================================================================= 6. sweeps
def test_epsilon_sweep(tmp_path, demo):
    eps = [0.01, 0.05, 0.1]
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"],
                                                 [{"type": "fgsm", "epsilon": eps}]))
    m = load_report(rpath, proc)["models"][0]
    entries = adv_entries(m, "fgsm")
    assert len(entries) == 3
    counts = [find_eps(entries, e)["correct"] for e in eps]
    assert counts[0] >= counts[2], counts  # a larger step does not help the model here


def test_noise_sweep_and_seed_determinism(tmp_path, demo):
    levels = [0.05, 0.1, 0.3]
    text = job_text(demo["model"], demo["npz"],
                    [dict(PGD_FAST, epsilon=0.05, randomStart=True)],
                    [{"type": "noise", "level": levels}])
    runs = []
    for i in range(2):
        proc, rpath, _ = validate(tmp_path, text, "--seed", 7, report=f"r{i}.json")
        report = load_report(rpath, proc)
        assert report["seed"] == 7
        runs.append(report["models"][0])
    for m in runs:
        noise = rob_entries(m, "gaussian_noise")
        assert sorted(e["level"] for e in noise) == pytest.approx(levels)
    key = lambda m: ([(e["level"], e["correct"]) for e in rob_entries(m, "gaussian_noise")],
                     [e["correct"] for e in adv_entries(m, "pgd")])
    assert key(runs[0]) == key(runs[1])


# ========================================================== 7. fingerprint and compare
@pytest.fixture(scope="module")
def ref_fp(tmp_path_factory, demo):
    out = tmp_path_factory.mktemp("fp") / "digits.fp.json"
    proc = run("fingerprint", demo["model"], "--out", out, "--data", demo["npz"])
    assert proc.returncode == 0, proc.stderr
    return out


def _fp(path, tmp_path, name, *extra):
    out = tmp_path / f"{name}.fp.json"
    proc = run("fingerprint", path, "--out", out, *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


FP_SCHEMA = REPO_ROOT / "fingerprint" / "schema" / "fingerprint.schema.json"


def test_fingerprint_contents(ref_fp, demo, oracle):
    import base64
    import hashlib

    import jsonschema
    import numpy as np

    fp = json.loads(ref_fp.read_text())
    jsonschema.validate(fp, json.loads(FP_SCHEMA.read_text()))
    assert HEX64.match(fp["rootSha256"]) and HEX64.match(fp["archSha256"])
    state = oracle.model.state_dict()
    assert set(state) <= set(fp["tensors"]), sorted(set(state) - set(fp["tensors"]))
    # The root is the OpenSSF-style manifest digest: sorted "name:sha256" lines.
    lines = "".join(f"{n}:{fp['tensors'][n]['sha256']}\n" for n in sorted(fp["tensors"]))
    assert hashlib.sha256(lines.encode()).hexdigest() == fp["rootSha256"]
    w = state["fc2.weight"]
    assert fp["tensors"]["fc2.weight"]["norm"] == pytest.approx(float(w.double().norm()), rel=1e-9)
    # 64 synthetic + 64 real + 32 boundary probes; the logits are PyTorch's on those rows.
    probes = fp["probes"]
    assert (probes["synthetic"], probes["real"], probes["boundary"]["count"]) == (64, 64, 32)
    logits = np.frombuffer(base64.b64decode(fp["logits"]["float32"]), dtype="<f4").reshape(160, 10)
    real = oracle.x[:64]
    want = oracle.model(real).detach().numpy()
    np.testing.assert_allclose(logits[64:128], want, rtol=1e-4, atol=1e-4)
    import torch

    boundary = np.frombuffer(base64.b64decode(probes["boundary"]["float16"]), dtype="<f2").reshape(32, 1, 8, 8)
    synthetic = torch.rand((64, 1, 8, 8), generator=torch.Generator().manual_seed(probes["seed"]))
    rows = torch.cat([synthetic, real]).numpy()
    src = rows[probes["boundary"]["sources"]]
    assert np.abs(boundary.astype(np.float32) - src).max() <= probes["boundary"]["epsilon"] + 1e-3
    labels = np.array(probes["boundary"]["labels"])
    assert (oracle.model(torch.from_numpy(src)).argmax(1).numpy() == labels).all()
    # Boundary probes sit just past the reference's boundary: fooled sources come first, and
    # PGD-20 at eps 0.1 fools well over 32 of the demo model's 128 probe rows.
    adv_pred = oracle.model(torch.from_numpy(boundary.astype(np.float32))).argmax(1).numpy()
    assert (adv_pred != labels).all()
    assert ref_fp.stat().st_size < 1_000_000


def test_fingerprint_is_deterministic_and_weight_sensitive(tmp_path, demo, fixtures_dir):
    a = _fp(demo["model"], tmp_path, "a")
    b = _fp(demo["model"], tmp_path, "b")
    assert (a["rootSha256"], a["archSha256"], a["tensors"]) == \
        (b["rootSha256"], b["archSha256"], b["tensors"])
    same = _fp(fixtures_dir / "digits_rescripted.pt", tmp_path, "same")
    assert same["tensors"] == a["tensors"]
    assert same["archSha256"] == a["archSha256"]
    eq = _fp(fixtures_dir / "digits_equivalent.pt", tmp_path, "eq")
    assert eq["archSha256"] == a["archSha256"]
    assert all(eq["tensors"][k] != a["tensors"][k] for k in ("conv1.weight", "fc2.weight"))
    assert eq["rootSha256"] != a["rootSha256"]


def _compare(ref_fp, candidate, *extra):
    proc = run("compare", ref_fp, candidate, *extra)
    m = re.search(r"^verdict: (\w+)\s*$", proc.stdout, re.M)
    return proc, (m.group(1) if m else None)




def test_fingerprint_layers_option_taps_nested_modules(tmp_path, fixtures_dir):
    proc = run("inspect", fixtures_dir / "nested.pt")
    assert "layer1.0.conv1" in proc.stdout.split("capturable layers")[1], proc.stdout
    fp = _fp(fixtures_dir / "nested.pt", tmp_path, "nested", "--layers", "layer1.0.conv1,layer1", "--boundary", "0")
    assert [layer["name"] for layer in fp["layers"]] == ["layer1.0.conv1", "layer1"]
    default = _fp(fixtures_dir / "nested.pt", tmp_path, "nested_default", "--boundary", "0")
    assert all("." not in layer["name"] for layer in default["layers"]) and default["layers"]


def test_fingerprint_bad_options_name_the_problem(tmp_path, demo):
    out = tmp_path / "x.json"
    proc = run("fingerprint", demo["model"], "--out", out, "--layers", "conv1,nope")
    assert proc.returncode == 3
    assert "'nope'" in error_line(proc, "--layers") and "conv1" in proc.stderr
    proc = run("fingerprint", demo["model"], "--out", out, "--probes", "4", "--boundary", "8")
    assert proc.returncode == 3
    error_line(proc, "--boundary 8")
    assert not out.exists()


def test_compare_two_fingerprint_files(ref_fp, tmp_path, demo, fixtures_dir):
    # Without boundary probes, two fingerprints taken apart share their probes and compare
    # without any model: the same verdict as replaying the probes on the candidate model.
    ref0, cand0 = tmp_path / "ref0.fp.json", tmp_path / "cand0.fp.json"
    for model, out in ((demo["model"], ref0), (fixtures_dir / "digits_equivalent.pt", cand0)):
        assert run("fingerprint", model, "--out", out, "--data", demo["npz"], "--boundary", "0").returncode == 0
    proc, by_file = _compare(ref0, cand0)
    _, by_model = _compare(ref0, fixtures_dir / "digits_equivalent.pt")
    assert (proc.returncode, by_file) == (0, "equivalent") and by_model == by_file, proc.stdout + proc.stderr
    copy = tmp_path / "copy.fp.json"
    copy.write_text(ref_fp.read_text())
    proc, verdict = _compare(ref_fp, copy)
    assert (proc.returncode, verdict) == (0, "identical"), proc.stdout + proc.stderr
    # Boundary probes are made on each fingerprinted model: a candidate's own file was taken
    # on other probes, and compare says so instead of comparing unlike rows.
    own = tmp_path / "own.fp.json"
    assert run("fingerprint", fixtures_dir / "digits_finetuned.pt", "--out", own, "--data", demo["npz"]).returncode == 0
    proc, _ = _compare(ref_fp, own)
    assert proc.returncode == 3
    error_line(proc, "other probes")


def test_compare_thresholds_file(ref_fp, tmp_path, fixtures_dir):
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"formatVersion": 1, "derived": {"combine": "any", "rules": [
        {"metric": "weightCosine", "op": ">=", "value": 2.0}]}}))
    proc, verdict = _compare(ref_fp, fixtures_dir / "digits_finetuned.pt", "--thresholds", strict)
    assert (proc.returncode, verdict) == (2, "unrelated"), proc.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"formatVersion": 1, "derived": {"combine": "any", "rules": [
        {"metric": "accuracy", "op": ">=", "value": 0.5}]}}))
    proc, _ = _compare(ref_fp, fixtures_dir / "digits_finetuned.pt", "--thresholds", bad)
    assert proc.returncode == 3
    error_line(proc, "bad.json")


@pytest.mark.parametrize("candidate,verdicts,code", [
    ("DEMO", ("identical",), 0),
    ("digits_traced.pt", ("identical", "equivalent"), 0),
    ("digits_rescripted.pt", ("identical", "equivalent"), 0),
    ("digits_equivalent.pt", ("equivalent",), 0),
    pytest.param("digits_finetuned.pt", ("derived",), 1),
    pytest.param("digits_other_seed.pt", ("unrelated",), 2),
    ("nested.pt", ("unrelated",), 2),
])
def test_compare(ref_fp, demo, fixtures_dir, candidate, verdicts, code):
    path = demo["model"] if candidate == "DEMO" else fixtures_dir / candidate
    proc, verdict = _compare(ref_fp, path)
    assert verdict in verdicts, f"{verdict}\n{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == code, proc.stderr


def test_compare_writes_report(ref_fp, fixtures_dir, tmp_path):
    rpath = tmp_path / "cmp.json"
    proc, verdict = _compare(ref_fp, fixtures_dir / "digits_equivalent.pt", "--report", rpath)
    assert proc.returncode == 0, proc.stderr
    assert verdict, proc.stdout
    assert verdict in json.dumps(json.loads(rpath.read_text()))


def test_compare_missing_fingerprint(tmp_path, demo):
    proc, _ = _compare(tmp_path / "nope.fp.json", demo["model"])
    assert proc.returncode == 3
    error_line(proc, "nope.fp.json")


def test_compare_corrupt_fingerprint(tmp_path, demo):
    bad = tmp_path / "bad.fp.json"
    bad.write_text('{"rootSha256": "abc", "tensors": {')
    proc, _ = _compare(bad, demo["model"])
    assert proc.returncode == 3
    error_line(proc, "bad.fp.json")


def test_compare_bad_candidate(ref_fp, fixtures_dir):
    proc, _ = _compare(ref_fp, fixtures_dir / "truncated.pt")
    assert proc.returncode == 3
    error_line(proc, "truncated.pt")


def test_fingerprint_bad_model(tmp_path, fixtures_dir):
    proc = run("fingerprint", fixtures_dir / "garbage.pt", "--out", tmp_path / "x.json")
    assert proc.returncode == 3
    error_line(proc, "garbage.pt")
    assert not (tmp_path / "x.json").exists()


# ============================================================================ 8. inspect
def _param_count(path):
    import plain_pytorch as pp

    return sum(p.numel() for p in pp.load_model(path).parameters())


def _has_count(text, n):
    return any(s in text for s in (str(n), f"{n:,}", f"{n:_}", f"{n:,}".replace(",", " ")))


def test_inspect_demo(demo):
    proc = run("inspect", demo["model"])
    assert proc.returncode == 0, proc.stderr
    for name in ("conv1", "conv2", "fc1", "fc2"):
        assert re.search(rf"\b{name}\b", proc.stdout), name
    assert _has_count(proc.stdout, _param_count(demo["model"])), proc.stdout


def test_inspect_nested(fixtures_dir):
    path = fixtures_dir / "nested.pt"
    proc = run("inspect", path)
    assert proc.returncode == 0, proc.stderr
    assert "layer1" in proc.stdout
    assert "conv1" in proc.stdout
    assert _has_count(proc.stdout, _param_count(path)), proc.stdout


def test_inspect_bad_model(fixtures_dir):
    proc = run("inspect", fixtures_dir / "not_torchscript.pt")
    assert proc.returncode == 3
    error_line(proc, "not_torchscript.pt")


# ======================================================================= linkage
def test_no_hard_dependency_on_libcuda():
    """The binary must start where there is no NVIDIA driver: libcuda.so.1 is dlopen'ed by
    the CUDA runtime when needed, never a NEEDED entry of the binary or its libraries."""
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("ldd not available")
    out = subprocess.run([ldd, str(BIN)], capture_output=True, text=True, timeout=60).stdout
    assert "libtorch" in out, out  # the check reads the real dependency tree
    assert not [ln for ln in out.splitlines() if "libcuda.so" in ln], out
    assert "not found" not in out, out


# ================================================================ device parity
def _cuda_usable():
    out = run("--version").stdout
    return "CUDA device(s) usable" in out


def test_report_records_kernel_backends(tmp_path, demo):
    rep = tmp_path / "r.json"
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], attacks=[{"type": "fgsm", "epsilon": 0.03}]))
    run("validate", job, "--device", "cpu", "--report", rep)
    report = json.loads(rep.read_text())
    kernels = report["kernels"]
    assert set(kernels["backends"]) >= {"linf_step_", "gaussian_noise", "gaussian_blur", "sign_sketch"}
    # On the CPU every operator has a dedicated CPU kernel.
    assert set(kernels["backends"].values()) == {"cpu"}, kernels


def test_cpu_and_cuda_give_the_same_counts(tmp_path, demo):
    """The device-parity promise: the same report on either device (±1 sample)."""
    if not _cuda_usable():
        pytest.skip("no usable CUDA device")
    job = write_job(tmp_path, job_text(
        demo["model"], demo["npz"],
        attacks=[{"type": "fgsm", "epsilon": [0.03, 0.1]},
                 {"type": "pgd", "epsilon": 0.1, "steps": 10, "randomStart": True}],
        tests=[{"type": "noise", "level": [0.1, 0.3]}, {"type": "blur", "kernel": "5x5"}]))
    counts = {}
    for device in ("cpu", "cuda"):
        rep = tmp_path / f"{device}.json"
        proc = run("validate", job, "--device", device, "--report", rep)
        assert proc.returncode in (0, 1, 2), proc.stderr
        report = json.loads(rep.read_text())
        assert report["device"].startswith(device)
        m = report["models"][0]
        counts[device] = [m["clean"]["correct"]] + [e["correct"] for e in m["adversarial"] + m["robustness"]]
        if device == "cuda":
            assert set(report["kernels"]["backends"].values()) == {"cuda"}, report["kernels"]
    assert len(counts["cpu"]) == len(counts["cuda"])
    for a, b in zip(counts["cpu"], counts["cuda"]):
        assert abs(a - b) <= 1, counts


# ====================================================================== signing
def test_keygen_sign_and_verify(tmp_path, demo):
    prefix = tmp_path / "team"
    proc = run("keygen", "--out", prefix)
    assert proc.returncode == 0, proc.stderr
    assert (Path(str(prefix) + ".key").stat().st_mode & 0o777) == 0o600
    assert run("keygen", "--out", prefix).returncode == 3  # never replaces a key
    key, pub = f"{prefix}.key", f"{prefix}.pub"

    fp = tmp_path / "signed.fp.json"
    proc = run("fingerprint", demo["model"], "--out", fp, "--sign", key)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(fp.read_text())["signature"]["algorithm"] == "ed25519"
    proc = run("compare", fp, demo["model"], "--verify", pub)
    assert proc.returncode == 0, proc.stderr

    tampered = json.loads(fp.read_text())
    tampered["tensors"]["fc2.bias"] = "0" * 64
    bad = tmp_path / "tampered.fp.json"
    bad.write_text(json.dumps(tampered))
    proc = run("compare", bad, demo["model"], "--verify", pub)
    assert proc.returncode == 3
    error_line(proc, "tampered.fp.json")

    unsigned = tmp_path / "unsigned.fp.json"
    assert run("fingerprint", demo["model"], "--out", unsigned).returncode == 0
    proc = run("compare", unsigned, demo["model"], "--verify", pub)
    assert proc.returncode == 3
    assert "not signed" in error_line(proc, "unsigned.fp.json")


def test_signed_report_and_loose_key_permissions(tmp_path, demo):
    prefix = tmp_path / "k"
    assert run("keygen", "--out", prefix).returncode == 0
    rep = tmp_path / "r.json"
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], attacks=[{"type": "fgsm", "epsilon": 0.03}]))
    proc = run("validate", job, "--report", rep, "--sign", f"{prefix}.key")
    assert proc.returncode == 0, proc.stderr
    report = load_report(rep, proc)
    assert report["signature"]["algorithm"] == "ed25519" and report["signature"]["value"]

    os.chmod(f"{prefix}.key", 0o644)
    rep2 = tmp_path / "r2.json"
    proc = run("validate", job, "--report", rep2, "--sign", f"{prefix}.key")
    assert proc.returncode == 3
    assert "chmod 600" in error_line(proc, "k.key")
    assert not rep2.exists()


# ============================================== attack options (norms, restarts, targets)
def test_active_set_matches_attacking_every_sample(tmp_path, demo):
    base = {"type": "pgd", "epsilon": 0.1, "steps": 10, "restarts": 2, "randomStart": True}
    proc, rpath, _ = validate(tmp_path, job_text(
        demo["model"], demo["npz"], [dict(base, activeSet=True), dict(base, activeSet=False)]))
    a, b = load_report(rpath, proc)["models"][0]["adversarial"]
    assert a["activeSet"] is True and b["activeSet"] is False
    assert abs(a["correct"] - b["correct"]) <= 1, (a, b)
    assert a["lastIterateCorrect"] is None and b["lastIterateCorrect"] >= b["correct"]


def test_restarts_and_any_iterate_counting(tmp_path, demo):
    attacks = [{"type": "pgd", "epsilon": 0.1, "steps": 5, "restarts": r} for r in (1, 3)]
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], attacks))
    one, three = load_report(rpath, proc)["models"][0]["adversarial"]
    assert three["restarts"] == 3
    assert three["correct"] <= one["correct"]  # restart 0 is the same run: more can only fool more
    assert one["correct"] <= load_report(rpath)["models"][0]["clean"]["correct"]


def test_targeted_modes(tmp_path, demo):
    attacks = [{"type": "pgd", "epsilon": 0.2, "steps": 20, "target": t} for t in ("leastLikely", "random", 3)]
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], attacks))
    entries = load_report(rpath, proc)["models"][0]["adversarial"]
    assert [e["target"] for e in entries] == ["leastLikely", "random", 3]
    for e in entries:
        assert 0 <= e["targetSuccessRate"] <= 1
    assert max(e["targetSuccessRate"] for e in entries) > 0  # eps 0.2 on digits reaches targets


def test_target_class_outside_the_model_is_rejected(tmp_path, demo):
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"],
                                                 [{"type": "pgd", "steps": 2, "target": 12}]))
    assert proc.returncode == 3
    error_line(proc, "12")
    assert not Path(rpath).exists()


def test_per_sample_records(tmp_path, demo, oracle):
    rec = tmp_path / "records.jsonl"
    eps = 0.05
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"],
                                       [{"type": "fgsm", "epsilon": eps}, {"type": "pgd", "norm": "l2", "epsilon": 0.5, "steps": 3}]))
    proc = run("validate", job, "--report", tmp_path / "r.json", "--records", rec)
    assert proc.returncode in (0, 1, 2), proc.stderr
    lines = [json.loads(l) for l in rec.read_text().splitlines()]
    n = len(oracle.y)
    assert len(lines) == 2 * n
    fg = [l for l in lines if l["attack"] == "fgsm"]
    assert [l["index"] for l in fg] == list(range(n))
    assert all(l["label"] == int(oracle.y[l["index"]]) for l in fg)
    assert all(l["linf"] <= eps + 1e-6 for l in fg)
    l2 = [l for l in lines if l["attack"] == "pgd-l2"]
    assert all(l["l2"] <= 0.5 + 1e-4 for l in l2)
    fooled = [l for l in lines if l["firstFooledIteration"] is not None]
    assert fooled and all(l["adversarialPrediction"] != l["label"] for l in fooled)
    report = json.loads((tmp_path / "r.json").read_text())
    fgsm_entry = report["models"][0]["adversarial"][0]
    robust = sum(1 for l in fg if l["cleanPrediction"] == l["label"] and l["firstFooledIteration"] is None)
    assert robust == fgsm_entry["correct"]


def test_sanity_findings_for_masked_gradients_and_probabilities(tmp_path, demo, fixtures_dir):
    attacks = [{"type": "pgd", "epsilon": 0.05, "steps": 3}]
    proc, rpath, _ = validate(tmp_path, job_text(fixtures_dir / "masked_gradients.pt", demo["npz"], attacks))
    report = load_report(rpath, proc)
    (entry,) = report["models"][0]["adversarial"]
    assert entry["zeroGradientFraction"] == 1.0
    checks = [f["check"] for f in report["findings"]]
    assert any(c.startswith("sanity/zero-gradients") for c in checks), checks
    assert proc.returncode == 1  # high severity → review

    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    proc, rpath2, _ = validate(tmp_path / "b", job_text(fixtures_dir / "softmax_outputs.pt", demo["npz"], attacks))
    checks = [f["check"] for f in load_report(rpath2, proc)["findings"]]
    assert "sanity/probability-outputs" in checks

    proc, rpath3, _ = validate(tmp_path / "c", job_text(demo["model"], demo["npz"], attacks))
    assert not [f for f in load_report(rpath3, proc)["findings"] if f["check"].startswith("sanity/")]


def test_apgd_is_at_least_as_strong_as_pgd10(tmp_path, demo):
    eps = [0.03, 0.06, 0.1]
    attacks = [{"type": "pgd", "epsilon": eps, "steps": 10},
               {"type": "apgd", "epsilon": eps, "steps": 50, "loss": "ce"},
               {"type": "apgd", "epsilon": [0.1], "steps": 20, "loss": "dlr"}]
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], attacks))
    m = load_report(rpath, proc)["models"][0]
    pgd = {e["epsilon"]: e for e in adv_entries(m, "pgd")}
    apgd = [e for e in adv_entries(m, "apgd")]
    ce = {e["epsilon"]: e for e in apgd if e["loss"] == "ce"}
    for e in eps:
        assert ce[e]["robustAccuracy"] <= pgd[e]["robustAccuracy"], (e, ce[e], pgd[e])
    (dlr,) = [e for e in apgd if e["loss"] == "dlr"]
    assert dlr["robustAccuracy"] < m["clean"]["accuracy"]


def test_apgd_l2_with_and_without_the_active_set(tmp_path, demo):
    attacks = [{"type": "pgd", "norm": "l2", "epsilon": 1.0, "steps": 10, "randomStart": False},
               {"type": "apgd", "norm": "l2", "epsilon": 1.0, "steps": 20, "activeSet": True},
               {"type": "apgd", "norm": "l2", "epsilon": 1.0, "steps": 20, "activeSet": False}]
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], attacks))
    m = load_report(rpath, proc)["models"][0]
    (pgd,) = adv_entries(m, "pgd")
    with_set, without = adv_entries(m, "apgd")
    assert with_set["norm"] == without["norm"] == "l2"
    assert with_set["activeSet"] is True and without["activeSet"] is False
    # The active set only saves work: the same samples are fooled.
    assert with_set["correct"] == without["correct"]
    assert with_set["lastIterateCorrect"] is None
    assert without["lastIterateCorrect"] >= without["correct"]
    assert with_set["robustAccuracy"] <= pgd["robustAccuracy"] < m["clean"]["accuracy"]


def test_threads_option_sets_the_cpu_thread_count(tmp_path, demo):
    proc = run("validate", "--help")
    assert proc.returncode == 0 and "--threads" in proc.stdout
    for t in (1, 2):
        d = tmp_path / str(t)
        d.mkdir()
        proc, rpath, _ = validate(d, job_text(demo["model"], demo["npz"], [PGD_FAST]), "--threads", t)
        assert load_report(rpath, proc)["environment"]["cpuThreads"] == t
    proc, rpath, _ = validate(tmp_path, job_text(demo["model"], demo["npz"], [PGD_FAST]), "--threads", 0)
    assert proc.returncode == 3
    error_line(proc, "--threads")
    assert not rpath.exists()
