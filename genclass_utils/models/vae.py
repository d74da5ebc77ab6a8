"""Variational autoencoders: a convolutional VAE and a conditional VAE (cVAE).

Explained in notebooks/04_vae.ipynb. The encoder maps an image (and, for the cVAE, its label)
to the mean and log-variance of a diagonal Gaussian q(z|x); the decoder maps z (and the label)
to the logits of a Bernoulli likelihood p(x|z) over the [0, 1] pixel intensities. The model
is trained by maximizing the ELBO, in nats per image:

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)).

What is saved is the decoder, following the generator contract of ``gu.sampling``: a
Functional model ``z [+ int32 label] -> images in [0, 1]`` (the logits go through a sigmoid).
The VAE-GAN chapter and chapter 7 reuse ``load_or_train_vae`` / ``load_or_train_cvae``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from .. import artifacts, data, sampling, training
from ..errors import ArtifactError, InputError
from ..files import atomic_write_json

LIKELIHOOD = "bernoulli"


# --------------------------------------------------------------------------- the two terms

def kl_divergence(mean, log_var):
    """Return KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over latent dimensions."""
    mean = ops.cast(mean, "float32")
    log_var = ops.cast(log_var, "float32")
    return 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)


def bernoulli_nll(x, logits):
    """Return -log p(x|z) per image for a Bernoulli decoder (logits), summed over pixels, in nats."""
    x = ops.cast(x, "float32")
    logits = ops.cast(logits, "float32")
    # Stable form of -[x log s(l) + (1 - x) log(1 - s(l))].
    per_pixel = ops.maximum(logits, 0.0) - logits * x + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


# --------------------------------------------------------------------------- networks

def _label_onehot(label, n_classes: int):
    return layers.CategoryEncoding(num_tokens=n_classes, output_mode="one_hot",
                                   name="label_onehot")(label)


def build_encoder(image_shape=(28, 28, 1), latent_dim: int = 16, n_classes: int | None = None,
                  width: int = 16, name: str = "encoder") -> keras.Model:
    """Return the encoder: image [+ int32 label] -> (z_mean, z_log_var), a Functional model."""
    image = keras.Input(image_shape, name="image")
    x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(width * 2, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    inputs = [image]
    if n_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        x = layers.Concatenate()([x, _label_onehot(label, n_classes)])
    x = layers.Dense(256, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs if n_classes else image, [z_mean, z_log_var], name=name)


def build_decoder(image_shape=(28, 28, 1), latent_dim: int = 16, n_classes: int | None = None,
                  width: int = 16, name: str = "decoder_logits") -> keras.Model:
    """Return the decoder: z [+ int32 label] -> Bernoulli logits of shape image_shape.

    A conditional decoder sees the label three times: next to z, and as feature maps at 7x7 and
    14x14, so that the class cannot be ignored by the upsampling layers.
    """
    h, w, c = image_shape
    h0, w0 = h // 4, w // 4
    z = keras.Input((latent_dim,), name="z")
    inputs = [z]
    x = z
    if n_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        onehot = _label_onehot(label, n_classes)
        x = layers.Concatenate()([z, onehot])
        label_map = layers.Reshape((h0, w0, 8))(layers.Dense(h0 * w0 * 8)(onehot))
    x = layers.Dense(h0 * w0 * width * 2, activation="relu")(x)
    x = layers.Reshape((h0, w0, width * 2))(x)
    if n_classes:
        x = layers.Concatenate()([x, label_map])
    x = layers.Conv2DTranspose(width * 2, 3, strides=2, padding="same", activation="relu")(x)
    if n_classes:
        x = layers.Concatenate()([x, layers.UpSampling2D()(label_map)])
    x = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(x)
    logits = layers.Conv2D(c, 3, padding="same", name="logits")(x)
    return keras.Model(inputs if n_classes else z, logits, name=name)


# --------------------------------------------------------------------------- a fitted prior

@keras.saving.register_keras_serializable(package="genclass")
class MixturePrior(layers.Layer):
    """Turn standard normal noise [+ a label] into a draw from a fitted Gaussian mixture.

    The VAE is trained with the prior N(0, I), but the codes of real images (the aggregate
    posterior) do not fill that ball evenly: a draw from N(0, I) can land in a "hole" the decoder
    never learned to decode. Fitting a density to the codes of the training images after
    training, and sampling from it instead, is the ex-post density estimation of Ghosh et al.
    (2020). This layer holds one mixture of ``n_components`` full-covariance Gaussians per group
    (per class for a cVAE, a single group otherwise) and is deterministic, so a generator that
    contains it still maps fixed noise to fixed images:

    - the input has ``latent_dim + 1`` standard normal numbers;
    - the last one picks the component: its normal CDF u is uniform on (0, 1), and the
      component is the first whose cumulative weight exceeds u;
    - the first ``latent_dim`` are the Gaussian noise eps, and the code is ``mean_k + L_k eps``
      with L_k the Cholesky factor of component k's covariance.
    """

    def __init__(self, latent_dim: int, n_components: int = 1, n_groups: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.n_components = int(n_components)
        self.n_groups = int(n_groups)
        g, m, d = self.n_groups, self.n_components, self.latent_dim
        self.means = self.add_weight(shape=(g * m, d), initializer="zeros", trainable=False,
                                     name="means")
        self.scale_trils = self.add_weight(
            shape=(g * m, d, d), trainable=False, name="scale_trils",
            initializer=lambda shape, dtype=None: ops.tile(ops.eye(d, dtype=dtype)[None],
                                                           (g * m, 1, 1)))
        self.cum_weights = self.add_weight(
            shape=(g, m), trainable=False, name="cum_weights",
            initializer=lambda shape, dtype=None: ops.tile(
                ops.cast(ops.arange(1, m + 1), dtype or "float32")[None] / m, (g, 1)))

    def call(self, noise, group=None):
        noise = ops.cast(noise, "float32")
        eps, pick = noise[:, :self.latent_dim], noise[:, self.latent_dim]
        u = 0.5 * (1.0 + ops.erf(pick / np.sqrt(2.0)))
        if group is None:
            group = ops.zeros(ops.shape(pick), "int32")
        group = ops.cast(ops.reshape(group, (-1,)), "int32")
        cdf = ops.take(self.cum_weights, group, axis=0)  # (n, m)
        k = ops.sum(ops.cast(cdf < u[:, None], "int32"), axis=1)
        k = ops.minimum(k, self.n_components - 1)
        idx = group * self.n_components + k
        mean = ops.take(self.means, idx, axis=0)
        tril = ops.take(self.scale_trils, idx, axis=0)
        return mean + ops.einsum("nij,nj->ni", tril, eps)

    def compute_output_shape(self, noise_shape, group_shape=None):
        return (noise_shape[0], self.latent_dim)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim,
                "n_components": self.n_components, "n_groups": self.n_groups}


def fit_mixture_prior(codes: np.ndarray, groups: np.ndarray | None = None, n_groups: int = 1,
                      n_components: int = 10, min_per_component: int = 50,
                      seed: int = 0) -> MixturePrior:
    """Return a MixturePrior fitted to codes (posterior means), one mixture per group.

    Each group gets ``min(n_components, len(group) // min_per_component)`` components (at least
    one), fitted by scikit-learn's GaussianMixture (full covariances, a small ridge added to the
    diagonal so that few codes still give a valid covariance). Unused component slots get
    weight 0. A group with fewer than two codes keeps the standard normal prior.
    """
    from sklearn.mixture import GaussianMixture

    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2 or not np.isfinite(codes).all():
        raise InputError(f"codes must be a finite (n, latent_dim) array; got shape {codes.shape}")
    groups = np.zeros(len(codes), np.int64) if groups is None else np.asarray(groups).reshape(-1)
    if len(groups) != len(codes):
        raise InputError(f"{len(codes)} codes but {len(groups)} groups")
    if len(groups) and (groups.min() < 0 or groups.max() >= n_groups):
        raise InputError(f"groups must lie in 0..{n_groups - 1}; got {groups.min()}..{groups.max()}")
    d = codes.shape[1]
    means = np.zeros((n_groups, n_components, d))
    trils = np.tile(np.eye(d), (n_groups, n_components, 1, 1))
    cum = np.ones((n_groups, n_components))
    for g in range(n_groups):
        c = codes[groups == g]
        if len(c) < 2:  # nothing to fit: the group keeps the standard normal prior
            continue
        m = int(max(1, min(n_components, len(c) // min_per_component)))
        gm = GaussianMixture(m, covariance_type="full", reg_covar=1e-3, random_state=seed).fit(c)
        means[g, :m] = gm.means_
        trils[g, :m] = np.linalg.cholesky(gm.covariances_)
        cum[g, :m] = np.cumsum(gm.weights_)
        cum[g, m - 1:] = 1.0
    prior = MixturePrior(d, n_components, n_groups, name="mixture_prior")
    prior.build((None, d + 1))
    prior.set_weights([means.reshape(-1, d).astype(np.float32),
                       trils.reshape(-1, d, d).astype(np.float32), cum.astype(np.float32)])
    return prior


def as_generator(decoder_logits: keras.Model, name: str = "decoder",
                 prior: MixturePrior | None = None) -> keras.Model:
    """Return the decoder as a generator: same inputs, sigmoid of the logits (images in [0, 1]).

    With a fitted prior, the generator's z input has latent_dim + 1 numbers (see MixturePrior)
    and goes through the prior before the decoder.
    """
    inputs = [keras.Input(t.shape[1:], dtype=t.dtype, name=t.name.split(":")[0])
              for t in decoder_logits.inputs]
    codes = inputs[0]
    if prior is not None:
        inputs[0] = keras.Input((prior.latent_dim + 1,), name="z")
        codes = prior(inputs[0], inputs[1] if len(inputs) > 1 else None)
    out = decoder_logits([codes, *inputs[1:]] if len(inputs) > 1 else codes)
    out = layers.Activation("sigmoid", dtype="float32", name="image")(out)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], out, name=name)


# --------------------------------------------------------------------------- the model

@keras.saving.register_keras_serializable(package="genclass")
class VAE(keras.Model):
    """A (conditional) VAE trained on the negative ELBO; KL weighted by beta with a linear warm-up.

    Data: images in [0, 1] for a VAE, (images, labels) for a cVAE. Logged per epoch: ``loss``
    (reconstruction + beta * KL, what is minimized), ``reconstruction`` (-log p(x|z), nats per
    image), ``kl`` (nats per image) and ``elbo`` (-(reconstruction + KL), always with beta = 1).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0,
                 warmup_steps: int = 0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder  # logits; see `generator` for the [0, 1] images
        self.beta = float(beta)
        self.warmup_steps = int(warmup_steps)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.conditional = len(encoder.inputs) == 2
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.rec_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")

    @property
    def metrics(self):
        return [self.loss_tracker, self.rec_tracker, self.kl_tracker, self.elbo_tracker]

    def _split(self, batch):
        if isinstance(batch, (tuple, list)):
            x = batch[0]
            y = batch[1] if len(batch) > 1 else None
        else:
            x, y = batch, None
        if self.conditional and y is None:
            raise InputError("a conditional VAE needs (images, labels) batches")
        return x, (ops.cast(y, "int32") if self.conditional else None)

    def _in(self, first, y):
        return [first, y] if self.conditional else first

    def reparameterize(self, mean, log_var):
        """Return z = mean + sigma * eps with eps ~ N(0, I) drawn from the model's seed generator."""
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def terms(self, x, y=None, training: bool = False):
        """Return (reconstruction NLL, KL) per image, with one z sampled per image."""
        mean, log_var = self.encoder(self._in(x, y), training=training)
        z = self.reparameterize(mean, log_var)
        logits = self.decoder(self._in(z, y), training=training)
        return bernoulli_nll(x, logits), kl_divergence(mean, log_var)

    def kl_weight(self):
        """Return the current weight of the KL term: beta times the warm-up ramp (0 -> 1)."""
        if self.warmup_steps <= 0 or getattr(self, "optimizer", None) is None:
            return ops.convert_to_tensor(self.beta, "float32")
        step = ops.cast(self.optimizer.iterations, "float32")
        return self.beta * ops.minimum(1.0, (step + 1.0) / float(self.warmup_steps))

    def _update(self, loss, rec, kl):
        self.loss_tracker.update_state(loss)
        self.rec_tracker.update_state(rec)
        self.kl_tracker.update_state(kl)
        self.elbo_tracker.update_state(-(rec + kl))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, batch):
        x, y = self._split(batch)
        with tf.GradientTape() as tape:
            rec, kl = self.terms(x, y, training=True)
            loss = ops.mean(rec + self.kl_weight() * kl)
        weights = self.encoder.trainable_weights + self.decoder.trainable_weights
        grads = tape.gradient(loss, weights)
        self.optimizer.apply(grads, weights)
        return self._update(loss, rec, kl)

    def test_step(self, batch):
        x, y = self._split(batch)
        rec, kl = self.terms(x, y, training=False)
        return self._update(ops.mean(rec + self.beta * kl), rec, kl)

    def call(self, inputs, training=False):
        x, y = self._split(inputs)
        mean, log_var = self.encoder(self._in(x, y), training=training)
        return ops.sigmoid(self.decoder(self._in(mean, y), training=training))

    def encode(self, images, labels=None, batch_size: int = 500) -> np.ndarray:
        """Return the posterior means E[z|x] of images in [0, 1]."""
        args = [images, np.asarray(labels, np.int32)] if self.conditional else images
        return self.encoder.predict(args, batch_size=batch_size, verbose=0)[0]

    def decode(self, z, labels=None, batch_size: int = 500) -> np.ndarray:
        """Return the decoded images in [0, 1] for latent codes z."""
        z = np.asarray(z, np.float32)
        args = [z, np.asarray(labels, np.int32)] if self.conditional else z
        logits = self.decoder.predict(args, batch_size=batch_size, verbose=0)
        return 1.0 / (1.0 + np.exp(-logits))

    def sample(self, n: int, labels=None, temperature: float = 1.0) -> np.ndarray:
        """Return n images decoded from z ~ N(0, temperature^2 I) drawn from the seed generator."""
        z = keras.random.normal((n, self.latent_dim), seed=self.seed_generator) * temperature
        return self.decode(ops.convert_to_numpy(z), labels)

    def generator(self, prior: MixturePrior | None = None) -> keras.Model:
        """Return the decoder under the generator contract (z [+ label] -> images in [0, 1]).

        With a fitted prior (see fit_prior), z goes through it before the decoder.
        """
        return as_generator(self.decoder, name=f"{self.name}_decoder", prior=prior)

    def fit_prior(self, images, labels=None, n_components: int = 10, seed: int = 0) -> MixturePrior:
        """Return a MixturePrior fitted to the posterior means of images in [0, 1] (per class)."""
        codes = self.encode(images, labels)
        if self.conditional:
            n_groups = sampling.n_classes_of(self.encoder)
            return fit_mixture_prior(codes, np.asarray(labels), n_groups, n_components, seed=seed)
        return fit_mixture_prior(codes, None, 1, n_components, seed=seed)

    def get_config(self):
        return {**super().get_config(),
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "beta": self.beta, "warmup_steps": self.warmup_steps, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for k in ("encoder", "decoder"):
            config[k] = keras.saving.deserialize_keras_object(config[k])
        return cls(**config)


def build_vae(image_shape=(28, 28, 1), latent_dim: int = 16, n_classes: int | None = None,
              beta: float = 1.0, warmup_steps: int = 0, width: int = 16, seed: int = 0,
              learning_rate: float = 3e-3) -> VAE:
    """Return a compiled VAE (a cVAE when n_classes is given)."""
    name = "cvae" if n_classes else "vae"
    model = VAE(build_encoder(image_shape, latent_dim, n_classes, width),
                build_decoder(image_shape, latent_dim, n_classes, width),
                beta=beta, warmup_steps=warmup_steps, seed=seed, name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


# --------------------------------------------------------------------------- training

@dataclass
class TrainedVAE:
    """A trained (c)VAE's parts: encoder, decoder as generator, the history and timing."""

    encoder: keras.Model
    decoder: keras.Model
    history: dict = field(default_factory=dict)
    seconds_per_epoch: float | None = None
    epochs: int = 0
    model: VAE | None = None  # present only when trained in this session


PRIORS = ("standard", "mixture")


def train_vae(cfg, kind: str = "vae", latent_dim: int = 16, beta: float = 1.0,
              warmup_epochs: float = 1.0, epochs: int | None = None, x_train=None,
              y_train=None, validation: bool = True, verbose: int | None = None,
              prior: str = "standard", n_components: int = 10, width: int = 16) -> TrainedVAE:
    """Return a (c)VAE trained on cfg's training split (validation split for the curves).

    kind is ``"vae"`` or ``"cvae"`` (conditional); epochs and batch size come from the profile
    unless given. x_train / y_train replace the training images (uint8) when given; width sets
    the channels of both networks (see build_encoder / build_decoder). prior is
    the generator's: ``"standard"`` samples z ~ N(0, I); ``"mixture"`` fits a MixturePrior
    (``n_components`` per class) to the codes of the training images after training.
    """
    if kind not in ("vae", "cvae"):
        raise InputError(f"kind must be 'vae' or 'cvae', got {kind!r}")
    if prior not in PRIORS:
        raise InputError(f"prior must be one of {PRIORS}, got {prior!r}")
    conditional = kind == "cvae"
    splits = data.load_splits(cfg)
    x = splits.x_train if x_train is None else x_train
    y = splits.y_train if y_train is None else y_train
    bs = cfg.batch_size(kind)
    epochs = cfg.epochs(kind) if epochs is None else int(epochs)
    steps_per_epoch = int(np.ceil(len(x) / bs))
    model = build_vae(data.image_shape(cfg.dataset), latent_dim,
                      data.num_classes(cfg.dataset) if conditional else None, beta=beta,
                      warmup_steps=int(warmup_epochs * steps_per_epoch), width=width,
                      seed=cfg.seed)
    train_ds = data.make_dataset(data.scale(x), y if conditional else None, batch_size=bs,
                                 seed=cfg.seed)
    val_ds = None
    if validation:
        val_ds = data.make_dataset(data.scale(splits.x_val), splits.y_val if conditional else None,
                                   batch_size=1000, shuffle=False)
    training.eager_if_short(model, epochs * steps_per_epoch)
    t0 = time.perf_counter()
    hist = model.fit(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False,  # ds shuffles
                     verbose=cfg.verbose if verbose is None else verbose,
                     callbacks=training.callbacks(cfg, kind))
    spe = (time.perf_counter() - t0) / max(1, len(hist.history.get("loss", [])))
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    fitted = None
    if prior == "mixture":
        fitted = model.fit_prior(data.scale(x), y if conditional else None, n_components,
                                 seed=cfg.seed)
    return TrainedVAE(model.encoder, model.generator(fitted), history, round(spe, 2),
                      len(history.get("loss", [])), model)


_MODEL_KEYS = ("latent_dim", "beta", "warmup_epochs", "epochs", "prior", "n_components", "width")


def _sidecar(cfg, name: str) -> Path:
    return artifacts.path_for(cfg, name).with_suffix(".json")


def load_or_train(cfg, kind: str = "vae", retrain: bool = False, **train_kwargs) -> TrainedVAE:
    """Return the trained (c)VAE's parts, loading artifacts/<profile>/<kind>[_encoder]_<dataset>.keras.

    The decoder is saved as ``<kind>_<dataset>.keras`` (the generator), the encoder as
    ``<kind>_encoder_<dataset>.keras``, the training history beside the decoder as JSON.
    """
    dec_path = artifacts.path_for(cfg, kind)
    enc_path = artifacts.path_for(cfg, f"{kind}_encoder")
    side = _sidecar(cfg, kind)
    wanted = {k: v for k, v in train_kwargs.items() if k in _MODEL_KEYS}
    if not retrain and dec_path.exists() and enc_path.exists():
        import json

        info = json.loads(side.read_text()) if side.exists() else {}
        saved = info.get("config", {})
        if any(k in saved and saved[k] != v for k, v in wanted.items()):
            print(f"{dec_path.name} was trained with {saved}, not {wanted}: retraining")
            return load_or_train(cfg, kind, retrain=True, **train_kwargs)
        decoder = artifacts.load_model(dec_path)
        encoder = artifacts.load_model(enc_path)
        print(f"loaded {kind} from {dec_path.resolve()}")
        return TrainedVAE(encoder, decoder, info.get("history", {}),
                          info.get("seconds_per_epoch"), int(info.get("epochs", 0)))
    artifacts.announce_training(kind, cfg)
    trained = train_vae(cfg, kind, **train_kwargs)
    try:
        artifacts.save_model(trained.decoder, dec_path)
        artifacts.save_model(trained.encoder, enc_path)
        atomic_write_json(side, {"config": wanted, "history": trained.history, "epochs": trained.epochs,
                                 "seconds_per_epoch": trained.seconds_per_epoch,
                                 "likelihood": LIKELIHOOD})
        print(f"saved {kind} to {dec_path.resolve()}")
    except (ArtifactError, OSError) as e:
        import warnings

        warnings.warn(f"{e}; the trained {kind} is returned but was not saved",
                      artifacts.ArtifactWriteWarning, stacklevel=2)
    return trained


DEFAULTS = {"vae": {"latent_dim": 16, "beta": 1.0},
            "cvae": {"latent_dim": 16, "beta": 0.2, "prior": "mixture", "n_components": 10,
                     "width": 32}}


def load_or_train_vae(cfg, **kwargs) -> TrainedVAE:
    """Return the trained VAE of cfg.dataset (encoder, decoder-as-generator, history)."""
    return load_or_train(cfg, "vae", **{**DEFAULTS["vae"], **kwargs})


def load_or_train_cvae(cfg, **kwargs) -> TrainedVAE:
    """Return the trained conditional VAE of cfg.dataset (encoder, decoder-as-generator, history)."""
    return load_or_train(cfg, "cvae", **{**DEFAULTS["cvae"], **kwargs})


def from_parts(trained: TrainedVAE, seed: int = 0) -> VAE:
    """Return a compiled VAE around a TrainedVAE's encoder and logit decoder (encode, sample, evaluate)."""
    if trained.model is not None:
        return trained.model
    nested = [layer for layer in trained.decoder.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ArtifactError("the saved decoder does not wrap a logits decoder (not from this module?)")
    model = VAE(trained.encoder, nested[0], seed=seed,
                name="cvae" if len(trained.encoder.inputs) == 2 else "vae")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model
