"""Training under a tf.distribute strategy: several devices, several worker processes.

Explained in notebooks/10_speed_scale_security.ipynb. The same training code runs on one
device, on several devices of one machine (``MirroredStrategy``) and on several machines
(``MultiWorkerMirroredStrategy``); only the strategy, the global batch size and the learning
rate change.

A custom ``train_step`` (a GAN's, a VAE's) must be written for this: Keras sums the gradients
of all replicas, so each replica's loss must be its share of the *global*-batch mean,
:func:`replica_mean`, not the mean over its own slice of the batch. The demonstrations here run
in child processes, because the number of logical devices must be fixed before TensorFlow
starts, and a multi-worker cluster is a set of processes. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import ConfigError, TrainingError

LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- in-process helpers

def replica_mean(per_example):
    """Return this replica's share of the global-batch mean: sum(losses) / global batch size."""
    import tensorflow as tf

    return tf.nn.compute_average_loss(per_example)


def num_replicas() -> int:
    """Return the number of replicas of the current tf.distribute strategy (1 outside any)."""
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def scaled_learning_rate(base_lr: float, base_batch: int, global_batch: int) -> float:
    """Return the linear-scaling learning rate: base_lr * global_batch / base_batch."""
    if base_batch <= 0 or global_batch <= 0:
        raise ConfigError("batch sizes must be positive")
    return float(base_lr) * global_batch / base_batch


def _custom_step_model(net, replica_aware: bool):
    import keras
    import tensorflow as tf

    class CustomStepClassifier(keras.Model):
        """A classifier trained by its own train_step, the pattern of the GAN and the VAE."""

        def __init__(self, net, replica_aware: bool = True, **kwargs):
            super().__init__(**kwargs)
            self.net = net
            self.replica_aware = replica_aware
            self.loss_tracker = keras.metrics.Mean(name="loss")

        @property
        def metrics(self):
            return [self.loss_tracker]

        def call(self, x, training=False):
            return self.net(x, training=training)

        def train_step(self, batch):
            x, y = batch
            with tf.GradientTape() as tape:
                per_example = keras.losses.sparse_categorical_crossentropy(
                    y, self.net(x, training=True))
                # The naive variant divides by the replica's own batch: wrong under a strategy.
                loss = (replica_mean(per_example) if self.replica_aware
                        else keras.ops.mean(per_example))
            grads = tape.gradient(loss, self.net.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.net.trainable_weights))
            # The tracker takes the replica's mean and its batch size; Keras sums across replicas.
            self.loss_tracker.update_state(keras.ops.mean(per_example),
                                           sample_weight=keras.ops.shape(x)[0])
            return {"loss": self.loss_tracker.result()}

    return CustomStepClassifier(net, replica_aware=replica_aware)


def toy_gan(image_shape=(28, 28, 1), latent_dim: int = 32, seed: int = 0):
    """Return a small compiled GAN whose train_step is correct under a strategy (replica_mean)."""
    import keras
    import tensorflow as tf
    from keras import layers

    h, w, c = image_shape
    z = keras.Input((latent_dim,), name="z")
    g = layers.Dense((h // 4) * (w // 4) * 32, activation="relu")(z)
    g = layers.Reshape((h // 4, w // 4, 32))(g)
    g = layers.Conv2DTranspose(16, 4, strides=2, padding="same", activation="relu")(g)
    g = layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="tanh")(g)
    generator = keras.Model(z, g, name="generator")
    img = keras.Input(image_shape, name="image")
    d = layers.LeakyReLU(0.2)(layers.Conv2D(16, 4, strides=2, padding="same")(img))
    d = layers.LeakyReLU(0.2)(layers.Conv2D(32, 4, strides=2, padding="same")(d))
    discriminator = keras.Model(img, layers.Dense(1)(layers.Flatten()(d)), name="discriminator")

    class ToyGAN(keras.Model):
        """A non-saturating GAN; each loss is the replica's share of the global-batch mean."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.generator, self.discriminator = generator, discriminator
            self.seed_generator = keras.random.SeedGenerator(seed)
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, **kwargs):
            super().compile(**kwargs)
            self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def call(self, z, training=False):
            return self.generator(z, training=training)

        def train_step(self, real):
            bce = keras.losses.binary_crossentropy
            n = keras.ops.shape(real)[0]
            z = keras.random.normal((n, latent_dim), seed=self.seed_generator)
            with tf.GradientTape() as tape:
                r = self.discriminator(real * 2.0 - 1.0, training=True)
                f = self.discriminator(self.generator(z, training=True), training=True)
                d_per = (bce(keras.ops.ones_like(r), r, from_logits=True)
                         + bce(keras.ops.zeros_like(f), f, from_logits=True))
                d_loss = replica_mean(d_per)
            dw = self.discriminator.trainable_weights
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, dw), dw))
            z = keras.random.normal((n, latent_dim), seed=self.seed_generator)
            with tf.GradientTape() as tape:
                f = self.discriminator(self.generator(z, training=True), training=True)
                g_per = bce(keras.ops.ones_like(f), f, from_logits=True)
                g_loss = replica_mean(g_per)
            gw = self.generator.trainable_weights
            self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, gw), gw))
            self.d_loss_tracker.update_state(keras.ops.mean(d_per), sample_weight=n)
            self.g_loss_tracker.update_state(keras.ops.mean(g_per), sample_weight=n)
            return {m.name: m.result() for m in self.metrics}

    gan = ToyGAN(name="toy_gan")
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    return gan


def toy_data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return n small deterministic 8x8 images and learnable labels (a fixed linear rule)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1), dtype=np.float32)
    w = rng.standard_normal((64, 10)).astype(np.float32)
    y = (x.reshape(n, -1) @ w).argmax(axis=1).astype(np.int64)
    return x, y


def _toy_net():
    import keras
    from keras import layers

    inputs = keras.Input((8, 8, 1))
    h = layers.Conv2D(4, 3, activation="relu")(inputs)
    h = layers.Flatten()(h)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(h))


def _toy_dataset(seed: int, global_batch: int):
    import tensorflow as tf

    x, y = toy_data(seed=seed)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch, drop_remainder=True)
    return ds.with_options(options)


def train_toy_loop(strategy=None, epochs: int = 2, global_batch: int = 32, lr: float = 0.1,
                   seed: int = 0) -> dict:
    """Return final weights and losses of the small model trained by a loop over strategy.run.

    Used for MultiWorkerMirroredStrategy, which Keras 3.15's fit() does not handle (it fails
    while averaging the logged scalars across workers).
    """
    import keras
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        net = _toy_net()
        optimizer = keras.optimizers.SGD(lr)
        optimizer.build(net.trainable_variables)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            per_example = keras.losses.sparse_categorical_crossentropy(y, net(x, training=True))
            loss = replica_mean(per_example)
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        return loss

    @tf.function
    def step(x, y):
        # Each replica returns its share of the global mean; their sum is the global mean.
        return strategy.reduce("SUM", strategy.run(replica_step, args=(x, y)), axis=None)

    losses = []
    for _ in range(epochs):
        batch_losses = [float(step(x, y)) for x, y in
                        strategy.experimental_distribute_dataset(_toy_dataset(seed, global_batch))]
        losses.append(float(np.mean(batch_losses)))
    weights = np.concatenate([np.ravel(w) for w in net.get_weights()])
    return {"kind": "loop", "replicas": int(strategy.num_replicas_in_sync), "loss": losses,
            "weights": weights.tolist()}


def train_toy(strategy=None, kind: str = "builtin", epochs: int = 2, global_batch: int = 32,
              lr: float = 0.1, seed: int = 0) -> dict:
    """Return final weights and losses of a small model trained under strategy (None: default).

    kind: "builtin" (compile + fit), "custom" (own train_step, replica_mean), "naive" (own
    train_step that averages over the replica's slice only) or "loop" (strategy.run loop).
    """
    import keras
    import tensorflow as tf

    if kind == "loop":
        return train_toy_loop(strategy, epochs, global_batch, lr, seed)
    if kind not in ("builtin", "custom", "naive"):
        raise ConfigError(f"unknown kind {kind!r}; choose builtin, custom, naive or loop")
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        net = _toy_net()
        if kind == "builtin":
            model = net
            model.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
        else:
            model = _custom_step_model(net, replica_aware=(kind == "custom"))
            model.compile(optimizer=keras.optimizers.SGD(lr))
    history = model.fit(_toy_dataset(seed, global_batch), epochs=epochs, verbose=0)
    weights = np.concatenate([np.ravel(w) for w in net.get_weights()])
    return {"kind": kind, "replicas": int(strategy.num_replicas_in_sync),
            "loss": [float(v) for v in history.history["loss"]], "weights": weights.tolist()}


def max_abs_diff(a: dict, b: dict) -> float:
    """Return the largest absolute difference between two runs' final weights."""
    wa, wb = np.asarray(a["weights"]), np.asarray(b["weights"])
    if wa.shape != wb.shape:
        raise TrainingError(f"runs have different weight shapes {wa.shape} vs {wb.shape}")
    return float(np.max(np.abs(wa - wb)))


# --------------------------------------------------------------------------- child processes

def free_loopback_ports(n: int) -> list[int]:
    """Return n distinct TCP ports that are free on 127.0.0.1 right now."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _child_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("TF_CONFIG", None)
    env.update(extra or {})
    return env


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill that did not take
            pass


def _run_children(cmds: list[list[str]], envs: list[dict], timeout: float) -> list[tuple[int, str]]:
    """Start the commands together; return (returncode, output tail) each; kill all at timeout."""
    procs: list[subprocess.Popen] = []
    logs = [tempfile.TemporaryFile(mode="w+") for _ in cmds]
    try:
        for cmd, env, log in zip(cmds, envs, logs):
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=str(ROOT)))
        deadline = time.monotonic() + timeout
        for p in procs:
            left = deadline - time.monotonic()
            try:
                p.wait(timeout=max(left, 0.1))
            except subprocess.TimeoutExpired:
                _stop(procs)
                raise TrainingError(f"distributed run did not finish within {timeout:.0f} s; "
                                    "all its processes were stopped") from None
        out = []
        for p, log in zip(procs, logs):
            log.seek(0)
            out.append((p.returncode, log.read()[-3000:]))
        return out
    finally:
        _stop(procs)
        for log in logs:
            log.close()


def _worker_cmd(mode: str, out: Path, kinds: list[str], devices: int = 1) -> list[str]:
    return [sys.executable, "-m", "genclass_utils.distributed", "worker", "--mode", mode,
            "--devices", str(devices), "--out", str(out), "--kinds", ",".join(kinds)]


def _read(path: Path, rc: int, log: str) -> dict:
    if rc != 0 or not path.exists():
        raise TrainingError(f"worker failed (exit code {rc}); its last output:\n{log}")
    return json.loads(path.read_text())


def _mirrored_spec(tmp: Path, devices: int, kinds) -> tuple[list, list, list]:
    out = tmp / "mirrored.json"
    return [_worker_cmd("mirrored", out, list(kinds), devices)], [_child_env()], [out]


def _multiworker_spec(tmp: Path, n_workers: int, kinds) -> tuple[list, list, list]:
    ports = free_loopback_ports(n_workers)
    cluster = {"worker": [f"{LOOPBACK}:{p}" for p in ports]}
    outs = [tmp / f"worker{i}.json" for i in range(n_workers)]
    cmds = [_worker_cmd("multiworker", o, list(kinds)) for o in outs]
    envs = [_child_env({"TF_CONFIG": json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": i}})})
        for i in range(n_workers)]
    return cmds, envs, outs


def _run_specs(specs, timeout: float) -> list[dict]:
    """Start every child process of every spec at once; return each output file's contents."""
    cmds = [c for spec in specs for c in spec[0]]
    envs = [e for spec in specs for e in spec[1]]
    outs = [o for spec in specs for o in spec[2]]
    results = _run_children(cmds, envs, timeout)
    return [_read(o, rc, log) for o, (rc, log) in zip(outs, results)]


MIRRORED_KINDS = ("builtin", "custom", "naive", "loop")


def run_mirrored(devices: int = 2, kinds: tuple[str, ...] = MIRRORED_KINDS,
                 timeout: float = 120.0) -> dict:
    """Return runs on 1 device and on `devices` logical CPUs (MirroredStrategy), from a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        return _run_specs([_mirrored_spec(Path(tmp), devices, kinds)], timeout)[0]


def run_multiworker(n_workers: int = 2, kinds: tuple[str, ...] = ("loop",),
                    timeout: float = 120.0) -> list[dict]:
    """Return each worker's runs under MultiWorkerMirroredStrategy, workers on 127.0.0.1 only."""
    with tempfile.TemporaryDirectory() as tmp:
        return _run_specs([_multiworker_spec(Path(tmp), n_workers, kinds)], timeout)


def compare(devices: int = 2, n_workers: int = 2, timeout: float = 150.0, tol: float = 1e-4
            ) -> dict:
    """Return the measured agreement of 2 devices and 2 workers with a single-device run.

    The mirrored process and the worker processes are independent, so they start together:
    each pays TensorFlow's start-up (several seconds) at the same time instead of one after
    the other. ``seconds`` is the wall time of the whole comparison.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        mirrored, *workers = _run_specs([_mirrored_spec(Path(tmp), devices, MIRRORED_KINDS),
                                         _multiworker_spec(Path(tmp), n_workers, ("loop",))],
                                        timeout)
    seconds = round(time.perf_counter() - t0, 1)
    single, multi = mirrored["single"], mirrored["mirrored"]
    diffs = {k: max_abs_diff(single[k], multi[k]) for k in single}
    w_diffs = {k: max(max_abs_diff(single[k], w["multiworker"][k]) for w in workers)
               for k in workers[0]["multiworker"]}
    return {
        "distributed": {"devices": devices,
                        "max_abs_diff_vs_single": max(diffs[k] for k in diffs if k != "naive"),
                        "by_kind": diffs, "tolerance": tol,
                        "naive_step_diff": diffs.get("naive"),
                        "seconds": seconds},
        "multiworker_ok": bool(all(v <= tol for v in w_diffs.values())),
        "multiworker": {"workers": n_workers, "max_abs_diff_vs_single": w_diffs,
                        "replicas": workers[0]["multiworker"]["loop"]["replicas"],
                        "seconds": seconds},
    }


# --------------------------------------------------------------------------- worker entry point

def _worker(args: argparse.Namespace) -> dict:
    import tensorflow as tf

    # All of this must happen before TensorFlow initialises its devices; hence a fresh process.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    if args.mode == "mirrored" and args.devices > 1:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(args.devices)])
    if args.mode == "multiworker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    kinds = args.kinds.split(",")
    if args.mode == "mirrored":
        names = [d.name for d in tf.config.list_logical_devices("CPU")]
        mirrored = tf.distribute.MirroredStrategy(devices=names)
        return {"single": {k: train_toy(None, k) for k in kinds},
                "mirrored": {k: train_toy(mirrored, k) for k in kinds}}
    return {"multiworker": {k: train_toy(strategy, k) for k in kinds}}


def main(argv: list[str] | None = None) -> int:
    """Run one worker (``worker --mode mirrored|multiworker --out FILE``) or the comparison."""
    parser = argparse.ArgumentParser(prog="python -m genclass_utils.distributed")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--mode", choices=("mirrored", "multiworker"), required=True)
    w.add_argument("--devices", type=int, default=2)
    w.add_argument("--kinds", default="builtin,custom,naive,loop")
    w.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--timeout", type=float, default=150.0)
    args = parser.parse_args(argv)
    if args.command == "worker":
        from .files import atomic_write_json

        atomic_write_json(args.out, _worker(args))
        return 0
    print(json.dumps(compare(timeout=args.timeout), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
