"""UpSampling1D, ZeroPadding1D and Cropping1D: outputs against NumPy's own repeat, pad and
slice, gradients against torch (repeat_interleave, pad, slicing), output shapes, and a
convolutional autoencoder for sequences built from them that trains, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm.layers import (
    Conv1D,
    Cropping1D,
    Input,
    MaxPooling1D,
    UpSampling1D,
    ZeroPadding1D,
)
from fastlstm.models import Sequential, load_model

B, T, F = 2, 7, 3


def _x(seed=0):
    return np.random.default_rng(seed).standard_normal((B, T, F))


@pytest.mark.parametrize(
    ("layer", "numpy", "peer"),
    [
        (
            UpSampling1D(3),
            lambda x: np.repeat(x, 3, axis=1),
            lambda torch, t: torch.repeat_interleave(t, 3, dim=1),
        ),
        (
            ZeroPadding1D((2, 1)),
            lambda x: np.pad(x, ((0, 0), (2, 1), (0, 0))),
            lambda torch, t: torch.nn.functional.pad(t, (0, 0, 2, 1)),
        ),
        (ZeroPadding1D(1), lambda x: np.pad(x, ((0, 0), (1, 1), (0, 0))), None),
        (Cropping1D((1, 2)), lambda x: x[:, 1:-2], lambda torch, t: t[:, 1:-2]),
        (Cropping1D(0), lambda x: x, None),
    ],
)
def test_values_gradients_and_shapes(torch, layer, numpy, peer):
    x = _x()
    y, cache = layer.forward(x)
    np.testing.assert_array_equal(y, numpy(x))
    assert layer.compute_output_shape((None, T, F)) == (None, *y.shape[1:])
    assert layer.compute_output_shape((None, None, F)) == (None, None, F)
    assert layer.compute_mask(x, np.ones((B, T), bool)) is None
    dy = np.random.default_rng(1).standard_normal(y.shape)
    dx = layer.backward(cache, dy)
    assert dx.shape == x.shape
    if peer is not None:
        xt = torch.tensor(x, requires_grad=True)
        peer(torch, xt).backward(torch.tensor(dy))
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=0)


def test_a_convolutional_autoencoder_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(30)
    x = np.sin(t[None, :, None] / rng.uniform(2, 5, (64, 1, 1))).astype(np.float32)
    model = Sequential(
        [
            Input((30, 1)),
            ZeroPadding1D((0, 2)),  # 32 steps, so that two halvings come back to 32
            Conv1D(8, 3, padding="same", activation="relu"),
            MaxPooling1D(2),
            Conv1D(4, 3, padding="same", activation="relu"),
            MaxPooling1D(2),
            UpSampling1D(2),
            Conv1D(8, 3, padding="same", activation="relu"),
            UpSampling1D(2),
            Conv1D(1, 3, padding="same"),
            Cropping1D((0, 2)),
        ],
        seed=0,
    )
    assert model.layers[-1].compute_output_shape((None, 32, 1)) == (None, 30, 1)
    model.compile("adam", "mse")
    history = model.fit(x, x, epochs=30, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: UpSampling1D(0), ValueError, "size"),
        (lambda: UpSampling1D(2.0), TypeError, "size"),
        (lambda: ZeroPadding1D((1, 2, 3)), ValueError, r"padding: expected an int or a pair"),
        (lambda: ZeroPadding1D(-1), ValueError, "padding"),
        (lambda: Cropping1D((1, True)), TypeError, "cropping"),
        (lambda: Cropping1D((4, 3))(np.zeros((1, 7, 2))), ValueError, "cropping: expected to"),
        (lambda: UpSampling1D()(np.zeros((2, 3))), ValueError, r"x: expected a 3-D array"),
        (
            lambda: Sequential([Input((5, 2)), Cropping1D(3)]),
            ValueError,
            r"cropping: expected to leave at least one",
        ),
    ],
)
def test_bad_arguments_and_inputs_are_named(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_a_gradient_of_the_wrong_shape_is_named():
    for layer in (UpSampling1D(2), ZeroPadding1D(1), Cropping1D(1)):
        y, cache = layer.forward(_x())
        with pytest.raises(ValueError, match="dout: expected shape"):
            layer.backward(cache, np.zeros((B, y.shape[1] + 1, F)))
