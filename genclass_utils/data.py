"""Datasets: finding, verifying and parsing the files, splits, subsets, scaling, tf.data.

Fashion-MNIST is the default. Files are looked for, in order, in ``$GENCLASS_DATA``, the
course's ``data/`` (under :func:`genclass_utils.config.home`: the checkout, ``$GENCLASS_HOME`` or
the per-user folder), ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist``), the
Keras cache ``~/.keras/datasets``, and finally downloaded from the official mirror into
``$GENCLASS_DATA`` or that ``data/`` (written to a temp file and renamed only once its sha256
matches the manifest). The manifest is package data (``genclass_utils/manifest.json``), so an
installed package finds it without the repository.

The test split is only returned by :func:`load_test`, which the chapters call once, for the
number they report. Nothing here trains, tunes or stops early on it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from . import config
from .config import check_dataset
from .errors import DataError, InputError

# Package data: shipped inside the wheel, so a plain `pip install` finds it.
MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.json"

CLASS_NAMES = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "mnist": tuple(str(i) for i in range(10)),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
}
IMAGE_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
# Folder names used by Debian's dataset packages and by the Keras cache.
_SYSTEM_NAMES = {"fashion_mnist": "fashion-mnist", "mnist": "mnist", "cifar10": "cifar-10"}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_CIFAR_TAR = "cifar-10-binary.tar.gz"
_CIFAR_MEMBERS = {
    "train": tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("cifar-10-batches-bin/test_batch.bin",),
}
SPLITS = ("train", "test")


def class_names(dataset: str) -> tuple[str, ...]:
    """Return the dataset's class names, in label order."""
    return CLASS_NAMES[check_dataset(dataset)]


def num_classes(dataset: str) -> int:
    """Return the dataset's number of classes."""
    return len(class_names(dataset))


def image_shape(dataset: str) -> tuple[int, int, int]:
    """Return the dataset's image shape (H, W, C)."""
    return IMAGE_SHAPES[check_dataset(dataset)]


# --------------------------------------------------------------------------- manifest

@cache
def _manifest_cached(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read the dataset manifest {path}: {e}") from e


def manifest(dataset: str) -> dict:
    """Return the manifest entry of a dataset: its mirror and its files' sizes and sha256."""
    return _manifest_cached(str(MANIFEST_PATH))[check_dataset(dataset)]


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- parsing

def gunzip(path: Path | str) -> bytes:
    """Return the decompressed bytes of a gz file, or raise DataError naming the file."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"gunzip takes a file path; got {type(path).__name__}")
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: not a valid gzip file or truncated ({e}); "
                        "delete it and provide the file again") from e


def parse_idx(raw: bytes, name: str = "<bytes>", expect_ndim: int | None = None) -> np.ndarray:
    """Return the uint8 array stored in IDX bytes, validating magic number and sizes."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise InputError(f"{name}: parse_idx takes the file's bytes; got {type(raw).__name__}")
    if len(raw) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        magic = int.from_bytes(raw[0:4], "big")
        raise DataError(f"{name}: wrong IDX magic number 0x{magic:08x} "
                        "(expected 0x00000801 for labels or 0x00000803 for images)")
    if ndim == 0 or (expect_ndim is not None and ndim != expect_ndim):
        raise DataError(f"{name}: IDX file has {ndim} dimensions, expected {expect_ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims)  # Python ints: a forged header cannot overflow the check
    if 0 in dims:  # no data at all; other dims could still be too large for any array shape
        raise DataError(f"{name}: IDX header announces dims {dims}: the file holds no images or labels")
    body = len(raw) - header
    if body != expected:
        raise DataError(f"{name}: IDX header announces dims {dims} ({expected} bytes) "
                        f"but the file holds {body} bytes of data (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images_path: Path, labels_path: Path, n_classes: int = 10
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Return (images NHWC uint8, labels int64) from a pair of IDX gz files, validated."""
    x = parse_idx(gunzip(images_path), str(images_path), expect_ndim=3)
    y = parse_idx(gunzip(labels_path), str(labels_path), expect_ndim=1)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{images_path} holds {x.shape[0]} images but {labels_path} holds "
                        f"{y.shape[0]} labels; the two files do not belong together")
    if y.size and int(y.max()) >= n_classes:
        raise DataError(f"{labels_path}: label {int(y.max())} out of range 0..{n_classes - 1}")
    return x[..., None].copy(), y.astype(np.int64)


def parse_cifar_records(raw: bytes, name: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """Return (images NHWC uint8, labels) from CIFAR-10 binary records (1 + 3072 bytes each)."""
    rec = 1 + 32 * 32 * 3
    if len(raw) == 0 or len(raw) % rec:
        raise DataError(f"{name}: {len(raw)} bytes is not a whole number of CIFAR-10 records")
    arr = np.frombuffer(raw, dtype=np.uint8).reshape(-1, rec)
    y = arr[:, 0].astype(np.int64)
    if int(y.max()) >= 10:
        raise DataError(f"{name}: label {int(y.max())} out of range 0..9")
    x = arr[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return x, y


def read_cifar_tar(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return one split of CIFAR-10 from the official binary tarball, without extracting it."""
    xs, ys = [], []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in _CIFAR_MEMBERS[split]:
                f = tar.extractfile(member)
                if f is None:
                    raise DataError(f"{path}: member {member} is not a regular file")
                x, y = parse_cifar_records(f.read(), f"{path}:{member}")
                xs.append(x)
                ys.append(y)
    except KeyError as e:
        raise DataError(f"{path}: missing member {e}; not the CIFAR-10 binary tarball") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated tarball ({e})") from e
    return np.concatenate(xs), np.concatenate(ys)


# --------------------------------------------------------------------------- finding

def data_home() -> Path:
    """Return the course's data/ folder under config.home() (checkout, GENCLASS_HOME or per-user)."""
    return config.home() / "data"


def download_dir(dataset: str) -> Path:
    """Return where a download of the dataset lands: $GENCLASS_DATA/<dataset>, else data/<dataset>."""
    env = os.environ.get("GENCLASS_DATA")
    return (Path(env).expanduser() if env else data_home()) / check_dataset(dataset)


def search_dirs(dataset: str) -> list[tuple[str, Path]]:
    """Return the (source, folder) pairs searched for a dataset's files, in order."""
    dataset = check_dataset(dataset)
    sysname = _SYSTEM_NAMES[dataset]
    dirs: list[tuple[str, Path]] = []
    env = os.environ.get("GENCLASS_DATA")
    if env:
        dirs += [("GENCLASS_DATA", Path(env) / dataset), ("GENCLASS_DATA", Path(env))]
    dirs.append(("data/", data_home() / dataset))
    dirs.append(("system", Path("/usr/share/datasets") / sysname))
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    dirs.append(("keras cache", keras_home / "datasets" / sysname))
    return dirs


def required_files(dataset: str) -> tuple[str, ...]:
    """Return the file names a dataset needs."""
    return tuple(manifest(dataset)["files"])


def _how_to_provide(dataset: str) -> str:
    names = ", ".join(required_files(dataset))
    debian = ("`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or "
              if dataset == "fashion_mnist" else "")
    return (f"Provide the files ({names}) in one of three ways: "
            f"(1) {debian}copy them into {data_home() / dataset}/; "
            f"(2) set GENCLASS_DATA to a folder that holds them; "
            f"(3) go online once so that they are downloaded from {manifest(dataset)['mirror']} "
            f"and checked against {MANIFEST_PATH}.")


def _verify(path: Path, name: str, entry: dict) -> None:
    """Raise DataError unless the file matches the manifest (file sha256 or payload sha256)."""
    if sha256_file(path) == entry["sha256"]:
        return
    if "payload_sha256" in entry and name.endswith(".gz"):
        if hashlib.sha256(gunzip(path)).hexdigest() == entry["payload_sha256"]:
            return
    raise DataError(f"{path}: checksum mismatch against {MANIFEST_PATH}; the file is "
                    "corrupt or not the official one. Delete it and provide it again.")


_VERIFIED: set[tuple[str, int, float]] = set()


def verify_file(path: Path, name: str, entry: dict) -> None:
    """Verify a file against its manifest entry once per process (keyed by path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime)
    if key not in _VERIFIED:
        _verify(path, name, entry)
        _VERIFIED.add(key)


def download(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Download url to dest atomically: temp file, sha256 check, rename; return dest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while block := resp.read(1 << 20):
                h.update(block)
                out.write(block)
        if h.hexdigest() != sha256:
            raise DataError(f"download of {url} failed its checksum (got {h.hexdigest()}, "
                            f"expected {sha256}); the partial file was removed")
        os.replace(tmp, dest)
        return dest
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_genclass_data(dataset: str) -> None:
    """Raise DataError when GENCLASS_DATA is set but unusable for dataset (never skip it silently).

    Unusable: not an existing folder (missing, a file, a symlink loop), or a folder that holds
    some but not all of the dataset's files. A folder with none of them is left for the other
    places (it may hold another dataset).
    """
    env = os.environ.get("GENCLASS_DATA")
    if not env:
        return
    root = Path(env)
    try:
        root.resolve(strict=True)
        is_dir = root.is_dir()
    except (OSError, RuntimeError) as e:  # missing, or a symlink loop
        raise DataError(f"GENCLASS_DATA={env} cannot be used ({getattr(e, 'strerror', None) or e}); "
                        "point it to a folder that holds the dataset's files, or unset it") from None
    if not is_dir:
        raise DataError(f"GENCLASS_DATA={env} is not a folder; point it to a folder that holds "
                        "the dataset's files, or unset it")
    names = required_files(dataset)
    for folder in (root / dataset, root):
        present = [n for n in names if (folder / n).is_file()]
        if present and len(present) < len(names):
            missing = [n for n in names if n not in present]
            raise DataError(f"GENCLASS_DATA folder {folder} holds {len(present)} of the "
                            f"{len(names)} files of {dataset}; missing {', '.join(missing)}. "
                            "Add them, or unset GENCLASS_DATA")


def find_files(dataset: str, allow_download: bool | None = None) -> dict[str, Path]:
    """Return {file name: verified path} for a dataset, searching, then downloading if allowed."""
    dataset = check_dataset(dataset)
    entry = manifest(dataset)
    names = required_files(dataset)
    check_genclass_data(dataset)
    for _source, folder in search_dirs(dataset):
        paths = {n: folder / n for n in names}
        if all(p.is_file() for p in paths.values()):
            for n, p in paths.items():
                verify_file(p, n, entry["files"][n])
            return paths
    if allow_download is None:
        allow_download = os.environ.get("GENCLASS_OFFLINE", "") in ("", "0")
    if allow_download:
        target = download_dir(dataset)
        try:
            for n in names:
                if not (target / n).is_file():
                    download(entry["mirror"] + n, target / n, entry["files"][n]["sha256"])
            return {n: target / n for n in names}
        except DataError:
            raise
        except OSError as e:  # offline, DNS failure, HTTP error, disk full
            raise DataError(f"{dataset} was not found locally and could not be downloaded "
                            f"({e}). " + _how_to_provide(dataset)) from e
    raise DataError(f"{dataset} was not found locally and downloads are off. "
                    + _how_to_provide(dataset))


# --------------------------------------------------------------------------- loading

@lru_cache(maxsize=8)
def _load(dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    files = find_files(dataset)
    if dataset == "cifar10":
        x, y = read_cifar_tar(files[_CIFAR_TAR], split)
    else:
        img, lab = _IDX_FILES[split]
        x, y = read_idx_pair(files[img], files[lab], num_classes(dataset))
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_train(dataset: str = "fashion_mnist") -> tuple[np.ndarray, np.ndarray]:
    """Return the official training split as (uint8 images NHWC, int64 labels), read-only."""
    return _load(check_dataset(dataset), "train")


def load_test(dataset: str = "fashion_mnist") -> tuple[np.ndarray, np.ndarray]:
    """Return the official test split, for the final reported number only (read-only arrays).

    Under GENCLASS_PROFILE=smoke (``make test``) it is a seeded, class-balanced draw of the
    profile's ``max_test`` images: the smoke run proves that the code runs, and evaluating
    every chapter on all of the split would cost most of its time budget.
    """
    x, y = _load(check_dataset(dataset), "test")
    profile = config.env_profile()
    if profile is None or profile.max_test is None or profile.max_test >= len(y):
        return x, y
    return _test_subset(check_dataset(dataset), profile.max_test)


@lru_cache(maxsize=4)
def _test_subset(dataset: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = _load(dataset, "test")
    idx = stratified_take(y, n, 0)
    xs, ys = x[idx], y[idx]
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


# --------------------------------------------------------------------------- splits

@dataclass(frozen=True)
class Splits:
    """Train and validation arrays carved from the official training split, with their indices."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    idx_train: np.ndarray
    idx_val: np.ndarray


def check_seed(seed, name: str = "seed") -> int:
    """Return seed as an int, or raise InputError unless it is a whole number in 0..2**32-1."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"{name} must be a whole number in 0..{2**32 - 1}; got {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise InputError(f"{name} must be a whole number in 0..{2**32 - 1}; got {seed}")
    return int(seed)


def check_count(n, name: str = "n", minimum: int = 1) -> int:
    """Return n as an int, or raise InputError unless it is a whole number >= minimum."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        if not (isinstance(n, (float, np.floating)) and np.isfinite(n) and float(n).is_integer()):
            raise InputError(f"{name} must be a whole number, at least {minimum}; got {n!r}")
    if int(n) < minimum:
        raise InputError(f"{name} must be a whole number, at least {minimum}; got {n}")
    return int(n)


def stratified_take(y: np.ndarray, n: int, seed: int, pool: np.ndarray | None = None
                    ) -> np.ndarray:
    """Return n indices drawn from pool (default: all) with the class proportions of y.

    When n is at least the pool's size, the whole pool is returned (sorted).
    """
    from sklearn.model_selection import train_test_split

    n, seed = check_count(n, "n"), check_seed(seed)
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise InputError(f"y must be a non-empty 1-D array of labels; got shape {y.shape}")
    pool = np.arange(len(y)) if pool is None else np.asarray(pool)
    if pool.ndim != 1 or (pool.size and (not np.issubdtype(pool.dtype, np.integer)
                                         or pool.min() < 0 or pool.max() >= len(y))):
        raise InputError(f"pool must be 1-D indices in 0..{len(y) - 1}")
    if np.unique(pool).size != pool.size:
        raise InputError("pool holds an index more than once; the draw would repeat images")
    if n >= len(pool):
        return np.sort(pool)
    classes, counts = np.unique(y[pool], return_counts=True)
    if counts.min() < 2 or not len(classes) <= n <= len(pool) - len(classes):
        raise InputError(f"cannot draw {n} of {len(pool)} images with the class proportions: "
                         f"it needs every class at least twice (the rarest has {counts.min()}) and "
                         f"n between {len(classes)} and {len(pool) - len(classes)}")
    take, _ = train_test_split(pool, train_size=n, stratify=y[pool], random_state=seed)
    return np.sort(take)


def train_val_split(x: np.ndarray, y: np.ndarray, n_val: int = 5000, seed: int = 0,
                    max_train: int | None = None) -> Splits:
    """Return a stratified, seeded train/validation split of the official training data."""
    if not hasattr(x, "__len__") or not hasattr(y, "__len__"):
        raise InputError(f"train_val_split takes arrays; got {type(x).__name__} and {type(y).__name__}")
    if len(x) != len(y):
        raise InputError(f"train_val_split got {len(x)} images but {len(y)} labels")
    if isinstance(n_val, bool) or not isinstance(n_val, (int, np.integer)) or not 0 < n_val < len(y):
        raise InputError(f"n_val must be a whole number between 1 and {len(y) - 1}, got {n_val!r}")
    if max_train is not None:
        max_train = check_count(max_train, "max_train")
    idx_val = stratified_take(y, n_val, seed)
    rest = np.setdiff1d(np.arange(len(y)), idx_val)
    idx_train = rest if max_train is None else stratified_take(y, max_train, seed, rest)
    return Splits(x[idx_train], y[idx_train], x[idx_val], y[idx_val], idx_train, idx_val)


def load_splits(cfg, n_val: int | None = None) -> Splits:
    """Return the profile-sized train/validation split of cfg.dataset (the test split stays out)."""
    x, y = load_train(cfg.dataset)
    max_train = cfg.profile.max_train
    if n_val is None:
        n_val = 5000 if max_train is None else max(500, max_train // 4)
    return train_val_split(x, y, n_val=n_val, seed=cfg.seed, max_train=max_train)


def labeled_subset(y: np.ndarray, n_per_class: int, seed: int = 0,
                   exclude: Iterable[int] | None = None) -> np.ndarray:
    """Return sorted indices of exactly n_per_class images of each class, avoiding exclude."""
    y = np.asarray(y)
    n_per_class = check_count(n_per_class, "n_per_class")
    seed = check_seed(seed)
    if y.ndim != 1 or (y.size and y.dtype.kind not in "iu"):
        raise InputError(f"labels must be 1-D integer class indices; got {y.dtype} {y.shape}")
    allowed = np.ones(len(y), bool)
    if exclude is not None:
        ex = np.asarray(list(exclude) if not isinstance(exclude, np.ndarray) else exclude)
        if ex.size and (ex.ndim != 1 or not np.issubdtype(ex.dtype, np.integer)
                        or ex.min() < 0 or ex.max() >= len(y)):
            raise InputError(f"exclude must hold indices in 0..{len(y) - 1}")
        allowed[ex.astype(np.int64)] = False
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):
        pool = np.flatnonzero((y == c) & allowed)
        if len(pool) < n_per_class:
            raise InputError(f"class {int(c)} has only {len(pool)} images available, "
                             f"fewer than the {n_per_class} asked for")
        picked.append(rng.choice(pool, n_per_class, replace=False))
    return np.sort(np.concatenate(picked))


# --------------------------------------------------------------------------- scaling, tf.data

def check_images(x: np.ndarray, name: str = "images", channels: int | None = None) -> np.ndarray:
    """Return x as an NHWC array, or raise InputError on a wrong rank, dtype or channel count."""
    x = np.asarray(x)
    if x.ndim != 4:
        hint = " (missing channel axis? use x[..., None])" if x.ndim == 3 else ""
        raise InputError(f"{name} must be a 4-D array (N, H, W, C); got shape {x.shape}{hint}")
    if channels is not None and x.shape[-1] != channels:
        raise InputError(f"{name} must have {channels} channel(s); got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise InputError(f"{name} must be numeric; got dtype {x.dtype}")
    return x


def scale(x: np.ndarray, to: str = "unit") -> np.ndarray:
    """Return uint8 images as float32 in [0, 1] (``"unit"``) or [-1, 1] (``"symmetric"``)."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise InputError(f"scale expects uint8 images in 0..255; got dtype {x.dtype}")
    x = x.astype(np.float32) / 255.0
    if to == "unit":
        return x
    if to == "symmetric":
        return x * 2.0 - 1.0
    raise InputError(f"unknown range {to!r}; choose 'unit' or 'symmetric'")


# Float images may overshoot their range by rounding (a sigmoid's 1.0000001); more is an error.
RANGE_TOLERANCE = 1e-3


def to_uint8(x: np.ndarray, source: str = "unit") -> np.ndarray:
    """Return float images in [0, 1] or [-1, 1] as uint8 0..255 (rounded), refusing other ranges."""
    if source not in ("unit", "symmetric"):
        raise InputError(f"unknown range {source!r}; choose 'unit' or 'symmetric'")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"to_uint8 expects float images in [0, 1] (or [-1, 1] with "
                         f"source='symmetric'); got dtype {x.dtype}"
                         + ("; uint8 images are already 0..255, use them as they are"
                            if x.dtype == np.uint8 else ""))
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise InputError("images contain NaN or Inf")
    lo = -1.0 if source == "symmetric" else 0.0
    check_range(x, lo, 1.0, "images", hint_symmetric=source == "unit")
    if source == "symmetric":
        x = (x + 1.0) / 2.0
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def check_range(x: np.ndarray, lo: float, hi: float, name: str = "images",
                hint_symmetric: bool = False) -> None:
    """Raise InputError unless every value of x lies in [lo, hi] (up to RANGE_TOLERANCE)."""
    if x.size == 0:
        return
    if np.asarray(x).dtype.kind not in "biuf":
        raise InputError(f"{name} must hold real numbers; got dtype {np.asarray(x).dtype}")
    mn, mx = float(np.min(x)), float(np.max(x))
    if mn >= lo - RANGE_TOLERANCE and mx <= hi + RANGE_TOLERANCE:
        return
    hint = ""
    if mx > 1.5:
        hint = "; they look like 0..255 values: divide by 255 first"
    elif hint_symmetric and mn < -RANGE_TOLERANCE and mn >= -1.0 - RANGE_TOLERANCE:
        hint = "; they look like tanh outputs in [-1, 1]: use source='symmetric'"
    raise InputError(f"{name} must lie in [{lo:g}, {hi:g}]; got values in "
                     f"[{mn:.4g}, {mx:.4g}]{hint}")


def check_labels(y: np.ndarray, n_classes: int, name: str = "labels") -> np.ndarray:
    """Return y as int64, or raise InputError for non-integers or values outside 0..n_classes-1."""
    n_classes = check_count(n_classes, "n_classes")
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"{name} must be 1-D class indices; got shape {y.shape}")
    if y.dtype.kind not in "iuf":  # text, bool, complex and objects are not class indices
        raise InputError(f"{name} must be integer class indices; got dtype {y.dtype}")
    if y.size and y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(np.equal(np.mod(y, 1), 0)):
            raise InputError(f"{name} must be integer class indices; got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):  # compared before any cast can overflow
        raise InputError(f"{name} out of range: values must lie in 0..{n_classes - 1}, "
                         f"got {y.min()}..{y.max()}")
    return y.astype(np.int64)


def make_dataset(x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 128,
                 shuffle: bool = True, seed: int = 0, cache: bool = True,
                 prefetch: bool = True, drop_remainder: bool = False, augment=None):
    """Return a tf.data pipeline over (x, y) or x: cache, shuffle, batch, augment, prefetch."""
    import tensorflow as tf

    batch_size = check_count(batch_size, "batch_size")
    if y is not None and len(x) != len(y):
        raise InputError(f"make_dataset got {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise InputError("make_dataset got no images")
    if np.issubdtype(np.asarray(x).dtype, np.floating) and not np.isfinite(x).all():
        raise InputError("make_dataset got images containing NaN or Inf")
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(len(x), 60000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment is not None:
        if y is None:
            ds = ds.map(lambda a: augment(a, training=True), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda a, b: (augment(a, training=True), b),
                        num_parallel_calls=tf.data.AUTOTUNE)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def class_counts(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Return the number of labels of each class."""
    n_classes = check_count(n_classes, "n_classes")
    return np.bincount(check_labels(y, n_classes), minlength=n_classes)


__all__: Sequence[str] = (
    "class_names", "num_classes", "image_shape", "manifest", "find_files", "check_genclass_data", "search_dirs",
    "parse_idx", "read_idx_pair", "parse_cifar_records", "read_cifar_tar", "download",
    "load_train", "load_test", "load_splits", "train_val_split", "labeled_subset",
    "stratified_take", "check_seed", "check_count", "scale", "to_uint8", "check_range", "check_images", "check_labels", "make_dataset",
    "class_counts", "Splits",
)
