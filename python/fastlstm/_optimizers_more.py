"""Keras 3's less common optimizers: Adamax, Adadelta, Lion and Ftrl (registered, with the others,
in :mod:`fastlstm.optimizers`)."""

from __future__ import annotations

import numpy as np

from ._arrays import real_number
from ._optimizer_base import LearningRate, Optimizer, update_first_moment


class Adamax(Optimizer):
    """Keras 3's Adamax (Adam with the infinity norm): ``m += (1-b1)*(g - m);
    u = max(b2*u, |g|); w -= lr*m / ((1 - b1**t) * (u + eps))``. torch.optim.Adamax puts
    epsilon inside the max (``u = max(b2*u, |g| + eps); w -= lr/(1 - b1**t) * m/u``): the two
    agree with epsilon 0, which, as in both, makes a weight whose gradients have all been 0 NaN
    (0/0)."""

    name = "adamax"
    slot_names = ("m", "u")

    def __init__(
        self, learning_rate: LearningRate = 0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = real_number(beta_1, "beta_1", at_least=0, below=1)
        self.beta_2 = real_number(beta_2, "beta_2", at_least=0, at_most=1)
        self.epsilon = real_number(epsilon, "epsilon", at_least=0)

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        f = p.dtype.type
        m, u = slots["m"], slots["u"]
        update_first_moment(m, g, self.beta_1, scratch, f)
        u *= f(self.beta_2)
        np.maximum(u, np.abs(g, out=scratch), out=u)
        np.add(u, f(self.epsilon), out=scratch)
        scratch *= f(1 - self.beta_1**step)
        np.divide(m, scratch, out=scratch)
        scratch *= f(lr)
        p -= scratch

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """Keras 3's Adadelta, its rate 0.001 by default (the paper's form, and torch's default,
    is 1.0): ``a = rho*a + (1-rho)*g**2; delta = -sqrt(d + eps)*g / sqrt(a + eps);
    d = rho*d + (1-rho)*delta**2; w += lr*delta``. torch.optim.Adadelta's formula is the same
    (its weight_decay is an L2 term in the gradient, not Keras's decoupled decay)."""

    name = "adadelta"
    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(
        self, learning_rate: LearningRate = 0.001, rho=0.95, epsilon=1e-7, **kwargs
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = real_number(rho, "rho", at_least=0, at_most=1)
        self.epsilon = real_number(epsilon, "epsilon", at_least=0)

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        f = p.dtype.type
        rho, a, d = f(self.rho), slots["accumulated_grad"], slots["accumulated_delta_var"]
        np.multiply(g, g, out=scratch)
        scratch *= f(1 - self.rho)
        a *= rho
        a += scratch
        np.add(d, f(self.epsilon), out=scratch)
        np.sqrt(scratch, out=scratch)
        scratch *= g
        scratch /= np.sqrt(a + f(self.epsilon))
        np.negative(scratch, out=scratch)  # delta
        d *= rho
        d += f(1 - self.rho) * np.square(scratch)
        scratch *= f(lr)
        p += scratch

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Keras 3's Lion (Chen et al., 2023): ``w -= lr*sign(b1*m + (1-b1)*g);
    m = b2*m + (1-b2)*g``, the sign of 0 being 0. Keras takes beta_1 in (0, 1]."""

    name = "lion"
    slot_names = ("momentum",)

    def __init__(
        self, learning_rate: LearningRate = 0.001, beta_1=0.9, beta_2=0.99, **kwargs
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = real_number(beta_1, "beta_1", above=0, at_most=1)
        self.beta_2 = real_number(beta_2, "beta_2", at_least=0, at_most=1)

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        f = p.dtype.type
        m = slots["momentum"]
        np.multiply(m, f(self.beta_1), out=scratch)
        scratch += g * f(1 - self.beta_1)
        np.sign(scratch, out=scratch)
        scratch *= f(lr)
        p -= scratch
        m *= f(self.beta_2)
        m += g * f(1 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """Keras 3's FTRL-Proximal, with ``n`` the accumulator (from initial_accumulator_value),
    ``z`` the linear slot, p = -learning_rate_power, l1, l2 and l2s the regularisation
    strengths::

        l2' = l2 + beta / (2*lr)
        n_new = n + g**2
        z += (g + 2*l2s*w) - (n_new**p - n**p) / lr * w
        w = (clip(z, -l1, l1) - z) / (n_new**p / lr + 2*l2')
        n = n_new

    (Keras's docstring writes it with alpha and sigma; this is its code.) It divides by the
    rate, so a rate of 0 is refused at the step."""

    name = "ftrl"
    slot_names = ("accumulator", "linear")

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
        **kwargs,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = real_number(
            learning_rate_power, "learning_rate_power", at_most=0
        )
        self.initial_accumulator_value = real_number(
            initial_accumulator_value, "initial_accumulator_value", at_least=0
        )
        self.l1_regularization_strength = real_number(
            l1_regularization_strength, "l1_regularization_strength", at_least=0
        )
        self.l2_regularization_strength = real_number(
            l2_regularization_strength, "l2_regularization_strength", at_least=0
        )
        self.l2_shrinkage_regularization_strength = real_number(
            l2_shrinkage_regularization_strength,
            "l2_shrinkage_regularization_strength",
            at_least=0,
        )
        self.beta = real_number(beta, "beta", at_least=0)

    def build(self, params) -> None:
        super().build(params)
        for slots in self._slots:
            slots["accumulator"][...] = self.initial_accumulator_value

    def _check_rate(self, lr: float) -> None:
        if lr == 0:
            raise ValueError("learning_rate: Ftrl divides by it: expected a rate > 0, got 0.0")

    def _update(self, p, g, slots, scratch, lr, step) -> None:
        f = p.dtype.type
        n, z = slots["accumulator"], slots["linear"]
        power, rate = f(-self.learning_rate_power), f(lr)
        l2 = f(self.l2_regularization_strength + self.beta / (2.0 * lr))
        l1 = f(self.l1_regularization_strength)
        n_new = n + np.square(g)
        z += (g + f(2 * self.l2_shrinkage_regularization_strength) * p) - (
            np.power(n_new, power) - np.power(n, power)
        ) / rate * p
        quadratic = np.power(n_new, power) / rate + f(2) * l2
        np.clip(z, -l1, l1, out=scratch)
        scratch -= z
        np.divide(scratch, quadratic, out=p)
        n[...] = n_new

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
