"""Figures with one house style: image grids, training curves, confusion matrices, metric plots."""

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
    try:  # inside a notebook: inline PNG figures, even when MPLBACKEND=Agg is exported
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
            shell.run_line_magic("matplotlib", "inline")
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")
    except ImportError:  # IPython is optional outside notebooks
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


def _draw(ax, img: np.ndarray | None = None) -> None:
    """Show one display-ready image in ax with no ticks or frame (an empty cell if img is None)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if img is not None:
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                  vmin=0, vmax=255 if img.dtype == np.uint8 else 1)


def image_grid(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 10,
               title: str | None = None, size: float = 0.9, axes_titles_size: int = 7):
    """Plot images (uint8, [0,1] or [-1,1]) in a grid and return the figure."""
    x = _as_display(images)
    n = len(x)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    row_height = size + (0.2 if titles is not None else 0.0)  # room for each row's titles
    # constrained layout keeps every row's titles clear of the row above
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(ncols * size, nrows * row_height + (0.3 if title else 0)))
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
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
            _draw(axes[c, j], x[idx[j]] if j < len(idx) else None)
        axes[c, 0].set_ylabel(class_names[c], rotation=0, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.2)
    return fig


def labeled_rows(rows: Mapping[str, np.ndarray], ncols: int = 10, title: str | None = None,
                 size: float = 0.6):
    """Plot one row of images per entry of rows, labelled on the left; return the figure."""
    names = list(rows)
    if not names:
        raise InputError("rows is empty")
    fig, axes = plt.subplots(len(names), ncols, figsize=(ncols * size + 1.2, len(names) * size + 0.3),
                             squeeze=False)
    for r, name in enumerate(names):
        x = _as_display(rows[name])
        for j in range(ncols):
            _draw(axes[r, j], x[j] if j < len(x) else None)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.2)
    return fig


def distance_histograms(distances: Mapping[str, np.ndarray], reference: np.ndarray,
                        reference_label: str = "reference", bins: int = 40,
                        xlabel: str = "distance", title: str | None = None):
    """Plot one density histogram per entry of distances, each over the reference's; return the figure."""
    names = list(distances)
    if not names:
        raise InputError("distances is empty")
    ref = np.asarray(reference, dtype=float)
    hi = max(float(np.quantile(ref, 0.995)),
             *(float(np.quantile(np.asarray(d, dtype=float), 0.995)) for d in distances.values()))
    edges = np.linspace(0.0, hi, bins + 1)
    fig, axes = plt.subplots(1, len(names), figsize=(2.3 * len(names), 2.4), squeeze=False,
                             sharey=True)
    for ax, name in zip(axes.flat, names):
        ax.hist(ref, edges, density=True, alpha=0.5, color="gray", label=reference_label)
        ax.hist(np.asarray(distances[name], dtype=float), edges, density=True, histtype="step",
                lw=1.5, label=name)
        ax.set_xlabel(xlabel)
        ax.set_title(name)
        ax.legend(fontsize=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def metric_bars(table: Mapping[str, Mapping[str, float]], metrics: Sequence[str],
                reference: Mapping[str, float] | None = None, reference_label: str = "real data",
                title: str | None = None):
    """Plot one bar panel per metric across the rows of table, real-data reference dashed; return the figure."""
    names = list(table)
    if not names or not metrics:
        raise InputError("table and metrics must not be empty")
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.4 * len(metrics), 2.8), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        vals = [table[n].get(m) for n in names]
        ok = [i for i, v in enumerate(vals) if v is not None and np.isfinite(v)]
        ax.bar([names[i] for i in ok], [vals[i] for i in ok], color="C0")
        if reference and reference.get(m) is not None:
            ax.axhline(reference[m], color="k", ls="--", lw=1, label=reference_label)
            ax.legend(fontsize=6)
        ax.set_title(m)
        ax.tick_params(axis="x", rotation=45, labelsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def metric_curves(x: Sequence[float], curves: Mapping[str, Sequence[float]],
                  errors: Mapping[str, Sequence[float]] | None = None, xlabel: str = "",
                  ylabel: str = "", title: str | None = None, logx: bool = False, ax=None,
                  colors: Mapping[str, str] | None = None):
    """Plot one line (with optional error bars) per entry of curves against x; return the figure.

    colors maps a name to a Matplotlib colour, so that a name keeps its colour across panels.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 2.8))
    else:
        fig = ax.figure
    for name, ys in curves.items():
        err = None if errors is None else errors.get(name)
        ax.errorbar(list(x)[:len(ys)], ys, yerr=err, marker="o", ms=3, capsize=2, label=name,
                    color=None if colors is None else colors.get(name))
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=6)
    if title:
        ax.set_title(title)
    fig.tight_layout()
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
    ax.legend(fontsize=7, ncol=len(names) + 1)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def latent_map(z: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
               decoded: np.ndarray | None = None, extent: float = 3.0,
               title: str | None = None):
    """Plot 2-D latent codes coloured by class, and beside them a grid of decoded images.

    decoded is an (n, n, H, W, C) array: the images decoded at an n x n grid of points over
    [-extent, extent]^2, row 0 at the top (largest z2). Returns the figure.
    """
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != 2:
        raise InputError(f"z must have shape (N, 2); got {z.shape}")
    labels = np.asarray(labels)
    ncols = 1 if decoded is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5.0 * ncols, 4.4), squeeze=False)
    ax = axes[0, 0]
    cmap = plt.get_cmap("tab10", len(class_names))
    sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap=cmap, s=3, alpha=0.6,
                    vmin=-0.5, vmax=len(class_names) - 0.5)
    cbar = fig.colorbar(sc, ax=ax, ticks=range(len(class_names)))
    cbar.ax.set_yticklabels(class_names, fontsize=7)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title("posterior means, coloured by class")
    if decoded is not None:
        d = _as_display(np.asarray(decoded).reshape(-1, *np.asarray(decoded).shape[2:]))
        n = int(round(np.sqrt(len(d))))
        h, w = d.shape[1:3]
        canvas = d.reshape(n, n, h, w, -1).transpose(0, 2, 1, 3, 4).reshape(n * h, n * w, -1)
        ax2 = axes[0, 1]
        ax2.imshow(canvas[..., 0] if canvas.shape[-1] == 1 else canvas, cmap="gray",
                   extent=(-extent, extent, -extent, extent),
                   vmin=0, vmax=255 if canvas.dtype == np.uint8 else 1)
        ax2.grid(False)
        ax2.set_xlabel("$z_1$")
        ax2.set_ylabel("$z_2$")
        ax2.set_title("decoder output over the same plane")
    if title:
        fig.suptitle(title)


def grouped_bars(values: Mapping[str, Mapping[str, float]], title: str | None = None,
                 ylabel: str = "test accuracy", ylim: tuple[float, float] | None = None,
                 errors: Mapping[str, Mapping[str, float]] | None = None):
    """Plot {group: {bar: value}} as grouped bars (optional error bars); return the figure."""
    groups = list(values)
    bars = list(dict.fromkeys(b for g in groups for b in values[g]))
    width = 0.8 / max(len(bars), 1)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(groups) * max(1, len(bars)) * 0.5), 3.0))
    xs = np.arange(len(groups))
    for j, b in enumerate(bars):
        v = [values[g].get(b, np.nan) for g in groups]
        err = None if errors is None else [errors[g].get(b, 0.0) for g in groups]
        ax.bar(xs + (j - (len(bars) - 1) / 2) * width, v, width, yerr=err, capsize=3, label=b)
    ax.set_xticks(xs, groups)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=7, ncols=min(3, len(bars)))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def errorbar_curves(x: Sequence[float], series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                    xlabel: str, ylabel: str = "test accuracy", title: str | None = None,
                    logx: bool = False):
    """Plot {name: (means, stds)} against x with error bars; return the figure."""
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    for i, (name, (mean, std)) in enumerate(series.items()):
        offset = 1 + 0.02 * (i - (len(series) - 1) / 2) if logx else 0.0
        xs = np.asarray(x, float) * offset if logx else np.asarray(x, float)
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=name)
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(list(x), [str(v) for v in x])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def images_with_histograms(images: Sequence[np.ndarray], titles: Sequence[str],
                           title: str | None = None, bins: int = 32):
    """Plot each grayscale image above its intensity histogram (before/after views); return the figure."""
    n = len(images)
    if n != len(titles):
        raise InputError(f"{n} images but {len(titles)} titles")
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.2), squeeze=False,
                             gridspec_kw={"height_ratios": [1.6, 1]})
    for i, (img, name) in enumerate(zip(images, titles)):
        x = _as_display(np.asarray(img)[None])[0].astype(np.float32)
        x = x / 255.0 if np.asarray(img).dtype == np.uint8 else x
        axes[0, i].imshow(x[..., 0], cmap="gray", vmin=0, vmax=1)
        axes[0, i].axis("off")
        axes[0, i].set_title(name, fontsize=8)
        axes[1, i].hist(x.ravel(), bins=bins, range=(0, 1), color="0.3")
        axes[1, i].set_yticks([])
        axes[1, i].set_xticks([0, 0.5, 1])
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig


def feature_maps(maps: np.ndarray, n: int = 8, title: str | None = None, size: float = 0.9):
    """Plot the first n channels of one activation (H, W, C), each min-max scaled; return the figure."""
    m = np.asarray(maps, dtype=np.float32)
    if m.ndim == 4:
        m = m[0]
    if m.ndim != 3:
        raise InputError(f"feature maps must be (H, W, C) or (1, H, W, C); got shape {m.shape}")
    k = min(n, m.shape[-1])
    chans = np.moveaxis(m[..., :k], -1, 0)
    lo = chans.min(axis=(1, 2), keepdims=True)
    span = np.ptp(chans, axis=(1, 2), keepdims=True)
    scaled = (chans - lo) / np.where(span > 0, span, 1.0)
    return image_grid(scaled[..., None], [f"ch {i}" for i in range(k)], ncols=k, title=title,
                      size=size)


def clips_gif(clips: np.ndarray, titles: Sequence[str] | None = None, fps: int = 4,
              scale: int = 3) -> str:
    """Return an HTML <img> holding an animated GIF of clips (N, T, H, W, 1) side by side.

    The GIF is drawn with Pillow (no figure), scaled up by nearest neighbours, one clip per
    column and one GIF frame per clip frame; it loops forever. Explained in
    notebooks/09_clips_and_volumes.ipynb.
    """
    import base64
    import html
    import io

    from PIL import Image

    x = np.asarray(clips)
    if x.ndim != 5 or x.shape[-1] != 1:
        raise InputError(f"clips must have shape (N, T, H, W, 1); got {x.shape}")
    x = _as_display(x.reshape(-1, *x.shape[2:])).reshape(x.shape)
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    n, t, h, w, _ = x.shape
    gap = 2
    frames = []
    for k in range(t):
        row = np.full((h, n * (w + gap) - gap), 60, np.uint8)
        for i in range(n):
            row[:, i * (w + gap):i * (w + gap) + w] = x[i, k, ..., 0]
        frames.append(Image.fromarray(np.kron(row, np.ones((scale, scale), np.uint8))))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                   duration=int(1000 / max(int(fps), 1)), loop=0)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    caption = "" if titles is None else " | ".join(html.escape(str(s)) for s in titles)
    return (f'<figure><img src="data:image/gif;base64,{data}" alt="animated clips">'
            f"<figcaption>{caption}</figcaption></figure>")
