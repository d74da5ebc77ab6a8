"""Benchmark bookkeeping, FLOP counts and the hardening demonstrations."""

from __future__ import annotations

import numpy as np
import pytest

from genclass_utils import bench, robustness
from genclass_utils.errors import ConfigError


def test_forward_flops_counts_conv_and_dense():
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 2))
    x = layers.Conv2D(4, 3, padding="same")(inp)
    out = layers.Dense(5)(layers.Flatten()(x))
    model = keras.Model(inp, out)
    assert bench.forward_flops(model) == 2 * 8 * 8 * 9 * 2 * 4 + 2 * 256 * 5
    assert bench.train_flops_per_image(model) == 3 * bench.forward_flops(model)


def test_mixed_precision_is_skipped_not_faked_without_gpu():
    s = bench.Setting("mixed_float16", precision="mixed_float16")
    row = bench.measure("cnn", bench.cnn_factory, s, np.zeros((8, 28, 28, 1), np.float32),
                        np.zeros(8, np.int64), steps=1, runs=1, gpu=False)
    assert row["images_per_s"] is None and row["status"].startswith("skipped")


def test_speedup_needs_measured_rows():
    rows = [{"model": "cnn", "name": "default", "images_per_s": 30.0},
            {"model": "cnn", "name": "naive", "images_per_s": 10.0}]
    assert bench.speedup(rows, "cnn") == pytest.approx(3.0)
    with pytest.raises(ConfigError):
        bench.speedup(rows, "gan")


@pytest.mark.slow
def test_bench_measures_a_positive_rate():
    rows = bench.run(quick=True, models=("cnn",), n_images=256, steps=1, runs=1)
    measured = [r for r in rows if r["status"] == "ok"]
    assert measured and all(r["images_per_s"] > 0 for r in measured)
    few = bench.run(quick=True, models=("cnn",), n_images=256, steps=1, runs=1, n_settings=3)
    assert [r["name"] for r in few] == ["default", "naive", "jit_on"]


def test_lambda_model_is_refused():
    out = robustness.lambda_model_refused()
    assert out["refused"] and out["error"] == "ArtifactError"


def test_tampered_copy_is_detected_and_original_untouched(tmp_path):
    import hashlib

    f = tmp_path / "labels.gz"
    f.write_bytes(bytes(range(256)) * 4)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    out = robustness.tampered_file_detected(f, f.name, {"sha256": digest})
    assert out["detected"]
    assert hashlib.sha256(f.read_bytes()).hexdigest() == digest


def test_bad_inputs_are_rejected_and_valid_accepted():
    out = robustness.bad_inputs(channels=1)
    assert out.pop("valid uint8") == "accepted"
    assert all(v.startswith("InputError") for v in out.values()), out


def test_fgsm_stays_in_range_and_moves_by_eps():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((4, 4, 1))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp)))
    x = np.random.default_rng(0).random((10, 4, 4, 1), dtype=np.float32)
    y = np.arange(10) % 3
    xa = robustness.fgsm(model, x, y, 0.1)
    assert xa.min() >= 0 and xa.max() <= 1
    assert np.abs(xa - x).max() <= 0.1 + 1e-6
    acc = robustness.accuracy_vs_eps(model, x, y, (0.0, 0.3))
    assert set(acc) == {0.0, 0.3}
