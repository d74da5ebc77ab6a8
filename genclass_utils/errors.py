"""The package's own error types: every failure a user can cause ends in one of these.

The rule (book/setup.md): every public function and command either returns a correct result
or raises one of these with one sentence that names the input and what would be accepted.
"""

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


class OutputError(GenclassError, OSError):
    """An output cannot be written: a folder in the way, a read-only or full disk."""


class UsageError(GenclassError, ValueError):
    """A command-line argument is missing, unknown or not of the expected type."""


def argument_parser(**kwargs):
    """Return an argparse parser whose errors raise UsageError (one sentence, no usage dump)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message):  # argparse would print usage and exit(2)
            raise UsageError(f"{self.prog}: {message} (see --help)")

    return _Parser(**kwargs)
