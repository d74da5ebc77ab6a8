"""Experiments with generated data for classification (explained in
notebooks/07_generated_data_classification.ipynb).

Four studies, each a function that takes *callables* so that it can be tested with tiny models:

- ``fit(x, y, x_val, y_val, *, seed, class_weight=None, augment=None) -> model`` trains a
  classifier on uint8 images and returns a model whose ``predict`` gives class probabilities.
  :func:`make_trainer` builds one from a Keras model builder, with either a fixed number of
  gradient steps or at most so many passes over each training set under early stopping; it
  records the steps each call used (``fit.last``), which the studies return beside their scores.
- ``sampler(labels, seed) -> uint8 images`` draws one generated image per requested label.
  :func:`as_sampler` turns a saved generator (THE GENERATOR CONTRACT, see ``gu.sampling``)
  into one.
- ``train_generator(x, y, seed) -> generator or sampler`` trains a conditional generator on
  exactly the images and labels it is given (used for the leak-free low-data generators).

Data rules: the validation images come from the training split and the test split is only
used for the reported numbers. Subset builders refuse any index that belongs to the
validation split (:class:`~genclass_utils.errors.DataError`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import DataError, InputError

Sampler = Callable[[np.ndarray, int], np.ndarray]
Fit = Callable[..., object]


# --------------------------------------------------------------------------- subsets

@dataclass(frozen=True)
class LowDataSplit:
    """A labeled subset of the training split, the unlabeled rest, and their indices.

    ``idx_*`` index the official training split (as ``Splits.idx_train`` does). The labels of
    the unlabeled pool (``y_unlabeled_hidden``) are kept only to *measure* pseudo-label
    precision; no experiment trains on them.
    """

    x_labeled: np.ndarray
    y_labeled: np.ndarray
    x_unlabeled: np.ndarray
    y_unlabeled_hidden: np.ndarray
    idx_labeled: np.ndarray
    idx_unlabeled: np.ndarray


def _indices(a, name: str) -> np.ndarray:
    """Return a as a 1-D integer array, or raise InputError."""
    a = np.asarray(a)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise InputError(f"{name} must be a 1-D array of integer indices; got {a.dtype} {a.shape}")
    return a


def _same_length(x, y) -> None:
    if len(x) != len(y):
        raise InputError(f"x and y must have the same length; got {len(x)} images and {len(y)} labels")


def _fraction(value, name: str) -> float:
    """Return value as a float, or raise InputError for text, None or bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise InputError(f"{name} must be a number; got {value!r}")
    return float(value)


def check_disjoint(idx: np.ndarray, forbidden: np.ndarray, what: str = "subset",
                   from_: str = "validation") -> None:
    """Raise DataError when any index of idx is also in forbidden (a leak)."""
    idx, forbidden = _indices(idx, "idx"), _indices(forbidden, "forbidden")
    leak = np.intersect1d(idx, forbidden)
    if leak.size:
        raise DataError(f"{what} contains {leak.size} {from_} image(s) (e.g. index {int(leak[0])}); "
                        "that would leak them into training")


def low_data_split(splits, n_per_class: int, seed: int = 0,
                   n_unlabeled: int | None = None) -> LowDataSplit:
    """Return n_per_class labeled images per class from the train split, and the unlabeled rest.

    The labeled subset is drawn with :func:`gu.data.labeled_subset` over the official training
    indices, excluding the validation indices; the unlabeled pool is the rest of the train
    split (optionally a stratified sample of n_unlabeled of it).
    """
    from . import data

    idx_train = np.asarray(splits.idx_train)
    idx_val = np.asarray(splits.idx_val)
    check_disjoint(idx_train, idx_val, "the train split")
    # Work on the official indices so that `exclude` means what it says.
    n_total = int(max(idx_train.max(), idx_val.max() if idx_val.size else 0)) + 1
    y_full = np.full(n_total, -1, dtype=np.int64)
    y_full[idx_train] = splits.y_train
    exclude = np.setdiff1d(np.arange(n_total), idx_train)  # validation and anything not in train
    y_masked = np.where(y_full < 0, 0, y_full)
    picked = data.labeled_subset(y_masked, n_per_class, seed=seed, exclude=exclude)
    check_disjoint(picked, idx_val, "the labeled subset")
    pos = np.searchsorted(idx_train, picked)
    rest = np.setdiff1d(np.arange(len(idx_train)), pos)
    if n_unlabeled == 0:
        rest = rest[:0]
    elif n_unlabeled is not None and n_unlabeled < len(rest):
        rest = data.stratified_take(splits.y_train, n_unlabeled, seed, pool=rest)
    return LowDataSplit(splits.x_train[pos], splits.y_train[pos], splits.x_train[rest],
                        splits.y_train[rest], idx_train[pos], idx_train[rest])


def small_validation(x_val: np.ndarray, y_val: np.ndarray, n_per_class: int,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return n_per_class validation images per class (fewer if a class has fewer)."""
    from . import data

    y_val = np.asarray(y_val)
    _same_length(x_val, y_val)
    if y_val.ndim != 1 or y_val.size == 0 or y_val.dtype.kind not in "iu" or y_val.min() < 0:
        raise InputError(f"y_val must be non-empty integer class indices >= 0; got {y_val.dtype} "
                         f"{y_val.shape}")
    n = min(data.check_count(n_per_class, "n_per_class"), int(np.bincount(y_val).min()))
    idx = data.labeled_subset(y_val, n, seed=seed)
    return x_val[idx], y_val[idx]


def make_imbalanced(x: np.ndarray, y: np.ndarray, rare_class: int, fraction: float,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (x, y) with rare_class cut to round(fraction * its count) images (at least 1)."""
    y = np.asarray(y)
    _same_length(x, y)
    if not 0 < _fraction(fraction, "fraction") <= 1:
        raise InputError(f"fraction must be in (0, 1], got {fraction}")
    members = np.flatnonzero(y == rare_class)
    if members.size == 0:
        raise InputError(f"class {rare_class} has no images to cut")
    keep_n = max(1, int(round(fraction * members.size)))
    rng = np.random.default_rng(seed)
    keep_rare = rng.choice(members, keep_n, replace=False)
    keep = np.sort(np.concatenate([np.flatnonzero(y != rare_class), keep_rare]))
    return x[keep], y[keep]


def oversample(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (x, y) where every class is resampled with replacement up to the largest count."""
    y = np.asarray(y)
    _same_length(x, y)
    if y.size == 0:
        raise InputError("oversample got no images")
    classes, counts = np.unique(y, return_counts=True)
    rng = np.random.default_rng(seed)
    parts = []
    for c, n in zip(classes, counts):
        idx = np.flatnonzero(y == c)
        extra = rng.choice(idx, counts.max() - n, replace=True) if n < counts.max() else idx[:0]
        parts.append(np.concatenate([idx, extra]))
    order = rng.permutation(np.concatenate(parts))
    return x[order], y[order]


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Return Keras class_weight {class: n / (k * n_class)} (scikit-learn's 'balanced')."""
    from sklearn.utils.class_weight import compute_class_weight

    if np.size(y) == 0:
        raise InputError("class_weights got no labels")
    classes = np.unique(y)
    w = compute_class_weight("balanced", classes=classes, y=np.asarray(y))
    return {int(c): float(v) for c, v in zip(classes, w)}


# --------------------------------------------------------------------------- mixing

def synthetic_labels(y_real: np.ndarray, ratio: float, n_classes: int,
                     balance: str = "match") -> np.ndarray:
    """Return round(ratio * len(y_real)) labels to request from a generator.

    ``balance="match"`` copies the class proportions of y_real (the mix keeps its label
    balance); ``"uniform"`` asks for every class equally. Counts are exact up to rounding:
    the largest-remainder method makes them sum to the total.
    """
    from . import data
    from .sampling import MEMORY_SHARE, available_memory

    ratio = _fraction(ratio, "ratio")
    if ratio < 0 or not math.isfinite(ratio):
        raise InputError(f"ratio must be a finite number >= 0, got {ratio}")
    n_classes = data.check_count(n_classes, "n_classes")
    y_real = data.check_labels(y_real, n_classes, "y_real")
    total = int(round(ratio * len(y_real)))
    # The labels alone are int32; the images they ask for are far larger still.
    if total >= 2**31 or total * 4 > available_memory() * MEMORY_SHARE:
        raise InputError(f"ratio {ratio} asks for {total} generated images, more than fit in "
                         "memory; lower the ratio")
    if balance == "match":
        share = np.bincount(y_real, minlength=n_classes) / max(len(y_real), 1)
    elif balance == "uniform":
        share = np.full(n_classes, 1.0 / n_classes)
    else:
        raise InputError(f"balance must be 'match' or 'uniform', got {balance!r}")
    exact = share * total
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return np.repeat(np.arange(n_classes), counts).astype(np.int32)


def as_sampler(generator_or_sampler, batch_size: int = 500) -> Sampler:
    """Return a sampler(labels, seed) -> uint8 images from a conditional generator or a callable."""
    from . import sampling

    if hasattr(generator_or_sampler, "inputs") and hasattr(generator_or_sampler, "predict"):
        gen = generator_or_sampler
        if not sampling.is_conditional(gen):
            raise InputError("classification with generated data needs a conditional generator "
                             "(inputs z and label)")

        def sample(labels: np.ndarray, seed: int = 0) -> np.ndarray:
            return sampling.generate(gen, len(labels), labels=labels, seed=seed,
                                     batch_size=batch_size)

        return sample
    if callable(generator_or_sampler):
        return generator_or_sampler
    raise InputError(f"expected a conditional generator or a sampler, got {type(generator_or_sampler)}")


def draw(sampler: Sampler, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Return sampler(labels, seed) checked to be one uint8 image per label."""
    labels = np.asarray(labels, np.int32)
    if labels.size == 0:
        return np.zeros((0,), np.uint8)
    x = np.asarray(sampler(labels, seed))
    if x.dtype != np.uint8 or x.ndim != 4 or len(x) != len(labels):
        raise InputError(f"a sampler must return one uint8 NHWC image per label; got {x.dtype} "
                         f"{x.shape} for {len(labels)} labels")
    return x


def mix(x_real: np.ndarray, y_real: np.ndarray, x_syn: np.ndarray, y_syn: np.ndarray,
        seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the shuffled union (x, y, is_synthetic) of real and generated images."""
    if len(x_syn) == 0:
        x_syn = np.zeros((0, *x_real.shape[1:]), x_real.dtype)
    if x_syn.shape[1:] != x_real.shape[1:]:
        raise InputError(f"generated images {x_syn.shape[1:]} do not match real ones "
                         f"{x_real.shape[1:]}")
    x = np.concatenate([x_real, x_syn.astype(x_real.dtype)])
    y = np.concatenate([np.asarray(y_real, np.int64), np.asarray(y_syn, np.int64)])
    flag = np.concatenate([np.zeros(len(x_real), bool), np.ones(len(x_syn), bool)])
    order = np.random.default_rng(seed).permutation(len(x))
    return x[order], y[order], flag[order]


def mix_with_generated(x_real: np.ndarray, y_real: np.ndarray, sampler: Sampler, ratio: float,
                       n_classes: int, seed: int = 0, balance: str = "match"
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return real images plus ratio generated images per real one, (x, y, is_synthetic)."""
    labels = synthetic_labels(y_real, ratio, n_classes, balance)
    x_syn = draw(sampler, labels, seed) if len(labels) else x_real[:0]
    return mix(x_real, y_real, x_syn, labels, seed)


# --------------------------------------------------------------------------- training

# Images per batch when a fit scores its validation set. Keras defaults to 32, whose per-batch
# overhead made the validation checks cost 10-20% of a study's time; accuracy (what early
# stopping watches) does not depend on it, since every model scores in inference mode.
VAL_BATCH = 1000


def make_trainer(build: Callable[[tuple, int], object], n_classes: int, steps: int | None = None,
                 batch_size: int = 64, eval_every: int | None = None, patience: int | None = 3,
                 learning_rate: float = 1e-3, verbose: int = 0, name: str = "classifier",
                 max_epochs: int | None = None, min_per_epoch: int = 1, reuse: bool = True) -> Fit:
    """Return fit(x, y, x_val, y_val, *, seed, class_weight, augment) with a step budget.

    Every call trains a fresh ``build(input_shape, n_classes)`` model (softmax output) with
    Adam, ``batch_size`` images per gradient step. The budget is either

    - ``steps``: the same number of gradient steps whatever the size of the training set (a
      larger set is then seen fewer times per image), or
    - ``max_epochs``: at most that many passes over the call's own training set (each pass at
      least ``min_per_epoch`` steps, so that a tiny set still gets some), so that a larger set
      gets proportionally more steps: a generous maximum, meant with early stopping.

    The validation set is scored every ``eval_every`` steps (default: a tenth of ``steps``, or
    one pass over the training set); with ``patience`` training stops when validation accuracy
    has not improved for that many evaluations, and the best evaluation's weights are kept.
    After each call ``fit.last`` records the budget it used: ``n_images``, ``max_steps`` (the cap,
    rounded up to a whole number of validation checks), ``steps_run`` and ``best_step`` (the step
    whose weights were kept). Images are uint8, scaled to [0, 1] here.

    With ``reuse`` (the default) the training itself runs on one compiled twin per input shape,
    whose traced training and validation functions every call of this trainer shares: the
    fresh model's weights (and dropout seeds) are copied in, the optimizer's state is reset,
    and the trained weights are copied back into the fresh model that is returned. The result
    is the same as training the fresh model itself, without tracing a new graph for every
    training (about a second each on a CPU, most of a small training's time).
    """
    if (steps is None) == (max_epochs is None):
        raise InputError("give exactly one budget: steps (fixed) or max_epochs (per training set)")
    if steps is not None and steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    if max_epochs is not None and max_epochs < 1:
        raise InputError(f"max_epochs must be at least 1, got {max_epochs}")
    if eval_every is not None and eval_every < 1:
        raise InputError(f"eval_every must be at least 1, got {eval_every}")

    def fit(x, y, x_val, y_val, *, seed: int = 0, class_weight: Mapping[int, float] | None = None,
            augment=None):
        import keras

        from . import data, training

        x = data.check_images(x, "training images")
        y = data.check_labels(y, n_classes, "training labels")
        if len(x) != len(y) or len(x) == 0:
            raise InputError(f"need as many labels as images (got {len(x)} and {len(y)})")
        bs = min(batch_size, len(x))
        per_pass = math.ceil(len(x) / bs)
        budget = steps if steps is not None else max_epochs * max(per_pass, min_per_epoch)
        every = eval_every or (max(1, steps // 10) if steps is not None else per_pass)
        shape = tuple(x.shape[1:])
        if reuse and shape not in twins:  # built before the seed is set: the fresh model's draws stay as they were
            twins[shape] = _compiled_twin(build, shape, n_classes, learning_rate, ("accuracy",))
        model, ds = _fresh_classifier(build, x, y, n_classes, seed=seed, learning_rate=learning_rate,
                                      batch_size=bs, augment=augment, metrics=("accuracy",))
        trained = _load_twin(twins[shape], model) if reuse else model
        val = (data.scale(x_val), np.asarray(y_val, np.int64))
        n_evals = max(1, math.ceil(budget / every))
        cbs = training.callbacks(None, name, early_stopping="val_accuracy" if patience else None,
                                 patience=patience or 0)
        history = trained.fit(ds, steps_per_epoch=every, epochs=n_evals, validation_data=val,
                              validation_batch_size=VAL_BATCH,  # Keras's default of 32 costs 10-20%
                              class_weight=None if class_weight is None else dict(class_weight),
                              callbacks=cbs, verbose=verbose, shuffle=False)
        if trained is not model:
            _copy_state(trained, model)
        run = len(history.epoch)
        stopper = next((c for c in cbs if isinstance(c, keras.callbacks.EarlyStopping)), None)
        best = run if stopper is None else stopper.best_epoch + 1
        fit.last = {"n_images": int(len(x)), "max_steps": int(n_evals * every),
                    "steps_run": int(run * every), "best_step": int(best * every)}
        return model

    twins: dict = {}  # input shape -> (compiled model, its optimizer's initial values)
    fit.last = None
    return fit


def _compiled_twin(build: Callable[[tuple, int], object], shape: tuple, n_classes: int,
                   learning_rate: float, metrics: Sequence[str]):
    """Return (a compiled build(shape, n_classes), its built optimizer's initial values)."""
    import keras

    twin = build(shape, n_classes)
    twin.compile(optimizer=keras.optimizers.Adam(learning_rate),
                 loss="sparse_categorical_crossentropy", metrics=list(metrics))
    twin.optimizer.build(twin.trainable_variables)
    return twin, [v.numpy() for v in twin.optimizer.variables]


def _copy_state(src, dst) -> None:
    """Assign every variable of src (weights, statistics, seed states) to the same one of dst."""
    s, d = src.variables, dst.variables
    if len(s) != len(d) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(s, d)):
        raise RuntimeError("build() made models of different structure for the same input shape; "
                           "pass reuse=False to make_trainer")
    for a, b in zip(s, d):
        b.assign(a)


def _load_twin(twin, fresh):
    """Return the compiled twin, holding fresh's initial state and a reset optimizer."""
    model, optimizer_start = twin
    _copy_state(fresh, model)
    for v, value in zip(model.optimizer.variables, optimizer_start):
        v.assign(value)
    return model


def _fresh_classifier(build: Callable[[tuple, int], object], x: np.ndarray, y: np.ndarray,
                      n_classes: int, *, seed: int, learning_rate: float, batch_size: int,
                      augment=None, metrics: Sequence[str] = ()):
    """Return (a fresh compiled build(shape, n_classes), its shuffled repeating tf.data pipeline).

    The one recipe of :func:`make_trainer` and :func:`accuracy_by_budget`: seeded, Adam,
    sparse cross-entropy, uint8 images scaled to [0, 1].
    """
    import keras

    from . import data

    keras.utils.set_random_seed(seed)
    model = build(tuple(x.shape[1:]), n_classes)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=list(metrics))
    ds = data.make_dataset(data.scale(x), y, batch_size=batch_size, shuffle=True, seed=seed,
                           augment=augment).repeat()
    return model, ds


def steps_used(fit: Fit) -> dict | None:
    """Return a copy of the budget record of ``fit``'s last call (see :func:`make_trainer`)."""
    last = getattr(fit, "last", None)
    return None if last is None else dict(last)


def ran_to_cap(records: Mapping[str, Sequence[Mapping]]) -> dict[str, tuple[int, int]]:
    """Return {name: (trainings that ran to their cap, trainings)} of budget records.

    A record is what :func:`steps_used` returns (``steps_run`` and ``max_steps`` at least): a
    training that ran to its cap was still allowed to improve when it stopped.
    """
    try:
        return {name: (sum(int(r["steps_run"]) >= int(r["max_steps"]) for r in recs), len(recs))
                for name, recs in records.items()}
    except (KeyError, TypeError) as e:
        raise InputError(f"budget records need steps_run and max_steps ({e})") from None


def _budget_scores(budgets, unit, x_val, y_val, x_test, y_test):
    """Return a Keras callback that scores validation and test accuracy after each budget."""
    import keras

    class BudgetScores(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.curve: dict[int, dict] = {}

        def on_epoch_end(self, epoch, logs=None):
            done = (epoch + 1) * unit
            if done in budgets:
                self.curve[done] = {"val": accuracy(self.model, x_val, y_val),
                                    "test": accuracy(self.model, x_test, y_test)}

    return BudgetScores()


def accuracy_by_budget(build: Callable[[tuple, int], object], n_classes: int,
                       variants: Mapping[str, tuple[np.ndarray, np.ndarray]], x_val, y_val,
                       x_test, y_test, budgets: Sequence[int], batch_size: int = 64,
                       seed: int = 0, learning_rate: float = 1e-3) -> dict[str, dict[int, dict]]:
    """Return {variant: {budget: {"val": accuracy, "test": accuracy}}}: one training per variant.

    Each variant's classifier trains once, without early stopping, for ``max(budgets)``
    gradient steps of ``batch_size`` images; after exactly each budget's number of steps the
    same weights are scored on the validation and the test images. So every budget sees the
    same initialisation and the same order of batches, and a verdict can be read at each
    budget. Nothing is chosen by the test scores here: they are the curve being reported.
    """

    from . import data

    budgets = sorted({data.check_count(b, "budget") for b in budgets})
    if not budgets:
        raise InputError("accuracy_by_budget needs at least one budget")
    unit = math.gcd(*budgets)
    out: dict[str, dict[int, dict]] = {}
    for name, (x, y) in variants.items():
        x = data.check_images(x, f"training images of {name!r}")
        y = data.check_labels(y, n_classes, f"training labels of {name!r}")
        model, ds = _fresh_classifier(build, x, y, n_classes, seed=seed, learning_rate=learning_rate,
                                      batch_size=min(batch_size, len(x)))
        score = _budget_scores(budgets, unit, x_val, y_val, x_test, y_test)
        model.fit(ds, steps_per_epoch=unit, epochs=budgets[-1] // unit, callbacks=[score],
                  verbose=0, shuffle=False)
        out[name] = score.curve
    return out


def budget_steps(epochs: int, n_images: int, batch_size: int, min_per_epoch: int = 1) -> int:
    """Return epochs * max(min_per_epoch, ceil(n_images / batch_size)) gradient steps."""
    from .data import check_count

    epochs, n_images = check_count(epochs, "epochs", 0), check_count(n_images, "n_images", 0)
    batch_size = check_count(batch_size, "batch_size")
    min_per_epoch = check_count(min_per_epoch, "min_per_epoch", 0)
    per_epoch = math.ceil(max(int(n_images), 1) / int(batch_size))
    return int(epochs) * max(int(min_per_epoch), per_epoch)


def cvae_trainer(n_classes: int, epochs: int, batch_size: int = 64, min_per_epoch: int = 5,
                 latent_dim: int = 16, beta: float | None = None, fitted_prior: bool = True,
                 verbose: int = 0) -> Callable:
    """Return train_generator(x, y, seed) -> cVAE decoder trained on exactly (x, y).

    The cVAE is chapter 4's (``gu.models.vae.build_vae``, its default beta unless given, at the
    default width to keep small-data runs short); it trains for
    ``budget_steps(epochs, len(x), batch_size, min_per_epoch)`` steps with a KL warm-up over the
    first tenth, and the decoder is returned as a generator (images in [0, 1]). With
    fitted_prior, the generator samples from chapter 4's mixture prior fitted to the codes of
    exactly (x, y), so no other image is seen.
    """
    def train_generator(x: np.ndarray, y: np.ndarray, seed: int = 0):
        import keras

        from . import data, training
        from .models import vae

        steps = budget_steps(epochs, len(x), batch_size, min_per_epoch)
        per_epoch = min(steps, 100)
        keras.utils.set_random_seed(seed)
        kl_weight = vae.DEFAULTS["cvae"]["beta"] if beta is None else beta
        model = vae.build_vae(tuple(x.shape[1:]), latent_dim, n_classes, beta=kl_weight,
                              warmup_steps=steps // 10, seed=seed)
        ds = data.make_dataset(data.scale(x), np.asarray(y, np.int32),
                               batch_size=min(batch_size, len(x)), seed=seed).repeat()
        training.eager_if_short(model, steps)
        model.fit(ds, steps_per_epoch=per_epoch, epochs=math.ceil(steps / per_epoch),
                  verbose=verbose, shuffle=False)
        if not fitted_prior:
            return model.generator()
        prior = model.fit_prior(data.scale(x), np.asarray(y, np.int32),
                                vae.DEFAULTS["cvae"]["n_components"], seed=seed)
        return model.generator(prior)

    return train_generator


def classical_augmentation(seed: int = 0, flip: bool = True, shift: float = 0.1,
                           zoom: float = 0.1, rotation: float = 0.0):
    """Return a keras Sequential of random flips, translations and zooms (training only)."""
    import keras
    from keras import layers

    steps = []
    if flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if rotation:
        steps.append(layers.RandomRotation(rotation, fill_mode="constant", seed=seed + 1))
    if shift:
        steps.append(layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 2))
    if zoom:
        steps.append(layers.RandomZoom(zoom, fill_mode="constant", seed=seed + 3))
    return keras.Sequential(steps, name="classical_augmentation")


def predict_proba(model, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Return the model's class probabilities for uint8 images.

    A Keras model is called directly in inference mode, not through ``predict``, which traces a
    new function for every model of a study (and makes TensorFlow warn about retracing after a
    few models); any other object is asked for its ``predict``.
    """
    import keras

    from . import data

    x = data.scale(x)
    if not isinstance(model, keras.Model):  # any object with predict (the study's contract)
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    if len(x) == 0:
        return np.zeros((0, int(model.output_shape[-1])), np.float32)
    return _direct_probs(model, len(x), batch_size, lambda a, b: x[a:b])


def _direct_probs(model, n: int, batch_size: int, batch: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """Return a Keras model's outputs on batch(i, i + batch_size) for i up to n, called directly.

    Inference mode, without ``predict`` (see :func:`predict_proba`); shared with
    :func:`accuracy`, which scales each batch of any-rank arrays itself.
    """
    import keras

    return np.concatenate([keras.ops.convert_to_numpy(model(batch(i, i + batch_size), training=False))
                           for i in range(0, n, batch_size)])


def scores(model, x: np.ndarray, y: np.ndarray, rare_class: int | None = None) -> dict[str, float]:
    """Return accuracy, balanced accuracy and (if asked) the rare class's recall."""
    from sklearn.metrics import balanced_accuracy_score

    pred = predict_proba(model, x).argmax(axis=1)
    y = np.asarray(y)
    out = {"accuracy": float(np.mean(pred == y)),
           "balanced_accuracy": float(balanced_accuracy_score(y, pred))}
    if rare_class is not None:
        out["recall"] = float(np.mean(pred[y == rare_class] == rare_class))
    return out


def mean_std(values: Sequence[float]) -> dict[str, float | int]:
    """Return {mean, std, n_seeds, values} (std with ddof=1, 0 for one seed)."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"mean_std needs numbers; got {values!r:.80}") from e
    if v.ndim != 1 or v.size == 0:
        raise InputError(f"mean_std needs a non-empty list of numbers; got shape {v.shape}")
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "n_seeds": int(len(v)), "values": [float(a) for a in v]}


# --------------------------------------------------------------------------- auto-labelling

def select_confident(probs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (indices, predicted labels) of the rows whose top probability is >= threshold."""
    from .metrics import _check_probs

    probs = _check_probs(probs)
    if not 0 <= _fraction(threshold, "threshold") <= 1:
        raise InputError(f"threshold must be in [0, 1], got {threshold}")
    idx = np.flatnonzero(probs.max(axis=1) >= threshold)
    return idx, probs[idx].argmax(axis=1).astype(np.int64)


def agreeing(probs: np.ndarray, requested: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Return a mask of generated images a classifier assigns to their requested label (>= threshold)."""
    from . import data
    from .metrics import _check_probs

    probs = _check_probs(probs)
    requested = data.check_labels(requested, probs.shape[1], "requested")
    if len(requested) != len(probs):
        raise InputError(f"requested must have one label per row of probs ({len(probs)}); "
                         f"got {len(requested)}")
    return (probs.argmax(axis=1) == requested) & (probs[np.arange(len(probs)), requested] >= threshold)


def label_precision(pseudo: np.ndarray, truth: np.ndarray) -> float:
    """Return the fraction of pseudo-labels equal to the (hidden) true labels (nan when empty)."""
    pseudo, truth = np.asarray(pseudo), np.asarray(truth)
    if pseudo.ndim != 1 or pseudo.shape != truth.shape:
        raise InputError(f"pseudo and truth must be 1-D labels of the same length; got shapes "
                         f"{pseudo.shape} and {truth.shape}")
    return float(np.mean(pseudo == truth)) if len(pseudo) else float("nan")


# --------------------------------------------------------------------------- study 1: TSTR

def run_tstr(generators: Mapping[str, object], x_real, y_real, x_val, y_val, x_test, y_test,
             fit: Fit, n_classes: int, ratios: Sequence[float] = (0.5, 1.0, 2.0),
             n_synthetic: int | None = None, seed: int = 0, log: Callable[[str], None] | None = print
             ) -> dict[str, dict[str, float]]:
    """Return {generator: {mix: test accuracy}} for real only, synthetic only and real + r x synthetic.

    Real only is trained once and reported under every generator. Synthetic only sees no real
    image: n_synthetic generated images (default len(x_real)) with the real class balance, and a
    generated validation set the size of x_val for early stopping. ``out["_validation"]`` has
    the same layout with each model's accuracy on the real (x_val, y_val): the score a best
    ratio or a best generator is chosen by (the test split only scores the choice), and
    ``out["_steps"]`` the budget record of each training (:func:`steps_used`).
    """
    log = log or (lambda s: None)
    model = fit(x_real, y_real, x_val, y_val, seed=seed)
    real_only = scores(model, x_test, y_test)["accuracy"]
    real_val = scores(model, x_val, y_val)["accuracy"]
    real_steps = steps_used(fit)
    log(f"real only: {real_only:.4f}")
    out: dict[str, dict[str, float]] = {}
    val: dict[str, dict[str, float]] = {}
    used: dict[str, dict] = {}
    for name, gen in generators.items():
        sampler = as_sampler(gen)
        res = {"real_only": real_only}
        res_val = {"real_only": real_val}
        res_steps = {"real_only": real_steps}
        n_syn = n_synthetic or len(x_real)
        y_syn = synthetic_labels(y_real, n_syn / len(y_real), n_classes)
        x_syn = draw(sampler, y_syn, seed + 101)
        yv_syn = synthetic_labels(y_val, 1.0, n_classes)
        xv_syn = draw(sampler, yv_syn, seed + 202)
        model = fit(x_syn, y_syn, xv_syn, yv_syn, seed=seed)
        res["synthetic_only"] = scores(model, x_test, y_test)["accuracy"]
        res_val["synthetic_only"] = scores(model, x_val, y_val)["accuracy"]  # real images it never saw
        res_steps["synthetic_only"] = steps_used(fit)
        for r in ratios:
            x, y, _ = mix_with_generated(x_real, y_real, sampler, r, n_classes, seed=seed + 303)
            model = fit(x, y, x_val, y_val, seed=seed)
            res[f"real+{r:g}x"] = scores(model, x_test, y_test)["accuracy"]
            res_val[f"real+{r:g}x"] = scores(model, x_val, y_val)["accuracy"]
            res_steps[f"real+{r:g}x"] = steps_used(fit)
        log(f"{name}: " + ", ".join(f"{k}={v:.4f}" for k, v in res.items()))
        out[name], val[name], used[name] = res, res_val, res_steps
    out["_validation"], out["_steps"] = val, used
    return out


# --------------------------------------------------------------------------- study 2: low data

LOW_DATA_VARIANTS = ("real", "real+classical", "real+generated", "real+generated+classical")


def run_low_data(splits, x_test, y_test, fit: Fit | Mapping[int, Fit], train_generator: Callable,
                 n_classes: int, sizes: Iterable[int] = (10, 50, 100), n_seeds: int = 3,
                 gen_ratio: float = 1.0, val_per_class: int | None = None,
                 augment_factory: Callable[[int], object] | None = None, seed: int = 0,
                 on_generator: Callable[[int, int, Sampler], None] | None = None,
                 log: Callable[[str], None] | None = print) -> dict[int, dict[str, dict]]:
    """Return {labels per class: {variant: mean_std of test accuracy, with "val" and step counts}}.

    ``"val"`` is the mean_std of validation accuracy; ``"steps_run"``, ``"best_step"`` and
    ``"max_steps"`` those of the gradient steps each training ran, of the step whose weights it
    kept, and of its cap (:func:`steps_used`; NaN for a fit that keeps no record).

    For each size and seed: a labeled subset (validation excluded); a small validation set of
    val_per_class (default: the same n) per class from the validation split; a conditional
    generator trained by ``train_generator(x_labeled, y_labeled, seed)`` on the labeled subset
    only (the other training images are unused); gen_ratio generated images per labeled one,
    class-balanced, sampled after training. ``fit`` may map each size to its own trainer (a
    budget that grows with the labeled set); all variants of one size share it.
    ``on_generator(n, seed, sampler)`` is called with each trained generator (to show samples).
    """
    log = log or (lambda s: None)
    augment_factory = augment_factory or classical_augmentation
    out: dict[int, dict[str, dict]] = {}
    for n in sizes:
        acc: dict[str, list[float]] = {v: [] for v in LOW_DATA_VARIANTS}
        val: dict[str, list[float]] = {v: [] for v in LOW_DATA_VARIANTS}
        ran: dict[str, list[float]] = {v: [] for v in LOW_DATA_VARIANTS}
        caps: dict[str, list[float]] = {v: [] for v in LOW_DATA_VARIANTS}
        kept: dict[str, list[float]] = {v: [] for v in LOW_DATA_VARIANTS}
        for k in range(n_seeds):
            s = seed + k
            sub = low_data_split(splits, n, seed=s, n_unlabeled=0)
            xv, yv = small_validation(splits.x_val, splits.y_val, val_per_class or n, seed=s)
            sampler = as_sampler(train_generator(sub.x_labeled, sub.y_labeled, s))
            if on_generator is not None:
                on_generator(int(n), s, sampler)
            xg, yg, _ = mix_with_generated(sub.x_labeled, sub.y_labeled, sampler, gen_ratio,
                                           n_classes, seed=s)
            runs = {"real": (sub.x_labeled, sub.y_labeled, None),
                    "real+classical": (sub.x_labeled, sub.y_labeled, augment_factory(s)),
                    "real+generated": (xg, yg, None),
                    "real+generated+classical": (xg, yg, augment_factory(s))}
            fit_n = fit[n] if isinstance(fit, Mapping) else fit
            for v, (x, y, aug) in runs.items():
                model = fit_n(x, y, xv, yv, seed=s, augment=aug)
                acc[v].append(scores(model, x_test, y_test)["accuracy"])
                val[v].append(scores(model, xv, yv)["accuracy"])  # what a best variant is chosen by
                used = steps_used(fit_n)
                ran[v].append(float("nan") if used is None else used["steps_run"])
                caps[v].append(float("nan") if used is None else used["max_steps"])
                kept[v].append(float("nan") if used is None else used["best_step"])
            log(f"n={n} seed={s}: " + ", ".join(f"{v}={acc[v][-1]:.4f}" for v in acc))
        out[int(n)] = {v: {**mean_std(a), "val": mean_std(val[v]), "steps_run": mean_std(ran[v]),
                           "max_steps": mean_std(caps[v]), "best_step": mean_std(kept[v])}
                       for v, a in acc.items()}
    return out


# --------------------------------------------------------------------------- study 3: rare class

def run_rare_class(x_train, y_train, x_val, y_val, x_test, y_test, fit: Fit,
                   train_generator: Callable, n_classes: int, rare_class: int,
                   fraction: float = 0.02, seed: int = 0,
                   on_generator: Callable[[Sampler], None] | None = None,
                   log: Callable[[str], None] | None = print) -> dict[str, dict[str, float]]:
    """Return {variant: {recall, balanced_accuracy, accuracy}} on the test split.

    Each variant also carries "val", the same scores on the imbalanced validation set that
    early stopping watched: the scores a best remedy is chosen by; and "steps", the budget
    record of its training (:func:`steps_used`).

    The rare class is cut to ``fraction`` of its images in the training set and in the
    validation set alike. Variants: nothing; class weights; oversampling; generated rare-class
    images filling the rare class up to the median class count, from a conditional generator
    trained by ``train_generator`` on the imbalanced training set.
    """
    log = log or (lambda s: None)
    x_imb, y_imb = make_imbalanced(x_train, y_train, rare_class, fraction, seed)
    xv, yv = make_imbalanced(x_val, y_val, rare_class, fraction, seed)
    counts = np.bincount(y_imb, minlength=n_classes)
    log(f"class {rare_class} cut to {counts[rare_class]} images; others median {int(np.median(counts))}")
    out: dict[str, dict[str, float]] = {}

    def both(model) -> dict:
        return {**scores(model, x_test, y_test, rare_class), "val": scores(model, xv, yv, rare_class),
                "steps": steps_used(fit)}

    out["nothing"] = both(fit(x_imb, y_imb, xv, yv, seed=seed))
    out["class_weights"] = both(fit(x_imb, y_imb, xv, yv, seed=seed, class_weight=class_weights(y_imb)))
    xo, yo = oversample(x_imb, y_imb, seed)
    out["oversampling"] = both(fit(xo, yo, xv, yv, seed=seed))
    sampler = as_sampler(train_generator(x_imb, y_imb, seed))
    if on_generator is not None:
        on_generator(sampler)
    n_fill = int(np.median(counts)) - int(counts[rare_class])
    labels = np.full(max(n_fill, 0), rare_class, np.int32)
    x_gen = draw(sampler, labels, seed + 7) if len(labels) else x_imb[:0]
    xg, yg, _ = mix(x_imb, y_imb, x_gen, labels, seed)
    out["generated"] = both(fit(xg, yg, xv, yv, seed=seed))
    for v, r in out.items():
        log(f"{v}: recall={r['recall']:.4f} balanced_accuracy={r['balanced_accuracy']:.4f}")
    out["_protocol"] = {"rare_class": int(rare_class), "fraction": float(fraction),
                        "rare_count": int(counts[rare_class]), "generated": int(len(labels)),
                        "val_rare_count": int(np.sum(np.asarray(yv) == rare_class)),
                        "train_size": int(len(y_imb))}
    return out


# --------------------------------------------------------------------------- study 4: auto-labelling

def run_auto_labelling(split: LowDataSplit, x_val, y_val, x_test, y_test, fit: Fit,
                       thresholds: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99),
                       generator=None, gen_ratio: float = 1.0, agreement_threshold: float = 0.9,
                       n_classes: int = 10, seed: int = 0,
                       log: Callable[[str], None] | None = print,
                       store=None, review_n: int = 50) -> dict:
    """Return the baseline accuracy and {threshold: {label_precision, kept, accuracy, val_accuracy, steps}}.

    A classifier trained on the labeled subset labels the unlabeled pool; the images whose top
    probability reaches a threshold join the labeled ones, and a fresh classifier is retrained.
    Label precision is measured against the pool's hidden labels (never used for training).
    With a generator, generated images are kept only if that first classifier agrees with the
    label they were requested for (probability >= agreement_threshold).

    ``out["_chosen"]`` maps each threshold to the (pool indices, pseudo-labels) it kept, for a
    caller that retrains on them (not results: pop it before saving).

    With ``store`` (the path of a new label-store file), the loop runs through
    ``genclass_utils.labels.LabelStore``: the labeled images are imported with their labels,
    the pool without, the first classifier's predictions and the accepted ``auto`` labels are
    rows of the store, and each retraining reads its training set back from it. The
    ``review_n`` least confident pool images are then labelled by a simulated reviewer (the
    pool's hidden labels, as a person would) so that ``out["review"]`` and
    ``out["agreement"]`` show the review queue and how often auto and human labels agree.
    """
    log = log or (lambda s: None)
    teacher = fit(split.x_labeled, split.y_labeled, x_val, y_val, seed=seed)
    base = scores(teacher, x_test, y_test)["accuracy"]
    log(f"labeled only: {base:.4f} (pool of {len(split.x_unlabeled)} unlabeled images)")
    out: dict = {"baseline_accuracy": base, "labeled": int(len(split.y_labeled)),
                 "pool": int(len(split.x_unlabeled)), "thresholds": {},
                 "baseline_val_accuracy": scores(teacher, x_val, y_val)["accuracy"],
                 "baseline_steps": steps_used(fit)}
    if store is not None:
        chosen = _auto_labels_through_store(store, split, teacher, thresholds, n_classes)
    else:
        probs = predict_proba(teacher, split.x_unlabeled)
        chosen = {t: select_confident(probs, t) for t in thresholds}
    out["_chosen"] = {f"{t:g}": chosen[t] for t in thresholds}  # (pool indices, pseudo-labels)
    for t in thresholds:
        idx, pseudo = chosen[t]
        prec = label_precision(pseudo, split.y_unlabeled_hidden[idx])
        x = np.concatenate([split.x_labeled, split.x_unlabeled[idx]])
        y = np.concatenate([split.y_labeled, pseudo])
        model = fit(x, y, x_val, y_val, seed=seed)
        acc = scores(model, x_test, y_test)["accuracy"]
        out["thresholds"][f"{t:g}"] = {"label_precision": prec, "kept": int(len(idx)),
                                       "accuracy": acc,
                                       # the score a best threshold is chosen by
                                       "val_accuracy": scores(model, x_val, y_val)["accuracy"],
                                       "steps": steps_used(fit)}
        log(f"threshold {t:g}: kept {len(idx)}, precision {prec:.4f}, accuracy {acc:.4f}")
    if generator is not None:
        sampler = as_sampler(generator)
        labels = synthetic_labels(split.y_labeled, gen_ratio, n_classes)
        x_gen = draw(sampler, labels, seed + 11)
        keep = agreeing(predict_proba(teacher, x_gen), labels, agreement_threshold)
        for name, mask in (("generated_all", np.ones(len(labels), bool)),
                           ("generated_agreeing", keep)):
            x, y, _ = mix(split.x_labeled, split.y_labeled, x_gen[mask], labels[mask], seed)
            model = fit(x, y, x_val, y_val, seed=seed)
            acc = scores(model, x_test, y_test)["accuracy"]
            out[name] = {"kept": int(mask.sum()), "accuracy": acc,
                         "val_accuracy": scores(model, x_val, y_val)["accuracy"],
                         "steps": steps_used(fit)}
            log(f"{name}: kept {int(mask.sum())} of {len(labels)}, accuracy {acc:.4f}")
    if store is not None:
        out.update(_review_through_store(store, split, review_n))
        log(f"review queue: {out['review']['n']} least confident pool images; the first "
            f"classifier was right on {out['review']['teacher_accuracy']:.4f} of them; auto and "
            f"human labels agree on {out['agreement']['agree']} of {out['agreement']['n']}")
    return out


def _auto_labels_through_store(path, split: LowDataSplit, teacher, thresholds: Sequence[float],
                               n_classes: int) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Return {threshold: (pool indices, auto labels)} produced by a new label store at path."""
    from pathlib import Path

    from .labels import LabelStore

    path = Path(path)
    if path.exists():
        raise InputError(f"{path} exists; run_auto_labelling starts a new label store "
                         "(delete the file or choose another path)")
    st = LabelStore(path, classes=[str(k) for k in range(n_classes)])
    try:
        st.add_arrays(split.x_labeled, labels=split.y_labeled, source="labeled")
        pool_ids = st.add_arrays(split.x_unlabeled, source="pool")
        st.predict(teacher, name="teacher", progress=False)
        first = {}  # an image stored twice (identical pixels) maps to its first pool position
        for j, i in enumerate(pool_ids.tolist()):
            first.setdefault(i, j)
        chosen = {}
        # Highest threshold first: each accept adds the labels between it and the previous one.
        for t in sorted(thresholds, reverse=True):
            st.accept(t)
            cur = st.current_labels(["auto"])
            keep = [k for k, i in enumerate(cur["image_id"].tolist()) if i in first]
            idx = np.array([first[i] for i in cur["image_id"][keep].tolist()], dtype=np.int64)
            chosen[t] = (idx, cur["label"][keep].astype(np.int64))
    finally:
        st.close()
    return chosen


def _review_through_store(path, split: LowDataSplit, n: int) -> dict:
    """Return the review queue of the store at path, labelled by a simulated reviewer."""
    from .labels import LabelStore

    st = LabelStore(path)
    try:
        pool_ids = st.add_arrays(split.x_unlabeled, source="pool")  # known: returns their ids
        pos = {}
        for j, i in enumerate(pool_ids.tolist()):
            pos.setdefault(i, j)
        # The labeled images were predicted too; the queue a person sees holds pool images only.
        queue = st.review_queue(n + len(split.y_labeled))
        queue = {k: (v[[i in pos for i in queue["image_id"].tolist()]][:n] if k != "model" else v)
                 for k, v in queue.items()}
        ids = queue["image_id"]
        truth = np.array([split.y_unlabeled_hidden[pos[i]] for i in ids.tolist()], dtype=np.int64)
        st.label(ids, truth, source="human", who="reviewer (simulated with the hidden labels)")
        agreement = st.agreement()
        review = {"n": int(len(ids)), "images": st.images(ids), "predicted": queue["predicted"],
                  "confidence": queue["confidence"], "truth": truth,
                  "teacher_accuracy": float(np.mean(queue["predicted"] == truth)) if len(ids)
                  else float("nan")}
        counts = st.counts()
    finally:
        st.close()
    return {"review": review, "agreement": agreement, "store_counts": counts,
            "store": str(path)}


__all__ = [
    "LowDataSplit", "check_disjoint", "low_data_split", "small_validation", "make_imbalanced",
    "oversample", "class_weights", "synthetic_labels", "as_sampler", "draw", "mix",
    "mix_with_generated", "make_trainer", "steps_used", "ran_to_cap", "accuracy_by_budget", "budget_steps",
    "cvae_trainer",
    "classical_augmentation", "predict_proba", "scores",
    "mean_std", "select_confident", "agreeing", "label_precision", "run_tstr", "run_low_data",
    "LOW_DATA_VARIANTS", "run_rare_class", "run_auto_labelling",
]


# --------------------------------------------------------------------------- clips and volumes

VARIANTS_3D = ("real_only", "synthetic_only", "real_plus_generated")


def fit_early_stopping(build: Callable[[tuple, int], object], x: np.ndarray, y: np.ndarray,
                       x_val: np.ndarray, y_val: np.ndarray, n_classes: int, max_epochs: int,
                       batch_size: int = 32, patience: int = 4, seed: int = 0,
                       learning_rate: float = 1e-3, verbose: int = 0):
    """Return a fresh build(shape, n_classes) fitted on uint8 arrays of any rank, stopped on validation.

    Training runs for at most ``max_epochs`` epochs and stops when validation accuracy has not
    improved for ``patience`` epochs; the best epoch's weights are kept. Explained in
    notebooks/09_clips_and_volumes.ipynb.
    """
    import keras

    from . import data, training

    x, x_val = np.asarray(x), np.asarray(x_val)
    if x.dtype != np.uint8 or x_val.dtype != np.uint8:
        raise InputError(f"training and validation arrays must be uint8; got {x.dtype} and "
                         f"{x_val.dtype}")
    y = data.check_labels(y, n_classes, "training labels")
    y_val = data.check_labels(y_val, n_classes, "validation labels")
    if len(x) != len(y) or len(x_val) != len(y_val) or not len(x) or not len(x_val):
        raise InputError(f"need as many labels as arrays, and some of each (got {len(x)}/{len(y)} "
                         f"for training, {len(x_val)}/{len(y_val)} for validation)")
    max_epochs = data.check_count(max_epochs, "max_epochs")
    keras.utils.set_random_seed(seed)
    model = build(tuple(x.shape[1:]), n_classes)
    steps = max_epochs * math.ceil(len(x) / min(batch_size, len(x)))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    training.eager_if_short(model, steps)  # a handful of steps (the smoke profile) runs eagerly
    cbs = training.callbacks(None, model.name, early_stopping="val_accuracy", patience=patience)
    model.fit(x.astype(np.float32) / 255.0, y, batch_size=min(batch_size, len(x)),
              epochs=max_epochs, validation_data=(x_val.astype(np.float32) / 255.0, y_val),
              validation_batch_size=VAL_BATCH,
              callbacks=cbs, verbose=verbose, shuffle=True)
    return model


def accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Return the model's accuracy on uint8 arrays x (any rank) with labels y.

    Direct calls in inference mode, not ``predict``, which would trace a new function for every
    model of a study (and make TensorFlow warn about retracing).
    """
    x = np.asarray(x)
    probs = _direct_probs(model, len(x), batch_size,
                          lambda a, b: x[a:b].astype(np.float32) / 255.0)
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(y)))


def three_way(x, y, x_val, y_val, x_test, y_test, fit: Fit, sampler: Sampler,
              seed: int = 0) -> dict[str, float]:
    """Return the test accuracy of real only, synthetic only and real + generated at equal labels.

    ``fit(x, y, x_val, y_val, seed=...)`` trains a classifier; ``sampler(labels, seed)`` draws
    one generated array per label. Synthetic only trains on generated arrays with exactly the
    real training labels and stops early on generated arrays with the validation labels (it sees
    no real array before the test); real + generated adds one generated array per real one,
    with the same labels, and stops on the real validation set. The test arrays are scored once
    per variant, never used to train or stop.
    """
    y, y_val = np.asarray(y), np.asarray(y_val)
    x_syn = sampler(y, seed)
    x_syn_val = sampler(y_val, seed + 1)
    if x_syn.shape != np.asarray(x).shape or x_syn_val.shape != np.asarray(x_val).shape:
        raise InputError(f"the sampler returned {x_syn.shape} for training arrays of shape "
                         f"{np.asarray(x).shape}")
    models = {
        "real_only": fit(x, y, x_val, y_val, seed=seed),
        "synthetic_only": fit(x_syn, y, x_syn_val, y_val, seed=seed),
        "real_plus_generated": fit(np.concatenate([x, x_syn]), np.concatenate([y, y]),
                                   x_val, y_val, seed=seed),
    }
    return {k: accuracy(m, x_test, y_test) for k, m in models.items()}


def summarize_seeds(runs: Sequence[Mapping[str, float]], seeds: Sequence[int]) -> dict[str, dict]:
    """Return {variant: {mean, std, seeds, values}} over runs at several seeds (std with ddof=1)."""
    if len(runs) != len(seeds) or not runs:
        raise InputError(f"need one run per seed; got {len(runs)} runs and {len(seeds)} seeds")
    out = {}
    for k in runs[0]:
        ms = mean_std([r[k] for r in runs])
        out[k] = {"mean": ms["mean"], "std": ms["std"], "seeds": [int(s) for s in seeds],
                  "values": ms["values"]}
    return out


def _n_runs(summary: Mapping) -> int:
    """Return how many runs a {mean, std, ...} summary averages (n_seeds, seeds or values)."""
    if "n_seeds" in summary:
        return int(summary["n_seeds"])
    return len(summary.get("seeds", summary.get("values", [0, 0])))


def verdict(a: Mapping[str, float], b: Mapping[str, float]) -> str:
    """Return 'above', 'below' or 'within the noise of' for a's mean against b's.

    A difference is called an effect only when it exceeds the spread of a difference between
    two single runs, sqrt(s_a^2 + s_b^2), and both sides have at least two seeds.
    """
    d = a["mean"] - b["mean"]
    spread = float(np.hypot(a["std"], b["std"]))
    if min(_n_runs(a), _n_runs(b)) < 2 or abs(d) <= spread:
        return "within the noise of"
    return "above" if d > 0 else "below"
