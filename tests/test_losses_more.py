"""Keras 3's Poisson, KLDivergence, CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge,
BinaryFocalCrossentropy and CategoricalFocalCrossentropy (fastlstm/_losses_more.py, registered
in fastlstm.losses): values against the formula written out in NumPy and Keras's documented
numbers, gradients against central differences and torch autograd of the same formula written
in torch (and torch's own poisson_nll_loss, kl_div and cosine_similarity where they agree),
at kinks and clips as well; weights, reductions, masks, an axis, training, names, files and
bad arguments."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from fastlstm import losses, optimizers, saving
from fastlstm.layers import LSTM, Dense, Embedding, Input, Masking
from fastlstm.models import Sequential
from test_losses import numeric_grad

B, T, C = 4, 3, 5
EPS = 1e-7


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# ---- each formula written out in NumPy (per-sample values) ----


def np_poisson(y, p):
    return (p - y * np.log(p + EPS)).mean(-1)


def np_kld(y, p):
    y, p = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    return (y * np.log(y / p)).sum(-1)


def np_l2_normalize(x, axis):  # Keras 3's ops.normalize: x * min(rsqrt(sum(x**2)), 1 / 1e-7)
    with np.errstate(divide="ignore"):
        return x * np.minimum(1 / np.sqrt(np.square(x).sum(axis, keepdims=True)), 1 / EPS)


def np_cosine(y, p, axis=-1):
    return -(np_l2_normalize(y, axis) * np_l2_normalize(p, axis)).sum(axis)


def np_hinge_labels(y):
    return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


def np_hinge(y, p):
    return np.maximum(1 - np_hinge_labels(y) * p, 0).mean(-1)


def np_squared_hinge(y, p):
    return np.square(np.maximum(1 - np_hinge_labels(y) * p, 0)).mean(-1)


def np_categorical_hinge(y, p):
    return np.maximum(((1 - y) * p).max(-1) - (y * p).sum(-1) + 1, 0)


def np_binary_focal(y, p, balance=False, alpha=0.25, gamma=2.0, logits=False, smooth=0.0, axis=-1):
    if smooth:
        y = y * (1 - smooth) + 0.5 * smooth
    if logits:
        p = 1 / (1 + np.exp(-p))
    c = np.clip(p, EPS, 1 - EPS)
    bce = -(y * np.log(c) + (1 - y) * np.log(1 - c))
    focal = (1 - (y * p + (1 - y) * (1 - p))) ** gamma * bce
    if balance:
        focal = (y * alpha + (1 - y) * (1 - alpha)) * focal
    return focal.mean(axis)


def np_categorical_focal(y, p, alpha=0.25, gamma=2.0, logits=False, smooth=0.0, axis=-1):
    if smooth:
        y = y * (1 - smooth) + smooth / y.shape[-1]
    if logits:
        p = softmax(p, axis)
    c = np.clip(p / p.sum(axis, keepdims=True), EPS, 1 - EPS)
    return (np.multiply((1 - c) ** gamma, alpha) * -y * np.log(c)).sum(axis)


# ---- the same formulas in torch, for its autograd ----


def t_poisson(torch, y, p):
    return (p - y * torch.log(p + EPS)).mean(-1)


def t_kld(torch, y, p):
    y, p = torch.clamp(y, EPS, 1), torch.clamp(p, EPS, 1)
    return (y * torch.log(y / p)).sum(-1)


def t_l2_normalize(torch, x, axis):
    cap = torch.tensor(1 / EPS, dtype=x.dtype)
    return x * torch.minimum(torch.rsqrt(torch.square(x).sum(axis, keepdim=True)), cap)


def t_cosine(torch, y, p, axis=-1):
    return -(t_l2_normalize(torch, y, axis) * t_l2_normalize(torch, p, axis)).sum(axis)


def t_hinge_labels(torch, y):
    return 2 * y - 1 if bool(torch.all((y == 0) | (y == 1))) else y


def t_hinge(torch, y, p):
    m = 1 - t_hinge_labels(torch, y) * p
    return torch.maximum(m, torch.zeros_like(m)).mean(-1)


def t_squared_hinge(torch, y, p):
    m = 1 - t_hinge_labels(torch, y) * p
    return torch.square(torch.maximum(m, torch.zeros_like(m))).mean(-1)


def t_categorical_hinge(torch, y, p):
    m = torch.amax((1 - y) * p, -1) - (y * p).sum(-1) + 1
    return torch.maximum(m, torch.zeros_like(m))


def t_binary_focal(torch, y, p, balance=False, alpha=0.25, gamma=2.0, logits=False, smooth=0.0):
    if smooth:
        y = y * (1 - smooth) + 0.5 * smooth
    if logits:
        p = torch.sigmoid(p)
    c = torch.clamp(p, EPS, 1 - EPS)
    bce = -(y * torch.log(c) + (1 - y) * torch.log(1 - c))
    focal = torch.pow(1 - (y * p + (1 - y) * (1 - p)), gamma) * bce
    if balance:
        focal = (y * alpha + (1 - y) * (1 - alpha)) * focal
    return focal.mean(-1)


def t_categorical_focal(torch, y, p, alpha=0.25, gamma=2.0, logits=False, smooth=0.0):
    if smooth:
        y = y * (1 - smooth) + smooth / y.shape[-1]
    if logits:
        p = torch.softmax(p, -1)
    c = torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1 - EPS)
    alpha = torch.as_tensor(alpha, dtype=p.dtype)
    return (torch.pow(1 - c, gamma) * alpha * -y * torch.log(c)).sum(-1)


# ---- data away from kinks and clips, for any shape (..., C) ----


def counts_and_rates(rng, shape):
    return rng.poisson(2.0, shape).astype(float), rng.uniform(0.2, 4.0, shape)


def distributions(rng, shape):
    return softmax(rng.standard_normal(shape)), softmax(rng.standard_normal(shape))


def vectors(rng, shape):
    return rng.standard_normal(shape), rng.standard_normal(shape)


def hinge_data(signed):
    """Labels 0/1 (or -1/1) and predictions whose margins 1 - y*p lie in +-[0.1, 1.2]."""

    def make(rng, shape):
        y01 = rng.integers(0, 2, shape).astype(float)
        pm = 2 * y01 - 1
        margin = rng.uniform(0.1, 1.2, shape) * rng.choice([-1.0, 1.0], shape)
        return (pm if signed else y01), (1 - margin) * pm

    return make


def one_hot_scores(rng, shape):
    y = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    p = rng.standard_normal(shape)
    margin = ((1 - y) * p).max(-1) - (y * p).sum(-1) + 1
    p += 0.2 * y * (np.abs(margin) < 0.05)[..., None]  # off the kink at 0
    return y, p


def binary_probs(rng, shape):
    return rng.integers(0, 2, shape).astype(float), rng.uniform(0.05, 0.95, shape)


def binary_logits(rng, shape):
    return rng.integers(0, 2, shape).astype(float), 2 * rng.standard_normal(shape)


def one_hot_probs(rng, shape):
    y = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    return y, 1.3 * softmax(rng.standard_normal(shape))  # unnormalised: divided by the sum


def one_hot_logits(rng, shape):
    y = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    return y, 2 * rng.standard_normal(shape)


ALPHAS = [0.1, 0.2, 0.3, 0.4, 0.5]  # one per class (C = 5)
# id: (the loss, its data, the NumPy formula, the torch formula), both formulas (y, p)
CASES = {
    "poisson": (losses.Poisson, counts_and_rates, np_poisson, t_poisson),
    "kld": (losses.KLDivergence, distributions, np_kld, t_kld),
    "cosine": (losses.CosineSimilarity, vectors, np_cosine, t_cosine),
    "hinge01": (losses.Hinge, hinge_data(False), np_hinge, t_hinge),
    "hinge_pm1": (losses.Hinge, hinge_data(True), np_hinge, t_hinge),
    "squared_hinge01": (losses.SquaredHinge, hinge_data(False), np_squared_hinge, t_squared_hinge),
    "squared_hinge_pm1": (
        losses.SquaredHinge,
        hinge_data(True),
        np_squared_hinge,
        t_squared_hinge,
    ),
    "categorical_hinge": (
        losses.CategoricalHinge,
        one_hot_scores,
        np_categorical_hinge,
        t_categorical_hinge,
    ),
    "binary_focal": (losses.BinaryFocalCrossentropy, binary_probs, np_binary_focal, t_binary_focal),
    "binary_focal_options": (
        functools.partial(
            losses.BinaryFocalCrossentropy,
            apply_class_balancing=True,
            alpha=0.4,
            gamma=1.5,
            from_logits=True,
            label_smoothing=0.1,
        ),
        binary_logits,
        functools.partial(
            np_binary_focal, balance=True, alpha=0.4, gamma=1.5, logits=True, smooth=0.1
        ),
        functools.partial(
            t_binary_focal, balance=True, alpha=0.4, gamma=1.5, logits=True, smooth=0.1
        ),
    ),
    "categorical_focal": (
        losses.CategoricalFocalCrossentropy,
        one_hot_probs,
        np_categorical_focal,
        t_categorical_focal,
    ),
    "categorical_focal_options": (
        functools.partial(
            losses.CategoricalFocalCrossentropy,
            alpha=ALPHAS,
            gamma=3.0,
            from_logits=True,
            label_smoothing=0.2,
        ),
        one_hot_logits,
        functools.partial(np_categorical_focal, alpha=ALPHAS, gamma=3.0, logits=True, smooth=0.2),
        functools.partial(t_categorical_focal, alpha=ALPHAS, gamma=3.0, logits=True, smooth=0.2),
    ),
}
IDS = list(CASES)


def case(name, shape=(B, C), seed=0):
    make, data, np_fn, t_fn = CASES[name]
    yt, yp = data(np.random.default_rng(seed), shape)
    return make, yt, yp, np_fn, t_fn


def with_options(loss, **changes):
    return type(loss)(**{**loss.get_config(), **changes})


@pytest.mark.parametrize("name", IDS)
def test_values_match_the_numpy_formula_under_every_reduction(name):
    make, yt, yp, np_fn, _ = case(name)
    loss, per_sample = make(), np_fn(yt, yp)
    w = np.random.default_rng(1).uniform(0, 2, B)
    assert loss(yt, yp) == pytest.approx(per_sample.mean(), rel=1e-12)
    assert loss(yt, yp, sample_weight=w) == pytest.approx((per_sample * w).mean(), rel=1e-12)
    np.testing.assert_allclose(with_options(loss, reduction="none")(yt, yp), per_sample, rtol=1e-12)
    none = with_options(loss, reduction=None)  # Keras 3's other spelling
    np.testing.assert_allclose(none(yt, yp, w), per_sample * w, rtol=1e-12)
    total = with_options(loss, reduction="sum")
    assert total(yt, yp, w) == pytest.approx((per_sample * w).sum(), rel=1e-12)
    function = getattr(losses, type(loss).name)  # Keras's function: per-sample values
    options = {k: v for k, v in loss.get_config().items() if k not in ("reduction", "name")}
    np.testing.assert_allclose(function(yt, yp, **options), per_sample, rtol=1e-12)


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_gradients_match_central_differences(name, weighted):
    make, yt, yp, _, _ = case(name)
    loss = make()
    w = np.random.default_rng(2).uniform(0.1, 2, B) if weighted else None
    value, grad = loss.value_and_grad(yt, yp.copy(), w)
    assert value == pytest.approx(loss(yt, yp, w), rel=1e-14)
    assert grad.shape == yp.shape
    assert grad.dtype == np.float64
    np.testing.assert_allclose(
        grad, numeric_grad(lambda p: loss(yt, p, w), yp.copy()), rtol=1e-5, atol=1e-8
    )


def torch_value_and_grad(torch, t_fn, yt, yp, w=None, reduction="sum_over_batch_size"):
    """The loss and dL/dy_pred by torch autograd of the formula t_fn written in torch."""
    y = torch.tensor(yt, dtype=torch.float64)
    p = torch.tensor(yp, dtype=torch.float64, requires_grad=True)
    values = t_fn(torch, y, p)
    if w is not None:
        values = values * torch.tensor(w, dtype=torch.float64).reshape(
            -1, *[1] * (values.dim() - 1)
        )
    total = values.sum() / (values.numel() if reduction == "sum_over_batch_size" else 1)
    total.backward()
    return total.item(), p.grad.numpy()


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_gradients_match_torch_autograd_of_the_same_formula(torch, name, reduction):
    make, yt, yp, _, t_fn = case(name, (B, T, C))
    loss = with_options(make(), reduction=reduction)
    w = np.random.default_rng(3).uniform(0.1, 2, B)
    value, grad = loss.value_and_grad(yt, yp, w)
    theirs, their_grad = torch_value_and_grad(torch, t_fn, yt, yp, w, reduction)
    assert value == pytest.approx(theirs, rel=1e-12)
    np.testing.assert_allclose(grad, their_grad, rtol=1e-10, atol=1e-15)


# At kinks and clips, the gradient is what torch's autograd gives: clamp passes it at the
# bound itself and stops it beyond, maximum(a, 0) splits a tie in half, amax shares a tie.
EDGES = [
    ("hinge_at_zero_margin", losses.Hinge(), [[1.0, -1.0, 1.0]], [[1.0, -1.0, 0.5]], t_hinge),
    (
        "squared_hinge_at_zero_margin",
        losses.SquaredHinge(),
        [[1.0, -1.0, 1.0]],
        [[1.0, -1.0, 0.5]],
        t_squared_hinge,
    ),
    (
        "categorical_hinge_ties",
        losses.CategoricalHinge(),
        [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]],
        [[0.7, 0.2, 0.7, 0.1], [1.0, 0.0, 0.0, -1.0]],  # a tied max; a margin of exactly 0
        t_categorical_hinge,
    ),
    (
        "kld_clips",
        losses.KLDivergence(),
        [[0.2, 0.3, 0.1, 0.25, 0.15, 0.0]],
        [[0.0, EPS, 1.0, 1.3, 0.5, 0.2]],
        t_kld,
    ),
    (
        "binary_focal_clips",
        losses.BinaryFocalCrossentropy(),
        [[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]],
        [[0.0, 0.0, EPS, 1.0, 1.0, 1 - EPS]],
        t_binary_focal,
    ),
    (
        "binary_focal_saturated_logits",
        losses.BinaryFocalCrossentropy(from_logits=True, gamma=2.5),
        [[1.0, 0.0, 1.0, 0.0, 1.0]],
        [[-40.0, -17.0, 17.0, 40.0, 0.0]],
        functools.partial(t_binary_focal, logits=True, gamma=2.5),
    ),
    (
        "categorical_focal_clips",
        losses.CategoricalFocalCrossentropy(),
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
        [[0.0, 1.0, 0.0], [0.2, 0.0, 0.8]],
        t_categorical_focal,
    ),
    (
        "cosine_below_the_norm_floor",
        losses.CosineSimilarity(),
        [[1.0, 2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 0.5, 0.0]],
        [[3e-9, -1e-9, 2e-9], [1.0, 2.0, 3.0], [0.3, -0.2, 0.1]],
        t_cosine,
    ),
]


@pytest.mark.parametrize(
    ("loss", "yt", "yp", "t_fn"), [e[1:] for e in EDGES], ids=[e[0] for e in EDGES]
)
def test_gradients_at_kinks_and_clips_are_torch_autograds(torch, loss, yt, yp, t_fn):
    yt, yp = np.array(yt), np.array(yp)
    value, grad = loss.value_and_grad(yt, yp)
    theirs, their_grad = torch_value_and_grad(torch, t_fn, yt, yp)
    assert np.isfinite(value)
    assert value == pytest.approx(theirs, rel=1e-12)
    np.testing.assert_allclose(grad, their_grad, rtol=1e-10, atol=1e-15)


def test_hinge_ties_and_clip_edges_are_as_documented():
    _, g = losses.Hinge().value_and_grad([[1.0, -1.0]], [[1.0, -1.0]])
    np.testing.assert_array_equal(g, [[-0.25, 0.25]])  # half of -y / C at margin 0
    _, g = losses.KLDivergence().value_and_grad([[0.5, 0.5, 0.5]], [[1.0, 2.0, 0.0]])
    np.testing.assert_array_equal(g, [[-0.5, 0.0, 0.0]])  # passes at 1, stops beyond, below
    _, g = losses.CategoricalHinge().value_and_grad([[0.0, 1.0, 0.0]], [[0.5, 0.0, 0.5]])
    np.testing.assert_array_equal(g, [[0.5, -1.0, 0.5]])  # the tied max shares its gradient


def test_cosine_of_a_zero_prediction_is_zero_with_the_floors_gradient():
    """Keras's normalize scales a zero vector by 1e7 (giving 0). Autodiff of its formula gives
    nan there (rsqrt(0) is inf); fastlstm gives the gradient of every vector below the floor,
    -1e7 * l2_normalize(y_true) / n."""
    yt = np.array([[3.0, 4.0]])
    value, grad = losses.CosineSimilarity().value_and_grad(yt, np.zeros((1, 2)))
    assert value == 0
    np.testing.assert_allclose(grad, -1e7 * yt / 5, rtol=1e-12)
    _, tiny = losses.CosineSimilarity().value_and_grad(yt, np.array([[1e-12, -2e-12]]))
    np.testing.assert_allclose(grad, tiny, rtol=1e-12)
    assert losses.CosineSimilarity()(np.zeros((1, 2)), yt) == 0  # a zero y_true too


def test_torch_functions_that_are_the_same_loss(torch):
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    y, p = counts_and_rates(rng, (B, C))
    rates = torch.tensor(p, requires_grad=True)
    theirs = F.poisson_nll_loss(
        rates, torch.tensor(y), log_input=False, full=False, eps=EPS, reduction="none"
    ).mean(-1)
    np.testing.assert_allclose(losses.poisson(y, p), theirs.detach().numpy(), rtol=1e-12)
    theirs.mean().backward()
    np.testing.assert_allclose(losses.Poisson().value_and_grad(y, p)[1], rates.grad, rtol=1e-12)

    y, p = distributions(rng, (B, C))
    y[0, 0], p[1, 1] = 0.0, 0.0  # clipped to 1e-7, as Keras; kl_div takes them clipped
    probs = torch.tensor(p, requires_grad=True)
    theirs = F.kl_div(
        torch.log(torch.clamp(probs, EPS, 1)), torch.tensor(np.clip(y, EPS, 1)), reduction="none"
    ).sum(-1)
    np.testing.assert_allclose(losses.kl_divergence(y, p), theirs.detach().numpy(), rtol=1e-10)
    theirs.mean().backward()
    np.testing.assert_allclose(
        losses.KLDivergence().value_and_grad(y, p)[1], probs.grad, rtol=1e-12
    )

    # torch's eps is another rule (on the product of the norms): compare far from zero only
    y, p = vectors(rng, (B, T, C))
    vec = torch.tensor(p, requires_grad=True)
    theirs = -F.cosine_similarity(torch.tensor(y), vec, dim=-1)
    np.testing.assert_allclose(losses.cosine_similarity(y, p), theirs.detach().numpy(), rtol=1e-12)
    theirs.mean().backward()
    np.testing.assert_allclose(
        losses.CosineSimilarity().value_and_grad(y, p)[1], vec.grad, rtol=1e-10, atol=1e-15
    )


@pytest.mark.parametrize("name", IDS)
def test_a_time_mask_leaves_out_padded_steps(name):
    make, yt, yp, np_fn, _ = case(name, (B, T, C), seed=5)
    loss = make()
    mask = np.random.default_rng(6).random((B, T)) > 0.4
    mask[0, 0] = True
    w = np.random.default_rng(7).uniform(0.1, 2, B)
    per_step = np_fn(yt, yp)
    expected = (per_step * w[:, None])[mask].sum() / mask.sum()
    assert loss(yt, yp, w, mask) == pytest.approx(expected, rel=1e-12)
    _, grad = loss.value_and_grad(yt, yp, w, mask)
    assert np.all(grad[~mask] == 0)
    np.testing.assert_allclose(
        grad, numeric_grad(lambda p: loss(yt, p, w, mask), yp.copy()), rtol=1e-5, atol=1e-9
    )
    summed = with_options(loss, reduction="sum")
    assert summed(yt, yp, w, mask) == pytest.approx(expected * mask.sum(), rel=1e-12)


@pytest.mark.parametrize(
    ("loss", "np_fn"),
    [
        (losses.CosineSimilarity(axis=1), functools.partial(np_cosine, axis=1)),
        (
            losses.BinaryFocalCrossentropy(axis=1, from_logits=True),
            functools.partial(np_binary_focal, logits=True, axis=1),
        ),
        (
            losses.CategoricalFocalCrossentropy(axis=-2, from_logits=True, gamma=1.0),
            functools.partial(np_categorical_focal, gamma=1.0, logits=True, axis=-2),
        ),
    ],
    ids=["cosine", "binary_focal", "categorical_focal"],
)
def test_an_axis_other_than_the_last(loss, np_fn):
    rng = np.random.default_rng(8)
    yp = rng.standard_normal((B, C, T))
    yt = np.eye(C)[rng.integers(0, C, (B, T))].transpose(0, 2, 1)  # one-hot along axis 1
    if isinstance(loss, losses.BinaryFocalCrossentropy):
        yt = (yt > 0).astype(float)
    w = rng.uniform(0.1, 2, B)
    per_sample = np_fn(yt, yp)
    assert per_sample.shape == (B, T)
    assert loss(yt, yp, w) == pytest.approx((per_sample * w[:, None]).mean(), rel=1e-12)
    value, grad = loss.value_and_grad(yt, yp, w)
    np.testing.assert_allclose(
        grad, numeric_grad(lambda p: loss(yt, p, w), yp.copy()), rtol=1e-5, atol=1e-9
    )
    moved = with_options(loss, axis=-1)  # the same loss on the data with that axis last
    v, g = moved.value_and_grad(np.moveaxis(yt, 1, -1), np.moveaxis(yp, 1, -1), w)
    assert value == pytest.approx(v, rel=1e-12)
    np.testing.assert_allclose(grad, np.moveaxis(g, -1, 1), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("loss", "y_true", "y_pred", "keras"),
    [  # the numbers in Keras 3's docstrings and tests (keras/src/losses/losses*.py)
        (losses.Hinge(reduction=None), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1.1, 1.5]),
        (losses.Hinge(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.3),
        (losses.SquaredHinge(None), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1.46, 2.26]),
        (losses.CategoricalHinge(None), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1.2, 1.6]),
        (
            losses.CosineSimilarity(reduction=None),
            [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
            [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]],
            [-0.0, -0.99999994, 0.99999994],
        ),
        (
            losses.BinaryFocalCrossentropy(gamma=2, from_logits=True),
            [0, 1, 0, 0],
            [-18.6, 0.51, 2.94, -12.8],
            0.691,
        ),
        (
            losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2, from_logits=True),
            [0, 1, 0, 0],
            [-18.6, 0.51, 2.94, -12.8],
            0.51,
        ),
        (
            losses.BinaryFocalCrossentropy(gamma=3, from_logits=True),
            [[0, 1], [0, 0]],
            [[-18.6, 0.51], [2.94, -12.8]],
            0.647,
        ),
        (
            losses.BinaryFocalCrossentropy(gamma=5, from_logits=True, reduction=None),
            [[0, 1], [0, 0]],
            [[-18.6, 0.51], [2.94, -12.8]],
            [0.0017, 1.1561],
        ),
        (
            losses.BinaryFocalCrossentropy(True, gamma=5, from_logits=True, reduction=None),
            [[0, 1], [0, 0]],
            [[-18.6, 0.51], [2.94, -12.8]],
            [0.0004, 0.8670],
        ),
        (
            losses.BinaryFocalCrossentropy(gamma=2, reduction=None),
            [[0, 1], [0, 0]],
            [[0.6, 0.4], [0.4, 0.6]],
            [0.330, 0.206],
        ),
        (
            losses.CategoricalFocalCrossentropy(),
            [[0, 1, 0], [0, 0, 1]],
            [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            0.23315276,
        ),
        (
            losses.CategoricalFocalCrossentropy(reduction=None),
            [[0, 1, 0], [0, 0, 1]],
            [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            [3.2058331e-05, 4.6627346e-01],
        ),
        (
            losses.CategoricalFocalCrossentropy(reduction=None),
            [[0, 1, 0], [0, 0, 1]],
            [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]],
            [2.63401289e-04, 6.75912094e-01],
        ),
    ],
)
def test_keras_documented_values(loss, y_true, y_pred, keras):
    got = loss(np.array(y_true), np.array(y_pred, dtype=np.float32))
    np.testing.assert_allclose(got, keras, rtol=1e-3, atol=1e-4)


def test_keras_documented_weighted_values():
    yt, z = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]], np.float32)
    focal = losses.BinaryFocalCrossentropy(gamma=3, from_logits=True)
    assert focal(yt, z, sample_weight=[0.8, 0.2]) == pytest.approx(0.133, abs=1e-3)
    balanced = losses.BinaryFocalCrossentropy(True, gamma=4, from_logits=True, reduction="sum")
    assert balanced(yt, z) == pytest.approx(0.914, abs=1e-3)
    yt, p = np.array([[0, 1, 0], [0, 0, 1]]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    cfocal = losses.CategoricalFocalCrossentropy()
    assert cfocal(yt, p, np.array([0.3, 0.7])) == pytest.approx(0.1632, abs=1e-4)


def test_hinge_converts_labels_only_when_the_whole_batch_is_zero_one():
    p = np.array([[0.5, -0.5], [2.0, 0.0]])
    binary = np.array([[0.0, 1.0], [1.0, 0.0]])
    signed = 2 * binary - 1
    np.testing.assert_allclose(losses.hinge(signed, p), [1.5, 0.5], rtol=1e-15)
    np.testing.assert_array_equal(losses.hinge(binary, p), losses.hinge(signed, p))
    mixed = np.array([[0.0, 1.0], [-1.0, 1.0]])  # a -1 among the 0/1: nothing converted
    np.testing.assert_allclose(losses.hinge(mixed, p), np.maximum(1 - mixed * p, 0).mean(-1))
    ones = np.ones((2, 2))  # all 1: "binary", 2*1 - 1 = 1 either way
    np.testing.assert_allclose(losses.squared_hinge(ones, p), np_squared_hinge(ones, p))
    zeros = np.zeros((1, 2))  # all 0: -1
    np.testing.assert_allclose(losses.hinge(zeros, p[:1]), [(1.5 + 0.5) / 2])


def test_focal_losses_without_focus_are_the_crossentropies():
    rng = np.random.default_rng(9)
    y, p = binary_probs(rng, (B, C))
    assert losses.BinaryFocalCrossentropy(gamma=0)(y, p) == pytest.approx(
        losses.BinaryCrossentropy()(y, p), rel=1e-12
    )
    y, z = binary_logits(rng, (B, C))
    assert losses.BinaryFocalCrossentropy(gamma=0, from_logits=True)(y, z) == pytest.approx(
        losses.BinaryCrossentropy(from_logits=True)(y, z), rel=1e-10
    )
    y, p = one_hot_probs(rng, (B, C))
    focal = losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=0.0)
    assert focal(y, p) == pytest.approx(losses.CategoricalCrossentropy()(y, p), rel=1e-12)
    np.testing.assert_allclose(
        focal.value_and_grad(y, p)[1],
        losses.CategoricalCrossentropy().value_and_grad(y, p)[1],
        rtol=1e-12,
    )


@pytest.mark.parametrize("name", IDS)
def test_float32_stays_float32(name):
    make, yt, yp, np_fn, _ = case(name)
    value, grad = make().value_and_grad(yt, yp.astype(np.float32))
    assert grad.dtype == np.float32
    assert value == pytest.approx(np_fn(yt, yp).mean(), rel=1e-5, abs=1e-6)


# ---- through a model ----


def one_hot_argmax(s):
    return np.eye(C)[s.argmax(-1)]


TRAINING = [  # (loss name, output activation, targets (..., C) from a signal s (..., C))
    ("poisson", "softplus", lambda s: np.floor(np.exp(s) + 0.5)),
    ("kld", "softmax", lambda s: softmax(2 * s)),
    ("cosine_similarity", "linear", lambda s: s),
    ("hinge", "tanh", lambda s: (s > 0) * 1.0),
    ("squared_hinge", "tanh", lambda s: (s > 0) * 1.0),
    ("categorical_hinge", "linear", one_hot_argmax),
    ("binary_focal_crossentropy", "sigmoid", lambda s: (s > 0) * 1.0),
    ("categorical_focal_crossentropy", "softmax", one_hot_argmax),
]
TARGETS = {name: targets for name, _, targets in TRAINING}


@pytest.mark.parametrize(("name", "activation", "targets"), TRAINING, ids=[t[0] for t in TRAINING])
def test_a_model_compiled_with_it_by_name_learns(name, activation, targets):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((32, T, 3))
    y = targets(2 * x.mean(1) @ rng.standard_normal((3, C)))  # a signal the model can learn
    model = Sequential([Input((T, 3)), LSTM(8), Dense(C, activation=activation)], seed=0)
    model.compile(optimizers.Adam(0.02), name)
    assert type(model.loss) is type(losses.get(name))
    history = model.fit(x, y, batch_size=8, epochs=8, verbose=0, shuffle=False)
    first, last = history.history["loss"][0], history.history["loss"][-1]
    assert last < first - 0.25 * abs(first)


FORMULAS = {
    "poisson": np_poisson,
    "kld": np_kld,
    "cosine_similarity": np_cosine,
    "hinge": np_hinge,
    "squared_hinge": np_squared_hinge,
    "categorical_hinge": np_categorical_hinge,
    "binary_focal_crossentropy": np_binary_focal,
    "categorical_focal_crossentropy": np_categorical_focal,
}


@pytest.mark.parametrize(("name", "activation", "targets"), TRAINING, ids=[t[0] for t in TRAINING])
def test_a_models_mask_and_sample_weights_reach_the_loss(name, activation, targets):
    """Embedding(mask_zero) masks padded steps: the loss is the weighted sum over the others
    divided by their number, and training on it lowers it."""
    rng = np.random.default_rng(11)
    tokens = rng.integers(1, 9, (6, T))
    tokens[:, 2:] = 0
    tokens[0, 2] = 5
    y = targets(rng.standard_normal((6, T, C)))
    model = Sequential(
        [
            Input((T,)),
            Embedding(9, 3, mask_zero=True, dtype="float64"),
            LSTM(4, return_sequences=True, dtype="float64"),
            Dense(C, activation=activation, dtype="float64"),
        ],
        seed=1,
    )
    model.compile(optimizers.Adam(0.05), name)
    w = rng.uniform(0.5, 2, 6)
    got = model.evaluate(tokens, y, batch_size=6, sample_weight=w, verbose=0)
    per_step = FORMULAS[name](y, model.predict(tokens, verbose=0))
    mask = tokens != 0
    assert got == pytest.approx((per_step * w[:, None])[mask].sum() / mask.sum(), rel=1e-12)
    history = model.fit(tokens, y, batch_size=6, epochs=6, sample_weight=w, verbose=0)
    assert history.history["loss"][0] == pytest.approx(got, rel=1e-12)
    assert history.history["loss"][-1] < history.history["loss"][0]


# ---- names, configs and files ----

NAMES = {  # Keras 3's keras.losses.get names: function names, aliases, class names
    losses.Poisson: ["poisson", "Poisson"],
    losses.KLDivergence: ["kl_divergence", "kld", "KLD", "KLDivergence"],
    losses.CosineSimilarity: ["cosine_similarity", "CosineSimilarity"],
    losses.Hinge: ["hinge", "Hinge"],
    losses.SquaredHinge: ["squared_hinge", "SquaredHinge"],
    losses.CategoricalHinge: ["categorical_hinge", "CategoricalHinge"],
    losses.BinaryFocalCrossentropy: ["binary_focal_crossentropy", "BinaryFocalCrossentropy"],
    losses.CategoricalFocalCrossentropy: [
        "categorical_focal_crossentropy",
        "CategoricalFocalCrossentropy",
    ],
}


@pytest.mark.parametrize("cls", list(NAMES), ids=[c.__name__ for c in NAMES])
def test_names_functions_and_classes_give_the_loss(cls):
    for name in NAMES[cls]:
        assert type(losses.get(name)) is cls, name
    function = getattr(losses, NAMES[cls][0])
    assert function.__name__ == NAMES[cls][0] == cls.name == cls().name
    assert type(losses.get(function)) is cls
    assert type(losses.get(cls)) is cls
    assert losses._CLASSES[cls.__name__] is cls
    assert losses.kld is losses.kl_divergence


def test_partials_carry_options():
    assert losses.get(functools.partial(losses.cosine_similarity, axis=1)).axis == 1
    focal = losses.get(
        functools.partial(losses.binary_focal_crossentropy, gamma=3.0, from_logits=True)
    )
    assert (focal.gamma, focal.from_logits, focal.alpha) == (3.0, True, 0.25)


CONFIGURED = [
    losses.Poisson(reduction="sum", name="counts"),
    losses.KLDivergence(),
    losses.CosineSimilarity(axis=1, reduction="none"),
    losses.Hinge(),
    losses.SquaredHinge(),
    losses.CategoricalHinge(name="margin"),
    losses.BinaryFocalCrossentropy(True, 0.4, 1.5, True, 0.1, -1),
    losses.CategoricalFocalCrossentropy(ALPHAS, 3.0, True, 0.2),
]


@pytest.mark.parametrize("loss", CONFIGURED, ids=[type(c).__name__ for c in CONFIGURED])
def test_configs_are_keras_plain_data_and_round_trip(loss):
    config = loss.get_config()
    assert json.loads(json.dumps(config)) == config
    assert type(loss).from_config(config).get_config() == config
    clone = losses.deserialize(json.loads(json.dumps(losses.serialize(loss))))
    assert type(clone) is type(loss)
    assert clone.get_config() == config


def test_keras_config_keys_and_defaults():
    assert losses.BinaryFocalCrossentropy().get_config() == {
        "reduction": "sum_over_batch_size",
        "name": "binary_focal_crossentropy",
        "from_logits": False,
        "label_smoothing": 0.0,
        "axis": -1,
        "apply_class_balancing": False,
        "alpha": 0.25,
        "gamma": 2.0,
    }
    assert losses.CategoricalFocalCrossentropy().get_config() == {
        "reduction": "sum_over_batch_size",
        "name": "categorical_focal_crossentropy",
        "from_logits": False,
        "label_smoothing": 0.0,
        "axis": -1,
        "alpha": 0.25,
        "gamma": 2.0,
    }
    assert losses.KLDivergence().get_config() == {
        "reduction": "sum_over_batch_size",
        "name": "kl_divergence",
    }


@pytest.mark.parametrize(
    ("loss", "activation", "targets"),
    [
        (losses.Poisson(), "softplus", TARGETS["poisson"]),
        (losses.CosineSimilarity(axis=-1, name="cos"), "linear", TARGETS["cosine_similarity"]),
        (
            losses.BinaryFocalCrossentropy(True, 0.4, 1.5, True, 0.1),
            "linear",
            TARGETS["binary_focal_crossentropy"],
        ),
        (
            losses.CategoricalFocalCrossentropy(ALPHAS, 3.0, True, 0.2),
            "linear",
            TARGETS["categorical_focal_crossentropy"],
        ),
    ],
    ids=["poisson", "cosine", "binary_focal", "categorical_focal"],
)
def test_model_files_keep_the_compiled_loss(loss, activation, targets):
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((8, T, 3)), targets(rng.standard_normal((8, C)))
    model = Sequential([Input((T, 3)), LSTM(4), Dense(C, activation=activation)], seed=2)
    model.compile("adam", loss)
    model.fit(x, y, epochs=1, verbose=0)
    clone = saving.model_from_bytes(saving.model_to_bytes(model))
    assert type(clone.loss) is type(loss)
    assert clone.loss.get_config() == loss.get_config()
    assert clone.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    clone.fit(x, y, epochs=1, verbose=0)  # and it trains on, with its optimizer state


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: losses.CosineSimilarity(axis="1"), TypeError, "axis: expected an integer"),
        (lambda: losses.CosineSimilarity(axis=True), TypeError, "axis"),
        (lambda: losses.BinaryFocalCrossentropy(axis=1.0), TypeError, "axis"),
        (
            lambda: losses.CosineSimilarity(axis=2)(np.ones((2, 3)), np.ones((2, 3))),
            ValueError,
            r"axis: expected an axis of y_pred, whose shape is \(2, 3\).* got 2",
        ),
        (
            lambda: losses.CategoricalFocalCrossentropy(axis=-3)(np.ones((2, 3)), np.ones((2, 3))),
            ValueError,
            "axis: expected an axis of y_pred",
        ),
        (lambda: losses.BinaryFocalCrossentropy(alpha=1.5), ValueError, r"alpha: .*\[0, 1\]"),
        (lambda: losses.BinaryFocalCrossentropy(alpha="0.2"), TypeError, "alpha"),
        (lambda: losses.BinaryFocalCrossentropy(alpha=[0.2]), TypeError, "alpha"),
        (lambda: losses.BinaryFocalCrossentropy(gamma=-1), ValueError, "gamma: expected"),
        (lambda: losses.BinaryFocalCrossentropy(gamma=None), TypeError, "gamma"),
        (lambda: losses.CategoricalFocalCrossentropy(gamma="2"), TypeError, "gamma"),
        (
            lambda: losses.BinaryFocalCrossentropy(apply_class_balancing="yes"),
            TypeError,
            "apply_class_balancing: expected True or False",
        ),
        (lambda: losses.BinaryFocalCrossentropy(from_logits=1), TypeError, "from_logits"),
        (lambda: losses.CategoricalFocalCrossentropy(label_smoothing=2), ValueError, "label_smo"),
        (lambda: losses.CategoricalFocalCrossentropy(alpha=-0.1), ValueError, "alpha"),
        (lambda: losses.CategoricalFocalCrossentropy(alpha=[]), ValueError, "alpha"),
        (lambda: losses.CategoricalFocalCrossentropy(alpha=[[0.1]]), ValueError, "alpha"),
        (lambda: losses.CategoricalFocalCrossentropy(alpha=[0.1, "x"]), TypeError, "alpha"),
        (
            lambda: losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.5])(
                np.eye(3), np.ones((3, 3)) / 3
            ),
            ValueError,
            r"alpha: expected 3 values \(one per class",
        ),
        (
            lambda: losses.Poisson()(np.zeros((4, 3)), np.ones((4, 2))),
            ValueError,
            r"y_true: expected shape \(4, 2\) .* for poisson, got \(4, 3\)",
        ),
        (
            lambda: losses.KLDivergence()(np.array(["a"]), np.ones((1,))),
            TypeError,
            "y_true: expected real numbers for kl_divergence",
        ),
        (
            lambda: losses.Hinge()(np.zeros(4), np.zeros((4, 1)), np.ones(3)),
            ValueError,
            r"sample_weight: expected shape \(4,\)",
        ),
        (
            lambda: losses.CategoricalHinge()(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), None, [1]),
            ValueError,
            r"mask: expected shape \(2, 3\)",
        ),
        (lambda: losses.SquaredHinge(reduction="mean"), ValueError, "reduction"),
        (lambda: losses.Poisson(name=3), TypeError, "name"),
        (
            lambda: losses.deserialize(
                {"class_name": "CosineSimilarity", "config": {"axis": -1, "epsilon": 1e-8}}
            ),
            ValueError,
            r"loss CosineSimilarity: bad config .*epsilon",
        ),
        (lambda: losses.get("kullback_leibler_divergence"), ValueError, "loss: expected"),
    ],
)
def test_bad_arguments_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_a_loss_over_another_axis_with_a_sequence_mask_names_axis():
    """It had said "mask: expected shape (6, 2) (batch, time)", never naming axis."""
    x = np.random.default_rng(0).normal(size=(6, 5, 3))
    x[::2, 3:] = 0
    y = (x[..., :2] > 0).astype(float)
    model = Sequential(
        [
            Input((5, 3)),
            Masking(0.0),
            LSTM(4, return_sequences=True),
            Dense(2, activation="sigmoid"),
        ],
        seed=1,
    )
    model.compile("adam", losses.BinaryFocalCrossentropy(axis=1))
    with pytest.raises(
        ValueError, match=r"^axis: a loss reduced over axis 1 of y_pred \(6, 5, 2\)"
    ):
        model.evaluate(x, y, verbose=0)
    model.compile("adam", losses.BinaryFocalCrossentropy(axis=2))  # the last axis: masked steps out
    assert np.isfinite(model.evaluate(x, y, verbose=0))
