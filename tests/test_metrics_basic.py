"""The Fréchet distance against closed forms, and its input checks."""

import numpy as np
import pytest

from genclass_utils import metrics
from genclass_utils.errors import InputError


def test_frechet_closed_form_diagonal():
    # For diagonal covariances: ||mu1-mu2||^2 + sum (s1 + s2 - 2 sqrt(s1 s2))
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    expected = 9 + 4 + (1 + 9 - 2 * 3) + (4 + 1 - 2 * 2)
    assert metrics.frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected)


def test_frechet_on_samples_matches_known_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (20000, 3))
    b = rng.normal(0.5, 2.0, (20000, 3))
    expected = 3 * 0.5**2 + 3 * (1 + 4 - 2 * 2)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=0.05)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_matches_direct_scipy():
    from scipy import linalg
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(500, 4)), rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    m1, m2, c1, c2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    direct = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * np.real(linalg.sqrtm(c1 @ c2)))
    assert metrics.frechet_distance(a, b) == pytest.approx(direct, rel=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_frechet_rejects_nonfinite(bad):
    a = np.ones((10, 2))
    a[3, 1] = bad
    with pytest.raises(InputError, match="NaN or Inf"):
        metrics.frechet_distance(a, np.ones((10, 2)))


def test_frechet_rejects_wrong_shape():
    with pytest.raises(InputError, match="2-D"):
        metrics.frechet_distance(np.ones(10), np.ones((10, 2)))


def test_laplacian_variance_ranks_blur_below_sharp_and_checks_input():
    """A blurred copy of an image scores lower; uint8 and [0, 1] floats give the same score."""
    from scipy import ndimage

    laplacian_variance = metrics.laplacian_variance
    rng = np.random.default_rng(0)
    sharp = (rng.random((5, 28, 28)) > 0.5).astype(np.float64)
    blurred = np.stack([ndimage.gaussian_filter(im, 1.5) for im in sharp])
    assert np.all(laplacian_variance(blurred) < laplacian_variance(sharp))
    u8 = (sharp * 255).astype(np.uint8)[..., None]
    assert np.allclose(laplacian_variance(u8), laplacian_variance(sharp))
    assert np.allclose(laplacian_variance(np.full((2, 8, 8), 0.3)), 0.0)
    with pytest.raises(InputError):
        laplacian_variance(np.zeros((28, 28)))
    with pytest.raises(InputError):
        laplacian_variance(np.full((1, 4, 4), np.nan))
