"""The losses' base class and what it shares with the metrics: :class:`Loss` (reduction,
weighting and masking, value and gradient), ``_Probabilistic`` (``from_logits`` and
``label_smoothing``, the crossentropies' options) and the checks of y_true, labels and weights.

Separate from :mod:`fastlstm.losses` (which holds the losses themselves and re-exports ``Loss``,
``EPSILON``, ``sparse_labels`` and ``sample_weights``) so that :mod:`fastlstm._losses_more` and the
metrics can build on it without importing that module (no import cycle), and so that each file
stays under the project's ~500 lines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import cast_within_range, check_name, real_number, snake_case

EPSILON = 1e-7  # Keras's backend.epsilon()
_REDUCTIONS = ("sum_over_batch_size", "sum", "none")


def _floating(y_pred) -> np.ndarray:
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(np.float64)
    return y_pred


def _dense_target(y_true, y_pred: np.ndarray, name: str) -> np.ndarray:
    """y_true as y_pred's shape and dtype; a trailing axis of size 1 that one has and the other
    lacks is added or dropped (Keras)."""
    y_true = np.asarray(y_true)
    if y_true.dtype.kind not in "biuf":
        raise TypeError(f"y_true: expected real numbers for {name}, got dtype {y_true.dtype}")
    if y_true.shape != y_pred.shape:
        if y_pred.shape[-1:] == (1,) and y_true.shape == y_pred.shape[:-1]:
            y_true = y_true[..., None]
        elif y_true.shape == (*y_pred.shape, 1):
            y_true = y_true[..., 0]
        else:
            raise ValueError(
                f"y_true: expected shape {y_pred.shape} to match the model's output for {name}, "
                f"got {y_true.shape}"
            )
    if y_true.dtype == y_pred.dtype:
        return y_true
    return cast_within_range(y_true, y_pred.dtype, "y_true")


def sparse_labels(
    y_true, y_pred: np.ndarray, name: str, ignore_class=None, any_label: bool = False
) -> np.ndarray:
    """Integer class indices of shape y_pred.shape[:-1], checked to lie in [0, C) or to equal
    ``ignore_class`` (which may lie outside, as Keras's -1 or 255); ``any_label``: any integer
    (the accuracies count one outside [0, C) as a miss, as Keras's: a padded step's -1)."""
    y_true = np.asarray(y_true)
    target = y_pred.shape[:-1]
    if y_true.shape != target:
        if y_true.shape == (*target, 1):
            y_true = y_true[..., 0]
        else:
            raise ValueError(
                f"y_true: expected integer labels of shape {target} (the model's output "
                f"{y_pred.shape} without its class axis) for {name}, got {y_true.shape}"
            )
    if y_true.dtype.kind in "iu":
        labels = y_true
    elif y_true.dtype.kind in "bf":
        if y_true.dtype.kind == "f" and not np.isfinite(y_true).all():
            bad = y_true[~np.isfinite(y_true)].flat[0]
            raise ValueError(f"y_true: expected integer labels for {name}, got {bad}")
        labels = y_true.astype(np.int64)
        if y_true.dtype.kind == "f" and not np.array_equal(labels, y_true):
            raise TypeError(f"y_true: expected integer labels for {name}, got non-whole floats")
    else:
        raise TypeError(f"y_true: expected integer labels for {name}, got dtype {y_true.dtype}")
    if any_label:
        return labels
    classes = y_pred.shape[-1]
    kept = labels if ignore_class is None else labels[labels != ignore_class]
    if kept.size and (kept.min() < 0 or kept.max() >= classes):
        bad = kept.min() if kept.min() < 0 else kept.max()
        also = "" if ignore_class is None else f" or ignore_class {ignore_class}"
        raise ValueError(
            f"y_true: expected labels in [0, {classes}) (the model's {classes} outputs){also} "
            f"for {name}, got {bad}"
        )
    return labels


def sample_weights(
    sample_weight, mask, shape: tuple, dtype, rescale: bool = True
) -> np.ndarray | None:
    """The (shape) weights from sample_weight (broadcast over trailing axes; (B, 1, ...) as
    (B,)) and a bool mask (B, T), also broadcast over trailing axes, or None for all ones. With ``rescale`` (a loss averaged over the
    batch) the mask is scaled by size / valid, so that the mean over all values is the mean over
    the unmasked ones; without (a summed loss, a running metric) it only zeroes (Keras)."""
    w = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight)
        if sw.dtype.kind not in "biuf":
            raise TypeError(f"sample_weight: expected real numbers, got dtype {sw.dtype}")
        if sw.ndim >= 2 and sw.shape[0] == shape[0] and all(d == 1 for d in sw.shape[1:]):
            sw = sw.reshape(sw.shape[0])  # one weight per sample, whatever its trailing axes
        if sw.ndim > len(shape) or sw.shape != shape[: sw.ndim]:
            if not (sw.ndim == len(shape) + 1 and sw.shape[-1] == 1 and sw.shape[:-1] == shape):
                raise ValueError(
                    f"sample_weight: expected shape {shape[:1]} or {shape}, got {sw.shape}"
                )
            sw = sw[..., 0]
        w = sw.astype(dtype, copy=False).reshape(sw.shape + (1,) * (len(shape) - sw.ndim))
        w = np.broadcast_to(w, shape)
    if mask is not None:
        mask = np.asarray(mask)
        # (B, T) against per-step values (B, T), or against every output (B, T, C) of a step
        if mask.shape != shape[: mask.ndim]:
            raise ValueError(
                f"mask: expected shape {shape[:2]} (batch, time) to match values of shape "
                f"{shape}, got {mask.shape}"
            )
        m = mask.astype(dtype)
        if rescale:
            m *= dtype.type(mask.size / max(int(np.count_nonzero(mask)), 1))
        m = np.broadcast_to(m.reshape(m.shape + (1,) * (len(shape) - m.ndim)), shape)
        w = m if w is None else w * m
    return w


def _returned(value, who: str, dtype: np.dtype) -> np.ndarray:
    """What a loss of the caller's own returned, as a new array of ``dtype`` (the gradient is
    scaled in place: never the caller's own array); TypeError naming the method where it holds
    no real numbers (None, text, complex values NumPy would cut to their real part)."""
    arr = None if value is None else np.asarray(value)
    if arr is None or arr.dtype.kind not in "biuf":
        got = "None" if arr is None else f"dtype {arr.dtype}"
        raise TypeError(f"loss: {who} returned {got}; expected an array of real numbers")
    return np.array(arr, dtype=dtype)


def _broadcast_hint(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    """Where y_true and y_pred differ by a trailing axis of size 1 ((B,) targets of a (B, 1)
    output), what NumPy makes of them in a loss's arithmetic, and what to do."""
    if y_true.shape == y_pred.shape or np.squeeze(y_true).shape != np.squeeze(y_pred).shape:
        return ""
    try:
        both = np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        return ""
    return (
        f"; y_true {y_true.shape} and y_pred {y_pred.shape} broadcast to {both} in NumPy's "
        "arithmetic: reshape y_true to y_pred's shape in call and gradient "
        "(y_true.reshape(y_pred.shape)), as the built-in losses take it"
    )


class Loss:
    """Base of every loss. A loss of your own subclasses it with two methods (Keras's ``call``,
    and its gradient, which fastlstm cannot derive: it has no automatic differentiation):

    - ``call(y_true, y_pred)``: the per-sample values, shape y_pred.shape[:-1] (the last axis
      reduced, as Keras's losses reduce it);
    - ``gradient(y_true, y_pred)``: d(values)/d(y_pred), shaped like y_pred (entry [..., c] is
      the derivative of values[...] with respect to y_pred[..., c]).

    Both get y_pred as a float array and y_true as an array, of y_pred's dtype where it holds
    numbers, and in the shape it was given, as Keras gives it ((B,) targets of a (B, 1) output
    stay (B,): reshape them where the arithmetic needs y_pred's shape). The base class then
    weights, masks and reduces them as for the built-in losses. A subclass without a ``name``
    is named after its class in snake case ("MyLoss" -> "my_loss"), as Keras names it. (The
    built-in ones implement ``_values(y_true, y_pred) -> (values, dvalues)`` instead.)"""

    name = "loss"
    sparse = False  # y_true holds class indices, not one value per output
    # The axis of y_pred that ``_values`` reduces (a loss with an ``axis`` option sets its own):
    # the weights, shaped like the values, broadcast back along it onto the gradient.
    axis = -1

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str | None = None
    ) -> None:
        if reduction is None:  # Keras 3's spelling of no reduction
            reduction = "none"
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        check_name(name)
        if name is not None:
            self.name = name
        elif type(self).name == Loss.name and type(self) is not Loss:  # a class of the caller's
            self.name = snake_case(type(self).__name__)

    def _custom_values(self, y_true, y_pred):
        """A subclass's ``call``, checked against y_pred's shape: (y_true as given to it, the
        values). y_true keeps its shape, as Keras passes it to a Loss subclass's ``call``."""
        check_custom(self)
        y_true = np.asarray(y_true)
        if y_true.dtype.kind in "biuf" and y_true.dtype != y_pred.dtype:
            y_true = cast_within_range(y_true, y_pred.dtype, "y_true")
        who = type(self).__name__
        values = _returned(self.call(y_true, y_pred), f"{who}.call", y_pred.dtype)
        if values.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"loss: {who}.call returned values of shape {values.shape}; expected "
                f"{y_pred.shape[:-1]}, one per sample (y_pred {y_pred.shape} without its last "
                f"axis, which a loss reduces){_broadcast_hint(y_true, y_pred)}"
            )
        return y_true, values

    def _values(self, y_true, y_pred):
        """A subclass's ``call`` and ``gradient``, checked against y_pred's shape."""
        y_true, values = self._custom_values(y_true, y_pred)
        who = type(self).__name__
        grad = _returned(self.gradient(y_true, y_pred), f"{who}.gradient", y_pred.dtype)
        if grad.shape != y_pred.shape:
            raise ValueError(
                f"loss: {who}.gradient returned shape {grad.shape}; expected y_pred's "
                f"{y_pred.shape} (d values / d y_pred){_broadcast_hint(y_true, y_pred)}"
            )
        return values, grad

    def _masked_values(self, y_true, y_pred, mask):
        """``_values`` and the mask to reduce them with: the model's, and, where a loss leaves
        entries out itself (SparseCategoricalCrossentropy's ignore_class), without those."""
        axis = self.axis
        if mask is not None and axis not in (-1, np.ndim(y_pred) - 1):
            raise ValueError(
                f"axis: a loss reduced over axis {axis} of y_pred {np.shape(y_pred)} cannot take "
                f"the model's (batch, time) mask {np.shape(mask)}, which weighs each step; "
                "reduce over the last axis (axis=-1)"
            )
        return (*self._values(y_true, y_pred), mask)

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        if self.reduction == "none":
            y_pred = _floating(y_pred)
            if type(self)._values is Loss._values:  # the caller's own: no gradient needed
                values = self._custom_values(y_true, y_pred)[1]
            else:
                values, _, mask = self._masked_values(y_true, y_pred, mask)
            w = sample_weights(sample_weight, mask, values.shape, values.dtype, rescale=False)
            return values if w is None else values * w
        return self.value_and_grad(y_true, y_pred, sample_weight, mask)[0]

    def value_and_grad(self, y_true, y_pred, sample_weight=None, mask=None):
        """``(loss, dL/dy_pred)``: a float and an array shaped like y_pred."""
        if self.reduction == "none":
            raise ValueError("reduction: 'none' gives no scalar loss to differentiate")
        y_pred = _floating(y_pred)
        values, d, mask = self._masked_values(y_true, y_pred, mask)
        mean = self.reduction == "sum_over_batch_size"
        w = sample_weights(sample_weight, mask, values.shape, values.dtype, rescale=mean)
        n = values.size if mean else 1
        if n == 0:
            return 0.0, np.zeros_like(y_pred)
        scale = y_pred.dtype.type(1.0 / n)
        if w is None:
            loss = float(values.sum()) / n
            d *= scale
        else:
            loss = float(np.vdot(values, w)) / n
            d *= np.expand_dims(w * scale, self.axis)
        return loss, d

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


def check_custom(loss: Loss) -> None:
    """Refuses a loss of the caller's own that lacks ``call`` or ``gradient`` (the built-in
    losses override ``_values`` instead, a model's joint loss ``value_and_grad``), with what to
    write."""
    cls = type(loss)
    if cls._values is not Loss._values or cls.value_and_grad is not Loss.value_and_grad:
        return
    missing = [m for m in ("call", "gradient") if not callable(getattr(loss, m, None))]
    if missing:
        raise TypeError(
            f"loss: {type(loss).__name__} defines no {' and no '.join(f'{m}()' for m in missing)}; "
            "a Loss subclass gives call(y_true, y_pred) (the per-sample values, y_pred's shape "
            "without its last axis) and gradient(y_true, y_pred) (their derivative with respect "
            "to y_pred, shaped like y_pred): fastlstm has no automatic differentiation"
        )


class _Probabilistic(Loss):
    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
    ) -> None:
        super().__init__(reduction, name)
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"from_logits: expected True or False, got {from_logits!r}")
        self.from_logits = bool(from_logits)
        self.label_smoothing = real_number(
            label_smoothing, "label_smoothing", at_least=0, at_most=1
        )

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }
