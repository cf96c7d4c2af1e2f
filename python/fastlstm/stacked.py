"""Stacked and bidirectional recurrent networks over the functional API, forward and backward.

``rnn(x, weights, ...)`` runs ``num_layers`` layers of one cell ("lstm", "gru" or "simple_rnn"),
each in one or both directions, as ``torch.nn.LSTM(num_layers=..., bidirectional=...)`` does:
the input of layer l > 0 is the output of layer l - 1, both directions concatenated, with
(inverted) dropout between layers while training.

Weights and states are flat lists in PyTorch's order: layer 0 forward, layer 0 backward (when
bidirectional), layer 1 forward, ... Each weight entry is ``(kernel, recurrent_kernel, bias)`` in
fastlstm's layout for the cell (see :mod:`fastlstm.functional`); layer 0's kernel has I rows, a
later layer's H or 2H. Each state entry is ``(h, c)`` for the LSTM and ``h`` for the others.

An LSTM entry may hold a fourth item, its projection (H, P) (``nn.LSTM(proj_size=P)``'s
``weight_hr_l{k}{_reverse}.T``, see :func:`fastlstm.convert.projection_from_torch`): that entry's
outputs and h are P wide (its recurrent_kernel (P, 4H), its state ``(h (B, P), c (B, H))``) and
the next layer's kernel has P or 2P rows. Each entry is its own functional call, so layers with
and without a projection may be mixed, but the directions of one layer must give outputs of the
same width (P, or H without a projection): the merge and the next layer read them side by side.

The backward direction reads each sequence from its end: with ``lengths``, from its own last
valid step (PyTorch's packed sequences, ONNX); otherwise, from step T - 1, masked steps included
(Keras's ``go_backwards``). Its outputs are put back in input order before they are merged.

A ``mask`` reaches every layer and direction (the backward direction's reversed with its
sequence), with the functional API's rule: a masked step carries the state and repeats that
direction's previous output in its own reading order (the forward direction's last output
before the step, the backward direction's first output after it, or the direction's initial h
where there is none). Keras's ``Bidirectional`` layer, and :class:`fastlstm.layers.Bidirectional`
as it, gives zeros at masked steps instead. The next layer reads a masked step's output but
does not use it (the step is masked there too), so only the last layer's outputs differ.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _core
from . import functional as F
from ._arrays import check_seed, generator, integer, real_array, real_number

# Per cell: inference, forward keeping a cache, backward.
_CELLS = {
    "lstm": (F.lstm, F.lstm_forward, F.lstm_backward),
    "gru": (F.gru, F.gru_forward, F.gru_backward),
    "simple_rnn": (F.simple_rnn, F.simple_rnn_forward, F.simple_rnn_backward),
}
MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class StackedGrads(NamedTuple):
    """Gradients of :func:`rnn_backward`: dL/dx and, per weight and state entry (same order as
    the forward call's lists), the cell's gradient tuple: fields x (dL/d that entry's input
    sequence), kernel, recurrent_kernel, bias, h0 and, for the LSTM, c0; an LSTM entry with a
    projection gives :class:`fastlstm.functional.LSTMOptionGrads`, whose ``projection`` (H, P) is
    dL/dprojection (its h0 and recurrent_kernel P wide, its ``peephole`` None)."""

    x: np.ndarray
    layers: list


class StackedCache:
    """What :func:`rnn_backward` needs from one :func:`rnn_forward` call."""

    __slots__ = ("backward", "caches", "cell", "directions", "drop", "merge_mode", "order", "y")

    def __repr__(self) -> str:
        n = len(self.caches) // self.directions
        return f"StackedCache({n} layers, {self.directions} directions)"


class _Reversal:
    """Reverses each sequence in time: within its length when lengths are given (the padding
    stays where it is), else the whole time axis. Applying it twice restores the order."""

    def __init__(self, lengths):
        self.lengths = None if lengths is None else np.asarray(lengths).tolist()

    def __call__(self, a, time_major: bool):
        if a is None:
            return None
        a = np.asarray(a)  # a caller's dy may be nested lists (indexed by tuples below)
        if self.lengths is None:
            return np.flip(a, axis=0 if time_major else 1)
        out = a.copy()
        for b, n in enumerate(self.lengths):
            if n == 0:
                continue
            if time_major:
                out[:n, b] = a[n - 1 :: -1, b]
            else:
                out[b, :n] = a[b, n - 1 :: -1]
        return out


def _check_list(value, name: str, count: int, what: str) -> list:
    if not isinstance(value, (list, tuple)) or len(value) != count:
        got = f"{len(value)} entries" if isinstance(value, (list, tuple)) else type(value).__name__
        raise ValueError(f"{name}: expected a list of {count} {what}, got {got}")
    return list(value)


def _check_states(value, name: str, count: int, what: str, cell: str, pair: str) -> list:
    """A list of ``count`` ``what``, one per weight entry. PyTorch's LSTM layout, the pair ``pair``
    of (layers*directions, B, H) arrays, is named as such: where there are 2 entries it had
    passed as the list, and the first entry been blamed for holding a 3-D array."""
    if (
        cell == "lstm"
        and isinstance(value, (list, tuple))
        and len(value) == 2
        and all(not isinstance(s, (list, tuple)) and np.ndim(s) == 3 for s in value)
    ):
        raise ValueError(
            f"{name}: expected a list of {count} {what}, one ({pair}) per weight entry, got a "
            f"pair of 3-D arrays; from PyTorch's ({pair}) pass list(zip({pair}))"
        )
    if cell != "lstm" and not isinstance(value, (list, tuple)) and np.ndim(value) == 3:
        raise ValueError(
            f"{name}: expected a list of {count} {what}, one h0 per weight entry, got a 3-D "
            "array; from PyTorch's h0 (layers*directions, batch, hidden) pass list(h0)"
        )
    # A state given bare: a single layer's (h, c) (or [h, c], Keras's form), or its h; or an
    # LSTM's arrays where each entry takes a pair.
    bare_arrays = (
        cell == "lstm"
        and isinstance(value, (list, tuple))
        and len(value) > 0
        and all(not isinstance(s, (list, tuple)) and np.ndim(s) == 2 for s in value)
    )
    bare_h = cell != "lstm" and not isinstance(value, (list, tuple)) and np.ndim(value) == 2
    h, c = (n.rstrip("0") for n in pair.split(", "))  # h, c; or dh, dc
    if count == 1 and ((bare_arrays and len(value) == 2) or bare_h):
        given = f"an ({h}, {c}) pair" if bare_arrays else "a 2-D array"
        wrapped = f"[({h}, {c})]" if bare_arrays else f"[{h}]"
        raise ValueError(
            f"{name}: expected a list of 1 {what}, one per weight entry, got {given}; for the "
            f"one entry pass {wrapped}"
        )
    if bare_arrays:
        pairs = ", ".join(f"({h}{k}, {c}{k})" for k in range(count))
        raise ValueError(
            f"{name}: expected a list of {count} {what}, an ({h}, {c}) pair per weight entry, "
            f"got {len(value)} arrays; pass [{pairs}]"
        )
    return _check_list(value, name, count, what)


def _precision(kernel) -> str | None:
    """The dtype an entry computes in, by the functional API's rule (the core's compute_dtype);
    None for a kernel that is no array of real numbers (its call says why)."""
    try:
        real_array(kernel, "kernel")
    except TypeError:
        return None
    return _core.compute_dtype(kernel).name


def _check_precision(entries: list) -> None:
    """Every entry computes at one precision: each is its own functional call, so mixed kernels
    had run layer 0 in float64 and layer 1 in float32."""
    first = None
    for k, ((kernel, *_), _) in enumerate(entries):
        precision = _precision(kernel)
        if precision is None:
            continue
        if first is None:
            first = k, precision
        elif precision != first[1]:
            raise ValueError(
                f"weights[{k}]: expected a kernel computing in {first[1]} as weights[{first[0]}]'s "
                "does (every layer and direction computes at one precision: float64 for a float64 "
                f"or wider kernel, float32 otherwise), got a {np.asarray(kernel).dtype} kernel"
            )


def _entry(w, k: int, cell: str):
    """Weight entry k as ``(kernel, recurrent_kernel, bias)`` and the options it holds: an LSTM
    entry's 4th item is its projection (H, P); the other cells take 3 items."""
    sizes = (3, 4) if cell == "lstm" else (3,)
    if not isinstance(w, (list, tuple)) or len(w) not in sizes:
        expected = "(kernel, recurrent_kernel, bias)"
        if cell == "lstm":
            expected += " or (kernel, recurrent_kernel, bias, projection)"
        else:
            expected += " (only an LSTM entry has a 4th item, its projection)"
        got = f"{len(w)} items" if isinstance(w, (list, tuple)) else type(w).__name__
        raise ValueError(f"weights[{k}]: expected {expected} for cell={cell!r}, got {got}")
    return tuple(w[:3]), ({"projection": w[3]} if len(w) == 4 else {})


def _check_options(options: dict) -> None:
    """Reject the LSTM's weight-like options: one value would go to every layer and direction."""
    if "projection" in options:
        raise TypeError(
            "projection: stacked.rnn takes no projection= keyword (it would go to every layer); "
            "give each LSTM layer and direction its own as the 4th item of its weight entry, "
            "(kernel, recurrent_kernel, bias, projection)"
        )
    if "peephole" in options:
        raise TypeError(
            "peephole: stacked.rnn takes no peephole= keyword (one (3H,) weight would be shared "
            "by every layer and direction); run fastlstm.lstm per layer for peepholes"
        )
    if "return_cell_states" in options:
        raise TypeError(
            "return_cell_states: stacked.rnn returns final states only; run fastlstm.lstm "
            "per layer for the cell state at every step"
        )


def _merge(y_f, y_b, merge_mode):
    if merge_mode == "concat":
        return np.concatenate([y_f, y_b], axis=-1)
    if merge_mode == "sum":
        return y_f + y_b
    if merge_mode == "mul":
        return y_f * y_b
    if merge_mode == "ave":
        return (y_f + y_b) / 2
    return y_f, y_b


def _unmerge(dy, y_f, y_b, merge_mode):
    """dL/dy_f, dL/dy_b from dL/d(merged output), which must be shaped like that output."""
    if dy is not None and merge_mode is not None:
        dy = real_array(dy, "dy")
        width = y_f.shape[-1] * (2 if merge_mode == "concat" else 1)
        if dy.shape != (*y_f.shape[:-1], width):
            raise ValueError(
                f"dy: expected shape {(*y_f.shape[:-1], width)} (like y, merge_mode="
                f"{merge_mode!r}), got {dy.shape}"
            )
    if dy is None:
        return None, None
    if merge_mode == "concat":
        h = y_f.shape[-1]
        return dy[..., :h], dy[..., h:]
    if merge_mode == "sum":
        return dy, dy
    if merge_mode == "mul":
        return dy * y_b, dy * y_f
    if merge_mode == "ave":
        return dy / 2, dy / 2
    dy = _check_list(dy, "dy", 2, "arrays (merge_mode=None: one per direction)")
    return dy[0], dy[1]


def rnn_forward(
    x,
    weights,
    initial_state=None,
    *,
    cell: str = "lstm",
    num_layers: int = 1,
    bidirectional: bool = False,
    merge_mode: str | None = "concat",
    dropout: float = 0.0,
    training: bool = False,
    seed: int | None = None,
    time_major: bool = False,
    mask=None,
    lengths=None,
    _keep: bool = True,
    **options,
) -> tuple[Any, list, StackedCache]:
    """Run the network and keep what :func:`rnn_backward` needs.

    Args:
        x: (B, T, I), or (T, B, I) with ``time_major=True``.
        weights: ``num_layers * directions`` entries ``(kernel, recurrent_kernel, bias)``; an
            LSTM entry may add its projection (H, P) as a 4th item (see the module's notes).
            Every entry computes at one precision (float64 where its kernel is float64, float32
            otherwise, as in the functional API), so float64 and other kernels do not mix.
            :func:`fastlstm.convert.stacked_from_torch` gives them for a whole torch module.
        initial_state: None (zeros) or one state per weight entry (an LSTM entry with a
            projection: ``(h (B, P), c (B, H))``).
        cell: "lstm", "gru" or "simple_rnn"; ``options`` go to every layer (``reset_after``,
            ``activation``, the LSTM's ``clip``); ``projection`` and ``peephole`` are weights of
            one entry and are refused here.
        num_layers: layers stacked, each reading the (merged) output of the one below.
        bidirectional: each layer runs forward and, with its own weights, over the reversed
            sequence (within each length, with ``lengths``); entries go layer by layer, the
            forward direction first.
        merge_mode: how the last layer's two directions are combined: "concat" (B, T, 2H),
            "sum", "mul", "ave" (B, T, H), or None for the pair ``(y_forward, y_backward)``
            (P instead of H when the last layer has projections). Bidirectional stacks only:
            with ``bidirectional=False`` any other value than the default is refused.
        dropout, training, seed: with ``training=True``, each input of layers 1.. has its
            elements zeroed with probability ``dropout`` (the rest scaled by 1/(1 - dropout));
            ``seed`` makes the masks reproducible.
        time_major, mask, lengths: as in :func:`fastlstm.lstm`.

    Returns:
        ``(y, states, cache)``: states is one final state per weight entry.
    """
    if not isinstance(cell, str) or cell not in _CELLS:
        raise ValueError(f"cell: expected one of {', '.join(_CELLS)}, got {cell!r}")
    num_layers = integer(num_layers, "num_layers", at_least=1)
    if merge_mode not in MERGE_MODES:
        raise ValueError(f"merge_mode: expected one of {MERGE_MODES}, got {merge_mode!r}")
    dropout = real_number(dropout, "dropout", at_least=0, below=1)
    directions = 2 if F._flag(bidirectional, "bidirectional") else 1
    if directions == 1 and merge_mode != "concat":  # it had been ignored: None gave no pair
        raise ValueError(
            "merge_mode: expected the default 'concat' with bidirectional=False (merge_mode "
            f"applies to bidirectional stacks only: it combines two directions), got {merge_mode!r}"
        )
    training = F._flag(training, "training")
    time_major = F._flag(time_major, "time_major")
    count = num_layers * directions
    layout = f"{num_layers} layers x {directions} directions"
    _check_options(options)
    weights = _check_list(weights, "weights", count, f"weight entries ({layout})")
    entries = [_entry(w, k, cell) for k, w in enumerate(weights)]
    _check_precision(entries)
    states = [None] * count
    if initial_state is not None:
        what = f"states ({layout})"
        states = _check_states(initial_state, "initial_state", count, what, cell, "h0, c0")
    infer_fn, forward_fn, backward_fn = _CELLS[cell]
    x = real_array(x, "x")
    if x.ndim != 3:
        order_name = "(time, batch, input)" if time_major else "(batch, time, input)"
        raise ValueError(f"x: expected a 3-D array {order_name}, got shape {x.shape}")
    # Checked before any work is done; the mask as the core takes it (a copy: see F._mask).
    m, _ = F._mask(mask, lengths, x, time_major)
    if mask is not None:
        batch, steps = x.shape[:2][::-1] if time_major else x.shape[:2]
        if m.shape != (batch, steps):
            raise ValueError(
                f"mask: expected shape ({batch}, {steps}) (batch, time), got {m.shape}"
            )
        mask = m.view(np.bool_)
    order = _Reversal(lengths) if directions == 2 else None
    rev_mask = None if mask is None or order is None else mask[:, ::-1]
    rng = generator(check_seed(seed))

    cache = StackedCache()
    cache.caches, cache.drop, cache.y = [], [], []
    final, inputs = [], x
    for layer in range(num_layers):
        drop = None
        if layer > 0 and training and dropout > 0:
            drop = (rng.random(inputs.shape) >= dropout) / (1 - dropout)
            inputs = inputs * drop.astype(inputs.dtype, copy=False)
        cache.drop.append(drop)
        outs = []
        for d in range(directions):
            k = layer * directions + d
            w, extra = entries[k]
            seq = inputs if d == 0 else order(inputs, time_major)
            m = mask if d == 0 or mask is None else rev_mask
            try:
                kwargs = {"time_major": time_major, "mask": m, "lengths": lengths}
                kwargs |= extra | options
                if _keep:
                    y, state, c = forward_fn(seq, *w, states[k], **kwargs)
                else:  # inference keeps no training buffers
                    (y, state), c = infer_fn(seq, *w, states[k], **kwargs), None
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"layer {layer}, direction {d} (weights[{k}]): {exc}") from None
            if d > 0 and y.shape[-1] != outs[0].shape[-1]:
                raise ValueError(
                    f"layer {layer}: weights[{k - d}] gives outputs {outs[0].shape[-1]} wide and "
                    f"weights[{k}] {y.shape[-1]} wide; the directions of a layer must give the "
                    "same width (P with a projection, else H)"
                )
            outs.append(y if d == 0 else order(y, time_major))
            final.append(state)
            cache.caches.append(c)
        cache.y.append(outs)
        inputs = outs[0] if directions == 1 else np.concatenate(outs, axis=-1)
    outs = cache.y[-1]
    y = outs[0] if directions == 1 else _merge(outs[0], outs[1], merge_mode)
    cache.backward, cache.order, cache.directions, cache.cell = backward_fn, order, directions, cell
    cache.merge_mode = merge_mode
    return y, final, cache


def rnn(
    x,
    weights,
    initial_state=None,
    *,
    cell: str = "lstm",
    num_layers: int = 1,
    bidirectional: bool = False,
    merge_mode: str | None = "concat",
    dropout: float = 0.0,
    training: bool = False,
    seed: int | None = None,
    time_major: bool = False,
    mask=None,
    lengths=None,
    **options,
) -> tuple[Any, list]:
    """Inference: :func:`rnn_forward` without the cache. Returns ``(y, states)``, the arguments
    and results as :func:`rnn_forward`'s (y a pair for ``merge_mode=None``)."""
    y, states, _ = rnn_forward(
        x,
        weights,
        initial_state,
        cell=cell,
        num_layers=num_layers,
        bidirectional=bidirectional,
        merge_mode=merge_mode,
        dropout=dropout,
        training=training,
        seed=seed,
        time_major=time_major,
        mask=mask,
        lengths=lengths,
        _keep=False,
        **options,
    )
    return y, states


def rnn_backward(cache: StackedCache, dy, dstates=None, *, input_grad: bool = True) -> StackedGrads:
    """Backpropagate through every layer and direction of one :func:`rnn_forward` call.

    Args:
        dy: dL/dy, shaped like y (a pair for merge_mode=None); None for zero.
        dstates: None or one entry per final state (an LSTM's entry is (dh, dc), either None;
            dh is P wide for an entry with a projection); from PyTorch's (dh, dc), each
            (layers*directions, B, H), pass ``list(zip(dh, dc))``.
        input_grad: False skips dL/dx for the first layer (``x`` is then None, and so is each
            first-layer entry's ``x`` in ``layers``); the layers above still get theirs.

    Returns:
        :class:`StackedGrads`; ``layers[k]`` holds weight entry k's gradients, with
        ``projection`` for an LSTM entry that has one.
    """
    if not isinstance(cache, StackedCache):
        raise TypeError(
            f"cache: expected the StackedCache returned by rnn_forward, got {type(cache).__name__}"
        )
    count, D = len(cache.caches), cache.directions
    if dstates is None:
        dstates = [None] * count
    what = f"state gradients (one per final state: {count // D} layers x {D} directions)"
    dstates = _check_states(dstates, "dstates", count, what, cache.cell, "dh, dc")
    input_grad = F._flag(input_grad, "input_grad")
    time_major = cache.caches[0].time_major
    grads: list = [None] * count
    outs = cache.y[-1]
    douts = [dy] if D == 1 else list(_unmerge(dy, outs[0], outs[1], cache.merge_mode))
    dx = None
    for layer in reversed(range(count // D)):
        dinputs = None
        for d in range(D):
            k = layer * D + d
            dout = douts[d] if d == 0 else cache.order(douts[d], time_major)
            try:
                g = cache.backward(
                    cache.caches[k], dout, dstates[k], input_grad=input_grad or layer > 0
                )
            except (ValueError, TypeError) as exc:
                where = f"layer {layer}, direction {d} (entry {k} of weights and dstates)"
                raise type(exc)(f"{where}: {exc}") from None
            grads[k] = g
            if g.x is None:  # the first layer without input_grad
                continue
            gx = g.x if d == 0 else cache.order(g.x, time_major)
            dinputs = gx if dinputs is None else dinputs + gx
        dx = dinputs
        if dinputs is None:  # the first layer's, not wanted
            break
        if cache.drop[layer] is not None:
            dinputs = dinputs * cache.drop[layer].astype(dinputs.dtype, copy=False)
        if layer > 0 and D == 2:
            h = cache.y[layer - 1][0].shape[-1]
            douts = [dinputs[..., :h], dinputs[..., h:]]
        else:
            douts = [dinputs]
    return StackedGrads(dx, grads)
