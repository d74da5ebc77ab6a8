"""Short trainings run eagerly (training.eager_if_short): the same numbers as traced, without tracing."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from genclass_utils import training


def test_eager_only_up_to_the_threshold():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert training.eager_if_short(model, training.EAGER_STEPS) and model.run_eagerly
    assert not training.eager_if_short(model, training.EAGER_STEPS + 1) and not model.run_eagerly


def _cvae_weights(eager: bool) -> list[np.ndarray]:
    from genclass_utils.models import vae

    keras.utils.set_random_seed(3)
    x = np.random.default_rng(0).random((32, 28, 28, 1)).astype(np.float32)
    y = np.repeat(np.arange(4), 8).astype(np.int32)
    model = vae.build_vae((28, 28, 1), latent_dim=4, n_classes=4, warmup_steps=2, width=4, seed=3)
    model.run_eagerly = eager
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


def test_a_custom_train_step_gives_the_same_weights_eagerly_and_traced():
    eager, traced = _cvae_weights(True), _cvae_weights(False)
    assert len(eager) == len(traced)
    for a, b in zip(eager, traced):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not all(np.array_equal(a, b) for a, b in zip(eager, _initial()))


def _initial() -> list[np.ndarray]:
    from genclass_utils.models import vae

    keras.utils.set_random_seed(3)
    return vae.build_vae((28, 28, 1), latent_dim=4, n_classes=4, warmup_steps=2, width=4, seed=3).get_weights()


@pytest.mark.parametrize("steps, eager", [(3, True), (40, False)])
def test_cvae_trainer_traces_only_long_trainings(monkeypatch, steps, eager):
    from genclass_utils import experiments as ex

    seen = []
    orig = keras.Model.fit

    def spy(self, *a, **k):
        seen.append(self.run_eagerly)
        return orig(self, *a, **{**k, "epochs": 1, "steps_per_epoch": 1})  # keep the test short

    monkeypatch.setattr(keras.Model, "fit", spy)
    y = np.repeat(np.arange(10), 2)
    x = np.zeros((20, 28, 28, 1), np.uint8)
    ex.cvae_trainer(10, epochs=steps, batch_size=20, min_per_epoch=1, fitted_prior=False)(x, y, 0)
    assert seen == [eager]
