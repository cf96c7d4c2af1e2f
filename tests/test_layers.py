"""fastlstm.layers.LSTM: Keras initialisation, call semantics, weights, backward, config."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastlstm
from fastlstm.layers import LSTM


def test_keras_initialisation():
    layer = LSTM(16, seed=3)
    layer(np.zeros((2, 3, 8)))
    k, r, b = layer.kernel, layer.recurrent_kernel, layer.bias
    assert (k.shape, r.shape, b.shape) == ((8, 64), (16, 64), (64,))
    assert k.dtype == r.dtype == b.dtype == np.float32
    limit = np.sqrt(6 / (8 + 64))  # glorot-uniform over (fan_in, fan_out)
    assert np.abs(k).max() <= limit
    assert np.abs(k).max() > 0.8 * limit
    np.testing.assert_allclose(r @ r.T, np.eye(16), atol=1e-5)  # orthonormal rows
    np.testing.assert_array_equal(b[16:32], 1)  # unit forget bias
    np.testing.assert_array_equal(np.delete(b, np.s_[16:32]), 0)


def test_seed_makes_weights_reproducible():
    x = np.ones((1, 2, 5))
    a, b, c = LSTM(4, seed=7), LSTM(4, seed=7), LSTM(4, seed=8)
    for layer in (a, b, c):
        layer(x)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.kernel, c.kernel)


def test_call_returns_what_keras_returns():
    x = np.random.default_rng(0).standard_normal((3, 5, 4))
    last = LSTM(6, seed=1)
    seq = LSTM(6, seed=1, return_sequences=True)
    both = LSTM(6, seed=1, return_sequences=True, return_state=True)
    h_only = last(x)
    y = seq(x)
    out, h, c = both(x)
    assert h_only.shape == (3, 6)
    assert y.shape == (3, 5, 6)
    assert c.shape == (3, 6)
    np.testing.assert_array_equal(y[:, -1], h_only)
    np.testing.assert_array_equal(out, y)
    np.testing.assert_array_equal(h, h_only)
    ref, (_h_ref, c_ref) = fastlstm.lstm(x, *seq.get_weights())
    np.testing.assert_array_equal(y, ref)
    np.testing.assert_array_equal(c, c_ref)


def test_weights_are_settable_and_checked():
    layer = LSTM(3, seed=0)
    with pytest.raises(ValueError, match="kernel: the layer has no weights yet"):
        layer.kernel = np.zeros((2, 12))
    layer(np.zeros((1, 1, 2)))
    layer.kernel = np.ones((2, 12))
    assert layer.kernel.dtype == np.float32
    assert np.all(layer.kernel == 1)
    with pytest.raises(
        ValueError, match=r"recurrent_kernel: expected shape \(3, 12\), got \(3, 8\)"
    ):
        layer.recurrent_kernel = np.zeros((3, 8))
    with pytest.raises(TypeError, match="bias: expected an array of real numbers"):
        layer.bias = np.zeros(12, dtype=complex)
    before = layer.get_weights()
    with pytest.raises(ValueError, match="bias"):
        layer.set_weights([np.zeros((2, 12)), np.zeros((3, 12)), np.zeros(5)])
    for a, b in zip(layer.get_weights(), before):  # a failed set_weights changes nothing
        np.testing.assert_array_equal(a, b)


def test_backward_matches_functional_for_each_output_mode():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 3))
    for kwargs in ({}, {"return_sequences": True}, {"return_state": True}):
        layer = LSTM(5, seed=2, dtype="float64", **kwargs)
        _outputs, cache = layer.forward(x)
        y, (h, _c), fcache = fastlstm.lstm_forward(x, *layer.get_weights())
        if kwargs.get("return_state"):
            dout, dh, dc = rng.standard_normal((3, 2, 5))
            grads = layer.backward(cache, [dout, dh, dc])
            expected = fastlstm.lstm_backward(fcache, None, (dout + dh, dc))
        elif kwargs.get("return_sequences"):
            dy = rng.standard_normal(y.shape)
            grads = layer.backward(cache, dy)
            expected = fastlstm.lstm_backward(fcache, dy)
        else:
            dout = rng.standard_normal(h.shape)
            grads = layer.backward(cache, dout)
            expected = fastlstm.lstm_backward(fcache, None, (dout, None))
        for a, b in zip(grads, expected):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_stream_from_layer_matches_call():
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype(np.float32)
    layer = LSTM(4, seed=5, return_sequences=True)
    y = layer(x)
    stream = layer.stream(batch_size=2)
    steps = np.stack([stream.step(x[:, t]) for t in range(6)], axis=1)
    np.testing.assert_allclose(steps, y, atol=1e-6)


def test_config_round_trips_through_json():
    layer = LSTM(7, return_sequences=True, seed=9, dtype="float64", name="enc")
    config = json.loads(json.dumps(layer.get_config()))
    clone = LSTM.from_config(config)
    assert clone.get_config() == layer.get_config()
    x = np.ones((1, 2, 3))
    np.testing.assert_array_equal(clone(x), layer(x))  # same seed, same weights


def test_float64_layer_computes_in_float64():
    layer = LSTM(3, dtype="float64", seed=0)
    out = layer(np.ones((1, 2, 2), dtype=np.float32))
    assert out.dtype == np.float64
    assert layer.count_params() == 2 * 12 + 3 * 12 + 12


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"units": 0}, ValueError, "units: expected a positive integer, got 0"),
        ({"units": 2.5}, TypeError, "units: expected a positive integer, got 2.5"),
        ({"units": 4, "dtype": "int32"}, TypeError, "dtype: expected one of"),
        ({"units": 4, "kernel_initializer": "nope"}, ValueError, "kernel_initializer: expected"),
        ({"units": 4, "return_sequences": "yes"}, TypeError, "return_sequences: expected True"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        LSTM(**kwargs)
