"""nbval's view of the notebooks: after the run, each notebook's total time against its smoke budget.

pytest's ``--durations`` lists the slowest cells; a notebook's budget (30 s in the smoke
profile, see ``genclass_utils.config.SMOKE``) is about the whole notebook, kernel start
included, so the summary below adds up every phase of every cell of each notebook.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def notebook_seconds(reports) -> dict[str, float]:
    """Return {notebook file name: seconds} summed over the setup, call and teardown reports."""
    totals: dict[str, float] = defaultdict(float)
    for rep in reports:
        path = rep.nodeid.split("::", 1)[0]
        if path.endswith(".ipynb"):
            totals[Path(path).name] += float(getattr(rep, "duration", 0.0) or 0.0)
    return dict(totals)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print each notebook's time and whether it kept its smoke budget."""
    from genclass_utils.config import SMOKE

    reports = [rep for replist in terminalreporter.stats.values() for rep in replist
               if hasattr(rep, "nodeid") and hasattr(rep, "duration")]  # as --durations does
    totals = notebook_seconds(reports)
    if not totals:
        return
    workers = getattr(config.option, "numprocesses", None) or 1
    terminalreporter.write_sep("=", f"time per notebook, kernel start included ({workers} at a time)")
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        budget = SMOKE.chapter_budget(name)
        mark = "" if budget is None else ("  within" if seconds <= budget else f"  OVER {budget} s")
        terminalreporter.write_line(f"{seconds:7.1f} s  {name}{mark}")
