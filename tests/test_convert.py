"""Weight conversion round trips (the peers' live parity is in test_peers.py)."""

from __future__ import annotations

import numpy as np

from fastlstm import convert


def weights(I=3, H=4, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((I, 4 * H)),
        rng.standard_normal((H, 4 * H)),
        rng.standard_normal(4 * H),
    )


def test_torch_round_trip():
    k, r, b = weights()
    w_ih, w_hh, b_ih, b_hh = convert.to_torch(k, r, b)
    assert w_ih.shape == (16, 3)
    assert w_hh.shape == (16, 4)
    for a, e in zip(convert.from_torch(w_ih, w_hh, b_ih, b_hh), (k, r, b)):
        np.testing.assert_array_equal(a, e)


def test_torch_biases_are_summed():
    k, r, b = weights()
    w_ih, w_hh, _, _ = convert.to_torch(k, r, b)
    _, _, bias = convert.from_torch(w_ih, w_hh, b, 2 * b)
    np.testing.assert_allclose(bias, 3 * b)


def test_onnx_gate_order_and_round_trip():
    k, r, b = weights(H=2)
    W, R, B = convert.to_onnx(k, r, b)
    assert W.shape == (1, 8, 3)
    assert R.shape == (1, 8, 2)
    assert B.shape == (1, 16)
    H = 2
    # ONNX's second block (o) is fastlstm's fourth, its third (f) our second, its fourth (c) our g.
    np.testing.assert_array_equal(W[0, H : 2 * H], k[:, 3 * H :].T)
    np.testing.assert_array_equal(W[0, 2 * H : 3 * H], k[:, H : 2 * H].T)
    np.testing.assert_array_equal(W[0, 3 * H :], k[:, 2 * H : 3 * H].T)
    for a, e in zip(convert.from_onnx(W, R, B), (k, r, b)):
        np.testing.assert_array_equal(a, e)
