"""Short clips of a moving garment: a synthetic-motion benchmark in the spirit of Moving MNIST.

Explained in notebooks/09_clips_and_volumes.ipynb. A clip is ``frames`` grey frames of
``size`` x ``size`` pixels in which one real Fashion-MNIST garment, shrunk to half size, moves
across a black canvas. The class is the motion (:data:`MOTIONS`), not the garment. Each clip
uses its own garment image, drawn without replacement from the images it is given, so clips
made from the training split and clips made from the test split never share a garment.

Arrays follow the image data's rules (``gu.data``): uint8 clips of shape (n, T, H, W, 1),
int64 labels, seeded, and one :class:`~genclass_utils.errors.InputError` for a bad argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import check_count, check_seed
from .errors import InputError

MOTIONS = ("up", "down", "left", "right", "rotate")
# Pixels per frame of a translation, and degrees per frame of a rotation (drawn per clip).
SPEEDS = (1.0, 2.0)
ANGULAR_SPEEDS = (12.0, 24.0)
GARMENT = 14  # a 28x28 garment is shrunk by 2x2 averaging to 14x14


@dataclass(frozen=True)
class Clips:
    """Clips (uint8, (n, T, H, W, 1)), their motion labels, and the index of each clip's garment."""

    x: np.ndarray
    y: np.ndarray
    source: np.ndarray


def _check_garments(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise InputError(f"garment images must have shape (n, 28, 28) or (n, 28, 28, 1); "
                         f"got {np.asarray(images).shape}")
    if x.dtype != np.uint8:
        raise InputError(f"garment images must be uint8 (0..255); got dtype {x.dtype}")
    return x


def shrink(images: np.ndarray) -> np.ndarray:
    """Return 28x28 uint8 garments shrunk to 14x14 float32 in [0, 1] by 2x2 averaging."""
    x = _check_garments(images).astype(np.float32) / 255.0
    return x.reshape(len(x), GARMENT, 2, GARMENT, 2).mean(axis=(2, 4))


def _paste(canvas: np.ndarray, patch: np.ndarray, top: float, left: float) -> None:
    from scipy import ndimage

    # Sub-pixel positions: the patch is shifted by the fraction before it is pasted.
    ti, li = int(np.floor(top)), int(np.floor(left))
    shifted = ndimage.shift(np.pad(patch, ((0, 1), (0, 1))), (top - ti, left - li), order=1)
    h, w = shifted.shape
    region = canvas[ti:ti + h, li:li + w]
    region[...] = np.maximum(region, shifted[:region.shape[0], :region.shape[1]])


def render_clip(garment: np.ndarray, motion: int, rng: np.random.Generator, frames: int = 8,
                size: int = 32) -> np.ndarray:
    """Return one clip, float32 (T, H, W) in [0, 1], of a 14x14 garment moving as `motion` says."""
    from scipy import ndimage

    clip = np.zeros((frames, size, size), np.float32)
    room = size - GARMENT - 1
    name = MOTIONS[motion]
    if name == "rotate":
        pad = (GARMENT * 3 // 2 - GARMENT) // 2 + 1
        big = np.pad(garment, pad)
        top, left = rng.uniform(0, size - big.shape[0] - 1, 2)
        step = rng.uniform(*ANGULAR_SPEEDS) * rng.choice((-1.0, 1.0))
        start = rng.uniform(0, 360)
        for t in range(frames):
            turned = np.clip(ndimage.rotate(big, start + step * t, reshape=False, order=1), 0, 1)
            _paste(clip[t], turned, top, left)
        return clip
    speed = rng.uniform(*SPEEDS)
    travel = speed * (frames - 1)
    along = rng.uniform(0, room - travel)
    across = rng.uniform(0, room)
    sign = -1.0 if name in ("up", "left") else 1.0
    for t in range(frames):
        pos = along + speed * t if sign > 0 else along + travel - speed * t
        top, left = (pos, across) if name in ("up", "down") else (across, pos)
        _paste(clip[t], garment, top, left)
    return clip


def make_clips(images: np.ndarray, n_per_class: int, seed: int = 0, frames: int = 8,
               size: int = 32) -> Clips:
    """Return n_per_class clips of each motion, each with its own garment drawn from images.

    The garments are drawn without replacement; ``Clips.source`` holds each clip's index into
    images. Clips are uint8 (n, frames, size, size, 1), labels int64 in motion order, shuffled.
    """
    garments = _check_garments(images)
    n_per_class, seed = check_count(n_per_class, "n_per_class"), check_seed(seed)
    frames = check_count(frames, "frames", minimum=2)
    size = check_count(size, "size")
    if frames > 64:
        raise InputError(f"frames must be at most 64; got {frames}")
    if not 24 <= size <= 128:
        raise InputError(f"size must be between 24 and 128 pixels; got {size}")
    k = len(MOTIONS)
    n = n_per_class * k
    if n > len(garments):
        raise InputError(f"{n} clips need {n} distinct garments; only {len(garments)} images given")
    if size - GARMENT - 1 < max(SPEEDS) * (frames - 1):
        raise InputError(f"a {size}-pixel canvas is too small for {frames} frames at "
                         f"{max(SPEEDS):g} pixels per frame; use fewer frames or a larger size")
    rng = np.random.default_rng(seed)
    source = rng.choice(len(garments), n, replace=False)
    labels = rng.permutation(np.repeat(np.arange(k), n_per_class))
    small = shrink(garments[source])
    x = np.stack([render_clip(g, int(m), rng, frames, size) for g, m in zip(small, labels)])
    x = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)[..., None]
    return Clips(x, labels.astype(np.int64), source.astype(np.int64))


def garments_shared(a: np.ndarray, b: np.ndarray) -> int:
    """Return how many garment images of b are pixel-for-pixel among those of a."""
    seen = {g.tobytes() for g in _check_garments(a)}
    return int(sum(g.tobytes() in seen for g in _check_garments(b)))


def clip_splits(splits, x_test: np.ndarray, n_train: int, n_val: int, n_test: int,
                seed: int = 0, frames: int = 8, size: int = 32) -> dict[str, Clips]:
    """Return train, validation and test clips (per-motion counts given) with disjoint garments.

    Training clips come from ``splits.x_train``, validation clips from ``splits.x_val`` (both
    carved from the official training split), test clips from ``x_test`` (the official test
    split, with the fixed seed 0 so that every run is scored on the same clips). Raises
    InputError if a test garment is, pixel for pixel, one of the training garments.
    """
    seed = check_seed(seed)
    train = make_clips(splits.x_train, n_train, seed=seed, frames=frames, size=size)
    val = make_clips(splits.x_val, n_val, seed=seed + 1 if seed < 2**32 - 1 else 0,
                     frames=frames, size=size)
    test = make_clips(x_test, n_test, seed=0, frames=frames, size=size)
    shared = garments_shared(splits.x_train[train.source], np.asarray(x_test)[test.source])
    if shared:
        raise InputError(f"{shared} test garments are also in the training clips")
    return {"train": train, "val": val, "test": test}


def check_clips(x: np.ndarray, name: str = "clips") -> np.ndarray:
    """Return x as a 5-D array (N, T, H, W, C), or raise InputError on a wrong rank or dtype."""
    x = np.asarray(x)
    if x.ndim != 5:
        raise InputError(f"{name} must be a 5-D array (N, T, H, W, C); got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise InputError(f"{name} must be numeric; got dtype {x.dtype}")
    return x
