"""Sampling saved generators.

Every generator in the course is saved as a Functional Keras model with the same contract:
input ``z`` of shape (latent_dim,), plus an int32 ``label`` of shape () for a conditional model,
and output images in [0, 1] of shape (H, W, C). A decoder of a VAE is saved the same way.
"""

from __future__ import annotations

import numpy as np

from .data import check_labels
from .errors import InputError


def is_conditional(generator) -> bool:
    """Return True when the generator takes a class label as a second input."""
    return len(generator.inputs) == 2


def latent_dim(generator) -> int:
    """Return the size of the generator's latent input, or raise InputError for a non-generator."""
    inputs = getattr(generator, "inputs", None)
    if not inputs or len(inputs) > 2 or len(inputs[0].shape) != 2:
        shapes = [tuple(i.shape) for i in inputs] if inputs else "none"
        raise InputError(f"{getattr(generator, 'name', generator)!s} is not a generator of the "
                         "course: expected inputs z of shape (latent_dim,) [and an int label]; "
                         f"got input shapes {shapes}")
    return int(inputs[0].shape[-1])


def n_classes(generator) -> int | None:
    """Return the number of classes of a conditional generator (its label Embedding), or None."""
    import keras

    for layer in generator._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
    return None


def cycle_labels(n: int, n_classes: int) -> np.ndarray:
    """Return n labels cycling through 0..n_classes-1 (balanced up to one image per class)."""
    return (np.arange(n) % n_classes).astype(np.int32)


def generate(generator, n: int, labels: np.ndarray | None = None, seed: int = 0,
             batch_size: int = 500, as_uint8: bool = True) -> np.ndarray:
    """Return n images from a generator (uint8 by default), with z ~ N(0, I) drawn from seed."""
    if int(n) != n or n < 1:
        raise InputError(f"n must be a whole number of images, at least 1; got {n}")
    n = int(n)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent_dim(generator))).astype(np.float32)
    if is_conditional(generator):
        if labels is None:
            raise InputError("this generator is conditional: pass labels (one per image)")
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise InputError(f"labels must have shape ({n},); got {labels.shape}")
        k = n_classes(generator)
        labels = check_labels(labels, k if k is not None else np.iinfo(np.int32).max)
        labels = labels.astype(np.int32)
        out = generator.predict([z, labels], batch_size=batch_size, verbose=0)
    elif labels is not None:
        raise InputError("this generator is unconditional: it takes no labels")
    else:
        out = generator.predict(z, batch_size=batch_size, verbose=0)
    out = np.asarray(out, dtype=np.float32)
    if not np.isfinite(out).all():
        raise InputError("the generator produced NaN or Inf")
    if not as_uint8:
        return out
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
