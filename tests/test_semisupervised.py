"""The semi-supervised study: what each method sees, how it is scored, how gains are judged."""

from __future__ import annotations

import numpy as np
import pytest

from genclass_utils import semisupervised as ss
from genclass_utils.errors import InputError

K = 10


def _indexed(n_per_class: int = 20, offset: int = 0):
    """Return uint8 images whose first two pixels spell their index (+offset), balanced labels."""
    n = n_per_class * K
    idx = np.arange(n) + offset
    x = np.zeros((n, 28, 28, 1), np.uint8)
    x[:, 0, 0, 0] = idx // 256
    x[:, 0, 1, 0] = idx % 256
    return x, np.tile(np.arange(K), n_per_class)


def _ids(x) -> np.ndarray:
    return x[:, 0, 0, 0].astype(np.int64) * 256 + x[:, 0, 1, 0]


def test_methods_see_only_the_split_and_each_model_is_scored_once():
    x, y = _indexed(20)
    x_test, y_test = _indexed(5, offset=1000)  # test ids are >= 1000
    seen, scored = [], []

    def spy(split, seed=0):
        seen.append((seed, split))
        for part in (split.x_labeled, split.x_val, split.x_unlabeled):
            assert _ids(part).max() < 1000  # no test image reaches a method
        assert np.array_equal(split.y_labeled, y[_ids(split.x_labeled)])  # only the subset's labels
        assert not hasattr(split, "y_unlabeled")

        def predict(images):
            scored.append(len(images))
            return np.zeros(len(images), np.int64)

        return predict

    res = ss.run_study(x, y, x_test, y_test, {"a": spy, "b": spy}, sizes=(2, 3), n_seeds=2,
                       seeds_for={"b": 1}, log=None)
    # a: 2 sizes x 2 seeds, b: 2 sizes x 1 seed; every trained model scored once on the test set,
    # then once on its split's validation set (what the representatives are chosen by)
    assert len(seen) == 6 and scored[0::2] == [len(y_test)] * 6
    assert scored[1::2] == [len(split.y_val) for _seed, split in seen]
    for _seed, split in seen:
        assert len(split.y_labeled) == split.n_per_class * K
        parts = np.concatenate([_ids(split.x_labeled), _ids(split.x_val), _ids(split.x_unlabeled)])
        assert len(np.unique(parts)) == len(y)  # disjoint, and the whole training array
    assert res["accuracy"]["a"][2]["n_seeds"] == 2 and res["accuracy"]["b"][3]["n_seeds"] == 1
    assert res["accuracy"]["a"][2]["mean"] == pytest.approx(0.1)  # all-zero guesses, balanced test
    assert len(res["seconds"]["a"][3]) == 2
    assert res["val_accuracy"]["a"][2]["n_seeds"] == 2 and res["val_accuracy"]["b"][3]["n_seeds"] == 1


def test_seeds_for_must_name_a_method():
    x, y = _indexed(5)
    with pytest.raises(InputError):
        ss.run_study(x, y, x, y, {"a": lambda s, seed=0: None}, sizes=(1,), seeds_for={"zz": 1},
                     log=None)


def _ms(values):
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "n_seeds": len(v), "values": [float(x) for x in v]}


def test_gain_picks_each_groups_best_on_validation_and_judges_the_spread():
    acc = {"supervised": {10: _ms([0.60, 0.62, 0.61]), 50: _ms([0.70, 0.74, 0.72])},
           "pseudo_label": {10: _ms([0.63, 0.65, 0.64]), 50: _ms([0.71, 0.73, 0.72])},
           "ssgan": {10: _ms([0.75, 0.76, 0.74]), 50: _ms([0.72, 0.75, 0.73])},
           "m2": {10: _ms([0.70, 0.71, 0.72]), 50: _ms([0.60, 0.61, 0.62])}}
    val = {m: {n: _ms([r["mean"]] * 3) for n, r in per.items()} for m, per in acc.items()}
    g = ss.gain_at(acc, val)
    assert g[10]["best_generative"] == "ssgan" and g[10]["best_baseline"] == "pseudo_label"
    assert g[10]["gain"] == pytest.approx(0.75 - 0.64)
    assert g[10]["spread"] == pytest.approx(np.hypot(0.01, 0.01))
    assert g[10]["verdict"] == "above"
    assert g[50]["gain"] == pytest.approx((0.72 + 0.75 + 0.73) / 3 - 0.72) and g[50]["verdict"] == "within the noise"
    one_seed = {m: {10: _ms([r[10]["mean"]])} for m, r in acc.items()}
    # one seed is never an effect, and its spread is unknown rather than 0: not testable
    assert ss.gain_at(one_seed, val)[10]["verdict"] == "not testable (one seed)"
    # the test accuracies never choose: with validation favouring m2 and supervised, those are
    # compared, although ssgan and pseudo_label score higher on the test split
    val_other = {m: {n: _ms([{"m2": 0.9, "supervised": 0.8}.get(m, 0.5)] * 3) for n in per}
                 for m, per in acc.items()}
    g = ss.gain_at(acc, val_other)
    assert g[10]["best_generative"] == "m2" and g[10]["best_baseline"] == "supervised"
    assert g[10]["gain"] == pytest.approx(0.71 - 0.61)
    assert g[10]["val_generative"] == pytest.approx(0.9)
    with pytest.raises(InputError, match="validation"):
        ss.gain_at(acc, {m: per for m, per in val.items() if m != "m2"})


class _FixedModel:
    """A 'classifier' whose probabilities are given per image id."""

    def __init__(self, probs_of):
        self.probs_of = probs_of

    def predict(self, x, batch_size=None, verbose=0):
        ids = _ids(np.rint(np.asarray(x) * 255).astype(np.int64))
        return np.stack([self.probs_of(i) for i in ids])


def test_pseudo_labels_come_from_the_teacher_not_the_hidden_labels():
    x, y = _indexed(20)
    calls = []

    def teacher_probs(i):
        p = np.full(K, 0.01)
        wrong = (y[i] + 1) % K  # the teacher is always wrong, confidently on even ids
        p[wrong] = 0.91 if i % 2 == 0 else 0.2
        return p / p.sum()

    def fit(xs, ys, xv, yv, *, seed=0, augment=None):
        calls.append((xs.copy(), np.asarray(ys).copy()))
        return _FixedModel(teacher_probs)

    split = __import__("genclass_utils.models.semisup", fromlist=["x"]).semisup_split(x, y, 2, seed=0)
    method = ss.pseudo_label(fit, threshold=0.8, max_per_class=3)
    method(split, 0)
    assert len(calls) == 2  # teacher, then student
    xs, ys = calls[1]
    ids = _ids(xs)
    lab = np.isin(ids, _ids(split.x_labeled))
    # the method records what it kept: every pool image the student got, and nothing else
    assert method.runs == [{"n": 2, "seed": 0, "pseudo_labels": int((~lab).sum())}]
    assert np.array_equal(ys[lab], y[ids[lab]])  # the subset keeps its true labels
    assert np.all(ids[~lab] % 2 == 0)  # only confident pool images
    assert np.array_equal(ys[~lab], (y[ids[~lab]] + 1) % K)  # with the teacher's label
    assert np.bincount(ys[~lab], minlength=K).max() <= 3
    assert not np.isin(ids[~lab], _ids(split.x_val)).any()


def test_versus_compares_every_method_with_the_reference_at_every_size():
    acc = {"supervised": {10: _ms([0.60, 0.62, 0.61]), 50: _ms([0.70, 0.72, 0.71])},
           "ssgan": {10: _ms([0.70, 0.71, 0.72]), 50: _ms([0.70, 0.72, 0.71])},
           "cvae_generated": {10: _ms([0.65])}}
    rows = {(r["method"], r["n"]): r for r in ss.versus(acc, ["ssgan", "cvae_generated"])}
    assert rows[("ssgan", 10)]["difference"] == pytest.approx(0.10)
    assert rows[("ssgan", 10)]["spread"] == pytest.approx(np.hypot(0.01, 0.01))
    assert rows[("ssgan", 10)]["verdict"] == "above"
    assert rows[("ssgan", 50)]["verdict"] == "within the noise"
    assert rows[("cvae_generated", 10)]["verdict"] == "not testable (one seed)"
    assert ("cvae_generated", 50) not in rows
    # the per-seed rule: seed k of each method trained on the same split
    assert rows[("ssgan", 10)]["paired"]["differences"] == pytest.approx([0.10, 0.09, 0.11])
    assert rows[("ssgan", 10)]["paired"]["verdict"] == "above"
    assert rows[("ssgan", 50)]["paired"]["verdict"] == "within the noise"
    one = rows[("cvae_generated", 10)]["paired"]  # one seed: paired with the reference's first
    assert one["differences"] == pytest.approx([0.05]) and one["verdict"].startswith("not testable")
    with pytest.raises(InputError, match="more seeds"):
        ss.versus({"supervised": {10: _ms([0.6])}, "ssgan": {10: _ms([0.7, 0.7])}}, ["ssgan"])
    with pytest.raises(InputError, match="reference"):
        ss.versus(acc, ["ssgan"], reference="pseudo_label")


def test_paired_difference_needs_every_seed_to_agree():
    up = ss.paired_difference([0.75, 0.76, 0.77], [0.72, 0.72, 0.73])
    assert up["differences"] == pytest.approx([0.03, 0.04, 0.04]) and up["verdict"] == "above"
    mixed = ss.paired_difference([0.726, 0.753, 0.770], [0.731, 0.727, 0.723])
    assert mixed["mean"] == pytest.approx(0.0227, abs=1e-4) and mixed["verdict"] == "within the noise"
    assert ss.paired_difference([0.7, 0.6, 0.5], [0.8, 0.7, 0.65])["verdict"] == "below"
    assert ss.paired_difference([0.7], [0.6])["verdict"].startswith("not testable")
    with pytest.raises(InputError, match="equally long"):
        ss.paired_difference([0.7, 0.8], [0.6])
