"""Training throughput (images per second) of the course's models under different settings.

Explained in notebooks/10_speed_scale_security.ipynb. ``python -m genclass_utils bench
[--quick] [--out bench.json]`` changes one factor at a time away from the course's default
(graph mode, ``jit_compile="auto"``, tf.data with cache and prefetch, batch 128, float32) and
reports the median of several timed runs after a warm-up run. Mixed precision is measured
only where a GPU is present; elsewhere its row says ``skipped``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, argument_parser


@dataclass(frozen=True)
class Setting:
    """One way of running a train step."""

    name: str
    eager: bool = False
    jit: bool | str = "auto"
    pipeline: bool = True  # tf.data with cache + prefetch; False: neither
    batch: int = 128
    precision: str = "float32"


DEFAULT = Setting("default")
NAIVE = Setting("naive", eager=True, jit=False, pipeline=False)


def settings(quick: bool = False) -> list[Setting]:
    """Return the settings to measure: default, naive, then one factor changed at a time.

    The first three (default, naive, XLA on) are the ones the chapter's ratios need; a run may
    keep only the first few (``run(n_settings=...)``, as the smoke profile does).
    """
    out = [DEFAULT, NAIVE, Setting("jit_on", jit=True), Setting("eager", eager=True),
           Setting("no_prefetch", pipeline=False), Setting("batch_256", batch=256),
           Setting("mixed_float16", precision="mixed_float16")]
    if not quick:
        out += [Setting("batch_64", batch=64), Setting("jit_off", jit=False)]
    return out


# --------------------------------------------------------------------------- models

def cnn_factory(input_shape=(28, 28, 1), n_classes: int = 10):
    """Return classifiers.small_cnn (chapter 2's kind, no batch normalisation, width 32), uncompiled."""
    from .models import classifiers

    if hasattr(classifiers, "small_cnn"):
        return classifiers.small_cnn(input_shape, n_classes)
    return classifiers.evaluator_cnn(input_shape, n_classes, width=16, name="cnn")


def gan_factory(input_shape=(28, 28, 1)):
    """Return the chapter-3 GAN, compiled with its own optimizers (the DCGAN when available)."""
    try:
        from .models import gan
    except ImportError:
        gan = None
    if gan is not None and hasattr(gan, "build_gan"):
        return gan.build_gan(input_shape)
    from .distributed import toy_gan

    return toy_gan(input_shape)


# --------------------------------------------------------------------------- FLOPs

def forward_flops(model) -> int:
    """Return multiply-adds x 2 of one image's forward pass through Conv2D/Conv2DTranspose/Dense."""
    from keras import layers

    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, layers.Conv2DTranspose):
            h, w, cin = layer.input.shape[1:]
            kh, kw = layer.kernel_size
            total += 2 * h * w * kh * kw * cin * layer.filters
        elif isinstance(layer, layers.Conv2D):
            h, w = layer.output.shape[1:3]
            cin = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            total += 2 * h * w * kh * kw * cin * layer.filters // layer.groups
        elif isinstance(layer, layers.Dense):
            total += 2 * int(np.prod(layer.input.shape[1:])) * layer.units
    return int(total)


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer


def train_flops_per_image(model) -> int:
    """Return the approximate FLOPs of one training image: 3 x forward (forward + backward)."""
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        g, d = forward_flops(model.generator), forward_flops(model.discriminator)
        # D step: G forward, D forward+backward on real and fake; G step: G and D fwd+bwd.
        return int(g + 2 * 3 * d + 3 * g + 3 * d)
    return 3 * forward_flops(model)


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Return the measured float32 matmul rate of this machine in GFLOP/s (median of repeats)."""
    import tensorflow as tf

    from .data import check_count

    n, repeats = check_count(n, "n"), check_count(repeats, "repeats")
    a = tf.random.normal((n, n))
    f = tf.function(lambda m: tf.linalg.matmul(m, m))
    f(a).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).numpy()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


# --------------------------------------------------------------------------- timing

def _dataset(x, y, s: Setting, seed: int):
    from . import data

    ds = data.make_dataset(x, y, batch_size=s.batch, shuffle=True, seed=seed, cache=s.pipeline,
                           prefetch=s.pipeline, drop_remainder=True)
    return ds.repeat()


class _Timer:
    def __init__(self):
        import keras

        class T(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):
                cb.t = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):
                self.seconds.append(time.perf_counter() - cb.t)

        self.seconds: list[float] = []
        self.callback = T()


def measure(model_name: str, factory: Callable, s: Setting, x: np.ndarray,
            y: np.ndarray | None, steps: int, runs: int, seed: int = 0, gpu: bool | None = None
            ) -> dict:
    """Return one row: the median images/s over `runs` timed epochs of `steps` after a warm-up."""
    if s.precision == "float32":  # a mixed-precision row may be skipped below, before any work
        check_budget(len(x), steps, runs, s.batch)
    import keras
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU")) if gpu is None else gpu
    row = {"model": model_name, **asdict(s), "images_per_s": None, "status": "ok"}
    if s.precision != "float32" and not gpu:
        row["status"] = "skipped (no GPU)"
        return row
    check_budget(len(x), steps, runs, s.batch)
    from tensorflow.python.framework import config as tf_config

    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(s.precision)
    # Keras silently turns jit_compile=True off while op determinism is on (as gu.setup sets it
    # on CPU); timing needs no determinism, so it is off while measuring and restored after.
    deterministic = tf_config.is_op_determinism_enabled()
    tf_config.disable_op_determinism()
    try:
        model = factory()
        if model_name == "cnn":
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          run_eagerly=s.eager, jit_compile=s.jit)
        else:  # the GAN arrives compiled with its optimizers; recompile the step's mode only
            model.run_eagerly = s.eager
            model.jit_compile = s.jit if s.jit != "auto" else model.jit_compile
        timer = _Timer()
        ds = _dataset(x, y, s, seed) if y is not None else _dataset(x, None, s, seed)
        model.fit(ds, epochs=runs + 1, steps_per_epoch=steps, verbose=0,
                  callbacks=[timer.callback])
        row["jit_effective"] = bool(model.jit_compile)
    finally:
        keras.mixed_precision.set_global_policy("float32")
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    timed = timer.seconds[1:]  # the first epoch traces and compiles
    if not timed:
        raise ConfigError(f"bench timed no epoch for {model_name} ({s.name}); runs must be >= 1")
    rate = [steps * s.batch / t for t in timed]
    row["images_per_s"] = float(statistics.median(rate))
    row["spread"] = float((max(rate) - min(rate)) / statistics.median(rate))
    row["flops_per_image"] = train_flops_per_image(model)
    return row


def check_budget(n_images: int, steps: int, runs: int, batch: int) -> None:
    """Raise ConfigError unless steps and runs are positive integers and n_images fills a batch."""
    for name, value in (("steps", steps), ("runs", runs), ("n_images", n_images)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"bench {name} must be a positive integer; got {value!r}")
    if n_images < batch:
        raise ConfigError(f"bench needs at least one full batch of {batch} images; got "
                          f"n_images={n_images} (no batch would be timed)")


def check_writable(path: str | Path) -> Path:
    """Return path if a file can be written there (its folder exists and is writable), else raise ConfigError."""
    if not isinstance(path, (str, os.PathLike)) or not str(path) or "\x00" in str(path):
        raise ConfigError(f"output must be a file path; got {path!r:.80}")
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"output {str(path)!r} is a folder; give a file name such as bench.json")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"output folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"output {str(path)!r} is not writable; choose another path")
    return path


def run(quick: bool = False, models: tuple[str, ...] = ("cnn", "gan"), n_images: int = 4096,
        steps: int | None = None, runs: int | None = None, seed: int = 0,
        cnn: Callable | None = None, gan: Callable | None = None,
        n_settings: int | None = None) -> list[dict]:
    """Return the rows of the benchmark (see the module docstring) on random 28x28 images.

    ``n_settings`` keeps only the first settings of :func:`settings` (at least default and naive).
    """
    unknown = set(models) - {"cnn", "gan"}
    if unknown:
        raise ConfigError(f"unknown model(s) {sorted(unknown)}; choose cnn and/or gan")
    if n_settings is not None and (isinstance(n_settings, bool) or not isinstance(n_settings, (int, np.integer))
                                   or n_settings < 2):
        raise ConfigError(f"n_settings must be an integer >= 2 (default and naive); got {n_settings!r}")
    chosen = settings(quick)[:n_settings]
    steps = (6 if quick else 20) if steps is None else steps
    runs = (3 if quick else 5) if runs is None else runs
    check_budget(n_images, steps, runs, max(s.batch for s in chosen))
    rng = np.random.default_rng(seed)
    x = rng.random((n_images, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, n_images)
    factories = {"cnn": cnn or cnn_factory, "gan": gan or gan_factory}
    rows = []
    for name in models:
        for s in chosen:
            if name == "gan" and s.name in ("batch_64", "jit_off"):
                continue
            rows.append(measure(name, factories[name], s, x if name == "gan" else x,
                                None if name == "gan" else y, steps, runs, seed))
    return rows


def speedup(rows: list[dict], model: str, a: str = "default", b: str = "naive") -> float:
    """Return images/s of setting a divided by that of setting b for a model."""
    rate = {r["name"]: r["images_per_s"] for r in rows if r["model"] == model}
    if rate.get(a) is None or rate.get(b) is None:
        raise ConfigError(f"no measured rows {a!r} and {b!r} for {model!r}")
    return rate[a] / rate[b]


def table_rows(rows: list[dict]) -> list[dict]:
    """Return the rows trimmed for printing."""
    need = ("model", "name", "batch", "images_per_s", "status")
    if not all(isinstance(r, dict) and all(k in r for k in need) for r in rows):
        raise ConfigError(f"rows must be the dicts bench.run returns (with {', '.join(need)})")
    return [{"model": r["model"], "setting": r["name"], "batch": r["batch"],
             "xla": r.get("jit_effective"), "images/s": r["images_per_s"],
             "spread": r.get("spread"), "status": r["status"]}
            for r in rows]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its table and write it to --out (JSON, atomic)."""
    from . import report
    from .files import atomic_write_json

    p = argument_parser(prog="python -m genclass_utils bench",
                                description="measure training throughput (images/s)")
    p.add_argument("--quick", action="store_true", help="fewer settings, steps and runs")
    p.add_argument("--models", default="cnn,gan", help="comma-separated: cnn,gan")
    p.add_argument("--out", default=None, help="write the rows to this JSON file")
    args = p.parse_args(argv)
    if args.out:  # before a minute of measuring, not after
        check_writable(args.out)
    rows = run(quick=args.quick, models=tuple(args.models.split(",")))
    print(report.table(table_rows(rows), floatfmt=".1f"))
    if args.out:
        atomic_write_json(args.out, {"rows": rows, "matmul_gflops": matmul_gflops()})
        print(f"wrote {args.out}")
    return 0


# --------------------------------------------------------------------------- published peers
#
# The course's train steps next to the train steps of the published keras.io examples, on the
# same networks, batch and data, timed in the same process, alternating which goes first.

PEER_SOURCES = {
    "gan": "https://keras.io/examples/generative/dcgan_overriding_train_step/",
    "vae": "https://keras.io/examples/generative/vae/",
}


def _peer_classes():
    """Return the two peer model classes (built lazily so that importing bench stays light)."""
    import keras
    import tensorflow as tf

    class PeerGAN(keras.Model):
        """The keras.io DCGAN example's step: one discriminator pass over fakes and reals
        concatenated, noisy targets (1 = fake), then a generator pass with "real" targets."""

        def __init__(self, generator, discriminator, latent_dim, **kwargs):
            super().__init__(**kwargs)
            self.generator, self.discriminator = generator, discriminator
            self.latent_dim = latent_dim

        def compile(self, d_optimizer, g_optimizer):
            super().compile()
            self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
            self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

        def train_step(self, real):
            n = tf.shape(real)[0]
            fake = self.generator(tf.random.normal((n, self.latent_dim)), training=True)
            both = tf.concat([fake, real], axis=0)
            targets = tf.concat([tf.ones((n, 1)), tf.zeros((n, 1))], axis=0)
            targets += 0.05 * tf.random.uniform(tf.shape(targets))
            with tf.GradientTape() as tape:
                d_loss = self.bce(targets, self.discriminator(both, training=True))
            d_w = self.discriminator.trainable_weights
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_w), d_w))
            with tf.GradientTape() as tape:
                logits = self.discriminator(
                    self.generator(tf.random.normal((n, self.latent_dim)), training=True),
                    training=True)
                g_loss = self.bce(tf.zeros((n, 1)), logits)
            g_w = self.generator.trainable_weights
            self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_w), g_w))
            return {"d_loss": d_loss, "g_loss": g_loss}

    class PeerVAE(keras.Model):
        """The keras.io VAE example's step: sigmoid decoder output, binary cross-entropy summed
        over pixels plus the Gaussian KL, one optimizer over all weights."""

        def __init__(self, encoder, decoder_logits, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder_logits
            self.total = keras.metrics.Mean(name="total_loss")

        @property
        def metrics(self):
            return [self.total]

        def train_step(self, x):
            with tf.GradientTape() as tape:
                z_mean, z_log_var = self.encoder(x, training=True)
                eps = tf.random.normal(tf.shape(z_mean))
                z = z_mean + tf.exp(0.5 * z_log_var) * eps
                recon = tf.sigmoid(self.decoder(z, training=True))
                rec = tf.reduce_mean(tf.reduce_sum(
                    keras.losses.binary_crossentropy(x, recon), axis=(1, 2)))
                kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
                loss = rec + tf.reduce_mean(tf.reduce_sum(kl, axis=1))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total.update_state(loss)
            return {"loss": self.total.result()}

    return PeerGAN, PeerVAE


def peer_pair(kind: str, image_shape=(28, 28, 1), seed: int = 0) -> tuple:
    """Return (course model, keras.io-style peer) for "gan" or "vae": same networks, same initial weights."""
    if kind not in PEER_SOURCES:
        raise ConfigError(f"unknown peer kind {kind!r}; choose gan or vae")
    import keras

    from .models import gan as G
    from .models import vae as V

    PeerGAN, PeerVAE = _peer_classes()
    if kind == "gan":
        keras.utils.set_random_seed(seed)
        course = G.build_gan(image_shape, seed=seed)
        keras.utils.set_random_seed(seed)
        peer = PeerGAN(G.generator_net(image_shape), G.discriminator_net(image_shape),
                       G.LATENT_DIM, name="peer_gan")
        peer.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                     g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
        return course, peer
    if kind == "vae":
        keras.utils.set_random_seed(seed)
        course = V.build_vae(image_shape, seed=seed)
        keras.utils.set_random_seed(seed)
        peer = PeerVAE(V.build_encoder(image_shape), V.build_decoder(image_shape), name="peer_vae")
        peer.compile(optimizer=keras.optimizers.Adam(3e-3))
        return course, peer
    raise ConfigError(f"unknown peer kind {kind!r}; choose gan or vae")


def compare_peers(x: np.ndarray, kinds: tuple[str, ...] = ("gan", "vae"), batch: int = 128,
                  steps: int = 10, runs: int = 5, seed: int = 0) -> list[dict]:
    """Return one row per kind: images/s of the course's step and its keras.io peer, run by run.

    x holds float images in [0, 1]; the GAN sees them rescaled to [-1, 1] as in chapter 3. After
    one warm-up epoch each (tracing), the two models alternate `runs` timed epochs of `steps`
    batches, the first of each pair alternating too, so that load on the machine hits both alike.
    """
    check_budget(len(x), steps, runs, batch)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ConfigError("compare_peers needs finite float images of shape (n, h, w, c) in [0, 1]")
    import tensorflow as tf  # after the checks: bad input is refused without loading TensorFlow
    from tensorflow.python.framework import config as tf_config

    from . import data

    deterministic = tf_config.is_op_determinism_enabled()
    tf_config.disable_op_determinism()  # as in measure(): timing needs no determinism
    rows = []
    try:
        for kind in kinds:
            course, peer = peer_pair(kind, tuple(x.shape[1:]), seed)
            xs = x * 2 - 1 if kind == "gan" else x
            ds = data.make_dataset(xs, None, batch_size=batch, seed=seed,
                                   drop_remainder=True).repeat()
            rates: dict[str, list[float]] = {"course": [], "peer": []}
            models = {"course": course, "peer": peer}
            for name in models:  # warm-up: trace and build the optimizers
                models[name].fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
            for r in range(runs):
                order = ("course", "peer") if r % 2 == 0 else ("peer", "course")
                for name in order:
                    t = time.perf_counter()
                    models[name].fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
                    rates[name].append(steps * batch / (time.perf_counter() - t))
            ratios = [c / p for c, p in zip(rates["course"], rates["peer"])]
            rows.append({"kind": kind, "peer": PEER_SOURCES[kind], "batch": batch,
                         "steps": steps, "runs": runs,
                         "course_images_per_s": rates["course"], "peer_images_per_s": rates["peer"],
                         "ratio_median": float(statistics.median(ratios)),
                         "ratio_min": float(min(ratios)), "ratio_max": float(max(ratios)),
                         "flops_per_image": train_flops_per_image(course)})
    finally:
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    return rows


def ceiling_shares(rows: list[dict], matmul: float) -> list[dict]:
    """Return, per peer row, each step's GFLOP/s as a share of the measured matmul rate (a reference)."""
    if not (isinstance(matmul, (int, float)) and matmul > 0):
        raise ConfigError(f"the matmul rate must be a positive number of GFLOP/s; got {matmul!r}")
    out = []
    for r in rows:
        for who in ("course", "peer"):
            ips = statistics.median(r[f"{who}_images_per_s"])
            gflops = r["flops_per_image"] * ips / 1e9
            out.append({"kind": r["kind"], "step": who, "images/s": ips, "GFLOP/s": gflops,
                        "share of matmul rate": gflops / matmul,
                        "ceiling images/s": matmul * 1e9 / r["flops_per_image"]})
    return out
