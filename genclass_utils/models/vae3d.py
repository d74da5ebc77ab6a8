"""A conditional VAE for 3-D arrays: clips (T, H, W) and volumes (D, H, W).

Explained in notebooks/09_clips_and_volumes.ipynb. It is chapter 4's conditional VAE
(``gu.models.vae``: the VAE class with its train_step and test_step, the encoder and the
decoder) applied to an array whose third axis, time or depth, is folded into the channels:
a clip of T frames of H x W pixels is trained on as one H x W image with T channels, so every
2-D convolution of the encoder sees all T frames at each position and the decoder writes all
T frames at once. The loss, in nats per clip, is the negative ELBO with a Bernoulli likelihood
summed over all T*H*W voxels:

    -ELBO(x, y) = -E_q[log p(x | z, y)] + KL(q(z | x, y) || N(0, I)).

Why folded and not 3-D convolutions: on a CPU, TensorFlow's 3-D convolution kernels (and their
gradients) are far slower than its 2-D ones (an order of magnitude here), and with T = 8 or
D = 16 the channels have room for the whole third axis. The price is that the network has no
built-in notion that neighbouring frames are alike; it has to learn that from the data.

The generator (:func:`generator`) unfolds the output again and follows ``gu.sampling``'s
contract with a 5-D output: z and an int32 label -> (T, H, W, 1) in [0, 1].
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers

from .. import data
from ..errors import InputError
from .vae import VAE, as_generator, build_decoder, build_encoder


def fold(x: np.ndarray) -> np.ndarray:
    """Return (N, T, H, W, 1) arrays as (N, H, W, T): the third axis becomes the channels."""
    x = np.asarray(x)
    if x.ndim != 5 or x.shape[-1] != 1:
        raise InputError(f"expected arrays of shape (N, T, H, W, 1); got {x.shape}")
    return np.ascontiguousarray(np.transpose(x[..., 0], (0, 2, 3, 1)))


def unfold(x: np.ndarray) -> np.ndarray:
    """Return (N, H, W, T) arrays as (N, T, H, W, 1), the inverse of fold."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise InputError(f"expected folded arrays of shape (N, H, W, T); got {x.shape}")
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))[..., None])


def _check_shape(shape) -> tuple[int, int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or shape[-1] != 1 or shape[1] % 4 or shape[2] % 4 or min(shape) < 1:
        raise InputError(f"a 3-D VAE needs a shape (T, H, W, 1) with H and W multiples of 4; "
                         f"got {shape}")
    return shape


def build_cvae3d(shape=(8, 32, 32, 1), n_classes: int = 5, latent_dim: int = 16,
                 width: int = 16, beta: float = 1.0, warmup_steps: int = 0, seed: int = 0,
                 learning_rate: float = 2e-3, name: str = "cvae3d") -> VAE:
    """Return a compiled conditional VAE for (T, H, W, 1) arrays, trained on their folded form."""
    t, h, w, _ = _check_shape(shape)
    n_classes = data.check_count(n_classes, "n_classes", minimum=2)
    folded = (h, w, t)
    model = VAE(build_encoder(folded, latent_dim, n_classes, width),
                build_decoder(folded, latent_dim, n_classes, width),
                beta=beta, warmup_steps=warmup_steps, seed=seed, name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


def generator(model: VAE, name: str = "cvae3d_generator") -> keras.Model:
    """Return the trained VAE's decoder as a generator: z + int32 label -> (T, H, W, 1) in [0, 1]."""
    folded = as_generator(model.decoder, name=f"{name}_folded")
    h, w, t = (int(s) for s in folded.outputs[0].shape[1:])
    inputs = [keras.Input(tuple(i.shape[1:]), dtype=i.dtype, name=n)
              for i, n in zip(folded.inputs, ("z", "label"))]
    out = layers.Permute((3, 1, 2), name="frames_first")(folded(inputs))
    out = layers.Reshape((t, h, w, 1), name="clip")(out)
    return keras.Model(inputs, out, name=name)


def train_cvae3d(x: np.ndarray, y: np.ndarray, n_classes: int, epochs: int,
                 batch_size: int = 16, seed: int = 0, latent_dim: int = 16, width: int = 16,
                 verbose: int = 0, name: str = "cvae3d") -> VAE:
    """Return a conditional VAE trained on exactly (x, y): uint8 (n, T, H, W, 1) and labels.

    The KL term is warmed up over the first tenth of the steps; the number of epochs is fixed
    (in the chapter's protocol the generator has no validation set of its own). Small batches:
    with a few hundred clips, the number of steps matters more than the batch's noise.
    """
    x = np.asarray(x)
    if x.ndim != 5 or x.dtype != np.uint8:
        raise InputError(f"training arrays must be uint8 of shape (n, T, H, W, 1); got "
                         f"{x.dtype} {x.shape}")
    y = data.check_labels(y, n_classes, "training labels")
    if len(x) != len(y) or len(x) == 0:
        raise InputError(f"need as many labels as arrays (got {len(x)} and {len(y)})")
    epochs = data.check_count(epochs, "epochs")
    batch_size = min(data.check_count(batch_size, "batch_size"), len(x))
    keras.utils.set_random_seed(seed)
    steps = epochs * math.ceil(len(x) / batch_size)
    model = build_cvae3d(x.shape[1:], n_classes, latent_dim, width, warmup_steps=steps // 10,
                         seed=seed, name=name)
    if steps <= 20:  # a handful of steps (the smoke profile) runs faster eagerly than traced
        model.compile(optimizer=keras.optimizers.Adam(2e-3), run_eagerly=True)
    model.fit(fold(x).astype(np.float32) / 255.0, y.astype(np.int32), batch_size=batch_size,
              epochs=epochs, verbose=verbose, shuffle=True)
    return model
