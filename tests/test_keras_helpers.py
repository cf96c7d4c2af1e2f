"""More of what Keras scripts for text, speech and anomaly detection use: Input(batch_shape=),
global pooling over time (masked), Precision and Recall, pad_sequences and to_categorical, and
a wrongly shaped x named as the caller passed it. Expected values are computed here with NumPy
(and, for the pooling layers' gradients, by finite differences)."""

from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest

from fastlstm import _arrays, callbacks, metrics, optimizers, utils
from fastlstm.layers import (
    GRU,
    LSTM,
    Dense,
    Dropout,
    Embedding,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Input,
    SpatialDropout1D,
)
from fastlstm.models import Model, Sequential, load_model


def test_input_with_a_batch_size_builds_a_stateful_model():
    m = Sequential([Input(batch_shape=(2, None, 3)), LSTM(4, stateful=True), Dense(1)], seed=0)
    assert m.input_shape == (2, None, 3)
    same = Sequential([Input((None, 3), batch_size=2), LSTM(4, stateful=True), Dense(1)], seed=0)
    assert same.input_shape == (2, None, 3)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(m.predict(x, verbose=0), same.predict(x, verbose=0))
    with pytest.raises(ValueError, match="shape, batch_shape: expected at most one of them"):
        Input((3,), batch_shape=(1, 3))
    with pytest.raises(ValueError, match="shape: expected a shape"):
        Input()


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_a_declared_batch_size_holds_for_a_stateful_layers_first_batch(functional):
    """With no state yet, a batch of 1 row (fewer than the declared 2) had been taken: the layer
    then kept a state of 1 row, and the next fit, in batches of 2, was refused."""
    if functional:
        inputs = Input(batch_shape=(2, None, 3))
        m = Model(inputs, Dense(1)(LSTM(4, stateful=True)(inputs)))
    else:
        m = Sequential([Input(batch_shape=(2, None, 3)), LSTM(4, stateful=True), Dense(1)], seed=0)
    m.compile("adam", "mse")
    x = np.random.default_rng(0).standard_normal((4, 5, 3)).astype(np.float32)
    refusal = r"x: expected a batch of 2 rows \(the batch size declared for this stateful layer"
    with pytest.raises(ValueError, match=refusal):
        m.predict(x[:1], verbose=0)
    with pytest.raises(ValueError, match=refusal):
        m.predict_on_batch(x[:1])
    with pytest.raises(ValueError, match=refusal):
        m.train_on_batch(x[:1], np.zeros((1, 1)))
    m.fit(x, np.zeros((4, 1)), batch_size=2, shuffle=False, verbose=0)  # as declared: taken
    assert m.predict(x[:2], verbose=0).shape == (2, 1)
    # A state of another batch size had been taken too, and the next call of the declared size
    # refused ("expected a batch of 3 rows (the state ...)") until another reset.
    layer = next(layer for layer in m.layers if isinstance(layer, LSTM))
    before = layer.get_state_arrays()
    with pytest.raises(ValueError, match=r"^states: expected 2 rows \(the batch size declared"):
        layer.reset_states([np.ones((3, 4)), np.ones((3, 4))])
    for kept, now in zip(before, layer.get_state_arrays()):
        np.testing.assert_array_equal(kept, now)  # nothing changed
    layer.reset_states([np.ones((2, 4)), np.ones((2, 4))])
    assert m.predict(x[:2], verbose=0).shape == (2, 1)
    # With a state kept, the refusal had advised reset_states(), after which the same call was
    # refused again for the declared size: it names the declared size instead.
    kept = r"keeps\), got 1; its input declares a batch of 2 rows$"
    with pytest.raises(ValueError, match=kept):
        m.predict(x[:1], verbose=0)


def test_a_stateful_layers_kept_batch_size_yields_to_reset_states_where_none_is_declared():
    layer = LSTM(4, stateful=True)
    x = np.random.default_rng(1).standard_normal((3, 5, 2))
    layer(x)
    refusal = r"expected a batch of 3 rows \(the state .* keeps\), got 2; call reset_states\(\)"
    with pytest.raises(ValueError, match=refusal):
        layer(x[:2])
    layer.reset_states()  # as the error advises: then the other size is taken
    assert layer(x[:2]).shape == (2, 4)


def numeric_grad(layer, x, dout, mask=None, eps=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        for sign in (1, -1):
            xp = x.copy()
            xp[idx] += sign * eps
            grad[idx] += sign * np.sum(layer.forward(xp, mask=mask)[0] * dout)
    return grad / (2 * eps)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_is_the_mean_over_valid_steps(keepdims):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    layer = GlobalAveragePooling1D(keepdims=keepdims, dtype="float64")
    out, cache = layer.forward(x, mask=mask)
    expected = np.stack([x[0, :3].mean(0), x[1].mean(0), np.zeros(4)])
    if keepdims:
        expected = expected[:, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(layer(x), x.mean(1)[:, None] if keepdims else x.mean(1))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(
        layer.backward(cache, dout), numeric_grad(layer, x, dout, mask), atol=1e-7
    )
    assert layer.compute_mask(x, mask) is None
    assert layer.compute_output_shape((None, 5, 4)) == ((None, 1, 4) if keepdims else (None, 4))


def test_global_max_pooling_splits_the_gradient_among_ties():
    x = np.array([[[1.0, 5.0], [3.0, 5.0], [3.0, 2.0]]])
    layer = GlobalMaxPooling1D(dtype="float64")
    out, cache = layer.forward(x)
    np.testing.assert_array_equal(out, [[3.0, 5.0]])
    np.testing.assert_array_equal(
        layer.backward(cache, np.array([[1.0, 4.0]])), [[[0, 2], [0.5, 2], [0.5, 0]]]
    )
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 3))
    out, cache = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(layer.backward(cache, dout), numeric_grad(layer, x, dout), atol=1e-7)


def test_a_pooled_text_classifier_trains_saves_and_reloads(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(1, 20, (128, 12))
    x[::2, 8:] = 0  # padded
    y = (np.where(x > 0, x, 0).max(axis=1) > 17).astype(np.int64)
    m = Sequential(
        [
            Input((12,)),
            Embedding(20, 8, mask_zero=True),
            LSTM(16, return_sequences=True),
            GlobalMaxPooling1D(),
            Dense(2, activation="softmax"),
        ],
        seed=0,
    )
    m.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = m.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.9  # measured 1.0; 0.61 says "always yes"
    m.save(tmp_path / "m.fastlstm")
    np.testing.assert_array_equal(
        load_model(tmp_path / "m.fastlstm").predict(x, verbose=0), m.predict(x, verbose=0)
    )


def test_precision_and_recall_count_over_all_values_and_weights():
    y = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1]])
    p = np.array([[0.9, 0.6, 0.2], [0.1, 0.7, 0.8], [0.4, 0.3, 0.55]])
    w = np.array([1.0, 2.0, 0.5])
    pred, actual = p > 0.5, y != 0
    ww = np.broadcast_to(w[:, None], y.shape)
    tp, fp, fn = (ww[pred & actual].sum(), ww[pred & ~actual].sum(), ww[~pred & actual].sum())
    precision, recall = metrics.get("precision"), metrics.Recall()
    for m in (precision, recall):
        m.update_state(y[:2], p[:2], w[:2])
        m.update_state(y[2:], p[2:], w[2:])
    assert precision.result() == pytest.approx(tp / (tp + fp))
    assert recall.result() == pytest.approx(tp / (tp + fn))
    assert metrics.Precision(thresholds=0.95)(y, p) == 0.0  # no positive prediction
    assert precision.result() == pytest.approx(tp / (tp + fp))  # __call__ left the state alone


def test_pad_sequences_as_keras():
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs), [[0, 0, 1, 2, 3], [0, 0, 0, 0, 4], [5, 6, 7, 8, 9]]
    )
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs, maxlen=3, padding="post", truncating="post", value=-1),
        [[1, 2, 3], [4, -1, -1], [5, 6, 7]],
    )
    np.testing.assert_array_equal(utils.pad_sequences(seqs, maxlen=2), [[2, 3], [0, 4], [8, 9]])
    frames = [np.ones((2, 3)), np.full((4, 3), 2.0)]
    padded = utils.pad_sequences(frames, dtype="float32", padding="post")
    assert padded.shape == (2, 4, 3)
    assert padded.dtype == np.float32
    np.testing.assert_array_equal(padded[0, 2:], 0)
    with pytest.raises(ValueError, match="padding: expected 'pre' or 'post'"):
        utils.pad_sequences(seqs, padding="left")
    with pytest.raises(ValueError, match=r"sequences\[1\]: expected steps of shape \(3,\)"):
        utils.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_pad_sequences_refuses_ids_its_dtype_cannot_hold():
    # int32 (the default) would wrap 2**32 + 5 round to the valid-looking id 5
    with pytest.raises(ValueError, match=r"sequences\[0\]: holds 4294967301, outside int32"):
        utils.pad_sequences([[2**32 + 5, 7], [3]])
    with pytest.raises(ValueError, match=r"sequences\[1\]: holds -200, outside int8"):
        utils.pad_sequences([[1], [-200]], dtype="int8")
    with pytest.raises(ValueError, match="value: expected a whole padding value in int8's range"):
        utils.pad_sequences([[1]], dtype="int8", value=1000)
    with pytest.raises(ValueError, match=r"value: .*int32's range .*got 1180591620717411303424"):
        utils.pad_sequences([[1]], value=2**70)  # NumPy's isfinite had refused the int, unnamed
    for dtype in ("datetime64", "complex64", "timedelta64[s]"):
        with pytest.raises(TypeError, match=r"^dtype: expected an integer, float or bool dtype"):
            utils.pad_sequences([[1, 2]], dtype=dtype)
    with pytest.raises(ValueError, match=r"sequences\[0\]: expected ids, got a non-finite"):
        utils.pad_sequences([[1.0, np.nan]])
    wide = utils.pad_sequences([[2**32 + 5, 7], [3]], dtype="int64")
    np.testing.assert_array_equal(wide, [[2**32 + 5, 7], [0, 3]])
    np.testing.assert_array_equal(utils.pad_sequences([[127]], dtype="int8", value=-128), [[127]])


def test_pad_sequences_refuses_fractions_an_integer_dtype_would_cut():
    """Keras's int32 default cuts 2.7 to 2 and -0.9 to 0, the padding value: refused, with the
    dtype that keeps them; whole floats (ids read as floats) pass."""
    with pytest.raises(ValueError, match=r"sequences\[0\]: holds -0.9, not a whole .*float32"):
        utils.pad_sequences([[1.0, 2.0, -0.9]])
    with pytest.raises(ValueError, match="value: expected a whole padding value"):
        utils.pad_sequences([[1]], value=0.5)
    np.testing.assert_array_equal(utils.pad_sequences([[1.0, 2.0]], maxlen=3), [[0, 1, 2]])
    kept = utils.pad_sequences([[1.5, -0.9]], dtype="float32", maxlen=3)
    np.testing.assert_array_equal(kept, np.array([[0, 1.5, -0.9]], np.float32))


def test_sizes_beyond_memory_name_the_argument():
    with pytest.raises(MemoryError, match=r"^maxlen: cannot allocate an array of shape \(1, "):
        utils.pad_sequences([[1]], maxlen=10**12)
    with pytest.raises(MemoryError, match=r"^x: cannot allocate an array of shape \(1, 10{18}\)"):
        utils.to_categorical([10**18 - 1])  # NumPy: "array is too big", a ValueError
    with pytest.raises(MemoryError, match=r"^x: cannot allocate an array of shape \(2, 10"):
        utils.to_categorical([1, 2], num_classes=10**15)


def test_to_categorical_takes_memory_of_its_result_only():
    """One entry set per label (Keras's way), not rows of an identity matrix of num_classes^2
    values: 20,000 classes would have taken 1.5 GiB for a result of 160 KB."""
    tracemalloc.start()
    try:
        out = utils.to_categorical([3, 19_999], num_classes=20_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * out.nbytes
    expected = np.zeros((2, 20_000), np.float32)
    expected[0, 3] = expected[1, 19_999] = 1
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float32


def test_to_categorical_as_keras():
    np.testing.assert_array_equal(utils.to_categorical([2, 0]), [[0, 0, 1], [1, 0, 0]])
    assert utils.to_categorical(np.zeros((2, 3), int), num_classes=4).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="num_classes: expected at least 3"):
        utils.to_categorical([2], num_classes=2)
    with pytest.raises(ValueError, match="x: expected labels >= 0"):
        utils.to_categorical([-1])


def test_a_wrongly_shaped_x_is_named_whole_not_by_its_batch():
    m = Sequential([Input((48, 1)), LSTM(4), Dense(1)], seed=0)
    x = np.zeros((10, 48, 1), np.float32)
    with pytest.raises(ValueError, match=r"x: expected a 3-D array.*got shape \(48, 1\)"):
        m.predict(x[0], verbose=0)
    assert m.predict(x, verbose=0).shape == (10, 1)


def test_summary_columns_stay_aligned_with_long_layer_names():
    m = Sequential(
        [Input((5, 3)), LSTM(4, return_sequences=True), GlobalAveragePooling1D(), Dense(2)]
    )
    lines = []
    m.summary(print_fn=lines.append)
    rows = [l for l in lines if "(None" in l]
    assert len(rows) == 3
    header = next(l for l in lines if "Output Shape" in l)
    starts = {l.index("(None") for l in rows}
    assert starts == {header.index("Output Shape")}, lines
    assert len({len(l) for l in [*rows, header]}) == 1, lines  # Param # right-aligned
    narrow = []
    m.summary(line_length=20, print_fn=narrow.append)  # narrower than the header itself
    rule = next(l for l in narrow if l.startswith("_"))
    assert all(len(l) <= len(rule) + 1 for l in narrow), narrow


def test_train_on_batch_metrics_run_on_without_a_reset():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4, 2)).astype(np.float32)
    y = rng.integers(0, 2, 8)
    m = Sequential([Input((4, 2)), LSTM(3), Dense(2, activation="softmax")], seed=0)
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.train_on_batch(x[:4], y[:4])
    m.train_on_batch(x[4:], y[4:], reset_metrics=False)
    (acc,) = m.metrics
    assert acc.count == 8  # both batches counted
    m.train_on_batch(x[4:], y[4:])
    assert acc.count == 4  # reset first, as by default
    m.reset_metrics()
    assert acc.count == 0
    logs = m.test_on_batch(x[4:], y[4:], return_dict=True)
    expected = float((m.predict(x[4:], verbose=0).argmax(-1) == y[4:]).mean())
    assert logs["accuracy"] == pytest.approx(expected)
    with pytest.raises(TypeError, match="reset_metrics: expected True or False"):
        m.train_on_batch(x, y, reset_metrics="no")


def test_embedding_starts_from_pretrained_vectors():
    vectors = np.random.default_rng(6).standard_normal((6, 3)).astype(np.float32)
    for given in (vectors, [vectors]):
        layer = Embedding(6, 3, weights=given, mask_zero=True)
        np.testing.assert_array_equal(layer(np.array([[5, 0, 2]])), vectors[[[5, 0, 2]]])
    with pytest.raises(ValueError, match=r"weights: embeddings: expected shape \(6, 3\)"):
        Embedding(6, 3, weights=np.ones((5, 3)))


def test_spatial_dropout_drops_whole_features_for_every_step(tmp_path):
    layer = SpatialDropout1D(0.5, seed=0)
    y = layer(np.ones((4, 7, 5), np.float32), training=True)
    assert set(np.unique(y)) == {0.0, 2.0}
    np.testing.assert_array_equal(y, np.repeat(y[:, :1], 7, axis=1))  # the same at every step
    np.testing.assert_array_equal(layer(np.ones((4, 7, 5)), training=False), np.ones((4, 7, 5)))
    m = Sequential([Input((7, 5)), SpatialDropout1D(0.2), LSTM(2)], seed=0)
    m.save(tmp_path / "m.fastlstm")
    assert isinstance(load_model(tmp_path / "m.fastlstm").layers[0], SpatialDropout1D)


def test_keras_backend_hints_are_accepted_and_change_nothing():
    x = np.random.default_rng(7).standard_normal((2, 5, 3)).astype(np.float32)
    plain = LSTM(4, seed=0)(x)
    np.testing.assert_array_equal(LSTM(4, seed=0, unroll=True, use_cudnn=False)(x), plain)
    np.testing.assert_array_equal(LSTM(4, seed=0, implementation=1)(x), plain)  # Keras 2's
    np.testing.assert_array_equal(GRU(4, seed=0, implementation=2)(x), GRU(4, seed=0)(x))
    with pytest.raises(ValueError, match="use_cudnn: expected 'auto', True or False"):
        LSTM(4, use_cudnn="yes")
    with pytest.raises(ValueError, match="implementation: expected 1 or 2, got 0"):
        LSTM(4, implementation=0)


def test_to_categorical_drops_a_last_axis_of_one():
    np.testing.assert_array_equal(utils.to_categorical(np.array([[0], [2]]), 3), np.eye(3)[[0, 2]])


def test_metrics_of_one_name_are_logged_apart():
    """A second "precision" overwrote the first's value in the logs."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((32, 4, 2)).astype(np.float32)
    y = rng.integers(0, 2, (32, 1))
    m = Sequential([Input((4, 2)), LSTM(3), Dense(1, activation="sigmoid")], seed=0)
    low, high = metrics.Precision(thresholds=0.3), metrics.Precision(thresholds=0.7)
    m.compile("sgd", "binary_crossentropy", metrics=["precision", low, high])
    assert m.metrics_names == ["loss", "precision", "precision_1", "precision_2"]
    logs = m.evaluate(x, y, verbose=0, return_dict=True)
    p = m.predict(x, verbose=0)
    for key, threshold in (("precision", 0.5), ("precision_1", 0.3), ("precision_2", 0.7)):
        predicted = p > threshold
        expected = (predicted & (y == 1)).sum() / max(predicted.sum(), 1)
        assert logs[key] == pytest.approx(expected), key


def test_fit_validation_calls_the_test_hooks():
    calls = []
    hook = callbacks.LambdaCallback(
        on_test_begin=lambda logs: calls.append("begin"),
        on_test_batch_end=lambda batch, logs: calls.append("batch"),
        on_test_end=lambda logs: calls.append(("end", sorted(logs))),
    )
    x = np.zeros((20, 4, 2), np.float32)
    m = Sequential([Input((4, 2)), LSTM(3), Dense(1)], seed=0)
    m.compile("sgd", "mse")
    m.fit(
        x,
        np.zeros((20, 1)),
        epochs=2,
        batch_size=4,
        validation_split=0.2,
        verbose=0,
        callbacks=[hook],
    )
    assert calls == ["begin", "batch", ("end", ["loss"])] * 2


def test_odd_arguments_say_what_to_pass(tmp_path):
    from fastlstm import optimizers

    with pytest.raises(TypeError, match=r"lr: Keras 2's name, use learning_rate=0\.1"):
        optimizers.Adam(lr=0.1)
    adam = optimizers.Adam(0.01)
    with pytest.raises(AttributeError, match=r"lr: Keras 2's name; set learning_rate=0\.0001"):
        adam.lr = 1e-4  # would otherwise make a stray attribute and change nothing
    with pytest.raises(AttributeError, match="lr: Keras 2's name; use learning_rate"):
        _ = adam.lr
    assert adam.learning_rate == 0.01
    m = Sequential([Input((4, 2)), LSTM(3)], seed=0)
    with pytest.raises(TypeError, match=r"for a position, index=0"):
        m.get_layer(0)
    with pytest.raises(FileNotFoundError, match=r"filepath: the directory of .* does not exist"):
        m.save(tmp_path / "nope" / "m.fastlstm")
    assert list(tmp_path.iterdir()) == []


def keras_auc(y, p, w, n=200):
    """Keras's AUC (ROC, interpolation) written out threshold by threshold."""
    t = np.concatenate([[-1e-7], np.arange(1, n - 1) / (n - 1), [1 + 1e-7]])
    above = p.ravel()[None, :] > t[:, None]
    actual, w = y.ravel() != 0, w.ravel()
    tp, fp = (above * (w * actual)).sum(1), (above * (w * ~actual)).sum(1)
    tpr, fpr = tp / (w * actual).sum(), fp / (w * ~actual).sum()
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def test_auc_is_keras_roc_auc_over_batches_weights_and_masks():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, (300, 1))
    p = np.clip(0.35 * y + 0.65 * rng.random((300, 1)), 0, 1)
    w = rng.random(300)
    m = metrics.get("auc")
    for part in np.array_split(np.arange(300), 4):
        m.update_state(y[part], p[part], w[part])
    assert m.result() == pytest.approx(
        keras_auc(y, p, np.broadcast_to(w[:, None], y.shape)), abs=1e-12
    )
    pos, neg = p[y == 1], p[y == 0]
    exact = (pos[:, None] > neg[None, :]).mean()  # no ties in continuous scores
    assert abs(metrics.AUC(num_thresholds=1000)(y, p) - exact) < 2e-3
    # a (B, T) mask, as a padded sequence output's, leaves masked steps out
    seq_y, seq_p = y.reshape(30, 10), p.reshape(30, 10)
    mask = np.arange(10)[None, :] < rng.integers(1, 11, (30, 1))
    masked = metrics.AUC()
    masked.update_state(seq_y, seq_p, mask=mask)
    assert masked.result() == pytest.approx(keras_auc(seq_y, seq_p, mask.astype(float)), abs=1e-12)
    with pytest.raises(ValueError, match="curve: expected 'ROC' or 'PR'"):
        metrics.AUC(curve="PRC")  # "PR" is taken now: see test_metrics_more


def test_review_edges_of_the_new_helpers():
    # global average pooling of integers is a float mean, not an integer one
    np.testing.assert_array_equal(GlobalAveragePooling1D()(np.array([[[2, 4], [4, 8]]])), [[3, 6]])
    # Keras's argument order: data_format first; channels_first takes (B, F, T)
    x = np.random.default_rng(10).standard_normal((2, 3, 4))
    first = GlobalMaxPooling1D("channels_first", dtype="float64")
    np.testing.assert_array_equal(first(x.transpose(0, 2, 1)), x.max(axis=1))
    # Precision and Recall leave masked steps of a sequence output out
    recall = metrics.Recall()
    recall.update_state(np.array([[[1.0], [1.0]]]), np.array([[[0.9], [0.1]]]), mask=[[1, 0]])
    assert recall.result() == 1.0
    with pytest.raises(ValueError, match=r"mask: expected shape \(1, 2\)"):
        recall.update_state(np.ones((1, 2, 1)), np.ones((1, 2, 1)), mask=[[1, 0, 1]])
    # pad_sequences takes the step shape from the first sequence that has steps
    padded = utils.pad_sequences([[], [[1, 2], [3, 4]]])
    np.testing.assert_array_equal(padded, [[[0, 0], [0, 0]], [[1, 2], [3, 4]]])
    assert utils.to_categorical([1], 2, dtype="int64").dtype == np.int64
    with pytest.raises(ValueError, match=r"x: expected a \(batch, time, features\) array"):
        SpatialDropout1D(0.5)(np.ones((2, 4)), training=True)
    with pytest.raises(ValueError, match=r"use_cudnn: expected 'auto', True or False"):
        LSTM(2, use_cudnn=1)
    with pytest.raises(ValueError, match=r"^batch_size: expected only with shape \(batch_shape"):
        Input(batch_shape=(None, 5, 3), batch_size=2)


class KerasStyleF1(metrics.Metric):
    """As Keras documents a custom metric: state made after super().__init__, a reset_state
    that needs it, and **kwargs in update_state."""

    def __init__(self, name="f1", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.counts = np.zeros(3)  # tp, fp, fn

    def update_state(self, y_true, y_pred, sample_weight=None, **kwargs):
        pred, true = np.asarray(y_pred) > 0.5, np.asarray(y_true) > 0.5
        w = np.ones(pred.shape) if sample_weight is None else np.asarray(sample_weight)
        w = w.reshape(w.shape + (1,) * (pred.ndim - w.ndim))
        self.counts += [
            (w * (pred & true)).sum(),
            (w * (pred & ~true)).sum(),
            (w * (~pred & true)).sum(),
        ]

    def reset_state(self):
        self.counts[:] = 0

    def result(self):
        tp, fp, fn = self.counts
        return 2 * tp / max(2 * tp + fp + fn, 1e-12)


def test_a_keras_documented_custom_metric_works_and_sees_the_mask():
    """Its __init__ raised (reset_state ran before its state existed), and with **kwargs in
    update_state the mask went into kwargs unread."""
    f1 = KerasStyleF1()
    metrics.update(f1, np.ones((1, 2, 1)), np.full((1, 2, 1), 0.9), None, np.array([[True, False]]))
    np.testing.assert_array_equal(f1.counts, [1, 0, 0])
    f1.reset_state()
    assert f1.result() == 0.0


def test_calling_a_metric_adds_the_batch_as_keras_3_does():
    """m(y, p) left the running state alone (result() stayed 0.0 after it)."""
    y, p = np.array([[1], [0], [1]]), np.array([[0.9], [0.8], [0.3]])
    m = metrics.Precision()
    assert m(y[:2], p[:2]) == 0.5
    assert m.result() == 0.5
    assert m(y[2:], p[2:]) == 0.5  # nothing new predicted positive
    m.reset_state()
    assert m(y, p) == 0.5


def test_metrics_are_unweighted_and_weighted_metrics_weighted_as_in_keras(tmp_path):
    """compile(metrics=) weighted every metric by sample_weight, where Keras's are unweighted
    (only the mask applies) and weighted_metrics are weighted by sample_weight and class_weight."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((24, 4, 2)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    w = rng.random(24)
    m = Sequential([Input((4, 2)), LSTM(3), Dense(3, activation="softmax")], seed=0)
    m.compile(
        "sgd",
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy"],
    )
    assert m.metrics_names == ["loss", "accuracy", "weighted_accuracy"]  # Keras's names
    logs = m.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    hit = m.predict(x, verbose=0).argmax(-1) == y
    assert logs["accuracy"] == pytest.approx(hit.mean())
    assert logs["weighted_accuracy"] == pytest.approx((hit * w).sum() / w.sum())
    # fit: the weighted metric also sees the class weights (lr 0: the weights do not move)
    m.compile(
        optimizers.SGD(0.0),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy"],
    )
    cw = {0: 1.0, 1: 2.0, 2: 3.0}
    history = m.fit(x, y, class_weight=cw, shuffle=False, batch_size=24, verbose=0)
    per = np.array([cw[int(c)] for c in y])
    assert history.history["accuracy"][0] == pytest.approx(hit.mean())
    assert history.history["weighted_accuracy"][0] == pytest.approx((hit * per).sum() / per.sum())
    m.save(tmp_path / "m.fastlstm")
    again = load_model(tmp_path / "m.fastlstm")
    assert again.metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    assert again.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True) == pytest.approx(logs)


def test_a_declared_batch_size_is_the_batch_size():
    """Input(batch_shape=(4, ...)) with a stateful layer: fit with the default batch_size trained
    on batches of 32 and left (32, units) states; Keras 2 takes the declared size and refuses
    another, and a stateful model takes whole batches."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((16, 5, 2)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    m = Sequential([Input(batch_shape=(4, None, 2)), LSTM(3, stateful=True), Dense(1)], seed=0)
    m.compile("sgd", "mse")
    m.fit(x, y, epochs=1, shuffle=False, verbose=0)
    assert m.layers[0].states[0].shape == (4, 3)
    assert m.predict(x, verbose=0).shape == (16, 1)
    with pytest.raises(ValueError, match=r"batch_size: expected 4 \(the batch size the model's"):
        m.fit(x, y, batch_size=8, verbose=0)
    with pytest.raises(
        ValueError, match="takes whole batches: 10 samples is not a multiple of batch_size 4"
    ):
        m.predict(x[:10], verbose=0)


def test_csv_logger_writes_a_row_per_epoch(tmp_path):
    import csv

    x = np.random.default_rng(13).standard_normal((12, 4, 2)).astype(np.float32)
    m = Sequential([Input((4, 2)), LSTM(3), Dense(1)], seed=0)
    m.compile("sgd", "mse", metrics=["mae"])

    def fit_logged(name, append=False, **options):
        """(history, the rows of the CSV file) of a fit logged into ``name``."""
        path = tmp_path / name
        logger = callbacks.CSVLogger(path, append=append)
        history = m.fit(x, x[:, 0, :1], verbose=0, callbacks=[logger], **options)
        with path.open() as f:
            return history, list(csv.reader(f))

    history, rows = fit_logged("log.csv", epochs=3, validation_split=0.25)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    for r, loss in zip(rows[1:], history.history["loss"]):
        assert float(r[1]) == pytest.approx(loss)
    _, rows = fit_logged("log.csv", append=True, epochs=1)
    assert len(rows) == 5  # one header, four epochs
    assert rows[4][3] == "NA"  # no validation in that fit
    # Validation every second epoch: the first epoch's logs have no val_ entries, yet the
    # columns are there from the header on (NA where an epoch did not validate), as Keras's.
    history, rows = fit_logged(
        "every_second.csv", epochs=4, validation_split=0.25, validation_freq=2
    )
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [r[3] for r in rows[1:]][::2] == ["NA", "NA"]
    assert [float(r[3]) for r in rows[2::2]] == pytest.approx(history.history["val_loss"])
    _, rows = fit_logged("no_validation.csv", epochs=1)  # no validation at all: no val_ columns
    assert rows[0] == ["epoch", "loss", "mae"]


def test_clone_model_has_the_layers_and_weights_of_its_own():
    from fastlstm.models import clone_model

    x = np.random.default_rng(14).standard_normal((3, 4, 2)).astype(np.float32)
    m = Sequential([Input((4, 2)), LSTM(3), Dense(1)], seed=0)
    m.compile("adam", "mse")
    m.fit(x, np.ones((3, 1)), epochs=2, verbose=0)
    clone = clone_model(m)
    assert [type(l) for l in clone.layers] == [type(l) for l in m.layers]
    assert not clone.compiled
    assert all(a is not b for a, b in zip(clone.weights, m.weights))
    assert not np.array_equal(clone.predict(x, verbose=0), m.predict(x, verbose=0))  # fresh
    clone.set_weights(m.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), m.predict(x, verbose=0))


def test_to_json_and_model_from_json_give_the_architecture_back():
    """Keras's model.to_json() / models.model_from_json(text): the architecture as JSON, no
    weights (a model of the same layers, made afresh from their seeds, as clone_model's)."""
    from fastlstm.models import clone_model, model_from_json

    x = np.random.default_rng(15).standard_normal((3, 4, 2)).astype(np.float32)
    inp = Input((4, 2), name="frames")
    branch = Model(inp, Dense(2, seed=2)(GRU(3, return_sequences=True, seed=1)(inp)))
    for model in (Sequential([Input((4, 2)), LSTM(3), Dense(1)], seed=0), branch):
        text = model.to_json(indent=2)
        again = model_from_json(text)
        assert type(again) is type(model)
        assert again.get_config() == model.get_config()
        np.testing.assert_array_equal(
            again.predict(x, verbose=0), clone_model(model).predict(x, verbose=0)
        )
        assert model_from_json(text.encode()).to_json(indent=2) == text


def test_to_json_refuses_a_layer_of_the_users_own():
    """It had written a class name that model_from_json refuses, as save refuses it."""
    from fastlstm.layers import Layer

    class Halved(Layer):
        def call(self, inputs):
            return inputs / 2

    model = Sequential([Input((4, 2)), LSTM(3), Halved()])
    with pytest.raises(ValueError, match=r"only fastlstm's own layer classes can be saved"):
        model.to_json()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", r"json_string: not JSON text"),
        ("[1]", r"json_string: expected \{\"class_name\", \"config\"\}"),
        ('{"class_name": "Functional", "config": {}}', r"class_name 'Sequential' or 'Model'"),
        ('{"class_name": "Sequential", "config": {}, "keras_version": "3.5"}', r"a Keras model"),
        ('{"module": "keras", "class_name": "Functional", "config": {}}', r"a Keras model"),
        ('{"class_name": "Sequential", "config": {"layers": [], "seed": NaN}}', r"NaN is not"),
        (b"\xff{}", r"json_string: not UTF-8 text"),
        (
            (
                '{"class_name": "Sequential", "config": {"layers": [{"class_name": "os.system", '
                '"config": {}}]}}'
            ),
            r"layer: expected a class name in",
        ),
    ],
)
def test_model_from_json_names_what_is_wrong(text, match):
    from fastlstm.models import model_from_json

    with pytest.raises(ValueError, match=match):
        model_from_json(text)


@pytest.fixture
def global_seed():
    yield
    _arrays._global_seed[:] = [None, 0]  # fresh entropy again for the other tests


def test_set_random_seed_makes_unseeded_training_repeat(global_seed):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4, 2)), rng.standard_normal((16, 1))

    def trained():
        model = Sequential([LSTM(3, dropout=0.3), Dropout(0.5), Dense(1)])  # no seeds anywhere
        model.compile("adam", "mse")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)  # shuffled batches, dropout masks
        return model.get_weights()

    utils.set_random_seed(7)
    first, legacy, python = trained(), np.random.rand(), random.random()  # noqa: NPY002
    utils.set_random_seed(7)
    assert [np.array_equal(a, b) for a, b in zip(trained(), first)] == [True] * len(first)
    assert (np.random.rand(), random.random()) == (legacy, python)  # noqa: NPY002
    again = trained()  # the draws go on: another model
    assert not all(np.array_equal(a, b) for a, b in zip(again, first))
    seeded = LSTM(3, seed=1)
    seeded.build((None, 4, 2))
    utils.set_random_seed(8)
    other = LSTM(3, seed=1)
    other.build((None, 4, 2))
    for a, b in zip(seeded.get_weights(), other.get_weights()):  # a layer's own seed wins
        np.testing.assert_array_equal(a, b)
    for bad in (-1, 2**32):
        with pytest.raises(
            ValueError, match=rf"seed: expected a non-negative integer below 2\*\*32, got {bad}"
        ):
            utils.set_random_seed(bad)
    with pytest.raises(
        TypeError, match=r"seed: expected a non-negative integer below 2\*\*32, got 1.0"
    ):
        utils.set_random_seed(1.0)


def test_weighted_metric_names_as_keras_gives_them():
    """A weighted metric whose name an unweighted one has: Keras names it weighted_<name> (it was
    mae_1, so history["weighted_mae"] was a KeyError); a name of its own it keeps."""
    m = Sequential([Input((4, 2)), LSTM(3), Dense(1)], seed=0)
    m.compile("sgd", "mse", metrics=["mae"], weighted_metrics=["mae", "mse"])
    assert m.metrics_names == ["loss", "mae", "weighted_mae", "mse"]
