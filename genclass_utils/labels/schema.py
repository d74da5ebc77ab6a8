"""The label store's schema: numbered migrations, applied in order, one transaction each.

A fresh store runs every migration from 1; an older store runs only the ones it lacks. The
version lives in SQLite's ``PRAGMA user_version``. A store written by a newer version of the
package (a higher number than ``SCHEMA_VERSION``) is refused, never modified.
"""

from __future__ import annotations

import sqlite3

# Version 1: images, classes, models, predictions and labels. Each entry is one SQL statement.
V1 = [
    """CREATE TABLE classes (
        idx  INTEGER PRIMARY KEY CHECK (idx >= 0),
        name TEXT NOT NULL UNIQUE)""",
    """CREATE TABLE images (
        id       INTEGER PRIMARY KEY,
        sha256   TEXT NOT NULL UNIQUE,
        source   TEXT NOT NULL,
        height   INTEGER NOT NULL CHECK (height > 0),
        width    INTEGER NOT NULL CHECK (width > 0),
        channels INTEGER NOT NULL CHECK (channels IN (1, 3)),
        pixels   BLOB NOT NULL,
        added_at TEXT NOT NULL)""",
    """CREATE TABLE models (
        id       INTEGER PRIMARY KEY,
        sha256   TEXT NOT NULL UNIQUE,
        name     TEXT NOT NULL,
        added_at TEXT NOT NULL)""",
    """CREATE TABLE predictions (
        id         INTEGER PRIMARY KEY,
        image_id   INTEGER NOT NULL REFERENCES images(id),
        model_id   INTEGER NOT NULL REFERENCES models(id),
        probs      BLOB NOT NULL,
        top_class  INTEGER NOT NULL REFERENCES classes(idx),
        confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
        created_at TEXT NOT NULL,
        UNIQUE (image_id, model_id))""",
    """CREATE TABLE labels (
        id         INTEGER PRIMARY KEY,
        image_id   INTEGER NOT NULL REFERENCES images(id),
        class      INTEGER NOT NULL REFERENCES classes(idx),
        source     TEXT NOT NULL CHECK (source IN ('human', 'auto', 'import')),
        who        TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX labels_by_image ON labels (image_id, id)",
]

# Version 2: the history becomes an explicit chain (each label names the one it supersedes),
# labels are append-only, and an auto label records the prediction it came from.
V2 = [
    "ALTER TABLE labels ADD COLUMN supersedes INTEGER REFERENCES labels(id)",
    "ALTER TABLE labels ADD COLUMN prediction_id INTEGER REFERENCES predictions(id)",
    # Version 1 kept the history implicitly, in id order per image: make it explicit.
    """UPDATE labels SET supersedes = (
        SELECT MAX(p.id) FROM labels AS p WHERE p.image_id = labels.image_id AND p.id < labels.id)""",
    # A label is superseded at most once, and each image has one first label: one chain each.
    "CREATE UNIQUE INDEX labels_superseded_once ON labels (supersedes)",
    "CREATE UNIQUE INDEX labels_one_root ON labels (image_id) WHERE supersedes IS NULL",
    "CREATE INDEX predictions_by_confidence ON predictions (model_id, confidence)",
    """CREATE VIEW current_labels AS
        SELECT l.* FROM labels AS l
        WHERE NOT EXISTS (SELECT 1 FROM labels AS n WHERE n.supersedes = l.id)""",
    """CREATE TRIGGER labels_no_update BEFORE UPDATE ON labels
        BEGIN SELECT RAISE(ABORT, 'labels are never overwritten: add a new row'); END""",
    """CREATE TRIGGER labels_no_delete BEFORE DELETE ON labels
        BEGIN SELECT RAISE(ABORT, 'labels are never deleted: add a new row'); END""",
]

MIGRATIONS: dict[int, list[str]] = {1: V1, 2: V2}
SCHEMA_VERSION = max(MIGRATIONS)
TABLES = ("classes", "images", "models", "predictions", "labels")


def version(conn: sqlite3.Connection) -> int:
    """Return the schema version stored in the database (0 for an empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply the missing migrations up to target, each in its own transaction; return their numbers.

    The connection must be in autocommit mode (``isolation_level=None``), so that the explicit
    ``BEGIN IMMEDIATE`` here is the only transaction.
    """
    applied = []
    for number in range(1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again inside the write lock: another process may have migrated meanwhile.
            if version(conn) >= number:
                conn.execute("ROLLBACK")
                continue
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied
