"""A loss of the caller's own: a ``losses.Loss`` subclass with Keras's ``call`` and a
``gradient``, weighted, masked, reduced and trained with as the built-in losses are; and the
clear refusals where one of the two is missing or returns the wrong shape."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import losses
from fastlstm.layers import LSTM, Dense, Input
from fastlstm.models import Sequential
from test_losses import numeric_grad

RNG = np.random.default_rng(7)


class SquaredError(losses.Loss):
    """Keras's mean squared error, written as a user would write it."""

    def call(self, y_true, y_pred):
        return np.mean((y_pred - y_true) ** 2, axis=-1)

    def gradient(self, y_true, y_pred):
        return 2 * (y_pred - y_true) / y_pred.shape[-1]


class Quartic(losses.Loss):
    """sum((y_pred - y_true)**4) over the last axis: no built-in loss to compare with."""

    def call(self, y_true, y_pred):
        return np.sum((y_pred - y_true) ** 4, axis=-1)

    def gradient(self, y_true, y_pred):
        return 4 * (y_pred - y_true) ** 3


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_matches_the_built_in_loss_with_weights_and_mask(reduction):
    yt, yp = RNG.standard_normal((3, 4, 2)), RNG.standard_normal((3, 4, 2))
    w, mask = RNG.uniform(0.5, 2, 3), RNG.random((3, 4)) > 0.4
    mask[0, 0] = True
    ours = SquaredError(reduction=reduction)
    built_in = losses.MeanSquaredError(reduction=reduction)
    value, grad = ours.value_and_grad(yt, yp, w, mask)
    expected_value, expected_grad = built_in.value_and_grad(yt, yp, w, mask)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)
    # the unreduced values too, masked steps zero
    got = SquaredError(reduction="none")(yt, yp, mask=mask)
    np.testing.assert_allclose(got, ((yp - yt) ** 2).mean(-1) * mask, rtol=1e-12)


def test_gradient_matches_finite_differences():
    yt, yp = RNG.uniform(-1, 1, (4, 3)), RNG.uniform(-1, 1, (4, 3))  # values of order 1
    w = RNG.uniform(0.5, 2, 4)
    loss = Quartic()
    value, grad = loss.value_and_grad(yt, yp, w)
    assert value == pytest.approx(float(((yp - yt) ** 4).sum(-1) @ w) / 4, rel=1e-12)
    np.testing.assert_allclose(
        grad, numeric_grad(lambda p: loss(yt, p, w), yp.copy()), rtol=1e-6, atol=1e-9
    )


def test_integer_targets_reach_call_as_y_preds_dtype():
    seen = []

    class Recording(SquaredError):
        def call(self, y_true, y_pred):
            seen.append(y_true.dtype)
            return super().call(y_true, y_pred)

    Recording()(np.array([[1, 0]]), np.array([[0.5, 0.25]], dtype=np.float32))
    assert seen == [np.dtype(np.float32)]


def test_a_model_trains_with_it_as_with_the_built_in_loss():
    x, y = RNG.standard_normal((16, 5, 3)), RNG.standard_normal((16, 2))
    weights = []
    for loss in (SquaredError(), "mse"):
        model = Sequential([Input((5, 3)), LSTM(4), Dense(2)], seed=3)
        start = model.get_weights()
        model.compile("adam", loss)
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        weights.append(model.get_weights())
        assert not np.allclose(weights[-1][0], start[0])  # it trained
    for ours, built_in in zip(*weights):
        np.testing.assert_allclose(ours, built_in, rtol=1e-5, atol=1e-7)


class OwnShapes(losses.Loss):
    """Squared error for (B,) targets of a (B, 1) output, reshaped by the loss itself."""

    def call(self, y_true, y_pred):
        return (y_pred[:, 0] - y_true) ** 2

    def gradient(self, y_true, y_pred):
        return (2 * (y_pred[:, 0] - y_true))[:, None]


def test_targets_reach_call_in_the_shape_given_and_a_broadcast_is_named():
    # As Keras passes y_true to a Loss subclass: a loss written for (B,) targets of a (B, 1)
    # output trains; one that broadcasts them to (B, B) is told so, where its gradient's shape
    # had been blamed alone.
    x, y = RNG.standard_normal((16, 5, 3)), RNG.standard_normal(16)
    weights = []
    for loss in (OwnShapes(), "mse"):
        model = Sequential([Input((5, 3)), LSTM(4), Dense(1)], seed=3)
        model.compile("sgd", loss)
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for ours, built_in in zip(*weights):
        np.testing.assert_allclose(ours, built_in, rtol=1e-5, atol=1e-7)
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1)], seed=3)
    model.compile("sgd", SquaredError())
    with pytest.raises(
        ValueError,
        match=r"SquaredError.gradient returned shape \(8, 8\); .*; y_true \(8,\) and y_pred "
        r"\(8, 1\) broadcast to \(8, 8\) in NumPy's arithmetic: reshape y_true",
    ):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.fit(x, y[:, None], batch_size=8, epochs=1, verbose=0)  # as advised


def test_a_subclass_without_a_name_is_named_after_its_class():
    assert SquaredError().name == "squared_error"
    assert OwnShapes(name="mine").name == "mine"
    assert losses.MeanSquaredError().name == "mean_squared_error"
    x, y = RNG.standard_normal((8, 5, 3)), RNG.standard_normal((8, 1))
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1)], seed=3)
    model.compile("sgd", "mse", metrics=[SquaredError()])
    assert list(model.evaluate(x, y, verbose=0, return_dict=True)) == ["loss", "squared_error"]


def test_unreduced_values_do_not_ask_for_the_gradient():
    class NoGradientNeeded(SquaredError):
        def gradient(self, y_true, y_pred):
            raise AssertionError("gradient() called for reduction='none'")

    yt, yp = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 2))
    got = NoGradientNeeded(reduction="none")(yt, yp, sample_weight=np.array([1.0, 2.0, 0.5]))
    np.testing.assert_allclose(got, ((yp - yt) ** 2).mean(-1) * [1.0, 2.0, 0.5], rtol=1e-12)


class CallOnly(losses.Loss):
    def call(self, y_true, y_pred):
        return np.mean((y_pred - y_true) ** 2, axis=-1)


class Neither(losses.Loss):
    pass


@pytest.mark.parametrize(
    ("loss", "match"),
    [
        (CallOnly(), r"CallOnly defines no gradient\(\); .*no automatic differentiation"),
        (CallOnly, r"CallOnly defines no gradient\(\)"),
        (Neither(), r"Neither defines no call\(\) and no gradient\(\)"),
        (losses.Loss(), r"Loss defines no call\(\) and no gradient\(\)"),
    ],
)
def test_compile_refuses_a_subclass_without_call_or_gradient(loss, match):
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1)])
    with pytest.raises(TypeError, match=match):
        model.compile("adam", loss)
    with pytest.raises(TypeError, match=match):  # and so does calling it
        (loss() if isinstance(loss, type) else loss)(np.zeros((2, 1)), np.zeros((2, 1)))


def test_a_plain_function_is_refused_with_how_to_write_one():
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1)])
    with pytest.raises(
        ValueError, match=r"got <function .*subclass fastlstm.losses.Loss with call"
    ):
        model.compile("adam", lambda y_true, y_pred: ((y_true - y_pred) ** 2).mean())


class WholeArray(SquaredError):
    def call(self, y_true, y_pred):
        return (y_pred - y_true) ** 2  # not reduced over the last axis


class FlatGradient(SquaredError):
    def gradient(self, y_true, y_pred):
        return super().gradient(y_true, y_pred).ravel()


@pytest.mark.parametrize(
    ("loss", "match"),
    [
        (WholeArray(), r"WholeArray.call returned values of shape \(4, 3\); expected \(4,\)"),
        (FlatGradient(), r"FlatGradient.gradient returned shape \(12,\); expected .*\(4, 3\)"),
    ],
)
def test_wrong_shapes_are_named(loss, match):
    with pytest.raises(ValueError, match=match):
        loss.value_and_grad(np.zeros((4, 3)), np.ones((4, 3)))


def test_a_model_compiled_with_it_saves_without_its_compile_state(tmp_path):
    x, y = RNG.standard_normal((8, 5, 3)), RNG.standard_normal((8, 2))
    model = Sequential([Input((5, 3)), LSTM(4), Dense(2)], seed=3)
    model.compile("adam", SquaredError())
    model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"include_optimizer=False\) saves the model without"):
        model.save(tmp_path / "with.fastlstm")
    assert not (tmp_path / "with.fastlstm").exists()  # nothing written
    model.save(tmp_path / "without.fastlstm", include_optimizer=False)
    loaded = fastlstm.load_model(tmp_path / "without.fastlstm")
    assert not loaded.compiled
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


class NoneGradient(SquaredError):
    def gradient(self, y_true, y_pred):
        return None


class TextValues(SquaredError):
    def call(self, y_true, y_pred):
        return np.array(["abc"] * len(y_pred))


class ComplexGradient(SquaredError):
    def gradient(self, y_true, y_pred):
        return super().gradient(y_true, y_pred) + 1j  # NumPy would keep the real part


@pytest.mark.parametrize(
    ("loss", "match"),
    [
        (NoneGradient(), r"^loss: NoneGradient.gradient returned None; expected an array of real"),
        (TextValues(), r"^loss: TextValues.call returned dtype <U3; expected an array of real"),
        (ComplexGradient(), r"^loss: ComplexGradient.gradient returned dtype complex128; expected"),
    ],
)
def test_values_that_are_not_real_numbers_are_named(loss, match):
    yt, yp = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    with pytest.raises(TypeError, match=match):
        loss.value_and_grad(yt, yp)
