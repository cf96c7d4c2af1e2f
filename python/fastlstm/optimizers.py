"""Optimizers with Keras's names, defaults and update formulas, updating NumPy weights in place.

Every optimizer takes Keras 3's base arguments: ``learning_rate`` (a float, which callbacks may
change between steps, or a schedule from :mod:`fastlstm.optimizers.schedules`, read at every
step), ``weight_decay`` (decoupled, for every optimizer as in Keras 3's base class:
``w -= w * weight_decay * lr`` before the update), ``clipnorm`` (clip each gradient to this L2
norm), ``clipvalue`` (clip each element to [-v, v]) and ``global_clipnorm`` (scale all
gradients together to this joint norm; at most one of clipnorm and global_clipnorm),
``gradient_accumulation_steps`` (Keras 3's: see :meth:`Optimizer.apply`) and ``name``.
``use_ema`` and ``loss_scale_factor`` are taken at their defaults only (False, None): Keras's
``fit`` copies the moving average into the weights at its end and scales the loss, and
fastlstm's does neither; ``ema_momentum`` and ``ema_overwrite_frequency`` are checked and, as
in Keras without ``use_ema``, change nothing. One ``apply(grads, params)`` call is one step;
``iterations`` counts them. The per-weight state ("slots": momenta, moments) is made on the
first step, in the weights' dtype, and updated in place with preallocated scratch space, so a
step allocates little. As in Keras and torch, an epsilon of 0 (or Ftrl's
initial_accumulator_value of 0 without l2 or beta) makes a weight whose gradients have all been 0
(an embedding row never seen) NaN: 0/0.

The formulas are Keras 3's (see each class); they equal torch.optim's except where the epsilon
sits (Keras: Adam outside sqrt(v), without bias correction of epsilon; RMSprop inside the sqrt;
Adamax outside the max, torch inside), and, for momentum, once the learning rate changes:
Keras's velocity holds the rate it was made with (v = m*v - lr*g), while torch applies the new
rate to its whole buffer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import schedules
from ._arrays import real_number
from ._optimizer_base import LearningRate, Optimizer, update_first_moment
from ._optimizers_more import Adadelta, Adamax, Ftrl, Lion


class SGD(Optimizer):
    """Keras: with momentum m, ``v = m*v - lr*g; w += v`` (nesterov: ``w += m*v - lr*g``);
    without, ``w -= lr*g``. Equals torch.optim.SGD (v = -lr * torch's buffer) while the rate stays the same."""

    name = "SGD"

    def __init__(
        self, learning_rate: LearningRate = 0.01, momentum=0.0, nesterov=False, **kwargs
    ) -> None:
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
        learning_rate: LearningRate = 0.001,
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
        update_first_moment(m, g, self.beta_1, scratch, f)
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
        learning_rate: LearningRate = 0.001,
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
        learning_rate: LearningRate = 0.001,
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
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        **kwargs,
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

    def __init__(
        self, learning_rate: LearningRate = 0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs
    ) -> None:
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


_CLASSES = {
    cls.__name__: cls
    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam, Adamax, Adadelta, Lion, Ftrl)
}
_ALIASES = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "nadam": Nadam,
    "adamax": Adamax,
    "adadelta": Adadelta,
    "lion": Lion,
    "ftrl": Ftrl,
}


def get(identifier) -> Optimizer:
    """An optimizer from a Keras name ("adam", "sgd", "rmsprop", "adamw", "adagrad", "nadam",
    "adamax", "adadelta", "lion", "ftrl"), a class or an instance. Names give Keras's
    defaults."""
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


__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "schedules",
    "serialize",
]
