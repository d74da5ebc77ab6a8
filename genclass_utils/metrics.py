"""Metrics for generated images: the Fréchet distance (more are added by later chapters)."""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .errors import InputError


def _check_features(f: np.ndarray, name: str) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2:
        raise InputError(f"{name} must be a 2-D array (n_samples, n_features); got shape {f.shape}")
    if f.shape[0] < 2:
        raise InputError(f"{name} needs at least 2 samples; got {f.shape[0]}")
    if not np.isfinite(f).all():
        raise InputError(f"{name} contains NaN or Inf; check the generator's outputs")
    return f


def gaussian_stats(features: np.ndarray, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and covariance of a set of feature vectors."""
    f = _check_features(features, name)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """Return the Fréchet distance between two Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})   (Heusel et al. 2017)
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    s1, s2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise InputError(f"statistics do not match: {mu1.shape} vs {mu2.shape}, "
                         f"{s1.shape} vs {s2.shape}")
    for a, n in ((mu1, "mu1"), (mu2, "mu2"), (s1, "sigma1"), (s2, "sigma2")):
        if not np.isfinite(a).all():
            raise InputError(f"{n} contains NaN or Inf")
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():  # near-singular product: regularise, as in the reference code
        eps = 1e-6 * np.eye(s1.shape[0])
        covmean = linalg.sqrtm((s1 + eps).dot(s2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(max(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean), 0.0))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Return the Fréchet distance between the Gaussians fitted to two sets of features."""
    mu1, s1 = gaussian_stats(features_a, "features_a")
    mu2, s2 = gaussian_stats(features_b, "features_b")
    return frechet_distance_from_stats(mu1, s1, mu2, s2)
