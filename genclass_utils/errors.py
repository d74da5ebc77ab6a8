"""The package's own error types: every failure a user can cause ends in one of these."""

from __future__ import annotations


class GenclassError(Exception):
    """Base class of every error the course's package raises on purpose."""


class DataError(GenclassError):
    """A dataset file is missing, corrupt, truncated or fails its checksum."""


class ConfigError(GenclassError, ValueError):
    """An unknown profile, dataset or budget name, or an invalid setting."""


class InputError(GenclassError, ValueError):
    """Arrays of the wrong shape, dtype, range or content were passed in."""


class ArtifactError(GenclassError):
    """A model file is missing, corrupt, foreign or unsafe, or cannot be written."""


class TrainingError(GenclassError):
    """Training diverged (a NaN or Inf loss) or could not go on."""


class StoreError(GenclassError):
    """A label store cannot be read or written: locked, read-only, full, foreign or too new."""
