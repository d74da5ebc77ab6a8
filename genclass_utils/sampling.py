"""Sampling saved generators.

Every generator in the course is saved as a Functional Keras model with the same contract:
input ``z`` of shape (latent_dim,), plus an int32 ``label`` of shape () for a conditional model,
and output images in [0, 1] of shape (H, W, C). A decoder of a VAE is saved the same way.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def is_conditional(generator) -> bool:
    """Return True when the generator takes a class label as a second input."""
    return len(generator.inputs) == 2


def latent_dim(generator) -> int:
    """Return the size of the generator's latent input."""
    return int(generator.inputs[0].shape[-1])


def cycle_labels(n: int, n_classes: int) -> np.ndarray:
    """Return n labels cycling through 0..n_classes-1 (balanced up to one image per class)."""
    return (np.arange(n) % n_classes).astype(np.int32)


def generate(generator, n: int, labels: np.ndarray | None = None, seed: int = 0,
             batch_size: int = 500, as_uint8: bool = True) -> np.ndarray:
    """Return n images from a generator (uint8 by default), with z ~ N(0, I) drawn from seed."""
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent_dim(generator))).astype(np.float32)
    if is_conditional(generator):
        if labels is None:
            raise InputError("this generator is conditional: pass labels (one per image)")
        labels = np.asarray(labels).astype(np.int32)
        if labels.shape != (n,):
            raise InputError(f"labels must have shape ({n},); got {labels.shape}")
        out = generator.predict([z, labels], batch_size=batch_size, verbose=0)
    else:
        out = generator.predict(z, batch_size=batch_size, verbose=0)
    out = np.asarray(out, dtype=np.float32)
    if not np.isfinite(out).all():
        raise InputError("the generator produced NaN or Inf")
    if not as_uint8:
        return out
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
