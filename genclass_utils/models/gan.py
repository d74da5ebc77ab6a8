"""GANs: the DCGAN and the conditional GAN, their training model and their saved generators.

Explained in notebooks/03_gan.ipynb. The generator is trained with a tanh output (images in
[-1, 1]); the saved generator follows the course's generator contract: a Functional model,
``z`` (+ int32 ``label``) -> images in [0, 1], through a final ``Rescaling(0.5, offset=0.5)``.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import keras
import numpy as np
from keras import layers

from .. import artifacts, data, training
from ..errors import ArtifactError, ConfigError
from ..files import atomic_path

LATENT_DIM = 64
#: The cGAN's settings beyond build_gan's defaults, chosen on the validation split by
#: ``python -m genclass_utils tune cgan`` (record: genclass_utils/records/cgan_tuning_cpu.json,
#: read in chapter 3), together with the cpu profile's cGAN budget (the chosen row's epochs and batch).
CGAN_DEFAULTS = {"minibatch_std": False, "mode_seeking": 0.0}


def _plan(image_shape: tuple[int, int, int], width: int = 64) -> tuple[int, tuple[int, ...]]:
    """Return the generator's starting side and its upsampling widths for an image shape."""
    h, w, _ = image_shape
    if h != w:
        raise ConfigError(f"square images only; got {image_shape}")
    if h % 8 == 0 and h >= 32:
        return h // 8, (4 * width, 2 * width, width)
    if h % 4 == 0:
        return h // 4, (2 * width, width)
    raise ConfigError(f"image side must be a multiple of 4; got {h}")


def generator_net(image_shape=(28, 28, 1), latent_dim: int = LATENT_DIM, n_classes: int | None = None,
                  label_dim: int = 32, width: int = 64, name: str | None = None) -> keras.Model:
    """Return a DCGAN generator (tanh output in [-1, 1]); conditional when n_classes is given.

    The label enters through a learned embedding concatenated with z (and broadcast again as
    extra feature maps at the first resolution), so every layer can see the class.
    """
    side, widths = _plan(image_shape, width)
    z = keras.Input((latent_dim,), name="z")
    inputs = [z]
    h = z
    if n_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        emb = layers.Embedding(n_classes, label_dim, name="label_embedding")(label)
        h = layers.Concatenate(name="z_and_label")([z, emb])
    h = layers.Dense(side * side * widths[0], use_bias=False, name="project")(h)
    h = layers.BatchNormalization(momentum=0.9, name="project_bn")(h)
    h = layers.ReLU(name="project_relu")(h)
    h = layers.Reshape((side, side, widths[0]), name="to_maps")(h)
    if n_classes:
        maps = layers.Embedding(n_classes, side * side, name="label_maps")(label)
        maps = layers.Reshape((side, side, 1), name="label_maps_2d")(maps)
        h = layers.Concatenate(name="maps_and_label")([h, maps])
    for i, width in enumerate(widths[1:]):
        h = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False,
                                   name=f"up{i + 1}")(h)
        h = layers.BatchNormalization(momentum=0.9, name=f"up{i + 1}_bn")(h)
        h = layers.ReLU(name=f"up{i + 1}_relu")(h)
    out = layers.Conv2DTranspose(image_shape[-1], 4, strides=2, padding="same", activation="tanh",
                                 name="image")(h)
    default = "cgan_generator" if n_classes else "dcgan_generator"
    return keras.Model(inputs if n_classes else z, out, name=name or default)


@keras.saving.register_keras_serializable(package="genclass")
class MinibatchStdDev(layers.Layer):
    """Append one feature map holding how much the batch varies (Karras et al. 2018).

    The standard deviation of every feature over the batch, averaged into one number, is
    broadcast as an extra channel. A generator that repeats itself gives a batch of fakes a
    smaller value than a batch of real images, and the discriminator can use that to tell them
    apart, so the generator is pushed towards variety. Real and generated batches go through
    the discriminator separately, so each is compared with itself.
    """

    def call(self, x):
        ops = keras.ops
        std = ops.sqrt(ops.var(x, axis=0) + 1e-8)  # (H, W, C): spread over the batch
        return ops.concatenate([x, ops.ones_like(x[..., :1]) * ops.mean(std)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


def discriminator_net(image_shape=(28, 28, 1), n_classes: int | None = None, width: int = 64,
                      dropout: float = 0.3, minibatch_std: bool = False,
                      spectral_norm: bool = False, name: str | None = None) -> keras.Model:
    """Return a DCGAN discriminator giving one logit per image; a projection discriminator when n_classes is given.

    Projection: logit = w . h(x) + embed(y) . h(x), so the class acts through an inner product
    with the image features rather than as an extra input channel. With ``minibatch_std`` the
    last feature maps get one more channel, the batch's spread (:class:`MinibatchStdDev`). With
    ``spectral_norm`` every convolution and the dense logit are divided by their largest
    singular value (Miyato et al. 2018), which bounds how fast the discriminator's output can
    change with its input.
    """
    def sn(layer):
        return layers.SpectralNormalization(layer, name=f"{layer.name}_sn") if spectral_norm else layer

    image = keras.Input(image_shape, name="image")
    h = image
    n_down = 3 if image_shape[0] >= 32 else 2
    for i in range(n_down):
        h = sn(layers.Conv2D(width * 2 ** i, 4, strides=2, padding="same", name=f"down{i + 1}"))(h)
        h = layers.LeakyReLU(0.2, name=f"down{i + 1}_lrelu")(h)
        h = layers.Dropout(dropout, name=f"down{i + 1}_drop")(h)
    if minibatch_std:
        h = MinibatchStdDev(name="minibatch_std")(h)
    h = layers.Flatten(name="features")(h)
    logit = sn(layers.Dense(1, name="logit"))(h)
    default = "cgan_discriminator" if n_classes else "dcgan_discriminator"
    if not n_classes:
        return keras.Model(image, logit, name=name or default)
    label = keras.Input((), dtype="int32", name="label")
    emb = layers.Embedding(n_classes, int(h.shape[-1]), name="label_projection")(label)
    proj = layers.Dot(axes=1, name="projection")([emb, h])
    logit = layers.Add(name="logit_conditional")([logit, proj])
    return keras.Model([image, label], logit, name=name or default)


@keras.saving.register_keras_serializable(package="genclass")
class GAN(keras.Model):
    """A GAN (conditional when the generator takes a label) trained by its own train_step.

    Discriminator: binary cross-entropy on logits, real targets smoothed to 1 - smoothing.
    Generator: the non-saturating loss -log D(G(z)), plus, with ``mode_seeking`` = lambda > 0,
    the mode-seeking term of Mao et al. (2019): the batch's second half repeats the first
    half's labels with new noise, and lambda / (d_I / d_z + eps) is added, where d_I is the mean
    absolute difference between the paired images and d_z between their noise vectors, so
    images that ignore their noise cost the generator.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 label_smoothing: float = 0.1, n_classes: int | None = None, seed: int = 0,
                 mode_seeking: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.label_smoothing = float(label_smoothing)
        self.mode_seeking = float(mode_seeking)
        if not (self.mode_seeking >= 0.0 and np.isfinite(self.mode_seeking)):
            raise ConfigError(f"mode_seeking must be a finite number >= 0; got {mode_seeking}")
        self.conditional = len(generator.inputs) == 2
        if self.conditional and not n_classes:
            raise ConfigError("a conditional GAN needs n_classes")
        self.n_classes = int(n_classes) if n_classes else None
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def _gen_inputs(self, batch, labels=None):
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        if not self.conditional:
            return z, None
        if labels is None:
            labels = keras.random.randint((batch,), 0, self.n_classes, seed=self.seed_generator,
                                          dtype="int32")
        return [z, labels], labels

    def _disc(self, images, labels, training):
        if self.conditional:
            return self.discriminator([images, labels], training=training)
        return self.discriminator(images, training=training)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def train_step(self, batch):
        import tensorflow as tf

        ops = keras.ops
        real, real_labels, _ = keras.utils.unpack_x_y_sample_weight(batch)
        real = ops.convert_to_tensor(real)
        if self.conditional:
            if real_labels is None:
                raise ConfigError("a conditional GAN trains on (images, labels) batches")
            real_labels = ops.cast(real_labels, "int32")
        else:
            real_labels = None
        n = ops.shape(real)[0]
        bce = keras.losses.binary_crossentropy

        g_in, fake_labels = self._gen_inputs(n)
        with tf.GradientTape() as tape:
            fake = self.generator(g_in, training=True)
            real_logit = self._disc(real, real_labels, True)
            fake_logit = self._disc(fake, fake_labels, True)
            target = ops.full_like(real_logit, 1.0 - self.label_smoothing)
            d_loss = (ops.mean(bce(target, real_logit, from_logits=True))
                      + ops.mean(bce(ops.zeros_like(fake_logit), fake_logit, from_logits=True)))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        pairs = self.mode_seeking > 0
        if pairs and self.conditional:  # the second half asks for the first half's classes
            half = keras.random.randint(((n + 1) // 2,), 0, self.n_classes,
                                        seed=self.seed_generator, dtype="int32")
            g_in, fake_labels = self._gen_inputs(n, ops.concatenate([half, half])[:n])
        else:
            g_in, fake_labels = self._gen_inputs(n)
        with tf.GradientTape() as tape:
            fake = self.generator(g_in, training=True)
            fake_logit = self._disc(fake, fake_labels, True)
            g_loss = ops.mean(bce(ops.ones_like(fake_logit), fake_logit, from_logits=True))
            if pairs:
                h = n // 2
                z = g_in[0] if self.conditional else g_in
                ratio = (ops.mean(ops.abs(fake[:h] - fake[h:2 * h]))
                         / ops.mean(ops.abs(z[:h] - z[h:2 * h])))
                g_loss = g_loss + self.mode_seeking / (ratio + 1e-5)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_logit)))
        self.d_fake_tracker.update_state(ops.mean(ops.sigmoid(fake_logit)))
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {"generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "label_smoothing": self.label_smoothing, "n_classes": self.n_classes,
                "seed": self.seed, "mode_seeking": self.mode_seeking, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)


def export_generator(generator: keras.Model) -> keras.Model:
    """Return the generator as saved: same inputs, output rescaled from [-1, 1] to [0, 1]."""
    out = layers.Rescaling(0.5, offset=0.5, name="to_unit")(generator.outputs[0])
    inputs = generator.inputs if len(generator.inputs) == 2 else generator.inputs[0]
    return keras.Model(inputs, out, name=generator.name)


class SampleGrid(keras.callbacks.Callback):
    """Keep a grid of samples from fixed noise (and labels) at the end of every epoch.

    ``images[e]`` holds uint8 samples after epoch e + 1; ``images`` starts with the untrained
    generator's output, so ``images[0]`` is epoch 0.
    """

    def __init__(self, n: int = 10, latent_dim: int = LATENT_DIM, n_classes: int | None = None,
                 seed: int = 1234):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.z = rng.standard_normal((n, latent_dim)).astype(np.float32)
        self.labels = None if not n_classes else (np.arange(n) % n_classes).astype(np.int32)
        self.images: list[np.ndarray] = []

    def _snap(self):
        gen = self.model.generator
        x = gen.predict(self.z if self.labels is None else [self.z, self.labels], verbose=0)
        self.images.append(data.to_uint8(np.clip(x, -1, 1), "symmetric"))

    def on_train_begin(self, logs=None):
        self._snap()

    def on_epoch_end(self, epoch, logs=None):
        self._snap()


class EpochTimer(keras.callbacks.Callback):
    """Record the wall time of each epoch in seconds."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t)


def build_gan(image_shape, n_classes: int | None = None, seed: int = 0,
              d_lr: float = 2e-4, g_lr: float = 2e-4, label_smoothing: float = 0.1,
              latent_dim: int = LATENT_DIM, g_width: int = 64, d_width: int = 64,
              minibatch_std: bool = False, mode_seeking: float = 0.0,
              spectral_norm: bool = False) -> GAN:
    """Return a compiled GAN (conditional when n_classes is given) with Adam(beta_1=0.5) per network."""
    gan = GAN(generator_net(image_shape, latent_dim, n_classes=n_classes, width=g_width),
              discriminator_net(image_shape, n_classes=n_classes, width=d_width,
                                minibatch_std=minibatch_std, spectral_norm=spectral_norm),
              label_smoothing=label_smoothing, n_classes=n_classes, seed=seed,
              mode_seeking=mode_seeking,
              name="cgan" if n_classes else "dcgan")
    gan.compile(d_optimizer=keras.optimizers.Adam(d_lr, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(g_lr, beta_1=0.5))
    return gan


def train_gan(cfg, conditional: bool = False, x: np.ndarray | None = None,
              y: np.ndarray | None = None, epochs: int | None = None,
              verbose: int | None = None, batch_size: int | None = None,
              **build_kwargs) -> tuple[GAN, dict]:
    """Return a trained GAN and its training record (history, per-epoch grids, timings).

    Trains on the train split of cfg.dataset (never validation or test) unless x (uint8) is given.
    Epochs and batch size default to the profile's; the cGAN's other settings to CGAN_DEFAULTS.
    """
    kind = "cgan" if conditional else "gan"
    if x is None:
        splits = data.load_splits(cfg)
        x, y = splits.x_train, splits.y_train
    n_classes = data.num_classes(cfg.dataset) if conditional else None
    epochs = cfg.epochs(kind) if epochs is None else int(epochs)
    bs = cfg.batch_size(kind) if batch_size is None else int(batch_size)
    for key, value in (CGAN_DEFAULTS if conditional else {}).items():
        build_kwargs.setdefault(key, value)
    gan = build_gan(tuple(x.shape[1:]), n_classes=n_classes, seed=cfg.seed, **build_kwargs)
    ds = data.make_dataset(data.scale(x, "symmetric"), y.astype(np.int32) if conditional else None,
                           batch_size=bs, seed=cfg.seed, drop_remainder=True)
    grid = SampleGrid(n=2 * n_classes if conditional else 20, n_classes=n_classes,
                      latent_dim=gan.latent_dim, seed=cfg.seed + 1234)
    timer = EpochTimer()
    training.eager_if_short(gan, (len(x) // bs) * epochs)
    hist = gan.fit(ds, epochs=epochs, verbose=cfg.verbose if verbose is None else verbose,
                   shuffle=False,  # the dataset shuffles itself
                   callbacks=training.callbacks(cfg, gan.name, extra=[grid, timer]))
    n_used = (len(x) // bs) * bs
    record = {"history": {k: [float(v) for v in vs] for k, vs in hist.history.items()},
              "epochs": epochs, "batch_size": bs, "n_train": int(len(x)),
              "settings": {k: build_kwargs[k] for k in (CGAN_DEFAULTS if conditional else {})},
              "seconds_per_epoch": timer.seconds,
              "images_per_second": [n_used / s for s in timer.seconds],
              "grids": np.stack(grid.images), "grid_labels": grid.labels}
    return gan, record


def record_path(cfg, name: str) -> Path:
    """Return the path of a generator's training record (beside its .keras file)."""
    return artifacts.path_for(cfg, name).with_suffix(".record.npz")


def save_record(record: dict, path: Path) -> Path:
    """Write a training record (JSON facts + grid arrays) atomically to path; return it."""
    facts = {k: v for k, v in record.items() if k not in ("grids", "grid_labels")}
    arrays = {"grids": record["grids"]}
    if record.get("grid_labels") is not None:
        arrays["grid_labels"] = record["grid_labels"]
    with atomic_path(path, suffix=".tmp.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, facts=np.array(json.dumps(facts)), **arrays)
    return path


def load_record(path: Path) -> dict:
    """Return the training record stored at path, or raise ArtifactError."""
    try:
        with np.load(path, allow_pickle=False) as z:
            record = json.loads(str(z["facts"]))
            record["grids"] = z["grids"]
            record["grid_labels"] = z["grid_labels"] if "grid_labels" in z else None
    except (OSError, KeyError, ValueError) as e:
        raise ArtifactError(f"{path}: unreadable training record ({e})") from e
    return record


def stale(cfg, conditional: bool) -> str | None:
    """Return how the saved generator's training differs from what the package trains now
    (budget, or the cGAN's settings), or None when it does not, or nothing says.

    A course update that changes a chosen setting would otherwise go on loading a generator
    trained under the old one. A cGAN whose record predates the settings it keeps counts as
    stale: nothing says which settings trained it.
    """
    kind, name = ("cgan", "cgan") if conditional else ("gan", "dcgan")
    path = record_path(cfg, name)
    if not path.exists() or not artifacts.path_for(cfg, name).exists():
        return None
    try:
        facts = load_record(path)
    except ArtifactError:
        return None  # unreadable: load_record says so where the record is needed
    now = {"epochs": cfg.epochs(kind), "batch_size": cfg.batch_size(kind)}
    then = {k: facts.get(k) for k in now}
    if then != now:
        return f"for {then['epochs']} epochs at batch {then['batch_size']}, not {now['epochs']} at {now['batch_size']}"
    if conditional and "settings" not in facts:
        return "before its record kept the cGAN's settings, so they may not be the package's"
    if conditional and facts["settings"] != dict(CGAN_DEFAULTS):
        return f"with {facts['settings']}, not the package's {dict(CGAN_DEFAULTS)}"
    return None


def load_or_train_gan(cfg, conditional: bool = False, retrain: bool = False,
                      with_record: bool = False):
    """Return the saved DCGAN (or cGAN) generator of cfg.dataset, training it if absent.

    With ``with_record=True`` return (generator, record): the history, per-epoch sample grids
    and timings of the run that trained it; a saved model without its record is retrained.
    """
    name = "cgan" if conditional else "dcgan"
    rpath = record_path(cfg, name)
    if with_record and not rpath.exists():
        retrain = True
    why = None if retrain else stale(cfg, conditional)
    if why:
        print(f"the saved {name} was trained {why}; training it again")
        retrain = True
    holder: dict = {}

    def train():
        gan, record = train_gan(cfg, conditional=conditional)
        holder["record"] = record
        return export_generator(gan.generator)

    gen = artifacts.load_or_train(name, cfg, train, retrain=retrain)
    if "record" in holder:
        try:
            save_record(holder["record"], rpath)
        except OSError as e:  # the model is what later chapters need; the record is extra
            warnings.warn(f"training record not saved to {rpath}: {e}", stacklevel=2)
        record = holder["record"]
    else:
        record = load_record(rpath) if with_record else None
    return (gen, record) if with_record else gen


def load_or_train_dcgan(cfg, **kwargs):
    """Return the saved DCGAN generator (z -> images in [0, 1]), training it if absent."""
    return load_or_train_gan(cfg, conditional=False, **kwargs)


def load_or_train_cgan(cfg, **kwargs):
    """Return the saved conditional GAN generator ([z, label] -> images in [0, 1]), training it if absent."""
    return load_or_train_gan(cfg, conditional=True, **kwargs)
