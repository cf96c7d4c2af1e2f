"""Keras 3's custom metrics with state from add_weight: the variables, reset_state's zeros, a
model's logs of a result that is a variable or an array, and copies that keep their state apart.
The classes are at module level, as a pickle needs."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from fastlstm import metrics
from fastlstm.layers import LSTM, Dense, Input
from fastlstm.models import Sequential

RNG = np.random.default_rng(3)
X = RNG.standard_normal((24, 4, 2))
Y = RNG.standard_normal((24, 1))
X_VAL, Y_VAL = RNG.standard_normal((10, 4, 2)), RNG.standard_normal((10, 1))


class Count(metrics.Metric):
    """The port from the review: how many samples it has seen."""

    def __init__(self, name="count", **kw):
        super().__init__(name=name, **kw)
        self.n = self.add_weight(name="n", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.n.assign_add(len(y_true))

    def result(self):
        return self.n


class PlainCount(metrics.Metric):
    """The same with its state in a plain attribute and no reset_state: Keras does not reset
    it, and neither does fastlstm."""

    def __init__(self, name="plain_count"):
        super().__init__(name=name)
        self.n = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.n += len(y_true)

    def result(self):
        return self.n


class PlainSums(metrics.Metric):
    """Plain attributes named as the base's running sums, with a result() of its own: the
    base's reset_state zeroes them (fastlstm's base has always kept its sums there)."""

    def __init__(self, name="plain_sums"):
        super().__init__(name=name)
        self.total, self.count = 0.0, 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total += float(len(y_true))
        self.count = 1.0

    def result(self):
        return self.total / self.count


class MeanAbsolute(metrics.Metric):
    """Keras's Mean, written as a user would: two variables; result() an array."""

    def __init__(self, name="mean_absolute"):
        super().__init__(name=name)
        self.total = self.add_weight(name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = np.abs(np.asarray(y_true) - np.asarray(y_pred)).mean(axis=-1)
        w = np.ones_like(values) if sample_weight is None else np.asarray(sample_weight, float)
        self.total.assign_add(np.sum(values * w))
        self.count.assign_add(np.sum(w))

    def result(self):
        return self.total / self.count


class Pair(metrics.Metric):
    """Holds two metrics, as a Keras F1 holds a Precision and a Recall; no reset_state."""

    def __init__(self, name="pair"):
        super().__init__(name=name)
        self.seen = Count()
        self.error = metrics.MeanAbsoluteError()

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.seen.update_state(y_true, y_pred)
        self.error.update_state(y_true, y_pred)

    def result(self):
        return float(self.seen.result()) + self.error.result()


def regressor(*compiled) -> Sequential:
    model = Sequential([Input((4, 2)), LSTM(3, dtype="float64"), Dense(1, dtype="float64")], seed=0)
    model.compile("sgd", "mse", metrics=list(compiled))
    return model


def test_a_count_from_add_weight_is_per_epoch_in_fit_and_its_own_in_evaluate():
    model = regressor(Count())
    history = model.fit(
        X, Y, batch_size=8, epochs=2, validation_data=(X_VAL, Y_VAL), verbose=0
    ).history
    assert history["count"] == [24.0, 24.0]
    assert history["val_count"] == [10.0, 10.0]
    assert all(type(v) is float for v in history["count"] + history["val_count"])
    _, count = model.evaluate(X[:7], Y[:7], batch_size=3, verbose=0)
    assert count == 7.0
    assert float(model.metrics[0].n) == 24.0  # evaluate counted in copies of its own
    logs = model.train_on_batch(X[:5], Y[:5], return_dict=True)
    assert logs["count"] == 5.0
    assert model.test_on_batch(X[:3], Y[:3], return_dict=True)["count"] == 3.0


def test_state_in_plain_attributes_runs_on_as_in_keras():
    """Keras's reset_state zeroes only the variables, so such a metric counts on across epochs
    there too; fastlstm does the same (a reset_state of its own is the port's fix)."""
    model = regressor(PlainCount(), PlainSums())
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0).history
    assert history["plain_count"] == [24.0, 48.0]
    assert history["plain_sums"] == [24.0, 24.0]  # the base's own names are reset


def test_the_base_running_sums_are_still_reset_where_the_base_reads_them():
    """An update_state adding into the base's total and count, read by the base's result()."""

    class Hits(metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total += float(len(y_true))
            self.count += float(len(y_true))

    model = regressor(Hits(name="hits"))
    assert model.fit(X, Y, batch_size=8, epochs=2, verbose=0).history["hits"] == [1.0, 1.0]


def test_a_mean_of_two_variables_equals_the_built_in_mean():
    ours, theirs = MeanAbsolute(), metrics.Mean()
    for n in (3, 5, 1):
        yt, yp, w = RNG.standard_normal((n, 2)), RNG.standard_normal((n, 2)), RNG.random(n)
        ours.update_state(yt, yp, sample_weight=w)
        for value, weight in zip(np.abs(yt - yp).mean(-1), w):
            theirs.update_state(value, weight)
    assert float(ours.result()) == pytest.approx(theirs.result(), rel=1e-12)
    assert [v.name for v in ours.variables] == ["total", "count"]
    # and in a model, against the built-in mean absolute error of the same predictions
    model = regressor(MeanAbsolute(), metrics.MeanAbsoluteError(name="mae"))
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0).history
    np.testing.assert_allclose(history["mean_absolute"], history["mae"], rtol=1e-12)
    logs = model.evaluate(X, Y, batch_size=5, verbose=0, return_dict=True)
    assert logs["mean_absolute"] == pytest.approx(logs["mae"], rel=1e-12)


def test_reset_state_zeroes_the_variables_whatever_their_initializer():
    """Keras 3's reset_state assigns zeros, not the initializer's values."""
    m = metrics.Metric()
    made = [
        m.add_weight(initializer="ones"),
        m.add_weight(shape=(2, 3), initializer="zeros"),
        m.add_weight(shape=[2], initializer=2.5),
        m.add_weight(shape=(2,), initializer=lambda shape, dtype=None: np.arange(2.0)),
        m.add_weight((), "Ones", None, "positional"),
        m.add_variable((1,), "one", aggregation="mean"),
    ]
    assert [float(np.sum(v)) for v in made] == [1.0, 0.0, 5.0, 1.0, 1.0, 1.0]
    assert [v.shape for v in made] == [(), (2, 3), (2,), (2,), (), (1,)]
    assert m.variables == made
    m.reset_state()
    assert all(np.all(np.asarray(v) == 0) for v in made)


def test_a_variable_behaves_as_keras_3s():
    v = metrics.Metric().add_weight(name="v", shape=(2,))
    before = np.asarray(v)
    v.assign([1.0, 2.0])
    v.assign_add(3)  # broadcast onto the shape, as Keras's v.assign(v + value)
    v.assign_sub(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(before, [0.0, 0.0])  # read before: kept as it was
    np.testing.assert_array_equal(v.value, [3.0, 4.0])
    out = v.numpy()
    out[0] = 9  # a copy
    assert (v[0], len(v), v.shape, v.dtype) == (3.0, 2, (2,), "float64")
    np.testing.assert_array_equal(v / 2, [1.5, 2.0])
    np.testing.assert_array_equal(10 - v, [7.0, 6.0])
    np.testing.assert_array_equal(v * v, [9.0, 16.0])
    np.testing.assert_array_equal(v > 3, [False, True])
    np.testing.assert_array_equal(np.sqrt(v), np.sqrt([3.0, 4.0]))
    with pytest.raises(ValueError, match="read-only"):
        v.value[0] = 1.0  # only assign changes it
    s = metrics.Metric().add_weight(name="s", initializer=4)
    assert (float(s), bool(s), f"{s:.1f}", -s) == (4.0, True, "4.0", -4.0)
    assert {s: 1}[s] == 1  # hashed by identity, as a dict key of the variables


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda m: m.add_weight(initializer="glorot"), ValueError, "initializer: expected one of"),
        (lambda m: m.add_weight(initializer=[0.0]), TypeError, r"initializer: .* got \[0.0\]"),
        (
            lambda m: m.add_weight(shape=(3,), initializer=lambda shape, dtype=None: 0.0),
            ValueError,
            r"initializer: expected an array of shape \(3,\) .* got shape \(\)",
        ),
        (lambda m: m.add_weight("n"), TypeError, "shape: expected a tuple of sizes .* name"),
        (lambda m: m.add_weight(shape=3), TypeError, "shape: expected a tuple of sizes, got 3"),
        (lambda m: m.add_weight(shape=(-1,)), ValueError, "shape: expected a non-negative"),
        (lambda m: m.add_weight(name=7), TypeError, "name: expected a str or None, got 7"),
        (lambda m: m.add_weight().assign([1.0]), ValueError, r"value: expected shape \(\)"),
        (lambda m: m.add_weight().assign_add("1"), TypeError, "value: expected an array of real"),
        (lambda m: float(m.add_weight(shape=(2,))), TypeError, r"float\(\): expected a var"),
    ],
)
def test_bad_variables_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call(metrics.Metric())


def test_add_weight_before_super_init_says_so():
    class Early(metrics.Metric):
        def __init__(self):
            self.n = self.add_weight()
            super().__init__()

    with pytest.raises(RuntimeError, match=r"Early.add_weight: call super\(\).__init__\(\) first"):
        Early()


def test_held_metrics_are_reset_and_their_variables_listed():
    pair = Pair()
    pair.update_state(np.zeros((3, 1)), np.ones((3, 1)))
    assert pair.result() == 4.0
    assert pair.variables == [pair.seen.n]
    pair.reset_state()
    assert pair.result() == 0.0


def test_copies_keep_their_variables_apart():
    m = Count()
    m.update_state(np.zeros(4), np.zeros(4))
    clone = copy.deepcopy(m)
    assert clone.variables == [clone.n]
    assert clone.n is not m.n
    m.n.assign_add(1)
    clone.n.assign_add(10)
    assert (float(m.n), float(clone.n)) == (5.0, 14.0)
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(clone.n)[()] = 0.0  # a copy's value is read-only too

    model = regressor(Count(), MeanAbsolute())
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    copies = [copy.deepcopy(model), pickle.loads(pickle.dumps(model))]
    for other in copies:
        theirs = other.metrics[0]
        assert theirs is not model.metrics[0]
        assert theirs.n is not model.metrics[0].n
        assert theirs.variables == [theirs.n]
        assert float(theirs.n) == 24.0
    copies[0].metrics[0].n.assign_add(100)
    assert (float(model.metrics[0].n), float(copies[1].metrics[0].n)) == (24.0, 24.0)
    history = copies[1].fit(X[:16], Y[:16], batch_size=8, epochs=1, verbose=0).history
    assert history["count"] == [16.0]
    assert (float(model.metrics[0].n), float(copies[0].metrics[0].n)) == (24.0, 124.0)
    np.testing.assert_allclose(
        copies[0].evaluate(X, Y, verbose=0), model.evaluate(X, Y, verbose=0), rtol=1e-12
    )


@pytest.mark.parametrize(
    "result", [np.float32(0.5), np.array(0.5), np.array([0.5]), 0.5, 1], ids=repr
)
def test_a_result_of_one_number_is_logged_as_a_float(result):
    class Fixed(metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            pass

        def result(self):
            return result

    logs = regressor(Fixed(name="fixed")).evaluate(X, Y, verbose=0, return_dict=True)
    assert type(logs["fixed"]) is float
    assert logs["fixed"] == float(np.asarray(result).ravel()[0])


def test_a_result_of_a_matrix_is_refused_naming_the_metric_and_a_vector_is_logged():
    """One number, or a 1-D array (one a class, as Keras's F1Score gives), goes to the logs;
    anything else is named."""

    class Shaped(metrics.Metric):
        def __init__(self, shape, name):
            super().__init__(name=name)
            self.shape = shape

        def update_state(self, y_true, y_pred, sample_weight=None):
            pass

        def result(self):
            return np.arange(np.prod(self.shape), dtype=float).reshape(self.shape)

    with pytest.raises(TypeError, match=r"metric 'two': expected result\(\) to give one number"):
        regressor(Shaped((2, 2), name="two")).evaluate(X, Y, verbose=0)
    logs = regressor(Shaped((3,), name="three")).evaluate(X, Y, verbose=0, return_dict=True)
    np.testing.assert_array_equal(logs["three"], [0.0, 1.0, 2.0])
