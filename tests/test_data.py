"""The data module: IDX parsing, search order, checksums, downloads, splits and subsets."""

from __future__ import annotations

import gzip
import io
import tarfile

import numpy as np
import pytest
from conftest import idx_bytes, write_gz

from genclass_utils import data
from genclass_utils.errors import ConfigError, DataError, InputError

# ---------------------------------------------------------------- IDX parser


def test_parse_idx_roundtrip():
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = data.parse_idx(idx_bytes(x), expect_ndim=3)
    assert out.shape == (2, 3, 4) and np.array_equal(out, x)


def test_parse_idx_wrong_magic():
    raw = bytearray(idx_bytes(np.zeros((2, 3), np.uint8)))
    raw[2] = 0x0D  # float32 type code: not what the datasets use
    with pytest.raises(DataError, match="magic number"):
        data.parse_idx(bytes(raw), "f.idx")


def test_parse_idx_truncated_body_names_file():
    raw = idx_bytes(np.zeros((5, 4, 4), np.uint8))[:-7]
    with pytest.raises(DataError, match="bad.idx.*truncated"):
        data.parse_idx(raw, "bad.idx")


def test_parse_idx_wrong_ndim():
    with pytest.raises(DataError, match="dimensions"):
        data.parse_idx(idx_bytes(np.zeros(4, np.uint8)), expect_ndim=3)


def test_truncated_gz_is_clear_error(tmp_path):
    p = write_gz(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((10, 28, 28), np.uint8)))
    p.write_bytes(p.read_bytes()[:-30])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        data.gunzip(p)


def test_image_label_count_mismatch(tmp_path):
    xi = write_gz(tmp_path / "i.gz", idx_bytes(np.zeros((5, 28, 28), np.uint8)))
    yi = write_gz(tmp_path / "l.gz", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        data.read_idx_pair(xi, yi)


def test_label_out_of_range(tmp_path):
    xi = write_gz(tmp_path / "i.gz", idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    yi = write_gz(tmp_path / "l.gz", idx_bytes(np.array([1, 12], np.uint8)))
    with pytest.raises(DataError, match="out of range"):
        data.read_idx_pair(xi, yi)


# ---------------------------------------------------------------- CIFAR-10 binary


def _cifar_tar(path, n_train=10, n_test=10):
    rng = np.random.default_rng(1)
    with tarfile.open(path, "w:gz") as tar:
        for name, n in [(f"data_batch_{i}.bin", n_train) for i in range(1, 6)] + [("test_batch.bin", n_test)]:
            y = rng.integers(0, 10, n, dtype=np.uint8)
            x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            raw = np.concatenate([y[:, None], x], axis=1).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def test_cifar_reader_shapes(tmp_path):
    p = _cifar_tar(tmp_path / "cifar-10-binary.tar.gz")
    x, y = data.read_cifar_tar(p, "train")
    assert x.shape == (50, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (50,)
    xt, _ = data.read_cifar_tar(p, "test")
    assert xt.shape == (10, 32, 32, 3)


def test_cifar_channel_order(tmp_path):
    rec = np.zeros(3073, np.uint8)
    rec[0] = 3
    rec[1:1025] = 200  # red plane
    x, y = data.parse_cifar_records(rec.tobytes())
    assert y[0] == 3 and x[0, 0, 0, 0] == 200 and x[0, 0, 0, 1] == 0


def test_cifar_truncated(tmp_path):
    p = _cifar_tar(tmp_path / "c.tar.gz")
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(DataError):
        data.read_cifar_tar(p, "test")


def test_cifar_dataset_loads_through_manifest(tmp_path, manifest_for, isolated_search, monkeypatch):
    folder = tmp_path / "cifar"
    folder.mkdir()
    _cifar_tar(folder / "cifar-10-binary.tar.gz")
    manifest_for("cifar10", folder)
    monkeypatch.setenv("GENCLASS_DATA", str(folder))
    x, y = data.load_train("cifar10")
    assert x.shape == (50, 32, 32, 3)


# ---------------------------------------------------------------- search order and checksums



def test_search_order(tiny_idx_dataset, manifest_for, isolated_search, monkeypatch):
    folder, arrays = tiny_idx_dataset
    manifest_for("mnist", folder)
    keras_dir = isolated_search / "keras_home" / "datasets" / "mnist"
    keras_dir.mkdir(parents=True)
    for p in folder.iterdir():
        (keras_dir / p.name).write_bytes(p.read_bytes())
    # only the Keras cache holds the files
    found = data.find_files("mnist", allow_download=False)
    assert next(iter(found.values())).parent == keras_dir
    # GENCLASS_DATA comes first
    monkeypatch.setenv("GENCLASS_DATA", str(folder.parent))
    found = data.find_files("mnist", allow_download=False)
    assert next(iter(found.values())).parent == folder
    x, y = data.load_train("mnist")
    assert x.shape == (60, 28, 28, 1) and np.array_equal(x[..., 0], arrays["train"][0])


def test_search_order_lists_documented_sources(monkeypatch, tmp_path):
    monkeypatch.setenv("GENCLASS_DATA", str(tmp_path))
    sources = [s for s, _ in data.search_dirs("fashion_mnist")]
    order = list(dict.fromkeys(sources))
    assert order == ["GENCLASS_DATA", "data/", "system", "keras cache"]


def test_missing_offline_names_the_ways(isolated_search):
    with pytest.raises(DataError) as e:
        data.find_files("fashion_mnist", allow_download=False)
    msg = str(e.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "GENCLASS_DATA" in msg and "data/fashion_mnist" in msg and "online" in msg


def test_download_failure_names_the_ways(isolated_search, manifest_for, tiny_idx_dataset):
    folder, _ = tiny_idx_dataset
    manifest_for("mnist", folder, mirror="file:///definitely/not/here/")
    with pytest.raises(DataError, match="could not be downloaded.*GENCLASS_DATA"):
        data.find_files("mnist", allow_download=True)


def test_download_verifies_and_renames(isolated_search, manifest_for, tiny_idx_dataset):
    folder, _ = tiny_idx_dataset
    manifest_for("mnist", folder, mirror=folder.as_uri() + "/")
    found = data.find_files("mnist", allow_download=True)
    target = isolated_search / "repo" / "data" / "mnist"
    assert all(p.parent == target for p in found.values())
    assert not list(target.glob("*.part"))


def test_download_checksum_mismatch_removes_file(tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"hello")
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(DataError, match="checksum"):
        data.download(src.as_uri(), dest, "0" * 64)
    assert not dest.exists() and not list(dest.parent.iterdir())


def test_tampered_file_fails_checksum(tiny_idx_dataset, manifest_for, isolated_search, monkeypatch):
    folder, _ = tiny_idx_dataset
    manifest_for("mnist", folder)
    p = folder / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros(20, np.uint8))))
    monkeypatch.setenv("GENCLASS_DATA", str(folder))
    with pytest.raises(DataError, match="checksum mismatch"):
        data.find_files("mnist", allow_download=False)


def test_recompressed_copy_passes_payload_checksum(tiny_idx_dataset, manifest_for, monkeypatch, tmp_path):
    folder, _ = tiny_idx_dataset
    manifest_for("mnist", folder)
    p = folder / "train-labels-idx1-ubyte.gz"
    entry = {"sha256": "0" * 64, "payload_sha256": __import__("hashlib").sha256(gzip.decompress(p.read_bytes())).hexdigest()}
    data.verify_file(p, p.name, entry)  # no error: same payload, other gz bytes
    with pytest.raises(DataError):
        data._verify(p, p.name, {"sha256": "0" * 64, "payload_sha256": "1" * 64})


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="fashion_mnist, mnist, cifar10"):
        data.load_train("imagenet")


def test_real_fashion_mnist_if_installed(monkeypatch):
    monkeypatch.delenv("GENCLASS_PROFILE", raising=False)  # a smoke run draws a smaller test split
    try:
        x, y = data.load_train("fashion_mnist")
    except DataError:
        pytest.skip("Fashion-MNIST not installed")
    assert x.shape == (60000, 28, 28, 1) and np.bincount(y).tolist() == [6000] * 10
    xt, yt = data.load_test("fashion_mnist")
    assert xt.shape == (10000, 28, 28, 1)
    assert not x.flags.writeable


# ---------------------------------------------------------------- splits and subsets


@pytest.fixture
def labels():
    return np.repeat(np.arange(10), 300)


def test_train_val_split_disjoint_stratified(labels):
    x = np.zeros((len(labels), 2, 2, 1), np.uint8)
    s = data.train_val_split(x, labels, n_val=500, seed=3)
    assert len(np.intersect1d(s.idx_train, s.idx_val)) == 0
    assert len(s.idx_train) + len(s.idx_val) == len(labels)
    assert np.bincount(s.y_val).tolist() == [50] * 10


def test_labeled_subset_exact_counts_disjoint_reproducible(labels):
    x = np.zeros((len(labels), 2, 2, 1), np.uint8)
    s = data.train_val_split(x, labels, n_val=500, seed=0)
    a = data.labeled_subset(labels, 10, seed=7, exclude=s.idx_val)
    b = data.labeled_subset(labels, 10, seed=7, exclude=s.idx_val)
    c = data.labeled_subset(labels, 10, seed=8, exclude=s.idx_val)
    assert np.bincount(labels[a]).tolist() == [10] * 10
    assert len(np.intersect1d(a, s.idx_val)) == 0
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_labeled_subset_too_large(labels):
    with pytest.raises(InputError, match="class 0 has only 300"):
        data.labeled_subset(labels, 301)


def test_scale_and_back():
    x = np.array([[0, 128, 255]], np.uint8)
    assert data.scale(x).max() == 1.0
    assert data.scale(x, "symmetric").min() == -1.0
    assert np.array_equal(data.to_uint8(data.scale(x, "symmetric"), "symmetric"), x)
    with pytest.raises(InputError, match="uint8"):
        data.scale(x.astype(np.float32))


def test_check_images_and_labels():
    with pytest.raises(InputError, match="channel axis"):
        data.check_images(np.zeros((2, 28, 28)))
    with pytest.raises(InputError, match="0..9"):
        data.check_labels(np.array([0, 10]), 10)


def test_make_dataset_batches():
    ds = data.make_dataset(np.zeros((10, 2, 2, 1), np.float32), np.arange(10), batch_size=4)
    assert [int(b[0].shape[0]) for b in ds] == [4, 4, 2]
