"""Layers that own their weights, with Keras's names, defaults and call semantics.

Every layer implements the protocol described in :mod:`fastlstm.layers.base`.
"""

from .attention import AdditiveAttention, Attention
from .base import Layer
from .cells import RNN, GRUCell, LSTMCell, SimpleRNNCell
from .conv_transpose import Conv1DTranspose
from .convolutional import AveragePooling1D, Conv1D, MaxPooling1D
from .core import (
    Dense,
    Dropout,
    Embedding,
    Input,
    InputLayer,
    Masking,
    SpatialDropout1D,
    TimeDistributed,
)
from .elementwise import ELU, GaussianDropout, GaussianNoise, LeakyReLU, PReLU, ReLU, Softmax
from .lookup import IntegerLookup, StringLookup
from .lstm import LSTM
from .merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
from .preprocessing import Normalization
from .recurrent import GRU, Recurrent, SimpleRNN
from .reshaping import Activation, Flatten, RepeatVector, Reshape
from .temporal import Cropping1D, UpSampling1D, ZeroPadding1D
from .text import TextVectorization
from .wrappers import Bidirectional

# Keras's other names for these (the class's own name is the one a file holds)
Convolution1D, MaxPool1D, AvgPool1D = Conv1D, MaxPooling1D, AveragePooling1D
Convolution1DTranspose = Conv1DTranspose

__all__ = [
    "ELU",
    "GRU",
    "LSTM",
    "RNN",
    "Activation",
    "Add",
    "Attention",
    "Average",
    "AveragePooling1D",
    "AvgPool1D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Convolution1D",
    "Convolution1DTranspose",
    "Cropping1D",
    "Dense",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRUCell",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Input",
    "InputLayer",
    "IntegerLookup",
    "LSTMCell",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "Masking",
    "MaxPool1D",
    "MaxPooling1D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "PReLU",
    "ReLU",
    "Recurrent",
    "RepeatVector",
    "Reshape",
    "SimpleRNN",
    "SimpleRNNCell",
    "Softmax",
    "SpatialDropout1D",
    "StringLookup",
    "Subtract",
    "TextVectorization",
    "TimeDistributed",
    "UpSampling1D",
    "ZeroPadding1D",
    "add",
    "average",
    "concatenate",
    "deserialize",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "serialize",
    "subtract",
]

# Only these classes may be made from a config (a saved model names its layers by class name).
_CLASSES = {
    cls.__name__: cls
    for cls in (
        LSTM,
        GRU,
        SimpleRNN,
        Activation,
        ELU,
        GaussianDropout,
        GaussianNoise,
        LeakyReLU,
        PReLU,
        ReLU,
        Softmax,
        AveragePooling1D,
        BatchNormalization,
        Bidirectional,
        Conv1D,
        Conv1DTranspose,
        Cropping1D,
        Dense,
        InputLayer,
        Dropout,
        Embedding,
        Flatten,
        GlobalAveragePooling1D,
        GlobalMaxPooling1D,
        LayerNormalization,
        Masking,
        MaxPooling1D,
        Normalization,
        RepeatVector,
        Reshape,
        SpatialDropout1D,
        TimeDistributed,
        UpSampling1D,
        ZeroPadding1D,
        Add,
        AdditiveAttention,
        Attention,
        Average,
        Concatenate,
        Dot,
        Maximum,
        Minimum,
        Multiply,
        Subtract,
    )
}


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": ...}``, plain JSON data."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec) -> Layer:
    """A layer from :func:`serialize`'s output. Only fastlstm's own layer classes are made;
    anything else raises ValueError."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise TypeError(f"layer: expected {{'class_name': ..., 'config': {{...}}}}, got {spec!r}")
    name = spec.get("class_name")
    if not isinstance(name, str) or name not in _CLASSES:  # a list is no key: not even looked up
        raise ValueError(f"layer: expected a class name in {sorted(_CLASSES)}, got {name!r}")
    try:
        return _CLASSES[name].from_config(spec["config"])
    except TypeError as exc:  # unknown or missing arguments in the config
        raise ValueError(f"layer {name}: bad config ({exc})") from None
