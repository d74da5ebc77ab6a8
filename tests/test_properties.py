"""Property-based tests: random valid input gives a result within its bounds, random invalid input
gives the package's error and nothing else (metrics, IDX parser, scaling, subsets, sampling)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from genclass_utils import data, metrics, sampling
from genclass_utils.errors import DataError, GenclassError, InputError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


def features(n_min=2, n_max=20, d_min=1, d_max=4):
    return st.tuples(st.integers(n_min, n_max), st.integers(d_min, d_max)).flatmap(
        lambda s: hnp.arrays(np.float64, s, elements=finite))


# --------------------------------------------------------------------------- metrics

@FAST
@given(features(), features())
def test_frechet_is_nonnegative_and_finite(a, b):
    if a.shape[1] != b.shape[1]:
        with pytest.raises(InputError):
            metrics.frechet_distance(a, b)
        return
    d = metrics.frechet_distance(a, b)
    assert np.isfinite(d) and d >= 0


@FAST
@given(features())
def test_frechet_of_a_set_with_itself_is_near_zero(a):
    scale = 1.0 + float(np.abs(a).max()) ** 2 * a.shape[1]
    assert metrics.frechet_distance(a, a) <= 1e-6 * scale + 1e-6


@FAST
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                  elements=st.floats(allow_nan=True, allow_infinity=True)))
def test_frechet_stats_random_input_is_result_or_input_error(arr):
    try:
        d = metrics.frechet_distance_from_stats(np.zeros(2), arr, np.zeros(2), np.eye(2))
    except InputError:
        return
    assert np.isfinite(d) and d >= 0


@settings(max_examples=15, deadline=None)
@given(features(4, 15), features(4, 15), st.integers(1, 3))
def test_precision_recall_lie_in_unit_interval(a, b, k):
    if a.shape[1] != b.shape[1]:
        return
    pr = metrics.precision_recall(a, b, k=k)
    assert 0 <= pr["precision"] <= 1 and 0 <= pr["recall"] <= 1


@FAST
@given(st.integers(1, 30), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_label_agreement_and_coverage_bounds(n, k, seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k), size=n)
    y = rng.integers(0, k, n)
    out = metrics.label_agreement(p, y)
    assert 0 <= out["accuracy"] <= 1 and 0 <= out["confidence"] <= 1
    assert 0 <= metrics.coverage_entropy(y, k) <= 1 + 1e-12
    assert np.isclose(metrics.class_histogram(y, k).sum(), 1)


@FAST
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
                  elements=st.one_of(st.floats(-5, 5), st.just(np.nan))))
def test_label_agreement_random_probs_is_result_or_input_error(p):
    try:
        out = metrics.label_agreement(p, np.zeros(len(p), int))
    except InputError:
        return
    assert 0 <= out["accuracy"] <= 1


# --------------------------------------------------------------------------- IDX parser

@FAST
@given(st.binary(max_size=64))
def test_parse_idx_random_bytes_is_array_or_data_error(raw):
    try:
        arr = data.parse_idx(raw)
    except DataError:
        return
    assert arr.dtype == np.uint8 and arr.size == len(raw) - 4 - 4 * arr.ndim


@FAST
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)))
def test_parse_idx_round_trips(arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    np.testing.assert_array_equal(data.parse_idx(header + arr.tobytes()), arr)


# --------------------------------------------------------------------------- scaling

@FAST
@given(hnp.arrays(np.uint8, hnp.array_shapes(max_dims=4, max_side=5)),
       st.sampled_from(["unit", "symmetric"]))
def test_scale_and_to_uint8_round_trip(x, to):
    y = data.scale(x, to)
    assert y.min(initial=0 if to == "unit" else -1) >= (0 if to == "unit" else -1)
    assert y.max(initial=0) <= 1
    np.testing.assert_array_equal(data.to_uint8(y, to), x)


@FAST
@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=3, max_side=4),
                  elements=st.one_of(st.floats(-300, 300, width=32),
                                     st.sampled_from([np.nan, np.inf, -np.inf]))),
       st.sampled_from(["unit", "symmetric", "bogus"]))
def test_to_uint8_random_floats_is_result_or_input_error(x, source):
    try:
        out = data.to_uint8(x, source)
    except InputError:
        return
    lo = -1.0 if source == "symmetric" else 0.0
    assert x.size == 0 or (x.min() >= lo - 1e-3 and x.max() <= 1 + 1e-3)
    assert out.dtype == np.uint8 and out.shape == x.shape


# --------------------------------------------------------------------------- subset builders

@FAST
@given(st.integers(2, 5), st.integers(2, 12), st.integers(1, 14), st.integers(0, 2**32 - 1))
def test_labeled_subset_is_exact_or_input_error(k, per_class_avail, n_per_class, seed):
    y = np.repeat(np.arange(k), per_class_avail)
    try:
        idx = data.labeled_subset(y, n_per_class, seed=seed)
    except InputError:
        assert n_per_class > per_class_avail
        return
    assert len(np.unique(idx)) == len(idx) == k * n_per_class
    assert (np.bincount(y[idx], minlength=k) == n_per_class).all()


@FAST
@given(st.integers(2, 5), st.integers(2, 12), st.integers(-3, 70), st.integers(0, 100))
def test_stratified_take_is_exact_or_input_error(k, per_class, n, seed):
    y = np.repeat(np.arange(k), per_class)
    try:
        idx = data.stratified_take(y, n, seed)
    except InputError:
        return
    assert len(np.unique(idx)) == len(idx) == min(n, len(y))


@FAST
@given(st.one_of(st.integers(-10, 10), st.floats(allow_nan=True), st.text(max_size=2),
                 st.none(), st.booleans()),
       st.one_of(st.integers(-(2**33), 2**33), st.floats(), st.none()))
def test_subset_arguments_random_is_result_or_input_error(n, seed):
    try:
        idx = data.labeled_subset(np.arange(40) % 4, n, seed=seed)
    except InputError:
        return
    assert len(idx) == 4 * int(n)


# --------------------------------------------------------------------------- sampling arguments

@pytest.fixture(scope="module")
def gen():
    import keras

    z = keras.Input((2,), name="z")
    out = keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4, activation="sigmoid")(z))
    return keras.Model(z, out, name="g")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(n=st.one_of(st.integers(-3, 8), st.floats(-2, 8), st.just(10**12), st.none()),
       seed=st.one_of(st.integers(-3, 2**33), st.just(1.5)),
       batch_size=st.one_of(st.integers(-2, 9), st.just(0.5)))
def test_sampling_arguments_give_images_or_input_error(gen, n, seed, batch_size):
    try:
        out = sampling.generate(gen, n, seed=seed, batch_size=batch_size)
    except InputError:
        return
    except GenclassError as e:  # pragma: no cover - any other package error is a test failure
        pytest.fail(f"unexpected {type(e).__name__}: {e}")
    assert out.shape == (int(n), 2, 2, 1) and out.dtype == np.uint8
