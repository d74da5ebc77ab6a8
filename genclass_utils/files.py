"""Atomic file writes: write a temp file beside the target, then rename it into place.

A temp file is named ``.<stem>.<pid>.<random><suffix>``: a later write to the same target
removes the temp files of processes that no longer run (a write killed with kill -9), and a
replaced file keeps its permission bits.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, OutputError

# Errors of the disk rather than of the caller's data: a write that meets them is an OutputError.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def stale_temps(dest: Path | str) -> list[Path]:
    """Return the temp files left beside dest by writes whose process has died."""
    dest = Path(dest)
    stale = []
    prefix = f".{dest.stem}."
    try:
        siblings = list(dest.parent.iterdir())
    except OSError:
        return []
    for p in siblings:
        if not p.name.startswith(prefix):
            continue
        pid = p.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            stale.append(p)
    return stale


def _as_path(dest) -> Path:
    """Return dest as a Path, or raise InputError for something that names no file."""
    if not isinstance(dest, (str, os.PathLike)) or not str(dest) or "\x00" in str(dest):
        raise InputError(f"an output must be a file path; got {dest!r:.80}")
    return Path(dest)


def check_writable(dest: Path | str, create: bool = True) -> Path:
    """Return dest after checking that a file can be written there, or raise OutputError.

    ``create=False`` only checks that the missing folders could be made (nothing is created),
    for a command that checks its output before a step that may still fail.
    """
    dest = _as_path(dest)
    try:
        is_dir = dest.is_dir()
    except OSError as e:  # a name too long for the file system
        raise OutputError(f"cannot write {dest}: {e.strerror or e}") from None
    if is_dir:
        raise OutputError(f"{dest} is an existing folder; give a file name for the output")
    parent = dest.parent
    if not create:
        existing = next(a for a in (parent, *parent.parents) if a.exists() or a == Path(a.anchor or "."))
        if not existing.is_dir():
            raise OutputError(f"cannot write {dest}: {existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write {dest}: the folder {existing} is not writable")
        return dest
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the folder {parent} for {dest}: "
                          f"{e.strerror or e}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {dest}: the folder {parent} is not writable")
    return dest


@contextlib.contextmanager
def atomic_path(dest: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside dest; rename it onto dest on success, delete it on failure.

    Raises OutputError when dest is a folder, its folder cannot be created or written, or the
    disk is full or read-only. An existing dest keeps its permission bits.
    """
    dest = check_writable(dest)
    for p in stale_temps(dest):
        with contextlib.suppress(OSError):
            p.unlink()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.{os.getpid()}.",
                                   suffix=suffix or f"{dest.suffix}.tmp", dir=dest.parent)
    except OSError as e:
        raise OutputError(f"cannot write {dest}: {e.strerror or e}") from None
    os.close(fd)
    if dest.exists():  # keep the mode of the file being replaced
        mode = stat.S_IMODE(dest.stat().st_mode)
    else:  # mkstemp makes the file private (0600); give it the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as e:
            if e.errno in _DISK_ERRNOS and not isinstance(e, OutputError):
                raise OutputError(f"cannot write {dest}: {e.strerror or e}; "
                                  "nothing was written") from e
            raise
        try:
            os.chmod(tmp_path, mode)  # the writer may have replaced the temp file
            os.replace(tmp_path, dest)
        except OSError as e:
            raise OutputError(f"cannot write {dest}: {e.strerror or e}") from e
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(dest: Path | str, text: str) -> Path:
    """Write text to dest atomically and return dest."""
    if not isinstance(text, str):
        raise InputError(f"atomic_write_text writes str; got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # checked before anything is written
        raise InputError(f"cannot write {dest}: the text is not valid Unicode ({e.reason})") from None
    with atomic_path(dest) as tmp:
        tmp.write_text(text)
    return Path(dest)


def to_jsonable(obj: Any) -> Any:
    """Return obj with NumPy scalars/arrays turned into Python types and NaN/Inf into None."""
    if isinstance(obj, dict):
        out = {str(k): to_jsonable(v) for k, v in obj.items()}
        if len(out) != len(obj):  # {1: a, "1": b} would silently lose a value
            raise ValueError(f"two keys have the same text {sorted(map(str, obj))!r:.80}")
        return out
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
    """Write data as indented JSON atomically and return dest (InputError if it is not JSON data)."""
    try:
        text = json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n"
    except RecursionError:
        raise InputError(f"cannot write {dest} as JSON: the data refers to itself or is nested "
                         "too deeply") from None
    except (TypeError, ValueError) as e:  # checked before anything is written
        raise InputError(f"cannot write {dest} as JSON: {e} (use numbers, strings, lists and "
                         "dicts)") from None
    return atomic_write_text(dest, text)
