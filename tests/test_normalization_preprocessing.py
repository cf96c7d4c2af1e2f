"""Keras's Normalization preprocessing layer: adapt against NumPy's mean and variance (arrays,
PyDatasets and generators alike), given statistics, invert, its gradient, that fit leaves its
statistics alone, saving, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm.layers import LSTM, Dense, Input, Normalization
from fastlstm.models import Sequential, load_model
from fastlstm.utils import PyDataset


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((40, 6, 3)) * [1.0, 10.0, 0.1] + [5.0, -3.0, 0.0]


class _Batches(PyDataset):
    def __init__(self, x, size):
        super().__init__()
        self.x, self.size = x, size

    def __len__(self):
        return (len(self.x) + self.size - 1) // self.size

    def __getitem__(self, i):
        part = self.x[i * self.size : (i + 1) * self.size]
        return part, np.zeros(len(part))


def test_adapt_learns_each_features_mean_and_variance():
    x = _data()
    layer = Normalization(dtype="float64")
    layer.adapt(x)
    rows = x.reshape(-1, 3)
    np.testing.assert_allclose(layer.mean, rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.variance, rows.var(axis=0), rtol=1e-9)
    y = layer(x)
    np.testing.assert_allclose(y, (x - rows.mean(axis=0)) / rows.std(axis=0), rtol=1e-9)
    for dataset in (_Batches(x, 7), (b for b in np.array_split(x, 5))):
        other = Normalization(dtype="float64")
        other.adapt(dataset)
        np.testing.assert_allclose(other.mean, layer.mean, rtol=1e-12)
        np.testing.assert_allclose(other.variance, layer.variance, rtol=1e-9)
    first = Normalization(dtype="float64")
    first.adapt(_Batches(x, 7), steps=2)  # the first 14 samples alone
    np.testing.assert_allclose(first.mean, x[:14].reshape(-1, 3).mean(axis=0), rtol=1e-12)


def test_given_statistics_invert_and_the_gradient():
    x = _data()
    layer = Normalization(mean=[1.0, 2.0, 3.0], variance=4.0, dtype="float64")
    y, cache = layer.forward(x)
    np.testing.assert_allclose(y, (x - [1.0, 2.0, 3.0]) / 2.0, rtol=1e-12)
    dy = np.ones_like(y)
    np.testing.assert_allclose(layer.backward(cache, dy), dy / 2.0)
    back = Normalization(mean=[1.0, 2.0, 3.0], variance=4.0, invert=True, dtype="float64")
    np.testing.assert_allclose(back(y), x, rtol=1e-12)
    flat = Normalization(mean=0.0, variance=0.0, dtype="float64")
    np.testing.assert_allclose(flat(np.ones((1, 3))), 1e7)  # divided by epsilon, not by 0
    plain = Normalization()
    np.testing.assert_array_equal(plain(np.ones((2, 3), np.float32)), np.ones((2, 3)))


def test_fit_leaves_the_statistics_alone_and_a_file_keeps_them(tmp_path):
    x = _data().astype(np.float32)
    y = x[:, :, :1].mean(axis=1)
    norm = Normalization()
    norm.adapt(x)
    model = Sequential([Input((6, 3)), norm, LSTM(4), Dense(1)], seed=0)
    model.compile("adam", "mse")
    before = [w.copy() for w in norm.get_weights()]
    model.fit(x, y, epochs=2, verbose=0)
    for got, want in zip(norm.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    assert len(model.non_trainable_weights) == 3  # mean, variance, count
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.layers[0].mean, norm.mean)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    given = Normalization(mean=[0.5], variance=[2.0], invert=True)
    assert Normalization.from_config(given.get_config()).get_config() == given.get_config()


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: Normalization(axis=1), ValueError, "axis: expected -1"),
        (lambda: Normalization(mean=1.0), ValueError, "mean, variance: expected both"),
        (lambda: Normalization(mean=0.0, variance=-1.0), ValueError, "variance: expected"),
        (lambda: Normalization(mean=[1.0, 2.0], variance=1.0)(np.ones((2, 3))), ValueError, "mean"),
        (lambda: Normalization().adapt(np.ones((4, 2)) * np.nan), ValueError, "data: expected fin"),
        (lambda: Normalization().adapt(iter([])), ValueError, "data: expected at least one"),
        (lambda: Normalization(invert="yes"), TypeError, "invert"),
    ],
)
def test_bad_arguments_are_named(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_adapting_to_other_features_is_named():
    layer = Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"data: expected arrays \(batch, \.\.\., 3\)"):
        layer.adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"x: expected an array \(batch, \.\.\., 3\)"):
        layer(np.ones((4, 2)))


def test_the_weights_are_keras_3s():
    # Keras 3: a layer that adapts has mean, variance and a scalar count (7 parameters for 3
    # features); one given its statistics has no weights. Else set_weights(keras_model's) fails.
    x = _data()
    learnt = Normalization()
    learnt.adapt(x)
    mean, variance, count = learnt.get_weights()
    assert (mean.shape, variance.shape, count.shape) == ((3,), (3,), ())
    assert count == x.shape[0] * x.shape[1]  # every position counted
    model = Sequential([Input((6, 3)), learnt, LSTM(4), Dense(1)])
    assert model.layers[0].count_params() == 7
    keras_like = [mean + 1, variance * 2, np.int64(0)]  # Keras's count: an int, 0
    learnt.set_weights(keras_like)
    np.testing.assert_allclose(learnt.mean, mean + 1)
    np.testing.assert_allclose(learnt(x[:1]), (x[:1] - mean - 1) / np.sqrt(variance * 2), rtol=1e-5)
    given = Normalization(mean=[1.0, 2.0, 3.0], variance=4.0)
    model = Sequential([Input((6, 3)), given, LSTM(4), Dense(1)])
    assert given.get_weights() == []
    assert given.count_params() == 0
    assert len(model.get_weights()) == 5  # the LSTM's and the Dense's
    np.testing.assert_array_equal(given.variance, np.full(3, 4.0, np.float32))
    with pytest.raises(ValueError, match=r"^adapt: the layer 'normalization.*' was given its mean"):
        given.adapt(x)


def test_a_given_layer_keeps_its_statistics_through_a_file(tmp_path):
    x = _data().astype(np.float32)
    model = Sequential(
        [Input((6, 3)), Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 9.0]), LSTM(4)],
        seed=0,
    )
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(again.layers[0].mean, [1.0, 2.0, 3.0])
