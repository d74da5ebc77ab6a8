"""The generated results page reads the saved metrics and judges the targets."""

import json

from genclass_utils import overview


def _write(root, stem, metrics):
    path = root / "results" / "cpu" / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics, "wall_seconds": 1.0, "hardware": {"cpu_count": 2}}))


def test_targets_met_and_missed(tmp_path):
    _write(tmp_path, "02_cnn_basics", {"cnn_test_accuracy": 0.93, "evaluator_test_accuracy": 0.90})
    _write(tmp_path, "05_vae_gan", {
        "vaegan_kid_evaluator": 5.0, "vaegan_kid_se_evaluator": 1.0,  # 4 below, 2 SE = 2.83
        "vae_kid_evaluator": 9.0, "vae_kid_se_evaluator": 1.0,
        "vaegan_kid_autoencoder": 8.0, "vaegan_kid_se_autoencoder": 1.0,  # below, within noise
        "vae_kid_autoencoder": 9.0, "vae_kid_se_autoencoder": 1.0})
    _write(tmp_path, "07_generated_data_classification",
           {"tstr": {"cgan": {"synthetic_only": 0.7}, "cvae": {"synthetic_only": 0.82}},
            "chosen_on_validation": {"tstr_generator": "cgan"}})
    page = overview.markdown("cpu", tmp_path)
    rows = {line.split("|")[2].strip(): line for line in page.splitlines() if line.startswith("| 0")}
    assert "| yes |" in rows["chapter-2 CNN, test accuracy"]
    assert "**no**" in rows["evaluator, test accuracy"]
    lead = "VAE-GAN KID below the same-network VAE's (shown: the gap less twice its paired standard error), "
    assert "| yes |" in rows[lead + "evaluator space"] and "1.172" in rows[lead + "evaluator space"]
    assert "**no**" in rows[lead + "autoencoder space"]
    # where the chapter saved the paired difference (same real subsets), that is what is judged
    _write(tmp_path, "05_vae_gan", {
        "vaegan_kid_autoencoder": 8.0, "vaegan_kid_se_autoencoder": 1.0,
        "vae_kid_autoencoder": 9.0, "vae_kid_se_autoencoder": 1.0,
        "kid_difference_autoencoder": -1.0, "kid_difference_se_autoencoder": 0.2})
    page = overview.markdown("cpu", tmp_path)
    row = next(line for line in page.splitlines() if lead + "autoencoder space" in line)
    assert "| yes |" in row and "0.6" in row
    # the generator chosen on validation is reported, not the higher test number
    row = rows["synthetic-only accuracy, generator chosen on validation (the lowest of the generators tied with it there)"]
    assert "0.7" in row and "0.82" not in row and "**no**" in row
    assert "not run yet" in rows["cGAN samples recognised as their class"]
    # over several seeds the chapter saves {mean, std, ...}: the mean is judged
    _write(tmp_path, "07_generated_data_classification",
           {"tstr": {"cgan": {"synthetic_only": {"mean": 0.81, "std": 0.01, "n_seeds": 3}},
                     "cvae": {"synthetic_only": {"mean": 0.7, "std": 0.01, "n_seeds": 3}}},
            "chosen_on_validation": {"tstr_generator": "cgan"}})
    page = overview.markdown("cpu", tmp_path)
    row = next(line for line in page.splitlines() if "generator chosen on validation" in line)
    assert "0.81" in row and "| yes |" in row
    # a generator tied with the chosen one on validation: the lower test score is judged
    _write(tmp_path, "07_generated_data_classification",
           {"tstr": {"cgan": {"synthetic_only": {"mean": 0.81, "std": 0.01, "n_seeds": 3}},
                     "cvae": {"synthetic_only": {"mean": 0.79, "std": 0.01, "n_seeds": 3}}},
            "chosen_on_validation": {"tstr_generator": "cgan", "tstr_tied_on_validation": ["cvae"]}})
    page = overview.markdown("cpu", tmp_path)
    row = next(line for line in page.splitlines() if "generator chosen on validation" in line)
    assert "0.79" in row and "**no**" in row


def test_two_feature_spaces_table_and_their_targets(tmp_path):
    gens = {"vae": {"fd": {"evaluator": 400.0, "autoencoder": 30.0},
                    "kid": {"evaluator": 0.5, "autoencoder": 0.03},
                    "kid_se": {"evaluator": 0.01, "autoencoder": 0.002}},
            "vaegan": {"fd": {"evaluator": 300.0, "autoencoder": 40.0},
                       "kid": {"evaluator": 0.4, "autoencoder": 0.05},
                       "kid_se": {"evaluator": 0.01, "autoencoder": 0.003}},
            "cgan": {"precision": 0.9, "recall": 0.2}}
    _write(tmp_path, "06_evaluating_generators", {"generators": gens})
    page = overview.markdown("cpu", tmp_path)
    rows = {line.split("|")[2].strip(): line for line in page.splitlines() if line.startswith("| 0")}
    assert "| yes |" in rows["VAE-GAN Fréchet distance below the chapter-4 VAE's, evaluator space"]
    assert "**no**" in rows["VAE-GAN Fréchet distance below the chapter-4 VAE's, autoencoder space"]
    assert "**no**" in rows["cGAN recall (evaluator space, k = 3)"]
    assert "| yes |" in rows["cGAN precision (evaluator space, k = 3)"]
    table = page.split("## Generators in two feature spaces")[1]
    assert "| vaegan | 300 | 0.4 ± 0.01 | 40 | 0.05 ± 0.003 |" in table


def _time_page(tmp_path, runs: dict, book_seconds: float, book_chapters: dict) -> str:
    """Return the overview page for chapters' last runs {stem: (seconds, from_scratch, date)} and a
    whole-book run from scratch of book_seconds, dated 2026-01-01T11:00."""
    for stem in runs:
        _write(tmp_path, stem, {})
    times = {"chapters": {stem: {"seconds": s, "from_scratch": fs, "date": d} for stem, (s, fs, d) in runs.items()},
             "from_scratch": {"seconds": book_seconds, "budget_seconds": 3600,
                              "date": "2026-01-01T11:00:00+00:00", "chapters": book_chapters}}
    (tmp_path / "results" / "cpu" / "run_times.json").write_text(json.dumps(times))
    return overview.markdown("cpu", tmp_path)


def test_whole_book_time_names_the_chapters_re_run_since(tmp_path):
    page = _time_page(tmp_path, {"01_image_preprocessing": (120.0, True, "2026-01-01T10:00:00+00:00"),
                                 "08_semi_supervised": (1200.0, False, "2026-02-01T10:00:00+00:00")},
                      3000.0, {"01_image_preprocessing": 120.0, "08_semi_supervised": 900.0})
    assert "**Whole book from scratch:** 50.0 minutes" in page
    line = next(ln for ln in page.splitlines() if ln.startswith("Re-run since then"))
    assert "08_semi_supervised 15.0 → 20.0 min" in line and "01_image" not in line
    # the budget is judged on the run from scratch, not on a later run that loaded models
    rows = page.split("## Time budget")[1].splitlines()
    row = next(ln for ln in rows if ln.startswith("| 08_semi_supervised |"))
    assert row.startswith("| 08_semi_supervised | 15.0 | 15.0 | yes | 20.0 | no |")
    assert "Measured from scratch since then" not in page


def test_a_newer_run_from_scratch_replaces_the_whole_book_time_of_its_chapters(tmp_path):
    page = _time_page(tmp_path, {"01_image_preprocessing": (120.0, True, "2026-02-01T10:00:00+00:00"),
                                 "02_cnn_basics": (3600.0, True, "2026-02-01T11:00:00+00:00")},
                      1000.0, {"01_image_preprocessing": 60.0, "02_cnn_basics": 600.0})
    rows = page.split("## Time budget")[1].splitlines()
    assert next(ln for ln in rows if ln.startswith("| 02_cnn_basics |")).startswith("| 02_cnn_basics | 60.0 | 4.0 | **no** |")
    line = next(ln for ln in page.splitlines() if ln.startswith("Measured from scratch since then"))
    assert "01_image_preprocessing, 02_cnn_basics, together 62.0 minutes" in line
    assert "**over** the whole book's budget of 60 minutes" in line and "predates them" in line
