"""Command line: ``python -m genclass_utils {data,nbcheck,run,prepare,sample,bench,overview,label} ...``."""

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
    "prepare": ("genclass_utils.prepare", "train once the models that later chapters load"),
    "overview": ("genclass_utils.overview", "write book/results.md from results/<profile>/"),
    "label": ("genclass_utils.labels.cli", "keep images, predictions and labels in a SQLite store"),
    "tune": ("genclass_utils.tuning", "choose a generator's settings on the validation split"),
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
    return run_command(module.main, argv[1:])


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 500 else text[:497] + "..."


def run_command(func, args: list[str]) -> int:
    """Run a command's main(args); turn every error into one sentence on stderr and an exit code.

    The package's errors exit 1 (2 for a bad argument), an interruption 130; any other error
    is a bug or a system failure: one sentence too, and the traceback only with GENCLASS_DEBUG=1.
    """
    import os

    from .errors import UsageError

    try:
        return int(func(args) or 0)
    except UsageError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except GenclassError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    except SystemExit as e:  # argparse of a command that does not use errors.argument_parser
        return e.code if isinstance(e.code, int) else 2
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"error: {where}{e.strerror or _one_line(e)}", file=sys.stderr)
        if os.environ.get("GENCLASS_DEBUG"):
            raise
        return 1
    except Exception as e:  # noqa: BLE001 - the command line never shows a raw traceback
        if os.environ.get("GENCLASS_DEBUG"):
            raise
        print(f"error: unexpected {type(e).__name__}: {_one_line(e)} (a bug: please report it; "
              "GENCLASS_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
