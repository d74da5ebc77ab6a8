"""Shared fixtures: small dataset files written by the tests themselves."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


def idx_bytes(arr: np.ndarray) -> bytes:
    """Return the IDX encoding of a uint8 array."""
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(payload)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def tiny_idx_dataset(tmp_path):
    """Write a tiny MNIST-format dataset (train 60, test 20) and return (folder, arrays)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    arrays = {}
    for split, n in (("train", 60), ("t10k", 20)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = np.tile(np.arange(10, dtype=np.uint8), n // 10)
        write_gz(folder / f"{split}-images-idx3-ubyte.gz", idx_bytes(x))
        write_gz(folder / f"{split}-labels-idx1-ubyte.gz", idx_bytes(y))
        arrays[split] = (x, y)
    return folder, arrays


@pytest.fixture
def manifest_for(tmp_path, monkeypatch):
    """Return a function that points the data module at a manifest covering given files."""
    from genclass_utils import data

    def make(dataset: str, folder: Path, mirror: str = "file:///nonexistent/"):
        files = {p.name: {"size": p.stat().st_size, "sha256": sha256(p)}
                 for p in sorted(folder.iterdir()) if p.is_file()}
        real = json.loads(data.MANIFEST_PATH.read_text())
        real[dataset] = {"mirror": mirror, "files": files}
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps(real))
        monkeypatch.setattr(data, "MANIFEST_PATH", path)
        data._manifest_cached.cache_clear()
        data._load.cache_clear()
        data._VERIFIED.clear()
        return path

    yield make
    data._manifest_cached.cache_clear()
    data._load.cache_clear()
    data._VERIFIED.clear()


@pytest.fixture
def isolated_search(tmp_path, monkeypatch):
    """Make the search order see only tmp folders: no GENCLASS_DATA, no repo data/, no system."""
    from genclass_utils import data

    monkeypatch.delenv("GENCLASS_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path / "repo"))
    real_search = data.search_dirs

    def search(dataset):
        return [(s, p) for s, p in real_search(dataset) if not str(p).startswith("/usr/share")]

    monkeypatch.setattr(data, "search_dirs", search)
    return tmp_path
