"""Learning-rate schedules with Keras's names, arguments and formulas
(``keras.optimizers.schedules``; also reachable as ``fastlstm.optimizers.schedules``).

A schedule is passed as an optimizer's ``learning_rate``; at every step the optimizer uses
``schedule(step)``, ``step`` being the updates made so far (0 for the first), and its
``learning_rate`` attribute reads the current value. Subclass :class:`LearningRateSchedule` and
implement ``__call__(step)`` for your own (a model compiled with one cannot be saved: model
files hold no code).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from ._arrays import real_number
from .functional import _flag


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
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):  # no signature to read (some builtins): called as given
            signature = None
        if signature is not None:
            try:
                signature.bind()
            except TypeError:
                raise TypeError(
                    f"learning_rate: expected a schedule or a callable of no arguments (as Keras "
                    f"3 calls it at every step), got {fn!r}, which takes {signature}; a rate by "
                    f"step is a LearningRateSchedule subclass with __call__(self, step)"
                ) from None
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
        self.initial_learning_rate = real_number(
            initial_learning_rate, "initial_learning_rate", at_least=0
        )
        self.decay_steps = real_number(decay_steps, "decay_steps", above=0)
        self.decay_rate = real_number(decay_rate, "decay_rate", at_least=0)
        self.staircase = _flag(staircase, "staircase")
        self.name = type(self).__name__ if name is None else name

    def _p(self, step) -> float:
        p = real_number(step, "step", at_least=0) / self.decay_steps
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
        self.boundaries = [real_number(b, "boundaries", at_least=0) for b in boundaries]
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries: expected increasing steps, got {boundaries}")
        self.values = [real_number(v, "values", at_least=0) for v in values]
        self.name = name

    def __call__(self, step) -> float:
        step = real_number(step, "step", at_least=0)
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
        self.initial_learning_rate = real_number(
            initial_learning_rate, "initial_learning_rate", at_least=0
        )
        self.decay_steps = real_number(decay_steps, "decay_steps", above=0)
        self.end_learning_rate = real_number(end_learning_rate, "end_learning_rate", at_least=0)
        self.power = real_number(power, "power", at_least=0)
        self.cycle = _flag(cycle, "cycle")
        self.name = name

    def __call__(self, step) -> float:
        step, decay_steps = real_number(step, "step", at_least=0), self.decay_steps
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
        self.initial_learning_rate = real_number(
            initial_learning_rate, "initial_learning_rate", at_least=0
        )
        self.decay_steps = real_number(decay_steps, "decay_steps", above=0)
        self.alpha = real_number(alpha, "alpha", at_least=0, at_most=1)
        self.name = name
        self.warmup_target = (
            None
            if warmup_target is None
            else real_number(warmup_target, "warmup_target", at_least=0)
        )
        self.warmup_steps = real_number(warmup_steps, "warmup_steps", at_least=0)

    def _decayed(self, step: float, start: float) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * min(step, self.decay_steps) / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        step = real_number(step, "step", at_least=0)
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


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR), Keras 3's formula: with f = step /
    first_decay_steps and t = t_mul, the period i = floor(log(1 - f*(1 - t)) / log(t)) (floor(f)
    where t = 1), the fraction of it done f' = (f - (1 - t**i)/(1 - t)) / t**i (f - i), and the
    rate initial_learning_rate * ((1 - alpha) * 0.5 * m_mul**i * (1 + cos(pi * f')) + alpha).
    Period i lasts first_decay_steps * t_mul**i steps and starts at m_mul**i times the rate
    (alpha is not scaled by it). The logarithms' ratio can round to just under a whole number at
    a period's first step (t_mul=3, first_decay_steps=1, step 121: 4.9999...); i is then moved to
    the period whose bounds hold the step, so a restart starts at its full rate (as Keras's float32
    arithmetic gives there, and torch). With t_mul < 1 the periods end (after first_decay_steps /
    (1 - t_mul) steps): a step past that is refused (Keras gives NaN)."""

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        self.initial_learning_rate = real_number(
            initial_learning_rate, "initial_learning_rate", at_least=0
        )
        self.first_decay_steps = real_number(first_decay_steps, "first_decay_steps", above=0)
        self.t_mul = real_number(t_mul, "t_mul", above=0)
        self.m_mul = real_number(m_mul, "m_mul", at_least=0)
        self.alpha = real_number(alpha, "alpha", at_least=0, at_most=1)
        self.name = name

    def _period(self, fraction: float) -> tuple[int, float]:
        """The restart i and the fraction done of period i, from the fraction of the first."""
        t = self.t_mul
        if t == 1.0:
            i = math.floor(fraction)
            return i, fraction - i
        inside = 1.0 - fraction * (1.0 - t)
        if inside <= 0:
            raise ValueError(
                f"step: CosineDecayRestarts with t_mul={t} < 1 ends after "
                f"{self.first_decay_steps / (1 - t)} steps, got step "
                f"{fraction * self.first_decay_steps}"
            )
        i = math.floor(math.log(inside) / math.log(t))

        def start(k: int) -> float:  # period k's first step, as a fraction of the first period
            return (1.0 - t**k) / (1.0 - t)

        # The logarithms round: the period whose bounds hold the fraction, one either way.
        if fraction >= start(i + 1):
            i += 1
        elif i > 0 and fraction < start(i):
            i -= 1
        return i, max(0.0, (fraction - start(i)) / t**i)

    def __call__(self, step) -> float:
        fraction = real_number(step, "step", at_least=0) / self.first_decay_steps
        i, fraction = self._period(fraction)
        cosine = 0.5 * self.m_mul**i * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_CLASSES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        InverseTimeDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    cls = type(schedule)
    if _CLASSES.get(cls.__name__) is not cls:
        raise ValueError(
            f"learning_rate: only fastlstm's own schedules ({', '.join(_CLASSES)}) can be saved, "
            f"got {schedule!r}; save the weights (save_weights), or the model without its "
            "compile state (save(..., include_optimizer=False))"
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
