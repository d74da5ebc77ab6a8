"""`make run`: execute notebooks in place with papermill and stamp reference-run metadata.

The profile reaches the kernel through GENCLASS_PROFILE, so no parameters cell is injected
and the committed code stays exactly what the reader sees. Each chapter prints a progress
line (its time against its budget, the elapsed time and the expected remainder), and the
wall times go to ``results/<profile>/run_times.json``; a run of every chapter that started
from an empty ``artifacts/<profile>/`` also records the book's total from scratch there.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .config import ROOT
from .errors import ConfigError, GenclassError, argument_parser
from .files import atomic_path, atomic_write_json
from .nbcheck import STAMP_KEY, code_sha256, outputs_sha256

TEMP_SUFFIX = ".running.ipynb"
TIMES_FILE = "run_times.json"


class NotebookFailed(GenclassError):
    """A notebook raised an error while `make run` executed it."""


def _failure_sentence(path: Path, err: Exception) -> str:
    """Return one sentence naming the notebook, the failing cell and the error."""
    ename = getattr(err, "ename", type(err).__name__)
    evalue = str(getattr(err, "evalue", err)).strip().splitlines()
    cell = getattr(err, "exec_count", None)
    where = f" in cell [{cell}]" if cell is not None else ""
    return (f"{path.name} failed{where}: {ename}: {evalue[0] if evalue else ''} "
            f"(the committed notebook is unchanged; the failed run is in _build/failed/{path.name})")


def run_notebook(path: Path | str, profile: str) -> float:
    """Execute one notebook in place under a profile, stamp it, and return wall seconds."""
    import papermill as pm

    from .config import resolve_profile
    from .report import hardware, package_versions

    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"notebook {str(path)!r} does not exist")
    prof = resolve_profile(None if profile == "auto" else profile).name
    env_before = os.environ.get("GENCLASS_PROFILE")
    os.environ["GENCLASS_PROFILE"] = prof
    t0 = time.time()
    try:
        with atomic_path(path, suffix=TEMP_SUFFIX) as tmp:
            try:
                pm.execute_notebook(str(path), str(tmp), cwd=str(path.parent),
                                    progress_bar=False, log_output=True, kernel_name="python3")
            except pm.PapermillExecutionError as e:
                failed = ROOT / "_build" / "failed" / path.name
                failed.parent.mkdir(parents=True, exist_ok=True)
                if tmp.exists():
                    os.replace(tmp, failed)
                raise NotebookFailed(_failure_sentence(path, e)) from None
            nb = json.loads(tmp.read_text())
            wall = time.time() - t0
            nb.setdefault("metadata", {})[STAMP_KEY] = {
                "profile": prof,
                "code_sha256": code_sha256(nb),
                "outputs_sha256": outputs_sha256(nb),
                "wall_seconds": round(wall, 1),
                "hardware": hardware(),
                "versions": package_versions(),
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
            tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    finally:
        if env_before is None:
            os.environ.pop("GENCLASS_PROFILE", None)
        else:
            os.environ["GENCLASS_PROFILE"] = env_before
    return wall


def stale_temporaries(folders: list[Path]) -> list[Path]:
    """Return the hidden temporary notebooks an interrupted run left in these folders."""
    found: list[Path] = []
    for folder in sorted(set(folders)):
        found += sorted(folder.glob(f".*{TEMP_SUFFIX}"))
    return found


@contextlib.contextmanager
def run_lock(root: Path | None = None) -> Iterator[None]:
    """Hold _build/run.lock for one `make run` at a time, or raise ConfigError."""
    import fcntl

    lock = (root or ROOT) / "_build" / "run.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError("another `make run` is executing notebooks in this checkout; "
                              "wait for it to finish") from None
        yield


def load_times(results_dir: Path) -> dict:
    """Return the recorded run times of a profile (an empty record when none exist yet)."""
    path = results_dir / TIMES_FILE
    if not path.exists():
        return {"chapters": {}, "from_scratch": None}
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: unreadable run-times file ({e}); delete it to start afresh") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("chapters"), dict):
        raise ConfigError(f"{path}: not a run-times record; delete it to start afresh")
    rec.setdefault("from_scratch", None)
    return rec


def expected_seconds(stem: str, prof, times: dict) -> float | None:
    """Return a chapter's expected wall time: its last recorded time, else its budget."""
    last = times.get("chapters", {}).get(stem, {}).get("seconds")
    return float(last) if last is not None else prof.chapter_budget(stem)


def progress_line(i: int, n: int, stem: str, wall: float, budget: float | None, elapsed: float,
                  remaining: float | None) -> str:
    """Return the one-line progress report printed after each chapter."""
    over = "" if budget is None else (f" (budget {budget:.0f} s" +
                                      (", OVER)" if wall > budget else ")"))
    rest = "unknown" if remaining is None else f"~{remaining / 60:.1f} min"
    return (f"[{i}/{n}] {stem}: {wall:.0f} s{over} | elapsed {elapsed / 60:.1f} min | "
            f"expected remaining {rest}")


def run_all(notebooks: list[str], profile: str, root: Path = ROOT) -> dict:
    """Run notebooks in order with a progress line each; record and return the run times."""
    from .config import resolve_profile

    prof = resolve_profile(None if profile == "auto" else profile)
    paths = [Path(nb) for nb in notebooks]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"no such notebook: {', '.join(missing)}")
    results_dir = root / "results" / prof.name
    times = load_times(results_dir)
    art = Path(os.environ.get("GENCLASS_ARTIFACTS") or root / "artifacts") / prof.name
    from_scratch = not art.exists() or not any(art.iterdir())
    all_chapters = sorted(p.name for p in (root / "notebooks").glob("[0-9]*.ipynb"))
    complete = sorted(p.name for p in paths) == all_chapters
    import papermill  # noqa: F401  (imported once here, so that elapsed times measure notebooks)

    t_start = time.time()
    walls: dict[str, float] = {}
    for i, path in enumerate(paths, 1):
        wall = run_notebook(path, prof.name)
        walls[path.stem] = wall
        times["chapters"][path.stem] = {
            "seconds": round(wall, 1), "budget_seconds": prof.chapter_budget(path.stem),
            "from_scratch": from_scratch,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        rest = [expected_seconds(p.stem, prof, times) for p in paths[i:]]
        remaining = None if any(r is None for r in rest) else sum(rest)
        print(progress_line(i, len(paths), path.stem, wall, prof.chapter_budget(path.stem),
                            time.time() - t_start, remaining), flush=True)
        if prof.name != "smoke":  # smoke results are never committed
            atomic_write_json(results_dir / TIMES_FILE, times)
    if complete and from_scratch:
        times["from_scratch"] = {
            "seconds": round(time.time() - t_start, 1), "budget_seconds": prof.book_seconds,
            "chapters": {k: round(v, 1) for k, v in walls.items()},
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        if prof.name != "smoke":
            atomic_write_json(results_dir / TIMES_FILE, times)
    total = sum(walls.values())
    print(f"ran {len(walls)} notebook(s) in {total / 60:.1f} min under profile {prof.name}"
          + (" from an empty artifacts folder" if from_scratch else ""), flush=True)
    return times


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks named on the command line; return a process exit code."""

    ap = argument_parser(prog="python -m genclass_utils run")
    ap.add_argument("--profile", default="auto", help="smoke, cpu, gpu or auto")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args(argv)
    with run_lock():
        # Only one run holds the lock, so every temporary notebook found now is a leftover of
        # a run that was killed (kill -9 leaves no chance to clean up).
        for tmp in stale_temporaries([Path(nb).resolve().parent for nb in args.notebooks]):
            tmp.unlink(missing_ok=True)
            print(f"removed {tmp.name}, left by an interrupted run", flush=True)
        run_all(args.notebooks, args.profile)
    return 0


__all__ = ["run_notebook", "run_all", "progress_line", "stale_temporaries", "load_times", "main"]

if __name__ == "__main__":
    sys.exit(main())
