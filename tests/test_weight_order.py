"""The order of a model's weight lists. Keras's model walks its ``layers`` list for
``weights``, ``get_weights`` and ``set_weights``; a functional model with branches lists its
layers in Keras's order, which is not the order of the calls that built it. Every weight list
(get/set_weights, weights, trainable_weights, loss_and_gradients' gradients, the optimizer's
slots) follows ``layers``, so that ``set_weights(keras_model.get_weights())`` and a list built
layer by layer from ``model.layers`` put each array in its own layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import layers, optimizers
from fastlstm.models import Model, load_model


def branched(seed: int = 0) -> Model:
    """Two inputs; lstm_a and lstm_b1 have weights of the same shapes, and Keras lists lstm_b1
    before lstm_a though lstm_a was called first."""
    a = layers.Input((6, 3), name="a")
    b = layers.Input((6, 3), name="b")
    ha = layers.LSTM(4, name="lstm_a", seed=seed)(a)
    hb1 = layers.LSTM(4, return_sequences=True, name="lstm_b1", seed=seed + 1)(b)
    hb = layers.LSTM(4, name="lstm_b2", seed=seed + 2)(hb1)
    out = layers.Dense(1, name="dense", seed=seed + 3)(layers.Concatenate()([ha, hb]))
    return Model([a, b], out)


def data(n: int = 8):
    rng = np.random.default_rng(5)
    x = [rng.standard_normal((n, 6, 3)).astype(np.float32) for _ in range(2)]
    return x, rng.standard_normal((n, 1)).astype(np.float32)


def by_layer(model) -> list[np.ndarray]:
    return [w for layer in model.layers for w in layer.get_weights()]


def test_the_layers_order_is_not_the_calls_order():
    # What the rest of this file relies on: else it would test nothing.
    model = branched()
    names = [layer.name for layer in model.layers]
    assert names.index("lstm_b1") < names.index("lstm_a")
    assert model._layers[0].name == "lstm_a"


def test_every_weight_list_follows_layers():
    model = branched()
    expected = by_layer(model)
    got = model.get_weights()
    assert [w.shape for w in got] == [w.shape for w in expected]
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
    own = [w for layer in model.layers for w in layer.weights]
    assert all(a is b for a, b in zip(model.weights, own))
    assert len(model.weights) == len(own)
    trained = [w for layer in model.layers for w in layer.trainable_weights]
    assert all(a is b for a, b in zip(model.trainable_weights, trained))
    model.get_layer("lstm_b1").trainable = False
    frozen = model.get_layer("lstm_b1").weights
    assert all(a is b for a, b in zip(model.non_trainable_weights, frozen))
    assert all(all(w is not f for f in frozen) for w in model.trainable_weights)


def test_set_weights_puts_each_array_in_its_own_layer():
    source, target = branched(seed=0), branched(seed=10)
    target.set_weights(by_layer(source))
    for layer in source.layers:
        mine = target.get_layer(layer.name).get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(mine, layer.get_weights())), layer.name
    x, _ = data()
    np.testing.assert_array_equal(target.predict(x, verbose=0), source.predict(x, verbose=0))


def test_gradients_follow_trainable_weights():
    # One SGD step by hand from loss_and_gradients, weight by weight in trainable_weights order,
    # gives what fit's step gives: a gradient paired with another layer's weight of the same
    # shape (lstm_a's and lstm_b1's) would not.
    x, y = data()
    by_hand, fitted = branched(), branched()
    for model in (by_hand, fitted):
        model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    _, grads = by_hand.loss_and_gradients(x, y)
    assert [g.shape for g in grads] == [w.shape for w in by_hand.trainable_weights]
    for w, g in zip(by_hand.trainable_weights, grads):
        w -= np.float32(0.1) * g
    fitted.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
    for a, b in zip(by_hand.get_weights(), fitted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("opt", ["adam", "rmsprop"])
def test_optimizer_state_follows_the_weights_through_a_custom_step_and_a_file(tmp_path, opt):
    # The optimizer's state is per weight, by position: fit's steps, a custom loop's apply()
    # on trainable_weights and a saved file must agree on the order.
    x, y = data()
    runs = []
    for how in ("fit", "apply", "file"):
        model = branched()
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        if how == "apply":
            _, grads = model.loss_and_gradients(x, y)
            model.optimizer.apply(grads, model.trainable_weights)
        else:
            if how == "file":
                model.save(tmp_path / "m.fastlstm")
                model = load_model(tmp_path / "m.fastlstm")
            model.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
        runs.append(model.get_weights())
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
