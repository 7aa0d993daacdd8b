"""The deployment examples in configs/deploy/: each is checked by the tool that would read it
(kubernetes-validate for the CronJob, systemd-analyze for the units) and the cron entry's command
is run as cron would run it.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from test_cli import BIN, REPO_ROOT, job_text, write_job  # noqa: E402

DEPLOY = REPO_ROOT / "configs" / "deploy"
BUDGET = re.compile(r"--budget[ \"',]+(\d+)([smh])")


def _budget_seconds(text):
    (value, unit), = BUDGET.findall(text)
    return int(value) * {"s": 1, "m": 60, "h": 3600}[unit]


# ================================================================== Kubernetes
def test_k8s_cronjob_is_valid_against_the_api_schema():
    path = DEPLOY / "k8s" / "cronjob.yaml"
    proc = subprocess.run([str(Path(os.sys.executable).parent / "kubernetes-validate"), "--strict", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout


def test_k8s_cronjob_runs_one_at_a_time_within_the_budget_with_time_to_write_the_partial_report():
    text = (DEPLOY / "k8s" / "cronjob.yaml").read_text()
    doc = yaml.safe_load(text)
    assert doc["spec"]["concurrencyPolicy"] == "Forbid"
    job = doc["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    budget = _budget_seconds(" ".join(pod["containers"][0]["args"]))
    # The deadline is the budget plus room for the last batch and the report, not less.
    assert budget < job["activeDeadlineSeconds"] <= budget * 1.25
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert pod["restartPolicy"] == "Never" and job["backoffLimit"] == 0


# ================================================================== systemd
def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # The units name /srv/modelgate and a service account; verify checks that ExecStart is an
    # executable and that the paths resolve, so point them at this build.
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/srv/modelgate/build/modelgate", str(BIN))
        text = text.replace("/srv/modelgate", str(tmp_path))
        text = re.sub(r"^(User|Group)=.*$", r"\1=root", text, flags=re.M)
        (tmp_path / unit.name).write_text(text)
    (tmp_path / "configs" / "security" / "reports").mkdir(parents=True)
    units = sorted(str(p) for p in tmp_path.glob("modelgate-nightly.*"))
    assert len(units) == 2
    proc = subprocess.run([analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    # verify also prints what it ignores (a setting that has no effect) with exit 0: none allowed.
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_systemd_service_treats_verdicts_as_success_and_stops_with_sigterm():
    text = (DEPLOY / "systemd" / "modelgate-nightly.service").read_text()
    settings = dict(re.findall(r"^(\w+)=(.*)$", text, flags=re.M))
    assert settings["SuccessExitStatus"].split() == ["1", "2"]
    assert settings["KillSignal"] == "SIGTERM"
    assert int(settings["TimeoutStopSec"]) >= 60
    start = settings["TimeoutStartSec"]
    assert start.endswith("min") and int(start[:-3]) * 60 > _budget_seconds(settings["ExecStart"])
    timer = (DEPLOY / "systemd" / "modelgate-nightly.timer").read_text()
    assert "Unit=modelgate-nightly.service" in timer and "Persistent=true" in timer


# ================================================================== cron
def _cron_entry():
    lines = [l for l in (DEPLOY / "cron" / "modelgate.cron").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    env = dict(l.split("=", 1) for l in lines if re.match(r"^[A-Z]+=", l))
    (entry,) = [l for l in lines if not re.match(r"^[A-Z]+=", l)]
    return env, entry.split(None, 6)


def test_cron_entry_is_a_system_crontab_line_without_external_flock():
    env, fields = _cron_entry()
    assert len(fields) == 7, fields
    minute, hour, day, month, weekday, user, command = fields
    for value, low, high in ((minute, 0, 59), (hour, 0, 23)):
        assert value.isdigit() and low <= int(value) <= high
    assert (day, month, weekday) == ("*", "*", "*")
    assert user == "modelgate"
    assert "flock" not in command and "--budget" in command
    assert env["SHELL"] == "/bin/sh"


def test_cron_command_runs_under_cron_environment_and_its_mail_reads_well(tmp_path, demo):
    env, fields = _cron_entry()
    command = fields[6]
    # The entry's own command with this checkout in place of /srv/modelgate: the same options,
    # run by /bin/sh with cron's environment and no terminal.
    root = tmp_path / "srv"
    (root / "build").mkdir(parents=True)
    (root / "build" / "modelgate").symlink_to(BIN)
    job = write_job(tmp_path, job_text(demo["model"], demo["npz"], [{"type": "fgsm", "epsilon": 0.03}],
                                       job_extra={"reports": {"format": "json",
                                                              "location": str(tmp_path / "reports")}}))
    (root / "configs").mkdir()
    shutil.copy(job, root / "configs" / "nightly.yaml")
    command = command.replace("/srv/modelgate", str(root)).replace("validate configs/nightly.yaml",
                                                                  "validate configs/nightly.yaml --device cpu")
    cron_env = {"SHELL": env["SHELL"], "PATH": env["PATH"], "HOME": str(tmp_path), "LOGNAME": "modelgate"}
    proc = subprocess.run([env["SHELL"], "-c", command], capture_output=True, text=True, timeout=600,
                          env=cron_env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mail = proc.stdout + proc.stderr
    # What cron mails: plain lines, no terminal control (no bar redraws, no colours).
    assert "\r" not in mail and "\x1b" not in mail
    assert "verdict" in mail.lower() and len(list((tmp_path / "reports").glob("*.json"))) == 1
    assert len(mail.splitlines()) < 40
