"""Keras-like models: :class:`Sequential`, a stack of fastlstm layers trained with NumPy arrays.

    model = Sequential([Embedding(1000, 32, mask_zero=True), LSTM(64), Dense(1, "sigmoid")],
                       seed=0)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=5, validation_split=0.1)
    probabilities = model.predict(x_new)

Keras code for these layers runs after changing the import; the README lists what differs.
Shapes are batch-first throughout.

Seeds: ``Sequential(..., seed=s)`` gives every layer built without its own seed the seed
``SeedSequence([s, i]).generate_state(1)[0]`` (i its position), so the weights and dropout masks
are reproducible, and draws each epoch's shuffle (``fit(shuffle=True)``) from one generator,
``numpy.random.default_rng([s, 0x5EED])``, that advances across fit calls and is saved with the
model: the same seeds give the same loss curve run to run, and a saved model resumes exactly.
Without a seed these are drawn from fresh entropy, as Keras.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

import numpy as np

from . import layers as layers_module
from . import losses, optimizers
from . import metrics as metrics_lib
from ._arrays import check_name, integer
from ._graph import KerasTensor, refuse_call_options
from ._locks import WeightsLock
from ._training import Trainer, unique_names
from .functional import _flag
from .layers.base import BUILD_LOCK, Layer, check_seed, sublayers
from .layers.cells import RecurrentCell
from .layers.core import Input, InputLayer, TimeDistributed
from .layers.recurrent import Recurrent
from .layers.wrappers import Bidirectional


class Sequential(Trainer):
    """A linear stack of layers. ``layers`` may start with ``Input(shape)``, or with a layer
    given Keras 2's ``input_shape=`` (``batch_input_shape=``, ``input_dim=``, Embedding's
    ``input_length=``), to build the model at once; otherwise it is built from the first data
    it sees (or :meth:`build`)."""

    def __init__(self, layers=None, name: str | None = None, seed: int | None = None) -> None:
        check_name(name)
        self.name = name or "sequential"
        self.seed = check_seed(seed)
        self._layers: list[Layer] = []
        self._build_shape: tuple | None = None
        # Whether an Input (or a first layer's input_shape=) declared _build_shape: every size
        # it fixes is then checked, as Keras 3 does; a model built from data, or declared by Keras
        # 2's input_length (which Keras 2 only warned about and Keras 3 ignores), checks the rank
        # only (a model trained on 100 steps may be called on 1).
        self._declared_input = False
        self._output_shapes: list = []
        self._shuffle_rng: np.random.Generator | None = None
        # Written while a training step updates the weights (and the optimizer's state) or
        # set_weights replaces them, read while a call, a save or get_weights uses them: each
        # sees the weights of one step, never some of the next.
        self._weights_lock = WeightsLock()
        self._fits = 0  # fit calls running (a callback's fit runs inside another)
        self._trains = True  # the model's own flag (Keras 3's): False, no layer of it trains
        self._reset_compile()
        self.stop_training = False
        self.history = None
        if layers is not None:
            if not isinstance(layers, (list, tuple)):
                raise TypeError(f"layers: expected a list of layers, got {type(layers).__name__}")
            for layer in layers:
                self.add(layer)

    # -- structure -------------------------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        """The model's layers in order, a new list each time (add and pop change the model);
        a Sequential's ``Input`` is not among them, as in Keras 3."""
        return list(self._layers)

    @layers.setter
    def layers(self, value) -> None:
        raise AttributeError("layers: a model's layers change through add and pop, not by setting")

    def add(self, layer) -> None:
        """Append a layer (or, first, an ``Input``). A first layer that declares its input shape
        (``LSTM(32, input_shape=(T, I))``) builds the model like an ``Input`` before it; on a
        later layer, or after an ``Input``, the declaration is ignored, as Keras does."""
        self._add(layer, build=True)

    def _add(self, layer, build: bool, taken: tuple[set, set, dict] | None = None) -> None:
        """``add``; with ``build=False`` a first layer's declared shape is kept for later but
        nothing is built (the loader sets the weights from the file first). ``taken``: the ids
        and names of the layers so far and the next suffix to try per name, kept by a caller
        that adds many (from_config), so that each add costs O(1), not a scan of the model (a
        file of 30,000 layers had taken a minute to load)."""
        if isinstance(layer, InputLayer):
            layer = layer.output  # Keras 3's InputLayer(shape=...): its Input
        if isinstance(layer, Input):
            if self._layers or self._declared_input:
                raise ValueError("layer: an Input can only be the first entry of a Sequential")
            self._build_shape = layer.batch_shape
            self._declared_input = True
            return
        if getattr(layer, "_data_only", False):
            raise TypeError(
                f"layer: {type(layer).__name__} maps texts, and a model takes numbers: apply it "
                "to the data before fit (x_ids = layer(texts)) and give the model the ids"
            )
        if not isinstance(layer, Layer):
            hint = ""
            if isinstance(layer, RecurrentCell):
                hint = "; a cell steps once: RNN(cell) is its layer"
            elif isinstance(layer, Sequential):
                hint = "; a Sequential cannot hold another: list its layers (*model.layers) instead"
            raise TypeError(f"layer: expected a fastlstm layer, got {type(layer).__name__}{hint}")
        what = None  # a setting that gives the next layer something other than one array
        if isinstance(layer, (Recurrent, Bidirectional)):
            if layer.return_state:
                what = "return_state=True"
            elif getattr(layer, "return_cell_states", False):
                what = "return_cell_states=True (two outputs)"
            elif getattr(layer, "time_major", False):
                what = "time_major=True"
            elif isinstance(layer, Bidirectional) and layer.merge_mode is None:
                what = "merge_mode=None (two outputs)"
        if what:
            raise ValueError(
                f"layer: a Sequential model passes one batch-major array between layers, "
                f"so {layer.name!r} cannot have {what}"
            )
        if taken is None:
            taken = ({id(l) for l in self._layers}, {l.name for l in self._layers}, {})
        old_name = self._unique_name(layer, taken)
        declared = None
        if not self._layers and self._build_shape is None:
            declared = getattr(layer, "batch_input_shape", None)  # Keras 2's input_shape=
        self._layers.append(layer)
        if declared is not None:
            self._build_shape = declared
            self._declared_input = not getattr(layer, "_shape_from_length", False)
        if build and self._build_shape is not None:  # after an Input or a build: as layers come
            try:
                self.build(self._build_shape)
            except Exception as exc:
                self._layers.pop()  # a layer that does not fit is not added
                layer.name = old_name
                if declared is None:
                    raise
                self._build_shape, self._declared_input = None, False
                if not isinstance(exc, (ValueError, TypeError)):
                    raise
                kind = TypeError if isinstance(exc, TypeError) else ValueError
                raise kind(
                    f"input_shape: the input shape {declared} that layer {old_name!r} declares "
                    f"does not fit it: {exc}"
                ) from None
        self._adopt(layer, taken)
        # Whose graph gives its .input and .output where it has not been called on tensors
        # (Keras's Sequential has made that graph by then): a weak reference, no cycle.
        layer.__dict__["_sequential"] = weakref.ref(self)

    def _unique_name(self, layer, taken: tuple[set, set, dict]) -> str:
        """Give ``layer`` a name no other layer of the model has (an automatic name gets a
        suffix, as Keras's lstm_1); returns the name it had. ValueError for a layer already in
        the model or a name given twice."""
        ids, names, suffixes = taken
        if id(layer) in ids:
            raise ValueError(f"layer: {layer.name!r} is already in the model")
        old_name = layer.name
        if layer.name in names:
            if not layer._auto_name:
                raise ValueError(f"layer: the name {layer.name!r} is already used in the model")
            base = layer.name
            k = suffixes.get(base, 1)
            while f"{base}_{k}" in names:
                k += 1
            suffixes[base] = k + 1
            layer.name = f"{base}_{k}"
        return old_name

    def _adopt(self, layer, taken: tuple[set, set, dict]) -> None:
        """Count ``layer`` as the model's (``taken``), under the model's weights lock: the lock
        of another model that holds it is joined with this one's (one lock for the weights they
        share, so that a call of either beside the other's fit sees one step's weights)."""
        ids, names, _ = taken
        ids.add(id(layer))
        names.add(layer.name)
        # What a cell of the layer reads under (its one step beside this model's fit), and what
        # tells a BatchNormalization to stage its moving averages for the step's update
        for sub in sublayers(layer):
            held = getattr(sub, "_model_lock", None)
            if held is not None and held is not self._weights_lock:
                held.join(self._weights_lock)
            sub._model_lock = self._weights_lock

    def pop(self) -> Layer:
        """Remove the last layer and return it (as Keras's); ValueError when there is none."""
        if not self._layers:
            raise ValueError("pop: the model has no layers")
        layer = self._layers.pop()
        for sub in sublayers(layer):
            sub._model_lock = None
        if self._output_shapes:
            self._output_shapes.pop()
            self._analyse()
        return layer

    # -- as a graph: Keras's seq.inputs and seq.outputs, and its layers' .input and .output --

    def _graph(self) -> tuple[list, list]:
        """The Input of the model's declared shape and the output of its layers called on it in
        turn, made at the first ask (Keras's Sequential is such a graph): what a feature
        extractor is built from, ``Model(seq.inputs, seq.get_layer("encoder").output)``."""
        with BUILD_LOCK:  # one graph, whichever thread asks first (a layer's .output is its one)
            graph = self.__dict__.get("_symbolic")
            if graph is None or graph[2] != [id(layer) for layer in self._layers]:
                if self._build_shape is None or not self._layers:
                    raise AttributeError(
                        f"Sequential {self.name!r} has no input yet: start it with "
                        "Input(shape), or build, call or fit it first"
                    )
                inp = Input(batch_shape=self._build_shape)
                out = self._called_on_tensors(inp, False, None)
                listed = out if isinstance(out, list) else [out]
                graph = ([inp], listed, [id(layer) for layer in self._layers])
                self.__dict__["_symbolic"] = graph
        return graph[0], graph[1]

    @property
    def inputs(self) -> list:
        """[the Input of the model's shape] (Keras's); see :meth:`_graph`."""
        return list(self._graph()[0])

    @property
    def outputs(self) -> list:
        """The last layer's output tensor(s) on :attr:`inputs` (Keras's)."""
        return list(self._graph()[1])

    @property
    def input(self):
        """The Input of :attr:`inputs` (Keras's)."""
        return self._graph()[0][0]

    @property
    def output(self):
        """The last layer's output tensor, or the list of them (Keras's)."""
        outputs = self._graph()[1]
        return outputs if len(outputs) > 1 else outputs[0]

    def _called_on_tensors(self, x, training, mask):
        """The model inside a functional model: each layer called on the tensor in turn (the
        functional model then holds these layers, not this model)."""
        refuse_call_options(self.name, training, mask)
        if not isinstance(x, KerasTensor):
            raise TypeError(f"x: a Sequential takes one symbolic tensor, got {type(x).__name__}")
        if not self.built:
            self.build(self._build_shape or x.shape)
        elif len(x.shape) != len(self._build_shape) or self._fixed_size_differs(x.shape):
            raise ValueError(
                f"x: expected a tensor of shape like {self._build_shape} (the model's input), "
                f"got {x.shape}"
            )
        out = x
        for layer in self._layers:
            out = layer(out)
        return out

    def _layer_seed(self, index: int) -> int:
        return int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0])

    def build(self, input_shape=None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch first, e.g. (None, T, I))."""
        if input_shape is None:
            input_shape = self._build_shape
        if input_shape is None:
            raise ValueError("input_shape: expected a shape (None, ...) to build the model from")
        if not self._layers:
            raise ValueError("build: the model has no layers")
        shape = tuple(None if s is None else int(s) for s in input_shape)
        shapes = []
        current = shape
        for i, layer in enumerate(self._layers):
            if layer.seed is None and self.seed is not None and not layer.built:
                layer.seed = self._layer_seed(i)
            if not layer.built:
                layer._build_named(current)
            # weights made earlier (set_weights, a loaded file) must fit what arrives
            fits = layer._input_shape_from_weights() if layer.weights else None
            if fits and fits[-1] is not None and current[-1] not in (None, fits[-1]):
                raise ValueError(
                    f"layer {layer.name!r}: expected inputs with {fits[-1]} features (its weights' "
                    f"size), got {current[-1]} from {'the input' if i == 0 else 'the layer before'}"
                )
            current = layer.compute_output_shape(current)
            shapes.append(current)
        self._build_shape = shape
        self._output_shapes = shapes
        self._analyse()

    def _analyse(self) -> None:
        """Facts the training loop uses every batch, worked out once (again when a layer's
        ``trainable`` has changed since: see _train_step)."""
        self._trainable_flags = self._flags()
        # Keras 3: only trained weights add their penalty to the loss
        self._regularised = [p for layer in self._trained_layers() for p in _penalised(layer)]
        # layers before the first trainable one need no backward pass (nothing to update there)
        trained = {id(layer) for layer in self._trained_layers()}
        trainable = [i for i, l in enumerate(self._layers) if id(l) in trained and l.weight_names]
        self._first_backward = trainable[0] if trainable else len(self._layers)
        self._caches = [None] * len(self._layers)

    def _flags(self) -> list[bool]:
        """The model's flag and its layers': the training loop works its facts out again when
        they change (see _train_step)."""
        return [self._trains, *(layer.trainable for layer in self._layers)]

    def _trained_layers(self) -> list[Layer]:
        """The layers training updates, in ``layers``'s order: none while the model's own flag
        is False (Keras 3's, whatever the layers' flags say), else those whose flag is True."""
        return [layer for layer in self._weight_layers if self._trains and layer.trainable]

    @property
    def trainable(self) -> bool:
        """The model's own flag, as Keras 3's. Setting it sets every layer's flag too, as
        ``model.trainable = False`` freezes the whole model; while it is False no layer trains,
        even one whose own flag is set True again afterwards (Keras 3: ``trainable_weights``
        is then empty), until it is set True (which sets every layer's True)."""
        return self._trains

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = _flag(value, "trainable")
        for layer in self._layers:
            layer.trainable = value
        self._trains = value

    @property
    def built(self) -> bool:
        return bool(self._output_shapes) and len(self._output_shapes) == len(self._layers)

    def _ensure_built(self, x) -> None:
        shape = x.shape if type(x) is np.ndarray else np.shape(x)  # np.shape costs 0.1 µs more
        if not self.built:
            with BUILD_LOCK:  # threads calling an unbuilt model at once build it once
                if not self.built:
                    self.build(self._build_shape or (None, *shape[1:]))
        # Named here, for the whole x: a layer would report the shape of one batch of it.
        if len(shape) != len(self._build_shape):
            raise ValueError(
                f"x: expected a {len(self._build_shape)}-D array, batch first, like "
                f"{self._build_shape} (the model's input shape), got shape {shape}"
            )
        if self._fixed_size_differs(shape):
            want = (None, *self._build_shape[1:])  # batches of any size: the batch aside
            raise ValueError(
                f"x: expected an array of shape {want} (the model's declared input, batch "
                f"first, any batch size), got shape {shape}"
            )

    def _fixed_size_differs(self, shape: tuple) -> bool:
        """Whether ``shape`` (of the model's rank) has a size other than one the declared input
        fixes (the batch aside: data comes in batches of any size)."""
        return self._declared_input and any(
            want is not None and got is not None and want != got
            for want, got in zip(self._build_shape[1:], shape[1:])
        )

    @property
    def input_shape(self):
        return self._build_shape

    @property
    def output_shape(self):
        return self._output_shapes[-1] if self.built else None

    @property
    def _trained_shape(self) -> tuple:
        """The shape of the output the loss and metrics read (of a built model)."""
        return self._output_shapes[-1]

    # -- weights ---------------------------------------------------------------------------

    @property
    def _weight_layers(self) -> list[Layer]:
        """The layers in the order of every weight list (``weights``, ``get_weights``, the
        optimizer's slots, a saved file's): that of ``layers``, as Keras's, whose model walks its
        layers list for them (a functional model's ``_layers`` are in the order of its calls)."""
        return self._layers

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weight arrays that training updates (of layers with ``trainable=True``)."""
        if not self._trains:
            return []
        return [w for layer in self._weight_layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The weight arrays of frozen layers (``trainable=False``), which training leaves;
        every weight while the model's own flag is False."""
        if not self._trains:
            return self.weights
        return [w for layer in self._weight_layers for w in layer.non_trainable_weights]

    @property
    def weights(self) -> list[np.ndarray]:
        """Every layer's weight arrays themselves (not copies), layer by layer."""
        return [w for layer in self._weight_layers for w in layer.weights]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name``, or at position ``index`` (as Keras's)."""
        if (name is None) == (index is None):
            raise ValueError("get_layer: expected exactly one of name= and index=")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name: expected a layer's name (for a position, index={name!r})")
        layers = self.layers  # a functional model's InputLayers first, as Keras's
        if index is not None:
            index = integer(index, "index", at_least=-len(layers), below=len(layers))
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"name: no layer called {name!r}; the layers are {[l.name for l in layers]}"
        )

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's weights, layer by layer (of one step, beside fit)."""
        with self._weights_lock.reading:
            return [w for layer in self._weight_layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Set every layer's weights from a list like :meth:`get_weights`'s; nothing changes
        unless all are valid."""
        if not self.built:
            raise ValueError("set_weights: build the model first (fit, call, build or Input)")
        counts = [len(layer.weights) for layer in self._weight_layers]
        if not isinstance(weights, (list, tuple)) or len(weights) != sum(counts):
            got = len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__
            raise ValueError(f"weights: expected a list of {sum(counts)} arrays, got {got}")
        before = self.get_weights()
        with self._weights_lock.writing:  # a call in another thread sees the old or the new
            self._set_layer_weights(weights, counts, before)

    def _set_layer_weights(self, weights, counts: list[int], before: list) -> None:
        start = 0
        try:
            for layer, n in zip(self._weight_layers, counts):
                if n:
                    try:
                        layer.set_weights(list(weights[start : start + n]))
                    except (ValueError, TypeError) as exc:  # which layer's arrays did not fit
                        raise type(exc)(f"layer {layer.name!r}: {exc}") from None
                start += n
        except Exception:
            start = 0
            for layer, n in zip(self._weight_layers, counts):
                if n:
                    layer.set_weights(before[start : start + n])
                start += n
            raise

    def count_params(self) -> int:
        """The number of weights, trainable or not, of every built layer."""
        return sum(layer.count_params() for layer in self._layers)

    def reset_states(self) -> None:
        """Reset the state of every stateful layer to zeros (of the batch size the model's
        input declares, where the layer knows no other)."""
        declared = self._build_shape[0] if self._build_shape else None
        for layer in self._layers:
            if isinstance(layer, Recurrent):
                layer.reset_states()
                if layer._reset_rows is None:
                    layer._reset_rows = declared

    # -- compile ---------------------------------------------------------------------------

    def _refuse_while_fitting(self, what: str) -> None:
        """A RuntimeError where fit is running on this model (a callback's call, or another
        thread's): the step under way reads the optimizer, loss and metrics compile replaces."""
        if self._fits:
            raise RuntimeError(
                f"{what}: fit is running on this model (this call came from a callback or "
                "another thread); compile before fit, or after it returns"
            )

    def _reset_compile(self) -> None:
        self.optimizer = None
        self.loss = None
        self._metric_specs: list = []
        self._weighted: list[bool] = []  # per entry of _metric_specs: one of weighted_metrics
        self._metrics: list | None = None
        self.compiled = False

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        *,
        loss_weights: Any = None,
        run_eagerly: bool = False,
        jit_compile: Any = "auto",
        steps_per_execution: int = 1,
        auto_scale_loss: bool = True,
    ) -> None:
        """Choose the optimizer, loss and metrics by Keras name or object. As in Keras,
        ``metrics`` are unweighted (only a mask leaves steps out) and ``weighted_metrics`` are
        weighted by ``sample_weight`` and, in fit, ``class_weight``. Keras's hints for its
        backends (``run_eagerly``, ``jit_compile``, ``steps_per_execution``,
        ``auto_scale_loss``) are checked and otherwise change nothing here; ``loss_weights``
        (for models of several outputs) must be None."""
        self._refuse_while_fitting("compile")
        _flag(run_eagerly, "run_eagerly")
        _flag(auto_scale_loss, "auto_scale_loss")
        if not (isinstance(jit_compile, (bool, np.bool_)) or jit_compile == "auto"):
            raise TypeError(f"jit_compile: expected True, False or 'auto', got {jit_compile!r}")
        integer(steps_per_execution, "steps_per_execution", at_least=1)
        if loss_weights is not None:
            raise ValueError(
                f"loss_weights: expected None (a Sequential has one output and one loss), got "
                f"{loss_weights!r}"
            )
        opt = optimizers.get(optimizer)
        if loss is None:
            raise ValueError("loss: expected a loss (a name such as 'mse' or a Loss), got None")
        loss_obj = losses.get(loss)
        lists = []
        for name, given in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if given is None:
                given = []
            if not isinstance(given, (list, tuple)):
                raise TypeError(f"{name}: expected a list, got {type(given).__name__}")
            lists.append([metrics_lib.get(m) for m in given])
        self.optimizer, self.loss = opt, loss_obj
        self._metric_specs = lists[0] + lists[1]
        self._weighted = [False] * len(lists[0]) + [True] * len(lists[1])
        self._metrics = None  # resolved against the data on first use ("accuracy")
        self.compiled = True
        if self.built:  # which layers train may have changed since the build (Keras: on compile)
            self._analyse()

    @property
    def metrics(self) -> list:
        """The compiled metrics (fastlstm.metrics.Metric objects; "accuracy" given by name is
        a string until the first fit or evaluate chooses which accuracy it is)."""
        return list(self._metrics if self._metrics is not None else self._metric_specs)

    def reset_metrics(self) -> None:
        """Clear the running state of every compiled metric."""
        for m in self.metrics:
            if not isinstance(m, str):
                m.reset_state()

    @property
    def metrics_names(self) -> list[str]:
        names = [m if isinstance(m, str) else m.name for m in self._metric_specs]
        return ["loss", *unique_names(names, self._weighted)]

    # -- summary and config ----------------------------------------------------------------

    def summary(
        self,
        line_length: int | None = None,
        positions=None,
        print_fn=None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range=None,
    ) -> None:
        """Print a table of the layers: name (type), output shape, parameter count, and with
        ``show_trainable`` whether each trains. Keras's arguments: ``line_length`` None is 72
        characters; ``expand_nested`` changes nothing (a Sequential holds no models);
        ``positions`` and ``layer_range`` are not supported."""
        # Up to 10,000: a table as wide as 2**40 had been tried, a MemoryError naming nothing.
        line_length = integer(
            72 if line_length is None else line_length, "line_length", at_least=1, at_most=10_000
        )
        _flag(expand_nested, "expand_nested")
        show_trainable = _flag(show_trainable, "show_trainable")
        for name, value in (("positions", positions), ("layer_range", layer_range)):
            if value is not None:
                raise ValueError(f"{name}: only None is supported, got {value!r}")
        if print_fn is not None and not callable(print_fn):
            raise TypeError(
                f"print_fn: expected a callable (print's place) or None, got {print_fn!r}"
            )
        print_fn = print_fn or print
        cells = [
            (
                f"{layer.name} ({type(layer).__name__})",
                str(shape) if self.built else "?",
                f"{layer.count_params():,}" if layer.built else "0 (unbuilt)",
            )
            + (("Y" if layer.trainable else "N",) if show_trainable else ())
            for layer, shape in self._summary_rows()
        ]
        # Columns of 45%, 33% and the rest of line_length, each widened to fit its longest entry
        # (the table then grows past line_length rather than breaking its columns).
        # A "Trainable" column, where asked, of 11 more.
        widths = [int(line_length * 0.45), int(line_length * 0.33), 0]
        widths[2] = line_length - widths[0] - widths[1]
        header = ("Layer (type)", "Output Shape", "Param #")
        if show_trainable:
            widths, header = [*widths, 11], (*header, "Trainable")
        for k, extra in enumerate((3, 2, 0, 0)[: len(widths)]):
            widths[k] = max(widths[k], *(len(c[k]) + extra for c in [*cells, header]))
        # A functional model's "Connected to" column (Keras's), after "Param #"
        connections = self._summary_connections()
        joined = 0 if connections is None else max(len(c) for c in [*connections, "Connected to"])
        line_length = sum(widths) + (joined + 2 if joined else 0)
        rule = "_" * line_length
        sources = iter(connections or [])

        def row(a, b, c, *trains, source=None):
            line = f" {a:<{widths[0] - 2}} {b:<{widths[1] - 1}} {c:>{widths[2]}}"
            if joined:
                line += f"  {source if source is not None else next(sources):<{joined}}"
            return (line + "".join(f"{t:>{widths[3]}}" for t in trains)).rstrip()

        lines = [f'Model: "{self.name}"', rule, row(*header, source="Connected to")]
        lines.append("=" * line_length)
        lines += [row(*c) for c in cells]
        lines.append("=" * line_length)
        total = self.count_params()
        trainable = sum(w.size for w in self.trainable_weights)
        lines += [
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
            rule,
        ]
        for line in lines:
            print_fn(line)

    def _summary_rows(self) -> list[tuple[Layer, Any]]:
        """summary's rows: each layer with its output shape (unused before the model is built)."""
        return [
            (layer, self._output_shapes[i] if self.built else None)
            for i, layer in enumerate(self._layers)
        ]

    def _summary_connections(self) -> list[str] | None:
        """A functional model's "Connected to" entries, one per layer; None here."""
        return None

    def get_config(self) -> dict[str, Any]:
        """Plain JSON data: the name, seed, layers and the shape the model was built for."""
        return {
            "name": self.name,
            "seed": self.seed,
            "layers": [layers_module.serialize(layer) for layer in self._layers],
            "build_input_shape": None if self._build_shape is None else list(self._build_shape),
            **({"input_declared": True} if self._declared_input else {}),
            **({} if self._trains else {"trainable": False}),
        }

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON text (Keras's ``to_json``; no weights):
        ``{"class_name", "config"}``, which :func:`model_from_json` reads back. ``kwargs`` go to
        ``json.dumps`` (``indent=2``, say)."""
        from . import saving

        saving.check_saveable(self)  # a layer class of the user's: text model_from_json refuses
        spec = {"class_name": type(self).__name__, "config": self.get_config()}
        return json.dumps(spec, allow_nan=False, **kwargs)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        """The same model, unbuilt weights re-made from the layers' seeds (built if the config
        has a build shape or its first layer declares an input shape). Only fastlstm's own
        layer classes are made."""
        return cls._from_config(config, build=True)

    @classmethod
    def _from_config(cls, config: dict[str, Any], build: bool) -> Sequential:
        """``from_config``; with ``build=False`` no weights are made from the config's sizes
        (the loader builds from the file's arrays instead)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise TypeError(f"config: expected a dict with a 'layers' list, got {config!r}")
        known = {"name", "seed", "layers", "build_input_shape", "input_declared", "trainable"}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"config: unexpected keys {sorted(unknown)}")
        model = cls(name=config.get("name"), seed=config.get("seed"))
        model._trains = _flag(config.get("trainable", True), "trainable")  # the layers keep theirs
        taken: tuple[set, set, dict] = (set(), set(), {})
        for spec in config["layers"]:
            model._add(layers_module.deserialize(spec), build=build, taken=taken)
        shape = config.get("build_input_shape")
        if shape is not None:
            # The loader (build=False) checks the declaration against the weights first.
            declared = model._layers[0].batch_input_shape if build and model._layers else None
            shape = check_build_shape(shape, declared)
            if build:
                model.build(shape)
        declared_input = config.get("input_declared", False)
        if declared_input is not True and declared_input is not False:
            raise TypeError(
                f"config: input_declared: expected True or False, got {declared_input!r}"
            )
        if declared_input and shape is None:
            raise ValueError("config: input_declared without a build_input_shape")
        if declared_input:
            model._build_shape = tuple(shape)
        model._declared_input = declared_input  # as saved: input_length's layer marks nothing
        return model

    # -- saving ----------------------------------------------------------------------------

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write the model (config, weights, optimizer state, random generator states) to ONE
        file; see :mod:`fastlstm.saving`. ``overwrite=False`` refuses an existing file (Keras
        asks at the terminal)."""
        from . import saving

        saving.save_model(self, filepath, overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Save without the optimizer state, for :meth:`load_weights`: the same file format
        (:func:`fastlstm.load_model` reads it too), or, for a model whose config cannot be
        written (a layer class of your own, an initialiser given as a function, a ``Constant``
        holding more than 4,096 values), the weights alone with the layers' class names."""
        from . import saving

        saving.save_model(self, filepath, overwrite, weights=True)

    def load_weights(self, filepath, skip_mismatch: bool = False) -> None:
        """Set the weights from a file saved by a model with the same layers. Keras's
        ``skip_mismatch=True`` (leave out the layers that do not fit) is not supported: nothing
        changes unless every layer fits."""
        from . import saving

        if _flag(skip_mismatch, "skip_mismatch"):
            raise ValueError(
                "skip_mismatch: True is not supported (every layer's weights must fit; nothing "
                "changes otherwise)"
            )
        saving.load_weights(self, filepath)

    def __reduce__(self):
        # Pickling (and copy.deepcopy) goes through the same safe byte format as save(). The
        # caller's metric functions, which a file names only, travel beside the bytes as
        # pickle's references to them.
        from . import saving

        return saving.model_from_bytes, (saving.model_to_bytes(self), self._custom_metrics())

    def _custom_metrics(self) -> dict | None:
        """{name: function or Metric} of the compiled metrics a model file holds by name only."""
        custom = {}
        for spec in self._metric_specs if self.compiled else []:
            if metrics_lib.is_custom(spec):
                # a plain function's wrapper gives back the function (compile wraps it anew)
                plain = type(spec) is metrics_lib.MeanMetricWrapper
                custom[spec.name] = spec.fn if plain else spec
        return custom or None

    def __repr__(self) -> str:
        return f"Sequential(name={self.name!r}, layers={[l.name for l in self._layers]})"


def clone_model(model: Sequential) -> Sequential:
    """A new model with ``model``'s layers and settings and weights of its own, made afresh from
    the layers' seeds (as Keras's ``clone_model``; ``clone.set_weights(model.get_weights())``
    copies the trained ones). Uncompiled. A functional Model's clone has the same graph."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a Sequential or a Model, got {type(model).__name__}")
    return type(model).from_config(model.get_config())


def model_from_json(json_string: str | bytes, custom_objects=None) -> Sequential:
    """The model (unbuilt weights made from the layers' seeds, as from_config) that
    :meth:`Sequential.to_json` described. Only fastlstm's own classes are made: the text holds
    data, never code. ``custom_objects`` is accepted for Keras's signature and unused (a
    model's layers are fastlstm's)."""
    from ._model_graph import Model

    if isinstance(json_string, (bytes, bytearray)):
        try:
            json_string = bytes(json_string).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"json_string: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
    if not isinstance(json_string, str):
        raise TypeError(f"json_string: expected JSON text, got {type(json_string).__name__}")
    try:
        spec = json.loads(json_string, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"json_string: not JSON text ({exc})") from None
    classes = {"Sequential": Sequential, "Model": Model}
    if isinstance(spec, dict) and spec.keys() & {"keras_version", "module", "registered_name"}:
        raise ValueError(
            "json_string: a Keras model's JSON, which fastlstm does not read: build the model "
            "with fastlstm's layers, then model.set_weights(keras_model.get_weights())"
        )
    if not isinstance(spec, dict) or set(spec) != {"class_name", "config"}:
        raise ValueError(
            'json_string: expected {"class_name", "config"}, as to_json writes it, got '
            f"{str(spec)[:200]}"
        )
    if not isinstance(spec["class_name"], str) or spec["class_name"] not in classes:
        raise ValueError(
            f"json_string: expected the class_name 'Sequential' or 'Model', got "
            f"{str(spec['class_name'])[:100]!r}"
        )
    return classes[spec["class_name"]].from_config(spec["config"])


def _no_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """The model saved at ``filepath`` (:func:`fastlstm.saving.load_model`), where Keras users
    look for it."""
    from . import saving

    return saving.load_model(filepath, custom_objects, compile, safe_mode)


def check_build_shape(shape, declared: tuple | None = None) -> tuple:
    """A config's ``build_input_shape``: a list of sizes (ints >= 0 or None), the batch first
    (None or positive) and at least one more; where the first layer declares an input shape,
    one that agrees with it."""
    if (
        not isinstance(shape, list)
        or len(shape) < 2
        or not all(
            s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= 0) for s in shape
        )
        or shape[0] == 0
    ):
        raise ValueError(
            "build_input_shape: expected a list of sizes, the batch (None or positive) first and "
            f"at least one more, got {shape!r}"
        )
    if declared is not None and (
        len(declared) != len(shape)
        or any(a is not None and b is not None and a != b for a, b in zip(declared, shape))
    ):
        raise ValueError(
            f"build_input_shape: {shape!r} disagrees with the input shape {declared} that the "
            "first layer declares"
        )
    return tuple(shape)


def _has_regularizer(layer) -> bool:
    """Whether ``layer`` (a wrapper: either of its layers) has a weight regularizer."""
    if isinstance(layer, TimeDistributed):
        return _has_regularizer(layer.layer)
    if isinstance(layer, Bidirectional):  # its properties are the forward half's alone
        return any(_has_regularizer(half) for half in layer._halves)
    own = getattr(layer, "_regularizers", {})  # PReLU's alpha, the normalizations' gamma, beta
    return any(r is not None for r in own.values()) or (
        getattr(layer, "embeddings_regularizer", None) is not None
    )


def _penalised(layer) -> list:
    """The layers whose penalties a model adds to its loss for ``layer``: only trained weights
    add theirs (Keras 3), so a Bidirectional gives each trained half with a regularizer (a
    frozen half's penalty had been added, though nothing trains it)."""
    if not layer.trainable or not _has_regularizer(layer):
        return []
    inner = layer.layer if isinstance(layer, TimeDistributed) else layer
    if isinstance(inner, Bidirectional):
        return [h for h in inner._halves if h.trainable and _has_regularizer(h)]
    return [layer]


# The functional model subclasses Sequential (its loops, weights and saving), so it comes after.
from ._model_graph import Model

__all__ = [
    "Model",
    "Sequential",
    "clone_model",
    "load_model",
    "model_from_json",
]
