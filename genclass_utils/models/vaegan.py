"""The VAE-GAN of Larsen et al. (2016): a VAE whose reconstruction loss is measured in a
discriminator's feature space, trained together with that discriminator.

Explained in notebooks/05_vae_gan.ipynb. The source articles call this combination "VAGAN".

Three networks, three losses, three optimizers:

- encoder       <- L_prior + L_llike^{Dis_l}
- decoder       <- gamma * L_llike^{Dis_l} + L_GAN (non-saturating form)
- discriminator <- -L_GAN, i.e. it maximises L_GAN (real images against reconstructions and
                   decoded prior samples)

The decoder is saved under THE GENERATOR CONTRACT: a Functional model z -> images in [0, 1].
"""

from __future__ import annotations

import json
import time

import keras
import numpy as np
from keras import layers, ops

from .. import artifacts, data, training
from ..errors import ArtifactError, InputError
from ..files import atomic_write_json
from .vae import VAE, as_generator, kl_divergence

LATENT_DIM = 32
FEATURE_LAYER = "dis_l"
#: The settings chosen on the validation split (``python -m genclass_utils tune vaegan``; the
#: record ships as records/vaegan_tuning_cpu.json). The VAE-GAN and its pixel-VAE baseline are
#: both trained with them, so the two keep the same networks and the same weight averaging.
DEFAULTS = {"upsample": "resize", "ema": 0.99}


# ---------------------------------------------------------------- the three networks
def build_encoder(image_shape=(28, 28, 1), latent_dim: int = LATENT_DIM, width: int = 32,
                  name: str = "encoder") -> keras.Model:
    """Return the encoder: image in [0, 1] -> (z_mean, z_log_var)."""
    inputs = keras.Input(image_shape, name="image")
    x = inputs
    for i, f in enumerate((width, width * 2)):
        x = layers.Conv2D(f, 4, strides=2, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"act{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, name="dense")(x)
    x = layers.LeakyReLU(0.2, name="dense_act")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


def build_decoder(image_shape=(28, 28, 1), latent_dim: int = LATENT_DIM, width: int = 32,
                  logits: bool = False, upsample: str = "transpose",
                  name: str = "decoder") -> keras.Model:
    """Return the decoder: z -> images in [0, 1] (sigmoid), or their Bernoulli logits if logits.

    upsample: "transpose" (a strided transposed convolution) or "resize" (nearest-neighbour
    upsampling, then a convolution: Odena et al.'s remedy for checkerboard artefacts).
    """
    if upsample not in ("transpose", "resize"):
        raise InputError(f"upsample must be 'transpose' or 'resize'; got {upsample!r}")
    h, w, c = image_shape
    if h % 4 or w % 4:
        raise InputError(f"image height and width must be multiples of 4; got {image_shape}")
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense((h // 4) * (w // 4) * width * 2, use_bias=False, name="project")(z)
    x = layers.BatchNormalization(momentum=0.9, name="project_bn")(x)
    x = layers.ReLU(name="project_act")(x)
    x = layers.Reshape((h // 4, w // 4, width * 2), name="reshape")(x)
    for i, f in enumerate((width, width // 2)):
        if upsample == "resize":
            x = layers.UpSampling2D(2, name=f"resize{i + 1}")(x)
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"up{i + 1}")(x)
        else:
            x = layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False,
                                       name=f"up{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"up{i + 1}_bn")(x)
        x = layers.ReLU(name=f"up{i + 1}_act")(x)
    out = layers.Conv2D(c, 3, padding="same", activation=None if logits else "sigmoid",
                        dtype="float32", name="logits" if logits else "image")(x)
    return keras.Model(z, out, name=name)


def build_discriminator(image_shape=(28, 28, 1), width: int = 32, feature_norm: bool = False,
                        name: str = "discriminator") -> keras.Model:
    """Return the discriminator: image in [0, 1] -> (Dis_l features, real/fake logit).

    feature_norm adds batch normalisation before the Dis_l activation, as Larsen et al. did.
    """
    inputs = keras.Input(image_shape, name="image")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_symmetric")(inputs)
    x = layers.Conv2D(width, 4, strides=2, padding="same", name="conv1")(x)
    x = layers.LeakyReLU(0.2, name="act1")(x)
    x = layers.Conv2D(width * 2, 4, strides=2, padding="same", name="conv2")(x)
    x = layers.LeakyReLU(0.2, name="act2")(x)
    x = layers.Conv2D(width * 4, 3, padding="same", use_bias=not feature_norm, name="conv3")(x)
    if feature_norm:
        x = layers.BatchNormalization(momentum=0.9, name="bn3")(x)
    # Dis_l: the layer whose activations define the learned similarity metric.
    feats = layers.LeakyReLU(0.2, name=FEATURE_LAYER)(x)
    x = layers.Flatten(name="flatten")(feats)
    x = layers.Dropout(0.3, name="drop")(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, [feats, logit], name=name)


# ---------------------------------------------------------------- losses
def feature_distance(f_real, f_fake):
    """Return 0.5 * ||Dis_l(x) - Dis_l(x~)||^2 per image: a unit-variance Gaussian's -log p."""
    diff = ops.cast(f_real, "float32") - ops.cast(f_fake, "float32")
    return 0.5 * ops.sum(ops.reshape(ops.square(diff), (ops.shape(diff)[0], -1)), axis=-1)


def _bce_logits(target: float, logits):
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.binary_crossentropy(ops.full_like(logits, target), logits,
                                            from_logits=True))


@keras.saving.register_keras_serializable(package="genclass")
class VAEGAN(keras.Model):
    """Encoder, decoder and discriminator trained with the three losses of Larsen et al. (2016).

    gamma weighs the feature-space reconstruction against the GAN loss in the decoder's update;
    kl_weight weighs L_prior in the encoder's; label_smoothing is one-sided (real targets
    1 - label_smoothing). gan_weight = 0 turns the model into a VAE with a feature-space loss
    and a frozen (untrained) discriminator; it exists for the tests and the exercises.
    """

    def __init__(self, encoder, decoder, discriminator, gamma: float = 0.1,
                 kl_weight: float = 1.0, label_smoothing: float = 0.1, gan_weight: float = 1.0,
                 pixel_weight: float = 0.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.discriminator = discriminator
        self.gamma = float(gamma)
        self.kl_weight = float(kl_weight)
        self.label_smoothing = float(label_smoothing)
        self.gan_weight = float(gan_weight)
        self.pixel_weight = float(pixel_weight)
        self.seed = int(seed)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        names = ("kl", "llike", "enc_loss", "dec_loss", "dis_loss", "recon_mse", "d_real", "d_fake")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}

    def compile(self, enc_optimizer=None, dec_optimizer=None, dis_optimizer=None, **kwargs):
        """Attach one optimizer per network (defaults: Adam 2e-4, beta_1 0.5)."""
        super().compile(**kwargs)
        self.enc_optimizer = enc_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.dec_optimizer = dec_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.dis_optimizer = dis_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def finalize_ema(self):
        """Copy the moving averages into the encoder's and decoder's weights, where their
        optimizers keep them (use_ema); Keras's fit does this only for a model's own optimizer."""
        self.enc_optimizer.finalize_variable_values(self.encoder.trainable_variables)
        self.dec_optimizer.finalize_variable_values(self.decoder.trainable_variables)

    def call(self, x, training=False):
        """Return reconstructions of x through the posterior mean (deterministic)."""
        z_mean, _ = self.encoder(x, training=training)
        return self.decoder(z_mean, training=training)

    def losses_and_gradients(self, x):
        """Return (losses dict, {network: gradients}) for one batch, each network w.r.t. its loss."""
        import tensorflow as tf

        batch = ops.shape(x)[0]
        eps = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        z_p = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape(persistent=True) as tape:
            z_mean, z_log_var = self.encoder(x, training=True)
            z = z_mean + ops.exp(0.5 * z_log_var) * eps
            x_rec = self.decoder(z, training=True)
            x_p = self.decoder(z_p, training=True)
            f_real, d_real = self.discriminator(x, training=True)
            f_rec, d_rec = self.discriminator(x_rec, training=True)
            _, d_p = self.discriminator(x_p, training=True)
            kl = ops.mean(kl_divergence(z_mean, z_log_var))
            llike = ops.mean(feature_distance(f_real, f_rec))
            # L_GAN for the discriminator: real -> 1 (smoothed), reconstructions and prior
            # decodings -> 0.
            dis_loss = (_bce_logits(1.0 - self.label_smoothing, d_real)
                        + _bce_logits(0.0, d_rec) + _bce_logits(0.0, d_p))
            # The decoder plays the non-saturating game: make both kinds of fakes look real.
            gan_dec = _bce_logits(1.0, d_rec) + _bce_logits(1.0, d_p)
            enc_loss = self.kl_weight * kl + llike
            dec_loss = self.gamma * llike + self.gan_weight * gan_dec
            if self.pixel_weight:  # a Bernoulli pixel likelihood beside the feature one
                pixel = ops.mean(ops.sum(ops.reshape(ops.binary_crossentropy(
                    ops.cast(x, "float32"), ops.cast(x_rec, "float32")), (batch, -1)), axis=-1))
                enc_loss = enc_loss + self.pixel_weight * pixel
                dec_loss = dec_loss + self.pixel_weight * pixel
            dis_loss_w = self.gan_weight * dis_loss
        grads = {
            "encoder": tape.gradient(enc_loss, self.encoder.trainable_weights),
            "decoder": tape.gradient(dec_loss, self.decoder.trainable_weights),
            "discriminator": tape.gradient(dis_loss_w, self.discriminator.trainable_weights),
        }
        del tape
        losses = {
            "kl": kl, "llike": llike, "enc_loss": enc_loss, "dec_loss": dec_loss,
            "dis_loss": dis_loss,
            "recon_mse": ops.mean(ops.square(ops.cast(x, "float32") - ops.cast(x_rec, "float32"))),
            "d_real": ops.mean(ops.sigmoid(ops.cast(d_real, "float32"))),
            "d_fake": ops.mean(ops.sigmoid(ops.cast(d_p, "float32"))),
        }
        return losses, grads

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        losses, grads = self.losses_and_gradients(x)
        self.enc_optimizer.apply_gradients(zip(grads["encoder"], self.encoder.trainable_weights))
        self.dec_optimizer.apply_gradients(zip(grads["decoder"], self.decoder.trainable_weights))
        if self.gan_weight:
            self.dis_optimizer.apply_gradients(
                zip(grads["discriminator"], self.discriminator.trainable_weights))
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "gamma": self.gamma, "kl_weight": self.kl_weight,
            "label_smoothing": self.label_smoothing, "gan_weight": self.gan_weight,
            "pixel_weight": self.pixel_weight, "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        for key in ("encoder", "decoder", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


# ---------------------------------------------------------------- building and training
def build_vaegan(image_shape=(28, 28, 1), latent_dim: int = LATENT_DIM, seed: int = 0,
                 lr: float = 2e-4, dis_lr: float | None = None, feature_norm: bool = False,
                 ema: float | None = None, upsample: str = "transpose", **kwargs) -> VAEGAN:
    """Return a compiled VAE-GAN (Adam, beta_1 = 0.5; dis_lr defaults to lr).

    ema: if given, the encoder and the decoder end training with the exponential moving average
    of their weights (Keras's use_ema, with this momentum), not their last values.
    """
    model = VAEGAN(build_encoder(image_shape, latent_dim),
                   build_decoder(image_shape, latent_dim, upsample=upsample),
                   build_discriminator(image_shape, feature_norm=feature_norm), seed=seed, **kwargs)
    avg = {"use_ema": ema is not None, "ema_momentum": 0.99 if ema is None else float(ema)}
    model.compile(enc_optimizer=keras.optimizers.Adam(lr, beta_1=0.5, **avg),
                  dec_optimizer=keras.optimizers.Adam(lr, beta_1=0.5, **avg),
                  dis_optimizer=keras.optimizers.Adam(dis_lr or lr, beta_1=0.5))
    return model


def build_pixel_vae(image_shape=(28, 28, 1), latent_dim: int = LATENT_DIM, seed: int = 0,
                    lr: float = 1e-3, ema: float | None = None, upsample: str = "transpose") -> VAE:
    """Return a compiled chapter-4 VAE (Bernoulli pixel likelihood) with the VAE-GAN's networks.

    ema as in build_vaegan (Keras's fit copies the averages in at the end of training).
    """
    model = VAE(build_encoder(image_shape, latent_dim),
                build_decoder(image_shape, latent_dim, logits=True, upsample=upsample,
                              name="decoder_logits"),
                seed=seed, name="pixelvae")
    model.compile(optimizer=keras.optimizers.Adam(lr, use_ema=ema is not None,
                                                   ema_momentum=0.99 if ema is None else float(ema)))
    return model


class EpochTimer(keras.callbacks.Callback):
    """Record the wall-clock seconds of each epoch in self.seconds."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t0)


def training_images(cfg, n_train: int | None = None) -> np.ndarray:
    """Return the float32 [0, 1] training images a VAE-GAN sees (a stratified subset if n_train)."""
    splits = data.load_splits(cfg)
    idx = np.arange(len(splits.y_train))
    if n_train is not None and n_train < len(idx):
        idx = data.stratified_take(splits.y_train, int(n_train), seed=cfg.seed)
    return data.scale(splits.x_train[idx])


def fit(model, cfg, x: np.ndarray, kind: str = "vaegan", epochs: int | None = None,
        name: str = "vaegan") -> dict:
    """Train model on images x for the profile's epochs; return its history and seconds per epoch."""
    bs = cfg.batch_size(kind)
    ds = data.make_dataset(x, batch_size=bs, seed=cfg.seed, drop_remainder=True)
    timer = EpochTimer()
    training.eager_if_short(model, (len(x) // bs) * (epochs or cfg.epochs(kind)))
    hist = model.fit(ds, epochs=epochs or cfg.epochs(kind), verbose=cfg.verbose,
                     shuffle=False,  # the dataset shuffles itself
                     callbacks=training.callbacks(cfg, name, extra=[timer]))
    if isinstance(model, VAEGAN):
        model.finalize_ema()  # a no-op unless its optimizers average
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    return {"history": history, "seconds_per_epoch": float(np.mean(timer.seconds)),
            "epochs": len(timer.seconds), "n_train": int(len(x))}


VARIANTS = ("vaegan", "pixelvae")


def _paths(cfg, variant: str):
    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    dec = artifacts.path_for(cfg, variant)
    return dec, artifacts.path_for(cfg, f"{variant}_encoder"), dec.with_suffix(".json")


def load_or_train_parts(cfg, variant: str = "vaegan", n_train: int | None = None,
                        retrain: bool = False, **kwargs):
    """Return (encoder, decoder, info) of the VAE-GAN (or of the pixel-VAE baseline).

    They are loaded from artifacts/<profile>/<variant>[_encoder]_<dataset>.keras, or trained on
    the training split (n_train images, default all) and saved. info holds the training history
    and the seconds per epoch, measured when the model was trained, and is kept beside them,
    with the arguments it was trained with: a saved model trained with other arguments (another
    n_train, epochs or gamma, say) is retrained, not silently reused.
    """
    dec_path, enc_path, info_path = _paths(cfg, variant)
    kwargs = {**DEFAULTS, **kwargs}
    wanted = {"n_train": n_train, "epochs": cfg.epochs("vaegan"), **kwargs}
    if not retrain and dec_path.exists() and enc_path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        saved = info.get("config")
        if saved is not None and any(saved.get(k) != v for k, v in wanted.items()):
            print(f"{dec_path.name} was trained with {saved}, not {wanted}: retraining")
            return load_or_train_parts(cfg, variant, n_train=n_train, retrain=True, **kwargs)
        decoder, encoder = artifacts.load_model(dec_path), artifacts.load_model(enc_path)
        print(f"loaded {variant} (decoder and encoder) from {dec_path.parent.resolve()}")
        return encoder, decoder, info
    artifacts.announce_training(variant, cfg)
    x = training_images(cfg, n_train)
    keras.utils.set_random_seed(cfg.seed)  # same initial weights as any build seeded alike
    if variant == "vaegan":
        model = build_vaegan(x.shape[1:], seed=cfg.seed, **kwargs)
    else:
        model = build_pixel_vae(x.shape[1:], seed=cfg.seed, **kwargs)
    info = {**fit(model, cfg, x, name=variant), "config": wanted}
    decoder = model.decoder if variant == "vaegan" else as_generator(model.decoder)
    try:
        artifacts.save_model(decoder, dec_path)
        artifacts.save_model(model.encoder, enc_path)
        atomic_write_json(info_path, info)
        print(f"saved {variant} (decoder and encoder) to {dec_path.parent.resolve()}")
    except (ArtifactError, OSError) as e:
        print(f"{variant} was trained but not saved: {e}")
    return model.encoder, decoder, info


def load_or_train_vaegan(cfg, n_train: int | None = None, gamma: float = 0.1) -> keras.Model:
    """Return the VAE-GAN's decoder (z -> images in [0, 1]), loading or training it.

    n_train defaults to the profile's cfg.samples("vaegan_train") training images. A saved
    model trained with another gamma (chapter 5's exercise 1, say) is retrained, not reused.
    """
    n = cfg.samples("vaegan_train") if n_train is None else n_train
    return load_or_train_parts(cfg, "vaegan", n_train=n, gamma=gamma)[1]


def reconstruct(encoder, decoder, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Return float32 [0, 1] reconstructions of images through the posterior mean."""
    from ..evaluator import prepare_images

    x = prepare_images(images)
    z_mean, _ = encoder.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(decoder.predict(z_mean, batch_size=batch_size, verbose=0), dtype=np.float32)


def recon_mse(encoder, decoder, images: np.ndarray) -> float:
    """Return the mean squared pixel error (images in [0, 1]) of reconstructing images."""
    from ..evaluator import prepare_images

    x = prepare_images(images)
    return float(np.mean((reconstruct(encoder, decoder, x) - x) ** 2))
