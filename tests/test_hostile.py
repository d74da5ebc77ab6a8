"""Hostile input, second round: no silent wrong number, no raw traceback, no hang, no leftover."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest

from genclass_utils import data, files, metrics, nbcheck, report, sampling
from genclass_utils.__main__ import main as cli
from genclass_utils.errors import DataError, GenclassError, InputError, OutputError, UsageError

ROOT = Path(__file__).resolve().parents[1]


def tiny_generator(scale: float = 1.0, offset: float = 0.0, conditional: bool = False):
    """Return a generator z [, label] -> 4x4x1 images of sigmoid(.) * scale + offset."""
    z = keras.Input((3,), name="z")
    inputs, h = [z], z
    if conditional:
        lab = keras.Input((), dtype="int32", name="label")
        inputs.append(lab)
        h = keras.layers.Concatenate()([z, keras.layers.Embedding(4, 2)(lab)])
    h = keras.layers.Dense(16, activation="sigmoid")(h)
    h = keras.layers.Rescaling(scale, offset=offset)(h)
    out = keras.layers.Reshape((4, 4, 1))(h)
    return keras.Model(inputs if conditional else z, out, name="gen")


# ============================================================================= silent wrong results

def test_to_uint8_refuses_uint8_input():
    with pytest.raises(InputError, match="already 0..255"):
        data.to_uint8(np.full((1, 2, 2, 1), 128, np.uint8))


@pytest.mark.parametrize("values,source,hint", [
    ([-0.5, 0.5], "unit", "source='symmetric'"),
    ([0.0, 200.0], "unit", "divide by 255"),
    ([-2.0, 0.0], "symmetric", r"\[-1, 1\]"),
])
def test_to_uint8_refuses_out_of_range(values, source, hint):
    with pytest.raises(InputError, match=hint):
        data.to_uint8(np.array(values, np.float32), source)


def test_to_uint8_accepts_rounding_overshoot():
    out = data.to_uint8(np.array([1.0000001, -1e-7], np.float32))
    assert out.tolist() == [255, 0]


def test_sample_refuses_tanh_output_instead_of_clipping():
    with pytest.raises(InputError, match="export_generator"):
        sampling.generate(tiny_generator(scale=2.0, offset=-1.0), 4)


def test_sample_refuses_0_255_output():
    with pytest.raises(InputError, match=r"0\.\.255"):
        sampling.generate(tiny_generator(scale=255.0), 4)


def test_frechet_refuses_invalid_covariances():
    mu = np.zeros(2)
    good = np.eye(2)
    with pytest.raises(InputError, match="negative eigenvalue"):
        metrics.frechet_distance_from_stats(mu, -good, mu, -good)
    with pytest.raises(InputError, match="not symmetric"):
        metrics.frechet_distance_from_stats(mu, np.array([[1.0, 0.5], [0.0, 1.0]]), mu, good)
    with pytest.raises(InputError, match="do not match"):
        metrics.frechet_distance_from_stats(np.zeros(3), good, np.zeros(3), good)


def test_label_agreement_refuses_log_probabilities_and_empty():
    p = np.full((4, 3), 1 / 3)
    y = np.array([0, 1, 2, 0])
    assert metrics.label_agreement(p, y)["accuracy"] >= 0
    with pytest.raises(InputError, match="log-probabilities"):
        metrics.label_agreement(np.log(p), y)
    with pytest.raises(InputError, match="non-empty"):
        metrics.label_agreement(np.zeros((0, 3)), np.zeros(0, int))


def _stamped_nb(tmp_path: Path, name: str = "01_x.ipynb") -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="accuracy 0.81\n")]
    nb.metadata["genclass"] = {"profile": "cpu", "code_sha256": nbcheck.code_sha256(nb),
                               "outputs_sha256": nbcheck.outputs_sha256(nb)}
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_nbcheck_refuses_hand_edited_outputs(tmp_path):
    path = _stamped_nb(tmp_path)
    assert nbcheck.check_notebook(path) == []
    nb = json.loads(path.read_text())
    nb["cells"][0]["outputs"][0]["text"] = ["accuracy 0.95\n"]
    path.write_text(json.dumps(nb))
    assert any("outputs differ" in p for p in nbcheck.check_notebook(path))


def test_nbcheck_fingerprint_survives_reserialisation(tmp_path):
    path = _stamped_nb(tmp_path)
    nb = json.loads(path.read_text())
    nb["cells"][0]["outputs"][0]["text"] = "accuracy 0.81\n"  # a string instead of a line list
    path.write_text(json.dumps(nb, indent=4))
    assert nbcheck.check_notebook(path) == []


def test_nbcheck_stamp_without_fingerprint_must_rerun(tmp_path):
    path = _stamped_nb(tmp_path)
    nb = json.loads(path.read_text())
    del nb["metadata"]["genclass"]["outputs_sha256"]
    path.write_text(json.dumps(nb))
    assert any("no output fingerprint" in p for p in nbcheck.check_notebook(path))


def test_nbcheck_fails_on_a_folder_without_notebooks(tmp_path, capsys):
    assert nbcheck.main([str(tmp_path)]) == 1
    assert nbcheck.main([str(tmp_path / "nope")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


@pytest.fixture
def data_env(monkeypatch):
    monkeypatch.setattr(data, "_VERIFIED", set())
    return monkeypatch


def test_genclass_data_missing_folder(data_env, tmp_path):
    data_env.setenv("GENCLASS_DATA", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="GENCLASS_DATA"):
        data.find_files("fashion_mnist", allow_download=False)


def test_genclass_data_symlink_loop(data_env, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    data_env.setenv("GENCLASS_DATA", str(loop))
    with pytest.raises(DataError, match="GENCLASS_DATA"):
        data.find_files("fashion_mnist", allow_download=False)


def test_genclass_data_three_of_four_files(data_env, tmp_path):
    names = data.required_files("fashion_mnist")
    for n in names[:3]:
        (tmp_path / n).write_bytes(b"x")
    data_env.setenv("GENCLASS_DATA", str(tmp_path))
    with pytest.raises(DataError, match=f"3 of the 4 files.*{names[3]}"):
        data.find_files("fashion_mnist", allow_download=False)


def test_genclass_data_a_file_not_a_folder(data_env, tmp_path):
    (tmp_path / "f").write_text("x")
    data_env.setenv("GENCLASS_DATA", str(tmp_path / "f"))
    with pytest.raises(DataError, match="not a folder"):
        data.find_files("fashion_mnist", allow_download=False)


# ============================================================================= crashes and hangs

def test_sample_size_limit_is_checked_before_allocation(monkeypatch):
    monkeypatch.setattr(sampling, "available_memory", lambda: 1 << 20)  # 1 MiB machine
    called = []
    gen = tiny_generator()
    monkeypatch.setattr(gen, "predict", lambda *a, **k: called.append(1))
    with pytest.raises(InputError, match="sample in chunks of at most"):
        sampling.generate(gen, 1_000_000)
    assert not called


def test_sample_limit_scales_with_memory(monkeypatch):
    monkeypatch.setattr(sampling, "available_memory", lambda: 1 << 30)
    small = sampling.max_images((28, 28, 1), 64)
    monkeypatch.setattr(sampling, "available_memory", lambda: 1 << 34)
    assert sampling.max_images((28, 28, 1), 64) > 10 * small


@pytest.mark.parametrize("doc", [
    "[1, 2]", '{"cells": "abc"}', '{"cells": [1, {"cell_type": "code", "outputs": 5}]}',
    '{"cells": [{"cell_type": "code", "source": "x", "outputs": '
    '[{"output_type": "error", "ename": null, "evalue": null}]}]}',
    '{"metadata": {"genclass": "yes"}, "cells": []}', "{not json",
])
def test_nbcheck_reports_malformed_notebooks_and_goes_on(tmp_path, doc):
    (tmp_path / "01_bad.ipynb").write_text(doc)
    _stamped_nb(tmp_path, "02_good.ipynb")
    problems = [p for f in nbcheck.notebooks_in([str(tmp_path)])
                for p in nbcheck.check_notebook(f)]
    assert problems and all("01_bad" in p for p in problems)


def test_nbcheck_non_utf8_notebook(tmp_path):
    (tmp_path / "01_bad.ipynb").write_bytes(b'{"cells": ["\xff"]}')
    assert any("not UTF-8" in p for p in nbcheck.check_notebook(tmp_path / "01_bad.ipynb"))


# ============================================================================= one sentence, exit code

def test_output_path_that_is_a_folder(tmp_path):
    with pytest.raises(OutputError, match="existing folder"):
        files.atomic_write_text(tmp_path, "x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_output_path_in_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            files.atomic_write_text(ro / "x.json", "x")
    finally:
        ro.chmod(0o755)


def test_full_disk_is_an_output_error_and_leaves_nothing(tmp_path):
    with pytest.raises(OutputError, match="No space left"):
        with files.atomic_path(tmp_path / "x.npz") as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "3", True])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(InputError, match="seed"):
        sampling.generate(tiny_generator(), 2, seed=seed)
    with pytest.raises(InputError, match="seed"):
        data.labeled_subset(np.arange(20) % 2, 2, seed=seed)


@pytest.mark.parametrize("bs", [0, -5, 2.5])
def test_bad_batch_sizes_are_refused(bs):
    with pytest.raises(InputError, match="batch_size"):
        sampling.generate(tiny_generator(), 2, batch_size=bs)


def test_corrupt_results_file_names_the_file(tmp_path):
    p = tmp_path / "03_gan.json"
    p.write_text('{"metrics": {"fid": 1.')
    with pytest.raises(DataError, match="03_gan.json"):
        report.load_results(p)
    p.write_text("[1]")
    with pytest.raises(DataError, match="not a results record"):
        report.load_results(p)


def test_sklearn_errors_do_not_leak_from_subset_builders():
    y = np.r_[np.zeros(10, int), 1]  # class 1 has a single image
    with pytest.raises(InputError, match="every class at least twice"):
        data.stratified_take(y, 5, seed=0)
    with pytest.raises(InputError, match="exclude"):
        data.labeled_subset(np.arange(10) % 2, 1, exclude=[50])
    with pytest.raises(InputError, match="n must be"):
        data.stratified_take(np.arange(10) % 2, 0, seed=0)


@pytest.mark.parametrize("argv,code,text", [
    (["sample", "--model", "m.keras"], 2, "--out"),
    (["sample", "--model", "m.keras", "--out", "o.npz", "--seed", "x"], 2, "invalid int"),
    (["sample", "--model", "m.keras", "--out", "o.npz", "--seed", "-1"], 1, "seed"),
    (["sample", "--model", "m.keras", "--out", "o.npz", "--batch-size", "-4"], 1, "batch_size"),
    (["sample", "--model", "m.keras", "--out", "o.npz", "--n", "0"], 1, "--n"),
    (["sample", "--model", "missing.keras", "--out", "o.npz"], 1, "not found"),
])
def test_sample_command_errors_are_one_sentence(argv, code, text, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(argv) == code
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_sample_command_output_folder_checked_before_loading(tmp_path, capsys, monkeypatch):
    (tmp_path / "out.npz").mkdir()
    monkeypatch.setattr(sampling, "load_generator", lambda p: pytest.fail("loaded the model"))
    assert cli(["sample", "--model", "m.keras", "--out", str(tmp_path / "out.npz")]) == 1
    assert "existing folder" in capsys.readouterr().err


def test_unexpected_errors_are_one_sentence_without_traceback(capsys):
    from genclass_utils.__main__ import run_command

    def boom(args):
        raise KeyError("x")

    assert run_command(boom, []) == 1
    err = capsys.readouterr().err
    assert "unexpected KeyError" in err and "Traceback" not in err


def test_usage_error_is_a_genclass_error():
    assert issubclass(UsageError, GenclassError) and issubclass(OutputError, OSError)


# ============================================================================= leftovers, modes

def test_killed_write_leftover_is_removed_by_the_next_write(tmp_path):
    dest = tmp_path / "s.npz"
    # A writer killed with -9: its temp file stays, named with its (now dead) process id.
    code = ("import os, sys; from genclass_utils import files\n"
            "with files.atomic_path(sys.argv[1], suffix='.tmp.npz') as t:\n"
            "    t.write_bytes(b'half'); os.kill(os.getpid(), 9)\n")
    r = subprocess.run([sys.executable, "-c", code, str(dest)], env={**os.environ,
                       "PYTHONPATH": str(ROOT)}, capture_output=True)
    assert r.returncode == -9
    assert len(list(tmp_path.glob(".s.*"))) == 1 and not dest.exists()
    files.atomic_write_text(dest, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]


def test_live_writers_temp_file_is_left_alone(tmp_path):
    dest = tmp_path / "s.json"
    other = tmp_path / f".s.{os.getppid()}.abc.json.tmp"  # a live process's write in progress
    other.write_text("...")
    files.atomic_write_text(dest, "x")
    assert other.exists()


def test_replaced_file_keeps_its_mode(tmp_path):
    dest = tmp_path / "r.json"
    dest.write_text("{}")
    dest.chmod(0o640)
    files.atomic_write_json(dest, {"a": 1})
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640


def test_results_that_are_not_json_data_are_refused_before_writing(tmp_path):
    with pytest.raises(InputError, match="as JSON"):
        files.atomic_write_json(tmp_path / "r.json", {"model": object()})
    assert list(tmp_path.iterdir()) == []


def test_small_helpers_refuse_bad_counts():
    with pytest.raises(InputError, match="n_classes"):
        sampling.cycle_labels(5, 0)
    with pytest.raises(InputError, match="out of range"):
        data.class_counts(np.array([0, -1]), 3)
    with pytest.raises(InputError, match="batch_size"):
        data.make_dataset(np.zeros((4, 2, 2, 1), np.float32), batch_size=-1)
