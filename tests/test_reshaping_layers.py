"""fastlstm.layers.reshaping: Reshape, Flatten and Activation against NumPy's reshape and the
activation formulas, by finite differences in float64, inside a Sequential (fit, predict,
summary, masks), through configs and model files, and with bad arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastlstm import layers as L
from fastlstm import optimizers
from fastlstm.models import Sequential
from fastlstm.saving import model_from_bytes, model_to_bytes
from test_core_layers import ACTIVATIONS, numeric_grad  # the formulas, written out

RNG = np.random.default_rng(0)


def check_input_gradient(layer, x):
    """backward's dx against central differences of sum(out * r); no weights, no grads."""
    out, cache = layer.forward(x)
    r = RNG.standard_normal(out.shape)
    dx = layer.backward(cache, r)
    assert dx.shape == x.shape
    assert dx.dtype == np.float64
    # less the output at x (a copy: Reshape's is a view of x), so that the unchanged entries
    # add exact zeros rather than rounding errors (exp's outputs reach 150)
    base = out.copy()
    expected = numeric_grad(lambda: float(((layer.forward(x)[0] - base) * r).sum()), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-8)
    assert layer.grads == []
    assert layer.trainable_weights == []


def summary_of(model) -> str:
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


# -- Reshape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "resolved"),
    [
        ((12,), (12,)),
        ((3, 4), (3, 4)),
        ((-1, 3), (4, 3)),
        ((2, -1, 2), (2, 3, 2)),
        ([1, 12, 1], (1, 12, 1)),  # a list, as a JSON config gives it
        ((-1,), (12,)),
    ],
)
def test_reshape_matches_numpy_and_finite_differences(target, resolved):
    layer = L.Reshape(target)
    x = RNG.standard_normal((5, 2, 6))
    out = layer(x)
    np.testing.assert_array_equal(out, x.reshape(5, *resolved))
    assert out.dtype == x.dtype  # no cast: the values only move
    assert layer.compute_output_shape((None, 2, 6)) == (None, *resolved)
    assert layer.target_shape == tuple(target)
    check_input_gradient(layer, x)


def test_reshape_leaves_unknown_sizes_to_the_call():
    """A None in the input shape (a free time axis) makes the -1 None until a call; a fixed
    target_shape is then checked against the sizes that arrive."""
    free = L.Reshape((-1, 2))
    assert free.compute_output_shape((None, None, 4)) == (None, None, 2)
    assert free(np.zeros((3, 5, 4))).shape == (3, 10, 2)
    assert free(np.zeros((0, 5, 4))).shape == (0, 10, 2)  # an empty batch
    fixed = L.Reshape((8,))
    assert fixed.compute_output_shape((None, None, 4)) == (None, 8)
    assert fixed(np.zeros((3, 2, 4))).shape == (3, 8)
    with pytest.raises(ValueError, match=r"target_shape: .* input shape \(3, 5, 4\), got \(8,\)"):
        fixed(np.zeros((3, 5, 4)))
    model = Sequential([L.Input((None, 4)), L.Reshape((-1, 2)), L.Activation("tanh")])
    assert "(None, None, 2)" in summary_of(model)
    x = RNG.standard_normal((3, 5, 4))
    np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(x.reshape(3, 10, 2)), 1e-6)


def test_reshape_names_target_shape_when_sizes_differ():
    with pytest.raises(
        ValueError,
        match=r"target_shape: expected a shape holding the 7 values of a sample of the input "
        r"shape \(None, 7\), got \(5, 2\) \(which holds 10 values\)",
    ):
        L.Reshape((5, 2)).build((None, 7))
    with pytest.raises(ValueError, match=r"got \(3, -1\) \(which holds a multiple of 3 values\)"):
        L.Reshape((3, -1)).compute_output_shape((None, 7))
    with pytest.raises(ValueError, match=r"target_shape: .*input shape \(None, 7\)"):
        Sequential([L.Input((7,)), L.Reshape((5, 2))])
    layer = L.Reshape((3, 4))
    layer(np.zeros((2, 12)))  # built for 12 values a sample
    with pytest.raises(ValueError, match=r"target_shape: .*input shape \(2, 10\), got \(3, 4\)"):
        layer.forward(np.zeros((2, 10)))


def test_reshape_then_flatten_hand_on_no_mask():
    """Keras's Reshape and Flatten drop the mask: the steps it marked may no longer exist."""
    x = RNG.standard_normal((2, 4, 3))
    mask = np.array([[True, True, False, False], [True] * 4])
    assert L.Reshape((3, 4)).compute_mask(x, mask) is None
    assert L.Flatten().compute_mask(x, mask) is None


def test_dense_then_reshape_trains_a_multi_step_forecaster():
    """The Keras idiom for forecasting OUT steps of F features: LSTM -> Dense(OUT*F) ->
    Reshape((OUT, F)), fit on targets (B, OUT, F)."""
    T, OUT, F = 12, 3, 2
    rng = np.random.default_rng(1)
    phase = rng.uniform(0, 2 * np.pi, (256, 1))
    t = np.arange(T + OUT)
    wave = np.stack([np.sin(0.5 * t + phase), np.cos(0.3 * t + phase)], axis=-1)  # (256, T+OUT, F)
    x, y = wave[:, :T].astype(np.float32), wave[:, T:].astype(np.float32)

    model = Sequential([L.Input((T, F)), L.LSTM(16), L.Dense(OUT * F), L.Reshape((OUT, F))], seed=0)
    assert model.output_shape == (None, OUT, F)
    assert "(None, 3, 2)" in summary_of(model)
    model.compile(optimizers.Adam(0.01), "mse")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < 0.05 * before  # measured: 0.51 -> 0.0003
    assert model.predict(x[:5], verbose=0).shape == (5, OUT, F)

    # The same network without the Reshape, on flattened targets: the same loss and gradients.
    flat = Sequential([L.Input((T, F)), L.LSTM(16), L.Dense(OUT * F)])
    flat.set_weights(model.get_weights())
    flat.compile("sgd", "mse")
    loss, grads = model.loss_and_gradients(x[:16], y[:16])
    flat_loss, flat_grads = flat.loss_and_gradients(x[:16], y[:16].reshape(16, OUT * F))
    assert loss == pytest.approx(flat_loss, rel=1e-6)
    for g, h in zip(grads, flat_grads):
        np.testing.assert_allclose(g, h, rtol=1e-5, atol=1e-7)


# -- Flatten ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "flat"),
    [((3, 2, 4, 5), (3, 40)), ((3, 7), (3, 7)), ((3,), (3, 1)), ((0, 2, 3), (0, 6))],
)
def test_flatten_matches_numpy_and_finite_differences(shape, flat):
    layer = L.Flatten()
    x = RNG.standard_normal(shape)
    out = layer(x)
    np.testing.assert_array_equal(out, x.reshape(flat))
    assert layer.compute_output_shape((None, *shape[1:])) == (None, flat[1])
    check_input_gradient(layer, x)


def test_flatten_output_size_waits_for_a_free_axis():
    layer = L.Flatten()
    assert layer.compute_output_shape((None, None, 4)) == (None, None)
    assert layer(np.zeros((2, 5, 4))).shape == (2, 20)
    assert L.Flatten(data_format="channels_last").compute_output_shape((8, 2, 3)) == (8, 6)


def test_flatten_after_embedding_then_dense():
    """Embedding(mask_zero=True) -> Flatten -> Dense: a (B, T) mask would not fit the (B, U)
    output, so Flatten must drop it (as Keras's); the output is the softmax of the flattened
    lookups times the kernel."""
    V, T = 12, 6
    rng = np.random.default_rng(2)
    x = rng.integers(0, V, (192, T))
    y = (x[:, 0] % 3).astype(np.int64)  # the class lies in the first token
    model = Sequential(
        [L.Input((T,)), L.Embedding(V, 4, mask_zero=True), L.Flatten(), L.Dense(3, "softmax")],
        seed=0,
    )
    assert model.output_shape == (None, 3)
    assert "(None, 24)" in summary_of(model)
    model.compile(optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.1 * before  # measured: 1.10 -> 0.009
    emb, dense = model.layers[0], model.layers[2]
    logits = emb.embeddings[x[:4]].reshape(4, T * 4) @ dense.kernel + dense.bias
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x[:4], verbose=0), probs, rtol=1e-5, atol=1e-6)


# -- Activation ------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activation_matches_formulas_and_finite_differences(activation):
    layer = L.Activation(activation, dtype="float64")
    x = 2 * RNG.standard_normal((4, 3, 5))  # both sides of the kinks at -3, 0, 3 and 6
    out = layer(x)
    np.testing.assert_allclose(out, ACTIVATIONS[activation](x), rtol=1e-12)
    assert layer.compute_output_shape((None, None, 5)) == (None, None, 5)
    check_input_gradient(layer, x)


def test_activation_casts_to_its_dtype_as_dense_does():
    assert L.Activation("relu")(np.array([[-1, 2]])).dtype == np.float32
    np.testing.assert_array_equal(L.Activation("relu")(np.array([[-1, 2]])), [[0, 2]])
    assert L.Activation("tanh")(np.zeros((2, 3))).dtype == np.float32
    assert L.Activation("tanh", dtype="float64")(np.zeros((2, 3), np.float32)).dtype == np.float64
    assert L.Activation("swish").activation == "silu"
    assert L.Activation(None).activation == "linear"


@pytest.mark.parametrize("activation", ["softmax", "gelu", "relu"])
def test_activation_after_dense_equals_dense_with_the_activation(activation):
    """Dense(U) + Activation(a) and Dense(U, activation=a), same weights: the same predictions,
    loss and gradients."""
    x = RNG.standard_normal((16, 5))
    y = RNG.dirichlet(np.ones(4), 16)  # rows of probabilities
    fused = Sequential([L.Input((5,)), L.Dense(4, activation, seed=1, dtype="float64")])
    split = Sequential(
        [
            L.Input((5,)),
            L.Dense(4, seed=2, dtype="float64"),
            L.Activation(activation, dtype="float64"),
        ]
    )
    split.set_weights(fused.get_weights())
    np.testing.assert_allclose(split.predict(x, verbose=0), fused.predict(x, verbose=0), 1e-13)
    loss = "categorical_crossentropy" if activation == "softmax" else "mse"
    for model in (fused, split):
        model.compile("sgd", loss)
    fused_loss, fused_grads = fused.loss_and_gradients(x, y)
    split_loss, split_grads = split.loss_and_gradients(x, y)
    assert split_loss == pytest.approx(fused_loss, rel=1e-12)
    assert len(split_grads) == len(fused_grads) == 2
    for g, h in zip(split_grads, fused_grads):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-14)


def test_activation_passes_a_masking_layers_mask_on():
    """Masking -> Activation -> LSTM reads a zero-padded sequence as the sequence alone (the
    padded steps, 0.5 after the sigmoid, are skipped); an Activation at the end leaves the
    padded steps out of the loss, as Dense(activation=...) does."""
    seq = RNG.standard_normal((2, 6, 3))
    seq[0, 4:] = 0.0
    mask = np.array([[True] * 4 + [False] * 2, [True] * 6])
    np.testing.assert_array_equal(L.Activation("sigmoid").compute_mask(seq, mask), mask)

    model = Sequential(  # seeded weights: an output drawn near 0 had failed the rtol by chance
        [
            L.Input((None, 3)),
            L.Masking(),
            L.Activation("sigmoid"),
            L.LSTM(4, seed=0),
            L.Dense(1, seed=1),
        ]
    )
    padded = model.predict(seq[:1], verbose=0)
    np.testing.assert_allclose(padded, model.predict(seq[:1, :4], verbose=0), rtol=1e-6)
    # the same as an LSTM fed the activated steps themselves
    plain = Sequential([L.Input((None, 3)), L.LSTM(4), L.Dense(1)])
    plain.set_weights(model.get_weights())
    sig = 1 / (1 + np.exp(-seq[:1, :4]))
    np.testing.assert_allclose(padded, plain.predict(sig, verbose=0), rtol=1e-5)

    def tagger(head):
        return Sequential(
            [L.Input((None, 3)), L.Masking(), L.LSTM(4, return_sequences=True, seed=1), *head]
        )

    split = tagger([L.Dense(2, seed=2), L.Activation("sigmoid")])
    fused = tagger([L.Dense(2, activation="sigmoid", seed=2)])
    fused.set_weights(split.get_weights())
    target = RNG.uniform(size=(2, 6, 2))
    other = target.copy()
    other[0, 4:] = 100.0  # targets at padded steps must not count
    for model in (split, fused):
        model.compile("sgd", "mse")
    loss = split.evaluate(seq, target, verbose=0)
    assert split.evaluate(seq, other, verbose=0) == pytest.approx(loss, rel=1e-6)
    assert fused.evaluate(seq, target, verbose=0) == pytest.approx(loss, rel=1e-6)


# -- configs and model files -----------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        L.Reshape((3, -1), name="to_steps"),
        L.Reshape([]),
        L.Flatten(),
        L.Flatten(data_format="channels_last", dtype="float64"),
        L.Activation("softmax"),
        L.Activation("hard_swish", trainable=False),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_config_round_trips_through_json(layer):
    config = json.loads(json.dumps(layer.get_config(), allow_nan=False))
    assert "seed" not in config  # no randomness to seed
    clone = type(layer).from_config(config)
    assert clone.get_config() == layer.get_config()
    again = L.deserialize(json.loads(json.dumps(L.serialize(layer))))
    assert type(again) is type(layer)
    assert again.get_config() == layer.get_config()


def test_a_model_with_all_three_saves_and_loads():
    T, F = 4, 3
    x = RNG.standard_normal((10, T, F)).astype(np.float32)
    y = RNG.standard_normal((10, 2, 3)).astype(np.float32)
    model = Sequential(
        [
            L.Input((T, F)),
            L.Flatten(),
            L.Dense(6, seed=1),
            L.Activation("gelu"),
            L.Reshape((2, -1)),
        ]
    )
    model.compile(optimizers.Adam(0.01), "mse")
    model.fit(x, y, epochs=2, batch_size=5, verbose=0)
    again = model_from_bytes(model_to_bytes(model))
    assert [type(l).__name__ for l in again.layers] == ["Flatten", "Dense", "Activation", "Reshape"]
    assert again.layers[2].activation == "gelu"
    assert again.layers[3].target_shape == (2, -1)
    assert again.output_shape == (None, 2, 3)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert again.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


# -- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: L.Reshape(12), TypeError, r"target_shape: expected a tuple of sizes .*, got 12"),
        (lambda: L.Reshape("3,4"), TypeError, "target_shape: expected a tuple"),
        (lambda: L.Reshape((3, 4.0)), TypeError, r"target_shape: .* \(entry 4.0\)"),
        (lambda: L.Reshape((True, 4)), TypeError, r"\(entry True\)"),
        (lambda: L.Reshape((None, 4)), TypeError, r"\(entry None\)"),
        (lambda: L.Reshape((0, 4)), ValueError, r"ints >= 1, at most one of them -1.*\(entry 0\)"),
        (lambda: L.Reshape((-2, 4)), ValueError, r"\(entry -2\)"),
        (lambda: L.Reshape((2**63,)), ValueError, r"\(entry 9223372036854775808\)"),
        (lambda: L.Reshape((-1, 2, -1)), ValueError, r"got \(-1, 2, -1\) \(two -1s\)"),
        (lambda: L.Reshape((3, 4), dtype="int8"), TypeError, "dtype: expected one of"),
        (lambda: L.Flatten("channels_first"), ValueError, "data_format: expected None or 'ch"),
        (lambda: L.Flatten(data_format=1), TypeError, "data_format: expected None or 'ch"),
        (lambda: L.Flatten(axis=1), TypeError, r"Flatten: unexpected keyword argument\(s\)"),
        (lambda: L.Activation("glu"), ValueError, r"activation: expected None or one of .*'glu'"),
        (lambda: L.Activation(np.tanh), ValueError, "activation: expected None or one of"),
        (lambda: L.Activation(3), TypeError, "activation: expected None, an activation's name"),
        (
            lambda: L.deserialize({"class_name": "Reshape", "config": {"target_shape": 5}}),
            ValueError,
            "layer Reshape: bad config",
        ),
    ],
)
def test_bad_arguments_are_named(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("layer", [L.Reshape((1,)), L.Flatten(), L.Activation("relu")])
def test_bad_inputs_are_named(layer):
    with pytest.raises(TypeError, match="x: expected an array"):
        layer(["a", "b"])
    with pytest.raises(ValueError, match=r"x: expected an array with the batch axis first"):
        layer(np.float64(1.0))
