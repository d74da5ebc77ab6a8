"""Settings chosen on the validation split, with the runs that chose them on record.

``python -m genclass_utils tune vaegan`` does the same for chapter 5's VAE-GAN (and two
same-network pixel VAEs as references), scoring unconditional samples in two spaces, the
evaluator's and the autoencoder's: Fréchet distance, KID with its standard error, and in the
evaluator's space precision and recall.

``python -m genclass_utils tune cgan`` trains chapter 3's conditional GAN once per setting
(cpu profile by default, seed 0, the training split only) and scores each on the *validation*
split in the evaluator's space: precision and recall (k = 3), label accuracy and the Fréchet
distance, beside the real floor (as many training images against the validation images). The
test split is not read. The record goes to ``results/<profile>/tuning/cgan.json``; the course's
own cpu record ships with the package (``genclass_utils/records/cgan_tuning_cpu.json``), so
chapter 3 can say which change gave its cGAN variety, and by how much, wherever it runs. A
record of your own, once made, is read first.

GAN training is noisy: one run of a setting cannot tell two settings near a bar apart.
``tune cgan --only NAME[,NAME] --repeat-seed N`` trains those rows again with seed N for the
weights, noise and batch order (same split, same judges) and adds the runs to their rows; the
rule (:func:`choose`) then reads each setting's mean over its runs.
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
#: as a control for those extra steps. Every row names its budget: the cpu profile's budget when
#: the rows were first run (4 epochs, batch 128), not whatever the profile says now. The profile
#: adopts the chosen row's budget (batch 64 after the first tuning, 8 epochs at batch 128 after
#: the second), and a row that took the profile's budget would train at that budget and answer
#: another question than the one it was added for.
BUDGET_KEYS = ("epochs", "batch_size")
_CGAN_BUDGET = {"epochs": 4, "batch_size": 128}
CGAN_CANDIDATES = {
    "baseline": {"minibatch_std": False, **_CGAN_BUDGET},
    "minibatch_std": {"minibatch_std": True, **_CGAN_BUDGET},
    "minibatch_std_ttur": {"minibatch_std": True, "d_lr": 4e-4, "g_lr": 1e-4, **_CGAN_BUDGET},
    "mode_seeking": {"minibatch_std": False, "mode_seeking": 1.0, **_CGAN_BUDGET},
    "spectral_norm": {"minibatch_std": False, "spectral_norm": True, **_CGAN_BUDGET},
    "mode_seeking_batch_64": {"minibatch_std": False, "mode_seeking": 1.0, **_CGAN_BUDGET,
                              "batch_size": 64},
    "mode_seeking_8_epochs": {"minibatch_std": False, "mode_seeking": 1.0, **_CGAN_BUDGET,
                              "epochs": 8},
    "baseline_batch_64": {"minibatch_std": False, **_CGAN_BUDGET, "batch_size": 64},  # the control, added last
    # the control at the chosen row's budget, added after the second tuning kept mode_seeking_8_epochs
    "baseline_8_epochs": {"minibatch_std": False, **_CGAN_BUDGET, "epochs": 8},
}

#: The scores that a repeated run of a setting records, and that the rule reads as means.
REPEATED = ("recall", "precision", "label_accuracy", "fd", "train_seconds")


#: Chapter 5's VAE-GAN settings, as arguments of ``vaegan.build_vaegan`` (``variant``
#: "pixelvae" builds the same-network pixel VAE instead, with ``build_pixel_vae``'s arguments).
#: Each row changes one factor of the baseline, the chapter's first model (strided transposed
#: convolutions in the decoder, last weights), or adds one to a row before it.
VAEGAN_CANDIDATES = {
    "baseline": {"epochs": 8},
    "weight_averaging": {"ema": 0.99, "epochs": 8},
    "resize": {"upsample": "resize", "epochs": 8},
    "resize_weight_averaging": {"upsample": "resize", "ema": 0.99, "epochs": 8},
    "feature_norm": {"feature_norm": True, "epochs": 8},
    "feature_norm_resize_weight_averaging": {"feature_norm": True, "upsample": "resize",
                                             "ema": 0.99, "epochs": 8},
    "resize_weight_averaging_gamma_1": {"upsample": "resize", "ema": 0.99, "gamma": 1.0,
                                        "epochs": 8},
    "pixel_vae": {"variant": "pixelvae", "epochs": 8},
    "pixel_vae_resize_weight_averaging": {"variant": "pixelvae", "upsample": "resize",
                                          "ema": 0.99, "epochs": 8},
    # twice the epochs for the best setting and its pixel VAE, added after the rows above
    "resize_weight_averaging_16_epochs": {"upsample": "resize", "ema": 0.99, "epochs": 16},
    "pixel_vae_resize_weight_averaging_16_epochs": {"variant": "pixelvae", "upsample": "resize",
                                                    "ema": 0.99, "epochs": 16},
}
CANDIDATES = {"cgan": CGAN_CANDIDATES, "vaegan": VAEGAN_CANDIDATES}


def explicit(settings: dict) -> dict:
    """Return settings with every key of ``gan.CGAN_DEFAULTS`` they omit set to build_gan's default.

    A setting then means the same whatever the package's current defaults are: the baseline
    stays the baseline after a tuned value becomes the default.
    """
    import inspect

    from .models import gan as G

    params = inspect.signature(G.build_gan).parameters
    return {**{k: params[k].default for k in G.CGAN_DEFAULTS}, **settings}


def _remedies(settings: dict) -> list[str]:
    """Return the names of chapter 3's remedies for variety that a cGAN setting uses."""
    import inspect

    from .models import gan as G

    params = inspect.signature(G.build_gan).parameters
    s = {**{k: p.default for k, p in params.items()}, **settings}
    return [words for on, words in (
        (bool(s["minibatch_std"]), "the minibatch standard deviation"),
        ((s["d_lr"], s["g_lr"]) != (params["d_lr"].default, params["g_lr"].default),
         "two time-scale learning rates (TTUR)"),
        (float(s["mode_seeking"]) > 0, "the mode-seeking term"),
        (bool(s["spectral_norm"]), "spectral normalisation")) if on]


def describe(settings: dict) -> str:
    """Return in words which of chapter 3's remedies for variety a cGAN setting uses."""
    return " and ".join(_remedies(settings)) or "none of the remedies"


def with_remedies(settings: dict) -> str:
    """Return "with <remedies>" for a cGAN setting, or "without any of chapter 3's remedies
    for variety" for one that uses none (a phrase for the chapters' text)."""
    parts = _remedies(settings)
    return f"with {' and '.join(parts)}" if parts else "without any of chapter 3's remedies for variety"


def budget_against(cfg, kind: str, other: str, other_name: str) -> str:
    """Return how many updates a model of ``kind`` makes against one of ``other`` under cfg's
    profile, in words: "twice the DCGAN's updates (8 epochs at batch 128; the DCGAN: 4 at 128)"."""
    mine = (cfg.epochs(kind), cfg.batch_size(kind))
    theirs = (cfg.epochs(other), cfg.batch_size(other))
    ratio = (mine[0] / mine[1]) / (theirs[0] / theirs[1])  # updates per training image, relative
    words = ("as many updates as " + other_name if round(ratio, 2) == 1 else
             f"twice {other_name}'s updates" if round(ratio, 2) == 2 else
             f"{ratio:.2g} times {other_name}'s updates")
    return (f"{words} ({mine[0]} epoch{'s' * (mine[0] != 1)} at batch {mine[1]}; "
            f"{other_name}: {theirs[0]} at {theirs[1]})")


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


def fingerprint(network) -> str:
    """Return a short SHA-256 of a judge network's weights (an Evaluator, an AutoencoderSpace or
    a Keras model): two trainings of the same recipe that differ in any weight differ here."""
    import hashlib

    model = getattr(network, "model", network)
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def judges_match(record: dict, spaces: dict) -> bool | None:
    """Return whether a tuning record was scored by exactly these judge networks ({space: network}).

    None when the record names no judges (records made before fingerprints were kept), so that
    a chapter can say it cannot tell.
    """
    judges = record.get("judges")
    if not judges:
        return None
    return all(judges.get(name) == fingerprint(net) for name, net in spaces.items())


def judges_sentence(record: dict, spaces: dict) -> str:
    """Return, for a chapter's prose, which networks scored a tuning record's rows.

    ``spaces`` maps each space's name to the judge network the chapter loaded; the answer says
    whether the record's scores are on the same scale as the chapter's (see :func:`judges_match`).
    """
    match = judges_match(record, spaces)
    noun = "network" if len(spaces) == 1 else "networks"
    if match:
        return (f"the very {noun} loaded in this chapter, so the record's scores and the "
                "chapter's are on one scale")
    caveat = ("the record's distances are on another scale than the chapter's: read the record's "
              "ranking of the settings, not its numbers against the chapter's, and a setting close "
              f"to a bar could land on the other side of it under the {noun} loaded here")
    if match is False:
        return (f"an earlier training of the same {noun} (the record's fingerprint of the weights "
                f"differs from that of the {noun} loaded here; training on a CPU is not repeatable "
                f"bit for bit), so {caveat}")
    article = "a " if len(spaces) == 1 else ""
    return (f"{article}{noun} that the record does not identify (it keeps no fingerprint of the "
            f"weights), which need not be the {noun} loaded here: training on a CPU is not "
            f"repeatable bit for bit, and if the two differ, {caveat}")


def judges(cfg, model: str) -> dict:
    """Return {space: network} that score a model's tuning runs: the evaluator, and for the
    VAE-GAN also the autoencoder (each loaded, or trained if absent)."""
    from . import feature_spaces

    spaces = {"evaluator": evaluator.load_or_train(cfg.dataset, cfg)}
    if model == "vaegan":
        spaces["autoencoder"] = feature_spaces.load_or_train(cfg.dataset, cfg)
    return spaces


def tune_cgan(cfg, settings: dict | None = None, spaces: dict | None = None,
              train_seed: int | None = None) -> dict:
    """Train the cGAN once per setting on cfg's training split; return each one's validation scores.

    ``train_seed`` repeats the runs with another seed for the weights, the noise and the order of
    the batches, on the same split (cfg's) and scored by the same judges: what differs between
    two seeds is the run-to-run noise of the training alone.
    """
    from .models import gan as G

    settings = CGAN_CANDIDATES if settings is None else settings
    run_cfg = cfg if train_seed is None else cfg.replace(seed=data.check_seed(train_seed))
    splits = data.load_splits(cfg)
    judge = (spaces or judges(cfg, "cgan"))["evaluator"]
    n_classes = data.num_classes(cfg.dataset)
    f_ref = judge.embed(splits.x_val)  # once: the reference and the floor are the same for every setting
    f_floor = judge.embed(splits.x_train[:len(f_ref)])
    floor = {**metrics.precision_recall(f_ref, f_floor, k=3), "fd": metrics.frechet_distance(f_floor, f_ref)}
    rows = {}
    for name, kwargs in settings.items():
        t0 = time.perf_counter()
        gan, record = G.train_gan(run_cfg, conditional=True, x=splits.x_train, y=splits.y_train,
                                  verbose=0, **explicit(kwargs))
        seconds = time.perf_counter() - t0
        gen = G.export_generator(gan.generator)
        rows[name] = {"settings": kwargs, "epochs": record["epochs"],
                      "batch_size": record["batch_size"], "steps": record["epochs"] * (
                          record["n_train"] // record["batch_size"]), "train_seconds": seconds,
                      **score_conditional(gen, judge, f_ref, n_classes, seed=run_cfg.seed),
                      "floor": floor}
        print(f"{name}: recall {rows[name]['recall']:.3f}, precision {rows[name]['precision']:.3f}, "
              f"label accuracy {rows[name]['label_accuracy']:.3f} ({seconds:.0f} s)", flush=True)
    return {"profile": cfg.profile.name, "dataset": cfg.dataset, "seed": run_cfg.seed,
            "reference": "validation split", "space": "evaluator",
            "judges": {"evaluator": fingerprint(judge)}, "settings": rows}


def score_unconditional(generator, spaces: dict, refs: dict, n: int, seed: int = 100,
                        k: int = 3, subset_size: int = 1000) -> dict:
    """Return the Fréchet distance and KID (with its standard error) of n samples in each space,
    and precision and recall (k nearest neighbours) in the evaluator's space.

    spaces maps a name to an object with ``embed``; refs maps the same names to the reference
    images' features there. Also the samples' mean Laplacian variance (``sharpness``).
    """
    from . import sampling

    fake = sampling.generate(generator, n, seed=seed)
    row = {"n": int(n), "k": int(k), "sharpness": float(metrics.laplacian_variance(fake).mean()),
           "fd": {}, "kid": {}, "kid_se": {}}
    for name, space in spaces.items():
        f_fake = space.embed(fake)
        row["fd"][name] = metrics.frechet_distance(f_fake, refs[name])
        kid = metrics.kernel_distance(refs[name], f_fake, subset_size=subset_size)
        row["kid"][name], row["kid_se"][name] = kid["kid"], kid["kid_se"]
        if name == "evaluator":
            row.update(metrics.precision_recall(refs[name], f_fake, k=k))
    return row


def tune_vaegan(cfg, settings: dict | None = None, spaces: dict | None = None) -> dict:
    """Train chapter 5's VAE-GAN (or pixel VAE) once per setting on its training images; return
    each one's validation scores in the evaluator's and the autoencoder's spaces."""
    import keras

    from .models import vaegan as V

    settings = VAEGAN_CANDIDATES if settings is None else settings
    splits = data.load_splits(cfg)
    spaces = spaces or judges(cfg, "vaegan")
    refs = {name: space.embed(splits.x_val) for name, space in spaces.items()}
    n_train = cfg.samples("vaegan_train")
    x = V.training_images(cfg, n_train)
    rows = {}
    for name, kwargs in settings.items():
        kwargs = dict(kwargs)
        variant = kwargs.pop("variant", "vaegan")
        epochs = kwargs.pop("epochs", None)  # a budget key: None is the profile's
        t0 = time.perf_counter()
        keras.utils.set_random_seed(cfg.seed)  # the same initial weights for every setting
        if variant == "pixelvae":
            model = V.build_pixel_vae(x.shape[1:], seed=cfg.seed, **kwargs)
        else:
            model = V.build_vaegan(x.shape[1:], seed=cfg.seed, **kwargs)
        info = V.fit(model, cfg, x, epochs=epochs, name=f"tune_{variant}")
        seconds = time.perf_counter() - t0
        dec = model.decoder if variant == "vaegan" else V.as_generator(model.decoder)
        history = info["history"]
        rows[name] = {"settings": settings[name], "variant": variant, "epochs": info["epochs"],
                      "n_train": info["n_train"], "steps": info["epochs"] * (
                          len(x) // cfg.batch_size("vaegan")), "train_seconds": seconds,
                      "kl": history["kl"][-1],
                      "recon_mse": V.recon_mse(model.encoder, dec, splits.x_val),
                      **score_unconditional(dec, spaces, refs, len(splits.x_val))}
        print(f"{name}: Fréchet distance {rows[name]['fd']['evaluator']:.1f} (evaluator), "
              f"{rows[name]['fd']['autoencoder']:.2f} (autoencoder); recall "
              f"{rows[name]['recall']:.3f} ({seconds:.0f} s)", flush=True)
    return {"profile": cfg.profile.name, "dataset": cfg.dataset, "seed": cfg.seed,
            "reference": "validation split", "spaces": list(spaces),
            "judges": {name: fingerprint(space) for name, space in spaces.items()}, "settings": rows}


TUNERS = {"cgan": tune_cgan, "vaegan": tune_vaegan}


def choose_vaegan(record: dict) -> str:
    """Return the VAE-GAN setting with the lowest validation Fréchet distance in the evaluator's
    space (the pixel-VAE rows are references, never chosen)."""
    rows = {n: r for n, r in record["settings"].items() if r.get("variant", "vaegan") == "vaegan"}
    if not rows:
        raise ArtifactError("the record has no VAE-GAN setting to choose from")
    return min(rows, key=lambda n: rows[n]["fd"]["evaluator"])


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


def earlier_record(model: str = "cgan", profile: str = "cpu") -> dict | None:
    """Return the course's earlier record of a model's tuning, scored by an earlier training of
    the judge networks (kept to show how a choice near a bar moved with its judge), or None."""
    shipped = shipped_record_path(model, profile)
    path = shipped.with_name(f"{shipped.stem}_earlier_judge.json")
    return json.loads(path.read_text()) if path.exists() else None


def runs(row: dict) -> dict:
    """Return {seed: scores} of every run of a setting: the record's own seed, then its repeats."""
    first = {key: row[key] for key in REPEATED if key in row}
    return {int(row.get("seed", 0)): first,
            **{int(seed): scores for seed, scores in row.get("repeats", {}).items()}}


def summary(row: dict) -> dict:
    """Return {score: {"mean", "std", "n_seeds"}} of a setting over its runs (std 0 for one run),
    in the form that ``experiments.verdict`` compares."""
    by_seed = runs(row)
    out = {}
    for key in REPEATED:
        values = np.array([scores[key] for scores in by_seed.values() if key in scores], float)
        if len(values):
            out[key] = {"mean": float(values.mean()), "n_seeds": int(len(values)),
                        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    return out


def compare_runs(row_a: dict, row_b: dict, key: str, confidence: float = 0.95) -> dict:
    """Return how setting a's mean of one score differs from setting b's, over their runs.

    The difference of the means with its standard error sqrt(s_a²/n_a + s_b²/n_b), and Welch's
    t-test (scipy): t, its degrees of freedom, the two-sided p-value and the ``confidence``
    interval of the difference. ``verdict`` is "above" or "below" when that interval excludes
    zero, "within the noise" when it does not, and "not testable" when a side has one run.
    """
    from scipy import stats

    a = np.array([r[key] for r in runs(row_a).values()], float)
    b = np.array([r[key] for r in runs(row_b).values()], float)
    d = float(a.mean() - b.mean())
    if min(len(a), len(b)) < 2:
        return {"difference": d, "se": float("nan"), "t": float("nan"), "df": float("nan"),
                "p": float("nan"), "low": float("nan"), "high": float("nan"), "verdict": "not testable"}
    test = stats.ttest_ind(a, b, equal_var=False)
    low, high = test.confidence_interval(confidence)
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    verdict = "within the noise" if low <= 0 <= high else "above" if d > 0 else "below"
    return {"difference": d, "se": se, "t": float(test.statistic), "df": float(test.df),
            "p": float(test.pvalue), "low": float(low), "high": float(high), "verdict": verdict}


def choose(record: dict, min_precision: float = 0.8, min_label_accuracy: float = 0.85) -> str:
    """Return the setting with the highest validation recall among those that keep precision
    and label accuracy at or above the bars (among all settings if none does).

    A setting that was run with several seeds is judged on its means over them.
    """
    means = {n: {k: v["mean"] for k, v in summary(r).items()} for n, r in record["settings"].items()}
    ok = [n for n, m in means.items()
          if m["precision"] >= min_precision and m["label_accuracy"] >= min_label_accuracy]
    return max(ok or list(means), key=lambda n: means[n]["recall"])


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(prog="python -m genclass_utils tune",
                             description="Choose a generator's settings on the validation split.")
    parser.add_argument("model", choices=sorted(CANDIDATES))
    parser.add_argument("--profile", default="cpu", choices=sorted(config.PROFILES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, metavar="NAME[,NAME]",
                        help="train only these settings and add them to the existing record")
    parser.add_argument("--repeat-seed", type=int, default=None, metavar="N",
                        help="train the --only settings again with seed N (same split, same judges) "
                             "and add the runs to their rows; the choice reads the means (cgan only)")
    args = parser.parse_args(argv)
    if args.repeat_seed is not None and (args.model != "cgan" or args.only is None):
        raise UsageError("--repeat-seed repeats chosen rows of the cgan record: give --only NAME[,NAME]")
    candidates = CANDIDATES[args.model]
    names = list(candidates) if args.only is None else args.only.split(",")
    unknown = [n for n in names if n not in candidates]
    if unknown:
        raise UsageError(f"unknown setting {unknown[0]!r}; known: {', '.join(candidates)}")
    from . import setup

    cfg = setup(profile=args.profile, dataset="fashion_mnist", seed=args.seed)
    out = cfg.results_dir / "tuning" / f"{args.model}.json"  # _build/results/smoke/ for smoke
    earlier = {}
    spaces = judges(cfg, args.model)
    if args.only is not None and out.exists():
        before = json.loads(out.read_text())
        if judges_match(before, spaces) is not True:  # other judges, or a record that names none
            raise UsageError(f"the settings already in {out} were scored by other judge networks "
                             "(another training of the evaluator or autoencoder), so new rows cannot "
                             "join them; run every setting again (leave out --only)")
        earlier = before["settings"]
    chosen = {n: candidates[n] for n in names}
    if args.repeat_seed is not None:
        missing = [n for n in names if n not in earlier]
        if missing:
            raise UsageError(f"{missing[0]!r} has no first run in {out} to repeat; run it with "
                             f"--only {missing[0]} first")
        if args.repeat_seed == args.seed:
            raise UsageError(f"--repeat-seed must differ from the record's seed ({args.seed})")
        result = tune_cgan(cfg, chosen, spaces, train_seed=args.repeat_seed)
        for n, row in result["settings"].items():
            earlier[n].setdefault("repeats", {})[str(args.repeat_seed)] = {
                key: row[key] for key in (*REPEATED, "steps")}
        result = {**before, "settings": earlier}
    else:
        result = TUNERS[args.model](cfg, chosen, spaces)
    merged = {**earlier, **result["settings"]}
    result["settings"] = {n: merged[n] for n in candidates if n in merged}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(f"saved {out}")
    return 0
