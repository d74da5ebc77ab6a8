"""Classifiers: the evaluator's CNN (more are added and explained in notebooks/02_cnn_basics.ipynb)."""

from __future__ import annotations

import keras
from keras import layers


def conv_bn_relu(x, filters: int, strides: int = 1, name: str | None = None, bn_momentum: float = 0.9):
    """Return Conv2D -> BatchNormalization -> ReLU applied to x (the 'conv_block' of the articles)."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                      name=None if name is None else f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=None if name is None else f"{name}_bn")(x)
    return layers.ReLU(name=None if name is None else f"{name}_relu")(x)


def evaluator_cnn(input_shape=(28, 28, 1), n_classes: int = 10, width: int = 32,
                  embedding_dim: int = 128, name: str = "evaluator") -> keras.Model:
    """Return the evaluator CNN: three Conv-BN-ReLU stages, GAP, an 'embedding' layer, softmax.

    Sized for 2 CPU cores: one 3x3 convolution per resolution (28, 14, 7) keeps a training step
    near 15 MFLOP per image, so a dozen epochs over 55,000 images fit in a few minutes.
    """
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, f in enumerate((width, width * 2, width * 4)):
        x = conv_bn_relu(x, f, name=f"block{i + 1}")
        if i < 2:
            x = layers.MaxPooling2D(name=f"block{i + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(embedding_dim, activation="relu", name="embedding")(x)
    x = layers.Dropout(0.2, name="head_drop")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)
