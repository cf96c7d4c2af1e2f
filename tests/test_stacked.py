"""fastlstm.stacked: several layers, both directions, merge modes, dropout between layers, checked
against torch's multi-layer bidirectional modules (with packed sequences) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import convert
from fastlstm.stacked import rnn, rnn_backward, rnn_forward
from test_core_layers import numeric_grad

TOL = {np.float32: 2e-5, np.float64: 1e-10}
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def assert_close(actual, expected, dtype, what):
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(actual.astype(np.float64) - expected)))
    assert err <= TOL[dtype] * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"


def make_weights(cell, I, H, layers, directions, dtype, seed=0):
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    weights = []
    for layer in range(layers):
        rows = I if layer == 0 else H * directions
        for _ in range(directions):
            bias_shape = (2, G * H) if cell == "gru" else (G * H,)
            weights.append(
                tuple(
                    (0.4 * rng.standard_normal(shape)).astype(dtype)
                    for shape in ((rows, G * H), (H, G * H), bias_shape)
                )
            )
    return weights


def torch_module(torch, cell, I, H, layers, bidirectional, dtype, weights, proj_size=0):
    """torch's module holding ``weights``; an LSTM entry's 4th item (its projection) goes to
    ``weight_hr`` (give ``proj_size``)."""
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[cell]
    extra = {"proj_size": proj_size} if proj_size else {}
    net = cls(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=True, **extra)
    net = net.to(getattr(torch, np.dtype(dtype).name))
    to_torch = {"lstm": convert.to_torch, "gru": convert.gru_to_torch}.get(
        cell, convert.rnn_to_torch
    )
    directions = 2 if bidirectional else 1
    with torch.no_grad():
        for k, w in enumerate(weights):
            suffix = f"l{k // directions}" + ("_reverse" if k % directions else "")
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            extra = {"proj_size": w[3].shape[1]} if len(w) == 4 else {}
            for name, value in zip(names, to_torch(*w[:3], **extra)):
                getattr(net, f"{name}_{suffix}").copy_(torch.from_numpy(value))
            if len(w) == 4:
                weight_hr = convert.projection_to_torch(w[3])
                getattr(net, f"weight_hr_{suffix}").copy_(torch.from_numpy(weight_hr))
    return net, to_torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", [None, "lengths", "mask"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_two_layer_bidirectional_matches_torch(torch, cell, padding, dtype):
    """Against torch's packed sequences, given as lengths or as the right-padded mask they
    make: on the valid steps a mask gives the same outputs, final states and gradients (the
    backward direction walks the masked steps first, carrying its initial state), and on the
    padding each direction repeats its previous output (the forward one its last valid output,
    the backward one its initial h), where lengths give zeros as torch does."""
    B, T, I, H, L = 4, 7, 5, 6, 2
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    use_lengths = padding is not None
    lengths = np.array([5, 7, 2, 6]) if use_lengths else None
    valid = np.arange(T)[None, :] < np.array([5, 7, 2, 6])[:, None]
    weights = make_weights(cell, I, H, L, 2, dtype)
    lstm = cell == "lstm"
    h0 = (0.5 * rng.standard_normal((2 * L, B, H))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((2 * L, B, H))).astype(dtype)
    states = [(h0[k], c0[k]) if lstm else h0[k] for k in range(2 * L)]
    dy = rng.standard_normal((B, T, 2 * H)).astype(dtype)
    dh = rng.standard_normal((2 * L, B, H)).astype(dtype)
    dc = rng.standard_normal((2 * L, B, H)).astype(dtype)
    if use_lengths:
        dy[np.arange(T)[None, :] >= lengths[:, None]] = 0  # padding has no gradient in torch

    net, to_torch = torch_module(torch, cell, I, H, L, True, dtype, weights)
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = torch.tensor(c0, requires_grad=True)
    inp = xt
    if use_lengths:
        inp = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
        )
    out, hn = net(inp, (h0t, c0t) if lstm else h0t)
    if use_lengths:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    tensors, grads = [out, hn[0] if lstm else hn], [dy, dh]
    if lstm:
        tensors.append(hn[1])
        grads.append(dc)
    torch.autograd.backward(tensors, [torch.from_numpy(g) for g in grads])

    padded = {"lengths": lengths} if padding == "lengths" else {"mask": valid if padding else None}
    y, final, cache = rnn_forward(
        x, weights, states, cell=cell, num_layers=L, bidirectional=True, **padded
    )
    dstates = [(dh[k], dc[k]) if lstm else dh[k] for k in range(2 * L)]
    g = rnn_backward(cache, dy, dstates)

    want = out.detach().numpy()
    if padding == "mask":
        for b, n in enumerate([5, 7, 2, 6]):  # the padding: each direction's previous output
            np.testing.assert_array_equal(
                y[b, n:, :H], np.broadcast_to(y[b, n - 1, :H], (T - n, H))
            )
            h0_backward = h0[2 * (L - 1) + 1, b]
            np.testing.assert_array_equal(y[b, n:, H:], np.broadcast_to(h0_backward, (T - n, H)))
        y = np.where(valid[:, :, None], y, 0)
    assert_close(y, want, dtype, "y")
    hn_h = (hn[0] if lstm else hn).detach().numpy()
    for k in range(2 * L):
        assert_close(final[k][0] if lstm else final[k], hn_h[k], dtype, f"h_n[{k}]")
        if lstm:
            assert_close(final[k][1], hn[1].detach().numpy()[k], dtype, f"c_n[{k}]")
        assert_close(g.layers[k].h0, h0t.grad.numpy()[k], dtype, f"dh0[{k}]")
        if lstm:
            assert_close(g.layers[k].c0, c0t.grad.numpy()[k], dtype, f"dc0[{k}]")
        suffix = f"l{k // 2}" + ("_reverse" if k % 2 else "")
        mine = to_torch(g.layers[k].kernel, g.layers[k].recurrent_kernel, g.layers[k].bias)
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        for name, value in zip(names[:2], mine[:2]):
            theirs = getattr(net, f"{name}_{suffix}").grad.numpy()
            assert_close(value, theirs, dtype, f"d{name}_{suffix}")
        if cell == "gru":  # both biases are separate parameters
            for name, value in zip(names[2:], mine[2:]):
                theirs = getattr(net, f"{name}_{suffix}").grad.numpy()
                assert_close(value, theirs, dtype, f"d{name}_{suffix}")
        else:  # torch's two biases both receive the gradient of fastlstm's one
            theirs = getattr(net, f"bias_ih_{suffix}").grad.numpy()
            assert_close(mine[2], theirs, dtype, f"dbias_{suffix}")
    assert_close(g.x, xt.grad.numpy(), dtype, "dx")


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_merge_modes_and_their_gradients(merge_mode):
    B, T, I, H = 2, 4, 3, 3
    rng = np.random.default_rng(2)
    x = rng.standard_normal((B, T, I))
    weights = make_weights("gru", I, H, 1, 2, np.float64, seed=3)
    y, _, cache = rnn_forward(x, weights, cell="gru", bidirectional=True, merge_mode=merge_mode)
    (yf, yb), _ = rnn(x, weights, cell="gru", bidirectional=True, merge_mode=None)
    expected = {
        "concat": lambda: np.concatenate([yf, yb], -1),
        "sum": lambda: yf + yb,
        "mul": lambda: yf * yb,
        "ave": lambda: (yf + yb) / 2,
        None: lambda: (yf, yb),
    }[merge_mode]()
    np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-13, atol=1e-13)

    dy = (
        [rng.standard_normal(yf.shape), rng.standard_normal(yb.shape)]
        if merge_mode is None
        else rng.standard_normal(np.shape(y))
    )

    def loss(x_):
        out, _ = rnn(x_, weights, cell="gru", bidirectional=True, merge_mode=merge_mode)
        if merge_mode is None:
            return float(np.sum(out[0] * dy[0]) + np.sum(out[1] * dy[1]))
        return float(np.sum(out * dy))

    dx = rnn_backward(cache, dy).x
    np.testing.assert_allclose(dx, numeric_grad(lambda: loss(x), x), rtol=1e-6, atol=1e-8)


def test_dropout_between_layers_is_seeded_and_backpropagated():
    B, T, I, H = 3, 5, 4, 6
    rng = np.random.default_rng(4)
    x = rng.standard_normal((B, T, I))
    weights = make_weights("lstm", I, H, 3, 1, np.float64, seed=5)
    kwargs = {"num_layers": 3, "dropout": 0.5, "training": True, "seed": 7}
    y1, _, cache = rnn_forward(x, weights, **kwargs)
    y2, _ = rnn(x, weights, **kwargs)
    y_eval, _ = rnn(x, weights, num_layers=3, dropout=0.5)  # not training: no dropout
    y_plain, _ = rnn(x, weights, num_layers=3)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y_eval, y_plain)
    assert not np.allclose(y1, y_plain)
    assert cache.drop[0] is None
    assert all(np.isin(d, [0.0, 2.0]).all() for d in cache.drop[1:])

    dy = rng.standard_normal(y1.shape)
    g = rnn_backward(cache, dy)

    def loss(x_):
        return float(np.sum(rnn(x_, weights, **kwargs)[0] * dy))

    numeric = numeric_grad(lambda: loss(x), x)  # the seed gives each call the same masks
    np.testing.assert_allclose(g.x, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("masking", ["left", "gaps"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_masked_stack_gradients_match_finite_differences(cell, masking):
    """Two bidirectional layers under a mask no lengths can give (the padding first, as Keras's
    pad_sequences pads; or steps masked anywhere): every gradient, dL/dx, each entry's weights
    and initial state, against central differences in float64, the loss reading y and every
    final state. The backward direction reads the mask reversed with its sequence."""
    B, T, I, H, L = 3, 5, 3, 4, 2
    rng = np.random.default_rng(9)
    x = rng.standard_normal((B, T, I))
    if masking == "left":
        mask = np.arange(T)[None, :] >= np.array([0, 3, 1])[:, None]
    else:
        mask = np.array([[1, 0, 1, 1, 0], [0, 1, 1, 0, 1], [1, 1, 0, 0, 0]], dtype=bool)
    weights = [list(w) for w in make_weights(cell, I, H, L, 2, np.float64, seed=10)]
    lstm = cell == "lstm"
    states = [
        [0.5 * rng.standard_normal((B, H)) for _ in range(2 if lstm else 1)] for _ in range(2 * L)
    ]
    dy = rng.standard_normal((B, T, 2 * H))
    dfinal = [[rng.standard_normal((B, H)) for _ in s] for s in states]
    kwargs = {"cell": cell, "num_layers": L, "bidirectional": True, "mask": mask}

    def as_states():
        return [tuple(s) if lstm else s[0] for s in states]

    def loss():
        y, final = rnn(x, [tuple(w) for w in weights], as_states(), **kwargs)
        total = float(np.sum(y * dy))
        for k, f in enumerate(final):
            for value, d in zip(f if lstm else (f,), dfinal[k]):
                total += float(np.sum(value * d))
        return total

    _, _, cache = rnn_forward(x, [tuple(w) for w in weights], as_states(), **kwargs)
    g = rnn_backward(cache, dy, [tuple(d) if lstm else d[0] for d in dfinal])

    np.testing.assert_allclose(g.x, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for k in range(2 * L):
        ours = g.layers[k]
        pairs = list(zip((ours.kernel, ours.recurrent_kernel, ours.bias), weights[k]))
        pairs += list(zip((ours.h0, ours.c0) if lstm else (ours.h0,), states[k]))
        for j, (analytic, value) in enumerate(pairs):
            np.testing.assert_allclose(
                analytic,
                numeric_grad(loss, value),
                rtol=1e-6,
                atol=1e-8,
                err_msg=f"entry {k}, item {j}",
            )
    assert np.all(g.x[~mask] == 0)  # a masked step's input reaches nothing


def test_time_major_equals_batch_major():
    B, T, I, H = 3, 6, 4, 5
    rng = np.random.default_rng(6)
    x = rng.standard_normal((B, T, I))
    weights = make_weights("simple_rnn", I, H, 2, 2, np.float64, seed=8)
    lengths = np.array([6, 3, 1])
    y, states = rnn(
        x, weights, cell="simple_rnn", num_layers=2, bidirectional=True, lengths=lengths
    )
    yt, states_t = rnn(
        x.transpose(1, 0, 2).copy(),
        weights,
        cell="simple_rnn",
        num_layers=2,
        bidirectional=True,
        lengths=lengths,
        time_major=True,
    )
    np.testing.assert_allclose(yt.transpose(1, 0, 2), y, rtol=1e-13, atol=1e-13)
    for a, b in zip(states, states_t):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_layers": 2}, ValueError, r"weights: expected a list of 2 .*2 layers x 1 dir"),
        ({"bidirectional": True}, ValueError, r"weights: expected a list of 2"),
        ({"initial_state": [None, None]}, ValueError, r"initial_state: expected a list of 1"),
        ({"merge_mode": "max"}, ValueError, "merge_mode: expected one of"),
        ({"cell": "lstmx"}, ValueError, "cell: expected one of lstm, gru, simple_rnn"),
        ({"num_layers": 0}, ValueError, "num_layers: expected a positive int"),
        ({"dropout": 1.5}, ValueError, r"dropout: expected a number in \[0, 1\)"),
        ({"dropout": np.float32(-0.5)}, ValueError, r"dropout: expected a number in \[0, 1\)"),
        ({"dropout": "0.1"}, TypeError, r"dropout: expected a number in \[0, 1\), got '0.1'"),
        ({"dropout": True}, TypeError, r"dropout: expected a number in \[0, 1\), got True"),
        ({"lengths": [9, 1]}, ValueError, r"lengths: expected values in \[0, 4\]"),
        ({"mask": np.ones((4, 2), bool)}, ValueError, r"mask: expected shape \(2, 4\) \(batch, ti"),
        (
            {"initial_state": (np.zeros((1, 2, 5)), np.zeros((1, 2, 5)))},  # PyTorch's (h0, c0)
            ValueError,
            r"initial_state: expected a list of 1 states .*pass list\(zip\(h0, c0\)\)",
        ),
        ({"return_cell_states": True}, TypeError, "return_cell_states: stacked.rnn returns final"),
        # merge_mode combines two directions: with one it had been ignored (None: no pair).
        ({"merge_mode": None}, ValueError, r"merge_mode: .*bidirectional.*got None"),
        ({"merge_mode": "sum"}, ValueError, r"merge_mode: .*bidirectional.*got 'sum'"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    x = np.zeros((2, 4, 3))
    weights = make_weights("lstm", 3, 5, 1, 1, np.float64)
    initial_state = kwargs.pop("initial_state", None)
    with pytest.raises(error, match=message):
        rnn(x, weights, initial_state, **kwargs)


def test_dropout_may_be_a_numpy_float():
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    weights = make_weights("lstm", 3, 5, 2, 1, np.float64)
    kwargs = {"num_layers": 2, "training": True, "seed": 1}
    a, _ = rnn(x, weights, dropout=np.float32(0.25), **kwargs)
    b, _ = rnn(x, weights, dropout=0.25, **kwargs)
    np.testing.assert_array_equal(a, b)


def test_a_bad_weight_names_its_layer_and_direction():
    x = np.zeros((2, 4, 3))
    weights = make_weights("lstm", 3, 5, 2, 2, np.float64)
    k, r, b = weights[3]
    weights[3] = (k, r, b[:-1])
    with pytest.raises(ValueError, match=r"layer 1, direction 1 \(weights\[3\]\): bias"):
        rnn(x, weights, num_layers=2, bidirectional=True)


def test_merge_mode_applies_to_bidirectional_stacks_only():
    x = np.zeros((2, 4, 3))
    weights = make_weights("gru", 3, 5, 1, 1, np.float64)
    with pytest.raises(ValueError, match=r"merge_mode: .*bidirectional"):
        rnn_forward(x, weights, cell="gru", merge_mode="ave")
    y, _ = rnn(x, weights, cell="gru", merge_mode="concat")  # the default, spelled out
    assert y.shape == (2, 4, 5)


def test_every_layer_computes_at_one_precision():
    """A float64 entry computes in float64 and a float32 one in float32 (the functional API's
    rule): mixed in one list, layer 0 had run in float64 and layer 1 in float32."""
    x = np.zeros((2, 4, 3))
    weights = make_weights("lstm", 3, 5, 2, 2, np.float64)
    weights[2] = tuple(a.astype(np.float32) for a in weights[2])
    with pytest.raises(ValueError, match=r"^weights\[2\]: .*float64.*weights\[0\].*float32"):
        rnn(x, weights, num_layers=2, bidirectional=True)
    # Kernels of other dtypes that compute in float32 (the functional API's rule) go together.
    weights = make_weights("simple_rnn", 3, 5, 2, 1, np.float32)
    weights[1] = (weights[1][0].astype(np.float16), *weights[1][1:])
    y, _ = rnn(x, weights, cell="simple_rnn", num_layers=2)
    assert y.dtype == np.float32


@pytest.mark.parametrize("bidirectional", [False, True])
def test_pytorch_state_gradients_layout_is_explained(bidirectional):
    """dstates given as PyTorch's (dh_n, dc_n), each (layers*directions, B, H), as
    initial_state had been: the pair passed for 2 entries and the first was blamed."""
    x = np.zeros((3, 4, 2))
    D = 2 if bidirectional else 1
    weights = make_weights("lstm", 2, 6, 1, D, np.float64)
    y, _, cache = rnn_forward(x, weights, bidirectional=bidirectional)
    dh = dc = np.zeros((D, 3, 6))
    with pytest.raises(ValueError, match=r"^dstates: expected a list of .*list\(zip\(dh, dc\)\)"):
        rnn_backward(cache, np.zeros_like(y), (dh, dc))
    rnn_backward(cache, np.zeros_like(y), list(zip(dh, dc)))


def test_dy_as_nested_lists_with_lengths_and_merge_mode_none():
    """Both directions' dy as lists: the backward direction's reversal within each length had
    indexed a list by a tuple (TypeError); they give what the arrays give."""
    B, T, I, H = 3, 4, 2, 3
    rng = np.random.default_rng(6)
    x = rng.standard_normal((B, T, I))
    weights = make_weights("lstm", I, H, 1, 2, np.float64, seed=4)
    lengths = np.array([4, 2, 3])
    y, _, cache = rnn_forward(x, weights, bidirectional=True, merge_mode=None, lengths=lengths)
    dy = [rng.standard_normal(y[0].shape), rng.standard_normal(y[1].shape)]
    from_arrays = rnn_backward(cache, dy)
    from_lists = rnn_backward(cache, [dy[0], dy[1].tolist()])
    np.testing.assert_array_equal(from_lists.x, from_arrays.x)
    for got, want in zip(from_lists.layers, from_arrays.layers):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
