"""Conv1D, MaxPooling1D and AveragePooling1D against torch (forward and every gradient) for
each padding, stride, dilation and layout; pooling with "same" padding against a loop written
out here (torch has no TensorFlow-style asymmetric padding that leaves pads out of the
window); a CNN-LSTM model that trains, saves and loads; and the errors."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from fastlstm.layers import (
    LSTM,
    AveragePooling1D,
    AvgPool1D,
    Conv1D,
    Convolution1D,
    Dense,
    Embedding,
    Input,
    MaxPool1D,
    MaxPooling1D,
)
from fastlstm.models import Sequential, load_model

B, T, C, F = 2, 15, 3, 4


def _pads(steps, span, stride, padding):
    """TensorFlow's rule, written out: ceil(T / stride) windows, the odd step on the right."""
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((math.ceil(steps / stride) - 1) * stride + span - steps, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize(("k", "s", "d"), [(3, 1, 1), (4, 2, 1), (2, 3, 2), (5, 1, 3), (1, 1, 1)])
@pytest.mark.parametrize("channels_first", [False, True])
def test_conv1d_matches_torch_forward_and_backward(torch, padding, k, s, d, channels_first):
    functional = torch.nn.functional
    rng = np.random.default_rng(k * 10 + s)
    layer = Conv1D(
        F,
        k,
        strides=s,
        padding=padding,
        dilation_rate=d,
        data_format="channels_first" if channels_first else "channels_last",
        activation="tanh",
        bias_initializer="random_normal",
        dtype="float64",
        seed=1,
    )
    x = rng.standard_normal((B, C, T) if channels_first else (B, T, C))
    y, cache = layer.forward(x)
    xt = torch.tensor(x if channels_first else x.transpose(0, 2, 1), requires_grad=True)
    kernel = torch.tensor(layer.kernel, requires_grad=True)
    bias = torch.tensor(layer.bias, requires_grad=True)
    left, right = _pads(T, (k - 1) * d + 1, s, padding)
    yt = torch.tanh(
        functional.conv1d(
            functional.pad(xt, (left, right)), kernel.permute(2, 1, 0), bias, stride=s, dilation=d
        )
    )
    want = yt.detach().numpy() if channels_first else yt.detach().numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert layer.compute_output_shape(x.shape) == y.shape
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy if channels_first else dy.transpose(0, 2, 1)))
    dx = layer.backward(cache, dy)
    dxt = xt.grad.numpy() if channels_first else xt.grad.numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(dx, dxt, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[0], kernel.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv1d_float32_and_no_bias(torch):
    rng = np.random.default_rng(0)
    layer = Conv1D(F, 3, use_bias=False, seed=2)
    assert layer.weight_names == ("kernel",)
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    y, cache = layer.forward(x)
    assert y.dtype == np.float32
    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    yt = torch.nn.functional.conv1d(xt, torch.tensor(layer.kernel).permute(2, 1, 0))
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 1), rtol=1e-5, atol=1e-5)
    dx = layer.backward(cache, np.ones_like(y))
    yt.sum().backward()
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-5, atol=1e-5)
    assert len(layer.grads) == 1


def test_conv1d_weights_are_kerass_glorot_over_the_taps():
    layer = Conv1D(64, 5, seed=0)
    layer.build((None, None, 32))
    limit = math.sqrt(6 / (5 * 32 + 5 * 64))  # fans count the kernel's taps, as Keras's
    assert layer.kernel.shape == (5, 32, 64)
    assert np.abs(layer.kernel).max() <= limit
    assert np.abs(layer.kernel).max() > 0.95 * limit
    assert not layer.bias.any()


@pytest.mark.parametrize("pool", [MaxPooling1D, AveragePooling1D])
@pytest.mark.parametrize(("size", "stride"), [(2, None), (3, 2), (3, 1), (4, 3)])
@pytest.mark.parametrize("channels_first", [False, True])
def test_valid_pooling_matches_torch(torch, pool, size, stride, channels_first):
    rng = np.random.default_rng(size)
    layer = pool(size, stride, data_format="channels_first" if channels_first else None)
    x = rng.standard_normal((B, C, T) if channels_first else (B, T, C)).astype(np.float32)
    y, cache = layer.forward(x)
    xt = torch.tensor(x if channels_first else x.transpose(0, 2, 1), requires_grad=True)
    op = torch.nn.functional.max_pool1d if pool is MaxPooling1D else torch.nn.functional.avg_pool1d
    yt = op(xt, size, stride=stride or size)
    order = (0, 1, 2) if channels_first else (0, 2, 1)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(order), rtol=1e-6, atol=1e-6)
    assert layer.compute_output_shape(x.shape) == y.shape
    dy = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(dy.transpose(order)))
    dx = layer.backward(cache, dy)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(order), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("size", "stride"), [(2, None), (3, 2), (4, 1), (5, 3)])
def test_same_pooling_leaves_the_padding_out(size, stride):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((B, T, C))
    step = stride or size
    left, _ = _pads(T, size, step, "same")
    windows = [
        [t for t in range(i * step - left, i * step - left + size) if 0 <= t < T]
        for i in range(math.ceil(T / step))
    ]
    for pool, reduce in ((MaxPooling1D, np.max), (AveragePooling1D, np.mean)):
        layer = pool(size, stride, padding="same", dtype="float64")
        y, cache = layer.forward(x)
        want = np.stack([reduce(x[:, w], axis=1) for w in windows], axis=1)
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
        dy = rng.standard_normal(y.shape)
        dx = layer.backward(cache, dy)
        expected = np.zeros_like(x)
        for i, w in enumerate(windows):
            if pool is AveragePooling1D:
                expected[:, w] += dy[:, i, None] / len(w)
            else:
                at = np.asarray(w)[np.argmax(x[:, w], axis=1)]  # (B, C): the step of each max
                for b in range(B):
                    expected[b, at[b], np.arange(C)] += dy[b, i]
        np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-12)


def test_a_cnn_lstm_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 40, 2)).astype(np.float32)
    y = x[:, :, :1].mean(axis=1)  # a quantity every frame adds to
    model = Sequential(
        [
            Input((40, 2)),
            Conv1D(8, 5, strides=2, padding="same", activation="relu"),
            MaxPooling1D(2),
            LSTM(8),
            Dense(1),
        ],
        seed=0,
    )
    model.compile(optimizer="adam", loss="mse")
    assert model.layers[1].compute_output_shape((None, 20, 8)) == (None, 10, 8)
    history = model.fit(x, y, epochs=30, batch_size=8, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer) for layer in again.layers] == [type(layer) for layer in model.layers]


def test_a_mask_stops_at_a_convolution():
    # Keras's Conv1D takes no mask and hands none on: its steps are not the input's
    tokens = np.array([[3, 4, 5, 0, 0, 0]])
    model = Sequential([Input((6,)), Embedding(8, 3, mask_zero=True), Conv1D(2, 2)], seed=0)
    assert model.layers[1].compute_mask(tokens, tokens != 0) is None
    assert model.predict(tokens, verbose=0).shape == (1, 5, 2)


def test_kerass_other_names():
    assert (Convolution1D, MaxPool1D, AvgPool1D) == (Conv1D, MaxPooling1D, AveragePooling1D)


def test_config_round_trip():
    layer = Conv1D(3, (4,), strides=2, padding="Causal", dilation_rate=2, activation="relu")
    config = layer.get_config()
    assert config["padding"] == "causal"
    assert config["kernel_size"] == 4
    assert Conv1D.from_config(config).get_config() == config
    pool = MaxPooling1D(3, padding="same", data_format="channels_first")
    assert MaxPooling1D.from_config(pool.get_config()).get_config() == pool.get_config()


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: Conv1D(2, 3, groups=2), ValueError, "groups: expected 1"),
        (lambda: Conv1D(2, 3, padding="full"), ValueError, "padding"),
        (lambda: Conv1D(2, (3, 3)), ValueError, "kernel_size: expected an int or a tuple of one"),
        (lambda: Conv1D(0, 3), ValueError, "filters"),
        (lambda: Conv1D(2, 3, strides=0), ValueError, "strides"),
        (lambda: Conv1D(2, 3, kernel_constraint="non_neg"), TypeError, "kernel_constraint"),
        (lambda: MaxPooling1D(2, padding="causal"), ValueError, "padding"),
        (lambda: AveragePooling1D(1.5), TypeError, "pool_size"),
        (lambda: MaxPooling1D(2, data_format="channels_middle"), ValueError, "data_format"),
    ],
)
def test_bad_arguments_are_named(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_bad_inputs_are_named():
    layer = Conv1D(2, 5, seed=0)
    with pytest.raises(ValueError, match=r"x: expected a 3-D array \(batch, time, channels\)"):
        layer(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="x: expected at least 5 steps"):
        layer(np.zeros((1, 4, 3)))
    layer(np.zeros((1, 6, 3)))
    with pytest.raises(ValueError, match="x: expected 3 channels"):
        layer(np.zeros((1, 6, 2)))
    with pytest.raises(ValueError, match="x: expected at least 2 steps"):
        MaxPooling1D(2)(np.zeros((1, 1, 3)))


def test_a_window_far_longer_than_x_costs_what_x_does():
    # only the taps that reach x are taken: pool_size=10**9 had padded x to 10**9 steps
    x = np.random.default_rng(0).standard_normal((2, 10, 3))
    for pool, reduce in ((MaxPooling1D, np.max), (AveragePooling1D, np.mean)):
        y = pool(10**9, padding="same", dtype="float64")(x)
        np.testing.assert_allclose(y, reduce(x, axis=1, keepdims=True), rtol=1e-12)
    layer = Conv1D(2, 3, padding="causal", dilation_rate=10**9, seed=0, dtype="float64")
    y, cache = layer.forward(x)
    np.testing.assert_allclose(y, x @ layer.kernel[2], rtol=1e-12)  # only the last tap: x_t
    dx = layer.backward(cache, np.ones_like(y))
    np.testing.assert_allclose(dx, np.broadcast_to(layer.kernel[2].sum(axis=1), x.shape))
    assert not layer.grads[0][:2].any()


def test_a_tied_maximum_takes_the_whole_gradient_as_in_torch(torch):
    x = np.array([[[3.0], [3.0], [3.0], [1.0], [2.0], [2.0]]], np.float32)
    for size, stride in ((3, 1), (2, 2)):
        layer = MaxPooling1D(size, stride)
        y, cache = layer.forward(x)
        xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
        torch.nn.functional.max_pool1d(xt, size, stride=stride).sum().backward()
        dx = layer.backward(cache, np.ones_like(y))
        np.testing.assert_array_equal(dx, xt.grad.numpy().transpose(0, 2, 1))


def test_a_model_whose_input_is_shorter_than_a_window_fails_when_built():
    for layer in (Conv1D(2, 5), MaxPooling1D(5)):
        with pytest.raises(ValueError, match=r"x: expected at least 5 steps.*\(None, 3, 2\)"):
            Sequential([Input((3, 2)), layer])


def test_a_gradient_of_the_wrong_shape_is_named():
    x = np.zeros((2, 10, 3), np.float32)
    for layer in (Conv1D(2, 3), MaxPooling1D(2), AveragePooling1D(2)):
        y, cache = layer.forward(x)
        with pytest.raises(ValueError, match=re.escape(f"dout: expected shape {y.shape}")):
            layer.backward(cache, np.ones((2, y.shape[1] + 1, y.shape[2])))


def test_same_padding_takes_one_step():
    assert MaxPooling1D(2, padding="same")(np.ones((1, 1, 3))).shape == (1, 1, 3)
    with pytest.raises(ValueError, match="x: expected at least 1 step "):
        MaxPooling1D(2, padding="same")(np.zeros((1, 0, 3)))


@pytest.mark.parametrize("shape", [True, 2.0, (None, None, 2.5), (None, None, True)])
def test_build_names_input_shape(shape):
    with pytest.raises((TypeError, ValueError), match="input_shape"):
        Conv1D(2, 3).build(shape)


def test_build_takes_the_channels_alone():
    layer = Conv1D(2, 3, seed=0)
    layer.build(4)
    assert layer.kernel.shape == (3, 4, 2)
