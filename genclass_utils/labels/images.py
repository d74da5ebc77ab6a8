"""Images going into and out of the label store: reading folders and .npz files, hashing, PNG."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import numpy as np

from ..errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def content_hash(image: np.ndarray) -> str:
    """Return the sha256 of an HxWxC uint8 image's shape and pixels (its identity in the store)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.dtype != np.uint8:
        raise InputError(f"an image must be uint8 (H, W, C); got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image)
    h, w, c = image.shape
    return hashlib.sha256(f"{h}x{w}x{c}:".encode() + image.tobytes()).hexdigest()


def as_store_images(x: np.ndarray, name: str = "images") -> np.ndarray:
    """Return x as uint8 (N, H, W, C) with C in (1, 3), or raise InputError saying what is wrong."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or 0 in x.shape[1:]:
        raise InputError(f"{name} must be (N, H, W) or (N, H, W, C) with C = 1 or 3; "
                         f"got shape {x.shape}")
    if x.dtype != np.uint8:
        raise InputError(f"{name} must be uint8 pixels 0..255; got dtype {x.dtype} "
                         "(use gu.data.to_uint8 for float images)")
    return x


def read_image(path: Path | str, channels: int | None = None,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """Return the PNG/JPEG at path as uint8 HxWxC, or raise InputError naming a corrupt file.

    ``channels`` 1 or 3 converts to grey or RGB; None keeps grey files grey and makes every
    other mode RGB. ``size`` (height, width) resizes with bilinear filtering.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = {1: "L", 3: "RGB"}.get(channels or 0, "L" if im.mode in ("1", "L", "I;16") else "RGB")
            im = im.convert(mode)
            if size is not None:
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except Image.DecompressionBombError as e:  # over 2 x PIL's MAX_IMAGE_PIXELS
        raise InputError(f"{path}: image too large to decode ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path} is not a readable PNG or JPEG image (corrupt or another "
                         f"kind of file): {e}") from e
    return arr[..., None] if arr.ndim == 2 else arr


def list_folder(folder: Path | str) -> list[Path]:
    """Return the PNG/JPEG files under folder (recursively), sorted, or raise InputError if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder} holds no .png, .jpg or .jpeg files")
    return files


def check_npz_sizes(path: Path | str) -> None:
    """Raise InputError when an .npz member's header claims more bytes than it holds or than fit.

    Reads only the zip directory and each .npy header (numpy.lib.format), so a file whose header
    claims terabytes is refused before anything is allocated.
    """
    import zipfile

    from ..sampling import MEMORY_SHARE, available_memory

    fmt = np.lib.format
    budget = int(available_memory() * MEMORY_SHARE)
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with z.open(info) as fp:
                version = fmt.read_magic(fp)
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _fortran, dtype = read(fp)
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow
            if nbytes > info.file_size:
                raise InputError(f"{path}: {info.filename} claims shape {shape} ({nbytes} bytes) "
                                 f"but holds {info.file_size} bytes (truncated or forged)")
            if nbytes > budget:
                raise InputError(f"{path}: {info.filename} needs {nbytes / 2**30:.1f} GiB, more "
                                 f"than the {budget / 2**30:.1f} GiB allowed here; split the file")


def read_npz(path: Path | str) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (images, labels or None) from an .npz with ``images`` (and optional ``labels``)."""
    import zipfile

    path = Path(path)
    try:
        check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f.files:
                raise InputError(f"{path} has no array named 'images' (found {sorted(f.files)})")
            images = f["images"]
            labels = f["labels"] if "labels" in f.files else None
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"{path} is not a readable .npz file: {e}") from e
    images = as_store_images(images, f"{path}: images")
    if labels is not None and labels.shape != (len(images),):
        raise InputError(f"{path}: labels must have shape ({len(images)},); got {labels.shape}")
    return images, labels


def png_bytes(image: np.ndarray) -> bytes:
    """Return an HxWxC uint8 image encoded as PNG."""
    from PIL import Image

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (1, 3) or image.dtype != np.uint8:
        raise InputError(f"an image must be uint8 (H, W, 1 or 3); got {image.dtype} {image.shape}")
    arr = image[..., 0] if image.shape[-1] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def data_uri(image: np.ndarray) -> str:
    """Return the image as a ``data:image/png;base64,...`` URI (self-contained in a task file)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
