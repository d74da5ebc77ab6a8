"""genclass_utils: the helper package of the course *Generate to Classify*.

Typical use at the top of a chapter::

    import genclass_utils as gu
    cfg = gu.setup(profile=profile, dataset=dataset, seed=seed)

Submodules are imported on first use, so ``import genclass_utils`` is fast and does not load
TensorFlow until a chapter needs it.
"""

from __future__ import annotations

import importlib
import os

# TensorFlow's C++ runtime logs harmless grappler and threadpool messages at ERROR level on
# CPU; they would land in every notebook's outputs. Python exceptions are unaffected.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .errors import ArtifactError, ConfigError, DataError, GenclassError, InputError, TrainingError

__version__ = "0.1.0"

_SUBMODULES = ("artifacts", "config", "data", "evaluator", "experiments", "files", "metrics",
               "models", "nbcheck", "plotting", "preprocess", "report", "runbook", "sampling",
               "training", "overview", "bench", "distributed", "robustness", "labels",
               "feature_spaces", "tuning")


def setup(profile=None, dataset="fashion_mnist", seed=0, quiet=False):
    """Seed everything, resolve the profile, set the figure style and return the run's config."""
    from .config import setup as _setup

    return _setup(profile=profile, dataset=dataset, seed=seed, quiet=quiet)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'genclass_utils' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))


__all__ = ["setup", "GenclassError", "DataError", "ConfigError", "InputError", "ArtifactError",
           "TrainingError", *_SUBMODULES]
