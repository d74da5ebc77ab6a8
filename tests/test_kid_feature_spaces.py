"""Kernel distance (KID) against a direct computation, and the autoencoder feature space."""

import itertools

import numpy as np
import pytest

from genclass_utils import artifacts, feature_spaces, metrics
from genclass_utils.errors import ArtifactError, InputError


def cloud(n, d=8, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, d))


def direct_mmd2(a, b):
    """Unbiased MMD² with the cubic kernel, written as the double sums of Bińkowski et al. 2018."""
    d = a.shape[1]

    def k(x, y):
        return (float(np.dot(x, y)) / d + 1.0) ** 3

    m, n = len(a), len(b)
    aa = sum(k(a[i], a[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    bb = sum(k(b[i], b[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    ab = sum(k(x, y) for x in a for y in b) / (m * n)
    return aa + bb - 2.0 * ab


def test_mmd2_matches_direct_double_sum():
    a, b = cloud(6, d=3), cloud(5, d=3, shift=0.7, seed=1)
    assert metrics.mmd2_unbiased(a, b) == pytest.approx(direct_mmd2(a, b), rel=1e-10)


def test_polynomial_kernel_value():
    a, b = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[3.0, -1.0], [1.0, 1.0]])
    kab = metrics.polynomial_kernel(a, b)
    assert kab[0, 0] == pytest.approx((1.0 / 2 + 1.0) ** 3)
    assert kab[0, 1] == pytest.approx((3.0 / 2 + 1.0) ** 3) and kab[1, 1] == 1.0


def test_one_subset_of_everything_is_the_direct_mmd2():
    a, b = cloud(7, d=4), cloud(7, d=4, shift=0.3, seed=2)
    out = metrics.kernel_distance(a, b, subset_size=7)
    assert out["n_subsets"] == 1 and np.isnan(out["kid_se"])
    assert out["kid"] == pytest.approx(direct_mmd2(a, b), rel=1e-10)


def test_kid_of_one_distribution_is_zero_within_its_standard_error():
    out = metrics.kernel_distance(cloud(4000, d=16), cloud(4000, d=16, seed=5), subset_size=500)
    assert out["n_subsets"] == 8
    assert abs(out["kid"]) < 3 * out["kid_se"]


def test_kid_of_shifted_distribution_is_far_above_its_standard_error():
    out = metrics.kernel_distance(cloud(4000, d=16), cloud(4000, d=16, shift=0.3, seed=5),
                                  subset_size=500)
    assert out["kid"] > 10 * out["kid_se"] > 0


def test_kid_does_not_drift_with_subset_size_where_fd_does():
    a, b = cloud(4000, d=32), cloud(4000, d=32, seed=9)
    small = metrics.kernel_distance(a, b, subset_size=100)
    large = metrics.kernel_distance(a, b, subset_size=2000)
    assert abs(small["kid"]) < 3 * small["kid_se"] and abs(large["kid"]) < 3 * large["kid_se"]
    assert metrics.frechet_distance(a[:100], b[:100]) > 5 * metrics.frechet_distance(a, b)


@pytest.mark.parametrize("kwargs", [{"subset_size": 1}, {"subset_size": 101},
                                    {"subset_size": 50, "n_subsets": 3},
                                    {"subset_size": 50, "n_subsets": 0}])
def test_kid_rejects_impossible_subsets(kwargs):
    with pytest.raises(InputError):
        metrics.kernel_distance(cloud(100), cloud(120), **kwargs)


def test_kid_rejects_mismatched_features():
    with pytest.raises(InputError, match="different feature sizes"):
        metrics.kernel_distance(cloud(50, d=4), cloud(50, d=5), subset_size=10)


def test_paired_kid_difference_is_the_difference_of_the_kids_with_the_real_noise_removed():
    # heavy-tailed real images make each subset's own real term noisy; both generators share it
    rng = np.random.default_rng(3)
    real = rng.standard_t(3, (3000, 8))
    a, b = cloud(3000, shift=0.20, seed=11), cloud(3000, shift=0.25, seed=12)
    ka, kb = metrics.kernel_distance(real, a, subset_size=300), metrics.kernel_distance(real, b, subset_size=300)
    d = metrics.kernel_distance_difference(real, a, b, subset_size=300)
    assert d["n_subsets"] == ka["n_subsets"] == 10
    assert d["difference"] == pytest.approx(ka["kid"] - kb["kid"], rel=1e-12)
    assert d["se"] < 0.5 * np.hypot(ka["kid_se"], kb["kid_se"])
    same = metrics.kernel_distance_difference(real, a, a, subset_size=300)
    assert same["difference"] == 0.0 and same["se"] == 0.0


def test_paired_kid_difference_needs_equal_sample_counts():
    with pytest.raises(InputError, match="as many samples"):
        metrics.kernel_distance_difference(cloud(100), cloud(100), cloud(90), subset_size=10)


def test_autoencoder_space_embeds_and_round_trips_through_artifacts(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28, 1), dtype=np.uint8)
    model = feature_spaces.with_standardised_code(
        feature_spaces.autoencoder((28, 28, 1), code_dim=8, width=4), images)
    space = feature_spaces.AutoencoderSpace(model)
    codes = space.embed(images)
    assert codes.shape == (50, 8)
    np.testing.assert_allclose(codes.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(codes.std(axis=0), 1.0, atol=1e-2)
    assert space.reconstruct(images).shape == (50, 28, 28, 1)
    assert 0.0 < space.reconstruction_error(images) < 1.0
    path = artifacts.save_model(model, tmp_path / "autoencoder_x.keras")
    again = feature_spaces.AutoencoderSpace(artifacts.load_model(path))
    np.testing.assert_allclose(again.embed(images), codes, rtol=1e-5, atol=1e-6)


def test_autoencoder_space_refuses_wrong_images_and_unstandardised_models():
    images = np.zeros((4, 28, 28, 1), dtype=np.uint8)
    bare = feature_spaces.autoencoder(code_dim=4, width=4)
    with pytest.raises(ArtifactError, match="code_std"):
        feature_spaces.AutoencoderSpace(bare)
    space = feature_spaces.AutoencoderSpace(feature_spaces.with_standardised_code(bare, images))
    with pytest.raises(InputError):
        space.embed(np.zeros((3, 32, 32, 1), dtype=np.uint8))
