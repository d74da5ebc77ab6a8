"""The first code cell of every chapter: it makes the package importable where it is missing.

Its one source is ``notebooks/_first_cell.py``. ``python -m genclass_utils.firstcell`` writes it
as the first code cell of every chapter notebook (and of ``notebooks/_template.ipynb``), tagged
``remove-cell`` so that the book does not show it; ``--check`` only reports the notebooks whose
first code cell differs. This is a tool for a checkout of the course: it edits notebooks there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ROOT, checkout_root
from .errors import ConfigError

CELL_ID = "install-genclass"
TAG = "remove-cell"


def _repo() -> Path:
    repo = checkout_root()
    if repo is None:
        raise ConfigError(f"no checkout of the course around {ROOT}; the first cell's source "
                          "(notebooks/_first_cell.py) exists only in a checkout")
    return repo


def source_path() -> Path:
    """Return the path of the cell's one source, notebooks/_first_cell.py."""
    return _repo() / "notebooks" / "_first_cell.py"


def canonical_source() -> str:
    """Return the first cell's source, as it must appear in every chapter."""
    return source_path().read_text().rstrip() + "\n"


def default_install_source() -> str:
    """Return the pip source the cell uses by default: the repository and branch of _config.yml."""
    import yaml

    conf = yaml.safe_load((_repo() / "_config.yml").read_text())
    repo = conf["repository"]
    return f"git+{repo['url'].rstrip('/')}@{repo.get('branch', 'main')}"


def chapter_notebooks() -> list[Path]:
    """Return the chapter notebooks (notebooks/NN_*.ipynb) in book order, and the template."""
    nbs = _repo() / "notebooks"
    return [*sorted(nbs.glob("[0-9]*.ipynb")), nbs / "_template.ipynb"]


def _text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def first_code_cell(nb: dict) -> dict | None:
    """Return the notebook's first code cell, or None."""
    return next((c for c in nb.get("cells", []) if c.get("cell_type") == "code"), None)


def is_current(nb: dict) -> bool:
    """Return True when the notebook's first code cell is the canonical one, tagged remove-cell."""
    cell = first_code_cell(nb)
    return (cell is not None and _text(cell).rstrip() == canonical_source().rstrip()
            and TAG in cell.get("metadata", {}).get("tags", []))


def _split(text: str) -> list[str]:
    return text.rstrip().splitlines(keepends=True)


def apply(path: Path | str) -> bool:
    """Insert or update the first cell in one notebook; return True when the file changed."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if is_current(nb):
        return False
    cell = next((c for c in nb.cells if c.get("id") == CELL_ID), None)
    if cell is not None:  # an older version of the cell: update it where it is
        nb.cells.remove(cell)
    cell = nbformat.v4.new_code_cell(source="".join(_split(canonical_source())))
    cell["id"] = CELL_ID
    cell["metadata"] = {"tags": [TAG]}
    # After the title cell, before the first code cell (the parameters cell).
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(min(at, first_code), cell)
    nbformat.write(nb, path)
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: write (or with --check, verify) the first cell of the chapter notebooks."""
    ap = argparse.ArgumentParser(prog="python -m genclass_utils.firstcell", description=__doc__)
    ap.add_argument("notebooks", nargs="*", help="default: every chapter and the template")
    ap.add_argument("--check", action="store_true", help="report, change nothing")
    args = ap.parse_args(argv)
    try:
        paths = [Path(p) for p in args.notebooks] or chapter_notebooks()
        if args.check:
            import nbformat

            stale = [p for p in paths if not is_current(nbformat.read(p, as_version=4))]
            for p in stale:
                print(f"{p}: the first code cell is not notebooks/_first_cell.py")
            return 1 if stale else 0
        for p in paths:
            print(f"{p}: {'updated' if apply(p) else 'already current'}")
    except (OSError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
