"""Training plumbing shared by every chapter: divergence guard, resumable runs, callbacks."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import keras
import numpy as np

from .errors import TrainingError
from .files import atomic_path


class NanGuard(keras.callbacks.Callback):
    """Stop training with a TrainingError naming the model and the step when a loss is NaN/Inf.

    Keras's TerminateOnNaN only prints a line and stops; a course notebook should fail loudly,
    at the step where the loss diverged, for every model, custom train_steps included.
    """

    def __init__(self, name: str | None = None):
        super().__init__()
        self.name = name
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            if "loss" not in key:
                continue
            try:
                v = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(v):
                name = self.name or getattr(self.model, "name", "model")
                raise TrainingError(
                    f"{name}: training diverged, {key} = {v} at epoch {self._epoch + 1}, "
                    f"step {batch + 1}. Lower the learning rate or check the inputs' range.")


def _optimizers(model) -> dict[str, keras.optimizers.Optimizer]:
    """Return the model's optimizers by attribute name (model.optimizer and a GAN's own ones)."""
    found: dict[str, keras.optimizers.Optimizer] = {}
    seen: set[int] = set()
    for attr in sorted(set(dir(model)) - {"optimizer"}) + ["optimizer"]:
        if attr.startswith("__"):
            continue
        try:
            obj = getattr(model, attr)
        except Exception:  # a property that needs a built model; not an optimizer anyway
            continue
        if isinstance(obj, keras.optimizers.Optimizer) and id(obj) not in seen:
            seen.add(id(obj))
            found[attr] = obj
    return found


def _seed_states(model) -> list:
    """Return the state variables of every SeedGenerator in the model (dropout, noise, z)."""
    states, seen = [], set()
    for v in model.variables:
        if v.name == "seed_generator_state" and id(v) not in seen:
            seen.add(id(v))
            states.append(v)
    return states


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that also restores what it misses, so a resumed run equals an unbroken one.

    Keras's callback saves the weights and ``model.optimizer``. It misses three things that
    make a resumed run drift from an uninterrupted one: the state of every SeedGenerator (dropout
    masks, a GAN's latent draws), optimizers a custom model keeps in its own attributes and
    builds lazily, and the shuffle order of the training data. This class saves the seed states
    beside the weights, refuses to resume into an unbuilt optimizer (its state would be skipped
    silently), and advances the shuffle of ``train_data`` by the epochs already done. Create
    the callback (``callbacks(..., train_data=ds)``) after building ``ds`` and before ``fit``,
    and pass that same, not yet iterated ``ds`` to ``fit``.
    """

    SEEDS_FILE = "seed_states.npz"

    def __init__(self, backup_dir: str, name: str = "model", train_data=None, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.run_name = name
        if train_data is not None:
            self._advance_shuffle(train_data)

    def _advance_shuffle(self, train_data) -> None:
        """Put train_data's shuffle where the interrupted run left it (call before fit)."""
        meta = Path(self._training_metadata_path)
        if not (meta.exists() and Path(self._weights_path).exists()):
            return
        try:
            done = int(json.loads(meta.read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise TrainingError(f"{self.run_name}: the backup in {self.backup_dir} is unreadable "
                                f"({e}); delete the folder to start over") from e
        # A tf.data shuffle draws each epoch's order from a count of the iterators made on the
        # dataset so far, and fit() copies the dataset when it starts, so the count is advanced
        # here, before fit. Keras's EpochIterator makes two iterators per epoch when the number
        # of batches is known (one at the start, one spare at the end) and one otherwise.
        # (fit without steps_per_epoch; the resume tests check this against an unbroken run.)
        per_epoch = 2 if int(train_data.cardinality()) > 0 else 1
        for _ in range(per_epoch * done):
            iter(train_data)

    def _save_model(self):
        states = {f"{i:04d}": np.asarray(v) for i, v in enumerate(_seed_states(self.model))}
        states["epoch"] = np.asarray(self._current_epoch)
        with atomic_path(Path(self.backup_dir) / self.SEEDS_FILE, suffix=".tmp.npz") as tmp:
            np.savez(tmp, **states)
        super()._save_model()

    def _load_model(self):
        model = self.model
        if not model.built and model.layers and all(layer.built for layer in model.layers):
            # A GAN or VAE made of built networks has all its variables but no build() of its
            # own; Keras would refuse to restore it only because of the flag.
            model.built = True
        if not Path(self._weights_path).exists():
            return super()._load_model()
        unbuilt = [a for a, o in _optimizers(self.model).items() if a != "optimizer" and not o.built]
        if unbuilt:
            raise TrainingError(
                f"{self.run_name}: cannot resume from {self.backup_dir}: optimizer(s) "
                f"{', '.join(unbuilt)} are not built yet, so their saved state would be skipped. "
                "Build them in compile(), e.g. self.g_optimizer.build(generator.trainable_variables).")
        super()._load_model()
        seeds_path = Path(self.backup_dir) / self.SEEDS_FILE
        if seeds_path.exists():
            states = _seed_states(self.model)
            with np.load(seeds_path) as saved:
                keys = sorted(k for k in saved.files if k != "epoch")
                epoch = int(saved["epoch"]) if "epoch" in saved.files else -1
                if epoch != int(getattr(self.model, "_initial_epoch", 0) or 0):
                    warnings.warn(f"{self.run_name}: the random-seed states in {self.backup_dir} "
                                  f"are from epoch {epoch}, not the restored one; the resumed "
                                  "run will not repeat the interrupted one exactly",
                                  stacklevel=2)
                    return
                if len(keys) != len(states):
                    raise TrainingError(
                        f"{self.run_name}: the backup in {self.backup_dir} holds "
                        f"{len(keys)} random-seed states but the model has {len(states)}; "
                        "it belongs to another model. Delete the folder to start over.")
                for key, v in zip(keys, states):
                    v.assign(saved[key])


def backup_dir(cfg, name: str) -> Path:
    """Return the folder where BackupAndRestore keeps the resumable state of a run."""
    from .artifacts import seed_suffix

    return Path(cfg.artifacts_dir) / "backup" / f"{name}_{cfg.dataset}{seed_suffix(cfg)}"


def callbacks(cfg, name: str, *, resumable: bool = False, early_stopping: str | None = None,
              patience: int = 3, extra: list | None = None, train_data=None) -> list:
    """Return the standard callbacks: NanGuard, optional ResumableBackup and EarlyStopping.

    With ``resumable=True``, pass the training ``tf.data.Dataset`` as ``train_data`` so that a
    resumed run sees the same shuffle order as an uninterrupted one.
    """
    cbs: list = [NanGuard(name)]
    if resumable:
        cbs.append(ResumableBackup(str(backup_dir(cfg, name)), name=name, train_data=train_data,
                                   delete_checkpoint=True))
    if early_stopping:
        cbs.append(keras.callbacks.EarlyStopping(monitor=early_stopping, patience=patience,
                                                 restore_best_weights=True))
    return cbs + list(extra or [])


# A training of at most this many gradient steps (the smoke profile's) runs eagerly: tracing a
# custom train_step costs a second or more on a CPU, more than a handful of eager steps. The cpu
# and gpu profiles' trainings are far longer, so they always run traced.
EAGER_STEPS = 20


def eager_if_short(model: keras.Model, steps: int) -> bool:
    """Make a compiled model train eagerly when it will take at most EAGER_STEPS steps; return whether."""
    model.run_eagerly = bool(steps <= EAGER_STEPS)
    return model.run_eagerly
