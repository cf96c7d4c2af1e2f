"""Whole-number arguments across the API follow one rule (``_arrays.integer``, as
``_arrays.real_number`` for other numbers): NumPy's ints are ints; a float, a str or a bool is a
TypeError and an int out of range a ValueError, each naming the argument, what was expected and
what arrived. Some had been ValueErrors for a wrong type, and EarlyStopping refused NumPy's ints
while ReduceLROnPlateau took any patience and cooldown, to fail mid-training."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fastlstm
from fastlstm import callbacks, metrics, stacked, utils
from fastlstm.layers import GRU, LSTM, Dense, Embedding, Input, RepeatVector
from fastlstm.models import Sequential

rng = np.random.default_rng(0)
X = rng.standard_normal((8, 5, 3)).astype(np.float32)
Y = rng.standard_normal((8, 1)).astype(np.float32)
KERNEL = rng.standard_normal((3, 8)).astype(np.float32)
RECURRENT = rng.standard_normal((2, 8)).astype(np.float32)
BIAS = np.zeros(8, np.float32)
TWO_LAYERS = [(KERNEL, RECURRENT, BIAS), (RECURRENT.copy(), RECURRENT, BIAS)]  # H = 2


def _model():
    model = Sequential([Input((5, 3)), LSTM(2, seed=0), Dense(1)], seed=0)
    model.compile("sgd", "mse")
    return model


MODEL = _model()

# (argument, a call taking its value, a good value, a value out of range, the expected words)
CASES = [
    ("units", lambda v: LSTM(v), 3, 0, "a positive integer"),
    ("units", lambda v: GRU(v), 3, -1, "a positive integer"),
    ("units", lambda v: Dense(v), 3, 0, "a positive integer"),
    ("input_dim", lambda v: Embedding(v, 4), 10, 0, "a positive integer"),
    ("n", lambda v: RepeatVector(v), 2, 2**31, "a positive integer below 2**31"),
    ("k", lambda v: metrics.SparseTopKCategoricalAccuracy(k=v), 3, 0, "a positive integer"),
    (
        "num_thresholds",
        lambda v: metrics.AUC(num_thresholds=v),
        50,
        1,
        "an integer in [2, 1000000]",
    ),
    ("patience", lambda v: callbacks.EarlyStopping(patience=v), 2, -1, "a non-negative integer"),
    (
        "start_from_epoch",
        lambda v: callbacks.EarlyStopping(start_from_epoch=v),
        1,
        -1,
        "a non-negative integer",
    ),
    ("patience", lambda v: callbacks.ReduceLROnPlateau(patience=v), 2, -1, "a non-negative"),
    ("cooldown", lambda v: callbacks.ReduceLROnPlateau(cooldown=v), 2, -1, "a non-negative"),
    ("maxlen", lambda v: utils.pad_sequences([[1, 2]], maxlen=v), 3, -1, "a non-negative"),
    ("num_classes", lambda v: utils.to_categorical([0, 1], num_classes=v), 3, -1, "a non-neg"),
    (
        "sequence_length",
        lambda v: utils.timeseries_dataset_from_array(np.zeros((9, 2)), None, v),
        3,
        0,
        "a positive integer",
    ),
    (
        "num_layers",
        lambda v: stacked.rnn(X, TWO_LAYERS, num_layers=v),
        2,
        0,
        "a positive integer",
    ),
    (
        "batch_size",
        lambda v: fastlstm.LSTMStream(KERNEL, RECURRENT, BIAS, batch_size=v),
        2,
        0,
        "a positive integer below 2**31",
    ),
    ("epochs", lambda v: MODEL.fit(X, Y, epochs=v, verbose=0), 1, -1, "a non-negative"),
    ("batch_size", lambda v: MODEL.predict(X, batch_size=v, verbose=0), 4, 0, "a positive"),
    ("steps", lambda v: MODEL.evaluate(X, Y, steps=v, verbose=0), 1, 0, "a positive integer"),
    ("index", lambda v: MODEL.get_layer(index=v), 1, 2, "an integer in [-2, 2)"),
    ("line_length", lambda v: MODEL.summary(line_length=v, print_fn=len), 60, 0, "a positive"),
    ("width", lambda v: callbacks.Progbar(10, width=v), 20, 0, "a positive integer"),
    ("target", lambda v: callbacks.Progbar(v), 10, -1, "a non-negative integer or None"),
    ("seed", lambda v: utils.set_random_seed(v), 3, 2**32, "a non-negative integer below 2**32"),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


@pytest.mark.parametrize(("name", "call", "good", "bad", "words"), CASES, ids=IDS)
def test_numpy_ints_are_ints(name, call, good, bad, words):
    call(np.int64(good))
    call(np.int32(good))


@pytest.mark.parametrize(("name", "call", "good", "bad", "words"), CASES, ids=IDS)
@pytest.mark.parametrize("kind", ["float", "str", "bool", "array"])
def test_a_wrong_type_is_a_type_error_naming_the_argument(name, call, good, bad, words, kind):
    value = {
        "float": float(good),
        "str": str(good),
        "bool": True,
        "array": np.array([good]),
    }[kind]
    expected = re.escape(f"{name}: expected {words}")
    with pytest.raises(TypeError, match=rf"^{expected}.*, got {re.escape(repr(value))}$"):
        call(value)


@pytest.mark.parametrize(("name", "call", "good", "bad", "words"), CASES, ids=IDS)
def test_an_int_out_of_range_is_a_value_error_naming_the_argument(name, call, good, bad, words):
    with pytest.raises(
        ValueError, match=rf"^{re.escape(f'{name}: expected {words}')}.*, got {bad}$"
    ):
        call(bad)
