"""Errors that named the wrong thing, or nothing, until a review as a new user found them: each
now names the argument the caller passed (or the layer), what was expected and what arrived."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

import fastlstm
from fastlstm import layers, optimizers, saving
from fastlstm.models import Sequential, load_model

X = np.zeros((2, 4, 3), np.float32)


@pytest.mark.parametrize("layer", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_a_recurrent_layer_too_large_for_memory_is_named_when_called_alone(layer):
    """10^7 units: a recurrent kernel of 4 x 10^14 values or more, beyond any address space.
    Called inside a Sequential the layer was named; called alone, NumPy's error named only a
    shape."""
    with pytest.raises(MemoryError, match=r"^layer '\w+' \(\w+\): its weights for inputs of "):
        layer(10**7)(X)


@pytest.mark.parametrize("cell", [layers.LSTMCell, layers.GRUCell, layers.SimpleRNNCell])
def test_a_cell_too_large_for_memory_is_named_when_built(cell):
    with pytest.raises(MemoryError, match=r"^layer '\w+' \(\w+\): its weights for inputs of "):
        cell(10**7).build((None, 3))


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Dense(10**20),
        lambda: layers.LSTM(10**20),
        lambda: layers.Embedding(10**20, 4),
        lambda: layers.Conv1D(10**20, 2),
    ],
)
def test_sizes_numpy_cannot_index_name_the_layer(make):
    """NumPy refuses such a size with "Maximum allowed dimension exceeded" (a ValueError), which
    named neither the layer nor its argument."""
    with pytest.raises(MemoryError, match=r"^layer '\w+' \(\w+\): its weights .* do not fit"):
        Sequential([layers.Input(shape=(4, 3)), make()])


@pytest.mark.parametrize(
    ("layer", "x", "argument"),
    [
        (lambda: layers.ZeroPadding1D(10**20), X, "padding"),
        (lambda: layers.ZeroPadding1D((0, 2**50)), X, "padding"),
        (lambda: layers.UpSampling1D(2**30), np.zeros((2, 2**20, 3), np.float32), "size"),
        (lambda: layers.RepeatVector(2**30), np.zeros((2**20, 3), np.float32), "n"),
    ],
)
def test_outputs_beyond_memory_name_the_argument_that_sized_them(layer, x, argument):
    with pytest.raises(MemoryError, match=rf"^{argument}: cannot allocate an array of shape "):
        layer()(x)


def test_output_layers_still_give_what_they_gave():
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    np.testing.assert_array_equal(
        layers.ZeroPadding1D((1, 2))(x), np.pad(x, ((0, 0), (1, 2), (0, 0)))
    )
    np.testing.assert_array_equal(layers.UpSampling1D(3)(x), np.repeat(x, 3, axis=1))
    v = x[:, 0]
    np.testing.assert_array_equal(layers.RepeatVector(4)(v), np.repeat(v[:, None], 4, axis=1))


def test_stream_methods_are_named_by_their_class_in_pythons_own_errors():
    rng = np.random.default_rng(0)
    stream = fastlstm.LSTMStream(*(rng.standard_normal(s) for s in ((3, 8), (2, 8), (8,))))
    with pytest.raises(TypeError, match=r"^LSTMStream\.step\(\) missing 1 required .*'x_t'"):
        stream.step()
    with pytest.raises(TypeError, match=r"^LSTMStream\.run\(\) got an unexpected .*'lengths'"):
        stream.run(np.zeros((1, 2, 3)), lengths=[2])


def test_leaky_relu_names_keras_2s_alpha_when_given_it():
    with pytest.raises(ValueError, match=r"^alpha: expected a finite number >= 0, got -1"):
        layers.LeakyReLU(alpha=-1)
    with pytest.raises(ValueError, match=r"^negative_slope: expected a finite number >= 0"):
        layers.LeakyReLU(negative_slope=-1)
    assert layers.LeakyReLU(alpha=0.2).negative_slope == 0.2


@pytest.mark.parametrize("value", [0, "", False, {}])
@pytest.mark.parametrize("layer", [layers.Conv1D, layers.MaxPooling1D, layers.AveragePooling1D])
def test_data_format_takes_none_or_a_format_not_any_false_value(layer, value):
    args = (4, 2) if layer is layers.Conv1D else ()
    with pytest.raises(ValueError, match=r"^data_format: expected one of channels_last, chan"):
        layer(*args, data_format=value)
    assert layer(*args, data_format=None).data_format == "channels_last"


@pytest.mark.parametrize("filepath", [None, io.BytesIO(b"PK"), 3])
def test_load_model_names_filepath_for_what_is_not_a_path(filepath):
    with pytest.raises(TypeError, match=r"^filepath: expected a str or os.PathLike .*, got "):
        load_model(filepath)


def test_load_weights_is_named_in_its_own_errors(tmp_path):
    path = tmp_path / "not_a_model.bin"
    path.write_bytes(b"not a zip archive")
    model = Sequential([layers.Input(shape=(4, 3)), layers.LSTM(2)])
    with pytest.raises(ValueError, match=r"^load_weights: .* is not a valid fastlstm model"):
        model.load_weights(path)
    with pytest.raises(ValueError, match=r"^load_model: .* is not a valid fastlstm model"):
        load_model(path)
    with pytest.raises(ValueError, match=r"^model_from_bytes: the data is not a valid"):
        saving.model_from_bytes(b"PK\x03\x04 and then nothing")


def test_a_learning_rate_callable_must_take_no_arguments_as_keras_3_calls_it():
    """A function of the step was accepted, then failed inside fit with a TypeError about a
    lambda; refused where it is given, naming learning_rate and the way to a rate by step."""
    with pytest.raises(TypeError, match=r"^learning_rate: expected a schedule or a callable of "):
        optimizers.Adam(learning_rate=lambda step: 0.01)
    rate = optimizers.Adam(learning_rate=lambda: 0.25)
    assert rate.learning_rate == 0.25
    assert optimizers.SGD(learning_rate=lambda step=0: 0.5).learning_rate == 0.5


def test_a_stream_of_no_rows_names_where_its_batch_came_from():
    """A stream is made for a batch of at least one row; one that took its batch from an
    initial state of no rows had named batch_size, which the caller never passed."""
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(s) for s in ((3, 8), (2, 8), (8,))]
    empty = (np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"^initial_state's batch: expected a positive integer"):
        fastlstm.LSTMStream(*weights, empty)
    with pytest.raises(ValueError, match=r"^batch_size: expected a positive integer"):
        fastlstm.LSTMStream(*weights, batch_size=0)
    assert fastlstm.LSTMStream(*weights, (np.zeros((3, 2)), np.zeros((3, 2)))).batch_size == 3


def physical_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_a_cache_beyond_memory_is_named_as_the_cache_not_y():
    """forward's largest output is its cache's gates (B, T, 4H): the MemoryError had called it y
    and given the gates' shape. Sized so that y (float32, H=1) fits in memory and the gates do
    not; I=0, so x takes nothing, and nothing is allocated before the check."""
    steps = physical_memory() // 10 // 4096 + 1  # y: 0.4 of memory over 4096 rows
    x = np.zeros((4096, steps, 0), np.float32)
    weights = (np.zeros((0, 4), np.float32), np.zeros((1, 4), np.float32), np.zeros(4, np.float32))
    with pytest.raises(MemoryError, match=rf"^the cache's gates .*\(4096, {steps}, 4\)"):
        fastlstm.lstm_forward(x, *weights)
    # y itself beyond memory is still y, with y's shape
    huge = np.zeros((4096, steps * 4, 0), np.float32)
    with pytest.raises(
        MemoryError, match=rf"^y: cannot allocate an array of shape \(4096, {steps * 4}, 1\)"
    ):
        fastlstm.lstm_forward(huge, *weights)


def test_a_stream_runs_output_beyond_memory_is_named():
    stream = fastlstm.LSTMStream(
        np.zeros((0, 4), np.float32), np.zeros((1, 4), np.float32), np.zeros(4, np.float32)
    )
    with pytest.raises(MemoryError, match=r"^run's output for x's steps: cannot allocate .*2199"):
        stream.run(np.zeros((1, 2**41, 0), np.float32))


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (None, "None"),
        (["a", "b"], r"list \(as dtype <U1\)"),
        ({"a": 1}, r"dict \(as dtype object\)"),
    ],
)
def test_what_is_no_array_is_named_as_what_it_is(value, got):
    """None had been reported as "got dtype object", the array NumPy made of it."""
    stream = fastlstm.LSTMStream(
        np.zeros((2, 4), np.float32), np.zeros((1, 4), np.float32), np.zeros(4, np.float32)
    )
    with pytest.raises(
        TypeError, match=rf"^x_t: expected an array of real numbers \(float32\), got {got}$"
    ):
        stream.step(value)
    with pytest.raises(
        TypeError, match=rf"^x: expected an array of real numbers \(float32\), got {got}$"
    ):
        fastlstm.lstm(value, *[np.zeros(s, np.float32) for s in ((2, 4), (1, 4), (4,))])
