"""The generated results page reads the saved metrics and judges the targets."""

import json

from genclass_utils import overview


def _write(root, stem, metrics):
    path = root / "results" / "cpu" / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics, "wall_seconds": 1.0, "hardware": {"cpu_count": 2}}))


def test_targets_met_and_missed(tmp_path):
    _write(tmp_path, "02_cnn_basics", {"cnn_test_accuracy": 0.93, "evaluator_test_accuracy": 0.90})
    _write(tmp_path, "05_vae_gan", {"vaegan_fid": 5.0, "vae_fid": 9.0})
    _write(tmp_path, "07_generated_data_classification",
           {"tstr": {"cgan": {"synthetic_only": 0.7}, "cvae": {"synthetic_only": 0.82}}})
    page = overview.markdown("cpu", tmp_path)
    rows = {line.split("|")[2].strip(): line for line in page.splitlines() if line.startswith("| 0")}
    assert "| yes |" in rows["chapter-2 CNN, test accuracy"]
    assert "**no**" in rows["evaluator, test accuracy"]
    assert "| yes |" in rows["VAE-GAN FID below the VAE's"] and "9" in rows["VAE-GAN FID below the VAE's"]
    assert "0.82" in rows["best synthetic-only accuracy"]
    assert "not run yet" in rows["cGAN samples recognised as their class"]
