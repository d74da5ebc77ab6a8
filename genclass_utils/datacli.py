"""`python -m genclass_utils data [DATASET]`: find, verify and summarise a dataset's files."""

from __future__ import annotations

from . import data
from .errors import argument_parser


def main(argv: list[str] | None = None) -> int:
    """Check that the dataset is available and print where it was found; return 0 on success."""
    ap = argument_parser(prog="python -m genclass_utils data")
    ap.add_argument("dataset", nargs="?", default="fashion_mnist")
    args = ap.parse_args(argv)
    files = data.find_files(args.dataset)
    x, y = data.load_train(args.dataset)
    xt, _ = data.load_test(args.dataset)
    folder = next(iter(files.values())).parent
    print(f"{args.dataset}: verified files in {folder}; train {x.shape}, test {xt.shape}")
    return 0
