"""layers.LSTM(return_cell_states=True): c_t for every step as one more output. The layer against
the functional API with the same weights (the cell states and every gradient through them, with
the options, masks, go_backwards, return_state, time-major), a functional model whose loss reads
the cell states against central differences, saving, and the refusals (Sequential,
Bidirectional, the wrong upstream gradients)."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import layers, losses, models, saving
from test_lstm_layer_options import (
    ALL,
    MASK,
    B,
    H,
    I,
    T,
    flip,
    functional_options,
    make_layer,
    random_weights,
    states,
)


@pytest.mark.parametrize("return_state", [False, True], ids=["outputs", "with_states"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "mask"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "go_backwards"])
@pytest.mark.parametrize("options", [{}, ALL], ids=["plain", "all_options"])
def test_cell_states_equal_the_functional_api(options, go_backwards, masked, return_state):
    w = random_weights(options, seed=4)
    layer = make_layer(
        options,
        w,
        return_sequences=True,
        return_state=return_state,
        go_backwards=go_backwards,
        return_cell_states=True,
    )
    width = options.get("proj_size", H)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((B, T, I))
    h0, c0 = states(6, width)
    mask = MASK if masked else None
    x_in, mask_in = (flip(x), flip(mask)) if go_backwards else (x, mask)
    args = (x_in, w["kernel"], w["recurrent_kernel"], w["bias"], (h0, c0))
    kw = functional_options(w, options)
    y, (h, c), c_seq = fastlstm.lstm(*args, mask=mask_in, return_cell_states=True, **kw)
    _, _, ref_cache = fastlstm.lstm_forward(*args, mask=mask_in, **kw)
    # The sequence outputs in the order they were computed (a go_backwards layer's reversed).
    expected = [y, h, c, c_seq] if return_state else [y, c_seq]
    out, cache = layer.forward(x, mask=mask, initial_state=[h0, c0])
    for k, (a, e) in enumerate(zip(out, expected, strict=True)):
        np.testing.assert_array_equal(a, e, err_msg=f"forward output {k}")
    inferred = layer(x, [h0, c0], mask=mask)
    for k, (a, e) in enumerate(zip(inferred, expected, strict=True)):
        np.testing.assert_array_equal(a, e, err_msg=f"call output {k}")
    assert layer.compute_output_shape((B, T, I))[-1] == (B, T, H)

    dy, dcs = rng.standard_normal((B, T, width)), rng.standard_normal((B, T, H))
    dh, dc = rng.standard_normal((B, width)), rng.standard_normal((B, H))
    douts = [dy, dh, dc, dcs] if return_state else [dy, dcs]
    grads = layer.backward(cache, douts)
    dstate = (dh, dc) if return_state else None
    ref = fastlstm.lstm_backward(ref_cache, dy, dstate, dcell_states=dcs)
    without = fastlstm.lstm_backward(ref_cache, dy, dstate)
    assert not np.allclose(ref.kernel, without.kernel)  # the cell states' gradient counts
    for name in ref._fields:
        expected_grad = getattr(ref, name)
        if name == "x" and go_backwards:
            expected_grad = flip(expected_grad)
        np.testing.assert_array_equal(getattr(grads, name), expected_grad, err_msg="d" + name)


def test_time_major_and_last_output():
    """time_major: the cell states (T, B, H) like the sequence; without return_sequences the
    first output is h_T and the cell states still cover every step."""
    w = random_weights({}, seed=7)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((T, B, I))
    layer = make_layer({}, w, time_major=True, return_cell_states=True)
    last, c_seq = layer(x)
    _, (h, _), want = fastlstm.lstm(
        x, w["kernel"], w["recurrent_kernel"], w["bias"], time_major=True, return_cell_states=True
    )
    np.testing.assert_array_equal(last, h)
    np.testing.assert_array_equal(c_seq, want)
    assert layer.compute_output_shape((T, B, I)) == [(B, H), (T, B, H)]
    _, cache = layer.forward(x)
    dcs = rng.standard_normal((T, B, H))
    grads = layer.backward(cache, [None, dcs])
    _, _, ref_cache = fastlstm.lstm_forward(
        x, w["kernel"], w["recurrent_kernel"], w["bias"], time_major=True
    )
    ref = fastlstm.lstm_backward(ref_cache, None, dcell_states=dcs)
    np.testing.assert_array_equal(grads.recurrent_kernel, ref.recurrent_kernel)


def cell_state_model(seed=9):
    """A functional model: one LSTM whose sequence and cell states both reach a loss (the cell
    states through a Dense), masked by an Embedding's padding."""
    kw = {"dtype": "float64"}
    tokens = layers.Input((T,), dtype="int64")
    embedded = layers.Embedding(9, I, mask_zero=True, seed=seed, **kw)(tokens)
    seq, c_seq = layers.LSTM(
        H, return_sequences=True, return_cell_states=True, use_peepholes=True, seed=seed + 1, **kw
    )(embedded)
    pooled = layers.GlobalAveragePooling1D(**kw)(seq)
    score = layers.Dense(1, seed=seed + 2, **kw)(pooled)
    cells = layers.Dense(2, seed=seed + 3, **kw)(c_seq)
    return models.Model(tokens, [score, cells])


def test_model_gradients_through_cell_states_match_finite_differences():
    rng = np.random.default_rng(10)
    x = rng.integers(1, 9, (B, T))
    x[1, 4:] = 0  # padding
    x[3, :2] = 0
    targets = [rng.standard_normal((B, 1)), rng.standard_normal((B, T, 2))]
    model = cell_state_model()
    model.build((None, T))
    for layer in model.layers:  # N(0, 1): zero peepholes would hide their part of the gradient
        layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    model.compile("sgd", [losses.MeanSquaredError(), losses.MeanSquaredError()])
    _, grads = model.loss_and_gradients(x, targets)
    weights = model.trainable_weights
    assert len(weights) == 1 + 4 + 2 + 2
    for w, g in zip(weights, grads, strict=True):  # the loss as training sees it, masks and all
        for flat in rng.choice(w.size, size=min(6, w.size), replace=False):
            i = np.unravel_index(flat, w.shape)
            old = w[i]
            w[i] = old + 1e-6
            up = model.loss_and_gradients(x, targets)[0]
            w[i] = old - 1e-6
            down = model.loss_and_gradients(x, targets)[0]
            w[i] = old
            assert g[i] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-9)


def test_model_with_cell_states_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.integers(1, 9, (32, T))
    targets = [rng.standard_normal((32, 1)), 0.1 * rng.standard_normal((32, T, 2))]
    model = cell_state_model()
    model.compile("adam", ["mse", "mse"])
    history = model.fit(x, targets, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "cells.fastlstm"
    model.save(path)
    loaded = saving.load_model(path)
    lstm = next(layer for layer in loaded.layers if isinstance(layer, layers.LSTM))
    assert lstm.return_cell_states
    assert lstm.get_config()["return_cell_states"] is True
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(a, b)
    assert "return_cell_states" not in layers.LSTM(3).get_config()  # Keras's keys when off


def test_go_backwards_cell_states_carry_their_own_mask():
    """A go_backwards layer's cell states are in reversed order: their mask is reversed with them,
    so that a masked loss reads the valid steps (with the input's mask it read only the padding,
    and every gradient was zero)."""
    tokens = np.array([[3, 4, 0, 0], [1, 2, 5, 0]])
    inp = layers.Input((4,), dtype="int64")
    embedded = layers.Embedding(6, 2, mask_zero=True, seed=1)(inp)
    lstm = layers.LSTM(3, return_sequences=True, return_cell_states=True, go_backwards=True, seed=2)
    _, c_seq = lstm(embedded)
    model = models.Model(inp, c_seq)
    valid = tokens != 0
    masks = lstm.compute_mask(None, valid)
    np.testing.assert_array_equal(masks[1], valid[:, ::-1])
    np.testing.assert_array_equal(masks[0], valid)  # Keras's: the sequence output's, unreversed
    model.compile("sgd", "mse")
    target = np.ones((2, 4, 3), np.float32)
    loss, grads = model.loss_and_gradients(tokens, target)
    assert all(np.any(g != 0) for g in grads)
    # The loss reads the valid steps alone: their cell states are where the mask says.
    c = model.predict(tokens, verbose=0)
    keep = valid[:, ::-1]
    want = np.mean(np.mean((c - 1) ** 2, axis=-1)[keep])  # Keras: the mean over valid steps
    assert loss == pytest.approx(want, rel=1e-5)


def test_refusals():
    with pytest.raises(TypeError, match="return_cell_states: expected True or False"):
        layers.LSTM(3, return_cell_states="yes")
    with pytest.raises(ValueError, match=r"cannot have return_cell_states=True \(two outputs\)"):
        models.Sequential([layers.Input((T, I)), layers.LSTM(3, return_cell_states=True)])
    with pytest.raises(ValueError, match="Bidirectional merges one output a direction"):
        layers.Bidirectional(layers.LSTM(3, return_cell_states=True))
    with pytest.raises(ValueError, match="backward_layer: expected return_cell_states=False"):
        layers.Bidirectional(
            layers.LSTM(3),
            backward_layer=layers.LSTM(3, go_backwards=True, return_cell_states=True),
        )
    layer = layers.LSTM(3, return_sequences=True, return_cell_states=True)
    x = np.zeros((2, T, I), np.float32)
    _, cache = layer.forward(x)
    with pytest.raises(ValueError, match=r"expected \[doutput, dcell_states\].*got ndarray"):
        layer.backward(cache, np.zeros((2, T, 3), np.float32))
    with pytest.raises(ValueError, match=r"dcell_states: expected shape \(2, 6, 3\)"):
        layer.backward(cache, [None, np.zeros((2, T, 4), np.float32)])
    stated = layers.LSTM(3, return_state=True, return_cell_states=True)
    _, cache = stated.forward(x)
    with pytest.raises(ValueError, match=r"dh, dc, dcell_states\].*got a list of 3"):
        stated.backward(cache, [None, None, None])
