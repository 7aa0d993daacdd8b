"""Counts a job file or a fingerprint declares are bounded before any work (hostile-input issue):
hard limits on steps, restarts, sweep lengths and probes; the estimated work against the time
the job has; fingerprint dimensions against the data present; `--verify` on every signed input.
Each is exit 3 with one line naming the file, the field and the limit, and nothing written."""
import json
import os

import pytest

from test_cli import error_line, job_text, manifest, peak_rss_mb, run, write_job  # noqa: E402


def _refused(proc, *needles):
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = error_line(proc)
    for n in needles:
        assert n in line, line
    return line


def _job(tmp_path, demo, attacks=None, extra_docs=(), job_extra=None):
    extra = {"reports": {"format": ["json", "junit"], "location": str(tmp_path / "reports")}}
    extra.update(job_extra or {})
    return write_job(tmp_path, job_text(demo["model"], demo["npz"], attacks, extra_docs=extra_docs, job_extra=extra))


def _nothing_written(tmp_path):
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())


@pytest.mark.parametrize("attack, field, limit", [
    ({"type": "pgd", "epsilon": 0.03, "steps": "1e9"}, "spec.attacks[0].steps", "10000"),
    ({"type": "apgd", "epsilon": 0.03, "restarts": "1e9"}, "spec.attacks[0].restarts", "100"),
])
def test_steps_and_restarts_past_their_limits_are_refused_at_once(tmp_path, demo, attack, field, limit):
    proc = run("validate", _job(tmp_path, demo, [attack]), "--device", "cpu", timeout=60)
    line = _refused(proc, "job.yaml", field, f"over the limit of {limit}")
    assert "AdversarialTesting 'adv'" in line
    _nothing_written(tmp_path)


def test_an_epsilon_sweep_of_100000_values_is_refused(tmp_path, demo):
    sweep = [round((i + 1) / 100000 * 0.3, 8) for i in range(100000)]
    proc = run("validate", _job(tmp_path, demo, [{"type": "fgsm", "epsilon": sweep}]), "--device", "cpu", timeout=60)
    _refused(proc, "spec.attacks[0].epsilon", "has 100000 values, over the limit of 100")
    _nothing_written(tmp_path)


def test_probes_1e9_is_refused_before_the_evaluation(tmp_path, demo):
    fp = manifest("ModelFingerprinting", "fp", {"method": "neural", "probes": "1e9"})
    proc = run("validate", _job(tmp_path, demo, [{"type": "fgsm", "epsilon": 0.03}], extra_docs=[fp]), "--device", "cpu",
               timeout=60)
    _refused(proc, "ModelFingerprinting 'fp'", "spec.probes", "over the limit of 100000")
    assert "clean" not in proc.stderr  # no evaluation began
    _nothing_written(tmp_path)


def test_work_far_over_the_evaluation_timeout_is_refused_before_it_starts(tmp_path, demo):
    # Within the hard limits, but 10000 steps × 100 restarts over the demo's 450 samples is hours of work
    # (4.5e8 gradient passes) against an evaluation timeout of 30 s: some hundred times over on any machine.
    attack = {"type": "pgd", "epsilon": 0.03, "steps": 10000, "restarts": 100}
    isolation = manifest("ProcessIsolation", "isolation", {"isolation": [{"type": "process"}, {"type": "memory"}],
                                                           "timeouts": {"evaluation": "30s"}})
    proc = run("validate", _job(tmp_path, demo, [attack], extra_docs=[isolation]), "--device", "cpu", timeout=120)
    line = _refused(proc, "spec.attacks[0]", "pgd eps=0.03", "the evaluation timeout", "measured on model 'digits-cnn'")
    assert "adversarial" not in proc.stderr.replace(line, "")  # no attack began
    _nothing_written(tmp_path)


def test_work_far_over_the_job_budget_is_refused_and_work_near_it_runs(tmp_path, demo):
    # 10000 steps × 10 restarts over 450 samples (4.5e7 gradient passes) is many minutes against 10 s
    # on any machine. The evaluation timeout is raised far out of the way: under the sanitisers the
    # measured pace is some hundred times slower, and that refusal would come first.
    attack = {"type": "pgd", "epsilon": 0.03, "steps": 10000, "restarts": 10}
    isolation = manifest("ProcessIsolation", "isolation", {"isolation": [{"type": "process"}, {"type": "memory"}],
                                                           "timeouts": {"evaluation": "200h"}})
    proc = run("validate", _job(tmp_path, demo, [attack], extra_docs=[isolation], job_extra={"budget": "10s"}),
               "--device", "cpu", timeout=120)
    _refused(proc, "spec.attacks[0]", "the job's budget", "10 s")
    _nothing_written(tmp_path)
    # A small job under a budget it fits runs as before.
    proc = run("validate", _job(tmp_path, demo, [{"type": "fgsm", "epsilon": 0.03}], job_extra={"budget": "10m"}),
               "--device", "cpu", "--report", tmp_path / "ok.json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "ok.json").read_text())["verdict"] == "pass"


def test_a_complex_yaml_key_is_an_input_error_naming_the_line(tmp_path, demo):
    text = job_text(demo["model"], demo["npz"], [{"type": "fgsm", "epsilon": 0.03}])
    text = text.replace("spec:\n", "spec:\n  ? [a, b]\n  : 1\n", 1)
    proc = run("validate", write_job(tmp_path, text), "--device", "cpu", timeout=60)
    line = _refused(proc, "job.yaml:", "expected a plain name as the key")
    assert "bad conversion" not in line


def test_a_stray_comma_where_a_yaml_document_starts_is_a_syntax_error_in_bounded_memory(tmp_path, demo):
    # yaml-cpp 0.7 alone loops on it, allocating until the machine runs out (found by fuzz_job).
    text = job_text(demo["model"], demo["npz"], [{"type": "fgsm", "epsilon": 0.03}]) + "---\n,e:\n"
    code, err, peak = peak_rss_mb("validate", write_job(tmp_path, text), "--device", "cpu")
    assert code == 3, err
    assert "job.yaml:" in err and "YAML syntax error: unexpected character where a document should start" in err, err
    _nothing_written(tmp_path)
    _, _, baseline = peak_rss_mb("validate", write_job(tmp_path, text.replace(",e:", "[")), "--device", "cpu")
    assert peak < baseline + 200, f"peak {peak:.0f} MB against {baseline:.0f} MB for another syntax error"


def test_report_location_under_proc_is_refused_before_the_run(tmp_path, demo):
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], [{"type": "fgsm", "epsilon": 0.03}],
                                       location="/proc/modelgate-reports"))
    proc = run("validate", job, "--device", "cpu", timeout=60)
    _refused(proc, "/proc")
    assert "clean" not in proc.stderr


# ============================================================ fingerprints: dimensions and --verify
@pytest.fixture(scope="module")
def fingerprints(tmp_path_factory, demo):
    d = tmp_path_factory.mktemp("fp")
    prefix = d / "team"
    assert run("keygen", "--out", prefix).returncode == 0
    fp = d / "ref.fp.json"
    assert run("fingerprint", demo["model"], "--out", fp, "--sign", f"{prefix}.key").returncode == 0
    return {"dir": d, "fp": fp, "key": f"{prefix}.key", "pub": f"{prefix}.pub"}


def test_a_fingerprint_declaring_20_million_probes_is_refused_in_bounded_memory(tmp_path, demo, fingerprints):
    j = json.loads(fingerprints["fp"].read_text())
    j.pop("signature")
    j["probes"]["synthetic"] = 20_000_000
    bomb = tmp_path / "bomb.fp.json"
    bomb.write_text(json.dumps(j))
    code, err, peak = peak_rss_mb("compare", bomb, demo["model"], "--device", "cpu")
    _, _, baseline = peak_rss_mb("compare", fingerprints["fp"], demo["model"], "--device", "cpu")
    assert code == 3, err
    assert "'probes.synthetic' is 20000000, over the limit of 100000" in err and "bomb.fp.json" in err, err
    assert peak < baseline + 200, f"peak {peak:.0f} MB against {baseline:.0f} MB for a normal compare"


def test_a_fingerprint_of_2_to_the_32_rows_and_no_data_is_refused(tmp_path, demo, fingerprints):
    j = json.loads(fingerprints["fp"].read_text())
    j.pop("signature")
    j["logits"] = {"rows": 2**32, "cols": 0, "float32": ""}
    j["outputShape"] = [2**32, 0]
    bad = tmp_path / "rows.fp.json"
    bad.write_text(json.dumps(j))
    proc = run("compare", bad, demo["model"], "--device", "cpu")
    _refused(proc, "rows.fp.json", "'logits.cols' is 0 with 4294967296 rows")
    # Rows that disagree with the probe count are refused too.
    j = json.loads(fingerprints["fp"].read_text())
    j.pop("signature")
    j["layers"][0]["shape"][0] += 1
    bad.write_text(json.dumps(j))
    _refused(run("compare", bad, demo["model"], "--device", "cpu"), "layers[0].shape", "expected one per probe")


def test_verify_covers_the_candidate_fingerprint_and_the_thresholds(tmp_path, demo, fingerprints):
    ref, key, pub = fingerprints["fp"], fingerprints["key"], fingerprints["pub"]
    unsigned = tmp_path / "cand.fp.json"
    assert run("fingerprint", demo["model"], "--out", unsigned).returncode == 0
    report = tmp_path / "cmp.json"
    # An unsigned candidate fingerprint is refused under --verify, and so is an altered signed one.
    proc = run("compare", ref, unsigned, "--verify", pub, "--report", report)
    _refused(proc, "cand.fp.json", "not signed")
    signed = tmp_path / "cand.signed.fp.json"
    assert run("fingerprint", demo["model"], "--out", signed, "--sign", key).returncode == 0
    j = json.loads(signed.read_text())
    j["parameterCount"] += 1
    altered = tmp_path / "cand.altered.fp.json"
    altered.write_text(json.dumps(j))
    _refused(run("compare", ref, altered, "--verify", pub, "--report", report), "cand.altered.fp.json")
    assert not report.exists()
    # Both signed: verified, and the report says which inputs were.
    proc = run("compare", ref, signed, "--verify", pub, "--report", report)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text())["signatures"] == {"reference": "verified", "candidate": "verified",
                                                          "thresholds": "built in"}
    # A thresholds file signed with `modelgate sign` is verified; one altered after signing is refused.
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"formatVersion": 1, "derived": {"combine": "any", "rules": [
        {"metric": "cka", "op": ">=", "value": 0.9}]}}))
    _refused(run("compare", ref, demo["model"], "--verify", pub, "--thresholds", thresholds), "thresholds.json",
             "not signed")
    assert run("sign", thresholds, "--key", key).returncode == 0
    proc = run("compare", ref, demo["model"], "--verify", pub, "--report", report, "--thresholds", thresholds)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text())["signatures"] == {"reference": "verified", "candidate": "model file",
                                                          "thresholds": "verified"}
    t = json.loads(thresholds.read_text())
    t["derived"]["rules"][0]["value"] = 0.0
    thresholds.write_text(json.dumps(t))
    _refused(run("compare", ref, demo["model"], "--verify", pub, "--thresholds", thresholds), "thresholds.json")


# ========================================================= a model archive that inflates to 2 GiB
def test_a_model_archive_whose_constants_inflate_to_2_gib_is_blocked_in_bounded_memory(tmp_path, demo):
    import zipfile

    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(demo["model"]) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            if info.filename.endswith("/constants.pkl"):
                with dst.open(info.filename, "w", force_zip64=True) as f:
                    f.write(b"\x80\x02")
                    chunk = b"N" * (1 << 24)
                    for _ in range(128):
                        f.write(chunk)
                    f.write(b".")
            else:
                dst.writestr(info.filename, src.read(info.filename))
    assert bomb.stat().st_size < 16 << 20
    job = write_job(tmp_path, job_text(bomb, demo["npz"], [{"type": "fgsm", "epsilon": 0.03}], model_name="bomb"))
    code, err, peak = peak_rss_mb("validate", job, "--device", "cpu", "--report", tmp_path / "r.json")
    _, _, baseline = peak_rss_mb("scan", demo["model"])
    assert code == 2, err  # blocked by the scan, never loaded
    report = json.loads((tmp_path / "r.json").read_text())
    ids = {f["check"] for f in report["models"][0]["findings"]}
    assert any(i.startswith(("scan/archive/", "scan/pickle/")) for i in ids), ids
    assert peak < baseline + 300, f"peak {peak:.0f} MB against {baseline:.0f} MB for scanning the demo model"
    code, err, peak = peak_rss_mb("scan", bomb)
    assert code == 2, err
    assert peak < baseline + 300, f"scan peak {peak:.0f} MB against {baseline:.0f} MB"


# ============================================== a .pt dataset is scanned before LibTorch unpickles it
def test_a_pt_dataset_with_a_dangerous_global_is_refused_before_loading(tmp_path, demo):
    import torch

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    data = torch.load(demo["pt"])
    data["extra"] = Payload()
    hostile = tmp_path / "hostile.pt"
    torch.save(data, hostile)
    job = write_job(tmp_path, job_text(demo["model"], hostile, [{"type": "fgsm", "epsilon": 0.03}],
                                       location=str(tmp_path / "reports")))
    proc = run("validate", job, "--device", "cpu", timeout=120)
    line = _refused(proc, "hostile.pt", "refused by the scan before loading", "pickle/dangerous-global")
    assert "system" in line
    assert not marker.exists()
    _nothing_written(tmp_path)


def test_a_pt_dataset_of_expanded_views_is_refused_before_it_is_converted(tmp_path, demo):
    """A stride-0 view declares as many elements as it likes over a one-element storage: the file
    is a few hundred bytes, the converted array 2.5 GB. (Found by fuzz_pt_dataset: libFuzzer's
    2 GiB limit.) Refused on what the file stores, before any conversion."""
    import torch

    n = 200_000
    inputs = torch.zeros(1).as_strided((n, 1, 56, 56), (0, 0, 0, 0))
    labels = torch.zeros(1, dtype=torch.long).as_strided((n,), (0,))
    hostile = tmp_path / "expanded.pt"
    torch.save({"inputs": inputs, "labels": labels}, hostile)
    assert hostile.stat().st_size < 4096
    job = write_job(tmp_path, job_text(demo["model"], hostile, [{"type": "fgsm", "epsilon": 0.03}],
                                       location=str(tmp_path / "reports")))
    code, err, peak = peak_rss_mb("validate", job, "--device", "cpu")
    assert code == 3, err
    assert "expanded.pt" in err and "'inputs' declares 627200000 elements over a storage of 4 bytes" in err, err
    assert peak < 1000, f"peak {peak:.0f} MB"
    _nothing_written(tmp_path)
