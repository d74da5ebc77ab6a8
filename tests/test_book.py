"""The book's sources: the bibliography parses and every citation key exists."""

import json
import re
from pathlib import Path

import pybtex.database

ROOT = Path(__file__).resolve().parent.parent
CITE = re.compile(r"\{cite(?::[pt])?\}`([^`]+)`")


def _texts():
    for md in (ROOT / "book").glob("*.md"):
        yield md.name, md.read_text()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        yield nb.name, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_bibliography_parses_and_citations_resolve():
    keys = set(pybtex.database.parse_file(ROOT / "book" / "references.bib").entries)
    missing = {(name, k.strip()) for name, text in _texts()
               for group in CITE.findall(text) for k in group.split(",") if k.strip() not in keys}
    assert not missing, f"citation keys not in references.bib: {sorted(missing)}"
