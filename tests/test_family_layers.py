"""fastlstm.layers.GRU, SimpleRNN and Bidirectional: Keras initialisation and arguments, the same
answers as the functional API and fastlstm.stacked, gradients, go_backwards, streams, configs,
and models that use them (fit, save, load)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastlstm
from fastlstm.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from fastlstm.stacked import rnn

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 6, 3))


def make(cls, **kwargs):
    return cls(5, seed=1, dtype="float64", **kwargs)


def test_keras_initialisation_and_shapes():
    gru, gru_before, rnn_layer = make(GRU), make(GRU, reset_after=False), make(SimpleRNN)
    for layer in (gru, gru_before, rnn_layer):
        layer(X)
    assert (gru.kernel.shape, gru.recurrent_kernel.shape, gru.bias.shape) == (
        (3, 15),
        (5, 15),
        (2, 15),
    )
    assert gru_before.bias.shape == (15,)
    assert (rnn_layer.kernel.shape, rnn_layer.recurrent_kernel.shape) == ((3, 5), (5, 5))
    for layer in (gru, rnn_layer):
        r = layer.recurrent_kernel
        # orthogonal over the whole (H, G*H) matrix, as Keras: orthonormal rows
        np.testing.assert_allclose(r @ r.T, np.eye(5), atol=1e-10)
        assert np.all(layer.bias == 0)
        limit = np.sqrt(6 / sum(layer.kernel.shape))
        assert np.abs(layer.kernel).max() <= limit


@pytest.mark.parametrize(
    ("cls", "kwargs", "fn"),
    [
        (GRU, {}, lambda x, w: fastlstm.gru(x, *w)),
        (GRU, {"reset_after": False}, lambda x, w: fastlstm.gru(x, *w, reset_after=False)),
        (SimpleRNN, {}, lambda x, w: fastlstm.simple_rnn(x, *w)),
        (
            SimpleRNN,
            {"activation": "relu"},
            lambda x, w: fastlstm.simple_rnn(x, *w, activation="relu"),
        ),
    ],
)
def test_layer_equals_the_functional_api(cls, kwargs, fn):
    layer = make(cls, return_sequences=True, return_state=True, **kwargs)
    y, h = layer(X)
    y_ref, h_ref = fn(X, layer.get_weights())
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(h, h_ref)
    backwards = make(cls, return_sequences=True, go_backwards=True, **kwargs)
    backwards.set_weights(layer.get_weights())
    y_back, _ = fn(np.ascontiguousarray(X[:, ::-1]), layer.get_weights())
    np.testing.assert_array_equal(backwards(X), y_back)  # Keras: output in reversed order


@pytest.mark.parametrize("cls", [GRU, SimpleRNN, LSTM])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_layer_gradients_match_finite_differences(cls, go_backwards):
    layer = make(cls, return_sequences=True, go_backwards=go_backwards)
    x = X.copy()
    out, cache = layer.forward(x)
    dy = RNG.standard_normal(out.shape)
    grads = layer.backward(cache, dy)
    eps = 1e-6
    for idx in [(0, 0, 0), (2, 5, 1), (3, 2, 2)]:
        old = x[idx]
        x[idx] = old + eps
        up = np.sum(layer(x) * dy)
        x[idx] = old - eps
        down = np.sum(layer(x) * dy)
        x[idx] = old
        np.testing.assert_allclose(grads.x[idx], (up - down) / (2 * eps), rtol=1e-6, atol=1e-9)
    kernel = layer.kernel
    old = kernel[1, 2]
    kernel[1, 2] = old + eps
    up = np.sum(layer(x) * dy)
    kernel[1, 2] = old - eps
    down = np.sum(layer(x) * dy)
    kernel[1, 2] = old
    np.testing.assert_allclose(layer.grads[0][1, 2], (up - down) / (2 * eps), rtol=1e-6)


@pytest.mark.parametrize("cls", [GRU, SimpleRNN])
def test_stream_equals_the_layer(cls):
    layer = make(cls, return_sequences=True)
    y = layer(X)
    stream = layer.stream(batch_size=4)
    steps = np.stack([stream.step(X[:, t]) for t in range(X.shape[1])], axis=1)
    np.testing.assert_allclose(steps, y, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_bidirectional_equals_stacked(cls, merge_mode):
    layer = Bidirectional(make(cls, return_sequences=True), merge_mode=merge_mode)
    out = layer(X)
    w = layer.get_weights()
    cell = {LSTM: "lstm", GRU: "gru", SimpleRNN: "simple_rnn"}[cls]
    ref, _ = rnn(X, [tuple(w[:3]), tuple(w[3:])], cell=cell, bidirectional=True, merge_mode=None)
    f, b = ref
    expected = {
        "concat": lambda: np.concatenate([f, b], -1),
        "sum": lambda: f + b,
        "mul": lambda: f * b,
        "ave": lambda: (f + b) / 2,
        None: lambda: [f, b],
    }[merge_mode]()
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), rtol=1e-13, atol=1e-13)
    assert not np.allclose(w[0], w[3]), "the backward layer has its own weights"


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
def test_bidirectional_gradients(merge_mode, return_sequences):
    layer = Bidirectional(make(GRU, return_sequences=return_sequences), merge_mode=merge_mode)
    x = X.copy()
    mask = np.ones(x.shape[:2], bool)
    mask[1, 4:] = False
    out, cache = layer.forward(x, mask=mask)
    dy = RNG.standard_normal(np.shape(out))
    dx = layer.backward(cache, dy)
    assert len(layer.grads) == 6
    eps = 1e-6
    for idx in [(0, 1, 0), (1, 3, 2), (3, 5, 1)]:
        old = x[idx]
        x[idx] = old + eps
        up = np.sum(layer(x, mask=mask) * dy)
        x[idx] = old - eps
        down = np.sum(layer(x, mask=mask) * dy)
        x[idx] = old
        np.testing.assert_allclose(dx[idx], (up - down) / (2 * eps), rtol=1e-6, atol=1e-9)


def test_bidirectional_return_state():
    layer = Bidirectional(make(LSTM, return_state=True))
    out, h_f, c_f, h_b, c_b = layer(X)
    assert out.shape == (4, 10)
    np.testing.assert_array_equal(out, np.concatenate([h_f, h_b], -1))
    assert c_f.shape == c_b.shape == (4, 5)


@pytest.mark.parametrize(
    "layer",
    [
        make(GRU, reset_after=False, go_backwards=True),
        make(SimpleRNN, activation="relu", return_sequences=True),
        Bidirectional(make(GRU, return_sequences=True), merge_mode="ave"),
    ],
)
def test_config_round_trip(layer):
    from fastlstm.layers import deserialize, serialize

    spec = json.loads(json.dumps(serialize(layer)))
    copy = deserialize(spec)
    assert serialize(copy) == serialize(layer)
    np.testing.assert_array_equal(np.asarray(copy(X)), np.asarray(layer(X)))  # same seeds


def test_model_with_bidirectional_gru_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(1, 20, (64, 7))
    x[::3, 5:] = 0  # padding, masked by the embedding
    y = (x[:, 0] > 10).astype(np.int64)
    model = fastlstm.Sequential(
        [
            Embedding(20, 4, mask_zero=True, seed=0),
            Bidirectional(GRU(6, seed=1)),
            Dense(2, activation="softmax", seed=2),
        ],
        seed=3,  # fit's shuffled batch order too: the same loss curve every run
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "model.fastlstm"
    model.save(path)
    loaded = fastlstm.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    more = model.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"]
    again = loaded.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"]
    assert more == again, "training resumes exactly"


@pytest.mark.parametrize(
    ("make_layer", "error", "message"),
    [
        (lambda: Bidirectional(make(GRU), merge_mode="max"), ValueError, "merge_mode: expected"),
        (lambda: Bidirectional(Dense(3)), TypeError, "layer: expected a recurrent layer"),
        (lambda: Bidirectional(make(GRU, stateful=True)), ValueError, "stateful"),
        (
            lambda: Bidirectional(
                make(GRU), backward_layer=make(GRU, return_sequences=True, go_backwards=True)
            ),
            ValueError,
            "backward_layer: expected return_sequences=False",
        ),
        (lambda: make(SimpleRNN, activation="sigmoid"), ValueError, "activation: expected one"),
        (lambda: make(GRU, reset_after=1), TypeError, "reset_after: expected True or False"),
        (lambda: make(GRU, go_backwards="yes"), TypeError, "go_backwards: expected True or"),
    ],
)
def test_bad_arguments(make_layer, error, message):
    with pytest.raises(error, match=message):
        make_layer()


@pytest.mark.parametrize(
    "make_layer",
    [lambda: make(GRU), lambda: make(SimpleRNN), lambda: Bidirectional(make(GRU))],
    ids=["gru", "simple_rnn", "bidirectional"],
)
def test_a_mask_of_the_wrong_shape_is_named(make_layer):
    layer = make_layer()
    with pytest.raises(ValueError, match=r"mask: expected shape \(4, 6\) \(batch, time\)"):
        layer(X, mask=np.ones((6, 4), bool))  # (time, batch): transposed
    with pytest.raises(ValueError, match=r"mask: expected shape \(4, 6\)"):
        layer.forward(X, mask=np.ones((4, 5), bool))


def test_bad_weights_for_a_gru_name_the_shape():
    layer = make(GRU)
    layer(X)
    with pytest.raises(ValueError, match=r"bias: expected shape \(2, 15\), got \(15,\)"):
        layer.set_weights([layer.kernel, layer.recurrent_kernel, np.zeros(15)])
    with pytest.raises(ValueError, match="weights: expected a list of 6 arrays"):
        Bidirectional(make(GRU)).set_weights(layer.get_weights())
