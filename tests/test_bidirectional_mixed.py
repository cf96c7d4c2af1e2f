"""Bidirectional with a backward_layer of another cell or width (Keras allows both): an LSTM
forwards and a GRU or SimpleRNN backwards, or two LSTMs of different units, merged by
concatenation. Outputs against the halves run alone, states in Keras's order, gradients against
finite differences, and weights through a file."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import check_model_gradients
from fastlstm.layers import GRU, LSTM, Bidirectional, Dense, Input, SimpleRNN
from fastlstm.models import Model, Sequential
from test_losses import numeric_grad

RNG = np.random.default_rng(11)
B, T, I = 3, 5, 4

# (forward layer, backward layer, their states' counts); float64 for the gradient checks
PAIRS = {
    "lstm-gru": (lambda **o: LSTM(5, **o), lambda **o: GRU(3, go_backwards=True, **o), 2, 1),
    "gru-lstm": (lambda **o: GRU(4, **o), lambda **o: LSTM(6, go_backwards=True, **o), 1, 2),
    "lstm-rnn": (lambda **o: LSTM(5, **o), lambda **o: SimpleRNN(2, go_backwards=True, **o), 2, 1),
    "lstm-lstm": (lambda **o: LSTM(5, **o), lambda **o: LSTM(3, go_backwards=True, **o), 2, 2),
}
pairs = pytest.mark.parametrize("pair", list(PAIRS))


def make(pair, **options):
    forward, backward, n, m = PAIRS[pair]
    options = {"dtype": "float64", **options}
    layer = Bidirectional(forward(seed=1, **options), backward_layer=backward(seed=2, **options))
    return layer, n, m


@pairs
def test_outputs_and_states_are_the_halves_in_kerass_order(pair):
    layer, n, m = make(pair, return_sequences=True, return_state=True)
    f, b = layer.forward_layer, layer.backward_layer
    x = RNG.standard_normal((B, T, I))
    widths = [f._output_units] * n + [b._output_units] * m
    widths[n - 1] = f.units  # an LSTM's c is `units` wide (its h too here: no projection)
    widths[-1] = b.units
    states = [RNG.standard_normal((B, w)) for w in widths]
    out = layer(x, initial_state=states)
    assert len(out) == 1 + n + m
    alone_f = f(x, initial_state=states[:n])
    alone_b = b(x, initial_state=states[n:])
    np.testing.assert_array_equal(out[0], np.concatenate([alone_f[0], alone_b[0][:, ::-1]], -1))
    for got, expected in zip(out[1:], [*alone_f[1:], *alone_b[1:]]):
        np.testing.assert_array_equal(got, expected)
    shapes = layer.compute_output_shape((None, T, I))
    assert [tuple(s) for s in shapes] == [(None, T, f.units + b.units)] + [
        (None, w) for w in widths
    ]
    with pytest.raises(ValueError, match=rf"a list of {n + m} arrays, the forward layer's \("):
        layer(x, initial_state=states[:-1])


@pairs
def test_input_gradient_with_state_gradients_matches_finite_differences(pair):
    layer, _, _ = make(pair, return_sequences=True, return_state=True)
    x = RNG.standard_normal((B, T, I))
    outs, cache = layer.forward(x)
    weights = [RNG.standard_normal(np.shape(o)) for o in outs]  # loss = sum of w * output

    def loss(x):
        return sum(float(np.vdot(w, o)) for w, o in zip(weights, layer(x)))

    dx = layer.backward(cache, weights)
    np.testing.assert_allclose(dx, numeric_grad(loss, x.copy()), rtol=1e-6, atol=1e-9)


@pairs
def test_a_model_trains_with_correct_gradients_and_survives_a_file(pair, tmp_path):
    layer, _, _ = make(pair)
    model = Sequential([Input((T, I)), layer, Dense(2, dtype="float64", seed=3)])
    model.compile("adam", "mse")
    x, y = RNG.standard_normal((8, T, I)), RNG.standard_normal((8, 2))
    _, grads = model.loss_and_gradients(x, y)
    check_model_gradients(model, x, y, grads, RNG)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    f, b = layer.forward_layer, layer.backward_layer
    assert layer.weight_names == tuple(
        [f"forward_{w}" for w in f.weight_names] + [f"backward_{w}" for w in b.weight_names]
    )
    model.save(tmp_path / "m.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "m.fastlstm")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    halves = loaded.layers[0].forward_layer, loaded.layers[0].backward_layer
    assert [type(h) for h in halves] == [type(f), type(b)]
    # set_weights takes each half's own count, and refuses another
    other = make(pair)[0]
    other.build((None, T, I))
    other.set_weights(layer.get_weights())
    np.testing.assert_array_equal(other(x), layer(x))
    count = len(f.weight_names) + len(b.weight_names)
    with pytest.raises(ValueError, match=rf"expected a list of {count} arrays"):
        other.set_weights(layer.get_weights()[:-1])


def test_a_functional_model_gives_the_concatenated_width():
    inputs = Input((T, I))
    hidden = Bidirectional(LSTM(5), backward_layer=GRU(3, go_backwards=True))(inputs)
    assert hidden.shape == (None, 8)
    model = Model(inputs, Dense(1)(hidden))
    assert model.predict(RNG.standard_normal((2, T, I)), verbose=0).shape == (2, 1)


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
def test_merging_halves_of_other_widths_other_than_by_concatenation_is_refused(merge_mode):
    with pytest.raises(ValueError, match=f"merge_mode '{merge_mode}' .* gives 5 and .* 3"):
        Bidirectional(LSTM(5), merge_mode, backward_layer=GRU(3, go_backwards=True))
    # one width: taken, whatever the cells
    layer = Bidirectional(LSTM(3), merge_mode, backward_layer=GRU(3, go_backwards=True))
    assert layer(RNG.standard_normal((B, T, I))).shape == (B, 3)


def test_a_backward_lstm_may_not_return_its_cell_states():
    with pytest.raises(ValueError, match="backward_layer: expected return_cell_states=False"):
        Bidirectional(GRU(3), backward_layer=LSTM(3, go_backwards=True, return_cell_states=True))


@pytest.mark.parametrize("where", ["forward", "backward"])
@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_a_regularizer_on_either_half_is_in_the_loss_and_its_gradient(where, functional):
    # A penalty on the backward half alone had been left out of the reported loss (the model
    # asked the wrapper's properties, which are the forward half's) but not out of the gradient.
    from fastlstm import regularizers

    def model_with(reg):
        on = {"kernel_regularizer": regularizers.L2(10.0)} if reg else {}
        f = LSTM(4, dtype="float64", seed=1, **(on if where == "forward" else {}))
        b = GRU(
            3, go_backwards=True, dtype="float64", seed=2, **(on if where == "backward" else {})
        )
        layer = Bidirectional(f, backward_layer=b)
        dense = Dense(1, dtype="float64", seed=3)
        if functional:
            inputs = Input((T, I), dtype="float64")
            model = Model(inputs, dense(layer(inputs)))
        else:
            model = Sequential([Input((T, I), dtype="float64"), layer, dense])
        model.compile("sgd", "mse")
        return model, (f if where == "forward" else b)

    x, y = RNG.standard_normal((B, T, I)), RNG.standard_normal((B, 1))
    model, half = model_with(True)
    plain, _ = model_with(False)  # the same weights (the same seeds), no penalty
    penalty = 10.0 * np.sum(half.kernel**2)
    mse = np.mean((model.predict(x, verbose=0) - y) ** 2)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), mse + penalty, rtol=1e-12)
    loss, grads = model.loss_and_gradients(x, y)
    np.testing.assert_allclose(loss, mse + penalty, rtol=1e-12)
    _, plain_grads = plain.loss_and_gradients(x, y)
    for w, g, g0 in zip(model.trainable_weights, grads, plain_grads):
        expected = g0 + 20.0 * half.kernel if w is half.kernel else g0
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)


def test_a_bad_weight_is_named_with_its_half():
    # "kernel: ..." had not said which half's kernel was refused.
    layer = Bidirectional(LSTM(5, seed=1), backward_layer=GRU(3, go_backwards=True, seed=2))
    layer(np.zeros((B, T, I), np.float32))
    before = layer.get_weights()
    weights = [w.astype(np.float64) for w in before]
    weights[3][1, 2] = 1e300  # the backward GRU's kernel
    with pytest.raises(ValueError, match=r"^backward_kernel: expected values within float32's"):
        layer.set_weights(weights)
    weights = [w.copy() for w in before]
    weights[1] = weights[1][:, :-1]  # the forward LSTM's recurrent kernel
    with pytest.raises(ValueError, match=r"^forward_recurrent_kernel: expected shape \(5, 20\)"):
        layer.set_weights(weights)
    for kept, now in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(kept, now)


def test_the_forward_layer_itself_as_backward_layer_is_named():
    layer = LSTM(4, seed=1)
    with pytest.raises(ValueError, match=r"^backward_layer: expected a layer of its own, got the"):
        Bidirectional(layer, backward_layer=layer)


def test_a_frozen_halfs_penalty_is_left_out_as_a_frozen_layers_is():
    # Only trained weights add their penalty (Keras 3); a frozen backward half's had been added.
    from fastlstm import regularizers

    def model(backward_reg):
        b = GRU(3, go_backwards=True, dtype="float64", seed=2, kernel_regularizer=backward_reg)
        layer = Bidirectional(LSTM(4, dtype="float64", seed=1), backward_layer=b)
        m = Sequential([Input((T, I), dtype="float64"), layer, Dense(1, dtype="float64", seed=3)])
        b.trainable = False
        m.compile("sgd", "mse")
        return m

    x, y = RNG.standard_normal((B, T, I)), RNG.standard_normal((B, 1))
    plain = model(None).evaluate(x, y, verbose=0)
    assert model(regularizers.L2(10.0)).evaluate(x, y, verbose=0) == plain
