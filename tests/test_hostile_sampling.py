"""`python -m genclass_utils sample` round-trips every generator kind of the course in a fresh process.

Each kind is trained for one step (tiny networks), saved with gu.artifacts, and sampled through
the command line in a new Python process, which has imported none of the model modules, so a
custom layer (the cVAE's MixturePrior) must be registered by the loader itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from genclass_utils import artifacts, sampling
from genclass_utils.models import gan as G
from genclass_utils.models import vae as V
from genclass_utils.models import vaegan as VG

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (28, 28, 1)
N_CLASSES = 10


def _data(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, *SHAPE)).astype(np.float32), (np.arange(n) % N_CLASSES).astype(np.int32)


def _gan(conditional: bool) -> keras.Model:
    x, y = _data()
    gan = G.build_gan(SHAPE, n_classes=N_CLASSES if conditional else None, latent_dim=8,
                      g_width=8, d_width=8)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3),
                run_eagerly=True)  # one step: tracing would cost more than it saves
    gan.fit(x * 2 - 1, y if conditional else None, batch_size=16, epochs=1, verbose=0)
    return G.export_generator(gan.generator)


def _vae(conditional: bool, prior: bool) -> keras.Model:
    x, y = _data()
    model = V.build_vae(SHAPE, latent_dim=3, n_classes=N_CLASSES if conditional else None, width=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    model.fit(x, y if conditional else None, batch_size=16, epochs=1, verbose=0)
    fitted = None
    if prior:
        fitted = model.fit_prior(x, y if conditional else None, n_components=2)
    return model.generator(fitted)


def _vaegan() -> keras.Model:
    x, _ = _data()
    model = VG.build_vaegan(SHAPE, latent_dim=4)
    model.compile(enc_optimizer=keras.optimizers.Adam(1e-3),
                  dec_optimizer=keras.optimizers.Adam(1e-3),
                  dis_optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    return model.decoder


def _pixel_vae() -> keras.Model:
    x, _ = _data()
    model = VG.build_pixel_vae(SHAPE, latent_dim=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    return V.as_generator(model.decoder)


KINDS = {
    "dcgan": lambda: _gan(False),
    "cgan": lambda: _gan(True),
    "vae": lambda: _vae(False, False),
    "cvae": lambda: _vae(True, False),
    "vae_mixture_prior": lambda: _vae(False, True),
    "cvae_mixture_prior": lambda: _vae(True, True),
    "vaegan": _vaegan,
    "pixel_vae": _pixel_vae,
}


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    """Run `python -m genclass_utils ARGS` in a fresh process with this checkout on the path."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "genclass_utils", *args], cwd=cwd or ROOT,
                          env=full_env, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, tuple[Path, keras.Model]]:
    folder = tmp_path_factory.mktemp("generators")
    out = {}
    for kind, build in KINDS.items():
        keras.utils.set_random_seed(0)
        gen = build()
        out[kind] = (artifacts.save_model(gen, folder / f"{kind}.keras"), gen)
    return out


def _check_samples(out: Path, gen: keras.Model, n: int = 12, seed: int = 3) -> None:
    with np.load(out) as f:
        images = f["images"]
        labels = f["labels"] if "labels" in f.files else None
    assert images.shape == (n, *SHAPE) and images.dtype == np.uint8
    assert sampling.is_conditional(gen) == (labels is not None)
    if labels is not None:
        np.testing.assert_array_equal(labels, sampling.cycle_labels(n, N_CLASSES))
    # The fresh process drew exactly what this one draws from the in-memory model (CPU).
    np.testing.assert_array_equal(images, sampling.generate(gen, n, labels=labels, seed=seed))


@pytest.mark.slow
def test_sample_command_loads_the_cvae_with_its_mixture_prior(saved, tmp_path):
    path, gen = saved["cvae_mixture_prior"]
    out = tmp_path / "s.npz"
    r = run_cli("sample", "--model", str(path), "--n", "12", "--out", str(out), "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    _check_samples(out, gen)


@pytest.mark.slow
def test_sample_command_round_trips_every_generator_kind(saved, tmp_path):
    # One fresh process runs the command's entry point once per kind (one TensorFlow start-up).
    calls = [["sample", "--model", str(path), "--n", "12", "--out", str(tmp_path / f"{k}.npz"),
              "--seed", "3"] for k, (path, _) in saved.items()]
    script = ("import sys; from genclass_utils.__main__ import main\n"
              f"codes = [main(a) for a in {calls!r}]\n"
              "print(codes); sys.exit(max(codes))")
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=full_env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for kind, (_, gen) in saved.items():
        _check_samples(tmp_path / f"{kind}.npz", gen)
