"""Where the package writes and reads, wherever it is installed; what it says before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genclass_utils import artifacts, config, data, report
from genclass_utils.config import PROFILES, RunConfig

REPO = Path(__file__).resolve().parents[1]


def _cfg(profile: str = "smoke", **kw) -> RunConfig:
    return RunConfig(profile=PROFILES[profile], dataset="fashion_mnist", seed=0, device="CPU", **kw)


@pytest.fixture
def no_overrides(monkeypatch):
    for var in ("GENCLASS_HOME", "GENCLASS_ARTIFACTS", "GENCLASS_DATA"):
        monkeypatch.delenv(var, raising=False)


def test_home_in_a_checkout_is_the_checkout(no_overrides):
    assert config.checkout_root() == REPO
    assert config.home() == REPO
    assert _cfg("cpu").results_dir == REPO / "results" / "cpu"


def test_home_outside_a_checkout_is_the_per_user_folder(no_overrides, monkeypatch, tmp_path):
    monkeypatch.setattr(config, "checkout_root", lambda: None)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert config.home() == tmp_path / "cache" / "genclass"
    cfg = _cfg()
    assert cfg.artifacts_dir == tmp_path / "cache" / "genclass" / "artifacts" / "smoke"
    assert cfg.results_dir == tmp_path / "cache" / "genclass" / "_build" / "results" / "smoke"
    assert data.download_dir("mnist") == tmp_path / "cache" / "genclass" / "data" / "mnist"


def test_genclass_home_wins_and_each_override_keeps_its_part(no_overrides, monkeypatch, tmp_path):
    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path / "h"))
    cfg = _cfg("cpu")
    assert cfg.root == tmp_path / "h"
    assert cfg.artifacts_dir == tmp_path / "h" / "artifacts" / "cpu"
    assert cfg.results_dir == tmp_path / "h" / "results" / "cpu"
    assert ("data/", tmp_path / "h" / "data" / "mnist") in data.search_dirs("mnist")
    monkeypatch.setenv("GENCLASS_ARTIFACTS", str(tmp_path / "models"))
    monkeypatch.setenv("GENCLASS_DATA", str(tmp_path / "files"))
    assert _cfg("cpu").artifacts_dir == tmp_path / "models" / "cpu"
    assert data.download_dir("mnist") == tmp_path / "files" / "mnist"


def test_manifest_is_package_data():
    assert data.MANIFEST_PATH == Path(data.__file__).resolve().parent / "manifest.json"
    assert set(data.manifest("fashion_mnist")["files"]) == {
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'genclass_utils = ["manifest.json", "records/*.json"]' in pyproject
    # chapters 3 and 5 read their tuning records wherever the package is installed
    from genclass_utils import tuning

    for model in ("cgan", "vaegan"):
        assert tuning.shipped_record_path(model, "cpu").is_file(), model


def test_every_model_a_chapter_loads_names_its_chapter():
    for chapter in set(artifacts.MODEL_CHAPTERS.values()):
        assert (REPO / "notebooks" / f"{chapter}.ipynb").is_file()


def test_training_another_chapters_model_is_announced_with_paths(no_overrides, monkeypatch,
                                                                  tmp_path, capsys):
    import keras

    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path))
    cfg = _cfg()
    (cfg.results_dir).mkdir(parents=True)
    (cfg.results_dir / "03_gan.json").write_text(json.dumps({"wall_seconds": 150.0}))

    def train():
        print("training")
        inputs = keras.Input((2,))
        return keras.Model(inputs, keras.layers.Dense(1)(inputs))

    artifacts.load_or_train("cgan", cfg, train)
    lines = capsys.readouterr().out.splitlines()
    path = tmp_path / "artifacts" / "smoke" / "cgan_fashion_mnist.keras"
    assert lines[0].startswith("training cgan now: it is chapter 3's model "
                               "(notebooks/03_gan.ipynb)")
    assert "run of that whole chapter took about 2 min, but it may have loaded" in lines[0]
    assert lines[1:] == ["training", f"saved cgan to {path}"]
    artifacts.load_or_train("cgan", cfg, train)
    assert capsys.readouterr().out.splitlines() == [f"loaded cgan from {path}"]
    other = artifacts.training_notice("cvae", _cfg())
    assert "chapter 4's model" in other and "no time estimate" in other
    # A run from an empty artifacts folder trained the chapter's models: that time is preferred.
    (cfg.results_dir / "run_times.json").write_text(json.dumps(
        {"chapters": {"03_gan": {"seconds": 1500.0, "from_scratch": True}}}))
    notice = artifacts.training_notice("dcgan", cfg)
    assert "training its models from scratch, took about 25 min" in notice
    # A later run that loaded them does not replace that time: the whole-book run from scratch
    # still knows how long the chapter takes when it trains.
    (cfg.results_dir / "run_times.json").write_text(json.dumps(
        {"chapters": {"03_gan": {"seconds": 30.0, "from_scratch": False}},
         "from_scratch": {"seconds": 4000.0, "chapters": {"03_gan": 900.0}}}))
    notice = artifacts.training_notice("dcgan", cfg)
    assert "training its models from scratch, took about 15 min" in notice


def test_results_record_the_device_and_print_an_absolute_path(no_overrides, monkeypatch,
                                                              tmp_path, capsys):
    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path))
    path = report.save_results("99_probe", {"x": 1.0}, _cfg())
    record = json.loads(path.read_text())
    assert record["device"] == "CPU" and record["precision"] == "float32"
    assert capsys.readouterr().out.strip() == f"saved {path}" and path.is_absolute()


def test_mixed_precision_only_for_the_gpu_profile_on_a_gpu(monkeypatch):
    import keras

    monkeypatch.setattr(config, "gpu_available", lambda: True)
    assert config.precision_for(PROFILES["gpu"]) == "mixed_float16"
    assert config.precision_for(PROFILES["cpu"]) == "float32"
    monkeypatch.setattr(config, "gpu_available", lambda: False)
    assert config.precision_for(PROFILES["gpu"]) == "float32"
    with config.precision_scope(_cfg("gpu", precision="mixed_float16")) as policy:
        assert policy == keras.mixed_precision.global_policy().name == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == "float32"
