"""Results files: results/<profile>/<notebook>.json, written atomically at the end of a chapter."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import DataError, InputError
from .files import atomic_write_json

_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "numpy", "scipy", "scikit-learn",
             "scikit-image", "matplotlib")


def package_versions() -> dict[str, str]:
    """Return the installed versions of the packages that shape the numbers."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def hardware() -> dict[str, Any]:
    """Return a short description of the machine: CPU, cores and accelerators."""
    info: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                            "processor": platform.processor() or platform.machine()}
    try:
        import tensorflow as tf

        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # TensorFlow is optional for this function
        info["gpus"] = []
    return info


def save_results(name: str, metrics: Mapping[str, Any], cfg) -> Path:
    """Write the chapter's metrics and run facts to results/<profile>/<name>.json; return the path."""
    if not all(hasattr(cfg, a) for a in ("profile", "dataset", "seed", "started", "results_dir")):
        raise InputError(f"save_results needs the run's config (cfg = gu.setup(...)); got {cfg!r:.60}")
    if not isinstance(metrics, Mapping):
        raise InputError(f"metrics must be a dict of names to values; got {type(metrics).__name__}")
    record = {
        "notebook": name,
        "profile": cfg.profile.name,
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "metrics": dict(metrics),
        "wall_seconds": round(time.time() - cfg.started, 1),
        "device": getattr(cfg, "device", None),
        "precision": getattr(cfg, "precision", "float32"),
        "hardware": hardware(),
        "versions": package_versions(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = Path(cfg.results_dir) / f"{name}.json"
    atomic_write_json(path, record)
    print(f"saved {path.resolve()}")
    return path


def load_results(path: Path | str) -> dict:
    """Return the record stored in a results file, or raise DataError naming the file and the fault."""
    import json

    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"results file not found: {path}") from None
    except OSError as e:
        raise DataError(f"cannot read results file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"results file {path} is not UTF-8 text (byte {e.start}); delete it and "
                        "re-run its notebook") from None
    except json.JSONDecodeError as e:
        raise DataError(f"results file {path} is corrupt ({e.msg} at line {e.lineno}); delete it "
                        "and re-run its notebook") from None
    except RecursionError:
        raise DataError(f"results file {path} is nested too deeply to be a results record; "
                        "delete it and re-run its notebook") from None
    if not isinstance(record, dict) or not isinstance(record.get("metrics", {}), dict):
        raise DataError(f"results file {path} is not a results record (expected an object with "
                        "'metrics'); delete it and re-run its notebook")
    return record


def table(rows: Mapping[str, Mapping[str, Any]] | list[Mapping[str, Any]], floatfmt: str = ".4f"
          ) -> str:
    """Return a small plain-text table of rows (dicts), for printing in a notebook."""
    if isinstance(rows, Mapping):
        if not all(isinstance(v, Mapping) for v in rows.values()):
            raise InputError("table takes {name: {column: value}}; a value is not a dict")
        rows = [{"": k, **dict(v)} for k, v in rows.items()]
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
        raise InputError(f"table takes a list of dicts or a dict of dicts; got {type(rows).__name__}")
    rows = list(rows)
    if not all(isinstance(r, Mapping) for r in rows):
        raise InputError("table takes a list of dicts; a row is not a dict")
    if not isinstance(floatfmt, str):
        raise InputError(f"floatfmt must be a format spec such as '.4f'; got {floatfmt!r}")
    try:
        format(0.5, floatfmt)
    except ValueError as e:
        raise InputError(f"floatfmt {floatfmt!r} is not a format spec for floats ({e})") from None
    if not rows:
        return ""
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
            for row in cells]
    return "\n".join([line, sep, *body])
