"""The gpu profile's mixed precision: classifiers built under precision_scope train in float16
with float32 outputs and features, and a loss-scaled optimizer; every other run stays float32."""

from types import SimpleNamespace

import keras
import numpy as np

from genclass_utils import config
from genclass_utils.models import classifiers


def test_cpu_and_smoke_profiles_stay_float32():
    for name in ("cpu", "smoke"):
        assert config.precision_for(config.PROFILES[name]) == "float32"


def test_classifiers_built_in_the_scope_train_in_mixed_precision():
    cfg = SimpleNamespace(precision="mixed_float16")
    with config.precision_scope(cfg) as policy:
        assert policy == "mixed_float16"
        model = classifiers.evaluator_cnn((28, 28, 1), 10)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the block
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)
    hist = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    out = model(x[:4])
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out).sum(axis=1), 1.0, atol=1e-5)
    emb = model.get_layer("embedding")
    assert emb.compute_dtype == "float32"


def test_a_float32_run_builds_float32_models():
    with config.precision_scope(SimpleNamespace(precision="float32")):
        model = classifiers.small_cnn((28, 28, 1), 10)
    assert all(layer.compute_dtype == "float32" for layer in model.layers if layer.weights)
