"""fastlstm.models.Sequential: building, summary, config, fit/evaluate/predict semantics, seeds,
masks, gradients through a whole model, and bad input. PyTorch parity is in
test_models_torch.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import check_model_gradients
from fastlstm import callbacks, losses, optimizers
from fastlstm.layers import (
    LSTM,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    Masking,
    TimeDistributed,
)
from fastlstm.models import Sequential, load_model
from fastlstm.regularizers import L2

RNG = np.random.default_rng(0)
V, T = 11, 6


def tokens(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, (n, T))
    return x, (x[:, 0] > V // 2).astype(np.int64)


def classifier(seed=0, dtype="float32", **lstm):
    return Sequential(
        [
            Embedding(V, 4, dtype=dtype),
            LSTM(5, dtype=dtype, **lstm),
            Dense(2, activation="softmax", dtype=dtype),
        ],
        seed=seed,
    )


def test_build_summary_and_shapes():
    model = Sequential([Input((T,)), Embedding(V, 4), LSTM(5, return_sequences=True)])
    model.add(TimeDistributed(Dense(3)))
    model.add(LSTM(2))
    assert model.built
    assert model.output_shape == (None, 2)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for expected in (
        'Model: "sequential"',
        "embedding (Embedding)",
        "(None, 6, 4)",
        "lstm (LSTM)",
        "(None, 6, 5)",
        "time_distributed (TimeDistributed)",
        "(None, 6, 3)",
        "lstm_1 (LSTM)",  # a second auto-named layer gets a suffix, as Keras
        f"{4 * (4 + 5 + 1) * 5:,}",
        f"Total params: {model.count_params():,}",
    ):
        assert expected in text, expected
    assert model.count_params() == V * 4 + 4 * (4 + 5 + 1) * 5 + (5 * 3 + 3) + 4 * (3 + 2 + 1) * 2


def test_a_layer_that_does_not_fit_is_not_added():
    model = Sequential([Input((3,)), Dense(4)])
    layer = Dense(2, seed=0)
    layer.build((None, 5))
    with pytest.raises(
        ValueError, match=r"expected inputs with 5 features .* got 4 from the layer"
    ):
        model.add(layer)
    assert len(model.layers) == 1
    assert model.output_shape == (None, 4)


def test_same_seed_same_weights_and_loss_curve_with_shuffling():
    x, y = tokens()
    curves, weights = [], []
    for seed in (3, 3, 4):
        model = Sequential(
            [Embedding(V, 4), LSTM(5, dropout=0.2), Dropout(0.3), Dense(2, "softmax")], seed=seed
        )
        model.compile("adam", "sparse_categorical_crossentropy")
        curves.append(model.fit(x, y, batch_size=8, epochs=3, verbose=0).history["loss"])
        weights.append(model.get_weights())
    assert curves[0] == curves[1]
    assert curves[0] != curves[2]
    for a, b in zip(weights[0], weights[1]):
        np.testing.assert_array_equal(a, b)


def test_fit_history_validation_and_evaluate():
    x, y = tokens(50)
    model = classifier(1)
    model.compile(optimizers.Adam(0.05), "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(x, y, batch_size=10, epochs=4, validation_split=0.2, verbose=0)
    assert history.epoch == [0, 1, 2, 3]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.history is history
    # the validation set is the last 20% (before shuffling), evaluated after the epoch
    val_loss, val_acc = model.evaluate(x[40:], y[40:], verbose=0)
    assert val_loss == pytest.approx(history.history["val_loss"][-1], rel=1e-6)
    assert val_acc == pytest.approx(history.history["val_accuracy"][-1])
    p = model.predict(x[40:], batch_size=3, verbose=0)
    assert val_loss == pytest.approx(losses.SparseCategoricalCrossentropy()(y[40:], p), rel=1e-5)
    assert val_acc == pytest.approx((p.argmax(-1) == y[40:]).mean())
    np.testing.assert_allclose(p, model(x[40:]), rtol=1e-6)
    np.testing.assert_array_equal(model.predict_on_batch(x[:3]), model(x[:3]))
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}


def test_epoch_loss_is_the_batch_size_weighted_mean():
    x, y = tokens(10)
    model = classifier(2)
    model.compile(optimizers.SGD(0.0), "sparse_categorical_crossentropy")  # weights stay put
    loss = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"][0]
    per = [model.test_on_batch(x[i : i + 4], y[i : i + 4]) for i in (0, 4, 8)]
    assert loss == pytest.approx((4 * per[0] + 4 * per[1] + 2 * per[2]) / 10, rel=1e-6)


def test_sample_weight_scales_the_gradient():
    x, y = tokens(16)
    a, b = classifier(5, "float64"), classifier(5, "float64")
    a.compile(optimizers.SGD(0.2), "sparse_categorical_crossentropy")
    b.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    a.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=np.full(16, 2.0))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-10, atol=1e-14)


def test_regularization_penalty_is_part_of_the_loss():
    x, y = tokens(8)
    plain, regular = classifier(4, "float64"), classifier(4, "float64", kernel_regularizer=L2(0.5))
    for m in (plain, regular):
        m.compile("sgd", "sparse_categorical_crossentropy")
        m.build((None, T))
    penalty = 0.5 * (regular.layers[1].kernel ** 2).sum()
    assert penalty > 0
    assert regular.test_on_batch(x, y) == pytest.approx(plain.test_on_batch(x, y) + penalty)
    _, g_plain = plain.loss_and_gradients(x, y)
    _, g_regular = regular.loss_and_gradients(x, y)
    np.testing.assert_allclose(g_regular[1], g_plain[1] + regular.layers[1].kernel, rtol=1e-12)


def test_initial_epoch_and_stop_training():
    x, y = tokens(32)
    model = classifier(0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=3, initial_epoch=2, verbose=0)
    assert history.epoch == [2]

    class StopAfterThree(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    before = model.optimizer.iterations
    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[StopAfterThree()])
    assert model.optimizer.iterations - before == 3
    assert history.epoch == [0]


def test_gradients_through_the_whole_model_match_finite_differences():
    x, y = tokens(4, seed=9)
    model = Sequential(
        [
            Embedding(V, 3, dtype="float64"),
            LSTM(4, dtype="float64", return_sequences=True),
            LSTM(3, dtype="float64"),
            Dense(2, activation="tanh", dtype="float64"),
            Dense(3, dtype="float64"),
        ],
        seed=7,
    )
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    _, grads = model.loss_and_gradients(x, y)
    check_model_gradients(model, x, y, grads, np.random.default_rng(1))


def test_masking_through_embedding_matches_unpadded_sequences():
    lengths = [6, 2, 4, 1]
    x = np.zeros((4, T), np.int64)
    rng = np.random.default_rng(3)
    for b, n in enumerate(lengths):
        x[b, :n] = rng.integers(1, V, n)
    model = Sequential(
        [Embedding(V, 4, mask_zero=True, dtype="float64"), LSTM(5, dtype="float64"), Dense(1)],
        seed=2,
    )
    padded = model.predict(x, verbose=0)
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(padded[b], model(x[b : b + 1, :n])[0], rtol=1e-6)
    # training: the padding index gets no gradient, and the loss ignores padded steps
    model.compile("sgd", "mse")
    _, grads = model.loss_and_gradients(x, np.ones((4, 1)))
    np.testing.assert_array_equal(grads[0][0], 0)


def test_sequence_loss_is_masked_like_keras():
    x = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    model = Sequential(
        [
            Embedding(V, 3, mask_zero=True, dtype="float64"),
            LSTM(4, return_sequences=True, dtype="float64"),
            TimeDistributed(Dense(1, dtype="float64")),
        ],
        seed=1,
    )
    model.compile("sgd", "mse")
    y = np.ones((2, 4, 1))
    out = model(x)
    valid = x != 0
    expected = ((out[..., 0] - 1) ** 2)[valid].mean()  # the mean over unmasked steps only
    assert model.test_on_batch(x, y) == pytest.approx(expected, rel=1e-10)


def test_masking_layer_for_float_sequences():
    x = RNG.standard_normal((2, 5, 3))
    x[1, 3:] = 0.0
    model = Sequential([Masking(0.0), LSTM(4, dtype="float64")], seed=0)
    out = model(x)
    np.testing.assert_allclose(out[1], model(x[1:, :3])[0], rtol=1e-10)


def test_config_round_trip_gives_the_same_model():
    model = classifier(11, return_sequences=False)
    model.build((None, T))
    config = json.loads(json.dumps(model.get_config()))
    clone = Sequential.from_config(config)
    x, _ = tokens(5)
    np.testing.assert_array_equal(clone(x), model(x))  # seeded layers: the same weights
    clone.set_weights([w * 0 for w in model.get_weights()])
    np.testing.assert_array_equal(clone.get_weights()[0], 0)


def test_verbose_output(capsys):
    x, y = tokens(16)
    model = classifier(0)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out
    assert "Epoch 2/2" in out
    assert "2/2 " in out
    assert "/step - loss: " in out
    assert " - accuracy: " in out
    model.fit(x, y, batch_size=8, epochs=2, verbose=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if l]
    assert len(lines) == 4  # "Epoch i/2" and one line per epoch
    assert lines[1].startswith("2/2 - ")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


def _built_dense(inputs):
    layer = Dense(2, seed=0)
    layer.build((None, inputs))
    return layer


@pytest.mark.parametrize(
    ("action", "exc", "match"),
    [
        (lambda m, x, y: m.fit(x, y, verbose=0), ValueError, "fit: the model must be compiled"),
        (lambda m, x, y: m.evaluate(x, y), ValueError, "evaluate: the model must be compiled"),
        (
            lambda m, x, y: (m.compile("adam", "mse"), m.fit(x, y[:-1], verbose=0)),
            ValueError,
            "x, y: expected the same number of samples, got x with 12 and y with 11",
        ),
        (
            lambda m, x, y: (m.compile("adam", "mse"), m.fit(x, y, verbose=0)),
            ValueError,
            r"y_true: expected shape \(12, 2\) to match the model's output .* got \(12,\)",
        ),
        (
            lambda m, x, y: (
                m.compile("adam", "sparse_categorical_crossentropy"),
                m.fit(x, y + 2, verbose=0),
            ),
            ValueError,
            r"y_true: expected labels in \[0, 2\)",
        ),
        (lambda m, x, y: m.compile("adamx", "mse"), ValueError, "optimizer: expected"),
        (lambda m, x, y: m.compile("adam", "mean_squared_eror"), ValueError, "loss: expected"),
        (lambda m, x, y: m.compile("adam", None), ValueError, "loss: expected a loss"),
        (lambda m, x, y: m.compile("adam", "mse", ["f1"]), ValueError, "metrics: expected"),
        (lambda m, x, y: m.compile("adam", "mse", "mae"), TypeError, "metrics: expected a list"),
        (
            lambda m, x, y: (m.compile("adam", "mse"), m.fit(x, y, verbose=3)),
            ValueError,
            "verbose: expected",
        ),
        (
            lambda m, x, y: (m.compile("adam", "mse"), m.fit(x, y, batch_size=0)),
            ValueError,
            "batch_size: expected a positive integer",
        ),
        (
            lambda m, x, y: (m.compile("adam", "mse"), m.fit(x, y, validation_split=1.5)),
            ValueError,
            r"validation_split: expected a number in \(0, 1\), got 1.5",
        ),
        (
            lambda m, x, y: (m.compile("adam", "mse"), m.fit(x, y, validation_split="0.2")),
            TypeError,
            r"validation_split: expected a number in \(0, 1\), got '0.2'",
        ),
        (lambda m, x, y: m.predict(np.array(["a", "b"])), TypeError, "x: expected an array of"),
        (lambda m, x, y: m.add("dense"), TypeError, "layer: expected a fastlstm layer"),
        (lambda m, x, y: m.add(LSTM(2, return_state=True)), ValueError, "return_state"),
        (lambda m, x, y: m.add(Dense(2, name="dense")), ValueError, "already used"),
        (
            lambda m, x, y: Sequential([Input((3,)), Dense(4), _built_dense(5)]),
            ValueError,
            "expected inputs with 5 features .* got 4 from the layer before",
        ),
    ],
)
def test_bad_input_is_named(action, exc, match):
    x, y = tokens(12)
    model = Sequential([Embedding(V, 3), LSTM(4), Dense(2, name="dense")], seed=0)
    with pytest.raises(exc, match=match):
        action(model, x, y)


def test_a_declared_batch_size_is_not_asked_of_a_model_that_keeps_no_state():
    # The message had given the declared batch (4, 5, 3) for a model that takes any batch size.
    model = Sequential([LSTM(2, batch_input_shape=(4, 5, 3)), Dense(1)], seed=0)
    assert model.predict(np.zeros((3, 5, 3)), verbose=0).shape == (3, 1)
    expected = r"^x: expected an array of shape \(None, 5, 3\) \(.*any batch size\), got shape"
    with pytest.raises(ValueError, match=expected + r" \(4, 6, 3\)$"):
        model.predict(np.zeros((4, 6, 3)), verbose=0)


@pytest.mark.parametrize(
    "first",
    [
        lambda: [Input(shape=(5, 3)), LSTM(2, return_sequences=True)],
        lambda: [LSTM(2, input_shape=(5, 3), return_sequences=True)],
    ],
    ids=["Input", "input_shape"],
)
def test_a_declared_input_shape_is_checked_whole_as_keras_checks_it(first, tmp_path):
    """Only the rank was checked: 7 steps went into a model declared for 5, and behind a
    Flatten the error blamed the Dense. Each size the declaration fixes is checked (the batch
    aside), after a save and load too; a model built from data checks the rank only, so one
    trained on 5 steps still takes 7."""
    model = Sequential([*first(), Flatten(), Dense(1)], seed=0)
    model.predict(np.zeros((2, 5, 3)), verbose=0)
    expected = r"^x: expected an array of shape \(None, 5, 3\) \(the model's declared input"
    with pytest.raises(ValueError, match=expected + r".*got shape \(2, 7, 3\)"):
        model.predict(np.zeros((2, 7, 3)), verbose=0)
    model.save(tmp_path / "m.fastlstm")
    loaded = load_model(tmp_path / "m.fastlstm")
    with pytest.raises(ValueError, match=expected):
        loaded.predict(np.zeros((2, 7, 3)), verbose=0)
    with pytest.raises(ValueError, match=r"^x: expected a tensor of shape like \(None, 5, 3\)"):
        Model_of(model, Input(shape=(7, 3)))
    from_data = Sequential([LSTM(2), Dense(1)], seed=0)
    from_data.predict(np.zeros((2, 5, 3)), verbose=0)
    assert from_data.predict(np.zeros((2, 7, 3)), verbose=0).shape == (2, 1)


@pytest.mark.parametrize(
    "first",
    [
        lambda: Embedding(10, 3, input_length=5),
        lambda: LSTM(3, input_length=5, input_dim=1, return_sequences=True),
    ],
    ids=["Embedding", "LSTM"],
)
def test_keras_2s_input_length_declares_a_length_that_is_not_enforced(first, tmp_path):
    """Keras 2 only warned when data of another length came to a model declared by
    input_length, and Keras 3 ignores the argument: such a model takes 7 steps where 5 were
    declared, after a save and load too."""
    model = Sequential([first(), LSTM(2), Dense(1)], seed=0)
    x = np.ones((2, 7) if isinstance(model.layers[0], Embedding) else (2, 7, 1))
    want = model.predict(x, verbose=0)
    assert want.shape == (2, 1)
    model.save(tmp_path / "m.fastlstm")
    np.testing.assert_array_equal(load_model(tmp_path / "m.fastlstm").predict(x, verbose=0), want)


def Model_of(inner, tensor):
    """A functional model of one Sequential called on ``tensor``."""
    from fastlstm.models import Model

    return Model(tensor, inner(tensor))


def test_changing_trainable_weights_after_compile_says_to_compile_again():
    x, y = tokens()
    model = classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    model.layers[1].trainable = False
    with pytest.raises(ValueError, match=r"params: expected .*compile\(\) it again"):
        model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = model.layers[1].get_weights()
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    for a, b in zip(model.layers[1].get_weights(), frozen):
        np.testing.assert_array_equal(a, b)


def test_model_trainable_freezes_and_thaws_every_layer():
    x, y = tokens()
    model = classifier()
    model.trainable = False  # Keras's way to freeze a whole model
    assert not model.trainable
    assert not any(layer.trainable for layer in model.layers)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.build((None, T))
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.trainable = True
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    with pytest.raises(TypeError, match="trainable: expected"):
        model.trainable = "no"


def test_bad_validation_data_is_named():
    x, y = tokens()
    model = classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"^validation_data: x, y: expected the same number"):
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y[:3]))
    with pytest.raises(ValueError, match=r"^validation_data: x: expected at least one sample"):
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x[:0], y[:0]))


def test_l1_l2_by_name_has_keras_factors():
    from fastlstm import regularizers

    assert regularizers.get("l1_l2", "kernel_regularizer") == regularizers.L1L2(l1=0.01, l2=0.01)
    assert regularizers.get("l2", "kernel_regularizer") == L2(0.01)


def test_a_frozen_layers_penalty_is_not_in_the_loss():
    """Keras 3: only trained weights add their regulariser's penalty (after compile())."""
    x = RNG.standard_normal((8, 3))
    y = RNG.standard_normal((8, 1))
    dense = Dense(1, kernel_regularizer=L2(1.0), seed=0)
    model = Sequential([Input((3,)), dense])
    model.compile(optimizer="sgd", loss="mse")
    with_penalty = model.evaluate(x, y, verbose=0)
    penalty = float(np.sum(dense.kernel**2))
    plain = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    assert with_penalty == pytest.approx(plain + penalty, rel=1e-5)
    dense.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain, rel=1e-5)


def test_a_sequential_in_a_sequential_is_refused_with_what_to_write():
    inner = Sequential([Dense(2)])
    with pytest.raises(TypeError, match=r"a Sequential cannot hold another: list its layers"):
        Sequential([inner])
    outer = Sequential([*inner.layers])  # as the message says
    assert outer.layers == inner.layers


@pytest.mark.parametrize("kind", ["prelu", "layer_norm", "batch_norm"])
def test_every_layers_regularizer_is_in_the_reported_loss(kind):
    # PReLU's alpha and the normalizations' gamma and beta regularizers had trained (their
    # gradient) but been left out of the loss that evaluate and fit report.
    from fastlstm.layers import BatchNormalization, LayerNormalization, PReLU

    reg = L2(0.5)
    make = {
        "prelu": lambda r: PReLU(alpha_regularizer=r),
        "layer_norm": lambda r: LayerNormalization(gamma_regularizer=r, beta_regularizer=r),
        "batch_norm": lambda r: BatchNormalization(gamma_regularizer=r, beta_regularizer=r),
    }[kind]
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 1))
    losses_ = []
    for r in (None, reg):
        layer = make(r)
        model = Sequential([Input((4,), dtype="float64"), Dense(3, dtype="float64", seed=1)])
        model.add(layer)
        model.add(Dense(1, dtype="float64", seed=2))
        model.compile("sgd", "mse")
        model.build((None, 4))
        layer.set_weights([w + 0.25 for w in layer.get_weights()])  # penalties away from 0
        losses_.append(model.evaluate(x, y, verbose=0))
    penalty = sum(0.5 * np.sum(w**2) for w in layer.trainable_weights)
    assert penalty > 0
    assert losses_[1] == pytest.approx(losses_[0] + penalty, rel=1e-12)
