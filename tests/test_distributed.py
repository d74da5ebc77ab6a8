"""Distributed training: 2 logical devices and 2 loopback workers agree with one device."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from genclass_utils import distributed
from genclass_utils.errors import ConfigError, TrainingError


def test_free_loopback_ports_are_distinct_and_bindable():
    ports = distributed.free_loopback_ports(2)
    assert len(set(ports)) == 2
    for p in ports:
        with socket.socket() as s:
            s.bind((distributed.LOOPBACK, p))


def test_scaled_learning_rate():
    assert distributed.scaled_learning_rate(1e-3, 128, 512) == pytest.approx(4e-3)
    with pytest.raises(ConfigError):
        distributed.scaled_learning_rate(1e-3, 0, 512)


def test_child_timeout_stops_processes():
    import sys

    with pytest.raises(TrainingError, match="did not finish"):
        distributed._run_children([[sys.executable, "-c", "import time; time.sleep(60)"]],
                                  [distributed._child_env()], timeout=1)


@pytest.mark.slow
def test_two_devices_and_two_workers_match_one_device():
    out = distributed.compare(devices=2, n_workers=2, timeout=150)
    d = out["distributed"]
    assert d["devices"] == 2
    # builtin fit, a custom train_step with replica_mean, and a strategy.run loop all agree.
    assert d["max_abs_diff_vs_single"] <= d["tolerance"], json.dumps(d)
    # A custom train_step that averages over its own slice gets twice the gradient: it must differ.
    assert d["naive_step_diff"] > 100 * d["tolerance"]
    assert out["multiworker"]["replicas"] == 2
    assert out["multiworker_ok"], json.dumps(out["multiworker"])


@pytest.mark.slow
def test_toy_gan_custom_step_trains_and_reports_finite_losses():
    import keras

    from genclass_utils.distributed import toy_gan

    keras.utils.set_random_seed(0)
    gan = toy_gan((28, 28, 1), latent_dim=8)
    x = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    hist = gan.fit(x, batch_size=32, epochs=1, verbose=0).history
    assert set(hist) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v[-1]) for v in hist.values())
