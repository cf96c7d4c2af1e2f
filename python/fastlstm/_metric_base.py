"""The metrics' base class, :class:`Metric`: a running weighted mean of per-sample values, and
Keras 3's state variables (``add_weight``) for the metrics that keep counts or sums instead.

Separate from :mod:`fastlstm.metrics` (which re-exports it and holds the metrics themselves, their
names and ``get``) so that the metrics in the other private modules (``_metrics_*``) can derive
from it without importing that module (no import cycle), and so that each file stays under the
project's ~500 lines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import losses
from ._arrays import check_name
from ._metric_variables import Variable, initial_value, variable_shape


class Metric:
    """Base: subclasses implement ``_values(y_true, y_pred) -> (B, ...) per-sample values``.

    A Keras-style subclass may instead override ``update_state(y_true, y_pred,
    sample_weight=None)``, ``result()`` and ``reset_state()``, making its state after
    ``super().__init__(name=..., dtype=...)`` as in Keras: the model then passes a mask folded
    into ``sample_weight``, as Keras does (only an ``update_state`` with a parameter named
    ``mask`` gets it apart). Its state may be Keras 3's variables, from :meth:`add_weight`,
    which the base ``reset_state()`` zeroes; ``result()`` may return one of them or a NumPy
    scalar or 0-d array (the model logs it as a float)."""

    name = "metric"
    # Which way is better ("max" or "min"), for callbacks' mode="auto"; None: not known.
    direction: str | None = None

    def __init__(self, name: str | None = None, dtype=None) -> None:
        check_name(name)
        if name is not None:
            self.name = name
        self.dtype = dtype  # accepted as Keras's; the values are float64 whatever it is
        self._variables: list[Variable] = []  # add_weight's, in order (Keras's `variables`)
        # The running sums (reset_state's, set here directly: a Keras-style subclass makes its
        # own state after this returns, which its reset_state may need)
        self.total = 0.0
        self.count = 0.0

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name=None) -> Variable:
        """A state variable (Keras 3's ``add_weight``; its argument order): a float64 array of
        ``shape`` that starts from ``initializer``, "zeros" or "ones" (or Keras's other names
        for them, "zero", "Zeros", ...), a number or a function (shape, dtype=None) -> array.
        ``dtype`` is accepted as Keras's: the values are float64 whatever it is."""
        if "_variables" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.add_weight: call super().__init__() first (it makes "
                "the metric's list of variables)"
            )
        check_name(name)
        shape = variable_shape(shape)
        variable = Variable(initial_value(initializer, shape), name or "variable")
        self._variables.append(variable)
        return variable

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """Keras 3's other name for :meth:`add_weight` (``aggregation`` is accepted and does
        nothing: one process holds the state)."""
        return self.add_weight(shape, initializer, dtype, name)

    @property
    def variables(self) -> list[Variable]:
        """The variables add_weight made, then those of the metrics held as attributes (Keras
        3's list)."""
        found = list(self.__dict__.get("_variables", ()))
        for held in self._held_metrics():
            found += held.__dict__.get("_variables", ())
        return found

    def _held_metrics(self) -> list[Metric]:
        return [v for v in vars(self).values() if isinstance(v, Metric) and v is not self]

    def reset_state(self) -> None:
        """Keras 3's default: zeroes every variable made by add_weight (zeros, as Keras 3's,
        whatever the initializer was) and resets the metrics held as attributes; and, as
        always, this base's running sums ``total`` and ``count`` (unless a subclass made
        variables of those names: they are zeroed as variables).

        State a subclass keeps in other plain attributes is its own: without a reset_state of
        its own that resets it, it runs on across epochs and evaluations (each evaluation
        starting from a copy of the metric), as in Keras, whose reset_state also zeroes only
        the variables."""
        for variable in self.__dict__.get("_variables", ()):
            variable.assign(np.zeros(variable.shape))
        for held in self._held_metrics():
            held.reset_state()
        for name in ("total", "count"):
            if not isinstance(getattr(self, name, None), Variable):
                setattr(self, name, 0.0)

    def _values(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = np.asarray(y_pred)
        values = self._values(y_true, y_pred)
        # The mask only zeroes: count is then the weight of the valid values (Keras).
        w = losses.sample_weights(
            sample_weight, mask, values.shape, np.dtype(np.float64), rescale=False
        )
        if w is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            self.total += float(np.vdot(values, w))
            self.count += float(w.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def __call__(self, *args, **kwargs) -> float:
        """``update_state(*args, **kwargs)`` then ``result()``, as Keras 3's: the batch is added
        to the running state (``reset_state()`` first for one batch alone). Most metrics take
        ``(y_true, y_pred, sample_weight=None)``; Sum takes ``(values, sample_weight=None)``."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
