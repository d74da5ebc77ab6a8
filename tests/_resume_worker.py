"""A tiny training run that can kill itself after an epoch; the resume tests start it twice.

Usage: python _resume_worker.py MODELS BACKUP_ROOT OUT_DIR KILL_AFTER_EPOCH [EPOCHS]
MODELS is a comma-separated list of "classifier" (compile/fit) and "gan" (a custom train_step
with two optimizers and a SeedGenerator); each run writes OUT_DIR/<model>.npz.
KILL_AFTER_EPOCH = 0 runs to the end. Killing uses SIGKILL, as a dying
kernel would: no cleanup, no exception handlers.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from genclass_utils import config, data, training  # noqa: E402

keras.config.disable_interactive_logging()


class Killer(keras.callbacks.Callback):
    """SIGKILL this process at the end of an epoch, after the backup was written."""

    def __init__(self, after_epoch: int):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after_epoch:
            os.kill(os.getpid(), signal.SIGKILL)


@keras.saving.register_keras_serializable(package="genclass_tests")
class TinyGAN(keras.Model):
    """A GAN-shaped model: two networks, two optimizers built in compile, a SeedGenerator."""

    def __init__(self, latent_dim: int = 4, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.generator = keras.Sequential([keras.Input((latent_dim,)),
                                           keras.layers.Dense(8, activation="relu"),
                                           keras.layers.Dense(16, activation="sigmoid")],
                                          name="generator")
        self.discriminator = keras.Sequential([keras.Input((16,)),
                                               keras.layers.Dense(8, activation="relu"),
                                               keras.layers.Dropout(0.3),
                                               keras.layers.Dense(1)], name="discriminator")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_tracker = keras.metrics.Mean(name="d_loss")
        self.g_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        # Built here, so that a resumed run can load their saved state before the first step.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return [self.d_tracker, self.g_tracker]

    def train_step(self, real):
        import tensorflow as tf

        n = tf.shape(real)[0]
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        z = keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            lr = self.discriminator(real, training=True)
            lf = self.discriminator(fake, training=True)
            d_loss = bce(tf.ones_like(lr), lr) + bce(tf.zeros_like(lf), lf)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        z = keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            lf = self.discriminator(self.generator(z, training=True), training=True)
            g_loss = bce(tf.ones_like(lf), lf)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_tracker.update_state(d_loss)
        self.g_tracker.update_state(g_loss)
        return {"d_loss": self.d_tracker.result(), "g_loss": self.g_tracker.result()}


def build(kind: str):
    """Return (model, train dataset) for the tiny run."""
    rng = np.random.default_rng(0)
    if kind == "classifier":
        x = rng.random((96, 8, 8, 1), dtype=np.float32)
        y = rng.integers(0, 4, 96)
        model = keras.Sequential([keras.Input((8, 8, 1)),
                                  keras.layers.Conv2D(4, 3, activation="relu"),
                                  keras.layers.Flatten(),
                                  keras.layers.Dropout(0.3),
                                  keras.layers.Dense(4, activation="softmax")], name="tiny_clf")
        model.compile(optimizer=keras.optimizers.Adam(1e-2),
                      loss="sparse_categorical_crossentropy")
        return model, data.make_dataset(x, y, batch_size=16, seed=0)
    x = rng.random((96, 16), dtype=np.float32)
    model = TinyGAN(name="tiny_gan")
    model.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    return model, data.make_dataset(x, batch_size=16, seed=0)


def all_state(model) -> dict[str, np.ndarray]:
    """Return every variable of the model and of the optimizers it trains with, keyed by path."""
    out = {}
    names = ("d_optimizer", "g_optimizer") if hasattr(model, "g_optimizer") else ("optimizer",)
    for attr in names:
        for i, v in enumerate(getattr(model, attr).variables):
            out[f"{attr}:{i:03d}"] = np.asarray(v)
    for i, v in enumerate(model.variables):
        out[f"model:{i:03d}"] = np.asarray(v)
    return out


def main(argv: list[str]) -> int:
    kinds, backup_root, out, kill_after = argv[0].split(","), argv[1], Path(argv[2]), int(argv[3])
    epochs = int(argv[4]) if len(argv) > 4 else 4
    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        config.seed_everything(0)
        model, ds = build(kind)
        cfg = SimpleNamespace(artifacts_dir=backup_root, dataset="toy")
        extra = [Killer(kill_after)] if kill_after else []
        cbs = training.callbacks(cfg, kind, resumable=True, train_data=ds, extra=extra)
        history = model.fit(ds, epochs=epochs, callbacks=cbs, verbose=0)
        state = all_state(model)
        state["epochs_run"] = np.array(len(next(iter(history.history.values()))))
        np.savez(out / f"{kind}.npz", **state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
