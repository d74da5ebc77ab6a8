"""The results overview page: book/results.md, generated from results/<profile>/*.json.

Nothing on that page is typed by hand: ``python -m genclass_utils overview`` (run by
``make run``) reads the last reference run of every chapter and writes the page atomically.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import numpy as np

from .config import PROFILES, ROOT
from .errors import ConfigError, argument_parser
from .files import atomic_write_text

# (chapter file stem, dotted metric path, comparison, target, what it is)
TARGETS: list[tuple[str, str, str, float, str]] = [
    ("02_cnn_basics", "cnn_test_accuracy", ">=", 0.925, "chapter-2 CNN, test accuracy"),
    ("02_cnn_basics", "evaluator_test_accuracy", ">=", 0.93, "evaluator, test accuracy"),
    ("03_gan", "cgan_label_accuracy", ">=", 0.85, "cGAN samples recognised as their class"),
    ("04_vae", "cvae_label_accuracy", ">=", 0.85, "cVAE samples recognised as their class"),
    ("05_vae_gan", "vaegan_kid_lead_evaluator", ">", 0.0,
     "VAE-GAN KID below the same-network VAE's (shown: the gap less twice its paired standard "
     "error), evaluator space"),
    ("05_vae_gan", "vaegan_kid_lead_autoencoder", ">", 0.0,
     "VAE-GAN KID below the same-network VAE's (shown: the gap less twice its paired standard "
     "error), autoencoder space"),
    ("06_evaluating_generators", "best_conditional_cas", ">=", 0.80,
     "best conditional generator's CAS"),
    ("06_evaluating_generators", "generators.cgan.recall", ">=", 0.4,
     "cGAN recall (evaluator space, k = 3)"),
    ("06_evaluating_generators", "generators.cgan.precision", ">=", 0.8,
     "cGAN precision (evaluator space, k = 3)"),
    ("06_evaluating_generators", "generators.vaegan.fd.evaluator", "<",
     "06_evaluating_generators:generators.vae.fd.evaluator",
     "VAE-GAN Fréchet distance below the chapter-4 VAE's, evaluator space"),
    ("06_evaluating_generators", "generators.vaegan.fd.autoencoder", "<",
     "06_evaluating_generators:generators.vae.fd.autoencoder",
     "VAE-GAN Fréchet distance below the chapter-4 VAE's, autoencoder space"),
    ("07_generated_data_classification", "chosen_synthetic_only", ">=", 0.80,
     "synthetic-only accuracy, generator chosen on validation (the lowest of the generators "
     "tied with it there)"),
    ("08_semi_supervised", "gain_at.10", ">=", 0.08,
     "gain of the generative semi-supervised classifier over the baseline, each the best of "
     "its group on validation, 10 labels per class (mean of the seeds)"),
]
_OPS = {">=": operator.ge, "<": operator.lt, "<=": operator.le, ">": operator.gt}


def _get(record: dict, path: str) -> Any:
    value: Any = record.get("metrics", {})
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _derived(stem: str, rec: dict) -> dict:
    """Return metrics that are computed from a chapter's saved metrics (maxima over variants)."""
    m = rec.get("metrics", {})
    out = {}
    if stem == "05_vae_gan":
        # how far the VAE-GAN's KID is below the VAE's, less twice the standard error of the gap:
        # the paired one (both KIDs on the same real subsets) where the chapter saved it
        for space in ("evaluator", "autoencoder"):
            keys = [f"{k}_{m}_{space}" for k in ("vaegan", "vae") for m in ("kid", "kid_se")]
            paired = [f"kid_difference_{space}", f"kid_difference_se_{space}"]
            if all(m.get(k) is not None for k in paired):
                d, se = (float(m[k]) for k in paired)
                out[f"vaegan_kid_lead_{space}"] = -d - 2 * se
            elif all(m.get(k) is not None for k in keys):
                a, a_se, b, b_se = (float(m[k]) for k in keys)
                out[f"vaegan_kid_lead_{space}"] = (b - a) - 2 * float(np.hypot(a_se, b_se))
    if stem == "06_evaluating_generators":
        cas = [g.get("cas") for g in m.get("generators", {}).values() if g.get("cas") is not None]
        out["best_conditional_cas"] = max(cas) if cas else None
    if stem == "07_generated_data_classification":
        # the generator chosen on validation, never the best test number; where other generators
        # tied with it on validation (within the seed rule's noise), the lowest of the tied
        # generators' test scores, since the choice among them was a draw
        chosen = m.get("chosen_on_validation", {}).get("tstr_generator")
        tied = m.get("chosen_on_validation", {}).get("tstr_tied_on_validation") or []

        def synthetic_only(g):
            row = m.get("tstr", {}).get(g)
            value = row.get("synthetic_only") if isinstance(row, dict) else None
            # one run saved a number; a run over several seeds saves {mean, std, ...}
            return value.get("mean") if isinstance(value, dict) else value

        scores = [synthetic_only(g) for g in ([chosen] if chosen is not None else []) + list(tied)]
        out["chosen_synthetic_only"] = (None if not scores or any(v is None for v in scores)
                                        else min(scores))
    return out


def load_results(profile: str, root: Path = ROOT) -> dict[str, dict]:
    """Return {chapter stem: results record} for a profile's committed results."""
    from . import report
    from .errors import DataError

    out = {}
    for path in sorted((root / "results" / profile).glob("[0-9]*.json")):
        try:
            out[path.stem] = report.load_results(path)
        except DataError as e:
            raise ConfigError(f"{e}") from None
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "—" if v is None else str(v)


def markdown(profile: str = "cpu", root: Path = ROOT) -> str:
    """Return the Markdown of the results overview for a profile."""
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r} for the overview; choose one of: "
                          f"{', '.join(PROFILES)}")
    results = load_results(profile, root)
    try:
        return _markdown(profile, results, root)
    except (AttributeError, TypeError, KeyError, ValueError) as e:  # a field of the wrong type
        raise ConfigError(f"a results file under {root / 'results' / profile} has a field of the "
                          f"wrong type ({type(e).__name__}: {e}); re-run that chapter") from None


def _markdown(profile: str, results: dict[str, dict], root: Path) -> str:
    """Return the overview's Markdown from loaded results (fields of the wrong type raise)."""
    lines = [
        "# Results overview",
        "",
        f"This page is generated by `python -m genclass_utils overview` from `results/{profile}/`,",
        "the numbers saved by the last reference run of each chapter (`make run`). Nothing here is",
        "typed by hand; re-run a chapter and this page follows.",
        "",
        "## Targets",
        "",
        "| chapter | what | measured | target | met |",
        "|---|---|---|---|---|",
    ]
    for stem, path, op, target, what in TARGETS:
        rec = results.get(stem)
        if rec is None:
            lines.append(f"| {stem} | {what} | not run yet | {op} {_fmt(target)} | — |")
            continue
        value = _get(rec, path)
        if value is None:
            value = _derived(stem, rec).get(path)
        if isinstance(target, str):  # another measured number
            t_stem, t_path = target.split(":")
            t_rec = results.get(t_stem)
            target_value = _get(t_rec, t_path) if t_rec else None
            target_text = f"{op} {_fmt(target_value)} ({t_path})"
        else:
            target_value, target_text = target, f"{op} {_fmt(target)}"
        met = ("—" if value is None or target_value is None
               else ("yes" if _OPS[op](value, target_value) else "**no**"))
        lines.append(f"| {stem} | {what} | {_fmt(value)} | {target_text} | {met} |")
    lines += _spaces_section(results)
    lines += _clips_volumes_section(results)
    lines += _time_section(profile, results, root)
    lines += ["", "The full metrics of each chapter are in its JSON file and at the end of the "
              "chapter itself.", ""]
    return "\n".join(lines)


SPACES = ("evaluator", "autoencoder")


def _spaces_section(results: dict[str, dict]) -> list[str]:
    """Return the table of each generator's Fréchet distance and KID in both feature spaces."""
    rec = results.get("06_evaluating_generators")
    m = (rec or {}).get("metrics", {})
    rows = [("real (test images)", m.get("real", {}))] + list(m.get("generators", {}).items())
    rows = [(name, r) for name, r in rows if isinstance(r.get("fd"), dict)]
    if not rows:
        return []
    head = " | ".join(f"FD {s} | KID {s} (± se)" for s in SPACES)
    lines = ["", "## Generators in two feature spaces", "",
             "Chapter 6's Fréchet distance (FD) and kernel distance (KID, with its standard error) "
             "in the evaluator's features (trained to classify) and in an autoencoder's code "
             "(trained without labels). Lower is closer to the real test images.", "",
             f"| generator | {head} |", "|---" * (1 + 2 * len(SPACES)) + "|"]
    for name, r in rows:
        cells = []
        for sp in SPACES:
            kid, se = r.get("kid", {}).get(sp), r.get("kid_se", {}).get(sp)
            cells += [_fmt(r["fd"].get(sp)),
                      "—" if kid is None else f"{kid:.4g} ± {_fmt(se)}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


CLIPS_VOLUMES_SLUG = "clips_and_volumes"
_MODALITIES = (("clips", "clips, (2+1)-D CNN"), ("volumes", "volumes, 3-D CNN"))
_VARIANTS = (("real_only", "real only"), ("synthetic_only", "synthetic only (TSTR)"),
             ("real_plus_generated", "real + generated"))


def _clips_volumes_section(results: dict[str, dict]) -> list[str]:
    """Return the table of the clips-and-volumes chapter: test accuracy, mean ± std over seeds."""
    stem = next((s for s in sorted(results) if s.split("_", 1)[-1] == CLIPS_VOLUMES_SLUG), None)
    m = results[stem].get("metrics", {}) if stem else {}
    if not any(isinstance(m.get(k), dict) for k, _ in _MODALITIES):
        return []
    lines = ["", "## Clips and volumes", "",
             f"Test accuracy of {stem}, mean ± standard deviation over seeds (fixed test set).", "",
             "| data, classifier | " + " | ".join(name for _, name in _VARIANTS) + " | seeds |",
             "|---" * (2 + len(_VARIANTS)) + "|"]
    for key, label in _MODALITIES:
        row = m.get(key) or {}
        cells, seeds = [], "—"
        for v, _ in _VARIANTS:
            r = row.get(v)
            if isinstance(r, dict) and r.get("mean") is not None:
                cells.append(f"{r['mean']:.3f} ± {r.get('std', 0.0):.3f}")
                seeds = str(len(r.get("seeds", [])))
            else:
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {seeds} |")
    return lines


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}"


def _time_section(profile: str, results: dict[str, dict], root: Path) -> list[str]:
    """Return the lines of the time budget: per-chapter time and budget, and the total from scratch."""
    from .runbook import load_times

    prof = PROFILES[profile]
    times = load_times(root / "results" / profile)
    full = times.get("from_scratch") or {}
    scratch_times = full.get("chapters", {})
    lines = ["", "## Time budget", "",
             "Each chapter's budget is for a run from scratch: an empty `artifacts/` folder, so that "
             "the chapter also trains every model it loads from earlier chapters. The table gives "
             "each chapter's time in the last whole-book run from scratch (judged against the "
             "budget) and in its last `make run`, which may have loaded saved models (minutes).", "",
             "| chapter | from scratch (min) | budget (min) | within | last run (min) | last run from scratch | "
             "last run date | machine |",
             "|---|---|---|---|---|---|---|---|"]
    stems = sorted(set(results) | set(times["chapters"]))
    for stem in stems:
        rec, t = results.get(stem, {}), times["chapters"].get(stem, {})
        wall = t.get("seconds", rec.get("wall_seconds"))
        # the chapter's own last run if it started empty and is newer than the whole-book run
        # from scratch, else that whole-book run's time for it
        newer = t.get("from_scratch") is True and t.get("date", "") > full.get("date", "")
        scratch_wall = wall if newer else scratch_times.get(stem, wall if t.get("from_scratch") else None)
        budget = prof.chapter_budget(stem)
        within = ("—" if scratch_wall is None or budget is None
                  else "yes" if scratch_wall <= budget else "**no**")
        scratch = {True: "yes", False: "no"}.get(t.get("from_scratch"), "—")
        hw = rec.get("hardware", {})
        machine = f"{hw.get('cpu_count', '?')} CPU cores" + (
            f", {len(hw['gpus'])} GPU" if hw.get("gpus") else "")
        lines.append(f"| {stem} | {_minutes(scratch_wall)} | {_minutes(budget)} | {within} | "
                     f"{_minutes(wall)} | {scratch} | {t.get('date', rec.get('date', '—'))} | {machine} |")
    book = prof.book_seconds
    if full:
        verdict = "" if book is None else (" (within" if full["seconds"] <= book else " (**over**")
        verdict += "" if book is None else f" the budget of {book / 60:.0f} minutes)"
        lines += ["", f"**Whole book from scratch:** {full['seconds'] / 60:.1f} minutes on "
                  f"{full.get('date', '—')}{verdict}, every chapter in book order from an empty "
                  "`artifacts/` folder."]
        # chapters re-run since that measurement: say so, with their new times
        since = {stem: t for stem, t in times.get("chapters", {}).items()
                 if t.get("date", "") > full.get("date", "") and stem in full.get("chapters", {})}
        if since:
            changed = ", ".join(f"{stem} {full['chapters'][stem] / 60:.1f} → {t['seconds'] / 60:.1f} min"
                                for stem, t in sorted(since.items()))
            lines.append(f"Re-run since then (their times then → in their last run): {changed}.")
        fresh = {stem: t["seconds"] for stem, t in since.items() if t.get("from_scratch") is True}
        if fresh:  # a later run from scratch that did not reach the end of the book
            total = sum(fresh.values())
            lines.append(f"Measured from scratch since then, without the rest of the book: "
                         f"{', '.join(sorted(fresh))}, together {total / 60:.1f} minutes"
                         + ("" if book is None else f" ({'within' if total <= book else '**over**'} the "
                            f"whole book's budget of {book / 60:.0f} minutes on their own)")
                         + "; the whole-book total above predates them.")
        lines.append("")
    else:
        lines += ["", "**Whole book from scratch:** not measured yet (run `make run` with an empty "
                  f"`artifacts/{profile}/` folder)" + ("" if book is None else
                  f"; the budget is {book / 60:.0f} minutes") + ".", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Write book/results.md from the results of a profile; return 0."""
    ap = argument_parser(prog="python -m genclass_utils overview")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "book" / "results.md"))
    args = ap.parse_args(argv)
    atomic_write_text(args.out, markdown(args.profile))
    print(f"wrote {args.out}")
    return 0
