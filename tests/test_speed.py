"""Time budgets, progress lines and the refusals of bench, overview and `make run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genclass_utils import bench, config, overview, runbook
from genclass_utils.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- budgets

def test_cpu_budgets_fit_the_hour_and_name_every_chapter():
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    assert notebooks
    for stem in notebooks:
        assert config.CPU.chapter_budget(stem) is not None, stem
        assert config.SMOKE.chapter_budget(stem) == 30, stem
    assert sum(config.CPU.chapter_seconds.values()) <= config.CPU.book_seconds == 3600
    assert config.CPU.chapter_budget("notebooks/03_gan.ipynb") == config.CPU.chapter_seconds["gan"]
    assert config.CPU.chapter_budget("99_unknown") is None


def test_progress_line_reports_elapsed_and_remaining():
    line = runbook.progress_line(3, 8, "03_gan", 700.0, 600, 900.0, 1200.0)
    assert line.startswith("[3/8] 03_gan: 700 s (budget 600 s, OVER)")
    assert "elapsed 15.0 min" in line and "expected remaining ~20.0 min" in line
    assert "unknown" in runbook.progress_line(1, 2, "x", 1.0, None, 1.0, None)


def test_expected_remaining_uses_last_time_then_budget():
    times = {"chapters": {"03_gan": {"seconds": 500.0}}}
    assert runbook.expected_seconds("03_gan", config.CPU, times) == 500.0
    assert runbook.expected_seconds("04_vae", config.CPU, times) == config.CPU.chapter_seconds["vae"]


# --------------------------------------------------------------------------- overview

def _write(root, stem, wall=100.0):
    path = root / "results" / "cpu" / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": {}, "wall_seconds": wall, "hardware": {"cpu_count": 2}}))


def test_overview_lists_time_budget_and_total_from_scratch(tmp_path):
    _write(tmp_path, "03_gan", 700.0)
    page = overview.markdown("cpu", tmp_path)
    table = page.split("## Time budget")[1].splitlines()
    row = next(ln for ln in table if ln.startswith("| 03_gan |"))
    assert row.startswith("| 03_gan | — | 10.0 | — | 11.7 |")  # a run that may have loaded models is not judged
    assert "not measured yet" in page
    (tmp_path / "results" / "cpu" / runbook.TIMES_FILE).write_text(json.dumps({
        "chapters": {"03_gan": {"seconds": 500.0, "from_scratch": True, "date": "d"}},
        "from_scratch": {"seconds": 3000.0, "date": "d", "chapters": {}}}))
    page = overview.markdown("cpu", tmp_path)
    assert "50.0 minutes" in page and "within" in page
    row = next(ln for ln in page.split("## Time budget")[1].splitlines() if ln.startswith("| 03_gan |"))
    assert row.startswith("| 03_gan | 8.3 | 10.0 | yes | 8.3 | yes |")


def test_overview_unknown_profile_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile 'bogus'"):
        overview.markdown("bogus", tmp_path)


def test_overview_cli_unknown_profile_one_sentence_nonzero(tmp_path):
    out = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, "-m", "genclass_utils", "overview", "--profile", "bogus",
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith("error: unknown profile 'bogus'")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_overview_corrupt_results_file_named(tmp_path):
    path = tmp_path / "results" / "cpu" / "02_cnn_basics.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="02_cnn_basics.json"):
        overview.markdown("cpu", tmp_path)


# --------------------------------------------------------------------------- bench

def test_bench_fewer_images_than_a_batch_refused():
    with pytest.raises(ConfigError, match="full batch"):
        bench.run(quick=True, models=("cnn",), n_images=100, steps=1, runs=1)


@pytest.mark.parametrize("n", [0, 1, True, 2.5, "3"])
def test_bench_n_settings_must_keep_default_and_naive(n):
    with pytest.raises(ConfigError, match="n_settings"):
        bench.run(quick=True, models=("cnn",), n_images=512, steps=1, runs=1, n_settings=n)


def test_bench_settings_start_with_what_the_chapter_ratios_need():
    assert [s.name for s in bench.settings(quick=True)[:3]] == ["default", "naive", "jit_on"]


@pytest.mark.parametrize("kw", [{"steps": -1}, {"steps": 0}, {"runs": -1}, {"runs": 0},
                                {"steps": 1.5}, {"n_images": -5}])
def test_bench_nonpositive_steps_or_runs_refused(kw):
    args = {"quick": True, "models": ("cnn",), "n_images": 512, "steps": 1, "runs": 1, **kw}
    with pytest.raises(ConfigError, match="positive integer|full batch"):
        bench.run(**args)


def test_bench_measure_refuses_zero_batches():
    s = bench.Setting("default")
    with pytest.raises(ConfigError, match="full batch"):
        bench.measure("cnn", bench.cnn_factory, s, np.zeros((8, 28, 28, 1), np.float32),
                      np.zeros(8, np.int64), steps=1, runs=1, gpu=False)


def test_bench_output_checked_before_measuring(tmp_path, monkeypatch):
    def boom(**kwargs):
        raise AssertionError("measured before checking the output")

    monkeypatch.setattr(bench, "run", boom)
    with pytest.raises(ConfigError, match="does not exist"):
        bench.main(["--quick", "--out", str(tmp_path / "missing" / "b.json")])
    with pytest.raises(ConfigError, match="is a folder"):
        bench.main(["--quick", "--out", str(tmp_path)])
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root can write anywhere; the check is moot then
            with pytest.raises(ConfigError, match="not writable"):
                bench.main(["--quick", "--out", str(ro / "b.json")])
    finally:
        ro.chmod(0o700)


# --------------------------------------------------------------------------- make run

FAILING_NB = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a1", "metadata": {},
                         "outputs": [], "source": "raise ValueError('on purpose')"}],
              "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                          "language": "python"}},
              "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.slow
def test_failing_notebook_under_make_run_is_one_sentence(tmp_path):
    nb = tmp_path / "01_fails.ipynb"
    nb.write_text(json.dumps(FAILING_NB))
    before = nb.read_text()
    proc = subprocess.run([sys.executable, "-m", "genclass_utils", "run", "--profile", "smoke",
                           str(nb)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode != 0
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "01_fails.ipynb failed" in err[0] and "on purpose" in err[0]
    assert "Traceback" not in proc.stderr
    assert nb.read_text() == before
    assert not runbook.stale_temporaries([tmp_path])


def test_missing_notebook_refused_before_running(tmp_path):
    with pytest.raises(ConfigError, match="no such notebook"):
        runbook.run_all([str(tmp_path / "nope.ipynb")], "smoke", root=tmp_path)


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path, monkeypatch):
    nb = tmp_path / "01_x.ipynb"
    nb.write_text(json.dumps(FAILING_NB))
    left = tmp_path / ".01_x.abc123.running.ipynb"  # what kill -9 during a run leaves
    left.write_text("{}")
    other = tmp_path / ".keep.ipynb"
    other.write_text("{}")
    monkeypatch.setattr(runbook, "ROOT", tmp_path)
    ran = []
    monkeypatch.setattr(runbook, "run_all", lambda nbs, profile: ran.append(nbs))
    assert runbook.main(["--profile", "smoke", str(nb)]) == 0
    assert not left.exists() and other.exists() and ran == [[str(nb)]]


def test_second_run_in_same_checkout_refused(tmp_path):
    with runbook.run_lock(tmp_path):
        with pytest.raises(ConfigError, match="another `make run`"):
            with runbook.run_lock(tmp_path):
                pass


def test_corrupt_run_times_file_named(tmp_path):
    (tmp_path / runbook.TIMES_FILE).write_text("[1, 2")
    with pytest.raises(ConfigError, match=runbook.TIMES_FILE):
        runbook.load_times(tmp_path)


# --------------------------------------------------------------------------- peers

def test_ceiling_shares_divide_by_the_matmul_rate():
    rows = [{"kind": "gan", "course_images_per_s": [90.0, 100.0, 110.0],
             "peer_images_per_s": [50.0], "flops_per_image": 2e9}]
    shares = {s["step"]: s for s in bench.ceiling_shares(rows, 400.0)}
    assert shares["course"]["GFLOP/s"] == pytest.approx(200.0)
    assert shares["course"]["share of matmul rate"] == pytest.approx(0.5)
    assert shares["peer"]["share of matmul rate"] == pytest.approx(0.25)
    assert shares["peer"]["ceiling images/s"] == pytest.approx(200.0)
    with pytest.raises(ConfigError):
        bench.ceiling_shares(rows, 0.0)


@pytest.mark.parametrize("x", [np.zeros((64, 28, 28, 1), np.float32),
                               np.full((256, 28, 28, 1), 2.0, np.float32),
                               np.full((256, 28, 28), 0.5, np.float32)])
def test_compare_peers_refuses_bad_images_before_work(x):
    with pytest.raises(ConfigError):
        bench.compare_peers(x, steps=1, runs=1)


def test_unknown_peer_kind_refused():
    with pytest.raises(ConfigError, match="gan or vae"):
        bench.peer_pair("rnn")


@pytest.mark.slow
def test_compare_peers_measures_both_steps_on_the_same_networks():
    x = np.random.default_rng(0).random((256, 28, 28, 1), dtype=np.float32)
    rows = bench.compare_peers(x, steps=1, runs=2)
    assert [r["kind"] for r in rows] == ["gan", "vae"]
    for r in rows:
        assert len(r["course_images_per_s"]) == len(r["peer_images_per_s"]) == 2
        assert all(v > 0 for v in r["course_images_per_s"] + r["peer_images_per_s"])
        assert r["ratio_min"] <= r["ratio_median"] <= r["ratio_max"]
    course, peer = bench.peer_pair("gan")
    assert course.generator.count_params() == peer.generator.count_params()
    assert bench.train_flops_per_image(course) == bench.train_flops_per_image(peer)
