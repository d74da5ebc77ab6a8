"""Classifiers: the chapter-2 CNN and RNN, the article's network, a small CNN, and the evaluator.

Explained in notebooks/02_cnn_basics.ipynb. All models take float images in [0, 1] (NHWC) and
end in a softmax over the classes. The clip and volume classifiers (frame_average_cnn,
r2plus1d_cnn, cnn3d) take (N, T, H, W, C) arrays; they are explained in
notebooks/09_clips_and_volumes.ipynb.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from ..config import precision_scope
from ..errors import InputError


def conv_bn_relu(x, filters: int, strides: int = 1, name: str | None = None, bn_momentum: float = 0.9):
    """Return Conv2D -> BatchNormalization -> ReLU applied to x (the 'conv_block' of the articles)."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                      name=None if name is None else f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=None if name is None else f"{name}_bn")(x)
    return layers.ReLU(name=None if name is None else f"{name}_relu")(x)


def conv_block(x, num_filters: int, kernel_size=(3, 3), strides=(1, 1), padding: str = "same",
               bn_momentum: float = 0.99, name: str | None = None):
    """Return the article's conv_block on x: Conv2D (with bias) -> BatchNormalization -> ReLU."""
    def n(suffix):
        return None if name is None else f"{name}_{suffix}"

    x = layers.Conv2D(num_filters, kernel_size, strides, padding, name=n("conv"))(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=n("bn"))(x)
    return layers.Activation("relu", name=n("relu"))(x)


def article_cnn(input_shape=(224, 224, 3), n_classes: int = 1000,
                widths: Sequence[int] = (32, 64, 128, 256, 512), bn_momentum: float = 0.99,
                dropout: float = 0.0, name: str = "article_cnn") -> keras.Model:
    """Return the article's CNN: conv_blocks (the first at stride 1, then stride 2), GAP, softmax.

    With the defaults it is the article's 224x224x3, 1000-class network; chapter 2 adapts it to
    28x28x1 and 10 classes through ``cnn`` (five blocks at half width: 28 -> 14 -> 7 -> 4 -> 2).
    """
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, f in enumerate(widths):
        x = conv_block(x, f, strides=(1, 1) if i == 0 else (2, 2), bn_momentum=bn_momentum,
                       name=f"block{i + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="drop")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


CNN_WIDTHS = (16, 32, 64, 128, 256)


def cnn(input_shape=(28, 28, 1), n_classes: int = 10, widths: Sequence[int] = CNN_WIDTHS,
        name: str = "cnn") -> keras.Model:
    """Return chapter 2's CNN: the article's five conv_blocks at half width (BN momentum 0.9).

    Strides 1, 2, 2, 2, 2 take 28x28 to 2x2; the last block's receptive field (33 pixels)
    covers the whole image before global average pooling.
    """
    return article_cnn(input_shape, n_classes, widths=widths, bn_momentum=0.9, dropout=0.2,
                       name=name)


def small_cnn(input_shape=(28, 28, 1), n_classes: int = 10, width: int = 32,
              name: str = "small_cnn") -> keras.Model:
    """Return a small BN-free CNN (two conv + pool stages, a dense layer) for short trainings.

    Without batch normalization there are no moving statistics to lag behind, so the model is
    usable in inference mode after a few hundred steps on small or synthetic data.
    """
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    x = layers.Dense(128, activation="relu", name="embedding")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def rnn_classifier(input_shape=(28, 28, 1), n_classes: int = 10, units: int = 128,
                   cell: str = "gru", name: str = "rnn") -> keras.Model:
    """Return a recurrent classifier that reads the image row by row (one row = one time step)."""
    cells = {"gru": layers.GRU, "lstm": layers.LSTM}
    if cell not in cells:
        raise InputError(f"unknown recurrent cell {cell!r}; choose 'gru' or 'lstm'")
    h, w, c = input_shape
    inputs = keras.Input(input_shape, name="image")
    x = layers.Reshape((h, w * c), name="rows")(inputs)
    x = cells[cell](units, name=cell)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def evaluator_cnn(input_shape=(28, 28, 1), n_classes: int = 10, width: int = 32,
                  embedding_dim: int = 128, name: str = "evaluator") -> keras.Model:
    """Return the evaluator CNN: three Conv-BN-ReLU stages, a flattened 7x7 map, 'embedding', softmax.

    Sized for 2 CPU cores: one 3x3 convolution per resolution (28, 14, 7) keeps a training step
    near 15 MFLOP per image. The last map is flattened rather than averaged: its receptive field
    (18 pixels) is smaller than the image, and the dense layer keeps where each feature was.
    """
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, f in enumerate((width, width * 2, width * 4)):
        x = conv_bn_relu(x, f, name=f"block{i + 1}")
        if i < 2:
            x = layers.MaxPooling2D(name=f"block{i + 1}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="flat_drop")(x)
    # float32 even under mixed precision: the Fréchet distance needs full-precision features.
    x = layers.Dense(embedding_dim, activation="relu", name="embedding", dtype="float32")(x)
    x = layers.Dropout(0.3, name="head_drop")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


# --- clips and volumes (notebooks/09_clips_and_volumes.ipynb) -----------------------------

def frame_average_cnn(input_shape=(8, 32, 32, 1), n_classes: int = 5, width: int = 8,
                      name: str = "frame_cnn") -> keras.Model:
    """Return a per-frame CNN whose class probabilities are averaged over the T frames of a clip.

    The same small 2-D CNN looks at every frame on its own (TimeDistributed); the clip's
    prediction is the mean of the frames' softmax outputs, so the order of the frames is lost.
    """
    t, h, w, c = input_shape
    frame = keras.Input((h, w, c), name="frame")
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(frame)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(width * 2, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    per_frame = keras.Model(frame, layers.Dense(n_classes, activation="softmax")(x),
                            name=f"{name}_frame")
    clip = keras.Input(input_shape, name="clip")
    probs = layers.TimeDistributed(per_frame, name="per_frame")(clip)
    outputs = layers.GlobalAveragePooling1D(name="average_over_frames")(probs)
    return keras.Model(clip, outputs, name=name)


def _temporal_conv(x, filters: int, name: str):
    """Return a 3-tap convolution along time at every pixel of (N, T, H, W, C) features."""
    t, h, w, c = (int(d) for d in x.shape[1:])
    # Pixels side by side on one axis: a (3, 1) kernel of a 2-D convolution then runs along time.
    x = layers.Reshape((t, h * w, c), name=f"{name}_series")(x)
    x = layers.Conv2D(filters, (3, 1), padding="same", activation="relu", name=name)(x)
    return layers.Reshape((t, h, w, filters), name=f"{name}_grid")(x)


def r2plus1d_cnn(input_shape=(8, 32, 32, 1), n_classes: int = 5, width: int = 8,
                 name: str = "r2plus1d") -> keras.Model:
    """Return a small (2+1)-D CNN: each block a 3x3 spatial convolution per frame, then a 3-tap temporal one.

    The factorisation of Tran et al. (2018); the temporal convolutions compare neighbouring
    frames, which is what a motion class needs. Both are built from 2-D and 1-D convolutions,
    whose CPU kernels are much faster than 3-D ones.
    """
    inputs = keras.Input(input_shape, name="clip")
    x = inputs
    for i, f in enumerate((width, width * 2)):
        x = layers.TimeDistributed(layers.Conv2D(f, 3, padding="same", activation="relu"),
                                   name=f"spatial{i + 1}")(x)
        x = layers.TimeDistributed(layers.MaxPooling2D(), name=f"pool{i + 1}")(x)
        x = _temporal_conv(x, f, name=f"temporal{i + 1}")
    x = layers.GlobalAveragePooling3D(name="gap")(x)
    x = layers.Dense(64, activation="relu", name="embedding")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def cnn3d(input_shape=(16, 16, 16, 1), n_classes: int = 5, width: int = 8,
          name: str = "cnn3d") -> keras.Model:
    """Return a small 3-D CNN for voxel volumes: a strided 3x3x3 convolution, a 3x3x3 conv + pool, a dense layer."""
    inputs = keras.Input(input_shape, name="volume")
    # A strided first convolution: 3-D kernels are slow on a CPU, so the grid is halved at once.
    x = layers.Conv3D(width, 3, strides=2, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv3D(width * 2, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling3D(name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    x = layers.Dense(64, activation="relu", name="embedding")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


# --- training ------------------------------------------------------------------------------

def augmentation(dataset: str, seed: int = 0):
    """Return the label-preserving augmentation for a dataset: horizontal flips, none for digits."""
    if dataset == "mnist":  # a mirrored digit is another symbol (or none)
        return None
    return keras.Sequential([layers.RandomFlip("horizontal", seed=seed)], name="augment")


class EpochTimer(keras.callbacks.Callback):
    """Record the wall-clock seconds of every training epoch in ``self.seconds``."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t0)


def as_unit(images: np.ndarray) -> np.ndarray:
    """Return NHWC images as float32 in [0, 1] (uint8 is scaled; floats must already be in range)."""
    from .. import data

    x = data.check_images(images)
    if x.dtype == np.uint8:
        return data.scale(x)
    x = x.astype(np.float32)
    if not np.isfinite(x).all() or x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise InputError("float images must be finite and lie in [0, 1]")
    return x


def compile_classifier(model: keras.Model, lr: float = 1e-3, decay_steps: int | None = None
                       ) -> keras.Model:
    """Return the model compiled with Adam (cosine-decayed over decay_steps if given) and accuracy."""
    rate = lr if not decay_steps else keras.optimizers.schedules.CosineDecay(lr, decay_steps)
    model.compile(optimizer=keras.optimizers.Adam(rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit_classifier(model: keras.Model, x: np.ndarray, y: np.ndarray, cfg, epochs: int,
                   x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
                   batch_size: int = 128, lr: float = 1e-3, patience: int = 3,
                   augment=None, verbose: int | None = None, name: str | None = None):
    """Return (history, seconds per epoch) after compiling and fitting the model.

    The learning rate follows a cosine decay over the planned steps; with validation data,
    early stopping watches validation accuracy and restores the best weights.
    """
    from .. import data, training

    x, y = as_unit(x), np.asarray(y, dtype=np.int64)
    if len(x) != len(y):
        raise InputError(f"{len(x)} images but {len(y)} labels")
    steps = int(epochs) * int(np.ceil(len(x) / batch_size))
    compile_classifier(model, lr, decay_steps=max(steps, 1))
    train_ds = data.make_dataset(x, y, batch_size=batch_size, seed=cfg.seed, augment=augment)
    val_ds = None
    if x_val is not None:
        val_ds = data.make_dataset(as_unit(x_val), np.asarray(y_val, dtype=np.int64),
                                   batch_size=1000, shuffle=False)
    timer = EpochTimer()
    cbs = training.callbacks(cfg, name or model.name, patience=patience, extra=[timer],
                             early_stopping="val_accuracy" if val_ds is not None else None)
    history = model.fit(train_ds, validation_data=val_ds, epochs=int(epochs), callbacks=cbs,
                        shuffle=False,  # the dataset shuffles itself; True only makes Keras warn
                        verbose=cfg.verbose if verbose is None else verbose)
    return history, timer.seconds


def train_classifier(x: np.ndarray, y: np.ndarray, cfg, epochs: int,
                     x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
                     model: keras.Model | None = None, n_classes: int | None = None,
                     batch_size: int = 128, lr: float = 1e-3, verbose: int | None = None
                     ) -> keras.Model:
    """Return a classifier (small_cnn unless one is given) fitted on (x, y).

    Used by the low-data and synthetic-data chapters: a few hundred steps suffice because
    small_cnn has no batch normalization. Validation data, if given, drives early stopping.
    """
    x = as_unit(x)
    if model is None:
        k = int(n_classes or (int(np.max(y)) + 1))
        with precision_scope(cfg):  # mixed_float16 in the gpu profile on a GPU, else float32
            model = small_cnn(x.shape[1:], k)
    fit_classifier(model, x, y, cfg, epochs, x_val=x_val, y_val=y_val,
                   batch_size=min(batch_size, len(x)), lr=lr, verbose=verbose)
    return model


# --- evaluation ----------------------------------------------------------------------------

def predict_labels(model: keras.Model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Return the predicted class of each image."""
    return model.predict(as_unit(images), batch_size=batch_size, verbose=0).argmax(axis=1)


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Return the accuracy on each class (recall), NaN for a class absent from y_true."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise InputError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    out = np.full(n_classes, np.nan)
    for k in range(n_classes):
        m = y_true == k
        if m.any():
            out[k] = float(np.mean(y_pred[m] == k))
    return out


def most_confused_pairs(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, k: int = 3
                        ) -> list[tuple[int, int, int]]:
    """Return the k (true class, predicted class, count) off-diagonal pairs with the largest counts."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    np.fill_diagonal(cm, 0)
    order = np.argsort(cm, axis=None)[::-1][:k]
    return [(int(i), int(j), int(cm[i, j])) for i, j in zip(*np.unravel_index(order, cm.shape))
            if cm[i, j] > 0]


def receptive_field(model: keras.Model) -> list[tuple[str, int, int]]:
    """Return (layer name, receptive field in input pixels, stride in input pixels) per spatial layer.

    Each layer with kernel k and stride s grows the field by (k - 1) times the current jump and
    multiplies the jump by s: r_l = r_{l-1} + (k_l - 1) j_{l-1}, j_l = j_{l-1} s_l.
    """
    r, j, out = 1, 1, []
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.MaxPooling2D, layers.AveragePooling2D)):
            k = layer.kernel_size if isinstance(layer, layers.Conv2D) else layer.pool_size
            s = layer.strides
            r += (int(k[0]) - 1) * j
            j *= int(s[0])
            out.append((layer.name, r, j))
    return out
