"""Figures with one house style: image grids, training curves, confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .errors import InputError


def set_style() -> None:
    """Apply the course's figure style (small PNG figures at about 100 dpi)."""
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "figure.figsize": (6.4, 3.6),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "image.cmap": "gray",
        "font.size": 9,
        "axes.titlesize": 10,
    })
    try:  # inline figures as PNG, not SVG: small notebooks and a small book
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except Exception:  # not inside IPython
        pass


def _as_display(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise InputError(f"images must be (N, H, W[, C]); got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    x = x.astype(np.float32)
    if x.min() < -0.01:  # [-1, 1] images
        x = (x + 1.0) / 2.0
    return np.clip(x, 0.0, 1.0)


def image_grid(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 10,
               title: str | None = None, size: float = 0.9, axes_titles_size: int = 7):
    """Plot images (uint8, [0,1] or [-1,1]) in a grid and return the figure."""
    x = _as_display(images)
    n = len(x)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size + (0.3 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = x[i]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                      vmin=0, vmax=255 if img.dtype == np.uint8 else 1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=axes_titles_size)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.2)
    return fig


def class_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
               per_class: int = 10, title: str | None = None):
    """Plot one row per class (per_class images each), labelled by class name; return the figure."""
    labels = np.asarray(labels)
    x = _as_display(images)
    k = len(class_names)
    fig, axes = plt.subplots(k, per_class, figsize=(per_class * 0.7 + 1.2, k * 0.7 + 0.3),
                             squeeze=False)
    for c in range(k):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(idx):
                img = x[idx[j]]
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                          vmin=0, vmax=255 if img.dtype == np.uint8 else 1)
        axes[c, 0].set_ylabel(class_names[c], rotation=0, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.2)
    return fig


def training_curves(history: Mapping[str, Sequence[float]] | object,
                    keys: Sequence[str] | None = None, title: str | None = None):
    """Plot per-epoch curves from a Keras History (or its .history dict); return the figure."""
    hist = getattr(history, "history", history)
    keys = list(keys or [k for k in hist if not k.startswith("val_") and k != "learning_rate"])
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
    for ax, k in zip(axes.flat, keys):
        epochs = np.arange(1, len(hist[k]) + 1)
        ax.plot(epochs, hist[k], marker=".", label="train")
        if f"val_{k}" in hist:
            ax.plot(epochs, hist[f"val_{k}"], marker=".", label="validation")
            ax.legend()
        ax.set_xlabel("epoch")
        ax.set_title(k)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                     title: str | None = None, normalize: bool = True):
    """Plot the confusion matrix (rows: true class, normalized per row); return the figure."""
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, display_labels=list(class_names), normalize="true" if normalize else None,
        values_format=".2f" if normalize else "d", cmap="Blues", ax=ax, colorbar=False,
        xticks_rotation=60, text_kw={"fontsize": 6})
    ax.grid(False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def epoch_grid(grids: np.ndarray, epochs: Sequence[int] | None = None, ncols: int = 10,
               title: str | None = None, size: float = 0.6):
    """Plot samples from fixed noise, one row per epoch (grids: (E, N, H, W, C)); return the figure."""
    grids = np.asarray(grids)
    if grids.ndim != 5:
        raise InputError(f"grids must be (epochs, N, H, W, C); got shape {grids.shape}")
    rows = len(grids)
    epochs = list(range(rows)) if epochs is None else list(epochs)
    ncols = min(ncols, grids.shape[1])
    fig, axes = plt.subplots(rows, ncols, figsize=(ncols * size + 0.8, rows * size + 0.3),
                             squeeze=False)
    for r in range(rows):
        x = _as_display(grids[r])
        for j in range(ncols):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            img = x[j]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                      vmin=0, vmax=255 if img.dtype == np.uint8 else 1)
        axes[r, 0].set_ylabel(f"epoch {epochs[r]}", rotation=0, ha="right", va="center",
                              fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.2)
    return fig


def class_histogram(counts: Mapping[str, np.ndarray], class_names: Sequence[str],
                    title: str | None = None):
    """Plot side-by-side bars of class proportions for several sets of images; return the figure."""
    names = list(counts)
    k = len(class_names)
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    for i, name in enumerate(names):
        c = np.asarray(counts[name], dtype=float)
        ax.bar(np.arange(k) + (i - (len(names) - 1) / 2) * width, c / c.sum(), width, label=name)
    ax.axhline(1.0 / k, color="k", lw=0.8, ls="--", label="uniform")
    ax.set_xticks(np.arange(k))
    ax.set_xticklabels(class_names, rotation=30, ha="right")
    ax.set_ylabel("fraction of images")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
