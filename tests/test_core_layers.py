"""fastlstm.layers core layers: Dense, Dropout, Embedding, Masking, TimeDistributed, against
NumPy formulas and finite differences, with the layer protocol, config and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import import_peer
from fastlstm import layers as L
from fastlstm.regularizers import L2

RNG = np.random.default_rng(0)


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def check_layer_gradients(layer, x, training=False):
    """backward's dx and weight gradients against central differences of sum(out * r)."""
    out, _ = layer.forward(x, training=training)
    r = RNG.standard_normal(out.shape)

    def loss():
        return float((layer.forward(x, training=training)[0] * r).sum())

    _, cache = layer.forward(x, training=training)
    dx = layer.backward(cache, r)
    if dx is not None:
        np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for w, g in zip(layer.trainable_weights, layer.grads):
        np.testing.assert_allclose(g, numeric_grad(loss, w), rtol=1e-6, atol=1e-8)


ACTIVATIONS = {
    None: lambda z: z,
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True),
    # Keras 3's formulas, written out
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1),
    "selu": lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * (np.exp(z) - 1)),
    "softplus": lambda z: np.log(1 + np.exp(z)),
    "softsign": lambda z: z / (1 + np.abs(z)),
    "silu": lambda z: z / (1 + np.exp(-z)),
    "swish": lambda z: z / (1 + np.exp(-z)),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "relu6": lambda z: np.minimum(np.maximum(z, 0), 6),
    "hard_sigmoid": lambda z: np.minimum(np.maximum(z + 3, 0), 6) / 6,
    "hard_silu": lambda z: z * np.minimum(np.maximum(z + 3, 0), 6) / 6,
    "hard_swish": lambda z: z * np.minimum(np.maximum(z + 3, 0), 6) / 6,
    "exponential": np.exp,
    "mish": lambda z: z * np.tanh(np.log(1 + np.exp(z))),
    "gelu": lambda z: 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2))),
}


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_dense_matches_numpy_and_finite_differences(activation):
    layer = L.Dense(3, activation=activation, seed=1, dtype="float64")
    x = 2 * RNG.standard_normal((4, 5))  # pre-activations on both sides of relu6's and the
    # hard ones' kinks (-3, 0, 3, 6), which central differences must not straddle
    out = layer(x)
    expected = ACTIVATIONS[activation](x @ layer.kernel + layer.bias)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    check_layer_gradients(layer, x)


TORCH_ACTIVATIONS = {  # torch.nn.functional's, with Keras's parameters
    "relu": "relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "elu": "elu",
    "selu": "selu",
    "softplus": "softplus",
    "softsign": "softsign",
    "silu": "silu",
    "leaky_relu": ("leaky_relu", {"negative_slope": 0.2}),
    "relu6": "relu6",
    "hard_sigmoid": "hardsigmoid",
    "hard_silu": "hardswish",
    "mish": "mish",
    "gelu": "gelu",
    "exponential": None,  # torch.exp
}


@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_activations_match_torch_forward_and_backward(activation, dtype):
    torch = import_peer("torch")
    spec = TORCH_ACTIVATIONS[activation]
    name, kwargs = spec if isinstance(spec, tuple) else (spec, {})
    fn = torch.exp if name is None else getattr(torch.nn.functional, name)
    layer = L.Dense(6, activation=activation, seed=2, dtype=dtype)
    x = (3 * RNG.standard_normal((5, 4, 7))).astype(dtype)
    y, cache = layer.forward(x)
    dy = RNG.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(cache, dy)
    tx = torch.tensor(x, requires_grad=True)
    tk = torch.tensor(layer.kernel, requires_grad=True)
    tb = torch.tensor(layer.bias, requires_grad=True)
    ty = fn(tx @ tk + tb, **kwargs)
    ty.backward(torch.tensor(dy))
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
    if activation == "hard_sigmoid" and dtype == "float64":
        tol = {"rtol": 1e-7, "atol": 1e-12}  # torch's backward has 1/6 as a float32 constant
    assert y.dtype == dx.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol)
    for grad, expected in zip(layer.grads, (tk.grad, tb.grad)):
        assert grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(grad, expected.numpy(), **tol)


def test_dense_keras_initialisation_and_shapes():
    layer = L.Dense(16, seed=3)
    layer.build((None, 8))
    limit = np.sqrt(6 / (8 + 16))
    assert layer.kernel.dtype == np.float32
    assert np.abs(layer.kernel).max() <= limit
    assert np.abs(layer.kernel).max() > 0.8 * limit
    np.testing.assert_array_equal(layer.bias, 0)
    assert layer.count_params() == 8 * 16 + 16
    assert layer.compute_output_shape((None, 7, 8)) == (None, 7, 16)
    y = layer(np.ones((2, 7, 8), np.float32))  # 3-D input: the same weights at every step
    np.testing.assert_allclose(y[:, 3], layer(np.ones((2, 8), np.float32)), rtol=1e-6)
    assert L.Dense(4, use_bias=False, seed=0)(np.ones((1, 2))).shape == (1, 4)


def test_dense_regularizer_adds_penalty_and_gradient():
    layer = L.Dense(2, kernel_regularizer=L2(0.1), seed=0, dtype="float64")
    x = RNG.standard_normal((3, 4))
    layer(x)
    assert layer.regularization_loss() == pytest.approx(0.1 * (layer.kernel**2).sum())
    _, cache = layer.forward(x)
    layer.backward(cache, np.ones((3, 2)))
    np.testing.assert_allclose(layer.grads[0], x.T @ np.ones((3, 2)) + 0.2 * layer.kernel)


def test_dropout_is_inverted_seeded_and_identity_at_inference():
    x = np.ones((200, 50))
    layer = L.Dropout(0.3, seed=4)
    np.testing.assert_array_equal(layer(x), x)  # inference
    out, cache = layer.forward(x, training=True)
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.7)
    dout = RNG.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(cache, dout), dout * out)  # same mask
    again, _ = L.Dropout(0.3, seed=4).forward(x, training=True)
    np.testing.assert_array_equal(again, out)
    shared, _ = L.Dropout(0.5, noise_shape=(None, 1), seed=0).forward(x, training=True)
    assert np.all((shared == 0).all(axis=1) | (shared != 0).all(axis=1))


@pytest.mark.parametrize(
    ("noise_shape", "exc", "match"),
    [
        (["2", 3], TypeError, r"noise_shape: expected a tuple of sizes .* \(entry '2'\)"),
        ([None, 3.9], TypeError, r"\(entry 3.9\)"),  # was truncated to 3
        ([True, 1], TypeError, r"\(entry True\)"),
        ([None, -1], ValueError, r"\(entry -1\)"),
    ],
)
def test_dropout_noise_shape_entries_are_sizes(noise_shape, exc, match):
    with pytest.raises(exc, match=match):
        L.Dropout(0.5, noise_shape=noise_shape)


def test_dropout_noise_shape_must_broadcast_before_any_mask_is_made():
    x = np.ones((2, 3))
    for noise_shape in ([None, 10**12], [2, 2]):  # 10**12 asked for terabytes at fit
        with pytest.raises(ValueError, match=r"noise_shape: expected each entry None, 1 or x"):
            L.Dropout(0.5, noise_shape=noise_shape).forward(x, training=True)


def test_embedding_lookup_init_and_gradient_with_repeats():
    layer = L.Embedding(10, 3, seed=2, dtype="float64")
    x = np.array([[1, 2, 2], [9, 1, 0]])
    out = layer(x)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out, layer.embeddings[x])
    assert np.abs(layer.embeddings).max() <= 0.05  # Keras's "uniform": U(-0.05, 0.05)
    assert np.abs(layer.embeddings).max() > 0.03
    dout = RNG.standard_normal(out.shape)
    _, cache = layer.forward(x)
    assert layer.backward(cache, dout) is None
    expected = np.zeros((10, 3))
    for b in range(2):
        for t in range(3):
            expected[x[b, t]] += dout[b, t]  # index 2 and 1 appear twice: both count
    np.testing.assert_allclose(layer.grads[0], expected)
    np.testing.assert_array_equal(layer(x.astype(float)), out)  # whole floats are indices


@pytest.mark.parametrize(
    ("x", "exc", "match"),
    [
        (np.array([[1, 10]]), ValueError, r"x: expected indices in \[0, 10\) .* got 10"),
        (np.array([[-1, 3]]), ValueError, r"indices in \[0, 10\).*got -1"),
        (np.array([[1.5, 3]]), TypeError, "x: expected integer indices"),
        (np.array([[np.nan, 3]]), TypeError, "x: expected integer indices"),
        (np.array([[1e30]]), ValueError, r"indices in \[0, 10\).*got 1e\+30"),
        (np.array([[2**40]]), ValueError, r"indices in \[0, 10\).*got 1099511627776"),
        (np.array([["a"]]), TypeError, "x: expected an array of integer indices"),
    ],
)
def test_embedding_bad_indices(x, exc, match):
    # before the error, casting NaN or 1e30 to int64 printed NumPy's RuntimeWarning (an error
    # under the suite's filterwarnings)
    with pytest.raises(exc, match=match):
        L.Embedding(10, 3, seed=0)(x)


def test_embedding_mask_zero_and_masking_layer():
    emb = L.Embedding(5, 2, mask_zero=True, seed=0)
    x = np.array([[1, 2, 0, 0], [3, 0, 4, 0]])
    np.testing.assert_array_equal(emb.compute_mask(x), x != 0)
    assert L.Embedding(5, 2).compute_mask(x) is None
    masking = L.Masking(mask_value=-1.0)
    seq = RNG.standard_normal((2, 4, 3))
    seq[0, 2:] = -1.0
    seq[1, 1, :2] = -1.0  # only some features equal the value: not masked
    mask = masking.compute_mask(seq)
    np.testing.assert_array_equal(mask, [[True, True, False, False], [True, True, True, True]])
    out, cache = masking.forward(seq)
    np.testing.assert_array_equal(out[0, 2:], 0)
    np.testing.assert_array_equal(out[1], seq[1])
    np.testing.assert_array_equal(masking.backward(cache, np.ones_like(seq))[0, 2:], 0)


def test_masking_nan_masks_the_all_nan_steps():
    """Keras's Masking compares with ==, so mask_value=NaN would mask nothing and the NaN gaps
    of a time series would reach every output: here the steps whose features are all NaN are
    masked and zeroed, and a model reads a NaN-padded sequence as the sequence alone."""
    from fastlstm.layers import LSTM, Dense, Input
    from fastlstm.models import Sequential

    seq = RNG.standard_normal((2, 5, 3))
    seq[0, 3:] = np.nan
    seq[1, 1, 0] = np.nan  # one NaN feature: not a gap
    masking = L.Masking(mask_value=np.nan)
    np.testing.assert_array_equal(
        masking.compute_mask(seq), [[True, True, True, False, False], [True] * 5]
    )
    out, cache = masking.forward(seq)
    np.testing.assert_array_equal(out[0, 3:], 0)
    np.testing.assert_array_equal(masking.backward(cache, np.ones_like(seq))[0, 3:], 0)
    model = Sequential([Input((None, 3)), L.Masking(np.nan), LSTM(4, seed=0), Dense(1, seed=1)])
    padded = model.predict(seq[:1], verbose=0)
    alone = model.predict(seq[:1, :3], verbose=0)
    np.testing.assert_allclose(padded, alone, rtol=1e-6)
    inf_padded = np.where(np.isnan(seq), -np.inf, seq)[:1]
    masked_inf = Sequential(
        [Input((None, 3)), L.Masking(-np.inf), LSTM(4, seed=0), Dense(1, seed=1)]
    )
    np.testing.assert_allclose(masked_inf.predict(inf_padded, verbose=0), alone, rtol=1e-6)


def test_time_distributed_equals_dense_per_step():
    inner = L.Dense(4, activation="tanh", seed=5, dtype="float64")
    layer = L.TimeDistributed(inner)
    x = RNG.standard_normal((3, 6, 2))
    out = layer(x)
    assert out.shape == (3, 6, 4)
    for t in range(6):
        np.testing.assert_allclose(out[:, t], inner(x[:, t]), rtol=1e-12)
    assert layer.compute_output_shape((None, 6, 2)) == (None, 6, 4)
    assert layer.trainable_weights[0] is inner.kernel
    check_layer_gradients(layer, x)
    clone = L.TimeDistributed.from_config(json.loads(json.dumps(layer.get_config())))
    np.testing.assert_array_equal(clone(x), out)  # same seed inside, same weights


@pytest.mark.parametrize(
    "layer",
    [
        L.Dense(3, activation="relu", kernel_regularizer=L2(0.01), seed=1),
        L.Dropout(0.25, seed=2),
        L.Embedding(7, 2, mask_zero=True, seed=3),
        L.Masking(mask_value=2.0),
        L.Masking(mask_value=float("nan")),
        L.Masking(mask_value=float("-inf")),
    ],
    ids=lambda layer: f"{type(layer).__name__}-{getattr(layer, 'mask_value', '')}",
)
def test_config_round_trips_through_json(layer):
    config = json.loads(json.dumps(layer.get_config(), allow_nan=False))  # as saving writes it
    clone = type(layer).from_config(config)
    assert clone.get_config() == layer.get_config()
    serialised = L.serialize(layer)
    assert type(L.deserialize(json.loads(json.dumps(serialised, allow_nan=False)))) is type(layer)


def test_set_weights_checks_and_changes_nothing_on_error():
    layer = L.Dense(3, seed=0)
    layer(np.ones((1, 2)))
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"bias: expected shape \(3,\), got \(4,\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(4)])
    with pytest.raises(ValueError, match=r"weights: expected a list \[kernel, bias\]"):
        layer.set_weights([np.zeros((2, 3))])
    for a, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    fresh = L.Dense(3)
    fresh.set_weights(before)  # builds from the kernel's shape
    assert fresh.built
    np.testing.assert_array_equal(fresh.kernel, before[0])


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: L.Dense(0), ValueError, "units: expected a positive integer, got 0"),
        (lambda: L.Dense(3, activation="glu"), ValueError, r"activation: expected .*, got 'glu'"),
        (lambda: L.Dense(3, kernel_initializer="he"), ValueError, "kernel_initializer"),
        (lambda: L.Dense(3, kernel_regularizer="l3"), ValueError, "kernel_regularizer"),
        (lambda: L.Dense(3, dtype="int8"), TypeError, "dtype: expected one of"),
        (lambda: L.Dropout(1.0), ValueError, r"rate: expected a number in \[0, 1\), got 1.0"),
        (lambda: L.Dropout("half"), TypeError, "rate"),
        (lambda: L.Embedding(0, 3), ValueError, "input_dim: expected a positive integer"),
        (lambda: L.Embedding(3, 2, mask_zero=1), TypeError, "mask_zero"),
        (lambda: L.Masking("x"), TypeError, "mask_value: expected a number"),
        (lambda: L.TimeDistributed("dense"), TypeError, "layer: expected a fastlstm layer"),
        (lambda: L.deserialize({"class_name": "Popen", "config": {}}), ValueError, "class name"),
        (
            lambda: L.deserialize({"class_name": "Dense", "config": {"units": 2, "evil": 1}}),
            ValueError,
            "bad config",
        ),
    ],
)
def test_bad_arguments_are_named(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_dense_wrong_input_size_is_named():
    layer = L.Dense(2, seed=0)
    layer(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"x: expected an array with 3 features .* got shape"):
        layer(np.ones((1, 4)))
