"""Bad input and faults: each ends in one clear error from genclass_utils.errors, and nothing
is lost or left half-written. book/setup.md ("What happens when things go wrong") lists these
conditions; CASES below maps each row of that table to its test.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import idx_bytes, write_gz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import genclass_utils as gu
from genclass_utils import artifacts, data, evaluator, files, metrics, sampling, training
from genclass_utils.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    GenclassError,
    InputError,
    TrainingError,
)

PACKAGE = Path(gu.__file__).parent

# ----------------------------------------------------------------------------- helpers


def tiny_classifier(name="tiny_clf", lam=False):
    """Return a small compiled classifier with an 'embedding' layer (an Evaluator accepts it)."""
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Flatten()(inp)
    if lam:
        x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    x = keras.layers.Dense(4, activation="relu", name="embedding")(x)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name=name)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return model


def tiny_generator(conditional=False, latent=3, n_classes=4, nan=False):
    """Return a generator that follows the course's contract (z [, label] -> images in [0, 1])."""
    z = keras.Input((latent,), name="z")
    inputs, h = [z], z
    if conditional:
        lab = keras.Input((), dtype="int32", name="label")
        inputs.append(lab)
        h = keras.layers.Concatenate()([z, keras.layers.Embedding(n_classes, 2)(lab)])
    h = keras.layers.Dense(16, activation="sigmoid")(h)
    if nan:
        h = keras.layers.Rescaling(float("inf"))(h)
        h = keras.layers.Rescaling(0.0)(h)  # inf * 0 = NaN
    out = keras.layers.Reshape((4, 4, 1))(h)
    return keras.Model(inputs, out, name="gen")


class Cfg:
    """The two fields of RunConfig that artifacts and training use."""

    def __init__(self, root: Path):
        self.artifacts_dir = root
        self.root = root
        self.dataset = "toy"


# ============================================================================= data files


def test_gz_that_is_not_gzip(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(idx_bytes(np.zeros((2, 28, 28), np.uint8)))  # raw IDX, never compressed
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*not a valid gzip"):
        data.gunzip(p)


def test_empty_gz_file(tmp_path):
    p = tmp_path / "empty.gz"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty.gz"):
        data.parse_idx(data.gunzip(p), str(p))


def test_idx_header_truncated():
    raw = idx_bytes(np.zeros((3, 4, 4), np.uint8))[:9]  # magic + 1 of 3 dims
    with pytest.raises(DataError, match="truncated IDX header"):
        data.parse_idx(raw, "h.idx")


def test_idx_too_short():
    with pytest.raises(DataError, match="too short"):
        data.parse_idx(b"\x00\x00", "s.idx")


def test_idx_body_longer_than_header_says():
    raw = idx_bytes(np.zeros((2, 3), np.uint8)) + b"\x00" * 5
    with pytest.raises(DataError, match="announces dims"):
        data.parse_idx(raw, "long.idx")


def test_images_and_labels_files_swapped(tmp_path):
    xi = write_gz(tmp_path / "i.gz", idx_bytes(np.zeros((5, 28, 28), np.uint8)))
    yi = write_gz(tmp_path / "l.gz", idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="dimensions"):
        data.read_idx_pair(yi, xi)


def test_missing_data_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        data.gunzip(tmp_path / "nope.gz")


def test_file_changed_after_verification_is_checked_again(tiny_idx_dataset, manifest_for,
                                                         isolated_search, monkeypatch):
    folder, _ = tiny_idx_dataset
    manifest_for("mnist", folder)
    monkeypatch.setenv("GENCLASS_DATA", str(folder))
    data.find_files("mnist", allow_download=False)  # verified once, cached
    p = folder / "train-labels-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.ones(60, np.uint8))))
    os.utime(p, (1, 1))  # new size and mtime: the cache key changes
    with pytest.raises(DataError, match="checksum mismatch"):
        data.find_files("mnist", allow_download=False)


class _BrokenResponse:
    """A download that delivers one block, then loses the connection."""

    def __init__(self, payload: bytes):
        self.payload, self.sent = payload, False

    def read(self, n):
        if self.sent:
            raise ConnectionResetError(errno.ECONNRESET, "connection reset by peer")
        self.sent = True
        return self.payload[: len(self.payload) // 2]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_interrupted_download_leaves_nothing_and_next_run_starts_over(
        isolated_search, manifest_for, tiny_idx_dataset, monkeypatch):
    folder, _ = tiny_idx_dataset
    manifest_for("mnist", folder, mirror=folder.as_uri() + "/")
    target = isolated_search / "repo" / "data" / "mnist"
    real_urlopen = data.urllib.request.urlopen
    monkeypatch.setattr(data.urllib.request, "urlopen",
                        lambda url, timeout=None: _BrokenResponse(Path(url[7:]).read_bytes()))
    with pytest.raises(DataError, match="could not be downloaded.*connection reset"):
        data.find_files("mnist", allow_download=True)
    assert not target.exists() or list(target.iterdir()) == []  # no partial file anywhere
    monkeypatch.setattr(data.urllib.request, "urlopen", real_urlopen)
    found = data.find_files("mnist", allow_download=True)
    assert sorted(p.name for p in target.iterdir()) == sorted(found)


def test_disk_full_during_download(isolated_search, manifest_for, tiny_idx_dataset, monkeypatch):
    folder, _ = tiny_idx_dataset
    manifest_for("mnist", folder, mirror=folder.as_uri() + "/")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(data.os, "replace", full)
    with pytest.raises(DataError, match="No space left"):
        data.find_files("mnist", allow_download=True)
    target = isolated_search / "repo" / "data" / "mnist"
    assert list(target.iterdir()) == []


# ----------------------------------------------------------------------------- IDX fuzzing


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64), st.one_of(st.none(), st.integers(1, 3)))
def test_fuzz_parse_idx_random_bytes(raw, ndim):
    try:
        arr = data.parse_idx(raw, "fuzz", expect_ndim=ndim)
    except DataError:
        return
    assert arr.dtype == np.uint8 and arr.size == len(raw) - 4 - 4 * arr.ndim


@st.composite
def mutated_idx(draw):
    shape = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3))
    raw = bytearray(idx_bytes(np.zeros(shape, np.uint8)))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["flip", "cut", "add"]))
        if kind == "flip" and raw:
            i = draw(st.integers(0, len(raw) - 1))
            raw[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            raw = raw[: draw(st.integers(0, len(raw)))]
        else:
            raw += bytes(draw(st.binary(max_size=8)))
    return bytes(raw)


@settings(max_examples=200, deadline=None)
@given(mutated_idx())
def test_fuzz_parse_idx_mutated_headers(raw):
    try:
        arr = data.parse_idx(raw, "fuzz")
    except DataError:
        return
    assert arr.size == len(raw) - 4 - 4 * arr.ndim


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_idx(), mutated_idx(), st.booleans())
def test_fuzz_read_idx_pair_gz(tmp_path, images, labels, truncate_gz):
    xi = write_gz(tmp_path / "i.gz", images)
    yi = write_gz(tmp_path / "l.gz", labels)
    if truncate_gz:
        xi.write_bytes(xi.read_bytes()[:-5])
    try:
        x, y = data.read_idx_pair(xi, yi)
    except DataError:
        return
    assert x.ndim == 4 and len(x) == len(y) and x.dtype == np.uint8 and y.dtype == np.int64


# ============================================================================= names


def test_unknown_dataset_in_setup_lists_choices():
    with pytest.raises(ConfigError, match="choose one of: fashion_mnist, mnist, cifar10"):
        gu.setup(profile="smoke", dataset="svhn", quiet=True)


def test_unknown_profile_from_environment(monkeypatch):
    from genclass_utils import config

    monkeypatch.setenv("GENCLASS_PROFILE", "tpu")
    with pytest.raises(ConfigError, match="'tpu'.*smoke, cpu, gpu"):
        config.resolve_profile(None)


def test_unknown_scale_range():
    with pytest.raises(InputError, match="'unit' or 'symmetric'"):
        data.scale(np.zeros((1, 2, 2, 1), np.uint8), "zero_one")


# ============================================================================= arguments


def test_subset_larger_than_class_after_exclusion():
    y = np.repeat(np.arange(3), 10)
    with pytest.raises(InputError, match="class 1 has only 5"):
        data.labeled_subset(y, 6, exclude=np.arange(10, 15))


def test_subset_size_zero():
    with pytest.raises(InputError, match="at least 1"):
        data.labeled_subset(np.arange(3), 0)


def test_validation_split_larger_than_data():
    with pytest.raises(InputError, match="n_val"):
        data.train_val_split(np.zeros((10, 2, 2, 1), np.uint8), np.arange(10) % 2, n_val=10)


def test_labels_not_integers():
    with pytest.raises(InputError, match="integer class indices"):
        data.check_labels(np.array([0.0, 1.5]), 10)


def test_negative_labels():
    with pytest.raises(InputError, match="out of range"):
        data.check_labels(np.array([0, -1]), 10)


def test_make_dataset_images_and_labels_disagree():
    with pytest.raises(InputError, match="5 images but 4 labels"):
        data.make_dataset(np.zeros((5, 2, 2, 1), np.float32), np.zeros(4, np.int64))


def test_to_uint8_nan():
    with pytest.raises(InputError, match="NaN or Inf"):
        data.to_uint8(np.array([[np.nan]]))


@pytest.fixture(scope="module")
def ev():
    return evaluator.Evaluator(tiny_classifier("ev_clf"))


@pytest.mark.parametrize("images, match", [
    (np.zeros((2, 8, 8), np.uint8), "missing channel axis"),
    (np.zeros((2, 8, 8, 3), np.uint8), "1 channel"),
    (np.zeros((2, 10, 10, 1), np.uint8), r"shape \(N, 8, 8, 1\)"),
    (np.zeros((2, 8, 8, 1), np.uint16), "must be uint8"),
    (np.full((2, 8, 8, 1), 255.0, np.float32), r"\[0, 1\]"),
    (np.full((2, 8, 8, 1), np.nan, np.float32), "NaN or Inf"),
    (np.array([["a"]]), "4-D"),
    (np.zeros((0, 8, 8, 1), np.uint8), "empty"),
], ids=["no-channel-axis", "rgb-for-grey", "wrong-size", "uint16", "float-0-255", "nan",
        "strings", "empty"])
def test_evaluator_rejects_bad_images(ev, images, match):
    with pytest.raises(InputError, match=match):
        ev.predict(images)


def test_evaluator_accepts_uint8_and_unit_float(ev):
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 1), dtype=np.uint8)
    np.testing.assert_allclose(ev.predict(x), ev.predict(x / np.float32(255)), rtol=1e-5)


def test_sampler_conditional_without_labels():
    with pytest.raises(InputError, match="conditional: pass labels"):
        sampling.generate(tiny_generator(conditional=True), 4)


def test_sampler_labels_out_of_range():
    with pytest.raises(InputError, match=r"0\.\.3"):
        sampling.generate(tiny_generator(conditional=True), 2, labels=np.array([0, 4]))


def test_sampler_labels_wrong_length():
    with pytest.raises(InputError, match=r"shape \(4,\)"):
        sampling.generate(tiny_generator(conditional=True), 4, labels=np.zeros(3, int))


def test_sampler_labels_for_unconditional():
    with pytest.raises(InputError, match="unconditional"):
        sampling.generate(tiny_generator(), 2, labels=np.zeros(2, int))


def test_sampler_given_a_classifier():
    with pytest.raises(InputError, match="not a generator"):
        sampling.generate(tiny_classifier("not_gen"), 2)


def test_sampler_bad_count():
    with pytest.raises(InputError, match="at least 1"):
        sampling.generate(tiny_generator(), 0)


def test_sampler_generator_produces_nan():
    with pytest.raises(InputError, match="NaN or Inf"):
        sampling.generate(tiny_generator(nan=True), 2)


def test_sampler_contract_ok():
    out = sampling.generate(tiny_generator(conditional=True), 5, labels=sampling.cycle_labels(5, 4))
    assert out.shape == (5, 4, 4, 1) and out.dtype == np.uint8


# ----------------------------------------------------------------------------- metrics


def test_frechet_needs_two_samples():
    with pytest.raises(InputError, match="at least 2 samples"):
        metrics.frechet_distance(np.ones((1, 3)), np.ones((5, 3)))


def test_frechet_feature_sizes_disagree():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="do not match"):
        metrics.frechet_distance(rng.normal(size=(10, 2)), rng.normal(size=(10, 3)))


@pytest.mark.parametrize("which", ["mu", "sigma"])
def test_frechet_stats_nonfinite(which):
    mu, s = np.zeros(2), np.eye(2)
    bad_mu, bad_s = (np.array([0.0, np.inf]), s) if which == "mu" else (mu, np.full((2, 2), np.nan))
    with pytest.raises(InputError, match="NaN or Inf"):
        metrics.frechet_distance_from_stats(bad_mu, bad_s, mu, s)


def test_frechet_images_instead_of_features():
    with pytest.raises(InputError, match="2-D"):
        metrics.frechet_distance(np.zeros((4, 8, 8, 1)), np.zeros((4, 8, 8, 1)))


# ============================================================================= model files


def test_load_missing_model(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        artifacts.load_model(tmp_path / "dcgan_fashion_mnist.keras")


def test_load_corrupt_model(tmp_path):
    p = tmp_path / "m.keras"
    artifacts.save_model(tiny_classifier(), p)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])  # a copy cut short
    with pytest.raises(ArtifactError, match="corrupt"):
        artifacts.load_model(p)


def test_load_foreign_zip(tmp_path):
    p = tmp_path / "m.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hello.txt", "not a model")
    with pytest.raises(ArtifactError, match="could not be loaded"):
        artifacts.load_model(p)


def test_load_wrong_format(tmp_path):
    p = tmp_path / "m.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 32)
    with pytest.raises(ArtifactError, match="not a Keras .keras model"):
        artifacts.load_model(p)


def test_lambda_layer_is_refused_by_safe_mode(tmp_path):
    p = tmp_path / "lam.keras"
    tiny_classifier("with_lambda", lam=True).save(p)  # written by someone else
    with pytest.raises(ArtifactError, match="safe_mode"):
        artifacts.load_model(p)


def test_load_or_train_with_corrupt_file_says_how_to_retrain(tmp_path):
    cfg = Cfg(tmp_path)
    p = artifacts.path_for(cfg, "clf")
    p.write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match=r"Delete .*clf_toy.keras to train clf again"):
        artifacts.load_or_train("clf", cfg, lambda: pytest.fail("must not retrain silently"))


def test_load_or_train_roundtrip(tmp_path):
    cfg = Cfg(tmp_path)
    m = artifacts.load_or_train("clf", cfg, tiny_classifier)
    again = artifacts.load_or_train("clf", cfg, lambda: pytest.fail("should load"))
    for a, b in zip(m.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_each_seed_keeps_its_own_models(tmp_path):
    from genclass_utils import training

    cfg, other = Cfg(tmp_path), Cfg(tmp_path)
    other.seed = 1
    assert artifacts.path_for(cfg, "clf").name == "clf_toy.keras"  # seed 0: the course's names
    assert artifacts.path_for(other, "clf").name == "clf_toy_seed1.keras"
    assert training.backup_dir(other, "clf") != training.backup_dir(cfg, "clf")
    artifacts.load_or_train("clf", cfg, tiny_classifier)
    trained = []
    artifacts.load_or_train("clf", other, lambda: trained.append(1) or tiny_classifier())
    assert trained == [1]  # seed 1 trained its own instead of loading seed 0's


def test_unwritable_artifacts_dir_returns_model(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")  # root ignores chmod; this it cannot
    cfg = Cfg(blocker / "artifacts")
    with pytest.warns(artifacts.ArtifactWriteWarning, match="returned but was not saved"):
        m = artifacts.load_or_train("clf", cfg, tiny_classifier)
    assert isinstance(m, keras.Model)


def test_disk_full_while_saving_returns_model_and_leaves_no_file(tmp_path, monkeypatch):
    cfg = Cfg(tmp_path)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.warns(artifacts.ArtifactWriteWarning, match="No space left on device"):
        m = artifacts.load_or_train("clf", cfg, tiny_classifier)
    assert isinstance(m, keras.Model)
    assert list(tmp_path.iterdir()) == []  # neither the model nor its temp file


def test_interrupted_model_write_leaves_no_file(tmp_path, monkeypatch):
    model = tiny_classifier()
    real_save = keras.Model.save

    def dying_save(self, path, *a, **k):
        real_save(self, path, *a, **k)
        Path(path).write_bytes(Path(path).read_bytes()[:100])  # half written...
        raise KeyboardInterrupt  # ...when the kernel is interrupted

    monkeypatch.setattr(keras.Model, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        artifacts.save_model(model, tmp_path / "m.keras")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_json_write_keeps_old_file(tmp_path, monkeypatch):
    p = files.atomic_write_json(tmp_path / "r.json", {"acc": 0.9})

    def fail(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError):
        files.atomic_write_json(p, {"acc": 0.1})
    assert p.read_text().strip().endswith("}") and "0.9" in p.read_text()
    assert [q.name for q in tmp_path.iterdir()] == ["r.json"]


# ============================================================================= diverging loss


def test_huge_learning_rate_stops_classifier_naming_model_and_step():
    keras.utils.set_random_seed(0)  # the step at which it diverges depends on the initial weights
    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype(np.float32) * 100
    model = tiny_classifier("big_lr_clf")
    model.compile(optimizer=keras.optimizers.SGD(1e30), loss="sparse_categorical_crossentropy")
    cbs = training.callbacks(Cfg(Path("/nonexistent")), "big_lr_clf")
    with pytest.raises(TrainingError,
                       match=r"big_lr_clf: training diverged, loss = (nan|inf) at epoch \d+, step \d+\."):
        model.fit(x, np.arange(32) % 3, batch_size=8, epochs=2, shuffle=False, verbose=0,
                  callbacks=cbs)


def test_nan_training_images_are_refused_before_training():
    # A softmax classifier's clipped cross-entropy stays finite on NaN images, so the loss
    # alone would not reveal them: the data pipeline refuses them up front.
    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype(np.float32)
    x[20, 3, 3, 0] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        data.make_dataset(x, np.zeros(32, int))


class DivergingGAN(keras.Model):
    """A custom train_step whose generator loss becomes Inf at step 2."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.dense = keras.layers.Dense(1)
        self.tracker = keras.metrics.Mean(name="g_loss")
        self.steps = keras.Variable(0.0, trainable=False)

    @property
    def metrics(self):
        return [self.tracker]

    def train_step(self, x):
        self.steps.assign_add(1.0)
        loss = keras.ops.mean(self.dense(x)) * 0.0 + keras.ops.where(self.steps >= 2, np.inf, 1.0)
        self.tracker.update_state(loss)
        return {"g_loss": self.tracker.result()}


def test_inf_loss_stops_custom_train_step_model():
    model = DivergingGAN(name="dcgan")
    model.compile()
    with pytest.raises(TrainingError, match=r"dcgan: training diverged, g_loss = inf at epoch 1, step 2"):
        model.fit(np.ones((16, 3), np.float32), batch_size=4, epochs=1, verbose=0,
                  callbacks=training.callbacks(Cfg(Path("/nonexistent")), "dcgan"))


# ============================================================================= resume checks


class LazyGAN(keras.Model):
    """A GAN-shaped model that builds its own optimizer lazily, in the first train_step."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])

    def compile(self, g_optimizer):
        super().compile()
        self.g_optimizer = g_optimizer

    def train_step(self, x):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.mean(self.net(x) ** 2)
        grads = tape.gradient(loss, self.net.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.net.trainable_weights))
        return {"loss": loss}


def _lazy_gan():
    m = LazyGAN(name="lazy_gan")
    m.compile(g_optimizer=keras.optimizers.Adam(1e-3))
    return m


def test_resume_into_unbuilt_optimizer_is_refused(tmp_path):
    cfg, x = Cfg(tmp_path), np.ones((8, 3), np.float32)
    stop = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # the run is cut after epoch 1, leaving a backup
        _lazy_gan().fit(x, epochs=3, verbose=0,
                        callbacks=training.callbacks(cfg, "lazy", resumable=True, extra=[stop]))
    assert (training.backup_dir(cfg, "lazy") / "latest.weights.h5").exists()
    with pytest.raises(TrainingError, match="g_optimizer are not built"):
        _lazy_gan().fit(x, epochs=3, verbose=0,
                        callbacks=training.callbacks(cfg, "lazy", resumable=True))


def test_unreadable_backup_metadata(tmp_path):
    cfg = Cfg(tmp_path)
    d = training.backup_dir(cfg, "clf")
    d.mkdir(parents=True)
    (d / "latest.weights.h5").write_bytes(b"x")
    (d / "training_metadata.json").write_text("{not json")
    ds = data.make_dataset(np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, int), batch_size=2)
    with pytest.raises(TrainingError, match="unreadable.*delete the folder"):
        training.callbacks(cfg, "clf", resumable=True, train_data=ds)


# ============================================================================= security


def test_no_pickle_no_eval_in_package():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for pattern in (r"\bpickle\b", r"(?<![\w.])eval\(", r"\bexec\(", r"allow_pickle\s*=\s*True",
                        r"safe_mode\s*=\s*False"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(PACKAGE)}: {pattern}")
    assert not offenders, offenders


def test_every_error_is_a_genclass_error():
    for err in (DataError, ConfigError, InputError, ArtifactError, TrainingError):
        assert issubclass(err, GenclassError)


# ============================================================================= the report table

# Each row of book/setup.md's "What happens when things go wrong" names the test that backs it.
CASES = Path(__file__).resolve().parents[1] / "book" / "setup.md"


def test_every_row_of_the_table_names_an_existing_test():
    text = CASES.read_text()
    section = text.split("## What happens when things go wrong", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and "`test_" in r]
    named = [re.findall(r"`(test_\w+)`", r) for r in rows]
    assert len(rows) >= 25, f"only {len(rows)} rows"
    tests_dir = Path(__file__).parent
    defined = set()
    for f in tests_dir.glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", f.read_text(), re.M))
    missing = [n for names in named for n in names if n not in defined]
    assert not missing, f"the table names tests that do not exist: {missing}"
