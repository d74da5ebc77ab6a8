"""The label store: images, a classifier's predictions and the labels, in one SQLite file.

A notebook drives it like this::

    from genclass_utils.labels import LabelStore

    with LabelStore("labels.sqlite", classes=gu.data.class_names("fashion_mnist")) as store:
        store.add_arrays(x_pool, source="fashion_mnist/train")
        store.predict(classifier)                    # a keras.Model or a saved .keras file
        store.accept(threshold=0.95)                 # confident predictions become 'auto' labels
        queue = store.review_queue(50)               # the least confident images, for a person
        store.label(queue["image_id"], y_person, who="reader")
        x, y = store.training_set()
        print(store.agreement())

Every write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): an interrupted command
leaves the store as it was before that transaction. The file is in WAL mode, so readers never
wait for a writer, and a second writer waits ``timeout`` seconds before giving up. Labels are
append-only: a new label names the one it supersedes, and the current label of an image is the
last of its chain (the ``current_labels`` view).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, InputError, StoreError
from . import images as imgs
from .schema import SCHEMA_VERSION, TABLES, migrate, version

SOURCES = ("human", "auto", "import")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _sql_error(e: sqlite3.Error, path: Path, timeout: float) -> StoreError:
    """Return the one-sentence StoreError that explains a SQLite error on path."""
    name = getattr(e, "sqlite_errorname", "") or ""
    text = str(e)
    if name.startswith("SQLITE_BUSY") or "locked" in text:
        return StoreError(f"{path} is locked by another writer (waited {timeout:g} s); run the "
                          "command again when the other one has finished")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return StoreError(f"{path} is read-only; copy it somewhere writable to change it")
    if name == "SQLITE_FULL" or "full" in text:
        return StoreError(f"the disk is full while writing {path}; nothing from this command "
                          "was stored (the transaction was rolled back); free space and run it "
                          "again")
    if name == "SQLITE_NOTADB" or "not a database" in text:
        return StoreError(f"{path} is not a SQLite database (corrupt or another kind of file)")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return StoreError(f"cannot open {path}: the file or its folder is missing or unreadable")
    if name.startswith("SQLITE_IOERR") or "disk I/O" in text:
        return StoreError(f"input/output error on {path}: {text}")
    return StoreError(f"{path}: {text}")


def whoami() -> str:
    """Return the login name of the person running this, or 'unknown' where there is none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def model_fingerprint(model) -> str:
    """Return the sha256 of a keras model's weights (its identity when it has no file)."""
    h = hashlib.sha256(model.name.encode())
    for w in model.weights:
        a = np.ascontiguousarray(np.asarray(w))
        h.update(str(a.shape).encode() + a.dtype.str.encode() + a.tobytes())
    return h.hexdigest()


def _ids(values, name: str = "image ids") -> list[int]:
    """Return whole-number ids as Python ints, or raise InputError (no rounding of 1.7)."""
    a = np.asarray(values)
    if a.ndim != 1 or (a.size and (a.dtype.kind not in "iu" or a.min() < 1)):
        raise InputError(f"{name} must be a 1-D list of whole numbers >= 1; got {a.dtype} {a.shape}"
                         + (f" with {a.min()}" if a.size and a.dtype.kind in "iu" else ""))
    return a.astype(np.int64).tolist()


def _count(n, name: str) -> int:
    """Return n as an int >= 1, or raise InputError (bool, text and 2.5 are refused)."""
    from ..data import check_count

    return check_count(n, name)


def _threshold(t) -> float:
    """Return t as a float in [0, 1], or raise InputError."""
    if isinstance(t, bool) or not isinstance(t, (int, float, np.number)) or not 0.0 <= t <= 1.0:
        raise InputError(f"threshold must be a number in [0, 1]; got {t!r}")
    return float(t)


def file_sha256(path: Path | str) -> str:
    """Return the sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LabelStore:
    """A SQLite label store: add images, predict, accept, review, import and export labels.

    ``classes`` (a sequence of names) is required when the store is new and must match the
    stored names otherwise. ``timeout`` is how long a write waits for another writer.
    ``create=False`` refuses a path where no store exists yet instead of starting one.
    """

    def __init__(self, path: Path | str, classes: Sequence[str] | None = None,
                 timeout: float = 10.0, create: bool = True):
        self.path = Path(path)
        if not create and (not self.path.exists()
                           or self.path.is_file() and self.path.stat().st_size == 0):
            raise StoreError(f"no label store at {self.path}; start one with "
                             "'label --db FILE add IMAGES --classes NAMES'")
        if isinstance(classes, str):
            raise InputError(f"classes must be a list of names, not the string {classes!r}")
        try:
            self.timeout = float(timeout)
        except (TypeError, ValueError):
            self.timeout = float("nan")
        if not 0 <= self.timeout < float("inf"):
            raise InputError(f"timeout must be a number of seconds >= 0; got {timeout!r}")
        self.readonly = self.path.exists() and not (os.access(self.path, os.W_OK)
                                                    and os.access(self.path.parent, os.W_OK))
        if not self.path.exists() and not self.path.parent.is_dir():
            raise StoreError(f"cannot create {self.path}: folder {self.path.parent} does not exist")
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a label store file")
        try:
            self.conn = self._connect()
            self._open(classes)
        except sqlite3.Error as e:
            self._close_quietly()
            raise _sql_error(e, self.path, self.timeout) from e
        except BaseException:
            self._close_quietly()
            raise

    # ------------------------------------------------------------------ opening and closing

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            wal = self.path.with_name(self.path.name + "-wal")
            if not wal.exists():
                # Nobody can write this file, and no WAL is pending: read it as it stands.
                uri += "&immutable=1"
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
        else:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _open(self, classes: Sequence[str] | None) -> None:
        # Any read fails here on a file that is not a database.
        found = version(self.conn)
        if found > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer version of genclass_utils "
                             f"(schema {found}; this version reads up to {SCHEMA_VERSION}); "
                             "upgrade the package to use it")
        tables = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if found == 0 and tables:
            raise StoreError(f"{self.path} is a SQLite database of another program, not a "
                             "label store (it has tables but no label-store schema)")
        if found < SCHEMA_VERSION:
            if self.readonly:
                raise StoreError(f"{self.path} is read-only and has schema {found}, which "
                                 f"needs migrating to {SCHEMA_VERSION}; copy it somewhere writable")
            migrate(self.conn)
        missing = set(TABLES) - {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if missing:
            raise StoreError(f"{self.path} lacks the tables {sorted(missing)}; it is damaged")
        if not self.readonly:
            if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self.classes = self._classes(classes)

    def _classes(self, classes: Sequence[str] | None) -> tuple[str, ...]:
        stored = tuple(r[0] for r in self.conn.execute("SELECT name FROM classes ORDER BY idx"))
        if classes is None:
            return stored
        classes = tuple(str(c) for c in classes)
        if len(set(classes)) != len(classes) or not classes or any(not c for c in classes):
            raise InputError(f"class names must be distinct and non-empty; got {list(classes)}")
        if stored:
            if stored != classes:
                raise InputError(f"{self.path} holds the classes {list(stored)}; got "
                                 f"{list(classes)}")
            return stored
        with self._write() as c:
            # Read again under the write lock: another process may have set them meanwhile.
            stored = tuple(r[0] for r in c.execute("SELECT name FROM classes ORDER BY idx"))
            if not stored:
                c.executemany("INSERT INTO classes (idx, name) VALUES (?, ?)",
                              list(enumerate(classes)))
        if stored and stored != classes:
            raise InputError(f"{self.path} holds the classes {list(stored)}; got {list(classes)}")
        return classes

    def _close_quietly(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close(self) -> None:
        """Close the connection (the last one to close folds the WAL back into the file)."""
        self._close_quietly()
        self.conn = None

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """Yield the connection inside BEGIN IMMEDIATE; commit on success, roll back on error."""
        if self.readonly:
            raise StoreError(f"{self.path} is read-only; copy it somewhere writable to change it")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise _sql_error(e, self.path, self.timeout) from e
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException as e:
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise _sql_error(e, self.path, self.timeout) from e
            raise

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise _sql_error(e, self.path, self.timeout) from e

    def _need_classes(self) -> None:
        if not self.classes:
            raise InputError(f"{self.path} has no classes yet: give the class names when adding "
                             "the first images (classes=... or --classes)")

    # ------------------------------------------------------------------ classes

    def class_index(self, value: Any, where: str = "") -> int:
        """Return the class index of a name or an index (int or digit string), or raise InputError."""
        self._need_classes()
        at = f"{where}: " if where else ""
        if isinstance(value, (bool, np.bool_)):
            raise InputError(f"{at}a label is a class name or index, not {value!r}")
        if isinstance(value, (int, np.integer)) or (isinstance(value, str) and value.strip().isdigit()):
            k = int(value)
            if 0 <= k < len(self.classes):
                return k
            raise InputError(f"{at}class index {k} is out of range 0..{len(self.classes) - 1}")
        name = str(value).strip()
        if name in self.classes:
            return self.classes.index(name)
        raise InputError(f"{at}unknown class {name!r}; the classes are {list(self.classes)}")

    # ------------------------------------------------------------------ images

    def add_arrays(self, x: np.ndarray, labels: np.ndarray | None = None,
                   source: str = "array", who: str = "import") -> np.ndarray:
        """Add uint8 images (N,H,W[,C]); return their image ids (an image seen before keeps its id).

        ``labels`` (class indices, optional) are stored with source ``import``. ``source``
        names where the images came from; image i is recorded as ``source#i``.
        """
        x = imgs.as_store_images(x)
        if labels is not None:
            self._need_classes()
            labels = np.asarray(labels)
            if labels.shape != (len(x),):
                raise InputError(f"labels must have shape ({len(x)},); got {labels.shape}")
            labels = np.array([self.class_index(v, f"label {i}") for i, v in enumerate(labels.tolist())])
        return self._add(list(x), [f"{source}#{i}" for i in range(len(x))], labels, who)

    def add_folder(self, folder: Path | str, channels: int | None = None,
                   size: tuple[int, int] | None = None, skip_bad: bool = False) -> np.ndarray:
        """Add every PNG/JPEG under folder; return their image ids.

        A file that cannot be decoded stops the whole add with InputError naming it (nothing is
        written), unless ``skip_bad`` is set, which leaves such files out.
        """
        pixels, names = [], []
        for p in imgs.list_folder(folder):
            try:
                pixels.append(imgs.read_image(p, channels=channels, size=size))
            except InputError:
                if not skip_bad:
                    raise
                continue
            names.append(str(p.resolve()))
        if not pixels:
            raise InputError(f"{folder}: no readable image files")
        return self._add(pixels, names, None, "import")

    def add_npz(self, path: Path | str) -> np.ndarray:
        """Add the ``images`` (and ``labels``, as ``import`` labels) of an .npz; return the ids."""
        x, y = imgs.read_npz(path)
        return self.add_arrays(x, y, source=str(Path(path).resolve()), who=f"npz:{Path(path).name}")

    def _add(self, pixels: list[np.ndarray], names: list[str], labels: np.ndarray | None,
             who: str) -> np.ndarray:
        now = _now()
        rows = [(imgs.content_hash(p), n, *p.shape, p.tobytes(), now) for p, n in zip(pixels, names)]
        with self._write() as c:
            c.executemany("INSERT OR IGNORE INTO images (sha256, source, height, width, channels, "
                          "pixels, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            ids = np.array([c.execute("SELECT id FROM images WHERE sha256 = ?", (r[0],)).fetchone()[0]
                            for r in rows], dtype=np.int64)
            if labels is not None:
                for image_id, k in zip(ids.tolist(), labels.tolist()):
                    self._put_label(c, image_id, int(k), "import", who, now)
        return ids

    def count_images(self) -> int:
        """Return the number of images in the store."""
        return int(self._read("SELECT COUNT(*) FROM images")[0][0])

    def images(self, image_ids: Sequence[int]) -> np.ndarray:
        """Return the pixels of the given images as uint8 (N, H, W, C); they must share one shape."""
        out = []
        for i in _ids(image_ids):
            row = self._read("SELECT height, width, channels, pixels FROM images WHERE id = ?", (i,))
            if not row:
                raise InputError(f"no image with id {i} in {self.path}")
            h, w, ch, px = row[0]
            out.append(np.frombuffer(px, np.uint8).reshape(h, w, ch))
        shapes = {a.shape for a in out}
        if len(shapes) > 1:
            raise InputError(f"the images have different shapes {sorted(shapes)}; add them with "
                             "one size (add_folder(size=...) or --size)")
        if not out:
            return np.zeros((0, 1, 1, 1), np.uint8)
        return np.stack(out)

    # ------------------------------------------------------------------ models and predictions

    def _model_id(self, model, name: str | None) -> tuple[int, Any]:
        """Return (model id, keras model), registering the model; a path is loaded safely."""
        from ..artifacts import load_model

        if isinstance(model, (str, Path)):
            path = Path(model)
            keras_model = load_model(path)  # safe_mode=True; ArtifactError on a bad file
            digest, name = file_sha256(path), name or path.stem
        else:
            keras_model, digest, name = model, model_fingerprint(model), name or model.name
        self._check_classifier(keras_model)  # before anything is written
        with self._write() as c:
            c.execute("INSERT OR IGNORE INTO models (sha256, name, added_at) VALUES (?, ?, ?)",
                      (digest, name, _now()))
            model_id = c.execute("SELECT id FROM models WHERE sha256 = ?", (digest,)).fetchone()[0]
        return int(model_id), keras_model

    def _check_classifier(self, model) -> tuple[int, ...]:
        outputs = getattr(model, "outputs", None)
        inputs = getattr(model, "inputs", None)
        if not outputs or not inputs or len(outputs) != 1 or len(inputs) != 1:
            raise ArtifactError(f"{getattr(model, 'name', model)} is not a classifier: expected "
                                "one image input and one output of class probabilities")
        n_out = outputs[0].shape[-1]
        if n_out != len(self.classes):
            raise ArtifactError(f"classifier {model.name} outputs {n_out} classes but the store "
                                f"has {len(self.classes)} ({', '.join(self.classes)})")
        return tuple(inputs[0].shape[1:])

    def pending(self, model_id: int) -> int:
        """Return how many images have no prediction yet from the given model id."""
        return int(self._read(
            "SELECT COUNT(*) FROM images AS i WHERE NOT EXISTS (SELECT 1 FROM predictions AS p "
            "WHERE p.image_id = i.id AND p.model_id = ?)", (model_id,))[0][0])

    def predict(self, model, batch_size: int = 256, name: str | None = None,
                outputs: str = "probs", progress: bool = True) -> int:
        """Predict every image that this model has not predicted yet; return the rows written.

        ``model`` is a keras.Model or the path of a saved .keras classifier (loaded with
        ``safe_mode=True``). It takes float images in [0, 1] and outputs class probabilities
        (``outputs="logits"`` applies a softmax first). Each batch is written in one
        transaction, so a killed run keeps its finished batches and the next run goes on from
        there; a prediction already present is never written twice, even by a second process
        predicting at the same time.
        """

        self._need_classes()
        if outputs not in ("probs", "logits"):
            raise InputError(f"outputs must be 'probs' or 'logits'; got {outputs!r}")
        batch_size = _count(batch_size, "batch_size")
        model_id, keras_model = self._model_id(model, name)
        try:
            return self._predict(model_id, keras_model, batch_size, outputs, progress)
        except BaseException:
            # A model that predicted nothing leaves no row behind (it would be the default model).
            with contextlib.suppress(sqlite3.Error, StoreError), self._write() as c:
                c.execute("DELETE FROM models WHERE id = ? AND NOT EXISTS (SELECT 1 FROM "
                          "predictions WHERE model_id = ?)", (model_id, model_id))
            raise

    def _predict(self, model_id: int, keras_model, batch_size: int, outputs: str,
                 progress: bool) -> int:
        """Run predict's batches for a registered model; return the rows written."""
        from tqdm.auto import tqdm

        in_shape = tuple(keras_model.inputs[0].shape[1:])
        written = 0
        with tqdm(total=self.pending(model_id), unit="img", disable=not progress,
                  desc=f"predict {keras_model.name}") as bar:
            while True:
                rows = self._read(
                    "SELECT id, height, width, channels, pixels FROM images AS i WHERE NOT EXISTS "
                    "(SELECT 1 FROM predictions AS p WHERE p.image_id = i.id AND p.model_id = ?) "
                    "ORDER BY id LIMIT ?", (model_id, int(batch_size)))
                if not rows:
                    break
                wrong = next((r for r in rows if tuple(r[1:4]) != in_shape), None)
                if wrong is not None:
                    raise InputError(f"image {wrong[0]} has shape {tuple(wrong[1:4])} but "
                                     f"classifier {keras_model.name} takes {in_shape}; add the "
                                     "images with that size (--size) and channels (--channels)")
                x = np.stack([np.frombuffer(r[4], np.uint8).reshape(r[1:4]) for r in rows])
                probs = self._probabilities(keras_model, x, outputs)
                # INSERT OR IGNORE: rows another process wrote meanwhile are kept, not doubled.
                written += self._put_predictions(model_id, [r[0] for r in rows], probs)
                bar.update(len(rows))
        return written

    def _probabilities(self, model, x: np.ndarray, outputs: str) -> np.ndarray:
        p = np.asarray(model(x.astype(np.float32) / 255.0, training=False), dtype=np.float64)
        if p.shape != (len(x), len(self.classes)):
            raise ArtifactError(f"classifier {model.name} returned shape {p.shape}; expected "
                                f"({len(x)}, {len(self.classes)})")
        if not np.isfinite(p).all():
            raise ArtifactError(f"classifier {model.name} returned NaN or Inf")
        if outputs == "logits":
            p = np.exp(p - p.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        elif p.min() < -1e-6 or np.abs(p.sum(axis=1) - 1).max() > 1e-3:
            raise ArtifactError(f"classifier {model.name} does not output probabilities (rows "
                                "must be >= 0 and sum to 1); for logits use outputs='logits' "
                                "(--logits)")
        return np.clip(p, 0.0, 1.0).astype(np.float32)

    def _put_predictions(self, model_id: int, image_ids: list[int], probs: np.ndarray) -> int:
        now = _now()
        top = probs.argmax(axis=1)
        rows = [(i, model_id, p.tobytes(), int(k), float(p[k]), now)
                for i, p, k in zip(image_ids, probs, top)]
        with self._write() as c:
            before = c.total_changes
            c.executemany("INSERT OR IGNORE INTO predictions (image_id, model_id, probs, top_class, "
                          "confidence, created_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
            return c.total_changes - before

    def models(self) -> list[dict]:
        """Return the registered models (id, name, sha256, added_at, number of predictions)."""
        rows = self._read("SELECT m.id, m.name, m.sha256, m.added_at, COUNT(p.id) FROM models AS m "
                          "LEFT JOIN predictions AS p ON p.model_id = m.id GROUP BY m.id ORDER BY m.id")
        return [dict(zip(("id", "name", "sha256", "added_at", "predictions"), r)) for r in rows]

    def resolve_model(self, model=None) -> int:
        """Return the id of a model given as None (the latest that predicted), id, name, path or model."""
        if model is None:
            row = self._read("SELECT MAX(model_id) FROM predictions")
            if row[0][0] is None:
                raise InputError(f"{self.path} has no predictions yet: run predict first")
            return int(row[0][0])
        if isinstance(model, (int, np.integer)):
            digest_rows = self._read("SELECT id FROM models WHERE id = ?", (int(model),))
        elif isinstance(model, Path) or (isinstance(model, str) and model.endswith(".keras")):
            digest_rows = self._read("SELECT id FROM models WHERE sha256 = ?", (file_sha256(model),))
        elif isinstance(model, str):
            digest_rows = self._read("SELECT MAX(id) FROM models WHERE name = ? HAVING COUNT(*) > 0",
                                     (model,))
        else:
            digest_rows = self._read("SELECT id FROM models WHERE sha256 = ?",
                                     (model_fingerprint(model),))
        if not digest_rows:
            raise InputError(f"model {getattr(model, 'name', model)} has made no predictions in "
                             f"{self.path}; run predict with it first")
        return int(digest_rows[0][0])

    def predictions(self, model=None) -> dict[str, np.ndarray]:
        """Return one model's predictions: image_id, probs (N, K), top_class and confidence."""
        model_id = self.resolve_model(model)
        rows = self._read("SELECT image_id, probs, top_class, confidence FROM predictions "
                          "WHERE model_id = ? ORDER BY image_id", (model_id,))
        k = len(self.classes)
        return {"image_id": np.array([r[0] for r in rows], dtype=np.int64),
                "probs": np.array([np.frombuffer(r[1], np.float32) for r in rows]).reshape(-1, k),
                "top_class": np.array([r[2] for r in rows], dtype=np.int64),
                "confidence": np.array([r[3] for r in rows], dtype=np.float64)}

    # ------------------------------------------------------------------ labels

    def _put_label(self, c: sqlite3.Connection, image_id: int, k: int, source: str, who: str,
                   now: str, prediction_id: int | None = None) -> bool:
        """Append a label unless it would say nothing new; return True if a row was written.

        An auto label never supersedes a human or imported one.
        """
        cur = c.execute("SELECT id, class, source FROM current_labels WHERE image_id = ?",
                        (image_id,)).fetchone()
        if cur is not None:
            if cur[1] == k and cur[2] == source:
                return False
            if source == "auto" and cur[2] != "auto":
                return False
        c.execute("INSERT INTO labels (image_id, class, source, who, created_at, supersedes, "
                  "prediction_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (image_id, k, source, who, now, None if cur is None else cur[0], prediction_id))
        return True

    def label(self, image_ids: Sequence[int], classes: Sequence[Any], source: str = "human",
              who: str | None = None) -> int:
        """Store labels (class names or indices) for images; return the number of new rows.

        A label equal to the current one (same class and source) is not repeated; every other
        label is appended and supersedes the current one, which stays in the history.
        """
        if source not in SOURCES:
            raise InputError(f"source must be one of {SOURCES}; got {source!r}")
        image_ids = _ids(image_ids)
        classes = list(np.asarray(classes).tolist()) if not isinstance(classes, list) else classes
        if len(image_ids) != len(classes):
            raise InputError(f"got {len(image_ids)} image ids but {len(classes)} labels")
        ks = [self.class_index(v, f"label {n}") for n, v in enumerate(classes)]
        known = {r[0] for r in self._read("SELECT id FROM images")}
        unknown = [i for i in image_ids if i not in known]
        if unknown:
            raise InputError(f"no images with ids {unknown[:5]} in {self.path}")
        who = who or whoami()
        now = _now()
        with self._write() as c:
            return sum(self._put_label(c, i, k, source, who, now) for i, k in zip(image_ids, ks))

    def accept(self, threshold: float, model=None) -> int:
        """Turn predictions with confidence >= threshold into ``auto`` labels; return how many.

        ``model`` picks the predictions (default: the latest model that predicted). Images that
        already carry a human or imported label keep it.
        """
        threshold = _threshold(threshold)
        model_id = self.resolve_model(model)
        name = self._read("SELECT name FROM models WHERE id = ?", (model_id,))[0][0]
        rows = self._read("SELECT id, image_id, top_class FROM predictions WHERE model_id = ? "
                          "AND confidence >= ? ORDER BY image_id", (model_id, float(threshold)))
        now, who = _now(), f"{name}@{float(threshold):g}"
        with self._write() as c:
            return sum(self._put_label(c, i, k, "auto", who, now, prediction_id=p)
                       for p, i, k in rows)

    def current_labels(self, sources: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Return the current label of each labelled image: image_id, label, source, who, when."""
        sources = tuple(sources or SOURCES)
        bad = [s for s in sources if s not in SOURCES]
        if bad:
            raise InputError(f"unknown label source(s) {bad}; choose from {SOURCES}")
        rows = self._read(
            f"SELECT image_id, class, source, who, created_at FROM current_labels WHERE source IN "
            f"({', '.join('?' * len(sources))}) ORDER BY image_id", sources)
        return {"image_id": np.array([r[0] for r in rows], dtype=np.int64),
                "label": np.array([r[1] for r in rows], dtype=np.int64),
                "source": np.array([r[2] for r in rows], dtype=str),
                "who": np.array([r[3] for r in rows], dtype=str),
                "when": np.array([r[4] for r in rows], dtype=str)}

    def history(self, image_id: int) -> list[dict]:
        """Return every label an image has had, oldest first."""
        rows = self._read("SELECT id, class, source, who, created_at, supersedes, prediction_id "
                          "FROM labels WHERE image_id = ? ORDER BY id", (_ids([image_id])[0],))
        keys = ("id", "label", "source", "who", "when", "supersedes", "prediction_id")
        return [dict(zip(keys, r)) for r in rows]

    def training_set(self, sources: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (images uint8 NHWC, labels int64) of the currently labelled images."""
        cur = self.current_labels(sources)
        return self.images(cur["image_id"]), cur["label"]

    # ------------------------------------------------------------------ review queue

    def review_queue(self, n: int, model=None) -> dict[str, np.ndarray]:
        """Return the n least confident predicted images that no person has labelled yet.

        Keys: image_id, sha256, source, predicted (class index), confidence, in order of
        increasing confidence.
        """
        n = _count(n, "n")
        model_id = self.resolve_model(model)
        rows = self._read(
            "SELECT i.id, i.sha256, i.source, p.top_class, p.confidence FROM predictions AS p "
            "JOIN images AS i ON i.id = p.image_id WHERE p.model_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM labels AS l WHERE l.image_id = i.id AND l.source = 'human') "
            "ORDER BY p.confidence, i.id LIMIT ?", (model_id, int(n)))
        return {"image_id": np.array([r[0] for r in rows], dtype=np.int64),
                "sha256": np.array([r[1] for r in rows], dtype=str),
                "source": np.array([r[2] for r in rows], dtype=str),
                "predicted": np.array([r[3] for r in rows], dtype=np.int64),
                "confidence": np.array([r[4] for r in rows], dtype=np.float64),
                "model": self._read("SELECT name FROM models WHERE id = ?", (model_id,))[0][0]}

    def export_review(self, path: Path | str, n: int, model=None) -> Path:
        """Write the review queue to path (.csv, or .json for Label Studio tasks); return path."""
        from .exchange import write_review

        return write_review(self, Path(path), self.review_queue(n, model))

    def import_labels(self, path: Path | str, who: str | None = None) -> int:
        """Read corrected labels from a review .csv or a Label Studio export .json; return new rows.

        Every row is checked first (image known, class known); one bad row imports nothing.
        """
        from .exchange import read_corrections

        pairs = read_corrections(self, Path(path), who or whoami())
        now = _now()
        with self._write() as c:
            return sum(self._put_label(c, i, k, "human", w, now) for i, k, w in pairs)

    def find_image(self, sha256: str | None = None, image_id: Any = None, where: str = "") -> int:
        """Return the id of the image with this content hash (or this id), or raise InputError."""
        at = f"{where}: " if where else ""
        if sha256:
            row = self._read("SELECT id FROM images WHERE sha256 = ?", (str(sha256).strip(),))
            if not row:
                raise InputError(f"{at}no image with sha256 {sha256} in {self.path}")
            return int(row[0][0])
        try:
            i = int(image_id)
        except (TypeError, ValueError):
            raise InputError(f"{at}needs a sha256 or an image_id; got {image_id!r}") from None
        if not self._read("SELECT 1 FROM images WHERE id = ?", (i,)):
            raise InputError(f"{at}no image with id {i} in {self.path}")
        return i

    # ------------------------------------------------------------------ export and statistics

    def export(self, path: Path | str, format: str | None = None,
               sources: Sequence[str] | None = None) -> dict:
        """Write the current labels as a training set (.npz or .csv); return the counts written."""
        from .exchange import write_export

        return write_export(self, Path(path), format, sources)

    def counts(self, sources: Sequence[str] | None = None) -> dict:
        """Return the current labels counted per class and source: {class: {source: n}}."""
        cur = self.current_labels(sources)
        out = {c: dict.fromkeys(SOURCES, 0) for c in self.classes}
        for k, s in zip(cur["label"].tolist(), cur["source"].tolist()):
            out[self.classes[k]][s] += 1
        return out

    def confidence_histogram(self, model=None, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return (counts, bin edges) of one model's confidences over [0, 1]."""
        bins = _count(bins, "bins")
        conf = self.predictions(model)["confidence"]
        return np.histogram(conf, bins=bins, range=(0.0, 1.0))

    def agreement(self) -> dict:
        """Return how often auto labels agree with human labels of the same images.

        For each image with both, the latest auto label is compared with the latest human one.
        Keys: n (images with both), agree, rate (NaN when n = 0), per_class (auto class ->
        (n, agree)) and confusion (K x K counts, rows auto, columns human).
        """
        rows = self._read(
            "SELECT a.class, h.class FROM "
            "(SELECT image_id, class FROM labels WHERE id IN (SELECT MAX(id) FROM labels "
            " WHERE source = 'auto' GROUP BY image_id)) AS a JOIN "
            "(SELECT image_id, class FROM labels WHERE id IN (SELECT MAX(id) FROM labels "
            " WHERE source = 'human' GROUP BY image_id)) AS h ON a.image_id = h.image_id")
        k = len(self.classes)
        confusion = np.zeros((k, k), dtype=np.int64)
        for a, h in rows:
            confusion[a, h] += 1
        n, agree = int(confusion.sum()), int(np.trace(confusion))
        per_class = {self.classes[i]: (int(confusion[i].sum()), int(confusion[i, i]))
                     for i in range(k)}
        return {"n": n, "agree": agree, "rate": agree / n if n else float("nan"),
                "per_class": per_class, "confusion": confusion}

    def stats(self) -> dict:
        """Return the store's summary: images, labelled images, counts, models, histogram, agreement."""
        has_pred = bool(self._read("SELECT 1 FROM predictions LIMIT 1"))
        hist = self.confidence_histogram() if has_pred else None
        return {"images": self.count_images(),
                "labelled": int(self._read("SELECT COUNT(*) FROM current_labels")[0][0]),
                "label_rows": int(self._read("SELECT COUNT(*) FROM labels")[0][0]),
                "counts": self.counts(),
                "models": self.models(),
                "histogram": hist,
                "agreement": self.agreement()}
