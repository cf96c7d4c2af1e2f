"""A whole torch recurrent module (``nn.LSTM`` with ``proj_size``, ``nn.GRU``, ``nn.RNN``; every
layer and direction) converted for :func:`fastlstm.stacked.rnn`: :func:`stacked_from_torch`,
public as ``fastlstm.convert.stacked_from_torch``. Each layer and direction goes through
:mod:`fastlstm.convert`'s one-layer converters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from .convert import Weights, _from_torch, gru_from_torch, projection_from_torch, rnn_from_torch


def _lstm_entry(weight_ih, weight_hh, bias_ih, bias_hh, proj_size=None) -> Weights:
    """from_torch without its advice to pass proj_size, which a state_dict's weight_hr gives."""
    return _from_torch(weight_ih, weight_hh, bias_ih, bias_hh, 4, proj_size is not None, proj_size)


# Per stacked.rnn cell: torch's module and the converter of one layer and direction.
_TORCH_MODULES = {
    "lstm": ("nn.LSTM", _lstm_entry),
    "gru": ("nn.GRU", gru_from_torch),
    "simple_rnn": ("nn.RNN", rnn_from_torch),
}
# A parameter of torch's recurrent modules: name, layer, direction (_reverse: the second one).
_TORCH_KEY = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?")


class StackedWeights(NamedTuple):
    """A torch module's weights as :func:`fastlstm.stacked.rnn` takes them:
    ``stacked.rnn(x, **converted._asdict())``. ``weights`` is in PyTorch's entry order (layer 0,
    its reverse direction when bidirectional, layer 1, ...), each entry ``(kernel,
    recurrent_kernel, bias)`` or, for ``nn.LSTM(proj_size=P)``, ``(..., projection (H, P))``."""

    weights: list
    cell: str
    num_layers: int
    bidirectional: bool


def stacked_from_torch(state_dict, cell: str = "lstm") -> StackedWeights:
    """Every layer and direction of a torch ``nn.LSTM`` (``proj_size`` included), ``nn.GRU`` or
    ``nn.RNN``, from its state_dict, for :func:`fastlstm.stacked.rnn`.

    Only NumPy is needed: ``state_dict`` maps torch's parameter names (``weight_ih_l0``,
    ``bias_hh_l1_reverse``, ``weight_hr_l0``, ...) to arrays. Each layer and direction goes
    through :func:`from_torch` (and :func:`projection_from_torch`), :func:`gru_from_torch` or
    :func:`rnn_from_torch`; a ``bias=False`` module has no bias keys, and gets zero biases.
    ``num_layers`` and ``bidirectional`` are read from the keys. Missing and unexpected keys,
    and misshaped arrays, are refused naming the key. nn.RNN's ``nonlinearity`` is no weight:
    pass ``activation="relu"`` to stacked.rnn for a relu one. Torch's initial states (h0, c0)
    go to stacked.rnn as ``list(zip(h0, c0))`` (an LSTM) or ``list(h0)``.

    Args:
        state_dict: ``{k: v.detach().numpy() for k, v in module.state_dict().items()}``, the
            recurrent module's own (a parent's has prefixed keys).
        cell: stacked.rnn's name for the module's cell: "lstm", "gru" or "simple_rnn".

    Example::

        state = {k: v.detach().numpy() for k, v in net.state_dict().items()}  # net: nn.LSTM
        converted = convert.stacked_from_torch(state, cell="lstm")
        y, states = stacked.rnn(x, **converted._asdict())  # x (B, T, I): batch_first=True
    """
    if not isinstance(cell, str) or cell not in _TORCH_MODULES:
        raise ValueError(f"cell: expected one of {', '.join(_TORCH_MODULES)}, got {cell!r}")
    layers, directions, names = _torch_layout(state_dict, cell)
    weights = []
    for layer in range(layers):
        for d in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            weights.append(_torch_entry(state_dict, suffix, cell, names))
    _check_layer_inputs(weights, directions)
    return StackedWeights(weights, cell, layers, directions == 2)


def _torch_layout(state_dict, cell: str) -> tuple[int, int, set]:
    """(num_layers, directions, parameter names) of a torch module's state_dict, every key
    checked: each layer and direction has weight_ih and weight_hh, and all or none have biases
    (none: bias=False) and, for an LSTM, weight_hr (proj_size)."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            "state_dict: expected a mapping of PyTorch parameter names to arrays "
            f"(module.state_dict()), got {type(state_dict).__name__}"
        )
    module = _TORCH_MODULES[cell][0]
    allowed = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    allowed += ("weight_hr",) if cell == "lstm" else ()
    found = []
    for key in state_dict:
        match = _TORCH_KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None or match[1] not in allowed:
            hint = ""
            if isinstance(key, str) and "." in key:
                hint = " (a parent module's keys are prefixed: pass the recurrent module's own)"
            raise ValueError(
                f"state_dict: expected {module}'s parameters ({'_l{k}, '.join(allowed)}_l{{k}}, "
                f"_reverse for the second direction), got an unexpected key {key!r}{hint}"
            )
        found.append((match[1], int(match[2]), bool(match[3])))
    if not found:
        raise ValueError(
            f"state_dict: expected {module}'s parameters (weight_ih_l0, weight_hh_l0, ...), got "
            "no keys"
        )
    layers = 1 + max(layer for _, layer, _ in found)
    directions = 2 if any(reverse for *_, reverse in found) else 1
    names = {"weight_ih", "weight_hh"} | {name for name, *_ in found}
    if names & {"bias_ih", "bias_hh"}:
        names |= {"bias_ih", "bias_hh"}
    for layer in range(layers):
        for d in range(directions):
            for name in sorted(names):
                key = f"{name}_l{layer}" + ("_reverse" if d else "")
                if key not in state_dict:
                    raise ValueError(
                        f"state_dict: missing key {key!r} (the other keys are those of {module}("
                        f"num_layers={layers}, bidirectional={directions == 2}), which has it)"
                    )
    return layers, directions, names


def _torch_entry(state_dict, suffix: str, cell: str, names: set) -> tuple:
    """The weight entry of one layer and direction: the keys ending in ``suffix``."""

    def get(name):
        return state_dict[name + suffix] if name in names else None

    try:
        args = [get(name) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        if "weight_hr" not in names:
            return _TORCH_MODULES[cell][1](*args)
        projection = projection_from_torch(get("weight_hr"))  # (H, P): weight_hh is (4H, P)
        return (*_lstm_entry(*args, proj_size=projection.shape[1]), projection)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"state_dict's *{suffix} keys: {exc}") from None


def _check_layer_inputs(weights: list, directions: int) -> None:
    """Layer l > 0 reads layer l - 1's outputs, its directions side by side: its kernel has
    directions * (P or H) rows, the rows of the recurrent kernel below (P with a projection)."""
    for k in range(directions, len(weights)):
        layer, kernel = k // directions, weights[k][0]
        below = weights[k - directions][1].shape[0]
        if kernel.shape[0] != directions * below:
            key = f"weight_ih_l{layer}" + ("_reverse" if k % directions else "")
            raise ValueError(
                f"{key}: expected shape {(kernel.shape[1], directions * below)} to take layer "
                f"{layer - 1}'s outputs ({directions} x {below}: {below} wide per direction, side "
                f"by side), got shape {kernel.shape[::-1]}"
            )
