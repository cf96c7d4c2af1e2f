"""Keras's functional model: :class:`Model` runs the graph that layers called on symbolic
tensors recorded (:mod:`fastlstm._graph`).

    encoder_in, decoder_in = Input(shape=(None, 32)), Input(shape=(None, 40))
    _, h, c = LSTM(64, return_state=True)(encoder_in)
    decoded = LSTM(64, return_sequences=True)(decoder_in, initial_state=[h, c])
    model = Model([encoder_in, decoder_in], Dense(40, activation="softmax")(decoded))
    model.compile("adam", "categorical_crossentropy")
    model.fit([encoder_x, decoder_x], decoder_y)

It is a :class:`~fastlstm.models.Sequential` whose walk over the layers follows the graph: the
weights, compile, fit/evaluate/predict, callbacks and saving are the same code. The forward pass
runs the nodes in order (each after every node it reads), keeping each output's array and mask;
the backward pass runs them in reverse, summing the gradients of a tensor that several nodes
read (and a shared layer's weight gradients over its calls), and skips what no trained weight
needs (a node with no trainable weight upstream gets no input gradient, and one with none
upstream or in itself no backward pass at all).

Data for several inputs is a list (or tuple) of arrays in the order of ``inputs``, or a dict by
the Inputs' names; fit's batches, shuffles and validation split take the same rows of each
(:class:`~fastlstm._inputs.ArrayGroup`). A model of several outputs returns a list and trains
with a loss per output (:mod:`fastlstm._model_outputs`). A layer may be called more than once
(a shared encoder; it is listed once in ``layers``); models may share layers (an inference model
made of a trained one's), and a model called on tensors is its layers called again on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import layers as layers_module
from . import metrics as metrics_lib
from ._graph import KerasTensor, Node, is_symbolic, refuse_call_options, trace
from ._inputs import ArrayGroup, _array, _data
from ._model_outputs import compiled, needs_targets, targets
from ._training import _raise_naming, _takes_input_grad
from .functional import _flag
from .layers.base import Layer, input_gradient, sublayers
from .layers.core import INPUT_DTYPES, Input, InputLayer, input_layer_of
from .models import Sequential, _has_regularizer, _penalised


def _listed(value, name: str) -> tuple[list, bool]:
    """(the tensors, whether a list was given) from one tensor or a list of them."""
    if isinstance(value, dict):
        raise TypeError(f"{name}: expected a tensor or a list of them; a dict is not supported")
    given = isinstance(value, (list, tuple))
    items = list(value) if given else [value]
    for k, t in enumerate(items):
        if isinstance(t, KerasTensor):
            continue
        where = f"{name}[{k}]" if given else name
        hint = ""
        if isinstance(t, InputLayer):
            hint = " (an InputLayer's tensor is its .output)"
        elif isinstance(t, (list, tuple)):
            hint = " (a layer of several outputs gives a list: list its tensors one by one)"
        raise TypeError(
            f"{where}: expected a symbolic tensor (Input(...) or a layer's output), got "
            f"{type(t).__name__}{hint}"
        )
    if not items:
        raise TypeError(f"{name}: expected a symbolic tensor or a list of them, got an empty list")
    return items, given


class Model(Sequential):
    """``Model(inputs, outputs)``: the layers between Input tensors and output tensors, as
    Keras's functional API describes them (see the module docstring). ``inputs``: an Input or a
    list of them; ``outputs``: a tensor or a list of them (then a call returns a list, and
    predict too unless the list holds one output, whose array it gives, as Keras 3's)."""

    # Its own, set by _connect (Sequential's properties make them from its layers instead).
    inputs: list = None  # type: ignore[assignment]
    outputs: list = None  # type: ignore[assignment]
    _input_layers: tuple | list = ()  # _connect sets the model's own lists
    _listing: tuple | list = ()

    def __init__(self, inputs=None, outputs=None, name: str | None = None) -> None:
        if inputs is None or outputs is None:
            raise TypeError(
                "Model: expected Model(inputs, outputs), the Input tensors and the output tensors "
                "of layers called on them (a subclassed Model with its own call() is not "
                "supported: fastlstm has no automatic differentiation)"
            )
        super().__init__(name=name)
        if name is None:
            self.name = "functional"
        self._connect(inputs, outputs)

    def _connect(self, inputs, outputs, rename: bool = True) -> None:
        self._output_specs = None  # compile's per-output losses and metrics (several outputs)
        self.inputs, self._listed_inputs = _listed(inputs, "inputs")
        self.outputs, self._listed_outputs = _listed(outputs, "outputs")
        for k, t in enumerate(self.inputs):
            if not isinstance(t, Input):
                raise TypeError(f"inputs[{k}]: expected an Input, got {t!r}")
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError("inputs: the same Input is given twice")
        names = [t.name for t in self.inputs if t.name is not None]
        if len(set(names)) != len(names):
            raise ValueError(f"inputs: two Inputs have the same name, in {names}")
        self._nodes: list[Node] = trace(self.inputs, self.outputs)
        if not self._nodes:
            raise ValueError("outputs: expected the output of a layer, got only Inputs")
        self._layers, first_nodes, calls = [], [], {}  # each layer once, at its first call
        for node in self._nodes:
            calls[id(node.layer)] = calls.get(id(node.layer), 0) + 1
            if calls[id(node.layer)] == 1:
                self._layers.append(node.layer)
                first_nodes.append(node)
        for layer in self._layers:
            if calls[id(layer)] > 1:
                _check_shareable(layer)
        batches = {t.shape[0] for t in self.inputs if t.shape[0] is not None}
        if len(batches) > 1:
            raise ValueError(
                f"inputs: they declare different batch sizes, {sorted(batches)}; a model takes "
                "one batch of samples at a time"
            )
        self._input_layers = [input_layer_of(t) for t in self.inputs]
        self._take_layers(rename)  # checked: now the layers' names and locks may change
        self._listing = _keras_order(self.inputs, self.outputs, self._input_layers)
        # per node: whether its layer is called more than once (its gradients are summed)
        self._shared = [calls[id(n.layer)] > 1 for n in self._nodes]
        self._make_plan()
        # what fit and predict read the declared batch size from (Sequential's build shape)
        self._build_shape = (next(iter(batches), None), *self.inputs[0].shape[1:])
        self._output_shapes = [  # per layer, for summary: its first call's
            [t.shape for t in n.outputs] if n.multi else n.outputs[0].shape for n in first_nodes
        ]
        self._analyse()

    def _make_plan(self) -> None:
        """What _run walks: a slot per tensor (the inputs first), and per node its layer, the
        slots it reads (inputs, initial states) and writes, and whether it reads a list and
        writes several."""
        slot = {id(t): k for k, t in enumerate(self.inputs)}
        self._plan = []
        for node in self._nodes:
            reads = tuple(slot[id(t)] for t in node.inputs)
            states = tuple(slot[id(t)] for t in node.states)
            for t in node.outputs:
                slot[id(t)] = len(slot)
            writes = tuple(slot[id(t)] for t in node.outputs)
            self._plan.append((node.layer, reads, states, writes, node.listed, node.multi))
        self._slots = len(slot)
        self._output_slots = [slot[id(t)] for t in self.outputs]
        # The one input's sizes after the batch where all are fixed: what a call's array may
        # be checked against at once (None: no quick check)
        tail = self.inputs[0].shape[1:]
        one = len(self.inputs) == 1 and None not in tail
        self._fixed_tail = tail if one else None

    def _take_layers(self, rename: bool = True) -> None:
        """Make the layers the model's: under its weights lock (joined with the locks of other
        models that hold them: see Sequential._adopt), and named apart. A layer another model
        holds keeps its name (two such may share one: ``get_layer`` gives the first); a new one
        whose automatic name is taken gets a suffix (lstm_1), and a new one given a taken name
        is refused. ``rename=False`` (a model loaded from a file) keeps every name."""
        held = [l for l in self._layers if getattr(l, "_model_lock", None) is not None]
        inputs = [l.name for l in self._input_layers]
        if rename and len(set(inputs)) != len(inputs):
            raise ValueError(f"inputs: their layers' names are used twice, in {inputs}")
        taken: tuple[set, set, dict] = (set(), {l.name for l in held} | set(inputs), {})
        if rename:
            held_ids = {id(l) for l in held}
            for layer in self._layers:
                if id(layer) not in held_ids:
                    self._unique_name(layer, taken)
                    taken[1].add(layer.name)
        for layer in self._layers:
            self._adopt(layer, taken)

    @property
    def layers(self) -> list[Layer]:
        """Its layers as Keras 3 lists a functional model's: an :class:`InputLayer` for each
        Input among them, in Keras's order (see _keras_order); a new list each time."""
        return list(self._listing)

    @layers.setter
    def layers(self, value) -> None:
        raise AttributeError("layers: a functional Model's layers come from its graph")

    @property
    def _weight_layers(self) -> list[Layer]:
        # Keras's order (layers, less the InputLayers), not the calls' (_layers): the weight
        # lists of a model with branches follow it, as Keras's do.
        held = {id(layer) for layer in self._layers}
        listed = [layer for layer in self._listing if id(layer) in held]
        return listed if len(listed) == len(self._layers) else self._layers

    def _summary_rows(self) -> list[tuple[Layer, Any]]:
        shapes = {id(l): shape for l, shape in super()._summary_rows()}
        return [(l, shapes.get(id(l), getattr(l, "batch_shape", None))) for l in self._listing]

    def _summary_connections(self) -> list[str]:
        """Per row, what each call of its layer reads, as Keras's summary names it,
        ``layer[call][output]`` (an Input's: ``input_layer[0][0]``); "-" for an InputLayer."""
        calls: dict[int, int] = {}
        names: dict[int, str] = {id(l.output): f"{l.name}[0][0]" for l in self._input_layers}
        per_layer: dict[int, list[str]] = {}
        for node in self._nodes:
            n = calls.get(id(node.layer), 0)
            calls[id(node.layer)] = n + 1
            for k, t in enumerate(node.outputs):
                names[id(t)] = f"{node.layer.name}[{n}][{k}]"
            read = ", ".join(names[id(t)] for t in node.inputs + node.states)
            per_layer.setdefault(id(node.layer), []).append(read)
        return ["; ".join(per_layer.get(id(layer), ["-"])) for layer in self._listing]

    @property
    def input(self):
        """The Input, or the list of Inputs, the model was made from (Keras's)."""
        return self.inputs if self._listed_inputs else self.inputs[0]

    @property
    def output(self):
        """The output tensor, or the list of them (Keras's)."""
        return self.outputs if self._listed_outputs else self.outputs[0]

    # -- structure -------------------------------------------------------------------------

    def add(self, layer) -> None:
        raise TypeError("add: a functional Model's layers come from its graph; use Sequential")

    def pop(self):
        raise TypeError("pop: a functional Model's layers come from its graph; use Sequential")

    def build(self, input_shape=None) -> None:
        """A functional model is built when it is made (its layers were built for the shapes
        of the tensors they were called on); this only checks ``input_shape``."""
        want = self.input_shape
        if input_shape is not None and _as_shapes(input_shape) != _as_shapes(want):
            raise ValueError(f"input_shape: the model takes {want}, got {input_shape!r}")

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes if self._listed_inputs else shapes[0]

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes if self._listed_outputs else shapes[0]

    @property
    def _trained_shape(self) -> tuple:
        return self.outputs[0].shape

    def _analyse(self) -> None:
        """Which nodes need a backward pass, and which of those an input gradient (see the
        module docstring), worked out once (again when a layer's ``trainable`` changed)."""
        self._trainable_flags = self._flags()
        self._regularised = [p for layer in self._trained_layers() for p in _penalised(layer)]
        trained_above: dict[int, bool] = {id(t): False for t in self.inputs}
        self._wants_input_grad, self._needs_backward = [], []
        for node in self._nodes:
            wants = any(trained_above[id(t)] for t in node.inputs + node.states)
            trains = self._trains and node.layer.trainable and bool(node.layer.weight_names)
            self._wants_input_grad.append(wants)
            self._needs_backward.append(wants or trains)
            for t in node.outputs:
                trained_above[id(t)] = wants or trains
        self._first_backward = 0  # read by loss_and_gradients; every node's gradients here
        self._caches = [None] * len(self._nodes)

    # -- data ------------------------------------------------------------------------------

    def _group(self, x) -> ArrayGroup:
        """x as one array per input, in the order of ``inputs``."""
        if isinstance(x, ArrayGroup):
            return x
        n = len(self.inputs)
        if n == 1 and type(x) is np.ndarray and x.ndim and x.dtype.kind in "biuf":
            return ArrayGroup((x,))  # what _array would give back: a model's call, quickly
        if isinstance(x, dict):
            names = [t.name for t in self.inputs]
            if None in names or set(x) != set(names):
                raise ValueError(
                    f"x: expected a dict with the Inputs' names as keys, {names} (an unnamed Input "
                    f"takes data in a list), got the keys {sorted(map(str, x))}"
                )
            arrays = [_array(x[k], f"x[{k!r}]") for k in names]
        elif n > 1 or (isinstance(x, (list, tuple)) and len(x) == 1 and _is_array(x[0])):
            if not isinstance(x, (list, tuple)) or len(x) != n:
                got = f"a list of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
                raise ValueError(
                    f"x: expected a list of {n} arrays, one per input of the model, got {got}"
                )
            arrays = [_array(a, f"x[{k}]") for k, a in enumerate(x)]
        else:
            arrays = [_array(x, "x")]
        rows = {len(a) if a.ndim else None for a in arrays}
        if len(rows) != 1:
            raise ValueError(
                f"x: expected the same number of samples in every input's array, got shapes "
                f"{[a.shape for a in arrays]}"
            )
        return ArrayGroup(arrays)

    def _data(self, x, y=None, sample_weight=None, *, need_y=True):
        if self._joint:
            y = targets(y, self.output_names, needs_targets(self._output_specs, len(self.outputs)))
            if isinstance(sample_weight, (list, tuple, dict)):
                raise ValueError(
                    "sample_weight: expected one array of a weight per sample, for every "
                    "output (weights per output are not supported)"
                )
        elif isinstance(y, (list, tuple)) and len(y) == 1 and _is_array(y[0]):
            y = y[0]  # the targets of a model of one output given in a list, as Keras takes them
        elif isinstance(y, dict):  # or by the output's name
            y = targets(y, self.output_names).arrays[0]
        return _data(self._group(x), y, sample_weight, need_y=need_y, dtype=self._widest_dtype())

    def _ensure_built(self, x) -> None:
        group = self._group(x)
        for k, (t, a) in enumerate(zip(self.inputs, group.arrays)):
            if a.shape[1:] == t.shape[1:]:
                continue  # every size fixed and as declared (a call's common case, quickly)
            if a.ndim != t.ndim or any(
                want is not None and want != got for want, got in zip(t.shape[1:], a.shape[1:])
            ):
                name = f"x[{k}]" if len(self.inputs) > 1 else "x"
                raise ValueError(
                    f"{name}: expected an array of shape {t.shape} (the model's input "
                    f"{t.name or k!r}, batch first), got shape {a.shape}"
                )

    # -- forward / backward ----------------------------------------------------------------

    def _called_on_tensors(self, x, training, mask):
        """The model inside a functional model: its layers called again, in the same graph,
        on the tensors given for its inputs (the functional model then holds these layers, not
        this model, and shares their weights with it)."""
        refuse_call_options(self.name, training, mask)
        if isinstance(x, dict):  # by the Inputs' names, as data may be given
            names = [t.name for t in self.inputs]
            if None in names or set(x) != set(names):
                raise ValueError(
                    f"x: expected a dict with the Inputs' names as keys, {names}, got the keys "
                    f"{sorted(map(str, x))}"
                )
            x = [x[name] for name in names]
        given, _ = _listed(x, "x")
        if len(given) != len(self.inputs):
            raise ValueError(
                f"x: expected {len(self.inputs)} symbolic tensors, one per input of model "
                f"{self.name!r}, got {len(given)}"
            )
        made: dict[int, Any] = {}
        for k, (t, inp) in enumerate(zip(given, self.inputs)):
            if t.ndim != inp.ndim or any(
                a is not None and b is not None and a != b for a, b in zip(t.shape, inp.shape)
            ):
                raise ValueError(
                    f"x: expected a tensor of shape {inp.shape} for input {k} of model "
                    f"{self.name!r}, got {t.shape}"
                )
            made[id(inp)] = t
        for node in self._nodes:
            ins = [made[id(t)] for t in node.inputs]
            out = node.layer(
                ins if node.listed else ins[0],
                **({"initial_state": [made[id(t)] for t in node.states]} if node.states else {}),
            )
            for t, o in zip(node.outputs, out if node.multi else [out]):
                made[id(t)] = o
        outs = [made[id(t)] for t in self.outputs]
        return outs if self._listed_outputs else outs[0]

    def __call__(self, x, training: bool = False, mask=None) -> Any:
        if training is not False:  # "no" would turn dropout on
            training = _flag(training, "training")
        # A service's call, quickly: one array of the one input's fixed shape
        quick = type(x) is np.ndarray and x.shape[1:] == self._fixed_tail and mask is None
        if quick and x.dtype.kind in "biuf":
            return self._call_layers(ArrayGroup((x,)), training)[0]
        if is_symbolic(x):
            return self._called_on_tensors(x, training, mask)
        if mask is not None:
            raise ValueError(
                "mask: expected None for a functional model (masks come from its layers)"
            )
        group = self._group(x)
        self._ensure_built(group)
        return self._call_layers(group, training)[0]

    def _run(self, x, training: bool, keep: bool):
        """Every node in order (``_plan``): the model's outputs and their masks, as lists;
        ``keep`` keeps each node's cache for the backward pass."""
        values, masks = [None] * self._slots, [None] * self._slots
        values[: len(x.arrays)] = x.arrays
        caches = self._caches
        for n, (layer, ins, states, outs, listed, multi) in enumerate(self._plan):
            if listed:
                x_in, mask = [values[k] for k in ins], [masks[k] for k in ins]
            else:
                x_in, mask = values[ins[0]], masks[ins[0]]
            try:
                out_mask = layer.compute_mask(x_in, mask)
                if states:
                    initial = [values[k] for k in states]
                    if keep:
                        out, caches[n] = layer.forward(
                            x_in, training=training, mask=mask, initial_state=initial
                        )
                    else:
                        out = layer.call(x_in, training=training, mask=mask, initial_state=initial)
                elif keep:
                    out, caches[n] = layer.forward(x_in, training=training, mask=mask)
                else:
                    out = layer.call(x_in, training=training, mask=mask)
            except (ValueError, TypeError) as exc:
                _raise_naming(layer, exc)
            if multi:
                for k, a in zip(outs, out):
                    values[k] = a
                if isinstance(out_mask, list):  # a mask per output (Attention's scores: none)
                    for k, m in zip(outs, out_mask):
                        masks[k] = m
                    continue
            else:
                values[outs[0]] = out
            masks[outs[0]] = out_mask  # a recurrent layer's states have none
        return [values[k] for k in self._output_slots], [masks[k] for k in self._output_slots]

    def _call_layers(self, x, training: bool, mask=None):
        """The outputs and their masks, each a list where ``outputs`` was given as one."""
        with self._weights_lock.reading:  # the weights of one training step throughout
            outs, masks = self._run(x, training, keep=False)
        if training:  # a call in training mode moves BatchNormalization's averages, as Keras's
            with self._weights_lock.writing:
                self._commit_staged()
        return (outs, masks) if self._listed_outputs else (outs[0], masks[0])

    # Training and evaluation: a model of one output, given alone or as a list of one, gives its
    # output and mask alone; one of several, the lists (the joint loss takes them).
    def _forward(self, x, training: bool):
        outs, masks = self._run(x, training, keep=True)
        return (outs, masks) if self._joint else (outs[0], masks[0])

    def _forward_inference(self, x):
        with self._weights_lock.reading:
            outs, masks = self._run(x, False, keep=False)
        return (outs, masks) if self._joint else (outs[0], masks[0])

    def _backward(self, dout) -> None:
        douts = dout if self._joint else [dout]
        grads: dict[int, Any] = {}
        _accumulate(grads, self.outputs, douts)
        summed: dict[int, list] = {}  # a shared layer's weight gradients, per layer owning some
        for n in range(len(self._nodes) - 1, -1, -1):
            node, cache = self._nodes[n], self._caches[n]
            self._caches[n] = None  # free the step's activations early
            ds = [grads.pop(id(t), None) for t in node.outputs]
            if not self._needs_backward[n] or all(d is None for d in ds):
                continue
            layer, wants = node.layer, self._wants_input_grad[n]
            d = ds if node.multi else ds[0]
            if not wants and _takes_input_grad(type(layer)):
                result = layer.backward(cache, d, input_grad=False)  # skips dL/dx: goes nowhere
            else:
                result = layer.backward(cache, d)
            if self._shared[n]:
                _add_weight_grads(summed, layer)
            if not wants:
                continue
            dx = input_gradient(result)
            _accumulate(grads, node.inputs, dx if node.listed else [dx])
            if node.states:
                names = layer.state_names
                _accumulate(grads, node.states, [getattr(result, f"{s}0") for s in names])
        for owner, total in summed.values():
            owner.grads = total

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        *,
        loss_weights: Any = None,
        **hints: Any,
    ) -> None:
        """As :meth:`Sequential.compile`. With several outputs (see
        :mod:`fastlstm._model_outputs`): ``loss`` one for all, a list or a dict by output name;
        ``loss_weights`` a list or dict of numbers (1 by default); ``metrics`` and
        ``weighted_metrics`` a list of one list per output, or a dict."""
        self._refuse_while_fitting("compile")
        self._output_specs = None
        if not self._joint:
            # One output: its entries may also come by its name, as Keras takes them
            loss, metrics, weighted_metrics, loss_weights = (
                self._by_output_name(value, what)
                for value, what in (
                    (loss, "loss"),
                    (metrics, "metrics"),
                    (weighted_metrics, "weighted_metrics"),
                    (loss_weights, "loss_weights"),
                )
            )
            super().compile(
                optimizer, loss, metrics, weighted_metrics, loss_weights=loss_weights, **hints
            )
            return
        if loss is None:
            raise ValueError("loss: expected a loss (a name such as 'mse' or a Loss), got None")
        joint, flat, weighted, specs = compiled(
            loss, loss_weights, metrics, weighted_metrics, self.output_names
        )
        if len(self.outputs) == 1:  # the loss is the output's: no second entry for it (Keras)
            flat, weighted = flat[1:], weighted[1:]
        super().compile(optimizer, joint, **hints)
        self._metric_specs, self._weighted = flat, weighted
        self._output_specs = specs

    def _by_output_name(self, value, what: str):
        """A compile argument of a model of one output given as {output name: entry}: the entry
        (other values as they are)."""
        if not isinstance(value, dict):
            return value
        names = self.output_names
        if set(map(str, value)) != set(names):
            raise ValueError(
                f"{what}: expected a dict with the output's name as its key, {names}, got the "
                f"keys {sorted(map(str, value))}"
            )
        return value[names[0]]

    @property
    def _joint(self) -> bool:
        """Whether the outputs were given as a list: then a loss per output (the joint loss),
        targets as a list or dict, and the outputs' lists through the loop."""
        return self._listed_outputs

    @property
    def output_names(self) -> list[str]:
        """Each output's name, the name of the layer that makes it, as Keras names them; where
        one layer makes several (an LSTM's ``return_state``), the later ones get a suffix that
        no layer of the model has."""
        layer_names = {l.name for l in self._layers}
        names: list[str] = []
        for t in self.outputs:
            base = t.node.layer.name if t.node else (t.name or "input")
            name, k = base, 0
            while name in names or (k and name in layer_names):
                k += 1
                name = f"{base}_{k}"
            names.append(name)
        return names

    def _check_class_weight(self, class_weight) -> None:
        if class_weight is not None and self._joint:
            raise ValueError(
                "class_weight: not supported for a model whose outputs are a list (as in Keras "
                "3); give sample_weight instead (or a model of one output given alone)"
            )

    def _custom_metrics(self) -> dict | None:
        if not self._output_specs:
            return super()._custom_metrics()
        specs = self._output_specs
        custom = {}
        for m in (m for ms in specs["metrics"] + specs["weighted_metrics"] for m in ms):
            if metrics_lib.is_custom(m):
                plain = type(m) is metrics_lib.MeanMetricWrapper
                custom[m.name] = m.fn if plain else m
        return custom or None

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Plain JSON data: the layers in the order the model first calls them, the inputs, each
        call of a layer (which layer, which tensors it reads) and the outputs. A tensor is named by where it
        comes from: ``["input", j]`` or ``["node", n, k]`` (output k of the n-th call)."""
        index = {id(layer): i for i, layer in enumerate(self._layers)}
        where = {id(t): ["input", j] for j, t in enumerate(self.inputs)}
        for n, node in enumerate(self._nodes):
            for k, t in enumerate(node.outputs):
                where[id(t)] = ["node", n, k]
        return {
            "name": self.name,
            "layers": [layers_module.serialize(layer) for layer in self._layers],
            "inputs": [
                {
                    "batch_shape": list(t.shape),
                    "dtype": t.dtype,
                    "name": layer.name,  # what the Input's layer is called, kept across a load
                }
                for t, layer in zip(self.inputs, self._input_layers)
            ],
            "listed_inputs": self._listed_inputs,
            "nodes": [
                {
                    "layer": index[id(node.layer)],
                    "inputs": [where[id(t)] for t in node.inputs],
                    "listed": node.listed,
                    "states": [where[id(t)] for t in node.states],
                }
                for node in self._nodes
            ],
            "outputs": [where[id(t)] for t in self.outputs],
            "listed_outputs": self._listed_outputs,
            **({} if self._trains else {"trainable": False}),
        }

    @classmethod
    def _from_config(cls, config: dict[str, Any], build: bool) -> Model:
        """The model a config describes. ``build=False``: its layers are made but not yet
        called (no weights from the config's sizes): the loader sets their weights from a
        file's arrays first, then calls :meth:`_wire`."""
        if not isinstance(config, dict):
            raise TypeError(f"config: expected a dict, got {type(config).__name__}")
        keys = {"name", "layers", "inputs", "listed_inputs", "nodes", "outputs", "listed_outputs"}
        if not keys <= set(config) <= keys | {"trainable"}:
            raise ValueError(f"config: expected the keys {sorted(keys)}, got {sorted(config)}")
        layers, nodes = config["layers"], config["nodes"]
        if not isinstance(layers, list) or not isinstance(nodes, list):
            raise TypeError("config: expected lists of layers and nodes")
        model = cls.__new__(cls)
        Sequential.__init__(model, name=config["name"])
        model._trains = _flag(config.get("trainable", True), "trainable")  # the layers keep theirs
        model._layers = [layers_module.deserialize(spec) for spec in layers]
        model._pending = config
        if build:
            model._wire()
        return model

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        """The same model, its layers' weights made afresh from their seeds."""
        return cls._from_config(config, build=True)

    def _wire(self) -> None:
        """Call the layers as the pending config says, then take the graph (every reference
        checked: a node reads only the inputs and the nodes before it)."""
        config, self._pending = self._pending, None
        specs = config["inputs"]
        if not isinstance(specs, list) or not specs:
            raise ValueError("inputs: expected a list of at least one input")
        inputs = []
        for spec in specs:
            if not isinstance(spec, dict) or set(spec) != {"batch_shape", "dtype", "name"}:
                raise ValueError(f"inputs: expected batch_shape, dtype and name, got {spec!r}")
            shape = spec["batch_shape"]
            if not isinstance(shape, list) or len(shape) < 2:
                raise ValueError(
                    f"inputs: expected a batch shape of 2 or more sizes, got {shape!r}"
                )
            dtype = spec["dtype"]
            if dtype is not None and dtype not in INPUT_DTYPES:  # a name, never a type's path
                raise ValueError(f"inputs: expected a dtype in {INPUT_DTYPES}, got {dtype!r}")
            inputs.append(Input(batch_shape=shape, dtype=dtype, name=spec["name"]))
        made: list[list[KerasTensor]] = []

        def tensor(ref, where: str) -> KerasTensor:
            ok = isinstance(ref, list) and all(type(v) is int for v in ref[1:])
            if ok and len(ref) == 2 and ref[0] == "input" and 0 <= ref[1] < len(inputs):
                return inputs[ref[1]]
            node_ok = ok and len(ref) == 3 and ref[0] == "node" and 0 <= ref[1] < len(made)
            if node_ok and 0 <= ref[2] < len(made[ref[1]]):
                return made[ref[1]][ref[2]]
            raise ValueError(
                f"{where}: expected a reference to an input or an earlier node's "
                f"output, got {ref!r}"
            )

        for n, spec in enumerate(config["nodes"]):
            if not isinstance(spec, dict) or set(spec) != {"layer", "inputs", "listed", "states"}:
                raise ValueError(
                    f"nodes[{n}]: expected layer, inputs, listed and states, got {spec!r}"
                )
            i = spec["layer"]
            if type(i) is not int or not 0 <= i < len(self._layers):
                raise ValueError(f"nodes[{n}]: expected a layer's index, got {i!r}")
            layer = self._layers[i]
            if not isinstance(spec["inputs"], list) or not isinstance(spec["states"], list):
                raise TypeError(f"nodes[{n}]: expected lists of inputs and states")
            ins = [tensor(r, f"nodes[{n}]") for r in spec["inputs"]]
            states = [tensor(r, f"nodes[{n}]") for r in spec["states"]] or None
            if spec["listed"] is not True and (spec["listed"] is not False or len(ins) != 1):
                raise ValueError(f"nodes[{n}]: expected one input, or listed: true")
            if states is not None:
                out = layer(ins if spec["listed"] else ins[0], initial_state=states)
            else:
                out = layer(ins if spec["listed"] else ins[0])
            made.append(out if isinstance(out, list) else [out])
        refs = config["outputs"]
        if not isinstance(refs, list) or not refs:
            raise ValueError("outputs: expected a list of at least one output")
        outputs = [tensor(r, "outputs") for r in refs]
        listed_in, listed_out = config["listed_inputs"], config["listed_outputs"]
        if not isinstance(listed_in, bool) or not isinstance(listed_out, bool):
            raise TypeError("listed_inputs, listed_outputs: expected true or false")
        if (not listed_in and len(inputs) > 1) or (not listed_out and len(outputs) > 1):
            raise ValueError("config: several inputs or outputs must be listed")
        layers = self._layers
        self._connect(
            inputs if listed_in else inputs[0], outputs if listed_out else outputs[0], rename=False
        )
        if [id(l) for l in self._layers] != [id(l) for l in layers]:
            raise ValueError("nodes: expected every layer called, in the order of the layers")

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, layers={[l.name for l in self._layers]})"


def _keras_order(inputs: list, outputs: list, input_layers: list) -> list:
    """The layers in the order Keras 3 lists a functional model's: by depth, the number of
    calls between a layer and the outputs (a layer called more than once at its deepest), the
    deepest first; within a depth, in the order a depth-first walk back from the outputs
    (outputs in order, then each call's inputs and states in order) first meets them. So an
    Input that joins late (a second input concatenated near the end) is listed where Keras
    lists it, not first. Inputs the outputs do not depend on come last, with depth 0."""
    layer_of = {id(t): l for t, l in zip(inputs, input_layers)}

    def op(t):  # what makes tensor t: its node, or the Input's layer
        return t.node if t.node is not None else layer_of[id(t)]

    def layer(o):
        return o.layer if isinstance(o, Node) else o

    def parents(o):
        return [op(t) for t in o.inputs + o.states] if isinstance(o, Node) else []

    order: list = []  # ops, each after those it reads
    first_seen: dict[int, int] = {}  # layer -> its index in the walk
    done: set[int] = set()
    for out in outputs:
        stack = [(op(out), False)]
        while stack:
            o, expanded = stack.pop()
            if expanded:
                done.add(id(o))
                order.append(o)
                continue
            if id(o) in done:
                continue
            first_seen.setdefault(id(layer(o)), len(first_seen))
            stack.append((o, True))
            stack.extend((p, False) for p in reversed(parents(o)))
    depth: dict[int, int] = {}  # per op
    layer_depth: dict[int, int] = {}
    for o in reversed(order):
        d = max(depth.setdefault(id(o), 0), layer_depth.get(id(layer(o)), 0))
        depth[id(o)] = layer_depth[id(layer(o))] = d
        for p in parents(o):
            depth[id(p)] = max(d + 1, depth.get(id(p), 0))
    by_id = {id(layer(o)): layer(o) for o in order}
    for l in input_layers:
        if id(l) not in by_id:  # an Input no output reads
            by_id[id(l)], layer_depth[id(l)], first_seen[id(l)] = l, 0, -1
    return sorted(by_id.values(), key=lambda l: (-layer_depth[id(l)], first_seen[id(l)]))


def _accumulate(grads: dict[int, Any], tensors, values) -> None:
    """Add each value (None: no gradient) to its tensor's gradient so far."""
    for t, d in zip(tensors, values):
        if d is None:
            continue
        held = grads.get(id(t))
        grads[id(t)] = d if held is None else held + d


def _grad_owners(layer) -> list:
    """The layers that hold ``layer``'s weight gradients: itself, or the layers it wraps."""
    return [s for s in sublayers(layer) if "grads" in vars(s)]


def _add_weight_grads(summed: dict[int, list], layer) -> None:
    """Add the gradients one call of a shared layer left in its ``grads`` to the sums so far."""
    for owner in _grad_owners(layer):
        held = summed.get(id(owner))
        if held is None:
            summed[id(owner)] = (owner, [np.array(g) for g in owner.grads])
        else:
            held[1][:] = [a + g for a, g in zip(held[1], owner.grads)]


def _check_shareable(layer) -> None:
    """A layer called more than once in one model: not one that carries state between calls
    (stateful, BatchNormalization's staged averages) or adds a penalty's gradient at each."""
    for sub in sublayers(layer):
        why = None
        if getattr(sub, "stateful", False):
            why = "it is stateful (each call would carry the other's state on)"
        elif hasattr(sub, "commit_staged"):
            why = "it moves its averages at each call in training"
        elif _has_regularizer(sub):
            why = "it has a regularizer (each call's gradient would add the penalty's)"
        if why:
            raise ValueError(
                f"layer {layer.name!r} is called more than once in this model, which a layer "
                f"may be unless {why}; make a layer for each call"
            )


def _is_array(a) -> bool:
    return isinstance(a, np.ndarray) or hasattr(a, "__array__")


def _as_shapes(shape):
    if isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    return tuple(shape)
