"""Idioms of Keras scripts for the product's applications (text, speech, forecasting, anomaly
detection, recommendation) that must run as Keras runs them: callbacks' mode="auto", Keras-style
custom metrics and function metrics, top-k and RMSE metrics, the progress line, targets with a
trailing axis of 1, Keras-style initialisers, RepeatVector (the LSTM autoencoder), and the model
methods such scripts call. Expected values come from NumPy computations written here."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import callbacks, initializers, losses, metrics, optimizers
from fastlstm.layers import GRU, LSTM, Dense, Embedding, Input, Layer, RepeatVector, TimeDistributed
from fastlstm.models import Sequential, load_model


def classifier(seed=0, n_items=12):
    """A session recommender: item ids (0 is padding) -> scores over the items."""
    return Sequential(
        [
            Input((6,)),
            Embedding(n_items, 8, mask_zero=True),
            GRU(16),
            Dense(n_items, activation="softmax"),
        ],
        seed=seed,
    )


def sessions(n=64, n_items=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, n_items, (n, 6))
    x[::3, 4:] = 0  # padded sessions
    return x, (x[:, 0] + 1) % n_items


# -- callbacks' mode="auto" (Keras 3's rule) ---------------------------------------------------


class AddsRecall(callbacks.Callback):
    """Puts a quantity in the epoch logs that no compiled metric names (a recall@k, say)."""

    def __init__(self, values):
        super().__init__()
        self.values = list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs["val_recall_at_10"] = self.values[epoch]


@pytest.mark.parametrize(
    "make",
    [
        lambda: callbacks.EarlyStopping("val_recall_at_10", patience=1),
        lambda: callbacks.ReduceLROnPlateau("val_recall_at_10", patience=1),
        lambda: callbacks.ModelCheckpoint("m.fastlstm", "val_recall_at_10", save_best_only=True),
    ],
)
def test_auto_mode_refuses_a_quantity_of_unknown_direction(make, tmp_path, monkeypatch):
    """Guessing "min" for any name without "acc" kept the epoch with the lowest recall as the
    best; Keras 3 asks for the mode instead."""
    monkeypatch.chdir(tmp_path)
    x, y = sessions()
    m = classifier()
    m.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"'val_recall_at_10'.*mode='max'"):
        m.fit(x, y, epochs=3, verbose=0, callbacks=[AddsRecall([0.34, 0.35, 0.34]), make()])


def test_early_stopping_restores_the_highest_recall_with_mode_max():
    x, y = sessions()
    m = classifier()
    m.compile("adam", "sparse_categorical_crossentropy")
    kept = []
    es = callbacks.EarlyStopping(
        "val_recall_at_10", patience=1, mode="max", restore_best_weights=True
    )
    snap = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: kept.append(m.get_weights()))
    history = m.fit(x, y, epochs=5, verbose=0, callbacks=[AddsRecall([0.3, 0.5, 0.4]), snap, es])
    assert len(history.epoch) == 3
    for a, b in zip(m.get_weights(), kept[1]):  # epoch 1 had the highest recall
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("metric", "monitor", "direction"),
    [
        ("sparse_top_k_categorical_accuracy", "val_sparse_top_k_categorical_accuracy", "max"),
        ("mse", "val_mse", "min"),
        ("accuracy", "val_accuracy", "max"),
        (metrics.RootMeanSquaredError(), "root_mean_squared_error", "min"),
    ],
)
def test_auto_mode_follows_the_compiled_metric(metric, monitor, direction):
    x, y = sessions()
    m = classifier()
    loss = "mse" if monitor.endswith(("mse", "error")) else "sparse_categorical_crossentropy"
    target = np.eye(12)[y] if loss == "mse" else y
    m.compile("adam", loss, metrics=[metric])
    es = callbacks.EarlyStopping(monitor, patience=5)
    m.fit(x, target, epochs=1, verbose=0, validation_split=0.25, callbacks=[es])
    assert es.mode == direction


def test_auto_mode_reads_a_custom_metric_direction():
    class Hits(metrics.Metric):
        name = "hits"
        direction = "max"

        def _values(self, y_true, y_pred):
            return (np.argmax(y_pred, -1) == y_true).astype(float)

    x, y = sessions()
    m = classifier()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=[Hits()])
    cb = callbacks.ReduceLROnPlateau("hits", patience=1)
    m.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert cb.mode == "max"


# -- custom and function metrics ---------------------------------------------------------------


class KerasStyleHits(metrics.Metric):
    """As a Keras user writes one: update_state(y_true, y_pred, sample_weight=None)."""

    name = "hits"

    def update_state(self, y_true, y_pred, sample_weight=None):
        hit = (np.argmax(y_pred, -1) == np.asarray(y_true)).astype(float)
        w = np.ones_like(hit) if sample_weight is None else np.asarray(sample_weight, float)
        self.total += float((hit * w).sum())
        self.count += float(w.sum())


def sequence_tagger():
    """Per-step labels under a padding mask: the metrics must count valid steps only."""
    return Sequential(
        [Input((6,)), Embedding(12, 8, mask_zero=True), LSTM(8, return_sequences=True), Dense(3)],
        seed=1,
    )


def test_a_keras_style_custom_metric_gets_the_mask_as_weights():
    x, _ = sessions()
    tags = x % 3
    m = sequence_tagger()
    m.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    m.compile(
        "sgd",
        losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[KerasStyleHits(), metrics.MeanMetricWrapper(lambda t, p: p.argmax(-1) == t)],
    )
    logs = m.evaluate(x, tags, batch_size=16, verbose=0, return_dict=True)
    out = m.predict(x, verbose=0)
    valid = x != 0
    expected = float(((out.argmax(-1) == tags) & valid).sum() / valid.sum())
    assert logs["hits"] == pytest.approx(expected, abs=1e-12)
    assert logs["<lambda>"] == pytest.approx(expected, abs=1e-12)


def test_a_function_metric_is_a_running_mean_named_after_it():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 5, 2))
    y = x.sum(axis=(1, 2))[:, None]

    def abs_error(y_true, y_pred):
        return np.abs(y_true - y_pred).mean(axis=-1)

    m = Sequential([Input((5, 2)), LSTM(4), Dense(1)], seed=0)
    m.compile("adam", "mse", metrics=[abs_error])
    logs = m.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    assert logs["abs_error"] == pytest.approx(float(np.abs(y - m.predict(x, verbose=0)).mean()))


def test_a_model_compiled_with_a_metric_of_code_saves_and_loads_uncompiled(tmp_path):
    """Saving raised (so did ModelCheckpoint, ending fit); Keras saves such a model, and loads it
    with compile=False."""

    def abs_error(y_true, y_pred):
        return np.abs(y_true - y_pred).mean(axis=-1)

    x = np.random.default_rng(2).standard_normal((16, 5, 2)).astype(np.float32)
    m = Sequential([Input((5, 2)), LSTM(4), Dense(1)], seed=0)
    m.compile("adam", "mse", metrics=[abs_error])
    path = tmp_path / "m.fastlstm"
    m.fit(x, x[:, 0, :1], verbose=0, callbacks=[callbacks.ModelCheckpoint(str(path))])
    with pytest.raises(ValueError, match=r"'abs_error', a metric of your own code.*compile=False"):
        load_model(path)
    again = load_model(path, compile=False)
    assert not again.compiled
    np.testing.assert_array_equal(again.predict(x, verbose=0), m.predict(x, verbose=0))
    # Keras's custom_objects gives the metric back, and training resumes with the optimizer's
    # state: one more epoch of each model ends with the same weights
    with pytest.raises(ValueError, match=r"custom_objects=\{'abs_error': \.\.\.\}"):
        load_model(path)
    resumed = load_model(path, custom_objects={"abs_error": abs_error})
    assert resumed.optimizer.iterations == m.optimizer.iterations
    logs = resumed.evaluate(x, x[:, 0, :1], verbose=0, return_dict=True)
    assert logs == m.evaluate(x, x[:, 0, :1], verbose=0, return_dict=True)
    for model in (m, resumed):
        model.fit(x, x[:, 0, :1], shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="custom_objects: expected None or a dict"):
        load_model(path, custom_objects=[abs_error])


def test_top_k_accuracies_count_ties_for_the_label():
    scores = np.array([[0.1, 0.5, 0.5, 0.3], [0.4, 0.3, 0.2, 0.1], [0.2, 0.3, 0.1, 0.4]])
    labels = np.array([2, 3, 1])
    # label 2 ties for first (in), label 3 is fourth (out at k=2), label 1 is second (in)
    sparse = metrics.SparseTopKCategoricalAccuracy(k=2)
    sparse.update_state(labels, scores)
    assert sparse.result() == pytest.approx(2 / 3)
    dense = metrics.TopKCategoricalAccuracy(k=2)
    dense.update_state(np.eye(4)[labels], scores)
    assert dense.result() == pytest.approx(2 / 3)
    rng = np.random.default_rng(3)
    scores = rng.random((200, 30))
    labels = rng.integers(0, 30, 200)
    top5 = np.argsort(-scores, axis=1)[:, :5]
    expected = np.mean([labels[i] in top5[i] for i in range(200)])
    m = metrics.get("sparse_top_k_categorical_accuracy")
    for part in np.array_split(np.arange(200), 3):
        m.update_state(labels[part], scores[part])
    assert m.result() == pytest.approx(expected)
    with pytest.raises(ValueError, match="k: expected a positive integer, got 0"):
        metrics.SparseTopKCategoricalAccuracy(k=0)


def test_rmse_is_the_root_of_the_mean_over_everything():
    rng = np.random.default_rng(4)
    y, p = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    m = metrics.get("RootMeanSquaredError")
    for part in np.array_split(np.arange(40), 6):
        m.update_state(y[part], p[part])
    assert m.result() == pytest.approx(float(np.sqrt(((y - p) ** 2).mean())))


# -- fit's progress line, targets, losses --------------------------------------------------------


def test_the_progress_line_shows_what_callbacks_add(capsys):
    x, y = sessions()
    m = classifier()
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=2, verbose=2, callbacks=[callbacks.ReduceLROnPlateau("loss")])
    lines = [l for l in capsys.readouterr().out.splitlines() if "loss" in l]
    assert len(lines) == 2, lines
    assert all("learning_rate" in l for l in lines), lines


def test_a_target_with_a_trailing_axis_of_one_is_squeezed():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((30, 8, 1))
    y = rng.standard_normal((30, 4))
    m = Sequential([Input((8, 1)), LSTM(6), Dense(4)], seed=0)
    m.compile("adam", "mse", metrics=["mae"])
    assert m.evaluate(x, y[..., None], verbose=0) == m.evaluate(x, y, verbose=0)
    expected = float(((m.predict(x, verbose=0) - y) ** 2).mean())
    assert losses.MeanSquaredError()(y[..., None], m.predict(x, verbose=0)) == pytest.approx(
        expected
    )


def test_reduction_none_is_keras_3s_spelling():
    y, p = np.array([[1.0, 2.0], [3.0, 5.0]]), np.zeros((2, 2))
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(y, p), [2.5, 17.0])


# -- initialisers ----------------------------------------------------------------------------


def test_a_keras_style_initializer_is_called_with_shape_and_dtype():
    seen = []

    def constant(shape, dtype=None):
        seen.append((tuple(shape), np.dtype(dtype)))
        return np.full(shape, 0.25)

    layer = Dense(3, kernel_initializer=constant, bias_initializer=lambda s, dtype=None: np.ones(s))
    layer.build((None, 4))
    np.testing.assert_array_equal(layer.kernel, np.full((4, 3), 0.25, np.float32))
    np.testing.assert_array_equal(layer.bias, np.ones(3, np.float32))
    assert seen == [((4, 3), np.dtype(np.float32))]


@pytest.mark.parametrize(
    ("name", "std", "bound"),
    [
        ("he_normal", np.sqrt(2 / 400), 2 * np.sqrt(2 / 400) / 0.8796),
        ("glorot_normal", np.sqrt(2 / 600), 2 * np.sqrt(2 / 600) / 0.8796),
        ("lecun_normal", np.sqrt(1 / 400), 2 * np.sqrt(1 / 400) / 0.8796),
        ("he_uniform", np.sqrt(2 / 400), np.sqrt(6 / 400)),
        ("lecun_uniform", np.sqrt(1 / 400), np.sqrt(3 / 400)),
        ("random_normal", 0.05, np.inf),
        ("uniform", 0.05 / np.sqrt(3), 0.05),
        ("truncated_normal", 0.05 * 0.8796, 0.1),
    ],
)
def test_named_initializers_have_keras_scales(name, std, bound):
    w = initializers.get(name, "kernel_initializer")(
        (400, 200), np.float64, np.random.default_rng(6)
    )
    assert w.shape == (400, 200)
    assert abs(w.mean()) < 0.05 * std
    assert w.std() == pytest.approx(std, rel=0.02)
    assert np.abs(w).max() <= bound


# -- RepeatVector: the LSTM autoencoder ------------------------------------------------------


def autoencoder(T=10):
    return Sequential(
        [
            Input((T, 1)),
            LSTM(16),
            RepeatVector(T),
            LSTM(16, return_sequences=True),
            TimeDistributed(Dense(1)),
        ],
        seed=0,
    )


def test_repeat_vector_forward_and_backward():
    layer = RepeatVector(3)
    x = np.arange(6.0).reshape(2, 3)
    out, cache = layer.forward(x)
    assert out.shape == (2, 3, 3)
    for t in range(3):
        np.testing.assert_array_equal(out[:, t], x)
    dout = np.random.default_rng(7).standard_normal((2, 3, 3))
    np.testing.assert_allclose(layer.backward(cache, dout), dout.sum(axis=1))
    assert layer.compute_output_shape((None, 3)) == (None, 3, 3)
    with pytest.raises(ValueError, match=r"x: expected a \(batch, features\) array"):
        layer(np.zeros((2, 3, 1)))
    for bad in (0, 2**31, 2**63):  # 2**63 loaded from a file, then predict overflowed
        with pytest.raises(ValueError, match=r"n: expected a positive integer below 2\*\*31, got"):
            RepeatVector(bad)


def test_an_lstm_autoencoder_trains_and_reloads(tmp_path):
    rng = np.random.default_rng(8)
    t = np.linspace(0, 2 * np.pi, 10)
    x = np.sin(t + rng.uniform(0, 2 * np.pi, (128, 1)))[..., None].astype(np.float32)
    m = autoencoder()
    m.compile(optimizers.Adam(0.01), "mse")
    before = m.evaluate(x, x, verbose=0)
    m.fit(x, x, epochs=15, batch_size=16, verbose=0)
    after = m.evaluate(x, x, verbose=0)
    assert after < 0.1 * before  # measured: 0.50 -> 0.013
    m.save(tmp_path / "ae.fastlstm")
    again = load_model(tmp_path / "ae.fastlstm")
    assert isinstance(again.layers[1], RepeatVector)
    assert again.layers[1].n == 10
    np.testing.assert_array_equal(again.predict(x, verbose=0), m.predict(x, verbose=0))
    plain = load_model(tmp_path / "ae.fastlstm", compile=False)
    assert not plain.compiled
    np.testing.assert_array_equal(plain.predict(x, verbose=0), m.predict(x, verbose=0))


# -- model methods Keras scripts call --------------------------------------------------------


def test_get_layer_weights_metrics_and_reset_metrics():
    x, y = sessions()
    m = classifier()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=1, verbose=0)
    assert m.get_layer("gru") is m.layers[1]
    assert m.get_layer(index=-1) is m.layers[-1]
    with pytest.raises(ValueError, match="no layer called 'lstm'"):
        m.get_layer("lstm")
    assert len(m.weights) == len(m.get_weights())
    assert all(a is b for a, b in zip(m.weights[:1], m.layers[0].weights))
    (acc,) = m.metrics
    assert acc.name == "accuracy"
    assert acc.count > 0
    m.reset_metrics()
    assert acc.count == 0


def test_a_layer_with_only_call_says_what_training_needs():
    class Scale(Layer):
        def call(self, x, training=False, mask=None):
            return 2 * np.asarray(x)

    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((8, 4, 2)), rng.standard_normal((8, 1))
    m = Sequential([Input((4, 2)), Scale(), LSTM(3), Dense(1)], seed=0)
    m.compile("sgd", "mse")
    assert m.predict(x, verbose=0).shape == (8, 1)
    with pytest.raises(NotImplementedError, match=r"Scale.forward: .*backward\(cache, dout\)"):
        m.fit(x, y, verbose=0)


def test_a_keras_style_call_of_the_inputs_alone_runs_and_is_named_as_keras_names_it():
    """Keras 3 passes training= and mask= to a layer's call only where it takes them: a
    ``call(self, inputs)`` layer had failed with "unexpected keyword argument 'training'". Its
    default name is its class's, in snake case (Keras's), not "layer"."""

    class MyScale(Layer):
        def call(self, inputs):
            return 2 * np.asarray(inputs)

    class Shift(Layer):
        def call(self, inputs, training=None):
            return np.asarray(inputs) + (1 if training else 0)

    x = np.random.default_rng(3).standard_normal((5, 4, 2))
    np.testing.assert_array_equal(MyScale()(x), 2 * x)
    np.testing.assert_array_equal(Shift()(x, training=True), x + 1)
    m = Sequential([Input((4, 2)), MyScale(), Shift(), LSTM(3)], seed=0)
    reference = Sequential([Input((4, 2)), LSTM(3)], seed=0)
    reference.set_weights(m.get_weights())
    np.testing.assert_allclose(m.predict(x, verbose=0), reference.predict(2 * x, verbose=0))
    assert [layer.name for layer in m.layers[:2]] == ["my_scale", "shift"]
    assert MyScale(name="mine").name == "mine"
    assert LSTM(2).name == "lstm"  # the library's own layers keep their names


def _top_k(labels, p, k):
    order = np.argsort(-p, axis=-1)[:, :k]  # random scores: no ties
    return (order == labels[:, None]).any(axis=1).astype(float)


def test_keras_metric_functions_give_values_per_sample_and_compile_as_their_classes(tmp_path):
    """keras.metrics.sparse_top_k_categorical_accuracy and the like, as functions and as
    compile's metrics=[fn] (logged under the function's name; a file names them, so the model
    loads without custom_objects). They had been missing from fastlstm.metrics."""
    rng = np.random.default_rng(8)
    labels, p = rng.integers(0, 6, 40), rng.random((40, 6))
    onehot = np.eye(6)[labels]
    binary = (rng.random((40, 6)) > 0.5).astype(float)
    checks = [
        (metrics.binary_accuracy(binary, p), ((p > 0.5) == binary).mean(axis=-1)),
        (metrics.categorical_accuracy(onehot, p), (p.argmax(-1) == labels).astype(float)),
        (metrics.sparse_categorical_accuracy(labels, p), (p.argmax(-1) == labels).astype(float)),
        (metrics.top_k_categorical_accuracy(onehot, p, k=2), _top_k(labels, p, 2)),
        (metrics.sparse_top_k_categorical_accuracy(labels, p), _top_k(labels, p, 5)),
    ]
    for got, expected in checks:
        np.testing.assert_array_equal(got, expected)
    assert 0 < metrics.sparse_top_k_categorical_accuracy(labels, p, k=2).mean() < 1
    model = classifier(seed=3)
    chosen = [metrics.sparse_top_k_categorical_accuracy, metrics.sparse_categorical_crossentropy]
    model.compile("adam", "sparse_categorical_crossentropy", metrics=chosen)
    x, y = sessions()
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    predicted = model.predict(x, verbose=0)
    top = metrics.sparse_top_k_categorical_accuracy(y, predicted)
    assert logs["sparse_top_k_categorical_accuracy"] == pytest.approx(top.mean())
    assert logs["sparse_categorical_crossentropy"] == pytest.approx(logs["loss"], rel=1e-5)
    model.save(tmp_path / "m.fastlstm")
    assert load_model(tmp_path / "m.fastlstm").evaluate(x, y, verbose=0) == pytest.approx(
        [logs["loss"], top.mean(), logs["loss"]], rel=1e-5
    )


def test_models_load_model_is_the_loader(tmp_path):
    m = classifier()
    m.compile("adam", "sparse_categorical_crossentropy")
    m.save(tmp_path / "m.fastlstm")
    x, _ = sessions()
    np.testing.assert_array_equal(
        load_model(tmp_path / "m.fastlstm").predict(x, verbose=0),
        fastlstm.load_model(tmp_path / "m.fastlstm").predict(x, verbose=0),
    )
