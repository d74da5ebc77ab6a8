"""Command line: ``python -m genclass_utils {data,nbcheck,run,sample,bench} ...``."""

from __future__ import annotations

import importlib
import sys

from .errors import GenclassError

# command -> (module, one-line help). A module provides main(argv) -> int.
COMMANDS = {
    "data": ("genclass_utils.datacli", "check that a dataset's files are present and verified"),
    "nbcheck": ("genclass_utils.nbcheck", "refuse stale or failing notebook outputs"),
    "gluecheck": ("genclass_utils.gluecheck", "refuse measured numbers in prose not glued from the run"),
    "run": ("genclass_utils.runbook", "execute notebooks in place under a profile"),
    "sample": ("genclass_utils.sampling", "write samples of a saved generator to .npz"),
    "bench": ("genclass_utils.bench", "measure training throughput"),
    "overview": ("genclass_utils.overview", "write book/results.md from results/<profile>/"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; print GenclassError messages without a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: python -m genclass_utils COMMAND [ARGS]\n\ncommands:")
        for name, (_mod, text) in COMMANDS.items():
            print(f"  {name:8s} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module_name, _ = COMMANDS[argv[0]]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        print(f"error: command {argv[0]!r} is not available in this version", file=sys.stderr)
        return 2
    try:
        return int(module.main(argv[1:]) or 0)
    except GenclassError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
