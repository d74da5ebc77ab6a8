"""A label-store predictor for the kill and concurrency tests; the tests start it as a process.

Usage: python _labels_worker.py DB BATCH MODE [GO_FILE]
MODE "kill:N" writes N batches, then SIGKILLs itself halfway through the rows of the next
batch's transaction (as a dying machine would: no cleanup, no rollback by Python).
MODE "race" waits for GO_FILE, predicts everything, and prints "written start end".
The classifier is NumpyClassifier: the store's code path is the same as with a Keras model,
and the process starts in a second instead of importing TensorFlow.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from genclass_utils.labels import LabelStore, store


class NumpyClassifier:
    """A softmax over a fixed random linear map of 8x8x1 images, called like a Keras model."""

    name = "numpy_linear"

    def __init__(self, seed: int = 0, n_classes: int = 3):
        self.w = np.random.default_rng(seed).standard_normal((64, n_classes)).astype(np.float32)
        self.weights = [self.w]
        self.inputs = [SimpleNamespace(shape=(None, 8, 8, 1))]
        self.outputs = [SimpleNamespace(shape=(None, n_classes))]

    def __call__(self, x, training: bool = False) -> np.ndarray:
        z = 4.0 * np.asarray(x, np.float32).reshape(len(x), -1) @ self.w / 8.0
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def main(argv: list[str]) -> int:
    db, batch, mode = argv[0], int(argv[1]), argv[2]
    s = LabelStore(db)
    model = NumpyClassifier()
    if mode.startswith("kill:"):
        after = int(mode.split(":")[1])
        calls = {"n": 0}
        real = store.LabelStore._put_predictions

        def dying(self, model_id, image_ids, probs):
            calls["n"] += 1
            if calls["n"] <= after:
                return real(self, model_id, image_ids, probs)
            self.conn.execute("BEGIN IMMEDIATE")
            half = len(image_ids) // 2
            for i, p in zip(image_ids[:half], probs[:half]):
                self.conn.execute(
                    "INSERT INTO predictions (image_id, model_id, probs, top_class, confidence, "
                    "created_at) VALUES (?, ?, ?, ?, ?, 'now')",
                    (i, model_id, p.tobytes(), int(p.argmax()), float(p.max())))
            os.kill(os.getpid(), signal.SIGKILL)

        store.LabelStore._put_predictions = dying
        s.predict(model, batch_size=batch, progress=False)
        return 3  # not reached
    go = Path(argv[3])
    Path(f"{go}.{os.getpid()}.ready").touch()
    while not go.exists():
        time.sleep(0.005)
    start = time.time()
    n = s.predict(model, batch_size=batch, progress=False)
    print(n, start, time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
