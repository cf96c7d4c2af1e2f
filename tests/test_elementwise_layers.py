"""ReLU, LeakyReLU, ELU and Softmax as layers against torch's functions (values and gradients,
at the kinks too), ReLU's threshold and cap against its formula, and the noise layers' draws:
their spread, the identity at inference, their gradient, and their seed."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm.layers import (
    ELU,
    LSTM,
    Dense,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    Input,
    LeakyReLU,
    PReLU,
    ReLU,
    Softmax,
)
from fastlstm.models import Sequential, load_model


def _x():
    x = np.random.default_rng(0).standard_normal((4, 5, 6)) * 4
    x[0, 0, :4] = [0.0, 6.0, -0.0, 3.0]  # the kinks
    return x


@pytest.mark.parametrize(
    ("layer", "peer"),
    [
        (lambda **kw: ReLU(**kw), lambda F, t: F.relu(t)),
        (lambda **kw: ReLU(max_value=6.0, **kw), lambda F, t: F.relu6(t)),
        (lambda **kw: LeakyReLU(**kw), lambda F, t: F.leaky_relu(t, 0.3)),
        (lambda **kw: LeakyReLU(alpha=0.1, **kw), lambda F, t: F.leaky_relu(t, 0.1)),
        (lambda **kw: ELU(alpha=0.7, **kw), lambda F, t: F.elu(t, 0.7)),
        (lambda **kw: Softmax(**kw), lambda F, t: F.softmax(t, dim=-1)),
        (lambda **kw: Softmax(axis=1, **kw), lambda F, t: F.softmax(t, dim=1)),
    ],
)
def test_values_and_gradients_are_torchs(torch, layer, peer):
    layer = layer(dtype="float64")
    x = _x()
    y, cache = layer.forward(x)
    xt = torch.tensor(x, requires_grad=True)
    yt = peer(torch.nn.functional, xt)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    dy = np.random.default_rng(1).standard_normal(x.shape)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(layer.backward(cache, dy), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(layer(x), y)


def test_relu_with_a_threshold_and_a_slope_is_kerass_formula():
    layer = ReLU(max_value=2.0, negative_slope=0.5, threshold=1.0, dtype="float64")
    x = np.array([-1.0, 0.5, 1.0, 1.5, 2.0, 3.0])
    y, cache = layer.forward(x[None])
    np.testing.assert_array_equal(y[0], [-1.0, -0.25, 1.0, 1.5, 2.0, 2.0])
    np.testing.assert_array_equal(layer.backward(cache, np.ones((1, 6)))[0], [0.5, 0.5, 0, 1, 0, 0])
    assert not np.signbit(ReLU()(np.array([[-3.0]]))).any()  # 0, not -0


def test_gaussian_noise_adds_its_spread_in_training_alone():
    layer = GaussianNoise(0.5, seed=3, dtype="float64")
    x = np.ones((200, 50, 4))
    np.testing.assert_array_equal(layer(x), x)
    noisy, cache = layer.forward(x, training=True)
    assert abs((noisy - x).std() - 0.5) < 0.01
    assert abs((noisy - x).mean()) < 0.01
    np.testing.assert_array_equal(layer.backward(cache, x * 2), x * 2)
    again = GaussianNoise(0.5, seed=3, dtype="float64").forward(x, training=True)[0]
    np.testing.assert_array_equal(again, noisy)


def test_gaussian_dropout_multiplies_by_its_spread_in_training_alone():
    rate = 0.2
    layer = GaussianDropout(rate, seed=1, dtype="float64")
    x = np.full((200, 50, 4), 2.0)
    np.testing.assert_array_equal(layer(x), x)
    noisy, cache = layer.forward(x, training=True)
    factor = noisy / x
    assert abs(factor.mean() - 1) < 0.01
    assert abs(factor.std() - np.sqrt(rate / (1 - rate))) < 0.01
    dy = np.random.default_rng(0).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(cache, dy), dy * factor, rtol=1e-12)


def test_a_model_with_them_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None] > 0
    model = Sequential(
        [
            Input((6, 3)),
            GaussianNoise(0.1),
            LSTM(8),
            LeakyReLU(),
            GaussianDropout(0.1),
            Dense(2),
            Softmax(),
        ],
        seed=0,
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y.astype(int), epochs=15, verbose=0).history["loss"]
    assert history[-1] < history[0]
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.get_config() for layer in again.layers] == [
        layer.get_config() for layer in model.layers
    ]


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: ReLU(max_value=-1.0), ValueError, "max_value"),
        (lambda: ReLU(negative_slope="a"), TypeError, "negative_slope"),
        (lambda: LeakyReLU(-0.1), ValueError, "negative_slope"),
        (lambda: ELU(alpha=np.nan), ValueError, "alpha"),
        (lambda: Softmax(axis=1.0), TypeError, "axis"),
        (lambda: GaussianNoise(-1.0), ValueError, "stddev"),
        (lambda: GaussianDropout(1.0), ValueError, "rate"),
        (lambda: Softmax(axis=5)(np.zeros((2, 3))), ValueError, r"axis: expected an axis of x"),
        (
            lambda: ELU().backward(ELU().forward(np.zeros((2, 3)))[1], np.zeros(3)),
            ValueError,
            "dout",
        ),
    ],
)
def test_bad_arguments_are_named(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_relu_keeps_nan_as_torch_does():
    for layer in (ReLU(), ReLU(max_value=6.0)):
        y = layer(np.array([[np.nan, 1.0, -1.0]]))
        assert np.isnan(y[0, 0])
        np.testing.assert_array_equal(y[0, 1:], [1.0, 0.0])


@pytest.mark.parametrize("layer", [GaussianNoise(0.1), GaussianDropout(0.1)])
def test_the_noise_layers_name_a_gradient_of_the_wrong_shape(layer):
    for training in (True, False):
        _, cache = layer.forward(np.ones((2, 3)), training=training)
        with pytest.raises(ValueError, match=r"dout: expected shape \(2, 3\)"):
            layer.backward(cache, np.ones((5, 5)))
        with pytest.raises(TypeError, match="dout"):
            layer.backward(cache, None)


def test_training_must_be_a_flag():
    for layer in (GaussianNoise(0.1), Dropout(0.5), LSTM(2)):
        with pytest.raises(TypeError, match="training"):
            layer(np.ones((2, 3, 4)), training="no")


def test_prelu_shared_along_time_is_torchs_prelu(torch):
    x = _x()
    layer = PReLU(alpha_initializer="random_uniform", shared_axes=[1], dtype="float64")
    y, cache = layer.forward(x)
    assert layer.alpha.shape == (1, 6)
    peer = torch.nn.PReLU(6, dtype=torch.float64)
    with torch.no_grad():
        peer.weight.copy_(torch.tensor(layer.alpha[0]))
    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    yt = peer(xt)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 1), rtol=1e-12)
    dy = np.random.default_rng(1).standard_normal(x.shape)
    yt.backward(torch.tensor(dy.transpose(0, 2, 1)))
    dx = layer.backward(cache, dy)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-12)
    np.testing.assert_allclose(layer.grads[0][0], peer.weight.grad.numpy(), rtol=1e-12)


def test_prelu_unshared_has_a_slope_per_position():
    x = _x()
    layer = PReLU(alpha_initializer="random_uniform", dtype="float64")
    y, cache = layer.forward(x)
    assert layer.alpha.shape == x.shape[1:]
    np.testing.assert_array_equal(y, np.where(x > 0, x, layer.alpha * x))
    dy = np.ones_like(x)
    layer.backward(cache, dy)
    np.testing.assert_allclose(layer.grads[0], np.where(x > 0, 0, x).sum(axis=0))
    with pytest.raises(ValueError, match=r"x: expected samples of shape \(5, 6\)"):
        layer(np.zeros((2, 4, 6)))
    shared = PReLU(shared_axes=1)
    shared.build((None, 5, 6))
    assert shared(np.zeros((2, 9, 6))).shape == (2, 9, 6)  # any length along a shared axis


def test_prelu_in_a_model_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None]
    model = Sequential([Input((6, 3)), LSTM(8), PReLU(alpha_initializer="ones"), Dense(1)], seed=0)
    model.compile("adam", "mse")
    before = model.layers[1].alpha.copy()
    model.fit(x, y, epochs=3, verbose=0)
    assert not np.array_equal(model.layers[1].alpha, before)  # learnt
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: PReLU(shared_axes=[0]), ValueError, "shared_axes"),
        (lambda: PReLU(shared_axes=[3]).build((None, 5, 6)), ValueError, "shared_axes: expected"),
        (lambda: PReLU().build((None, None, 6)), ValueError, "every size but the batch's"),
        (lambda: PReLU(alpha_constraint="non_neg"), TypeError, "alpha_constraint"),
    ],
)
def test_prelu_bad_arguments_are_named(make, exc, message):
    with pytest.raises(exc, match=message):
        make()
