"""Recurrent dropout in the layers (Keras's ``recurrent_dropout``): one (B, H) mask per training
call, applied where the recurrent kernel reads h_{t-1}; the functional API's
``recurrent_dropout_mask`` (checked against the oracle in test_lstm_options.py) is the reference."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import layers

LAYERS = pytest.mark.parametrize(
    ("cls", "kwargs", "fns"),
    [
        pytest.param(layers.LSTM, {}, (fastlstm.lstm_forward, fastlstm.lstm_backward), id="lstm"),
        pytest.param(layers.GRU, {}, (fastlstm.gru_forward, fastlstm.gru_backward), id="gru"),
        pytest.param(
            layers.GRU,
            {"reset_after": False},
            (fastlstm.gru_forward, fastlstm.gru_backward),
            id="gru-reset_before",
        ),
        pytest.param(
            layers.SimpleRNN,
            {},
            (fastlstm.simple_rnn_forward, fastlstm.simple_rnn_backward),
            id="simple_rnn",
        ),
    ],
)
B, T, I, H = 4, 6, 3, 5
RATE = 0.4


def data(seed=0):
    return np.random.default_rng(seed).standard_normal((B, T, I))


def functional_options(kwargs):
    return {"reset_after": kwargs["reset_after"]} if "reset_after" in kwargs else {}


@pytest.mark.parametrize("go_backwards", [False, True])
@LAYERS
def test_layer_uses_its_mask_as_the_functional_api_does(cls, kwargs, fns, go_backwards):
    layer = cls(
        H, recurrent_dropout=RATE, return_sequences=True, seed=1, dtype="float64",
        go_backwards=go_backwards, **kwargs,
    )  # fmt: skip
    x = data()
    out, cache = layer.forward(x, training=True)
    m = cache.recurrent_dropout
    assert m.shape == (B, H)
    assert set(np.unique(m)) <= {0.0, 1 / (1 - RATE)}
    assert 0 < np.count_nonzero(m) < m.size

    forward, backward = fns
    weights = layer.get_weights()
    x_in = x[:, ::-1] if go_backwards else x
    options = functional_options(kwargs)
    y, *_, ref_cache = forward(x_in, *weights, recurrent_dropout_mask=m, **options)
    np.testing.assert_array_equal(out, y)
    dy = np.random.default_rng(2).standard_normal(out.shape)
    grads = layer.backward(cache, dy)
    ref = backward(ref_cache, dy)
    np.testing.assert_array_equal(grads.kernel, ref.kernel)
    np.testing.assert_array_equal(grads.recurrent_kernel, ref.recurrent_kernel)
    np.testing.assert_array_equal(grads.x, ref.x[:, ::-1] if go_backwards else ref.x)
    # Without the mask the answer differs: the test is not comparing two plain calls.
    plain, *_ = forward(x_in, *weights, **options)
    assert np.max(np.abs(plain - y)) > 1e-3


@LAYERS
def test_inference_ignores_recurrent_dropout(cls, kwargs, fns):
    dropped = cls(H, recurrent_dropout=RATE, seed=3, **kwargs)
    plain = cls(H, seed=3, **kwargs)
    x = data(4)
    np.testing.assert_array_equal(dropped(x), plain(x))
    np.testing.assert_array_equal(dropped(x, training=False), plain(x))
    _, cache = dropped.forward(x, training=False)
    assert cache.recurrent_dropout is None
    assert np.max(np.abs(dropped(x, training=True) - plain(x))) > 1e-4


def test_masks_have_the_rate_and_change_per_call():
    layer = layers.LSTM(50, recurrent_dropout=0.3, seed=5)
    x = np.zeros((200, 2, 3))
    _, first = layer.forward(x, training=True)
    _, second = layer.forward(x, training=True)
    dropped = np.mean(first.recurrent_dropout == 0)
    assert abs(dropped - 0.3) < 0.03  # 10 000 draws: 6 standard deviations
    assert not np.array_equal(first.recurrent_dropout, second.recurrent_dropout)
    # Same seed, same masks.
    again = layers.LSTM(50, recurrent_dropout=0.3, seed=5)
    _, replay = again.forward(x, training=True)
    np.testing.assert_array_equal(replay.recurrent_dropout, first.recurrent_dropout)


def test_model_trains_reproducibly_and_saves_the_rate(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 12, 2)).astype(np.float32)
    y = x[:, :, :1].mean(axis=1) * 3  # variance 0.75

    def fit():
        model = fastlstm.Sequential(
            [fastlstm.layers.LSTM(16, recurrent_dropout=0.25), fastlstm.layers.Dense(1)], seed=7
        )
        model.compile(fastlstm.optimizers.Adam(0.01), "mse")
        return model, model.fit(x, y, epochs=15, batch_size=16, verbose=0).history["loss"]

    model, losses = fit()
    _, again = fit()
    assert losses == again
    assert losses[-1] < 0.5 * losses[0]
    path = tmp_path / "m.fastlstm"
    model.save(path)
    loaded = fastlstm.load_model(path)
    assert loaded.layers[0].recurrent_dropout == 0.25
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.2", None])
def test_bad_rate(rate):
    with pytest.raises((ValueError, TypeError), match="recurrent_dropout"):
        layers.LSTM(4, recurrent_dropout=rate)
