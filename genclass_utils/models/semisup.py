"""Semi-supervised classifiers built on generative models: the K-logit GAN and the VAE M2.

Explained in notebooks/08_semi_supervised.ipynb. Both learn from a few labelled images and a
large pool of unlabelled ones; both are trained on batches ``((x_l, y_l), x_u)`` from
``paired_dataset`` and validated on ``(x, y)`` batches. The data path (``semisup_split``) draws
the labelled subset, a validation set of the same size per class, and an unlabelled pool that
holds images only: no label outside the subset ever reaches a model.

- ``SemiSupervisedGAN``: the discriminator is the classifier (Salimans et al. 2016), with K
  class logits and the "fake" class implicit; the generator is trained by feature matching.
- ``M2``: the semi-supervised VAE of Kingma et al. (2014), whose unlabelled ELBO marginalises
  over the class. It works on the pixels directly (not stacked on an M1 encoder).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from .. import data, training
from ..errors import InputError
from . import classifiers, gan, vae

# --------------------------------------------------------------------------- the data path


@dataclass(frozen=True)
class SemiSupervisedSplit:
    """A labelled subset, a validation set of the same size, and an unlabelled pool (no labels)."""

    x_labeled: np.ndarray
    y_labeled: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_unlabeled: np.ndarray
    idx_labeled: np.ndarray
    idx_val: np.ndarray
    idx_unlabeled: np.ndarray

    @property
    def n_per_class(self) -> int:
        """Return the number of labelled images per class."""
        return int(np.bincount(self.y_labeled).max())


def semisup_split(x: np.ndarray, y: np.ndarray, n_per_class: int, seed: int = 0
                  ) -> SemiSupervisedSplit:
    """Return n_per_class labelled and n_per_class validation images per class, the rest unlabelled.

    All three parts come from the arrays given (the official training split in the chapter) and
    are disjoint; the unlabelled pool carries no labels. The same seed gives the same parts.
    """
    x = data.check_images(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise InputError(f"semisup_split got {len(x)} images but {len(y)} labels")
    idx_l = data.labeled_subset(y, n_per_class, seed=seed)
    idx_v = data.labeled_subset(y, n_per_class, seed=seed + 1, exclude=idx_l)
    idx_u = np.setdiff1d(np.arange(len(y)), np.concatenate([idx_l, idx_v]))
    if len(idx_u) == 0:
        raise InputError("no image is left for the unlabelled pool")
    return SemiSupervisedSplit(x[idx_l], y[idx_l].astype(np.int64), x[idx_v],
                               y[idx_v].astype(np.int64), x[idx_u], idx_l, idx_v, idx_u)


def _scaler(scale_to: str):
    if scale_to == "unit":
        return lambda a: tf.cast(a, tf.float32) / 255.0
    if scale_to == "symmetric":
        return lambda a: tf.cast(a, tf.float32) / 127.5 - 1.0
    raise InputError(f"unknown range {scale_to!r}; choose 'unit' or 'symmetric'")


def paired_dataset(x_labeled: np.ndarray, y_labeled: np.ndarray, x_unlabeled: np.ndarray,
                   labeled_batch: int = 50, unlabeled_batch: int = 100, seed: int = 0,
                   scale_to: str = "unit") -> tf.data.Dataset:
    """Return an endless tf.data pipeline of ``((x_l, y_l), x_u)`` batches (give fit steps_per_epoch).

    Both streams are reshuffled on every pass; the small labelled set simply repeats more often.
    Images arrive as uint8 and are scaled to [0, 1] (``"unit"``) or [-1, 1] (``"symmetric"``).
    """
    for name, arr in (("labelled", x_labeled), ("unlabelled", x_unlabeled)):
        if np.asarray(arr).dtype != np.uint8:
            raise InputError(f"paired_dataset expects uint8 {name} images; got {np.asarray(arr).dtype}")
    if len(x_labeled) != len(y_labeled):
        raise InputError(f"{len(x_labeled)} labelled images but {len(y_labeled)} labels")
    sc = _scaler(scale_to)
    # In-memory arrays: no cache() (a cache that is never read to its end is discarded anyway).
    lab = (tf.data.Dataset.from_tensor_slices((x_labeled, np.asarray(y_labeled, np.int32)))
           .shuffle(len(x_labeled), seed=seed, reshuffle_each_iteration=True).repeat()
           .batch(labeled_batch, drop_remainder=True).map(lambda a, b: (sc(a), b)))
    unl = (tf.data.Dataset.from_tensor_slices(x_unlabeled)
           .shuffle(min(len(x_unlabeled), 20000), seed=seed + 1, reshuffle_each_iteration=True)
           .repeat().batch(unlabeled_batch, drop_remainder=True).map(sc))
    return tf.data.Dataset.zip((lab, unl)).prefetch(tf.data.AUTOTUNE)


def validation_dataset(x: np.ndarray, y: np.ndarray, scale_to: str = "unit",
                       batch_size: int = 1000) -> tf.data.Dataset:
    """Return the (images, labels) validation batches, scaled like the training batches."""
    sc = _scaler(scale_to)
    return (tf.data.Dataset.from_tensor_slices((np.asarray(x, np.uint8), np.asarray(y, np.int32)))
            .batch(batch_size).map(lambda a, b: (sc(a), b)))


def _unpack_pair(batch):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
    (x_l, y_l), x_u = (x, y) if y is not None else x  # tf.data element, or train_on_batch(x)
    return ops.convert_to_tensor(x_l), ops.cast(y_l, "int32"), ops.convert_to_tensor(x_u)


def _ce(y, logits):
    return keras.losses.sparse_categorical_crossentropy(y, ops.cast(logits, "float32"),
                                                        from_logits=True)


def _accuracy(y, logits):
    return ops.mean(ops.cast(ops.equal(ops.argmax(logits, axis=-1), ops.cast(y, "int64")),
                             "float32"))


# --------------------------------------------------------------------------- semi-supervised GAN

def discriminator_classifier(image_shape=(28, 28, 1), n_classes: int = 10, width: int = 32,
                             dropout: float = 0.3, input_noise: float = 0.3,
                             body: str = "dcgan", mlp_widths=(500, 250, 250),
                             hidden_noise: float = 0.5,
                             name: str = "ssgan_discriminator") -> keras.Model:
    """Return the K-logit discriminator: image in [-1, 1] -> (class logits, features).

    The body is chapter 3's DCGAN discriminator up to its ``features`` layer (``"dcgan"``) or
    chapter 1's small_cnn up to its ``embedding`` layer (``"small_cnn"``), or an MLP after
    Salimans et al. with Gaussian noise before its hidden layers (``"mlp"``); the single real/fake
    logit (or the softmax) is replaced by K class logits. Gaussian noise on the input (training
    only) keeps the discriminator from fitting the few labelled images exactly.
    """
    if body == "dcgan":
        net = gan.discriminator_net(image_shape, width=width, dropout=dropout)
        net = keras.Model(net.inputs[0], net.get_layer("features").output, name="body")
    elif body == "small_cnn":
        net = classifiers.small_cnn(image_shape, n_classes, width=width)
        net = keras.Model(net.inputs[0], net.get_layer("embedding").output, name="body")
    elif body == "mlp":
        net = mlp_body(image_shape, widths=mlp_widths, hidden_noise=hidden_noise)
    else:
        raise InputError(f"unknown discriminator body {body!r}; choose 'dcgan', 'small_cnn' or 'mlp'")
    image = keras.Input(image_shape, name="image")
    h = layers.GaussianNoise(input_noise, name="input_noise")(image) if input_noise else image
    features = net(h)
    logits = layers.Dense(n_classes, name="class_logits", dtype="float32")(features)
    return keras.Model(image, [logits, features], name=name)


def mlp_body(image_shape=(28, 28, 1), widths=(500, 250, 250), hidden_noise: float = 0.5,
             name: str = "body") -> keras.Model:
    """Return an MLP discriminator body after Salimans et al. (narrower by default): image -> features.

    Gaussian noise of std hidden_noise (training only) on every hidden layer's input after the
    first is the regulariser they used on MNIST (their MNIST network is 1000-500-250-250-250 and
    also has noise before its output layer); their weight normalisation is left out.
    """
    image = keras.Input(image_shape, name="image")
    h = layers.Flatten(name="flatten")(image)
    for i, w in enumerate(widths):
        if i and hidden_noise:
            h = layers.GaussianNoise(hidden_noise, name=f"noise{i}")(h)
        h = layers.Dense(int(w), activation="relu", name=f"dense{i + 1}")(h)
    return keras.Model(image, h, name=name)


def log_real_probability(logits):
    """Return (log D(x), log(1 - D(x))) for D(x) = Z/(Z+1), Z = sum_k exp(l_k): the fake logit is 0."""
    lse = ops.logsumexp(ops.cast(logits, "float32"), axis=-1)
    return lse - ops.softplus(lse), -ops.softplus(lse)


@keras.saving.register_keras_serializable(package="genclass")
class SemiSupervisedGAN(keras.Model):
    """A GAN whose discriminator is a K-class classifier with an implicit fake class.

    With class logits l_1..l_K and Z(x) = sum_k exp(l_k(x)), the fake class has logit 0, so
    p(y=k|x) = softmax(l)_k among real classes and D(x) = Z(x) / (Z(x) + 1). The
    discriminator minimises

        L_D = E_(x,y)~labelled[-log softmax(l(x))_y]
              + w * ( E_x~unlabelled[-log D(x)] + E_z[-log(1 - D(G(z)))] ),

    with -log D(x) = softplus(lse(l)) - lse(l) and -log(1 - D(x)) = softplus(lse(l)), lse the
    log-sum-exp. The generator minimises the feature-matching loss of Salimans et al. (2016),

        L_G = || E_x~unlabelled[f(x)] - E_z[f(G(z))] ||^2 / dim(f),

    f being the discriminator's last hidden layer (averaged over the feature dimension so that
    its scale does not depend on the width). Images are in [-1, 1]. Validation (test_step)
    reports the classifier's accuracy and cross-entropy on (images, labels).
    Explained in notebooks/08_semi_supervised.ipynb.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 unsup_weight: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.unsup_weight = float(unsup_weight)
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in (
            "d_loss", "sup_loss", "unsup_loss", "g_loss", "d_real", "d_fake", "accuracy")}

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, images, training=False):
        return self.discriminator(images, training=training)[0]

    def _noise(self, n):
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def d_step(self, x_l, y_l, x_u):
        """Update the discriminator only; return its losses, logits and the real features."""
        z = self._noise(ops.shape(x_u)[0])
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            logits_l, _ = self.discriminator(x_l, training=True)
            logits_u, feat_u = self.discriminator(x_u, training=True)
            logits_f, _ = self.discriminator(fake, training=True)
            sup = ops.mean(_ce(y_l, logits_l))
            log_d_u, _ = log_real_probability(logits_u)
            _, log_1md_f = log_real_probability(logits_f)
            unsup = -ops.mean(log_d_u) - ops.mean(log_1md_f)
            d_loss = sup + self.unsup_weight * unsup
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        return {"d_loss": d_loss, "sup_loss": sup, "unsup_loss": unsup,
                "d_real": ops.mean(ops.exp(log_d_u)),
                "d_fake": 1.0 - ops.mean(ops.exp(log_1md_f)),
                "accuracy": _accuracy(y_l, logits_l)}, feat_u

    def g_step(self, real_features):
        """Update the generator only, by feature matching against real_features; return its loss."""
        target = ops.stop_gradient(ops.mean(ops.cast(real_features, "float32"), axis=0))
        z = self._noise(ops.shape(real_features)[0])
        with tf.GradientTape() as tape:
            _, feat_f = self.discriminator(self.generator(z, training=True), training=True)
            g_loss = ops.mean(ops.square(target - ops.mean(ops.cast(feat_f, "float32"), axis=0)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return g_loss

    def supervised_step(self, x_l, y_l):
        """Update the discriminator on the labelled batch alone; return its losses.

        This is d_step with the unlabelled weight at 0: the unlabelled and generated terms are
        multiplied by 0 there, and the discriminator has no batch statistics that those batches
        could move, so skipping them (and the generator, which then cannot affect the
        discriminator) changes nothing but the cost (and which random draws the noise layers use).
        """
        with tf.GradientTape() as tape:
            logits_l, _ = self.discriminator(x_l, training=True)
            sup = ops.mean(_ce(y_l, logits_l))
        grads = tape.gradient(sup, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        return {"d_loss": sup, "sup_loss": sup, "accuracy": _accuracy(y_l, logits_l)}

    def train_step(self, batch):
        x_l, y_l, x_u = _unpack_pair(batch)
        if self.unsup_weight == 0.0:  # the labelled-only twin: nothing else reaches the discriminator
            logs = self.supervised_step(x_l, y_l)
        else:
            logs, feat_u = self.d_step(x_l, y_l, x_u)
            logs["g_loss"] = self.g_step(feat_u)
        for key, value in logs.items():
            self.trackers[key].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
        logits, _ = self.discriminator(x, training=False)
        self.trackers["sup_loss"].update_state(ops.mean(_ce(y, logits)))
        self.trackers["accuracy"].update_state(_accuracy(y, logits))
        return {k: self.trackers[k].result() for k in ("sup_loss", "accuracy")}

    def sample(self, n: int) -> np.ndarray:
        """Return n generated images in [0, 1] (the generator in inference mode)."""
        fake = self.generator(self._noise(int(n)), training=False)
        return (np.asarray(fake, np.float32) + 1.0) / 2.0

    def classifier(self) -> keras.Model:
        """Return the discriminator as a classifier: images in [0, 1] -> class probabilities."""
        image = keras.Input(self.discriminator.inputs[0].shape[1:], name="image")
        logits, _ = self.discriminator(layers.Rescaling(2.0, offset=-1.0, name="to_symmetric")(image))
        probs = layers.Softmax(name="probs", dtype="float32")(logits)
        return keras.Model(image, probs, name="ssgan_classifier")

    def get_config(self):
        return {"generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "unsup_weight": self.unsup_weight, "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)


def build_ssgan(image_shape=(28, 28, 1), n_classes: int = 10, seed: int = 0,
                latent_dim: int = 64, g_width: int = 32, d_width: int = 32,
                d_lr: float = 1e-3, g_lr: float = 1e-3, unsup_weight: float = 1.0,
                input_noise: float = 0.3, dropout: float = 0.3, body: str = "dcgan",
                mlp_widths=(500, 250, 250), hidden_noise: float = 0.5) -> SemiSupervisedGAN:
    """Return a compiled SemiSupervisedGAN (chapter 3's generator, K-logit discriminator), Adam(beta_1=0.5) each."""
    model = SemiSupervisedGAN(
        gan.generator_net(image_shape, latent_dim, width=g_width, name="ssgan_generator"),
        discriminator_classifier(image_shape, n_classes, width=d_width, dropout=dropout,
                                 input_noise=input_noise, body=body, mlp_widths=mlp_widths,
                                 hidden_noise=hidden_noise),
        unsup_weight=unsup_weight, seed=seed, name="ssgan")
    model.compile(d_optimizer=keras.optimizers.Adam(d_lr, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(g_lr, beta_1=0.5))
    return model


# --------------------------------------------------------------------------- M2


def logit_classifier(image_shape=(28, 28, 1), n_classes: int = 10, width: int = 32,
                     name: str = "classifier") -> keras.Model:
    """Return chapter 1's small_cnn with its softmax removed: images in [0, 1] -> class logits."""
    base = classifiers.small_cnn(image_shape, n_classes, width=width)
    h = base.get_layer("embedding").output
    logits = layers.Dense(n_classes, name="logits", dtype="float32")(h)
    return keras.Model(base.inputs[0], logits, name=name)  # one input, not a list: no structure warning


@keras.saving.register_keras_serializable(package="genclass")
class M2(keras.Model):
    """The semi-supervised VAE M2 of Kingma et al. (2014), with a Bernoulli likelihood.

    Networks: the classifier q(y|x) (logits), the encoder q(z|x,y) = N(mu, diag sigma^2) and the
    decoder p(x|y,z) (Bernoulli logits); priors p(z) = N(0, I), p(y) uniform over K classes.
    For a labelled image, the negative ELBO in nats is

        L(x, y) = -E_q(z|x,y)[log p(x|y,z)] + KL(q(z|x,y) || p(z)) + log K,

    and for an unlabelled image the class is marginalised out:

        U(x) = sum_k q(k|x) L(x, k) - H(q(y|x)),   H(q) = -sum_k q(k|x) log q(k|x).

    The loss is mean_labelled[L(x, y) + alpha * (-log q(y|x))] + mean_unlabelled[U(x)], one z
    drawn per (image, class). One optimizer trains all three networks: they share one
    objective. Validation (test_step) reports q(y|x)'s accuracy and cross-entropy and the
    labelled negative ELBO. Not stacked on an M1 encoder: it models the pixels directly.
    Explained in notebooks/08_semi_supervised.ipynb.
    """

    def __init__(self, classifier: keras.Model, encoder: keras.Model, decoder: keras.Model,
                 alpha: float = 10.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.encoder = encoder
        self.decoder = decoder
        self.alpha = float(alpha)
        self.n_classes = int(classifier.outputs[0].shape[-1])
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in (
            "loss", "labeled_nelbo", "unlabeled_nelbo", "class_loss", "accuracy")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, images, training=False):
        return self.classifier(images, training=training)

    def labeled_terms(self, x, y, eps=None, training: bool = False):
        """Return L(x, y) per image (reconstruction NLL + KL + log K), with eps ~ N(0, I) if not given."""
        mean, log_var = self.encoder([x, y], training=training)
        if eps is None:
            eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        z = mean + ops.exp(0.5 * ops.cast(log_var, "float32")) * ops.cast(eps, "float32")
        logits = self.decoder([z, y], training=training)
        return (vae.bernoulli_nll(x, logits) + vae.kl_divergence(mean, log_var)
                + float(np.log(self.n_classes)))

    def unlabeled_terms(self, x, eps=None, training: bool = False):
        """Return (U(x) per image, class logits); eps, if given, has shape (K * n, latent_dim), class-major."""
        k = self.n_classes
        n = ops.shape(x)[0]
        logits = ops.cast(self.classifier(x, training=training), "float32")
        x_rep = ops.tile(x, (k, 1, 1, 1))  # class-major: all images with class 0, then class 1, ...
        y_rep = ops.repeat(ops.arange(k, dtype="int32"), n)
        per_class = ops.transpose(ops.reshape(self.labeled_terms(x_rep, y_rep, eps, training),
                                              (k, n)))  # (n, K)
        q = ops.softmax(logits, axis=-1)
        log_q = ops.log_softmax(logits, axis=-1)
        return ops.sum(q * per_class, axis=-1) + ops.sum(q * log_q, axis=-1), logits

    def train_step(self, batch):
        x_l, y_l, x_u = _unpack_pair(batch)
        with tf.GradientTape() as tape:
            lab = ops.mean(self.labeled_terms(x_l, y_l, training=True))
            logits_l = self.classifier(x_l, training=True)
            ce = ops.mean(_ce(y_l, logits_l))
            unl_per_image, _ = self.unlabeled_terms(x_u, training=True)
            unl = ops.mean(unl_per_image)
            loss = lab + self.alpha * ce + unl
        weights = (self.classifier.trainable_weights + self.encoder.trainable_weights
                   + self.decoder.trainable_weights)
        self.optimizer.apply(tape.gradient(loss, weights), weights)
        t = self.trackers
        for key, value in (("loss", loss), ("labeled_nelbo", lab), ("unlabeled_nelbo", unl),
                           ("class_loss", ce), ("accuracy", _accuracy(y_l, logits_l))):
            t[key].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
        y = ops.cast(y, "int32")
        logits = self.classifier(x, training=False)
        self.trackers["class_loss"].update_state(ops.mean(_ce(y, logits)))
        self.trackers["accuracy"].update_state(_accuracy(y, logits))
        self.trackers["labeled_nelbo"].update_state(ops.mean(self.labeled_terms(x, y)))
        return {k: self.trackers[k].result() for k in ("class_loss", "accuracy", "labeled_nelbo")}

    def sample(self, labels, temperature: float = 1.0) -> np.ndarray:
        """Return images in [0, 1] decoded from z ~ N(0, temperature^2 I) for the given labels."""
        labels = ops.convert_to_tensor(np.asarray(labels, np.int32))
        z = keras.random.normal((len(labels), self.latent_dim), seed=self.seed_generator)
        logits = self.decoder([z * temperature, labels], training=False)
        return np.asarray(ops.sigmoid(logits))

    def get_config(self):
        return {k: keras.saving.serialize_keras_object(getattr(self, k))
                for k in ("classifier", "encoder", "decoder")} | {
            "alpha": self.alpha, "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for k in ("classifier", "encoder", "decoder"):
            config[k] = keras.saving.deserialize_keras_object(config[k])
        return cls(**config)


def mlp_encoder(image_shape=(28, 28, 1), latent_dim: int = 16, n_classes: int = 10,
                hidden: int = 256, name: str = "m2_encoder") -> keras.Model:
    """Return q(z|x,y) as an MLP: [image in [0, 1], int32 label] -> (z_mean, z_log_var).

    Same inputs and outputs as chapter 4's conditional encoder; an MLP (as in Kingma et al.
    2014) because M2 runs the encoder and decoder K times per unlabelled image, and the
    convolutional pair costs about ten times more on a CPU.
    """
    image = keras.Input(image_shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    onehot = layers.CategoryEncoding(num_tokens=n_classes, output_mode="one_hot",
                                     name="label_onehot")(label)
    h = layers.Concatenate()([layers.Flatten()(image), onehot])
    h = layers.Dense(hidden, activation="softplus", name="hidden")(h)
    return keras.Model([image, label], [layers.Dense(latent_dim, name="z_mean")(h),
                                        layers.Dense(latent_dim, name="z_log_var")(h)], name=name)


def mlp_decoder(image_shape=(28, 28, 1), latent_dim: int = 16, n_classes: int = 10,
                hidden: int = 256, name: str = "m2_decoder") -> keras.Model:
    """Return p(x|y,z) as an MLP: [z, int32 label] -> Bernoulli logits of shape image_shape."""
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    onehot = layers.CategoryEncoding(num_tokens=n_classes, output_mode="one_hot",
                                     name="label_onehot")(label)
    h = layers.Dense(hidden, activation="softplus", name="hidden")(layers.Concatenate()([z, onehot]))
    logits = layers.Dense(int(np.prod(image_shape)), name="logits_flat")(h)
    return keras.Model([z, label], layers.Reshape(image_shape, name="logits")(logits), name=name)


def build_m2(image_shape=(28, 28, 1), n_classes: int = 10, seed: int = 0, latent_dim: int = 16,
             hidden: int = 256, classifier_width: int = 16, alpha: float = 10.0,
             lr: float = 1e-3, conv: bool = False) -> M2:
    """Return a compiled M2: small_cnn logits for q(y|x), MLP (or chapter 4's conv, conv=True) encoder and decoder."""
    if conv:
        enc = vae.build_encoder(image_shape, latent_dim, n_classes=n_classes, name="m2_encoder")
        dec = vae.build_decoder(image_shape, latent_dim, n_classes=n_classes, name="m2_decoder")
    else:
        enc = mlp_encoder(image_shape, latent_dim, n_classes, hidden)
        dec = mlp_decoder(image_shape, latent_dim, n_classes, hidden)
    model = M2(logit_classifier(image_shape, n_classes, width=classifier_width), enc, dec,
               alpha=alpha, seed=seed, name="m2")
    model.compile(optimizer=keras.optimizers.Adam(lr))
    return model


def fit_semisupervised(model: SemiSupervisedGAN | M2, split: SemiSupervisedSplit,
                       steps_per_epoch: int, epochs: int, patience: int | None = None,
                       labeled_batch: int = 32, unlabeled_batch: int = 64, seed: int = 0,
                       verbose: int = 0) -> tuple[dict, list[float]]:
    """Return (history, seconds per epoch) after fitting model on the split's paired batches.

    Validation accuracy on the split's small validation set is measured after every epoch of
    steps_per_epoch steps; with a patience, early stopping restores the best weights. The
    unlabelled pool is passed without labels; the validation labels only score.
    """
    scale_to = "symmetric" if isinstance(model, SemiSupervisedGAN) else "unit"
    train = paired_dataset(split.x_labeled, split.y_labeled, split.x_unlabeled, labeled_batch,
                           unlabeled_batch, seed=seed, scale_to=scale_to)
    timer = classifiers.EpochTimer()
    cbs: list = [timer]
    if patience is not None:
        cbs.append(keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=patience,
                                                 restore_best_weights=True))
    training.eager_if_short(model, int(steps_per_epoch) * int(epochs))
    hist = model.fit(train, steps_per_epoch=int(steps_per_epoch), epochs=int(epochs),
                     validation_data=validation_dataset(split.x_val, split.y_val, scale_to),
                     callbacks=cbs, verbose=verbose, shuffle=False)  # the pipeline shuffles
    return {k: [float(v) for v in vs] for k, vs in hist.history.items()}, timer.seconds
