"""The optimizers' base class: Keras 3's base arguments (learning rate or schedule, weight
decay, clipping, gradient accumulation), the step count and the per-weight slots, saved and
restored; and Adam's first-moment step, which Adamax (in :mod:`fastlstm._optimizers_more`)
takes too. The optimizers themselves are in :mod:`fastlstm.optimizers`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import schedules
from ._arrays import check_name, integer, real_number
from .functional import _flag

# What every optimizer's learning_rate takes: a float, or a schedule read at every step.
LearningRate = float | schedules.LearningRateSchedule

# Slots that hold running sums or means of squares, or maxima of |g|: never negative.
_NON_NEGATIVE = frozenset(
    {"v", "v_hat", "velocity", "accumulator", "u", "accumulated_grad", "accumulated_delta_var"}
)


class Optimizer:
    """Base: subclasses list their ``slot_names`` and implement ``_update(p, g, slots, scratch,
    lr, step)`` changing p (and the slots) in place."""

    slot_names: tuple[str, ...] = ()
    name = "optimizer"

    def __init__(
        self,
        learning_rate: LearningRate,
        *,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        lr: Any = None,
    ) -> None:
        if lr is not None:
            raise TypeError(f"lr: Keras 2's name, use learning_rate={lr!r} (as Keras 3 does)")
        if loss_scale_factor is not None:
            raise TypeError(
                "loss_scale_factor: not supported (None, Keras's default, is accepted), got "
                f"{loss_scale_factor!r}: fastlstm's fit does not scale the loss (float16 "
                "training's remedy; fastlstm trains in float32 or float64)"
            )
        self.use_ema = _flag(use_ema, "use_ema")
        self.ema_momentum = real_number(ema_momentum, "ema_momentum", at_least=0, at_most=1)
        self.ema_overwrite_frequency = integer(
            ema_overwrite_frequency, "ema_overwrite_frequency", at_least=1, allow_none=True
        )
        self.loss_scale_factor = None
        self.gradient_accumulation_steps = integer(
            gradient_accumulation_steps, "gradient_accumulation_steps", at_least=2, allow_none=True
        )
        self.learning_rate = learning_rate
        self.weight_decay = real_number(weight_decay, "weight_decay", at_least=0, allow_none=True)
        self.clipnorm = real_number(clipnorm, "clipnorm", above=0, allow_none=True)
        self.clipvalue = real_number(clipvalue, "clipvalue", above=0, allow_none=True)
        self.global_clipnorm = real_number(
            global_clipnorm, "global_clipnorm", above=0, allow_none=True
        )
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(
                "clipnorm, global_clipnorm: expected at most one of them, got both "
                f"({self.clipnorm}, {self.global_clipnorm})"
            )
        check_name(name)
        if name is not None:
            self.name = name
        self.iterations = 0
        self._slots: list[dict[str, np.ndarray]] | None = None
        self._scratch: list[np.ndarray] = []

    @property
    def learning_rate(self) -> float:
        """The rate the next step uses: a schedule's value at ``iterations``."""
        if self._schedule is None:
            return self._learning_rate
        try:
            value = self._schedule(self.iterations)
        except OverflowError:  # a growing ExponentialDecay passes float's range
            value = math.inf
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        try:
            return real_number(value, "learning_rate", at_least=0)
        except ValueError:
            raise ValueError(
                f"learning_rate: expected the schedule {self._schedule!r} to give a non-negative "
                f"finite float at step {self.iterations}, got {value!r}"
            ) from None

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if callable(value) and not isinstance(value, schedules.LearningRateSchedule):
            value = schedules.FromCallable(value)  # Keras 3's callable of no arguments
        if isinstance(value, schedules.LearningRateSchedule):
            self._schedule, self._learning_rate = value, None
            return
        if getattr(self, "_schedule", None) is not None:
            raise TypeError(
                f"learning_rate: this optimizer follows the schedule {self._schedule!r}, so its "
                "rate cannot be set (as in Keras); make the optimizer with a float "
                "learning_rate to set it, e.g. from a callback"
            )
        self._schedule = None
        self._learning_rate = real_number(value, "learning_rate", at_least=0)

    # Keras 2's name for the rate. Refused, as in the constructor, rather than left to make a
    # stray attribute: `optimizer.lr = 1e-4` would otherwise change nothing, silently.
    @property
    def lr(self):
        raise AttributeError("lr: Keras 2's name; use learning_rate (as Keras 3 does)")

    @lr.setter
    def lr(self, value) -> None:
        raise AttributeError(
            f"lr: Keras 2's name; set learning_rate={value!r} instead (as Keras 3 does)"
        )

    # -- slots -----------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return self._slots is not None

    def build(self, params) -> None:
        """Make zero slots for each weight array."""
        self._slots = [{s: np.zeros_like(p) for s in self._all_slots(p)} for p in params]
        self._scratch = [np.empty_like(p) for p in params]

    def _slots_for(self, p) -> tuple[str, ...]:
        return self.slot_names

    def _all_slots(self, p) -> tuple[str, ...]:
        """The subclass's slots, then the base's: Keras's gradient accumulator, and with
        ``use_ema`` the weight's moving average."""
        extra = ("gradient_accumulator",) if self.gradient_accumulation_steps else ()
        return self._slots_for(p) + extra + (("average",) if self.use_ema else ())

    def built_for(self, params) -> bool:
        """Whether the state kept is for weights of these shapes and dtypes (or none is kept)."""
        return self._slots is None or (
            len(params) == len(self._slots)
            and all(
                p.shape == s.shape and p.dtype == s.dtype for p, s in zip(params, self._scratch)
            )
        )

    def _check(self, params) -> None:
        if self._slots is None:
            self.build(params)
            return
        if not self.built_for(params):
            raise ValueError(
                "params: expected the weights this optimizer was built for "
                f"({[s.shape for s in self._scratch]}), got {[p.shape for p in params]}. An "
                "optimizer keeps state per weight, for one model: after a model's trainable "
                "weights change (a layer added, `trainable` switched), compile() it again with a "
                "new optimizer"
            )

    def get_slot_arrays(self) -> list[np.ndarray]:
        """Every slot, weight by weight, in ``slot_names`` order, then the gradient accumulator
        (empty before the first step)."""
        if self._slots is None:
            return []
        return [slots[n].copy() for slots in self._slots for n in slots]

    def set_slot_arrays(self, params, arrays, iterations: int) -> None:
        """Restore the state saved by :meth:`get_slot_arrays` for these weights."""
        iterations = integer(iterations, "iterations", at_least=0)
        if not arrays:
            self._slots, self._scratch = None, []
            self.iterations = iterations
            return
        expected = [(p, n) for p in params for n in self._all_slots(p)]
        if len(arrays) != len(expected):
            raise ValueError(
                f"optimizer state: expected {len(expected)} slot arrays, got {len(arrays)}"
            )
        for (p, n), a in zip(expected, arrays):
            # The weight's dtype exactly: a cast could overflow (1e300 to float32 is inf).
            if a.shape != p.shape or a.dtype != p.dtype:
                raise ValueError(
                    f"optimizer state: expected slot {n!r} {p.dtype} of shape {p.shape}, got "
                    f"{a.dtype} {a.shape}"
                )
            # What no step makes: a negative sum of squares (from a damaged file, one epoch later
            # every weight was NaN). NaN and inf are kept: a step on data holding them makes
            # them, and a model saved after one loads as it was.
            if n in _NON_NEGATIVE and (a < 0).any():
                raise ValueError(
                    f"optimizer state: expected slot {n!r} to hold values of at least 0"
                )
        self.build(params)
        it = iter(arrays)
        for slots in self._slots:
            for n in slots:
                slots[n][...] = next(it)
        self.iterations = iterations

    # -- steps -----------------------------------------------------------------------------

    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.global_clipnorm is not None:
            norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
            if norm > self.global_clipnorm:
                grads = [g * (self.global_clipnorm / norm) for g in grads]
        elif self.clipnorm is not None:
            out = []
            for g in grads:
                norm = float(np.sqrt(np.vdot(g, g)))
                out.append(g * (self.clipnorm / norm) if norm > self.clipnorm else g)
            grads = out
        if self.clipvalue is not None:
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def apply(self, grads, params) -> None:
        """One step: update each array of ``params`` in place from the matching gradient.

        With ``gradient_accumulation_steps`` k (Keras 3's), a step whose count (from 1) is not
        a multiple of k only adds the gradients to the accumulators; the k-th updates the
        weights from ``(g + accumulated) / k`` (then clipped), with the rate at this step's
        ``iterations`` (what Keras's schedules read too), as update number ``iterations // k``
        + 1 (Adam's bias correction), and zeroes the accumulators. ``iterations`` counts every
        step (Keras's ``_iterations``; its ``iterations`` is ours // k)."""
        params, grads = list(params), list(grads)
        if len(grads) != len(params):  # before zip, which would drop the extra ones
            raise ValueError(
                f"grads: expected {len(params)} arrays (one per weight), got {len(grads)}"
            )
        grads = [np.asarray(g, dtype=p.dtype) for g, p in zip(grads, params)]
        self._check(params)
        steps, count = self.gradient_accumulation_steps, self.iterations
        if steps:
            sums = [slots["gradient_accumulator"] for slots in self._slots]
            if (count + 1) % steps:
                for total, g in zip(sums, grads):
                    total += g
                self._average(params, count)
                self.iterations = count + 1
                return
            grads = [(g + total) / steps for g, total in zip(grads, sums)]
        grads = self._clip(grads)
        lr = self.learning_rate
        self._check_rate(lr)
        step = count // steps + 1 if steps else count + 1
        for p, g, slots, scratch in zip(params, grads, self._slots, self._scratch):
            if self.weight_decay:
                f = p.dtype.type
                np.multiply(p, f(self.weight_decay), out=scratch)  # Keras: w - w * wd * lr
                scratch *= f(lr)
                p -= scratch
            self._update(p, g, slots, scratch, lr, step)
        if steps:
            for total in sums:
                total[...] = 0
        self._average(params, count)
        self.iterations = count + 1

    def _average(self, params, count: int) -> None:
        """With ``use_ema``, Keras 3's moving average after a call of :meth:`apply` (every call,
        accumulating ones too): ``average = m * average + (1 - m) * weight``, with m =
        ``ema_momentum`` but at Keras's first update (``iterations``, // k with gradient
        accumulation, 0), where it is 0: the weight itself. With ``ema_overwrite_frequency`` n,
        every n-th update copies the averages into the weights."""
        if not self.use_ema:
            return
        steps = self.gradient_accumulation_steps
        updates = count // steps if steps else count  # Keras's iterations before this call
        for p, slots, scratch in zip(params, self._slots, self._scratch):
            f = p.dtype.type
            momentum = f(self.ema_momentum) if updates else f(0)
            average = slots["average"]
            average *= momentum
            np.multiply(p, f(1) - momentum, out=scratch)
            average += scratch
        every = self.ema_overwrite_frequency
        if every and (updates + 1) % every == 0:
            self.finalize_variable_values(params)

    def finalize_variable_values(self, var_list) -> None:
        """Keras's: with ``use_ema``, copy each weight's moving average into it (a model's fit
        does so when it ends, if it took a step); nothing without, or before the first step."""
        if not self.use_ema or self._slots is None:
            return
        params = list(var_list)
        if not self.built_for(params):
            raise ValueError(
                "var_list: expected the weights this optimizer was built for "
                f"({[s.shape for s in self._scratch]}), got {[p.shape for p in params]}"
            )
        for p, slots in zip(params, self._slots):
            p[...] = slots["average"]

    def _check_rate(self, lr: float) -> None:
        """Refuse a rate the formula cannot take (Ftrl divides by it)."""

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras's form: an iterable of (gradient, weight) pairs."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        raise NotImplementedError

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        rate = self._learning_rate if self._schedule is None else self._schedule
        if isinstance(rate, schedules.LearningRateSchedule):
            rate = schedules.serialize(rate)
        return {
            "learning_rate": rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        if isinstance(config.get("learning_rate"), dict):
            config = {**config, "learning_rate": schedules.deserialize(config["learning_rate"])}
        return cls(**config)

    def __repr__(self) -> str:
        rate = self._learning_rate if self._schedule is None else self._schedule
        return f"{type(self).__name__}(learning_rate={rate})"


def update_first_moment(m, g, beta_1: float, scratch, f) -> None:
    """Adam's (and Adamax's) first moment in place: ``m += (1-b1)*(g - m)``, m and g shaped as
    the weight, ``scratch`` as well (overwritten: no array allocated), ``f`` the weight's scalar
    type (1 - b1 taken in it, so that a float32 weight's step stays float32)."""
    np.subtract(g, m, out=scratch)
    scratch *= f(1 - beta_1)
    m += scratch
