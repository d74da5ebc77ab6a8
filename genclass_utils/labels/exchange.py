"""Files in and out of the label store: the review queue (CSV, Label Studio tasks), the
corrections read back, and the training-set export (.npz, .csv).

Label Studio's formats: the review ``.json`` is a list of import tasks, each with ``data``
(the image as a PNG data URI, plus its ``image_id`` and ``sha256``) and the model's guess as a
pre-annotation in ``predictions``; ``<stem>_config.xml`` beside it is the labelling interface
to paste into the project's settings. What Label Studio exports (JSON, or JSON-MIN) is read back
by ``read_corrections``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

import numpy as np

from ..errors import InputError, StoreError
from ..files import atomic_path, atomic_write_text
from . import images as imgs

if TYPE_CHECKING:
    from .store import LabelStore

FROM_NAME, TO_NAME = "label", "image"
REVIEW_COLUMNS = ("image_id", "sha256", "image", "source", "predicted", "confidence", "label")


def _writing(path: Path):
    """Return a context that turns OSError while writing path into one StoreError."""
    @contextlib.contextmanager
    def guard():
        try:
            yield
        except OSError as e:
            raise StoreError(f"cannot write {path}: {e.strerror or e}; nothing was written "
                             "there") from e
    return guard()


def label_config(classes) -> str:
    """Return the Label Studio labelling interface (XML) for one choice among the classes."""
    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInline="true">\n'
            f"{choices}\n  </Choices>\n</View>\n")


def write_review(store: LabelStore, path: Path, queue: dict) -> Path:
    """Write the review queue to a .csv (with PNGs beside it) or Label Studio .json; return path."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"review export must end in .csv or .json; got {path}")
    pixels = store.images(queue["image_id"]) if len(queue["image_id"]) else []
    created: list[Path] = []  # what this call made, removed again if it fails (a full disk)
    try:
        return _write_review(store, path, queue, pixels, created)
    except BaseException:
        for p in reversed(created):
            with contextlib.suppress(OSError):
                p.rmdir() if p.is_dir() else p.unlink()
        raise


def _write_review(store: LabelStore, path: Path, queue: dict, pixels, created: list[Path]) -> Path:
    """Write the review files, recording each new file and folder in created."""
    suffix = path.suffix.lower()
    names = store.classes
    with _writing(path):
        if suffix == ".json":
            tasks = [{"data": {TO_NAME: imgs.data_uri(px), "image_id": int(i), "sha256": str(h),
                               "source": str(src)},
                      "predictions": [{"model_version": str(queue["model"]), "score": float(c),
                                       "result": [{"from_name": FROM_NAME, "to_name": TO_NAME,
                                                   "type": "choices",
                                                   "value": {"choices": [names[int(k)]]}}]}]}
                     for i, h, src, k, c, px in zip(queue["image_id"], queue["sha256"],
                                                    queue["source"], queue["predicted"],
                                                    queue["confidence"], pixels)]
            config = path.with_name(f"{path.stem}_config.xml")
            if not path.exists():
                created.append(path)
            atomic_write_text(path, json.dumps(tasks, indent=1) + "\n")
            if not config.exists():
                created.append(config)
            atomic_write_text(config, label_config(names))
            return path
        folder = path.with_name(f"{path.stem}_images")
        if not folder.exists():
            created.append(folder)
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(REVIEW_COLUMNS)
        for i, h, src, k, c, px in zip(queue["image_id"], queue["sha256"], queue["source"],
                                       queue["predicted"], queue["confidence"], pixels):
            png = folder / f"{int(i)}.png"
            if not png.exists():
                created.append(png)
            with atomic_path(png) as tmp:
                tmp.write_bytes(imgs.png_bytes(px))
            w.writerow([int(i), h, f"{folder.name}/{png.name}", src, names[int(k)],
                        f"{float(c):.4f}", ""])
        atomic_write_text(path, buf.getvalue())
    return path


def read_corrections(store: LabelStore, path: Path, who: str) -> list[tuple[int, int, str]]:
    """Return (image id, class index, who) for each corrected label in a .csv or Label Studio .json.

    Raises InputError for an unknown image or class, naming the row or task; nothing is
    returned (so nothing is stored) when any row is bad.
    """
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(store, path, who)
    if suffix == ".json":
        return _read_label_studio(store, path, who)
    raise InputError(f"corrections must be a .csv or a Label Studio .json export; got {path}")


def _read_csv(store: LabelStore, path: Path, who: str) -> list[tuple[int, int, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path} is not a readable CSV file: {e}") from e
    if not rows:
        return []
    cols = set(rows[0])
    if "label" not in cols or not ({"sha256", "image_id"} & cols):
        raise InputError(f"{path} needs a 'label' column and a 'sha256' or 'image_id' column; "
                         f"found {sorted(c for c in cols if c)}")
    out = []
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        value = (row.get("label") or "").strip()
        if not value:
            continue
        where = f"{path.name} line {n}"
        image_id = store.find_image(row.get("sha256"), row.get("image_id"), where)
        out.append((image_id, store.class_index(value, where), (row.get("who") or "").strip() or who))
    return out


def _annotator(annotation: dict, default: str) -> str:
    by = annotation.get("completed_by")
    if isinstance(by, dict):
        by = by.get("email") or by.get("id")
    return f"labelstudio:{by}" if by not in (None, "") else default


def _choice(result: list, where: str) -> str | None:
    for item in result or []:
        if item.get("type") == "choices" and item.get("from_name", FROM_NAME) == FROM_NAME:
            choices = (item.get("value") or {}).get("choices") or []
            if len(choices) != 1:
                raise InputError(f"{where}: expected one chosen class, got {choices}")
            return str(choices[0])
    return None


def _read_label_studio(store: LabelStore, path: Path, who: str) -> list[tuple[int, int, str]]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not a readable JSON file: {e}") from e
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise InputError(f"{path} is not a Label Studio export (a list of tasks)")
    out = []
    for n, task in enumerate(tasks):
        where = f"{path.name} task {task.get('id', n)}"
        if "annotations" in task or "data" in task:  # the full JSON export
            data = task.get("data") or {}
            done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
            if not done:
                continue
            # Label Studio lists annotations oldest first; the last one is the final word.
            annotation = done[-1]
            value, person = _choice(annotation.get("result"), where), _annotator(annotation, who)
        elif FROM_NAME in task or "sha256" in task:  # JSON-MIN: one flat object per task
            data, value = task, task.get(FROM_NAME)
            person = f"labelstudio:{task['annotator']}" if task.get("annotator") else who
        else:
            raise InputError(f"{where} is not a Label Studio task: it has no 'data' and "
                             f"'annotations' (JSON export) nor '{FROM_NAME}' (JSON-MIN)")
        if value in (None, ""):
            continue
        image_id = store.find_image(data.get("sha256"), data.get("image_id"), where)
        out.append((image_id, store.class_index(value, where), person))
    return out


def write_export(store: LabelStore, path: Path, format: str | None,
                 sources=None) -> dict:
    """Write the current labels to .npz (images, labels, ...) or .csv; return the counts."""
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in ("npz", "csv"):
        raise InputError(f"export format must be 'npz' or 'csv'; got {fmt!r}")
    if path.suffix.lower() != f".{fmt}":
        raise InputError(f"--out must end in .{fmt} for format {fmt}; got {path}")
    cur = store.current_labels(sources)
    if not len(cur["image_id"]):
        raise InputError(f"{store.path} has no current labels"
                         + (f" from sources {list(sources)}" if sources else "") + " to export")
    info = {r[0]: r[1:] for r in store._read("SELECT id, sha256, source FROM images")}
    sha = np.array([info[i][0] for i in cur["image_id"].tolist()])
    with _writing(path):
        if fmt == "npz":
            x = store.images(cur["image_id"])
            with atomic_path(path, suffix=".tmp.npz") as tmp:
                np.savez_compressed(tmp, images=x, labels=cur["label"], sources=cur["source"],
                                    image_ids=cur["image_id"], sha256=sha,
                                    class_names=np.array(store.classes))
        else:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["image_id", "sha256", "image_source", "label", "class_name",
                        "label_source", "who", "labelled_at"])
            for i, h, k, s, p, t in zip(cur["image_id"].tolist(), sha, cur["label"].tolist(),
                                        cur["source"], cur["who"], cur["when"]):
                w.writerow([i, h, info[i][1], k, store.classes[k], s, p, t])
            atomic_write_text(path, buf.getvalue())
    per_class = Counter(store.classes[k] for k in cur["label"].tolist())
    return {"path": path, "n": len(cur["image_id"]),
            "per_class": {c: per_class.get(c, 0) for c in store.classes},
            "per_source": dict(Counter(cur["source"].tolist()))}
