"""Semi-supervised models: the data path, the K-logit GAN and the VAE M2."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from genclass_utils.errors import InputError  # noqa: E402
from genclass_utils.models import semisup as S  # noqa: E402

K = 10


def _indexed_images(n_per_class: int = 30, side: int = 28):
    """Return uint8 images whose first two pixels spell their index, and balanced labels."""
    n = n_per_class * K
    x = np.zeros((n, side, side, 1), np.uint8)
    x[:, 0, 0, 0] = np.arange(n) // 256
    x[:, 0, 1, 0] = np.arange(n) % 256
    y = np.tile(np.arange(K), n_per_class)
    return x, y


def _index_of(images) -> np.ndarray:
    """Return the index spelled by images scaled to [0, 1] or [-1, 1] (or uint8)."""
    a = np.asarray(images, np.float64)
    if a.min() < 0:
        a = (a + 1.0) * 127.5
    elif a.max() <= 1.0 + 1e-6:
        a = a * 255.0
    a = np.rint(a).astype(np.int64)
    return a[:, 0, 0, 0] * 256 + a[:, 0, 1, 0]


def _weights(model):
    return [w.numpy().copy() for w in model.trainable_weights]


def _changed(before, model) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before, _weights(model)))


# --------------------------------------------------------------------------- data path

def test_split_sizes_disjoint_and_seeded():
    x, y = _indexed_images()
    sp = S.semisup_split(x, y, 3, seed=5)
    assert np.array_equal(np.bincount(sp.y_labeled, minlength=K), np.full(K, 3))
    assert np.array_equal(np.bincount(sp.y_val, minlength=K), np.full(K, 3))
    assert sp.n_per_class == 3
    parts = [sp.idx_labeled, sp.idx_val, sp.idx_unlabeled]
    assert sum(len(p) for p in parts) == len(y)
    assert len(np.unique(np.concatenate(parts))) == len(y)  # disjoint and covering
    assert np.array_equal(_index_of(sp.x_labeled), sp.idx_labeled)
    assert np.array_equal(sp.y_labeled, y[sp.idx_labeled])
    assert not hasattr(sp, "y_unlabeled")  # the pool carries images only
    again = S.semisup_split(x, y, 3, seed=5)
    assert np.array_equal(again.idx_labeled, sp.idx_labeled)
    assert not np.array_equal(S.semisup_split(x, y, 3, seed=6).idx_labeled, sp.idx_labeled)


def test_split_rejects_bad_input():
    x, y = _indexed_images(2)
    with pytest.raises(InputError):
        S.semisup_split(x, y[:-1], 1)
    with pytest.raises(InputError):  # 2 per class cannot give 2 labelled + 2 validation
        S.semisup_split(x, y, 2)


@pytest.mark.parametrize("scale_to", ["unit", "symmetric"])
def test_only_the_subset_labels_reach_the_model(scale_to):
    x, y = _indexed_images()
    sp = S.semisup_split(x, y, 2, seed=0)
    ds = S.paired_dataset(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, labeled_batch=8,
                          unlabeled_batch=16, seed=0, scale_to=scale_to)
    seen_l, seen_y, seen_u = [], [], []
    for (x_l, y_l), x_u in ds.take(12):  # the unlabelled element is one tensor: no labels
        seen_l.append(_index_of(x_l.numpy()))
        seen_y.append(y_l.numpy())
        seen_u.append(_index_of(x_u.numpy()))
    seen_l, seen_y, seen_u = map(np.concatenate, (seen_l, seen_y, seen_u))
    assert set(seen_l) == set(sp.idx_labeled)  # every labelled image, and nothing else
    assert np.array_equal(seen_y, y[seen_l])
    assert set(seen_u) <= set(sp.idx_unlabeled)
    assert not set(seen_u) & (set(sp.idx_labeled) | set(sp.idx_val))


def test_unknown_discriminator_body_is_refused():
    with pytest.raises(InputError):
        S.discriminator_classifier(body="resnet")


def test_paired_dataset_wants_uint8():
    x, y = _indexed_images(3)
    with pytest.raises(InputError):
        S.paired_dataset(x.astype(np.float32), y, x)


# --------------------------------------------------------------------------- semi-supervised GAN

@pytest.mark.parametrize("body", ["dcgan", "small_cnn", "mlp"])
def test_real_probability_matches_direct_computation(body):
    d = S.discriminator_classifier((28, 28, 1), K, width=4, body=body)
    images = np.random.default_rng(0).uniform(-1, 1, (6, 28, 28, 1)).astype("float32")
    logits = np.asarray(d(images, training=False)[0], np.float64)
    extreme = np.array([[60.0] * K, [-60.0] * K])
    for lg in (logits, extreme):
        z = np.exp(lg).sum(axis=1)
        direct = z / (z + 1.0)
        log_d, log_1md = S.log_real_probability(lg.astype("float32"))
        assert np.allclose(np.exp(np.asarray(log_d)), direct, rtol=1e-5, atol=1e-6)
        assert np.allclose(np.exp(np.asarray(log_1md)), 1.0 - direct, rtol=1e-5, atol=1e-6)
        assert np.isfinite(np.asarray(log_d)).all() and np.isfinite(np.asarray(log_1md)).all()


def _tiny_gan():
    gan = S.build_ssgan((28, 28, 1), K, seed=0, latent_dim=8, g_width=4, d_width=4)
    gan.run_eagerly = True
    rng = np.random.default_rng(0)
    x_l = rng.uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    y_l = np.arange(4, dtype="int32")
    x_u = rng.uniform(-1, 1, (8, 28, 28, 1)).astype("float32")
    return gan, x_l, y_l, x_u


def test_gan_steps_update_only_their_network():
    gan, x_l, y_l, x_u = _tiny_gan()
    g0, d0 = _weights(gan.generator), _weights(gan.discriminator)
    logs, feat = gan.d_step(x_l, y_l, x_u)
    assert _changed(d0, gan.discriminator) and not _changed(g0, gan.generator)
    assert all(np.isfinite(float(v)) for v in logs.values())
    d1 = _weights(gan.discriminator)
    g_loss = gan.g_step(feat)
    assert _changed(g0, gan.generator) and not _changed(d1, gan.discriminator)
    assert np.isfinite(float(g_loss))


def test_gan_fit_and_validation_logs():
    gan, x_l, y_l, x_u = _tiny_gan()
    logs = gan.train_on_batch(((x_l, y_l), x_u), return_dict=True)
    assert set(logs) >= {"d_loss", "sup_loss", "unsup_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    val = gan.evaluate(x_l, y_l, verbose=0, return_dict=True)
    assert set(val) == {"sup_loss", "accuracy"} and 0.0 <= val["accuracy"] <= 1.0
    probs = gan.classifier().predict((x_l + 1) / 2, verbose=0)
    assert probs.shape == (4, K) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_labelled_only_twin_skips_what_cannot_reach_the_discriminator():
    """With the unlabelled weight at 0, train_step takes the same first step as d_step, and no generator step."""
    x_l, y_l, x_u = _tiny_gan()[1:]
    twins = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        twins.append(S.build_ssgan((28, 28, 1), K, seed=0, latent_dim=8, g_width=4, d_width=4,
                                   unsup_weight=0.0))
    full, skipped = twins
    full.run_eagerly = skipped.run_eagerly = True
    assert not _changed(_weights(full.discriminator), skipped.discriminator)  # the same start
    g0 = _weights(skipped.generator)
    full.d_step(x_l, y_l, x_u)  # the whole objective, with the unlabelled terms weighted by 0
    logs = skipped.train_on_batch(((x_l, y_l), x_u), return_dict=True)
    for a, b in zip(_weights(full.discriminator), _weights(skipped.discriminator)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not _changed(g0, skipped.generator)
    assert np.isfinite(logs["sup_loss"]) and logs["sup_loss"] == logs["d_loss"]


# --------------------------------------------------------------------------- M2

def _tiny_m2(k: int = 3, side: int = 4, latent: int = 2):
    from keras import layers

    shape = (side, side, 1)
    image = keras.Input(shape)
    clf = keras.Model(image, layers.Dense(k)(layers.Flatten()(image)))
    m2 = S.M2(clf, S.mlp_encoder(shape, latent, k, hidden=5), S.mlp_decoder(shape, latent, k, hidden=5),
              alpha=2.0, seed=0)
    m2.compile(optimizer=keras.optimizers.Adam(1e-2))
    m2.run_eagerly = True
    return m2


def _softplus(a):
    return np.logaddexp(0.0, a)


def test_m2_unlabelled_loss_matches_numpy():
    k, n, latent = 3, 4, 2
    m2 = _tiny_m2(k, latent=latent)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (n, 4, 4, 1)).astype("float32")
    eps = rng.standard_normal((k * n, latent)).astype("float32")
    got, _ = m2.unlabeled_terms(x, eps=eps)

    logits = np.asarray(m2.classifier(x), np.float64)
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    per_class = np.zeros((n, k))
    for c in range(k):
        labels = np.full(n, c, np.int32)
        mean, log_var = (np.asarray(t, np.float64) for t in m2.encoder([x, labels]))
        z = mean + np.exp(0.5 * log_var) * eps[c * n:(c + 1) * n]
        out = np.asarray(m2.decoder([z.astype("float32"), labels]), np.float64).reshape(n, -1)
        xf = x.reshape(n, -1).astype(np.float64)
        nll = (_softplus(out) - xf * out).sum(1)  # -log Bernoulli(x | sigmoid(out))
        kl = 0.5 * (np.exp(log_var) + mean ** 2 - 1 - log_var).sum(1)
        per_class[:, c] = nll + kl + np.log(k)
    direct = (q * per_class).sum(1) + (q * np.log(q)).sum(1)
    assert np.allclose(np.asarray(got), direct, rtol=1e-4, atol=1e-3)


def test_m2_train_step_updates_all_three_networks():
    m2 = _tiny_m2()
    rng = np.random.default_rng(0)
    x_l = rng.uniform(0, 1, (3, 4, 4, 1)).astype("float32")
    y_l = np.arange(3, dtype="int32")
    x_u = rng.uniform(0, 1, (5, 4, 4, 1)).astype("float32")
    before = [_weights(m) for m in (m2.classifier, m2.encoder, m2.decoder)]
    logs = m2.train_on_batch(((x_l, y_l), x_u), return_dict=True)
    assert set(logs) >= {"loss", "labeled_nelbo", "unlabeled_nelbo", "class_loss"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert all(_changed(b, m) for b, m in zip(before, (m2.classifier, m2.encoder, m2.decoder)))
    val = m2.evaluate(x_l, y_l, verbose=0, return_dict=True)
    assert set(val) == {"class_loss", "accuracy", "labeled_nelbo"}
    assert np.isfinite(val["labeled_nelbo"])


def test_m2_unlabelled_images_train_the_classifier():
    """Without any label, the marginalised ELBO alone still moves q(y|x)."""
    m2 = _tiny_m2()
    x_u = np.random.default_rng(2).uniform(0, 1, (5, 4, 4, 1)).astype("float32")
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = np.float32(0) + keras.ops.mean(m2.unlabeled_terms(x_u)[0])
    grads = tape.gradient(loss, m2.classifier.trainable_weights)
    assert any(float(keras.ops.max(keras.ops.abs(g))) > 0 for g in grads)


def test_build_m2_default_networks():
    m2 = S.build_m2((28, 28, 1), K, latent_dim=4, hidden=8, classifier_width=4)
    assert m2.classifier.outputs[0].shape[-1] == K and m2.latent_dim == 4
    assert m2.sample(np.arange(K)).shape == (K, 28, 28, 1)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["ssgan", "m2"])
def test_fit_semisupervised_runs_and_validates(which):
    x, y = _indexed_images(6)
    sp = S.semisup_split(x, y, 2, seed=0)
    model = (S.build_ssgan((28, 28, 1), K, latent_dim=4, g_width=4, d_width=4) if which == "ssgan"
             else S.build_m2((28, 28, 1), K, latent_dim=2, hidden=8, classifier_width=4))
    hist, seconds = S.fit_semisupervised(model, sp, steps_per_epoch=2, epochs=2, patience=1,
                                         labeled_batch=4, unlabeled_batch=8)
    assert len(seconds) == len(hist["val_accuracy"]) >= 1
    assert all(0.0 <= a <= 1.0 for a in hist["val_accuracy"])


def test_gan_samples_are_images_in_unit_range():
    gan, *_ = _tiny_gan()
    x = gan.sample(5)
    assert x.shape == (5, 28, 28, 1) and x.min() >= 0.0 and x.max() <= 1.0
