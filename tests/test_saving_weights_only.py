"""save_weights of a model whose config cannot be written (a layer class of the caller's own, an
initialiser given as a function, a large Constant): the file holds the weights alone, which
load_weights reads and load_model refuses, saying why; such files are data like any other."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import with_header
from fastlstm import initializers, saving
from fastlstm.callbacks import ModelCheckpoint
from fastlstm.layers import LSTM, Dense, Dropout, Embedding, Input
from fastlstm.models import Sequential

WEIGHTS_ONLY = "holds a model's weights only"


def ones_init(shape, dtype=None):
    return np.full(shape, 0.01)


class MyDense(Dense):
    pass


# Each builds the same architecture every call, with weights drawn from `seed`.
UNSAVEABLE = {
    "function_initialiser": lambda seed: Sequential(
        [Input((None, 3)), LSTM(4, kernel_initializer=ones_init), Dropout(0.1), Dense(2)],
        seed=seed,
    ),
    "own_layer_class": lambda seed: Sequential([Input((None, 3)), LSTM(4), MyDense(2)], seed=seed),
    "large_constant": lambda seed: Sequential(
        [
            Input((None,)),
            Embedding(
                3000,
                2,
                embeddings_initializer=initializers.Constant(
                    np.random.default_rng(seed).standard_normal((3000, 2))
                ),
            ),
            LSTM(3),
        ],
        seed=seed,
    ),
}


def inputs(make):
    if make is UNSAVEABLE["large_constant"]:
        return np.random.default_rng(1).integers(0, 3000, (4, 5))
    return np.random.default_rng(1).standard_normal((4, 5, 3)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(UNSAVEABLE))
def test_save_weights_keeps_the_weights_that_save_refuses(case, tmp_path):
    make = UNSAVEABLE[case]
    model, other = make(0), make(1)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
    path = tmp_path / "w.fastlstm"
    with pytest.raises(ValueError, match=r"can be (saved|serialised)|more than the 4,096 values"):
        model.save(path)
    assert not path.exists()
    model.save_weights(path)
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = inputs(make)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=f"load_model: .* {WEIGHTS_ONLY}.*load_weights"):
        fastlstm.load_model(path)
    with pytest.raises(ValueError, match=f"model_from_bytes: the data {WEIGHTS_ONLY}"):
        saving.model_from_bytes(path.read_bytes())


def test_an_unbuilt_model_is_built_from_the_files_input_shape(tmp_path):
    def make():
        return Sequential([LSTM(4, kernel_initializer=ones_init), Dense(1)], seed=3)

    model = make()
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    model.predict(x, verbose=0)  # built from data: (None, 6, 3)
    model.save_weights(tmp_path / "w.fastlstm")
    fresh = make()
    assert not fresh.built
    fresh.load_weights(tmp_path / "w.fastlstm")
    assert fresh.built
    assert fresh.input_shape == (None, 6, 3)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_other_layers_are_refused_and_nothing_changes(tmp_path):
    UNSAVEABLE["own_layer_class"](0).save_weights(tmp_path / "w.fastlstm")
    other = Sequential([Input((None, 3)), LSTM(4), Dense(2)], seed=1)  # Dense, not MyDense
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"\['LSTM', 'MyDense'\] do not match .*'Dense'\]"):
        other.load_weights(tmp_path / "w.fastlstm")
    for a, b in zip(other.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_model_whose_config_is_written_still_saves_whole(tmp_path):
    """Its save_weights file is the model without the optimizer, which load_model reads too."""
    model = Sequential([Input((None, 3)), LSTM(4), Dense(2)], seed=0)
    model.compile("adam", "mse")
    model.save_weights(tmp_path / "w.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "w.fastlstm")
    assert loaded.optimizer is None
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_saves_the_weights_of_any_model(tmp_path):
    model = UNSAVEABLE["own_layer_class"](0)
    model.compile("adam", "mse")
    x, y = inputs(UNSAVEABLE["own_layer_class"]), np.zeros((4, 2), np.float32)
    pattern = str(tmp_path / "ck-{epoch}.fastlstm")
    model.fit(
        x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(pattern, save_weights_only=True)]
    )
    other = UNSAVEABLE["own_layer_class"](1)
    other.load_weights(tmp_path / "ck-2.fastlstm")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # A whole-model checkpoint of the same model is refused before training, as before.
    with pytest.raises(ValueError, match="only fastlstm's own layer classes"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(pattern)])


# Each: the change to the header, and what load_weights says of the file.
INVALID = r"load_weights: .* is not a valid fastlstm model file"
DAMAGED = {
    "layers_not_names": (
        lambda h: h["weights_of"].update(layers=[{"class_name": "LSTM"}, 1]),
        INVALID,
    ),
    "missing_key": (lambda h: h["weights_of"].pop("input_shape"), INVALID),
    "unknown_key": (lambda h: h["weights_of"].update(code="import os"), INVALID),
    "bad_input_shape": (lambda h: h["weights_of"].update(input_shape=[None, -3, 3]), INVALID),
    "an_array_of_no_layer": (
        lambda h: h["arrays"].append({**h["arrays"][0], "name": "weights/7/0"}),
        INVALID,
    ),
    "a_model_config_beside_it": (
        lambda h: h.update(model={"class_name": "Sequential"}),
        INVALID,
    ),
    "arrays_missing": (
        lambda h: h["arrays"].pop(),
        r"weights: expected a list of 5 arrays, got 4",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_damaged_weights_files_are_refused_and_nothing_changes(damage, tmp_path):
    change, message = DAMAGED[damage]
    UNSAVEABLE["own_layer_class"](0).save_weights(tmp_path / "w.fastlstm")
    path = tmp_path / "damaged.fastlstm"
    path.write_bytes(with_header((tmp_path / "w.fastlstm").read_bytes(), change))
    other = UNSAVEABLE["own_layer_class"](1)
    before = other.get_weights()
    with pytest.raises(ValueError, match=message):
        other.load_weights(path)
    for a, b in zip(other.get_weights(), before):
        np.testing.assert_array_equal(a, b)
