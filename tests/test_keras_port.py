"""Keras 3 code ported as it is written, from a review that ported a forecaster and a text model:
a checkpoint into a directory not made yet, Keras's defaults spelt out, its save and load
arguments in its order, summary's and the weights' attributes, a layer called on an Input,
Keras's own files, and windows reshuffled each epoch. Each failed before."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import fastlstm
from fastlstm import activations, callbacks
from fastlstm.layers import LSTM, Bidirectional, Dense, Embedding, Input, TimeDistributed
from fastlstm.models import Sequential, load_model
from fastlstm.utils import timeseries_dataset_from_array

rng = np.random.default_rng(3)
X = rng.standard_normal((16, 5, 3)).astype(np.float32)
Y = rng.standard_normal((16, 2)).astype(np.float32)


def compiled() -> Sequential:
    model = Sequential([Input((5, 3)), LSTM(4), Dense(2)], seed=0)
    model.compile("adam", "mse")
    return model


def test_a_checkpoint_makes_its_directory(tmp_path):
    """It had raised FileNotFoundError at the end of the first epoch, its training spent."""
    model = compiled()
    path = tmp_path / "ckpts" / "run1" / "model_{epoch:02d}.keras"
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(str(path))])
    saved = sorted(p.name for p in (tmp_path / "ckpts" / "run1").iterdir())
    assert saved == ["model_01.keras", "model_02.keras"]
    np.testing.assert_array_equal(
        load_model(tmp_path / "ckpts" / "run1" / "model_02.keras").predict(X, verbose=0),
        model.predict(X, verbose=0),
    )
    (tmp_path / "file").write_text("")  # a directory in the path that is a file
    blocked = callbacks.ModelCheckpoint(str(tmp_path / "file" / "m.keras"))
    with pytest.raises(OSError, match=r"filepath: could not make the directory"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[blocked])


def test_keras_defaults_spelt_out_are_taken():
    layers = [
        Dense(4, kernel_constraint=None, bias_constraint=None, activity_regularizer=None),
        LSTM(4, activity_regularizer=None, recurrent_constraint=None, activation=activations.tanh),
        LSTM(4, recurrent_activation=activations.sigmoid),
        Embedding(10, 3, embeddings_constraint=None),
    ]
    assert [type(layer).__name__ for layer in layers] == ["Dense", "LSTM", "LSTM", "Embedding"]
    with pytest.raises(TypeError, match=r"kernel_constraint: constraints are not supported"):
        Dense(4, kernel_constraint="non_neg")
    with pytest.raises(TypeError, match=r"activity_regularizer: not supported"):
        LSTM(4, activity_regularizer="l2")
    with pytest.raises(TypeError, match=r"activation: fixed at tanh"):
        LSTM(4, activation=activations.relu)


def test_non_trainable_weights_are_the_frozen_layers():
    model = Sequential(
        [Input((5, 3)), Bidirectional(LSTM(3, return_sequences=True)), TimeDistributed(Dense(2))],
        seed=0,
    )
    model.build((None, 5, 3))
    assert model.non_trainable_weights == []
    model.layers[0].backward_layer.trainable = False
    model.layers[1].trainable = False
    frozen = [*model.layers[0].backward_layer.weights, *model.layers[1].weights]
    assert [id(w) for w in model.non_trainable_weights] == [id(w) for w in frozen]
    assert len(model.trainable_weights) + len(model.non_trainable_weights) == len(model.weights)
    assert model.layers[0].forward_layer.non_trainable_weights == []


def test_summary_takes_keras_arguments():
    model = compiled()
    model.layers[0].trainable = False
    lines: list[str] = []
    model.summary(line_length=None, expand_nested=True, show_trainable=True, print_fn=lines.append)
    header = next(line for line in lines if "Layer (type)" in line)
    assert header.rstrip().endswith("Trainable")
    rows = {
        line.split()[0]: line.split()[-1] for line in lines if "(LSTM)" in line or "(Dense)" in line
    }
    assert rows == {"lstm": "N", "dense": "Y"}
    plain: list[str] = []
    model.summary(print_fn=plain.append)
    assert len(plain[1]) == 72  # line_length None: 72
    assert plain[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    with pytest.raises(ValueError, match=r"layer_range: only None is supported"):
        model.summary(layer_range=["lstm", "dense"])
    # had failed at the first line with "'int' object is not callable"
    with pytest.raises(
        TypeError, match=r"^print_fn: expected a callable \(print's place\) or None, got 5$"
    ):
        model.summary(print_fn=5)


def test_save_and_load_take_keras_arguments_in_keras_order(tmp_path):
    model = compiled()
    model.fit(X, Y, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path, overwrite=True)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"exists, and overwrite=False"):
        model.save(path, overwrite=False)
    with pytest.raises(FileExistsError):
        model.save_weights(path, False)
    assert path.read_bytes() == before
    model.save(tmp_path / "new.keras", overwrite=False)  # no file there: saved
    loaded = load_model(path, None, True, safe_mode=True)  # Keras's positions
    assert loaded.optimizer is not None
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert fastlstm.load_model(path, compile=False, safe_mode=False).optimizer is None
    fresh = compiled()
    fresh.load_weights(path, skip_mismatch=False)
    with pytest.raises(ValueError, match=r"skip_mismatch: True is not supported"):
        fresh.load_weights(path, skip_mismatch=True)


def test_keras_files_are_named_with_the_way_to_move_their_weights(tmp_path):
    h5 = tmp_path / "model.weights.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match=r"an HDF5 file, as Keras's .h5: .*set_weights"):
        load_model(h5)
    keras = tmp_path / "model.keras"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("metadata.json", "config.json", "model.weights.h5"):
            zf.writestr(name, "{}")
    keras.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match=r"a Keras model file: .*get_weights"):
        load_model(keras)


def test_shuffled_windows_come_in_a_new_order_each_epoch():
    """Keras's dataset reshuffles on each pass; the windows had kept one order for every epoch."""
    data = np.arange(200, dtype=np.float32).reshape(100, 2)
    targets = np.arange(100, dtype=np.float32) * 10

    def make():
        return timeseries_dataset_from_array(data, targets, 5, batch_size=8, shuffle=True, seed=4)

    windows = make()
    orders = []
    for _ in range(3):  # passes as fit takes them: every batch in turn
        batches = [windows[i] for i in range(len(windows))]
        orders.append(np.concatenate([x[:, 0, 0] for x, _ in batches]))
        for x, y in batches:  # each window still with its own target
            np.testing.assert_array_equal(y, x[:, 0, 0] * 5)
        windows.on_epoch_end()
    assert sorted(orders[0]) == sorted(orders[1]) == sorted(orders[2])
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    again = make()  # the same seed: the same orders
    np.testing.assert_array_equal(again[0][0], make()[0][0])
    # In fit, with steps_per_epoch shorter than a pass: every window once a pass, epochs spanning
    # passes (a reshuffle after each epoch had skipped some windows and repeated others)
    model = Sequential([Input((5, 2)), LSTM(3), Dense(1)], seed=0)
    model.compile("sgd", "mse")
    windows, seen = make(), []

    class Seen(type(windows)):  # the same windows, each batch given recorded
        def __getitem__(self, index):
            batch = super().__getitem__(index)
            seen.append(batch[0][:, 0, 0].copy())
            return batch

    windows.__class__ = Seen
    passes, per_pass = 3, len(windows)
    model.fit(windows, epochs=passes * per_pass // 4, steps_per_epoch=4, verbose=0)
    del seen[0]  # the batch fit reads first to build the model
    assert len(seen) == passes * per_pass
    for k in range(passes):
        chunk = np.concatenate(seen[k * per_pass : (k + 1) * per_pass])
        np.testing.assert_array_equal(np.sort(chunk), np.sort(orders[0]))


def test_keras_older_homes_of_the_helpers_and_input_layer():
    from fastlstm import preprocessing, utils
    from fastlstm.layers import InputLayer
    from fastlstm.preprocessing.sequence import pad_sequences

    assert pad_sequences is utils.pad_sequences
    assert preprocessing.timeseries_dataset_from_array is utils.timeseries_dataset_from_array
    model = Sequential([InputLayer(shape=(5, 3)), LSTM(2)], seed=0)
    assert model.built
    assert model.input_shape == (None, 5, 3)


def test_pad_sequences_pads_tokens_with_dtype_object():
    from fastlstm.utils import pad_sequences

    padded = pad_sequences([["a", "b", "c"], ["d"]], maxlen=2, dtype=object, value="<pad>")
    assert padded.tolist() == [["b", "c"], ["<pad>", "d"]]
    post = pad_sequences([["a"], []], maxlen=2, dtype=object, value="<pad>", padding="post")
    assert post.tolist() == [["a", "<pad>"], ["<pad>", "<pad>"]]
    assert pad_sequences([["ab"], ["c", "d"]], dtype="U2", value="_").tolist() == [
        ["_", "ab"],
        ["c", "d"],
    ]
    with pytest.raises(
        TypeError, match=r"sequences\[0\]: expected numbers for dtype int32, got strings"
    ):
        pad_sequences([["a"]])


def test_padding_labels_that_a_loss_ignores_pass_accuracy_and_class_weight():
    """Sequence labelling with padded steps labelled -1, masked (Embedding(mask_zero)) and left
    out by the loss (ignore_class=-1): "accuracy" had refused the -1 ("expected labels in [0,
    3)"), and class_weight too; Keras counts such a label as a miss of weight 0, and weighs a
    class the dict does not name by 1."""
    from fastlstm import losses

    x = np.array([[3, 4, 5, 0], [6, 7, 0, 0]])  # 0: padding
    y = np.array([[0, 1, 2, -1], [2, 1, -1, -1]])  # -1 only where x is padding
    model = Sequential(
        [Embedding(10, 4, mask_zero=True), LSTM(4, return_sequences=True), Dense(3)], seed=0
    )
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    model.compile("sgd", loss, metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    valid = x != 0
    assert logs["accuracy"] == pytest.approx(np.mean(p.argmax(-1)[valid] == y[valid]))
    assert logs["sparse_top_k_categorical_accuracy"] == 1.0  # k=5 of 3 classes: every valid step
    model.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 3.0}, epochs=1, verbose=0)
    model.fit(x, y, class_weight={-1: 0.0, 0: 1.0}, epochs=1, verbose=0)


def test_metrics_by_class_name_are_logged_as_keras_logs_them(tmp_path):
    """metrics=["AUC"] had been logged as "AUC", so EarlyStopping("val_auc") never found it."""
    import warnings

    from fastlstm import losses

    x = rng.standard_normal((16, 5, 3))
    y = (x[:, 0, :1] > 0).astype(float)
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1, activation="sigmoid")], seed=0)
    model.compile("adam", "binary_crossentropy", metrics=["AUC", "Precision", "auc"])
    assert model.metrics_names == ["loss", "auc", "precision", "auc_1"]
    stop = callbacks.EarlyStopping("val_auc", patience=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a monitor not found warns
        model.fit(x, y, epochs=2, validation_data=(x, y), verbose=0, callbacks=[stop])
    # The losses' functions and Keras's names of the losses as metrics: minimised, and saved
    counts = np.abs(rng.standard_normal((16, 2)))
    model = Sequential([Input((5, 3)), LSTM(4), Dense(2, activation="softplus")], seed=0)
    model.compile("adam", "poisson", metrics=[losses.poisson, "kl_divergence", "hinge"])
    assert model.metrics_names == ["loss", "poisson", "kl_divergence", "hinge"]
    logs = model.evaluate(x, counts, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0).astype(np.float64)
    assert logs["poisson"] == pytest.approx(np.mean(p - counts * np.log(p + 1e-7)), rel=1e-5)
    model.save(tmp_path / "m.keras")
    assert load_model(tmp_path / "m.keras").metrics_names == model.metrics_names
    best = callbacks.ModelCheckpoint(
        str(tmp_path / "best.keras"), "val_poisson", save_best_only=True
    )
    model.fit(x, counts, epochs=1, validation_data=(x, counts), verbose=0, callbacks=[best])
    assert best.mode == "min"


def test_pad_sequences_with_a_str_dtype_keeps_whole_tokens():
    """dtype=str had cut every token to its first character."""
    from fastlstm.utils import pad_sequences

    padded = pad_sequences([["hello", "world"], ["x"]], dtype=str, value="<pad>")
    assert padded.tolist() == [["hello", "world"], ["<pad>", "x"]]
    assert padded.dtype.kind == "U"


def test_gelu_called_directly_takes_what_the_other_activations_take():
    """Ints and float16 had met the core's erf unconverted (pybind's "incompatible function
    arguments"), and a 0-d array had come back of shape (1,)."""
    import math

    expected = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in (-1.0, 0.0, 2.0)]
    for z in (np.array([-1, 0, 2]), np.array([-1, 0, 2], np.float16)):
        np.testing.assert_allclose(activations.gelu(z), expected, rtol=1e-3)
    assert np.shape(activations.gelu(np.array(2.0))) == ()
    assert activations.gelu(np.ones(3, np.float32)).dtype == np.float32


def test_load_model_with_compile_where_keras_has_custom_objects_says_so(tmp_path):
    compiled().save(tmp_path / "m.keras")
    with pytest.raises(TypeError, match=r"Keras's order: load_model\(filepath, custom_objects"):
        load_model(tmp_path / "m.keras", False)
