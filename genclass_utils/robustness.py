"""Hardening, measured: code-carrying model files, tampered data, bad inputs, adversarial images.

Explained in notebooks/10_speed_scale_security.ipynb. FGSM is the fast gradient sign method of
Goodfellow et al. (2015): x' = clip(x + eps * sign(grad_x loss(f(x), y)), 0, 1).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import ArtifactError, DataError, GenclassError


def fgsm(model, x: np.ndarray, y: np.ndarray, eps: float, batch_size: int = 500) -> np.ndarray:
    """Return FGSM adversarial images for a softmax classifier, x in [0, 1], kept in [0, 1]."""
    import keras
    import tensorflow as tf

    out = []
    for i in range(0, len(x), batch_size):
        xb = tf.convert_to_tensor(x[i:i + batch_size], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = keras.losses.sparse_categorical_crossentropy(y[i:i + batch_size],
                                                                model(xb, training=False))
        grad = tape.gradient(loss, xb)
        out.append(tf.clip_by_value(xb + eps * tf.sign(grad), 0.0, 1.0).numpy())
    return np.concatenate(out)


def accuracy_vs_eps(model, x: np.ndarray, y: np.ndarray, eps_values) -> dict[float, float]:
    """Return {eps: accuracy on FGSM images made against this model} (eps 0: clean accuracy)."""
    acc = {}
    for eps in eps_values:
        xa = x if eps == 0 else fgsm(model, x, y, eps)
        pred = model.predict(xa, batch_size=500, verbose=0).argmax(axis=1)
        acc[float(eps)] = float(np.mean(pred == y))
    return acc


def adversarial_model(net, eps: float):
    """Return a keras.Model that trains net on half clean, half FGSM images made on the fly."""
    import keras
    import tensorflow as tf

    class AdversarialTraining(keras.Model):
        """Adversarial training (Goodfellow et al. 2015): clean and FGSM images in each batch."""

        def __init__(self, net, eps, **kwargs):
            super().__init__(**kwargs)
            self.net, self.eps = net, float(eps)

        def call(self, x, training=False):
            return self.net(x, training=training)

        def train_step(self, batch):
            x, y = batch
            with tf.GradientTape() as tape:
                tape.watch(x)
                attack_loss = keras.losses.sparse_categorical_crossentropy(
                    y, self.net(x, training=False))
            x_adv = tf.stop_gradient(tf.clip_by_value(
                x + self.eps * tf.sign(tape.gradient(attack_loss, x)), 0.0, 1.0))
            xs, ys = tf.concat([x, x_adv], 0), tf.concat([y, y], 0)
            with tf.GradientTape() as tape:
                pred = self.net(xs, training=True)
                loss = self.compute_loss(x=xs, y=ys, y_pred=pred, training=True)
            w = self.net.trainable_weights
            self.optimizer.apply_gradients(zip(tape.gradient(loss, w), w))
            # compute_loss does not feed fit's loss tracker; without this the history (and
            # NanGuard, which reads it) sees 0.0 for every step.
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss, sample_weight=tf.shape(xs)[0])
            return self.compute_metrics(xs, ys, pred)

    return AdversarialTraining(net, eps)


# --------------------------------------------------------------------------- other demonstrations

def lambda_model_refused(tmp_dir: Path | str | None = None) -> dict:
    """Return what happens when a model file with a Lambda layer is loaded through gu.artifacts."""
    import keras

    from . import artifacts

    with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(inputs))
        path = Path(tmp) / "carries_code.keras"
        model.save(path)
        try:
            artifacts.load_model(path)
        except ArtifactError as e:
            return {"refused": True, "error": type(e).__name__, "message": str(e)}
    return {"refused": False, "error": None, "message": ""}


def tampered_file_detected(path: Path | str, name: str, entry: dict, offset: int = 100) -> dict:
    """Return whether a byte flipped in a temp copy of a data file fails its manifest checksum."""
    from . import data

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(path).name
        shutil.copyfile(path, copy)
        data._verify(copy, name, entry)  # the untouched copy passes
        raw = bytearray(copy.read_bytes())
        raw[offset % len(raw)] ^= 0x01
        copy.write_bytes(bytes(raw))
        try:
            data._verify(copy, name, entry)
        except DataError as e:
            return {"detected": True, "message": str(e)}
    return {"detected": False, "message": ""}


def bad_inputs(channels: int = 1) -> dict[str, str]:
    """Return, for each kind of bad input, the error prepare_images raises (or 'accepted')."""
    from .evaluator import prepare_images

    cases = {
        "missing channel axis": np.zeros((2, 28, 28), np.uint8),
        "wrong channels": np.zeros((2, 28, 28, 3), np.uint8),
        "int32 dtype": np.zeros((2, 28, 28, 1), np.int32),
        "floats in [-1, 1]": np.linspace(-1.0, 1.0, 2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28, 1),
        "NaN": np.full((2, 28, 28, 1), np.nan, np.float32),
        "strings": np.full((2, 28, 28, 1), "a"),
        "valid uint8": np.zeros((2, 28, 28, 1), np.uint8),
    }
    out = {}
    for what, x in cases.items():
        try:
            prepare_images(x, channels)
            out[what] = "accepted"
        except GenclassError as e:
            out[what] = f"{type(e).__name__}: {e}"
    return out
