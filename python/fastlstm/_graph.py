"""Keras's functional API: layers called on symbolic tensors record a graph that
:class:`fastlstm.models.Model` runs.

    inputs = Input(shape=(T, I))
    x = LSTM(64, return_sequences=True)(inputs)
    outputs = Dense(1)(LSTM(32)(x))
    model = Model(inputs, outputs)

A symbolic tensor (:class:`KerasTensor`) is a shape, batch first, and the node that makes it; an
:class:`~fastlstm.layers.Input` is one that no node makes. Calling a layer on symbolic tensors
builds the layer for their shapes (weights made then, as Keras does) and records a
:class:`Node`: the layer, the tensors it reads (one, or a list for a merge layer, and for a
recurrent layer those given as ``initial_state``) and the tensors it makes (several for a
layer with ``return_state``). Nothing is computed until a model runs the nodes in order.
"""

from __future__ import annotations

from typing import Any


class KerasTensor:
    """A symbolic array: its ``shape`` (batch first, None where any size goes), its dtype, and
    the node (None for an Input) and which of that node's outputs it is."""

    def __init__(self, shape, dtype: Any = None, node: Node | None = None, index: int = 0):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name: str | None = None  # an Input's name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __array__(self, *args, **kwargs):
        # np.asarray(tensor) would make an object array and fail far from here
        raise TypeError(
            f"a symbolic tensor {self.shape} has no values: it stands for a layer's output in a "
            "model being described; build a Model(inputs, outputs) and call it on arrays"
        )

    def __repr__(self) -> str:
        source = "an Input" if self.node is None else f"layer {self.node.layer.name!r}"
        return f"<KerasTensor shape={self.shape} from {source}>"


class Node:
    """One call of a layer in a graph. ``inputs``: the tensors it reads, passed as a list when
    ``listed`` (merge layers), else the one tensor; ``states``: the tensors given as
    ``initial_state``; ``outputs``: the tensors it makes, a list of them from the layer when
    ``multi`` (return_state)."""

    __slots__ = ("inputs", "layer", "listed", "multi", "outputs", "states")

    def __init__(self, layer, inputs, listed: bool, states, output_shapes, multi: bool):
        self.layer = layer
        self.inputs: list[KerasTensor] = inputs
        self.listed = listed
        self.states: list[KerasTensor] = states
        self.multi = multi
        self.outputs = [KerasTensor(s, layer.dtype, self, k) for k, s in enumerate(output_shapes)]


def is_symbolic(x) -> bool:
    """Whether x is a symbolic tensor, or a list, tuple or dict that holds one."""
    if isinstance(x, (list, tuple)):
        return any(isinstance(t, KerasTensor) for t in x)
    if isinstance(x, dict):  # a model's inputs by name
        return any(isinstance(t, KerasTensor) for t in x.values())
    return isinstance(x, KerasTensor)


def _tensors(value, name: str) -> list[KerasTensor]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for t in items:
        if not isinstance(t, KerasTensor):
            raise TypeError(
                f"{name}: expected symbolic tensors (an Input or a layer's output) only, got "
                f"{type(t).__name__}: a layer called on symbolic tensors takes no arrays"
            )
    if not items:
        raise ValueError(f"{name}: expected at least one symbolic tensor, got an empty list")
    return items


def refuse_call_options(what: str, training, mask) -> None:
    """A call on symbolic tensors takes no ``training`` or ``mask``: the model gives them."""
    if training is not False or mask is not None:
        raise ValueError(
            f"{what}: training= and mask= are given by the model when it runs (fit trains, "
            "predict does not; masks flow from Embedding(mask_zero=True) or Masking); a call "
            "on symbolic tensors takes neither"
        )


def connect(layer, x, initial_state=None, training=False, mask=None) -> Any:
    """Record a call of ``layer`` on the symbolic tensor(s) ``x`` and return its output
    tensor(s), as the layer's call would return arrays. The layer is built for their shapes
    (where it is not built yet, else they must fit its weights)."""
    refuse_call_options(f"layer {layer.name!r}", training, mask)
    listed = isinstance(x, (list, tuple))
    if listed != bool(getattr(layer, "takes_list", False)):
        want = "a list of symbolic tensors" if not listed else "one symbolic tensor"
        raise TypeError(f"layer {layer.name!r}: expected {want}, got {type(x).__name__}")
    inputs = _tensors(x, "x")
    states = [] if initial_state is None else _tensors(initial_state, "initial_state")
    shape = [t.shape for t in inputs] if listed else inputs[0].shape
    bidirectional = getattr(layer, "forward_layer", None) is not None
    if states and (bidirectional or getattr(layer, "_state_widths", None) is None):
        raise ValueError(
            f"layer {layer.name!r}: initial_state from symbolic tensors is supported for LSTM, "
            "GRU and SimpleRNN layers (not Bidirectional)"
        )
    if bidirectional and layer.merge_mode is None:
        raise ValueError(
            f"layer {layer.name!r}: merge_mode=None (two outputs in one) is not supported in a "
            "functional model; use a merge mode, or two layers and a merge layer"
        )
    from .layers.base import BUILD_LOCK  # here: the layers import this module for Input

    with BUILD_LOCK:
        if not layer.built:
            layer._build_named(shape)
    fits = layer._input_shape_from_weights() if layer.weights else None
    last = shape[0][-1] if listed else shape[-1]
    if fits and fits[-1] is not None and last not in (None, fits[-1]):
        raise ValueError(
            f"layer {layer.name!r}: expected inputs with {fits[-1]} features (its weights' size), "
            f"got shape {shape}"
        )
    if states:
        _check_states(layer, states)
    out_shape = layer.compute_output_shape(shape)
    multi = isinstance(out_shape, list)
    node = Node(layer, inputs, listed, states, out_shape if multi else [out_shape], multi)
    layer.__dict__.setdefault("_graph_nodes", []).append(node)  # for layer.input, layer.output
    return list(node.outputs) if multi else node.outputs[0]


def only_call(layer, what: str) -> Node:
    """The node of a layer called once on symbolic tensors (Keras's layer.input and .output);
    AttributeError saying how often it was called otherwise."""
    nodes = layer.__dict__.get("_graph_nodes", [])
    if len(nodes) != 1:
        raise AttributeError(
            f"{what}: layer {layer.name!r} has been called on symbolic tensors {len(nodes)} "
            f"times; its {what} is that of its one call (a model's inputs and outputs are "
            "model.inputs and model.outputs)"
        )
    return nodes[0]


def _check_states(layer, states: list[KerasTensor]) -> None:
    """Symbolic initial states of a built recurrent layer: its own (h, or h and c), each
    (batch, width)."""
    want = layer._state_widths()
    names = layer.state_names
    if len(states) != len(want):
        raise ValueError(
            f"initial_state: expected {len(want)} tensors ({', '.join(names)}) for layer "
            f"{layer.name!r}, got {len(states)}"
        )
    for name, width, t in zip(names, want, states):
        if t.ndim != 2 or t.shape[1] not in (None, width):
            raise ValueError(
                f"initial_state: expected {name} of shape (batch, {width}) for layer "
                f"{layer.name!r}, got {t.shape}"
            )


def trace(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Node]:
    """The nodes between ``inputs`` and ``outputs``, each after every node it reads from (so
    the one that makes the last output comes last). ValueError where an output depends on an
    Input not among ``inputs``."""
    order: list[Node] = []
    done: set[int] = set()
    given = {id(t) for t in inputs}
    stack: list[tuple[KerasTensor, bool]] = [(t, False) for t in reversed(outputs)]
    while stack:  # depth first, without recursion: a graph may be thousands of layers deep
        t, expanded = stack.pop()
        node = t.node
        if node is None:
            if id(t) not in given:
                raise ValueError(
                    f"outputs: they depend on {t!r} ({getattr(t, 'name', None) or 'unnamed'}), "
                    "which is not among the model's inputs"
                )
            continue
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((t, True))
        stack += [(s, False) for s in reversed(node.inputs + node.states)]
    return order
