"""Layers that own their weights, with Keras's names, defaults and call semantics."""

from .recurrent import LSTM

__all__ = ["LSTM"]
