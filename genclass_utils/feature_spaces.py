"""A second feature space for judging generators: the encoder of an autoencoder.

The evaluator's features (gu.evaluator) are trained to separate the classes, so a distance in
them mostly rewards recognisable classes. The autoencoder here is trained only to reconstruct
real training images through a small code, so its features keep what a picture needs to be
redrawn (silhouette, brightness, where the pixels are) whatever the class. Explained in
notebooks/06_evaluating_generators.ipynb.
"""

from __future__ import annotations

import numpy as np

from . import artifacts, data, training
from .errors import ArtifactError
from .evaluator import prepare_images

CODE_LAYER = "code"
EMBEDDING_LAYER = "code_std"


def autoencoder(input_shape=(28, 28, 1), code_dim: int = 64, width: int = 16,
                name: str = "autoencoder"):
    """Return a convolutional autoencoder whose layer 'code' (code_dim numbers) is the embedding.

    Two strided convolutions down to 7x7, a linear code, and two transposed convolutions back;
    no BatchNormalization, so the few hundred steps it trains for leave no unready statistics.
    """
    import keras
    from keras import layers

    h, w, c = input_shape
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name="enc1")(inputs)
    x = layers.Conv2D(width * 2, 3, strides=2, padding="same", activation="relu", name="enc2")(x)
    code = layers.Dense(code_dim, name=CODE_LAYER)(layers.Flatten(name="flatten")(x))
    x = layers.Dense((h // 4) * (w // 4) * width * 2, activation="relu", name="dec0")(code)
    x = layers.Reshape((h // 4, w // 4, width * 2), name="unflatten")(x)
    x = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu", name="dec1")(x)
    outputs = layers.Conv2DTranspose(c, 3, strides=2, padding="same", activation="sigmoid",
                                     name="dec2")(x)
    return keras.Model(inputs, outputs, name=name)


def with_standardised_code(model, images: np.ndarray, batch_size: int = 1000):
    """Return the autoencoder with a second output, 'code_std': its code standardised on images.

    Each code number gets mean 0 and variance 1 over `images` (the training split), so that no
    single number dominates a distance and the cubic kernel of KID sees values of order 1.
    """
    import keras
    from keras import layers

    encoder = keras.Model(model.inputs, model.get_layer(CODE_LAYER).output)
    codes = encoder.predict(prepare_images(images), batch_size=batch_size, verbose=0)
    norm = layers.Normalization(mean=codes.mean(axis=0), variance=codes.var(axis=0) + 1e-6,
                                name=EMBEDDING_LAYER)
    return keras.Model(model.inputs, [model.outputs[0], norm(model.get_layer(CODE_LAYER).output)],
                       name=model.name)


class AutoencoderSpace:
    """A trained autoencoder with embed (its standardised code) and reconstruct, on uint8 or [0, 1] images."""

    def __init__(self, model):
        import keras

        names = {layer.name for layer in model.layers}
        if EMBEDDING_LAYER not in names or CODE_LAYER not in names:
            raise ArtifactError(f"model {model.name!r} has no layers {CODE_LAYER!r} and "
                                f"{EMBEDDING_LAYER!r}; build it with autoencoder() and "
                                "with_standardised_code()")
        self.model = model
        self.channels = int(model.inputs[0].shape[-1])
        self.image_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        self.encoder = keras.Model(model.inputs, model.get_layer(EMBEDDING_LAYER).output,
                                   name=f"{model.name}_encoder")
        self.autoencoder = keras.Model(model.inputs, model.outputs[0], name=f"{model.name}_redraw")

    def embed(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Return the standardised code (N, code_dim) of each image."""
        x = prepare_images(images, self.channels, self.image_shape)
        return self.encoder.predict(x, batch_size=batch_size, verbose=0)

    def reconstruct(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Return the autoencoder's reconstructions in [0, 1], shaped like the images."""
        x = prepare_images(images, self.channels, self.image_shape)
        return self.autoencoder.predict(x, batch_size=batch_size, verbose=0)

    def reconstruction_error(self, images: np.ndarray) -> float:
        """Return the mean squared pixel error of the reconstructions (pixels in [0, 1])."""
        x = prepare_images(images, self.channels, self.image_shape)
        return float(np.mean((self.reconstruct(x) - x) ** 2))


def train(cfg, verbose: int | None = None):
    """Return an autoencoder trained on cfg.dataset's train split (mean squared error; val for stopping), code standardised."""
    import keras

    splits = data.load_splits(cfg)
    model = autoencoder(data.image_shape(cfg.dataset))
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
    bs = cfg.batch_size("autoencoder")
    x_train, x_val = data.scale(splits.x_train), data.scale(splits.x_val)
    model.fit(data.make_dataset(x_train, x_train, batch_size=bs, seed=cfg.seed),
              validation_data=data.make_dataset(x_val, x_val, batch_size=1000, shuffle=False),
              epochs=cfg.epochs("autoencoder"), verbose=cfg.verbose if verbose is None else verbose,
              callbacks=training.callbacks(cfg, "autoencoder", early_stopping="val_loss",
                                           patience=2))
    return with_standardised_code(model, splits.x_train)


def load_or_train(dataset: str, cfg) -> AutoencoderSpace:
    """Return the autoencoder space of a dataset, loading artifacts/<profile>/autoencoder_<dataset>.keras or training it."""
    run_cfg = cfg if cfg.dataset == dataset else cfg.replace(dataset=dataset)
    model = artifacts.load_or_train("autoencoder", run_cfg, lambda: train(run_cfg), dataset=dataset)
    return AutoencoderSpace(model)
