"""Chapter 7's auto-labelling loop through the label store gives what the array loop gives."""

import numpy as np
import pytest

from genclass_utils import experiments as ex
from genclass_utils.errors import InputError


def _split(rng):
    x = rng.integers(0, 256, size=(80, 8, 8, 1), dtype=np.uint8)
    y = rng.integers(0, 3, size=80).astype(np.int64)
    return ex.LowDataSplit(x[:12], y[:12], x[12:], y[12:], np.arange(12), np.arange(12, 80))


def _fit():
    import keras

    def fit(x, y, x_val, y_val, seed=0):
        keras.utils.set_random_seed(seed)
        m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy")
        m.fit(x.astype("float32") / 255, y, epochs=1, verbose=0, shuffle=False)
        return m
    return fit


@pytest.mark.slow
def test_store_loop_matches_array_loop_and_keeps_test_labels_out(tmp_path):
    rng = np.random.default_rng(0)
    split = _split(rng)
    xv, yv = split.x_labeled[:3], split.y_labeled[:3]
    xt, yt = split.x_unlabeled[:10], split.y_unlabeled_hidden[:10]
    kw = dict(thresholds=(0.34, 0.4, 0.5), n_classes=3, seed=0, log=None)
    plain = ex.run_auto_labelling(split, xv, yv, xt, yt, _fit(), **kw)
    db = tmp_path / "labels.sqlite"
    stored = ex.run_auto_labelling(split, xv, yv, xt, yt, _fit(), store=db, review_n=5, **kw)
    for t in ("0.34", "0.4", "0.5"):
        assert stored["thresholds"][t]["kept"] == plain["thresholds"][t]["kept"]
        a, b = stored["thresholds"][t]["label_precision"], plain["thresholds"][t]["label_precision"]
        assert a == b or (np.isnan(a) and np.isnan(b))
    review = stored["review"]
    assert review["n"] == 5
    assert np.all(np.diff(review["confidence"]) >= 0)  # least confident first
    # Every reviewed image is a pool image, labelled with its hidden label as the reviewer.
    pool = {img.tobytes(): k for img, k in zip(split.x_unlabeled, split.y_unlabeled_hidden)}
    assert [pool[img.tobytes()] for img in review["images"]] == review["truth"].tolist()
    assert stored["agreement"]["n"] <= 5
    from genclass_utils.labels import LabelStore
    st = LabelStore(db)
    srcs = set(st.current_labels()["source"].tolist())
    st.close()
    assert srcs <= {"import", "auto", "human"}


def test_store_loop_refuses_an_existing_store(tmp_path):
    rng = np.random.default_rng(1)
    split = _split(rng)
    db = tmp_path / "labels.sqlite"
    db.write_bytes(b"")
    with pytest.raises(InputError, match="exists"):
        ex.run_auto_labelling(split, split.x_labeled, split.y_labeled, split.x_labeled,
                              split.y_labeled, _fit(), thresholds=(0.5,), n_classes=3,
                              log=None, store=db)
