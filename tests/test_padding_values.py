"""Whatever a padded batch holds at its masked steps changes nothing: NaN or inf there gives the
outputs and gradients that zeros give, bit for bit, in every cell and option. PyTorch's packed
sequences never read the padding; fastlstm computes masked steps with the others and sets their
results aside, and a kernel gradient that summed x^T dZ over them read NaN * 0 = NaN."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import assert_inference_matches_training
from fastlstm import stacked

# (B, T, I, H): few rows (the walk that splits the units over threads) and more rows (the batch
# split), each run on 1 and 2 threads.
SIZES = [(2, 7, 5, 160), (9, 6, 5, 12)]
# (name, forward, backward, weight shapes from (I, H), forward options)
CELLS = {
    "lstm": ("lstm", 4, {}),
    "lstm-peephole-clip": ("lstm", 4, {"clip": 0.8}),
    "lstm-projection": ("lstm", 4, {}),
    "gru-reset_after": ("gru", 3, {"reset_after": True}),
    "gru-reset_before": ("gru", 3, {"reset_after": False}),
    "rnn-relu": ("simple_rnn", 1, {"activation": "relu"}),
}


def valid_steps(how, B, T, rng):
    """(B, T) bools: right padding from `lengths` drawn in [0, T], or a Keras mask with holes."""
    if how == "lengths":
        lengths = rng.integers(0, T + 1, size=B)
        lengths[0] = T
        return np.arange(T) < lengths[:, None], {"lengths": lengths}
    mask = rng.random((B, T)) < 0.6
    return mask, {"mask": mask}


def weights_for(name, I, H, dtype, rng):
    fn, gates, _ = CELLS[name]

    def r(*shape):
        return (0.4 * rng.standard_normal(shape)).astype(dtype)

    w = [r(I, gates * H), r(H if name != "lstm-projection" else 7, gates * H)]
    w.append(r(2, gates * H) if name == "gru-reset_after" else r(gates * H))
    extra = {}
    if name == "lstm-peephole-clip":
        extra["peephole"] = r(3 * H)
    if name == "lstm-projection":
        extra["projection"] = r(H, 7)
    return fn, w, extra


def train(fn, x, w, kwargs, rng_seed):
    """Forward and backward with random cotangents: every output and every gradient, as arrays."""
    y, state, cache = getattr(fastlstm, f"{fn}_forward")(x, *w, **kwargs)
    dy = np.random.default_rng(rng_seed).standard_normal(y.shape).astype(y.dtype)
    grads = getattr(fastlstm, f"{fn}_backward")(cache, dy)
    states = state if isinstance(state, tuple) else (state,)
    return [y, *states, *(g for g in grads if g is not None)]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, restore_threads):
    fastlstm.set_num_threads(request.param)
    return request.param


@pytest.mark.parametrize("padding", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("how", ["lengths", "mask"])
@pytest.mark.parametrize("sizes", SIZES, ids=["few_rows", "many_rows"])
@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_non_finite_padding_changes_nothing(name, sizes, how, padding, dtype, threads):
    B, T, I, H = sizes
    rng = np.random.default_rng(3)
    fn, w, extra = weights_for(name, I, H, dtype, rng)
    valid, kwargs = valid_steps(how, B, T, rng)
    kwargs.update(CELLS[name][2], **extra)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    x[~valid] = 0
    padded = x.copy()
    padded[~valid] = padding
    expected = train(fn, x, w, kwargs, 5)
    got = train(fn, padded, w, kwargs, 5)
    for a, b in zip(got, expected):
        assert np.isfinite(a).all()
        np.testing.assert_array_equal(a, b)
    inference = getattr(fastlstm, fn)(padded, *w, **kwargs)
    assert_inference_matches_training(inference[0], expected[0])


@pytest.mark.parametrize("padding", [np.nan, -np.inf], ids=["nan", "-inf"])
def test_non_finite_padding_in_a_stacked_bidirectional_network(padding):
    B, T, I, H = 4, 6, 3, 5
    rng = np.random.default_rng(8)
    lengths = np.array([6, 2, 4, 0])
    layers = []
    for k in range(4):  # two layers, both directions; the second layer reads 2H features
        rows = I if k < 2 else 2 * H
        layers.append(
            tuple(0.4 * rng.standard_normal(s) for s in ((rows, 4 * H), (H, 4 * H), 4 * H))
        )
    x = rng.standard_normal((B, T, I))
    x[np.arange(T) >= lengths[:, None]] = 0
    padded = x.copy()
    padded[np.arange(T) >= lengths[:, None]] = padding
    runs = []
    for data in (x, padded):
        options = {"num_layers": 2, "bidirectional": True, "lengths": lengths}
        y, _, cache = stacked.rnn_forward(data, layers, **options)
        grads = stacked.rnn_backward(cache, np.cos(np.arange(y.size)).reshape(y.shape))
        runs.append([y, grads.x, *(g for entry in grads.layers for g in entry if g is not None)])
    for a, b in zip(*runs):
        assert np.isfinite(a).all()
        np.testing.assert_array_equal(a, b)
