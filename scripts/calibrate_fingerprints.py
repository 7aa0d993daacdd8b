#!/usr/bin/env python3
"""Calibrate modelgate's derived/unrelated thresholds on the zoo built by scripts/make_zoo.py.

    calibrate_fingerprints.py [--zoo DIR] [--modelgate BIN] [--out MD] [--json-out JSON]
                              [--thresholds-out JSON] [--work-dir DIR] [--no-boundary]
                              [--no-second-pass]

1. For each base of the zoo: modelgate fingerprint BASE.pt --out F.json PROBE_FLAGS.
2. For every (base, suspect) pair: modelgate compare F.json SUSPECT.pt --report R.json, and
   read R.json["comparison"]["metrics"] (the older report's top-level topAgreement,
   logitCorrelation, layerCorrelation and maxLogitRelDiff when "metrics" is absent).
   Exit codes 0/1/2 are verdicts; 3 and above are failures, reported and left out of the ROC.
   A pair is positive when the suspect descends from the base (same family, label
   "positive"), negative when it belongs to any other family (independent seeds, the other
   base and its descendants, other architectures).
3. Per metric (scikit-learn's roc_auc_score / roc_curve; a null metric counts as the least
   similar value): ROC AUC of positives against negatives, TPR at 1 % FPR, and AUC of each
   positive kind against all negatives.
4. Thresholds (THRESHOLD_RULE below), written to --thresholds-out in the format the C++ reads.
5. Second pass: compare again with --thresholds, for the real tool's combined verdict; skipped
   with a message when the binary does not accept the flag.
6. Writes the Markdown results (--out) and a machine-readable copy (--json-out, default: the
   Markdown path with .json).

Runs from any directory; relative paths are taken from the repository root.
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The probe specification of every fingerprint; edit here. BOUNDARY_FLAGS are dropped by
# --no-boundary (for binaries that predate boundary probes).
PROBE_FLAGS = ["--data", "configs/data/digits_test.npz", "--real", "64", "--probes", "64"]
BOUNDARY_FLAGS = ["--boundary", "32"]

# name -> (direction, key in the older report's top-level comparison or None).
# +1: larger means more similar; -1: smaller means more similar.
METRICS = {
    "outputAgreement": (+1, "topAgreement"),
    "jsDistance": (-1, None),
    "boundaryAgreement": (+1, None),
    "boundaryAccuracyGap": (-1, None),
    "lod": (-1, None),
    "lad": (-1, None),
    "cka": (+1, None),
    "weightCosine": (+1, None),
    "weightRelL2": (-1, None),
    "logitCorrelation": (+1, "logitCorrelation"),
    # Only in the older report; kept so that the pipeline can be tried end to end with it.
    "layerCorrelation": (+1, "layerCorrelation"),
    "maxLogitRelDiff": (-1, "maxLogitRelDiff"),
}

# Kinds whose AUC against all negatives must be 1.0 (issue 4, "Targets").
REQUIRED_KINDS = ["finetune_last", "finetune_all", "int8", "fp16", "prune20", "prune40",
                  "prune60"]
COPY_KINDS = ["exact_copy", "rescripted"]          # must be identical or equivalent
REPORT_ONLY_KINDS = ["prune80", "distill_same", "distill_small"]
VERDICTS = ["identical", "equivalent", "derived", "unrelated", "error"]
MAX_FPR = 0.01

THRESHOLD_RULE = (
    "Per metric, in its similarity direction: the threshold sits midway (linearly) between the "
    "most similar calibration negative and the least similar positive that is more similar than "
    "every negative, so no calibration negative passes it (zero false positives). A null metric "
    "never passes. When every negative is null, the threshold is the least similar non-null "
    "positive (inclusive). A metric with no positive beyond the negatives gets no threshold. "
    "The combined rule is 'derived if any selected metric passes' (identical and equivalent are "
    "decided first by the tool); a metric is selected when its AUC against all negatives is 1.0 "
    "for every required kind (" + ", ".join(REQUIRED_KINDS) + "); then, greedily, the metric "
    "whose threshold catches most of the positives still neither caught nor already identical/"
    "equivalent (ties: the wider margin), while one adds a caught positive. A greedy candidate must "
    "transfer: its threshold fitted on one base's pairs alone may pass no negative of the other "
    "base (leave-one-base-out); metrics that fail this are listed and not used.")


def rel(path):
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def from_root(p):
    p = Path(p)
    return p if p.is_absolute() else REPO_ROOT / p


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zoo", default="build/zoo", help="zoo folder with manifest.json")
    ap.add_argument("--modelgate", default="build/modelgate", help="modelgate binary")
    ap.add_argument("--out", default="bench/results/fingerprint_calibration.md",
                    help="Markdown results file")
    ap.add_argument("--json-out", default=None,
                    help="machine-readable results (default: --out with .json)")
    ap.add_argument("--thresholds-out", default="fingerprint/thresholds.json",
                    help="where the calibrated thresholds go (read by the C++)")
    ap.add_argument("--work-dir", default="build/calibration",
                    help="fingerprints and compare reports")
    ap.add_argument("--no-boundary", action="store_true",
                    help="leave out " + " ".join(BOUNDARY_FLAGS) + " (older binaries)")
    ap.add_argument("--no-second-pass", action="store_true",
                    help="skip the compare --thresholds pass")
    return ap.parse_args(argv)


# ---------------------------------------------------------------- running modelgate

def run(cmd, timeout=600):
    t0 = time.monotonic()
    p = subprocess.run([str(c) for c in cmd], cwd=REPO_ROOT, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def help_mentions(modelgate, sub, flag):
    rc, out, err, _ = run([modelgate, sub, "--help"])
    return flag in out or flag in err


def fingerprint(modelgate, model, out, probe_flags):
    cmd = [modelgate, "fingerprint", rel(model), "--out", rel(out)] + probe_flags
    rc, out_s, err, wall = run(cmd)
    cmd[0] = rel(modelgate)
    if rc != 0:
        raise SystemExit(f"calibrate: error: fingerprint of {rel(model)} failed (exit {rc}):\n"
                         f"  {' '.join(map(str, cmd))}\n{err.strip()}")
    return wall, " ".join(map(str, cmd))


def read_metrics(comparison):
    """(metrics dict name -> float|None, source) from a compare report's comparison."""
    def num(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return float(v) if math.isfinite(v) else None
    if isinstance(comparison.get("metrics"), dict):
        m = comparison["metrics"]
        out = {k: num(v) for k, v in m.items()}
        return out, "metrics"
    out = {}
    for name, (_, old_key) in METRICS.items():
        if old_key is not None:
            out[name] = num(comparison.get(old_key))
    return out, "fallback"


def compare(modelgate, fp, suspect, report, thresholds=None):
    cmd = [modelgate, "compare", rel(fp), rel(suspect), "--report", rel(report)]
    if thresholds is not None:
        cmd += ["--thresholds", rel(thresholds)]
    if report.exists():
        report.unlink()
    rc, out, err, wall = run(cmd)
    row = {"rc": rc, "wall_s": round(wall, 3)}
    if rc >= 3 or rc < 0 or not report.exists():
        row.update(verdict="error", metrics={}, source=None,
                   error=(err.strip() or out.strip())[-400:] or f"exit {rc}")
        return row
    comparison = json.loads(report.read_text())["comparison"]
    metrics, source = read_metrics(comparison)
    row.update(verdict=comparison.get("verdict", "error"), metrics=metrics, source=source,
               logitsAllclose=bool(comparison.get("logitsAllclose")))
    return row


# ---------------------------------------------------------------- pairs

def build_pairs(manifest, zoo_dir):
    models = manifest["models"]
    bases = [m for m in models if m["label"] == "base"]
    pairs = []
    for b in bases:
        for m in models:
            if m["name"] == b["name"]:
                continue
            if m["family"] == b["family"]:
                if m["label"] != "positive":
                    continue
                label, group = 1, m["kind"]
            elif m["family"] == "independent" and m["base"] == b["name"]:
                label, group = 0, "independent_same_arch"
            elif m["family"] == "independent" and m["base"] is not None:
                label, group = 0, "independent_other_arch"
            elif m["family"] == "independent":
                label, group = 0, m["kind"]
            else:
                label, group = 0, "other_base_family"
            pairs.append({"base": b["name"], "suspect": m["name"], "label": label,
                          "kind": m["kind"], "group": group,
                          "path": zoo_dir / m["path"]})
    return bases, pairs


# ---------------------------------------------------------------- statistics

def scores_for(pairs, metric):
    """(labels, scores) in similarity direction; None when the metric is null everywhere."""
    direction = METRICS[metric][0] if metric in METRICS else None
    vals = [p["first"]["metrics"].get(metric) for p in pairs]
    finite = [direction * v for v in vals if v is not None]
    if not finite:
        return None
    sentinel = min(finite) - 1.0
    scores = [direction * v if v is not None else sentinel for v in vals]
    return [p["label"] for p in pairs], scores, sentinel


def auc_and_tpr(labels, scores):
    from sklearn.metrics import roc_auc_score, roc_curve
    if len(set(labels)) < 2:
        return None, None
    auc = float(roc_auc_score(labels, scores))
    fpr, tpr, _ = roc_curve(labels, scores)
    ok = [t for f, t in zip(fpr, tpr) if f <= MAX_FPR]
    return auc, float(max(ok)) if ok else 0.0


def threshold_for(pairs, metric, scored):
    """The zero-false-positive threshold (see THRESHOLD_RULE), or None."""
    direction = METRICS[metric][0]
    labels, scores, sentinel = scored
    neg = [s for s, l in zip(scores, labels) if l == 0]
    pos = [s for s, l in zip(scores, labels) if l == 1 and s != sentinel]
    if not pos:
        return None
    n_max = max(neg) if neg else sentinel
    neg_pairs = [p for p, l in zip(pairs, labels) if l == 0]
    closest = None if n_max == sentinel else neg_pairs[[s for s, l in zip(scores, labels)
                                                         if l == 0].index(n_max)]
    if n_max == sentinel:
        thr = min(pos)
        gap = None
    else:
        above = [s for s in pos if s > n_max]
        if not above:
            return None
        thr = (n_max + min(above)) / 2
        gap = min(above) - n_max
    value = direction * thr
    # Round for a readable file, unless rounding would change which pair passes.
    for digits in (4, 6, 8, 12):
        rounded = float(f"{value:.{digits}g}")
        if passes_all(pairs, metric, rounded) == passes_all(pairs, metric, value):
            value = rounded
            break
    return {"metric": metric, "op": ">=" if direction > 0 else "<=", "value": value,
            "margin": gap, "mostSimilarNegative": None if n_max == sentinel else direction * n_max,
            "mostSimilarNegativePair": None if closest is None else
            f"{closest['suspect']} vs {closest['base']}"}


def passes(rule, v):
    if v is None:
        return False
    return v >= rule["value"] if rule["op"] == ">=" else v <= rule["value"]


def passes_all(pairs, metric, value):
    op = ">=" if METRICS[metric][0] > 0 else "<="
    return [passes({"op": op, "value": value}, p["first"]["metrics"].get(metric)) for p in pairs]


def simulate_verdict(tool_verdict, metrics, rules, logits_allclose=False):
    """The calibrated combined verdict from first-pass metrics (identity decided by the tool)."""
    if tool_verdict in ("identical", "equivalent", "error"):
        return tool_verdict
    if logits_allclose:
        return "derived"  # same outputs on every probe: derived by construction in the tool
    return "derived" if any(passes(r, metrics.get(r["metric"])) for r in rules) else "unrelated"


# ---------------------------------------------------------------- report helpers

def fmt(v, digits=3):
    if v is None:
        return "–"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return str(v)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def row_order(pairs):
    pos_kinds, neg_groups = [], []
    for p in pairs:
        bucket = pos_kinds if p["label"] else neg_groups
        if p["group"] not in bucket:
            bucket.append(p["group"])
    return pos_kinds, neg_groups


def confusion(pairs, key):
    pos_kinds, neg_groups = row_order(pairs)
    counts = defaultdict(Counter)
    for p in pairs:
        counts[p["group"]][p[key]] += 1
    cols = [v for v in VERDICTS if v != "error" or any(c["error"] for c in counts.values())]
    rows = []
    for label, groups in (("+", pos_kinds), ("−", neg_groups)):
        for g in groups:
            rows.append([f"{label} {g}"] + [counts[g][v] or "" for v in cols])
    return table(["kind (+ positive, − negative)"] + cols, rows), \
        {g: dict(counts[g]) for g in pos_kinds + neg_groups}


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def target_lines(pairs, verdict_key, verdict_source, metric_stats, selected):
    lines = []

    def status(ok):
        return "**met**" if ok else "**missed**"

    # 1. AUC 1.0 for the required kinds, by at least one selected metric and by each kind.
    lines.append("1. AUC 1.0 against all negatives for fine-tuned, quantised and ≤ 60 %-pruned "
                 "models:")
    for k in REQUIRED_KINDS:
        best = [(m, s["perKind"].get(k)) for m, s in metric_stats.items()
                if s.get("perKind", {}).get(k) is not None]
        best.sort(key=lambda t: -t[1])
        perfect = [m for m, a in best if a == 1.0]
        lines.append(f"   - {k}: {status(bool(perfect))}; best AUC "
                     f"{fmt(best[0][1]) if best else '–'}"
                     + (f" ({', '.join(perfect)})" if perfect else
                        (f" ({best[0][0]})" if best else "")))
    # 2. copies.
    copies = [p for p in pairs if p["label"] == 1 and p["kind"] in COPY_KINDS]
    bad = [p for p in copies if p[verdict_key] not in ("identical", "equivalent")]
    lines.append(f"2. exact copy and re-scripted copy always identical or equivalent "
                 f"({verdict_source}): {status(not bad)}"
                 + ("" if not bad else "; " + ", ".join(
                     f"{p['suspect']} vs {p['base']} → {p[verdict_key]}" for p in bad)))
    others = [p for p in pairs if p["label"] == 1 and p["kind"] in ("traced", "frozen", "permuted")]
    lines.append("   - for information, traced / frozen / permuted: " + ", ".join(
        f"{p['suspect']} → {p[verdict_key]}" for p in others))
    # 3. never unrelated for a positive.
    pos = [p for p in pairs if p["label"] == 1]
    bad = [p for p in pos if p[verdict_key] in ("unrelated", "error")]
    lines.append(f"3. never `unrelated` for a positive ({verdict_source}): {status(not bad)} "
                 f"({len(pos) - len(bad)}/{len(pos)} positives derived or better)"
                 + ("" if not bad else "; misses: " + ", ".join(
                     f"{p['suspect']} ({p[verdict_key]})" for p in bad)))
    # 4. never better than unrelated for a negative.
    neg = [p for p in pairs if p["label"] == 0]
    bad = [p for p in neg if p[verdict_key] != "unrelated"]
    lines.append(f"4. never better than `unrelated` for an independent model "
                 f"({verdict_source}): {status(not bad)} ({len(neg) - len(bad)}/{len(neg)} "
                 f"negatives unrelated)" + ("" if not bad else "; " + ", ".join(
                     f"{p['suspect']} vs {p['base']} → {p[verdict_key]}" for p in bad)))
    # 5. report-only kinds.
    lines.append("5. 80 % pruning and distillation, as they score:")
    for k in REPORT_ONLY_KINDS:
        ps = [p for p in pairs if p["label"] == 1 and p["kind"] == k]
        aucs = ", ".join(f"{m} {fmt(metric_stats[m]['perKind'].get(k))}" for m in selected
                         if metric_stats[m]["perKind"].get(k) is not None)
        lines.append(f"   - {k}: " + ", ".join(f"{p['suspect']} → {p[verdict_key]}" for p in ps)
                     + (f"; AUC of the selected metrics: {aucs}" if aucs else ""))
    return lines


# ---------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    zoo_dir = from_root(args.zoo)
    modelgate = from_root(args.modelgate)
    out_md = from_root(args.out)
    out_json = from_root(args.json_out) if args.json_out else out_md.with_suffix(".json")
    thresholds_out = from_root(args.thresholds_out)
    work = from_root(args.work_dir)
    manifest_path = zoo_dir / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"calibrate: error: {rel(manifest_path)} not found; "
                         f"run scripts/make_zoo.py first")
    if not modelgate.is_file():
        raise SystemExit(f"calibrate: error: modelgate binary {rel(modelgate)} not found")
    manifest_bytes = manifest_path.read_bytes()
    manifest = json.loads(manifest_bytes)
    # File bytes of TorchScript archives differ from build to build (see make_zoo.py); the
    # weights do not, so the zoo is identified by its names, kinds and weight digests.
    if all("weights_sha256" in m for m in manifest["models"]):
        manifest_digest = hashlib.sha256("\n".join(
            f"{m['name']} {m['kind']} {m['weights_sha256']}"
            for m in sorted(manifest["models"], key=lambda m: m["name"])).encode()).hexdigest()
    else:
        manifest_digest = hashlib.sha256(manifest_bytes).hexdigest()

    probe_flags = list(PROBE_FLAGS)
    if not args.no_boundary:
        if not help_mentions(modelgate, "fingerprint", BOUNDARY_FLAGS[0]):
            raise SystemExit(f"calibrate: error: {rel(modelgate)} fingerprint does not accept "
                             f"{BOUNDARY_FLAGS[0]}; rebuild it, or pass --no-boundary")
        probe_flags += BOUNDARY_FLAGS
    (work / "fingerprints").mkdir(parents=True, exist_ok=True)
    (work / "reports").mkdir(parents=True, exist_ok=True)
    (work / "reports-calibrated").mkdir(parents=True, exist_ok=True)
    rc, version, _, _ = run([modelgate, "--version"])
    version = version.strip().splitlines()[0] if version.strip() else "unknown"

    bases, pairs = build_pairs(manifest, zoo_dir)
    started = datetime.datetime.now(datetime.timezone.utc)
    t_all = time.monotonic()

    # Pass 1: fingerprints and compares with the tool's own thresholds.
    fp_of, fp_cmds, fp_times = {}, {}, {}
    for b in bases:
        fp = work / "fingerprints" / f"{b['name']}.json"
        fp_times[b["name"]], fp_cmds[b["name"]] = fingerprint(modelgate, zoo_dir / b["path"],
                                                              fp, probe_flags)
        fp_of[b["name"]] = fp
        print(f"fingerprint {b['name']}: {fp_times[b['name']]:.2f}s", flush=True)
    t1 = time.monotonic()
    for i, p in enumerate(pairs):
        report = work / "reports" / f"{p['base']}__{p['suspect']}.json"
        p["first"] = compare(modelgate, fp_of[p["base"]], p["path"], report)
        p["verdict1"] = p["first"]["verdict"]
        print(f"[{i + 1:3d}/{len(pairs)}] {p['base']:12s} {p['suspect']:28s} "
              f"{'+' if p['label'] else '-'} {p['verdict1']}", flush=True)
    pass1_s = time.monotonic() - t1
    failures = [p for p in pairs if p["first"]["verdict"] == "error"]
    ok_pairs = [p for p in pairs if p["first"]["verdict"] != "error"]
    sources = Counter(p["first"]["source"] for p in ok_pairs)

    # Statistics per metric.
    seen = set()
    for p in ok_pairs:
        seen.update(p["first"]["metrics"])
    unknown = sorted(m for m in seen if m not in METRICS)
    metric_stats = {}
    pos_kinds, neg_groups = row_order(ok_pairs)
    for metric in METRICS:
        scored = scores_for(ok_pairs, metric)
        if scored is None:
            continue
        labels, scores, _ = scored
        auc, tpr = auc_and_tpr(labels, scores)
        per_kind = {}
        for k in pos_kinds:
            idx = [i for i, p in enumerate(ok_pairs) if p["label"] == 0 or p["kind"] == k]
            per_kind[k], _ = auc_and_tpr([labels[i] for i in idx], [scores[i] for i in idx])
        per_base = {}
        for b in bases:
            idx = [i for i, p in enumerate(ok_pairs) if p["base"] == b["name"]]
            per_base[b["name"]], _ = auc_and_tpr([labels[i] for i in idx],
                                                 [scores[i] for i in idx])
        nulls = sum(p["first"]["metrics"].get(metric) is None for p in ok_pairs)
        metric_stats[metric] = {"direction": "up" if METRICS[metric][0] > 0 else "down",
                                "auc": auc, "tprAt1pctFpr": tpr, "perKind": per_kind,
                                "perBase": per_base, "nulls": nulls,
                                "threshold": threshold_for(ok_pairs, metric, scored)}

    # Selection and the combined rule.
    def perfect_on_required(m):
        s = metric_stats[m]
        return s["threshold"] is not None and all(
            s["perKind"].get(k) == 1.0 for k in REQUIRED_KINDS if k in s["perKind"])
    selected = [m for m in metric_stats if perfect_on_required(m)]
    selection_note = "AUC 1.0 on every required kind, then greedy cover of the remaining positives"
    if not selected:
        selection_note = "greedy cover of the positives (no metric reached AUC 1.0 on every required kind)"

    def caught_by(m):
        th = metric_stats[m]["threshold"]
        if th is None:
            return set()
        return {i for i, p in enumerate(ok_pairs)
                if p["label"] == 1 and passes(th, p["first"]["metrics"].get(m))}

    # Positives the tool already calls identical or equivalent need no rule.
    settled = {i for i, p in enumerate(ok_pairs)
               if p["label"] == 1 and (p["first"]["verdict"] in ("identical", "equivalent")
                                       or p["first"].get("logitsAllclose"))}
    caught = set(settled)
    for m in selected:
        caught |= caught_by(m)
    def transfers_across_bases(m):
        """A threshold fitted on one base's pairs alone must pass no negative of any other base:
        a rule that only separates the zoo it was fitted on is not kept (a leave-one-base-out
        check, so no margin constant is needed)."""
        bases = sorted({p["base"] for p in ok_pairs})
        for fit in bases:
            own = [p for p in ok_pairs if p["base"] == fit]
            scored = scores_for(own, m)
            th = threshold_for(own, m, scored) if scored else None
            if th is None:
                return False
            if any(passes(th, p["first"]["metrics"].get(m))
                   for p in ok_pairs if p["base"] != fit and p["label"] == 0):
                return False
        return True

    rejected = [m for m in metric_stats if m not in selected and metric_stats[m]["threshold"]
                and not transfers_across_bases(m)]
    while True:
        # The zero-false-positive rule that catches most of the positives still missed; ties go
        # to the wider margin between negatives and positives.
        best = max((m for m in metric_stats if m not in selected and m not in rejected
                    and metric_stats[m]["threshold"]),
                   key=lambda m: (len(caught_by(m) - caught), metric_stats[m]["threshold"]["margin"] or 0),
                   default=None)
        if best is None or not (caught_by(best) - caught):
            break
        selected.append(best)
        caught |= caught_by(best)
    rules = [{k: metric_stats[m]["threshold"][k] for k in ("metric", "op", "value")}
             for m in selected]
    thresholds_doc = {
        "formatVersion": 1,
        "generatedBy": "scripts/calibrate_fingerprints.py",
        "date": started.date().isoformat(),
        "zoo": f"{rel(zoo_dir)} (scripts/make_zoo.py, {len(manifest['models'])} models, "
               f"weights digest {manifest_digest[:16]})",
        "derived": {"combine": "any", "rules": rules},
    }
    thresholds_out.parent.mkdir(parents=True, exist_ok=True)
    thresholds_out.write_text(json.dumps(thresholds_doc, indent=2) + "\n")
    print(f"wrote {rel(thresholds_out)}: {len(rules)} rules ({', '.join(selected) or 'none'})")
    for p in pairs:
        p["simulated"] = simulate_verdict(p["verdict1"], p["first"]["metrics"], rules,
                                          p["first"].get("logitsAllclose", False))

    # Pass 2: the real tool with the calibrated thresholds.
    second_note = None
    pass2_s = None
    if args.no_second_pass:
        second_note = "skipped (--no-second-pass)"
    elif not help_mentions(modelgate, "compare", "--thresholds"):
        second_note = (f"skipped: {rel(modelgate)} compare does not accept --thresholds "
                       f"(binary predates it)")
    else:
        t2 = time.monotonic()
        for i, p in enumerate(pairs):
            report = work / "reports-calibrated" / f"{p['base']}__{p['suspect']}.json"
            p["second"] = compare(modelgate, fp_of[p["base"]], p["path"], report,
                                  thresholds=thresholds_out)
            p["verdict2"] = p["second"]["verdict"]
            print(f"[{i + 1:3d}/{len(pairs)}] calibrated {p['base']:12s} {p['suspect']:28s} "
                  f"{p['verdict2']}", flush=True)
        pass2_s = time.monotonic() - t2
        if all(p["verdict2"] == "error" for p in pairs):
            second_note = ("failed: every compare with --thresholds exited ≥ 3; first error: "
                           + pairs[0]["second"].get("error", "?"))
    if second_note:
        print(f"second pass {second_note}")
    have_second = second_note is None
    total_s = time.monotonic() - t_all

    # ------------------------------------------------------------ Markdown
    md = []
    cmdline = "scripts/calibrate_fingerprints.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv)
    md.append("# Fingerprint calibration: derived vs unrelated\n")
    md.append(f"Regenerate: `.venv/bin/python scripts/make_zoo.py && .venv/bin/python "
              f"{cmdline.strip()}`\n")
    md.append(f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}")
    md.append(f"- machine: {machine_info()}")
    md.append(f"- modelgate: `{version}` ({rel(modelgate)})")
    md.append(f"- fingerprint: `{fp_cmds[bases[0]['name']]}` (one per base)")
    md.append(f"- compare: `{rel(modelgate)} compare F.json SUSPECT.pt --report R.json`"
              + (" and again with `--thresholds " + rel(thresholds_out) + "`"
                 if have_second else ""))
    md.append(f"- metrics read from: " + ", ".join(
        f"{'comparison.metrics' if s == 'metrics' else 'older top-level keys (fallback)'} "
        f"({n} pairs)" for s, n in sources.items()))
    md.append(f"- time: fingerprints {sum(fp_times.values()):.1f} s, first pass "
              f"{len(pairs)} compares {pass1_s:.1f} s"
              + (f", second pass {pass2_s:.1f} s" if pass2_s is not None else "")
              + f", total {total_s:.1f} s")
    md.append(f"- zoo: `{rel(zoo_dir)}`, weights digest `{manifest_digest[:16]}`, torch "
              f"{manifest.get('torch', '?')}\n")

    md.append("## Zoo\n")
    md.append(f"{len(manifest['models'])} TorchScript models from `scripts/make_zoo.py` "
              f"(seeded; its docstring has every recipe). Data: scikit-learn digits; split A "
              f"({manifest['data']['splitA']}) trains the bases and the independent models, "
              f"split B ({manifest['data']['splitB']}, disjoint) is the fine-tuning data, the "
              f"{manifest['data']['test']} test samples are `configs/data/digits_test.npz`.")
    md.append(f"Pairs: every base against each of its descendants (positives) and against "
              f"every model of another family (negatives): {sum(p['label'] for p in pairs)} "
              f"positive and {sum(1 - p['label'] for p in pairs)} negative pairs.\n")
    md.append(table(["model", "label", "kind", "family / base", "arch", "test acc", "recipe"],
                    [[m["name"], m["label"], m["kind"], f"{m['family']} / {m['base'] or '–'}",
                      m["arch"], fmt(m["test_accuracy"], 4), m["recipe"]]
                     for m in manifest["models"]]))
    md.append("")

    if failures:
        md.append("## Failures (exit ≥ 3; left out of the statistics)\n")
        md.append(table(["base", "suspect", "exit", "message"],
                        [[p["base"], p["suspect"], p["first"]["rc"],
                          p["first"]["error"].replace("\n", " ").replace("|", "\\|")[:200]]
                         for p in failures]))
        md.append("")

    md.append("## Per-metric separation\n")
    md.append(f"ROC AUC of positives against negatives (all {len(ok_pairs)} pairs pooled over "
              f"both bases; a null metric counts as least similar), TPR at {MAX_FPR:.0%} FPR "
              f"(with {sum(1 - p['label'] for p in ok_pairs)} negatives this means zero false "
              f"positives), the AUC within each base, and the zero-false-positive threshold.\n")
    hdr = ["metric", "dir", "AUC", f"TPR@{MAX_FPR:.0%}FPR"] + \
          [f"AUC {b['name']}" for b in bases] + \
          ["nulls", "most similar negative", "threshold", "margin", "selected"]
    rows = []
    for m, s in metric_stats.items():
        th = s["threshold"]
        rows.append([m, "↑" if s["direction"] == "up" else "↓", fmt(s["auc"]),
                     fmt(s["tprAt1pctFpr"])] + [fmt(s["perBase"][b["name"]]) for b in bases] +
                    [s["nulls"], (f"{fmt(th['mostSimilarNegative'])} "
                                  f"({th['mostSimilarNegativePair']})")
                     if th and th["mostSimilarNegativePair"] else "–",
                     f"{th['op']} {th['value']:.6g}" if th else "none",
                     fmt(th["margin"]) if th else "–", "yes" if m in selected else ""])
    md.append(table(hdr, rows))
    absent = [m for m in METRICS if m not in metric_stats]
    if absent:
        md.append(f"\nNot in these reports (null for every pair): {', '.join(absent)}.")
    if unknown:
        md.append(f"\nIn the reports but not calibrated (direction unknown to this script): "
                  f"{', '.join(unknown)}.")
    md.append("\n### AUC per positive kind against all negatives\n")
    ms = list(metric_stats)
    md.append(table(["kind"] + ms, [[k] + [fmt(metric_stats[m]["perKind"].get(k)) for m in ms]
                                    for k in pos_kinds]))
    md.append("")

    md.append("## Thresholds\n")
    md.append(THRESHOLD_RULE + "\n")
    md.append(f"Selected ({selection_note}): " + (", ".join(
        f"`{r['metric']} {r['op']} {r['value']:.6g}`" for r in rules) or "none") +
        f". Written to `{rel(thresholds_out)}`:\n")
    if rejected:
        md.append("Failing the leave-one-base-out check, so not used: " +
                  ", ".join(f"`{m}`" for m in rejected) + ".\n")
    md.append("```json\n" + json.dumps(thresholds_doc, indent=2) + "\n```\n")

    md.append("## Verdicts\n")
    if have_second:
        md.append("### Calibrated: `compare --thresholds` (the real tool)\n")
        t2tab, conf2 = confusion(pairs, "verdict2")
        md.append(t2tab + "\n")
        disagree = [p for p in pairs if p["verdict2"] != p["simulated"]]
        md.append("Cross-check against the rule applied here to the first-pass metrics: "
                  + ("all verdicts agree." if not disagree else ", ".join(
                      f"{p['suspect']} vs {p['base']}: tool {p['verdict2']}, rule "
                      f"{p['simulated']}" for p in disagree)) + "\n")
    else:
        conf2 = None
        md.append(f"Second pass {second_note}. The calibrated verdicts below are the rule above "
                  f"applied here to the first-pass metrics (identical/equivalent as the tool "
                  f"decided them).\n")
        md.append("### Calibrated rule, applied by this script\n")
        md.append(confusion(pairs, "simulated")[0] + "\n")
    md.append("### Before calibration: the tool's built-in thresholds (first pass)\n")
    t1tab, conf1 = confusion(pairs, "verdict1")
    md.append(t1tab + "\n")

    md.append("## Targets (issue 4)\n")
    vkey, vsrc = ("verdict2", "calibrated tool") if have_second else \
        ("simulated", "calibrated rule, simulated")
    md += target_lines(ok_pairs if not failures else pairs, vkey, vsrc, metric_stats, selected)
    md.append("")

    md.append("## Every pair\n")
    ms_all = list(metric_stats)
    md.append(table(["base", "suspect", "±", "kind"] + ms_all +
                    ["built-in", "calibrated"],
                    [[p["base"], p["suspect"], "+" if p["label"] else "−", p["group"]] +
                     [fmt(p["first"]["metrics"].get(m)) for m in ms_all] +
                     [p["verdict1"], p.get("verdict2", p["simulated"])] for p in pairs]))
    md.append("")

    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(md))
    result = {
        "generatedBy": "scripts/calibrate_fingerprints.py", "date": started.isoformat(),
        "machine": machine_info(), "modelgate": version, "command": cmdline.strip(),
        "probeFlags": probe_flags, "zoo": rel(zoo_dir), "zooWeightsDigest": manifest_digest,
        "timing": {"fingerprints_s": fp_times, "pass1_s": pass1_s, "pass2_s": pass2_s,
                   "total_s": total_s},
        "thresholdRule": THRESHOLD_RULE, "selected": selected, "thresholds": thresholds_doc,
        "metrics": metric_stats, "secondPass": second_note or "ran",
        "confusionBuiltIn": conf1, "confusionCalibrated": conf2,
        "pairs": [{k: (rel(v) if k == "path" else v) for k, v in p.items()} for p in pairs],
    }
    out_json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {rel(out_md)} and {rel(out_json)} ({total_s:.1f}s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
