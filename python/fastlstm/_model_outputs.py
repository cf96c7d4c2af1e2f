"""Training a functional model of several outputs (or of outputs given as a list), as Keras's
compile takes it: a loss per output (one for all, a list in the order of ``outputs``, or a dict
by output name; None, or an output left out of the dict, for an output that is not trained, as
Keras allows), weighted by ``loss_weights`` and summed; metrics per output (a list of one
entry per output, a metric or a list of them, or a dict); targets a list or a dict of arrays. An output's name is the name of the layer that makes it; the logs name each
output's loss and metrics after it (``dense_1_loss``, ``dense_1_mae``), as Keras 3 does.

The training loop is the one-output loop (_training.py): the joint loss takes the lists of
targets, outputs and masks, and each per-output metric picks its own from them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import losses as losses_lib
from . import metrics as metrics_lib
from ._inputs import ArrayGroup


class JointLoss(losses_lib.Loss):
    """Σ_k weight_k · loss_k(y_k, output_k) over the outputs with a loss (loss_k None: none,
    and a zero gradient into that output): the loss of a model of several outputs."""

    name = "loss"

    def __init__(self, losses: list, weights: list[float]) -> None:
        super().__init__()
        self.losses, self.weights = losses, weights

    def value_and_grad(self, y_true, y_pred, sample_weight=None, mask=None):
        """``(loss, [dL/d(output_k)])`` from the targets (an ArrayGroup), the outputs and the
        masks (lists, one per output)."""
        total, grads = 0.0, []
        for k, (loss, weight) in enumerate(zip(self.losses, self.weights)):
            if loss is None:
                grads.append(np.zeros_like(y_pred[k]))
                continue
            value, d = loss.value_and_grad(y_true.arrays[k], y_pred[k], sample_weight, mask[k])
            total += weight * value
            grads.append(d * d.dtype.type(weight) if weight != 1.0 else d)
        return total, grads

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        return sum(
            weight * loss(y_true.arrays[k], y_pred[k], sample_weight, mask[k])
            for k, (loss, weight) in enumerate(zip(self.losses, self.weights))
            if loss is not None
        )


class OutputLoss(metrics_lib.Metric):
    """One output's loss, its mean over the batches seen (by their sizes): ``<output>_loss``
    in the logs."""

    direction = "min"

    def __init__(self, loss, index: int, name: str) -> None:
        super().__init__(name=name)
        self.loss, self.index = loss, index

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        k = self.index
        value = self.loss(y_true.arrays[k], y_pred[k], sample_weight, mask[k])
        rows = len(y_pred[k])
        self.total += float(value) * rows
        self.count += rows


class OutputMetric(metrics_lib.Metric):
    """A metric of one output: the metric given (``"accuracy"`` chosen, as for one output, from
    that output's loss and shapes at its first batch), named ``<output>_<metric>``."""

    def __init__(self, metric, index: int, output: str, loss) -> None:
        self.metric, self.index, self.output, self.loss = metric, index, output, loss
        name = metric if isinstance(metric, str) else metric.name
        super().__init__(name=f"{output}_{name}")
        self.direction = getattr(metric, "direction", None)
        if isinstance(metric, str) and metric.lower() in ("accuracy", "acc"):
            self.direction = "max"

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        k = self.index
        if isinstance(self.metric, str):  # "accuracy": which one, from the first batch
            chosen = metrics_lib.resolve_accuracy(
                self.loss, np.shape(y_true.arrays[k]), np.shape(y_pred[k])
            )
            chosen.name = self.metric
            self.metric = chosen
        metrics_lib.update(self.metric, y_true.arrays[k], y_pred[k], sample_weight, mask[k])

    def result(self) -> float | np.ndarray:
        return 0.0 if isinstance(self.metric, str) else metrics_lib.result_value(self.metric)

    def reset_state(self) -> None:
        if not isinstance(self.metric, str):
            self.metric.reset_state()


def per_output(value, what: str, names: list[str], *, lists: bool = False) -> list:
    """``value`` spread over the outputs: one for every output (not for metrics: a flat list of
    them is ambiguous, as in Keras), a list or tuple of one per output, or a dict by output
    name (outputs left out get None)."""
    n = len(names)
    if isinstance(value, dict):
        unknown = sorted(set(map(str, value)) - set(names))
        if unknown:
            raise ValueError(
                f"{what}: expected the outputs' names as keys, {names}, got also {unknown}"
            )
        entries = [value.get(name) for name in names]
    elif isinstance(value, (list, tuple)):
        if len(value) != n:
            shape = "a metric or a list of them (or None)" if lists else "one entry"
            raise ValueError(
                f"{what}: for a model of {n} outputs, expected {shape} per output in the "
                f"order of outputs ({names}), or a dict by output name, got {value!r}"
            )
        entries = list(value)
    elif lists and value is not None:
        raise TypeError(f"{what}: expected a list of {n} entries or a dict, got {value!r}")
    else:
        entries = [value] * n
    if lists:  # each output's metrics: none, one, or a list of them
        entries = [
            list(e) if isinstance(e, (list, tuple)) else [] if e is None else [e] for e in entries
        ]
    return entries


def compiled(losses, loss_weights, metrics, weighted_metrics, names: list[str]):
    """What compile makes of a model of several outputs: ``(joint loss, metrics, weighted
    metrics, specs)``, the metrics flat, each output's loss first among the weighted ones;
    ``specs``: the per-output lists, as a model file holds them."""
    loss_list = [
        losses_lib.get(l) if l is not None else None for l in per_output(losses, "loss", names)
    ]
    if all(l is None for l in loss_list):
        raise ValueError(
            f"loss: expected a loss for at least one output ({names}), got none for any"
        )
    weights = []
    for name, w in zip(names, per_output(loss_weights, "loss_weights", names)):
        w = 1.0 if w is None else w
        if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)):
            raise TypeError(f"loss_weights: expected numbers, got {w!r} for output {name!r}")
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"loss_weights: expected finite numbers >= 0, got {w!r} for {name!r}")
        weights.append(float(w))
    lists = []
    for given, what in ((metrics, "metrics"), (weighted_metrics, "weighted_metrics")):
        lists.append(per_output(given, what, names, lists=True))
    per_metrics = [[[metrics_lib.get(m) for m in ms] for ms in group] for group in lists]
    flat = [
        OutputLoss(loss_list[k], k, f"{name}_loss")
        for k, name in enumerate(names)
        if loss_list[k] is not None
    ]
    weighted = [True] * len(flat)
    for group, flag in zip(per_metrics, (False, True)):
        for k, ms in enumerate(group):
            flat += [OutputMetric(m, k, names[k], loss_list[k]) for m in ms]
            weighted += [flag] * len(ms)
    specs = {
        "loss": loss_list,
        "loss_weights": weights,
        "metrics": per_metrics[0],
        "weighted_metrics": per_metrics[1],
    }
    return JointLoss(loss_list, weights), flat, weighted, specs


def needs_targets(specs: dict | None, count: int) -> list[bool]:
    """Which outputs need targets: those with a loss or a metric (every one before compile)."""
    if not specs:
        return [True] * count
    groups = zip(specs["loss"], specs["metrics"], specs["weighted_metrics"])
    return [loss is not None or bool(ms) or bool(ws) for loss, ms, ws in groups]


def targets(y, names: list[str], needed: list[bool] | None = None):
    """The targets of a model of several outputs: a list or tuple of one array per output, or a
    dict by output name, as one ArrayGroup (each checked by the caller's _data). An output
    that ``needed`` says is trained by no loss and scored by no metric may have None in the
    list or be left out of the dict; its entry is then an array of no columns."""
    if isinstance(y, ArrayGroup) or y is None:
        return y
    from ._inputs import _array

    needed = needed or [True] * len(names)
    optional = {name for name, need in zip(names, needed) if not need}
    if isinstance(y, dict):
        keys = set(map(str, y))
        if not set(names) - optional <= keys <= set(names):
            wanted = f"the outputs' names as keys, {names}"
            if optional:
                wanted += f" ({sorted(optional)} may be left out: no loss or metric reads them)"
            raise ValueError(f"y: expected a dict with {wanted}, got the keys {sorted(keys)}")
        given = [y.get(name) for name in names]
    elif isinstance(y, (list, tuple)) and len(y) == len(names):
        given = list(y)
    else:
        given = None
    if given is not None:
        for k, (name, a) in enumerate(zip(names, given)):
            if a is None and name not in optional:
                what = f"y[{name!r}]" if isinstance(y, dict) else f"y[{k}]"
                raise ValueError(f"{what}: expected the targets of output {name!r}, got None")
        arrays = [
            None if a is None else _array(a, f"y[{name!r}]" if isinstance(y, dict) else f"y[{k}]")
            for k, (name, a) in enumerate(zip(names, given))
        ]
        rows = len(next(a for a in arrays if a is not None))
        arrays = [np.zeros((rows, 0), np.float32) if a is None else a for a in arrays]
    elif len(names) == 1 and not isinstance(y, (list, tuple)):
        arrays = [_array(y, "y")]  # one output's targets, not in a list
    else:
        got = f"a list of {len(y)}" if isinstance(y, (list, tuple)) else type(y).__name__
        raise ValueError(
            f"y: expected a list of {len(names)} arrays, one per output, or a dict by output "
            f"name ({names}), got {got}"
        )
    rows = {len(a) for a in arrays}
    if len(rows) != 1:
        raise ValueError(
            f"y: expected the same number of samples for every output, got shapes "
            f"{[a.shape for a in arrays]}"
        )
    return ArrayGroup(arrays)


def restored(config: dict, custom_objects=None) -> dict[str, Any]:
    """compile()'s arguments from a model file's per-output entries (checked: a damaged file
    raises ValueError or TypeError)."""
    loss, weights = config.get("loss"), config.get("loss_weights")
    groups = [config.get("metrics"), config.get("weighted_metrics")]
    if not isinstance(loss, list) or not isinstance(weights, list):
        raise TypeError("compile: expected lists of losses and loss weights, one per output")
    if not all(isinstance(g, list) and all(isinstance(ms, list) for ms in g) for g in groups):
        raise TypeError("compile: expected a list of metrics per output")
    nested = [
        [[metrics_lib.deserialize(m, custom_objects) for m in ms] for ms in g] for g in groups
    ]
    return {
        "loss": [None if l is None else losses_lib.deserialize(l) for l in loss],
        "loss_weights": weights,
        "metrics": nested[0],
        "weighted_metrics": nested[1],
    }


def serialized(specs: dict) -> dict[str, Any]:
    """A model file's compile entries for the per-output specs."""
    return {
        "loss": [None if l is None else losses_lib.serialize(l) for l in specs["loss"]],
        "loss_weights": list(specs["loss_weights"]),
        "metrics": [[metrics_lib.serialize(m) for m in ms] for ms in specs["metrics"]],
        "weighted_metrics": [
            [metrics_lib.serialize(m) for m in ms] for ms in specs["weighted_metrics"]
        ],
    }
