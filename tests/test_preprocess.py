"""Preprocessing: noise, filters, enhancement, segmentation and scores on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from genclass_utils import preprocess as P
from genclass_utils.errors import InputError


def test_psnr_of_identical_images_is_inf_and_ssim_is_one():
    img = np.random.default_rng(0).uniform(size=(16, 16))
    assert P.psnr(img, img) == float("inf")
    assert P.ssim(img, img) == pytest.approx(1.0)


def test_ssim_per_image_scores_each_pair_and_averages_to_ssim():
    rng = np.random.default_rng(1)
    clean = rng.uniform(size=(3, 16, 16, 1))
    noisy = np.clip(clean + rng.normal(0, [0.05, 0.2, 0.4], size=(16, 16, 1, 3)).transpose(3, 0, 1, 2), 0, 1)
    per = P.ssim_per_image(clean, noisy)
    assert per.shape == (3,)
    assert per[0] > per[1] > per[2]  # more noise, less similar
    for k in range(3):
        assert per[k] == pytest.approx(P.ssim(clean[k], noisy[k]))
    assert P.ssim(clean, noisy) == pytest.approx(per.mean())
    with pytest.raises(InputError):
        P.ssim_per_image(clean, noisy[:2])


def test_psnr_matches_its_formula():
    a = np.zeros((8, 8))
    b = np.full((8, 8), 0.1)
    assert P.psnr(a, b) == pytest.approx(10 * np.log10(1 / 0.01))


def test_median_filter_removes_an_isolated_salt_pixel():
    img = np.full((9, 9), 0.3)
    noisy = img.copy()
    noisy[4, 4] = 1.0
    np.testing.assert_allclose(P.denoise(noisy, "median"), img)
    assert P.denoise(noisy, "mean")[4, 4] > 0.3  # a mean filter only spreads it


@pytest.mark.parametrize("method", P.DENOISERS)
def test_denoisers_keep_shape_and_range_on_batches(method):
    x = np.random.default_rng(0).integers(0, 256, (3, 12, 12, 1), dtype=np.uint8)
    out = P.denoise(x, method)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


def test_noise_adders_are_seeded_and_in_range():
    img = np.full((20, 20), 0.5)
    a = P.add_gaussian_noise(img, 0.1, seed=1)
    assert np.array_equal(a, P.add_gaussian_noise(img, 0.1, seed=1))
    assert 0 <= a.min() and a.max() <= 1 and 0.05 < a.std() < 0.15
    sp = P.add_salt_pepper(img, 0.2, seed=0)
    changed = sp != 0.5
    assert set(np.unique(sp[changed])) <= {0.0, 1.0}
    assert 0.1 < changed.mean() < 0.3


def test_otsu_splits_a_bimodal_image_between_its_modes():
    rng = np.random.default_rng(0)
    img = np.where(np.arange(400).reshape(20, 20) < 200, 0.2, 0.8) + rng.normal(0, 0.03, (20, 20))
    img = np.clip(img, 0, 1)
    t = P.otsu_threshold(img)
    low, high = img.ravel()[:200], img.ravel()[200:]
    assert low.max() <= t < high.min()  # any cut in the gap maximises the between-class variance
    assert P.foreground_mask(img).sum() == 200


def test_connected_components_counts_blobs():
    mask = np.zeros((10, 10), bool)
    mask[1:3, 1:3] = True
    mask[6:9, 6:9] = True
    mask[3, 3] = True  # diagonal neighbour of the first blob
    assert P.connected_components(mask, connectivity=2)[1] == 2
    assert P.connected_components(mask, connectivity=1)[1] == 3


def test_enhancers_stretch_contrast():
    img = np.linspace(0.4, 0.6, 100).reshape(10, 10)
    for method in P.ENHANCERS:
        out = P.enhance(img, method)
        assert out.shape == img.shape
    assert np.ptp(P.enhance(img, "stretch")) > 0.9
    assert np.ptp(P.enhance(img, "equalize")) > 0.9
    assert P.enhance(img, "gamma", gamma=0.5).mean() > img.mean()


def test_score_returns_a_row_per_candidate():
    clean = np.random.default_rng(0).uniform(size=(2, 8, 8, 1))
    rows = P.score(clean, {"same": clean, "noisy": P.add_gaussian_noise(clean, 0.2)})
    assert rows["same"]["psnr"] == float("inf")
    assert rows["noisy"]["psnr"] < 20 and rows["noisy"]["ssim"] < 1


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError):
        P.denoise(np.zeros((4, 4)), "wiener")
    with pytest.raises(InputError):
        P.as_float(np.full((4, 4), 3.0))
    with pytest.raises(InputError):
        P.otsu_threshold(np.zeros((4, 4)))
    with pytest.raises(InputError):
        P.psnr(np.zeros((4, 4)), np.zeros((5, 5)))
