"""The evaluator: a strong classifier per dataset, trained on the train split only.

Chapters 3 to 6 use it to judge generated images: ``predict`` gives class probabilities,
``embed`` the penultimate-layer features used for the Fréchet distance and for precision and
recall. It is introduced, and its test accuracy reported, in notebooks/02_cnn_basics.ipynb.
"""

from __future__ import annotations

import numpy as np

from . import artifacts, data, training
from .config import precision_scope
from .errors import InputError
from .models.classifiers import augmentation, evaluator_cnn

EMBEDDING_LAYER = "embedding"


def prepare_images(images: np.ndarray, channels: int | None = None,
                   shape: tuple | None = None) -> np.ndarray:
    """Return images as float32 in [0, 1]: uint8 is scaled, float must already lie in [0, 1]."""
    x = data.check_images(images, channels=channels)
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise InputError(f"images must have shape (N, {', '.join(map(str, shape))}) for this "
                         f"model; got {x.shape}")
    if len(x) == 0:
        raise InputError("images is empty")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if np.issubdtype(x.dtype, np.integer):
        raise InputError(f"integer images must be uint8 (0..255); got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise InputError("images contain NaN or Inf")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InputError(f"float images must lie in [0, 1]; got values in [{lo:.3g}, {hi:.3g}]"
                         " (rescale [-1, 1] images with (x + 1) / 2)")
    return x


class Evaluator:
    """A trained classifier with predict (probabilities) and embed (features) on images."""

    def __init__(self, model):
        import keras

        self.model = model
        self.channels = int(model.inputs[0].shape[-1])
        self.image_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        self.embedder = keras.Model(model.inputs, model.get_layer(EMBEDDING_LAYER).output,
                                    name=f"{model.name}_embedder")

    def predict(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Return class probabilities (N, n_classes) for uint8 or [0, 1] float images."""
        x = prepare_images(images, self.channels, self.image_shape)
        return self.model.predict(x, batch_size=batch_size, verbose=0)

    def predict_labels(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Return the most probable class of each image."""
        return self.predict(images, batch_size).argmax(axis=1)

    def embed(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Return the penultimate-layer features (N, D) of each image."""
        x = prepare_images(images, self.channels, self.image_shape)
        return self.embedder.predict(x, batch_size=batch_size, verbose=0)

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Return the fraction of images whose predicted class equals the label."""
        return float(np.mean(self.predict_labels(images) == np.asarray(labels)))


def train(cfg, verbose: int | None = None):
    """Return a freshly trained evaluator model for cfg.dataset (train split only, val for stopping)."""
    import keras

    splits = data.load_splits(cfg)
    n_classes = data.num_classes(cfg.dataset)
    width = cfg.profile.width("evaluator")  # None (the default width) except in smoke
    with precision_scope(cfg):  # mixed_float16 in the gpu profile on a GPU, else float32
        model = evaluator_cnn(data.image_shape(cfg.dataset), n_classes,
                              **({} if width is None else {"width": width}))
    epochs = cfg.epochs("evaluator")
    bs = cfg.batch_size("evaluator")
    steps = epochs * int(np.ceil(len(splits.y_train) / bs))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=max(steps, 1))
    # A model built under mixed_float16 gets a LossScaleOptimizer from compile() itself.
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    augment = augmentation(cfg.dataset, cfg.seed)  # horizontal flips: free on CPU
    train_ds = data.make_dataset(data.scale(splits.x_train), splits.y_train, batch_size=bs,
                                 seed=cfg.seed, augment=augment)
    val_ds = data.make_dataset(data.scale(splits.x_val), splits.y_val, batch_size=1000,
                               shuffle=False)
    model.fit(train_ds, validation_data=val_ds, epochs=epochs,
              shuffle=False,  # the dataset shuffles itself; True only makes Keras warn
              verbose=cfg.verbose if verbose is None else verbose,
              callbacks=training.callbacks(cfg, "evaluator", early_stopping="val_accuracy",
                                           patience=4))
    return model


def load_or_train(dataset: str, cfg) -> Evaluator:
    """Return the evaluator of a dataset, loading artifacts/<profile>/evaluator_<dataset>.keras or training it."""
    run_cfg = cfg if cfg.dataset == dataset else cfg.replace(dataset=dataset)
    model = artifacts.load_or_train("evaluator", run_cfg, lambda: train(run_cfg), dataset=dataset)
    return Evaluator(model)
