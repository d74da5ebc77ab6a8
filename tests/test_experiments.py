"""The experiments module: leak-free subsets, mixing ratios, imbalance, auto-labelling, runners."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genclass_utils import data
from genclass_utils import experiments as ex
from genclass_utils.errors import DataError, InputError

K = 4  # classes in the toy problems


def toy_images(y: np.ndarray, seed: int = 0, size: int = 8) -> np.ndarray:
    """Return uint8 noise images with a bright block whose position encodes the class."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, (len(y), size, size, 1))
    for i, c in enumerate(np.asarray(y)):
        r, col = 2 + 3 * (c // 2), 4 * (c % 2)
        x[i, r:r + 3, col:col + 4] += 150
    return x.astype(np.uint8)


def toy_splits(n: int = 400, n_val: int = 80, seed: int = 0) -> data.Splits:
    y = np.arange(n) % K
    x = toy_images(y, seed)
    x[:, 0, 0, 0], x[:, 0, 1, 0] = np.arange(n) % 256, np.arange(n) // 256  # traceable tag
    return data.train_val_split(x, y, n_val=n_val, seed=seed)


def tag(x: np.ndarray) -> np.ndarray:
    """Return the official index written into each toy image."""
    return x[:, 0, 0, 0].astype(int) + 256 * x[:, 0, 1, 0].astype(int)


def tiny_build(shape, n_classes):
    import keras

    inp = keras.Input(shape)
    out = keras.layers.Dense(n_classes, activation="softmax")(keras.layers.Flatten()(inp))
    return keras.Model(inp, out)


def toy_sampler(labels, seed=0):
    return toy_images(np.asarray(labels), seed=seed + 1000)


# ---------------------------------------------------------------- subsets never leak


def test_low_data_split_excludes_validation_and_is_exact():
    sp = toy_splits()
    for seed in range(5):
        sub = ex.low_data_split(sp, 7, seed=seed)
        assert np.array_equal(np.bincount(sub.y_labeled, minlength=K), [7] * K)
        assert np.intersect1d(sub.idx_labeled, sp.idx_val).size == 0
        assert np.intersect1d(sub.idx_unlabeled, sp.idx_val).size == 0
        assert np.intersect1d(sub.idx_labeled, sub.idx_unlabeled).size == 0
        assert len(sub.idx_labeled) + len(sub.idx_unlabeled) == len(sp.idx_train)
        # the arrays are the images of those official indices, not some others
        assert np.array_equal(tag(sub.x_labeled), sub.idx_labeled)


def test_low_data_split_unlabeled_size_and_none():
    sp = toy_splits()
    assert len(ex.low_data_split(sp, 5, n_unlabeled=40).y_unlabeled_hidden) == 40
    assert len(ex.low_data_split(sp, 5, n_unlabeled=0).x_unlabeled) == 0


def test_low_data_split_refuses_a_leaky_split():
    sp = toy_splits()
    leaky = data.Splits(sp.x_train, sp.y_train, sp.x_val, sp.y_val,
                        np.concatenate([sp.idx_train[:-1], sp.idx_val[:1]]), sp.idx_val)
    with pytest.raises(DataError, match="validation"):
        ex.low_data_split(leaky, 3)


def test_low_data_split_too_few_images():
    with pytest.raises(InputError, match="fewer than"):
        ex.low_data_split(toy_splits(), 1000)


def test_small_validation_comes_from_validation():
    sp = toy_splits()
    xv, yv = ex.small_validation(sp.x_val, sp.y_val, 3)
    assert np.array_equal(np.bincount(yv, minlength=K), [3] * K)
    assert set(tag(xv)) <= set(sp.idx_val)


# ---------------------------------------------------------------- mixing


@pytest.mark.parametrize("ratio", [0.5, 1.0, 2.0, 0.0])
def test_mix_ratio_and_balance(ratio):
    y_real = np.repeat(np.arange(K), [10, 20, 30, 40])
    x_real = toy_images(y_real)
    x, y, syn = ex.mix_with_generated(x_real, y_real, toy_sampler, ratio, K, seed=1)
    assert syn.sum() == round(ratio * len(y_real)) and (~syn).sum() == len(y_real)
    # generated labels follow the real class proportions
    assert np.array_equal(np.bincount(y[syn], minlength=K), (np.array([10, 20, 30, 40]) * ratio))
    assert len(x) == len(y) == len(syn)


def test_synthetic_labels_uniform_and_rounding():
    y = np.array([0, 0, 0, 1, 2])
    lab = ex.synthetic_labels(y, 1.4, 3)
    assert len(lab) == 7 and lab.dtype == np.int32
    uni = ex.synthetic_labels(y, 2.0, 5, balance="uniform")
    assert np.array_equal(np.bincount(uni, minlength=5), [2] * 5)
    with pytest.raises(InputError):
        ex.synthetic_labels(y, -1, 3)


def test_draw_checks_the_sampler():
    with pytest.raises(InputError, match="one uint8"):
        ex.draw(lambda labels, seed: np.zeros((len(labels), 8, 8, 1), np.float32), np.arange(3))


def test_as_sampler_wraps_a_conditional_generator():
    import keras

    z = keras.Input((3,), name="z")
    lab = keras.Input((), dtype="int32", name="label")
    e = keras.layers.Flatten()(keras.layers.Embedding(K, 3)(keras.layers.Reshape((1,))(lab)))
    h = keras.layers.Dense(8 * 8, activation="sigmoid")(keras.layers.Concatenate()([z, e]))
    gen = keras.Model([z, lab], keras.layers.Reshape((8, 8, 1))(h))
    imgs = ex.as_sampler(gen)(np.array([0, 1, 2]), 0)
    assert imgs.shape == (3, 8, 8, 1) and imgs.dtype == np.uint8
    uncond = keras.Model(z, keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64)(z)))
    with pytest.raises(InputError, match="conditional"):
        ex.as_sampler(uncond)


# ---------------------------------------------------------------- imbalance helpers


def test_make_imbalanced_cuts_one_class():
    y = np.repeat(np.arange(K), 100)
    x = toy_images(y)
    xi, yi = ex.make_imbalanced(x, y, 2, 0.02)
    assert np.array_equal(np.bincount(yi, minlength=K), [100, 100, 2, 100]) and len(xi) == len(yi)
    _, y1 = ex.make_imbalanced(x, y, 1, 0.001)
    assert np.bincount(y1)[1] == 1  # at least one image is kept
    with pytest.raises(InputError):
        ex.make_imbalanced(x, y, 1, 0.0)


def test_oversample_and_class_weights():
    y = np.repeat(np.arange(3), [50, 50, 5])
    x = toy_images(y)
    xo, yo = ex.oversample(x, y, seed=0)
    assert np.array_equal(np.bincount(yo), [50, 50, 50])
    # oversampled rare images are copies of the real rare ones
    rare_tags = set(map(bytes, x[y == 2].reshape(5, -1)))
    assert set(map(bytes, xo[yo == 2].reshape(50, -1))) <= rare_tags
    w = ex.class_weights(y)
    assert w[2] == pytest.approx(105 / (3 * 5)) and w[0] == pytest.approx(105 / 150)


# ---------------------------------------------------------------- auto-labelling


def test_select_confident_and_precision():
    probs = np.array([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    idx, lab = ex.select_confident(probs, 0.9)
    assert list(idx) == [0, 2] and list(lab) == [0, 1]
    idx, _ = ex.select_confident(probs, 0.5)
    assert len(idx) == 4
    assert ex.label_precision(np.array([0, 1, 1]), np.array([0, 1, 0])) == pytest.approx(2 / 3)
    assert np.isnan(ex.label_precision(np.array([]), np.array([])))
    with pytest.raises(InputError):
        ex.select_confident(probs, 1.5)


def test_agreeing():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    assert list(ex.agreeing(probs, np.array([0, 1, 1]), 0.7)) == [True, False, True]
    assert list(ex.agreeing(probs, np.array([0, 0, 1]), 0.7)) == [True, False, True]


def test_mean_std():
    r = ex.mean_std([0.5, 0.7])
    assert r["mean"] == pytest.approx(0.6) and r["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert ex.mean_std([0.3])["std"] == 0.0


# ---------------------------------------------------------------- trainer and runners (tiny)


@pytest.fixture(scope="module")
def toy():
    sp = toy_splits(n=600, n_val=120)
    yt = np.arange(200) % K
    return sp, toy_images(yt, seed=9), yt


def fit_fn(steps=90):
    return ex.make_trainer(tiny_build, K, steps=steps, batch_size=32, eval_every=30,
                           learning_rate=0.01)


def test_trainer_learns_and_is_deterministic(toy):
    sp, xt, yt = toy
    fit = fit_fn()
    m1 = fit(sp.x_train, sp.y_train, sp.x_val, sp.y_val, seed=3)
    m2 = fit(sp.x_train, sp.y_train, sp.x_val, sp.y_val, seed=3)
    assert ex.scores(m1, xt, yt)["accuracy"] > 0.9
    np.testing.assert_allclose(ex.predict_proba(m1, xt[:5]), ex.predict_proba(m2, xt[:5]))
    with pytest.raises(InputError):
        fit(sp.x_train, sp.y_train + 10, sp.x_val, sp.y_val)


def test_trainer_reuses_one_traced_model_without_changing_results(toy):
    sp, xt, yt = toy
    fresh = ex.make_trainer(tiny_build, K, steps=40, batch_size=32, eval_every=10, patience=2,
                            learning_rate=0.01, reuse=False)
    reused = ex.make_trainer(tiny_build, K, steps=40, batch_size=32, eval_every=10, patience=2,
                             learning_rate=0.01)
    calls = [dict(n=200, seed=1), dict(n=150, seed=2, class_weight=ex.class_weights(sp.y_train[:150])),
             dict(n=200, seed=1)]
    kept = []
    for c in calls:
        n = c.pop("n")
        a = fresh(sp.x_train[:n], sp.y_train[:n], sp.x_val, sp.y_val, **c)
        used_a = ex.steps_used(fresh)
        b = reused(sp.x_train[:n], sp.y_train[:n], sp.x_val, sp.y_val, **c)
        assert ex.steps_used(reused) == used_a
        for va, vb in zip(a.variables, b.variables):  # weights, statistics and dropout seeds
            np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
        kept.append((b, ex.predict_proba(b, xt[:8])))
    # each returned model is its own: later trainings do not overwrite an earlier one
    for model, probs in kept:
        np.testing.assert_array_equal(ex.predict_proba(model, xt[:8]), probs)
    assert kept[0][0] is not kept[2][0]


def test_trainer_budgets_fixed_or_per_training_set(toy):
    sp, xt, yt = toy
    # fixed: the same steps whatever the size of the set; no early stopping runs them all
    fixed = ex.make_trainer(tiny_build, K, steps=40, batch_size=32, eval_every=20, patience=None)
    fixed(sp.x_train[:100], sp.y_train[:100], sp.x_val, sp.y_val)
    assert ex.steps_used(fixed) == {"n_images": 100, "max_steps": 40, "steps_run": 40, "best_step": 40}
    fixed(sp.x_train, sp.y_train, sp.x_val, sp.y_val)
    assert ex.steps_used(fixed)["steps_run"] == 40
    # per training set: at most max_epochs passes over each call's own images
    per_set = ex.make_trainer(tiny_build, K, max_epochs=3, batch_size=32, eval_every=5, patience=None)
    for n in (100, len(sp.y_train)):
        per_set(sp.x_train[:n], sp.y_train[:n], sp.x_val, sp.y_val)
        used = ex.steps_used(per_set)
        assert used["max_steps"] == 5 * math.ceil(3 * math.ceil(n / 32) / 5) == used["steps_run"]
    # early stopping keeps the best evaluation, which is never after the last step run
    stop = ex.make_trainer(tiny_build, K, max_epochs=40, batch_size=32, eval_every=5, patience=2,
                           learning_rate=0.01)
    stop(sp.x_train, sp.y_train, sp.x_val, sp.y_val)
    used = ex.steps_used(stop)
    assert used["best_step"] <= used["steps_run"] < used["max_steps"]
    assert used["steps_run"] - used["best_step"] == 2 * 5  # stopped after two evaluations without gain
    for bad in ({}, {"steps": 10, "max_epochs": 2}, {"max_epochs": 0}, {"steps": 5, "eval_every": 0}):
        with pytest.raises(InputError):
            ex.make_trainer(tiny_build, K, **bad)


def test_accuracy_by_budget_is_one_training_read_at_each_budget(toy):
    sp, xt, yt = toy
    curve = ex.accuracy_by_budget(tiny_build, K, {"all": (sp.x_train, sp.y_train)}, sp.x_val,
                                  sp.y_val, xt, yt, budgets=(20, 10), batch_size=32, seed=4,
                                  learning_rate=0.01)
    assert sorted(curve["all"]) == [10, 20]
    # the weights after 10 steps are those of a separate 10-step training with the same seed
    fit10 = ex.make_trainer(tiny_build, K, steps=10, batch_size=32, eval_every=10, patience=None,
                            learning_rate=0.01)
    m = fit10(sp.x_train, sp.y_train, sp.x_val, sp.y_val, seed=4)
    assert curve["all"][10]["test"] == pytest.approx(ex.accuracy(m, xt, yt))
    assert curve["all"][10]["val"] == pytest.approx(ex.accuracy(m, sp.x_val, sp.y_val))
    with pytest.raises(InputError):
        ex.accuracy_by_budget(tiny_build, K, {"all": (sp.x_train, sp.y_train)}, sp.x_val,
                              sp.y_val, xt, yt, budgets=())


@pytest.mark.slow
def test_run_tstr(toy):
    sp, xt, yt = toy
    out = ex.run_tstr({"toy": toy_sampler}, sp.x_train, sp.y_train, sp.x_val, sp.y_val, xt, yt,
                      fit_fn(), K, ratios=(0.5, 2), log=None)
    assert set(out["toy"]) == {"real_only", "synthetic_only", "real+0.5x", "real+2x"}
    assert out["toy"]["synthetic_only"] > 0.8  # the toy generator draws the right classes
    # every model is also scored on the real validation set, the only score a choice may use
    assert set(out["_validation"]["toy"]) == set(out["toy"])
    assert all(0 <= v <= 1 for v in out["_validation"]["toy"].values())


@pytest.mark.slow
def test_run_low_data_trains_generator_on_labeled_subset_only(toy):
    sp, xt, yt = toy
    seen = []

    def train_generator(x, y, seed):
        seen.append((x.copy(), y.copy()))
        return toy_sampler

    out = ex.run_low_data(sp, xt, yt, fit_fn(30), train_generator, K, sizes=(5,), n_seeds=2,
                          gen_ratio=2.0, log=None)
    assert set(out[5]) == set(ex.LOW_DATA_VARIANTS) and out[5]["real"]["n_seeds"] == 2
    assert out[5]["real+generated"]["val"]["n_seeds"] == 2  # validation scores, to choose by
    assert len(seen) == 2
    val_tags = set(sp.idx_val)
    for x, y in seen:  # the generator saw exactly 5 labeled images per class, no validation
        assert np.array_equal(np.bincount(y, minlength=K), [5] * K)
        assert not set(tag(x)) & val_tags


@pytest.mark.slow
def test_run_rare_class(toy):
    sp, xt, yt = toy
    out = ex.run_rare_class(sp.x_train, sp.y_train, sp.x_val, sp.y_val, xt, yt, fit_fn(),
                            lambda x, y, s: toy_sampler, K, rare_class=1, fraction=0.05, log=None)
    assert {"nothing", "class_weights", "oversampling", "generated"} <= set(out)
    assert out["_protocol"]["rare_count"] == 6 and out["_protocol"]["generated"] == 120 - 6
    assert all(0 <= out[v]["recall"] <= 1 for v in ("nothing", "generated"))
    assert all(0 <= out[v]["val"]["recall"] <= 1 for v in ("nothing", "generated"))
    # the validation set is cut like the training set
    assert 1 <= out["_protocol"]["val_rare_count"] < int(np.sum(sp.y_val == 1))


@pytest.mark.slow
def test_run_auto_labelling(toy):
    sp, xt, yt = toy
    split = ex.low_data_split(sp, 5, n_unlabeled=200)
    out = ex.run_auto_labelling(split, sp.x_val, sp.y_val, xt, yt, fit_fn(), thresholds=(0.0, 0.99),
                                generator=toy_sampler, n_classes=K, log=None)
    assert out["thresholds"]["0"]["kept"] == 200
    assert out["thresholds"]["0.99"]["kept"] <= 200
    assert 0 <= out["thresholds"]["0"]["label_precision"] <= 1
    assert out["generated_all"]["kept"] == 20
    assert 0 <= out["thresholds"]["0.99"]["val_accuracy"] <= 1


def test_budget_steps():
    assert ex.budget_steps(40, 500, 64) == 40 * 8
    assert ex.budget_steps(3, 10, 64, min_per_epoch=5) == 15


@pytest.mark.slow
def test_cvae_trainer_returns_a_conditional_generator():
    pytest.importorskip("genclass_utils.models.vae")
    y = np.repeat(np.arange(10), 3)
    x = np.zeros((30, 28, 28, 1), np.uint8)
    gen = ex.cvae_trainer(10, epochs=1, batch_size=16, min_per_epoch=2)(x, y, 0)
    imgs = ex.as_sampler(gen)(np.arange(10), 0)
    assert imgs.shape == (10, 28, 28, 1) and imgs.dtype == np.uint8


def test_plot_helpers():
    from genclass_utils import plotting

    fig = plotting.grouped_bars({"a": {"x": 0.5, "y": 0.6}, "b": {"x": 0.7}}, title="t")
    assert len(fig.axes[0].patches) == 4
    fig = plotting.errorbar_curves([10, 50], {"real": ([0.5, 0.7], [0.01, 0.02])}, "labels",
                                   logx=True)
    assert fig.axes[0].get_xscale() == "log"


def test_ran_to_cap_counts_the_trainings_stopped_by_their_cap():
    recs = {"a": [{"steps_run": 40, "max_steps": 40}, {"steps_run": 20, "max_steps": 40}],
            "b": [{"steps_run": 10, "max_steps": 40}], "c": []}
    assert ex.ran_to_cap(recs) == {"a": (1, 2), "b": (0, 1), "c": (0, 0)}
    with pytest.raises(InputError, match="steps_run"):
        ex.ran_to_cap({"a": [{"steps": 3}]})
