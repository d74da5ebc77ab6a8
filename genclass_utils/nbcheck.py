"""Freshness check of committed notebooks.

``make run`` stamps each notebook's metadata with ``genclass``: the profile, the sha256 of its
code cells, wall seconds, hardware and date. ``python -m genclass_utils nbcheck notebooks/``
fails when a notebook has no stamp, when its code changed since the stamped run (stale
outputs), or when an output is an error. Notebooks whose names start with ``_`` are exempt.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

STAMP_KEY = "genclass"
REFERENCE_PROFILES = ("cpu", "gpu")


def code_sha256(nb: dict) -> str:
    """Return the sha256 of a notebook's code cells' sources, in order."""
    h = hashlib.sha256()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            h.update(src.rstrip().encode("utf-8"))
            h.update(b"\n\x00cell\x00\n")
    return h.hexdigest()


def check_notebook(path: Path | str) -> list[str]:
    """Return the problems found in one notebook (an empty list when it is fresh)."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        return [f"{path}: cannot read notebook ({e})"]
    problems = []
    stamp = nb.get("metadata", {}).get(STAMP_KEY)
    if not stamp:
        problems.append(f"{path}: no reference-run metadata; run `make run NB={path}`")
    else:
        if stamp.get("profile") not in REFERENCE_PROFILES:
            problems.append(f"{path}: outputs come from profile {stamp.get('profile')!r}, "
                            f"not a reference profile {REFERENCE_PROFILES}")
        if stamp.get("code_sha256") != code_sha256(nb):
            problems.append(f"{path}: code changed since the reference run (stale outputs); "
                            f"run `make run NB={path}`")
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                problems.append(f"{path}: cell {i} has an error output "
                                f"({out.get('ename')}: {out.get('evalue', '')[:80]})")
    return problems


def notebooks_in(paths: list[str]) -> list[Path]:
    """Return the checked notebooks under the given files or folders (skipping _*.ipynb)."""
    found: list[Path] = []
    for p in map(Path, paths):
        items = sorted(p.glob("*.ipynb")) if p.is_dir() else [p]
        found += [q for q in items if not q.name.startswith(("_", "."))]
    return found


def main(argv: list[str] | None = None) -> int:
    """Check notebooks; print problems; return 0 when all are fresh, else 1."""
    argv = list(sys.argv[1:] if argv is None else argv) or ["notebooks"]
    nbs = notebooks_in(argv)
    problems = [msg for nb in nbs for msg in check_notebook(nb)]
    for msg in problems:
        print(msg, file=sys.stderr)
    print(f"nbcheck: {len(nbs)} notebook(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
