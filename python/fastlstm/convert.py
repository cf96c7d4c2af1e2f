"""Weight conversion between fastlstm's layout and other frameworks', in one place.

fastlstm's layout is Keras's, applied as x @ kernel + h @ recurrent_kernel; PyTorch's and
ONNX's weights are applied as W @ x, hence the transposes. ONNX tensors carry a leading
direction axis D: the ``to_onnx`` functions write one direction (D = 1), the ``from_onnx`` ones
read the one their ``direction`` argument names (0, the forward one, by default; 1, the reverse
one of a bidirectional node).

=========  ==============================  ========================  ===========================
LSTM       fastlstm (= Keras)              PyTorch ``nn.LSTM``       ONNX ``LSTM``
=========  ==============================  ========================  ===========================
gates      i, f, g, o                      i, f, g, o                i, o, f, c
input      kernel (I, 4H)                  weight_ih (4H, I)         W (D, 4H, I)
recurrent  recurrent_kernel (H, 4H)        weight_hh (4H, H)         R (D, 4H, H)
bias       bias (4H,)                      bias_ih, bias_hh (4H,)    B (D, 8H) = [Wb, Rb]
peepholes  peephole (3H,) i, f, o          (none)                    P (D, 3H) i, o, f
projection projection (H, P)               weight_hr (P, H)          (none)
=========  ==============================  ========================  ===========================
GRU        fastlstm (= Keras)              PyTorch ``nn.GRU``        ONNX ``GRU``
=========  ==============================  ========================  ===========================
gates      z, r, h                         r, z, n                   z, r, h
input      kernel (I, 3H)                  weight_ih (3H, I)         W (D, 3H, I)
recurrent  recurrent_kernel (H, 3H)        weight_hh (3H, H)         R (D, 3H, H)
bias       reset_after=True: (2, 3H) =     bias_ih, bias_hh (3H,)    B (D, 6H) = [Wb, Rb],
           [input bias; recurrent bias]                              linear_before_reset=1
bias       reset_after=False: (3H,)        (not representable)       B = [bias, 0],
                                                                     linear_before_reset=0
=========  ==============================  ========================  ===========================
RNN        fastlstm (= Keras SimpleRNN)    PyTorch ``nn.RNN``        ONNX ``RNN``
=========  ==============================  ========================  ===========================
input      kernel (I, H)                   weight_ih (H, I)          W (D, H, I)
recurrent  recurrent_kernel (H, H)         weight_hh (H, H)          R (D, H, H)
bias       bias (H,)                       bias_ih, bias_hh (H,)     B (D, 2H) = [Wb, Rb]
=========  ==============================  ========================  ===========================

The LSTM functions keep their short names (``from_torch``, ``to_torch``, ``to_onnx``,
``from_onnx``) and have ``lstm_*`` aliases. Where a peer has two biases and fastlstm one, the two
are summed on the way in and the second is zero on the way out. A SimpleRNN's activation ("tanh"
or "relu": torch's ``nonlinearity``, ONNX's ``activations=["Tanh"]`` or ``["Relu"]``) is not part
of its weights and is not converted.
A whole torch module, every layer and direction: :func:`stacked_from_torch`, for
:func:`fastlstm.stacked.rnn`.
Only NumPy is needed: pass arrays (for torch, ``tensor.detach().numpy()``).
"""

from __future__ import annotations

import numpy as np

from ._arrays import check_proj_size, real_array

Weights = tuple[np.ndarray, np.ndarray, np.ndarray]

# Position of each fastlstm gate block (i, f, g, o) in ONNX's order (i, o, f, c).
_ONNX_ORDER = (0, 3, 1, 2)


def _blocks(a: np.ndarray, axis: int):
    return np.split(a, 4, axis=axis)


def _torch_proj_size(value, hidden: int) -> int | None:
    """torch's proj_size: None or 0 (its default: none), or an int P with 0 < P < H."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == 0:
        return None
    return check_proj_size(value, hidden)


def _width_hint(width: int, hidden: int, proj_size: int | None, projection: bool) -> str | None:
    """None where the recurrent weights' state width is right: H, or the proj_size P given for a
    target with a projection (``projection``: torch's LSTM). Else what the error adds: advice to
    pass proj_size where the width could be a projection's, or "". A narrower width is not read
    as a projection unasked: weights passed in each other's place look like one where I < H."""
    if width == (proj_size or hidden):
        return None
    if projection and proj_size is None and 0 < width < hidden:
        return f" (for a projection of {width} units, pass proj_size={width})"
    return ""


def _refuse_transposed(a, name: str, other, other_name: str, gates: int, axis: int) -> None:
    """Refuse the input weight ``a`` given as its transpose. Its gate axis ``axis`` (0 in torch's
    (gates*H, I), 1 in fastlstm's (I, gates*H)) is as long as the recurrent weight ``other``'s,
    gates*H; a transpose has that length on its other axis. Unrefused, its I would be read as
    gates*H (a tiny H where gates divides I) and the correct ``other`` blamed."""
    width = other.shape[axis] if other.ndim == 2 else -1
    transposed = a.ndim == 2 and a.shape[1 - axis] == width != a.shape[axis]
    if not transposed or width < 1 or width % gates:
        return
    layout, whose = (
        (f"({gates}*H, I)", "PyTorch's") if axis == 0 else (f"(I, {gates}*H)", "fastlstm's")
    )
    raise ValueError(
        f"{name}: expected a 2-D array {layout} = {a.shape[::-1]} to match {other_name}, got its "
        f"transpose {a.shape} (pass {whose} {name} as it is: the conversion transposes it)"
    )


def _ours(kernel, recurrent_kernel, bias, gates: int, projection=False, proj_size=None):
    """fastlstm's kernel (I, gates*H), recurrent_kernel (H, gates*H), or (P, gates*H) where the
    target has a projection (``projection``: torch's LSTM) and proj_size P < H is given, and bias
    (gates*H,), checked against each other (bias None: zeros, a layer without a bias, as the
    converters from torch take it)."""
    kernel = real_array(kernel, "kernel")
    recurrent_kernel = real_array(recurrent_kernel, "recurrent_kernel")
    _refuse_transposed(kernel, "kernel", recurrent_kernel, "recurrent_kernel", gates, axis=1)
    if kernel.ndim != 2 or kernel.shape[1] % gates or kernel.shape[1] == 0:
        raise ValueError(f"kernel: expected a 2-D array (I, {gates}*H), got shape {kernel.shape}")
    cols = kernel.shape[1]
    hidden = cols // gates
    proj_size = _torch_proj_size(proj_size, hidden)
    width = recurrent_kernel.shape[0] if recurrent_kernel.ndim == 2 else -1
    wrong = _width_hint(width, hidden, proj_size, projection)
    if recurrent_kernel.ndim != 2 or recurrent_kernel.shape[1] != cols or wrong is not None:
        raise ValueError(
            f"recurrent_kernel: expected a 2-D array ({proj_size or hidden}, {cols}) to match "
            f"kernel{'' if proj_size is None else ' and proj_size'}, got shape "
            f"{recurrent_kernel.shape}{wrong or ''}"
        )
    if bias is None:
        return kernel, recurrent_kernel, np.zeros(cols, kernel.dtype)
    bias = real_array(bias, "bias")
    if bias.shape != (cols,):
        raise ValueError(f"bias: expected shape ({cols},) to match kernel, got {bias.shape}")
    return kernel, recurrent_kernel, bias


def _theirs(weight_ih, weight_hh, gates: int, projection=False, proj_size=None):
    """torch's weight_ih (gates*H, I) and weight_hh (gates*H, H), or (gates*H, P) where the
    module has a projection (``projection``: nn.LSTM) and proj_size P < H is given, checked."""
    weight_ih, weight_hh = real_array(weight_ih, "weight_ih"), real_array(weight_hh, "weight_hh")
    _refuse_transposed(weight_ih, "weight_ih", weight_hh, "weight_hh", gates, axis=0)
    other = _other_module(weight_ih, weight_hh, gates)
    if weight_ih.ndim != 2 or weight_ih.shape[0] % gates or weight_ih.shape[0] == 0:
        raise ValueError(
            f"weight_ih: expected a 2-D array ({gates}*H, I), got shape {weight_ih.shape}{other}"
        )
    rows = weight_ih.shape[0]
    hidden = rows // gates
    proj_size = _torch_proj_size(proj_size, hidden)
    width = weight_hh.shape[1] if weight_hh.ndim == 2 else -1
    wrong = _width_hint(width, hidden, proj_size, projection)
    if weight_hh.ndim != 2 or weight_hh.shape[0] != rows or wrong is not None:
        raise ValueError(
            f"weight_hh: expected a 2-D array ({rows}, {proj_size or hidden}) to match "
            f"weight_ih{'' if proj_size is None else ' and proj_size'}, got shape "
            f"{weight_hh.shape}{wrong or other}"
        )
    return weight_ih, weight_hh


# torch's modules by their gate blocks: the module, its converter and its stacked.rnn cell
_MODULES = {
    4: ("nn.LSTM", "from_torch", "lstm"),
    3: ("nn.GRU", "gru_from_torch", "gru"),
    1: ("nn.RNN", "rnn_from_torch", "simple_rnn"),
}


def _other_module(weight_ih, weight_hh, gates: int) -> str:
    """A hint where weights that do not fit ``gates`` gate blocks are another module's: rows
    (G*H) that are G times weight_hh's columns (H) for another G. ("" where they are not.)"""
    if weight_ih.ndim != 2 or weight_hh.ndim != 2 or weight_hh.shape[1] == 0:
        return ""
    rows, hidden = weight_ih.shape[0], weight_hh.shape[1]
    blocks = rows // hidden if rows % hidden == 0 and weight_hh.shape[0] == rows else 0
    if blocks == gates or blocks not in _MODULES:
        return ""
    module, converter, cell = _MODULES[blocks]
    return (
        f"; these are {module}'s weights (weight_ih's {rows} rows are {blocks}x weight_hh's "
        f"{hidden} columns): convert.{converter}, or cell={cell!r} for stacked_from_torch"
    )


def from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, proj_size=None) -> Weights:
    """(kernel, recurrent_kernel, bias) from ``nn.LSTM``'s weights; the two biases are summed.
    For ``nn.LSTM(proj_size=P)`` pass ``proj_size=P``: weight_hh is then (4H, P), and the
    projection comes from ``projection_from_torch(weight_hr)``."""
    return _from_torch(weight_ih, weight_hh, bias_ih, bias_hh, 4, True, proj_size)


def _from_torch(
    weight_ih, weight_hh, bias_ih, bias_hh, gates: int, projection=False, proj_size=None
) -> Weights:
    weight_ih, weight_hh = _theirs(weight_ih, weight_hh, gates, projection, proj_size)
    rows = weight_ih.shape[0]
    bias = np.zeros(rows, dtype=weight_ih.dtype)
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            b = real_array(b, name)
            if b.shape != (rows,):
                raise ValueError(
                    f"{name}: expected shape ({rows},) to match weight_ih, got {b.shape}"
                )
            bias = bias + b
    return weight_ih.T.copy(), weight_hh.T.copy(), bias


def to_torch(
    kernel, recurrent_kernel, bias, *, proj_size=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(weight_ih, weight_hh, bias_ih, bias_hh) for ``nn.LSTM``; bias_hh is zero. With a
    projection, pass ``proj_size=P`` (recurrent_kernel is then (P, 4H)), and the projection goes
    through ``projection_to_torch``."""
    return _to_torch(kernel, recurrent_kernel, bias, 4, True, proj_size)


def _to_torch(kernel, recurrent_kernel, bias, gates: int, projection=False, proj_size=None):
    kernel, recurrent_kernel, bias = _ours(
        kernel, recurrent_kernel, bias, gates, projection, proj_size
    )
    return kernel.T.copy(), recurrent_kernel.T.copy(), bias.copy(), np.zeros_like(bias)


def to_onnx(kernel, recurrent_kernel, bias) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, R, B) inputs of an ONNX ``LSTM`` node, one direction; the recurrent bias is zero."""
    kernel, recurrent_kernel, bias = _ours(kernel, recurrent_kernel, bias, 4)

    def reorder(a: np.ndarray, axis: int) -> np.ndarray:
        blocks = _blocks(a, axis)
        return np.concatenate([blocks[k] for k in _ONNX_ORDER], axis=axis)

    W = reorder(kernel, 1).T[None]
    R = reorder(recurrent_kernel, 1).T[None]
    B = np.concatenate([reorder(bias, 0), np.zeros_like(bias)])[None]
    return np.ascontiguousarray(W), np.ascontiguousarray(R), B


def from_onnx(W, R, B=None, direction: int = 0) -> Weights:
    """(kernel, recurrent_kernel, bias) from one direction of an ONNX ``LSTM`` node: 0 (its
    forward one), or 1 for a bidirectional node's reverse direction."""
    W, R, b = _onnx_weights(W, R, B, 4, direction)
    inverse = np.argsort(_ONNX_ORDER)

    def reorder(a: np.ndarray, axis: int) -> np.ndarray:
        blocks = _blocks(a, axis)
        return np.concatenate([blocks[k] for k in inverse], axis=axis)

    hidden4 = W.shape[0]
    bias = np.zeros(hidden4, dtype=W.dtype)
    if b is not None:
        if b.shape != (2 * hidden4,):
            raise ValueError(f"ONNX B must be (D, {2 * hidden4}), got {np.shape(B)}")
        bias = b[:hidden4] + b[hidden4:]
    return reorder(W, 0).T.copy(), reorder(R, 0).T.copy(), reorder(bias, 0)


def peephole_to_onnx(peephole) -> np.ndarray:
    """The ``P`` input of an ONNX ``LSTM`` node, one direction: (1, 3H) in ONNX's order i, o, f,
    from fastlstm's peepholes (3H,) in the order i, f, o."""
    peephole = real_array(peephole, "peephole")
    if peephole.ndim != 1 or peephole.size % 3:
        raise ValueError(f"peephole: expected a 1-D array (3H,), got shape {peephole.shape}")
    p_i, p_f, p_o = np.split(peephole, 3)
    return np.concatenate([p_i, p_o, p_f])[None]


def peephole_from_onnx(P, direction: int = 0) -> np.ndarray:
    """fastlstm's peepholes (3H,), blocks i, f, o, from one direction of an ONNX ``P`` (i, o, f)."""
    p = _one_direction({"P": P}, direction)["P"]
    if p.shape[0] % 3:
        raise ValueError(f"ONNX P must be (D, 3H), got {np.shape(P)}")
    p_i, p_o, p_f = np.split(p, 3)
    return np.concatenate([p_i, p_f, p_o])


def projection_from_torch(weight_hr) -> np.ndarray:
    """fastlstm's projection (H, P) from ``nn.LSTM(proj_size=P)``'s ``weight_hr_l0`` (P, H); the
    recurrent kernel comes from ``from_torch`` as usual, (P, 4H)."""
    return _projection(weight_hr, "weight_hr", torch_layout=True).T.copy()


def projection_to_torch(projection) -> np.ndarray:
    """``weight_hr_l0`` (P, H) from fastlstm's projection (H, P)."""
    return _projection(projection, "projection", torch_layout=False).T.copy()


def _projection(a, name: str, torch_layout: bool) -> np.ndarray:
    """torch's weight_hr (P, H) or fastlstm's projection (H, P), checked. P < H (torch refuses
    proj_size >= hidden_size), so one given in the other's layout shows in its shape; a square
    one cannot be told apart and is taken."""
    meaning = "(P, H)" if torch_layout else "(H, P)"
    a = real_array(a, name)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array {meaning}, got shape {a.shape}")
    p, h = a.shape if torch_layout else a.shape[::-1]
    if p > h:
        raise ValueError(
            f"{name}: expected a 2-D array {meaning} with P < H, got shape {a.shape}, which looks "
            "like its transpose (fastlstm's projection is (H, P); torch's weight_hr is (P, H))"
        )
    return a


lstm_from_torch = from_torch
lstm_to_torch = to_torch
lstm_to_onnx = to_onnx
lstm_from_onnx = from_onnx


def _one_direction(tensors: dict, direction: int = 0) -> dict:
    """One direction of each of an ONNX node's tensors, by name: W or R (D, gates*H, I or H), B
    (D, 2*gates*H), P (D, 3H). 0 is a node's forward direction, 1 a bidirectional node's reverse
    one; every tensor has the node's D directions (they had been read one by one, so a (1, ...)
    W passed with a (2, ...) R)."""
    arrays = {}
    for name, a in tensors.items():
        a = arrays[name] = real_array(a, name)
        ndim = 2 if name in ("B", "P") else 3
        if a.ndim != ndim:
            raise ValueError(
                f"ONNX {name} must be {ndim}-D with a leading direction axis, got shape {a.shape}"
            )
    counts = {a.shape[0] for a in arrays.values()}
    if len(counts) > 1:
        shapes = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
        raise ValueError(
            f"ONNX {', '.join(arrays)}: expected one number of directions D (the leading axis) in "
            f"every tensor of the node, got {shapes}"
        )
    if isinstance(direction, bool) or not isinstance(direction, (int, np.integer)):
        raise TypeError(f"direction: expected 0 or 1, got {direction!r}")
    (count,) = counts
    if not 0 <= direction < count:
        raise ValueError(
            f"direction: expected one of the node's {count} directions (0 to {count - 1}), got "
            f"{direction}"
        )
    return {name: a[direction] for name, a in arrays.items()}


def _onnx_weights(W, R, B, gates: int, direction: int):
    """Direction `direction` of an ONNX node's W (gates*H, I), R (gates*H, H), checked, and B
    (2*gates*H,), its shape left to the caller (None where B is)."""
    given = {"W": W, "R": R} | ({} if B is None else {"B": B})
    one = _one_direction(given, direction)
    W, R, B = one["W"], one["R"], one.get("B")
    hidden = R.shape[1]
    if R.shape[0] != gates * hidden or W.shape[0] != gates * hidden:
        raise ValueError(
            f"ONNX W, R: expected (D, {gates}*H, I) and (D, {gates}*H, H), got W {W.shape} and "
            f"R {R.shape} for one direction"
        )
    return W, R, B


# ------------------------------------------------------------------------------------------------
# GRU. fastlstm's (and ONNX's) gate blocks are z, r, h; torch's are r, z, n.

# Position of each fastlstm gate block (z, r, h) in torch's order (r, z, n); a swap, so its own
# inverse.
_GRU_TORCH_ORDER = (1, 0, 2)


def _swap_zr(a: np.ndarray, axis: int) -> np.ndarray:
    """Exchange the first two of three gate blocks along axis: z, r, h <-> r, z, n."""
    blocks = np.split(a, 3, axis=axis)
    return np.concatenate([blocks[k] for k in _GRU_TORCH_ORDER], axis=axis)


def _gru_bias(bias, hidden: int, reset_after: bool, dtype) -> np.ndarray:
    """A GRU's bias, checked: (2, 3H) with reset_after, else (3H,); None: zeros."""
    expected = (2, 3 * hidden) if reset_after else (3 * hidden,)
    if bias is None:
        return np.zeros(expected, dtype)
    bias = real_array(bias, "bias")
    if bias.shape != expected:
        raise ValueError(
            f"a GRU bias with reset_after={reset_after} is {expected} for H={hidden}, "
            f"got {bias.shape}"
        )
    return bias


def _gru_matrices(kernel, recurrent_kernel) -> tuple[np.ndarray, np.ndarray]:
    """A GRU's kernel (I, 3H) and recurrent_kernel (H, 3H), checked."""
    kernel, recurrent_kernel, _ = _ours(kernel, recurrent_kernel, None, 3)
    return kernel, recurrent_kernel


def _flag(value, name: str) -> bool:
    """An ONNX 0/1 attribute or a bool, as a bool."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (int, np.integer)) and value in (0, 1)
    ):
        return bool(value)
    raise ValueError(f"{name}: expected 0 or 1 (or a bool), got {value!r}")


def gru_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Weights:
    """(kernel, recurrent_kernel, bias) from ``nn.GRU``'s weights, for ``reset_after=True``
    (torch's only convention): bias (2, 3H) = [bias_ih; bias_hh], reordered, missing ones zero."""
    weight_ih, weight_hh = real_array(weight_ih, "weight_ih"), real_array(weight_hh, "weight_hh")
    _refuse_transposed(weight_ih, "weight_ih", weight_hh, "weight_hh", 3, axis=0)
    rows = weight_ih.shape[0] if weight_ih.ndim == 2 else -1
    if weight_ih.ndim != 2 or rows % 3 or weight_hh.shape != (rows, rows // 3):
        raise ValueError(
            "weight_ih, weight_hh: expected nn.GRU's (3H, I) and (3H, H), got "
            f"{weight_ih.shape} and {weight_hh.shape}{_other_module(weight_ih, weight_hh, 3)}"
        )
    bias = np.zeros((2, rows), dtype=weight_ih.dtype)
    for row, (name, b) in enumerate((("bias_ih", bias_ih), ("bias_hh", bias_hh))):
        if b is not None:
            b = real_array(b, name)
            if b.shape != (rows,):
                raise ValueError(
                    f"{name}: expected shape ({rows},) to match weight_ih, got {b.shape}"
                )
            bias[row] = _swap_zr(b, 0)
    return _swap_zr(weight_ih, 0).T.copy(), _swap_zr(weight_hh, 0).T.copy(), bias


def gru_to_torch(
    kernel, recurrent_kernel, bias, reset_after=True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(weight_ih, weight_hh, bias_ih, bias_hh) for ``nn.GRU``, from a ``reset_after=True`` GRU.

    ``nn.GRU`` applies the reset gate after the recurrent product; a ``reset_after=False`` GRU
    (bias (3H,)) computes something else, which no torch weights reproduce: ValueError.
    """
    kernel, recurrent_kernel = _gru_matrices(kernel, recurrent_kernel)
    hidden = recurrent_kernel.shape[0]
    if not reset_after or np.shape(bias) == (3 * hidden,):
        raise ValueError(
            "torch.nn.GRU only implements reset_after=True (bias (2, 3H)); a reset_after=False "
            "GRU (bias (3H,)) cannot be converted to it (ONNX can hold it: gru_to_onnx)"
        )
    bias = _gru_bias(bias, hidden, True, kernel.dtype)
    return (
        _swap_zr(kernel, 1).T.copy(),
        _swap_zr(recurrent_kernel, 1).T.copy(),
        _swap_zr(bias[0], 0),
        _swap_zr(bias[1], 0),
    )


def gru_to_onnx(
    kernel, recurrent_kernel, bias, reset_after=True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, R, B) inputs of an ONNX ``GRU`` node, one direction. Give the node
    ``linear_before_reset=int(reset_after)``; for ``reset_after=False`` the bias goes in Wb and
    Rb is zero."""
    kernel, recurrent_kernel = _gru_matrices(kernel, recurrent_kernel)
    bias = _gru_bias(
        bias, recurrent_kernel.shape[0], _flag(reset_after, "reset_after"), kernel.dtype
    )
    B = bias.reshape(-1) if reset_after else np.concatenate([bias, np.zeros_like(bias)])
    return kernel.T.copy()[None], recurrent_kernel.T.copy()[None], B[None].copy()


def gru_from_onnx(W, R, B=None, linear_before_reset=0, direction: int = 0) -> Weights:
    """(kernel, recurrent_kernel, bias) from one direction of an ONNX ``GRU`` node.

    ``linear_before_reset`` is the node's attribute (ONNX's default, 0): 1 gives a
    ``reset_after=True`` GRU, bias (2, 3H) = [Wb; Rb]; 0 gives ``reset_after=False``, bias
    Wb + Rb (3H,) (the two add in every gate there). ``direction``: as for :func:`from_onnx`.
    """
    linear_before_reset = _flag(linear_before_reset, "linear_before_reset")
    W, R, bias = _onnx_weights(W, R, B, 3, direction)
    hidden3 = W.shape[0]
    bias = np.zeros(2 * hidden3, dtype=W.dtype) if bias is None else bias
    if bias.shape != (2 * hidden3,):
        raise ValueError(f"ONNX GRU B must be (D, {2 * hidden3}), got {np.shape(B)}")
    wb, rb = bias[:hidden3], bias[hidden3:]
    bias = np.stack([wb, rb]) if linear_before_reset else wb + rb
    return W.T.copy(), R.T.copy(), bias


# ------------------------------------------------------------------------------------------------
# SimpleRNN: one gate, so no reordering; the activation is not part of the weights.


def rnn_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Weights:
    """(kernel, recurrent_kernel, bias) from ``nn.RNN``'s weights; the two biases are summed."""
    return _from_torch(weight_ih, weight_hh, bias_ih, bias_hh, 1)


def rnn_to_torch(
    kernel, recurrent_kernel, bias
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(weight_ih, weight_hh, bias_ih, bias_hh) for ``nn.RNN``; bias_hh is zero."""
    return _to_torch(kernel, recurrent_kernel, bias, 1)


def rnn_to_onnx(kernel, recurrent_kernel, bias) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, R, B) inputs of an ONNX ``RNN`` node, one direction; the recurrent bias is zero."""
    kernel, recurrent_kernel, bias = _ours(kernel, recurrent_kernel, bias, 1)
    B = np.concatenate([bias, np.zeros_like(bias)])
    return kernel.T.copy()[None], recurrent_kernel.T.copy()[None], B[None]


def rnn_from_onnx(W, R, B=None, direction: int = 0) -> Weights:
    """(kernel, recurrent_kernel, bias) from one direction of an ONNX ``RNN`` node; bias Wb + Rb.
    ``direction``: as for :func:`from_onnx`."""
    W, R, b = _onnx_weights(W, R, B, 1, direction)
    hidden = W.shape[0]
    bias = np.zeros(hidden, dtype=W.dtype)
    if b is not None:
        if b.shape != (2 * hidden,):
            raise ValueError(f"ONNX RNN B must be (D, {2 * hidden}), got {np.shape(B)}")
        bias = b[:hidden] + b[hidden:]
    return W.T.copy(), R.T.copy(), bias


# A whole torch module (num_layers, bidirectional, proj_size), for fastlstm.stacked.rnn: its own
# module, which reads this one's converters.
from ._torch_modules import StackedWeights, stacked_from_torch

__all__ = [
    "StackedWeights",
    "from_onnx",
    "from_torch",
    "gru_from_onnx",
    "gru_from_torch",
    "gru_to_onnx",
    "gru_to_torch",
    "lstm_from_onnx",
    "lstm_from_torch",
    "lstm_to_onnx",
    "lstm_to_torch",
    "peephole_from_onnx",
    "peephole_to_onnx",
    "projection_from_torch",
    "projection_to_torch",
    "rnn_from_onnx",
    "rnn_from_torch",
    "rnn_to_onnx",
    "rnn_to_torch",
    "stacked_from_torch",
    "to_onnx",
    "to_torch",
]
