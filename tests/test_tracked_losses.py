"""Models with their own train_step report real losses to fit (and so to NanGuard)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from genclass_utils import robustness, training
from genclass_utils.models import gan as G


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n).astype("int32")


def test_adversarial_training_tracks_a_finite_nonzero_loss():
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(10, activation="softmax")])
    model = robustness.adversarial_model(net, eps=0.1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data()
    hist = model.fit(x, y, batch_size=16, epochs=2, verbose=0,
                     callbacks=[training.NanGuard("adv")]).history
    loss = np.array(hist["loss"])
    # Ten classes at random: the cross-entropy starts near log(10) = 2.3, never at 0.
    assert np.isfinite(loss).all() and (loss > 0.5).all()
    assert 0.0 <= hist["accuracy"][-1] <= 1.0


@pytest.mark.slow
def test_gan_tracks_finite_nonzero_losses():
    x, _ = _data(32)
    gan = G.build_gan((28, 28, 1), seed=0, g_width=8, d_width=8)
    hist = gan.fit(x * 2 - 1, batch_size=8, epochs=1, verbose=0,
                   callbacks=[training.NanGuard("gan")]).history
    for key in ("d_loss", "g_loss"):
        assert np.isfinite(hist[key]).all() and (np.array(hist[key]) > 0).all()
    assert 0.0 < hist["d_real"][-1] < 1.0 and 0.0 < hist["d_fake"][-1] < 1.0
