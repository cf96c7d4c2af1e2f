"""Learning-rate schedules with Keras's names, arguments and formulas
(``keras.optimizers.schedules``; also reachable as ``fastlstm.optimizers.schedules``).

A schedule is passed as an optimizer's ``learning_rate``; at every step the optimizer uses
``schedule(step)``, ``step`` being the updates made so far (0 for the first), and its
``learning_rate`` attribute reads the current value. Subclass :class:`LearningRateSchedule` and
implement ``__call__(step)`` for your own (a model compiled with one cannot be saved: model
files hold no code).
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def _number(value, name: str, *, positive: bool = False, fraction: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name}: expected a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    if not positive and value < 0:
        raise ValueError(f"{name}: expected a non-negative number, got {value!r}")
    if fraction and value > 1:
        raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")
    return float(value)


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return value


def _step(step) -> float:
    if isinstance(step, bool) or not isinstance(step, numbers.Real) or not step >= 0:
        raise ValueError(f"step: expected a non-negative number, got {step!r}")
    return float(step)


class LearningRateSchedule:
    """Base: ``__call__(step) -> float``, ``get_config()`` (the constructor's arguments) and
    ``from_config(config)``."""

    def __call__(self, step) -> float:
        raise NotImplementedError(
            f"{type(self).__name__}: a LearningRateSchedule implements __call__(step)"
        )

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class FromCallable(LearningRateSchedule):
    """An optimizer's ``learning_rate`` given as a function of no arguments (Keras 3 takes
    one): called at every step. Like a schedule of your own, it cannot be saved."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def __call__(self, step) -> float:
        return self.fn()

    def __repr__(self) -> str:
        return f"FromCallable({self.fn!r})"


class _RateDecay(LearningRateSchedule):
    """A rate decaying with p = step / decay_steps (floored with ``staircase``)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str | None = None,
    ) -> None:
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.decay_rate = _number(decay_rate, "decay_rate")
        self.staircase = _flag(staircase, "staircase")
        self.name = type(self).__name__ if name is None else name

    def _p(self, step) -> float:
        p = _step(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_RateDecay):
    """initial_learning_rate * decay_rate ** (step / decay_steps), the exponent floored with
    ``staircase``."""

    def __call__(self, step) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._p(step)


class InverseTimeDecay(_RateDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps), the ratio floored with
    ``staircase``."""

    def __call__(self, step) -> float:
        return self.initial_learning_rate / (1 + self.decay_rate * self._p(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] up to and including step boundaries[0], values[1] up to boundaries[1], ...,
    values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant") -> None:
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                "values: expected one more value than boundaries "
                f"({len(boundaries) + 1}), got {len(values)}"
            )
        self.boundaries = [_number(b, "boundaries") for b in boundaries]
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries: expected increasing steps, got {boundaries}")
        self.values = [_number(v, "values") for v in values]
        self.name = name

    def __call__(self, step) -> float:
        step = _step(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - step / decay_steps) ** power + end, with step held at
    decay_steps after it; with ``cycle``, decay_steps grows to the next multiple of itself
    above the step instead."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.end_learning_rate = _number(end_learning_rate, "end_learning_rate")
        self.power = _number(power, "power")
        self.cycle = _flag(cycle, "cycle")
        self.name = name

    def __call__(self, step) -> float:
        step, decay_steps = _step(step), self.decay_steps
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        span = self.initial_learning_rate - self.end_learning_rate
        return span * (1 - step / decay_steps) ** self.power + self.end_learning_rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """A half cosine from the rate down to alpha times it over decay_steps, held there after.
    With ``warmup_target``, first a straight line from initial_learning_rate to warmup_target
    over warmup_steps, then the cosine from warmup_target."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.alpha = _number(alpha, "alpha", fraction=True)
        self.name = name
        self.warmup_target = (
            None if warmup_target is None else _number(warmup_target, "warmup_target")
        )
        self.warmup_steps = _number(warmup_steps, "warmup_steps")

    def _decayed(self, step: float, start: float) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * min(step, self.decay_steps) / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        step = _step(step)
        if self.warmup_target is None:
            return self._decayed(step, self.initial_learning_rate)
        if step < self.warmup_steps:
            rise = self.warmup_target - self.initial_learning_rate
            return self.initial_learning_rate + rise * step / self.warmup_steps
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


_CLASSES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        InverseTimeDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        CosineDecay,
    )
}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    cls = type(schedule)
    if _CLASSES.get(cls.__name__) is not cls:
        raise ValueError(
            f"learning_rate: only fastlstm's own schedules ({', '.join(_CLASSES)}) can be saved, "
            f"got {schedule!r}; save the weights (save_weights) instead"
        )
    return {"class_name": cls.__name__, "config": schedule.get_config()}


def deserialize(spec) -> LearningRateSchedule:
    if not isinstance(spec, dict) or spec.get("class_name") not in _CLASSES:
        raise ValueError(
            f"learning_rate: expected a class name in {sorted(_CLASSES)}, got {spec!r}"
        )
    config = spec.get("config")
    if not isinstance(config, dict):
        raise TypeError(f"learning_rate: expected a config dict, got {config!r}")
    try:
        return _CLASSES[spec["class_name"]].from_config(config)
    except TypeError as exc:
        raise ValueError(f"learning_rate {spec['class_name']}: bad config ({exc})") from None
