"""Hostile input, third round: the independent sweep's failures, each one refused in one sentence.

Hangs (FIFOs), allocations announced by a header, silent wrong results, foreign exceptions
and leftovers. Everything here runs without TensorFlow except the two tests marked slow.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from genclass_utils import data, experiments, files, gluecheck, metrics, nbcheck, overview, report
from genclass_utils.__main__ import main as cli
from genclass_utils.errors import (
    ConfigError,
    DataError,
    GenclassError,
    InputError,
    OutputError,
    StoreError,
)
from genclass_utils.labels import images as label_images
from genclass_utils.labels.store import LabelStore

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OK = np.random.default_rng(0).normal(size=(20, 3))


@pytest.fixture
def no_hang():
    """Fail (instead of hanging forever) when a test blocks for more than 10 s."""
    def boom(*_):
        raise TimeoutError("blocked: a FIFO was opened")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def nb_file(path: Path, markdown: str) -> Path:
    """Write a one-cell notebook with the given markdown; return its path."""
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": markdown}]}))
    return path


# ============================================================================= hangs: FIFOs

def test_fifos_in_scanned_folders_are_skipped(tmp_path, no_hang):
    os.mkfifo(tmp_path / "x.ipynb")
    nb_file(tmp_path / "ok.ipynb", "no numbers here")
    assert [p.name for p in gluecheck.notebooks_in([str(tmp_path)])] == ["ok.ipynb"]
    assert [p.name for p in nbcheck.notebooks_in([str(tmp_path)])] == ["ok.ipynb"]
    assert gluecheck.check([str(tmp_path)], None) == []


def test_gluecheck_fifo_allow_list_and_empty_folder(tmp_path, no_hang):
    os.mkfifo(tmp_path / "allow.toml")
    with pytest.raises(ConfigError, match="regular TOML file"):
        gluecheck.load_allow(tmp_path / "allow.toml")
    os.mkfifo(tmp_path / "only.ipynb")
    with pytest.raises(InputError, match="no notebook found"):
        gluecheck.main([str(tmp_path)])
    assert nbcheck.main([str(tmp_path)]) == 1


# ============================================================================= gluecheck input

@pytest.mark.parametrize("text", [
    "[]", '{"cells": [1]}', '{"cells": "abc"}', '{"cells": [{"cell_type": "markdown", "source": 5}]}',
    '{"cells": [{"cell_type": "code", "source": "x", "outputs": [1]}]}',
    '{"cells": [{"cell_type": "code", "source": "x", "outputs": [{"metadata": 3}]}]}',
    "[" * 100000 + "]" * 100000,
])
def test_gluecheck_malformed_notebooks(tmp_path, text):
    (tmp_path / "m.ipynb").write_text(text)
    with pytest.raises(InputError, match="m.ipynb"):
        gluecheck.check_notebook(tmp_path / "m.ipynb")


def test_gluecheck_non_utf8_notebook(tmp_path):
    (tmp_path / "m.ipynb").write_bytes(b"\xff\xfe{")
    with pytest.raises(InputError, match="cannot read"):
        gluecheck.check_notebook(tmp_path / "m.ipynb")


@pytest.mark.parametrize("content", [b"\xff\xfe", b"allow = [1]\n", b'allow = "x"\n', None])
def test_gluecheck_malformed_allow_lists(tmp_path, content):
    path = tmp_path / "allow.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError):
        gluecheck.load_allow(path)


@pytest.mark.parametrize("markdown", [
    "accuracy {sup}`0.917`", "the rate is {abbr}`91.7% (accuracy)`", "we measured 91.7 percent",
    "a loss of 1.2e-3 after training", "a share of 12 per cent",
])
def test_gluecheck_flags_numbers_in_prose_roles_words_and_exponents(tmp_path, markdown):
    found = gluecheck.check_notebook(nb_file(tmp_path / "n.ipynb", markdown))
    assert len(found) == 1


@pytest.mark.parametrize("markdown", [
    "accuracy {glue:text}`acc:.3f`", "see {cite}`heusel2017`", "a learning rate of 1e-3",
    "version 2.21.0", "lr = 2.5e-4",
])
def test_gluecheck_still_exempts_glue_citations_and_constants(tmp_path, markdown):
    assert gluecheck.check_notebook(nb_file(tmp_path / "n.ipynb", markdown)) == []


def test_gluecheck_passes_the_book():
    assert gluecheck.check([str(ROOT / "notebooks")], ROOT / "notebooks" / "glue_allow.toml") == []


# ============================================================================= allocations

def forged_npz(path: Path, shape: tuple[int, ...]) -> Path:
    """Write an .npz whose images.npy header claims `shape` but holds 16 bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False,
                                               "shape": shape})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images.npy", buf.getvalue() + b"\0" * 16)  # the header starts with the magic
    return path


def test_npz_header_claiming_terabytes_is_refused_before_loading(tmp_path, monkeypatch):
    path = forged_npz(tmp_path / "bomb.npz", (10**9, 28, 28, 1))
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load was called"))
    with pytest.raises(InputError, match="claims shape"):
        label_images.read_npz(path)


def test_npz_larger_than_memory_is_refused(tmp_path, monkeypatch):
    from genclass_utils import sampling

    path = tmp_path / "big.npz"
    np.savez(path, images=np.zeros((50, 28, 28, 1), np.uint8))
    monkeypatch.setattr(sampling, "available_memory", lambda: 10_000)
    with pytest.raises(InputError, match="split the file"):
        label_images.read_npz(path)
    monkeypatch.undo()
    assert label_images.read_npz(path)[0].shape == (50, 28, 28, 1)


def test_png_decompression_bomb_is_an_input_error(tmp_path, monkeypatch):
    from PIL import Image

    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "b.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64 x 64 is over twice the limit
    with pytest.raises(InputError, match="too large"):
        label_images.read_image(tmp_path / "b.png")


def test_synthetic_labels_refuses_a_ratio_that_cannot_fit():
    with pytest.raises(InputError, match="lower the ratio"):
        experiments.synthetic_labels(np.array([0, 1, 1]), 1e12, 2)


@FAST
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4), st.binary(max_size=64))
@example(dims=[0, 2_815_166_072, 3_276_315_429], body=b"")  # no data, and dims no shape can hold
def test_parse_idx_never_trusts_its_header(dims, body):
    raw = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + body
    try:
        arr = data.parse_idx(raw)
    except DataError:
        return
    assert arr.shape == tuple(dims) and arr.size == len(body)


# ============================================================================= silent wrong results

@pytest.mark.parametrize("call", [
    lambda: metrics.frechet_distance(OK + 1j, OK),
    lambda: metrics.inside_manifold(OK, OK, np.full(20, np.nan)),
    lambda: metrics.inside_manifold(OK, OK, -np.ones(20)),
    lambda: metrics.sample_size_sensitivity(metrics.frechet_distance, OK, OK, sizes=(5,), repeats=-3),
    lambda: metrics.sample_size_sensitivity(metrics.frechet_distance, OK, OK, sizes=(5.7,)),
    lambda: metrics.mmd2_unbiased(OK * 1e120, OK),
    lambda: metrics.kernel_distance(OK, OK, subset_size=2.9),
    lambda: metrics.laplacian_variance(np.ones((2, 4, 4)) * (1 + 1j)),
    lambda: data.stratified_take(np.array([0, 1] * 10), 4, 0, pool=np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 3])),
    lambda: data.stratified_take(np.zeros((10, 2)), 3, 0),
    lambda: data.labeled_subset(np.array(["a", "b"] * 5), 2),
    lambda: data.check_labels(np.array([True, False]), 2),
    lambda: data.check_labels(np.array([2**63 + 5], np.uint64), 3),
    lambda: experiments.label_precision(np.array([0, 0, 0]), np.array([0])),
    lambda: experiments.select_confident(np.array([[5.0, -3.0], [2.0, 9.0]]), 0.9),
    lambda: experiments.agreeing(np.eye(2), np.array([0])),
    lambda: experiments.budget_steps(-1, 10, 5),
    lambda: experiments.small_validation(np.zeros((6, 2)), np.array([0, 0, 0, 1, 1, 1]) + 0.5, 1),
    lambda: experiments.mean_std([]),
])
def test_silent_wrong_results_are_refused(call):
    with pytest.raises(InputError):
        call()


def test_valid_calls_keep_their_results():
    y = np.array([0, 1] * 10)
    assert experiments.budget_steps(2, 10, 5) == 4
    assert experiments.label_precision(np.array([0, 1]), np.array([0, 0])) == 0.5
    assert len(data.stratified_take(y, 4, 0)) == 4
    assert metrics.kernel_distance(OK, OK, subset_size=10)["n_subsets"] == 2
    idx, lab = experiments.select_confident(np.array([[0.95, 0.05], [0.4, 0.6]]), 0.9)
    assert idx.tolist() == [0] and lab.tolist() == [0]


def test_label_store_refuses_a_string_of_classes_and_an_empty_file(tmp_path):
    with pytest.raises(InputError, match="list of names"):
        LabelStore(tmp_path / "s.sqlite", classes="ab")
    (tmp_path / "zero.sqlite").touch()
    with pytest.raises(StoreError, match="no label store"):
        LabelStore(tmp_path / "zero.sqlite", create=False)
    assert (tmp_path / "zero.sqlite").stat().st_size == 0


# ============================================================================= foreign exceptions

@FAST
@given(st.one_of(st.none(), st.text(max_size=3), st.integers(), st.lists(st.text(max_size=2), max_size=3),
                 st.lists(st.lists(st.integers(-5, 5), max_size=3), max_size=3),
                 st.complex_numbers(allow_nan=False, allow_infinity=False)))
def test_metrics_raise_only_the_packages_errors(junk):
    for call in (lambda: metrics.frechet_distance(junk, OK), lambda: metrics.knn_radii(junk),
                 lambda: metrics.check_covariance(junk), lambda: metrics.mmd2_unbiased(OK, junk),
                 lambda: metrics.kernel_distance(OK, OK, subset_size=junk),
                 lambda: metrics.memorisation_check(OK, OK, np.ones(3), quantile=junk)):
        try:
            call()
        except GenclassError:
            pass


@pytest.mark.parametrize("call", [
    lambda: data.parse_idx("abcd"), lambda: data.parse_idx(None), lambda: data.gunzip(None),
    lambda: data.train_val_split(None, np.zeros(9)), lambda: data.check_range(np.array(["a"]), 0, 1),
    lambda: data.check_labels(np.array(["1", "2"]), 3), lambda: data.check_labels(np.array([1]), "3"),
    lambda: data.labeled_subset(np.array([0.0, 1.0, np.nan] * 5), 1),
    lambda: experiments.make_imbalanced(np.zeros((6, 2)), np.array([0, 0, 0, 1, 1, 1]), 1, "0.5"),
    lambda: experiments.make_imbalanced(np.zeros((2, 2)), np.array([0, 0, 0, 1, 1, 1]), 1, 0.5),
    lambda: experiments.oversample(np.zeros((3, 2)), np.array([0, 0, 0, 1, 1, 1])),
    lambda: experiments.oversample(np.zeros((0, 2)), np.array([], int)),
    lambda: experiments.class_weights(np.array([])),
    lambda: experiments.synthetic_labels(np.array([0, 5]), 1.0, 2),
    lambda: experiments.synthetic_labels(np.array([0, 1]), 1.0, 0, balance="uniform"),
    lambda: experiments.synthetic_labels(np.array([-1, 0]), 1.0, 2),
    lambda: experiments.mean_std(["a"]), lambda: experiments.check_disjoint(["a"], ["a"]),
    lambda: experiments.agreeing(np.eye(2), np.array([0, 5])),
    lambda: experiments.budget_steps(1, 10, 0),
    lambda: files.atomic_write_text(None, "x"), lambda: files.atomic_write_text("", "x"),
    lambda: report.table([1, 2]), lambda: report.table("abc"), lambda: report.table({"a": 5}),
    lambda: report.table([{"a": 1.5}], floatfmt="q"), lambda: report.save_results("x", {}, None),
    lambda: overview.markdown(["cpu"]),
    lambda: label_images.content_hash(np.zeros((2, 2))),
    lambda: label_images.png_bytes(np.zeros((2, 2, 1))),
])
def test_foreign_exceptions_become_the_packages_errors(call):
    with pytest.raises(GenclassError):
        call()


@pytest.mark.parametrize("name,text", [
    ("bytes", b"abc"), ("int", 123), ("surrogate", "a\ud800b"), ("nul", "x"), ("long", "x"),
])
def test_atomic_write_text_refuses_bad_input_and_writes_nothing(tmp_path, name, text):
    dest = {"nul": tmp_path / "a\x00b.txt", "long": tmp_path / ("a" * 300 + ".txt")}.get(
        name, tmp_path / "out.txt")
    with pytest.raises((InputError, OutputError)):
        files.atomic_write_text(dest, text)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make", ["circular", "deep", "collision"])
def test_atomic_write_json_refuses_data_that_json_would_lose_or_loop_on(tmp_path, make):
    obj: object
    if make == "circular":
        obj = []
        obj.append(obj)
    elif make == "deep":
        obj = []
        for _ in range(5000):
            obj = [obj]
    else:
        obj = {1: "int", "1": "str"}
    with pytest.raises(InputError):
        files.atomic_write_json(tmp_path / "o.json", obj)
    assert list(tmp_path.iterdir()) == []


def test_results_nested_too_deeply_is_a_data_error(tmp_path):
    (tmp_path / "r.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(DataError, match="nested"):
        report.load_results(tmp_path / "r.json")


@pytest.mark.parametrize("name,content", [
    ("01_x.json", b"[1]"), ("06_evaluating_generators.json", b'{"metrics": {"generators": 5}}'),
    ("02_x.json", b'{"metrics": 3, "wall_seconds": "abc"}'),
    ("02_x.json", b'{"metrics": {}, "wall_seconds": "abc"}'), ("01_x.json", b"\xff\xfe"),
])
def test_overview_of_malformed_results_is_a_config_error(tmp_path, name, content):
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / name).write_bytes(content)
    with pytest.raises(ConfigError):
        overview.markdown("cpu", tmp_path)


# ============================================================================= command line

@pytest.mark.parametrize("command", ["gluecheck", "data", "overview", "run", "bench", "label"])
def test_every_command_reports_a_bad_argument_in_one_sentence(command, capsys):
    assert cli([command, "--no-such-option"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "usage:" not in err


def test_failed_first_label_add_leaves_no_store(tmp_path, capsys):
    db = tmp_path / "new.sqlite"
    bomb = forged_npz(tmp_path / "bomb.npz", (10**9, 28, 28, 1))
    assert cli(["label", "--db", str(db), "add", str(bomb), "--classes", "a,b"]) == 1
    assert "claims shape" in capsys.readouterr().err
    assert not db.exists() and not list(tmp_path.glob("new.sqlite*"))


def test_label_add_npz_refuses_channels_and_size(tmp_path, capsys):
    np.savez(tmp_path / "ok.npz", images=np.zeros((2, 28, 28, 1), np.uint8))
    assert cli(["label", "--db", str(tmp_path / "s.sqlite"), "add", str(tmp_path / "ok.npz"),
                "--classes", "a,b", "--channels", "3"]) == 2
    assert "--channels" in capsys.readouterr().err
    assert not (tmp_path / "s.sqlite").exists()


def test_sample_creates_no_folder_for_a_model_that_fails_to_load(tmp_path, capsys):
    (tmp_path / "m.keras").write_text("not a model")
    out = tmp_path / "new" / "sub" / "x.npz"
    assert cli(["sample", "--model", str(tmp_path / "m.keras"), "--out", str(out)]) == 1
    assert not (tmp_path / "new").exists()


@pytest.mark.slow  # imports TensorFlow (the test itself is fast)
def test_generate_refuses_a_model_whose_output_is_not_images():
    import keras

    from genclass_utils import sampling

    z = keras.Input((4,))
    flat = keras.Model(z, keras.layers.Dense(10, activation="sigmoid")(z))
    with pytest.raises(InputError, match="not images"):
        sampling.generate(flat, 3)


@pytest.mark.slow  # imports TensorFlow (the test itself is fast)
def test_predict_over_mixed_sizes_is_one_error_and_leaves_no_model_row(tmp_path):
    import keras

    store = LabelStore(tmp_path / "s.sqlite", classes=["a", "b"])
    store.add_arrays(np.zeros((2, 28, 28, 1), np.uint8))
    store.add_arrays(np.full((1, 32, 32, 3), 7, np.uint8))
    x = keras.Input((28, 28, 1))
    clf = keras.Model(x, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x)))
    with pytest.raises(InputError, match="has shape"):
        store.predict(clf, progress=False)
    store.close()
    with sqlite3.connect(tmp_path / "s.sqlite") as c:
        assert c.execute("SELECT COUNT(*) FROM models").fetchone()[0] == 0


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_review_export_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch, suffix):
    import errno

    from genclass_utils.labels import exchange

    store = LabelStore(tmp_path / "s.sqlite", classes=["a", "b"])
    ids = store.add_arrays(np.arange(3 * 16, dtype=np.uint8).reshape(3, 4, 4, 1))
    queue = {"image_id": ids, "sha256": np.array(["h"] * 3), "source": np.array(["x"] * 3),
             "predicted": np.zeros(3, np.int64), "confidence": np.full(3, 0.5), "model": "m"}
    real, calls = exchange.atomic_write_text, []

    def full_after_one(dest, text):
        calls.append(dest)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(dest, text)
    monkeypatch.setattr(exchange, "atomic_write_text", full_after_one)
    if suffix == ".csv":
        monkeypatch.setattr(exchange, "atomic_write_text", lambda d, t: (_ for _ in ()).throw(
            OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(StoreError, match="space"):
        exchange.write_review(store, tmp_path / f"review{suffix}", queue)
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]
    with pytest.raises(InputError, match=">= 1"):
        LabelStore(tmp_path / "s.sqlite").history(-1)
