"""Weight penalties added to the training loss, with Keras's names and formulas.

``L2(l2)`` adds ``l2 * sum(w**2)`` (gradient ``2 * l2 * w``), ``L1(l1)`` adds ``l1 * sum(|w|)``
and ``L1L2(l1, l2)`` both. Layers take them as ``kernel_regularizer=L2(0.01)`` (Keras's form),
or as the names "l1", "l2", "l1_l2" with Keras's default factor 0.01.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import real_number


class Regularizer:
    """Base: ``reg(w)`` is the penalty, ``reg.add_gradient(w, g)`` adds its gradient to g."""

    def __call__(self, w: np.ndarray) -> float:
        raise NotImplementedError

    def add_gradient(self, w: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = real_number(l1, "l1", at_least=0)
        self.l2 = real_number(l2, "l2", at_least=0)

    def __call__(self, w: np.ndarray) -> float:
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(w).sum())
        if self.l2:
            total += self.l2 * float(np.vdot(w, w))
        return total

    def add_gradient(self, w: np.ndarray, g: np.ndarray) -> None:
        if self.l1:
            g += self.l1 * np.sign(w)
        if self.l2:
            g += (2.0 * self.l2) * w

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``; gradient ``l1 * sign(w)``."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)``; gradient ``2 * l2 * w``."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2  # Keras's lower-case aliases

# By name, each with the factor 0.01: the L1L2 class's own defaults are 0, and Keras gives the
# name "l1_l2" 0.01 for both.
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(l1=0.01, l2=0.01)}
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier, name: str) -> Regularizer | None:
    """A regulariser from None, an instance, a name ("l1", "l2", "l1_l2") or its config dict
    ``{"class_name": "L2", "config": {"l2": 0.01}}``."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        config = identifier.get("config", {})
        if not isinstance(config, dict):
            raise ValueError(f"{name}: expected a config dict, got {config!r}")
        try:
            return _CLASSES[identifier["class_name"]].from_config(config)
        except TypeError as exc:
            raise ValueError(f"{name}: bad regulariser config {config!r} ({exc})") from None
    raise ValueError(
        f"{name}: expected None, a fastlstm.regularizers instance (e.g. L2(0.01)) or one of "
        f"{sorted(_BY_NAME)}, got {identifier!r}"
    )


def serialize(reg: Regularizer | None):
    if reg is None:
        return None
    return {"class_name": type(reg).__name__, "config": reg.get_config()}
