"""Keras code that ports by changing the import: Keras 2's ``input_shape=`` on a layer (and
``batch_input_shape``, ``batch_size``, ``input_dim``, Embedding's ``input_length``), and
``fit(class_weight=...)``. Each is checked against the spelling fastlstm already had (an
``Input``, an explicit ``sample_weight``) and, for class weights, a NumPy loss."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastlstm
from conftest import with_header
from fastlstm import optimizers, saving
from fastlstm.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from fastlstm.models import Sequential

T, I = 7, 3

# -- input_shape ------------------------------------------------------------------------------


def summary(model) -> list[str]:
    lines = []
    model.summary(print_fn=lines.append)
    return lines


# (declared with Keras 2's keywords, the same model spelled with Input or build)
PAIRS = {
    "lstm_input_shape": (
        lambda: [LSTM(8, input_shape=(T, I)), Dense(1)],
        lambda: [Input((T, I)), LSTM(8), Dense(1)],
    ),
    "gru_batch_input_shape": (
        lambda: [GRU(4, batch_input_shape=(None, T, I), return_sequences=True), Dense(2)],
        lambda: [Input((T, I)), GRU(4, return_sequences=True), Dense(2)],
    ),
    "simple_rnn_no_time": (
        lambda: [SimpleRNN(5, input_shape=(None, I)), Dense(1)],
        lambda: [Input((None, I)), SimpleRNN(5), Dense(1)],
    ),
    "dense_input_dim": (
        lambda: [Dense(4, input_dim=I, activation="tanh"), Dropout(0.5), Dense(1)],
        lambda: [Input((I,)), Dense(4, activation="tanh"), Dropout(0.5), Dense(1)],
    ),
    "embedding_input_length": (
        lambda: [Embedding(10, 4, input_length=T, mask_zero=True), LSTM(3), Dense(2)],
        lambda: [Input((T,)), Embedding(10, 4, mask_zero=True), LSTM(3), Dense(2)],
    ),
    "masking_first": (
        lambda: [Masking(input_shape=(T, I)), LSTM(3)],
        lambda: [Input((T, I)), Masking(), LSTM(3)],
    ),
    "bidirectional_wrapper": (
        lambda: [Bidirectional(LSTM(3, return_sequences=True), input_shape=(T, I)), LSTM(2)],
        lambda: [Input((T, I)), Bidirectional(LSTM(3, return_sequences=True)), LSTM(2)],
    ),
    "time_distributed_wrapper": (
        lambda: [TimeDistributed(Dense(3), input_shape=(T, I)), GRU(2)],
        lambda: [Input((T, I)), TimeDistributed(Dense(3)), GRU(2)],
    ),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_a_declared_input_shape_builds_like_input(name):
    declared, spelled = (Sequential(make(), seed=4) for make in PAIRS[name])
    assert declared.built  # at once, before any data, as Keras
    assert declared.input_shape == spelled.input_shape
    assert declared.output_shape == spelled.output_shape
    assert summary(declared) == summary(spelled)
    assert not any("unbuilt" in line or "?" in line for line in summary(declared))
    assert declared.count_params() == spelled.count_params() > 0
    for a, b in zip(declared.get_weights(), spelled.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    shape = (5, *(T if s is None else s for s in declared.input_shape[1:]))
    x = rng.integers(1, 10, shape) if "embedding" in name else rng.standard_normal(shape)
    np.testing.assert_array_equal(declared.predict(x, verbose=0), spelled.predict(x, verbose=0))


def test_a_seeded_model_seeds_both_directions_of_a_bidirectional_layer():
    # found by the comparison above: the model's seed used to stop at the wrapper
    a, b = (Sequential([Bidirectional(LSTM(3), input_shape=(T, I))], seed=5) for _ in range(2))
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    forward, backward = a.layers[0].forward_layer, a.layers[0].backward_layer
    assert backward.seed == forward.seed + 1
    assert not np.array_equal(forward.kernel, backward.kernel)
    own = Bidirectional(LSTM(3, seed=9))  # a layer's own seed is kept
    Sequential([Input((T, I)), own], seed=5)
    assert (own.forward_layer.seed, own.backward_layer.seed) == (9, 10)


def test_batch_size_goes_first_in_the_shape():
    model = Sequential([LSTM(4, input_shape=(T, I), batch_size=6, stateful=True), Dense(1)])
    assert model.input_shape == (6, T, I)
    assert model.output_shape == (6, 1)
    assert model.layers[0].batch_input_shape == (6, T, I)
    same = Sequential([LSTM(4, batch_input_shape=[6, T, I], stateful=True), Dense(1)])
    assert same.input_shape == (6, T, I)


def test_a_shape_declared_later_is_ignored_as_keras_does():
    # Keras reads the declaration of the first layer only (an Input before it wins)
    later = Sequential([Dense(4), Dense(2, input_shape=(9,))])
    assert not later.built
    after_input = Sequential([Input((I,)), Dense(2, input_shape=(9,))])
    assert after_input.layers[0].kernel.shape == (I, 2)
    later.build((None, I))
    assert later.layers[0].kernel.shape == (I, 4)


def test_a_declared_shape_that_does_not_fit_names_input_shape_and_adds_nothing():
    model = Sequential(seed=0)
    with pytest.raises(ValueError, match=r"input_shape: the input shape \(None, 8\) .*'lstm'"):
        model.add(LSTM(3, input_shape=(8,)))
    assert model.layers == []
    assert model.input_shape is None
    model.add(Dense(2))  # the failed declaration left nothing behind
    assert not model.built


def test_the_declared_shape_survives_config_and_json():
    layer = LSTM(8, input_shape=(T, I), seed=1)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["batch_input_shape"] == [None, T, I]
    clone = LSTM.from_config(config)
    assert clone.batch_input_shape == (None, T, I)
    assert clone.get_config() == layer.get_config()
    assert "batch_input_shape" not in LSTM(8).get_config()  # unchanged configs without one
    for wrapper in (
        Bidirectional(LSTM(2), input_shape=(T, I)),
        TimeDistributed(Dense(2), input_shape=(T, I)),
    ):
        config = json.loads(json.dumps(wrapper.get_config()))
        assert config["batch_input_shape"] == [None, T, I]
        assert type(wrapper).from_config(config).batch_input_shape == (None, T, I)
    model = Sequential([LSTM(8, input_shape=(T, I)), Dense(1)], seed=2)
    clone = Sequential.from_config(json.loads(json.dumps(model.get_config())))
    assert clone.built
    assert summary(clone) == summary(model)
    x = np.random.default_rng(1).standard_normal((4, T, I))
    np.testing.assert_array_equal(clone(x), model(x))


def test_a_declared_shape_survives_save_and_load(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((16, T, I)), rng.standard_normal((16, 1))
    model = Sequential([LSTM(8, input_shape=(T, I)), Dense(1)], seed=3)
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "m.fastlstm")
    assert loaded.built
    assert loaded.layers[0].batch_input_shape == (None, T, I)
    assert loaded.get_config() == model.get_config()
    assert summary(loaded) == summary(model)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # training resumes exactly, as for any saved model
    h1 = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history["loss"]
    h2 = loaded.fit(x, y, epochs=1, batch_size=8, verbose=0).history["loss"]
    assert h1 == h2


def _first_layer(**values):
    return lambda h: h["model"]["config"]["layers"][0]["config"].update(values)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        # the loader builds from the arrays: a huge declaration is caught, never allocated
        (_first_layer(batch_input_shape=[None, T, 2**40]), "declares inputs of shape"),
        (_first_layer(batch_input_shape=[None, T, -1]), "batch_input_shape: expected"),
        (_first_layer(batch_input_shape=[None, T, 2.5]), "batch_input_shape: expected"),
        (_first_layer(batch_input_shape=5), "batch_input_shape: expected"),
        (_first_layer(batch_input_shape=[0, T, I]), "batch_input_shape: expected"),
        (_first_layer(input_shape=[T, I]), "batch_input_shape: expected at most one"),
        (
            lambda h: h["model"]["config"].update(build_input_shape=[None, T, "3"]),
            "build_input_shape: expected a list of sizes",
        ),
        (
            lambda h: h["model"]["config"].update(build_input_shape=[None, T, True]),
            "build_input_shape: expected a list of sizes",
        ),
        # a batch of 0 loaded, then predict divided by it; [] failed on an index
        (
            lambda h: h["model"]["config"].update(build_input_shape=[0, T, I]),
            "build_input_shape: expected a list of sizes, the batch (None or positive) first",
        ),
        (
            lambda h: h["model"]["config"].update(build_input_shape=[]),
            "build_input_shape: expected a list of sizes",
        ),
        (
            lambda h: h["model"]["config"].update(build_input_shape=[None, T + 1, I]),
            "disagrees with the input shape (None, 7, 3) that the first layer declares",
        ),
    ],
)
def test_declared_shapes_in_a_file_are_checked(tmp_path, change, match):
    model = Sequential([LSTM(4, input_shape=(T, I)), Dense(1)], seed=0)
    model.save(tmp_path / "m.fastlstm")
    bad = with_header((tmp_path / "m.fastlstm").read_bytes(), change)
    with pytest.raises(ValueError, match="is not a valid fastlstm model file") as info:
        saving.model_from_bytes(bad)
    assert match in str(info.value)


@pytest.mark.parametrize(("entry", "wrapper"), [(0, "Bidirectional"), (1, "TimeDistributed")])
def test_a_wrapper_without_its_layer_in_a_file_is_named(tmp_path, entry, wrapper):
    """The reason had been the bare KeyError text "'layer'"."""
    model = Sequential(
        [Input((T, I)), Bidirectional(LSTM(2, return_sequences=True)), TimeDistributed(Dense(1))]
    )
    blob = saving.model_to_bytes(model)
    bad = with_header(blob, lambda h: h["model"]["config"]["layers"][entry]["config"].pop("layer"))
    with pytest.raises(ValueError, match=rf"layer {wrapper}: expected its config to hold the"):
        saving.model_from_bytes(bad)
    # a member whose local header runs past the end: zipfile's bare EOFError had said nothing
    past = bytearray(blob)
    past[28:30] = (60000).to_bytes(2, "little")  # the first member's extra field's length
    with pytest.raises(ValueError, match=r"member 'fastlstm.json' runs past the end of the file"):
        saving.model_from_bytes(bytes(past))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"input_shape": (T, -3)}, ValueError, r"input_shape: expected a tuple of sizes .* -3"),
        ({"input_shape": I}, TypeError, r"input_shape: expected a tuple of sizes .* got 3"),
        ({"input_shape": ((T, I),)}, TypeError, r"input_shape: .* \(entry \(7, 3\)\)"),
        ({"input_shape": (T, 3.0)}, TypeError, r"input_shape: .* \(entry 3\.0\)"),
        ({"input_shape": (T, True)}, TypeError, r"input_shape: .* \(entry True\)"),
        ({"input_shape": "7,3"}, TypeError, "input_shape: expected a tuple of sizes"),
        ({"batch_input_shape": ()}, ValueError, "batch_input_shape: expected the batch size"),
        ({"batch_input_shape": (-1, T, I)}, ValueError, "batch_input_shape: expected"),
        ({"batch_size": 4}, ValueError, "batch_size: expected only with input_shape"),
        ({"batch_size": 0, "input_shape": (T, I)}, ValueError, "batch_size: expected a positive"),
        (
            {"batch_size": 4, "batch_input_shape": (4, T, I)},
            ValueError,
            "batch_size: expected only with input_shape",
        ),
        (
            {"input_shape": (T, I), "batch_input_shape": (None, T, I)},
            ValueError,
            r"input_shape, batch_input_shape: expected at most one of them, got input_shape=",
        ),
        ({"input_dim": 0}, ValueError, "input_dim: expected a positive integer, got 0"),
        ({"input_dim": "3"}, TypeError, "input_dim: expected a positive integer, got '3'"),
        ({"input_shapes": (T, I)}, TypeError, r"LSTM: unexpected keyword argument\(s\)"),
    ],
)
def test_bad_declared_shapes_are_named(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        LSTM(2, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input_length": 0}, ValueError, "input_length: expected a positive integer, got 0"),
        ({"input_length": 2.5}, TypeError, "input_length: expected a positive integer, got 2.5"),
        (
            {"input_length": T, "input_shape": (T,)},
            ValueError,
            "input_length, input_shape: expected at most",
        ),
    ],
)
def test_bad_input_length_is_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        Embedding(10, 4, **kwargs)


# -- class_weight -----------------------------------------------------------------------------

N, C = 24, 3


def problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, I))
    return x, rng.integers(0, C, N)


def classifier(loss="sparse_categorical_crossentropy", units=C, activation="softmax", lr=0.3):
    model = Sequential(
        [LSTM(5, input_shape=(T, I), dtype="float64"), Dense(units, activation, dtype="float64")],
        seed=7,
    )
    model.compile(optimizers.SGD(lr), loss, ["accuracy"])
    return model


def explicit(class_weight, labels):
    return np.array([class_weight.get(int(c), 1.0) for c in np.ravel(labels)]).reshape(
        np.shape(labels)
    )


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


CW = {0: 3.0, 1: 0.25}  # class 2 is missing: weight 1, as Keras 3


def test_class_weight_is_the_equivalent_sample_weight():
    x, y = problem()
    weighted, explicit_model, plain = classifier(), classifier(), classifier()
    h1 = weighted.fit(x, y, batch_size=8, epochs=3, verbose=0, class_weight=CW)
    h2 = explicit_model.fit(x, y, batch_size=8, epochs=3, verbose=0, sample_weight=explicit(CW, y))
    h3 = plain.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert h1.history["loss"] == h2.history["loss"]
    assert_same_weights(weighted, explicit_model)
    # and the weighting does change training
    assert h1.history["loss"] != h3.history["loss"]
    assert not np.allclose(weighted.get_weights()[0], plain.get_weights()[0])


def test_class_weighted_loss_and_step_match_numpy():
    x, y = problem(1)
    lr = 0.3
    model = classifier(lr=lr)
    p = model.predict(x, verbose=0)
    w = explicit(CW, y)
    expected = np.mean(w * -np.log(p[np.arange(N), y]))  # sum over batch size, as Keras
    loss_before, grads = model.loss_and_gradients(x, y, sample_weight=w, training=False)
    assert loss_before == pytest.approx(expected, rel=1e-12)
    before = [v.copy() for v in model.trainable_weights]
    loss = model.train_on_batch(x, y, class_weight=CW)[0]
    assert loss == pytest.approx(expected, rel=1e-12)
    for old, g, new in zip(before, grads, model.trainable_weights, strict=True):
        np.testing.assert_allclose(new, old - lr * g, rtol=1e-12, atol=1e-15)


def test_class_weight_and_sample_weight_multiply():
    x, y = problem(2)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, N)
    a, b = classifier(), classifier()
    a.fit(x, y, batch_size=8, epochs=2, verbose=0, class_weight=CW, sample_weight=sw)
    b.fit(x, y, batch_size=8, epochs=2, verbose=0, sample_weight=sw * explicit(CW, y))
    assert_same_weights(a, b)


def test_all_ones_is_no_weighting_and_an_empty_dict_too():
    x, y = problem(3)
    ones, empty, plain = classifier(), classifier(), classifier()
    ones.fit(x, y, batch_size=8, epochs=2, verbose=0, class_weight={0: 1, 1: 1, 2: 1})
    empty.fit(x, y, batch_size=8, epochs=2, verbose=0, class_weight={})
    plain.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b, c in zip(ones.get_weights(), empty.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(a, b)


def _labels_one_hot(y):
    return np.eye(C)[y]


@pytest.mark.parametrize(
    ("loss", "units", "activation", "target"),
    [
        # one-hot rows: the class is the argmax
        ("categorical_crossentropy", C, "softmax", lambda y: _labels_one_hot(y)),
        # sparse labels with a trailing axis of 1
        ("sparse_categorical_crossentropy", C, "softmax", lambda y: y[:, None].astype(float)),
        # binary (N, 1) 0/1 labels and the same without the axis
        ("binary_crossentropy", 1, "sigmoid", lambda y: (y[:, None] > 0).astype(float)),
        ("binary_crossentropy", 1, "sigmoid", lambda y: (y > 0).astype(np.int64)),
    ],
)
def test_class_of_each_target_is_read_as_keras_reads_it(loss, units, activation, target):
    x, y = problem(4)
    t = target(y)
    classes = np.argmax(t, -1) if t.ndim == 2 and t.shape[1] > 1 else np.ravel(t).astype(int)
    a, b = classifier(loss, units, activation), classifier(loss, units, activation)
    a.fit(x, t, batch_size=8, epochs=2, verbose=0, class_weight=CW)
    b.fit(x, t, batch_size=8, epochs=2, verbose=0, sample_weight=explicit(CW, classes))
    assert_same_weights(a, b)


def test_a_label_per_step_weights_each_step():
    # sequence labelling (Keras refuses class_weight here): each step gets its class's weight
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((N, T, I)), rng.integers(0, C, (N, T))

    def tagger(loss="sparse_categorical_crossentropy"):
        model = Sequential(
            [
                LSTM(4, input_shape=(T, I), return_sequences=True, dtype="float64"),
                Dense(C, "softmax", dtype="float64"),
            ],
            seed=1,
        )
        model.compile(optimizers.SGD(0.3), loss)
        return model

    a, b, plain = tagger(), tagger(), tagger()
    a.fit(x, y, batch_size=8, epochs=2, verbose=0, class_weight=CW)
    b.fit(x, y, batch_size=8, epochs=2, verbose=0, sample_weight=explicit(CW, y))
    plain.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert_same_weights(a, b)
    assert not np.allclose(a.get_weights()[0], plain.get_weights()[0])
    # one-hot rows per step: the class of each step is its argmax
    c, d = tagger("categorical_crossentropy"), tagger("categorical_crossentropy")
    c.fit(x, _labels_one_hot(y), batch_size=8, epochs=2, verbose=0, class_weight=CW)
    d.fit(x, _labels_one_hot(y), batch_size=8, epochs=2, verbose=0, sample_weight=explicit(CW, y))
    assert_same_weights(c, d)
    sw = np.random.default_rng(6).uniform(0.5, 2.0, N)  # per sample, times per-step weights
    d, e = tagger(), tagger()
    d.fit(x, y, batch_size=8, epochs=1, verbose=0, class_weight=CW, sample_weight=sw)
    e.fit(x, y, batch_size=8, epochs=1, verbose=0, sample_weight=sw[:, None] * explicit(CW, y))
    assert_same_weights(d, e)


def test_validation_and_metrics_are_not_class_weighted():
    x, y = problem(6)
    model = classifier()
    history = model.fit(
        x, y, batch_size=8, epochs=2, verbose=0, class_weight=CW, validation_split=0.25
    )
    val = model.evaluate(x[18:], y[18:], verbose=0, return_dict=True)  # no weights
    assert history.history["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-12)
    # the training rows alone are weighted: the same as explicit weights on those rows
    same = classifier()
    same.fit(x[:18], y[:18], batch_size=8, epochs=2, verbose=0, sample_weight=explicit(CW, y[:18]))
    assert_same_weights(model, same)
    # Keras's plain metrics are unweighted: accuracy is the plain fraction of hits
    frozen = classifier(lr=0.0)
    logs = frozen.train_on_batch(x, y, class_weight=CW, return_dict=True)
    p = frozen.predict(x, verbose=0)
    assert logs["accuracy"] == pytest.approx(np.mean(p.argmax(-1) == y))
    assert logs["loss"] != pytest.approx(frozen.evaluate(x, y, verbose=0)[0])


@pytest.mark.parametrize(
    ("class_weight", "target", "exc", "match"),
    [
        ([1.0, 2.0], None, TypeError, "class_weight: expected a dict {class index: weight}, got"),
        ({"0": 1.0}, None, TypeError, "class_weight: expected class indices .* got '0'"),
        ({1.5: 1.0}, None, TypeError, "class_weight: expected class indices .* got 1.5"),
        ({True: 1.0}, None, TypeError, "class_weight: expected class indices .* got True"),
        ({0: -2.0}, None, ValueError, "class_weight: expected finite weights >= 0, got -2.0"),
        ({0: float("nan")}, None, ValueError, "class_weight: expected finite weights"),
        ({0: "2"}, None, TypeError, "class_weight: expected numbers as weights, got '2'"),
        # regression targets are not classes
        ({0: 2.0}, lambda y: y + 0.37, ValueError, r"expected class labels .* got \d\.37;"),
        ({0: 2.0}, lambda y: y * 1e30, ValueError, r"expected class labels .* got \de\+30"),
        ({0: 2.0}, lambda y: np.full((N, C), 2.5), ValueError, r"values in \[0, 1\]"),
        ({0: 2.0}, lambda y: np.full(N, np.nan), ValueError, "NaN or inf"),
        ({0: 2.0}, lambda y: np.zeros((N, 2)), ValueError, r"expected y of shape \(N, ..., 3\)"),
    ],
)
def test_bad_class_weight_is_named(class_weight, target, exc, match):
    x, y = problem(7)
    model = classifier(loss="mse")
    before = model.get_weights()
    with pytest.raises(exc, match=match):
        model.fit(x, y if target is None else target(y), verbose=0, class_weight=class_weight)
    with pytest.raises(exc, match=match):
        model.train_on_batch(x, y if target is None else target(y), class_weight=class_weight)
    assert_same_weights_list(model.get_weights(), before)


def test_sample_weight_that_does_not_combine_is_named():
    x, y = problem(8)
    with pytest.raises(ValueError, match=r"sample_weight: expected shape \(24,\)"):
        classifier().fit(x, y, verbose=0, class_weight=CW, sample_weight=np.ones((N, 5)))


def assert_same_weights_list(a, b):
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("cell", [LSTM, GRU, SimpleRNN])
def test_keras2_input_dim_and_input_length_of_a_recurrent_layer(cell):
    """Keras 2: input_dim=I (and input_length=T) declare (T, I) for a recurrent layer; as a
    Dense's input_dim they declared (None, I), which no sequence fits."""
    model = Sequential([cell(2, input_dim=I, input_length=T)], seed=0)
    assert model.input_shape == (None, T, I)
    assert model.predict(np.zeros((3, T, I)), verbose=0).shape == (3, 2)
    assert Sequential([cell(2, input_dim=I)]).input_shape == (None, None, I)
    assert Sequential.from_config(model.get_config()).input_shape == (None, T, I)
    with pytest.raises(ValueError, match="input_dim, input_shape: expected at most one of them"):
        cell(2, input_dim=I, input_shape=(T, I))
    with pytest.raises(ValueError, match="input_length: expected a positive integer, got 0"):
        cell(2, input_dim=I, input_length=0)


# -- what code ported from Keras spells out ---------------------------------------------------


def test_keras_defaults_spelled_out_are_taken():
    """LSTM(4, activation="tanh") and the like had been TypeErrors: fastlstm's only choice is
    Keras's default, and ported code often names it. Other values stay refused."""
    for cell in (LSTM, GRU):
        same = cell(3, activation="tanh", recurrent_activation="sigmoid", use_bias=True, seed=0)
        plain = cell(3, seed=0)
        assert same.get_config() == plain.get_config()
        for kwargs in ({"activation": "relu"}, {"use_bias": False}, {"use_bias": 1}):
            with pytest.raises(
                TypeError, match=f"unexpected keyword argument.*{next(iter(kwargs))}"
            ):
                cell(3, **kwargs)


@pytest.mark.parametrize(
    ("verbose", "prints"), [(True, True), (False, False), (np.int64(0), False)]
)
def test_verbose_takes_bools_as_keras_does(capsys, verbose, prints):
    model = Sequential([Input((T, I)), LSTM(2), Dense(1)], seed=0)
    model.compile("sgd", "mse")
    x, y = np.zeros((4, T, I), np.float32), np.zeros((4, 1), np.float32)
    model.fit(x, y, verbose=verbose)
    model.predict(x, verbose=verbose)
    assert bool(capsys.readouterr().out) is prints
    for bad, error in ((1.0, TypeError), (3, ValueError), ("yes", ValueError)):
        with pytest.raises(error, match="verbose: expected 'auto', 0, 1 or 2"):
            model.predict(x, verbose=bad)


def test_compile_takes_keras_backend_hints():
    """jit_compile=, run_eagerly=, steps_per_execution= had been unexpected keywords."""
    model = Sequential([Input((T, I)), LSTM(2), Dense(1)], seed=0)
    model.compile("adam", "mse", jit_compile=False, run_eagerly=True, steps_per_execution=8)
    assert model.compiled
    with pytest.raises(TypeError, match="jit_compile: expected True, False or 'auto'"):
        model.compile("adam", "mse", jit_compile="xla")
    with pytest.raises(ValueError, match="steps_per_execution: expected a positive integer"):
        model.compile("adam", "mse", steps_per_execution=0)
    with pytest.raises(ValueError, match=r"loss_weights: expected None \(a Sequential has one"):
        model.compile("adam", "mse", loss_weights=[0.5])


def test_reset_state_is_keras_3s_name():
    layer = LSTM(2, stateful=True, seed=0)
    model = Sequential([Input((T, I), batch_size=2), layer])
    x = np.ones((2, T, I), np.float32)
    first = model.predict(x, verbose=0)
    assert not np.array_equal(model.predict(x, verbose=0), first)  # the state carried
    layer.reset_state()
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)


def test_sgd_takes_a_momentum_of_one_as_keras_does():
    assert optimizers.SGD(0.1, momentum=1.0).momentum == 1.0
