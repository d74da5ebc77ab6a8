"""Precision/recall, label checks, class coverage, CAS, memorisation and sensitivity helpers."""

import numpy as np
import pytest

from genclass_utils import metrics
from genclass_utils.errors import InputError


def cloud(n, d=8, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, d))


# ---------------------------------------------------------------- precision and recall

def test_identical_sets_give_precision_and_recall_one():
    a = cloud(500)
    assert metrics.precision_recall(a, a.copy()) == {"precision": 1.0, "recall": 1.0}


def test_far_away_set_gives_zero_and_zero():
    pr = metrics.precision_recall(cloud(400), cloud(400, shift=100.0, seed=1))
    assert pr == {"precision": 0.0, "recall": 0.0}


def test_collapsed_generator_has_high_precision_low_recall():
    real = cloud(1000)
    fake = np.repeat(real[:20], 50, axis=0) + 1e-4 * cloud(1000, seed=3)  # 20 modes
    pr = metrics.precision_recall(real, fake)
    assert pr["precision"] == 1.0
    assert pr["recall"] < 0.2


def test_same_distribution_gives_high_but_not_perfect_scores():
    pr = metrics.precision_recall(cloud(2000, d=4), cloud(2000, d=4, seed=7), k=3)
    assert 0.6 < pr["precision"] < 1.0 and 0.6 < pr["recall"] < 1.0


def test_inside_manifold_matches_brute_force():
    real, fake = cloud(300, d=3), cloud(200, d=3, shift=0.5, seed=4)
    radii = metrics.knn_radii(real, k=3)
    d = np.linalg.norm(fake[:, None, :] - real[None, :, :], axis=-1)
    expected = (d <= radii[None, :]).any(axis=1)
    got = metrics.inside_manifold(fake, real, radii, working_memory=1)  # forces many chunks
    assert np.array_equal(got, expected)


def test_knn_radius_is_kth_neighbour_excluding_self():
    pts = np.array([[0.0], [1.0], [3.0], [6.0]])
    assert metrics.knn_radii(pts, k=1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert metrics.knn_radii(pts, k=2).tolist() == [3.0, 2.0, 3.0, 5.0]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_precision_recall_rejects_nonfinite(bad):
    a = cloud(50)
    a[7, 2] = bad
    with pytest.raises(InputError, match="NaN or Inf"):
        metrics.precision_recall(cloud(50), a)


def test_precision_recall_rejects_mismatched_shapes():
    with pytest.raises(InputError, match="feature sizes"):
        metrics.precision_recall(cloud(50, d=8), cloud(50, d=4))
    with pytest.raises(InputError, match="2-D"):
        metrics.precision_recall(cloud(50)[None], cloud(50))
    with pytest.raises(InputError, match="k must"):
        metrics.precision_recall(cloud(5), cloud(5), k=5)


# ---------------------------------------------------------------- label checks, coverage

def test_label_agreement_counts_hits_and_confidence():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    out = metrics.label_agreement(probs, np.array([0, 0, 1, 1]))
    assert out["accuracy"] == pytest.approx(0.75)
    assert out["confidence"] == pytest.approx((0.9 + 0.4 + 0.8 + 0.7) / 4)
    assert out["per_class_accuracy"] == pytest.approx([0.5, 1.0])
    assert out["per_class_confidence"] == pytest.approx([0.65, 0.75])


def test_label_agreement_rejects_bad_input():
    with pytest.raises(InputError, match="shape"):
        metrics.label_agreement(np.full((3, 2), 0.5), np.array([0, 1]))
    with pytest.raises(InputError, match="0..1"):
        metrics.label_agreement(np.full((2, 2), 0.5), np.array([0, 2]))
    with pytest.raises(InputError, match="NaN"):
        metrics.label_agreement(np.array([[np.nan, 1.0], [0.5, 0.5]]), np.array([0, 1]))


def test_coverage_entropy_uniform_is_one_single_class_is_zero():
    assert metrics.coverage_entropy(np.arange(1000) % 10, 10) == pytest.approx(1.0)
    assert metrics.coverage_entropy(np.full(1000, 3), 10) == 0.0
    assert str(metrics.coverage_entropy(np.full(10, 3), 10)) == "0.0"  # not "-0.0" in tables
    two = metrics.coverage_entropy(np.arange(1000) % 2, 10)
    assert two == pytest.approx(np.log(2) / np.log(10))


def test_coverage_rejects_bad_labels():
    with pytest.raises(InputError):
        metrics.coverage_entropy(np.array([0, 1, 10]), 10)
    with pytest.raises(InputError):
        metrics.coverage_entropy(np.array([], dtype=int), 10)
    with pytest.raises(InputError):
        metrics.coverage_entropy(np.array([0.5, 1.0]), 10)


# ---------------------------------------------------------------- memorisation, sensitivity

def test_nearest_neighbours_finds_copies():
    train = cloud(300)
    query = train[[5, 17, 250]] + 1e-6
    dist, idx = metrics.nearest_neighbours(query, train)
    assert idx.tolist() == [5, 17, 250]
    assert np.all(dist < 1e-4)


def test_memorisation_check_flags_a_copying_generator():
    train, test = cloud(500), cloud(200, seed=1)
    d_test, _ = metrics.nearest_neighbours(test, train)
    copier = metrics.memorisation_check(train[:100] + 1e-6, train, d_test)
    honest = metrics.memorisation_check(cloud(100, seed=2), train, d_test)
    assert copier["share_below_threshold"] == 1.0 and copier["median_ratio"] < 0.01
    assert copier["index"].tolist() == list(range(100))
    assert honest["share_below_threshold"] < 0.1 and 0.7 < honest["median_ratio"] < 1.4
    with pytest.raises(InputError, match="test_distance"):
        metrics.memorisation_check(cloud(10), train, np.array([np.nan, 1.0]))


def test_sensitivity_shows_frechet_bias_shrinking_with_n():
    real, fake = cloud(4000, d=16), cloud(4000, d=16, seed=1)  # same distribution: true FD = 0
    out = metrics.sample_size_sensitivity(metrics.frechet_distance, real, fake,
                                          sizes=(200, 1000, 4000, 9000), repeats=2)
    assert list(out) == [200, 1000, 4000]  # 9000 > available samples: skipped
    fd = [out[n]["frechet_distance"]["mean"] for n in (200, 1000, 4000)]
    assert fd[0] > fd[1] > fd[2]
    assert out[200]["frechet_distance"]["std"] > 0


def test_sensitivity_accepts_dict_metrics():
    out = metrics.sample_size_sensitivity(metrics.precision_recall, cloud(100), cloud(100),
                                          sizes=(100,))
    assert set(out[100]) == {"precision", "recall"}  # n = all: the same set, permuted
    assert out[100]["recall"]["mean"] == out[100]["precision"]["mean"] == 1.0


# ---------------------------------------------------------------- figures

def test_metric_figures_build_and_reject_empty_input():
    import matplotlib.pyplot as plt

    from genclass_utils import plotting

    imgs = np.zeros((3, 8, 8, 1), np.uint8)
    figs = [plotting.labeled_rows({"a": imgs, "b": imgs}, ncols=4),
            plotting.distance_histograms({"a": np.arange(10.0)}, np.arange(5.0)),
            plotting.metric_bars({"a": {"fid": 1.0}, "b": {"fid": 2.0}}, ["fid"], {"fid": 0.5}),
            plotting.metric_curves([1, 2], {"a": [3.0, 2.0]}, {"a": [0.1, 0.1]})]
    assert all(len(f.axes) >= 1 for f in figs)
    for bad in (lambda: plotting.labeled_rows({}), lambda: plotting.metric_bars({}, ["fid"])):
        with pytest.raises(InputError):
            bad()
    plt.close("all")


# ---------------------------------------------------------------- CAS

def _toy_images(n, seed):
    """Images whose class is a bright 7x7 square at one of 4 positions, on noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.uniform(0, 0.3, (n, 14, 14, 1)).astype(np.float32)
    for c in range(4):
        r, s = divmod(c, 2)
        x[y == c, r * 7:(r + 1) * 7, s * 7:(s + 1) * 7, 0] += 0.6
    return x, y


def _tiny_cnn(input_shape, n_classes):
    import keras
    from keras import layers

    inp = keras.Input(input_shape)
    h = layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    h = layers.BatchNormalization(momentum=0.9)(h)
    h = layers.ReLU()(h)
    h = layers.Flatten()(layers.MaxPooling2D(7)(h))  # one value per quadrant and filter
    return keras.Model(inp, layers.Dense(n_classes, activation="softmax")(h))


@pytest.fixture(scope="module")
def cfg():
    import genclass_utils as gu

    return gu.setup(profile="smoke", quiet=True)


@pytest.mark.slow
def test_cas_learns_from_good_labels_and_not_from_shuffled_ones(cfg):
    (x, y), (xv, yv), (xt, yt) = _toy_images(800, 0), _toy_images(200, 1), _toy_images(400, 2)
    good = metrics.classification_accuracy_score(x, y, xv, yv, xt, yt,
                                                 build_classifier=_tiny_cnn, cfg=cfg, epochs=15,
                                                 batch_size=32, verbose=0)
    assert good["test_accuracy"] > 0.9 and good["train_accuracy"] > 0.9
    assert good["n_train"] == 800
    shuffled = np.random.default_rng(3).permutation(y)
    bad = metrics.classification_accuracy_score(x, shuffled, xv, yv, xt, yt,
                                                build_classifier=_tiny_cnn, cfg=cfg, epochs=3,
                                                batch_size=32, verbose=0)
    assert bad["test_accuracy"] < 0.5


def test_cas_accepts_a_custom_train_function(cfg):
    (x, y), (xv, yv), (xt, yt) = _toy_images(100, 0), _toy_images(50, 1), _toy_images(50, 2)
    seen = {}

    def train(model, xa, ya, xva, yva):
        seen["n"], seen["n_val"] = len(xa), len(xva)
        return model  # untrained: CAS is whatever the random weights score

    out = metrics.classification_accuracy_score(x, y, xv, yv, xt, yt, build_classifier=_tiny_cnn,
                                                cfg=cfg, train=train)
    assert seen == {"n": 100, "n_val": 50}
    assert 0.0 <= out["test_accuracy"] <= 1.0


def test_real_cas_uses_a_balanced_draw_of_n_images(cfg):
    (x, y), (xv, yv), (xt, yt) = _toy_images(400, 0), _toy_images(50, 1), _toy_images(50, 2)
    out = metrics.real_cas(x, y, xv, yv, xt, yt, 120, build_classifier=_tiny_cnn, cfg=cfg,
                           train=lambda m, *a: m)
    assert out["n_train"] == 120


def test_cas_rejects_bad_images_and_labels(cfg):
    (x, y), (xv, yv) = _toy_images(20, 0), _toy_images(20, 1)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        metrics.classification_accuracy_score(bad, y, xv, yv, xv, yv, build_classifier=_tiny_cnn,
                                              cfg=cfg)
    with pytest.raises(InputError, match="labels must have shape"):
        metrics.classification_accuracy_score(x, y[:5], xv, yv, xv, yv,
                                              build_classifier=_tiny_cnn, cfg=cfg)
    with pytest.raises(InputError, match="4-D"):
        metrics.classification_accuracy_score(x[..., 0], y, xv, yv, xv, yv,
                                              build_classifier=_tiny_cnn, cfg=cfg)
