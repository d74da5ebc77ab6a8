"""Training plumbing shared by every chapter: divergence guard, resumable runs, callbacks."""

from __future__ import annotations

import math
from pathlib import Path

import keras

from .errors import TrainingError


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


def backup_dir(cfg, name: str) -> Path:
    """Return the folder where BackupAndRestore keeps the resumable state of a run."""
    return Path(cfg.artifacts_dir) / "backup" / f"{name}_{cfg.dataset}"


def callbacks(cfg, name: str, *, resumable: bool = False, early_stopping: str | None = None,
              patience: int = 3, extra: list | None = None) -> list:
    """Return the standard callbacks: NanGuard, optional BackupAndRestore and EarlyStopping."""
    cbs: list = [NanGuard(name)]
    if resumable:
        cbs.append(keras.callbacks.BackupAndRestore(str(backup_dir(cfg, name)),
                                                    delete_checkpoint=True))
    if early_stopping:
        cbs.append(keras.callbacks.EarlyStopping(monitor=early_stopping, patience=patience,
                                                 restore_best_weights=True))
    return cbs + list(extra or [])
