"""Keras 3's use_ema: a moving average of every weight kept beside the optimizer's state,
copied into the weights every ema_overwrite_frequency updates and when fit ends. Checked
against the average written out here over the weights a twin optimizer without it takes (the
average changes no step)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastlstm import callbacks, optimizers
from fastlstm.layers import LSTM, Dense, Input
from fastlstm.models import Sequential, load_model

M = 0.9


def _problem(steps=7, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(steps)]
    return params, grads


def _averages(trajectory, momentum=M, per_update=1):
    """Keras's average over the weights after each call: the weights themselves while Keras's
    iterations (calls // per_update) is 0, then m * average + (1 - m) * weight."""
    average = None
    for call, weights in enumerate(trajectory):
        m = momentum if call // per_update else 0.0
        average = [
            w.copy() if a is None else m * a + (1 - m) * w
            for a, w in zip(average or [None] * len(weights), weights)
        ]
    return average


def _trajectory(opt, params, grads):
    params = [p.copy() for p in params]
    out = []
    for g in grads:
        opt.apply(g, params)
        out.append([p.copy() for p in params])
    return params, out


@pytest.mark.parametrize("cls", [optimizers.Adam, optimizers.SGD, optimizers.RMSprop])
def test_the_average_is_kerass_and_changes_no_step(cls):
    params, grads = _problem()
    with_ema = cls(0.05, use_ema=True, ema_momentum=M)
    ema_params, _ = _trajectory(with_ema, params, grads)
    plain_params, trajectory = _trajectory(cls(0.05), params, grads)
    for a, b in zip(ema_params, plain_params):
        np.testing.assert_array_equal(a, b)  # the weights train as without it
    want = _averages(trajectory)
    with_ema.finalize_variable_values(ema_params)
    for got, expected in zip(ema_params, want):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    assert not np.allclose(want[0], trajectory[-1][0])  # an average, not the last weights


def test_with_gradient_accumulation_the_average_moves_every_call():
    params, grads = _problem(steps=8)
    opt = optimizers.Adam(0.05, use_ema=True, ema_momentum=M, gradient_accumulation_steps=2)
    weights, _ = _trajectory(opt, params, grads)
    _, trajectory = _trajectory(optimizers.Adam(0.05, gradient_accumulation_steps=2), params, grads)
    opt.finalize_variable_values(weights)
    for got, expected in zip(weights, _averages(trajectory, per_update=2)):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


def test_overwrite_frequency_copies_the_average_into_the_weights():
    params, grads = _problem(steps=3)
    opt = optimizers.SGD(0.1, use_ema=True, ema_momentum=M, ema_overwrite_frequency=3)
    weights, trajectory = _trajectory(opt, params, grads[:2])
    assert not np.array_equal(weights[0], _averages(trajectory)[0])  # not yet: 2 updates
    opt.apply(grads[2], weights)
    slots = opt.get_slot_arrays()  # per weight: its slots, the average last
    per = len(slots) // 2
    np.testing.assert_array_equal(weights[0], slots[per - 1])
    np.testing.assert_array_equal(weights[1], slots[2 * per - 1])
    _, plain = _trajectory(optimizers.SGD(0.1), params, grads)
    np.testing.assert_allclose(weights[0], _averages(plain)[0], rtol=1e-13)


def _model(**options):
    model = Sequential([Input((5, 2)), LSTM(3, dtype="float64"), Dense(1, dtype="float64")], seed=0)
    model.compile(optimizers.Adam(0.05, **options), "mse")
    return model


def _data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((12, 5, 2)), rng.standard_normal((12, 1))


class _Recorder(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.trajectory = []

    def on_train_batch_end(self, batch, logs=None):
        self.trajectory.append([w.copy() for w in self.model.trainable_weights])


def test_fit_ends_with_the_averages():
    x, y = _data()
    averaged = _model(use_ema=True, ema_momentum=M)
    averaged.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    recorder = _Recorder()
    plain = _model()
    plain.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[recorder])
    want = _averages(recorder.trajectory)
    for got, expected in zip(averaged.trainable_weights, want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(want[0], plain.trainable_weights[0])


def test_a_fit_without_a_step_leaves_the_weights_alone():
    x, y = _data()
    model = _model(use_ema=True)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    chosen = [np.full_like(w, 0.5) for w in model.get_weights()]
    model.set_weights(chosen)
    model.fit(x, y, batch_size=4, epochs=1, initial_epoch=1, verbose=0)  # no epoch to run
    for got, want in zip(model.get_weights(), chosen):
        np.testing.assert_array_equal(got, want)


def test_the_averages_are_saved_with_the_optimizer(tmp_path):
    x, y = _data()
    model = _model(use_ema=True, ema_momentum=M, ema_overwrite_frequency=7)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    config = again.optimizer.get_config()
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"]) == (
        True,
        M,
        7,
    )
    slots = model.optimizer.get_slot_arrays()
    loaded = again.optimizer.get_slot_arrays()
    assert len(loaded) == len(slots) == 3 * len(model.trainable_weights)  # m, v, average
    for a, b in zip(loaded, slots):
        np.testing.assert_array_equal(a, b)
    clone = optimizers.Adam.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="use_ema"):
        optimizers.Adam(use_ema="yes")
    with pytest.raises(ValueError, match="ema_momentum: expected"):
        optimizers.Adam(use_ema=True, ema_momentum=1.5)
    opt = optimizers.SGD(use_ema=True)
    opt.apply([np.ones(2)], [np.zeros(2)])
    with pytest.raises(ValueError, match="var_list: expected the weights"):
        opt.finalize_variable_values([np.zeros(3)])
