"""GAN models, their train_step, the saved-generator contract and the sample CLI."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from genclass_utils import sampling  # noqa: E402
from genclass_utils.__main__ import main as cli  # noqa: E402
from genclass_utils.artifacts import save_model  # noqa: E402
from genclass_utils.models import gan as G  # noqa: E402

SHAPES = [(28, 28, 1), (32, 32, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n_classes", [None, 10])
def test_generator_and_discriminator_shapes(shape, n_classes):
    g = G.generator_net(shape, latent_dim=8, n_classes=n_classes, width=8)
    d = G.discriminator_net(shape, n_classes=n_classes, width=8)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    y = np.array([0, 1, 9], dtype="int32")
    x = g.predict([z, y] if n_classes else z, verbose=0)
    assert x.shape == (3, *shape)
    assert np.all(np.abs(x) <= 1.0)  # tanh
    logit = d.predict([x, y] if n_classes else x, verbose=0)
    assert logit.shape == (3, 1)


def test_minibatch_std_channel_measures_the_batch_spread(tmp_path):
    layer = G.MinibatchStdDev()
    rng = np.random.default_rng(0)
    varied = rng.standard_normal((8, 7, 7, 4)).astype("float32")
    same = np.repeat(varied[:1], 8, axis=0)  # a collapsed batch: eight copies of one map
    out_varied, out_same = (keras.ops.convert_to_numpy(layer(x)) for x in (varied, same))
    assert out_varied.shape == (8, 7, 7, 5)
    np.testing.assert_array_equal(out_varied[..., :4], varied)  # the features pass unchanged
    assert np.allclose(out_varied[..., 4], np.sqrt(varied.var(axis=0) + 1e-8).mean(), rtol=1e-5)
    assert out_same[..., 4].max() < 1e-3 < out_varied[..., 4].min()
    d = G.discriminator_net((28, 28, 1), n_classes=10, width=8, minibatch_std=True)
    path = tmp_path / "d.keras"
    d.save(path)  # the layer is registered, so the discriminator reloads under safe_mode
    again = keras.saving.load_model(path, safe_mode=True)
    x, y = rng.uniform(-1, 1, (4, 28, 28, 1)).astype("float32"), np.arange(4, dtype="int32")
    np.testing.assert_allclose(again.predict([x, y], verbose=0), d.predict([x, y], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_mode_seeking_term_is_checked_and_saved():
    with pytest.raises(G.ConfigError, match="mode_seeking"):
        G.build_gan((28, 28, 1), n_classes=10, latent_dim=8, g_width=8, d_width=8, mode_seeking=-1)
    gan = G.build_gan((28, 28, 1), n_classes=10, latent_dim=8, g_width=8, d_width=8, mode_seeking=0.5)
    assert gan.get_config()["mode_seeking"] == 0.5


def _weights(model):
    return [w.numpy().copy() for w in model.trainable_weights]


@pytest.mark.parametrize("n_classes,mode_seeking", [(None, 0.0), (10, 0.0), (10, 1.0)])
def test_train_step_updates_both_networks(n_classes, mode_seeking):
    gan = G.build_gan((28, 28, 1), n_classes=n_classes, seed=0, latent_dim=8, g_width=8, d_width=8,
                      mode_seeking=mode_seeking)
    gan.run_eagerly = True  # tracing costs more than one tiny step
    x = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    y = (np.arange(16) % 10).astype("int32")
    g0, d0 = _weights(gan.generator), _weights(gan.discriminator)
    logs = gan.train_on_batch(x, y if n_classes else None, return_dict=True)
    assert set(logs) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(not np.array_equal(a, b) for a, b in zip(g0, _weights(gan.generator)))
    assert any(not np.array_equal(a, b) for a, b in zip(d0, _weights(gan.discriminator)))


def test_exported_generator_follows_contract():
    g = G.export_generator(G.generator_net((28, 28, 1), latent_dim=8, n_classes=10))
    assert sampling.is_conditional(g) and sampling.latent_dim(g) == 8
    x = sampling.generate(g, 20, labels=sampling.cycle_labels(20, 10), as_uint8=False)
    assert x.shape == (20, 28, 28, 1) and x.min() >= 0.0 and x.max() <= 1.0


@pytest.fixture(scope="module")
def saved_generators(tmp_path_factory):
    """Train a tiny cGAN and DCGAN for one step each and save their generators."""
    folder = tmp_path_factory.mktemp("gens")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    y = (np.arange(16) % 10).astype("int32")
    paths = {}
    for name, k in (("cgan", 10), ("dcgan", None)):
        gan = G.build_gan((28, 28, 1), n_classes=k, seed=0, latent_dim=8, g_width=8, d_width=8)
        gan.run_eagerly = True
        gan.train_on_batch(x, y if k else None)
        paths[name] = save_model(G.export_generator(gan.generator), folder / f"{name}.keras")
    return paths


def test_sample_cli_conditional(saved_generators, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert cli(["sample", "--model", str(saved_generators["cgan"]), "--n", "25",
                "--out", str(out), "--seed", "3"]) == 0
    with np.load(out) as f:
        images, labels = f["images"], f["labels"]
    assert images.shape == (25, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (25,) and np.array_equal(labels, np.arange(25) % 10)
    out7 = tmp_path / "s7.npz"
    assert cli(["sample", "--model", str(saved_generators["cgan"]), "--n", "5",
                "--out", str(out7), "--label", "7"]) == 0
    with np.load(out7) as f:
        assert np.all(f["labels"] == 7)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves no temp file


def test_sample_cli_unconditional_and_bad_label(saved_generators, tmp_path, capsys):
    out = tmp_path / "d.npz"
    assert cli(["sample", "--model", str(saved_generators["dcgan"]), "--n", "4",
                "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["images"].shape == (4, 28, 28, 1) and "labels" not in f.files
    assert cli(["sample", "--model", str(saved_generators["cgan"]), "--n", "4",
                "--out", str(out), "--label", "10"]) == 1
    assert "error:" in capsys.readouterr().err


def test_sample_cli_missing_and_corrupt_model(tmp_path, capsys):
    out = tmp_path / "x.npz"
    assert cli(["sample", "--model", str(tmp_path / "nope.keras"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not found" in err
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    assert cli(["sample", "--model", str(bad), "--out", str(out)]) == 1
    assert "error:" in capsys.readouterr().err
    assert not out.exists()


def test_sample_cli_refuses_a_classifier(tmp_path, capsys):
    inp = keras.Input((28, 28, 1))
    clf = keras.Model(inp, keras.layers.Dense(10)(keras.layers.Flatten()(inp)))
    path = save_model(clf, tmp_path / "clf.keras")
    assert cli(["sample", "--model", str(path), "--out", str(tmp_path / "c.npz")]) == 1
    assert "not a generator" in capsys.readouterr().err


def test_training_record_roundtrip(tmp_path):
    record = {"history": {"d_loss": [1.0, 0.5]}, "epochs": 2, "seconds_per_epoch": [1.0, 2.0],
              "grids": np.zeros((3, 4, 28, 28, 1), np.uint8), "grid_labels": np.arange(4)}
    path = G.save_record(record, tmp_path / "r.record.npz")
    back = G.load_record(path)
    assert back["history"] == record["history"] and back["grids"].shape == (3, 4, 28, 28, 1)
    assert np.array_equal(back["grid_labels"], np.arange(4))


def test_a_saved_cgan_trained_under_other_settings_is_trained_again(tmp_path, monkeypatch, capsys):
    """A course update that changes the chosen cGAN setting must not go on loading the old one."""
    import genclass_utils as gu

    monkeypatch.setenv("GENCLASS_HOME", str(tmp_path))
    cfg = gu.setup(profile="smoke", quiet=True)
    trained = []

    class Fake:
        generator = G.generator_net((28, 28, 1), latent_dim=8, n_classes=10, width=4)

    def fake_train(cfg, conditional=False, **kw):
        trained.append(1)
        return Fake(), {"history": {}, "epochs": cfg.epochs("cgan"), "batch_size": cfg.batch_size("cgan"),
                        "settings": dict(G.CGAN_DEFAULTS), "grids": np.zeros((1, 20, 28, 28, 1), np.uint8),
                        "grid_labels": np.arange(20) % 10}

    monkeypatch.setattr(G, "train_gan", fake_train)
    G.load_or_train_cgan(cfg, with_record=True)
    G.load_or_train_cgan(cfg, with_record=True)
    assert trained == [1] and G.stale(cfg, conditional=True) is None  # the same settings: loaded
    flipped = 0.0 if G.CGAN_DEFAULTS["mode_seeking"] else 1.0  # another setting than the package's
    monkeypatch.setattr(G, "CGAN_DEFAULTS", {**G.CGAN_DEFAULTS, "mode_seeking": flipped})
    assert "mode_seeking" in G.stale(cfg, conditional=True)
    capsys.readouterr()
    G.load_or_train_cgan(cfg, with_record=True)
    assert trained == [1, 1] and "training it again" in capsys.readouterr().out
    facts = G.load_record(G.record_path(cfg, "cgan"))  # a record from before settings were kept
    del facts["settings"]
    G.save_record(facts, G.record_path(cfg, "cgan"))
    assert "before its record kept" in G.stale(cfg, conditional=True)
    monkeypatch.setattr(type(cfg), "epochs", lambda self, kind: 99)
    assert G.stale(cfg, conditional=True).startswith("for ")  # another budget
