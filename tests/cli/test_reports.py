"""The report formats: JUnit XML, the Prometheus textfile and the HTML page, each read back by the
tool its users read it with (junitparser, prometheus_client, headless Chromium), `modelgate render`,
and the JSON report of the nightly job against the one written before the typed-results change.
"""
import json
import math
import os
import re
import shutil
from pathlib import Path

import pytest

from test_cli import REPO_ROOT, error_line, job_text, load_report, manifest, run, write_job  # noqa: E402

ARTIFACTS = Path(os.environ.get("MODELGATE_TEST_ARTIFACTS", REPO_ROOT / "build" / "test-artifacts"))

ATTACKS = [{"type": "fgsm", "epsilon": [0.03, 0.1]},
           {"type": "pgd", "epsilon": [0.03, 0.1], "steps": 3, "stepSize": 0.04, "randomStart": False,
            "minAccuracy": 0.9, "severity": "high"}]
TESTS = [{"type": "noise", "level": [0.05, 0.2]},
         {"type": "blur", "kernel": "3x3"},
         {"type": "blur", "kernel": "5x5", "minAccuracy": 0.99, "severity": "low"}]


def _two_model_job(tmp_path, demo, formats):
    """The demo model twice (two suites), with a review finding, a warn finding and an unhandled kind."""
    text = job_text(demo["model"], demo["npz"], ATTACKS, TESTS,
                    extra_docs=[manifest("ModelWatermarking", "wm", {"type": "digital"})],
                    job_extra={"reports": {"format": formats, "location": str(tmp_path / "reports")}})
    text = text.replace(f'- name: "digits-cnn"\n      path: "{demo["model"]}"',
                        f'- name: "digits-cnn"\n      path: "{demo["model"]}"\n'
                        f'    - name: "second-copy"\n      path: "{demo["model"]}"')
    assert "second-copy" in text, text
    return write_job(tmp_path, text)


@pytest.fixture(scope="module")
def all_formats(tmp_path_factory, demo):
    """One validate run writing every format beside its timestamped JSON report."""
    tmp = tmp_path_factory.mktemp("formats")
    job = _two_model_job(tmp, demo, ["json", "junit", "prometheus", "html"])
    proc = run("validate", job, "--device", "cpu")
    assert proc.returncode == 1, proc.stderr  # the PGD gate is a high finding: review
    files = sorted((tmp / "reports").iterdir())
    stems = {f.stem for f in files}
    assert len(stems) == 1, files
    assert sorted(f.suffix for f in files) == [".html", ".json", ".prom", ".xml"], files
    stem = files[0].with_suffix("")
    report = load_report(stem.with_suffix(".json"), proc)
    for label, suffix in (("report", ".json"), ("junit", ".xml"), ("prometheus", ".prom"), ("html", ".html")):
        assert f"{label}: " in proc.stdout and stem.name + suffix in proc.stdout, proc.stdout
    return {"dir": tmp, "stem": stem, "report": report, "proc": proc}


def _evaluations(model_report):
    return len(model_report["adversarial"]) + len(model_report["robustness"])


# ============================================================================== JUnit XML
def test_junit_parses_and_counts_match_the_report(all_formats):
    junitparser = pytest.importorskip("junitparser")
    report = all_formats["report"]
    xml = junitparser.JUnitXml.fromfile(str(all_formats["stem"].with_suffix(".xml")))
    suites = list(xml)
    assert [s.name for s in suites] == [m["name"] for m in report["models"]]
    total_tests = total_failures = total_skipped = 0
    for suite, m in zip(suites, report["models"]):
        cases = list(suite)
        names = [c.name for c in cases]
        # clean + every attack at every ε + every corruption at every level + fingerprint + the
        # unhandled manifest; findings tied to a check fail that check's testcase.
        assert len(cases) == 1 + _evaluations(m) + 1 + 1, names
        assert "clean accuracy" in names and "fingerprint" in names
        failed = [c for c in cases if any(isinstance(r, junitparser.Failure) for r in c.result)]
        skipped = [c for c in cases if any(isinstance(r, junitparser.Skipped) for r in c.result)]
        blocking = [f for f in m["findings"] if f["action"] in ("review", "block")]
        assert len(failed) == len(blocking) > 0, (names, m["findings"])
        assert [c.name for c in skipped] == ["ModelWatermarking 'wm'"]
        for f in blocking:
            (case,) = [c for c in failed if c.result[0].message == f["message"]]
            assert case.result[0].type == f"{f['severity']}/{f['action']}"
        assert suite.tests == len(cases) and suite.failures == len(failed) and suite.skipped == len(skipped)
        assert suite.errors == 0
        timed = {c.name: c.time for c in cases}
        for e in m["adversarial"]:
            assert any(math.isclose(t, e["seconds"], abs_tol=1e-5) for t in timed.values()), (e, timed)
        total_tests += suite.tests
        total_failures += suite.failures
        total_skipped += suite.skipped
    xml.update_statistics()
    assert (xml.tests, xml.failures, xml.skipped) == (total_tests, total_failures, total_skipped)


# ===================================================================== Prometheus textfile
def test_prometheus_textfile_parses_and_carries_every_figure(all_formats):
    parser = pytest.importorskip("prometheus_client.parser")
    report = all_formats["report"]
    text = all_formats["stem"].with_suffix(".prom").read_text()
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    for name in ("modelgate_clean_accuracy", "modelgate_robust_accuracy", "modelgate_corruption_accuracy",
                 "modelgate_findings", "modelgate_run_seconds", "modelgate_last_run_timestamp_seconds",
                 "modelgate_verdict"):
        assert name in families, sorted(families)
        assert families[name].type == "gauge" and families[name].documentation
    for line in text.splitlines():
        if line.startswith("# HELP") or line.startswith("# TYPE"):
            continue
        assert line.startswith("modelgate_"), line
    job = report["job"]["name"]
    (verdict,) = families["modelgate_verdict"].samples
    assert verdict.labels == {"job": job} and verdict.value == report["exitCode"]
    for m in report["models"]:
        clean = [s for s in families["modelgate_clean_accuracy"].samples if s.labels["model"] == m["name"]]
        assert len(clean) == 1 and math.isclose(clean[0].value, m["clean"]["accuracy"], rel_tol=1e-12)
        robust = [s for s in families["modelgate_robust_accuracy"].samples if s.labels["model"] == m["name"]]
        assert len(robust) == len(m["adversarial"])
        for e in m["adversarial"]:
            hits = [s for s in robust if s.labels["attack"] == e["attack"] and s.labels["norm"] == e["norm"]
                    and math.isclose(float(s.labels["epsilon"]), e["epsilon"], rel_tol=1e-3)
                    and int(s.labels["steps"]) == e["steps"]]
            assert len(hits) == 1 and math.isclose(hits[0].value, e["robustAccuracy"], rel_tol=1e-12), (e, hits)
        corr = [s for s in families["modelgate_corruption_accuracy"].samples if s.labels["model"] == m["name"]]
        assert sorted(s.value for s in corr) == pytest.approx(sorted(e["accuracy"] for e in m["robustness"]))
        counts = {(s.labels["severity"], s.labels["action"]): s.value
                  for s in families["modelgate_findings"].samples if s.labels["model"] == m["name"]}
        assert len(counts) == 16
        for (sev, act), n in counts.items():
            assert n == sum(1 for f in m["findings"] if f["severity"] == sev and f["action"] == act)
    (last,) = families["modelgate_last_run_timestamp_seconds"].samples
    assert abs(last.value - _epoch(report["finishedAt"])) < 1e-3
    (secs,) = families["modelgate_run_seconds"].samples
    assert math.isclose(secs.value, _epoch(report["finishedAt"]) - _epoch(report["startedAt"]), abs_tol=1e-3)


def _epoch(iso):
    from datetime import datetime, timezone
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


# ================================================================================= HTML
def _chromium_driver():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium")
    driver_bin = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not chromium or not Path(driver_bin).exists():
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/setup.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service
    return webdriver.Chrome(service=Service(driver_bin), options=options)


def test_html_report_loads_in_chromium_with_one_point_per_evaluation(all_formats):
    report = all_formats["report"]
    page = all_formats["stem"].with_suffix(".html")
    html = page.read_text()
    assert "<script" not in html.lower(), "the page must not need JavaScript"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page must not load anything"
    driver = _chromium_driver()
    try:
        driver.get(page.resolve().as_uri())
        from selenium.webdriver.common.by import By
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
        assert driver.find_element(By.ID, "verdict").text.startswith(f"verdict: {report['verdict']}")
        sections = driver.find_elements(By.CSS_SELECTOR, "section.model")
        assert len(sections) == len(report["models"])
        for section, m in zip(sections, report["models"]):
            # One chart of robust accuracy against ε, and one per kind of corruption.
            charts = section.find_elements(By.CSS_SELECTOR, "svg.chart")
            assert len(charts) == 1 + len({e["corruption"] for e in m["robustness"]})
            attack_points = charts[0].find_elements(By.CSS_SELECTOR, "circle.point")
            corruption_points = [p for c in charts[1:] for p in c.find_elements(By.CSS_SELECTOR, "circle.point")]
            assert len(attack_points) == len(m["adversarial"])
            assert len(corruption_points) == len(m["robustness"])
            plotted = sorted((float(p.get_attribute("data-x")), float(p.get_attribute("data-y"))) for p in attack_points)
            expected = sorted((e["epsilon"], e["robustAccuracy"]) for e in m["adversarial"])
            assert len(plotted) == len(expected)
            for (px, py), (ex, ey) in zip(plotted, expected):
                assert math.isclose(px, ex, rel_tol=1e-5) and math.isclose(py, ey, rel_tol=1e-5), (plotted, expected)
            for p in attack_points + corruption_points:
                assert p.is_displayed() and p.size["width"] > 0
        rows = driver.find_elements(By.CSS_SELECTOR, "#findings table.findings tr")
        assert len(rows) == 1 + len(report["findings"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "html_report.png"
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1200, min(max(height, 800), 6000))
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        driver.quit()


# ================================================================================ render
def test_render_reproduces_every_format_from_the_json_report(all_formats, tmp_path):
    stem = all_formats["stem"]
    proc = run("render", stem.with_suffix(".json"), "--html", tmp_path / "r.html", "--junit", tmp_path / "r.xml",
               "--prometheus", tmp_path / "r.prom", "--summary")
    assert proc.returncode == 0, proc.stderr
    for suffix in (".html", ".xml", ".prom"):
        assert (tmp_path / ("r" + suffix)).read_bytes() == stem.with_suffix(suffix).read_bytes(), suffix
    # The summary is the one validate printed, but for the list of files written.
    validate_summary = all_formats["proc"].stdout.split("\nreport: ")[0]
    assert proc.stdout.startswith(validate_summary), (proc.stdout, validate_summary)


def test_render_refuses_what_is_not_a_report(tmp_path, demo):
    bad = tmp_path / "not-a-report.json"
    bad.write_text(json.dumps({"tool": {"name": "modelgate"}, "schemaVersion": "1"}))
    proc = run("render", bad, "--html", tmp_path / "x.html")
    assert proc.returncode == 3
    error_line(proc, "not-a-report.json")
    assert not (tmp_path / "x.html").exists()
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    proc = run("render", garbage)
    assert proc.returncode == 3
    error_line(proc, "garbage.json")


# =============================================================== output names and paths
def test_fixed_paths_and_siblings_beside_a_fixed_report(tmp_path, demo):
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], [ATTACKS[0]],
                                       job_extra={"reports": {"format": ["json", "html"], "location": "x"}}))
    out = tmp_path / "out"
    proc = run("validate", job, "--device", "cpu", "--report", out / "r.json", "--prometheus", tmp_path / "m.prom")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["r.html", "r.json"]
    assert (tmp_path / "m.prom").is_file()
    assert not (tmp_path / "x").exists()


def test_clashing_output_paths_are_refused_before_anything_runs(tmp_path, demo):
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], [ATTACKS[0]]))
    proc = run("validate", job, "--device", "cpu", "--report", tmp_path / "r.json", "--html", tmp_path / "r.json")
    assert proc.returncode == 3
    error_line(proc, "r.json")
    assert not list(tmp_path.glob("r.*"))


def test_timestamped_names_never_replace_an_earlier_sibling(tmp_path, demo):
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], [ATTACKS[0]],
                                       job_extra={"reports": {"format": ["json", "junit"], "location": "reps"}}))
    for _ in range(2):
        proc = run("validate", job, "--device", "cpu")
        assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in (tmp_path / "reps").iterdir())
    assert len(files) == 4 and len({Path(f).stem for f in files}) == 2, files


# ======================================================= the JSON report, field by field
GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = GOLDEN_DIR / "nightly_report_before_typed_results.json"
VOLATILE = {"seconds", "startedAt", "finishedAt", "cpuThreads"}


def _normalised(node):
    """The report with run times, absolute paths and the thread count replaced by their type."""
    if isinstance(node, dict):
        return {k: type(v).__name__ if k in VOLATILE or (k == "path" and isinstance(v, str)) else _normalised(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_normalised(v) for v in node]
    return node


# Keys schema version 2 added (nightly operations): the only keys a report may have beyond the
# golden one's, wherever they sit.
V2_ADDED = {"complete", "interrupted", "baseline", "permissions", "skipped", "monitoring", "scan"}
# Keys the real-data issue added (dataset formats, normalisation, batchSize: auto), same rule.
DATASETS_ADDED = {"format", "storage", "fileSamples", "selection", "skippedFiles", "peakRssBytes", "batchAuto",
                  "memoryBudget", "normalize", "batchSize", "sampleBytes", "batchRetries"}


def _key_order(node, path="$"):
    """Every object's keys in file order (Python keeps JSON objects in document order)."""
    if isinstance(node, dict):
        return [(path, list(node))] + [x for k, v in node.items() for x in _key_order(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [x for i, v in enumerate(node) for x in _key_order(v, f"{path}[{i}]")]
    return []


def _project(now, golden, added):
    """`now` with only the keys `golden` has (recording the others in `added`), in now's order."""
    if isinstance(now, dict) and isinstance(golden, dict):
        added.update(k for k in now if k not in golden)
        return {k: _project(v, golden[k], added) for k, v in now.items() if k in golden}
    if isinstance(now, list) and isinstance(golden, list):
        return [_project(a, b, added) for a, b in zip(now, golden)] + now[len(golden):]
    return now


def test_nightly_report_is_the_same_as_before_the_typed_results(tmp_path):
    """The nightly job (scripts/run.sh's, frozen with a pinned copy of the demo model and data) against
    the report the last commit with untyped JSON results wrote for it (golden/README.md says how):
    every key in the same order, every value equal but run times, absolute paths and thread counts.
    Since then: schemaVersion 2 adds the keys in V2_ADDED, and the channel_stats operator (which
    nothing called) is gone from the kernel list."""
    proc = run("validate", GOLDEN_DIR / "nightly.yaml", "--device", "cpu", "--baseline", "none",
               "--report", tmp_path / "r.json")
    golden = json.loads(GOLDEN.read_text())
    assert proc.returncode == golden["exitCode"], proc.stderr
    assert golden["schemaVersion"] == "1"
    golden["schemaVersion"] = "2"
    del golden["kernels"]["backends"]["channel_stats"]
    # Whether CUDA kernels were compiled is the build's, like the thread counts (the sanitiser
    # build has none); the backends each operator ran on are still compared.
    golden["kernels"]["cudaCompiled"] = json.loads((tmp_path / "r.json").read_text())["kernels"]["cudaCompiled"]
    added = set()
    now = _project(json.loads((tmp_path / "r.json").read_text()), golden, added)
    assert added <= V2_ADDED | DATASETS_ADDED, added - V2_ADDED - DATASETS_ADDED
    assert _key_order(now) == _key_order(golden)
    if _has_avx512():
        # With AVX-512, oneDNN picks other convolution kernels than on the golden's machine and rounds
        # some float sums differently, which can move a sample that sits on a decision boundary:
        # allow one sample per evaluation there.
        _allow_one_sample_of_rounding(now, golden)
    assert _normalised(now) == _normalised(golden)


def _has_avx512():
    """The golden report's machine had no AVX-512 (golden/README.md)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return "avx512f" in line.split()
    return False


def _allow_one_sample_of_rounding(now, golden):
    for m_now, m_gold in zip(now["models"], golden["models"]):
        for section, key, share in (("adversarial", "correct", "robustAccuracy"), ("robustness", "correct", "accuracy")):
            for e_now, e_gold in zip(m_now[section], m_gold[section]):
                if abs(e_now[key] - e_gold[key]) <= 1:
                    e_now[key], e_now[share] = e_gold[key], e_gold[share]
