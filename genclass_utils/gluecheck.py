"""Check that every measured number in a chapter's prose is glued from the run.

``python -m genclass_utils gluecheck notebooks/`` (or ``python -m genclass_utils.gluecheck``)
reads the markdown cells of each notebook and fails when one states a decimal number with two
or more digits after the point, or a percentage, that is not pasted in with myst-nb's
``{glue:text}`` / ``{glue:}`` roles (CONVENTIONS §7). The book renders glued values from the
committed outputs, so a re-run can never leave a stale number in the text.

Exempt by rule: formulas (``$...$``, ``$$...$$``, amsmath environments, ``{math}``), inline code
and code fences, roles such as ``{cite}`` and ``{glue:text}``, directive option lines, link
targets, version numbers (``2.21.0``), parameter values written ``name = 0.25`` or
``name=0.25``, and the Exercises section (exercise constants). Anything else needs an entry in
the allow-list (``notebooks/glue_allow.toml`` by default)::

    [[allow]]
    notebook = "01_image_preprocessing.ipynb"
    text = "0.299 R + 0.587 G + 0.114 B"
    reason = "the ITU-R BT.601 luma weights: a standard's constants, not a measurement"

It also fails when a glued value is a numpy scalar, whose ``np.float64(0.9)`` text no format
spec can read. A number is allowed when it lies inside an occurrence of ``text`` in a markdown cell of that
notebook. Every entry needs a reason, and an entry that matches nothing is reported as stale.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, InputError, argument_parser

DEFAULT_ALLOW = Path("notebooks") / "glue_allow.toml"

# A decimal with >= 2 digits after the point (thousands separators allowed), or a percentage.
NUMBER = re.compile(
    r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)\.\d{2,}(?![\w.]*\d)"  # 0.917, 1,234.56; not 2.21.0
    r"|(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s?(?:%|per\s?cent\b)"  # 12%, 91.7 percent
    r"|(?<![\w.,])\d+\.\d+[eE][-+]?\d+\b"  # 1.2e-3: a mantissa with a point is a measurement
    r"|(?<![\w.,])\.\d{2,}(?![\w.]*\d)"  # .917
)
# Regions blanked before the search; each match is replaced by spaces of the same length.
_EXEMPT_ROLES = r"glue(?::\w+)?|cite(?::\w+)?|math|eq|ref|numref|doc|download|term|prf:ref|label"
# Any other role ({sup}, {abbr}, {sub}) is prose: only its markup is blanked, its text is checked.
_PROSE_ROLE = re.compile(r"(\{(?!(?:" + _EXEMPT_ROLES + r")\})[\w:-]+\}(`{1,2}))((?:(?!\2).)*?)(\2)", re.S)
_EXEMPT = [
    re.compile(r"\{(?:" + _EXEMPT_ROLES + r")\}(`{1,2})(?:(?!\1).)*?\1", re.S),  # {glue:text}`k:.1%`
    re.compile(r"(`+)(?:(?!\1).)+?\1", re.S),  # inline code
    re.compile(r"\$\$.*?\$\$", re.S),  # display math
    re.compile(r"(?<![\\$])\$(?:\\.|[^$\\])+?\$", re.S),  # inline math
    re.compile(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S),  # amsmath environments
    re.compile(r"<!--.*?-->", re.S),  # HTML comments
    re.compile(r"\]\([^)\s]*\)"),  # link and image targets
    re.compile(r"https?://\S+"),  # bare URLs
    # A parameter value: an identifier (or a Greek letter) set with "=" to a number.
    re.compile(r"(?<![<>!=])\b[A-Za-z_\u0370-\u03ff][\w\u0370-\u03ff]*\s?=\s?-?[\d.,]+(?:e-?\d+)?%?"),
]
_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(?:\{([\w:-]+)\})?(.*)$")
_CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode", "math", "literalinclude",
                    "bibliography", "glue:figure", "glue:math", "raw"}
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXERCISES = re.compile(r"^exercises?\b", re.I)
_NUMPY_REPR = re.compile(r"^np\.\w+\(")


@dataclass(frozen=True)
class Finding:
    """One un-glued number: where it is and the words around it."""

    notebook: str
    cell: int
    cell_id: str
    line: int
    number: str
    context: str

    def __str__(self) -> str:
        if self.line == 0:  # a problem in a glued output, not in the markdown
            return f"{self.notebook}: cell {self.cell} (id {self.cell_id}): {self.context}"
        return (f"{self.notebook}: cell {self.cell} (id {self.cell_id}) line {self.line}: "
                f"{self.number!r} is not glued: ...{self.context}...")


@dataclass(frozen=True)
class AllowEntry:
    """An allow-list entry: text in one notebook whose numbers need no glue, and why."""

    notebook: str
    text: str
    reason: str


def _blank(text: str, start: int, end: int) -> str:
    """Return text with [start, end) replaced by spaces, newlines kept (offsets preserved)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _blank_fences(text: str) -> str:
    """Return text with code fences and directive option lines blanked, prose directives kept."""
    lines = text.split("\n")
    out = []
    stack: list[tuple[str, int, bool]] = []  # (fence char, length, content is code)
    just_opened = False
    for line in lines:
        m = _FENCE.match(line)
        stripping = any(code for _c, _n, code in stack)
        if m:
            fence, directive, rest = m.group(1), m.group(2), m.group(3).strip()
            top = stack[-1] if stack else None
            if (top and fence[0] == top[0] and len(fence) >= top[1] and not directive
                    and not rest):
                stack.pop()
            elif not stripping:
                code = directive is None or directive.lower() in _CODE_DIRECTIVES
                stack.append((fence[0], len(fence), code))
                just_opened = directive is not None
            out.append(" " * len(line))
            continue
        if stripping:
            out.append(" " * len(line))
            continue
        if just_opened and re.match(r"^\s*:[\w-]+:", line):  # directive options (:width: 80%)
            out.append(" " * len(line))
            continue
        just_opened = False
        out.append(line)
    return "\n".join(out)


def prose_only(text: str) -> str:
    """Return markdown with every exempt region blanked out, character offsets preserved."""
    text = _blank_fences(text)
    for m in list(_PROSE_ROLE.finditer(text)):
        text = _blank(_blank(text, m.start(4), m.end(4)), m.start(1), m.end(1))
    for pattern in _EXEMPT:
        for m in list(pattern.finditer(text)):
            text = _blank(text, m.start(), m.end())
    return text


def load_allow(path: Path | str | None) -> list[AllowEntry]:
    """Return the allow-list entries in a TOML file (none when path is None or absent)."""
    if path is None or not Path(path).exists():
        return []
    if not Path(path).is_file():  # a folder or a FIFO would hang or fail on read
        raise ConfigError(f"{path}: the allow-list must be a regular TOML file")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: unreadable allow-list ({e})") from e
    items = raw.get("allow", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{path}: 'allow' must be a list of [[allow]] tables")
    entries = []
    for i, item in enumerate(items):
        missing = [k for k in ("notebook", "text", "reason") if not str(item.get(k, "")).strip()]
        if missing:
            raise ConfigError(f"{path}: allow entry {i + 1} needs {', '.join(missing)}")
        entries.append(AllowEntry(str(item["notebook"]), str(item["text"]), str(item["reason"])))
    return entries


def _check_shape(path: Path, nb: object) -> None:
    """Raise InputError unless nb has the nbformat shape this check reads."""
    def bad(what: str) -> InputError:
        return InputError(f"{path}: malformed notebook ({what})")
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
        raise bad("not a JSON object with a list of cells")
    for n, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict):
            raise bad(f"cell {n} is not an object")
        src = cell.get("source", "")
        if not (isinstance(src, str) or isinstance(src, list) and all(isinstance(s, str) for s in src)):
            raise bad(f"cell {n}'s source is not text")
        outs = cell.get("outputs", [])
        if not isinstance(outs, list) or not all(isinstance(o, dict) for o in outs):
            raise bad(f"cell {n}'s outputs are not a list of objects")
        for o in outs:
            if not isinstance(o.get("metadata", {}), dict) or not isinstance(o.get("data", {}), dict) \
                    or not isinstance(o.get("metadata", {}).get("scrapbook", {}), dict):
                raise bad(f"cell {n} has a malformed output")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check_notebook(path: Path | str, allow: list[AllowEntry] = (),
                   used: set[int] | None = None) -> list[Finding]:
    """Return the un-glued numbers in a notebook's markdown (records matched allow entries)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise InputError(f"{path}: cannot read notebook ({e})") from e
    _check_shape(path, nb)
    mine = [(i, a) for i, a in enumerate(allow) if a.notebook == path.name]
    findings: list[Finding] = []
    for n, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            text = out.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            if name and _NUMPY_REPR.match(text):  # format specs cannot parse "np.float64(0.5)"
                findings.append(Finding(path.name, n, str(cell.get("id", "")), 0, text,
                                        f"glue({name!r}) got a numpy scalar; glue float(x) or int(x)"))
    exercise_level = 0  # > 0 while inside an Exercises section of that heading level
    for n, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "markdown":
            continue
        raw = _source(cell)
        prose = prose_only(raw)
        keep = [True] * len(raw)
        offset = 0
        for line in raw.split("\n"):
            h = _HEADING.match(line)
            if h:
                level = len(h.group(1))
                if exercise_level and level <= exercise_level:
                    exercise_level = 0
                if _EXERCISES.match(h.group(2)):
                    exercise_level = level
            if exercise_level:
                keep[offset:offset + len(line) + 1] = [False] * (len(line) + 1)
            offset += len(line) + 1
        spans = []
        for i, entry in mine:
            for m in re.finditer(re.escape(entry.text), raw):
                spans.append((i, m.start(), m.end()))
        for m in NUMBER.finditer(prose):
            if not keep[m.start()]:
                continue
            hit = [i for i, s, e in spans if s <= m.start() and m.end() <= e]
            if hit:
                if used is not None:
                    used.update(hit)
                continue
            line_no = raw.count("\n", 0, m.start()) + 1
            ctx = " ".join(raw[max(0, m.start() - 40):m.end() + 40].split())
            findings.append(Finding(path.name, n, str(cell.get("id", "")), line_no,
                                    m.group(0).strip(), ctx))
    return findings


def notebooks_in(paths: list[str]) -> list[Path]:
    """Return the notebooks named by paths (directories expand to their *.ipynb files)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.glob("*.ipynb")
                            if ".ipynb_checkpoints" not in q.parts and q.is_file()
                            and not q.name.startswith("."))  # .NN_*.running.ipynb: a run's temp file
        elif p.suffix == ".ipynb" and p.is_file():
            found.append(p)
        else:
            raise InputError(f"{p}: not a notebook or a folder of notebooks")
    return found


def check(paths: list[str], allow_path: Path | str | None = DEFAULT_ALLOW) -> list[str]:
    """Return every problem: un-glued numbers, then stale allow-list entries."""
    allow = load_allow(allow_path)
    used: set[int] = set()
    nbs = notebooks_in(paths)
    problems = [str(f) for nb in nbs for f in check_notebook(nb, allow, used)]
    checked = {nb.name for nb in nbs}
    for i, entry in enumerate(allow):
        if entry.notebook in checked and i not in used:
            problems.append(f"{allow_path}: stale allow entry for {entry.notebook}: "
                            f"{entry.text!r} matches no number")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print each un-glued number and return 1, or print one line and return 0."""
    ap = argument_parser(prog="python -m genclass_utils gluecheck",
                                 description="fail on measured numbers in markdown that are "
                                             "not glued from the run")
    ap.add_argument("paths", nargs="*", default=["notebooks"], help="notebooks or folders")
    ap.add_argument("--allow", default=str(DEFAULT_ALLOW),
                    help=f"allow-list TOML (default {DEFAULT_ALLOW})")
    args = ap.parse_args(argv)
    if not notebooks_in(args.paths):
        raise InputError(f"no notebook found in {' '.join(args.paths)}")
    problems = check(args.paths, args.allow)
    for p in problems:
        print(p)
    if problems:
        print(f"gluecheck: {len(problems)} problem(s); glue the number from the run "
              f"(CONVENTIONS §7) or add an allow entry with its reason to {args.allow}")
        return 1
    print(f"gluecheck: {len(notebooks_in(args.paths))} notebook(s), every number glued")
    return 0


if __name__ == "__main__":
    from .errors import GenclassError

    try:
        sys.exit(main())
    except GenclassError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
