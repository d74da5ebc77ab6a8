"""Metrics for generated images: Fréchet distance, precision/recall, label checks, coverage, CAS.

Explained in notebooks/06_evaluating_generators.ipynb; every metric works on the evaluator's
embeddings or predictions (gu.evaluator), never on Inception features.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import linalg

from .data import check_count
from .errors import InputError


def _real_array(x, name: str, kinds: str = "biuf") -> np.ndarray:
    """Return x as a float64 array, or raise InputError for ragged, text, object or complex input."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InputError(f"{name} must be a rectangular array of numbers ({e})") from e
    if a.dtype.kind not in kinds:
        raise InputError(f"{name} must hold real numbers; got dtype {a.dtype}")
    return a.astype(np.float64)


def _check_features(f: np.ndarray, name: str) -> np.ndarray:
    f = _real_array(f, name)
    if f.ndim != 2:
        raise InputError(f"{name} must be a 2-D array (n_samples, n_features); got shape {f.shape}")
    if f.shape[0] < 2:
        raise InputError(f"{name} needs at least 2 samples; got {f.shape[0]}")
    if f.shape[1] < 1:
        raise InputError(f"{name} needs at least 1 feature; got shape {f.shape}")
    if not np.isfinite(f).all():
        raise InputError(f"{name} contains NaN or Inf; check the generator's outputs")
    return f


def gaussian_stats(features: np.ndarray, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and covariance of a set of feature vectors."""
    f = _check_features(features, name)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def check_covariance(sigma: np.ndarray, name: str = "sigma") -> None:
    """Raise InputError unless sigma is a symmetric positive semi-definite matrix (up to rounding)."""
    sigma = _real_array(sigma, name)
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1] or sigma.size == 0:
        raise InputError(f"{name} must be a non-empty square matrix; got shape {sigma.shape}")
    if not np.isfinite(sigma).all():
        raise InputError(f"{name} contains NaN or Inf")
    scale = max(float(np.abs(sigma).max()), 1e-300)
    if not np.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-9 * scale):
        raise InputError(f"{name} is not symmetric, so it is not a covariance matrix")
    lowest = float(np.linalg.eigvalsh((sigma + sigma.T) / 2).min())
    if lowest < -1e-6 * scale:
        raise InputError(f"{name} has a negative eigenvalue ({lowest:.3g}), so it is not a "
                         "covariance matrix")


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """Return the Fréchet distance between two Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})   (Heusel et al. 2017)
    """
    mu1, mu2 = np.atleast_1d(_real_array(mu1, "mu1")), np.atleast_1d(_real_array(mu2, "mu2"))
    s1, s2 = np.atleast_2d(_real_array(sigma1, "sigma1")), np.atleast_2d(_real_array(sigma2, "sigma2"))
    d = mu1.shape[0]
    if mu1.ndim != 1 or mu1.shape != mu2.shape or s1.shape != (d, d) or s2.shape != (d, d):
        raise InputError(f"statistics do not match: means {mu1.shape} and {mu2.shape}, "
                         f"covariances {s1.shape} and {s2.shape}; expected means (d,) and "
                         "covariances (d, d) of the same d")
    for a, n in ((mu1, "mu1"), (mu2, "mu2"), (s1, "sigma1"), (s2, "sigma2")):
        if not np.isfinite(a).all():
            raise InputError(f"{n} contains NaN or Inf")
    for a, n in ((s1, "sigma1"), (s2, "sigma2")):
        check_covariance(a, n)
    with warnings.catch_warnings():  # singular covariances (dead ReLU features) are expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
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


# --------------------------------------------------------------------------- precision and recall

def _pair(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = _check_features(a, name_a), _check_features(b, name_b)
    if a.shape[1] != b.shape[1]:
        raise InputError(f"{name_a} and {name_b} have different feature sizes: "
                         f"{a.shape[1]} vs {b.shape[1]}")
    return a, b


def knn_radii(features: np.ndarray, k: int = 3) -> np.ndarray:
    """Return each point's distance to its k-th nearest neighbour in the same set (itself excluded)."""
    from sklearn.neighbors import NearestNeighbors

    f = _check_features(features, "features")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < len(f):
        raise InputError(f"k must lie in 1..{len(f) - 1} for {len(f)} points; got {k}")
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(f)
    dist, _ = nn.kneighbors(f)  # column 0 is the point itself (distance 0)
    return dist[:, k]


def inside_manifold(query: np.ndarray, reference: np.ndarray, radii: np.ndarray,
                    working_memory: int = 256) -> np.ndarray:
    """Return, per query point, whether it lies within the k-NN ball of some reference point."""
    from sklearn.metrics import pairwise_distances_chunked

    q, r = _pair(query, reference, "query", "reference")
    radii = _real_array(radii, "radii")
    if radii.shape != (len(r),):
        raise InputError(f"radii must have shape ({len(r)},); got {radii.shape}")
    if not np.isfinite(radii).all() or radii.min() < 0:
        raise InputError("radii must be finite distances >= 0 (use knn_radii)")
    # Chunks of query rows keep a 10k x 10k comparison within `working_memory` MiB.
    tol = 1e-6 * max(float(radii.max()), 1.0)  # distance of a point to its own copy is ~0, not 0
    inside = [(d <= radii[None, :] + tol).any(axis=1)
              for d in pairwise_distances_chunked(q, r, working_memory=working_memory)]
    return np.concatenate(inside)


def precision_recall(real_features: np.ndarray, fake_features: np.ndarray, k: int = 3
                     ) -> dict[str, float]:
    """Return improved precision and recall (Kynkäänniemi et al. 2019) of fake against real features.

    precision = share of generated samples inside the real manifold (fidelity);
    recall = share of real samples inside the generated manifold (diversity). Each manifold is
    the union of balls around its points, with radius the distance to the k-th nearest neighbour.
    """
    real, fake = _pair(real_features, fake_features, "real_features", "fake_features")
    precision = inside_manifold(fake, real, knn_radii(real, k)).mean()
    recall = inside_manifold(real, fake, knn_radii(fake, k)).mean()
    return {"precision": float(precision), "recall": float(recall)}


# --------------------------------------------------------------------------- label checks, coverage

def _check_probs(probs: np.ndarray) -> np.ndarray:
    p = _real_array(probs, "probs")
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] < 1:
        raise InputError(f"probs must be a non-empty 2-D array (n_images, n_classes >= 2); "
                         f"got shape {p.shape}")
    if not np.isfinite(p).all():
        raise InputError("probs contain NaN or Inf")
    sums = p.sum(axis=1)
    if p.min() < 0 or p.max() > 1 + 1e-3 or np.abs(sums - 1).max() > 5e-3:  # float16 softmax
        raise InputError("probs must be class probabilities (each row in [0, 1], summing to 1); "
                         f"got values in [{p.min():.3g}, {p.max():.3g}] and row sums in "
                         f"[{sums.min():.3g}, {sums.max():.3g}] (logits or log-probabilities? "
                         "apply softmax or exp first)")
    return p


def label_agreement(probs: np.ndarray, requested: np.ndarray) -> dict:
    """Return the evaluator's accuracy and mean confidence on the requested labels, overall and per class.

    probs are the evaluator's class probabilities for images generated with labels `requested`;
    confidence is the probability given to the requested class.
    """
    p = _check_probs(probs)
    n_classes = p.shape[1]
    y = np.asarray(requested)
    if y.shape != (len(p),):
        raise InputError(f"requested labels must have shape ({len(p)},); got {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
        raise InputError(f"requested labels must be integers in 0..{n_classes - 1}")
    hit = p.argmax(axis=1) == y
    conf = p[np.arange(len(p)), y]
    per_acc = [float(hit[y == c].mean()) if np.any(y == c) else float("nan") for c in range(n_classes)]
    per_conf = [float(conf[y == c].mean()) if np.any(y == c) else float("nan")
                for c in range(n_classes)]
    return {"accuracy": float(hit.mean()), "confidence": float(conf.mean()),
            "per_class_accuracy": per_acc, "per_class_confidence": per_conf}


def class_histogram(predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Return the share of predictions that fall in each class (sums to 1)."""
    y = np.asarray(predicted)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise InputError(f"n_classes must be a whole number, at least 1; got {n_classes!r}")
    if y.ndim != 1 or y.size == 0:
        raise InputError(f"predicted labels must be a non-empty 1-D array; got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise InputError(f"predicted labels must be integers in 0..{n_classes - 1}")
    return np.bincount(y, minlength=n_classes) / y.size


def coverage_entropy(predicted: np.ndarray, n_classes: int) -> float:
    """Return the entropy of the predicted-class histogram divided by log(n_classes): 1 = uniform, 0 = one class.

    H(h) / log K with h the histogram of the evaluator's predicted classes; a mode-collapsed
    generator that draws most samples from a few classes scores well below 1.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise InputError(f"n_classes must be a whole number, at least 2; got {n_classes!r}")
    h = class_histogram(predicted, n_classes)
    nz = h[h > 0]
    return float(max(-(nz * np.log(nz)).sum() / np.log(n_classes), 0.0)) + 0.0  # no -0.0


# --------------------------------------------------------------------------- Classification Accuracy Score

def _images_labels(x: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    from .evaluator import prepare_images

    x = prepare_images(x)
    y = np.asarray(y)
    if y.shape != (len(x),):
        raise InputError(f"{name}: labels must have shape ({len(x)},); got {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"{name}: labels must be integer class indices; got dtype {y.dtype}")
    if y.size == 0 or y.min() < 0:
        raise InputError(f"{name}: labels must be a non-empty array of class indices >= 0")
    return x, y.astype(np.int64)


def classification_accuracy_score(x_train: np.ndarray, y_train: np.ndarray,
                                  x_val: np.ndarray, y_val: np.ndarray,
                                  x_test: np.ndarray, y_test: np.ndarray, *,
                                  build_classifier: Callable, cfg, epochs: int | None = None,
                                  batch_size: int | None = None, train: Callable | None = None,
                                  name: str = "cas", verbose: int | None = None) -> dict:
    """Return the Classification Accuracy Score (Ravuri & Vinyals 2019) of a labeled training set.

    A classifier from ``build_classifier(input_shape, n_classes)`` is trained on (x_train,
    y_train) only (generated images for CAS, real ones for its reference) with chapter 2's
    ``fit_classifier``, stopped early on (x_val, y_val) (held-out generated images for a
    generator's CAS, so that no real image is seen before the test; real validation images for
    the real reference), and scored on the real test split; ``train(model, x, y, x_val, y_val)`` may replace that fit. Accuracies are measured in inference mode; ``train_accuracy``
    exposes BatchNormalization statistics that were not ready (train high, test near chance).
    """
    x, y = _images_labels(x_train, y_train, "training set")
    xv, yv = _images_labels(x_val, y_val, "validation set")
    xt, yt = _images_labels(x_test, y_test, "test set")
    if not (x.shape[1:] == xv.shape[1:] == xt.shape[1:]):
        raise InputError(f"image shapes differ: train {x.shape[1:]}, val {xv.shape[1:]}, "
                         f"test {xt.shape[1:]}")
    n_classes = int(max(y.max(), yv.max(), yt.max())) + 1
    model = build_classifier(x.shape[1:], n_classes)
    epochs = cfg.epochs("cas") if epochs is None else int(epochs)
    batch_size = cfg.batch_size("cas") if batch_size is None else int(batch_size)
    if train is None:  # chapter 2's fit: cosine-decayed Adam, early stopping on real validation
        from .models.classifiers import fit_classifier

        fit_classifier(model, x, y, cfg, epochs, x_val=xv, y_val=yv, batch_size=batch_size,
                       verbose=verbose, name=name)
    else:
        model = train(model, x, y, xv, yv)

    def acc(a, b):
        return float(np.mean(model.predict(a, batch_size=1000, verbose=0).argmax(axis=1) == b))

    return {"test_accuracy": acc(xt, yt), "val_accuracy": acc(xv, yv),
            "train_accuracy": acc(x[:10000], y[:10000]), "n_train": int(len(x))}


def real_cas(x_real: np.ndarray, y_real: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
             x_test: np.ndarray, y_test: np.ndarray, n: int, *, build_classifier: Callable, cfg,
             seed: int = 0, **kwargs) -> dict:
    """Return the CAS reference: the same classifier and budget trained on n real training images.

    The n images are a class-balanced draw from the real training split (all of it if n is
    larger), so the only difference from a generator's CAS is where the images came from.
    """
    from . import data

    y_real = np.asarray(y_real)
    if n >= len(y_real):
        idx = np.arange(len(y_real))
    else:
        idx = data.stratified_take(y_real, int(n), seed)
    return classification_accuracy_score(x_real[idx], y_real[idx], x_val, y_val, x_test, y_test,
                                         build_classifier=build_classifier, cfg=cfg,
                                         name="real_cas", **kwargs)


# --------------------------------------------------------------------------- memorisation

def nearest_neighbours(query_features: np.ndarray, reference_features: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Return, for each query point, the distance to and index of its nearest reference point."""
    from sklearn.neighbors import NearestNeighbors

    q, r = _pair(query_features, reference_features, "query_features", "reference_features")
    dist, idx = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(r).kneighbors(q)
    return dist[:, 0], idx[:, 0]


def memorisation_check(generated_features: np.ndarray, train_features: np.ndarray,
                       test_distance: np.ndarray, quantile: float = 0.01) -> dict:
    """Return nearest-training-image distances and indices of generated images, compared with test images'.

    test_distance holds, for real test images (never trained on), the distance to their nearest
    training image (``nearest_neighbours(test, train)[0]``): how close an unseen real image
    usually lies. A generator that copies its training images puts many generated images below
    the low `quantile` of those distances.
    """
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float, np.number)) \
            or not 0 < quantile < 1:
        raise InputError(f"quantile must lie in (0, 1); got {quantile}")
    d_test = _real_array(test_distance, "test_distance")
    if d_test.ndim != 1 or d_test.size == 0 or not np.isfinite(d_test).all():
        raise InputError("test_distance must be a non-empty 1-D array of finite distances")
    d_gen, i_gen = nearest_neighbours(generated_features, train_features)
    threshold = float(np.quantile(d_test, quantile))
    return {"distance": d_gen, "index": i_gen, "threshold": threshold,
            "share_below_threshold": float(np.mean(d_gen < threshold)),
            "median_ratio": float(np.median(d_gen) / max(float(np.median(d_test)), 1e-12))}


# --------------------------------------------------------------------------- sensitivity

def sample_size_sensitivity(metric: Callable[[np.ndarray, np.ndarray], float | Mapping],
                            real_features: np.ndarray, fake_features: np.ndarray,
                            sizes: Sequence[int] = (1000, 5000, 10000), repeats: int = 1,
                            seed: int = 0) -> dict[int, dict[str, dict[str, float]]]:
    """Return {n: {key: {"mean", "std"}}} of metric(real subset, fake subset) over subsets of n samples.

    A metric returning a dict (precision_recall) gives one key per entry; one returning a float
    gives the key ``metric.__name__``. Sizes larger than either set are skipped. The Fréchet
    distance is biased upwards at small n, so only numbers computed on the same n compare.
    """
    real, fake = _pair(real_features, fake_features, "real_features", "fake_features")
    repeats = check_count(repeats, "repeats")
    sizes = [check_count(n, "each sample size", minimum=2) for n in sizes]
    rng = np.random.default_rng(seed)
    out: dict[int, dict[str, dict[str, float]]] = {}
    for n in sizes:
        if n > min(len(real), len(fake)):
            continue
        runs: dict[str, list[float]] = {}
        for _ in range(repeats):
            v = metric(real[rng.choice(len(real), n, replace=False)],
                       fake[rng.choice(len(fake), n, replace=False)])
            items = v.items() if isinstance(v, Mapping) else [(getattr(metric, "__name__", "value"), v)]
            for key, val in items:
                runs.setdefault(key, []).append(float(val))
        out[n] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in runs.items()}
    return out


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """Return each image's variance of the Laplacian (a sharpness score; higher is sharper).

    Images are scaled to [0, 1] first (uint8 is divided by 255), so scores of real and generated
    images compare. Blur removes high frequencies, which the Laplacian responds to, so a blurry
    image scores lower than a sharp one of the same content.
    """
    from scipy import ndimage

    x = np.asarray(images)
    if x.dtype.kind not in "iuf":
        raise InputError(f"images must hold real pixel values; got dtype {x.dtype}")
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or len(x) == 0:
        raise InputError(f"images must have shape (n, h, w) or (n, h, w, 1); got {np.shape(images)}")
    x = x.astype(np.float64) / 255.0 if np.issubdtype(x.dtype, np.integer) else x.astype(np.float64)
    if not np.isfinite(x).all():
        raise InputError("images contain NaN or Inf")
    lap = np.stack([ndimage.laplace(img, mode="reflect") for img in x])
    return lap.reshape(len(x), -1).var(axis=1)


# --------------------------------------------------------------------------- kernel distance (KID)

def polynomial_kernel(features_a: np.ndarray, features_b: np.ndarray) -> np.ndarray:
    """Return the cubic polynomial kernel matrix k(a, b) = (a·b / d + 1)^3 between two feature sets."""
    a, b = _pair(features_a, features_b, "features_a", "features_b")
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Return the unbiased estimate of the squared MMD between two feature sets (cubic polynomial kernel).

    MMD²_u = Σ_{i≠j} k(a_i, a_j) / (m(m-1)) + Σ_{i≠j} k(b_i, b_j) / (n(n-1)) - 2 Σ_{i,j} k(a_i, b_j) / (mn):
    the diagonal terms k(x, x), which make the plug-in estimate positive even for one
    distribution, are left out, so its expectation is the true MMD² and it can be negative.
    """
    a, b = _pair(features_a, features_b, "features_a", "features_b")
    m, n = len(a), len(b)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
        kaa, kbb = polynomial_kernel(a, a), polynomial_kernel(b, b)
        kab = polynomial_kernel(a, b)
        value = float((kaa.sum() - np.trace(kaa)) / (m * (m - 1))
                      + (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2.0 * kab.mean())
    if not np.isfinite(value):
        raise InputError("the kernel overflowed float64 (feature values too large for a cubic "
                         "kernel); standardise the features first")
    return value


def kernel_distance(real_features: np.ndarray, fake_features: np.ndarray,
                    subset_size: int = 1000, n_subsets: int | None = None,
                    seed: int = 0) -> dict[str, float]:
    """Return the kernel distance (KID, Bińkowski et al. 2018) with its standard error: {"kid", "kid_se", "n_subsets"}.

    Both sets are shuffled and cut into ``n_subsets`` disjoint subsets of ``subset_size`` (as
    many as fit when None); KID is the mean of ``mmd2_unbiased`` over the subset pairs and
    ``kid_se`` the standard error of that mean. Disjoint subsets make the estimates independent,
    so the standard error is honest (overlapping subsets, as in the reference code, understate
    it). Being unbiased, KID's expectation does not depend on the sample size, unlike the
    Fréchet distance's; its spread (and, on heavy-tailed features, its skew) does, so compare
    estimates made at the same sample and subset sizes.
    """
    values = _kid_values(real_features, fake_features, subset_size, n_subsets, seed)
    return {"kid": float(values.mean()), "kid_se": _se(values), "n_subsets": len(values)}


def _se(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def _kid_values(real_features, fake_features, subset_size: int, n_subsets: int | None,
                seed: int) -> np.ndarray:
    """Return MMD²_u of each disjoint subset pair (see :func:`kernel_distance`); the real subsets
    depend only on the seed and the number of real images."""
    real, fake = _pair(real_features, fake_features, "real_features", "fake_features")
    n_max = min(len(real), len(fake))
    subset_size = check_count(subset_size, "subset_size")
    if subset_size < 2 or subset_size > n_max:
        raise InputError(f"subset_size must lie in 2..{n_max} for these sets; got {subset_size}")
    fit = n_max // subset_size
    n_subsets = fit if n_subsets is None else check_count(n_subsets, "n_subsets")
    if not 1 <= n_subsets <= fit:
        raise InputError(f"n_subsets must lie in 1..{fit} for {n_max} samples in disjoint subsets "
                         f"of {subset_size}; got {n_subsets}")
    rng = np.random.default_rng(seed)
    ir, jf = rng.permutation(len(real)), rng.permutation(len(fake))
    return np.array([mmd2_unbiased(real[ir[s * subset_size:(s + 1) * subset_size]],
                                   fake[jf[s * subset_size:(s + 1) * subset_size]])
                     for s in range(n_subsets)])


def kernel_distance_difference(real_features: np.ndarray, fake_a: np.ndarray, fake_b: np.ndarray,
                               subset_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """Return KID(a) - KID(b) against the same real images, with the standard error of the pairs.

    Both KIDs are :func:`kernel_distance` with the same seed, so each subset of real images is
    scored against a subset of a and a subset of b. Per subset, the real images' own term of
    MMD²_u is the same for both and cancels in the difference, so the difference's standard
    error (over the subsets' differences) leaves out the noise of the real subsets, which
    sqrt(se_a² + se_b²) counts twice as if the two KIDs were independent. The difference itself
    is exactly the difference of the two reported KIDs. Returns {"difference", "se", "n_subsets"}.
    """
    n_a, n_b = len(np.asarray(fake_a)), len(np.asarray(fake_b))
    if n_a != n_b:
        raise InputError(f"fake_a and fake_b must hold as many samples to be paired; got {n_a} and {n_b}")
    d = (_kid_values(real_features, fake_a, subset_size, None, seed)
         - _kid_values(real_features, fake_b, subset_size, None, seed))
    return {"difference": float(d.mean()), "se": _se(d), "n_subsets": len(d)}
