"""Bad input to layers.LSTM: constructor arguments, weights and their setters, and calls.
A rejected call changes nothing; working cases equal the same layer with clean weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from badinput import (
    WEIGHTS,
    B,
    G,
    H,
    I,
    T,
    assert_same,
    raises,
    shape_of,
    strided,
    weights,
)
from conftest import make_problem
from fastlstm.layers import LSTM


@pytest.fixture
def p():
    return make_problem(B, T, I, H)


def test_layer_zero_length_sequence_returns_zero_state():
    layer = LSTM(H, return_state=True, seed=0)
    out, h, c = layer(np.zeros((B, 0, I)))
    for a in (out, h, c):
        np.testing.assert_array_equal(a, np.zeros((B, H), dtype=np.float32))


@pytest.mark.parametrize(
    ("kwargs", "exc", "name", "expected", "got"),
    [
        ({"units": 0}, ValueError, "units", "a positive integer", "0"),
        ({"units": -3}, ValueError, "units", "a positive integer", "-3"),
        ({"units": 2.0}, (TypeError, ValueError), "units", "a positive integer", "2.0"),
        ({"units": True}, (TypeError, ValueError), "units", "a positive integer", "True"),
        ({"units": None}, (TypeError, ValueError), "units", "a positive integer", "None"),
        ({"units": "4"}, (TypeError, ValueError), "units", "a positive integer", "'4'"),
        ({"dtype": "int32"}, TypeError, "dtype", "float32", "int32"),
        ({"dtype": "complex64"}, TypeError, "dtype", "float32", "complex64"),
        ({"dtype": "float16"}, TypeError, "dtype", "float32", "float16"),
        ({"dtype": "no-such-type"}, TypeError, "dtype", "float32", "no-such-type"),
        # Keras 3's DTypePolicy config: NumPy's own "entry not a 2- or 3- tuple" had come out
        ({"dtype": {"class_name": "DTypePolicy"}}, TypeError, "dtype", "float32", "DTypePolicy"),
        ({"return_sequences": 1}, TypeError, "return_sequences", "True or False", "1"),
        ({"return_state": "yes"}, TypeError, "return_state", "True or False", "'yes'"),
        ({"time_major": None}, TypeError, "time_major", "True or False", "None"),
        ({"unit_forget_bias": 0}, TypeError, "unit_forget_bias", "True or False", "0"),
        (
            {"kernel_initializer": "nope"},
            ValueError,
            "kernel_initializer",
            "glorot_uniform",
            "'nope'",
        ),
        ({"recurrent_initializer": 3}, ValueError, "recurrent_initializer", "orthogonal", "3"),
        ({"bias_initializer": None}, ValueError, "bias_initializer", "zeros", "None"),
    ],
)
def test_layer_constructor_args(kwargs, exc, name, expected, got):
    kwargs = {"units": H, **kwargs}
    with raises(exc, name, expected, got):
        LSTM(**kwargs)


@pytest.mark.parametrize("seed", ["abc", 1.5, [1, "x"]])
def test_layer_bad_seed_names_seed(seed):
    with pytest.raises((TypeError, ValueError), match="seed"):
        LSTM(H, seed=seed)(np.zeros((B, T, I)))


@pytest.fixture
def layer(p):
    layer = LSTM(H, dtype="float64")
    layer.set_weights(weights(p))
    return layer


def assert_weights_unchanged(layer, p):
    for a, b in zip(layer.get_weights(), weights(p)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("abc", "str"),
        ({"kernel": 1}, "dict"),
        (lambda p: weights(p)[:2], "2"),
        (lambda p: [*weights(p), p["bias"]], "4"),
        (None, "None"),
    ],
)
def test_layer_set_weights_not_three_arrays(layer, p, value, got):
    value = value(p) if callable(value) else value
    with raises((TypeError, ValueError), "weights", "[kernel, recurrent_kernel, bias]", got):
        layer.set_weights(value)
    assert_weights_unchanged(layer, p)


@pytest.mark.parametrize(
    ("arg", "value", "exc", "expected", "got"),
    [
        # A built layer keeps its shapes: the kernel's input size too.
        ("kernel", np.zeros(G), ValueError, shape_of(I, G), shape_of(G)),
        ("kernel", np.zeros((1, I, G)), ValueError, shape_of(I, G), shape_of(1, I, G)),
        ("kernel", np.zeros((I + 1, G)), ValueError, shape_of(I, G), shape_of(I + 1, G)),
        ("kernel", np.zeros((I, G + 1)), ValueError, shape_of(I, G), shape_of(I, G + 1)),
        ("recurrent_kernel", np.zeros((H + 1, G)), ValueError, shape_of(H, G), shape_of(H + 1, G)),
        ("bias", np.zeros(G + 4), ValueError, shape_of(G), shape_of(G + 4)),
        ("bias", np.zeros(G, complex), TypeError, "real numbers", "complex128"),
        ("recurrent_kernel", np.zeros((H, G), object), TypeError, "real numbers", "object"),
        ("kernel", np.zeros((I, G), str), TypeError, "real numbers", "<U"),
        ("kernel", [[1.0, 2.0], [3.0]], (TypeError, ValueError), "", ""),
    ],
)
def test_layer_set_weights_bad_array_changes_nothing(layer, p, arg, value, exc, expected, got):
    with raises(exc, arg, expected, got):
        layer.set_weights(weights(p, **{arg: value}))
    assert_weights_unchanged(layer, p)


@pytest.mark.parametrize("kernel", [np.zeros(G), np.zeros((1, I, G))], ids=["1-D", "3-D"])
def test_unbuilt_layer_set_weights_names_the_kernel_shape_it_builds_from(p, kernel):
    layer = LSTM(H)
    with raises(ValueError, "kernel", f"(input, {G})", shape_of(*kernel.shape)):
        layer.set_weights(weights(p, kernel=kernel))
    assert not layer.built


@pytest.mark.parametrize("arg", WEIGHTS)
@pytest.mark.parametrize(
    ("make", "exc", "expected", "got"),
    [
        (lambda a: a[..., :-1], ValueError, "shape", "shape"),
        (lambda a: a[None], ValueError, "shape", "shape"),
        (lambda a: a + 1j, TypeError, "real numbers", "complex128"),
        (lambda a: a.astype(object), TypeError, "real numbers", "object"),
        (lambda a: "abc", TypeError, "real numbers", "<U3"),
    ],
)
def test_layer_weight_setters_reject(layer, p, arg, make, exc, expected, got):
    value = make(p[arg])
    if got == "shape":  # the message gives both shapes
        expected, got = shape_of(*p[arg].shape), shape_of(*value.shape)
    with raises(exc, arg, expected, got):
        setattr(layer, arg, value)
    assert_weights_unchanged(layer, p)


def test_layer_setter_before_build():
    with pytest.raises(ValueError, match=r"kernel: the layer has no weights yet"):
        LSTM(H).kernel = np.zeros((I, G))


@pytest.mark.parametrize(
    "convert",
    [lambda a: a.astype(np.int64), np.asfortranarray, strided, lambda a: a.tolist(), "read-only"],
    ids=["int", "fortran", "strided", "list", "read-only"],
)
def test_layer_odd_weights_equal_float(p, convert):
    exact = {n: np.round(4 * p[n]) for n in WEIGHTS}  # exact as integers
    if convert == "read-only":
        odd = {n: v.copy() for n, v in exact.items()}
        for v in odd.values():
            v.flags.writeable = False
    else:
        odd = {n: convert(v) for n, v in exact.items()}
    a, b = LSTM(H, dtype="float64"), LSTM(H, dtype="float64")
    a.set_weights([odd[n] for n in WEIGHTS])
    b.set_weights([exact[n] for n in WEIGHTS])
    a.kernel = odd["kernel"]
    for w in a.get_weights():
        assert w.dtype == np.float64
        assert w.flags.c_contiguous
    assert_same(a(p["x"]), b(p["x"]))


def test_layer_call_with_the_wrong_input_size(layer, p):
    with raises(ValueError, "x", f"{I} features", shape_of(B, T, I + 1)):
        layer(np.zeros((B, T, I + 1)))
    with raises(ValueError, "x", f"{I} features", shape_of(B, T, I - 1)):
        layer.forward(np.zeros((B, T, I - 1)), training=True)
    with raises(ValueError, "x", "3-D array (batch, time, input)", shape_of(B, I)):
        LSTM(H)(np.zeros((B, I)))


@pytest.mark.parametrize(
    ("name", "exc", "match"),
    [
        ("\x1b[31mred", ValueError, r"name: expected printable characters, got '\\x1b'"),
        ("tab\there", ValueError, "printable characters"),
        ("lone\ud800", ValueError, "printable characters"),
        ("x" * 1025, ValueError, "name: expected at most 1024 characters, got 1025"),
        (7, TypeError, "name: expected a str or None, got 7"),
    ],
)
def test_names_are_printable_strings(name, exc, match):
    """From a model file, an escape sequence in a name drove the terminal through summary(),
    and a lone surrogate made summary() fail to encode."""
    from fastlstm import losses, metrics
    from fastlstm.models import Sequential

    for make in (
        lambda: LSTM(H, name=name),
        lambda: Sequential(name=name),
        lambda: metrics.Accuracy(name=name),
        lambda: losses.MeanSquaredError(name=name),
    ):
        with pytest.raises(exc, match=match):
            make()
    LSTM(H, name="ünïcödé layer 1")  # printable beyond ASCII is fine


def test_flags_set_after_construction_and_call_options_are_checked():
    import fastlstm

    layer = LSTM(H, seed=0)
    for value in (2, "no", None):
        with pytest.raises(TypeError, match=r"^trainable: expected True or False, got"):
            layer.trainable = value  # 2 and "no" had been kept as given
    assert layer.trainable is True
    layer.trainable = np.False_
    assert layer.trainable is False
    x = np.zeros((B, T, I), np.float32)
    inputs = fastlstm.layers.Input(shape=(T, I))
    for model in (fastlstm.Sequential([LSTM(H, seed=0)]), fastlstm.Model(inputs, LSTM(H)(inputs))):
        with pytest.raises(TypeError, match=r"^training: expected True or False, got 'yes'"):
            model(x, training="yes")  # had been taken as True: dropout on in a prediction
        assert model(x, training=np.bool_(False)).shape == (B, H)


def test_set_weights_refuses_masked_arrays_as_every_other_entry_does():
    from fastlstm.layers import Bidirectional, Dense

    masked = np.ma.masked_array(np.ones((I, G * H), np.float32))
    masked[0, 0] = np.ma.masked  # under it, a value the weights would have taken
    expected = r"^{}kernel: expected an array, got a numpy.ma.MaskedArray, whose mask would be"
    for layer, w, name in (
        (LSTM(H, seed=0), [masked, np.zeros((H, G * H)), np.zeros(G * H)], ""),
        (
            Bidirectional(LSTM(H, seed=0)),
            [masked, np.zeros((H, G * H)), np.zeros(G * H)] * 2,
            "forward_",
        ),
        (Dense(G * H, seed=0), [masked, np.zeros(G * H)], ""),
    ):
        layer(np.zeros((B, T, I), np.float32))
        before = layer.get_weights()
        with pytest.raises(TypeError, match=expected.format(name)):
            layer.set_weights(w)
        for kept, now in zip(before, layer.get_weights()):
            np.testing.assert_array_equal(kept, now)


def test_the_class_the_recurrent_layers_document_their_arguments_in_is_public():
    from fastlstm import layers

    assert "Recurrent" in LSTM.__doc__
    assert issubclass(LSTM, layers.Recurrent)
    assert all(issubclass(c, layers.Recurrent) for c in (layers.GRU, layers.SimpleRNN))


def test_sizes_no_memory_holds_are_named():
    import fastlstm
    from fastlstm.layers import Input, LSTMCell

    with pytest.raises(MemoryError, match=r"^batch_size: cannot allocate an array of shape"):
        LSTMCell(H).get_initial_state(batch_size=2**40)  # NumPy's message had named nothing
    assert [s.shape for s in LSTMCell(H).get_initial_state(batch_size=3)] == [(3, H), (3, H)]
    model = fastlstm.Sequential([Input((T, I)), LSTM(H)])
    with pytest.raises(ValueError, match=r"^line_length: expected a positive integer up to"):
        model.summary(line_length=2**40)  # a MemoryError with no message at all


def test_pytorch_layouts_given_to_layers_are_named_as_such():
    from fastlstm.layers import GRU, Bidirectional, Dense

    x = np.zeros((B, T, I), np.float32)
    layer = LSTM(H, seed=0)
    layer(x)
    kernel, recurrent, bias = layer.get_weights()
    transposed = r"got its transpose \((\d+), (\d+)\) \(PyTorch and ONNX store weights"
    with pytest.raises(ValueError, match=rf"^kernel: expected shape \({I}, {G}\), {transposed}"):
        layer.set_weights([kernel.T, recurrent, bias])  # torch's weight_ih_l0 as it is
    with pytest.raises(ValueError, match=r"^recurrent_kernel: .*its transpose"):
        layer.set_weights([kernel, recurrent.T, bias])
    dense = Dense(3, seed=0)
    dense(np.zeros((B, I), np.float32))
    with pytest.raises(ValueError, match=rf"^kernel: expected shape \({I}, 3\), {transposed}"):
        dense.set_weights([np.zeros((3, I)), np.zeros(3)])  # a torch Linear's weight
    with pytest.raises(ValueError, match=rf"^kernel: expected shape \({I}, 3\), got \(2, 3\)$"):
        dense.set_weights([np.zeros((2, 3)), np.zeros(3)])  # not a transpose: no advice
    # PyTorch's bidirectional states, the directions stacked: "got a list of 2" had not said so
    h0 = np.zeros((2, B, H), np.float32)
    with pytest.raises(ValueError, match=r"got a tuple of 2; .*pass \[h0\[0\], c0\[0\], h0\[1\]"):
        Bidirectional(LSTM(H))(x, initial_state=(h0, h0))
    with pytest.raises(ValueError, match=r"got ndarray; from PyTorch's h0 .*pass list\(h0\)"):
        Bidirectional(GRU(H))(x, initial_state=h0)
    assert Bidirectional(GRU(H))(x, initial_state=list(h0)).shape == (B, 2 * H)


def test_float64_values_beyond_float32_are_refused_not_made_inf():
    # A finite float64 beyond float32's range had become inf with only NumPy's RuntimeWarning
    # (the file loader refused it; set_weights and reset_states took it).
    from fastlstm.layers import Dense

    expected = (
        r"^{}: expected values within float32's range \(magnitude <= 3\.40282347e\+38\), "
        r"got {} at index \(1, 2\) \(2 such values\)$"
    )
    kernel = np.zeros((I, G))
    kernel[1, 2], kernel[2, 0] = -1e39, 1e300
    for layer, w in (
        (LSTM(H, seed=0), [kernel, np.zeros((H, G)), np.zeros(G)]),
        (Dense(G, seed=0), [kernel, np.zeros(G)]),
    ):
        layer(np.zeros((B, T, I), np.float32))
        before = layer.get_weights()
        with pytest.raises(ValueError, match=expected.format("kernel", r"-1e\+39")):
            layer.set_weights(w)
        for kept, now in zip(before, layer.get_weights()):
            np.testing.assert_array_equal(kept, now)
        # Infinities and NaN given as such are the caller's values, and kept.
        w[0] = np.where(kernel == 0, 0.0, np.copysign(np.inf, kernel))
        w[0][0, 0] = np.nan
        layer.set_weights(w)
        np.testing.assert_array_equal(layer.get_weights()[0], w[0].astype(np.float32))

    stateful = LSTM(H, stateful=True, seed=0)
    stateful(np.zeros((B, T, I), np.float32))
    c = np.zeros((B, H))
    c[1, 2], c[1, 3] = 3.5e38, -4e38
    with pytest.raises(ValueError, match=expected.format("c", r"3\.5e\+38")):
        stateful.reset_states([np.zeros((B, H)), c])
