"""Output paths are checked before anything runs (exit 3, one line naming the path, nothing
written): a directory, a FIFO, a device, a folder that takes no files, and outputs that are
inputs of the same run."""
import os
import shutil
import stat

import pytest

from test_cli import error_line, job_text, run, write_job  # noqa: E402

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
