"""The label store (genclass_utils.labels): schema, verbs, round trips and fault cases."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from genclass_utils.errors import ArtifactError, GenclassError, InputError, StoreError
from genclass_utils.labels import SCHEMA_VERSION, LabelStore
from genclass_utils.labels import schema as label_schema
from genclass_utils.labels.images import content_hash

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("cat", "dog", "owl")


def pool(n: int, seed: int = 0) -> np.ndarray:
    """Return n distinct random 8x8 grey uint8 images."""
    x = np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(n) % 256  # distinct even if the generator repeated itself
    x[:, 0, 1, 0] = np.arange(n) // 256
    return x


def tiny_classifier(n_out: int = 3, seed: int = 0):
    """Return a few-layer softmax classifier of 8x8x1 images (untrained, seeded)."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3),
                             keras.layers.Flatten(),
                             keras.layers.Dense(n_out, activation="softmax")], name=f"tiny{n_out}")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """Return the path of a saved tiny 3-class classifier."""
    from genclass_utils.artifacts import save_model

    return save_model(tiny_classifier(3), tmp_path_factory.mktemp("models") / "tiny.keras")


@pytest.fixture
def store(tmp_path):
    with LabelStore(tmp_path / "labels.sqlite", classes=CLASSES) as s:
        yield s


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cli(*args: str) -> int:
    from genclass_utils.__main__ import main

    return main(["label", *args])


# ----------------------------------------------------------------------------- the store itself

def test_new_store_uses_wal_foreign_keys_and_latest_schema(store):
    c = store.conn
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert label_schema.version(c) == SCHEMA_VERSION
    assert store.classes == CLASSES
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
        c.execute("INSERT INTO labels (image_id, class, source, who, created_at) "
                  "VALUES (999, 0, 'human', 'x', 'now')")


def test_add_is_idempotent_by_content(store):
    x = pool(5)
    ids = store.add_arrays(x)
    again = store.add_arrays(np.concatenate([x[::-1], x[:1]]), source="other")
    assert store.count_images() == 5
    np.testing.assert_array_equal(again, np.concatenate([ids[::-1], ids[:1]]))
    np.testing.assert_array_equal(store.images(ids), x)


def test_add_folder_png_and_jpeg_and_npz_of_same_pixels(store, tmp_path):
    from PIL import Image

    x = pool(4)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(x[i, ..., 0]).save(folder / f"{i}.png")
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(folder / "sub" / "flat.jpg", quality=100)
    (folder / "notes.txt").write_text("not an image, and not named like one")
    ids = store.add_folder(folder)
    assert len(ids) == 4 and store.count_images() == 4
    np.save(tmp_path / "unused.npy", x)
    np.savez(tmp_path / "pool.npz", images=x, labels=np.array([0, 1, 2, 0]))
    npz_ids = store.add_npz(tmp_path / "pool.npz")
    assert store.count_images() == 5  # three PNGs were the same pixels as npz images 0..2
    np.testing.assert_array_equal(npz_ids[:3], ids[:3])
    cur = store.current_labels()
    assert set(cur["source"]) == {"import"} and len(cur["label"]) == 4


def test_corrupt_or_non_image_file_stops_add_and_stores_nothing(store, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(pool(1)[0, ..., 0]).save(folder / "a_good.png")
    (folder / "b_text.png").write_text("hello, I am text")
    good = (folder / "a_good.png").read_bytes()
    (folder / "c_cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match="b_text.png"):
        store.add_folder(folder)
    assert store.count_images() == 0
    assert cli("--db", str(store.path), "add", str(folder)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "b_text.png" in err and "\n" not in err
    assert len(store.add_folder(folder, skip_bad=True)) == 1


def test_unknown_class_name_or_index(store, tmp_path):
    ids = store.add_arrays(pool(2))
    with pytest.raises(InputError, match="unknown class 'zebra'"):
        store.label(ids, ["cat", "zebra"])
    with pytest.raises(InputError, match="out of range 0..2"):
        store.label(ids, [0, 3])
    with pytest.raises(InputError, match="out of range"):
        store.add_arrays(pool(1, seed=9), labels=np.array([-1]))
    (tmp_path / "fix.csv").write_text(f"image_id,label\n{ids[0]},dog\n{ids[1]},Dogg\n")
    with pytest.raises(InputError, match="line 3: unknown class 'Dogg'"):
        store.import_labels(tmp_path / "fix.csv")
    assert store.conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 0


def test_unreadable_correction_files_import_nothing(store, tmp_path):
    (i,) = store.add_arrays(pool(1))
    cases = {"bad.json": "{not json", "dict.json": '{"tasks": 3}', "list.json": "[1, 2]",
             "cols.csv": "name,label\nx,cat\n", "two.json": json.dumps([{"id": 1, "data": {
                 "image_id": int(i)}, "annotations": [{"result": [{"type": "choices",
                 "from_name": "label", "value": {"choices": ["cat", "dog"]}}]}]}]),
             "ghost.json": json.dumps([{"id": 1, "data": {"sha256": "0" * 64}, "annotations": [
                 {"result": [{"type": "choices", "value": {"choices": ["cat"]}}]}]}]),
             "labels.txt": "cat"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError):
            store.import_labels(tmp_path / name)
    with pytest.raises(InputError, match="not found"):
        store.import_labels(tmp_path / "absent.csv")
    assert store.conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 0
    assert issubclass(StoreError, GenclassError)


def test_label_history_is_kept_and_never_overwritten(store):
    (i,) = store.add_arrays(pool(1))
    assert store.label([i], ["cat"], who="ann") == 1
    assert store.label([i], ["cat"], who="ann") == 0  # the same label again adds nothing
    assert store.label([i], ["dog"], who="bob") == 1
    h = store.history(i)
    assert [r["label"] for r in h] == [0, 1] and h[1]["supersedes"] == h[0]["id"]
    assert store.current_labels()["label"].tolist() == [1]
    for sql in ("UPDATE labels SET class = 2", "DELETE FROM labels"):
        with pytest.raises(sqlite3.IntegrityError, match="never"):
            store.conn.execute(sql)


# ----------------------------------------------------------------------------- predict, accept, review

def test_predict_accept_review_in_python(store, model_file):
    from genclass_utils.artifacts import load_model

    x = pool(40)
    ids = store.add_arrays(x)
    assert store.predict(model_file, batch_size=16, progress=False) == 40
    assert store.predict(model_file, batch_size=16, progress=False) == 0  # nothing left to do
    pred = store.predictions()
    expected = np.asarray(load_model(model_file)(x.astype(np.float32) / 255.0, training=False))
    np.testing.assert_allclose(pred["probs"], expected, atol=1e-5)
    np.testing.assert_array_equal(pred["top_class"], expected.argmax(1))
    # A person labelled one image first: an auto label never replaces it.
    store.label([ids[0]], [(int(expected[0].argmax()) + 1) % 3], who="ann")
    t = float(np.median(pred["confidence"]))
    n_auto = store.accept(t)
    confident = pred["confidence"] >= t
    assert n_auto == confident.sum() - int(confident[0])
    assert store.accept(t) == 0
    cur = store.current_labels()
    assert cur["source"][0] == "human" and (cur["source"] == "auto").sum() == n_auto
    q = store.review_queue(5)
    assert ids[0] not in q["image_id"] and np.all(np.diff(q["confidence"]) >= 0)
    others = pred["confidence"][1:]
    np.testing.assert_allclose(q["confidence"], np.sort(others)[:5])


def test_classifier_output_size_mismatch_writes_nothing(store, tmp_path):
    from genclass_utils.artifacts import save_model

    store.add_arrays(pool(4))
    path = save_model(tiny_classifier(4), tmp_path / "four.keras")
    with pytest.raises(ArtifactError, match="outputs 4 classes but the store has 3"):
        store.predict(path, progress=False)
    assert store.models() == [] and store.conn.execute(
        "SELECT COUNT(*) FROM predictions").fetchone()[0] == 0


def test_images_of_another_size_than_the_classifier(store, model_file):
    store.add_arrays(np.zeros((2, 9, 9, 1), np.uint8))
    with pytest.raises(InputError, match=r"takes \(8, 8, 1\)"):
        store.predict(model_file, progress=False)


def test_review_csv_round_trip(store, model_file, tmp_path):
    store.add_arrays(pool(12))
    store.predict(model_file, progress=False)
    out = store.export_review(tmp_path / "review.csv", n=4)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and all((tmp_path / r["image"]).is_file() for r in rows)
    # A person fills in the label column: by name, by index, or leaves it empty.
    rows[0]["label"], rows[1]["label"], rows[2]["label"] = "owl", "1", "cat"
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert store.import_labels(out, who="ann") == 3
    assert store.import_labels(out, who="ann") == 0
    cur = store.current_labels(["human"])
    by_id = dict(zip(cur["image_id"].tolist(), cur["label"].tolist()))
    assert by_id == {int(rows[0]["image_id"]): 2, int(rows[1]["image_id"]): 1,
                     int(rows[2]["image_id"]): 0}
    assert len(store.review_queue(20)["image_id"]) == 12 - 3  # labelled images leave the queue


def test_label_studio_round_trip(store, model_file, tmp_path):
    ids = store.add_arrays(pool(10))
    store.predict(model_file, progress=False)
    path = store.export_review(tmp_path / "review.json", n=3)
    tasks = json.loads(path.read_text())
    config = (tmp_path / "review_config.xml").read_text()
    assert len(tasks) == 3 and '<Choices name="label" toName="image"' in config
    for t in tasks:
        assert t["data"]["image"].startswith("data:image/png;base64,")
        r = t["predictions"][0]["result"][0]
        assert (r["from_name"], r["to_name"], r["type"]) == ("label", "image", "choices")
        assert r["value"]["choices"][0] in CLASSES
    # What Label Studio exports after a person worked through the imported tasks.
    export = []
    for n, t in enumerate(tasks):
        ann = {"id": 100 + n, "completed_by": {"id": 1, "email": "ann@example.org"},
               "was_cancelled": False, "ground_truth": False, "lead_time": 4.2,
               "created_at": "2026-01-01T10:00:00Z", "updated_at": "2026-01-01T10:00:00Z",
               "result": [{"id": f"r{n}", "from_name": "label", "to_name": "image",
                           "type": "choices", "origin": "manual",
                           "value": {"choices": [CLASSES[n % 3]]}}]}
        export.append({"id": 7 + n, "data": t["data"], "predictions": t["predictions"],
                       "annotations": [ann] if n < 2 else [{**ann, "was_cancelled": True}],
                       "total_annotations": 1, "project": 1})
    (tmp_path / "project-1.json").write_text(json.dumps(export))
    assert store.import_labels(tmp_path / "project-1.json") == 2  # the cancelled one is skipped
    cur = store.current_labels(["human"])
    got = dict(zip(cur["image_id"].tolist(), zip(cur["label"].tolist(), cur["who"].tolist())))
    assert got == {tasks[0]["data"]["image_id"]: (0, "labelstudio:ann@example.org"),
                   tasks[1]["data"]["image_id"]: (1, "labelstudio:ann@example.org")}
    assert store.import_labels(tmp_path / "project-1.json") == 0
    # The JSON-MIN export: one flat object per task.
    (tmp_path / "min.json").write_text(json.dumps(
        [{"id": 1, "sha256": tasks[2]["data"]["sha256"], "label": "owl", "annotator": 1}]))
    assert store.import_labels(tmp_path / "min.json") == 1
    assert set(cur["image_id"].tolist()) <= set(ids.tolist())


def test_export_npz_and_csv_with_counts(store, tmp_path):
    x = pool(6)
    ids = store.add_arrays(x, labels=np.array([0, 0, 1, 1, 2, 2]))
    store.label(ids[:2], ["owl", "cat"], who="ann")  # one correction, one confirmation
    info = store.export(tmp_path / "out.npz", "npz")
    assert info["n"] == 6 and info["per_class"] == {"cat": 1, "dog": 2, "owl": 3}
    assert info["per_source"] == {"human": 2, "import": 4}
    with np.load(tmp_path / "out.npz") as f:
        np.testing.assert_array_equal(f["images"], x)
        assert f["labels"].tolist() == [2, 0, 1, 1, 2, 2]
        assert f["class_names"].tolist() == list(CLASSES)
    info = store.export(tmp_path / "out.csv", "csv", sources=["human"])
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert info["n"] == 2 == len(rows) and [r["class_name"] for r in rows] == ["owl", "cat"]
    with pytest.raises(InputError, match="end in .npz"):
        store.export(tmp_path / "out.csv", "npz")


def test_export_on_a_full_disk_leaves_no_file(store, tmp_path, monkeypatch):
    import errno

    store.add_arrays(pool(2), labels=np.array([0, 1]))

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full)
    with pytest.raises(StoreError, match="No space left"):
        store.export(tmp_path / "out.npz", "npz")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".out", "out"))) == []


def test_stats_histogram_and_agreement(store, model_file):
    ids = store.add_arrays(pool(30))
    store.predict(model_file, progress=False)
    pred = store.predictions()
    store.accept(0.0)  # every prediction becomes an auto label
    top = pred["top_class"]
    human = top.copy()
    human[:10] = (human[:10] + 1) % 3  # the person disagrees on the first ten
    store.label(ids[:20], human[:20], who="ann")
    a = store.agreement()
    assert (a["n"], a["agree"]) == (20, 10) and a["rate"] == 0.5
    assert a["confusion"].sum() == 20 and np.trace(a["confusion"]) == 10
    counts, edges = store.confidence_histogram()
    assert counts.sum() == 30 and edges[0] == 0 and edges[-1] == 1
    s = store.stats()
    assert s["images"] == 30 and s["labelled"] == 30 and s["label_rows"] == 50
    assert sum(v["human"] for v in s["counts"].values()) == 20


# ----------------------------------------------------------------------------- schema and faults

def test_migration_from_version_1(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    label_schema.migrate(conn, target=1)
    conn.executemany("INSERT INTO classes VALUES (?, ?)", list(enumerate(CLASSES)))
    x = pool(2)
    for n, img in enumerate(x):
        conn.execute("INSERT INTO images (sha256, source, height, width, channels, pixels, "
                     "added_at) VALUES (?, ?, 8, 8, 1, ?, 'then')",
                     (content_hash(img), f"old#{n}", img.tobytes()))
    # Version 1 kept history by id order: image 1 was labelled cat, then owl; image 2 dog.
    conn.executemany("INSERT INTO labels (image_id, class, source, who, created_at) VALUES "
                     "(?, ?, ?, 'ann', 'then')", [(1, 0, "human"), (2, 1, "import"), (1, 2, "human")])
    conn.close()
    with LabelStore(path) as s:
        assert label_schema.version(s.conn) == SCHEMA_VERSION == 2
        assert s.classes == CLASSES
        assert [(r["label"], r["supersedes"]) for r in s.history(1)] == [(0, None), (2, 1)]
        assert s.current_labels()["label"].tolist() == [2, 1]
        np.testing.assert_array_equal(s.images([1, 2]), x)
        assert s.add_arrays(x).tolist() == [1, 2]  # content hashes of version 1 still match
        assert s.label([2], ["cat"], who="bob") == 1
        assert s.history(2)[-1]["supersedes"] == s.history(2)[0]["id"]


def test_newer_schema_is_refused_and_file_untouched(tmp_path, capsys):
    path = tmp_path / "new.sqlite"
    LabelStore(path, classes=CLASSES).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = sha(path)
    with pytest.raises(StoreError, match=f"newer version.*schema {SCHEMA_VERSION + 1}"):
        LabelStore(path)
    assert cli("--db", str(path), "stats") == 1
    assert "newer version" in capsys.readouterr().err
    assert sha(path) == before


def test_missing_store_is_not_created_by_a_reading_verb(tmp_path, capsys):
    assert cli("--db", str(tmp_path / "typo.sqlite"), "stats") == 1
    assert "no label store at" in capsys.readouterr().err
    assert not (tmp_path / "typo.sqlite").exists()


def test_not_a_label_store(tmp_path):
    (tmp_path / "text.sqlite").write_text("just some text that is long enough to be a header" * 3)
    with pytest.raises(StoreError, match="not a SQLite database"):
        LabelStore(tmp_path / "text.sqlite")
    conn = sqlite3.connect(tmp_path / "other.sqlite")
    conn.execute("CREATE TABLE t (a)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="another program"):
        LabelStore(tmp_path / "other.sqlite")


def test_locked_database_gives_clear_error_and_keeps_data(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path, classes=CLASSES) as s:
        s.add_arrays(pool(3))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    with LabelStore(path, timeout=0.2) as s:
        assert s.count_images() == 3  # WAL: reading goes on while another process writes
        t0 = time.monotonic()
        with pytest.raises(StoreError, match="locked by another writer"):
            s.add_arrays(pool(2, seed=5))
        assert time.monotonic() - t0 < 5
        other.execute("ROLLBACK")
        other.close()
        assert len(s.add_arrays(pool(2, seed=5))) == 2 and s.count_images() == 5


def test_read_only_database(tmp_path):
    """A store that this user cannot write: reading works, writing is one clear error."""
    folder = Path(os.path.realpath("/tmp")) / f"ro-labels-{os.getpid()}"  # every user can enter it
    folder.mkdir(exist_ok=True)
    path = folder / "labels.sqlite"
    try:
        with LabelStore(path, classes=CLASSES) as s:
            s.add_arrays(pool(3), labels=np.array([0, 1, 2]))
        np.savez(folder / "more.npz", images=pool(2, seed=4))
        path.chmod(0o444)
        folder.chmod(0o555)
        before = sha(path)
        # root may write any file, so as root the command runs as the unprivileged user nobody.
        # It first imports and reads what it needs, as root: the interpreter's own folder may
        # be closed to nobody.
        code = ("import os, shutil, locale, sys\n"
                "from genclass_utils.labels import cli, images\n"
                "from genclass_utils.__main__ import main\n"
                "cli.parser().format_help()\n"
                "images.read_npz(os.environ['WARM_NPZ'])\n"
                "if os.geteuid() == 0:\n"
                "    os.setuid(65534)\n"
                "sys.exit(main(sys.argv[1:]))\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(folder),
               "WARM_NPZ": str(folder / "more.npz")}

        def run(*args):
            return subprocess.run([sys.executable, "-c", code, "label", "--db", str(path), *args],
                                  capture_output=True, text=True, env=env, timeout=120)

        r = run("stats")
        assert r.returncode == 0, r.stderr
        assert "3 images, 3 labelled" in r.stdout
        r = run("add", str(folder / "more.npz"))
        assert r.returncode == 1
        assert r.stderr.startswith("error: ") and "read-only" in r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert sha(path) == before
    finally:
        folder.chmod(0o755)
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_disk_full_while_writing_rolls_back(store):
    """SQLite's page limit raises the very error a full disk does (SQLITE_FULL)."""
    store.add_arrays(pool(5), labels=np.arange(5) % 3)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk has one page left
    with pytest.raises(StoreError, match="disk is full.*rolled back"):
        store.add_arrays(pool(400, seed=3))
    assert store.count_images() == 5
    assert store.current_labels()["label"].tolist() == [0, 1, 2, 0, 1]
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    assert len(store.add_arrays(pool(400, seed=3))) == 400


def worker(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "_labels_worker.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_kill_during_predict_resumes_without_duplicates(tmp_path):
    from _labels_worker import NumpyClassifier

    path = tmp_path / "labels.sqlite"
    x = pool(100)
    with LabelStore(path, classes=CLASSES) as s:
        s.add_arrays(x)
    p = worker(str(path), "16", "kill:2")
    _out, err = p.communicate(timeout=120)
    assert p.returncode == -9, err  # SIGKILL in the middle of the third batch's transaction
    with LabelStore(path) as s:
        # Two whole batches survived; the half-written third left no row.
        assert s.conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 32
        assert s.predict(NumpyClassifier(), batch_size=16, progress=False) == 100 - 32
        rows = s.conn.execute("SELECT image_id, COUNT(*) FROM predictions GROUP BY image_id").fetchall()
        assert len(rows) == 100 and {n for _, n in rows} == {1}
        assert len(s.models()) == 1
        resumed = s.predictions()["probs"]
    with LabelStore(tmp_path / "unbroken.sqlite", classes=CLASSES) as s:
        s.add_arrays(x)
        s.predict(NumpyClassifier(), batch_size=16, progress=False)
        np.testing.assert_array_equal(resumed, s.predictions()["probs"])


@pytest.mark.slow
def test_two_processes_predict_at_once_every_row_exactly_once(tmp_path):
    path = tmp_path / "labels.sqlite"
    n = 600
    with LabelStore(path, classes=CLASSES) as s:
        s.add_arrays(pool(n))
    go = tmp_path / "go"
    procs = [worker(str(path), "4", "race", str(go)) for _ in range(2)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.*.ready"))) < 2 and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.02)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        written, start, end = out.split()
        results.append((int(written), float(start), float(end)))
    (w1, s1, e1), (w2, s2, e2) = results
    assert s1 < e2 and s2 < e1  # the two runs overlapped in time
    assert w1 + w2 == n  # each row was written by exactly one of them
    with LabelStore(path) as s:
        rows = s.conn.execute("SELECT image_id, COUNT(*) FROM predictions GROUP BY image_id").fetchall()
        assert len(rows) == n and {c for _, c in rows} == {1}
        assert len(s.models()) == 1


# ----------------------------------------------------------------------------- command line

def test_cli_every_verb(tmp_path, model_file, capsys):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, img in enumerate(pool(20)):
        Image.fromarray(img[..., 0]).save(folder / f"{i:02d}.png")
    db = str(tmp_path / "labels.sqlite")
    assert cli("--db", db, "add", str(folder), "--classes", ",".join(CLASSES)) == 0
    assert "added 20 new images" in capsys.readouterr().out
    assert cli("--db", db, "add", str(folder)) == 0
    assert "added 0 new images (20 already present)" in capsys.readouterr().out
    assert cli("--db", db, "predict", "--model", str(model_file), "--quiet") == 0
    assert "wrote 20 predictions; 0 images left" in capsys.readouterr().out
    assert cli("--db", db, "accept", "--threshold", "0.0") == 0
    assert "accepted 20 predictions" in capsys.readouterr().out
    assert cli("--db", db, "review", "--n", "5", "--export", str(tmp_path / "r.csv")) == 0
    assert "wrote 5 images to review" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    rows[0]["label"] = "owl"
    with (tmp_path / "r.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert cli("--db", db, "import", str(tmp_path / "r.csv"), "--who", "ann") == 0
    assert "stored 1 new human labels" in capsys.readouterr().out
    assert cli("--db", db, "export", "--format", "npz", "--out", str(tmp_path / "l.npz")) == 0
    out = capsys.readouterr().out
    assert "wrote 20 labelled images" in out and "per source: auto 19, human 1" in out
    assert cli("--db", db, "export", "--format", "csv", "--out", str(tmp_path / "l.csv")) == 0
    capsys.readouterr()
    assert len((tmp_path / "l.csv").read_text().splitlines()) == 21
    assert cli("--db", db, "stats") == 0
    out = capsys.readouterr().out
    assert "20 images, 20 labelled" in out and "confidence histogram" in out
    assert "auto vs human: " in out and " of 1 agree" in out


def test_cli_help_shows_an_example_for_each_verb(capsys):
    from genclass_utils.labels.cli import EXAMPLES

    assert cli("--help") == 0  # the command line returns an exit code, never raises
    top = capsys.readouterr().out
    for verb in EXAMPLES:
        assert f"genclass label --db labels.sqlite {verb}" in top
        assert cli("--db", "x.sqlite", verb, "--help") == 0
        assert f"example:\n  genclass label --db labels.sqlite {verb}" in capsys.readouterr().out
