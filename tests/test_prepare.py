"""The smoke run's plumbing: `prepare` trains each shared model once; only smoke narrows a model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from genclass_utils import artifacts, config, evaluator, prepare

ROOT = Path(__file__).resolve().parent.parent


def test_prepare_covers_every_model_a_later_chapter_loads():
    assert set(artifacts.MODEL_CHAPTERS) <= set(prepare.MODELS)
    assert set(prepare.MODELS) == set(prepare._builders())


def test_prepare_seeds_before_each_model_in_book_order(monkeypatch):
    calls = []

    def fake_builders():
        import numpy as np

        return {name: (lambda cfg, retrain, name=name:
                       calls.append((name, cfg.profile.name, retrain, np.random.random())))
                for name in prepare.MODELS}

    monkeypatch.setattr(prepare, "_builders", fake_builders)
    seconds = prepare.prepare("smoke", models=("vae", "evaluator"), retrain=True)
    assert [c[:3] for c in calls] == [("vae", "smoke", True), ("evaluator", "smoke", True)]
    assert calls[0][3] == calls[1][3]  # each model starts from the same seeded state
    assert set(seconds) == {"vae", "evaluator"} and all(s >= 0 for s in seconds.values())


def test_prepare_retrains_only_when_the_code_changed(monkeypatch, tmp_path):
    monkeypatch.setenv("GENCLASS_ARTIFACTS", str(tmp_path))
    calls = []
    monkeypatch.setattr(prepare, "_builders", lambda: {
        name: (lambda cfg, retrain, name=name: calls.append((name, retrain))) for name in prepare.MODELS})
    prepare.prepare("smoke", if_changed=True)  # no key yet: retrain
    assert {r for _, r in calls} == {True} and len(calls) == len(prepare.MODELS)
    calls.clear()
    prepare.prepare("smoke", if_changed=True)  # same code: load
    assert {r for _, r in calls} == {False}
    calls.clear()
    monkeypatch.setattr(prepare, "code_key", lambda *a: "another code")
    prepare.prepare("smoke", if_changed=True)  # the code changed: retrain
    assert {r for _, r in calls} == {True}
    assert (tmp_path / "smoke" / "prepare.key").read_text().strip() == "another code"


def test_prepare_refuses_an_unknown_model_in_one_sentence():
    proc = subprocess.run([sys.executable, "-m", "genclass_utils", "prepare", "nosuchmodel"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nosuchmodel" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("profile, width", [("cpu", None), ("gpu", None), ("smoke", 8)])
def test_only_smoke_narrows_the_evaluator(monkeypatch, profile, width):
    seen = {}

    class Built(Exception):
        pass

    def fake_cnn(shape, n_classes, **kwargs):
        seen.update(kwargs)
        raise Built

    monkeypatch.setattr(evaluator, "evaluator_cnn", fake_cnn)
    cfg = config.RunConfig(profile=config.PROFILES[profile], dataset="fashion_mnist", seed=0,
                           device="CPU")
    assert cfg.profile.width("evaluator") == width
    with pytest.raises(Built):
        evaluator.train(cfg)
    assert seen == ({} if width is None else {"width": width})  # cpu/gpu: the model's default


@pytest.mark.parametrize("env, n", [(None, 10000), ("cpu", 10000), ("gpu", 10000), ("smoke", 1000)])
def test_only_a_smoke_run_draws_a_smaller_test_split(monkeypatch, env, n):
    import numpy as np

    from genclass_utils import data

    if env is None:
        monkeypatch.delenv("GENCLASS_PROFILE", raising=False)
    else:
        monkeypatch.setenv("GENCLASS_PROFILE", env)
    x, y = data.load_test("fashion_mnist")
    assert len(x) == len(y) == n and not x.flags.writeable and not y.flags.writeable
    assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10  # class-balanced
    if env == "smoke":
        full_x, full_y = data._load("fashion_mnist", "test")
        idx = data.stratified_take(full_y, n, 0)
        assert np.array_equal(x, full_x[idx]) and np.array_equal(y, full_y[idx])
