"""Image preprocessing: noise, denoising, enhancement, segmentation and their scores.

Explained in notebooks/01_image_preprocessing.ipynb. Every function takes one grayscale image
(H, W) or (H, W, 1), or a batch (N, H, W[, 1]), as uint8 0..255 or float in [0, 1], and returns
float images in [0, 1] of the same shape, unless its docstring says otherwise. The filters are
scikit-image's and SciPy's; this module only makes them work on batches with a common range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .errors import InputError

DENOISERS = ("mean", "gaussian", "median", "bilateral")
ENHANCERS = ("stretch", "equalize", "clahe", "gamma")


def as_float(images: np.ndarray) -> np.ndarray:
    """Return images as float64 in [0, 1] (uint8 is divided by 255; floats must lie in [0, 1])."""
    x = np.asarray(images)
    if x.ndim < 2 or x.size == 0:
        raise InputError(f"expected an image (H, W[, 1]) or a batch of them; got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"images must be uint8 or float in [0, 1]; got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise InputError("images contain NaN or Inf")
    if x.min() < -1e-6 or x.max() > 1 + 1e-6:
        raise InputError(f"float images must lie in [0, 1]; got [{x.min():.3g}, {x.max():.3g}]")
    return np.clip(x.astype(np.float64), 0.0, 1.0)


def _per_image(fn: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    """Return fn applied to every 2-D image of a (N, H, W[, 1]) batch or to one image."""
    x = as_float(images)
    squeeze = x.ndim >= 3 and x.shape[-1] == 1
    if x.ndim == 4 and x.shape[-1] != 1:
        raise InputError(f"grayscale images expected (last axis 1); got shape {x.shape}")
    core = x[..., 0] if squeeze else x
    if core.ndim == 2:
        out = fn(core)
    elif core.ndim == 3:
        out = np.stack([fn(im) for im in core])
    else:
        raise InputError(f"expected (H, W), (H, W, 1), (N, H, W) or (N, H, W, 1); got {x.shape}")
    out = np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)
    return out[..., None] if squeeze else out


# --- noise ---------------------------------------------------------------------------------

def add_gaussian_noise(images: np.ndarray, sigma: float = 0.1, seed: int = 0) -> np.ndarray:
    """Return images plus N(0, sigma^2) noise, clipped to [0, 1]."""
    if sigma < 0:
        raise InputError(f"sigma must be >= 0; got {sigma}")
    from skimage.util import random_noise

    return random_noise(as_float(images), mode="gaussian", var=sigma ** 2, rng=seed, clip=True)


def add_salt_pepper(images: np.ndarray, amount: float = 0.05, seed: int = 0) -> np.ndarray:
    """Return images with a fraction `amount` of pixels set to 0 or 1 (half each)."""
    if not 0 <= amount <= 1:
        raise InputError(f"amount must lie in [0, 1]; got {amount}")
    from skimage.util import random_noise

    return random_noise(as_float(images), mode="s&p", amount=amount, rng=seed)


# --- denoising -----------------------------------------------------------------------------

def denoise(images: np.ndarray, method: str = "median", size: int = 3, sigma: float = 1.0,
            sigma_color: float = 0.1) -> np.ndarray:
    """Return images filtered by 'mean', 'gaussian', 'median' (size x size) or 'bilateral'."""
    from scipy import ndimage
    from skimage.restoration import denoise_bilateral

    filters: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
        "mean": lambda im: ndimage.uniform_filter(im, size=size, mode="reflect"),
        "gaussian": lambda im: ndimage.gaussian_filter(im, sigma=sigma, mode="reflect"),
        "median": lambda im: ndimage.median_filter(im, size=size, mode="reflect"),
        "bilateral": lambda im: denoise_bilateral(im, win_size=max(size, 3), sigma_color=sigma_color,
                                                  sigma_spatial=sigma, mode="reflect"),
    }
    if method not in filters:
        raise InputError(f"unknown denoising method {method!r}; choose one of: {', '.join(DENOISERS)}")
    return _per_image(filters[method], images)


# --- enhancement ---------------------------------------------------------------------------

def enhance(images: np.ndarray, method: str = "stretch", gamma: float = 0.5,
            percentiles: tuple[float, float] = (2, 98), clip_limit: float = 0.02) -> np.ndarray:
    """Return images after 'stretch' (percentile contrast stretch), 'equalize', 'clahe' or 'gamma'."""
    from skimage import exposure

    def stretch(im):
        lo, hi = np.percentile(im, percentiles)
        if hi <= lo:  # a flat image has no contrast to stretch
            return im
        return exposure.rescale_intensity(im, in_range=(lo, hi), out_range=(0.0, 1.0))

    methods: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
        "stretch": stretch,
        "equalize": lambda im: exposure.equalize_hist(im),
        "clahe": lambda im: exposure.equalize_adapthist(im, clip_limit=clip_limit),
        "gamma": lambda im: exposure.adjust_gamma(im, gamma),
    }
    if method not in methods:
        raise InputError(f"unknown enhancement {method!r}; choose one of: {', '.join(ENHANCERS)}")
    return _per_image(methods[method], images)


# --- segmentation --------------------------------------------------------------------------

def otsu_threshold(image: np.ndarray) -> float:
    """Return Otsu's threshold (in [0, 1]) of one image: the cut that maximises between-class variance."""
    from skimage.filters import threshold_otsu

    x = as_float(image)
    if np.ptp(x) == 0:
        raise InputError("Otsu's threshold is undefined on a constant image")
    return float(threshold_otsu(x))


def foreground_mask(image: np.ndarray, threshold: float | str = "otsu",
                    min_size: int = 0) -> np.ndarray:
    """Return the boolean mask image > threshold ('otsu' or a number in [0, 1]), small blobs removed."""
    x = as_float(image)
    t = otsu_threshold(x) if threshold == "otsu" else float(threshold)
    mask = x > t
    if min_size > 0:
        from skimage.morphology import remove_small_objects

        # 8-connectivity, as connected_components counts the regions.
        mask = remove_small_objects(mask, max_size=min_size - 1, connectivity=2)  # blobs < min_size
    return mask


def connected_components(mask: np.ndarray, connectivity: int = 2) -> tuple[np.ndarray, int]:
    """Return (labels, count): each 8-connected (connectivity=2) or 4-connected region numbered 1..count."""
    from skimage.measure import label

    labels, count = label(np.asarray(mask, dtype=bool), connectivity=connectivity,
                          return_num=True)
    return labels, int(count)


# --- scores --------------------------------------------------------------------------------

def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """Return the peak signal-to-noise ratio in dB (data range 1); inf for identical images."""
    from skimage.metrics import peak_signal_noise_ratio

    a, b = as_float(reference), as_float(image)
    if a.shape != b.shape:
        raise InputError(f"shapes differ: {a.shape} vs {b.shape}")
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=1.0))


def ssim_per_image(reference: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Return the structural similarity (data range 1) of each pair of images, as an array.

    Two single images give an array of one value; two batches, one value per image, so that two
    filters scored on the same images can be compared pair by pair.
    """
    from skimage.metrics import structural_similarity

    a, b = as_float(reference), as_float(image)
    if a.shape != b.shape:
        raise InputError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim >= 3 and a.shape[-1] == 1:
        a, b = a[..., 0], b[..., 0]
    if a.ndim == 2:
        a, b = a[None], b[None]
    return np.array([structural_similarity(p, q, data_range=1.0) for p, q in zip(a, b)])


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """Return the mean structural similarity (data range 1) of two images or two batches."""
    return float(np.mean(ssim_per_image(reference, image)))


def score(clean: np.ndarray, candidates: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Return {name: {"psnr": dB, "ssim": ...}} of each candidate against the clean images.

    Over a batch, PSNR is computed per image and averaged in dB (images identical to the clean
    one count as inf, so the mean is inf only if one candidate image is untouched).
    """
    clean_f = as_float(clean)
    out: dict[str, dict[str, float]] = {}
    for name, img in candidates.items():
        img_f = as_float(img)
        if img_f.shape != clean_f.shape:
            raise InputError(f"{name}: shape {img_f.shape} differs from the clean {clean_f.shape}")
        batch = clean_f.ndim == 4 or (clean_f.ndim == 3 and clean_f.shape[-1] != 1)
        if batch:
            p = float(np.mean([psnr(c, i) for c, i in zip(clean_f, img_f)]))
        else:
            p = psnr(clean_f, img_f)
        out[name] = {"psnr": p, "ssim": ssim(clean_f, img_f)}
    return out
