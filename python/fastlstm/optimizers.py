"""Optimizers with Keras's names, defaults and update formulas, updating NumPy weights in place.

Every optimizer takes ``learning_rate`` (a float, which callbacks may change between steps, or
a schedule from :mod:`fastlstm.optimizers.schedules`, read at every step),
``weight_decay`` (decoupled: w -= lr * weight_decay * w before the update, as Keras),
``clipnorm`` (clip each gradient to this L2 norm), ``clipvalue`` (clip each element to
[-v, v]) and ``global_clipnorm`` (scale all gradients together to this joint norm); at most one
of clipnorm and global_clipnorm. One ``apply(grads, params)`` call is one step; ``iterations``
counts them. The per-weight state ("slots": momenta, moments) is made on the first step, in the
weights' dtype, and updated in place with preallocated scratch space, so a step allocates little.

The formulas are Keras 3's (see each class); they equal torch.optim's except where the epsilon
sits (Keras: Adam outside sqrt(v), without bias correction of epsilon; RMSprop inside the sqrt),
and, for momentum, once the learning rate changes: Keras's velocity holds the rate it was made
with (v = m*v - lr*g), while torch applies the new rate to its whole buffer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import schedules
from ._arrays import check_name, integer, real_number

# Slots that hold running sums or means of squares: never negative.
_SQUARES = frozenset({"v", "v_hat", "velocity", "accumulator"})


class Optimizer:
    """Base: subclasses list their ``slot_names`` and implement ``_update(p, g, slots, scratch,
    lr, step)`` changing p (and the slots) in place."""

    slot_names: tuple[str, ...] = ()
    name = "optimizer"

    def __init__(
        self,
        learning_rate: float,
        *,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        lr: Any = None,
    ) -> None:
        if lr is not None:
            raise TypeError(f"lr: Keras 2's name, use learning_rate={lr!r} (as Keras 3 does)")
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
        self._slots = [{s: np.zeros_like(p) for s in self._slots_for(p)} for p in params]
        self._scratch = [np.empty_like(p) for p in params]

    def _slots_for(self, p) -> tuple[str, ...]:
        return self.slot_names

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
        """Every slot, weight by weight, in ``slot_names`` order (empty before the first step)."""
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
        expected = [(p, n) for p in params for n in self._slots_for(p)]
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
            # What no step makes: from a damaged file, one epoch later every weight was NaN.
            if not np.isfinite(a).all() or (n in _SQUARES and (a < 0).any()):
                what = "finite values of at least 0" if n in _SQUARES else "finite values"
                raise ValueError(f"optimizer state: expected slot {n!r} to hold {what}")
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
        """One step: update each array of ``params`` in place from the matching gradient."""
        params, grads = list(params), list(grads)
        if len(grads) != len(params):  # before zip, which would drop the extra ones
            raise ValueError(
                f"grads: expected {len(params)} arrays (one per weight), got {len(grads)}"
            )
        grads = [np.asarray(g, dtype=p.dtype) for g, p in zip(grads, params)]
        self._check(params)
        grads = self._clip(grads)
        lr = self.learning_rate
        step = self.iterations + 1
        for p, g, slots, scratch in zip(params, grads, self._slots, self._scratch):
            if self.weight_decay:
                p -= p * p.dtype.type(lr * self.weight_decay)
            self._update(p, g, slots, scratch, lr, step)
        self.iterations = step

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


class SGD(Optimizer):
    """Keras: with momentum m, ``v = m*v - lr*g; w += v`` (nesterov: ``w += m*v - lr*g``);
    without, ``w -= lr*g``. Equals torch.optim.SGD (v = -lr * torch's buffer) while the rate stays the same."""

    name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = real_number(momentum, "momentum", at_least=0, at_most=1)  # Keras: [0, 1]
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov: expected True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)

    def _slots_for(self, p):
        return ("momentum",) if self.momentum else ()

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        lr = p.dtype.type(lr)
        if not self.momentum:
            np.multiply(g, lr, out=scratch)
            p -= scratch
            return
        v = slots["momentum"]
        v *= p.dtype.type(self.momentum)
        np.multiply(g, lr, out=scratch)
        v -= scratch
        if self.nesterov:
            p -= scratch
            np.multiply(v, p.dtype.type(self.momentum), out=scratch)
        else:
            scratch[...] = v
        p += scratch

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Keras: ``m += (1-b1)*(g - m); v += (1-b2)*(g**2 - v);
    w -= lr*sqrt(1-b2**t)/(1-b1**t) * m / (sqrt(v) + eps)`` (amsgrad: v replaced by its running
    maximum)."""

    name = "adam"

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = real_number(beta_1, "beta_1", at_least=0, below=1)
        self.beta_2 = real_number(beta_2, "beta_2", at_least=0, below=1)
        self.epsilon = real_number(epsilon, "epsilon", at_least=0)
        if not isinstance(amsgrad, (bool, np.bool_)):
            raise TypeError(f"amsgrad: expected True or False, got {amsgrad!r}")
        self.amsgrad = bool(amsgrad)

    def _slots_for(self, p):
        return ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def _moments(self, g, slots, scratch, f) -> tuple:
        """``m += (1-b1)*(g - m); v += (1-b2)*(g**2 - v)`` in place; returns (m, v)."""
        m, v = slots["m"], slots["v"]
        np.subtract(g, m, out=scratch)
        scratch *= f(1 - self.beta_1)
        m += scratch
        np.multiply(g, g, out=scratch)
        scratch -= v
        scratch *= f(1 - self.beta_2)
        v += scratch
        return m, v

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        f = p.dtype.type
        alpha = lr * np.sqrt(1 - self.beta_2**step) / (1 - self.beta_1**step)
        m, v = self._moments(g, slots, scratch, f)
        if self.amsgrad:
            np.maximum(slots["v_hat"], v, out=slots["v_hat"])
            v = slots["v_hat"]
        np.sqrt(v, out=scratch)
        scratch += f(self.epsilon)
        np.divide(m, scratch, out=scratch)
        scratch *= f(alpha)
        p -= scratch

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras's default 0.004): ``w -= lr*weight_decay*w``
    before each Adam step, as torch.optim.AdamW."""

    name = "adamw"

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ) -> None:
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )


class RMSprop(Optimizer):
    """Keras: ``v = rho*v + (1-rho)*g**2``; centered also ``a = rho*a + (1-rho)*g`` and
    denominator ``v - a**2``; ``step = lr*g / sqrt(denominator + eps)``; with momentum
    ``u = momentum*u + step; w -= u``, else ``w -= step``."""

    name = "rmsprop"

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        **kwargs,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = real_number(rho, "rho", at_least=0, below=1)
        self.momentum = real_number(momentum, "momentum", at_least=0, below=1)
        self.epsilon = real_number(epsilon, "epsilon", at_least=0)
        if not isinstance(centered, (bool, np.bool_)):
            raise TypeError(f"centered: expected True or False, got {centered!r}")
        self.centered = bool(centered)

    def _slots_for(self, p):
        return (
            ("velocity",)
            + (("momentum",) if self.momentum else ())
            + (("average_gradient",) if self.centered else ())
        )

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        f = p.dtype.type
        v = slots["velocity"]
        np.multiply(g, g, out=scratch)
        scratch *= f(1 - self.rho)
        v *= f(self.rho)
        v += scratch
        if self.centered:
            a = slots["average_gradient"]
            a *= f(self.rho)
            a += f(1 - self.rho) * g
            np.multiply(a, a, out=scratch)
            np.subtract(v, scratch, out=scratch)
        else:
            scratch[...] = v
        scratch += f(self.epsilon)
        np.sqrt(scratch, out=scratch)
        np.divide(g, scratch, out=scratch)
        scratch *= f(lr)
        if self.momentum:
            u = slots["momentum"]
            u *= f(self.momentum)
            u += scratch
            p -= u
        else:
            p -= scratch

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Keras: ``a += g**2; w -= lr*g / sqrt(a + eps)``, the accumulator a starting at
    ``initial_accumulator_value``."""

    name = "adagrad"

    def __init__(
        self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = real_number(
            initial_accumulator_value, "initial_accumulator_value", at_least=0
        )
        self.epsilon = real_number(epsilon, "epsilon", at_least=0)

    slot_names = ("accumulator",)

    def build(self, params) -> None:
        super().build(params)
        for slots in self._slots:
            slots["accumulator"][...] = self.initial_accumulator_value

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        f = p.dtype.type
        a = slots["accumulator"]
        np.multiply(g, g, out=scratch)
        a += scratch
        np.add(a, f(self.epsilon), out=scratch)
        np.sqrt(scratch, out=scratch)
        np.divide(g, scratch, out=scratch)
        scratch *= f(lr)
        p -= scratch

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Nadam(Adam):
    """Keras: Adam with Nesterov momentum. With ``u_t = b1*(1 - 0.5*0.96**t)`` and
    ``U_t = u_1*...*u_t``: ``m += (1-b1)*(g - m); v += (1-b2)*(g**2 - v);
    w -= lr * (u_{t+1}*m/(1 - U_{t+1}) + (1-u_t)*g/(1 - U_t)) / (sqrt(v/(1-b2**t)) + eps)``."""

    name = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        if "amsgrad" in kwargs:
            raise TypeError("amsgrad: Nadam takes none (as Keras's); use Adam(amsgrad=True)")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, False, **kwargs)
        # U_t for the last t asked for: from the step count alone, so nothing to save.
        self._product_at = (0, 1.0)

    def _u(self, t: int) -> float:
        return self.beta_1 * (1 - 0.5 * 0.96**t)

    def _product(self, t: int) -> float:
        start, product = self._product_at
        if t < start:  # an earlier step (a state set back): from U_0 again
            start, product = 0, 1.0
        while start < t and product != 0.0:
            start += 1
            product *= self._u(start)
            if product < 1e-300:  # (by t ~ 6500) 1 - U is 1 long before: U is 0 from here on
                product = 0.0
        self._product_at = (t, product)
        return product

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        f = p.dtype.type
        u_t, u_next = self._u(step), self._u(step + 1)
        product, product_next = self._product(step), self._product(step) * u_next
        m, v = self._moments(g, slots, scratch, f)
        np.multiply(v, f(1 / (1 - self.beta_2**step)), out=scratch)
        np.sqrt(scratch, out=scratch)
        scratch += f(self.epsilon)
        m_hat = m * f(u_next / (1 - product_next)) + g * f((1 - u_t) / (1 - product))
        np.divide(m_hat, scratch, out=scratch)
        scratch *= f(lr)
        p -= scratch

    def get_config(self):
        config = super().get_config()
        del config["amsgrad"]
        return config


_CLASSES = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam)}
_ALIASES = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "nadam": Nadam,
}


def get(identifier) -> Optimizer:
    """An optimizer from a Keras name ("adam", "sgd", "rmsprop", "adamw", "adagrad", "nadam"),
    a class or an instance. Names give Keras's defaults."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in _ALIASES:
        return _ALIASES[identifier.lower()]()
    raise ValueError(
        f"optimizer: expected a fastlstm.optimizers.Optimizer or one of {sorted(_ALIASES)}, "
        f"got {identifier!r}"
    )


def serialize(opt: Optimizer) -> dict[str, Any]:
    cls = type(opt)
    if _CLASSES.get(cls.__name__) is not cls:
        raise ValueError(f"optimizer: only fastlstm's own optimizers can be saved, got {opt!r}")
    return {"class_name": cls.__name__, "config": opt.get_config()}


def deserialize(spec) -> Optimizer:
    if not isinstance(spec, dict) or spec.get("class_name") not in _CLASSES:
        raise ValueError(f"optimizer: expected a class name in {sorted(_CLASSES)}, got {spec!r}")
    config = spec.get("config")
    if not isinstance(config, dict):
        raise TypeError(f"optimizer: expected a config dict, got {config!r}")
    try:
        return _CLASSES[spec["class_name"]].from_config(config)
    except TypeError as exc:
        raise ValueError(f"optimizer {spec['class_name']}: bad config ({exc})") from None
