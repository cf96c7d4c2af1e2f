"""Wrappers inside models: TimeDistributed around recurrent and Bidirectional layers,
Bidirectional's trainable flag and backward layer, and what a Sequential refuses or rechecks
(merge_mode=None, trainable changed before or after compile(), fit's validation_freq and callbacks)."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import callbacks, optimizers
from fastlstm.layers import LSTM, Bidirectional, Dense, Input, TimeDistributed
from fastlstm.models import Sequential, load_model

RNG = np.random.default_rng(0)


def data(shape, out, n=4):
    return (
        RNG.standard_normal((n, *shape)).astype(np.float32),
        RNG.standard_normal((n, out)).astype(np.float32),
    )


def weight_gradient_check(model, x, y, eps=1e-6):
    """Each trainable weight's gradient against central differences (float64 model)."""
    _, grads = model.loss_and_gradients(x, y)
    weights = model.trainable_weights
    assert len(grads) == len(weights)
    for w, g in zip(weights, grads):
        assert g.shape == w.shape
        flat, gflat = w.reshape(-1), g.reshape(-1)
        for i in RNG.choice(flat.size, size=min(5, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + eps
            up = model.loss_and_gradients(x, y)[0]
            flat[i] = old - eps
            down = model.loss_and_gradients(x, y)[0]
            flat[i] = old
            np.testing.assert_allclose(gflat[i], (up - down) / (2 * eps), rtol=1e-5, atol=1e-8)


def test_freezing_one_bidirectional_half_trains_the_other(tmp_path):
    b = Bidirectional(LSTM(4, seed=0))
    model = fastlstm.Sequential([Input((5, 3)), b, Dense(1, seed=1)])
    b.forward_layer.trainable = False
    assert b.trainable  # one half still trains
    assert len(model.trainable_weights) == 3 + 2  # the backward half's and Dense's
    model.compile(optimizer="sgd", loss="mse")
    x, y = data((5, 3), 1)
    _, grads = model.loss_and_gradients(x, y)
    assert [g.shape for g in grads] == [w.shape for w in model.trainable_weights]
    forward, backward = b.forward_layer.get_weights(), b.backward_layer.get_weights()
    model.fit(x, y, verbose=0)
    for a, w in zip(b.forward_layer.get_weights(), forward):
        np.testing.assert_array_equal(a, w)
    for a, w in zip(b.backward_layer.get_weights(), backward):
        assert not np.array_equal(a, w)
    model.save(tmp_path / "m.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "m.fastlstm").layers[0]
    assert not loaded.forward_layer.trainable
    assert loaded.backward_layer.trainable
    assert not Bidirectional(LSTM(4), trainable=False).backward_layer.trainable


@pytest.mark.parametrize(
    "inner",
    [
        lambda: LSTM(3, seed=1, dtype="float64"),
        lambda: Bidirectional(LSTM(3, seed=1, dtype="float64")),
    ],
    ids=["LSTM", "Bidirectional"],
)
def test_time_distributed_recurrent_layers_train_their_own_weights(inner, tmp_path):
    x, y = data((3, 5, 2), 4)
    x, y = x.astype(np.float64), y.astype(np.float64)
    td = TimeDistributed(inner())
    model = fastlstm.Sequential([Input((3, 5, 2)), td, LSTM(4, seed=2, dtype="float64")], seed=0)
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    assert [w.shape for w in td.weights] == [w.shape for w in td.layer.weights]
    assert len(model.trainable_weights) == len(td.layer.weights) + 3
    weight_gradient_check(model, x, y)
    before = [w.copy() for w in td.get_weights()]
    last = [w.copy() for w in model.layers[-1].get_weights()]
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert all(np.abs(a - b).max() > 0 for a, b in zip(td.get_weights(), before))
    assert all(np.abs(a - b).max() > 0 for a, b in zip(model.layers[-1].get_weights(), last))
    model.save(tmp_path / "m.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "m.fastlstm")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_optimizer_refuses_more_gradients_than_weights():
    p = [np.zeros(3), np.zeros(2)]
    with pytest.raises(ValueError, match=r"grads: expected 2 arrays .*got 3"):
        optimizers.SGD().apply([np.ones(3), np.ones(2), np.ones(4)], p)
    np.testing.assert_array_equal(p[0], np.zeros(3))


def test_bidirectional_trainable_sets_both_halves_and_survives_saving(tmp_path):
    b = Bidirectional(LSTM(4, seed=0))
    model = fastlstm.Sequential([Input((5, 3)), b, Dense(1, seed=1)])
    b.trainable = False
    assert not b.forward_layer.trainable
    assert not b.backward_layer.trainable
    assert len(model.trainable_weights) == 2  # Dense's
    model.compile("sgd", "mse")
    frozen = b.get_weights()
    x, y = data((5, 3), 1)
    model.fit(x, y, verbose=0)
    for a, w in zip(b.get_weights(), frozen):
        np.testing.assert_array_equal(a, w)
    model.save(tmp_path / "m.fastlstm")
    assert not fastlstm.load_model(tmp_path / "m.fastlstm").layers[0].trainable
    thawed = Bidirectional(LSTM(4, trainable=False))
    assert not thawed.trainable
    thawed.trainable = True
    assert thawed.forward_layer.trainable
    assert thawed.backward_layer.trainable
    with pytest.raises(TypeError, match="trainable: expected"):
        thawed.trainable = "yes"


@pytest.mark.parametrize(
    ("backward", "match"),
    [
        (lambda: LSTM(4), "backward_layer: expected go_backwards=True .*got False"),
        (lambda: LSTM(4, go_backwards=True, stateful=True), "backward_layer: expected stateful"),
    ],
)
def test_bidirectional_backward_layer_must_read_the_other_way(backward, match):
    with pytest.raises(ValueError, match=match):
        Bidirectional(LSTM(4), backward_layer=backward())


def test_unfreezing_takes_effect_on_compile():
    """Keras's fine-tuning: freeze, train, unfreeze, compile again, train."""
    x, y = data((5, 3), 1)
    model = fastlstm.Sequential([Input((5, 3)), LSTM(4, trainable=False, seed=0), Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, y, verbose=0)
    lstm = model.layers[0]
    lstm.trainable = True
    model.compile("sgd", "mse")
    before = [w.copy() for w in lstm.get_weights()]
    model.fit(x, y, verbose=0)
    assert all(np.abs(a - b).max() > 0 for a, b in zip(lstm.get_weights(), before))


def test_a_layer_unfrozen_after_compile_trains_on_its_own_gradients():
    """Which layers had a backward pass was settled at compile(): a layer unfrozen after it got
    none, and each step applied the gradients it had kept from an earlier fit (3 epochs moved
    it by exactly 3 times those). It now trains as in a model compiled after the change."""
    x, y = data((5, 3), 1, n=16)

    def model():
        return fastlstm.Sequential([Input((5, 3)), LSTM(4, seed=0), Dense(1, seed=1)])

    changed = model()
    changed.compile(optimizers.SGD(0.1), "mse")
    changed.fit(x, y, batch_size=8, shuffle=False, verbose=0)  # leaves the LSTM's gradients
    changed.layers[0].trainable = False
    changed.compile(optimizers.SGD(0.1), "mse")
    changed.layers[0].trainable = True  # a change of mind, without compiling again
    reference = model()
    reference.set_weights(changed.get_weights())
    reference.compile(optimizers.SGD(0.1), "mse")
    for m in (changed, reference):
        m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(changed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sequential_refuses_a_bidirectional_with_two_outputs():
    with pytest.raises(ValueError, match="cannot have merge_mode=None"):
        fastlstm.Sequential([Input((5, 3)), Bidirectional(LSTM(4), merge_mode=None)])


def test_fit_checks_validation_freq_and_takes_one_callback():
    x, y = data((5, 3), 1, n=8)
    model = fastlstm.Sequential([Input((5, 3)), LSTM(4, seed=0), Dense(1)])
    model.compile("sgd", "mse")
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=r"validation_freq: expected a positive integer, got"):
            model.fit(x, y, validation_split=0.25, validation_freq=bad, verbose=0)
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=stop)
    assert len(history.history["loss"]) == 2  # stopped by the one callback given alone
    with pytest.raises(TypeError, match="callbacks: expected a list of Callback, got int"):
        model.fit(x, y, verbose=0, callbacks=3)


def test_summary_keeps_a_space_after_a_long_name():
    model = fastlstm.Sequential([Input((5, 3)), Bidirectional(LSTM(4), name="b" * 40), Dense(1)])
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines if line.lstrip().startswith("b" * 40))
    assert "(Bidirectional) (None, 8)" in row or "(Bidirectional)  " in row


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("time_major", [False, True])
def test_bidirectional_outputs_zero_at_masked_steps(merge_mode, time_major):
    """Keras's Bidirectional: both halves give zeros at masked steps with return_sequences
    (a single layer repeats its last output there), and those zeros have no gradient."""
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 0], [0, 1, 1, 1, 1]], bool)
    x = RNG.standard_normal((3, 5, 2))
    layer = Bidirectional(
        LSTM(3, return_sequences=True, time_major=time_major, seed=4, dtype="float64"),
        merge_mode=merge_mode,
    )
    xin = x.transpose(1, 0, 2) if time_major else x
    out, cache = layer.forward(xin, mask=mask)
    halves = out if merge_mode is None else [out]
    for h in halves:
        h = h.transpose(1, 0, 2) if time_major else h
        np.testing.assert_array_equal(h[~mask], 0)
        assert np.all(np.abs(h[mask]).max(axis=-1) > 0)
    np.testing.assert_array_equal(
        np.asarray(layer(xin, mask=mask)), np.asarray(out)
    )  # inference agrees
    dout = [np.ones_like(h) for h in halves] if merge_mode is None else np.ones_like(out)
    dx = layer.backward(cache, dout)
    # Finite differences of sum(outputs) for one input element.
    eps, (b, t, i) = 1e-6, (1, 2, 1)

    def total(xv):
        o = layer(xv.transpose(1, 0, 2) if time_major else xv, mask=mask)
        return sum(float(np.sum(h)) for h in (o if merge_mode is None else [o]))

    up, down = x.copy(), x.copy()
    up[b, t, i] += eps
    down[b, t, i] -= eps
    grad = dx.transpose(1, 0, 2)[b, t, i] if time_major else dx[b, t, i]
    np.testing.assert_allclose(grad, (total(up) - total(down)) / (2 * eps), rtol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_takes_keras_initial_states(cell):
    """[forward layer's states, then backward layer's], as Keras's Bidirectional takes them."""
    from fastlstm.layers import GRU

    make = {"lstm": LSTM, "gru": GRU}[cell]
    x = RNG.standard_normal((2, 4, 3))
    layer = Bidirectional(make(5, return_sequences=True, seed=3, dtype="float64"))
    n = 2 if cell == "lstm" else 1
    states = [RNG.standard_normal((2, 5)) for _ in range(2 * n)]
    out = layer(x, initial_state=states)
    f, b = layer.forward_layer, layer.backward_layer
    expected = np.concatenate(
        [f(x, initial_state=states[:n]), b(x, initial_state=states[n:])[:, ::-1]], axis=-1
    )
    np.testing.assert_array_equal(out, expected)
    y, cache = layer.forward(x, initial_state=states)
    np.testing.assert_array_equal(y, out)
    assert layer.backward(cache, np.ones_like(y)).shape == x.shape
    assert np.abs(out - layer(x)).max() > 0  # the states were used
    with pytest.raises(ValueError, match=rf"initial_state: expected a list of {2 * n} arrays"):
        layer(x, initial_state=states[:n])


@pytest.mark.parametrize("option", ["return_state", "time_major"])
def test_time_distributed_refuses_a_layer_that_returns_states_or_time_first(option):
    """Such a model built, then predict failed deep inside: a list has no reshape."""
    with pytest.raises(ValueError, match=f"TimeDistributed takes a layer .* {option}=True"):
        TimeDistributed(LSTM(3, **{option: True}))


def test_the_halves_have_kerass_names_and_keep_them_through_a_file(tmp_path):
    both = Bidirectional(LSTM(3, name="enc"))
    assert (both.forward_layer.name, both.backward_layer.name) == ("forward_enc", "backward_enc")
    model = Sequential([Input((4, 2)), both], seed=0)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras").layers[0]
    assert (again.forward_layer.name, again.backward_layer.name) == ("forward_enc", "backward_enc")


def test_a_refused_layer_keeps_its_name():
    layer = LSTM(3)
    with pytest.raises(ValueError, match="backward_layer"):
        Bidirectional(layer, backward_layer=LSTM(3))
    assert layer.name == "lstm"
