"""Trained models on disk: artifacts/<profile>/<model>_<dataset>.keras, written atomically.

A model is saved to a temp file beside its destination and renamed into place, so that an
interrupted write never leaves a file the loader would pick up. Models are loaded with
``safe_mode=True``: a file that carries code (a Lambda layer) is refused.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

from .errors import ArtifactError
from .files import atomic_path


class ArtifactWriteWarning(UserWarning):
    """A trained model could not be saved; it is still returned to the caller."""


def path_for(cfg, model: str, dataset: str | None = None) -> Path:
    """Return artifacts/<profile>/<model>_<dataset>.keras for this run."""
    return Path(cfg.artifacts_dir) / f"{model}_{dataset or cfg.dataset}.keras"


def save_model(model, path: Path | str) -> Path:
    """Save a Keras model to path atomically (temp file, then rename); return the path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ArtifactError(f"{path}: model files must end in .keras")
    try:
        with atomic_path(path, suffix=".tmp.keras") as tmp:
            model.save(tmp)
    except OSError as e:
        raise ArtifactError(f"cannot write model file {path}: {e.strerror or e}") from e
    return path


def load_model(path: Path | str, compile: bool = False):
    """Return the Keras model stored at path, loaded with safe_mode=True, or raise ArtifactError."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file not found: {path}")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ArtifactError(f"{path} is not a Keras .keras model file (corrupt or foreign)")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except ValueError as e:
        if "safe_mode" in str(e) or "Lambda" in str(e):
            raise ArtifactError(f"{path} contains code (a Lambda layer or similar) and was "
                                "refused by safe_mode; the course never saves such models") from e
        raise ArtifactError(f"{path} could not be loaded as a Keras model: {e}") from e
    except (OSError, KeyError, TypeError, zipfile.BadZipFile) as e:
        raise ArtifactError(f"{path} could not be loaded as a Keras model "
                            f"(corrupt or from another program): {e}") from e


def load_or_train(name: str, cfg, train: Callable[[], object], dataset: str | None = None,
                  retrain: bool = False):
    """Return the saved model `name` for this profile and dataset, training and saving it if absent.

    If saving fails (a read-only or full disk), the trained model is still returned and an
    ArtifactWriteWarning says why it was not kept.
    """
    path = path_for(cfg, name, dataset)
    if path.exists() and not retrain:
        try:
            model = load_model(path)
        except ArtifactError as e:
            raise ArtifactError(f"{e}. Delete {path} to train {name} again.") from e
        print(f"loaded {name} from {_short(path, cfg)}")
        return model
    model = train()
    try:
        save_model(model, path)
        print(f"saved {name} to {_short(path, cfg)}")
    except ArtifactError as e:
        warnings.warn(f"{e}; the trained {name} is returned but was not saved",
                      ArtifactWriteWarning, stacklevel=2)
    return model


def _short(path: Path, cfg) -> str:
    try:
        return os.path.relpath(path, cfg.root)
    except ValueError:
        return str(path)
