"""`make run`: execute notebooks in place with papermill and stamp reference-run metadata.

The profile reaches the kernel through GENCLASS_PROFILE, so no parameters cell is injected
and the committed code stays exactly what the reader sees.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

from .files import atomic_path
from .nbcheck import STAMP_KEY, code_sha256


def run_notebook(path: Path | str, profile: str) -> float:
    """Execute one notebook in place under a profile, stamp it, and return wall seconds."""
    import papermill as pm

    from .config import resolve_profile
    from .report import hardware, package_versions

    path = Path(path).resolve()
    prof = resolve_profile(None if profile == "auto" else profile).name
    env_before = os.environ.get("GENCLASS_PROFILE")
    os.environ["GENCLASS_PROFILE"] = prof
    t0 = time.time()
    try:
        with atomic_path(path, suffix=".running.ipynb") as tmp:
            pm.execute_notebook(str(path), str(tmp), cwd=str(path.parent), progress_bar=False,
                                log_output=True, kernel_name="python3")
            nb = json.loads(tmp.read_text())
            wall = time.time() - t0
            nb.setdefault("metadata", {})[STAMP_KEY] = {
                "profile": prof,
                "code_sha256": code_sha256(nb),
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
    print(f"{path.name}: {wall:.0f} s under profile {prof}", flush=True)
    return wall


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks named on the command line; return a process exit code."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m genclass_utils run")
    ap.add_argument("--profile", default="auto", help="smoke, cpu, gpu or auto")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args(argv)
    log = Path("_build") / "run-times.txt"
    for nb in args.notebooks:
        wall = run_notebook(nb, args.profile)
        log.parent.mkdir(exist_ok=True)
        with open(log, "a") as f:
            f.write(f"{_dt.datetime.now().isoformat(timespec='seconds')} {nb} {wall:.0f}s\n")
    return 0


__all__ = ["run_notebook", "main"]

if __name__ == "__main__":
    sys.exit(main())
