"""What a caller passes, as NumPy arrays of real numbers (and seeds), with errors naming it."""

from __future__ import annotations

import math
import numbers
import random
import re
import unicodedata

import numpy as np

from ._locks import BuildLock


def real_array(value, name: str) -> np.ndarray:
    """``value`` as a NumPy array of real numbers (bool, integer or float), or TypeError naming
    ``name``: complex values are not silently cut to their real part, and another library's
    array that cannot convert (a torch tensor that requires grad, or of bfloat16) says why."""
    if type(value) is np.ndarray:  # the common case, 0.3 µs cheaper (no other library's attribute)
        if value.dtype.kind in "biuf":
            return value
    elif getattr(value, "requires_grad", False):
        raise TypeError(
            f"{name}: expected an array, got a {type(value).__name__} that requires grad "
            f"(pass .detach())"
        )
    else:
        refuse_masked(value, name)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise TypeError(f"{name}: expected an array, got {type(value).__name__} ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected an array of real numbers, got dtype {arr.dtype}")
    return arr


# NumPy's words for a size it cannot even try to allocate (more than it can index).
_TOO_BIG = ("Maximum allowed dimension exceeded", "array is too big")


def snake_case(name: str) -> str:
    """A class name as Keras names its objects: "MyScale" -> "my_scale", "GRU" -> "gru"."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def too_big(exc: BaseException) -> bool:
    """Whether ``exc`` is NumPy's refusal of a size: a MemoryError, or a ValueError saying the
    array would be larger than it can index."""
    return isinstance(exc, MemoryError) or (
        isinstance(exc, ValueError) and any(words in str(exc) for words in _TOO_BIG)
    )


def room_for(nbytes: float) -> bool:
    """Whether ``nbytes`` more fit in the memory free now. The core asks the system (tens of
    µs) only beyond its unchecked size (a sixteenth of the memory this process may use, at
    most 32 MiB), and this asks the core only there."""
    from . import _core  # here: the core imports nothing of this module, but loads late

    global _UNCHECKED
    if _UNCHECKED is None:
        _UNCHECKED = _core._unchecked_bytes()  # the package's import gave the core its cgroups
    return nbytes <= _UNCHECKED or _core._room_for(float(nbytes))


_UNCHECKED: float | None = None


def _free_gib() -> str:
    from . import _core

    return f"{_core._available_memory() / 2**30:.1f} GiB"


def check_room(who: str, values: float, dtype, what: str) -> None:
    """A MemoryError naming ``who`` where ``values`` values of ``dtype`` (``what``: an output and
    the working copies NumPy makes of it) do not fit in the memory free now. Linux grants such
    arrays and then ends the process while their pages are filled."""
    nbytes = float(values) * np.dtype(dtype).itemsize
    if not room_for(nbytes):
        raise MemoryError(
            f"{who}: {what} need {nbytes / 2**30:.1f} GiB, more than the memory free now "
            f"({_free_gib()})"
        )


def allocate(name: str, shape: tuple, dtype, fill=None, what: str = "") -> np.ndarray:
    """``np.empty(shape, dtype)`` (``np.full`` with ``fill``; ``np.zeros`` for 0), where a size
    beyond memory, the memory free now, or what NumPy can index is a MemoryError naming
    ``name`` (the argument the size came from; ``what`` says more) and the shape: NumPy's own
    names neither."""
    dtype = np.dtype(dtype)
    gib = math.prod(shape) * dtype.itemsize / 2**30
    about = f"{tuple(shape)} of {dtype} ({gib:.3g} GiB{', ' + what if what else ''})"
    if not room_for(gib * 2**30):
        raise MemoryError(
            f"{name}: cannot allocate an array of shape {about}: more than the memory free "
            f"now ({_free_gib()})"
        )
    try:
        if fill is None:
            return np.empty(shape, dtype)
        return np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype)
    except (MemoryError, ValueError) as exc:
        if not too_big(exc):
            raise
    raise MemoryError(f"{name}: cannot allocate an array of shape {about}: more than memory holds")


def _shown(value) -> str:
    """A float to nine digits; a long double beyond float64 (which format() would call inf) as
    NumPy writes it."""
    shown = f"{value:.9g}"
    return str(value) if math.isinf(float(shown)) and np.isfinite(value) else shown


def _refuse_lost(arr: np.ndarray, out: np.ndarray, name: str, first_row: int = 0, among="") -> None:
    """ValueError naming ``name`` where ``out``, ``arr`` cast to a narrower float, holds inf for a
    finite value of ``arr``; ``arr`` is the caller's rows from ``first_row`` on (``among`` says
    which, where there are more)."""
    if arr.dtype.kind != "f" or out.dtype.kind != "f" or arr.dtype.itemsize <= out.dtype.itemsize:
        return
    lost = np.flatnonzero(np.isinf(out) & np.isfinite(arr))
    if lost.size:
        at = tuple(int(i) for i in np.unravel_index(lost[0], arr.shape))
        shown = _shown(arr[at])
        at = (at[0] + first_row, *at[1:]) if at else at
        raise ValueError(
            f"{name}: expected values within {out.dtype}'s range "
            f"(magnitude <= {np.finfo(out.dtype).max:.9g}), got {shown} at index {at} "
            f"({lost.size} such value{'s' if lost.size > 1 else ''}{among})"
        )


def cast_within_range(arr: np.ndarray, dtype, name: str) -> np.ndarray:
    """A C-contiguous copy of ``arr`` in ``dtype``; ValueError naming ``name`` where a finite
    value lies beyond that dtype's range (NumPy's cast makes it inf, with only a warning: 1e300
    as float32). Infinities and NaN given as such are kept."""
    with np.errstate(over="ignore"):
        out = np.array(arr, dtype=dtype, order="C")
    _refuse_lost(arr, out, name)
    return out


def check_within_range(arr: np.ndarray, dtype, name: str, chunk: int = 1 << 20) -> None:
    """cast_within_range's check of a whole array without keeping its cast, a block of rows
    (about ``chunk`` values) at a time: a dataset checked before it is cut into batches, so that
    the index named is the caller's (a memory-mapped one is never read whole into memory)."""
    if arr.dtype.kind != "f" or arr.ndim == 0 or arr.dtype.itemsize <= np.dtype(dtype).itemsize:
        return
    rows = max(1, chunk // max(1, arr[:1].size))
    for start in range(0, len(arr), rows):
        block = arr[start : start + rows]
        with np.errstate(over="ignore"):
            out = block.astype(dtype)
        among = "" if len(block) == len(arr) else f" among rows {start}-{start + len(block) - 1}"
        _refuse_lost(block, out, name, start, among)


def refuse_masked(value, name: str) -> None:
    """TypeError for a NumPy masked array: its mask would be ignored (the values under it used)."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{name}: expected an array, got a numpy.ma.MaskedArray, whose mask would be ignored; "
            "pass its data (np.ma.getdata) or its values filled in (.filled()), and for a batch "
            "of sequences say which steps are valid with mask= or lengths=, or a Masking layer"
        )


def real_number(
    value,
    name: str,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    allow_none: bool = False,
) -> float | None:
    """``value`` as a float (None stays None where ``allow_none``). TypeError unless it is a real
    number: bool, str (not read as a number), complex and the like are not. ValueError unless it
    is finite and within the bounds given: >= at_least, > above, <= at_most, < below. Either
    error names ``name``, what was expected and what arrived."""
    if value is None and allow_none:
        return None
    low = ("[", at_least) if at_least is not None else ("(", above) if above is not None else None
    high = ("]", at_most) if at_most is not None else (")", below) if below is not None else None
    if low and high:
        expected = f"a number in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    elif low or high:
        sign = {"[": ">=", "(": ">", "]": "<=", ")": "<"}[(low or high)[0]]
        expected = f"a finite number {sign} {(low or high)[1]:g}"
    else:
        expected = "a finite number"
    expected += " or None" if allow_none else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name}: expected {expected}, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not (
        math.isfinite(number)
        and (at_least is None or number >= at_least)
        and (above is None or number > above)
        and (at_most is None or number <= at_most)
        and (below is None or number < below)
    ):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return number


def _bound(n: int) -> str:
    """A bound as a reader knows it: 2**31 rather than 2147483648."""
    return f"2**{n.bit_length() - 1}" if n >= 1 << 16 and n & (n - 1) == 0 else str(n)


def integer(
    value,
    name: str,
    *,
    at_least: int | None = None,
    at_most: int | None = None,
    below: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """``value`` as an int (None stays None where ``allow_none``), as :func:`real_number` for
    numbers: TypeError unless it is an int (Python's or NumPy's; bool, float, str are not),
    ValueError unless it lies within the bounds given: >= at_least, <= at_most, < below."""
    if value is None and allow_none:
        return None
    high = ("]", at_most) if at_most is not None else (")", below) if below is not None else None
    if at_least in (0, 1):  # the common bounds, in words
        expected = ("a positive" if at_least else "a non-negative") + " integer"
        if high:
            expected += f" {'up to' if high[0] == ']' else 'below'} {_bound(high[1])}"
    elif at_least is not None and high:
        expected = f"an integer in [{at_least}, {_bound(high[1])}{high[0]}"
    elif at_least is not None:
        expected = f"an integer >= {at_least}"
    elif high:
        expected = f"an integer {'<=' if high[0] == ']' else '<'} {_bound(high[1])}"
    else:
        expected = "an integer"
    expected += " or None" if allow_none else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected {expected}, got {value!r}")
    whole = int(value)
    if not (
        (at_least is None or whole >= at_least)
        and (at_most is None or whole <= at_most)
        and (below is None or whole < below)
    ):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return whole


# Longer names are no names a model needs, and error messages repeat them.
MAX_NAME = 1024


def check_name(name) -> None:
    """A model's, layer's, metric's, loss's or optimizer's ``name``: None (the class's own), or
    a str of at most MAX_NAME printable characters. A control character (an escape sequence
    printed by summary() would drive the terminal) or a lone surrogate (which summary() cannot
    encode) is refused."""
    if name is None:
        return
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str or None, got {name!r}")
    if len(name) > MAX_NAME:
        raise ValueError(f"name: expected at most {MAX_NAME} characters, got {len(name)}")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        raise ValueError(f"name: expected printable characters, got {bad!r} in {name[:100]!r}")


def check_proj_size(value, units: int) -> int | None:
    """None, or an int P with 0 < P < units (PyTorch's proj_size < hidden_size)."""
    if value is None:
        return None
    expected = f"None or an int P with 0 < P < units = {units}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"proj_size: expected {expected}, got {value!r}")
    if not 0 < value < units:
        raise ValueError(
            f"proj_size: expected {expected} (PyTorch's proj_size < hidden_size: a projection "
            f"as wide as the cell would project nothing away), got {value!r}"
        )
    return int(value)


def check_seed(seed):
    """``seed`` as an int, or None: TypeError for what is not an int, ValueError for a negative
    one."""
    return integer(seed, "seed", at_least=0, allow_none=True)


# utils.set_random_seed's state: the seed sequence that generators made without a seed of their
# own draw theirs from, in the order they are made, and how many have drawn (Keras's global
# seed); None: they take fresh entropy.
_global_seed: list = [None, 0]
_global_lock = BuildLock()  # renewed in a forked child (a thread may hold it at the fork)


def set_random_seed(seed) -> None:
    """Seeds Python's ``random``, NumPy's global generator and every generator fastlstm makes
    without a seed of its own from here on (layers' weights and dropout, a model's shuffling,
    ``stacked.rnn``'s dropout, a shuffled time series), as ``keras.utils.set_random_seed``."""
    seed = integer(seed, "seed", at_least=0, below=2**32)
    random.seed(int(seed))
    np.random.seed(int(seed))  # noqa: NPY002 (the legacy global, for NumPy code that uses it)
    with _global_lock:
        _global_seed[:] = [np.random.SeedSequence(int(seed)), 0]


def generator(seed=None, *stream: int) -> np.random.Generator:
    """``numpy.random.default_rng([seed, *stream])``; without a seed, one drawn from
    :func:`set_random_seed`'s where it was called, else fresh entropy."""
    if seed is None:
        with _global_lock:
            sequence, drawn = _global_seed
            if sequence is None:
                return np.random.default_rng()
            _global_seed[1] = drawn + 1
        seed = int(np.random.SeedSequence([sequence.entropy, drawn]).generate_state(1)[0])
    return np.random.default_rng([seed, *stream] if stream else seed)
