"""Conv1DTranspose against torch: torch's conv_transpose1d gives the full transposed
convolution (and its gradients), from which Keras's window is cut by its rule, written out here
from Keras's documentation of it (the output lengths T·strides for "same", (T - 1)·strides +
max(span, strides) for "valid"); then keras.io's convolutional autoencoder for time-series
anomaly detection, which trains, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm.layers import Conv1D, Conv1DTranspose, Convolution1DTranspose, Dropout, Input
from fastlstm.models import Sequential, load_model

B, T, C, F = 2, 7, 3, 4


def _keras_window(full_steps, span, stride, padding, output_padding):
    """(start, length) of Keras's output within the full one (which may run past its end)."""
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return 0, full_steps + extra
    pad = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    left = min((pad + 1) // 2, span - 1)
    return span - 1 - left, (T - 1) * stride + pad - span + 2


CASES = [(7, 2, 1, None), (3, 1, 1, None), (4, 2, 1, None), (2, 3, 1, None), (1, 2, 1, None)]
CASES += [(3, 2, 2, None), (3, 3, 1, 1), (5, 2, 1, 1), (4, 3, 2, 2), (3, 2, 1, 0)]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(("k", "s", "d", "op"), CASES)
@pytest.mark.parametrize("channels_first", [False, True])
def test_matches_torch_forward_and_backward(torch, padding, k, s, d, op, channels_first):
    rng = np.random.default_rng(k * 100 + s * 10 + d)
    layer = Conv1DTranspose(
        F,
        k,
        strides=s,
        padding=padding,
        output_padding=op,
        dilation_rate=d,
        data_format="channels_first" if channels_first else "channels_last",
        activation="tanh",
        bias_initializer="random_normal",
        dtype="float64",
        seed=2,
    )
    x = rng.standard_normal((B, C, T) if channels_first else (B, T, C))
    y, cache = layer.forward(x)
    xt = torch.tensor(x if channels_first else x.transpose(0, 2, 1), requires_grad=True)
    kernel = torch.tensor(layer.kernel, requires_grad=True)  # (k, F, C); torch's (C, F, k)
    bias = torch.tensor(layer.bias, requires_grad=True)
    full = torch.nn.functional.conv_transpose1d(xt, kernel.permute(2, 1, 0), stride=s, dilation=d)
    start, length = _keras_window(full.shape[2], (k - 1) * d + 1, s, padding, op)
    past = max(0, start + length - full.shape[2])  # steps past the full output: zeros
    window = torch.nn.functional.pad(full, (0, past))[:, :, start : start + length]
    yt = torch.tanh(window + bias[:, None])
    want = yt.detach().numpy()
    np.testing.assert_allclose(y, want if channels_first else want.transpose(0, 2, 1), atol=1e-12)
    if padding == "same" and op is None:
        assert y.shape[2 if channels_first else 1] == T * s
    assert layer.compute_output_shape(x.shape) == y.shape
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy if channels_first else dy.transpose(0, 2, 1)))
    dx = layer.backward(cache, dy)
    dxt = xt.grad.numpy() if channels_first else xt.grad.numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(dx, dxt, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[0], kernel.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_keras_io_anomaly_autoencoder_trains_saves_and_loads(tmp_path):
    """keras.io's "Timeseries anomaly detection using an Autoencoder", small: Conv1D with
    strides 2 halves the steps twice, Conv1DTranspose doubles them back."""
    rng = np.random.default_rng(5)
    steps = 16
    t = np.arange(64 + steps)[:, None] / 4.0
    series = np.sin(t) + 0.05 * rng.standard_normal(t.shape)
    x = np.stack([series[i : i + steps] for i in range(64)]).astype(np.float32)
    model = Sequential(
        [
            Input(shape=(steps, 1)),
            Conv1D(8, 7, padding="same", strides=2, activation="relu", seed=1),
            Dropout(0.2, seed=2),
            Conv1D(4, 7, padding="same", strides=2, activation="relu", seed=3),
            Conv1DTranspose(4, 7, padding="same", strides=2, activation="relu", seed=4),
            Dropout(0.2, seed=5),
            Convolution1DTranspose(8, 7, padding="same", strides=2, activation="relu", seed=6),
            Conv1DTranspose(1, 7, padding="same", seed=7),
        ],
        seed=0,
    )
    model.compile("adam", "mse")
    assert model.output_shape == (None, steps, 1)
    history = model.fit(x, x, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    model.save(tmp_path / "ae.keras")
    again = load_model(tmp_path / "ae.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    config = again.layers[-1].get_config()
    assert (config["strides"], config["padding"], config["output_padding"]) == (1, "same", None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output_padding": 2, "strides": 2}, r"output_padding: expected fewer steps than strides"),
        ({"padding": "causal"}, "padding"),
        ({"kernel_size": 0}, "kernel_size"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Conv1DTranspose(**{"filters": 2, "kernel_size": 3, **kwargs})


def test_a_kernel_of_the_wrong_shape_and_a_wrong_input_are_named():
    layer = Conv1DTranspose(2, 3)
    layer.build((None, None, C))
    with pytest.raises(ValueError, match=r"kernel: expected shape \(3, 2, 3\), got \(3, 3, 2\)"):
        layer.set_weights([np.zeros((3, C, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match="x: expected 3 channels"):
        layer(np.zeros((1, 4, C + 1)))
    with pytest.raises(ValueError, match="x: expected at least 1 step"):
        layer(np.zeros((1, 0, C)))


def test_output_padding_zero_is_taken_and_a_negative_one_named():
    assert Conv1DTranspose(2, 3, strides=2, output_padding=(0,)).output_padding == 0
    with pytest.raises(ValueError, match="output_padding: expected a non-negative integer, got -1"):
        Conv1DTranspose(2, 3, strides=2, output_padding=-1)
