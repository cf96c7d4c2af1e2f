"""fastlstm.optimizers.schedules: Keras's formulas worked out by hand at chosen steps, an
optimizer stepping with a schedule, saving a model that uses one, and bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastlstm
from fastlstm import layers, optimizers
from fastlstm.optimizers import schedules


@pytest.mark.parametrize(
    ("schedule", "step", "expected"),
    [
        (schedules.ExponentialDecay(0.1, 10, 0.5), 0, 0.1),
        (schedules.ExponentialDecay(0.1, 10, 0.5), 5, 0.1 * 0.5**0.5),
        (schedules.ExponentialDecay(0.1, 10, 0.5), 20, 0.025),
        (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), 19, 0.05),
        (schedules.InverseTimeDecay(0.1, 10, 0.5), 10, 0.1 / 1.5),
        (schedules.InverseTimeDecay(0.1, 10, 0.5, staircase=True), 25, 0.1 / 2),
        (schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), 10, 1.0),  # up to and at
        (schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), 11, 0.5),
        (schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), 21, 0.1),
        (schedules.PolynomialDecay(0.1, 10, 0.01), 5, 0.055),  # halfway along the line
        (schedules.PolynomialDecay(0.1, 10, 0.01), 50, 0.01),  # held at the end
        (schedules.PolynomialDecay(0.1, 10, 0.0, power=2.0), 5, 0.025),
        (schedules.PolynomialDecay(0.1, 10, 0.0, cycle=True), 15, 0.025),  # (1 - 15/20) * 0.1
        (schedules.CosineDecay(0.1, 10), 5, 0.05),
        (schedules.CosineDecay(0.1, 10, alpha=0.2), 10, 0.02),
        (schedules.CosineDecay(0.1, 10, alpha=0.2), 30, 0.02),
        (schedules.CosineDecay(0.0, 10, warmup_target=0.2, warmup_steps=4), 1, 0.05),
        (schedules.CosineDecay(0.0, 10, warmup_target=0.2, warmup_steps=4), 4, 0.2),
        (schedules.CosineDecay(0.0, 10, warmup_target=0.2, warmup_steps=4), 9, 0.1),
        (schedules.CosineDecay(0.0, 10, warmup_target=0.2), 5, 0.1),  # no warm-up: from 0.2
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, schedules.LearningRateSchedule) else str(v),
)
def test_values_at_chosen_steps(schedule, step, expected):
    assert schedule(step) == pytest.approx(expected, rel=1e-12)
    clone = schedules.deserialize(schedules.serialize(schedule))
    assert type(clone) is type(schedule)
    assert clone(step) == schedule(step)


def test_optimizer_steps_with_the_schedule_and_reports_its_rate():
    schedule = schedules.ExponentialDecay(0.5, 1, 0.5)  # 0.5, 0.25, 0.125, ...
    opt = optimizers.SGD(schedule)
    p = [np.zeros(2)]
    rates = []
    for _ in range(3):
        rates.append(opt.learning_rate)
        opt.apply([np.ones(2)], p)
    assert rates == [0.5, 0.25, 0.125]
    np.testing.assert_allclose(p[0], -(0.5 + 0.25 + 0.125))
    assert opt.learning_rate == 0.0625
    with pytest.raises(TypeError, match="learning_rate: this optimizer follows the schedule"):
        opt.learning_rate = 0.1
    assert optimizers.deserialize(optimizers.serialize(opt)).learning_rate == 0.5


def test_model_with_a_schedule_saves_and_resumes(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 5, 3)), rng.standard_normal((16, 1))

    def model():
        m = fastlstm.Sequential([layers.LSTM(4, seed=1), layers.Dense(1, seed=2)])
        m.compile(optimizers.Adam(schedules.CosineDecay(0.01, 20)), "mse")
        return m

    m = model()
    m.fit(x, y, epochs=2, batch_size=8, verbose=0)  # 4 steps
    m.save(tmp_path / "m.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "m.fastlstm")
    assert loaded.optimizer.learning_rate == pytest.approx(0.005 * (1 + math.cos(math.pi / 5)))
    for model_ in (m, loaded):
        model_.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(m.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_function_of_no_arguments_or_a_0d_array_gives_the_rate():
    rates = iter([0.5, 0.25])
    opt = optimizers.SGD(lambda: next(rates))  # Keras 3 takes such a callable
    p = [np.zeros(1)]
    opt.apply([np.ones(1)], p)
    opt.apply([np.ones(1)], p)
    np.testing.assert_allclose(p[0], -0.75)

    class Stepped(schedules.LearningRateSchedule):
        def __call__(self, step):
            return np.where(step < 1, 0.1, 0.01)  # a 0-d array, as NumPy code gives

    assert optimizers.SGD(Stepped()).learning_rate == 0.1
    with pytest.raises(ValueError, match="only fastlstm's own schedules"):
        optimizers.serialize(optimizers.SGD(lambda: 0.1))


def test_own_schedule_steps_but_is_not_saved(tmp_path):
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1 / 2**step

    m = fastlstm.Sequential([layers.Dense(1, seed=0)])
    m.compile(optimizers.SGD(Halving()), "mse")
    m.train_on_batch(np.ones((2, 3)), np.ones((2, 1)))
    assert m.optimizer.learning_rate == 0.05
    with pytest.raises(ValueError, match=r"only fastlstm's own schedules .* save the weights"):
        m.save(tmp_path / "m.fastlstm")
    assert not list(tmp_path.iterdir())  # nothing written
    m.save(tmp_path / "w.fastlstm", include_optimizer=False)


class Negative(schedules.LearningRateSchedule):
    def __call__(self, step):
        return -1.0


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda: schedules.ExponentialDecay(0.1, 0, 0.5),
            ValueError,
            "decay_steps: expected a finite number > 0, got 0",
        ),
        (lambda: schedules.ExponentialDecay("0.1", 1, 0.5), TypeError, "initial_learning_rate"),
        (
            lambda: schedules.ExponentialDecay(np.nan, 1, 0.5),
            ValueError,
            "initial_learning_rate: expected a finite number >= 0, got nan",
        ),
        (lambda: schedules.ExponentialDecay(0.1, 1, 0.5, staircase=1), TypeError, "staircase"),
        (lambda: schedules.PiecewiseConstantDecay([1], [1.0]), ValueError, "one more value"),
        (lambda: schedules.PiecewiseConstantDecay([2, 1], [1, 2, 3]), ValueError, "increasing"),
        (lambda: schedules.CosineDecay(0.1, 10, alpha=2), ValueError, r"alpha: .* \[0, 1\]"),
        (lambda: schedules.ExponentialDecay(0.1, 1, 0.5)(-1), ValueError, "step: expected"),
        (
            lambda: schedules.PolynomialDecay(0.1, 1, -0.5),
            ValueError,
            "end_learning_rate: expected a finite number >= 0, got -0.5",
        ),
        (
            lambda: optimizers.SGD(Negative()).apply([[1.0]], [np.zeros(1)]),
            ValueError,
            r"learning_rate: expected the schedule Negative\(\{\}\) .* step 0, got -1.0",
        ),
        (
            lambda: schedules.deserialize({"class_name": "Exec", "config": {}}),
            ValueError,
            "class name",
        ),
        (lambda: schedules.LearningRateSchedule()(0), NotImplementedError, "implements __call__"),
    ],
)
def test_bad_arguments_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
