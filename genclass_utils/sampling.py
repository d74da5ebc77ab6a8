"""Sampling saved generators.

Every generator in the course is saved as a Functional Keras model with the same contract:
input ``z`` of shape (latent_dim,), plus an int32 ``label`` of shape () for a conditional model,
and output images in [0, 1] of shape (H, W, C). A decoder of a VAE is saved the same way.
A clip or volume generator (chapter 9) has the same inputs and a 5-D output: (T, H, W, C).
"""

from __future__ import annotations

import os

import numpy as np

from .data import RANGE_TOLERANCE, check_count, check_labels, check_seed
from .errors import ArtifactError, InputError

# Sampling may use at most this share of the memory the machine has available.
MEMORY_SHARE = 0.5


def is_conditional(generator) -> bool:
    """Return True when the generator takes a class label as a second input."""
    return len(generator.inputs) == 2


def latent_dim(generator) -> int:
    """Return the size of the generator's latent input, or raise InputError for a non-generator."""
    inputs = getattr(generator, "inputs", None)
    if not inputs or len(inputs) > 2 or len(inputs[0].shape) != 2:
        shapes = [tuple(i.shape) for i in inputs] if inputs else "none"
        raise InputError(f"{getattr(generator, 'name', generator)!s} is not a generator of the "
                         "course: expected inputs z of shape (latent_dim,) [and an int label]; "
                         f"got input shapes {shapes}")
    return int(inputs[0].shape[-1])


def n_classes(generator) -> int | None:
    """Return the number of classes of a conditional generator (its label Embedding), or None."""
    import keras

    for layer in generator._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
    return None


def _label_count(generator) -> int | None:
    try:
        return n_classes_of(generator)
    except ArtifactError:
        return n_classes(generator)


def cycle_labels(n: int, n_classes: int) -> np.ndarray:
    """Return n labels cycling through 0..n_classes-1 (balanced up to one image per class)."""
    n, n_classes = check_count(n, "n", minimum=0), check_count(n_classes, "n_classes")
    return (np.arange(n) % n_classes).astype(np.int32)


def available_memory() -> int:
    """Return the bytes of memory available now (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (OSError, ValueError, AttributeError):
        return 8 << 30  # unknown platform: assume a small machine


def max_images(image_shape: tuple[int, ...], latent: int, as_uint8: bool = True,
               batch_size: int = 500) -> int:
    """Return the most images one call of generate() may return on this machine."""
    if not all(isinstance(d, (int, np.integer)) and d >= 1 for d in image_shape):
        raise InputError(f"image_shape must be positive whole numbers; got {image_shape!r}")
    latent, batch_size = check_count(latent, "latent"), check_count(batch_size, "batch_size")
    per_image = int(np.prod(image_shape)) * (1 if as_uint8 else 4) + latent * 12
    budget = MEMORY_SHARE * available_memory() - batch_size * int(np.prod(image_shape)) * 8
    return max(int(budget // per_image), 0)


def _check_batch_size(batch_size) -> int:
    b = check_count(batch_size, "batch_size")
    if b > 100_000:
        raise InputError(f"batch_size must be at most 100000 images; got {b}")
    return b


def check_size(generator, n: int, as_uint8: bool = True, batch_size: int = 500) -> None:
    """Raise InputError, before any allocation, when n images would not fit in memory."""
    shape = tuple(int(d) for d in generator.outputs[0].shape[1:])
    limit = max_images(shape, latent_dim(generator), as_uint8, batch_size)
    if n > limit:
        gib = n * int(np.prod(shape)) * (1 if as_uint8 else 4) / 2**30
        raise InputError(f"{n} images of shape {shape} need about {gib:.1f} GiB, more than the "
                         f"{MEMORY_SHARE:.0%} of available memory sampling may use (at most "
                         f"{limit} images here); sample in chunks of at most {limit} images "
                         "with different seeds and concatenate or stream them to files")


def _run(generator, inputs: list[np.ndarray], batch_size: int) -> np.ndarray:
    """Return generator(inputs) in inference mode, computed in batches by direct calls.

    Direct calls, not ``predict``: predict traces a new function for every model, and a chapter
    that samples several generators makes TensorFlow print retracing warnings.
    """
    import keras

    n = len(inputs[0])
    outs = []
    for i in range(0, n, batch_size):
        part = [a[i:i + batch_size] for a in inputs]
        out = generator(part if len(part) > 1 else part[0], training=False)
        outs.append(keras.ops.convert_to_numpy(out))
    return np.concatenate(outs)


def generate(generator, n: int, labels: np.ndarray | None = None, seed: int = 0,
             batch_size: int = 500, as_uint8: bool = True) -> np.ndarray:
    """Return n images from a generator (uint8 by default), with z ~ N(0, I) drawn from seed.

    Raises InputError for bad arguments, for more images than memory allows (checked before
    drawing), and when the generator's output is NaN or leaves [0, 1] (a tanh output in
    [-1, 1], or 0..255): it is refused, never clipped.
    """
    n = check_count(n, "n")
    seed = check_seed(seed)
    batch_size = _check_batch_size(batch_size)
    if not isinstance(as_uint8, (bool, np.bool_)):
        raise InputError(f"as_uint8 must be True or False; got {as_uint8!r}")
    d = latent_dim(generator)
    out_shape = tuple(generator.outputs[0].shape)
    if len(out_shape) not in (4, 5):  # a classifier's logits or a flat vector are not images
        raise InputError(f"{getattr(generator, 'name', 'the generator')} outputs shape "
                         f"{out_shape}, not images (N, H, W, C) or clips (N, T, H, W, C); "
                         "is it a generator?")
    if is_conditional(generator):
        if labels is None:
            raise InputError("this generator is conditional: pass labels (one per image)")
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise InputError(f"labels must have shape ({n},); got {labels.shape}")
        k = _label_count(generator)
        labels = check_labels(labels, k if k is not None else np.iinfo(np.int32).max)
        labels = labels.astype(np.int32)
    elif labels is not None:
        raise InputError("this generator is unconditional: it takes no labels")
    check_size(generator, n, as_uint8, batch_size)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)).astype(np.float32)
    shape = tuple(int(s) for s in generator.outputs[0].shape[1:])
    result = np.empty((n, *shape), np.uint8 if as_uint8 else np.float32)
    # Chunks keep the float output of one chunk in memory, not of all n images.
    chunk = batch_size * max(1, 10_000 // batch_size)
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        inputs = [z[sl], labels[sl]] if labels is not None else [z[sl]]
        try:
            out = _run(generator, inputs, batch_size)
        except (ValueError, TypeError) as e:  # Keras refuses the inputs
            raise InputError(f"{getattr(generator, 'name', 'the generator')} refused its "
                             f"inputs: {str(e).splitlines()[0]}") from e
        out = np.asarray(out, dtype=np.float32)
        if not np.isfinite(out).all():
            raise InputError("the generator produced NaN or Inf")
        lo, hi = float(out.min()), float(out.max())
        if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            hint = (" (a tanh output: save the generator with gu.models.gan.export_generator)"
                    if lo >= -1 - RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE else
                    " (0..255 values? the contract is images in [0, 1])" if hi > 1.5 else "")
            raise InputError(f"{getattr(generator, 'name', 'the generator')} produced values in "
                             f"[{lo:.4g}, {hi:.4g}], outside the images' range [0, 1]{hint}; "
                             "they are refused, not clipped")
        result[sl] = np.clip(np.rint(out * 255.0), 0, 255) if as_uint8 else np.clip(out, 0, 1)
    return result


def register_custom_objects() -> None:
    """Import the course's model modules so that their saved layers (MixturePrior...) load."""
    import importlib

    for name in ("gan", "vae", "vaegan"):
        importlib.import_module(f"genclass_utils.models.{name}")


def load_generator(path):
    """Return the generator saved at path, checked against the generator contract, or raise ArtifactError."""
    from .artifacts import check_model_file, load_model

    check_model_file(path)  # a wrong path fails before TensorFlow is imported
    register_custom_objects()
    model = load_model(path)
    n_in = len(getattr(model, "inputs", None) or [])
    out_shape = tuple(model.outputs[0].shape) if n_in else ()
    # (N, H, W, C) images, or (N, T, H, W, C) clips and volumes (notebooks/09_clips_and_volumes).
    if n_in not in (1, 2) or len(model.inputs[0].shape) != 2 or len(out_shape) not in (4, 5):
        raise ArtifactError(f"{path} is not a generator: expected inputs z (latent_dim,) "
                            "[+ int32 label] and an image output (H, W, C) or a clip or volume "
                            "output (T, H, W, C); got inputs "
                            f"{[tuple(t.shape) for t in model.inputs] if n_in else []} and output "
                            f"{out_shape}")
    return model


def n_classes_of(generator) -> int:
    """Return the number of classes of a conditional generator (from its label embedding)."""
    def walk(model):
        for layer in getattr(model, "layers", []):
            yield layer
            yield from walk(layer)

    sizes = set()
    for layer in walk(generator):
        kind = layer.__class__.__name__
        if kind == "Embedding":
            sizes.add(int(layer.input_dim))
        elif kind == "CategoryEncoding":
            sizes.add(int(layer.num_tokens))
    if len(sizes) == 1:
        return sizes.pop()
    raise ArtifactError(f"{generator.name}: cannot tell how many classes the label input takes "
                        f"(label layers found sizes {sorted(sizes)})")


def main(argv: list[str] | None = None) -> int:
    """Write n samples of a saved generator to an .npz (images uint8 NHWC or NTHWC [+ labels]); return 0."""
    from pathlib import Path

    from .errors import argument_parser
    from .files import atomic_path, check_writable

    parser = argument_parser(
        prog="python -m genclass_utils sample",
        description="Write samples of a saved generator (.keras) to an .npz file: 'images' "
                    "uint8 (n, H, W, C), or (n, T, H, W, C) for a clip or volume generator, and, for a "
                    "conditional model, 'labels' int64 (n,).")
    parser.add_argument("--model", required=True, help="path to a saved generator (.keras)")
    parser.add_argument("--n", type=int, default=1000, help="number of images (default 1000)")
    parser.add_argument("--out", required=True, help="output .npz path")
    parser.add_argument("--label", type=int, default=None,
                        help="class of every image (conditional models; default: cycle classes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent noise (0..2**32-1)")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    # Every argument and the output path are checked before the model is loaded.
    n = check_count(args.n, "--n")
    check_seed(args.seed, "--seed")
    _check_batch_size(args.batch_size)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError(f"--out must end in .npz, got {out}")
    check_writable(out, create=False)  # its folders are made only when the samples exist
    gen = load_generator(args.model)
    labels = None
    if is_conditional(gen):
        k = n_classes_of(gen)
        if args.label is None:
            labels = cycle_labels(n, k)
        elif not 0 <= args.label < k:
            raise InputError(f"--label must be in 0..{k - 1} for this model, got {args.label}")
        else:
            labels = np.full(n, args.label, dtype=np.int32)
    elif args.label is not None:
        raise InputError("--label given but this generator is not conditional")
    images = generate(gen, n, labels=labels, seed=args.seed, batch_size=args.batch_size)
    arrays = {"images": images}
    if labels is not None:
        arrays["labels"] = labels.astype(np.int64)
    with atomic_path(out, suffix=".tmp.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    extra = f" and labels {np.bincount(labels).tolist()}" if labels is not None else ""
    print(f"wrote {out}: images {images.shape} {images.dtype}{extra}")
    return 0
