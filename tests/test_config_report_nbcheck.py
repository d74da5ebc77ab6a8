"""Profiles, results files and the notebook freshness check."""

from __future__ import annotations

import json

import nbformat
import pytest

from genclass_utils import config, nbcheck, report
from genclass_utils.errors import ConfigError


def test_profile_resolution_order(monkeypatch):
    monkeypatch.setenv("GENCLASS_PROFILE", "smoke")
    assert config.resolve_profile("cpu").name == "cpu"  # the parameter wins
    assert config.resolve_profile(None).name == "smoke"  # then the environment
    monkeypatch.delenv("GENCLASS_PROFILE")
    monkeypatch.setattr(config, "gpu_available", lambda: True)
    assert config.resolve_profile(None).name == "gpu"  # then the hardware
    monkeypatch.setattr(config, "gpu_available", lambda: False)
    assert config.resolve_profile(None).name == "cpu"
    assert config.resolve_profile("auto").name == "cpu"


def test_unknown_profile_lists_choices():
    with pytest.raises(ConfigError, match="smoke, cpu, gpu"):
        config.resolve_profile("fast")


def test_unknown_budget_kind_lists_kinds():
    with pytest.raises(ConfigError, match="known kinds"):
        config.CPU.epochs("transformer")


def test_every_profile_has_the_same_kinds():
    kinds = set(config.CPU.epochs_by_kind)
    assert set(config.SMOKE.epochs_by_kind) == kinds == set(config.GPU.epochs_by_kind)
    assert set(config.SMOKE.samples_by_kind) == set(config.CPU.samples_by_kind) == set(config.GPU.samples_by_kind)


def _cfg(tmp_path, profile):
    return config.RunConfig(profile=config.PROFILES[profile], dataset="fashion_mnist", seed=1,
                            device="CPU", root=tmp_path)


def test_save_results_contents(tmp_path):
    cfg = _cfg(tmp_path, "cpu")
    path = report.save_results("02_demo", {"acc": 0.5, "nan": float("nan")}, cfg)
    assert path == tmp_path / "results" / "cpu" / "02_demo.json"
    rec = json.loads(path.read_text())
    for key in ("notebook", "profile", "dataset", "seed", "metrics", "wall_seconds", "hardware",
                "versions", "date"):
        assert key in rec
    assert rec["metrics"] == {"acc": 0.5, "nan": None}
    assert not list(path.parent.glob("*.tmp"))


def test_smoke_results_stay_out_of_git(tmp_path):
    path = report.save_results("x", {}, _cfg(tmp_path, "smoke"))
    assert path.parent == tmp_path / "_build" / "results" / "smoke"


def _nb(tmp_path, code="print(1)", stamp=True, error=False, profile="cpu"):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    if error:
        nb.cells[0].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])]
    if stamp:
        nb.metadata["genclass"] = {"profile": profile, "code_sha256": nbcheck.code_sha256(nb),
                                   "outputs_sha256": nbcheck.outputs_sha256(nb)}
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    return path


def test_nbcheck_fresh(tmp_path):
    assert nbcheck.check_notebook(_nb(tmp_path)) == []
    assert nbcheck.main([str(tmp_path)]) == 0


def test_nbcheck_stale(tmp_path):
    path = _nb(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "print(2)"
    nbformat.write(nb, path)
    assert any("stale" in p for p in nbcheck.check_notebook(path))
    assert nbcheck.main([str(tmp_path)]) == 1


def test_nbcheck_missing_stamp_and_error_output(tmp_path):
    problems = nbcheck.check_notebook(_nb(tmp_path, stamp=False, error=True))
    assert any("no reference-run metadata" in p for p in problems)
    assert any("error output" in p for p in problems)


def test_nbcheck_refuses_smoke_outputs(tmp_path):
    assert any("not a reference profile" in p for p in nbcheck.check_notebook(_nb(tmp_path, profile="smoke")))


def test_nbcheck_exempts_underscore(tmp_path):
    path = _nb(tmp_path, stamp=False)
    path.rename(tmp_path / "_template.ipynb")
    assert nbcheck.notebooks_in([str(tmp_path)]) == []


def test_markdown_edits_do_not_make_stale(tmp_path):
    path = _nb(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("new prose"))
    nbformat.write(nb, path)
    assert nbcheck.check_notebook(path) == []
