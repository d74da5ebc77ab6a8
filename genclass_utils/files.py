"""Atomic file writes: write a temp file beside the target, then rename it into place."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(dest: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside dest; rename it onto dest on success, delete it on failure."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=suffix or f"{dest.suffix}.tmp",
                               dir=dest.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(dest: Path | str, text: str) -> Path:
    """Write text to dest atomically and return dest."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text)
    return Path(dest)


def to_jsonable(obj: Any) -> Any:
    """Return obj with NumPy scalars/arrays turned into Python types and NaN/Inf into None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(dest: Path | str, data: Any) -> Path:
    """Write data as indented JSON atomically and return dest."""
    return atomic_write_text(dest, json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
