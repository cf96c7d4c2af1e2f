"""The rest of Keras 3's ``keras.metrics`` that a forecaster or an anomaly detector reaches for:
the confusion counts (TruePositives, ...), the correlation metrics and their functions, the
cosine-similarity metric, and the loss functions Keras's metrics module re-exports. Each is
checked against a computation of its own (np.corrcoef, counts by hand) and Keras's documented
values, and through compile, fit, a callback and a saved file."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import callbacks, layers, losses, metrics

rng = np.random.default_rng(31)


def test_the_loss_functions_keras_metrics_re_exports():
    for name in (
        "huber",
        "log_cosh",
        "binary_focal_crossentropy",
        "categorical_focal_crossentropy",
    ):
        assert getattr(metrics, name) is getattr(losses, name)
        assert name in metrics.__all__


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 6)])
def test_pearson_correlation_is_each_samples_coefficient(shape):
    t = rng.standard_normal(shape)
    p = 0.5 * t + rng.standard_normal(shape)
    flat_t, flat_p = t.reshape(-1, shape[-1]), p.reshape(-1, shape[-1])
    expected = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(flat_t, flat_p)])
    got = metrics.pearson_correlation(t, p)
    assert got.shape == shape[:-1]
    np.testing.assert_allclose(got.reshape(-1), expected, rtol=1e-5)
    metric = metrics.PearsonCorrelation()
    metric.update_state(t, p)
    assert metric.result() == pytest.approx(expected.mean(), rel=1e-5)


def test_concordance_correlation_is_lins_coefficient():
    t = rng.standard_normal((6, 8))
    p = 0.8 * t + 0.3 + 0.2 * rng.standard_normal((6, 8))
    expected = []
    for a, b in zip(t, p):
        covariance = np.cov(a, b, bias=True)[0, 1]
        expected.append(2 * covariance / (a.var() + b.var() + (a.mean() - b.mean()) ** 2))
    np.testing.assert_allclose(metrics.concordance_correlation(t, p), expected, rtol=1e-5)


def test_the_correlations_keras_documents():
    y_true = [[0, 1, 0.5], [1, 1, 0.2]]
    y_pred = [[0.1, 0.9, 0.5], [1, 0.9, 0.2]]
    pearson, concordance = metrics.PearsonCorrelation(), metrics.ConcordanceCorrelation()
    pearson.update_state(y_true, y_pred)
    concordance.update_state(y_true, y_pred)
    assert pearson.result() == pytest.approx(0.9966996338993913, abs=1e-6)
    assert concordance.result() == pytest.approx(0.9816320385426076, abs=1e-6)
    np.testing.assert_allclose(
        metrics.concordance_correlation(np.array(y_true), np.array(y_pred)),
        [0.97560976, 0.98765432],
        atol=1e-6,
    )


def test_cosine_similarity_metric_is_the_mean_cosine():
    t, p = rng.standard_normal((9, 4)), rng.standard_normal((9, 4))
    cosines = (t * p).sum(1) / np.linalg.norm(t, axis=1) / np.linalg.norm(p, axis=1)
    metric = metrics.CosineSimilarity()
    metric.update_state(t, p)
    assert metric.result() == pytest.approx(cosines.mean(), rel=1e-6)
    assert metric.direction == "max"


def test_confusion_counts_by_hand_weighted_and_at_several_thresholds():
    y_true = rng.integers(0, 2, (40, 3))
    y_pred = rng.random((40, 3))
    w = rng.random(40)
    thresholds = [0.2, 0.5, 0.8]
    counted = {}
    for name, cls in (
        ("tp", metrics.TruePositives),
        ("fp", metrics.FalsePositives),
        ("tn", metrics.TrueNegatives),
        ("fn", metrics.FalseNegatives),
    ):
        metric = cls(thresholds=thresholds)
        metric.update_state(y_true, y_pred, sample_weight=w)
        counted[name] = metric.result()
        single = cls()  # threshold 0.5
        single.update_state(y_true, y_pred, sample_weight=w)
        assert single.result() == pytest.approx(counted[name][1])
    weights = np.broadcast_to(w[:, None], y_true.shape)
    for k, threshold in enumerate(thresholds):
        predicted, actual = y_pred > threshold, y_true == 1
        for name, where in (
            ("tp", predicted & actual),
            ("fp", predicted & ~actual),
            ("tn", ~predicted & ~actual),
            ("fn", ~predicted & actual),
        ):
            assert counted[name][k] == pytest.approx(weights[where].sum())
    total = sum(counted.values())
    np.testing.assert_allclose(total, weights.sum() * np.ones(3))


def test_compiled_by_name_and_function_monitored_and_saved(tmp_path):
    x = rng.standard_normal((32, 6, 2)).astype(np.float32)
    y = np.stack([x[:, -1, 0], x[:, -2, 1], x[:, 0, 0]], axis=1)
    labels = (y[:, :1] > 0).astype(np.float32)
    inputs = layers.Input((6, 2))
    hidden = layers.LSTM(8, seed=1)(inputs)
    forecast = layers.Dense(3, name="forecast", seed=2)(hidden)
    alarm = layers.Dense(1, activation="sigmoid", name="alarm", seed=3)(hidden)
    model = fastlstm.Model(inputs, [forecast, alarm])
    model.compile(
        "adam",
        ["mse", "binary_crossentropy"],
        metrics=[
            ["pearson_correlation", metrics.concordance_correlation, "cosine_similarity"],
            [
                "false_negatives",
                metrics.TruePositives(thresholds=[0.3, 0.7]),
                metrics.PrecisionAtRecall(0.5, num_thresholds=20),
            ],
        ],
    )
    stop = callbacks.EarlyStopping("val_alarm_false_negatives", patience=50)  # mode auto: min
    history = model.fit(
        x, [y, labels], epochs=2, validation_split=0.25, verbose=0, callbacks=[stop]
    )
    for key in (
        "forecast_pearson_correlation",
        "forecast_concordance_correlation",
        "forecast_cosine_similarity",
        "val_alarm_false_negatives",
        "alarm_precision_at_recall",
    ):
        assert len(history.history[key]) == 2, key
    assert np.shape(history.history["alarm_true_positives"][0]) == (2,)
    assert stop.mode == "min"  # "auto" resolved: fewer false negatives is better
    model.save(tmp_path / "m.keras")
    again = fastlstm.load_model(tmp_path / "m.keras")  # no custom_objects: they are Keras's
    loaded = again.evaluate(x, [y, labels], verbose=0)
    for got, want in zip(loaded, model.evaluate(x, [y, labels], verbose=0), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def _best_under_constraint(y_true, y_pred, w, thresholds, constrained, dependent, value):
    """By brute force: the four weighted counts at each threshold, then the largest dependent
    rate where the constrained one reaches value (0 where none does)."""
    best = None
    for threshold in thresholds:
        predicted, actual = y_pred > threshold, y_true == 1
        tp, fp = w[predicted & actual].sum(), w[predicted & ~actual].sum()
        tn, fn = w[~predicted & ~actual].sum(), w[~predicted & actual].sum()
        rates = {
            "sensitivity": tp / (tp + fn) if tp + fn else 0.0,
            "specificity": tn / (tn + fp) if tn + fp else 0.0,
            "precision": tp / (tp + fp) if tp + fp else 0.0,
        }
        if rates[constrained] >= value:
            best = max(best or 0.0, rates[dependent])
    return best or 0.0


@pytest.mark.parametrize(
    ("cls", "constrained", "dependent"),
    [
        (metrics.SensitivityAtSpecificity, "specificity", "sensitivity"),
        (metrics.SpecificityAtSensitivity, "sensitivity", "specificity"),
        (metrics.PrecisionAtRecall, "sensitivity", "precision"),
        (metrics.RecallAtPrecision, "precision", "sensitivity"),
    ],
)
@pytest.mark.parametrize("value", [0.3, 0.8, 0.99])
def test_a_rate_at_another_by_brute_force(cls, constrained, dependent, value):
    y_true = rng.integers(0, 2, 300)
    y_pred = np.clip(0.35 * y_true + 0.65 * rng.random(300), 0, 1)
    w = rng.random(300)
    num_thresholds = 50
    thresholds = [0.0, *((i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)), 1.0]
    metric = cls(value, num_thresholds=num_thresholds)
    metric.update_state(y_true[:150], y_pred[:150], sample_weight=w[:150])
    metric.update_state(y_true[150:], y_pred[150:], sample_weight=w[150:])  # sums carried on
    expected = _best_under_constraint(y_true, y_pred, w, thresholds, constrained, dependent, value)
    assert metric.result() == pytest.approx(expected)
    assert metric.direction == "max"
    again = cls.from_config(metric.get_config())
    assert (again.value, again.num_thresholds) == (value, num_thresholds)


def test_rates_at_others_keras_documents():
    """Keras's docstring examples: 5 samples, the default 200 thresholds."""
    y_true, y_pred = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    for cls, value, expected in (
        (metrics.SensitivityAtSpecificity, 0.5, 0.5),
        (metrics.SpecificityAtSensitivity, 0.5, 2 / 3),
        (metrics.PrecisionAtRecall, 0.5, 0.5),
    ):
        metric = cls(value)
        metric.update_state(y_true, y_pred)
        assert metric.result() == pytest.approx(expected), cls.__name__
    weighted = metrics.SensitivityAtSpecificity(0.5)
    weighted.update_state(y_true, y_pred, sample_weight=[1, 1, 2, 2, 1])
    assert weighted.result() == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="specificity"):
        metrics.SensitivityAtSpecificity(1.5)
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.PrecisionAtRecall(0.5, num_thresholds=0)


def test_a_one_column_output_is_scored_over_the_batch_as_keras_does():
    """A forecaster's Dense(1) output (B, 1) against a (B,) target: Keras squeezes the 1 and
    scores the batch's rows together; per row (one value each) the scores would be 0."""
    t = rng.standard_normal(60)
    p = t + 0.7 * rng.standard_normal(60)
    pearson, cosine = metrics.PearsonCorrelation(), metrics.CosineSimilarity()
    pearson.update_state(t, p[:, None])
    cosine.update_state(t[:, None], p[:, None])
    assert pearson.result() == pytest.approx(np.corrcoef(t, p)[0, 1], rel=1e-5)
    assert cosine.result() == pytest.approx(t @ p / np.linalg.norm(t) / np.linalg.norm(p))
    # a second batch is a second value in the mean; rows of weight 0 are left out
    pearson.update_state(t[:30], p[:30, None], sample_weight=np.r_[np.ones(20), np.zeros(10)])
    expected = (np.corrcoef(t, p)[0, 1] + np.corrcoef(t[:20], p[:20])[0, 1]) / 2
    assert pearson.result() == pytest.approx(expected, rel=1e-5)
    x = rng.standard_normal((32, 4, 2)).astype(np.float32)
    # seeded: a correlation drawn near 0 would fail the relative tolerance by chance
    model = fastlstm.Sequential(
        [layers.Input((4, 2)), layers.LSTM(4, seed=1), layers.Dense(1, seed=2)]
    )
    model.compile("adam", "mse", metrics=["pearson_correlation"])
    y = x.sum(axis=(1, 2))
    got = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)["pearson_correlation"]
    assert got == pytest.approx(np.corrcoef(y, model.predict(x, verbose=0)[:, 0])[0, 1], rel=1e-4)


def test_a_loss_object_or_callable_object_as_a_metric_is_logged_under_its_name():
    # Keras names such a metric by the object's name, else its class's in snake case; they had
    # been logged as "metric" and "metric_1", which no callback's monitor could name.
    class RangeError:
        def __call__(self, y_true, y_pred):
            return np.abs(y_pred - y_true).max(axis=-1)

    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    model = fastlstm.Sequential([layers.Input((3,)), layers.Dense(1, seed=1)])
    model.compile(
        "sgd",
        "mse",
        metrics=[losses.MeanSquaredError(), losses.MeanAbsoluteError(name="l1"), RangeError()],
    )
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mean_squared_error", "l1", "range_error"]
    error = model.predict(x, verbose=0) - y
    assert logs["mean_squared_error"] == pytest.approx(float(np.mean(error**2)), rel=1e-6)
    assert logs["l1"] == pytest.approx(float(np.mean(np.abs(error))), rel=1e-6)
    assert logs["range_error"] == pytest.approx(float(np.mean(np.abs(error))), rel=1e-6)


def test_a_built_in_loss_object_as_a_metric_saves_and_loads_as_itself(tmp_path):
    # It had saved, and load_model had then called its name a metric of the caller's code.
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    model = fastlstm.Sequential([layers.Input((3,)), layers.Dense(1, seed=1)])
    model.compile("sgd", "mse", metrics=[losses.Huber(delta=0.1), losses.MeanAbsoluteError()])
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "m.fastlstm")
    logs = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "huber_loss", "mean_absolute_error"]
    error = np.abs(model.predict(x, verbose=0) - y)
    huber = np.where(error <= 0.1, 0.5 * error**2, 0.1 * (error - 0.05))
    assert logs["huber_loss"] == pytest.approx(float(huber.mean()), rel=1e-5)
    # A file names only fastlstm's own losses there: another class is refused, nothing run.
    spec = {
        "class_name": "MeanMetricWrapper",
        "config": {"name": "x", "loss": {"class_name": "os"}},
    }
    with pytest.raises(ValueError, match=r"^loss: expected a class name in"):
        metrics.deserialize(spec)
