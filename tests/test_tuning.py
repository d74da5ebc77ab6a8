"""The validation record behind chapter 3's cGAN settings: scoring, the choice, the record file."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from genclass_utils import tuning  # noqa: E402
from genclass_utils.errors import ArtifactError  # noqa: E402
from genclass_utils.evaluator import Evaluator  # noqa: E402
from genclass_utils.models import gan as G  # noqa: E402
from genclass_utils.models.classifiers import evaluator_cnn  # noqa: E402


def _row(recall, precision, label_accuracy):
    return {"recall": recall, "precision": precision, "label_accuracy": label_accuracy}


def test_choose_takes_the_highest_recall_that_keeps_precision_and_labels():
    record = {"settings": {"a": _row(0.2, 0.9, 0.95), "b": _row(0.5, 0.85, 0.9),
                           "c": _row(0.7, 0.6, 0.9), "d": _row(0.8, 0.9, 0.5)}}
    assert tuning.choose(record) == "b"  # c loses precision, d loses the labels
    assert tuning.choose(record, min_precision=0.5) == "c"
    none_ok = {"settings": {"a": _row(0.2, 0.1, 0.1), "b": _row(0.3, 0.1, 0.1)}}
    assert tuning.choose(none_ok) == "b"


def test_the_rule_reads_the_mean_of_a_setting_run_with_several_seeds():
    # seed 0 alone passes the label bar; the mean over three seeds does not
    near = {**_row(0.6, 0.85, 0.86), "repeats": {"1": _row(0.58, 0.84, 0.83), "2": _row(0.62, 0.86, 0.84)}}
    record = {"settings": {"near": near, "safe": _row(0.5, 0.9, 0.9)}}
    assert tuning.choose(record) == "safe"
    s = tuning.summary(near)
    assert s["recall"]["n_seeds"] == 3 and s["recall"]["mean"] == pytest.approx(0.6)
    assert s["label_accuracy"]["mean"] == pytest.approx((0.86 + 0.83 + 0.84) / 3)
    assert s["recall"]["std"] == pytest.approx(0.02)
    assert tuning.summary(_row(0.5, 0.9, 0.9))["recall"] == {"mean": 0.5, "n_seeds": 1, "std": 0.0}
    assert sorted(tuning.runs(near)) == [0, 1, 2]
    near["repeats"]["1"]["label_accuracy"] = 0.95  # now the mean passes, and its recall wins
    assert tuning.choose(record) == "near"


def test_compare_runs_is_welchs_test_on_the_runs_of_two_settings():
    from scipy import stats

    a = {**_row(0.50, 0.9, 0.9), "repeats": {"1": _row(0.52, 0.9, 0.9), "2": _row(0.54, 0.9, 0.9)}}
    b = {**_row(0.40, 0.9, 0.9), "repeats": {"1": _row(0.41, 0.9, 0.9), "2": _row(0.45, 0.9, 0.9)}}
    c = tuning.compare_runs(a, b, "recall")
    assert c["difference"] == pytest.approx(0.52 - 0.42)
    ref = stats.ttest_ind([0.50, 0.52, 0.54], [0.40, 0.41, 0.45], equal_var=False)
    assert c["p"] == pytest.approx(ref.pvalue) and c["low"] > 0 and c["verdict"] == "above"
    assert c["se"] == pytest.approx(np.sqrt(np.var([0.50, 0.52, 0.54], ddof=1) / 3
                                            + np.var([0.40, 0.41, 0.45], ddof=1) / 3))
    noisy = {**_row(0.45, 0.9, 0.9), "repeats": {"1": _row(0.30, 0.9, 0.9), "2": _row(0.60, 0.9, 0.9)}}
    assert tuning.compare_runs(noisy, b, "recall")["verdict"] == "within the noise"
    assert tuning.compare_runs(_row(0.9, 0.9, 0.9), b, "recall")["verdict"] == "not testable"


def test_repeat_seed_needs_named_rows_with_a_first_run(tmp_path, monkeypatch, capsys):
    from genclass_utils.__main__ import main as cli

    assert cli(["tune", "cgan", "--repeat-seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--only" in err and "\n" not in err
    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path))
    monkeypatch.setattr(tuning, "judges", lambda cfg, model: {"evaluator": "today's"})
    monkeypatch.setattr(tuning, "fingerprint", lambda net: "same")
    monkeypatch.setattr(tuning, "tune_cgan", lambda *a, **k: pytest.fail("trained before refusing"))
    out = tmp_path / "_build" / "results" / "smoke" / "tuning" / "cgan.json"
    out.parent.mkdir(parents=True)
    out.write_text(json.dumps({"judges": {"evaluator": "same"}, "settings": {"baseline": _row(0.1, 0.9, 0.9)}}))
    assert cli(["tune", "cgan", "--profile", "smoke", "--only", "mode_seeking", "--repeat-seed", "1"]) == 2
    assert "no first run" in capsys.readouterr().err
    assert cli(["tune", "cgan", "--profile", "smoke", "--only", "baseline", "--repeat-seed", "0"]) == 2
    assert "must differ" in capsys.readouterr().err


def test_a_repeat_is_added_to_its_row_and_keeps_the_first_run(tmp_path, monkeypatch):
    from genclass_utils.__main__ import main as cli

    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path))
    monkeypatch.setattr(tuning, "judges", lambda cfg, model: {"evaluator": "today's"})
    monkeypatch.setattr(tuning, "fingerprint", lambda net: "same")
    seen = []

    def fake_tune(cfg, settings, spaces=None, train_seed=None):
        seen.append((cfg.seed, train_seed))
        return {"settings": {n: {**_row(0.3, 0.8, 0.8), "fd": 9.0, "train_seconds": 1.0, "steps": 5}
                             for n in settings}}

    monkeypatch.setattr(tuning, "tune_cgan", fake_tune)
    out = tmp_path / "_build" / "results" / "smoke" / "tuning" / "cgan.json"
    out.parent.mkdir(parents=True)
    first = {**_row(0.5, 0.9, 0.9), "fd": 3.0, "train_seconds": 2.0, "steps": 5, "floor": {}}
    out.write_text(json.dumps({"judges": {"evaluator": "same"}, "seed": 0, "settings": {"baseline": first}}))
    assert cli(["tune", "cgan", "--profile", "smoke", "--only", "baseline", "--repeat-seed", "2"]) == 0
    assert seen == [(0, 2)]  # the record's split (seed 0), the repeat's training seed
    row = json.loads(out.read_text())["settings"]["baseline"]
    assert row["recall"] == 0.5 and row["repeats"]["2"]["recall"] == 0.3
    assert tuning.summary(row)["recall"]["mean"] == pytest.approx(0.4)


def test_score_conditional_counts_classes():
    rng = np.random.default_rng(0)
    gen = G.export_generator(G.generator_net((28, 28, 1), latent_dim=8, n_classes=10, width=4))
    judge = Evaluator(evaluator_cnn((28, 28, 1), 10, width=4, embedding_dim=16))
    f_ref = judge.embed(rng.integers(0, 256, (40, 28, 28, 1), dtype=np.uint8))
    out = tuning.score_conditional(gen, judge, f_ref, n_classes=10, seed=0, k=3)
    assert out["n"] == 40 and out["k"] == 3
    assert 0.0 <= out["precision"] <= 1.0 and 0.0 <= out["recall"] <= 1.0 and out["fd"] >= 0.0
    assert 0.0 <= out["label_accuracy"] <= 1.0


def test_load_record_reads_your_own_then_the_shipped_one_then_says_how_to_make_one(
        tmp_path, monkeypatch):
    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path))
    shipped = tuning.load_record("cgan")  # nothing of your own: the course's record
    assert tuning.choose(shipped) in shipped["settings"]
    monkeypatch.setattr(tuning, "shipped_record_path", lambda *a: tmp_path / "absent.json")
    with pytest.raises(ArtifactError, match="genclass_utils tune cgan"):
        tuning.load_record("cgan")
    path = tuning.record_path("cgan")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ArtifactError, match="unreadable"):
        tuning.load_record("cgan")
    path.write_text(json.dumps({"settings": {"a": _row(0.1, 0.9, 0.9)}}))
    assert tuning.choose(tuning.load_record("cgan")) == "a"


def test_tune_command_refuses_an_unknown_setting_in_one_sentence(capsys):
    from genclass_utils.__main__ import main as cli

    assert cli(["tune", "cgan", "--only", "no_such_setting"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown setting 'no_such_setting'") and "\n" not in err


def test_a_setting_does_not_inherit_the_tuned_defaults():
    assert G.CGAN_DEFAULTS  # otherwise there is nothing to protect against
    base = tuning.explicit(tuning.CGAN_CANDIDATES["baseline"])
    assert base["mode_seeking"] == 0.0 and base["minibatch_std"] is False
    assert tuning.explicit({"mode_seeking": 1.0})["mode_seeking"] == 1.0


def test_every_setting_names_its_budget_and_the_rows_keep_the_first_runs_budget():
    # a row without its own budget would train at the profile's current one, which changed
    # after the rows were first run (the cGAN's batch went from 128 to the chosen 64)
    for candidates in tuning.CANDIDATES.values():
        assert all("epochs" in s for s in candidates.values())
    assert all("batch_size" in s for s in tuning.CGAN_CANDIDATES.values())
    budgets = {n: (s["epochs"], s["batch_size"]) for n, s in tuning.CGAN_CANDIDATES.items()}
    assert budgets["baseline"] == (4, 128) and budgets["baseline_batch_64"] == (4, 64)
    assert budgets["mode_seeking_8_epochs"] == budgets["baseline_8_epochs"] == (8, 128)


def test_vaegan_choice_ignores_the_pixel_vae_references_and_scores_two_spaces():
    def row(fd, variant="vaegan"):
        return {"variant": variant, "fd": {"evaluator": fd, "autoencoder": 1.0}}

    record = {"settings": {"base": row(600), "better": row(480), "ref": row(400, "pixelvae")}}
    assert tuning.choose_vaegan(record) == "better"
    with pytest.raises(ArtifactError):
        tuning.choose_vaegan({"settings": {"ref": row(1, "pixelvae")}})
    rng = np.random.default_rng(0)
    gen = G.export_generator(G.generator_net((28, 28, 1), latent_dim=8, width=4))
    judge = Evaluator(evaluator_cnn((28, 28, 1), 10, width=4, embedding_dim=16))
    refs = {"evaluator": judge.embed(rng.integers(0, 256, (40, 28, 28, 1), dtype=np.uint8))}
    out = tuning.score_unconditional(gen, {"evaluator": judge}, refs, n=40, subset_size=20)
    assert out["n"] == 40 and out["fd"]["evaluator"] >= 0.0 and out["kid_se"]["evaluator"] >= 0
    assert 0.0 <= out["recall"] <= 1.0 and out["sharpness"] >= 0.0


def test_tune_vaegan_refuses_an_unknown_setting(capsys):
    from genclass_utils.__main__ import main as cli

    assert cli(["tune", "vaegan", "--only", "baseline,nope"]) == 2
    assert "unknown setting 'nope'" in capsys.readouterr().err


def test_a_record_names_the_judge_networks_that_scored_it():
    keras.utils.set_random_seed(0)
    judge = Evaluator(evaluator_cnn((28, 28, 1), 10, width=4, embedding_dim=16))
    keras.utils.set_random_seed(1)
    other = Evaluator(evaluator_cnn((28, 28, 1), 10, width=4, embedding_dim=16))
    fp = tuning.fingerprint(judge)
    assert fp == tuning.fingerprint(judge.model) and fp != tuning.fingerprint(other)
    record = {"settings": {}, "judges": {"evaluator": fp}}
    assert tuning.judges_match(record, {"evaluator": judge}) is True
    assert tuning.judges_match(record, {"evaluator": other}) is False
    assert tuning.judges_match({"settings": {}}, {"evaluator": judge}) is None  # an older record
    assert "one scale" in tuning.judges_sentence(record, {"evaluator": judge})
    assert "differ" in tuning.judges_sentence(record, {"evaluator": other})
    assert "no fingerprint" in tuning.judges_sentence({"settings": {}}, {"evaluator": judge})


def test_new_rows_do_not_join_rows_scored_by_other_judges(tmp_path, monkeypatch, capsys):
    """`tune --only` refuses to merge rows scored by another training of the judge networks."""
    from genclass_utils.__main__ import main as cli

    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path))
    out = tmp_path / "_build" / "results" / "smoke" / "tuning" / "cgan.json"  # smoke's results folder
    calls = []

    def fake_tuner(cfg, settings, spaces=None):
        calls.append(sorted(settings))
        return {"profile": cfg.profile.name, "judges": {"evaluator": "new"},
                "settings": {n: _row(0.5, 0.9, 0.9) for n in settings}}

    monkeypatch.setitem(tuning.TUNERS, "cgan", fake_tuner)
    monkeypatch.setattr(tuning, "judges", lambda cfg, model: {"evaluator": "today's"})
    monkeypatch.setattr(tuning, "fingerprint", lambda net: "new")
    out.parent.mkdir(parents=True)
    out.write_text(json.dumps({"judges": {"evaluator": "old"}, "settings": {"baseline": _row(0.1, 0.9, 0.9)}}))
    assert cli(["tune", "cgan", "--profile", "smoke", "--only", "mode_seeking"]) == 2
    err = capsys.readouterr().err.strip()
    assert "other judge networks" in err and "\n" not in err
    assert calls == []  # refused before any training
    assert json.loads(out.read_text())["judges"] == {"evaluator": "old"}  # nothing lost


def test_describe_names_the_remedies_of_a_setting():
    assert tuning.describe(tuning.CGAN_CANDIDATES["baseline"]) == "none of the remedies"
    assert tuning.describe(tuning.CGAN_CANDIDATES["baseline_batch_64"]) == "none of the remedies"
    assert tuning.describe(tuning.CGAN_CANDIDATES["mode_seeking_batch_64"]) == "the mode-seeking term"
    assert tuning.describe(tuning.CGAN_CANDIDATES["minibatch_std_ttur"]) == (
        "the minibatch standard deviation and two time-scale learning rates (TTUR)")
    assert tuning.describe({"spectral_norm": True}) == "spectral normalisation"
    assert tuning.with_remedies({"mode_seeking": 1.0}) == "with the mode-seeking term"
    assert tuning.with_remedies({}) == "without any of chapter 3's remedies for variety"


def test_the_package_trains_the_setting_its_shipped_record_chose():
    from genclass_utils import config

    record = json.loads(tuning.shipped_record_path("cgan").read_text())
    assert record["judges"]["evaluator"]  # scored by a named training of the evaluator
    chosen = record["settings"][tuning.choose(record)]
    remedies = {k: v for k, v in chosen["settings"].items() if k not in tuning.BUDGET_KEYS}
    assert tuning.explicit(remedies) == tuning.explicit(G.CGAN_DEFAULTS)
    assert (chosen["epochs"], chosen["batch_size"]) == (config.CPU.epochs_by_kind["cgan"],
                                                        config.CPU.batch_by_kind["cgan"])
    earlier = tuning.earlier_record("cgan")
    assert earlier is not None and "judges" not in earlier  # scored before judges were named


def test_budget_against_says_how_many_updates_in_words():
    class Budget:  # a profile's epochs and batch sizes by model kind
        def __init__(self, **by_kind):
            self.by_kind = by_kind

        def epochs(self, kind):
            return self.by_kind[kind][0]

        def batch_size(self, kind):
            return self.by_kind[kind][1]

    twice = Budget(cgan=(8, 128), gan=(4, 128))
    assert tuning.budget_against(twice, "cgan", "gan", "the DCGAN") == (
        "twice the DCGAN's updates (8 epochs at batch 128; the DCGAN: 4 at 128)")
    assert tuning.budget_against(Budget(cgan=(4, 64), gan=(4, 128)), "cgan", "gan", "the DCGAN").startswith(
        "twice the DCGAN's updates (4 epochs at batch 64")
    assert tuning.budget_against(Budget(cgan=(1, 32), gan=(1, 32)), "cgan", "gan", "the DCGAN").startswith(
        "as many updates as the DCGAN (1 epoch at batch 32")
    assert tuning.budget_against(Budget(cgan=(3, 128), gan=(4, 128)), "cgan", "gan", "the DCGAN").startswith(
        "0.75 times the DCGAN's updates")
