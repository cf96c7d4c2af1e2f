"""The compiled core for this CPU.

fastlstm ships one complete extension module per x86-64 instruction-set level: ``_core_baseline``
(x86-64-v2: SSE4.2), ``_core_v3`` (AVX2 + FMA) and ``_core_v4`` (AVX-512); other architectures
ship ``_core_baseline`` alone. This module imports the best one the CPU supports and re-exports
its functions, so ``fastlstm._core.rnn_forward`` *is* the compiled function.

``FASTLSTM_CPU_CAPABILITY=baseline|v3|v4`` forces a level (for testing, or to match results
across machines); forcing a level the CPU cannot run raises ImportError instead of crashing.
"""

from __future__ import annotations

import atexit
import importlib
import os

LEVELS = ("baseline", "v3", "v4")  # worst to best
ENV = "FASTLSTM_CPU_CAPABILITY"


def _load(level: str):
    try:
        return importlib.import_module(f"{__package__}._core_{level}")
    except ImportError:
        return None


def _choose():
    # The check first, from a module built without -march (the baseline module is built for
    # x86-64-v2, and a CPU below it could stop on an illegal instruction while importing it).
    try:
        cpu = importlib.import_module(f"{__package__}._cpu")
    except ImportError:
        raise ImportError(
            "fastlstm: the compiled module _cpu is missing from the install"
        ) from None
    if not cpu.cpu_supports("baseline"):
        raise ImportError("fastlstm: this CPU does not support the baseline level (x86-64-v2)")
    baseline = _load("baseline")
    if baseline is None:
        raise ImportError(
            "fastlstm: the compiled module _core_baseline is missing from the install"
        )
    forced = os.environ.get(ENV, "").strip().lower()
    if forced:
        if forced not in LEVELS:
            raise ImportError(f"{ENV}: expected one of {', '.join(LEVELS)}, got {forced!r}")
        if not cpu.cpu_supports(forced):
            raise ImportError(f"{ENV}={forced}: this CPU does not support that level")
        module = _load(forced)
        if module is None:
            raise ImportError(f"{ENV}={forced}: this build of fastlstm has no module for it")
        return forced, module
    for level in reversed(LEVELS):
        if cpu.cpu_supports(level):
            module = baseline if level == "baseline" else _load(level)
            if module is not None:
                return level, module
    raise ImportError("fastlstm: this CPU does not support the baseline level (x86-64-v2)")


capability, _module = _choose()
globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
# At exit, calls still running in other (daemon) threads must not take the GIL back once the
# interpreter finalizes (Python 3.11 aborts the process then): see cpp/bindings/without_gil.hpp.
atexit.register(_module._at_exit)
__version__: str = _module.__version__
