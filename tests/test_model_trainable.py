"""A model's own ``trainable`` flag, as Keras 3's: ``model.trainable = False`` freezes every
layer, and while it is False no layer trains, even one whose own flag is set True afterwards
(Keras 3's ``trainable_weights`` is then empty). Before, the model's flag was "any layer
trains", so unfreezing one layer of a frozen model trained it."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import layers, regularizers
from fastlstm.models import Model, Sequential, load_model

B, T, I = 8, 5, 3


def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((B, T, I)).astype(np.float32), rng.standard_normal((B, 1))


def sequential():
    return Sequential(
        [
            layers.Input((T, I)),
            layers.LSTM(4, seed=1),
            layers.Dense(1, seed=2, kernel_regularizer=regularizers.L2(0.5)),
        ]
    )


def functional():
    inp = layers.Input((T, I))
    out = layers.Dense(1, seed=2, kernel_regularizer=regularizers.L2(0.5))(
        layers.LSTM(4, seed=1)(inp)
    )
    return Model(inp, out)


MAKERS = pytest.mark.parametrize("make", [sequential, functional], ids=["Sequential", "Model"])


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@MAKERS
def test_a_frozen_model_trains_no_layer_unfrozen_alone(make):
    x, y = data()
    model = make()
    model.compile(optimizer="sgd", loss="mse")
    model.trainable = False
    dense = model.layers[-1]
    dense.trainable = True  # Keras 3: the model's flag still holds
    assert model.trainable is False
    assert model.trainable_weights == []
    assert len(model.non_trainable_weights) == len(model.weights) == 5
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    assert same(before, model.get_weights())
    _, grads = model.loss_and_gradients(x, y)
    assert grads == []
    # Only trained weights add their penalty (Keras 3): none here.
    plain = np.mean((model.predict(x, verbose=0) - y) ** 2)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain, rel=1e-5)
    model.trainable = True  # every layer's flag with it
    assert all(layer.trainable for layer in model.layers)
    model.compile(optimizer="sgd", loss="mse")  # as after any change of trainable (Keras too)
    model.fit(x, y, epochs=1, verbose=0)
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert all(changed)


@MAKERS
def test_the_models_flag_is_kept_by_its_config_and_file(make, tmp_path):
    model = make()
    model.compile(optimizer="sgd", loss="mse")
    model.trainable = False
    model.layers[-1].trainable = True
    for again in (
        type(model).from_config(model.get_config()),
        load_model(_saved(model, tmp_path)),
    ):
        assert again.trainable is False
        assert again.layers[-1].trainable is True  # each layer's own flag kept too
        assert again.trainable_weights == []
    model.trainable = True
    assert "trainable" not in model.get_config()  # the default: files as before


def _saved(model, tmp_path):
    path = tmp_path / "m.fastlstm"
    model.save(path)
    return path


def test_summary_counts_no_trainable_parameter_of_a_frozen_model():
    model = sequential()
    model.trainable = False
    model.layers[0].trainable = True
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert any(line.startswith("Trainable params: 0") for line in lines)
