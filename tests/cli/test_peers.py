"""Agreement with torchattacks, sample by sample, on the demo model.

modelgate's records (--records, active set off) give each sample's last-iterate prediction;
torchattacks runs the same attack on the same TorchScript model in this process. Where the two
differ is stated in README.md ("Where the libraries' semantics differ").
"""
import json

import pytest
import torch

torchattacks = pytest.importorskip("torchattacks")

from test_cli import job_text, run, write_job  # noqa: E402  (shared helpers)


def _records(tmp_path, demo, attack):
    rec = tmp_path / "records.jsonl"
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], [dict(attack, activeSet=False)]))
    proc = run("validate", job, "--device", "cpu", "--report", tmp_path / "r.json", "--records", rec)
    assert proc.returncode in (0, 1, 2), proc.stderr
    lines = [json.loads(line) for line in rec.read_text().splitlines()]
    report = json.loads((tmp_path / "r.json").read_text())
    return lines, report["models"][0]["adversarial"][0]


def _peer_predictions(attack, model, x, y, batch_size=128):
    preds = []
    for i in range(0, len(y), batch_size):
        adv = attack(x[i:i + batch_size], y[i:i + batch_size])
        with torch.no_grad():
            preds.append(model(adv).argmax(1))
    return torch.cat(preds)


@pytest.mark.parametrize("name,spec,peer", [
    ("fgsm", {"type": "fgsm", "epsilon": 0.1}, lambda m: torchattacks.FGSM(m, eps=0.1)),
    ("pgd-linf", {"type": "pgd", "epsilon": 0.1, "steps": 10, "stepSize": 0.025, "randomStart": False},
     lambda m: torchattacks.PGD(m, eps=0.1, alpha=0.025, steps=10, random_start=False)),
    ("pgd-l2", {"type": "pgd", "norm": "l2", "epsilon": 1.0, "steps": 10, "stepSize": 0.25, "randomStart": False},
     lambda m: torchattacks.PGDL2(m, eps=1.0, alpha=0.25, steps=10, random_start=False)),
])
def test_per_sample_agreement_with_torchattacks(tmp_path, demo, oracle, name, spec, peer):
    torch.set_num_threads(1)
    model = oracle.model
    lines, entry = _records(tmp_path, demo, spec)
    ours = torch.tensor([line["lastIteratePrediction"] for line in lines])
    theirs = _peer_predictions(peer(model), model, oracle.x, oracle.y)
    agree = (ours == theirs).float().mean().item()
    assert agree >= 0.99, f"{name}: per-sample agreement {agree:.4f}"
    ours_correct = int((ours == oracle.y).sum())
    theirs_correct = int((theirs == oracle.y).sum())
    assert ours_correct == entry["lastIterateCorrect"]
    assert abs(ours_correct - theirs_correct) <= 1, (name, ours_correct, theirs_correct)
