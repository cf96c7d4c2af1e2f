"""The training, evaluation and prediction loops of :class:`fastlstm.models.Sequential`.

``fit(class_weight=...)`` becomes the loss's sample weights before the loop
(:func:`class_sample_weight`); the metrics keep the caller's ``sample_weight``.

One training step is: each layer's ``forward`` (keeping its cache and handing on its mask),
the loss's value and gradient, each layer's ``backward`` in reverse, one optimizer step on the
trainable weights, the metrics' updates. Batches are views into arrays permuted once per epoch,
so a step copies no data, or a dataset's own batches (_batches.py); batch hooks run only when a
callback overrides them. The arguments are checked in _inputs.py.
"""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
import math
from typing import Any

import numpy as np

from . import callbacks as callbacks_module
from . import metrics as metrics_lib
from ._arrays import generator, integer, real_number
from ._batches import DatasetBatches, is_dataset
from ._graph import is_symbolic
from ._inputs import (
    _batch_size,
    _callbacks,
    _check_steps,
    _data,
    _dataset_only_arguments,
    _first_batches,
    _rows,
    _verbosity,
    class_sample_weight,
)
from .functional import _flag
from .layers.base import input_gradient, sublayers


@functools.cache
def _takes_input_grad(cls) -> bool:
    """Whether ``cls.backward`` takes ``input_grad`` (the recurrent layers and Bidirectional do;
    a layer of the user's need not)."""
    try:
        return "input_grad" in inspect.signature(cls.backward).parameters
    except (TypeError, ValueError):
        return False


def unique_names(names: list[str], weighted: list[bool] | None = None) -> list[str]:
    """Metric names for the logs, each once, as Keras's: a weighted metric whose name is taken
    is "weighted_" + name; a name still taken (by the loss or a metric before it) gets _1, _2,
    ..., where a second "precision" would have overwritten the first's value."""
    taken, out = {"loss"}, []
    for name, is_weighted in zip(names, weighted or [False] * len(names)):
        if is_weighted and name in taken:
            name = f"weighted_{name}"
        unique, k = name, 0
        while unique in taken:
            k += 1
            unique = f"{name}_{k}"
        taken.add(unique)
        out.append(unique)
    return out


def _raise_naming(layer, exc: Exception):
    """Re-raises a layer's ValueError or TypeError with the layer's name in front: inside a
    model, "x: expected a 3-D array" does not say which layer's x."""
    if type(exc) in (ValueError, TypeError) and not str(exc).startswith("layer "):
        raise type(exc)(f"layer {layer.name!r} ({type(layer).__name__}): {exc}") from exc
    raise exc


def _copied(metric):
    """A copy of a metric with a state of its own, or the metric itself where it cannot be
    copied (one of the caller's classes holding, say, a lock): shared as before."""
    try:
        return copy.deepcopy(metric)
    except (TypeError, copy.Error):
        return metric


class Trainer:
    """Mixin with the loops; the model supplies layers, loss, optimizer, metrics and build."""

    # -- forward / backward ----------------------------------------------------------------

    def __call__(self, x, training: bool = False, mask=None) -> Any:
        """The model's output for x, with as little Python as possible per layer. On symbolic
        tensors (a model inside a functional model), its layers called on them."""
        if training is not False:  # "no" would turn dropout on
            training = _flag(training, "training")
        if is_symbolic(x):
            return self._called_on_tensors(x, training, mask)
        if not self.built:
            self._ensure_built(x)
        return self._call_layers(x, training, mask)[0]

    def _call_layers(self, x, training: bool, mask=None):
        """The output and mask at the end, keeping no caches."""
        out = x
        with self._weights_lock.reading:  # the weights of one training step throughout
            for layer in self._layers:
                try:
                    next_mask = layer.compute_mask(out, mask)
                    out = layer.call(out, training=training, mask=mask)
                except (ValueError, TypeError) as exc:
                    _raise_naming(layer, exc)
                mask = next_mask
        if training:  # a call in training mode moves BatchNormalization's averages, as Keras's
            with self._weights_lock.writing:
                self._commit_staged()
        return out, mask

    def _forward(self, x, training: bool):
        """Outputs and the mask at the end; caches kept in ``self._caches``."""
        out, mask, caches = x, None, self._caches
        for i, layer in enumerate(self._layers):
            try:
                next_mask = layer.compute_mask(out, mask)
                out, caches[i] = layer.forward(out, training=training, mask=mask)
            except (ValueError, TypeError) as exc:
                _raise_naming(layer, exc)
            mask = next_mask
        return out, mask

    def _backward(self, dout) -> None:
        layers, caches = self._layers, self._caches
        first = self._first_backward
        for i in range(len(layers) - 1, first - 1, -1):
            if i == first and _takes_input_grad(type(layers[i])):
                # Its dL/dx would go nowhere: a recurrent layer then skips that product.
                layers[i].backward(caches[i], dout, input_grad=False)
            else:
                dout = input_gradient(layers[i].backward(caches[i], dout))
            caches[i] = None  # free the step's activations early

    def _data(self, x, y=None, sample_weight=None, *, need_y=True):
        """Checked (x, y, sample_weight) arrays, one sample per row (a model of several inputs
        takes x's arrays together)."""
        return _data(x, y, sample_weight, need_y=need_y, dtype=self._widest_dtype())

    def _widest_dtype(self) -> np.dtype:
        """The widest float any layer computes in: a value beyond its range is refused before
        batching (where a layer of it would refuse it naming a row of the batch). Floats only:
        an Input of integer token ids sets no range."""
        dtypes = [
            np.dtype(d) for d in (getattr(layer, "dtype", None) for layer in self.layers) if d
        ]
        floats = [d for d in dtypes if d.kind == "f"]
        return max(floats, key=lambda d: d.itemsize, default=np.dtype(np.float32))

    def _regularization(self) -> float:
        return sum(layer.regularization_loss() for layer in self._regularised)

    def _train_step(self, x, y, sample_weight, loss_weight=None) -> float:
        """One step. ``loss_weight`` (class weights, times sample_weight), when given, weights
        the loss and the weighted metrics in place of ``sample_weight``; the other metrics are
        unweighted (Keras's metrics and weighted_metrics)."""
        # A layer unfrozen since compile() would have had no backward pass, and its update
        # would have taken the gradients it kept from an earlier step.
        if self._flags() != self._trainable_flags:
            self._analyse()
        out, mask = self._forward(x, True)
        weight = sample_weight if loss_weight is None else loss_weight
        loss, dout = self.loss.value_and_grad(y, out, weight, mask)
        if self._regularised:
            loss += self._regularization()
        self._backward(dout)
        params, grads = self._stepped()
        with self._weights_lock.writing:
            self.optimizer.apply(grads, params)
            self._commit_staged()
        for m, weighted in zip(self._metrics, self._weighted):
            metrics_lib.update(m, y, out, weight if weighted else None, mask)
        return loss

    def _commit_staged(self, keep: bool = True) -> None:
        """Make (or with ``keep=False`` drop) what layers staged in a training forward pass,
        BatchNormalization's moving averages: made with the step's weight update, under the
        weights lock, so that a call beside fit sees one step's."""
        for layer in self._layers:
            for sub in sublayers(layer):
                commit = getattr(sub, "commit_staged", None)
                if commit is not None:
                    commit(keep)

    def _stepped(self) -> tuple[list, list]:
        """The weights a training step updates and their gradients, from the last backward."""
        params, grads = [], []
        for layer in self._trained_layers():  # trainable_weights's order: the slots follow it
            if layer.grads:
                params += layer.trainable_weights
                grads += layer.grads
        return params, grads

    def _test_step(self, x, y, sample_weight, metrics: list) -> float:
        out, mask = self._forward_inference(x)
        loss = self.loss(y, out, sample_weight, mask)
        if self._regularised:
            loss += self._regularization()
        for m, weighted in zip(metrics, self._weighted):
            metrics_lib.update(m, y, out, sample_weight if weighted else None, mask)
        return loss

    def _forward_inference(self, x):
        return self._call_layers(x, training=False)

    def loss_and_gradients(self, x, y, sample_weight=None, training: bool = True):
        """The loss of one batch and the gradients of every trainable weight (in
        ``trainable_weights`` order), without changing the weights (BatchNormalization's moving
        averages included): for custom loops and checks. ``training=True`` turns dropout on and
        normalises by the batch's statistics."""
        self._require_compiled("loss_and_gradients")
        x, y, sample_weight = self._data(x, y, sample_weight)
        self._ensure_built(x)
        if self._flags() != self._trainable_flags:
            self._analyse()  # a layer frozen or unfrozen since compile(), as in _train_step
        out, mask = self._forward(x, training)
        loss, dout = self.loss.value_and_grad(y, out, sample_weight, mask)
        if self._regularised:
            loss += self._regularization()
        self._first_backward, first = 0, self._first_backward  # every gradient, not just updates
        try:
            self._backward(dout)
        finally:
            self._first_backward = first
        self._commit_staged(keep=False)
        grads = [g for layer in self._trained_layers() for g in layer.grads]
        return loss, grads

    # -- helpers ---------------------------------------------------------------------------

    def _batch_size_for(self, batch_size) -> int:
        """``batch_size``, or the batch size the model's input declares (``Input(batch_shape=
        ...)``, Keras 2's ``batch_input_shape``) where it declares one: as Keras 2, which infers
        it and refuses another (a stateful layer's state has that many rows)."""
        declared = self._build_shape[0] if self._build_shape else None
        if declared is None:
            return _batch_size(batch_size)
        if batch_size is None:
            return int(declared)
        batch_size = _batch_size(batch_size)
        if batch_size != declared:
            raise ValueError(
                f"batch_size: expected {declared} (the batch size the model's input declares) "
                f"or None, got {batch_size}"
            )
        return batch_size

    def _check_dataset_batch(self, x) -> None:
        """A dataset's batch has the batch size the model's input declares, where it declares
        one (as batch_size must with arrays: a stateful layer's state has that many rows)."""
        declared = self._build_shape[0] if self._build_shape else None
        if declared is not None and len(x) != declared:
            raise ValueError(
                f"x: expected batches of {declared} rows (the batch size the model's input "
                f"declares), got a batch of {len(x)}"
            )

    def _check_whole_batches(self, n: int, batch_size: int) -> None:
        """A stateful model takes whole batches: a last, shorter one would not match its state
        (fewer samples than batch_size are one batch, whole)."""
        if (
            n > batch_size
            and n % batch_size
            and any(getattr(l, "stateful", False) for l in self._layers)
        ):
            raise ValueError(
                f"x: a model with stateful layers takes whole batches: {n} samples is not a "
                f"multiple of batch_size {batch_size}"
            )

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise ValueError(
                f"{what}: the model must be compiled first: call model.compile(optimizer, loss)"
            )

    def _prepare_metrics(self, y, x) -> None:
        if self._metrics is not None:
            return
        out_shape = self._trained_shape
        resolved = []
        for spec in self._metric_specs:
            if isinstance(spec, str):  # "accuracy"/"acc": chosen from the loss and the shapes
                m = metrics_lib.resolve_accuracy(self.loss, np.shape(y), out_shape)
                m.name = spec
                resolved.append(m)
            else:
                resolved.append(spec)
        names = unique_names([m.name for m in resolved], self._weighted)
        for m, name in zip(resolved, names):
            m.name = name
        self._metrics = resolved
        self._metric_specs = list(resolved)

    def _logs(self, tracker, metrics: list | None = None) -> dict:
        logs = {"loss": tracker.result()}
        for m in self._metrics if metrics is None else metrics:
            logs[m.name] = metrics_lib.result_value(m)
        return logs

    def _evaluation_metrics(self) -> list:
        """Fresh copies of the compiled metrics for one evaluation: two threads evaluating one
        model (or one evaluating beside fit) had updated the same objects, each reading
        the other's batches in its results."""
        metrics = [_copied(m) for m in self._metrics]
        for m in metrics:
            m.reset_state()
        return metrics

    def _check_class_weight(self, class_weight) -> None:
        """Refuses a class_weight the model cannot apply (a functional model's says why)."""

    def _reset_metrics(self) -> None:
        for m in self._metrics:
            m.reset_state()

    # -- fit -------------------------------------------------------------------------------

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs: int = 1,
        verbose: int | bool | str = "auto",
        callbacks=None,
        validation_split: float = 0.0,
        validation_data=None,
        shuffle: bool = True,
        class_weight=None,
        sample_weight=None,
        initial_epoch: int = 0,
        validation_batch_size=None,
        validation_freq: int = 1,
        steps_per_epoch=None,
        validation_steps=None,
    ) -> callbacks_module.History:
        """Train for ``epochs`` epochs (Keras's arguments and meaning); returns the History.

        ``x`` is an array (with ``y``), or a dataset that makes its own batches (then no ``y``,
        ``sample_weight`` or ``batch_size``): a :class:`fastlstm.utils.PyDataset` (Keras's
        ``PyDataset``/``Sequence``), or a generator or iterator of batches ``(x, y)`` or
        ``(x, y, sample_weight)``. With ``steps_per_epoch``, an epoch takes that many batches: a
        PyDataset's next ones (the next epoch goes on where it stopped), an iterator's; without,
        a PyDataset's all, an iterator's all in the first epoch (then as many in each). One that
        runs out ends training with a warning. ``validation_data`` may be a
        dataset too (``validation_steps`` batches of it; a PyDataset's all by default); of
        validation arrays, ``validation_steps`` takes the first batches, as Keras does.

        ``validation_split`` holds out the last fraction of x and y (before any shuffling);
        ``validation_data`` is ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``.
        ``shuffle=True`` permutes the samples each epoch with the model's seeded generator.
        ``class_weight`` ``{class index: weight}`` multiplies each training sample's weight in
        the loss and in the ``weighted_metrics`` by the weight of its class (see
        :func:`class_sample_weight`). As in Keras, it weights neither the other metrics nor the
        validation data.
        """
        self._check_class_weight(class_weight)
        self._require_compiled("fit")
        verbose = _verbosity(verbose)
        epochs = integer(epochs, "epochs", at_least=0)
        initial_epoch = integer(initial_epoch, "initial_epoch", at_least=0)
        validation_freq = integer(validation_freq, "validation_freq", at_least=1)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected True or False, got {shuffle!r}")
        source = None
        if is_dataset(x):
            _dataset_only_arguments(y, sample_weight, batch_size, validation_split)
            source = DatasetBatches(x, "x", steps_per_epoch, "steps_per_epoch")
            x, y, _ = self._data(*source.first())
        else:
            batch_size = self._batch_size_for(batch_size)
            x, y, sample_weight = self._data(x, y, sample_weight)
            self._check_whole_batches(len(x), batch_size)
            if steps_per_epoch is not None:
                raise ValueError(
                    "steps_per_epoch: expected None with arrays (their batches are batch_size "
                    f"rows each), got {steps_per_epoch!r}"
                )
        val = None
        if is_dataset(validation_data):
            val = DatasetBatches(
                validation_data, "validation_data", validation_steps, "validation_steps"
            )
            if not val.indexed and val.steps is None:
                raise ValueError(
                    "validation_steps: expected the batches to take from the validation "
                    "iterator at each validation (it is drawn from anew each time), got None"
                )
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "validation_data: expected (x_val, y_val) or (x_val, y_val, sample_weight), "
                    f"got {type(validation_data).__name__}"
                )
            try:
                val = self._data(*validation_data)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"validation_data: {exc}") from None
        elif validation_split:
            fraction = real_number(validation_split, "validation_split", above=0, below=1)
            split = int(len(x) * (1.0 - fraction))
            if split == 0 or split == len(x):
                raise ValueError(
                    f"validation_split: {validation_split} of {len(x)} samples leaves an empty "
                    "training or validation set"
                )
            val = (x[split:], y[split:], _rows(sample_weight, slice(split, None)))
            x, y, sample_weight = x[:split], y[:split], _rows(sample_weight, slice(split))
        if val is not None and not isinstance(val, DatasetBatches):
            _check_steps(validation_steps, "validation_steps")  # before training, not at validation
        self._ensure_built(x)
        loss_weight = None
        if class_weight is not None and source is None:
            loss_weight = class_sample_weight(class_weight, y, sample_weight, self._trained_shape)
        self._prepare_metrics(y, x)
        n = len(x)
        steps = source.steps if source is not None else math.ceil(n / batch_size)

        def epoch_batches():
            """(x, y, sample_weight, loss_weight) batches of one epoch."""
            if source is not None:
                rng = self._shuffler() if shuffle else None
                for xb, yb, swb in source.epoch(rng):
                    xb, yb, swb = self._data(xb, yb, swb)
                    self._check_dataset_batch(xb)
                    lwb = None
                    if class_weight is not None:
                        lwb = class_sample_weight(class_weight, yb, swb, self._trained_shape)
                    yield xb, yb, swb, lwb
                return
            if shuffle:
                order = self._shuffler().permutation(n)
                xs, ys, sws = x[order], y[order], _rows(sample_weight, order)
                lws = _rows(loss_weight, order)
            else:
                xs, ys, sws, lws = x, y, sample_weight, loss_weight
            for step in range(steps):
                sl = slice(step * batch_size, (step + 1) * batch_size)
                yield xs[sl], ys[sl], _rows(sws, sl), _rows(lws, sl)

        history = callbacks_module.History()
        extra = [callbacks_module.ProgbarLogger()] if verbose else []
        user = _callbacks(callbacks)
        # The progress bar last, as Keras adds it: it prints what the others put in the logs.
        params = {"epochs": int(epochs), "steps": steps, "verbose": verbose}
        # Whether this fit validates, for CSVLogger's columns (with validation_freq above 1 the
        # first epochs' logs have no val_ entries); not in params, which are Keras's.
        self._fit_validates = val is not None
        cbs = callbacks_module.CallbackList([*user, history, *extra], self, params)
        want_begin = cbs.wants("on_train_batch_begin")
        want_end = cbs.wants("on_train_batch_end")
        tracker = metrics_lib.Mean("loss")
        self.stop_training = False
        self.history = history
        iterations_before = self.optimizer.iterations
        self._fits += 1  # compile() is refused until this fit returns
        try:
            cbs.call("on_train_begin", {})
            # A BackupAndRestore that restored a backup says where to resume
            resumed = self.__dict__.pop("_initial_epoch", None)
            start = int(initial_epoch) if resumed is None else resumed
            epoch_logs: dict = {}
            for epoch in range(start, int(epochs)):
                tracker.reset_state()
                self._reset_metrics()
                cbs.call("on_epoch_begin", epoch, {})
                batches = epoch_batches()
                for step in itertools.count():
                    batch = next(batches, None)
                    if batch is None:  # the epoch's batches are done
                        break
                    if want_begin:
                        cbs.call("on_train_batch_begin", step, {})
                    loss = self._train_step(*batch)
                    tracker.update_state(loss, len(batch[0]))
                    if want_end:
                        cbs.call("on_train_batch_end", step, self._logs(tracker))
                    if self.stop_training:
                        break
                batches.close()
                if source is not None and source.exhausted:
                    self.stop_training = True
                    if tracker.count == 0:
                        break  # no batch this epoch: no logs to give the callbacks
                if source is not None and params["steps"] is None:
                    params["steps"] = source.steps  # an iterator's first epoch told its length
                epoch_logs = self._logs(tracker)
                if val is not None and (epoch + 1) % validation_freq == 0:
                    cbs.call("on_test_begin", {})  # as Keras's fit, which calls evaluate
                    if isinstance(val, DatasetBatches):
                        results = self._evaluate_batches(val.epoch(), cbs)
                    else:
                        batch = _batch_size(validation_batch_size or batch_size)
                        taken = _first_batches(validation_steps, batch, "validation_steps", *val)
                        results = self._evaluate(*taken, batch, cbs=cbs)
                    cbs.call("on_test_end", results)
                    epoch_logs.update({f"val_{k}": v for k, v in results.items()})
                cbs.call("on_epoch_end", epoch, epoch_logs)
                if self.stop_training:
                    break
            if self.optimizer.iterations != iterations_before:  # use_ema: the averages, as Keras
                with self._weights_lock.writing:
                    self.optimizer.finalize_variable_values(self._stepped()[0])
            cbs.call("on_train_end", epoch_logs)
        finally:
            self._fits -= 1
        return history

    def _shuffler(self) -> np.random.Generator:
        if self._shuffle_rng is None:
            self._shuffle_rng = generator(self.seed, 0x5EED)
        return self._shuffle_rng

    # -- evaluate / predict ----------------------------------------------------------------

    def _evaluate(self, x, y, sample_weight, batch_size: int, cbs) -> dict:
        steps = math.ceil(len(x) / batch_size)
        batches = (
            (x[sl], y[sl], _rows(sample_weight, sl))
            for sl in (slice(k * batch_size, (k + 1) * batch_size) for k in range(steps))
        )
        return self._evaluate_batches(batches, cbs, checked=True)

    def _evaluate_batches(self, batches, cbs, checked: bool = False) -> dict:
        """The loss and metrics over (x, y, sample_weight) batches (``checked``: arrays
        already; else each is checked, as a dataset's are)."""
        tracker = metrics_lib.Mean("loss")
        metrics = self._evaluation_metrics()
        want_begin = cbs is not None and cbs.wants("on_test_batch_begin")
        want_end = cbs is not None and cbs.wants("on_test_batch_end")
        for step, (xb, yb, swb) in enumerate(batches):
            if not checked:
                xb, yb, swb = self._data(xb, yb, swb)
                self._check_dataset_batch(xb)
            if want_begin:
                cbs.call("on_test_batch_begin", step, {})
            tracker.update_state(self._test_step(xb, yb, swb, metrics), len(xb))
            if want_end:
                cbs.call("on_test_batch_end", step, self._logs(tracker, metrics))
        if tracker.count == 0:
            raise ValueError("validation_data: the iterator has no batches left to evaluate")
        return self._logs(tracker, metrics)

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose: int | bool | str = "auto",
        sample_weight=None,
        callbacks=None,
        return_dict: bool = False,
        steps=None,
    ) -> Any:
        """The loss (and metrics) over the data: a float without metrics, else
        ``[loss, *metrics]``, or a dict with ``return_dict=True``. ``x`` may be a dataset, as
        in :meth:`fit` (``steps`` of its batches; all by default); of arrays, ``steps`` takes
        the first batches, as Keras does."""
        self._require_compiled("evaluate")
        verbose = _verbosity(verbose)
        source = None
        if is_dataset(x):
            _dataset_only_arguments(y, sample_weight, batch_size)
            source = DatasetBatches(x, "x", steps)
            x, y, _ = self._data(*source.first())
            count = source.steps
        else:
            batch_size = self._batch_size_for(batch_size)
            x, y, sample_weight = self._data(x, y, sample_weight)
            x, y, sample_weight = _first_batches(steps, batch_size, "steps", x, y, sample_weight)
            self._check_whole_batches(len(x), batch_size)
            count = math.ceil(len(x) / batch_size)
        self._ensure_built(x)
        self._prepare_metrics(y, x)
        extra = [callbacks_module.ProgbarLogger()] if verbose else []
        cbs = callbacks_module.CallbackList(
            [*_callbacks(callbacks), *extra], self, {"steps": count, "verbose": verbose}
        )
        cbs.call("on_test_begin", {})
        if source is not None:
            logs = self._evaluate_batches(source.epoch(), cbs)
        else:
            logs = self._evaluate(x, y, sample_weight, batch_size, cbs)
        cbs.call("on_test_end", logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(
        self,
        x,
        batch_size=None,
        verbose: int | bool | str = "auto",
        callbacks=None,
        steps=None,
    ) -> Any:
        """The model's outputs for x, computed batch by batch into one array. ``x`` may be a
        dataset, as in :meth:`fit`, whose batches may hold x alone (targets are ignored);
        ``steps`` of its batches, all by default (of arrays, the first ``steps`` batches)."""
        verbose = _verbosity(verbose)
        if is_dataset(x):
            _dataset_only_arguments(None, None, batch_size)
            source = DatasetBatches(x, "x", steps, need_y=False)
            self._ensure_built(self._data(source.first()[0], need_y=False)[0])
            return self._predict_batches(source, verbose, callbacks)
        batch_size = self._batch_size_for(batch_size)
        x, _, _ = self._data(x, need_y=False)
        (x,) = _first_batches(steps, batch_size, "steps", x)
        self._check_whole_batches(len(x), batch_size)
        self._ensure_built(x)
        steps = math.ceil(len(x) / batch_size)
        extra = [callbacks_module.ProgbarLogger()] if verbose else []
        cbs = callbacks_module.CallbackList(
            [*_callbacks(callbacks), *extra], self, {"steps": steps, "verbose": verbose}
        )
        cbs.call("on_predict_begin", {})
        result = None
        for step in range(steps):
            sl = slice(step * batch_size, (step + 1) * batch_size)
            cbs.call("on_predict_batch_begin", step, {})
            out = self(x[sl])
            outs = out if isinstance(out, list) else [out]  # a model of several outputs
            if result is None:
                result = [np.empty((len(x), *o.shape[1:]), dtype=o.dtype) for o in outs]
            for r, o in zip(result, outs):
                r[sl] = o
            cbs.call("on_predict_batch_end", step, {"outputs": out})
        cbs.call("on_predict_end", {})
        # A list of one output (Model(inputs, [output])) comes back as its array, as Keras 3's
        # predict unpacks it (the model's call keeps the list)
        return result if len(result) > 1 else result[0]

    def _predict_batches(self, source: DatasetBatches, verbose: int, callbacks) -> np.ndarray:
        extra = [callbacks_module.ProgbarLogger()] if verbose else []
        cbs = callbacks_module.CallbackList(
            [*_callbacks(callbacks), *extra], self, {"steps": source.steps, "verbose": verbose}
        )
        cbs.call("on_predict_begin", {})
        outputs = []
        for step, (xb, _, _) in enumerate(source.epoch()):
            cbs.call("on_predict_batch_begin", step, {})
            xb = self._data(xb, need_y=False)[0]
            self._check_dataset_batch(xb)
            outputs.append(self(xb))
            cbs.call("on_predict_batch_end", step, {"outputs": outputs[-1]})
        cbs.call("on_predict_end", {})
        if outputs and isinstance(outputs[0], list):  # a model of several outputs
            joined = [np.concatenate(parts) for parts in zip(*outputs)]
            return joined if len(joined) > 1 else joined[0]  # one: as above
        return np.concatenate(outputs)

    def predict_on_batch(self, x) -> np.ndarray:
        """The outputs for one batch: the same as ``model(x)``."""
        return self(x)

    def train_on_batch(
        self,
        x,
        y,
        sample_weight=None,
        class_weight=None,
        reset_metrics: bool = True,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on one batch; returns that batch's loss (and metrics). The
        metrics are reset first, so they are this batch's (``reset_metrics=True``, as in Keras;
        Keras 3.15 gave the same per-batch values in a check); with ``reset_metrics=False`` they
        run on over the batches since the last reset (``reset_metrics()`` clears them).
        ``class_weight`` as in :meth:`fit`."""
        self._check_class_weight(class_weight)
        self._require_compiled("train_on_batch")
        x, y, sample_weight = self._data(x, y, sample_weight)
        self._ensure_built(x)
        loss_weight = None
        if class_weight is not None:
            loss_weight = class_sample_weight(class_weight, y, sample_weight, self._trained_shape)
        self._prepare_metrics(y, x)
        if _flag(reset_metrics, "reset_metrics"):
            self._reset_metrics()
        logs = {"loss": self._train_step(x, y, sample_weight, loss_weight)}
        logs.update({m.name: metrics_lib.result_value(m) for m in self._metrics})
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def test_on_batch(
        self, x, y, sample_weight=None, reset_metrics: bool = True, return_dict: bool = False
    ) -> Any:
        """The loss (and metrics) of one batch, without training; ``reset_metrics`` as in
        :meth:`train_on_batch`."""
        self._require_compiled("test_on_batch")
        x, y, sample_weight = self._data(x, y, sample_weight)
        self._ensure_built(x)
        self._prepare_metrics(y, x)
        # this batch alone: copies of its own; run on: the model's running metrics
        reset = _flag(reset_metrics, "reset_metrics")
        metrics = self._evaluation_metrics() if reset else self._metrics
        logs = {"loss": self._test_step(x, y, sample_weight, metrics)}
        logs.update({m.name: metrics_lib.result_value(m) for m in metrics})
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values
