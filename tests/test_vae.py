"""The VAE and cVAE of chapter 4: shapes, the KL term, test_step, seeded sampling, the contract."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from genclass_utils import artifacts, sampling  # noqa: E402
from genclass_utils.errors import InputError  # noqa: E402
from genclass_utils.models import vae as V  # noqa: E402


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    x = rng.random((16, 28, 28, 1)).astype(np.float32)
    y = (np.arange(16) % 10).astype(np.int32)
    return x, y


@pytest.mark.parametrize("n_classes", [None, 10])
def test_encoder_decoder_shapes(n_classes, batch):
    x, y = batch
    enc = V.build_encoder(latent_dim=5, n_classes=n_classes)
    dec = V.build_decoder(latent_dim=5, n_classes=n_classes)
    mean, log_var = enc([x, y] if n_classes else x)
    assert tuple(mean.shape) == (16, 5) and tuple(log_var.shape) == (16, 5)
    z = np.zeros((16, 5), np.float32)
    assert tuple(dec([z, y] if n_classes else z).shape) == (16, 28, 28, 1)


def test_kl_matches_closed_form():
    mean = np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 0.3]], np.float32)
    var = np.array([[1.0, 1.0], [0.25, 4.0], [2.0, 0.1]], np.float32)
    expected = 0.5 * np.sum(var + mean**2 - 1.0 - np.log(var), axis=1)
    got = keras.ops.convert_to_numpy(V.kl_divergence(mean, np.log(var)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got[0] == pytest.approx(0.0, abs=1e-7)  # q = prior: no KL


def test_bernoulli_nll_matches_direct_formula():
    rng = np.random.default_rng(1)
    x = rng.random((3, 4, 4, 1)).astype(np.float32)
    logits = rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    p = 1 / (1 + np.exp(-logits))
    expected = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    got = keras.ops.convert_to_numpy(V.bernoulli_nll(x, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_test_step_does_not_change_weights_and_elbo_is_consistent(batch):
    x, _ = batch
    model = V.build_vae(latent_dim=4, seed=0)
    model.fit(x, epochs=1, batch_size=8, verbose=0)  # builds the optimizer state
    before = [w.numpy().copy() for w in model.weights]
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    after = [w.numpy() for w in model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert logs["elbo"] == pytest.approx(-(logs["reconstruction"] + logs["kl"]), rel=1e-5)
    assert logs["kl"] >= 0


def test_train_step_lowers_the_loss(batch):
    x, _ = batch
    model = V.build_vae(latent_dim=4, seed=0, learning_rate=3e-3)
    h = model.fit(x, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert h[-1] < h[0]


def test_conditional_vae_needs_labels(batch):
    x, _ = batch
    model = V.build_vae(latent_dim=4, n_classes=10)
    with pytest.raises(InputError, match="labels"):
        model.test_step(tf.constant(x))


def test_sampling_with_a_fixed_seed_is_reproducible():
    keras.utils.set_random_seed(3)
    a = V.build_vae(latent_dim=4, seed=7)
    b = V.VAE(a.encoder, a.decoder, seed=7)  # same weights, fresh seed generator
    np.testing.assert_array_equal(a.sample(6), b.sample(6))
    assert not np.array_equal(a.sample(6), a.sample(6))  # the generator state advances


def test_saved_decoder_follows_the_generator_contract(tmp_path):
    for n_classes in (None, 10):
        model = V.build_vae(latent_dim=3, n_classes=n_classes)
        path = artifacts.save_model(model.generator(), tmp_path / f"g{n_classes}.keras")
        gen = artifacts.load_model(path)
        assert sampling.latent_dim(gen) == 3
        assert sampling.is_conditional(gen) == bool(n_classes)
        labels = sampling.cycle_labels(7, 10) if n_classes else None
        out = sampling.generate(gen, 7, labels=labels, seed=1, as_uint8=False)
        assert out.shape == (7, 28, 28, 1) and out.min() >= 0 and out.max() <= 1
        np.testing.assert_array_equal(
            sampling.generate(gen, 7, labels=labels, seed=1),
            sampling.generate(model.generator(), 7, labels=labels, seed=1))


def test_mixture_prior_recovers_modes_weights_and_groups():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(4.0, 0.2, (300, 3)), rng.normal(-4.0, 0.2, (100, 3)),
                            rng.normal(10.0, 0.5, (90, 3))])  # 90 codes: one component
    groups = np.r_[np.zeros(400, int), np.ones(90, int)]
    prior = V.fit_mixture_prior(codes, groups, n_groups=3, n_components=2, min_per_component=50)
    z = rng.standard_normal((4000, 4)).astype(np.float32)
    g0 = keras.ops.convert_to_numpy(prior(z, np.zeros(4000, np.int32)))
    share_high = np.mean(g0[:, 0] > 0)
    assert abs(share_high - 0.75) < 0.03  # the mixture weights 300 : 100
    np.testing.assert_allclose(g0[g0[:, 0] > 0].mean(0), 4.0, atol=0.1)
    np.testing.assert_allclose(g0[g0[:, 0] < 0].mean(0), -4.0, atol=0.1)
    g1 = keras.ops.convert_to_numpy(prior(z, np.ones(4000, np.int32)))
    np.testing.assert_allclose(g1.mean(0), codes[400:].mean(0), atol=0.03)
    np.testing.assert_allclose(g1.std(0), codes[400:].std(0), rtol=0.05)
    # A group without codes keeps the standard normal prior.
    g2 = keras.ops.convert_to_numpy(prior(z, np.full(4000, 2, np.int32)))
    np.testing.assert_allclose(g2, z[:, :3], atol=1e-6)


def test_mixture_prior_rejects_bad_codes():
    with pytest.raises(InputError, match="finite"):
        V.fit_mixture_prior(np.full((10, 2), np.nan))
    with pytest.raises(InputError, match="groups"):
        V.fit_mixture_prior(np.zeros((10, 2)), np.zeros(9, int))
    with pytest.raises(InputError, match="groups must lie"):
        V.fit_mixture_prior(np.zeros((10, 2)), np.full(10, 3), n_groups=2)


def test_generator_with_a_fitted_prior_is_saved_and_seeded(tmp_path, batch):
    x, y = batch
    model = V.build_vae(latent_dim=4, n_classes=10)
    prior = model.fit_prior(x, y, n_components=3)
    generator = model.generator(prior)
    assert sampling.latent_dim(generator) == 5 and sampling.n_classes_of(generator) == 10
    path = artifacts.save_model(generator, tmp_path / "g.keras")
    loaded = sampling.load_generator(path)
    labels = np.arange(6) % 10
    a = sampling.generate(generator, 6, labels=labels, seed=3)
    np.testing.assert_array_equal(a, sampling.generate(loaded, 6, labels=labels, seed=3))
    np.testing.assert_array_equal(a, sampling.generate(generator, 6, labels=labels, seed=3))
