"""Nightly operations: the baseline comparison and `modelgate diff`, time budgets, SIGTERM and a
second signal, one run of a job at a time, retention, and the monitoring and permission manifests.
"""
import json
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from test_cli import BIN, check_schema, error_line, job_text, load_report, manifest, run, write_job  # noqa: E402

FAST = [{"type": "fgsm", "epsilon": [0.03, 0.1]}]
# Long enough to be stopped part-way: a few hundred PGD steps on small batches.
LONG = [{"type": "pgd", "epsilon": 0.1, "steps": 400, "stepSize": 0.001, "randomStart": False, "activeSet": False}]


def _reports(folder):
    return sorted(p for p in Path(folder).glob("*.json") if not p.name.startswith("."))


def _weaker_model(demo, out):
    """The demo model with half of every weight tensor zeroed: clearly worse on every check."""
    import torch

    m = torch.jit.load(str(demo["model"]))
    with torch.no_grad():
        for p in m.parameters():
            flat = p.view(-1)
            flat[: flat.numel() // 2] = 0
    torch.jit.save(m, str(out))
    return out


def _job(tmp_path, demo, model=None, attacks=FAST, extra=None, docs=(), batch_size=128):
    spec = {"reports": {"format": "json", "location": str(tmp_path / "reports")}}
    spec.update(extra or {})
    return write_job(tmp_path, job_text(model or demo["model"], demo["npz"], attacks, job_extra=spec,
                                        extra_docs=list(docs), batch_size=batch_size))


def _validate(job, *extra, timeout=600):
    return run("validate", job, "--device", "cpu", *extra, timeout=timeout)


# ================================================================== baseline and diff
def test_baseline_auto_finds_a_drop_and_records_the_file_it_compared_with(tmp_path, demo):
    model = tmp_path / "model.pt"
    shutil.copy(demo["model"], model)
    job = _job(tmp_path, demo, model)
    first = _validate(job)
    assert first.returncode == 0, first.stderr
    assert "baseline: no earlier complete passing report" in first.stdout
    (good,) = _reports(tmp_path / "reports")
    assert load_report(good)["baseline"]["path"] is None

    _weaker_model(demo, model)  # a weaker model swapped in under the same name
    second = _validate(job)
    assert second.returncode == 1, second.stderr  # regression findings are high: review
    newest = _reports(tmp_path / "reports")[-1]
    report = load_report(newest, second)
    b = report["baseline"]
    assert Path(b["path"]) == good.resolve()
    assert b["sha256"] == __import__("hashlib").sha256(good.read_bytes()).hexdigest()
    assert b["changedSha256"] == ["digits-cnn"]  # information, not a finding
    regressions = [f for f in report["findings"] if f["check"].startswith("regression/")]
    assert regressions and b["drops"] == len(regressions)
    before = json.loads(good.read_text())["models"][0]  # made with the model since replaced
    clean = [f for f in regressions if f["check"] == "regression/clean"]
    assert clean, regressions
    (c,) = clean
    assert math.isclose(c["baseline"], before["clean"]["accuracy"]) and math.isclose(
        c["observed"], report["models"][0]["clean"]["accuracy"])
    assert c["baseline"] - c["observed"] > 0.02 and c["severity"] == "high" and c["action"] == "review"
    assert not any(f["check"].startswith("regression/") and "sha256" in f["check"] for f in report["findings"])
    assert f"baseline: {good.name}" in second.stdout or str(good) in second.stdout


def test_auto_skips_failing_and_incomplete_reports(tmp_path, demo):
    job = _job(tmp_path, demo)
    assert _validate(job).returncode == 0
    (good,) = _reports(tmp_path / "reports")
    doc = json.loads(good.read_text())
    # Two later reports of the same job that must not be chosen: one whose verdict was review,
    # and one that is incomplete.
    failing = json.loads(good.read_text())
    failing["startedAt"] = failing["finishedAt"] = "2099-01-01T00:00:00.000Z"
    finding = {"check": "x", "severity": "high", "action": "review", "message": "m", "observed": 0, "threshold": 1}
    failing["models"][0]["findings"].append(finding)
    failing["findings"].append(dict(finding, model="digits-cnn"))
    failing["verdict"], failing["exitCode"] = "review", 1
    (tmp_path / "reports" / "nightly-20990101T000000Z.json").write_text(json.dumps(failing))
    partial = dict(doc, complete=False, startedAt="2099-01-02T00:00:00.000Z")
    (tmp_path / "reports" / "nightly-20990102T000000Z.json").write_text(json.dumps(partial))
    # A report of another job in the same folder is never a baseline either.
    other = dict(doc, job=dict(doc["job"], name="other"), startedAt="2099-01-03T00:00:00.000Z")
    (tmp_path / "reports" / "nightly-20990103T000000Z.json").write_text(json.dumps(other))
    proc = _validate(job)
    assert proc.returncode == 0, proc.stderr
    newest = max(_reports(tmp_path / "reports"), key=lambda p: p.stat().st_mtime)
    assert Path(load_report(newest)["baseline"]["path"]) == good.resolve()


def test_baseline_none_and_explicit_path(tmp_path, demo):
    job = _job(tmp_path, demo)
    assert _validate(job).returncode == 0
    (first,) = _reports(tmp_path / "reports")
    proc = _validate(job, "--baseline", "none", "--report", tmp_path / "none.json")
    assert load_report(tmp_path / "none.json", proc)["baseline"]["path"] is None
    proc = _validate(job, "--baseline", first, "--report", tmp_path / "explicit.json")
    assert Path(load_report(tmp_path / "explicit.json", proc)["baseline"]["path"]) == first.resolve()
    proc = _validate(job, "--baseline", tmp_path / "missing.json", "--report", tmp_path / "x.json")
    assert proc.returncode == 3
    error_line(proc, "missing.json")
    assert not (tmp_path / "x.json").exists()


def test_diff_exit_codes(tmp_path, demo):
    model = tmp_path / "model.pt"
    shutil.copy(demo["model"], model)
    job = _job(tmp_path, demo, model)
    assert _validate(job, "--report", tmp_path / "a.json").returncode == 0
    assert _validate(job, "--report", tmp_path / "b.json", "--baseline", "none").returncode == 0
    same = run("diff", tmp_path / "a.json", tmp_path / "b.json")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no drop beyond 2.00 points" in same.stdout and "DROP" not in same.stdout
    _weaker_model(demo, model)
    _validate(job, "--report", tmp_path / "c.json", "--baseline", "none")
    dropped = run("diff", tmp_path / "a.json", tmp_path / "c.json")
    assert dropped.returncode == 1, dropped.stdout
    assert "DROP" in dropped.stdout and "digits-cnn: clean" in dropped.stdout
    assert "model files changed (sha256): digits-cnn" in dropped.stdout
    # A generous limit: the same two reports pass.
    huge = run("diff", tmp_path / "a.json", tmp_path / "c.json", "--max-drop", "1")
    assert huge.returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    proc = run("diff", tmp_path / "a.json", bad)
    assert proc.returncode == 3
    error_line(proc, "bad.json")


# ======================================================================= budgets
def test_manifest_budget_stops_an_attack_part_way(tmp_path, demo):
    # The work estimate would refuse this job before it starts (test_limits.py checks that);
    # --run-past-estimate runs it, and the budget cuts it off part way.
    adv = manifest("AdversarialTesting", "adv-budgeted",
                   {"attacks": LONG + FAST, "schedule": {"frequency": "daily", "duration": "1s"}})
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], None, batch_size=16,
                                       extra_docs=[adv], job_extra={"reports": {"location": str(tmp_path / "r")}}))
    proc = _validate(job, "--report", tmp_path / "r.json", "--run-past-estimate")
    report = load_report(tmp_path / "r.json", proc)
    assert report["complete"] is False and report["interrupted"] is None
    (m,) = report["models"]
    skipped = m["skipped"]
    assert skipped and all("adv-budgeted" in k["reason"] for k in skipped), skipped
    assert any("stopped part-way" in k["reason"] for k in skipped), skipped
    assert {k["manifest"] for k in skipped} == {"adv-budgeted"}
    # Nothing else was cut: the clean pass and the fingerprint are there.
    assert m["clean"]["total"] == 450 and m["fingerprint"] is not None
    (budget,) = [f for f in report["findings"] if f["check"] == "budget/exceeded"]
    assert budget["model"] is None and budget["severity"] == "high" and budget["action"] == "review"
    assert proc.returncode == 1
    assert "the report is incomplete" in proc.stdout


def test_job_budget_skips_the_rest_and_sets_the_finding_severity(tmp_path, demo):
    job = _job(tmp_path, demo, attacks=LONG, batch_size=16, extra={"budget": "5s", "budgetSeverity": "critical"})
    proc = _validate(job, "--report", tmp_path / "r.json", "--run-past-estimate")
    report = load_report(tmp_path / "r.json", proc)
    assert proc.returncode == 2  # critical → block
    assert report["complete"] is False
    assert any(k["section"] == "fingerprint" for k in report["models"][0]["skipped"])
    assert any(f["check"] == "budget/exceeded" and f["severity"] == "critical" for f in report["findings"])


def test_bad_budget_is_an_input_error(tmp_path, demo):
    job = _job(tmp_path, demo, extra={"budget": "soon"})
    proc = _validate(job)
    assert proc.returncode == 3
    error_line(proc, "spec.budget")
    proc = _validate(_job(tmp_path, demo), "--budget", "-5m")
    assert proc.returncode == 3
    error_line(proc, "--budget")


# ======================================================================= progress
SHORT_LONG = [dict(LONG[0], steps=150)]


def test_progress_is_a_live_bar_on_a_terminal_and_plain_lines_elsewhere(tmp_path, demo):
    job = _job(tmp_path, demo, attacks=SHORT_LONG, batch_size=16)
    plain = _validate(job, "--report", tmp_path / "plain.json")
    assert plain.returncode == 0, plain.stderr
    assert "\r" not in plain.stderr and "\x1b" not in plain.stderr
    assert any(l.startswith("digits-cnn  pgd") for l in plain.stderr.splitlines())
    script = shutil.which("script")
    if script is None:
        pytest.skip("script(1) from util-linux is needed to give the run a terminal")
    # script(1) runs the command on a pseudo-terminal and copies what it draws to a file.
    command = f"{BIN} validate {job} --device cpu --report {tmp_path / 'tty.json'}"
    subprocess.run([script, "-qec", command, str(tmp_path / "typescript")], capture_output=True, timeout=600,
                   stdin=subprocess.DEVNULL, check=True)
    drawn = (tmp_path / "typescript").read_text(errors="replace")
    bars = [s for s in drawn.split("\r") if "left" in s and "batch" in s and "%" in s]
    assert bars, drawn[-2000:]
    assert "\x1b[K" in drawn  # each redraw clears the line it draws over


# ============================================================== signals and the lock
def _start_long_run(tmp_path, job, *extra):
    proc = subprocess.Popen([str(BIN), "validate", str(job), "--device", "cpu", *map(str, extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until the attack is under way
        line = proc.stderr.readline()
        lines.append(line)
        if "clean" in line and "accuracy" in line:
            time.sleep(1.0)
            return proc, lines
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail("the run did not reach its attack:\n" + "".join(lines))


def _temporaries(folder):
    return [p for p in Path(folder).rglob(".*tmp-*")]


def test_sigterm_mid_attack_writes_a_valid_partial_report(tmp_path, demo):
    job = _job(tmp_path, demo, attacks=LONG + FAST, batch_size=16)
    proc, _ = _start_long_run(tmp_path, job, "--report", tmp_path / "out" / "r.json", "--junit", tmp_path / "out" / "r.xml")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 4, err
    report = json.loads((tmp_path / "out" / "r.json").read_text())
    check_schema(report)
    assert report["complete"] is False and report["interrupted"] == "SIGTERM" and report["exitCode"] == 4
    skipped = report["models"][0]["skipped"]
    assert any("SIGTERM" in k["reason"] for k in skipped)
    assert (tmp_path / "out" / "r.xml").is_file()
    assert "interrupted by SIGTERM" in out
    assert not _temporaries(tmp_path)


def test_a_second_signal_exits_at_once_without_a_report(tmp_path, demo):
    # Whole-dataset batches: the first signal waits for a batch boundary seconds away, and the
    # second arrives while it waits. Two signals sent at once may reach the process as one.
    job = _job(tmp_path, demo, attacks=LONG * 3, batch_size=450)
    proc, _ = _start_long_run(tmp_path, job, "--report", tmp_path / "out" / "r.json")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert "second termination signal" in err
    assert not (tmp_path / "out" / "r.json").exists()
    assert not _temporaries(tmp_path)


def test_a_second_run_of_the_same_job_is_refused_at_once(tmp_path, demo):
    job = _job(tmp_path, demo, attacks=LONG, batch_size=16)
    first, _ = _start_long_run(tmp_path, job)
    try:
        started = time.time()
        second = _validate(job, timeout=120)
        assert second.returncode == 4
        line = error_line(second)
        assert f"pid {first.pid}" in line and "nightly" in line
        assert time.time() - started < 60
        assert not _reports(tmp_path / "reports")  # the second wrote nothing
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=300)
    # The lock went with the first run: a third run of the job starts.
    third = _validate(job, "--budget", "1s", "--run-past-estimate")
    assert third.returncode in (0, 1), third.stderr


def test_a_lock_file_left_by_a_crashed_run_does_not_block_and_a_finished_run_removes_it(tmp_path, demo):
    job = _job(tmp_path, demo)
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / ".nightly.lock").write_text("pid 999999 started 2026-12-01T02:15:00.000Z\n")  # nobody holds it
    proc = _validate(job)
    assert proc.returncode == 0, proc.stderr
    assert [p.suffix for p in folder.iterdir()] == [".json"]


# ===================================================================== retention
def test_retention_keeps_the_newest_complete_reports(tmp_path, demo):
    job = _job(tmp_path, demo, extra={"reports": {"format": ["json", "junit"], "location": str(tmp_path / "reports"),
                                                  "keep": 2}})
    for _ in range(3):
        proc = _validate(job)
        assert proc.returncode == 0, proc.stderr
        time.sleep(1.1)  # distinct timestamps
    reports = _reports(tmp_path / "reports")
    assert len(reports) == 2, reports
    assert sorted(p.suffix for p in (tmp_path / "reports").iterdir() if not p.name.startswith(".")) == \
        [".json", ".json", ".xml", ".xml"]
    assert "retention: removed 2 file(s)" in proc.stdout


# ========================================================= monitoring and permissions
INFERENCE = manifest("InferenceMonitoring", "inference", {
    "metrics": ["latency", "throughput", "error_rate"], "samples": 20,
    "alerts": [{"type": "latency", "threshold": "0.001ms"}, {"type": "error_rate", "threshold": 0.01}]})
RESOURCES = manifest("ResourceMonitoring", "resources", {"metrics": ["cpu", "memory"],
                                                         "limits": {"cpu": "1%", "memory": "0.01%"}})


def test_monitoring_manifests_give_figures_and_trip_low_thresholds(tmp_path, demo):
    job = _job(tmp_path, demo, docs=[INFERENCE, RESOURCES], extra={"device": "cpu"})
    proc = _validate(job, "--report", tmp_path / "r.json")
    report = load_report(tmp_path / "r.json", proc)
    mon = report["models"][0]["monitoring"]
    inf, res = mon["inference"], mon["resources"]
    assert inf["single"]["count"] == 20 and 0 < inf["single"]["p50Ms"] <= inf["single"]["p95Ms"] <= inf["single"]["p99Ms"]
    assert inf["batch"]["count"] == 4 and inf["throughput"] > 0 and inf["failedBatches"] == 0
    assert res["peakRssBytes"] > 50 << 20 and 0 < res["memoryShare"] < 1 and res["cpuSeconds"] > 0
    checks = {f["check"] for f in report["findings"]}
    assert {"monitoring/latency", "monitoring/memory", "monitoring/cpu"} <= checks, checks
    assert "monitoring/error_rate" not in checks
    assert {m["kind"]: m["handled"] for m in report["manifests"]}["InferenceMonitoring"] is True
    assert "inference latency" in proc.stdout and "peak RSS" in proc.stdout


def test_error_rate_counts_failed_batches_instead_of_ending_the_run(tmp_path, demo, fixtures_dir):
    job = _job(tmp_path, demo, fixtures_dir / "nan_model.pt", attacks=[], docs=[INFERENCE])
    proc = _validate(job, "--report", tmp_path / "r.json")
    # Without InferenceMonitoring a NaN model ends the run (exit 4); with it, the error rate is the finding.
    report = load_report(tmp_path / "r.json", proc)
    inf = report["models"][0]["monitoring"]["inference"]
    assert inf["errorRate"] > 0.01 and inf["failedBatches"] > 0
    assert any(f["check"] == "monitoring/error_rate" for f in report["findings"])


def test_model_permissions_flag_files_others_may_read(tmp_path, demo):
    model = tmp_path / "m.pt"
    shutil.copy(demo["model"], model)
    os.chmod(model, 0o644)
    secret = tmp_path / "config"
    secret.write_text("token")
    os.chmod(secret, 0o600)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "weights.bin").write_bytes(b"x")
    os.chmod(shared / "weights.bin", 0o666)
    perms = manifest("ModelPermissions", "perms", {"files": [{"path": str(secret), "mode": 600},
                                                             {"path": str(shared), "mode": 600},
                                                             {"path": str(tmp_path / "absent"), "mode": 600}]})
    proc = _validate(_job(tmp_path, demo, model, docs=[perms]), "--report", tmp_path / "r.json")
    report = load_report(tmp_path / "r.json", proc)
    by_check = {f["check"]: f for f in report["findings"] if f["check"].startswith("permissions/")}
    assert set(by_check) == {f"permissions/{model}", f"permissions/{shared / 'weights.bin'}"}, by_check
    assert by_check[f"permissions/{model}"]["model"] == "digits-cnn"
    assert by_check[f"permissions/{shared / 'weights.bin'}"]["model"] is None
    assert all(f["severity"] == "medium" for f in by_check.values())
    checked = {p["path"]: p for p in report["permissions"]}
    assert checked[str(secret)]["ok"] and not checked[str(tmp_path / "absent")]["exists"]
    assert checked[str(model)]["mode"] == "0644"


def test_the_seed_monitoring_manifests_are_handled(tmp_path, demo):
    seed = (Path(__file__).resolve().parents[2] / "configs" / "seed.yaml").read_text()
    docs = seed.split("\n---\n")[1:]  # the seed's manifests, after its ValidationJob
    text = job_text(demo["model"], demo["npz"], job_extra={"reports": {"location": str(tmp_path / "r")}}) + "---\n" + \
        "\n---\n".join(docs)
    proc = _validate(write_job(tmp_path, text), "--report", tmp_path / "r.json", timeout=900)
    report = load_report(tmp_path / "r.json", proc)
    handled = {m["kind"]: m["handled"] for m in report["manifests"]}
    for kind in ("InferenceMonitoring", "ResourceMonitoring", "ModelPermissions"):
        assert handled[kind] is True, handled
    mon = report["models"][0]["monitoring"]
    assert mon["inference"]["single"]["count"] == 100 and mon["resources"]["cores"] >= 1
