"""Model code runs in a confined worker process: what the scan cannot see (a forward that never
returns, a model that allocates without bound) costs only its own model, and code the job
accepted in spite of the scan still cannot read or write outside what it was handed.
"""
import hashlib
import json
import time
from pathlib import Path

import pytest

from test_cli import check_schema, job_text, load_report, manifest, run, write_job  # noqa: E402
from test_scan import _target_state, corpus  # noqa: E402,F401  (the session fixture)

FGSM = [{"type": "fgsm", "epsilon": 0.1}]


def _isolation(**spec):
    return manifest("ProcessIsolation", "isolation", {"isolation": [{"type": "process"}, {"type": "memory"}], **spec})


def _doc(report):
    doc = json.loads(Path(report).read_text())
    check_schema(doc)
    return doc


def _two_model_job(tmp_path, demo, suspect, docs):
    models = [{"name": "suspect", "path": str(suspect)}, {"name": "demo", "path": str(demo["model"])}]
    return write_job(tmp_path, job_text(demo["model"], demo["npz"], FGSM, job_extra={"models": models},
                                        extra_docs=docs))


def test_a_forward_that_never_returns_is_killed_and_the_other_model_is_evaluated(corpus, demo, tmp_path):
    job = _two_model_job(tmp_path, demo, corpus["dir"] / "forward_hang.pt",
                         [_isolation(timeouts={"load": "5s", "evaluation": "20s"})])
    report = tmp_path / "r.json"
    t0 = time.monotonic()
    proc = run("validate", job, "--device", "cpu", "--report", report, "--baseline", "none", timeout=120)
    assert time.monotonic() - t0 < 90
    assert proc.returncode == 2, proc.stderr
    doc = _doc(report)
    suspect, other = doc["models"]
    hits = [f for f in suspect["findings"] if f["check"] == "isolation/timeout"]
    assert hits and hits[0]["severity"] == "critical" and hits[0]["action"] == "block", suspect["findings"]
    assert "no reply within 5 s" in hits[0]["message"]
    assert suspect["skipped"] and suspect["clean"]["total"] == 0
    assert other["clean"]["total"] == 450 and other["adversarial"]
    assert doc["complete"]
    assert other["scan"]["isolation"]["process"] is True


def test_a_model_past_its_memory_limit_is_a_finding(demo, tmp_path):
    import torch

    class Hog(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(64, 10)

        def forward(self, x):
            big = torch.ones(600_000_000)  # 2.4 GB
            return self.fc(x.flatten(1)) + big[0]

    hog = tmp_path / "hog.pt"
    torch.jit.script(Hog()).save(str(hog))
    job = _two_model_job(tmp_path, demo, hog, [_isolation(limits=[{"type": "memory", "max": "1Gi"}])])
    report = tmp_path / "r.json"
    proc = run("validate", job, "--device", "cpu", "--report", report, "--baseline", "none", timeout=300)
    assert proc.returncode == 2, proc.stderr
    doc = _doc(report)
    suspect, other = doc["models"]
    assert [f for f in suspect["findings"] if f["check"] == "isolation/memory-limit"], suspect["findings"]
    assert "1.0 GiB" in suspect["scan"]["isolation"]["memory"]
    assert other["clean"]["total"] == 450


def _accept_everything(path, checks):
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return manifest("ModelVulnerabilityScanning", "scan", {
        "severity": {"critical": "block", "high": "review"},
        "allow": [{"finding": c, "sha256": sha, "reason": "testing the sandbox behind the scan"} for c in checks]})


@pytest.mark.parametrize("name,checks", [
    ("exfiltrate.pt", ["code/file-access", "graph/forbidden-op"]),
    ("forward_save.pt", ["code/file-access", "graph/forbidden-op"]),
    ("setstate_save.pt", ["code/file-access", "code/setstate"]),
    ("setstate_from_file.pt", ["code/file-access", "code/setstate"]),
])
def test_code_the_job_accepted_still_cannot_touch_files(corpus, demo, tmp_path, name, checks):
    before = _target_state(corpus["target"])
    model = corpus["dir"] / name
    job = write_job(tmp_path, job_text(model, demo["npz"], FGSM, extra_docs=[_accept_everything(model, checks)]))
    proc = run("validate", job, "--device", "cpu", "--report", tmp_path / "r.json", "--baseline", "none")
    # Inside the sandbox the model's torch.from_file fails (the model then does not load or does
    # not run) and its torch.save writes nothing (aten::save does not check its stream, so the
    # model runs on): either way nothing outside changed.
    assert proc.returncode in (0, 1, 2, 3), proc.stderr
    assert _target_state(corpus["target"]) == before, "the sandbox let the model write"


def test_the_report_says_how_the_worker_was_confined(demo, tmp_path):
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], FGSM))
    report = tmp_path / "r.json"
    proc = run("validate", job, "--device", "cpu", "--report", report, "--baseline", "none")
    assert proc.returncode == 0, proc.stderr
    iso = load_report(report, proc)["models"][0]["scan"]["isolation"]
    assert iso["process"] is True
    assert iso["landlock"].startswith("Landlock ABI") or "not available" in iso["landlock"]
    assert "seccomp" in iso["seccomp"]
    assert "address space limited" in iso["memory"]


def test_isolation_none_runs_in_process_and_says_so(demo, tmp_path):
    protection = manifest("ModelRuntimeProtection", "runtime", {"memory": {"protection": "enabled", "isolation": "none"},
                                                                  "inference": {"validation": "strict"}})
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], FGSM, extra_docs=[protection]))
    report = tmp_path / "r.json"
    proc = run("validate", job, "--device", "cpu", "--report", report, "--baseline", "none")
    assert proc.returncode == 0, proc.stderr
    iso = load_report(report, proc)["models"][0]["scan"]["isolation"]
    assert iso["process"] is False and "own process" in iso["landlock"]


def test_bad_isolation_manifests_are_input_errors(demo, tmp_path):
    for spec, field in [({"limits": [{"type": "memory", "max": "lots"}]}, "spec.limits[0].max"),
                        ({"limits": [{"type": "disk"}]}, "spec.limits[0].type"),
                        ({"timeouts": {"load": "soon"}}, "spec.timeouts.load")]:
        job = write_job(tmp_path, job_text(demo["model"], demo["npz"], FGSM,
                                           extra_docs=[manifest("ProcessIsolation", "iso", spec)]))
        proc = run("validate", job, "--device", "cpu")
        assert proc.returncode == 3 and field in proc.stderr, proc.stderr


def test_control_without_isolation_the_same_accepted_model_does_write(corpus, demo, tmp_path):
    """The control for the test above: with isolation: none the accepted model's torch.save
    runs in modelgate's own process and creates its file. The sandbox is what stops it."""
    model = corpus["dir"] / "forward_save.pt"
    out = corpus["target"] / "forward_save.out"
    protection = manifest("ModelRuntimeProtection", "runtime", {"memory": {"isolation": "none"}})
    job = write_job(tmp_path, job_text(model, demo["npz"], FGSM, extra_docs=[
        _accept_everything(model, ["code/file-access", "graph/forbidden-op"]), protection]))
    try:
        run("validate", job, "--device", "cpu", "--report", tmp_path / "r.json", "--baseline", "none")
        assert out.exists(), "without the sandbox the model should have written its file"
    finally:
        out.unlink(missing_ok=True)
