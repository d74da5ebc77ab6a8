"""Trained models on disk: artifacts/<profile>/<model>_<dataset>.keras, written atomically.

A model is saved to a temp file beside its destination and renamed into place, so that an
interrupted write never leaves a file the loader would pick up. Models are loaded with
``safe_mode=True``: a file that carries code (a Lambda layer) is refused.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

from .errors import ArtifactError
from .files import atomic_path


class ArtifactWriteWarning(UserWarning):
    """A trained model could not be saved; it is still returned to the caller."""


# The chapter that trains and explains each saved model; every later chapter loads it from
# artifacts/<profile>/, or trains it itself (and says so) when that chapter has not run here.
MODEL_CHAPTERS = {
    "evaluator": "02_cnn_basics",
    "dcgan": "03_gan", "cgan": "03_gan",
    "vae": "04_vae", "cvae": "04_vae",
    "vaegan": "05_vae_gan", "pixelvae": "05_vae_gan",
}


def _profile_name(cfg) -> str:
    return getattr(getattr(cfg, "profile", None), "name", "this")


def _results_folders(cfg) -> list[Path]:
    folders = [Path(d) for d in (getattr(cfg, "results_dir", None),) if d is not None]
    if hasattr(cfg, "root"):
        folders.append(Path(cfg.root) / "results" / _profile_name(cfg))
    return folders


def chapter_seconds(cfg, chapter: str) -> tuple[float, bool] | None:
    """Return (wall time, trained from scratch) of the chapter's last recorded run, or None.

    A run that trained the chapter's own models, which is what the caller is about to do, is
    preferred: the chapter's last run if run_times.json records it as starting from an empty
    artifacts folder, else the chapter's time in the last whole-book run from scratch. Otherwise
    the wall time in the chapter's results file, whose run may have loaded saved models.
    """
    folders = _results_folders(cfg)
    for folder in folders:
        try:
            times = json.loads((folder / "run_times.json").read_text())
        except (OSError, ValueError):
            continue
        try:
            entry = times["chapters"][chapter]
            if entry.get("from_scratch") is True:
                return float(entry["seconds"]), True
        except (KeyError, TypeError, AttributeError, ValueError):
            pass
        try:
            return float(times["from_scratch"]["chapters"][chapter]), True
        except (KeyError, TypeError, ValueError):
            continue
    for folder in folders:
        try:
            return float(json.loads((folder / f"{chapter}.json").read_text())["wall_seconds"]), False
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def training_notice(name: str, cfg) -> str:
    """Return the line printed before a model is trained: which chapter owns it and how long."""
    chapter, profile = MODEL_CHAPTERS.get(name), _profile_name(cfg)
    if chapter is None:
        return f"training {name} now ({profile} profile)"
    number = int(chapter[:2])
    recorded = chapter_seconds(cfg, chapter)
    if recorded is None:
        took = f"no run of that chapter in the {profile} profile is recorded here, so no time estimate"
    elif recorded[1]:
        took = (f"the last recorded {profile}-profile run of that whole chapter, training its "
                f"models from scratch, took about {_duration(recorded[0])}")
    else:
        took = (f"the last recorded {profile}-profile run of that whole chapter took about "
                f"{_duration(recorded[0])}, but it may have loaded saved models, so training "
                "can take longer")
    return (f"training {name} now: it is chapter {number}'s model (notebooks/{chapter}.ipynb), "
            f"not found in {Path(cfg.artifacts_dir).resolve()}; {took}. Later runs load it.")


def announce_training(name: str, cfg) -> None:
    """Print, before training, which chapter's model is being trained and roughly how long."""
    print(training_notice(name, cfg), flush=True)


def path_for(cfg, model: str, dataset: str | None = None) -> Path:
    """Return artifacts/<profile>/<model>_<dataset>.keras for this run (seed 0), or
    <model>_<dataset>_seed<N>.keras for another seed: a run with seed 1 trains and keeps its own
    models, and never loads one that was trained on seed 0's draws."""
    return Path(cfg.artifacts_dir) / f"{model}_{dataset or cfg.dataset}{seed_suffix(cfg)}.keras"


def seed_suffix(cfg) -> str:
    """Return "" for seed 0, else "_seed<N>": what tells one seed's saved state from another's."""
    seed = int(getattr(cfg, "seed", 0) or 0)
    return "" if seed == 0 else f"_seed{seed}"


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


def check_model_file(path: Path | str) -> Path:
    """Return path if it names an existing .keras zip file, else raise ArtifactError (no Keras import)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ArtifactError(f"a model is named by its file path; got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file not found: {path}")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ArtifactError(f"{path} is not a Keras .keras model file (corrupt or foreign)")
    return path


def load_model(path: Path | str, compile: bool = False):
    """Return the Keras model stored at path, loaded with safe_mode=True, or raise ArtifactError."""
    path = check_model_file(path)
    import keras  # after the checks: a wrong path fails without loading TensorFlow

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
        print(f"loaded {name} from {path.resolve()}")
        return model
    announce_training(name, cfg)
    model = train()
    try:
        save_model(model, path)
        print(f"saved {name} to {path.resolve()}")
    except ArtifactError as e:
        warnings.warn(f"{e}; the trained {name} is returned but was not saved",
                      ArtifactWriteWarning, stacklevel=2)
    return model
