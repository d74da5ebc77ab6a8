"""Settings chosen on the validation split, with the runs that chose them on record.

``python -m genclass_utils tune cgan`` trains chapter 3's conditional GAN once per setting
(cpu profile by default, seed 0, the training split only) and scores each on the *validation*
split in the evaluator's space: precision and recall (k = 3), label accuracy and the Fréchet
distance, beside the real floor (as many training images against the validation images). The
test split is not read. The record goes to ``results/<profile>/tuning/cgan.json``; the course's
own cpu record ships with the package (``genclass_utils/records/cgan_tuning_cpu.json``), so
chapter 3 can say which change gave its cGAN variety, and by how much, wherever it runs. A
record of your own, once made, is read first.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import config, data, evaluator, metrics
from .errors import ArtifactError, UsageError, argument_parser
from .files import atomic_write_text

#: The settings tried, as arguments of ``gan.train_gan`` (its budget: ``epochs``, ``batch_size``)
#: and ``gan.build_gan`` (the rest); each adds one change to a setting before it: the batch's
#: spread for the discriminator (minibatch standard deviation), two time-scale learning rates
#: (TTUR), the generator's mode-seeking term, spectral normalisation, then more steps for the
#: mode-seeking cGAN (half the batch, or twice the epochs), and the baseline at half the batch
#: as a control for those extra steps.
BUDGET_KEYS = ("epochs", "batch_size")
CGAN_CANDIDATES = {
    "baseline": {"minibatch_std": False},
    "minibatch_std": {"minibatch_std": True},
    "minibatch_std_ttur": {"minibatch_std": True, "d_lr": 4e-4, "g_lr": 1e-4},
    "mode_seeking": {"minibatch_std": False, "mode_seeking": 1.0},
    "spectral_norm": {"minibatch_std": False, "spectral_norm": True},
    "mode_seeking_batch_64": {"minibatch_std": False, "mode_seeking": 1.0, "batch_size": 64},
    "mode_seeking_8_epochs": {"minibatch_std": False, "mode_seeking": 1.0, "epochs": 8},
    "baseline_batch_64": {"minibatch_std": False, "batch_size": 64},  # the control, added last
}


def explicit(settings: dict) -> dict:
    """Return settings with every key of ``gan.CGAN_DEFAULTS`` they omit set to build_gan's default.

    A setting then means the same whatever the package's current defaults are: the baseline
    stays the baseline after a tuned value becomes the default.
    """
    import inspect

    from .models import gan as G

    params = inspect.signature(G.build_gan).parameters
    return {**{k: params[k].default for k in G.CGAN_DEFAULTS}, **settings}


def score_conditional(generator, judge: evaluator.Evaluator, f_ref: np.ndarray, n_classes: int,
                      seed: int = 0, k: int = 3) -> dict:
    """Return precision, recall, label accuracy and Fréchet distance of a conditional generator.

    It draws as many images as ``f_ref`` (the reference images' evaluator features) holds, the
    same number per class, and compares their features with ``f_ref``.
    """
    from . import sampling

    n = len(f_ref)
    labels = sampling.cycle_labels(n, n_classes)
    fake = sampling.generate(generator, n, labels=labels, seed=seed)
    f_fake = judge.embed(fake)
    return {**metrics.precision_recall(f_ref, f_fake, k=k),
            "label_accuracy": float(np.mean(judge.predict_labels(fake) == labels)),
            "fd": metrics.frechet_distance(f_fake, f_ref), "n": int(n), "k": int(k)}


def tune_cgan(cfg, settings: dict | None = None) -> dict:
    """Train the cGAN once per setting on cfg's training split; return each one's validation scores."""
    from .models import gan as G

    settings = CGAN_CANDIDATES if settings is None else settings
    splits = data.load_splits(cfg)
    judge = evaluator.load_or_train(cfg.dataset, cfg)
    n_classes = data.num_classes(cfg.dataset)
    f_ref = judge.embed(splits.x_val)  # once: the reference and the floor are the same for every setting
    f_floor = judge.embed(splits.x_train[:len(f_ref)])
    floor = {**metrics.precision_recall(f_ref, f_floor, k=3), "fd": metrics.frechet_distance(f_floor, f_ref)}
    rows = {}
    for name, kwargs in settings.items():
        t0 = time.perf_counter()
        gan, record = G.train_gan(cfg, conditional=True, verbose=0, **explicit(kwargs))
        seconds = time.perf_counter() - t0
        gen = G.export_generator(gan.generator)
        rows[name] = {"settings": kwargs, "epochs": record["epochs"],
                      "batch_size": record["batch_size"], "steps": record["epochs"] * (
                          record["n_train"] // record["batch_size"]), "train_seconds": seconds,
                      **score_conditional(gen, judge, f_ref, n_classes, seed=cfg.seed), "floor": floor}
        print(f"{name}: recall {rows[name]['recall']:.3f}, precision {rows[name]['precision']:.3f}, "
              f"label accuracy {rows[name]['label_accuracy']:.3f} ({seconds:.0f} s)", flush=True)
    return {"profile": cfg.profile.name, "dataset": cfg.dataset, "seed": cfg.seed,
            "reference": "validation split", "space": "evaluator", "settings": rows}


def record_path(model: str = "cgan", profile: str = "cpu") -> Path:
    """Return where the tuning record of a model lives: results/<profile>/tuning/<model>.json."""
    return config.home() / "results" / profile / "tuning" / f"{model}.json"


def shipped_record_path(model: str = "cgan", profile: str = "cpu") -> Path:
    """Return the path of the course's own record, which ships with the package."""
    return Path(__file__).parent / "records" / f"{model}_tuning_{profile}.json"


def load_record(model: str = "cgan", profile: str = "cpu") -> dict:
    """Return a tuning record (your own if you made one, else the course's), or raise ArtifactError."""
    path = record_path(model, profile)
    if not path.exists() and shipped_record_path(model, profile).exists():
        path = shipped_record_path(model, profile)
    try:
        record = json.loads(path.read_text())
        record["settings"]  # noqa: B018 - a record without settings is not a record
    except FileNotFoundError:
        raise ArtifactError(f"no tuning record at {path}; make it with `python -m genclass_utils "
                            f"tune {model} --profile {profile}`") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArtifactError(f"{path}: unreadable tuning record ({e})") from e
    return record


def choose(record: dict, min_precision: float = 0.8, min_label_accuracy: float = 0.85) -> str:
    """Return the setting with the highest validation recall among those that keep precision
    and label accuracy at or above the bars (among all settings if none does)."""
    rows = record["settings"]
    ok = [n for n, r in rows.items()
          if r["precision"] >= min_precision and r["label_accuracy"] >= min_label_accuracy]
    return max(ok or list(rows), key=lambda n: rows[n]["recall"])


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(prog="python -m genclass_utils tune",
                             description="Choose a generator's settings on the validation split.")
    parser.add_argument("model", choices=["cgan"])
    parser.add_argument("--profile", default="cpu", choices=sorted(config.PROFILES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, metavar="NAME[,NAME]",
                        help="train only these settings and add them to the existing record")
    args = parser.parse_args(argv)
    names = list(CGAN_CANDIDATES) if args.only is None else args.only.split(",")
    unknown = [n for n in names if n not in CGAN_CANDIDATES]
    if unknown:
        raise UsageError(f"unknown setting {unknown[0]!r}; known: {', '.join(CGAN_CANDIDATES)}")
    from . import setup

    cfg = setup(profile=args.profile, dataset="fashion_mnist", seed=args.seed)
    out = cfg.results_dir / "tuning" / "cgan.json"  # _build/results/smoke/ for smoke
    earlier = {}
    if args.only is not None and out.exists():
        earlier = json.loads(out.read_text())["settings"]
    result = tune_cgan(cfg, {n: CGAN_CANDIDATES[n] for n in names})
    merged = {**earlier, **result["settings"]}
    result["settings"] = {n: merged[n] for n in CGAN_CANDIDATES if n in merged}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(f"saved {out}")
    return 0
