"""Sampling saved generators.

Every generator in the course is saved as a Functional Keras model with the same contract:
input ``z`` of shape (latent_dim,), plus an int32 ``label`` of shape () for a conditional model,
and output images in [0, 1] of shape (H, W, C). A decoder of a VAE is saved the same way.
"""

from __future__ import annotations

import numpy as np

from .data import check_labels
from .errors import InputError


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


def cycle_labels(n: int, n_classes: int) -> np.ndarray:
    """Return n labels cycling through 0..n_classes-1 (balanced up to one image per class)."""
    return (np.arange(n) % n_classes).astype(np.int32)


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
    """Return n images from a generator (uint8 by default), with z ~ N(0, I) drawn from seed."""
    if int(n) != n or n < 1:
        raise InputError(f"n must be a whole number of images, at least 1; got {n}")
    n = int(n)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent_dim(generator))).astype(np.float32)
    if is_conditional(generator):
        if labels is None:
            raise InputError("this generator is conditional: pass labels (one per image)")
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise InputError(f"labels must have shape ({n},); got {labels.shape}")
        k = n_classes(generator)
        labels = check_labels(labels, k if k is not None else np.iinfo(np.int32).max)
        labels = labels.astype(np.int32)
        out = _run(generator, [z, labels], batch_size)
    elif labels is not None:
        raise InputError("this generator is unconditional: it takes no labels")
    else:
        out = _run(generator, [z], batch_size)
    out = np.asarray(out, dtype=np.float32)
    if not np.isfinite(out).all():
        raise InputError("the generator produced NaN or Inf")
    if not as_uint8:
        return out
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def load_generator(path):
    """Return the generator saved at path, checked against the generator contract, or raise ArtifactError."""
    from .artifacts import load_model
    from .errors import ArtifactError

    model = load_model(path)
    n_in = len(getattr(model, "inputs", None) or [])
    out_shape = tuple(model.outputs[0].shape) if n_in else ()
    if n_in not in (1, 2) or len(model.inputs[0].shape) != 2 or len(out_shape) != 4:
        raise ArtifactError(f"{path} is not a generator: expected inputs z (latent_dim,) "
                            "[+ int32 label] and an image output (H, W, C); got inputs "
                            f"{[tuple(t.shape) for t in model.inputs] if n_in else []} and output "
                            f"{out_shape}")
    return model


def n_classes_of(generator) -> int:
    """Return the number of classes of a conditional generator (from its label embedding)."""
    from .errors import ArtifactError

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
    """Write n samples of a saved generator to an .npz (images uint8 NHWC [+ labels]); return 0."""
    import argparse
    from pathlib import Path

    from .files import atomic_path

    parser = argparse.ArgumentParser(
        prog="python -m genclass_utils sample",
        description="Write samples of a saved generator (.keras) to an .npz file: 'images' "
                    "uint8 (n, H, W, C) and, for a conditional model, 'labels' int64 (n,).")
    parser.add_argument("--model", required=True, help="path to a saved generator (.keras)")
    parser.add_argument("--n", type=int, default=1000, help="number of images (default 1000)")
    parser.add_argument("--out", required=True, help="output .npz path")
    parser.add_argument("--label", type=int, default=None,
                        help="class of every image (conditional models; default: cycle classes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent noise")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError(f"--out must end in .npz, got {out}")
    gen = load_generator(args.model)
    labels = None
    if is_conditional(gen):
        k = n_classes_of(gen)
        if args.label is None:
            labels = cycle_labels(args.n, k)
        elif not 0 <= args.label < k:
            raise InputError(f"--label must be in 0..{k - 1} for this model, got {args.label}")
        else:
            labels = np.full(args.n, args.label, dtype=np.int32)
    elif args.label is not None:
        raise InputError("--label given but this generator is not conditional")
    images = generate(gen, args.n, labels=labels, seed=args.seed, batch_size=args.batch_size)
    arrays = {"images": images}
    if labels is not None:
        arrays["labels"] = labels.astype(np.int64)
    with atomic_path(out, suffix=".tmp.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    extra = f" and labels {np.bincount(labels).tolist()}" if labels is not None else ""
    print(f"wrote {out}: images {images.shape} {images.dtype}{extra}")
    return 0
