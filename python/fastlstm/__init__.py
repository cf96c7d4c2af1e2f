"""fastlstm: a fast, dependable LSTM for CPUs with a NumPy API.

Functional API: :func:`lstm` (inference), :func:`lstm_forward` and :func:`lstm_backward`
(training), :class:`LSTMStream` (one timestep per call). Layers: :mod:`fastlstm.layers`.
"""

from . import _core, initializers, layers, oracle
from .functional import LSTMCache, LSTMGrads, lstm, lstm_backward, lstm_forward
from .stream import LSTMStream

__version__: str = _core.__version__

__all__ = [
    "LSTMCache",
    "LSTMGrads",
    "LSTMStream",
    "__version__",
    "cpu_capability",
    "initializers",
    "layers",
    "lstm",
    "lstm_backward",
    "lstm_forward",
    "oracle",
    "simd_level",
]


def simd_level() -> str:
    """The SIMD instruction level the compiled core uses, e.g. "avx2" or "avx512"."""
    return _core.simd_level()


def cpu_capability() -> str:
    """The ISA level of the module in use: "baseline" (x86-64-v2), "v3" (AVX2) or "v4" (AVX-512).

    Chosen at import from the CPU's features; ``FASTLSTM_CPU_CAPABILITY`` forces one."""
    return _core.capability
