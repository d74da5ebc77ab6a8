"""Small voxel volumes of procedurally made solids, with random pose, scale, position and noise.

Explained in notebooks/09_clips_and_volumes.ipynb. Each volume is a ``size``^3 grid holding one
solid of a class in :data:`SOLIDS`, turned by a uniformly random rotation, scaled, shifted and
blurred by additive Gaussian noise. Everything is drawn from a seed, so a split is a seed:
:func:`volume_splits` makes training and validation volumes from the run's seed and a fixed
test set from :data:`TEST_SEED`, whatever the run's seed.

Arrays follow the image data's rules (``gu.data``): uint8 volumes of shape (n, D, H, W, 1),
int64 labels, and one :class:`~genclass_utils.errors.InputError` for a bad argument.
"""

from __future__ import annotations

import numpy as np

from .data import check_count, check_seed
from .errors import InputError

SOLIDS = ("sphere", "cube", "cylinder", "cone", "torus")
TEST_SEED = 20150000  # the test volumes' seed, never a run's training seed (see volume_splits)
SCALES = (0.55, 0.9)  # half-extent of a solid, as a share of half the grid
NOISE = 0.15  # standard deviation of the additive noise, in occupancy units


def _inside(kind: str, p: np.ndarray) -> np.ndarray:
    """Return the occupancy (bool) of points p (..., 3) in a solid's own unit frame."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    r = np.sqrt(x ** 2 + y ** 2)
    if kind == "sphere":
        return x ** 2 + y ** 2 + z ** 2 <= 1.0
    if kind == "cube":
        return np.max(np.abs(p), axis=-1) <= 0.7
    if kind == "cylinder":
        return (r <= 0.65) & (np.abs(z) <= 0.9)
    if kind == "cone":
        return (np.abs(z) <= 0.9) & (r <= 0.85 * (0.9 - z) / 1.8)
    if kind == "torus":
        return (r - 0.62) ** 2 + z ** 2 <= 0.33 ** 2
    raise InputError(f"unknown solid {kind!r}; choose one of: {', '.join(SOLIDS)}")


def render_volume(kind: str, rng: np.random.Generator, size: int = 16,
                  noise: float = NOISE) -> np.ndarray:
    """Return one float32 volume (size, size, size) in [0, 1]: a posed solid plus noise."""
    from scipy.spatial.transform import Rotation

    half = (size - 1) / 2.0
    grid = np.stack(np.meshgrid(*[np.arange(size, dtype=np.float64)] * 3, indexing="ij"), -1)
    scale = rng.uniform(*SCALES) * half
    centre = half + rng.uniform(-1.5, 1.5, 3)
    rot = Rotation.random(random_state=rng).as_matrix()
    # Supersampling by 2 along each axis softens the voxel edges (8 points per voxel).
    offsets = np.stack(np.meshgrid(*[np.array([-0.25, 0.25])] * 3, indexing="ij"), -1).reshape(-1, 3)
    occ = np.zeros((size, size, size), np.float64)
    for o in offsets:
        p = ((grid + o - centre) / scale) @ rot  # row vectors: p @ R = R^T p
        occ += _inside(kind, p)
    occ /= len(offsets)
    occ += rng.normal(0.0, noise, occ.shape)
    return np.clip(occ, 0.0, 1.0).astype(np.float32)


def make_volumes(n_per_class: int, seed: int = 0, size: int = 16,
                 noise: float = NOISE) -> tuple[np.ndarray, np.ndarray]:
    """Return (uint8 volumes (n, size, size, size, 1), int64 labels), n_per_class of each solid, shuffled."""
    n_per_class, seed = check_count(n_per_class, "n_per_class"), check_seed(seed)
    size = check_count(size, "size")
    if not 8 <= size <= 64:
        raise InputError(f"size must be between 8 and 64 voxels; got {size}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
        raise InputError(f"noise must be a number in [0, 1]; got {noise!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(SOLIDS)), n_per_class))
    x = np.stack([render_volume(SOLIDS[c], rng, size, float(noise)) for c in labels])
    x = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)[..., None]
    return x, labels.astype(np.int64)


def volume_splits(n_train: int, n_val: int, n_test: int, seed: int = 0, size: int = 16
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return train, validation and test (volumes, labels); per-solid counts given.

    Training and validation volumes come from two streams of the run's seed; the test volumes
    from TEST_SEED, the same for every run.
    """
    seed = check_seed(seed)
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2)]
    if TEST_SEED in seeds:  # astronomically unlikely, but then the test set would be trained on
        raise InputError(f"seed {seed} draws the test volumes' stream; use another seed")
    return {"train": make_volumes(n_train, seeds[0], size),
            "val": make_volumes(n_val, seeds[1], size),
            "test": make_volumes(n_test, TEST_SEED, size)}
