"""`python -m genclass_utils prepare`: train every model a later chapter loads, once, in order.

``make notebooks`` runs ``prepare --profile smoke --retrain-if-changed`` before nbval (it retrains
the models only when the package's code changed since they were trained), so that the notebooks,
spread over several pytest-xdist workers, load the chapters' models from artifacts/smoke/
instead of each worker training them again (the smoke budget is per notebook, dependencies
included). Every model is trained by the same load-or-train function its chapter calls, with
that chapter's default arguments, after the same seeding as the chapter's ``setup`` call.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from .errors import UsageError, argument_parser


def _builders() -> dict[str, Callable]:
    """Return model name -> function(cfg, retrain) that loads or trains it, in book order."""
    from . import artifacts, evaluator, feature_spaces
    from .models import gan, vae, vaegan

    def evaluator_model(cfg, retrain):
        if retrain:
            artifacts.path_for(cfg, "evaluator").unlink(missing_ok=True)
        return evaluator.load_or_train(cfg.dataset, cfg)

    def autoencoder(cfg, retrain):
        if retrain:
            artifacts.path_for(cfg, "autoencoder").unlink(missing_ok=True)
        return feature_spaces.load_or_train(cfg.dataset, cfg)

    def vaegan_variant(variant):
        def build(cfg, retrain):
            n = cfg.samples("vaegan_train")
            extra = {"gamma": 0.1} if variant == "vaegan" else {}
            return vaegan.load_or_train_parts(cfg, variant, n_train=n, retrain=retrain, **extra)
        return build

    return {
        "evaluator": evaluator_model,  # chapter 2
        "dcgan": lambda cfg, retrain: gan.load_or_train_dcgan(cfg, retrain=retrain),  # chapter 3
        "cgan": lambda cfg, retrain: gan.load_or_train_cgan(cfg, retrain=retrain),
        "vae": lambda cfg, retrain: vae.load_or_train_vae(cfg, retrain=retrain),  # chapter 4
        "cvae": lambda cfg, retrain: vae.load_or_train_cvae(cfg, retrain=retrain),
        "vaegan": vaegan_variant("vaegan"),  # chapter 5
        "pixelvae": vaegan_variant("pixelvae"),
        "autoencoder": autoencoder,  # chapter 6's second feature space
    }


MODELS = ("evaluator", "dcgan", "cgan", "vae", "cvae", "vaegan", "pixelvae", "autoencoder")


def code_key(profile: str, dataset: str, seed: int) -> str:
    """Return a hash of the package's source and records, the Keras and TensorFlow versions and
    the run's settings: what the saved models of a ``--retrain-if-changed`` run were trained by."""
    from importlib import metadata

    h = hashlib.sha256(f"{profile}|{dataset}|{seed}".encode())
    for lib in ("keras", "tensorflow"):
        try:
            h.update(f"{lib}={metadata.version(lib)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{lib}=absent".encode())
    root = Path(__file__).parent
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.json")]):  # code, records, manifest
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def prepare(profile: str = "smoke", dataset: str = "fashion_mnist", seed: int = 0,
            models: tuple[str, ...] = MODELS, retrain: bool = False,
            if_changed: bool = False) -> dict[str, float]:
    """Load or train each named model into artifacts/<profile>/; return the seconds each took.

    With ``if_changed``, every model is retrained only when the package's code (or the Keras or
    TensorFlow version) differs from the one that trained the saved models, as recorded in
    artifacts/<profile>/prepare.key by the last such run; otherwise the saved models are loaded.
    """
    from .config import setup
    from .files import atomic_write_text

    builders = _builders()
    seconds = {}
    key_file = Path(setup(profile=profile, dataset=dataset, seed=seed, quiet=True).artifacts_dir) / "prepare.key"
    if if_changed:
        key = code_key(profile, dataset, seed)
        same = key_file.exists() and key_file.read_text().strip() == key
        retrain = not same
        print(f"prepare | the code {'has not changed' if same else 'changed'} since the saved models "
              f"were trained: {'loading' if same else 'retraining'} them", flush=True)
        if retrain:
            key_file.unlink(missing_ok=True)  # an interrupted retraining must not look finished
    for name in models:
        cfg = setup(profile=profile, dataset=dataset, seed=seed, quiet=True)
        t0 = time.perf_counter()
        builders[name](cfg, retrain)
        seconds[name] = time.perf_counter() - t0
        print(f"prepare | {name}: {seconds[name]:.1f} s", flush=True)
    if if_changed and set(models) == set(MODELS):
        atomic_write_text(key_file, key + "\n")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, prepare the models and print the total; return 0."""
    ap = argument_parser(prog="python -m genclass_utils prepare",
                         description="train (or load) every model that a later chapter loads")
    ap.add_argument("--profile", default="smoke", help="smoke (default), cpu or gpu")
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain", action="store_true",
                    help="train every model again even when a saved one exists")
    ap.add_argument("--retrain-if-changed", action="store_true",
                    help="retrain every model only if the package's code changed since they were trained")
    ap.add_argument("models", nargs="*", metavar="MODEL",
                    help=f"which models (default: all of {', '.join(MODELS)})")
    args = ap.parse_args(argv)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        raise UsageError(f"unknown model {unknown[0]!r}; choose from: {', '.join(MODELS)}")
    t0 = time.perf_counter()
    prepare(args.profile, args.dataset, args.seed, tuple(args.models) or MODELS, args.retrain,
            if_changed=args.retrain_if_changed)
    print(f"prepare | {args.profile} models ready in {time.perf_counter() - t0:.0f} s")
    return 0
