"""The metrics that are a loss's per-sample values, averaged as every :class:`Metric` averages
them: MeanSquaredError, MeanAbsoluteError, ..., RootMeanSquaredError (the root of the mean), and
Keras 3's crossentropy metrics with their loss's options (``from_logits``, ...).

Re-exported and registered by :mod:`fastlstm.metrics`; a module of its own so that that one stays
under the project's ~500 lines.
"""

from __future__ import annotations

import numpy as np

from . import losses
from ._loss_base import _floating
from ._metric_base import Metric


class _FromLoss(Metric):
    loss_class: type = losses.Loss
    direction = "min"

    def _loss(self) -> losses.Loss:
        return self.loss_class(reduction="none", name=self.name)

    def _values(self, y_true, y_pred):
        return self._loss()._values(y_true, _floating(y_pred))[0]


class MeanSquaredError(_FromLoss):
    name = "mean_squared_error"
    loss_class = losses.MeanSquaredError


class MeanAbsoluteError(_FromLoss):
    name = "mean_absolute_error"
    loss_class = losses.MeanAbsoluteError


class MeanAbsolutePercentageError(_FromLoss):
    name = "mean_absolute_percentage_error"
    loss_class = losses.MeanAbsolutePercentageError


class MeanSquaredLogarithmicError(_FromLoss):
    name = "mean_squared_logarithmic_error"
    loss_class = losses.MeanSquaredLogarithmicError


class LogCoshError(_FromLoss):
    name = "logcosh"
    loss_class = losses.LogCosh


class Poisson(_FromLoss):
    name = "poisson"
    loss_class = losses.Poisson


class KLDivergence(_FromLoss):
    name = "kl_divergence"
    loss_class = losses.KLDivergence


class Hinge(_FromLoss):
    name = "hinge"
    loss_class = losses.Hinge


class SquaredHinge(_FromLoss):
    name = "squared_hinge"
    loss_class = losses.SquaredHinge


class CategoricalHinge(_FromLoss):
    name = "categorical_hinge"
    loss_class = losses.CategoricalHinge


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the weighted mean squared error over everything seen (Keras's: not a
    mean of per-sample roots)."""

    name = "root_mean_squared_error"

    def result(self) -> float:
        return float(np.sqrt(super().result()))


def _last_axis(axis) -> int:
    if isinstance(axis, (bool, np.bool_)) or axis != -1:
        raise ValueError(
            f"axis: expected -1 (the class axis, the only one fastlstm takes), got {axis!r}"
        )
    return -1


class BinaryCrossentropy(_FromLoss):
    """Keras 3's metric: the mean of :class:`losses.BinaryCrossentropy`'s per-sample values
    (its ``from_logits`` and ``label_smoothing``), weighted and masked as every mean here."""

    name = "binary_crossentropy"
    loss_class = losses.BinaryCrossentropy

    def __init__(
        self, name=None, dtype=None, from_logits=False, label_smoothing=0.0, axis=-1
    ) -> None:
        self.axis = _last_axis(axis)
        options = {"from_logits": from_logits, "label_smoothing": label_smoothing}
        checked = self.loss_class(**options, reduction="none")  # names a bad option
        self.from_logits, self.label_smoothing = checked.from_logits, checked.label_smoothing
        super().__init__(name, dtype)

    def _loss(self):
        return self.loss_class(self.from_logits, self.label_smoothing, "none", self.name)

    def get_config(self):
        config = {**super().get_config(), "from_logits": self.from_logits}
        return {**config, "label_smoothing": self.label_smoothing, "axis": self.axis}


class CategoricalCrossentropy(BinaryCrossentropy):
    """As BinaryCrossentropy, from :class:`losses.CategoricalCrossentropy` (one-hot y_true)."""

    name = "categorical_crossentropy"
    loss_class = losses.CategoricalCrossentropy


class SparseCategoricalCrossentropy(_FromLoss):
    """As BinaryCrossentropy, from :class:`losses.SparseCategoricalCrossentropy` (integer
    y_true); no label smoothing, as Keras 3's."""

    name = "sparse_categorical_crossentropy"
    loss_class = losses.SparseCategoricalCrossentropy

    def __init__(self, name=None, dtype=None, from_logits=False, axis=-1) -> None:
        self.axis = _last_axis(axis)
        self.from_logits = self.loss_class(from_logits, reduction="none").from_logits
        super().__init__(name, dtype)

    def _loss(self):
        return self.loss_class(self.from_logits, None, "none", self.name)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "axis": self.axis}


# The metrics that are a loss's per-sample mean, with no options (losses' functions map to them).
_FROM_LOSSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    LogCoshError,
    Poisson,
    KLDivergence,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
)
