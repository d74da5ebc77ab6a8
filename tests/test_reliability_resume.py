"""A training run killed mid-way resumes from its last epoch and ends with the same weights.

The run is really killed (SIGKILL from a callback, as a dying kernel), then started again in a
new process; the final weights, optimizer state and random-seed states must equal those of an
uninterrupted run exactly (CPU, op determinism on).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("_resume_worker.py")
ROOT = Path(__file__).resolve().parents[1]


def _start(models: str, backup: Path, out: Path, kill_after: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3",
               CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen([sys.executable, str(WORKER), models, str(backup), str(out),
                             str(kill_after)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait(p: subprocess.Popen) -> tuple[int, str]:
    out, _ = p.communicate(timeout=300)
    return p.returncode, out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run both models unbroken, and killed after epoch 2 then resumed; return the states."""
    tmp = tmp_path_factory.mktemp("resume")
    procs = {
        "full": _start("classifier,gan", tmp / "full_backup", tmp / "full", 0),
        "kill_classifier": _start("classifier", tmp / "backup", tmp / "killed", 2),
        "kill_gan": _start("gan", tmp / "backup", tmp / "killed", 2),
    }
    codes = {k: _wait(p) for k, p in procs.items()}
    backups = sorted(p.name for p in (tmp / "backup" / "backup").iterdir())
    resumed = _wait(_start("classifier,gan", tmp / "backup", tmp / "resumed", 0))
    return tmp, codes, backups, resumed


@pytest.mark.slow
def test_killed_runs_died_and_left_a_backup(runs):
    tmp, codes, backups, _ = runs
    assert codes["full"][0] == 0, codes["full"][1][-3000:]
    for k in ("kill_classifier", "kill_gan"):
        assert codes[k][0] == -9, f"{k} was not killed: {codes[k]}"
    assert backups == ["classifier_toy", "gan_toy"]
    assert not (tmp / "killed").exists() or not list((tmp / "killed").glob("*.npz"))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["classifier", "gan"])
def test_resumed_run_equals_unbroken_run(runs, model):
    tmp, _, _, resumed = runs
    assert resumed[0] == 0, resumed[1][-3000:]
    full = np.load(tmp / "full" / f"{model}.npz")
    res = np.load(tmp / "resumed" / f"{model}.npz")
    assert int(full["epochs_run"]) == 4
    assert int(res["epochs_run"]) == 2  # only the two epochs left were run
    keys = [k for k in full.files if k != "epochs_run"]
    assert set(keys) <= set(res.files)
    assert any("optimizer" in k for k in keys)
    diff = [k for k in keys if not np.array_equal(full[k], res[k])]
    assert not diff, f"{model}: resumed state differs from the unbroken run in {diff}"


@pytest.mark.slow
def test_backup_is_deleted_after_a_finished_run(runs):
    tmp, *_ = runs
    assert not (tmp / "backup" / "backup" / "classifier_toy").exists()
    assert not (tmp / "backup" / "backup" / "gan_toy").exists()
