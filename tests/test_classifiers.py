"""Classifiers: output shapes, the article's parameter count, evaluation helpers, the evaluator's load-or-train."""

from __future__ import annotations

import numpy as np
import pytest

import genclass_utils as gu
from genclass_utils import data, evaluator
from genclass_utils.errors import ArtifactError, InputError
from genclass_utils.models import classifiers as C


@pytest.mark.parametrize("build", [C.cnn, C.small_cnn, C.rnn_classifier, C.evaluator_cnn])
def test_classifier_output_shapes(build):
    model = build((28, 28, 1), 10)
    probs = np.asarray(model(np.zeros((3, 28, 28, 1), np.float32), training=False))
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_small_cnn_has_no_batchnorm_and_works_on_cifar_shapes():
    model = C.small_cnn((32, 32, 3), 10)
    assert not any("BatchNormalization" in type(layer).__name__ for layer in model.layers)
    assert model.output_shape == (None, 10)


def test_article_cnn_parameter_count_matches_hand_count():
    model = C.article_cnn((224, 224, 3), 1000)
    widths, c_in, expected = (32, 64, 128, 256, 512), 3, 0
    for w in widths:
        expected += 9 * c_in * w + w + 4 * w  # conv kernel + bias, BN gamma/beta/mean/var
        c_in = w
    expected += 512 * 1000 + 1000
    assert model.count_params() == expected


def test_receptive_field_of_two_3x3_convs_and_a_pool():
    import keras

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)
    rf = C.receptive_field(keras.Model(inputs, x))
    assert [(r, j) for _, r, j in rf] == [(3, 1), (5, 1), (6, 2), (10, 4)]


def test_per_class_accuracy_and_confused_pairs():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 1, 2, 0, 2])
    np.testing.assert_allclose(C.per_class_accuracy(y_true, y_pred, 4)[:3], [1 / 3, 1.0, 2 / 3])
    assert np.isnan(C.per_class_accuracy(y_true, y_pred, 4)[3])
    assert C.most_confused_pairs(y_true, y_pred, 3, k=2) == [(0, 1, 2), (2, 0, 1)]
    with pytest.raises(InputError):
        C.per_class_accuracy(y_true, y_pred[:3], 3)


def test_rnn_rejects_unknown_cell():
    with pytest.raises(InputError, match="gru"):
        C.rnn_classifier(cell="transformer")


def test_train_classifier_learns_a_separable_toy_problem():
    cfg = gu.setup(profile="smoke", quiet=True)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 64)
    x = rng.uniform(0, 0.2, (128, 12, 12, 1)).astype(np.float32)
    x[y == 1, :6] += 0.7  # class 1: a bright top half
    model = C.train_classifier(x, y, cfg, epochs=15, lr=3e-3, verbose=0)
    assert np.mean(C.predict_labels(model, x) == y) >= 0.95
    with pytest.raises(InputError):
        C.train_classifier(x * 4, y, cfg, epochs=1)


@pytest.fixture
def tiny_evaluator_env(tmp_path, monkeypatch):
    """A smoke cfg whose artifacts go to tmp and whose data are 200 tiny random images."""
    monkeypatch.setenv("GENCLASS_ARTIFACTS", str(tmp_path))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (240, 28, 28, 1), dtype=np.uint8)
    y = np.tile(np.arange(10), 24)
    splits = data.Splits(x[:200], y[:200], x[200:], y[200:], np.arange(200), np.arange(200, 240))
    monkeypatch.setattr(data, "load_splits", lambda cfg, n_val=None: splits)
    return gu.setup(profile="smoke", quiet=True), x


@pytest.mark.slow
def test_evaluator_trains_when_missing_then_loads(tiny_evaluator_env):
    cfg, x = tiny_evaluator_env
    path = gu.artifacts.path_for(cfg, "evaluator", "fashion_mnist")
    assert not path.exists()
    ev = evaluator.load_or_train("fashion_mnist", cfg)
    assert path.exists()
    assert ev.predict(x[:5]).shape == (5, 10)
    assert ev.embed(x[:5]).shape == (5, 128)
    again = evaluator.load_or_train("fashion_mnist", cfg)  # must load, not retrain
    np.testing.assert_allclose(again.predict(x[:5]), ev.predict(x[:5]), atol=1e-5)
    assert 0.0 <= again.accuracy(x[:20], np.tile(np.arange(10), 2)) <= 1.0


def test_evaluator_refuses_a_corrupt_file(tiny_evaluator_env):
    cfg, _ = tiny_evaluator_env
    path = gu.artifacts.path_for(cfg, "evaluator", "fashion_mnist")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a keras zip file")
    with pytest.raises(ArtifactError, match="corrupt"):
        evaluator.load_or_train("fashion_mnist", cfg)


def test_evaluator_rejects_out_of_range_images(tiny_evaluator_env):
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        evaluator.prepare_images(np.full((2, 28, 28, 1), 2.0, np.float32))
