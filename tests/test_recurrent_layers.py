"""fastlstm.layers.LSTM's Keras arguments: stateful, dropout, regularisers, masks, and the layer
protocol (call/forward/backward, grads, shapes, masks, config)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import fastlstm
from fastlstm.layers import LSTM
from fastlstm.regularizers import L1, L2

RNG = np.random.default_rng(0)
B, T, I, H = 3, 5, 4, 6


def x_data(b=B, t=T):
    return RNG.standard_normal((b, t, I))


def test_stateful_carries_the_final_state_across_calls():
    x = x_data(t=8)
    whole = LSTM(H, seed=1, dtype="float64", return_sequences=True)
    parts = LSTM(H, seed=1, dtype="float64", return_sequences=True, stateful=True)
    y = whole(x)
    y1, y2 = parts(x[:, :3]), parts(x[:, 3:])
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), y, rtol=1e-12)
    h, c = parts.states
    _, (h_ref, c_ref) = fastlstm.lstm(x, *whole.get_weights())
    np.testing.assert_allclose(h, h_ref, rtol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-12)
    parts.reset_states()
    assert not any(s.any() for s in parts.states)
    np.testing.assert_allclose(parts(x[:, :3]), y[:, :3], rtol=1e-12)  # from zeros again
    parts.forward(x[:, 3:5])  # forward (training) keeps the state too
    np.testing.assert_allclose(parts.states[0], y[:, 4], rtol=1e-12)
    with pytest.raises(ValueError, match=r"x: expected a batch of 3 rows .* got 2"):
        parts(x[:2, :3])


def test_reset_states_shows_zeros_of_the_known_batch():
    layer = LSTM(H, seed=1, stateful=True)
    assert layer.states is None  # no call yet: the batch size is not known
    layer(x_data())
    layer.reset_states()
    assert [s.shape for s in layer.states] == [(B, H), (B, H)]  # Keras: zero states
    assert all(s.dtype == np.float32 and not s.any() for s in layer.states)
    assert layer.get_state_arrays() == []  # nothing carried: a saved model keeps no state
    layer(x_data(b=2))  # after a reset, another batch size starts afresh
    assert layer.states[0].shape == (2, H)
    assert layer.states[0].any()
    layer.reset_states()  # again: still the zeros of the batch it knew
    assert layer.states[0].shape == (2, H)
    assert not layer.states[0].any()
    model = fastlstm.Sequential(
        [fastlstm.layers.Input(batch_shape=(5, T, I)), LSTM(H, stateful=True)]
    )
    model.reset_states()  # the model's declared batch size
    assert [s.shape for s in model.layers[0].states] == [(5, H), (5, H)]
    declared = LSTM(H, stateful=True, batch_input_shape=(4, T, I))
    declared.reset_states()
    assert [s.shape for s in declared.states] == [(4, H), (4, H)]
    assert LSTM(H, batch_input_shape=(4, T, I)).states is None  # not stateful


def test_dropout_uses_one_input_mask_per_sequence():
    x = np.ones((4, 7, I))
    layer = LSTM(H, seed=2, dtype="float64", dropout=0.5, return_sequences=True)
    np.testing.assert_array_equal(layer(x), layer(x))  # inference: no dropout
    _, cache = layer.forward(x, training=True)
    keep = cache.dropout  # (B, 1, I), the same at every timestep
    assert keep.shape == (4, 1, I)
    assert set(np.unique(keep)) <= {0.0, 2.0}
    again = LSTM(H, seed=2, dtype="float64", dropout=0.5, return_sequences=True)
    out, cache = again.forward(x, training=True)  # the same seed draws the same mask
    np.testing.assert_array_equal(cache.dropout, keep)
    y_ref, _, fcache = fastlstm.lstm_forward(x * cache.dropout, *layer.get_weights())
    np.testing.assert_allclose(out, y_ref, rtol=1e-12)
    dy = RNG.standard_normal(out.shape)
    grads = layer.backward(cache, dy)
    ref = fastlstm.lstm_backward(fcache, dy)
    np.testing.assert_allclose(grads.x, ref.x * cache.dropout, rtol=1e-12)
    np.testing.assert_allclose(grads.kernel, ref.kernel, rtol=1e-12)


def test_regularizers_add_penalty_and_gradient():
    layer = LSTM(
        H,
        seed=3,
        dtype="float64",
        kernel_regularizer=L2(0.01),
        recurrent_regularizer=L1(0.02),
        bias_regularizer="l2",
    )
    x = x_data()
    _, cache = layer.forward(x)
    k, r, b = layer.get_weights()
    expected = 0.01 * (k**2).sum() + 0.02 * np.abs(r).sum() + 0.01 * (b**2).sum()
    assert layer.regularization_loss() == pytest.approx(expected)
    dout = RNG.standard_normal((B, H))
    grads = layer.backward(cache, dout)
    _, _, fcache = fastlstm.lstm_forward(x, k, r, b)
    ref = fastlstm.lstm_backward(fcache, None, (dout, None))
    np.testing.assert_allclose(layer.grads[0], ref.kernel + 0.02 * k, rtol=1e-10)
    np.testing.assert_allclose(layer.grads[1], ref.recurrent_kernel + 0.02 * np.sign(r), rtol=1e-10)
    np.testing.assert_allclose(layer.grads[2], ref.bias + 0.02 * b, rtol=1e-10)
    assert grads.kernel is layer.grads[0]


def test_mask_matches_each_sequence_run_unpadded():
    lengths = [5, 2, 3]
    x = x_data()
    mask = np.arange(T)[None] < np.array(lengths)[:, None]
    layer = LSTM(H, seed=4, dtype="float64")
    out = layer(x, mask=mask)
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(out[b], layer(x[b : b + 1, :n])[0], rtol=1e-12)
    seq = LSTM(H, seed=4, dtype="float64", return_sequences=True)
    y = seq(x, mask=mask)
    np.testing.assert_allclose(y[1, 2:], np.broadcast_to(y[1, 1], (3, H)), rtol=0)  # repeats
    assert seq.compute_mask(x, mask) is mask
    assert layer.compute_mask(x, mask) is None  # the last step only: the mask ends here


def test_mask_gradients_match_unpadded():
    x = x_data()
    mask = np.ones((B, T), bool)
    mask[0, 3:] = False
    layer = LSTM(H, seed=5, dtype="float64")
    dout = RNG.standard_normal((B, H))
    _, cache = layer.forward(x, mask=mask)
    grads = layer.backward(cache, dout)
    _, cache0 = layer.forward(x[:1, :3])
    g0 = layer.backward(cache0, dout[:1])
    np.testing.assert_allclose(grads.x[0, :3], g0.x[0], rtol=1e-10)
    np.testing.assert_array_equal(grads.x[0, 3:], 0)


def test_protocol_shapes_weights_and_call():
    layer = LSTM(H, return_sequences=True, seed=0)
    assert layer.compute_output_shape((None, T, I)) == (None, T, H)
    assert LSTM(H).compute_output_shape((None, T, I)) == (None, H)
    layer.build((None, T, I))
    assert [w.shape for w in layer.trainable_weights] == [(I, 4 * H), (H, 4 * H), (4 * H,)]
    assert layer.trainable_weights[0] is layer.kernel  # the arrays themselves
    x = x_data().astype(np.float32)
    np.testing.assert_array_equal(layer.call(x), layer(x))
    frozen = LSTM(H, seed=0, trainable=False)
    _, cache = frozen.forward(x)
    frozen.backward(cache, np.ones((B, H), np.float32))
    assert frozen.trainable_weights == []
    assert frozen.grads == []


def test_config_round_trips_with_the_new_arguments():
    layer = LSTM(
        H,
        stateful=True,
        dropout=0.25,
        kernel_regularizer=L2(0.5),
        seed=8,
        name="enc",
        trainable=False,
    )
    config = json.loads(json.dumps(layer.get_config()))
    clone = LSTM.from_config(config)
    assert clone.get_config() == config
    assert clone.kernel_regularizer == L2(0.5)
    assert clone.stateful
    assert clone.dropout == 0.25


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"dropout": 1.0}, ValueError, r"dropout: expected a number in \[0, 1\)"),
        ({"dropout": "0.1"}, TypeError, "dropout"),
        ({"stateful": 1}, TypeError, "stateful: expected True or False"),
        ({"kernel_regularizer": "l3"}, ValueError, "kernel_regularizer: expected"),
        ({"recurrent_regularizer": 0.01}, ValueError, "recurrent_regularizer: expected"),
        ({"recurrent_dropout": 1.0}, ValueError, "recurrent_dropout"),
    ],
)
def test_bad_new_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        LSTM(H, **kwargs)


@pytest.mark.parametrize("return_state", [False, True])
def test_backward_checks_the_last_outputs_gradient_shape(return_state):
    """Without return_sequences the output is h_T: its gradient is added to dL/dh_T, and a wrong
    shape must not broadcast into it."""
    layer = LSTM(H, return_state=return_state, seed=0)
    _, cache = layer.forward(x_data())
    name = r"doutputs\[0\]" if return_state else "doutputs"
    for bad in (np.ones(H), np.ones((B, H + 1)), np.ones((1, H))):
        dout = [bad, None, None] if return_state else bad
        got = re.escape(str(bad.shape))
        with pytest.raises(ValueError, match=rf"^{name}: expected shape \({B}, {H}\) .*got {got}"):
            layer.backward(cache, dout)
    good = np.ones((B, H))
    layer.backward(cache, [good, None, None] if return_state else good)


@pytest.mark.parametrize("make", [lambda: LSTM(H), lambda: fastlstm.layers.Dense(H)])
def test_a_callable_initializer_cannot_be_saved_and_the_layer_is_named(make):
    layer = make()
    layer.kernel_initializer = lambda shape, rng, dtype: np.zeros(shape, dtype)
    layer.name = "enc"
    with pytest.raises(ValueError, match=r"get_config: layer 'enc''s kernel_initializer is a"):
        layer.get_config()
