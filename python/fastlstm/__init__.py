"""fastlstm: a fast, dependable LSTM for CPUs with a NumPy API.

Functional API: :func:`lstm` (inference), :func:`lstm_forward` and :func:`lstm_backward`
(training), :class:`LSTMStream` (one timestep per call); the same for :func:`gru` and
:func:`simple_rnn`; :mod:`fastlstm.stacked` for several layers and both directions.
Models as in Keras: :class:`Sequential`, :class:`Model` (the functional API), :mod:`fastlstm.layers`, :func:`load_model`.
"""

from . import (
    _cgroups,
    _core,
    activations,
    callbacks,
    convert,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    oracle,
    preprocessing,
    regularizers,
    saving,
    schedules,
    stacked,
    utils,
)
from ._arrays import integer
from .functional import (
    GRUCache,
    GRUGrads,
    LSTMCache,
    LSTMGrads,
    LSTMOptionGrads,
    SimpleRNNCache,
    SimpleRNNGrads,
    gru,
    gru_backward,
    gru_forward,
    lstm,
    lstm_backward,
    lstm_forward,
    simple_rnn,
    simple_rnn_backward,
    simple_rnn_forward,
)
from .layers import Input
from .models import Model, Sequential
from .saving import load_model
from .stream import GRUStream, LSTMStream, SimpleRNNStream

__version__: str = _core.__version__

# A container's CPU limit caps the default thread count, and its memory limit the sizes the
# memory checks let through (see _cgroups): set before any call.
_core.set_num_threads(_cgroups.capped_default(_core.get_num_threads()))
_core._set_memory_groups(_cgroups.memory_cgroups())

__all__ = [
    "GRUCache",
    "GRUGrads",
    "GRUStream",
    "Input",
    "LSTMCache",
    "LSTMGrads",
    "LSTMOptionGrads",
    "LSTMStream",
    "Model",
    "Sequential",
    "SimpleRNNCache",
    "SimpleRNNGrads",
    "SimpleRNNStream",
    "__version__",
    "activations",
    "cached_bytes",
    "callbacks",
    "convert",
    "cpu_capability",
    "datasets",
    "empty_cache",
    "get_num_threads",
    "gru",
    "gru_backward",
    "gru_forward",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "lstm",
    "lstm_backward",
    "lstm_forward",
    "metrics",
    "models",
    "optimizers",
    "oracle",
    "preprocessing",
    "regularizers",
    "saving",
    "schedules",
    "set_num_threads",
    "simd_level",
    "simple_rnn",
    "simple_rnn_backward",
    "simple_rnn_forward",
    "stacked",
    "utils",
]


def simd_level() -> str:
    """The SIMD instruction level the compiled core uses, e.g. "avx2" or "avx512"."""
    return _core.simd_level()


def get_num_threads() -> int:
    """Threads one call may use. Defaults to the CPUs this process may run on, at most the whole
    CPUs its cgroup's CPU limit grants (a container's ``--cpus``, a Kubernetes CPU limit), or to
    ``OMP_NUM_THREADS`` when it is set."""
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Set the threads one call may use (1 to 1024). Results are identical run to run for a
    given thread count; across thread counts they agree to rounding (float32: within 1e-5 of
    the scale; about 1e-6 seen)."""
    _core.set_num_threads(integer(n, "n", at_least=1, at_most=_core.max_threads()))


def cached_bytes() -> int:
    """Bytes of freed large buffers (128 KiB and up) that the core keeps for its next calls.

    A training step asks for the same large buffers every time (tens of MB at B=32, T=100,
    H=512); reusing them spares the system's page faults. At most 512 MiB is kept."""
    return _core.cached_bytes()


def empty_cache() -> int:
    """Free the buffers counted by :func:`cached_bytes`, e.g. after training in a process that
    goes on serving. Returns the bytes freed. Arrays still in use are not affected."""
    return _core.empty_cache()


def cpu_capability() -> str:
    """The ISA level of the module in use: "baseline" (x86-64-v2), "v3" (AVX2) or "v4" (AVX-512).

    Chosen at import from the CPU's features; ``FASTLSTM_CPU_CAPABILITY`` forces one."""
    return _core.capability
