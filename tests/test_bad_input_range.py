"""Values beyond the computing dtype's range: a finite float64 that float32 cannot hold (1e300,
1e39) is refused by name, with its index and count, wherever fastlstm narrows an array (the
functional API, streams, layers, a model's inputs and targets), where NumPy's cast had made it
inf with only a RuntimeWarning and the call had computed on it. Infinities and NaN given as such
are kept, and a value that float32 rounds to its largest finite number is taken.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import fastlstm
from fastlstm import layers
from fastlstm.models import Sequential
from fastlstm.stacked import rnn

B, T, I, H = 2, 3, 4, 5
FLOAT32_MAX = float(np.finfo(np.float32).max)
# float32 rounds to nearest: below the midpoint between its largest finite value and 2**128 a
# value rounds down to that largest value, from the midpoint on it becomes inf.
MIDPOINT = 2.0**128 - 2.0**103


def refused(name: str, value: str, index: tuple, count: int, dtype: str = "float32", among=""):
    """pytest.raises for the whole message; ``name`` and ``value`` are patterns."""
    limit = re.escape(f"{np.finfo(dtype).max:.9g}")
    many = "s" if count > 1 else ""
    return pytest.raises(
        ValueError,
        match=(
            rf"^{name}: expected values within {dtype}'s range \(magnitude <= {limit}\), "
            rf"got {value} at index {re.escape(repr(index))} \({count} such value{many}{among}\)$"
        ),
    )


def beyond(shape, at, value=1e300, extra=None):
    """float64 zeros of ``shape`` with ``value`` at index ``at`` (and -1e39 at ``extra``)."""
    a = np.zeros(shape)
    a[at] = value
    if extra is not None:
        a[extra] = -1e39
    return a


def lstm_weights():
    rng = np.random.default_rng(0)
    return [
        (0.3 * rng.standard_normal(s)).astype(np.float32)
        for s in ((I, 4 * H), (H, 4 * H), (4 * H,))
    ]


@pytest.fixture(autouse=True)
def warnings_are_errors():
    # NumPy's RuntimeWarning for an overflowing cast is what these values had produced.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("fn", [fastlstm.lstm, fastlstm.lstm_forward])
def test_functional_arguments_beyond_float32_are_named(fn):
    K, R, b = lstm_weights()
    x, h0 = np.zeros((B, T, I)), np.zeros((B, H))
    with refused("x", r"-1e\+39", (1, 2, 0), 2):  # the first in C order
        fn(beyond((B, T, I), (1, 2, 3), extra=(1, 2, 0)), K, R, b)
    with refused("recurrent_kernel", r"-1e\+39", (0, 1), 1):
        fn(x, K, beyond((H, 4 * H), (0, 1), value=-1e39), b)
    with refused("bias", r"1e\+300", (7,), 1):
        fn(x, K, R, beyond((4 * H,), 7))
    with refused(r"initial_state\[1\]", r"1e\+300", (1, 4), 1):
        fn(x, K, R, b, (h0, beyond((B, H), (1, 4))))
    # A float64 kernel computes in float64, where the same values are in range.
    y = fn(beyond((B, T, I), (0, 0, 0), value=1e39), K.astype(np.float64), R, b)[0]
    assert y.dtype == np.float64
    assert np.isfinite(y).all()


def test_strided_and_byte_swapped_arrays_are_checked_too():
    # Not C-contiguous float64 or not native: checked through NumPy, not the direct scan.
    K, R, b = lstm_weights()
    wide = beyond((B, T, 2 * I), (1, 1, 6))
    with refused("x", r"1e\+300", (1, 1, 3), 1):
        fastlstm.lstm(wide[:, :, ::2], K, R, b)
    swapped = beyond((B, T, I), (0, 2, 1), value=-1e39).astype(">f8")
    with refused("x", r"-1e\+39", (0, 2, 1), 1):
        fastlstm.lstm(swapped, K, R, b)


@pytest.mark.skipif(
    np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
    reason="long double is float64 on this platform: nothing wider to narrow",
)
def test_long_double_beyond_float64_is_named_for_a_float64_call():
    K, R, b = (w.astype(np.float64) for w in lstm_weights())
    x = np.zeros((B, T, I), np.longdouble)
    x[0, 1, 2] = np.longdouble("1e400")
    with refused("x", r"1e\+400", (0, 1, 2), 1, dtype="float64"):
        fastlstm.lstm(x, K, R, b)
    dense = layers.Dense(2, seed=0, dtype="float64")  # narrowed in Python, not in the core
    with refused("x", r"-1e\+400", (1, 2), 1, dtype="float64"):
        dense(-x[0])


def test_infinity_nan_and_values_that_round_to_float32s_max_are_taken():
    K, R, b = lstm_weights()
    x = np.zeros((B, T, I))
    x[0, 0, 0], x[0, 1, 0], x[1, 0, 0] = np.inf, np.nan, np.nextafter(MIDPOINT, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inf in the products gives NumPy nothing to warn of here
        y, _ = fastlstm.lstm(x, K, R, b)
    assert np.isnan(y[0]).any()  # computed on what was given
    assert np.isfinite(y[1]).all()  # the value below the midpoint became float32's max
    x[1, 0, 0] = MIDPOINT
    with refused("x", r"3\.40282357e\+38", (1, 0, 0), 1):
        fastlstm.lstm(x, K, R, b)
    assert np.float32(np.nextafter(MIDPOINT, 0)) == np.float32(FLOAT32_MAX)


def test_a_streams_state_and_steps_are_named():
    K, R, b = lstm_weights()
    with refused(r"initial_state\[0\]", r"1e\+300", (0, 3), 1):
        fastlstm.LSTMStream(K, R, b, (beyond((B, H), (0, 3)), np.zeros((B, H))))
    stream = fastlstm.LSTMStream(K, R, b, batch_size=B)
    state = stream.state
    with refused("x_t", r"1e\+300", (1, 2), 1):
        stream.step(beyond((B, I), (1, 2)))
    assert all(np.array_equal(s, t) for s, t in zip(stream.state, state))  # nothing stepped


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_a_recurrent_layers_input_and_initial_state_are_named(cls):
    layer = cls(H, seed=0)
    x = np.zeros((B, T, I), np.float32)
    layer(x)
    states = [np.zeros((B, H)) for _ in layer.state_names]
    states[-1] = beyond((B, H), (1, 1))
    name = rf"initial_state\[{len(states) - 1}\]" if len(states) > 1 else "initial_state"
    with refused(name, r"1e\+300", (1, 1), 1):
        layer(x, initial_state=states)
    with refused("x", r"1e\+300", (0, 2, 1), 1):
        layer(beyond((B, T, I), (0, 2, 1)))


def test_stacked_rnn_states_are_named():
    rng = np.random.default_rng(1)
    weights = [
        tuple((0.3 * rng.standard_normal(s)).astype(np.float32) for s in shapes)
        for shapes in (((I, 4 * H), (H, 4 * H), (4 * H,)), ((H, 4 * H), (H, 4 * H), (4 * H,)))
    ]
    x = np.zeros((B, T, I), np.float32)
    states = [(np.zeros((B, H)), np.zeros((B, H))), (beyond((B, H), (0, 0)), np.zeros((B, H)))]
    with pytest.raises(ValueError, match=r"float32's range .* at index \(0, 0\) \(1 such value\)"):
        rnn(x, weights, states, num_layers=2)


def test_a_models_data_is_checked_whole_naming_the_callers_row():
    # Checked before batching: a layer's own check would name a row of a (shuffled) batch.
    model = Sequential([layers.Input((T, I)), layers.LSTM(H, seed=0), layers.Dense(1, seed=1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((100, T, I))
    before = model.get_weights()
    with refused("y", r"-1e\+39", (77, 0), 1):
        model.fit(x, beyond((100, 1), (77, 0), value=-1e39), batch_size=32, verbose=0)
    assert all(np.array_equal(a, w) for a, w in zip(before, model.get_weights()))
    with refused("y", r"1e\+300", (40, 0), 1):
        model.evaluate(x, beyond((100, 1), (40, 0)), batch_size=32, verbose=0)
    with refused("x", r"1e\+300", (99, 2, 3), 1):
        model.predict(beyond((100, T, I), (99, 2, 3)), batch_size=32, verbose=0)
    # A float64 model takes them.
    wide = Sequential([layers.Input((I,)), layers.Dense(1, seed=0, dtype="float64")])
    assert np.isfinite(wide.predict(beyond((B, I), (1, 3), value=1e39), verbose=0)).all()


def test_a_functional_models_inputs_are_named_by_position():
    # An Input of integer token ids beside the float one: the model's range is still float32's.
    ids, b = layers.Input((I,), dtype="int64"), layers.Input((I,))
    tokens = layers.Flatten()(layers.Embedding(10, 2, seed=0)(ids))
    joined = layers.Concatenate()([tokens, layers.Dense(1, seed=1)(b)])
    model = fastlstm.models.Model([ids, b], layers.Dense(1, seed=2)(joined))
    with refused(r"x\[1\]", r"1e\+300", (33, 0), 1):
        model.predict(
            [np.zeros((40, I), np.int64), beyond((40, I), (33, 0))], batch_size=8, verbose=0
        )


def test_the_whole_array_check_counts_within_a_block_of_rows_and_names_the_row():
    from fastlstm._arrays import check_within_range

    x = beyond((10, 3), (7, 2), extra=(7, 0))
    with refused("x", r"-1e\+39", (7, 0), 2, among=" among rows 6-7"):
        check_within_range(x, np.float32, "x", chunk=6)  # blocks of two rows
    check_within_range(x, np.float64, "x")  # nothing narrower: nothing to refuse


def test_a_layer_called_alone_names_its_arguments():
    with refused("y_true", r"-1e\+39", (1, 0), 1):
        y_pred = np.zeros((B, 1), np.float32)
        fastlstm.losses.MeanSquaredError()(beyond((B, 1), (1, 0), value=-1e39), y_pred)
    dense = Sequential([layers.Input((I,)), layers.Dense(2, seed=0)]).layers[0]
    with refused("x", r"1e\+300", (1, 3), 1):
        dense(beyond((B, I), (1, 3)))


def test_a_layers_backward_names_dout():
    relu = layers.ReLU()
    _y, cache = relu.forward(np.ones((B, I), np.float32))
    with refused("dout", r"1e\+300", (1, 1), 1):
        relu.backward(cache, beyond((B, I), (1, 1)))
    dx = relu.backward(cache, np.full((B, I), 2.0))
    assert dx.dtype == np.float32
    assert np.array_equal(dx, np.full((B, I), 2.0, np.float32))
