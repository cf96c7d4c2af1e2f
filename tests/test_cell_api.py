"""Keras's cell API: LSTMCell, GRUCell, SimpleRNNCell, RNN(cell) and layer.cell.

A cell steps once with its layer's weights; stepped over a sequence it must give the layer's
outputs and states, and one step must equal torch's cells (nn.LSTMCell, nn.GRUCell, nn.RNNCell)
with the same weights. RNN(cell) must be the cell's layer, with the cell's weights, and the cell
must then read that layer's (trained) weights."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest

from conftest import child_timeout
from fastlstm.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dense,
    GRUCell,
    Input,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
)
from fastlstm.models import Sequential, load_model

B, T, I, H = 3, 6, 5, 4

CELLS = {
    "lstm": lambda **kw: LSTMCell(H, **kw),
    "lstm-proj": lambda **kw: LSTMCell(H, proj_size=2, use_peepholes=True, **kw),
    "gru": lambda **kw: GRUCell(H, **kw),
    "gru-reset-before": lambda **kw: GRUCell(H, reset_after=False, **kw),
    "rnn-tanh": lambda **kw: SimpleRNNCell(H, **kw),
    "rnn-relu": lambda **kw: SimpleRNNCell(H, activation="relu", **kw),
}


def _x(dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal((B, T, I)).astype(dtype)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_a_cell_stepped_over_a_sequence_gives_its_layers_outputs_and_states(kind):
    cell = CELLS[kind](seed=3, dtype="float64")
    layer = RNN(cell, return_sequences=True, return_state=True)
    x = _x()
    y, *final = layer(x)
    rng = np.random.default_rng(1)
    start = [0.3 * rng.standard_normal(s.shape) for s in final]  # not zeros: states are read
    y_from, *final_from = layer(x, initial_state=start)
    states = start
    for t in range(T):
        out, states = cell(x[:, t], states)
        np.testing.assert_allclose(out, y_from[:, t], rtol=1e-12, atol=1e-12)
    for got, want in zip(states, final_from):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert not np.allclose(y_from, y)  # the initial state mattered, so it was used


def _torch_cell(torch, cell):
    """torch's cell with ``cell``'s weights (float64). Keras's GRU blocks are z, r, h; torch's r,
    z, n."""
    w = cell.get_weights()
    kernel, recurrent, bias = (torch.tensor(a) for a in w[:3])
    if isinstance(cell, LSTMCell):
        peer = torch.nn.LSTMCell(I, H, dtype=torch.float64)
        bias_ih, bias_hh = bias, torch.zeros_like(bias)
    elif isinstance(cell, GRUCell):
        peer = torch.nn.GRUCell(I, H, dtype=torch.float64)

        def order(a):
            return torch.cat([a[..., H : 2 * H], a[..., :H], a[..., 2 * H :]], dim=-1)

        kernel, recurrent, bias = order(kernel), order(recurrent), order(bias)
        bias_ih, bias_hh = bias[0], bias[1]
    else:
        peer = torch.nn.RNNCell(I, H, nonlinearity=cell.activation, dtype=torch.float64)
        bias_ih, bias_hh = bias, torch.zeros_like(bias)
    with torch.no_grad():
        peer.weight_ih.copy_(kernel.T)
        peer.weight_hh.copy_(recurrent.T)
        peer.bias_ih.copy_(bias_ih)
        peer.bias_hh.copy_(bias_hh)
    return peer


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn-tanh", "rnn-relu"])
def test_one_step_equals_torchs_cell(torch, kind):
    cell = CELLS[kind](seed=5, dtype="float64", bias_initializer="random_normal")
    x = _x()[:, 0]
    cell.build(x.shape)
    rng = np.random.default_rng(2)
    states = [rng.standard_normal((B, w)) for w in np.atleast_1d(cell.state_size)]
    out, new = cell(x, states)
    peer = _torch_cell(torch, cell)
    with torch.no_grad():
        given = [torch.tensor(s) for s in states]
        want = peer(torch.tensor(x), tuple(given) if len(given) > 1 else given[0])
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    for got, expected in zip(new, want):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, want[0].numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("cell", "layer", "options"),
    [
        (LSTMCell, LSTM, {"unit_forget_bias": False}),
        (GRUCell, GRU, {"reset_after": False}),
        (SimpleRNNCell, SimpleRNN, {"activation": "relu"}),
    ],
)
def test_rnn_of_a_cell_is_the_cells_layer(cell, layer, options):
    x = _x(np.float32)
    made = RNN(cell(H, seed=7, **options), return_sequences=True, go_backwards=True, name="r")
    assert type(made) is layer
    assert made.name == "r"
    assert made.return_sequences
    assert made.go_backwards
    expected = layer(H, seed=7, return_sequences=True, go_backwards=True, **options)(x)
    np.testing.assert_array_equal(made(x), expected)


def test_every_recurrent_layer_is_an_rnn_and_nothing_else_is():
    assert all(isinstance(layer, RNN) for layer in (LSTM(2), GRU(2), SimpleRNN(2)))
    assert not isinstance(Dense(2), RNN)
    assert not isinstance(LSTMCell(2), RNN)


def test_rnn_takes_the_weights_of_a_cell_that_has_made_them():
    cell = LSTMCell(H, seed=1)
    x = _x(np.float32)
    cell.build((None, I))
    chosen = [np.full_like(w, 0.1 * (k + 1)) for k, w in enumerate(cell.get_weights())]
    cell.set_weights(chosen)
    stepped, _ = cell(x[:, 0])
    layer = RNN(cell)
    for got, want in zip(layer.get_weights(), chosen):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(layer(x[:, :1]), stepped)


def test_the_cell_reads_the_weights_its_model_trained():
    cell = LSTMCell(H, seed=2)
    model = Sequential([Input((T, I)), RNN(cell), Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    x, y = _x(np.float32), np.ones((B, 1), np.float32)
    model.fit(x, y, epochs=3, verbose=0)
    layer = model.layers[0]
    assert layer.cell is cell
    for got, want in zip(cell.get_weights(), layer.get_weights()):
        np.testing.assert_array_equal(got, want)
    states = cell.get_initial_state(B)
    for t in range(T):
        out, states = cell(x[:, t], states)
    np.testing.assert_allclose(out, layer(x), rtol=1e-6, atol=1e-6)


def test_layer_cell_is_a_view_of_the_layers_weights():
    layer = GRU(H, seed=0)
    x = _x(np.float32)
    layer(x)
    cell = layer.cell
    assert isinstance(cell, GRUCell)
    assert layer.cell is cell
    assert cell.kernel is layer.kernel
    assert cell.reset_after is True
    layer.set_weights([w + 1 for w in layer.get_weights()])
    np.testing.assert_array_equal(cell.kernel, layer.kernel)


def test_a_model_with_rnn_of_a_cell_saves_and_loads(tmp_path):
    model = Sequential([Input((T, I)), RNN(GRUCell(H, seed=4), return_sequences=True)], seed=0)
    model.save(tmp_path / "m.keras")
    x = _x(np.float32)
    np.testing.assert_array_equal(load_model(tmp_path / "m.keras").predict(x, verbose=0), model(x))


def test_bidirectional_takes_rnn_of_a_cell():
    x = _x(np.float32)
    both = Bidirectional(RNN(SimpleRNNCell(H, seed=1), return_sequences=True))
    assert both(x).shape == (B, T, 2 * H)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_state_and_output_sizes_and_initial_states(kind):
    cell = CELLS[kind]()
    layer = RNN(cell, return_state=True)
    _, *states = layer(_x(np.float32))
    widths = [s.shape[1] for s in states]
    assert cell.state_size == (widths if len(widths) > 1 else widths[0])
    assert cell.output_size == states[0].shape[1]
    zeros = cell.get_initial_state(batch_size=2)
    assert [z.shape for z in zeros] == [(2, w) for w in widths]
    assert all(z.dtype == np.float32 and not z.any() for z in zeros)


def test_a_single_state_keeps_the_form_it_was_given_in():
    cell = GRUCell(H, seed=0)
    x = _x(np.float32)[:, 0]
    h0 = np.zeros((B, H), np.float32)
    out, new = cell(x, h0)
    assert isinstance(new, np.ndarray)
    np.testing.assert_array_equal(new, out)
    _out_list, new_list = cell(x, [h0])
    assert isinstance(new_list, list)
    assert len(new_list) == 1
    np.testing.assert_array_equal(new_list[0], out)
    np.testing.assert_array_equal(cell(x)[0], out)  # no states: zeros


def test_config_round_trip_keeps_the_cells_arguments():
    cell = LSTMCell(H, dropout=0.25, unit_forget_bias=False, seed=9, name="enc")
    config = cell.get_config()
    assert config["name"] == "enc"
    assert config["dropout"] == 0.25
    assert config["units"] == H
    assert "return_sequences" not in config
    again = LSTMCell.from_config(config)
    assert again.get_config() == config


def test_dropout_applies_only_in_training():
    cell = SimpleRNNCell(H, dropout=0.5, seed=0)
    x = np.ones((64, I), np.float32)
    plain, _ = cell(x)
    np.testing.assert_array_equal(cell(x)[0], plain)
    dropped, _ = cell(x, training=True)
    assert not np.allclose(dropped, plain)


def test_a_stack_of_cells_is_refused_with_the_layers_that_do_it():
    with pytest.raises(TypeError, match="return_sequences=True"):
        RNN([LSTMCell(2), LSTMCell(2)])


def test_a_python_cell_is_refused():
    class MyCell:
        state_size = 2

        def __call__(self, x, states):
            return x, states

    with pytest.raises(TypeError, match="cell: expected an LSTMCell, GRUCell or SimpleRNNCell"):
        RNN(MyCell())


def test_a_cell_belongs_to_one_layer():
    cell = LSTMCell(2)
    first = RNN(cell)
    with pytest.raises(ValueError, match=f"cell of layer '{first.name}'"):
        RNN(cell)
    with pytest.raises(ValueError, match="cell of layer"):
        RNN(LSTM(2).cell)


def test_the_layers_arguments_are_refused_by_a_cell_and_named():
    with pytest.raises(TypeError, match=r"\['return_sequences'\].*RNN\(cell, return_sequences"):
        LSTMCell(2, return_sequences=True)


def test_zero_output_for_mask_is_refused_with_why():
    with pytest.raises(ValueError, match="zero_output_for_mask: expected False"):
        RNN(GRUCell(2), zero_output_for_mask=True)
    RNN(GRUCell(2), zero_output_for_mask=False)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c(np.ones((2, 3, I), np.float32)), "inputs: expected a 2-D array"),
        (lambda c: c(np.ones((2, I), np.float32), [np.zeros((2, H))]), r"states: expected 2"),
        (lambda c: c(np.ones((2, I + 1)), [np.zeros((2, H))] * 2), rf"inputs: expected {I} feat"),
        (lambda c: c(np.ones((2, I)), [np.zeros((2, H + 1))] * 2), r"states\[0\]: expected h"),
        (lambda c: c(np.ones((2, I)), [np.zeros((2, H))] * 2 + [None]), r"states: expected 2"),
        (lambda c: c(np.ones((2, I)), [np.full((2, H), "a"), np.zeros((2, H))]), r"states\[0\]"),
        (lambda c: c.get_initial_state(), "batch_size"),
        (lambda c: c.build((None, 3, I)), "input_shape: expected"),
        (lambda c: c(np.ones((2, I)), training="yes"), "training"),
    ],
)
def test_bad_calls_name_the_argument(call, message):
    cell = LSTMCell(H)
    cell.build(I)
    with pytest.raises((TypeError, ValueError), match=message):
        call(cell)


def test_a_cell_in_a_sequential_points_at_rnn():
    with pytest.raises(TypeError, match=r"got LSTMCell; a cell steps once: RNN\(cell\)"):
        Sequential([Input((T, I)), LSTMCell(H)])


def test_an_unknown_attribute_names_the_cell():
    with pytest.raises(
        AttributeError, match="'GRUCell' object has no attribute 'unit_forget_bias'"
    ):
        _ = GRUCell(2).unit_forget_bias


def test_a_cell_beside_fit_steps_with_the_weights_of_one_step():
    """A cell had read its layer's weights while a training step updated them in place: an
    output of no step's weights. Here a step stops halfway through its update (the kernel
    changed, the rest not yet) while another thread steps the cell: the step must wait."""
    cell = LSTMCell(H, seed=0)
    model = Sequential([Input((T, I)), RNN(cell), Dense(1)], seed=0)
    model.compile("sgd", "mse")
    x, y = _x(np.float32), np.ones((B, 1), np.float32)
    reference = copy.deepcopy(model)
    reference.train_on_batch(x, y)
    apply = model.optimizer.apply
    halfway, stepped = threading.Event(), threading.Event()

    def halting_apply(grads, params):
        first = params[0].copy()
        params[0] += 1.0  # the kernel changed, the rest not yet
        halfway.set()
        stepped.wait(0.5)  # a cell that does not wait steps with this torn set now
        params[0][...] = first
        apply(grads, params)

    model.optimizer.apply = halting_apply
    trainer = threading.Thread(target=lambda: model.train_on_batch(x, y))
    trainer.start()
    assert halfway.wait(child_timeout(30))
    out, _ = cell(x[:, 0])
    stepped.set()
    trainer.join(child_timeout(30))
    want, _ = reference.layers[0].cell(x[:, 0])
    np.testing.assert_array_equal(out, want)


def test_an_argument_given_to_the_cell_and_to_rnn():
    layer = RNN(LSTMCell(2, dtype="float64", trainable=False), dtype="float64", trainable=False)
    assert layer.dtype == np.float64
    assert not layer.trainable
    with pytest.raises(ValueError, match=r"dtype: given to the cell \('float64'\) and to RNN"):
        RNN(LSTMCell(2, dtype="float64"), dtype="float32")
    with pytest.raises(ValueError, match="units: given to the cell"):
        RNN(GRUCell(2), units=3)


@pytest.mark.parametrize("shape", [2.0, True, (None, 2.5), (None, True)])
def test_build_takes_a_positive_int_and_names_input_shape(shape):
    with pytest.raises((TypeError, ValueError), match="input_shape"):
        LSTMCell(2).build(shape)


@pytest.mark.parametrize("shape", [True, 2.0, (None, None, 2.5), (None, None, True)])
def test_a_layers_build_names_input_shape(shape):
    with pytest.raises((TypeError, ValueError), match="input_shape"):
        LSTM(2).build(shape)
