"""`python -m genclass_utils prepare`: train every model a later chapter loads, once, in order.

``make notebooks`` runs ``prepare --profile smoke --retrain`` before nbval, so that the notebooks,
spread over several pytest-xdist workers, load the chapters' models from artifacts/smoke/
instead of each worker training them again (the smoke budget is per notebook, dependencies
included). Every model is trained by the same load-or-train function its chapter calls, with
that chapter's default arguments, after the same seeding as the chapter's ``setup`` call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

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


def prepare(profile: str = "smoke", dataset: str = "fashion_mnist", seed: int = 0,
            models: tuple[str, ...] = MODELS, retrain: bool = False) -> dict[str, float]:
    """Load or train each named model into artifacts/<profile>/; return the seconds each took."""
    from .config import setup

    builders = _builders()
    seconds = {}
    for name in models:
        cfg = setup(profile=profile, dataset=dataset, seed=seed, quiet=True)
        t0 = time.perf_counter()
        builders[name](cfg, retrain)
        seconds[name] = time.perf_counter() - t0
        print(f"prepare | {name}: {seconds[name]:.1f} s", flush=True)
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
    ap.add_argument("models", nargs="*", metavar="MODEL",
                    help=f"which models (default: all of {', '.join(MODELS)})")
    args = ap.parse_args(argv)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        raise UsageError(f"unknown model {unknown[0]!r}; choose from: {', '.join(MODELS)}")
    t0 = time.perf_counter()
    prepare(args.profile, args.dataset, args.seed, tuple(args.models) or MODELS, args.retrain)
    print(f"prepare | {args.profile} models ready in {time.perf_counter() - t0:.0f} s")
    return 0
