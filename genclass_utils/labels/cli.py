"""`python -m genclass_utils label --db FILE VERB ...`: the label store's command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError, UsageError, argument_parser
from .store import SOURCES, LabelStore

EXAMPLES = {
    "add": ("add images from a folder of PNG/JPEG files or an .npz ('images', optional 'labels')",
            "genclass label --db labels.sqlite add photos/ --classes cat,dog --size 28 --channels 1\n"
            "genclass label --db labels.sqlite add pool.npz --classes fashion_mnist"),
    "predict": ("predict every image not yet predicted by a saved classifier (resumable)",
                "genclass label --db labels.sqlite predict --model artifacts/cpu/evaluator_fashion_mnist.keras"),
    "accept": ("turn predictions at or above a confidence into 'auto' labels",
               "genclass label --db labels.sqlite accept --threshold 0.95"),
    "review": ("write the N least confident images for a person (.csv, or .json for Label Studio)",
               "genclass label --db labels.sqlite review --n 50 --export review.csv\n"
               "genclass label --db labels.sqlite review --n 50 --export review.json"),
    "import": ("read corrected labels back from a review .csv or a Label Studio export .json",
               "genclass label --db labels.sqlite import review.csv\n"
               "genclass label --db labels.sqlite import project-1-at-2026-01-01.json"),
    "export": ("write the current labels as a training set, with counts per class and source",
               "genclass label --db labels.sqlite export --format npz --out labels.npz\n"
               "genclass label --db labels.sqlite export --format csv --out labels.csv --source human,import"),
    "stats": ("print counts per class, the confidence histogram and auto/human agreement",
              "genclass label --db labels.sqlite stats"),
}
PROG = "python -m genclass_utils label"


def _classes(value: str | None):
    """Return class names from a dataset name or a comma-separated list (None stays None)."""
    if value is None:
        return None
    from ..data import CLASS_NAMES

    if value in CLASS_NAMES:
        return CLASS_NAMES[value]
    return [c.strip() for c in value.split(",")]


def _size(value: str) -> tuple[int, int]:
    parts = value.lower().split("x")
    try:
        hw = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size takes N or HxW, got {value!r}") from None
    if len(hw) not in (1, 2) or min(hw) < 1:
        raise argparse.ArgumentTypeError(f"--size takes N or HxW, got {value!r}")
    return (hw[0], hw[-1])


def parser() -> argparse.ArgumentParser:
    """Return the argument parser, with an example for each verb in its help."""
    raw = argparse.RawDescriptionHelpFormatter
    epilog = "examples:\n" + "\n".join(
        f"  {line}" for _v, (_h, ex) in EXAMPLES.items() for line in ex.splitlines())
    ap = argument_parser(
        prog=PROG, formatter_class=raw, epilog=epilog,
        description="Keep images, a classifier's predictions and labels in one SQLite file; "
                    "labels are never overwritten, a new one supersedes the old.")
    ap.add_argument("--db", required=True, help="the label store (a SQLite file; created if absent)")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="seconds to wait for another writer (default 10)")
    sub = ap.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name):
        text, ex = EXAMPLES[name]
        return sub.add_parser(name, help=text, description=text, formatter_class=raw,
                              epilog="example:\n" + "\n".join(f"  {e}" for e in ex.splitlines()))

    p = verb("add")
    p.add_argument("images", help="a folder of .png/.jpg/.jpeg files, or an .npz file")
    p.add_argument("--classes", help="class names, comma-separated, or a dataset name "
                   "(fashion_mnist, mnist, cifar10); needed the first time")
    p.add_argument("--channels", type=int, choices=(1, 3),
                   help="convert files to grey (1) or RGB (3); default: as the file is")
    p.add_argument("--size", type=_size, help="resize files to N or HxW pixels")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out files that are not readable images instead of stopping")
    p = verb("predict")
    p.add_argument("--model", required=True, help="a saved classifier (.keras)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--name", help="the model's name in the store (default: the file's stem)")
    p.add_argument("--logits", action="store_true",
                   help="the model outputs logits, not probabilities")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = verb("accept")
    p.add_argument("--threshold", type=float, required=True, help="confidence in [0, 1]")
    p.add_argument("--model", help="model name or .keras file (default: the latest that predicted)")
    p = verb("review")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--export", required=True, help="review.csv or review.json (Label Studio)")
    p.add_argument("--model", help="model name or .keras file (default: the latest that predicted)")
    p = verb("import")
    p.add_argument("file", help="a review .csv with a filled 'label' column, or a Label Studio "
                   "export .json")
    p.add_argument("--who", help="who labelled (default: Label Studio's annotator, else your "
                   "login name)")
    p = verb("export")
    p.add_argument("--format", choices=("npz", "csv"), required=True)
    p.add_argument("--out", required=True, help="output file (.npz or .csv)")
    p.add_argument("--source", help=f"only these label sources, comma-separated ({', '.join(SOURCES)})")
    p = verb("stats")
    p.add_argument("--model", help="model of the histogram (default: the latest that predicted)")
    return ap


def _table(counts: dict[str, dict[str, int]]) -> str:
    width = max(len(c) for c in counts) if counts else 5
    lines = [f"  {'class':{width}s} " + " ".join(f"{s:>7s}" for s in SOURCES) + "   total"]
    for c, by in counts.items():
        lines.append(f"  {c:{width}s} " + " ".join(f"{by[s]:7d}" for s in SOURCES)
                     + f" {sum(by.values()):7d}")
    return "\n".join(lines)


def _print_stats(store: LabelStore, model) -> None:
    s = store.stats()
    print(f"{store.path}: {s['images']} images, {s['labelled']} labelled "
          f"({s['label_rows']} label rows with history)")
    print(_table(s["counts"]))
    for m in s["models"]:
        print(f"model {m['name']} ({m['sha256'][:12]}): {m['predictions']} predictions")
    if s["histogram"] is not None:
        counts, edges = store.confidence_histogram(model)
        top = max(int(counts.max()), 1)
        print("confidence histogram" + (f" of {model}" if model else " (latest model)") + ":")
        for n, lo, hi in zip(counts.tolist(), edges[:-1], edges[1:]):
            print(f"  {lo:.1f}-{hi:.1f} {n:7d} {'#' * round(40 * n / top)}")
    a = s["agreement"]
    if a["n"]:
        print(f"auto vs human: {a['agree']} of {a['n']} agree ({a['rate']:.1%})")
        for c, (n, k) in a["per_class"].items():
            if n:
                print(f"  {c}: {k}/{n}")
    else:
        print("auto vs human: no image has both an auto and a human label yet")


def main(argv: list[str] | None = None) -> int:
    """Run one verb on the label store; return 0 (errors raise GenclassError)."""
    args = parser().parse_args(argv)
    classes = _classes(getattr(args, "classes", None))
    if args.verb == "add" and Path(args.images).suffix.lower() == ".npz" and (
            args.channels is not None or args.size is not None):
        raise UsageError("--channels and --size apply to a folder of images; an .npz is added "
                         "as it is (convert its array first)")
    db = Path(args.db)
    fresh = args.verb == "add" and not db.exists()
    try:
        return _run(args, classes)
    except BaseException:
        if fresh:  # a failed first add leaves no store behind (its classes would be fixed)
            for leftover in (db, *(db.with_name(db.name + x) for x in ("-wal", "-shm", "-journal"))):
                leftover.unlink(missing_ok=True)
        raise


def _run(args, classes) -> int:
    """Run the parsed verb on the store."""
    with LabelStore(args.db, classes=classes, timeout=args.timeout,
                    create=args.verb == "add") as store:
        if args.verb == "add":
            src = Path(args.images)
            if src.suffix.lower() == ".npz":
                if not src.is_file():
                    raise InputError(f"file not found: {src}")
                before = store.count_images()
                ids = store.add_npz(src)
            else:
                before = store.count_images()
                ids = store.add_folder(src, channels=args.channels, size=args.size,
                                       skip_bad=args.skip_bad)
            new = store.count_images() - before
            print(f"added {new} new images ({len(ids) - new} already present); "
                  f"{store.count_images()} in {store.path}")
        elif args.verb == "predict":
            n = store.predict(args.model, batch_size=args.batch_size, name=args.name,
                              outputs="logits" if args.logits else "probs",
                              progress=not args.quiet)
            print(f"wrote {n} predictions; {store.pending(store.resolve_model(args.model))} "
                  "images left without one")
        elif args.verb == "accept":
            n = store.accept(args.threshold, model=args.model)
            print(f"accepted {n} predictions with confidence >= {args.threshold:g} as auto labels")
        elif args.verb == "review":
            q = store.review_queue(args.n, model=args.model)
            path = store.export_review(args.export, args.n, model=args.model)
            conf = q["confidence"]
            rng = f" (confidence {conf.min():.2f} to {conf.max():.2f})" if len(conf) else ""
            print(f"wrote {len(q['image_id'])} images to review to {path}{rng}")
        elif args.verb == "import":
            n = store.import_labels(args.file, who=args.who)
            print(f"stored {n} new human labels from {args.file}")
        elif args.verb == "export":
            sources = args.source.split(",") if args.source else None
            info = store.export(args.out, args.format, sources)
            print(f"wrote {info['n']} labelled images to {info['path']}")
            print("  per class: " + ", ".join(f"{c} {n}" for c, n in info["per_class"].items()))
            print("  per source: " + ", ".join(f"{s} {n}" for s, n in info["per_source"].items()))
        else:
            _print_stats(store, args.model)
    return 0


__all__ = ["main", "parser", "EXAMPLES"]
