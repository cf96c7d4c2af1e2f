"""fastlstm.losses: values against NumPy formulas and Keras's documented examples, gradients
against finite differences, weights, masks, stability and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import losses
from fastlstm.layers import LSTM, Dense, Input
from fastlstm.models import Sequential

RNG = np.random.default_rng(0)
B, T, C = 4, 3, 5


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def probs(shape):
    return RNG.uniform(0.05, 0.95, shape)


# (loss, y_true, y_pred, per-sample NumPy formula)
def cases():
    yt = RNG.standard_normal((B, C))
    yp = RNG.standard_normal((B, C))
    bin_t = (RNG.random((B, C)) > 0.5).astype(float)
    onehot = np.eye(C)[RNG.integers(0, C, B)]
    labels = RNG.integers(0, C, B)
    p_bin, p_cat = probs((B, C)), softmax(RNG.standard_normal((B, C)))
    z = 2 * RNG.standard_normal((B, C))
    huber = np.where(np.abs(yp - yt) <= 1, 0.5 * (yp - yt) ** 2, np.abs(yp - yt) - 0.5)
    pos_t, pos_p = RNG.uniform(0.1, 3, (B, C)), RNG.uniform(0.1, 3, (B, C))
    return [
        ("mse", losses.MeanSquaredError(), yt, yp, ((yp - yt) ** 2).mean(-1)),
        ("mae", losses.MeanAbsoluteError(), yt, yp, np.abs(yp - yt).mean(-1)),
        ("huber", losses.Huber(), yt, yp, huber.mean(-1)),
        (
            "mape",
            losses.MeanAbsolutePercentageError(),
            yt,
            yp,
            100 * np.abs((yt - yp) / np.abs(yt)).mean(-1),
        ),
        (
            "msle",
            losses.MeanSquaredLogarithmicError(),
            pos_t,
            pos_p,
            ((np.log1p(pos_p) - np.log1p(pos_t)) ** 2).mean(-1),
        ),
        ("log_cosh", losses.LogCosh(), yt, yp, np.log(np.cosh(yp - yt)).mean(-1)),
        (
            "bce",
            losses.BinaryCrossentropy(),
            bin_t,
            p_bin,
            -(bin_t * np.log(p_bin) + (1 - bin_t) * np.log(1 - p_bin)).mean(-1),
        ),
        (
            "bce_logits",
            losses.BinaryCrossentropy(from_logits=True),
            bin_t,
            z,
            -(bin_t * np.log(sigmoid(z)) + (1 - bin_t) * np.log(1 - sigmoid(z))).mean(-1),
        ),
        (
            "cce",
            losses.CategoricalCrossentropy(),
            onehot,
            p_cat * 1.7,  # unnormalised: Keras divides by the sum first
            -(onehot * np.log(p_cat)).sum(-1),
        ),
        (
            "cce_logits",
            losses.CategoricalCrossentropy(from_logits=True),
            onehot,
            z,
            -(onehot * np.log(softmax(z))).sum(-1),
        ),
        (
            "scce",
            losses.SparseCategoricalCrossentropy(),
            labels,
            p_cat,
            -np.log(p_cat[np.arange(B), labels]),
        ),
        (
            "scce_logits",
            losses.SparseCategoricalCrossentropy(from_logits=True),
            labels,
            z,
            -np.log(softmax(z)[np.arange(B), labels]),
        ),
    ]


CASES = cases()
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_matches_numpy_formula(case):
    _, loss, yt, yp, per_sample = case
    assert loss(yt, yp) == pytest.approx(per_sample.mean(), rel=1e-12)
    w = RNG.uniform(0, 2, B)
    assert loss(yt, yp, sample_weight=w) == pytest.approx((per_sample * w).mean(), rel=1e-12)
    none = type(loss)(**{**loss.get_config(), "reduction": "none"})
    np.testing.assert_allclose(none(yt, yp), per_sample, rtol=1e-12)
    total = type(loss)(**{**loss.get_config(), "reduction": "sum"})
    assert total(yt, yp) == pytest.approx(per_sample.sum(), rel=1e-12)


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_finite_differences(case, weighted):
    _, loss, yt, yp, _ = case
    w = RNG.uniform(0.1, 2, B) if weighted else None
    value, grad = loss.value_and_grad(yt, yp.copy(), w)
    assert value == pytest.approx(loss(yt, yp, w), rel=1e-14)
    assert grad.shape == yp.shape
    np.testing.assert_allclose(
        grad, numeric_grad(lambda p: loss(yt, p, w), yp.copy()), rtol=1e-5, atol=1e-8
    )


@pytest.mark.parametrize(
    ("loss", "y_true", "y_pred", "keras"),
    [  # the examples in Keras's documentation of each class
        (losses.MeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [1, 0]], 0.5),
        (losses.MeanAbsoluteError(), [[0, 1], [0, 0]], [[1, 1], [1, 0]], 0.5),
        (losses.Huber(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.155),
        # (100 * (1/2 + 0) / 2 + 100 * (1/2 + 3/3) / 2) / 2
        (losses.MeanAbsolutePercentageError(), [[2, 1], [2, 3]], [[1, 1], [1, 0]], 50.0),
        # log(2)**2 / 2 in each row
        (losses.MeanSquaredLogarithmicError(), [[0, 1], [0, 0]], [[1, 1], [1, 0]], 0.240),
        (losses.LogCosh(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.108),  # log(cosh(1)) / 4
        (losses.BinaryCrossentropy(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.815),
        (
            losses.CategoricalCrossentropy(),
            [[0, 1, 0], [0, 0, 1]],
            [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            1.177,
        ),
        (
            losses.SparseCategoricalCrossentropy(),
            [1, 2],
            [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            1.177,
        ),
    ],
)
def test_keras_documented_values(loss, y_true, y_pred, keras):
    assert loss(np.array(y_true), np.array(y_pred, dtype=np.float32)) == pytest.approx(
        keras, abs=1e-3
    )


def test_sequence_outputs_with_mask_average_over_valid_steps():
    yt, yp = RNG.standard_normal((B, T, C)), RNG.standard_normal((B, T, C))
    mask = RNG.random((B, T)) > 0.4
    mask[0, 0] = True
    per_step = ((yp - yt) ** 2).mean(-1)
    loss = losses.MeanSquaredError()
    assert loss(yt, yp, mask=mask) == pytest.approx(per_step[mask].mean(), rel=1e-12)
    w = RNG.uniform(0, 2, B)  # (B,) weights broadcast over time
    expected = (per_step * w[:, None])[mask].sum() / mask.sum()
    assert loss(yt, yp, w, mask) == pytest.approx(expected, rel=1e-12)
    _, grad = loss.value_and_grad(yt, yp, w, mask)
    assert np.all(grad[~mask] == 0)
    np.testing.assert_allclose(
        grad, numeric_grad(lambda p: loss(yt, p, w, mask), yp.copy()), rtol=1e-5, atol=1e-9
    )


def test_logits_are_stable_at_any_magnitude():
    z = np.array([[-1000.0, 0.0, 1000.0]])
    y = np.array([[1.0, 0.0, 1.0]])
    v, g = losses.BinaryCrossentropy(from_logits=True).value_and_grad(y, z)
    assert v == pytest.approx(1000 / 3 + np.log(2) / 3)  # max(z,0) - z*y + log1p(e^-|z|)
    np.testing.assert_allclose(g, (np.array([[0.0, 0.5, 1.0]]) - y) / 3)
    v, g = losses.SparseCategoricalCrossentropy(from_logits=True).value_and_grad([0], z)
    assert v == pytest.approx(2000.0)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [[-1, 0, 1]], atol=1e-12)


def test_percentage_and_log_losses_at_their_edges():
    # MAPE divides by max(|y_true|, 1e-7): a zero target gives a large, finite value.
    assert losses.MeanAbsolutePercentageError()([[0.0]], [[1.0]]) == pytest.approx(1e9)
    # MSLE floors y_pred at 1e-7: below it the value is flat and no gradient flows.
    value, grad = losses.MeanSquaredLogarithmicError().value_and_grad([[1.0, 1.0]], [[-5.0, 2.0]])
    assert value == pytest.approx((np.log(2) ** 2 + (np.log(3) - np.log(2)) ** 2) / 2, rel=1e-6)
    assert grad[0, 0] == 0
    assert grad[0, 1] == pytest.approx((np.log(3) - np.log(2)) / 3, rel=1e-6)
    # log(cosh(x)) for errors where cosh overflows: |x| - log(2), gradient sign(x) / n.
    value, grad = losses.LogCosh().value_and_grad([[0.0, 0.0]], [[1e4, -1e4]])
    assert value == pytest.approx(1e4 - np.log(2))
    np.testing.assert_allclose(grad, [[0.5, -0.5]])


def test_probabilities_are_clipped_like_keras():
    v = losses.BinaryCrossentropy()(np.array([[1.0]]), np.array([[0.0]]))
    assert v == pytest.approx(-np.log(losses.EPSILON), rel=1e-6)  # finite, not inf
    _, g = losses.BinaryCrossentropy().value_and_grad(np.array([[1.0]]), np.array([[0.0]]))
    assert g[0, 0] == 0  # outside the clip range the gradient is zero, as Keras (TF)


def test_label_smoothing():
    y, p = np.array([[0.0, 1.0]]), np.array([[0.3, 0.7]])
    smooth = y * 0.8 + 0.1
    expected = -(smooth * np.log(p) + (1 - smooth) * np.log(1 - p)).mean()
    assert losses.BinaryCrossentropy(label_smoothing=0.2)(y, p) == pytest.approx(expected)
    smooth = y * 0.8 + 0.2 / 2
    expected = -(smooth * np.log(p)).sum()
    assert losses.CategoricalCrossentropy(label_smoothing=0.2)(y, p) == pytest.approx(expected)


def test_float32_stays_float32():
    yp = RNG.standard_normal((B, C)).astype(np.float32)
    _, g = losses.MeanSquaredError().value_and_grad(np.zeros((B, C)), yp)
    assert g.dtype == np.float32


def test_get_aliases_and_functions():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("MAE"), losses.MeanAbsoluteError)
    assert isinstance(
        losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy
    )
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    assert isinstance(losses.get(losses.binary_crossentropy), losses.BinaryCrossentropy)
    for name in ("bce", "BCE"):  # Keras 3's aliases, refused before (the metric took "bce")
        assert isinstance(losses.get(name), losses.BinaryCrossentropy)
    yt, yp = RNG.standard_normal((B, C)), RNG.standard_normal((B, C))
    np.testing.assert_allclose(losses.mse(yt, yp), ((yp - yt) ** 2).mean(-1))
    for name, cls in [
        ("mape", losses.MeanAbsolutePercentageError),
        ("msle", losses.MeanSquaredLogarithmicError),
        ("log_cosh", losses.LogCosh),
        ("logcosh", losses.LogCosh),
    ]:
        assert isinstance(losses.get(name), cls)
        assert isinstance(losses.get(getattr(losses, name)), cls)
        assert isinstance(losses.deserialize(losses.serialize(cls())), cls)
    np.testing.assert_allclose(losses.log_cosh(yt, yp), np.log(np.cosh(yp - yt)).mean(-1))
    spec = losses.serialize(losses.Huber(delta=2.0))
    clone = losses.deserialize(spec)
    assert isinstance(clone, losses.Huber)
    assert clone.delta == 2.0


def test_every_class_name_and_function_name_gives_that_loss():
    """Keras 3 takes a loss's class name ("MeanSquaredError") as metrics' (which fastlstm's
    metrics took and its losses refused), and its function's name."""
    functions = {k: v for k, v in vars(losses).items() if hasattr(v, "loss_class")}
    assert {fn.loss_class for fn in functions.values()} == set(losses._CLASSES.values())
    yt, labels = RNG.uniform(0.1, 0.9, (B, C)), RNG.integers(0, C, B)
    yp = RNG.uniform(0.1, 0.9, (B, C))
    for name, cls in losses._CLASSES.items():
        loss = losses.get(name)
        assert type(loss) is cls
        y = labels if cls.sparse else yt
        assert loss(y, yp) == cls()(y, yp)
    for name, fn in functions.items():
        assert type(losses.get(name)) is fn.loss_class, name
        assert type(losses.get(fn)) is fn.loss_class, name
    with pytest.raises(ValueError, match=r"class name in \['BinaryCrossentropy'"):
        losses.get("MeanSquaredErrors")


def test_compile_takes_a_loss_class_name():
    x, y = RNG.standard_normal((8, 3, 2)), RNG.standard_normal((8, 1))
    values = []
    for loss in ("MeanSquaredError", losses.MeanSquaredError(), "Huber", losses.Huber()):
        model = Sequential([Input((3, 2)), LSTM(2), Dense(1)], seed=0)
        model.compile("sgd", loss)
        values.append(model.evaluate(x, y, verbose=0))
    assert values[0] == values[1]
    assert values[2] == values[3]


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: losses.get("msee"), ValueError, r"loss: expected .* got 'msee'"),
        (lambda: losses.get(42), ValueError, "loss: expected"),
        (
            lambda: losses.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 2))),
            ValueError,
            r"y_true: expected shape \(4, 2\) .* got \(4, 3\)",
        ),
        (
            lambda: losses.SparseCategoricalCrossentropy()(np.array([0, 5]), np.ones((2, 5)) / 5),
            ValueError,
            r"y_true: expected labels in \[0, 5\) .* got 5",
        ),
        (
            lambda: losses.SparseCategoricalCrossentropy()(np.array([0, -1]), np.ones((2, 5)) / 5),
            ValueError,
            r"labels in \[0, 5\).*got -1",
        ),
        (
            lambda: losses.SparseCategoricalCrossentropy()(np.array([0.5, 1]), np.ones((2, 5))),
            TypeError,
            "y_true: expected integer labels",
        ),
        (  # had been "got non-whole floats"
            lambda: losses.SparseCategoricalCrossentropy()(np.array([0, np.nan]), np.ones((2, 5))),
            ValueError,
            "y_true: expected integer labels for sparse_categorical_crossentropy, got nan",
        ),
        (
            lambda: losses.SparseCategoricalCrossentropy()(np.zeros((2, 3)), np.ones((2, 5))),
            ValueError,
            r"y_true: expected integer labels of shape \(2,\)",
        ),
        (
            lambda: losses.MeanSquaredError()(np.zeros(4), np.zeros((4, 1)), np.ones(3)),
            ValueError,
            r"sample_weight: expected shape \(4,\)",
        ),
        (lambda: losses.MeanSquaredError(reduction="mean_all"), ValueError, "reduction"),
        (lambda: losses.BinaryCrossentropy(from_logits="yes"), TypeError, "from_logits"),
        (lambda: losses.Huber(delta=0), ValueError, "delta"),
        (lambda: losses.Huber(delta=float("inf")), ValueError, "delta: expected a finite"),
        (lambda: losses.Huber(delta="1"), TypeError, "delta: expected a finite number, got '1'"),
        (lambda: losses.BinaryCrossentropy(label_smoothing="0.5"), TypeError, "label_smoothing"),
        (lambda: losses.CategoricalCrossentropy(label_smoothing=1.5), ValueError, r"\[0, 1\]"),
        (lambda: losses.MeanSquaredError(name=7), TypeError, "name: expected a str or None"),
        (lambda: losses.deserialize({"class_name": "os.system"}), ValueError, "class name"),
    ],
)
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_summed_and_unreduced_losses_only_zero_masked_steps(reduction):
    """Keras rescales a mask only for the mean over the batch; a sum or per-value loss just
    drops the masked values."""
    yt, yp = RNG.standard_normal((3, 4, 2)), RNG.standard_normal((3, 4, 2))
    mask = RNG.random((3, 4)) > 0.4
    mask[0, 0] = True
    per_step = ((yp - yt) ** 2).mean(-1)
    loss = losses.MeanSquaredError(reduction=reduction)
    got = loss(yt, yp, mask=mask)
    if reduction == "none":
        np.testing.assert_allclose(got, per_step * mask, rtol=1e-12)
        return
    assert got == pytest.approx(per_step[mask].sum(), rel=1e-12)
    _, grad = loss.value_and_grad(yt, yp, None, mask)
    np.testing.assert_allclose(
        grad, numeric_grad(lambda p: loss(yt, p, None, mask), yp.copy()), rtol=1e-5, atol=1e-9
    )


def test_one_weight_per_sample_may_carry_trailing_unit_axes():
    yt, yp = RNG.standard_normal((3, 4, 2)), RNG.standard_normal((3, 4, 2))
    w = RNG.uniform(0, 2, 3)
    loss = losses.MeanSquaredError()
    assert loss(yt, yp, w[:, None]) == pytest.approx(loss(yt, yp, w), rel=1e-15)
    assert loss(yt, yp, w[:, None, None]) == pytest.approx(loss(yt, yp, w), rel=1e-15)
