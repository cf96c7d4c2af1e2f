"""Shared helpers for the bad-input tests (test_bad_input_*.py): sizes, argument names,
a call wrapper, the NumPy oracle's answer and assertions on messages and results.

Bad input never crashes: it works with a documented result or raises a ValueError/TypeError
whose message names the argument, what was expected and what arrived.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from fastlstm import lstm, lstm_forward, oracle

B, T, I, H = 3, 4, 5, 6  # distinct, so that every size in a message is unambiguous
G = 4 * H
WEIGHTS = ("kernel", "recurrent_kernel", "bias")
FORWARDS = pytest.mark.parametrize("fn", [lstm, lstm_forward], ids=["lstm", "lstm_forward"])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])


def raises(exc, name: str, expected: str, got: str):
    """pytest.raises for a message "<name>: expected ...<expected>... got ...<got>"."""
    pattern = rf"{re.escape(name)}: expected\b.*{re.escape(expected)}.*\bgot\b.*{re.escape(got)}"
    return pytest.raises(exc, match=pattern)


def call(fn, p, time_major=False, **changes):
    """fn(x, kernel, recurrent_kernel, bias, (h0, c0)) with some arguments replaced."""
    a = {**p, **changes}
    state = (a["h0"], a["c0"])
    return fn(a["x"], a["kernel"], a["recurrent_kernel"], a["bias"], state, time_major=time_major)


def reference(p, **changes):
    """The oracle's (y, h, c) for batch-major x."""
    a = {**p, **changes}
    x = np.swapaxes(np.asarray(a["x"], dtype=np.float64), 0, 1)
    w = [np.asarray(a[n], dtype=np.float64) for n in (*WEIGHTS, "h0", "c0")]
    y, h, c, _ = oracle.forward(x, *w)
    return np.swapaxes(y, 0, 1), h, c


def tol(dtype) -> float:
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


def assert_same(actual, expected):
    """Same dtype and shape, equal values (NaN where expected has NaN)."""
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol(expected.dtype))


def assert_outputs_same(a, b):
    """Two (y, (h, c), ...) results agree."""
    assert_same(a[0], b[0])
    assert_same(a[1][0], b[1][0])
    assert_same(a[1][1], b[1][1])


def shape_of(*dims) -> str:
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def bad_kinds(value):
    """(array, how its dtype appears in the message) for complex, object and string data."""
    v = np.asarray(value)
    return [
        (v.astype(np.complex128), "complex128"),
        (v.astype(object), "object"),
        (v.astype(str), "<U"),
    ]


def strided(a):
    """A non-contiguous view with a's values: every other element of a doubled last axis."""
    big = np.repeat(a, 2, axis=-1)
    return big[..., ::2]


def weights(p, **changes):
    a = {**p, **changes}
    return [a[n] for n in WEIGHTS]
