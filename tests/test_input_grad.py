"""Backward without dL/dx (``input_grad=False``): the functional API, the stacked API, the layers
and the model, whose first trained layer's dL/dx goes nowhere. Skipping it must leave every other
gradient, and so training, exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import layers, stacked
from fastlstm.models import Sequential

B, T, I, H = 3, 5, 4, 6
RNG = np.random.default_rng(0)


def array(*shape, dtype=np.float64):
    return (0.5 * RNG.standard_normal(shape)).astype(dtype)


def lstm_case(dtype, **options):
    """An LSTM's backward after a forward with `options`, as a function of its keywords."""
    x = array(B, T, I, dtype=dtype)
    P = options["projection"].shape[1] if "projection" in options else H  # h's width
    w = (array(I, 4 * H, dtype=dtype), array(P, 4 * H, dtype=dtype), array(4 * H, dtype=dtype))
    y, _, cache = fastlstm.lstm_forward(x, *w, **options)
    dstate = (array(B, y.shape[-1], dtype=dtype), array(B, H, dtype=dtype))
    return lambda **kw: fastlstm.lstm_backward(cache, array_like(y, 1), dstate, **kw)


def array_like(y, seed):
    return np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)


def gru_case(dtype, reset_after=True, **options):
    x = array(B, T, I, dtype=dtype)
    bias = array(2, 3 * H, dtype=dtype) if reset_after else array(3 * H, dtype=dtype)
    w = (array(I, 3 * H, dtype=dtype), array(H, 3 * H, dtype=dtype), bias)
    y, _, cache = fastlstm.gru_forward(x, *w, reset_after=reset_after, **options)
    dh = array(B, H, dtype=dtype)
    return lambda **kw: fastlstm.gru_backward(cache, array_like(y, 2), dh, **kw)


def rnn_case(dtype, **options):
    x = array(B, T, I, dtype=dtype)
    w = (array(I, H, dtype=dtype), array(H, H, dtype=dtype), array(H, dtype=dtype))
    y, _, cache = fastlstm.simple_rnn_forward(x, *w, **options)
    dh = array(B, H, dtype=dtype)
    return lambda **kw: fastlstm.simple_rnn_backward(cache, array_like(y, 3), dh, **kw)


LENGTHS = np.array([5, 2, 4])
MASK = RNG.random((B, T)) > 0.3
CASES = {
    "lstm": lambda d: lstm_case(d),
    "lstm-lengths": lambda d: lstm_case(d, lengths=LENGTHS),
    "lstm-mask": lambda d: lstm_case(d, mask=MASK),
    "lstm-peephole-clip": lambda d: lstm_case(d, peephole=array(3 * H, dtype=d), clip=0.6),
    "lstm-projection": lambda d: lstm_case(d, projection=array(H, 3, dtype=d)),
    "lstm-recurrent-dropout": lambda d: lstm_case(
        d, recurrent_dropout_mask=(RNG.random((B, H)) > 0.4).astype(d) / 0.6
    ),
    "gru": lambda d: gru_case(d),
    "gru-reset-before-mask": lambda d: gru_case(d, reset_after=False, mask=MASK),
    "rnn-relu-lengths": lambda d: rnn_case(d, activation="relu", lengths=LENGTHS),
}


def assert_same_except_x(without, with_x):
    assert without.x is None
    assert with_x.x is not None
    for name, value in with_x._asdict().items():
        if name == "x":
            continue
        other = getattr(without, name)
        if value is None:
            assert other is None, name
        else:
            np.testing.assert_array_equal(other, value, err_msg=name)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", list(CASES))
def test_functional_backward_without_dx_gives_the_same_weight_gradients(case, dtype, threads):
    fastlstm.set_num_threads(threads)
    backward = CASES[case](dtype)
    assert_same_except_x(backward(input_grad=False), backward(input_grad=True))


@pytest.mark.parametrize("bad", ["no", 0, None])
def test_input_grad_must_be_a_bool(bad):
    backward = CASES["lstm"](np.float64)
    with pytest.raises(TypeError, match=f"input_grad: expected True or False, got {bad!r}"):
        backward(input_grad=bad)
    with pytest.raises(TypeError, match="input_grad: expected True or False"):
        gru_case(np.float64)(input_grad=bad)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stacked_backward_skips_only_the_first_layers_dx(cell):
    G = 4 if cell == "lstm" else 3
    bias = (G * H,) if cell == "lstm" else (2, G * H)
    weights = [(array(rows, G * H), array(H, G * H), array(*bias)) for rows in (I, I, 2 * H, 2 * H)]
    x = array(B, T, I)
    y, _, cache = stacked.rnn_forward(
        x, weights, cell=cell, num_layers=2, bidirectional=True, lengths=LENGTHS
    )
    dy = array_like(y, 4)
    full = stacked.rnn_backward(cache, dy)
    skipped = stacked.rnn_backward(cache, dy, input_grad=False)
    assert skipped.x is None
    assert full.x is not None
    for k in range(4):
        if k < 2:  # the first layer's two directions
            assert_same_except_x(skipped.layers[k], full.layers[k])
        else:
            for a, b in zip(skipped.layers[k], full.layers[k]):
                np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="input_grad: expected True or False"):
        stacked.rnn_backward(cache, dy, input_grad="yes")


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.LSTM(H, return_sequences=True, go_backwards=True, dropout=0.3, seed=1),
        lambda: layers.GRU(H, reset_after=False, seed=2),
        lambda: layers.SimpleRNN(H, return_state=True, seed=3),
    ],
    ids=["lstm-go_backwards-dropout", "gru-reset_before", "simple_rnn-return_state"],
)
def test_layer_backward_without_dx(make):
    layer = make()
    x = array(B, T, I, dtype=np.float32)
    out, cache = layer.forward(x, training=True)
    dout = [array_like(o, 5) for o in out] if isinstance(out, list) else array_like(out, 5)
    full = layer.backward(cache, dout)
    full_grads = [g.copy() for g in layer.grads]
    skipped = layer.backward(cache, dout, input_grad=False)
    assert_same_except_x(skipped, full)
    for a, b in zip(layer.grads, full_grads):
        np.testing.assert_array_equal(a, b)


def test_bidirectional_backward_without_dx():
    layer = layers.Bidirectional(layers.LSTM(H, return_sequences=True, seed=4), merge_mode="sum")
    x = array(B, T, I, dtype=np.float32)
    out, cache = layer.forward(x, training=True)
    dout = array_like(out, 6)
    dx = layer.backward(cache, dout)
    full_grads = [g.copy() for g in layer.grads]
    assert dx.shape == x.shape
    assert layer.backward(cache, dout, input_grad=False) is None
    for a, b in zip(layer.grads, full_grads):
        np.testing.assert_array_equal(a, b)


class DxAlwaysLSTM(layers.LSTM):
    """A layer whose backward does not take input_grad (as a user's own layer may not): the
    model must still call it, and it computes dL/dx."""

    def backward(self, cache, doutputs):
        return super().backward(cache, doutputs)


def fitted_weights(first, spy=None):
    model = Sequential([layers.Input((T, I)), first, layers.Dense(1, seed=7)])
    model.compile("adam", "mse")
    if spy is not None:
        original = first.backward

        def recording(cache, dout, **kwargs):
            spy.append(kwargs)
            return original(cache, dout, **kwargs)

        first.backward = recording
    data = np.random.default_rng(8)
    x = data.standard_normal((12, T, I)).astype(np.float32)
    y = data.standard_normal((12, 1)).astype(np.float32)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    return model.get_weights()


def test_a_model_skips_its_first_layers_dx_and_trains_the_same():
    calls: list = []
    skipped = fitted_weights(layers.LSTM(H, seed=9), spy=calls)
    assert len(calls) == 6  # 3 batches, 2 epochs
    assert all(kw == {"input_grad": False} for kw in calls)
    computed = fitted_weights(DxAlwaysLSTM(H, seed=9))
    for a, b in zip(skipped, computed):
        np.testing.assert_array_equal(a, b)


def test_a_later_layer_still_gets_dx():
    """Only the first trained layer skips dL/dx: the layer below the second LSTM needs it."""
    calls: list = []
    model = Sequential(
        [
            layers.Input((T, I)),
            layers.LSTM(H, return_sequences=True, seed=10),
            second := layers.LSTM(H, seed=11),
            layers.Dense(1, seed=12),
        ]
    )
    model.compile("sgd", "mse")
    original = second.backward
    second.backward = lambda cache, dout, **kw: calls.append(kw) or original(cache, dout, **kw)
    x = np.ones((4, T, I), np.float32)
    model.fit(x, np.ones((4, 1), np.float32), batch_size=4, epochs=1, verbose=0)
    assert calls == [{}]
