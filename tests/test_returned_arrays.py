"""What a call returns belongs to the caller: editing it changes nothing else, or is refused.

A training forward's y is also what its cache reads h_{t-1} from, so it is read-only (an edit in
place would change every gradient silently); a stateful layer's output and its carried state are
different arrays.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import make_problem
from fastlstm import layers

FORWARDS = {
    "lstm": lambda p: fastlstm.lstm_forward(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"]),
    "gru": lambda p: fastlstm.gru_forward(
        p["x"], p["kernel"][:, :9], p["recurrent_kernel"][:, :9], np.zeros((2, 9), np.float32)
    ),
    "simple_rnn": lambda p: fastlstm.simple_rnn_forward(
        p["x"], p["kernel"][:, :3], p["recurrent_kernel"][:, :3], p["bias"][:3]
    ),
}
BACKWARDS = {
    "lstm": fastlstm.lstm_backward,
    "gru": fastlstm.gru_backward,
    "simple_rnn": fastlstm.simple_rnn_backward,
}


@pytest.mark.parametrize("cell", sorted(FORWARDS))
def test_training_forward_output_is_read_only_and_backward_unchanged(cell):
    p = make_problem(2, 5, 4, 3, dtype=np.float32)
    y, _, cache = FORWARDS[cell](p)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    first = BACKWARDS[cell](cache, dy)
    assert not y.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        y += 1
    edited = y.copy()  # the documented way to get an array to change
    edited *= 0
    again = BACKWARDS[cell](cache, dy)
    for a, b in zip(first, again):
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_stacked_forward_output_is_read_only():
    p = make_problem(2, 5, 4, 3, dtype=np.float32)
    weights = [(p["kernel"], p["recurrent_kernel"], p["bias"])]
    y, _, _ = fastlstm.stacked.rnn_forward(p["x"], weights)
    assert not y.flags.writeable


def test_inference_output_stays_writable():
    p = make_problem(2, 5, 4, 3, dtype=np.float32)
    y, _ = fastlstm.lstm(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    y += 1  # nothing else holds it


@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_stateful_layer_output_is_not_its_carried_state(return_state, training):
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)

    def make():
        layer = layers.LSTM(4, stateful=True, return_state=return_state, seed=3)
        layer(x)
        return layer

    def run(layer):
        return layer.forward(x, training=training)[0] if training else layer(x)

    untouched, edited = make(), make()
    run(untouched)
    out = run(edited)
    for a in out if return_state else [out]:
        a[...] = 0  # the caller's post-processing, in place
    np.testing.assert_array_equal(run(edited), run(untouched))


def test_set_weights_keeps_a_built_layers_shapes():
    model = fastlstm.Sequential([layers.LSTM(4, input_shape=(5, 3)), layers.Dense(1)])
    before = model.get_weights()
    bad = [w.copy() for w in before]
    bad[0] = bad[0][:2]  # kernel (2, 16) where the layer was built for 3 features
    with pytest.raises(ValueError, match=r"kernel: expected shape \(3, 16\), got \(2, 16\)"):
        model.set_weights(bad)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    dense = model.layers[1]
    with pytest.raises(ValueError, match=r"kernel: expected shape \(4, 1\), got \(7, 1\)"):
        dense.set_weights([np.zeros((7, 1), np.float32), np.zeros(1, np.float32)])
    unbuilt = layers.Dense(2)
    unbuilt.set_weights([np.ones((7, 2), np.float32), np.zeros(2, np.float32)])  # builds it
    assert unbuilt.get_weights()[0].shape == (7, 2)
