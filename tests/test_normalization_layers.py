"""LayerNormalization and BatchNormalization against torch (nn.LayerNorm, nn.BatchNorm1d in
training mode: outputs and every gradient), BatchNormalization's moving averages and masked
statistics against formulas written out here and finite differences, and in a model that
trains, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm.layers import (
    LSTM,
    BatchNormalization,
    Conv1D,
    Dense,
    Input,
    LayerNormalization,
)
from fastlstm.models import Sequential, load_model

B, T, F = 3, 5, 4


def _x(seed=0, shape=(B, T, F)):
    return np.random.default_rng(seed).standard_normal(shape) * 2.0 + 0.5


def _random_affine(cls, **kw):
    return cls(
        dtype="float64", gamma_initializer="random_normal", beta_initializer="random_normal", **kw
    )


@pytest.mark.parametrize(("center", "scale"), [(True, True), (False, True), (True, False)])
def test_layer_normalization_matches_torch(torch, center, scale):
    layer = _random_affine(LayerNormalization, center=center, scale=scale)
    x = _x()
    y, cache = layer.forward(x)
    peer = torch.nn.LayerNorm(F, eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        peer.weight.copy_(torch.tensor(layer.gamma if scale else np.ones(F)))
        peer.bias.copy_(torch.tensor(layer.beta if center else np.zeros(F)))
    xt = torch.tensor(x, requires_grad=True)
    yt = peer(xt)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = _x(1)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(layer.backward(cache, dy), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    want = [peer.weight.grad] if scale else []
    want += [peer.bias.grad] if center else []
    assert len(layer.grads) == len(want)
    for got, expected in zip(layer.grads, want):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(B, T, F), (7, F)])
def test_batch_normalization_in_training_matches_torch(torch, shape):
    layer = _random_affine(BatchNormalization, momentum=0.9)
    x = _x(shape=shape)
    y, cache = layer.forward(x, training=True)
    peer = torch.nn.BatchNorm1d(F, eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        peer.weight.copy_(torch.tensor(layer.gamma))
        peer.bias.copy_(torch.tensor(layer.beta))
    channels_second = (0, 2, 1) if len(shape) == 3 else (0, 1)
    xt = torch.tensor(x.transpose(channels_second), requires_grad=True)
    yt = peer(xt)
    np.testing.assert_allclose(
        y, yt.detach().numpy().transpose(channels_second), rtol=1e-12, atol=1e-12
    )
    dy = _x(1, shape)
    yt.backward(torch.tensor(dy.transpose(channels_second)))
    dx = layer.backward(cache, dy)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(channels_second), atol=1e-12)
    np.testing.assert_allclose(layer.grads[0], peer.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.grads[1], peer.bias.grad.numpy(), rtol=1e-10)
    # Keras's moving averages: the batch's biased variance (torch keeps the unbiased one)
    rows = x.reshape(-1, F)
    np.testing.assert_allclose(layer.moving_mean, 0.1 * rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, 0.9 + 0.1 * rows.var(axis=0), rtol=1e-12)


def test_batch_normalization_at_inference_uses_the_moving_averages():
    layer = _random_affine(BatchNormalization)
    x = _x()
    layer.build(x.shape)
    mean, var = np.array([0.5, -1.0, 2.0, 0.0]), np.array([1.5, 0.25, 4.0, 1.0])
    layer.set_weights([layer.gamma, layer.beta, mean, var])
    y, cache = layer.forward(x)
    want = (x - mean) / np.sqrt(var + 1e-3) * layer.gamma + layer.beta
    np.testing.assert_allclose(y, want, rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean, mean)  # not moved
    dy = _x(2)
    np.testing.assert_allclose(layer.backward(cache, dy), dy * layer.gamma / np.sqrt(var + 1e-3))


def test_a_frozen_batch_normalization_runs_as_at_inference():
    layer = _random_affine(BatchNormalization)
    x = _x()
    layer.build(x.shape)
    before = layer.get_weights()
    layer.trainable = False
    y, cache = layer.forward(x, training=True)
    np.testing.assert_allclose(y, layer.forward(x)[0])
    for got, want in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    layer.backward(cache, _x(1))
    assert layer.grads == []
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 4


def test_masked_statistics_take_the_valid_steps_alone():
    layer = _random_affine(BatchNormalization, momentum=0.0)
    x = _x()
    mask = np.random.default_rng(5).random((B, T)) > 0.4
    y, cache = layer.forward(x, training=True, mask=mask)
    valid = x[mask]
    np.testing.assert_allclose(layer.moving_mean, valid.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, valid.var(axis=0), rtol=1e-12)
    want = (x - valid.mean(axis=0)) / np.sqrt(valid.var(axis=0) + 1e-3) * layer.gamma + layer.beta
    np.testing.assert_allclose(y, want, rtol=1e-12)
    dy = _x(3)
    dx = layer.backward(cache, dy)
    weights = layer.get_weights()

    def loss(z):
        probe = BatchNormalization(dtype="float64")
        probe.build(z.shape)
        probe.set_weights(weights)
        return float((probe.forward(z, training=True, mask=mask)[0] * dy).sum())

    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = (loss(x + step) - loss(x - step)) / 2e-6
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-7)


def test_weights_are_kerass_and_only_gamma_and_beta_train():
    layer = BatchNormalization()
    layer.build((None, T, F))
    assert layer.weight_names == ("gamma", "beta", "moving_mean", "moving_variance")
    assert [w.tolist() for w in layer.get_weights()] == [[1.0] * F, [0.0] * F, [0.0] * F, [1.0] * F]
    assert len(layer.trainable_weights) == 2
    assert LayerNormalization(center=False).weight_names == ("gamma",)


def test_a_model_with_both_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 12, 2)).astype(np.float32) * 3 + 1
    y = x[:, :, :1].mean(axis=1)
    model = Sequential(
        [
            Input((12, 2)),
            Conv1D(8, 3, padding="same"),
            BatchNormalization(),
            LSTM(8),
            LayerNormalization(),
            Dense(1),
        ],
        seed=0,
    )
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    norm = model.layers[1]
    assert norm.moving_variance.min() != 1.0  # moved in training
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(again.layers[1].moving_mean, norm.moving_mean)
    assert len(model.non_trainable_weights) == 2


def test_config_round_trip():
    layer = BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, name="bn")
    again = BatchNormalization.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    ln = LayerNormalization(epsilon=1e-6, axis=[-1])
    assert LayerNormalization.from_config(ln.get_config()).get_config() == ln.get_config()


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: LayerNormalization(axis=1), ValueError, "axis: expected -1"),
        (lambda: BatchNormalization(axis=True), ValueError, "axis: expected -1"),
        (lambda: LayerNormalization(epsilon=0), ValueError, "epsilon"),
        (lambda: BatchNormalization(momentum=1.5), ValueError, "momentum"),
        (lambda: BatchNormalization(center="no"), TypeError, "center"),
        (lambda: BatchNormalization(beta_constraint="non_neg"), TypeError, "beta_constraint"),
    ],
)
def test_bad_arguments_are_named(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_bad_inputs_are_named():
    layer = LayerNormalization()
    layer.build((None, F))
    with pytest.raises(ValueError, match=r"x: expected an array \(batch, \.\.\., 4\)"):
        layer(np.zeros((2, 3)))
    norm = BatchNormalization()
    with pytest.raises(ValueError, match=r"mask: expected shape \(3, 5\)"):
        norm.forward(_x(), training=True, mask=np.ones((3, 4), bool))
    _, cache = norm.forward(_x())
    with pytest.raises(ValueError, match="dout: expected shape"):
        norm.backward(cache, np.zeros((3, 5, 3)))


def test_in_a_model_the_moving_averages_change_with_the_steps_update():
    """A training step had moved the averages in its forward pass, before the weights' update:
    a predict in another thread then took one layer's averages from the step before and
    another's from the step after. They are staged and made with the update now, under the
    weights lock; loss_and_gradients makes none."""
    model = Sequential([Input((F,)), BatchNormalization(momentum=0.5), Dense(1)], seed=0)
    model.compile("sgd", "mse")
    norm = model.layers[0]
    x, y = _x(shape=(8, F)).astype(np.float32), np.ones((8, 1), np.float32)
    before = norm.moving_mean.copy()
    model.loss_and_gradients(x, y)
    np.testing.assert_array_equal(norm.moving_mean, before)
    apply, seen = model.optimizer.apply, []

    def watching_apply(grads, params):
        seen.append(norm.moving_mean.copy())  # the weights lock is held: the update under way
        apply(grads, params)

    model.optimizer.apply = watching_apply
    model.train_on_batch(x, y)
    np.testing.assert_array_equal(seen[0], before)
    np.testing.assert_allclose(norm.moving_mean, 0.5 * before + 0.5 * x.mean(axis=0), rtol=1e-6)
    moved = norm.moving_mean.copy()
    model(x, training=True)  # a call in training mode moves them too, as Keras's
    assert not np.array_equal(norm.moving_mean, moved)


def test_layer_normalization_without_center_and_scale_has_no_weights():
    layer = LayerNormalization(center=False, scale=False, dtype="float64")
    x = _x()
    y = layer(x)
    want = (x - x.mean(axis=-1, keepdims=True)) / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, want, rtol=1e-12)
    assert layer.weights == []
    model = Sequential([Input((T, F)), layer])
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-12)


def test_a_mask_of_other_values_than_bools_is_refused_and_an_empty_batch_moves_nothing():
    norm = BatchNormalization()
    with pytest.raises(TypeError, match="mask: expected an array of bools, got dtype float64"):
        norm.forward(_x(), training=True, mask=np.full((B, T), 0.5))
    norm.forward(np.zeros((0, T, F)), training=True)
    assert norm.moving_mean.tolist() == [0.0] * F
    assert norm.moving_variance.tolist() == [1.0] * F
