"""Output paths are checked before anything runs (exit 3, one line naming the path, nothing
written): a directory, a FIFO, a device, a folder that takes no files, and outputs that are
inputs of the same run."""
import os
import shutil
import stat

import pytest

from test_cli import error_line, job_text, peak_rss_mb, run, write_job  # noqa: E402

FAST = [{"type": "fgsm", "epsilon": 0.03}]


def _job(tmp_path, demo):
    return write_job(tmp_path, job_text(demo["model"], demo["npz"], FAST,
                                        job_extra={"reports": {"format": "json",
                                                               "location": str(tmp_path / "reports")}}))


def _refused(proc, *needles):
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = error_line(proc)
    for n in needles:
        assert n in line, line
    # Refused before any evaluation: no progress line was printed.
    assert "clean" not in proc.stderr.replace(line, "")
    return line


def test_report_naming_a_directory_is_refused_before_the_run(tmp_path, demo):
    (tmp_path / "adir").mkdir()
    proc = run("validate", _job(tmp_path, demo), "--device", "cpu", "--report", tmp_path / "adir")
    _refused(proc, "adir", "a directory")
    assert not list((tmp_path / "adir").iterdir())


def test_report_naming_a_fifo_is_refused_and_the_fifo_stays(tmp_path, demo):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = run("validate", _job(tmp_path, demo), "--device", "cpu", "--junit", fifo)
    _refused(proc, "pipe", "a FIFO")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_report_naming_a_device_is_refused_and_the_device_stays(tmp_path, demo):
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    proc = run("validate", _job(tmp_path, demo), "--device", "cpu", "--report", node)
    _refused(proc, "a device")
    assert stat.S_ISCHR(os.stat(node).st_mode)


def test_report_folder_under_proc_is_refused_before_the_run(tmp_path, demo):
    proc = run("validate", _job(tmp_path, demo), "--device", "cpu", "--report", "/proc/modelgate/r.json")
    _refused(proc, "/proc")


def test_an_output_that_is_an_input_is_refused(tmp_path, demo):
    job = _job(tmp_path, demo)
    before = job.read_bytes()
    _refused(run("validate", job, "--device", "cpu", "--report", job), "input")
    assert job.read_bytes() == before
    model = tmp_path / "m.pt"
    shutil.copy(demo["model"], model)
    before = model.read_bytes()
    _refused(run("fingerprint", model, "--out", model), "input")
    assert model.read_bytes() == before
    # The same file under another name is still the same file.
    os.link(model, tmp_path / "alias.pt")
    _refused(run("fingerprint", model, "--out", tmp_path / "alias.pt"), "input")
    assert model.read_bytes() == before


def test_render_refuses_a_directory_output(tmp_path, demo):
    job = _job(tmp_path, demo)
    assert run("validate", job, "--device", "cpu", "--report", tmp_path / "r.json").returncode == 0
    (tmp_path / "d").mkdir()
    _refused(run("render", tmp_path / "r.json", "--html", tmp_path / "d"), "a directory")


# ================================================== NPY headers (hostile-input issue, in part)
def _npy(header_shape, data):
    import struct

    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % header_shape
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


@pytest.mark.parametrize("shape, needle", [
    ("-450, 1, 8, 8", "'-450' is not a non-negative integer"),
    ("12345678901234567890123, 1, 8, 8", "'12345678901234567890123'"),
    ("4294967296, 4294967296, 4294967296, 8", "overflows"),
    ("450, , 8, 8", "empty dimension"),
])
def test_npy_shapes_that_cannot_be_true_are_input_errors_naming_the_file(tmp_path, demo, shape, needle):
    import zipfile

    import numpy as np

    with np.load(demo["npz"]) as d:
        inputs, labels = d["inputs"], d["labels"]
    bad = tmp_path / "hostile.npz"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("inputs.npy", _npy(shape, inputs.tobytes()))
        buf = __import__("io").BytesIO()
        np.save(buf, labels)
        z.writestr("labels.npy", buf.getvalue())
    job = write_job(tmp_path, job_text(demo["model"], bad, FAST,
                                       job_extra={"reports": {"location": str(tmp_path / "reports")}}))
    proc = run("validate", job, "--device", "cpu")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = error_line(proc, "hostile.npz")
    assert needle in line, line
    # Nothing written: the report folder holds no file (the run's lock went with it).
    assert not list((tmp_path / "reports").glob("*")) if (tmp_path / "reports").exists() else True


# ====================================== .npz sizes are checked before allocation (hostile input)
def _labels_npy(n):
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.zeros(n, dtype=np.int64))
    return buf.getvalue()


def test_a_small_npz_declaring_a_huge_valid_array_is_refused_within_bounded_memory(tmp_path, demo):
    """2 GiB of zeros deflate to about 2 MB; with 450 labels the dataset cannot be right, and that
    is found from the two headers, before the 2 GiB are allocated."""
    import zipfile

    n = 2 ** 31 // (4 * 64)  # 8388608 samples of 1×8×8 float32: 2 GiB
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("inputs.npy", "w", force_zip64=True) as f:
            f.write(_npy(f"{n}, 1, 8, 8", b""))
            chunk = bytes(1 << 24)
            for _ in range(2 ** 31 // len(chunk)):
                f.write(chunk)
        z.writestr("labels.npy", _labels_npy(450))
    assert bomb.stat().st_size < 4 << 20
    small = tmp_path / "small.npz"
    with zipfile.ZipFile(small, "w") as z:
        z.writestr("inputs.npy", _npy("451, 1, 8, 8", bytes(451 * 256)))
        z.writestr("labels.npy", _labels_npy(450))
    rows = {}
    for name, data in (("bomb", bomb), ("small", small)):
        job = write_job(tmp_path, job_text(demo["model"], data, FAST), filename=f"{name}.yaml")
        rows[name] = peak_rss_mb("validate", job, "--device", "cpu", "--report", tmp_path / f"{name}.json")
    code, err, peak = rows["bomb"]
    assert code == 3 and "bomb.npz" in err and "8388608 inputs but 450 labels" in err, err
    assert peak - rows["small"][2] < 300, f"peak {peak:.0f} MB against {rows['small'][2]:.0f} MB for a small bad file"


def test_zip_headers_that_claim_more_than_deflate_can_give_are_refused(tmp_path, demo):
    import struct
    import zipfile

    import numpy as np

    with np.load(demo["npz"]) as d:
        inputs = d["inputs"]
    src = tmp_path / "honest.npz"
    with zipfile.ZipFile(src, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("inputs.npy", _npy("450, 1, 8, 8", inputs.tobytes()))
        z.writestr("labels.npy", _labels_npy(450))
    data = bytearray(src.read_bytes())
    # Claim 3 GiB uncompressed for inputs.npy in its local header and its central directory entry.
    for sig, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        at = 0
        while (at := data.find(sig, at)) >= 0:
            (name_len,) = struct.unpack_from("<H", data, at + name_len_at)
            if data[at + name_at:at + name_at + name_len] == b"inputs.npy":
                struct.pack_into("<I", data, at + size_at, 3 << 30)
            at += 4
    liar = tmp_path / "liar.npz"
    liar.write_bytes(bytes(data))
    job = write_job(tmp_path, job_text(demo["model"], liar, FAST))
    code, err, peak = peak_rss_mb("validate", job, "--device", "cpu", "--report", tmp_path / "r.json")
    assert code == 3 and "liar.npz" in err and "more than compression can give" in err, err
    assert not (tmp_path / "r.json").exists()
    # The baseline: the same job on a small file refused for its counts.
    small = tmp_path / "small.npz"
    with zipfile.ZipFile(small, "w") as z:
        z.writestr("inputs.npy", _npy("451, 1, 8, 8", bytes(451 * 256)))
        z.writestr("labels.npy", _labels_npy(450))
    job = write_job(tmp_path, job_text(demo["model"], small, FAST), filename="small.yaml")
    _, _, baseline = peak_rss_mb("validate", job, "--device", "cpu", "--report", tmp_path / "small.json")
    assert peak < baseline + 300, f"peak {peak:.0f} MB against {baseline:.0f} MB for a small bad file"


# ========================================= JSON nested too deeply (hostile-input issue, in part)
def test_json_nested_too_deeply_is_an_input_error_not_a_crash(tmp_path, demo):
    import torch

    deep = "[" * 100000 + "]" * 100000
    model = tmp_path / "deep_meta.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(64, 10)), str(model), _extra_files={"modelgate.json": deep})
    proc = run("inspect", model)
    assert proc.returncode == 3, proc.stderr
    assert "modelgate.json nests deeper than 256 levels" in error_line(proc, "deep_meta.pt")
    fp = tmp_path / "deep.json"
    fp.write_text('{"formatVersion": ' + deep + "}")
    proc = run("compare", fp, demo["model"])
    assert proc.returncode == 3 and "nests deeper than 256 levels" in error_line(proc, "deep.json")
    proc = run("render", fp, "--summary")
    assert proc.returncode == 3 and "nests deeper than 256 levels" in error_line(proc, "deep.json")
    # Signed in appearance, under --verify: refused before the signature's canonical form is built.
    assert run("keygen", "--out", tmp_path / "team").returncode == 0
    signed = tmp_path / "deep.signed.json"
    signed.write_text('{"signature": {"algorithm": "ed25519", "publicKey": "", "value": ""}, "formatVersion": ' + deep + "}")
    proc = run("compare", signed, demo["model"], "--verify", tmp_path / "team.pub")
    assert proc.returncode == 3 and "nests deeper than 256 levels" in error_line(proc, "deep.signed.json")
