"""Weight conversion round trips (the peers' live parity is in test_peers.py)."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import convert


def weights(I=3, H=4, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((I, 4 * H)),
        rng.standard_normal((H, 4 * H)),
        rng.standard_normal(4 * H),
    )


def test_torch_round_trip():
    k, r, b = weights()
    w_ih, w_hh, b_ih, b_hh = convert.to_torch(k, r, b)
    assert w_ih.shape == (16, 3)
    assert w_hh.shape == (16, 4)
    for a, e in zip(convert.from_torch(w_ih, w_hh, b_ih, b_hh), (k, r, b)):
        np.testing.assert_array_equal(a, e)


def test_torch_biases_are_summed():
    k, r, b = weights()
    w_ih, w_hh, _, _ = convert.to_torch(k, r, b)
    _, _, bias = convert.from_torch(w_ih, w_hh, b, 2 * b)
    np.testing.assert_allclose(bias, 3 * b)


def test_onnx_gate_order_and_round_trip():
    k, r, b = weights(H=2)
    W, R, B = convert.to_onnx(k, r, b)
    assert W.shape == (1, 8, 3)
    assert R.shape == (1, 8, 2)
    assert B.shape == (1, 16)
    H = 2
    # ONNX's second block (o) is fastlstm's fourth, its third (f) our second, its fourth (c) our g.
    np.testing.assert_array_equal(W[0, H : 2 * H], k[:, 3 * H :].T)
    np.testing.assert_array_equal(W[0, 2 * H : 3 * H], k[:, H : 2 * H].T)
    np.testing.assert_array_equal(W[0, 3 * H :], k[:, 2 * H : 3 * H].T)
    for a, e in zip(convert.from_onnx(W, R, B), (k, r, b)):
        np.testing.assert_array_equal(a, e)


def test_lstm_aliases():
    assert convert.lstm_from_torch is convert.from_torch
    assert convert.lstm_to_torch is convert.to_torch
    assert convert.lstm_to_onnx is convert.to_onnx
    assert convert.lstm_from_onnx is convert.from_onnx


def cell_weights(gates, I=3, H=2, bias_shape=None, seed=1):
    """Random kernel (I, gates*H), recurrent_kernel (H, gates*H) and bias."""
    rng = np.random.default_rng(seed)
    width = gates * H
    return (
        rng.standard_normal((I, width)),
        rng.standard_normal((H, width)),
        rng.standard_normal(bias_shape or (width,)),
    )


def test_gru_torch_gate_order_and_round_trip():
    I, H = 3, 2
    k, r, b = cell_weights(3, I, H, bias_shape=(2, 3 * H))
    w_ih, w_hh, b_ih, b_hh = convert.gru_to_torch(k, r, b)
    assert w_ih.shape == (3 * H, I)
    assert w_hh.shape == (3 * H, H)
    assert b_ih.shape == b_hh.shape == (3 * H,)
    # torch's blocks are r, z, n; ours z, r, h.
    np.testing.assert_array_equal(w_ih[:H], k[:, H : 2 * H].T)
    np.testing.assert_array_equal(w_ih[H : 2 * H], k[:, :H].T)
    np.testing.assert_array_equal(w_hh[2 * H :], r[:, 2 * H :].T)
    np.testing.assert_array_equal(b_ih[:H], b[0, H : 2 * H])
    np.testing.assert_array_equal(b_hh[H : 2 * H], b[1, :H])
    for a, e in zip(convert.gru_from_torch(w_ih, w_hh, b_ih, b_hh), (k, r, b)):
        np.testing.assert_array_equal(a, e)


def test_gru_from_torch_without_biases():
    k, r, _ = cell_weights(3)
    w_ih, w_hh, _, _ = convert.gru_to_torch(k, r, np.zeros((2, 6)))
    _, _, bias = convert.gru_from_torch(w_ih, w_hh)
    np.testing.assert_array_equal(bias, np.zeros((2, 6)))


def test_gru_reset_before_cannot_go_to_torch():
    k, r, b = cell_weights(3)  # bias (3H,): reset_after=False
    with pytest.raises(ValueError, match="reset_after=True"):
        convert.gru_to_torch(k, r, b, reset_after=False)
    with pytest.raises(ValueError, match="reset_after=True"):
        convert.gru_to_torch(k, r, b)  # the bias's shape says reset_after=False
    with pytest.raises(ValueError, match="reset_after=True"):
        convert.gru_to_torch(k, r, np.stack([b, b]), reset_after=False)


def test_gru_onnx_reset_after_round_trip():
    I, H = 3, 2
    k, r, b = cell_weights(3, I, H, bias_shape=(2, 3 * H))
    W, R, B = convert.gru_to_onnx(k, r, b, reset_after=True)
    assert W.shape == (1, 3 * H, I)
    assert R.shape == (1, 3 * H, H)
    assert B.shape == (1, 6 * H)
    # Same gate order (z, r, h), transposed; B = [Wb, Rb].
    np.testing.assert_array_equal(W[0], k.T)
    np.testing.assert_array_equal(R[0], r.T)
    np.testing.assert_array_equal(B[0], np.concatenate([b[0], b[1]]))
    for a, e in zip(convert.gru_from_onnx(W, R, B, linear_before_reset=1), (k, r, b)):
        np.testing.assert_array_equal(a, e)


def test_gru_onnx_reset_before_round_trip():
    I, H = 3, 2
    k, r, b = cell_weights(3, I, H)
    W, R, B = convert.gru_to_onnx(k, r, b, reset_after=False)
    assert B.shape == (1, 6 * H)
    np.testing.assert_array_equal(B[0, : 3 * H], b)  # the bias in Wb, Rb zero
    np.testing.assert_array_equal(B[0, 3 * H :], np.zeros(3 * H))
    for a, e in zip(convert.gru_from_onnx(W, R, B, linear_before_reset=0), (k, r, b)):
        np.testing.assert_array_equal(a, e)
    # linear_before_reset=0: Wb and Rb add in every gate, so a nonzero Rb is summed in.
    B2 = np.concatenate([b, 2 * b])[None]
    np.testing.assert_allclose(convert.gru_from_onnx(W, R, B2)[2], 3 * b)
    # No B: zero bias of the convention's shape.
    np.testing.assert_array_equal(convert.gru_from_onnx(W, R)[2], np.zeros(3 * H))
    np.testing.assert_array_equal(
        convert.gru_from_onnx(W, R, linear_before_reset=1)[2], np.zeros((2, 3 * H))
    )


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_bias_shape_must_match_convention(reset_after):
    k, r, b = cell_weights(3, bias_shape=(3 * 2,) if reset_after else (2, 3 * 2))
    with pytest.raises(ValueError, match="GRU bias with reset_after"):
        convert.gru_to_onnx(k, r, b, reset_after=reset_after)


def test_rnn_torch_round_trip_and_summed_biases():
    I, H = 3, 4
    k, r, b = cell_weights(1, I, H)
    w_ih, w_hh, b_ih, b_hh = convert.rnn_to_torch(k, r, b)
    assert w_ih.shape == (H, I)
    assert w_hh.shape == (H, H)
    np.testing.assert_array_equal(w_ih, k.T)
    np.testing.assert_array_equal(b_hh, np.zeros(H))
    for a, e in zip(convert.rnn_from_torch(w_ih, w_hh, b_ih, b_hh), (k, r, b)):
        np.testing.assert_array_equal(a, e)
    np.testing.assert_allclose(convert.rnn_from_torch(w_ih, w_hh, b, 2 * b)[2], 3 * b)


def test_rnn_onnx_round_trip():
    I, H = 3, 4
    k, r, b = cell_weights(1, I, H)
    W, R, B = convert.rnn_to_onnx(k, r, b)
    assert W.shape == (1, H, I)
    assert R.shape == (1, H, H)
    assert B.shape == (1, 2 * H)
    np.testing.assert_array_equal(R[0], r.T)
    np.testing.assert_array_equal(B[0], np.concatenate([b, np.zeros(H)]))
    for a, e in zip(convert.rnn_from_onnx(W, R, B), (k, r, b)):
        np.testing.assert_array_equal(a, e)
    np.testing.assert_allclose(convert.rnn_from_onnx(W, R, np.concatenate([b, b])[None])[2], 2 * b)
    np.testing.assert_array_equal(convert.rnn_from_onnx(W, R)[2], np.zeros(H))


def test_onnx_tensors_need_the_direction_axis():
    k, r, b = cell_weights(1)
    W, R, B = convert.rnn_to_onnx(k, r, b)
    with pytest.raises(ValueError, match="leading direction axis"):
        convert.rnn_from_onnx(W[0], R, B)
    W, R, _ = convert.gru_to_onnx(*cell_weights(3), reset_after=False)
    with pytest.raises(ValueError, match="leading direction axis"):
        convert.gru_from_onnx(W, R, B=np.zeros(12))
    W, R, B = convert.to_onnx(*cell_weights(4, H=4))
    for args in ((W[0], R, B), (W, R[0], B), (W, R, B[0])):
        with pytest.raises(ValueError, match="leading direction axis"):
            convert.from_onnx(*args)
    with pytest.raises(ValueError, match=r"ONNX B must be \(D, 32\), got \(1, 31\)"):
        convert.from_onnx(W, R, B[:, :-1])


def test_torch_weights_are_checked():
    k, r, b = cell_weights(4, H=4)
    w_ih, w_hh, b_ih, b_hh = convert.to_torch(k, r, b)
    with pytest.raises(ValueError, match=r"weight_ih: expected a 2-D array .*got shape \(16,\)"):
        convert.from_torch(w_ih[:, 0], w_hh)
    with pytest.raises(ValueError, match=r"weight_hh: expected a 2-D array \(16, 4\).*\(12, 4\)"):
        convert.from_torch(w_ih, w_hh[:12])
    with pytest.raises(ValueError, match=r"bias_hh: expected shape \(16,\).*got \(15,\)"):
        convert.from_torch(w_ih, w_hh, b_ih, b_hh[:-1])


def test_a_recurrent_kernel_of_another_width_is_refused_where_no_projection_exists():
    """A recurrent kernel narrower than H is an LSTM projection's (P, 4H): torch's LSTM holds
    it, ONNX's and the other cells' do not (they returned weights their peer then refused); one
    wider than H is no cell's."""
    k, r, b = cell_weights(4, H=4)  # kernel (I, 16), recurrent (4, 16)
    w_ih, w_hh, _, _ = convert.to_torch(k, r[:3], b, proj_size=3)  # P = 3: torch's proj_size
    assert w_hh.shape == (16, 3)
    assert convert.from_torch(w_ih, w_hh, proj_size=3)[1].shape == (3, 16)
    with pytest.raises(ValueError, match=r"recurrent_kernel: expected .*\(4, 16\).*got shape"):
        convert.to_onnx(k, r[:3], b)
    with pytest.raises(ValueError, match=r"recurrent_kernel: expected .*\(4, 16\).*\(5, 16\)$"):
        convert.to_torch(k, np.vstack([r, r[:1]]), b)  # 5 rows
    kr, rr, br = cell_weights(1, H=4)
    with pytest.raises(ValueError, match=r"recurrent_kernel: expected a 2-D array \(4, 4\)"):
        convert.rnn_to_torch(kr, rr[:2], br)
    w_ih, w_hh, _, _ = convert.rnn_to_torch(kr, rr, br)
    with pytest.raises(ValueError, match=r"weight_hh: expected a 2-D array \(4, 4\) to match"):
        convert.rnn_from_torch(w_ih, w_hh[:, :2])
    kg, rg, bg = cell_weights(3, H=4, bias_shape=(2, 12))
    with pytest.raises(ValueError, match=r"recurrent_kernel: expected a 2-D array \(4, 12\)"):
        convert.gru_to_onnx(kg, rg[:2], bg)


def test_each_direction_of_a_bidirectional_onnx_node():
    fwd, bwd = cell_weights(4, H=4, seed=1), cell_weights(4, H=4, seed=2)
    onnx = [np.concatenate(parts) for parts in zip(convert.to_onnx(*fwd), convert.to_onnx(*bwd))]
    for direction, expected in enumerate((fwd, bwd)):
        for a, e in zip(convert.from_onnx(*onnx, direction=direction), expected):
            np.testing.assert_array_equal(a, e)
    with pytest.raises(ValueError, match=r"direction: expected one of the node's 2 directions"):
        convert.from_onnx(*onnx, direction=2)
    p = np.arange(12.0)
    both = np.concatenate([convert.peephole_to_onnx(p), convert.peephole_to_onnx(-p)])
    np.testing.assert_array_equal(convert.peephole_from_onnx(both, direction=1), -p)
    with pytest.raises(ValueError, match="ONNX P must be 2-D"):
        convert.peephole_from_onnx(p)
    W, R, B = convert.gru_to_onnx(*cell_weights(3, H=2, bias_shape=(2, 6)))
    with pytest.raises(ValueError, match=r"ONNX W, R: expected \(D, 3\*H, I\)"):
        convert.gru_from_onnx(W, R[:, :5], B, linear_before_reset=1)
    W, R, B = convert.rnn_to_onnx(*cell_weights(1, H=2))
    with pytest.raises(ValueError, match=r"ONNX RNN B must be \(D, 4\), got \(1, 2\)"):
        convert.rnn_from_onnx(W, R, B[:, :2])


def test_gru_torch_weights_are_checked():
    k, r, b = cell_weights(3, H=2, bias_shape=(2, 6))
    w_ih, w_hh, b_ih, b_hh = convert.gru_to_torch(k, r, b)
    lstm_like = convert.to_torch(*cell_weights(4, H=2))
    with pytest.raises(ValueError, match=r"expected nn.GRU's \(3H, I\) and \(3H, H\)"):
        convert.gru_from_torch(*lstm_like)
    with pytest.raises(ValueError, match=r"bias_hh: expected shape \(6,\)"):
        convert.gru_from_torch(w_ih, w_hh, b_ih, b_hh[:5])


def test_a_narrower_recurrent_weight_needs_proj_size():
    """Without proj_size, a recurrent weight narrower than H is refused, not read as a
    projection: weight_ih and weight_hh passed in each other's place look like one where I < H
    (they had given weights of a projected LSTM, input H and state I)."""
    I, H = 3, 4
    k, r, b = cell_weights(4, I=I, H=H)
    w_ih, w_hh, b_ih, b_hh = convert.to_torch(k, r, b)  # (16, 3) and (16, 4)
    with pytest.raises(
        ValueError,
        match=r"weight_hh: expected a 2-D array \(16, 4\) to match "
        r"weight_ih, got shape \(16, 3\) \(for a projection of 3 units, pass "
        r"proj_size=3\)",
    ):
        convert.from_torch(w_hh, w_ih, b_ih, b_hh)  # swapped
    with pytest.raises(
        ValueError,
        match=r"recurrent_kernel: expected a 2-D array \(4, 16\) .*"
        r"got shape \(3, 16\) \(for a projection of 3 units, pass proj_size=3\)",
    ):
        convert.to_torch(r, k, b)  # swapped
    with pytest.raises(
        ValueError,
        match=r"weight_hh: expected a 2-D array \(16, 2\) to match "
        r"weight_ih and proj_size, got shape \(16, 4\)",
    ):
        convert.from_torch(w_ih, w_hh, proj_size=2)
    with pytest.raises(
        ValueError, match=r"proj_size: expected None or an int P with 0 < P < units = 4 .*got 4"
    ):
        convert.from_torch(w_ih, w_hh, proj_size=4)
    with pytest.raises(
        TypeError, match=r"proj_size: expected None or an int P with 0 < P < units = 4, got 2\.0"
    ):
        convert.to_torch(k, r, b, proj_size=2.0)
    for none in (None, 0):  # torch's default proj_size is 0
        np.testing.assert_array_equal(convert.from_torch(w_ih, w_hh, proj_size=none)[1], r)


TORCH_FROM = {4: convert.from_torch, 3: convert.gru_from_torch, 1: convert.rnn_from_torch}
TORCH_TO = {4: convert.to_torch, 3: convert.gru_to_torch, 1: convert.rnn_to_torch}
ONNX_TO = {4: convert.to_onnx, 3: convert.gru_to_onnx, 1: convert.rnn_to_onnx}


@pytest.mark.parametrize(("gates", "proj_size"), [(4, None), (4, 3), (3, None), (1, None)])
def test_a_transposed_torch_input_weight_is_named_as_such(gates, proj_size):
    """weight_ih given as its transpose (I, gates*H) had its I read as gates*H (H = 1 where
    gates divides I), and the correct weight_hh blamed for not being (I, I/gates)."""
    I, H = 4, 6
    rng = np.random.default_rng(3)
    weight_ih = rng.standard_normal((gates * H, I))
    weight_hh = rng.standard_normal((gates * H, proj_size or H))
    extra = {"proj_size": proj_size} if proj_size else {}
    expected = rf"\({gates}\*H, I\) = \({gates * H}, {I}\)"
    with pytest.raises(
        ValueError, match=rf"^weight_ih: .*{expected}.*transpose \({I}, {gates * H}\)"
    ):
        TORCH_FROM[gates](weight_ih.T.copy(), weight_hh, **extra)
    TORCH_FROM[gates](weight_ih, weight_hh, **extra)  # the right way round
    square = rng.standard_normal((gates * H, gates * H))  # I = gates*H: no transpose to tell
    TORCH_FROM[gates](square, weight_hh, **extra)
    with pytest.raises(
        ValueError, match=r"^weight_(ih|hh)(, weight_hh)?: expected (?!.*transpose)"
    ):
        TORCH_FROM[gates](np.ones((5, 5)), weight_hh, **extra)


@pytest.mark.parametrize(("gates", "proj_size"), [(4, None), (4, 3), (3, None), (1, None)])
def test_a_transposed_kernel_is_named_as_such(gates, proj_size):
    I, H = 4, 6
    bias_shape = (2, gates * H) if gates == 3 else (gates * H,)
    kernel, recurrent_kernel, bias = cell_weights(gates, I, H, bias_shape)
    recurrent_kernel = recurrent_kernel[: proj_size or H]
    extra = {"proj_size": proj_size} if proj_size else {}
    expected = rf"\(I, {gates}\*H\) = \({I}, {gates * H}\)"
    match = rf"^kernel: .*{expected}.*transpose \({gates * H}, {I}\)"
    with pytest.raises(ValueError, match=match):
        TORCH_TO[gates](kernel.T, recurrent_kernel, bias, **extra)
    if not proj_size:
        with pytest.raises(ValueError, match=match):
            ONNX_TO[gates](kernel.T, recurrent_kernel, bias)


def test_a_transposed_projection_is_refused():
    """torch's weight_hr is (P, H) and fastlstm's projection (H, P), with P < H in both: each
    one's transpose is told apart by its shape (it had been taken, and transposed again)."""
    weight_hr = np.random.default_rng(4).standard_normal((3, 6))  # P = 3, H = 6
    np.testing.assert_array_equal(convert.projection_from_torch(weight_hr), weight_hr.T)
    np.testing.assert_array_equal(convert.projection_to_torch(weight_hr.T), weight_hr)
    with pytest.raises(ValueError, match=r"^weight_hr: .*\(P, H\).*\(6, 3\).*transpose"):
        convert.projection_from_torch(weight_hr.T)
    with pytest.raises(ValueError, match=r"^projection: .*\(H, P\).*\(3, 6\).*transpose"):
        convert.projection_to_torch(weight_hr)


def two_directions(onnx):
    """A one-direction node's tensors stacked twice: a bidirectional node's."""
    return [np.concatenate([a, a]) for a in onnx]


@pytest.mark.parametrize("gates", [4, 3, 1])
def test_onnx_tensors_must_have_one_direction_count(gates):
    """W (1, ...) with R (2, ...) had been read as one node's tensors."""
    bias_shape = (2, gates * 2) if gates == 3 else None
    one = ONNX_TO[gates](*cell_weights(gates, H=2, bias_shape=bias_shape))
    two = two_directions(one)
    from_onnx = {4: convert.from_onnx, 3: convert.gru_from_onnx, 1: convert.rnn_from_onnx}[gates]
    for args, names in (
        ((one[0], two[1], one[2]), r"W \(1, .*R \(2, "),
        ((two[0], one[1]), r"W \(2, .*R \(1, "),
        ((one[0], one[1], two[2]), r"B \(2, "),
        ((two[0], two[1], one[2]), r"B \(1, "),
    ):
        with pytest.raises(ValueError, match=rf"^ONNX W, R.*: .*directions.*{names}"):
            from_onnx(*args)
    for direction in (0, 1):
        from_onnx(*two, direction=direction)


@pytest.mark.parametrize(
    ("convert_fn", "gates", "zero_bias"),
    [
        (convert.to_torch, 4, lambda h: np.zeros(4 * h)),
        (convert.to_onnx, 4, lambda h: np.zeros(4 * h)),
        (convert.rnn_to_torch, 1, lambda h: np.zeros(h)),
        (convert.rnn_to_onnx, 1, lambda h: np.zeros(h)),
        (convert.gru_to_torch, 3, lambda h: np.zeros((2, 3 * h))),
        (convert.gru_to_onnx, 3, lambda h: np.zeros((2, 3 * h))),
    ],
)
def test_a_bias_of_none_converts_as_zeros(convert_fn, gates, zero_bias):
    """As the converters from torch take a missing bias; to_torch(k, r, None) had raised
    AttributeError ('NoneType' object has no attribute 'copy'), to_onnx another."""
    rng = np.random.default_rng(5)
    hidden = 3
    kernel = rng.standard_normal((2, gates * hidden))
    recurrent = rng.standard_normal((hidden, gates * hidden))
    for got, want in zip(
        convert_fn(kernel, recurrent, None), convert_fn(kernel, recurrent, zero_bias(hidden))
    ):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
