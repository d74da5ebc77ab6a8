"""Clips and volumes (notebooks/09_clips_and_volumes.ipynb): builders, models, studies, sampling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from genclass_utils import artifacts, clips, data, overview, sampling, volumes
from genclass_utils import experiments as ex
from genclass_utils.errors import InputError
from genclass_utils.models import classifiers, vae3d

ROOT = Path(__file__).resolve().parents[1]


def _garments(n: int, seed: int = 0) -> np.ndarray:
    """Return n random 28x28 uint8 'garments': a bright random blob on black, all distinct."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28, 1), np.uint8)
    x[:, 6:22, 8:20, 0] = rng.integers(60, 256, (n, 16, 12))
    return x


def _centre(frame: np.ndarray) -> np.ndarray:
    f = frame[..., 0].astype(np.float64)
    rows, cols = np.indices(f.shape)
    return np.array([(rows * f).sum(), (cols * f).sum()]) / f.sum()


# --------------------------------------------------------------------------- clip builder

def test_clips_have_shapes_labels_and_distinct_garments():
    c = clips.make_clips(_garments(60), n_per_class=4, seed=1, frames=6, size=32)
    assert c.x.shape == (20, 6, 32, 32, 1) and c.x.dtype == np.uint8
    assert c.y.dtype == np.int64 and np.bincount(c.y).tolist() == [4] * len(clips.MOTIONS)
    assert len(set(c.source.tolist())) == 20 and c.source.max() < 60
    assert (c.x.reshape(20, 6, -1).max(axis=2) > 0).all()  # every frame shows the garment


def test_clips_are_seeded():
    g = _garments(40)
    a, b = clips.make_clips(g, 3, seed=5), clips.make_clips(g, 3, seed=5)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, clips.make_clips(g, 3, seed=6).x)


def test_each_translation_moves_the_garment_its_way():
    c = clips.make_clips(_garments(50), n_per_class=10, seed=2)
    way = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
    for name, (dr, dc) in way.items():
        for clip in c.x[c.y == clips.MOTIONS.index(name)]:
            move = _centre(clip[-1]) - _centre(clip[0])
            along, across = (move[0], move[1]) if dr else (move[1], move[0])
            assert along * (dr or dc) > 5 and abs(across) < 0.5, (name, move)
    for clip in c.x[c.y == clips.MOTIONS.index("rotate")]:  # turns on the spot
        assert not np.array_equal(clip[0], clip[-1])


def test_no_test_garment_is_in_the_training_clips():
    x, y = _garments(300, seed=0), np.arange(300) % 10
    splits = data.train_val_split(x, y, n_val=100, seed=0)
    x_test = _garments(100, seed=1)
    d = clips.clip_splits(splits, x_test, n_train=6, n_val=3, n_test=4, seed=3)
    assert clips.garments_shared(splits.x_train[d["train"].source], x_test[d["test"].source]) == 0
    assert not set(splits.idx_train[d["train"].source]) & set(splits.idx_val[d["val"].source])
    # the test clips do not depend on the run's seed
    np.testing.assert_array_equal(d["test"].x, clips.clip_splits(splits, x_test, 6, 3, 4, seed=4)["test"].x)
    # a test set that holds the training garments is refused
    with pytest.raises(InputError, match="test garments"):
        clips.clip_splits(splits, splits.x_train, n_train=6, n_val=3, n_test=40, seed=3)


@pytest.mark.parametrize("kwargs, match", [
    ({"images": np.zeros((10, 32, 32), np.uint8)}, "shape"),
    ({"images": np.zeros((10, 28, 28), np.float32)}, "uint8"),
    ({"n_per_class": 0}, "n_per_class"),
    ({"n_per_class": 3}, "distinct garments"),
    ({"frames": 1}, "frames"),
    ({"seed": -1}, "seed"),
    ({"size": 8}, "size"),
    ({"frames": 20}, "too small"),
])
def test_clip_builder_refuses_bad_arguments(kwargs, match):
    args = {"images": _garments(12), "n_per_class": 2, "seed": 0, **kwargs}
    with pytest.raises(InputError, match=match):
        clips.make_clips(**args)


# --------------------------------------------------------------------------- volume builder

def test_volumes_have_shapes_labels_and_are_seeded():
    x, y = volumes.make_volumes(3, seed=1, size=16)
    assert x.shape == (15, 16, 16, 16, 1) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [3] * len(volumes.SOLIDS)
    x2, y2 = volumes.make_volumes(3, seed=1, size=16)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, volumes.make_volumes(3, seed=2, size=16)[0])


def test_solids_differ_and_sphere_is_rotation_invariant():
    rng = np.random.default_rng(0)
    occ = {k: volumes.render_volume(k, np.random.default_rng(1), 16, noise=0.0) for k in volumes.SOLIDS}
    for a in volumes.SOLIDS:
        for b in volumes.SOLIDS:
            if a < b:
                assert np.abs(occ[a] - occ[b]).mean() > 0.01, (a, b)
    assert 0.0 < occ["torus"].mean() < occ["sphere"].mean()
    assert volumes.render_volume("sphere", rng, 16).shape == (16, 16, 16)


def test_volume_splits_have_a_fixed_test_set():
    a, b = volumes.volume_splits(2, 1, 2, seed=0), volumes.volume_splits(2, 1, 2, seed=1)
    np.testing.assert_array_equal(a["test"][0], b["test"][0])
    assert not np.array_equal(a["train"][0], b["train"][0])
    assert not np.array_equal(a["train"][0], a["val"][0][: len(a["train"][0])])


@pytest.mark.parametrize("kwargs, match", [
    ({"n_per_class": 0}, "n_per_class"), ({"size": 4}, "size"), ({"noise": -0.1}, "noise"),
    ({"noise": True}, "noise"), ({"seed": 1.5}, "seed"),
])
def test_volume_builder_refuses_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        volumes.make_volumes(**{"n_per_class": 1, **kwargs})


# --------------------------------------------------------------------------- models

def test_cvae3d_train_step_lowers_the_loss_and_generator_has_the_clip_contract():
    c = clips.make_clips(_garments(30), n_per_class=4, seed=0, frames=4, size=24)
    keras.utils.set_random_seed(0)
    model = vae3d.build_cvae3d(c.x.shape[1:], len(clips.MOTIONS), latent_dim=4, width=4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), run_eagerly=True)
    batch = (keras.ops.convert_to_tensor(vae3d.fold(c.x).astype(np.float32) / 255.0),
             keras.ops.convert_to_tensor(c.y.astype(np.int32)))
    first = model.train_step(batch)
    for _ in range(5):
        last = model.train_step(batch)
    assert np.isfinite(float(last["loss"])) and float(last["loss"]) < float(first["loss"])
    gen = vae3d.generator(model)
    out = sampling.generate(gen, 7, np.arange(7) % 5, seed=0)
    assert out.shape == (7, 4, 24, 24, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(vae3d.unfold(vae3d.fold(c.x)), c.x)


def test_train_cvae3d_refuses_bad_input():
    with pytest.raises(InputError, match="uint8"):
        vae3d.train_cvae3d(np.zeros((4, 4, 8, 8, 1), np.float32), np.zeros(4), 2, epochs=1)
    with pytest.raises(InputError, match="multiples of 4"):
        vae3d.build_cvae3d((4, 10, 10, 1), 2)


def test_per_frame_classifier_ignores_frame_order_and_r2plus1d_does_not():
    rng = np.random.default_rng(0)
    x = rng.random((3, 6, 16, 16, 1)).astype(np.float32)
    keras.utils.set_random_seed(0)
    frames, r21d = classifiers.frame_average_cnn(x.shape[1:], 5), classifiers.r2plus1d_cnn(x.shape[1:], 5)
    rev = x[:, ::-1]
    np.testing.assert_allclose(frames(x).numpy(), frames(rev).numpy(), atol=1e-6)
    assert not np.allclose(r21d(x).numpy(), r21d(rev).numpy(), atol=1e-6)
    assert classifiers.cnn3d((16, 16, 16, 1), 5)(np.zeros((2, 16, 16, 16, 1), np.float32)).shape == (2, 5)


def test_three_way_study_at_equal_labels_and_its_verdict():
    rng = np.random.default_rng(0)
    y = np.arange(20) % 2
    x = rng.integers(0, 255, (20, 4, 8, 8, 1), dtype=np.uint8)
    calls = []

    def fit(a, b, av, bv, seed=0):
        calls.append((len(a), np.bincount(b).tolist(), len(av)))
        return ex.fit_early_stopping(classifiers.r2plus1d_cnn, a, b, av, bv, 2, 1, seed=seed)

    def sampler(labels, s):
        return np.full((len(labels), 4, 8, 8, 1), 7, np.uint8)

    run = ex.three_way(x, y, x[:6], y[:6], x[:8], y[:8], fit, sampler, seed=0)
    assert set(run) == set(ex.VARIANTS_3D) and all(0 <= v <= 1 for v in run.values())
    assert calls == [(20, [10, 10], 6), (20, [10, 10], 6), (40, [20, 20], 6)]
    res = ex.summarize_seeds([run, run], [0, 1])
    assert res["real_only"]["seeds"] == [0, 1] and res["real_only"]["std"] == 0.0
    a = {"mean": 0.9, "std": 0.01, "seeds": [0, 1, 2]}
    assert ex.verdict(a, {"mean": 0.8, "std": 0.01, "seeds": [0, 1, 2]}) == "above"
    assert ex.verdict(a, {"mean": 0.89, "std": 0.02, "seeds": [0, 1, 2]}) == "within the noise of"
    assert ex.verdict(a, {"mean": 0.5, "std": 0.0, "seeds": [0]}) == "within the noise of"


# --------------------------------------------------------------------------- sample command

def test_clip_and_volume_generators_round_trip_through_the_sample_command(tmp_path):
    gens = {}
    for name, shape in {"clip": (4, 24, 24, 1), "volume": (8, 8, 8, 1)}.items():
        keras.utils.set_random_seed(0)
        model = vae3d.build_cvae3d(shape, 5, latent_dim=3, width=4)
        gens[name] = (artifacts.save_model(vae3d.generator(model), tmp_path / f"{name}.keras"),
                      vae3d.generator(model), shape)
    calls = [["sample", "--model", str(p), "--n", "7", "--out", str(tmp_path / f"{k}.npz"),
              "--seed", "3"] for k, (p, _, _) in gens.items()]
    script = ("import sys; from genclass_utils.__main__ import main\n"
              f"codes = [main(a) for a in {calls!r}]\nsys.exit(max(codes))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    for name, (_, gen, shape) in gens.items():
        with np.load(tmp_path / f"{name}.npz") as f:
            images, labels = f["images"], f["labels"]
        assert images.shape == (7, *shape) and images.dtype == np.uint8
        np.testing.assert_array_equal(labels, sampling.cycle_labels(7, 5))
        np.testing.assert_array_equal(images, sampling.generate(gen, 7, labels=labels, seed=3))


# --------------------------------------------------------------------------- results page

def test_results_page_lists_clips_and_volumes(tmp_path):
    r = {"mean": 0.812, "std": 0.0123, "seeds": [0, 1, 2]}
    m = {"clips": {"real_only": r, "synthetic_only": r, "real_plus_generated": r},
         "volumes": {"real_only": r}}
    path = tmp_path / "results" / "cpu" / "09_clips_and_volumes.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"metrics": m, "wall_seconds": 1.0, "hardware": {"cpu_count": 2}}))
    page = overview.markdown("cpu", tmp_path)
    rows = [line for line in page.splitlines() if line.startswith("| clips") or line.startswith("| volumes")]
    assert "0.812 ± 0.012" in rows[0] and rows[0].endswith("| 3 |")
    assert rows[1].count("—") == 2
