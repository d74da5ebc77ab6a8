"""Semi-supervised experiments: few labels, many unlabelled images (explained in
notebooks/08_semi_supervised.ipynb).

One study, :func:`run_study`, takes *methods*: callables ``method(split, seed) -> classifier``
that see a :class:`~genclass_utils.models.semisup.SemiSupervisedSplit` only (the labelled
subset, its small validation set and the unlabelled pool, which carries no labels). The study
scores each returned classifier once on the test split, and on the split's small validation set;
no method ever receives test images, and :func:`gain_at` picks each group's representative by
the validation accuracy, never by the test accuracy.
The method factories below build the chapter's six methods: four baselines at the same labels
(supervised, supervised + classical augmentation, pseudo-labelling, cVAE-generated images) and
two generative semi-supervised classifiers (the K-logit GAN and M2).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from . import experiments as ex
from .errors import InputError

Method = Callable[..., Callable[[np.ndarray], np.ndarray]]

BASELINES = ("supervised", "supervised+classical", "pseudo_label", "cvae_generated")
GENERATIVE = ("ssgan", "m2")


def _predictor(model) -> Callable[[np.ndarray], np.ndarray]:
    """Return predict(uint8 images) -> class labels for a Keras classifier of [0, 1] images."""
    def predict(x: np.ndarray) -> np.ndarray:
        return ex.predict_proba(model, x).argmax(axis=1)

    return predict


# --------------------------------------------------------------------------- baselines

def _fit_for(fit: ex.Fit | Mapping[int, ex.Fit], split) -> ex.Fit:
    """Return the trainer for this split's size (fit may map labels per class to trainers)."""
    if isinstance(fit, Mapping):
        if split.n_per_class not in fit:
            raise InputError(f"no trainer for {split.n_per_class} labels per class; "
                             f"have {sorted(fit)}")
        return fit[split.n_per_class]
    return fit


def _record(method, split, seed: int, **budget) -> None:
    """Append what one training of a method used to ``method.runs`` (labels per class, seed, budget)."""
    method.runs.append({"n": int(split.n_per_class), "seed": int(seed), **budget})


def supervised(fit: ex.Fit | Mapping[int, ex.Fit], augment: bool = False) -> Method:
    """Return a method that trains fit on the labelled subset only (early stopping on the small validation set).

    Every method of this module keeps, in ``method.runs``, one record per training: its labels
    per class, seed and the budget it used (for the classifiers, ``make_trainer``'s steps record).
    """
    def method(split, seed: int = 0):
        aug = ex.classical_augmentation(seed) if augment else None
        fit_n = _fit_for(fit, split)
        model = fit_n(split.x_labeled, split.y_labeled, split.x_val, split.y_val, seed=seed, augment=aug)
        _record(method, split, seed, **(ex.steps_used(fit_n) or {}))
        return _predictor(model)

    method.runs = []
    return method


def pseudo_label(fit: ex.Fit | Mapping[int, ex.Fit], threshold: float = 0.9, pool: int | None = None,
                 max_per_class: int | None = None) -> Method:
    """Return a method that self-trains: labelled-only teacher, confident pool labels, retrain.

    The teacher labels (a random sample of ``pool`` images of) the unlabelled pool; images whose
    top probability is at least threshold keep their predicted label (at most max_per_class of
    the most confident per class, so one easy class does not swamp the rest); a fresh classifier
    is trained on the labelled subset plus those pseudo-labelled images, with the same budget.
    """
    def method(split, seed: int = 0):
        fit_n = _fit_for(fit, split)
        teacher = fit_n(split.x_labeled, split.y_labeled, split.x_val, split.y_val, seed=seed)
        x_u = split.x_unlabeled
        if pool is not None and pool < len(x_u):
            x_u = x_u[np.random.default_rng(seed).choice(len(x_u), pool, replace=False)]
        probs = ex.predict_proba(teacher, x_u)
        idx, lab = ex.select_confident(probs, threshold)
        if max_per_class is not None:
            conf = probs[idx].max(axis=1)
            keep = [idx_c[np.argsort(-conf_c)[:max_per_class]]
                    for c in np.unique(lab)
                    for idx_c, conf_c in [(np.arange(len(idx))[lab == c], conf[lab == c])]]
            keep = np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
            idx, lab = idx[keep], lab[keep]
        x, y, _ = ex.mix(split.x_labeled, split.y_labeled, x_u[idx], lab, seed=seed)
        model = fit_n(x, y, split.x_val, split.y_val, seed=seed)
        _record(method, split, seed, pseudo_labels=int(len(idx)), **(ex.steps_used(fit_n) or {}))
        return _predictor(model)

    method.runs = []
    return method


def cvae_generated(fit: ex.Fit | Mapping[int, ex.Fit], train_generator: Callable, n_classes: int,
                   ratio: float = 1.0) -> Method:
    """Return a method: a cVAE trained on the labelled subset only, ratio generated images per real one added."""
    def method(split, seed: int = 0):
        sampler = ex.as_sampler(train_generator(split.x_labeled, split.y_labeled, seed))
        x, y, _ = ex.mix_with_generated(split.x_labeled, split.y_labeled, sampler, ratio,
                                        n_classes, seed=seed)
        fit_n = _fit_for(fit, split)
        model = fit_n(x, y, split.x_val, split.y_val, seed=seed)
        _record(method, split, seed, **(ex.steps_used(fit_n) or {}))
        return _predictor(model)

    method.runs = []
    return method


# --------------------------------------------------------------------------- generative SSL

def generative(build: Callable[[int], object], steps_per_epoch: int, epochs: int,
               patience: int | None, labeled_batch: int, unlabeled_batch: int,
               on_model: Callable[[object, object, int], None] | None = None) -> Method:
    """Return a method that fits build(seed) (a SemiSupervisedGAN or M2) with fit_semisupervised.

    Early stopping watches the accuracy on the split's small validation set and restores the
    best weights; ``on_model(model, split, seed)`` sees each trained model (to show samples).
    """
    from .models import semisup

    def method(split, seed: int = 0):
        import keras

        keras.utils.set_random_seed(seed)
        model = build(seed)
        history, _ = semisup.fit_semisupervised(model, split, steps_per_epoch, epochs, patience=patience,
                                                labeled_batch=labeled_batch,
                                                unlabeled_batch=unlabeled_batch, seed=seed)
        val = history.get("val_accuracy", [])
        _record(method, split, seed, max_steps=int(steps_per_epoch * epochs),
                steps_run=int(steps_per_epoch * len(val)),
                best_step=int(steps_per_epoch * (int(np.argmax(val)) + 1 if val else 0)))
        if on_model is not None:
            on_model(model, split, seed)
        if isinstance(model, semisup.SemiSupervisedGAN):
            return _predictor(model.classifier())  # [0, 1] images -> class probabilities
        return _predictor(model.classifier)  # q(y|x)'s logits: the same argmax

    method.runs = []
    return method


# --------------------------------------------------------------------------- the study

def run_study(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              methods: Mapping[str, Method], sizes: Sequence[int] = (10, 50, 100),
              n_seeds: int = 3, seed: int = 0, seeds_for: Mapping[str, int] | None = None,
              log: Callable[[str], None] | None = print) -> dict:
    """Return {"accuracy", "val_accuracy": {method: {n: mean_std}}, "seconds": {method: {n: [s]}}}.

    For every n and seed: ``semisup_split(x_train, y_train, n, seed)`` (n labelled and n
    validation images per class, the rest unlabelled); every method trains on that split and
    the classifier it returns is scored once on (x_test, y_test) ("accuracy") and on the
    split's validation set ("val_accuracy", the only score a method may be chosen by).
    ``seeds_for`` may give a method fewer seeds than n_seeds (the first ones), to fit a budget.
    """
    from .models import semisup

    log = log or (lambda s: None)
    seeds_for = dict(seeds_for or {})
    unknown = set(seeds_for) - set(methods)
    if unknown:
        raise InputError(f"seeds_for names unknown methods: {', '.join(sorted(unknown))}")
    acc: dict[str, dict[int, list[float]]] = {m: {} for m in methods}
    val: dict[str, dict[int, list[float]]] = {m: {} for m in methods}
    secs: dict[str, dict[int, list[float]]] = {m: {} for m in methods}
    for n in sizes:
        for k in range(n_seeds):
            s = seed + k
            split = semisup.semisup_split(x_train, y_train, int(n), seed=s)
            line = []
            for name, method in methods.items():
                if k >= seeds_for.get(name, n_seeds):
                    continue
                t0 = time.perf_counter()
                predict = method(split, s)
                secs[name].setdefault(int(n), []).append(time.perf_counter() - t0)
                a = float(np.mean(predict(x_test) == np.asarray(y_test)))
                acc[name].setdefault(int(n), []).append(a)
                v = float(np.mean(predict(split.x_val) == np.asarray(split.y_val)))
                val[name].setdefault(int(n), []).append(v)
                line.append(f"{name}={a:.3f} ({secs[name][int(n)][-1]:.0f}s)")
            log(f"n={n} seed={s}: " + ", ".join(line))
    return {"accuracy": {m: {n: ex.mean_std(v) for n, v in r.items()} for m, r in acc.items()},
            "val_accuracy": {m: {n: ex.mean_std(v) for n, v in r.items()} for m, r in val.items()},
            "seconds": secs}


def gain_at(accuracy: Mapping[str, Mapping[int, Mapping]], selection: Mapping[str, Mapping[int, Mapping]],
            generative_methods: Sequence[str] = GENERATIVE,
            baselines: Sequence[str] = BASELINES) -> dict[int, dict]:
    """Return {n: best generative minus best baseline test mean, the two picks and the spread of the difference}.

    Each group's representative is the method with the highest mean in ``selection`` (the
    validation accuracies that :func:`run_study` returns; ties go to the first in group order),
    so the test split never chooses what it then scores. The gain is the difference of their
    mean test accuracies (``accuracy``); its spread is sqrt(s_a^2 + s_b^2) from the two
    standard deviations over seeds; the verdict is "above"/"below" only when the gain is
    outside it, "within the noise" when it is inside, and "not testable (one seed)" when
    either pick has a single seed (its standard deviation is then unknown, not 0).
    """
    out = {}
    sizes = sorted({n for m in accuracy.values() for n in m})
    for n in sizes:
        gen = [m for m in generative_methods if n in accuracy.get(m, {})]
        base = [m for m in baselines if n in accuracy.get(m, {})]
        if not gen or not base:
            continue
        missing = [m for m in gen + base if n not in selection.get(m, {})]
        if missing:
            raise InputError(f"no validation accuracy at {n} labels per class for "
                             f"{', '.join(missing)}: the representatives are chosen on validation")
        g = max(gen, key=lambda m: selection[m][n]["mean"])
        b = max(base, key=lambda m: selection[m][n]["mean"])
        c = _compare(accuracy[g][n], accuracy[b][n])
        out[int(n)] = {"gain": c["difference"], "spread": c["spread"], "best_generative": g,
                       "best_baseline": b,
                       "val_generative": float(selection[g][n]["mean"]),
                       "val_baseline": float(selection[b][n]["mean"]),
                       "verdict": c["verdict"]}
    return out


def _compare(a: Mapping, b: Mapping) -> dict:
    """Return a's mean minus b's, its spread sqrt(s_a^2 + s_b^2), and the course's verdict.

    The verdict is ``ex.verdict``'s rule, except that a side with a single seed makes the
    comparison "not testable (one seed)" (its standard deviation is unknown, not 0).
    """
    if min(ex._n_runs(a), ex._n_runs(b)) < 2:
        verdict = "not testable (one seed)"
    else:
        v = ex.verdict(a, b)
        verdict = "within the noise" if v.startswith("within") else v
    return {"difference": float(a["mean"] - b["mean"]),
            "spread": float(np.hypot(a["std"], b["std"])), "verdict": verdict}


def versus(accuracy: Mapping[str, Mapping[int, Mapping]], methods: Sequence[str],
           reference: str = "supervised") -> list[dict]:
    """Return one row per (method, n): the method's mean test accuracy minus the reference's.

    Every method is compared with the same reference at every size, with the spread
    sqrt(s_a^2 + s_b^2) and the verdict of :func:`gain_at` (so a single-seed side is "not
    testable"), and under ``"paired"`` the per-seed rule of :func:`paired_difference`: seed k of
    every method trains on the same split, so a method run on fewer seeds (the first ones) is
    paired with the reference's first seeds. No choice is made here, so the test split selects
    nothing.
    """
    if reference not in accuracy:
        raise InputError(f"no accuracies for the reference method {reference!r}")
    rows = []
    for m in methods:
        if m not in accuracy:
            raise InputError(f"no accuracies for method {m!r}")
        for n in sorted(accuracy[m]):
            if n not in accuracy[reference]:
                continue
            a, ref = accuracy[m][n], accuracy[reference][n]
            if len(a["values"]) > len(ref["values"]):
                raise InputError(f"{m} at n={n} has more seeds ({len(a['values'])}) than the reference "
                                 f"{reference} ({len(ref['values'])}): nothing to pair the extra ones with")
            rows.append({"method": m, "n": int(n), **_compare(a, ref),
                         "paired": paired_difference(a["values"], ref["values"][:len(a["values"])])})
    return rows


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """Return the per-seed differences a_i - b_i of two methods run on the same splits, with a verdict.

    Each seed gives both methods the same labelled subset, validation set and pool, so the
    differences are paired. The verdict is "above"/"below" only when every seed's difference
    has the same sign and the mean difference exceeds the standard deviation of the
    differences (with at least three seeds); otherwise "within the noise" ("not testable" with
    fewer than three seeds).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise InputError(f"paired_difference needs two equally long lists of accuracies; got "
                         f"{a.shape} and {b.shape}")
    d = a - b
    mean = float(d.mean())
    std = float(d.std(ddof=1)) if d.size > 1 else 0.0
    if d.size < 3:
        verdict = "not testable (fewer than three seeds)"
    elif (np.all(d > 0) or np.all(d < 0)) and abs(mean) > std:
        verdict = "above" if mean > 0 else "below"
    else:
        verdict = "within the noise"
    return {"differences": [float(x) for x in d], "mean": mean, "std": std, "verdict": verdict}
