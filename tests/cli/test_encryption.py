"""Encrypted models at rest (the seed's ModelStorageEncryption): `keygen --symmetric`, `encrypt`,
`decrypt`, and validate/scan of encrypted files, which are decrypted in memory, scanned and
loaded from memory, and never written out in plaintext.
"""
import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from test_cli import error_line, job_text, load_report, manifest, run, write_job  # noqa: E402
from test_scan import _target_state, corpus  # noqa: E402,F401  (the session fixture)

ATTACKS = [{"type": "fgsm", "epsilon": [0.03, 0.1]}]
TESTS = [{"type": "noise", "level": 0.1}]

# The seed's manifest, exactly as printed in the issue.
SEED_STORAGE_ENCRYPTION = """\
apiVersion: security.nootropic.ai/v1
kind: ModelStorageEncryption
metadata:
  name: nootropic-model-storage
spec:
  algorithm: aes-256-gcm
  keyManagement:
    type: local
    storage: ~/.nootropic/keys
  storage:
    type: local
    path: ~/.nootropic/models
    backup: enabled
"""


def _keygen(prefix):
    proc = run("keygen", "--symmetric", "--out", prefix)
    assert proc.returncode == 0, proc.stderr
    key = Path(f"{prefix}.key")
    lines = key.read_text().splitlines()
    assert lines[0] == "modelgate-symmetric-key v1" and lines[1] == "algorithm aes-256-gcm", lines
    raw = base64.b64decode(lines[3].removeprefix("key "))
    assert len(raw) == 32
    key_id = lines[2].removeprefix("id ")
    assert key_id == hashlib.sha256(raw).hexdigest()[:16]
    assert key_id in proc.stdout
    return key, key_id


def _encrypt(model, key, out):
    proc = run("encrypt", model, "--key", key, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return Path(out)


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _figures(report):
    (m,) = report["models"]
    return {"clean": m["clean"]["correct"],
            "adversarial": [(e["epsilon"], e["correct"]) for e in m["adversarial"]],
            "robustness": [(e["level"], e["correct"]) for e in m["robustness"]]}


def _runtime(isolation):
    return [manifest("ModelRuntimeProtection", "runtime", {"memory": {"isolation": isolation}})]


@pytest.fixture()
def keyed(tmp_path, demo):
    """A run folder with a key, the demo model encrypted with it, and the plaintext kept elsewhere."""
    run_dir = tmp_path / "run"
    (run_dir / "keys").mkdir(parents=True)
    (run_dir / "models").mkdir()
    key, key_id = _keygen(run_dir / "keys" / "a")
    enc = _encrypt(demo["model"], key, run_dir / "models" / "digits_cnn.pt.enc")
    return {"dir": run_dir, "key": key, "id": key_id, "enc": enc, "plain": Path(demo["model"])}


def test_keygen_writes_an_owner_only_key_and_never_replaces_it(tmp_path):
    key, _ = _keygen(tmp_path / "k")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not (tmp_path / "k.pub").exists()
    before = key.read_bytes()
    proc = run("keygen", "--symmetric", "--out", tmp_path / "k")
    assert proc.returncode == 3 and "already exists" in error_line(proc, key)
    assert key.read_bytes() == before
    # Without --symmetric, keygen still writes an Ed25519 pair.
    proc = run("keygen", "--out", tmp_path / "sign")
    assert proc.returncode == 0 and (tmp_path / "sign.pub").is_file(), proc.stderr


def test_encrypt_then_decrypt_gives_back_the_same_bytes(keyed, tmp_path):
    plain = keyed["plain"].read_bytes()
    enc = keyed["enc"].read_bytes()
    assert enc[:8] == b"MGENC\r\n\x1a" and enc[8] == 1
    assert enc[9:17].hex() == keyed["id"]
    assert len(enc) == 37 + len(plain) + 16
    assert plain[1000:1064] not in enc
    # A fresh nonce every time: the same model encrypts to other bytes.
    again = _encrypt(keyed["plain"], keyed["key"], tmp_path / "again.enc")
    assert again.read_bytes()[17:29] != enc[17:29] and again.read_bytes() != enc
    out = tmp_path / "decrypted.pt"
    proc = run("decrypt", keyed["enc"], "--key", keyed["key"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == plain
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert _sha(keyed["plain"]) in proc.stdout


def test_encrypt_and_decrypt_refuse_bad_input(keyed, tmp_path):
    key, enc = keyed["key"], keyed["enc"]
    before = enc.read_bytes()
    for cmd, src in (("encrypt", enc), ("decrypt", enc)):
        proc = run(cmd, src, "--key", key, "--out", src)  # the input itself
        assert proc.returncode == 3, proc.stderr
        error_line(proc, src)
    assert enc.read_bytes() == before
    proc = run("encrypt", enc, "--key", key, "--out", tmp_path / "twice.enc")
    assert proc.returncode == 3 and "already an encrypted model" in error_line(proc, enc)
    proc = run("decrypt", keyed["plain"], "--key", key, "--out", tmp_path / "x.pt")
    assert proc.returncode == 3 and "not an encrypted model" in error_line(proc)
    loose = tmp_path / "loose.key"
    loose.write_bytes(key.read_bytes())
    loose.chmod(0o644)
    proc = run("encrypt", keyed["plain"], "--key", loose, "--out", tmp_path / "y.enc")
    assert proc.returncode == 3 and "mode 644" in error_line(proc, loose)
    assert not (tmp_path / "y.enc").exists()


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_validate_an_encrypted_entry_gives_the_plaintext_model_s_figures(keyed, demo, tmp_path, isolation):
    plain_job = write_job(tmp_path, job_text(keyed["plain"], demo["npz"], ATTACKS, TESTS, extra_docs=_runtime(isolation)),
                          "plain.yaml")
    proc = run("validate", plain_job, "--device", "cpu", "--baseline", "none", "--report", tmp_path / "plain.json")
    assert proc.returncode == 0, proc.stderr
    plain = load_report(tmp_path / "plain.json", proc)

    models = [{"name": "digits-cnn", "path": "models/digits_cnn.pt.enc", "key": "keys/a.key"}]  # relative to the job
    job = write_job(keyed["dir"], job_text(keyed["enc"], demo["npz"], ATTACKS, TESTS, extra_docs=_runtime(isolation),
                                           job_extra={"models": models}))
    report = keyed["dir"] / "enc.json"
    proc = run("validate", job, "--device", "cpu", "--baseline", "none", "--report", report)
    assert proc.returncode == 0, proc.stderr
    doc = load_report(report, proc, {"digits-cnn": keyed["plain"]})  # sha256 is the plaintext's
    (m,) = doc["models"]
    assert m["sha256"] == _sha(keyed["plain"]) == plain["models"][0]["sha256"]
    assert m["encryption"] == {"algorithm": "aes-256-gcm", "keyId": keyed["id"], "keyFile": str(keyed["key"]),
                               "fileSha256": _sha(keyed["enc"])}
    assert m["scan"]["format"] == "TorchScript archive" and m["scan"]["graphsChecked"]
    assert m["scan"]["isolation"]["process"] is (isolation == "process")
    assert _figures(doc) == _figures(plain)
    assert f"encrypted, key id {keyed['id']}" in proc.stdout


def _assert_refused(proc, report, *words):
    assert proc.returncode == 3, proc.stderr
    line = error_line(proc)
    for w in words:
        assert str(w) in line, line
    assert not Path(report).exists()


def test_a_wrong_key_or_one_changed_byte_is_exit_3_and_writes_no_report(keyed, demo, tmp_path):
    other, other_id = _keygen(tmp_path / "other")
    report = keyed["dir"] / "r.json"
    models = [{"name": "digits-cnn", "path": str(keyed["enc"]), "key": str(other)}]
    job = write_job(keyed["dir"], job_text(keyed["enc"], demo["npz"], ATTACKS, job_extra={"models": models}))
    proc = run("validate", job, "--device", "cpu", "--report", report)
    _assert_refused(proc, report, keyed["enc"], keyed["id"], other_id)

    data = bytearray(keyed["enc"].read_bytes())
    for offset in (20, 37 + 5000, len(data) - 3):  # nonce, ciphertext, tag
        altered = keyed["dir"] / "models" / f"altered-{offset}.enc"
        data[offset] ^= 0x40
        altered.write_bytes(bytes(data))
        data[offset] ^= 0x40
        models = [{"name": "digits-cnn", "path": str(altered), "key": str(keyed["key"])}]
        job = write_job(keyed["dir"], job_text(altered, demo["npz"], ATTACKS, job_extra={"models": models}))
        proc = run("validate", job, "--device", "cpu", "--report", report)
        _assert_refused(proc, report, altered, "cannot decrypt: wrong key or the file was altered")

    truncated = keyed["dir"] / "models" / "truncated.enc"
    truncated.write_bytes(bytes(data[:-100]))
    models = [{"name": "digits-cnn", "path": str(truncated), "key": str(keyed["key"])}]
    job = write_job(keyed["dir"], job_text(truncated, demo["npz"], ATTACKS, job_extra={"models": models}))
    proc = run("validate", job, "--device", "cpu", "--report", report)
    _assert_refused(proc, report, truncated, "cut short")


def _files(root):
    return {p for p in Path(root).rglob("*") if p.is_file()}


def test_no_plaintext_touches_the_disk(keyed, demo, tmp_path):
    run_dir = keyed["dir"]
    tmp, home = run_dir / "tmp", run_dir / "home"
    tmp.mkdir()
    home.mkdir()
    models = [{"name": "digits-cnn", "path": str(keyed["enc"]), "key": str(keyed["key"])}]
    job = write_job(run_dir, job_text(keyed["enc"], demo["npz"], ATTACKS, TESTS, job_extra={"models": models},
                                      location="./reports"))
    shm_before = _files("/dev/shm") if Path("/dev/shm").is_dir() else set()
    before = _files(run_dir)
    env = {**os.environ, "TMPDIR": str(tmp), "HOME": str(home)}
    import subprocess

    from test_cli import BIN
    proc = subprocess.run([str(BIN), "validate", str(job), "--device", "cpu", "--baseline", "none"], cwd=run_dir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    added = _files(run_dir) - before
    assert added and all(p.parent == run_dir / "reports" and p.suffix == ".json" for p in added), added
    assert not any(tmp.iterdir()) and not any(home.iterdir())
    # Pieces of the plaintext from the start, the middle (weights) and the end: in no file here.
    plain = keyed["plain"].read_bytes()
    pieces = [plain[i:i + 64] for i in (0, len(plain) // 2, len(plain) - 64)]
    shm_added = (_files("/dev/shm") - shm_before) if Path("/dev/shm").is_dir() else set()
    for f in _files(run_dir) | shm_added:
        try:
            data = f.read_bytes()
        except OSError:
            continue
        for piece in pieces:
            assert piece not in data, f"{f} holds plaintext of the model"


def test_the_seed_manifest_finds_the_key_by_id_in_its_folder(keyed, demo, tmp_path):
    home = tmp_path / "home"
    keys = home / ".nootropic" / "keys"
    keys.mkdir(parents=True)
    job_doc = job_text(keyed["enc"], demo["npz"], ATTACKS, extra_docs=[SEED_STORAGE_ENCRYPTION.rstrip("\n")])
    job = write_job(tmp_path, job_doc)
    import subprocess

    from test_cli import BIN

    def validate(report):
        return subprocess.run([str(BIN), "validate", str(job), "--device", "cpu", "--baseline", "none", "--report", str(report)],
                              env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=300)

    # No key of that id in the folder yet (another key and an Ed25519 signing key are there): exit 3.
    _keygen(keys / "unrelated")
    assert run("keygen", "--out", keys / "signing").returncode == 0
    proc = validate(tmp_path / "r1.json")
    _assert_refused(proc, tmp_path / "r1.json", "digits-cnn", keyed["enc"], keyed["id"], keys, "none of the 1")

    (keys / "model.key").write_bytes(keyed["key"].read_bytes())
    (keys / "model.key").chmod(0o600)
    proc = validate(tmp_path / "r2.json")
    assert proc.returncode == 0, proc.stderr
    doc = load_report(tmp_path / "r2.json", proc, {"digits-cnn": keyed["plain"]})
    assert doc["models"][0]["encryption"]["keyFile"] == str(keys / "model.key")
    kinds = {(m["kind"], m["name"]): m["handled"] for m in doc["manifests"]}
    assert kinds[("ModelStorageEncryption", "nootropic-model-storage")] is True
    assert any("spec.storage" in w for w in doc["warnings"]), doc["warnings"]

    (keys / "model.key").chmod(0o640)
    proc = validate(tmp_path / "r3.json")
    _assert_refused(proc, tmp_path / "r3.json", keys / "model.key", "mode 640")


def test_keys_that_are_missing_misplaced_or_for_another_algorithm_are_input_errors(keyed, demo, tmp_path):
    report = tmp_path / "r.json"
    job = write_job(tmp_path, job_text(keyed["enc"], demo["npz"], ATTACKS))
    proc = run("validate", job, "--device", "cpu", "--report", report)
    _assert_refused(proc, report, "digits-cnn", keyed["enc"], keyed["id"], "spec.models[0].key")

    models = [{"name": "digits-cnn", "path": str(keyed["plain"]), "key": str(keyed["key"])}]
    job = write_job(tmp_path, job_text(keyed["plain"], demo["npz"], ATTACKS, job_extra={"models": models}))
    proc = run("validate", job, "--device", "cpu", "--report", report)
    _assert_refused(proc, report, "not an encrypted model")

    bad = SEED_STORAGE_ENCRYPTION.replace("aes-256-gcm", "aes-128-cbc").rstrip("\n")
    job = write_job(tmp_path, job_text(keyed["enc"], demo["npz"], ATTACKS, extra_docs=[bad]))
    proc = run("validate", job, "--device", "cpu", "--report", report)
    _assert_refused(proc, report, "spec.algorithm", "aes-128-cbc")

    proc = run("scan", keyed["enc"])
    assert proc.returncode == 3 and "encrypted model" in proc.stdout and keyed["id"] in proc.stdout, proc.stdout
    proc = run("scan", keyed["enc"], "--key", keyed["key"])
    assert proc.returncode == 0 and "verdict: pass" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["setstate_save.pt", "forward_save.pt", "pickle_os_system.pkl"])
def test_a_malicious_model_encrypted_is_still_blocked_by_the_scan(corpus, demo, tmp_path, name):
    before = _target_state(corpus["target"])
    key, _ = _keygen(tmp_path / "k")
    enc = _encrypt(corpus["dir"] / name, key, tmp_path / (name + ".enc"))
    proc = run("scan", enc, "--key", key)
    assert proc.returncode == 2 and "verdict: block" in proc.stdout, proc.stdout + proc.stderr
    models = [{"name": "suspect", "path": str(enc), "key": str(key)}]
    job = write_job(tmp_path, job_text(enc, demo["npz"], ATTACKS, job_extra={"models": models}))
    report = tmp_path / "r.json"
    proc = run("validate", job, "--device", "cpu", "--baseline", "none", "--report", report)
    assert proc.returncode == 2, proc.stderr
    (m,) = json.loads(report.read_text())["models"]
    assert m["scan"]["blocked"] and not m["scan"]["loaded"], m["scan"]
    assert m["sha256"] == _sha(corpus["dir"] / name)
    assert any(f["check"].startswith("scan/") and f["action"] == "block" for f in m["findings"]), m["findings"]
    assert _target_state(corpus["target"]) == before
