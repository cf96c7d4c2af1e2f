"""Keras's Layer keywords given to a wrapper (TimeDistributed, Bidirectional): ``trainable``
sets the wrapped layer's flag, ``seed`` draws the wrapped layer's weights, ``dtype`` must be
the layer's. These had failed with Python's "got multiple values for keyword argument"."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import layers
from fastlstm.models import Sequential

B, T, I = 4, 5, 3


def built(layer):
    model = Sequential([layers.Input((T, I)), layer])
    model.compile(optimizer="sgd", loss="mse")
    return model


def wrappers():
    return [
        ("TimeDistributed", lambda **kw: layers.TimeDistributed(layers.Dense(2), **kw)),
        ("Bidirectional", lambda **kw: layers.Bidirectional(layers.LSTM(2), **kw)),
    ]


@pytest.mark.parametrize(("who", "make"), wrappers(), ids=[w for w, _ in wrappers()])
def test_trainable_false_freezes_the_wrapped_layer(who, make):
    wrapper = make(trainable=False)
    model = Sequential([layers.Input((T, I)), wrapper, layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert wrapper.trainable is False
    assert len(model.trainable_weights) == 2  # the Dense layer's alone
    before = wrapper.get_weights()
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((B, T, I)), rng.standard_normal((B, 1)), epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, wrapper.get_weights()))


def test_a_seed_draws_the_wrapped_layers_weights():
    time = built(layers.TimeDistributed(layers.Dense(2), seed=7)).get_weights()
    same = built(layers.TimeDistributed(layers.Dense(2, seed=7))).get_weights()
    other = built(layers.TimeDistributed(layers.Dense(2, seed=8))).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(time, same))
    assert not np.array_equal(time[0], other[0])
    both = built(layers.Bidirectional(layers.LSTM(2), seed=7)).get_weights()
    alike = built(layers.Bidirectional(layers.LSTM(2, seed=7))).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(both, alike))
    assert not np.array_equal(both[0], both[3])  # the backward half has a seed of its own


@pytest.mark.parametrize(("who", "make"), wrappers(), ids=[w for w, _ in wrappers()])
def test_dtype_must_be_the_layers(who, make):
    assert make(dtype="float32").dtype == np.float32
    with pytest.raises(
        ValueError, match=rf"^dtype: a {who} computes in its layer's dtype, float32, got float64"
    ):
        make(dtype="float64")


def test_a_seed_the_layer_cannot_take_is_refused():
    with pytest.raises(
        ValueError, match=r"^seed: .* its seed is 1; got 2: give seed= to the layer"
    ):
        layers.TimeDistributed(layers.Dense(2, seed=1), seed=2)
    dense = layers.Dense(2)
    dense.build((None, I))
    with pytest.raises(ValueError, match=r"^seed: a TimeDistributed's weights .* it is built"):
        layers.TimeDistributed(dense, seed=2)
    with pytest.raises(TypeError, match=r"^seed: "):
        layers.Bidirectional(layers.LSTM(2), seed="7")
    assert layers.TimeDistributed(layers.Dense(2, seed=1), seed=1).seed == 1
