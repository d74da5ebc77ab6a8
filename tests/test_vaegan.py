"""The VAE-GAN (notebooks/05_vae_gan.ipynb): each network moves only through its own loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from genclass_utils import sampling
from genclass_utils.errors import InputError
from genclass_utils.models import vaegan as V

SHAPE = (12, 12, 1)
LATENT = 4


def _model(**kwargs) -> V.VAEGAN:
    keras.utils.set_random_seed(0)
    enc = V.build_encoder(SHAPE, LATENT, width=4)
    dec = V.build_decoder(SHAPE, LATENT, width=4)
    dis = V.build_discriminator(SHAPE, width=4)
    model = V.VAEGAN(enc, dec, dis, seed=0, **kwargs)
    model.compile(run_eagerly=True)  # no tracing: the tests stay fast
    return model


def _batch(n: int = 8) -> np.ndarray:
    return np.random.default_rng(0).random((n, *SHAPE)).astype(np.float32)


def _grads(**kwargs) -> dict[str, list[np.ndarray]]:
    _, grads = _model(**kwargs).losses_and_gradients(_batch())
    return {k: [np.asarray(g) for g in v] for k, v in grads.items()}


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.allclose(x, y, rtol=1e-5, atol=1e-7) for x, y in zip(a, b, strict=True))


def test_shapes_and_generator_contract():
    model = _model()
    z_mean, z_log_var = model.encoder(_batch(3))
    assert z_mean.shape == (3, LATENT) and z_log_var.shape == (3, LATENT)
    feats, logit = model.discriminator(_batch(3))
    assert feats.shape == (3, 3, 3, 16) and logit.shape == (3, 1)
    images = sampling.generate(model.decoder, 5, as_uint8=False)
    assert images.shape == (5, *SHAPE)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert sampling.latent_dim(model.decoder) == LATENT
    assert not sampling.is_conditional(model.decoder)


def test_decoder_rejects_shapes_not_divisible_by_four():
    with pytest.raises(InputError, match="multiples of 4"):
        V.build_decoder((10, 10, 1), LATENT)


def test_each_weight_changes_only_its_own_networks_gradient():
    base = _grads()
    # kl_weight enters only the encoder's loss.
    g = _grads(kl_weight=3.0)
    assert not _same(g["encoder"], base["encoder"])
    assert _same(g["decoder"], base["decoder"]) and _same(g["discriminator"], base["discriminator"])
    # gamma enters only the decoder's loss.
    g = _grads(gamma=5.0)
    assert not _same(g["decoder"], base["decoder"])
    assert _same(g["encoder"], base["encoder"]) and _same(g["discriminator"], base["discriminator"])
    # label smoothing enters only the discriminator's loss.
    g = _grads(label_smoothing=0.3)
    assert not _same(g["discriminator"], base["discriminator"])
    assert _same(g["encoder"], base["encoder"]) and _same(g["decoder"], base["decoder"])


def test_discriminator_gradient_ignores_the_feature_loss():
    # Without the GAN loss the discriminator has nothing to learn: L_llike must not reach it.
    g = _grads(gan_weight=0.0)
    assert all(np.all(x == 0) for x in g["discriminator"])
    assert any(np.any(x != 0) for x in g["encoder"])


def test_one_train_step_updates_all_three_networks_with_finite_losses():
    model = _model()
    before = {n: [w.copy() for w in getattr(model, n).get_weights()]
              for n in ("encoder", "decoder", "discriminator")}
    logs = model.train_on_batch(_batch(), return_dict=True)
    assert set(logs) >= {"kl", "llike", "enc_loss", "dec_loss", "dis_loss"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    for name, weights in before.items():
        after = getattr(model, name).get_weights()
        assert not _same(weights, after), f"{name} did not change"


def test_frozen_discriminator_without_gan_loss():
    model = _model(gan_weight=0.0)
    before = [w.copy() for w in model.discriminator.get_weights()]
    model.train_on_batch(_batch(), return_dict=True)
    assert _same(before, model.discriminator.get_weights())


def test_kl_divergence_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = np.zeros((2, 3), np.float32)
    assert np.allclose(np.asarray(V.kl_divergence(zeros, zeros)), 0.0)
    assert np.all(np.asarray(V.kl_divergence(zeros + 1.0, zeros)) > 0)


def test_pixel_vae_baseline_shares_the_networks_and_trains():
    keras.utils.set_random_seed(0)
    model = V.build_pixel_vae(SHAPE, LATENT)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    logs = model.train_on_batch(_batch(), return_dict=True)
    assert np.isfinite(float(logs["loss"]))
    generator = V.as_generator(model.decoder)
    images = sampling.generate(generator, 3, as_uint8=False)
    assert images.shape == (3, *SHAPE) and 0.0 <= images.min() and images.max() <= 1.0


def test_saved_parts_are_retrained_when_the_arguments_change(tmp_path, monkeypatch):
    """A model saved with gamma = 0.1 is not silently reused for gamma = 1.0."""
    from types import SimpleNamespace

    trained = []

    def fake_fit(model, cfg, x, name="vaegan", **kwargs):
        trained.append(model.gamma)
        return {"history": {}, "seconds_per_epoch": 0.0, "epochs": 0, "n_train": len(x)}

    monkeypatch.setattr(V, "training_images", lambda cfg, n=None: _batch(4))
    monkeypatch.setattr(V, "fit", fake_fit)
    monkeypatch.setattr(V.artifacts, "path_for", lambda cfg, name: tmp_path / f"{name}_toy.keras")
    monkeypatch.setattr(V, "build_vaegan", lambda shape, seed=0, upsample=None, ema=None,
                        **kwargs: _model(**kwargs))
    cfg = SimpleNamespace(seed=0, artifacts_dir=tmp_path, epochs=lambda kind: 1)
    V.load_or_train_parts(cfg, "vaegan", n_train=4, gamma=0.1)
    V.load_or_train_parts(cfg, "vaegan", n_train=4, gamma=0.1)  # same arguments: loaded
    assert trained == [0.1]
    *_, info = V.load_or_train_parts(cfg, "vaegan", n_train=4, gamma=1.0)
    assert trained == [0.1, 1.0] and info["config"] == {"n_train": 4, "epochs": 1, "gamma": 1.0,
                                                   **V.DEFAULTS}


def test_fit_passes_no_shuffle_flag_to_a_dataset(monkeypatch):
    """fit trains on a tf.data pipeline that shuffles itself; Keras must not warn about shuffle."""
    import warnings
    from types import SimpleNamespace

    from genclass_utils import training

    monkeypatch.setattr(training, "callbacks", lambda cfg, name, extra=(): list(extra))
    cfg = SimpleNamespace(seed=0, verbose=0, batch_size=lambda kind: 4, epochs=lambda kind: 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = V.fit(_model(), cfg, _batch(8), epochs=1)
    assert info["epochs"] == 1 and info["n_train"] == 8


def test_generate_matches_predict_and_prints_no_retracing_warning(capfd):
    """sampling.generate runs the generator in batches; the images are those of predict."""
    gens = [V.build_decoder(SHAPE, LATENT, width=4) for _ in range(6)]
    z = np.random.default_rng(3).standard_normal((7, LATENT)).astype(np.float32)
    for g in gens:
        images = sampling.generate(g, 7, seed=3, batch_size=3, as_uint8=False)
        assert np.allclose(images, g.predict(z, verbose=0), atol=1e-6)
    capfd.readouterr()
    for g in gens:
        sampling.generate(g, 7, seed=3, batch_size=3)
    assert "retracing" not in "".join(capfd.readouterr())


def test_weight_averaging_is_copied_in_only_when_asked():
    """With ema, finalize_ema swaps the moving averages into encoder and decoder (not the
    discriminator); without it, it changes nothing. build_vaegan wires the averaging."""
    assert V.build_vaegan(SHAPE, LATENT, ema=0.9).dec_optimizer.use_ema
    assert not V.build_vaegan(SHAPE, LATENT).enc_optimizer.use_ema
    for ema in (None, 0.9):
        model = _model()
        avg = {"use_ema": ema is not None, "ema_momentum": ema or 0.99}
        model.compile(enc_optimizer=keras.optimizers.Adam(1e-2, **avg),
                      dec_optimizer=keras.optimizers.Adam(1e-2, **avg), run_eagerly=True)
        model.fit(_batch(8), batch_size=4, epochs=1, verbose=0)
        before = {n: [np.asarray(w) for w in getattr(model, n).weights]
                  for n in ("encoder", "decoder", "discriminator")}
        model.finalize_ema()
        after = {n: [np.asarray(w) for w in getattr(model, n).weights] for n in before}
        assert _same(before["discriminator"], after["discriminator"])
        for n in ("encoder", "decoder"):
            assert _same(before[n], after[n]) == (ema is None), (ema, n)


def test_resize_decoder_and_normalised_feature_layer():
    dec = V.build_decoder(SHAPE, LATENT, width=4, upsample="resize")
    assert dec.output.shape[1:] == SHAPE
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in dec.layers)
    with pytest.raises(InputError, match="upsample"):
        V.build_decoder(SHAPE, LATENT, upsample="bilinear-ish")
    dis = V.build_discriminator(SHAPE, width=4, feature_norm=True)
    assert "bn3" in {layer.name for layer in dis.layers}
