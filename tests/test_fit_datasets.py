"""fit, evaluate and predict on datasets that make their own batches (utils.PyDataset,
generators) against the same batches given as arrays; timeseries_dataset_from_array's windows
against a loop; bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastlstm import utils
from fastlstm._batches import DatasetBatches
from fastlstm.layers import LSTM, Dense, Input
from fastlstm.models import Sequential

RNG = np.random.default_rng(0)
N, T, I, BATCH = 24, 5, 3, 8
X = RNG.standard_normal((N, T, I))
Y = RNG.standard_normal((N, 1))
W = RNG.uniform(0.5, 2, N)


def model(seed=0):
    # seeded shuffles too (the model's seed): fit's batch order is the same every run
    m = Sequential([LSTM(4, seed=seed), Dense(1, seed=seed + 1)], seed=seed)
    m.compile("adam", "mse", metrics=["mae"])
    return m


class Negative(utils.PyDataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return -1  # noqa: PLE0303 (the bad input under test)

    def __getitem__(self, i):
        return self.x, self.y


class Batches(utils.PyDataset):
    """The arrays in batches of BATCH rows, counting the calls."""

    def __init__(self, x, y=None, w=None, batch=BATCH):
        super().__init__()
        self.x, self.y, self.w, self.batch = x, y, w, batch
        self.seen, self.epochs, self.begun = [], 0, 0

    def __len__(self):
        return math.ceil(len(self.x) / self.batch)

    def __getitem__(self, i):
        self.seen.append(i)
        sl = slice(i * self.batch, (i + 1) * self.batch)
        if self.y is None:
            return self.x[sl]
        if self.w is None:
            return self.x[sl], self.y[sl]
        return self.x[sl], self.y[sl], self.w[sl]

    def on_epoch_begin(self):
        self.begun += 1

    def on_epoch_end(self):
        self.epochs += 1


def generator(epochs, with_weights=False):
    for _ in range(epochs):
        for k in range(0, N, BATCH):
            sl = slice(k, k + BATCH)
            yield (X[sl], Y[sl], W[sl]) if with_weights else (X[sl], Y[sl])


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_pydataset_trains_as_the_same_batches_of_arrays():
    arrays, dataset = model(), model()
    h1 = arrays.fit(X, Y, batch_size=BATCH, epochs=3, shuffle=False, sample_weight=W, verbose=0)
    data = Batches(X, Y, W)
    h2 = dataset.fit(data, epochs=3, shuffle=False, verbose=0)
    assert_same_weights(arrays, dataset)
    assert h1.history == h2.history
    assert data.epochs == 3  # on_epoch_end after each epoch
    assert data.seen == [0] + [0, 1, 2] * 3  # the first batch (to build from), then in order


def test_pydataset_batches_come_in_a_new_order_each_epoch_with_shuffle():
    data = Batches(X, Y, batch=4)  # 6 batches
    model().fit(data, epochs=3, verbose=0)
    epochs = [data.seen[1 + 6 * e : 1 + 6 * (e + 1)] for e in range(3)]
    assert all(sorted(e) == list(range(6)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1


def test_fewer_steps_per_epoch_than_batches_go_on_through_the_dataset():
    data = Batches(X, Y, batch=4)  # 6 batches
    model().fit(data, epochs=4, steps_per_epoch=4, shuffle=False, verbose=0)
    assert data.seen == [0] + [0, 1, 2, 3, 4, 5] * 2 + [0, 1, 2, 3]  # Keras: where it stopped
    assert (data.begun, data.epochs) == (4, 4)  # Keras: the hooks at every epoch of fit
    shuffled = Batches(X, Y, batch=4)
    model().fit(shuffled, epochs=3, steps_per_epoch=4, verbose=0)
    passes = [shuffled.seen[1:7], shuffled.seen[7:13]]
    assert all(sorted(p) == list(range(6)) for p in passes)


def test_generator_with_steps_per_epoch_trains_as_arrays():
    arrays, gen = model(), model()
    arrays.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, sample_weight=W, verbose=0)
    gen.fit(generator(2, with_weights=True), steps_per_epoch=N // BATCH, epochs=2, verbose=0)
    assert_same_weights(arrays, gen)


def test_list_batches_are_read_as_tuples():
    arrays, lists = model(), model()
    arrays.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0)
    lists.fit(iter([list(b) for b in generator(1)]), shuffle=False, verbose=0)
    assert_same_weights(arrays, lists)


def test_generator_without_steps_is_one_epoch_then_runs_out():
    arrays, gen = model(), model()
    arrays.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    with pytest.warns(RuntimeWarning, match="x: the iterator ran out of data after 0 of 3"):
        history = gen.fit(generator(1), epochs=3, verbose=0)
    assert_same_weights(arrays, gen)
    assert len(history.history["loss"]) == 1


def test_generator_running_out_mid_epoch_ends_training_with_that_epoch():
    gen = model()
    with pytest.warns(RuntimeWarning, match="after 1 of 2 batches"):
        history = gen.fit(generator(1), steps_per_epoch=2, epochs=5, verbose=0)
    assert len(history.history["loss"]) == 2  # 2 batches, then 1: that epoch is logged


def test_validation_evaluate_and_predict_take_datasets():
    m = model()
    history = m.fit(X, Y, batch_size=BATCH, shuffle=False, validation_data=Batches(X, Y), verbose=0)
    expected = m.evaluate(X, Y, batch_size=BATCH, verbose=0)
    assert m.evaluate(Batches(X, Y), verbose=0) == expected
    assert m.evaluate(generator(1), verbose=0) == expected
    h = model().fit(
        X,
        Y,
        batch_size=BATCH,
        shuffle=False,
        validation_data=generator(2),
        validation_steps=3,
        verbose=0,
    )
    assert h.history["val_loss"] == history.history["val_loss"]
    again = model()
    h = again.fit(X, Y, batch_size=BATCH, shuffle=False, validation_data=(X, Y), verbose=0)
    assert h.history["val_loss"] == history.history["val_loss"]
    expected_y = m.predict(X, batch_size=BATCH, verbose=0)
    np.testing.assert_array_equal(m.predict(Batches(X), verbose=0), expected_y)  # x alone
    np.testing.assert_array_equal(m.predict(Batches(X, Y), verbose=0), expected_y)  # y ignored
    np.testing.assert_array_equal(m.predict(iter([X[:10], X[10:]]), verbose=0), expected_y)
    np.testing.assert_array_equal(m.predict(Batches(X), steps=2, verbose=0), expected_y[:16])


def test_a_validation_iterator_that_runs_out_stops_fit_with_an_error():
    m = model()
    with (
        pytest.warns(RuntimeWarning, match="validation_data: the iterator ran out"),
        pytest.raises(ValueError, match="validation_data: the iterator has no batches left"),
    ):
        m.fit(X, Y, epochs=2, validation_data=generator(1), validation_steps=3, verbose=0)
    assert len(m.history.history["val_loss"]) == 1  # the first epoch's, kept


def test_a_declared_batch_size_holds_for_dataset_batches():
    m = Sequential([Input(batch_shape=(4, T, I)), LSTM(3, stateful=True), Dense(1)])
    m.compile("sgd", "mse")
    m.fit(Batches(X, Y, batch=4), epochs=1, verbose=0)
    match = r"x: expected batches of 4 rows \(the batch size the model's input declares\), got"
    for call in (
        lambda: m.fit(Batches(X, Y, batch=6), verbose=0),
        lambda: m.evaluate(Batches(X, Y, batch=6), verbose=0),
        lambda: m.predict(Batches(X, batch=6), verbose=0),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_class_weight_applies_to_dataset_batches():
    labels = (Y > 0).astype(float)
    arrays, dataset = model(), model()
    weights = {0: 0.5, 1: 2.0}
    arrays.fit(X, labels, batch_size=BATCH, shuffle=False, class_weight=weights, verbose=0)
    dataset.fit(Batches(X, labels), shuffle=False, class_weight=weights, verbose=0)
    assert_same_weights(arrays, dataset)


def test_progress_of_an_iterator_of_unknown_length(capsys):
    model().fit(generator(1), epochs=1, verbose=2)
    assert "3/Unknown" in capsys.readouterr().out
    m = model()
    with pytest.warns(RuntimeWarning, match=r"x: the iterator ran out of data after 3 of 5"):
        assert len(m.predict(generator(1), steps=5, verbose=2)) == N
    assert "3/5" in capsys.readouterr().out  # the batches it ran
    model().fit(Batches(X, Y), epochs=1, verbose=2)
    assert "3/3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda m: m.fit(Batches(X, Y), Y), ValueError, "y: expected None when x is a dataset"),
        (lambda m: m.fit(Batches(X, Y), batch_size=4), ValueError, "batch_size: expected None"),
        (lambda m: m.fit(Batches(X, Y), sample_weight=W), ValueError, "sample_weight: expected"),
        (lambda m: m.fit(Batches(X, Y), validation_split=0.2), ValueError, "validation_split"),
        (lambda m: m.fit(X, Y, steps_per_epoch=2), ValueError, "steps_per_epoch: expected None"),
        (lambda m: m.fit(Batches(X, Y), steps_per_epoch=0), ValueError, "steps_per_epoch: exp"),
        (lambda m: m.fit(Batches(X)), ValueError, r"x: expected batches \(x, y\)"),
        (lambda m: m.fit(iter([(X, Y, W, W)])), ValueError, "got a tuple of 4"),
        (lambda m: m.fit(iter([(X,)])), ValueError, r"got a tuple \(x,\)"),
        (lambda m: m.fit(iter([])), ValueError, "x: expected at least one batch"),
        (lambda m: m.fit(Batches(X[:0], Y[:0])), ValueError, "at least one batch, got none"),
        (  # had been Python's own "__len__() should return >= 0", naming nothing
            lambda m: m.fit(Negative(X, Y)),
            ValueError,
            r"x: len\(\) of the dataset failed: __len__\(\) should return >= 0",
        ),
        (lambda m: m.fit(iter([(X, Y[:3])])), ValueError, "x, y: expected the same number"),
        (lambda m: m.evaluate(Batches(X, Y), batch_size=4), ValueError, "batch_size: expected"),
        (
            lambda m: m.fit(X, Y, validation_data=generator(1)),
            ValueError,
            "validation_steps: expected the batches",
        ),
        (lambda m: utils.PyDataset()[0], NotImplementedError, "implements __getitem__"),
    ],
)
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call(model())


def test_timeseries_windows_match_a_loop():
    data = np.arange(60.0).reshape(30, 2)
    targets = np.arange(30) * 10
    ds = utils.timeseries_dataset_from_array(
        data,
        targets,
        4,
        sequence_stride=3,
        sampling_rate=2,
        batch_size=2,
        start_index=1,
        end_index=25,
    )
    starts = list(range(1, 25 - 7 + 1, 3))  # a window covers (4 - 1) * 2 + 1 = 7 rows
    windows = np.stack([data[s : s + 7 : 2] for s in starts])
    x = np.concatenate([ds[i][0] for i in range(len(ds))])
    y = np.concatenate([ds[i][1] for i in range(len(ds))])
    np.testing.assert_array_equal(x, windows)
    np.testing.assert_array_equal(y, targets[starts])
    assert len(ds) == -(-len(starts) // 2)
    shuffled = utils.timeseries_dataset_from_array(data, None, 4, shuffle=True, seed=3)
    again = utils.timeseries_dataset_from_array(data, None, 4, shuffle=True, seed=3)
    np.testing.assert_array_equal(shuffled[0], again[0])
    rows = shuffled[0][:, 0, 0] / 2  # each window's first row
    assert sorted(rows) == list(range(27))
    assert list(rows) != list(range(27))


def test_timeseries_targets_shorter_than_data_end_the_windows():
    # Keras's: (data, data[10:]) pairs each window with the row 10 after its start, for as
    # many windows as have a target
    data = np.arange(40.0)[:, None]
    ds = utils.timeseries_dataset_from_array(data, data[10:, 0], 5, sequence_stride=2)
    x = np.concatenate([ds[i][0] for i in range(len(ds))])
    y = np.concatenate([ds[i][1] for i in range(len(ds))])
    starts = list(range(0, 30, 2))  # windows start at rows 0..35; targets reach row 29
    np.testing.assert_array_equal(x[:, 0, 0], starts)
    np.testing.assert_array_equal(y, np.array(starts) + 10.0)


def test_timeseries_without_a_batch_size_gives_single_windows():
    # Keras's batch_size=None: the windows one by one, without a batch axis
    data = np.arange(60.0).reshape(30, 2)
    targets = np.arange(30) * 10
    args = {"sequence_stride": 3, "sampling_rate": 2, "start_index": 1}
    single = utils.timeseries_dataset_from_array(data, targets, 4, batch_size=None, **args)
    batched = utils.timeseries_dataset_from_array(data, targets, 4, batch_size=3, **args)
    pairs = list(single)  # iterable, as Keras's dataset
    assert len(pairs) == len(single) == 8
    assert pairs[0][0].shape == (4, 2)
    assert np.ndim(pairs[0][1]) == 0
    x = np.concatenate([batched[i][0] for i in range(len(batched))])
    y = np.concatenate([batched[i][1] for i in range(len(batched))])
    np.testing.assert_array_equal(np.stack([p[0] for p in pairs]), x)
    np.testing.assert_array_equal([p[1] for p in pairs], y)
    shuffled = utils.timeseries_dataset_from_array(
        data, None, 4, batch_size=None, shuffle=True, seed=1
    )
    firsts = sorted(float(w[0, 0]) for w in shuffled)
    np.testing.assert_array_equal(firsts, np.arange(27) * 2.0)
    with pytest.raises(ValueError, match=r"x: expected a dataset of batches.*batch_size=None"):
        model().fit(single, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="index: expected an integer"):
        single[1.0]


def test_fit_keeps_a_time_series_windows_in_order():
    # Keras's timeseries dataset is a tf.data dataset, which fit does not shuffle: a stateful
    # model carries its state from each window to the next.
    series = np.arange(100.0)[:, None]
    ds = utils.timeseries_dataset_from_array(series, series[:, 0], 5, sequence_stride=5)
    ds.batch_size = 4  # 5 batches of 4 windows
    batches = DatasetBatches(ds, "x")
    rng = np.random.default_rng(0)  # fit's shuffle=True gives its generator
    for _ in range(2):
        starts = [x[:, 0, 0] for x, _, _ in batches.epoch(rng)]
        np.testing.assert_array_equal(np.concatenate(starts), np.arange(0, 100, 5))
    shuffled = DatasetBatches(Batches(X, Y, batch=4), "x")  # a PyDataset of one's own is
    orders = [[float(x[0, 0, 0]) for x, _, _ in shuffled.epoch(rng)] for _ in range(3)]
    assert len({tuple(o) for o in orders}) > 1


def test_timeseries_dataset_trains_a_forecaster():
    series = np.sin(np.arange(200) / 5.0)[:, None]
    ds = utils.timeseries_dataset_from_array(series[:-10], series[10:], 10, batch_size=32)
    m = model()
    history = m.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert m.predict(ds, verbose=0).shape == (181, 1)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"sequence_length": 0}, ValueError, "sequence_length: expected a positive integer, got 0"),
        ({"sequence_length": 40}, ValueError, "a window covers 40 rows"),
        ({"sampling_rate": 1.5}, TypeError, "sampling_rate: expected a positive integer, got 1.5"),
        (
            {"targets": np.zeros(5), "start_index": 10},
            ValueError,
            r"targets: expected a target for the first window \(row 10\), got 5 rows",
        ),
        ({"targets": np.float32(1)}, ValueError, "targets: expected one row per window start"),
        ({"data": "abc"}, TypeError, "data"),
        ({"start_index": 20, "end_index": 10}, ValueError, "start_index: expected a row before"),
        ({"start_index": 40}, ValueError, r"start_index: .*end of data \(30\), got 40"),
    ],
)
def test_timeseries_bad_arguments_are_named(kwargs, exc, match):
    args = {"data": np.zeros((30, 2)), "targets": None, "sequence_length": 4, **kwargs}
    with pytest.raises(exc, match=match):
        utils.timeseries_dataset_from_array(**args)


def test_steps_with_arrays_take_their_first_batches():
    """Keras's steps= and validation_steps= with arrays take the first batches; they were
    accepted and ignored (every sample counted)."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((12, 4, 2)), rng.standard_normal((12, 1))

    def model():
        m = Sequential([Input((4, 2)), LSTM(3), Dense(1)], seed=0)
        m.compile("sgd", "mse")
        return m

    m = model()
    assert m.evaluate(x, y, batch_size=4, steps=2, verbose=0) == m.evaluate(
        x[:8], y[:8], batch_size=4, verbose=0
    )
    np.testing.assert_array_equal(
        m.predict(x, batch_size=4, steps=1, verbose=0), m.predict(x[:4], verbose=0)
    )
    assert m.predict(x, batch_size=4, steps=9, verbose=0).shape == (12, 1)  # fewer there
    a, b = model(), model()
    ha = a.fit(x, y, batch_size=4, verbose=0, shuffle=False, validation_data=(x, y),
               validation_steps=1)  # fmt: skip
    hb = b.fit(x, y, batch_size=4, verbose=0, shuffle=False, validation_data=(x[:4], y[:4]))
    assert ha.history["val_loss"] == hb.history["val_loss"]
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="steps: expected a positive integer or None"):
            a.evaluate(x, y, steps=bad, verbose=0)
        with pytest.raises(error, match="validation_steps: expected a positive integer or None"):
            a.fit(x, y, verbose=0, validation_data=(x, y), validation_steps=bad)


class Endless(utils.PyDataset):
    """``length`` batches, each the first batch of X: a synthetic dataset as Keras users make."""

    def __init__(self, length):
        super().__init__()
        self.length, self.taken = length, []

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        self.taken.append(i)
        return X[:BATCH], Y[:BATCH]


def test_a_dataset_of_very_many_batches_costs_only_the_steps_taken():
    import tracemalloc

    data = Endless(10**7)
    tracemalloc.start()
    try:
        model().fit(data, steps_per_epoch=2, epochs=2, shuffle=False, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.taken[-4:] == [0, 1, 2, 3]  # in order, the next epoch going on from the last
    assert peak < 20 << 20  # a list of the pass's order had been made: 2.3 GB for 5e7 batches
    huge = Endless(2**62)  # NumPy refuses its permutation's size outright: nothing allocated
    with pytest.raises(MemoryError, match=r"^x: cannot shuffle the order of its 4,611,686,018,"):
        model().fit(huge, steps_per_epoch=2, shuffle=True, verbose=0)
    model().fit(huge, steps_per_epoch=2, shuffle=False, verbose=0)
    assert huge.taken[-2:] == [0, 1]


def test_a_dataset_whose_len_is_not_an_integer_is_named():
    data = Endless(2.5)
    with pytest.raises(TypeError, match=r"^x: len\(\) of the dataset failed: .*float"):
        model().fit(data, verbose=0)
