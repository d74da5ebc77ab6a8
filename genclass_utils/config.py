"""Profiles (smoke, cpu, gpu), their resolution, and the notebook setup call.

Every chapter reads its budgets from the profile (``cfg.epochs("gan")``) instead of
branching on the profile's name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .errors import ConfigError

# Where the package's code lives: the repository root in a checkout, site-packages otherwise.
ROOT = Path(__file__).resolve().parent.parent


def checkout_root() -> Path | None:
    """Return the repository root when the package runs from a checkout of the course, else None."""
    if (ROOT / "pyproject.toml").is_file() and (ROOT / "notebooks").is_dir():
        return ROOT
    return None


def user_home() -> Path:
    """Return the per-user folder for trained models, results and downloads outside a checkout."""
    try:
        from platformdirs import user_cache_path
    except ImportError:  # platformdirs is optional; its Linux answer is this one
        return Path.home() / ".cache" / "genclass"
    return user_cache_path("genclass", appauthor=False)


def home() -> Path:
    """Return the one root of every written file: $GENCLASS_HOME, else the checkout, else per-user.

    artifacts/, results/, data/ (downloads) and _build/results/smoke/ live under it; each keeps
    its own override (GENCLASS_ARTIFACTS, GENCLASS_DATA). It is never inside an installed package.
    """
    env = os.environ.get("GENCLASS_HOME", "").strip()
    if env:
        return Path(env).expanduser().resolve()
    repo = checkout_root()
    return repo if repo is not None else user_home().resolve()

DATASETS = ("fashion_mnist", "mnist", "cifar10")


def _ro(d: dict) -> Mapping:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class Profile:
    """A compute budget: epochs, batch sizes and sample counts per kind of model or study."""

    name: str
    description: str
    epochs_by_kind: Mapping[str, int]
    batch_by_kind: Mapping[str, int]
    samples_by_kind: Mapping[str, int]
    # Cap on the number of real training images a notebook uses (None = all of them).
    max_train: int | None = None
    # Cap on the test images that data.load_test returns in a run under GENCLASS_PROFILE (a
    # seeded, class-balanced draw; None = all of them). Only smoke sets one.
    max_test: int | None = None
    # Number of seeds for repeated experiments (mean and std over seeds).
    n_seeds: int = 3
    # Keras verbosity for fit(): 0 silent, 2 one line per epoch.
    verbose: int = 2
    default_batch: int = 128
    # Wall-time budget of each chapter in seconds, keyed by the notebook's slug (its file stem
    # without the number), for a run from an empty artifacts/ folder; the results page lists it.
    chapter_seconds: Mapping[str, int] = field(default_factory=lambda: _ro({}))
    # Budget of the whole book from scratch in seconds (None: no promise).
    book_seconds: int | None = None
    # Width (filters of the first stage) of a kind of model where the profile narrows it; a
    # kind not listed keeps its architecture's default (smoke narrows the evaluator, whose
    # inference over the test set otherwise dominates several smoke chapters).
    width_by_kind: Mapping[str, int] = field(default_factory=lambda: _ro({}))

    def _get(self, table: Mapping[str, int], kind: str, what: str) -> int:
        try:
            return table[kind]
        except KeyError:
            raise ConfigError(
                f"profile {self.name!r} has no {what} budget for {kind!r}; "
                f"known kinds: {', '.join(sorted(table))}"
            ) from None

    def epochs(self, kind: str) -> int:
        """Return the number of epochs this profile gives to a kind of model."""
        return self._get(self.epochs_by_kind, kind, "epochs")

    def batch_size(self, kind: str) -> int:
        """Return the batch size for a kind of model (the profile's default if unlisted)."""
        return self.batch_by_kind.get(kind, self.default_batch)

    def samples(self, kind: str) -> int:
        """Return how many images to generate or evaluate for a purpose (``"fid"``, ``"cas"``...)."""
        return self._get(self.samples_by_kind, kind, "sample")

    def width(self, kind: str) -> int | None:
        """Return the width this profile gives to a kind of model (None: the model's default)."""
        return self.width_by_kind.get(kind)

    def chapter_budget(self, notebook: str | Path) -> int | None:
        """Return a chapter's wall-time budget in seconds (None when the profile sets none)."""
        stem = Path(str(notebook)).stem
        slug = stem.split("_", 1)[1] if stem[:2].isdigit() and "_" in stem else stem
        return self.chapter_seconds.get(slug)


_EPOCH_KINDS = ("cnn", "rnn", "evaluator", "quick_classifier", "gan", "cgan", "vae",
                "cvae", "vae_short", "vaegan", "cas", "lowdata_generator",
                "lowdata_classifier", "robust", "autoencoder", "ssl_gan", "m2",
                "clip_generator", "clip_classifier", "volume_generator", "volume_classifier")

# Chapters in book order, by slug (the notebook's file stem without its number).
_CHAPTER_SLUGS = ("image_preprocessing", "cnn_basics", "gan", "vae", "vae_gan",
                  "evaluating_generators", "generated_data_classification", "semi_supervised",
                  "clips_and_volumes", "speed_scale_security")

SMOKE = Profile(
    name="smoke",
    description="proves that the code runs; numbers mean nothing",
    epochs_by_kind=_ro({k: 1 for k in _EPOCH_KINDS}),
    batch_by_kind=_ro({}),
    samples_by_kind=_ro({"fid": 500, "cas": 500, "grid": 100, "sensitivity": 500,
                         "tstr_real": 600, "rare_per_class": 60, "unlabeled_pool": 300, "test_eval": 500,
                         "bench_steps": 2, "bench_runs": 1, "bench_settings": 3, "bench_peer_steps": 2, "bench_peer_runs": 2, "robust_train": 1000, "fgsm": 300, "vaegan_train": 256,
                         "ssl_max_per_class": 10, "lowdata_max_per_class": 10, "ssl_steps": 3, "ssl_gan_steps": 3, "ssl_generative_seeds": 1,
                         "ssl_cvae_seeds": 1,
                         "clips_per_class": 6, "clips_val_per_class": 3, "clips_test_per_class": 6,
                         "volumes_per_class": 4, "volumes_val_per_class": 3, "volumes_test_per_class": 6}),
    max_train=1200,
    max_test=1000,
    n_seeds=1,
    verbose=0,
    default_batch=128,
    chapter_seconds=_ro({slug: 30 for slug in _CHAPTER_SLUGS}),
    width_by_kind=_ro({"evaluator": 8}),
)

CPU = Profile(
    name="cpu",
    description="the committed reference run on 2 CPU cores",
    epochs_by_kind=_ro({"cnn": 10, "rnn": 4, "evaluator": 15, "quick_classifier": 3,
                        "gan": 4, "cgan": 8, "vae": 4, "cvae": 8, "vae_short": 2, "vaegan": 16,
                        "cas": 5, "lowdata_generator": 60, "lowdata_classifier": 40, "robust": 2,
                        "autoencoder": 2, "ssl_gan": 20, "m2": 8,
                        "clip_generator": 40, "clip_classifier": 12,
                        "volume_generator": 40, "volume_classifier": 10}),
    batch_by_kind=_ro({"gan": 128, "cgan": 128, "vae": 128, "cvae": 128, "vae_short": 128,
                       "vaegan": 64, "autoencoder": 256}),
    samples_by_kind=_ro({"fid": 10000, "cas": 20000, "grid": 100, "sensitivity": 10000,
                         "tstr_real": 10000, "rare_per_class": 1000, "unlabeled_pool": 10000, "test_eval": 10000,
                         "bench_steps": 4, "bench_runs": 3, "bench_settings": 7, "bench_peer_steps": 8, "bench_peer_runs": 5, "robust_train": 6000, "fgsm": 2000, "vaegan_train": 10000,
                         "ssl_max_per_class": 100, "lowdata_max_per_class": 100, "ssl_steps": 50, "ssl_gan_steps": 250, "ssl_generative_seeds": 3,
                         "ssl_cvae_seeds": 3,
                         "clips_per_class": 50, "clips_val_per_class": 20, "clips_test_per_class": 100,
                         "volumes_per_class": 30, "volumes_val_per_class": 20, "volumes_test_per_class": 100}),
    max_train=None,
    n_seeds=3,
    verbose=2,
    default_batch=128,
    # 60 minutes for the book: 35 for chapters 1-7 and 10, 15 and 10 for chapters 8 and 9.
    chapter_seconds=_ro({"image_preprocessing": 75, "cnn_basics": 240, "gan": 600, "vae": 330,
                         "vae_gan": 120, "evaluating_generators": 150,
                         "generated_data_classification": 405, "speed_scale_security": 180,
                         "semi_supervised": 900, "clips_and_volumes": 600}),
    book_seconds=3600,
)

GPU = Profile(
    name="gpu",
    description="full quality on one GPU",
    epochs_by_kind=_ro({"cnn": 30, "rnn": 15, "evaluator": 30, "quick_classifier": 5,
                        "gan": 40, "cgan": 50, "vae": 40, "cvae": 50, "vae_short": 10, "vaegan": 40,
                        "cas": 20, "lowdata_generator": 200, "lowdata_classifier": 100,
                        "robust": 5, "autoencoder": 10, "ssl_gan": 100, "m2": 100,
                        "clip_generator": 150,
                        "clip_classifier": 60, "volume_generator": 150, "volume_classifier": 60}),
    batch_by_kind=_ro({}),
    samples_by_kind=_ro({"fid": 10000, "cas": 55000, "grid": 100, "sensitivity": 10000,
                         "tstr_real": 50000, "rare_per_class": 5000, "unlabeled_pool": 40000, "test_eval": 10000,
                         "bench_steps": 20, "bench_runs": 5, "bench_settings": 7, "bench_peer_steps": 20, "bench_peer_runs": 7, "robust_train": 55000, "fgsm": 10000, "vaegan_train": 55000,
                         "ssl_max_per_class": 100, "lowdata_max_per_class": 100, "ssl_steps": 200, "ssl_gan_steps": 250, "ssl_generative_seeds": 5,
                         "ssl_cvae_seeds": 5,
                         "clips_per_class": 200, "clips_val_per_class": 50, "clips_test_per_class": 400,
                         "volumes_per_class": 200, "volumes_val_per_class": 50, "volumes_test_per_class": 400}),
    max_train=None,
    n_seeds=5,
    verbose=2,
    default_batch=128,
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (SMOKE, CPU, GPU)})


def gpu_available() -> bool:
    """Return True when TensorFlow sees at least one GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def env_profile() -> Profile | None:
    """Return the profile GENCLASS_PROFILE names (the one a `make` run sets), else None."""
    name = os.environ.get("GENCLASS_PROFILE", "").strip().lower()
    return PROFILES.get(name)


def resolve_profile(profile: str | None = None) -> Profile:
    """Return the profile named by the argument, else GENCLASS_PROFILE, else gpu/cpu by hardware."""
    name = profile if profile is not None else os.environ.get("GENCLASS_PROFILE") or None
    if name is None:
        name = "gpu" if gpu_available() else "cpu"
    name = str(name).strip().lower()
    if name == "auto":
        name = "gpu" if gpu_available() else "cpu"
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]


def precision_for(profile: Profile) -> str:
    """Return the Keras dtype policy of a run: mixed_float16 for the gpu profile on a GPU, else float32."""
    return "mixed_float16" if profile.name == "gpu" and gpu_available() else "float32"


@contextlib.contextmanager
def precision_scope(cfg: RunConfig) -> Iterator[str]:
    """Build and train models under the run's dtype policy inside this block; restore it after.

    Only for models the conventions allow in mixed precision: outputs (logits, softmax) declared
    with dtype="float32" and trained through Model.fit, whose compile() wraps the optimizer in a
    LossScaleOptimizer. Custom train steps stay float32 until they scale their losses.
    """
    import keras

    policy = getattr(cfg, "precision", "float32")
    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(before)


def check_dataset(dataset: str) -> str:
    """Return the dataset's canonical name, or raise ConfigError listing the choices."""
    name = str(dataset).strip().lower().replace("-", "_")
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    return name


@dataclass
class RunConfig:
    """What a notebook needs to know about its run: profile, dataset, seed and paths."""

    profile: Profile
    dataset: str
    seed: int
    device: str
    started: float = field(default_factory=time.time)
    # Where artifacts/ and results/ go (see home()); resolved when the run is set up.
    root: Path = field(default_factory=home)
    # Keras dtype policy for the models that may use it (see precision_scope).
    precision: str = "float32"

    # Budgets are read through the profile so that notebooks never branch on its name.
    def epochs(self, kind: str) -> int:
        """Return the profile's epochs for a kind of model."""
        return self.profile.epochs(kind)

    def batch_size(self, kind: str) -> int:
        """Return the profile's batch size for a kind of model."""
        return self.profile.batch_size(kind)

    def samples(self, kind: str) -> int:
        """Return the profile's sample count for a purpose."""
        return self.profile.samples(kind)

    @property
    def verbose(self) -> int:
        """Return the Keras verbosity for this profile."""
        return self.profile.verbose

    @property
    def n_seeds(self) -> int:
        """Return how many seeds repeated experiments use."""
        return self.profile.n_seeds

    @property
    def artifacts_dir(self) -> Path:
        """Return artifacts/<profile>/ (or $GENCLASS_ARTIFACTS/<profile>/)."""
        base = os.environ.get("GENCLASS_ARTIFACTS")
        return (Path(base) if base else self.root / "artifacts") / self.profile.name

    @property
    def results_dir(self) -> Path:
        """Return where results go: results/<profile>/, or _build/results/smoke/ for smoke."""
        if self.profile.name == "smoke":
            return self.root / "_build" / "results" / "smoke"
        return self.root / "results" / self.profile.name

    def replace(self, **changes) -> RunConfig:
        """Return a copy with some fields changed (for instance another seed)."""
        return dataclasses.replace(self, **changes)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow/Keras; turn on op determinism on CPU."""
    import keras
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


def describe_device() -> str:
    """Return a short description of the compute device TensorFlow will use."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        except Exception:  # details are optional; the count is what matters
            name = "GPU"
        return f"{len(gpus)}x {name}"
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def setup(profile: str | None = None, dataset: str = "fashion_mnist", seed: int = 0,
          quiet: bool = False) -> RunConfig:
    """Seed everything, resolve the profile, set the figure style and return the run's config."""
    import keras
    import tensorflow as tf

    from . import plotting

    dataset = check_dataset(dataset)
    prof = resolve_profile(profile)
    seed_everything(int(seed))
    plotting.set_style()
    cfg = RunConfig(profile=prof, dataset=dataset, seed=int(seed), device=describe_device(),
                    precision=precision_for(prof))
    if not quiet:
        mixed = "" if cfg.precision == "float32" else f" | {cfg.precision}"
        print(f"genclass | profile={prof.name} dataset={dataset} seed={seed} | "
              f"{cfg.device}{mixed} | TF {tf.__version__} Keras {keras.__version__}")
    return cfg
