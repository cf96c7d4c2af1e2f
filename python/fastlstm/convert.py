"""Weight conversion between fastlstm's layout and other frameworks', in one place.

fastlstm (and Keras): kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,), gates i, f, g, o,
applied as x @ kernel.
PyTorch ``nn.LSTM``: weight_ih (4H, I), weight_hh (4H, H), bias_ih and bias_hh (4H,), gates
i, f, g, o, applied as W @ x.
ONNX ``LSTM``: W (D, 4H, I), R (D, 4H, H), B (D, 8H) = [Wb, Rb], gates i, o, f, c.
Only NumPy is needed: pass arrays (for torch, ``tensor.detach().numpy()``).
"""

from __future__ import annotations

import numpy as np

Weights = tuple[np.ndarray, np.ndarray, np.ndarray]

# Position of each fastlstm gate block (i, f, g, o) in ONNX's order (i, o, f, c).
_ONNX_ORDER = (0, 3, 1, 2)


def _blocks(a: np.ndarray, axis: int):
    return np.split(a, 4, axis=axis)


def from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Weights:
    """(kernel, recurrent_kernel, bias) from ``nn.LSTM``'s weights; the two biases are summed."""
    weight_ih, weight_hh = np.asarray(weight_ih), np.asarray(weight_hh)
    bias = np.zeros(weight_ih.shape[0], dtype=weight_ih.dtype)
    for b in (bias_ih, bias_hh):
        if b is not None:
            bias = bias + np.asarray(b)
    return weight_ih.T.copy(), weight_hh.T.copy(), bias


def to_torch(
    kernel, recurrent_kernel, bias
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(weight_ih, weight_hh, bias_ih, bias_hh) for ``nn.LSTM``; bias_hh is zero."""
    kernel, recurrent_kernel, bias = map(np.asarray, (kernel, recurrent_kernel, bias))
    return kernel.T.copy(), recurrent_kernel.T.copy(), bias.copy(), np.zeros_like(bias)


def to_onnx(kernel, recurrent_kernel, bias) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, R, B) inputs of an ONNX ``LSTM`` node, one direction; the recurrent bias is zero."""
    kernel, recurrent_kernel, bias = map(np.asarray, (kernel, recurrent_kernel, bias))

    def reorder(a: np.ndarray, axis: int) -> np.ndarray:
        blocks = _blocks(a, axis)
        return np.concatenate([blocks[k] for k in _ONNX_ORDER], axis=axis)

    W = reorder(kernel, 1).T[None]
    R = reorder(recurrent_kernel, 1).T[None]
    B = np.concatenate([reorder(bias, 0), np.zeros_like(bias)])[None]
    return np.ascontiguousarray(W), np.ascontiguousarray(R), B


def from_onnx(W, R, B=None) -> Weights:
    """(kernel, recurrent_kernel, bias) from one direction of an ONNX ``LSTM`` node."""
    W, R = np.asarray(W)[0], np.asarray(R)[0]
    inverse = np.argsort(_ONNX_ORDER)

    def reorder(a: np.ndarray, axis: int) -> np.ndarray:
        blocks = _blocks(a, axis)
        return np.concatenate([blocks[k] for k in inverse], axis=axis)

    hidden4 = W.shape[0]
    bias = np.zeros(hidden4, dtype=W.dtype)
    if B is not None:
        B = np.asarray(B)[0]
        bias = B[:hidden4] + B[hidden4:]
    return reorder(W, 0).T.copy(), reorder(R, 0).T.copy(), reorder(bias, 0)
