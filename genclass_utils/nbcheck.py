"""Freshness check of committed notebooks.

``make run`` stamps each notebook's metadata with ``genclass``: the profile, the sha256 of its
code cells, the sha256 of its code and outputs (``outputs_sha256``), wall seconds, hardware and
date. ``python -m genclass_utils nbcheck notebooks/`` fails when a notebook has no stamp, when
its code changed since the stamped run (stale outputs), when its outputs differ from those of
the stamped run (edited by hand), when an output is an error, or when it cannot be read as a
notebook. Every notebook is checked, whatever is wrong with another. Notebooks whose names
start with ``_`` or ``.`` are exempt.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

STAMP_KEY = "genclass"
REFERENCE_PROFILES = ("cpu", "gpu")
# Output fields that belong to the run, not to the reader's view: excluded from the fingerprint.
_VOLATILE_OUTPUT_KEYS = ("execution_count", "transient")


def _text(src) -> str:
    return "".join(str(s) for s in src) if isinstance(src, list) else str(src or "")


def _cells(nb: dict) -> list[dict]:
    cells = nb.get("cells", []) if isinstance(nb, dict) else []
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def code_sha256(nb: dict) -> str:
    """Return the sha256 of a notebook's code cells' sources, in order."""
    h = hashlib.sha256()
    for cell in _cells(nb):
        if cell.get("cell_type") == "code":
            h.update(_text(cell.get("source", "")).rstrip().encode("utf-8", "surrogatepass"))
            h.update(b"\n\x00cell\x00\n")
    return h.hexdigest()


def _canonical(obj):
    """Return obj with multi-line strings stored as lists of lines joined (nbformat splits them)."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        if obj and all(isinstance(x, str) for x in obj):
            return "".join(obj)
        return [_canonical(x) for x in obj]
    return obj


def outputs_sha256(nb: dict) -> str:
    """Return the sha256 of a notebook's code cells' sources and their outputs, in order.

    Outputs are hashed as canonical JSON without execution counts, so that any edit of a shown
    number, figure or message changes the fingerprint, and re-serialising the file does not.
    """
    h = hashlib.sha256()
    for cell in _cells(nb):
        if cell.get("cell_type") != "code":
            continue
        h.update(_text(cell.get("source", "")).rstrip().encode("utf-8", "surrogatepass"))
        outputs = cell.get("outputs") or []
        if isinstance(outputs, list):
            outputs = [{k: v for k, v in o.items() if k not in _VOLATILE_OUTPUT_KEYS}
                       if isinstance(o, dict) else o for o in outputs]
        h.update(json.dumps(_canonical(outputs), sort_keys=True, ensure_ascii=True).encode())
        h.update(b"\n\x00cell\x00\n")
    return h.hexdigest()


def read_notebook(path: Path | str) -> tuple[dict | None, str | None]:
    """Return (notebook, None), or (None, the reason it cannot be read as a notebook)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, f"cannot read file ({e.strerror or e})"
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 text (byte {e.start})"
    except json.JSONDecodeError as e:
        return None, f"not valid JSON ({e.msg} at line {e.lineno})"
    except RecursionError:
        return None, "JSON nested too deeply"
    if not isinstance(nb, dict):
        return None, f"not a notebook (the JSON is a {type(nb).__name__}, not an object)"
    if not isinstance(nb.get("cells", []), list):
        return None, "not a notebook ('cells' is not a list)"
    if not isinstance(nb.get("metadata", {}), dict):
        return None, "not a notebook ('metadata' is not an object)"
    return nb, None


def check_notebook(path: Path | str) -> list[str]:
    """Return the problems found in one notebook (an empty list when it is fresh)."""
    path = Path(path)
    nb, why = read_notebook(path)
    if nb is None:
        return [f"{path}: cannot read notebook: {why}"]
    problems = []
    stamp = nb.get("metadata", {}).get(STAMP_KEY)
    rerun = f"run `make run NB={path}`"
    if not stamp:
        problems.append(f"{path}: no reference-run metadata; {rerun}")
    elif not isinstance(stamp, dict):
        problems.append(f"{path}: reference-run metadata is malformed; {rerun}")
    else:
        if stamp.get("profile") not in REFERENCE_PROFILES:
            problems.append(f"{path}: outputs come from profile {stamp.get('profile')!r}, "
                            f"not a reference profile {REFERENCE_PROFILES}")
        if stamp.get("code_sha256") != code_sha256(nb):
            problems.append(f"{path}: code changed since the reference run (stale outputs); "
                            f"{rerun}")
        elif "outputs_sha256" not in stamp:
            problems.append(f"{path}: no output fingerprint in the reference-run metadata; "
                            f"{rerun}")
        elif stamp.get("outputs_sha256") != outputs_sha256(nb):
            problems.append(f"{path}: outputs differ from those of the reference run (edited "
                            f"by hand?); {rerun}")
    for i, cell in enumerate(_cells(nb)):
        outputs = cell.get("outputs") or []
        if not isinstance(outputs, list):
            problems.append(f"{path}: cell {i} has malformed outputs (not a list)")
            continue
        for out in outputs:
            if isinstance(out, dict) and out.get("output_type") == "error":
                problems.append(f"{path}: cell {i} has an error output "
                                f"({out.get('ename')}: {str(out.get('evalue') or '')[:80]})")
    return problems


def notebooks_in(paths: list[str]) -> list[Path]:
    """Return the checked notebooks under the given files or folders (skipping _*.ipynb)."""
    found: list[Path] = []
    for p in map(Path, paths):
        items = sorted(p.glob("*.ipynb")) if p.is_dir() else [p] if p.is_file() else []
        found += [q for q in items if not q.name.startswith(("_", ".")) and q.is_file()]
    return found


def main(argv: list[str] | None = None) -> int:
    """Check notebooks; print problems; return 0 when all are fresh, else 1."""
    argv = list(sys.argv[1:] if argv is None else argv) or ["notebooks"]
    nbs = notebooks_in(argv)
    problems = [f"{p}: no such file or folder" for p in argv if not Path(p).exists()]
    problems += [msg for nb in nbs for msg in check_notebook(nb)]
    if not nbs:
        problems.append(f"no notebook found in {' '.join(argv)}")
    for msg in problems:
        print(msg, file=sys.stderr)
    print(f"nbcheck: {len(nbs)} notebook(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
