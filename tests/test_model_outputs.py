"""A functional model of several outputs trains as Keras's does: a loss per output, weighted and
summed (against torch: the loss and every gradient), each output's loss and metrics in the logs
under its name, targets as a list or a dict, saved and loaded with its compile state, and what
it does not take refused by name."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import fastlstm
from conftest import import_peer
from fastlstm import Model, losses
from fastlstm.layers import LSTM, Dense, Input

B, T, I, H = 16, 6, 3, 5


def _two_heads(dtype="float32"):
    """An LSTM trunk and two heads: a level (regression) and a kind (3 classes, logits)."""
    inp = Input(shape=(T, I))
    trunk = LSTM(H, seed=1, dtype=dtype)(inp)
    level = Dense(1, seed=2, name="level", dtype=dtype)(trunk)
    kind = Dense(3, seed=3, name="kind", dtype=dtype)(trunk)
    return Model(inp, [level, kind])


def _data(rng, dtype=np.float32):
    x = rng.standard_normal((B, T, I)).astype(dtype)
    return x, rng.standard_normal((B, 1)).astype(dtype), rng.integers(0, 3, B)


def test_the_weighted_sum_of_the_losses_and_its_gradients_match_torch():
    torch = import_peer("torch")
    rng = np.random.default_rng(0)
    model = _two_heads("float64")
    model.compile(
        "sgd",
        {"level": "mse", "kind": losses.SparseCategoricalCrossentropy(from_logits=True)},
        loss_weights={"kind": 0.25},
    )
    x, level, kind = _data(rng, np.float64)
    loss, grads = model.loss_and_gradients(x, {"kind": kind, "level": level})

    k, r, b, k1, b1, k2, b2 = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    h = c = torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):  # the LSTM's step, gates i, f, g, o (Keras's layout)
        z = torch.from_numpy(x[:, t]) @ k + h @ r + b
        i_, f, g, o = z.split(H, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i_) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    mse = ((h @ k1 + b1 - torch.from_numpy(level)) ** 2).mean()
    ce = torch.nn.functional.cross_entropy(h @ k2 + b2, torch.from_numpy(kind))
    want = mse + 0.25 * ce
    want.backward()
    assert loss == pytest.approx(want.item(), rel=1e-10)
    for got, w in zip(grads, (k, r, b, k1, b1, k2, b2), strict=True):
        np.testing.assert_allclose(got, w.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_the_logs_name_each_outputs_loss_and_metrics():
    rng = np.random.default_rng(1)
    model = _two_heads()
    model.compile(
        "adam",
        ["mse", losses.SparseCategoricalCrossentropy(from_logits=True)],
        metrics=[["mae"], ["accuracy"]],
        loss_weights=[1.0, 0.5],
    )
    x, level, kind = _data(rng)
    history = model.fit(x, [level, kind], batch_size=B, epochs=2, verbose=0, validation_split=0.25)
    assert list(history.history) == [
        "loss",
        "level_loss",
        "kind_loss",
        "level_mae",
        "kind_accuracy",
        "val_loss",
        "val_level_loss",
        "val_kind_loss",
        "val_level_mae",
        "val_kind_accuracy",
    ]
    logs = model.evaluate(x, [level, kind], batch_size=B, verbose=0, return_dict=True)
    pred_level, pred_kind = model.predict(x, verbose=0)
    mse = float(np.mean((pred_level - level) ** 2))
    logp = pred_kind - np.log(np.exp(pred_kind).sum(axis=1, keepdims=True))
    ce = float(-np.mean(logp[np.arange(B), kind]))
    assert logs["level_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["kind_loss"] == pytest.approx(ce, rel=1e-5)
    assert logs["loss"] == pytest.approx(mse + 0.5 * ce, rel=1e-5)
    assert logs["level_mae"] == pytest.approx(float(np.mean(np.abs(pred_level - level))), rel=1e-5)
    assert logs["kind_accuracy"] == float(np.mean(pred_kind.argmax(axis=1) == kind))


def test_several_outputs_save_load_and_pickle_with_their_compile_state(tmp_path):
    rng = np.random.default_rng(2)
    model = _two_heads()
    model.compile(
        "adam",
        ["mse", losses.SparseCategoricalCrossentropy(from_logits=True)],
        metrics={"kind": ["accuracy"]},
        weighted_metrics={"level": ["mae"]},
        loss_weights=[2.0, 1.0],
    )
    x, level, kind = _data(rng)
    model.fit(x, [level, kind], epochs=2, verbose=0)
    model.save(tmp_path / "m.fastlstm")
    copies = [fastlstm.load_model(tmp_path / "m.fastlstm"), pickle.loads(pickle.dumps(model))]
    want = model.evaluate(x, [level, kind], verbose=0, return_dict=True)
    model.fit(x, [level, kind], epochs=1, shuffle=False, verbose=0)
    for other in copies:
        assert other.evaluate(x, [level, kind], verbose=0, return_dict=True) == want
        other.fit(x, [level, kind], epochs=1, shuffle=False, verbose=0)  # the optimizer's state too
        for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_what_several_outputs_do_not_take_is_refused_by_name():
    rng = np.random.default_rng(3)
    x, level, kind = _data(rng)
    model = _two_heads()
    for kwargs, match in (
        (
            {"loss": "mse", "metrics": ["mae"]},
            r"metrics: for a model of 2 outputs, expected a metric or a list of them",
        ),
        (
            {"loss": {"level": None}},
            r"loss: expected a loss for at least one output \(\['level', 'kind'\]\), got none",
        ),
        (
            {"loss": {"levels": "mse", "kind": "mse"}},
            r"keys, \['level', 'kind'\], got also \['levels'\]",
        ),
        ({"loss": ["mse"]}, r"loss: for a model of 2 outputs, expected one entry per output"),
        ({"loss": "mse", "loss_weights": [1.0, -1.0]}, r"finite numbers >= 0, got -1.0 for 'kind'"),
    ):
        with pytest.raises(ValueError, match=match):
            model.compile("adam", **kwargs)
    with pytest.raises(TypeError, match=r"loss_weights: expected numbers, got True"):
        model.compile("adam", "mse", loss_weights=[True, 1.0])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match=r"y: expected a list of 2 arrays, one per output"):
        model.fit(x, level, verbose=0)
    with pytest.raises(ValueError, match=r"y: expected a dict with the outputs' names"):
        model.fit(x, {"level": level}, verbose=0)
    with pytest.raises(ValueError, match=r"same number of samples for every output"):
        model.fit(x, [level, kind[:3]], verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight: expected one array"):
        model.fit(x, [level, kind], sample_weight=[np.ones(B), np.ones(B)], verbose=0)
    with pytest.raises(
        ValueError, match=r"class_weight: not supported for a model whose outputs are a list"
    ):
        model.fit(x, [level, kind], class_weight={0: 1.0}, verbose=0)


def test_metrics_by_output_take_one_metric_or_a_list():
    """A dict's value or a list's entry may be one metric (Keras's metrics={"kind": "accuracy"});
    the value had been split into letters."""
    rng = np.random.default_rng(4)
    x, level, kind = _data(rng)
    model = _two_heads()
    ce = losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", ["mse", ce], metrics={"kind": "accuracy"})
    assert model.metrics_names == ["loss", "level_loss", "kind_loss", "kind_accuracy"]
    model.compile("adam", ["mse", ce], metrics=[["mae", "mse"], "accuracy"])
    logs = model.evaluate(x, [level, kind], verbose=0, return_dict=True)
    assert list(logs) == [
        "loss",
        "level_loss",
        "kind_loss",
        "level_mae",
        "level_mse",
        "kind_accuracy",
    ]
    assert logs["level_mse"] == pytest.approx(logs["level_loss"])


def test_output_names_never_take_another_layers_name():
    x = Input(shape=(3,))
    first, other = Dense(2, name="out"), Dense(2, name="out_1")
    t = first(x)
    model = Model(x, [t, t, other(x)])
    assert model.output_names == ["out", "out_2", "out_1"]
    h = LSTM(2, return_state=True, name="lstm")(Input(shape=(T, I)))
    assert Model(h[0].node.inputs[0], h).output_names == ["lstm", "lstm_1", "lstm_2"]


def test_outputs_given_as_a_list_of_one_take_the_forms_of_several():
    rng = np.random.default_rng(5)
    x, level, _ = _data(rng)
    inp = Input(shape=(T, I))
    model = Model(inp, [Dense(1, name="out", seed=1)(LSTM(H, seed=2)(inp))])
    for kwargs in (
        {"loss": ["mse"]},
        {"loss": {"out": "mse"}},
        {"loss": "mse", "metrics": [["mae"]]},
        {"loss": "mse", "metrics": {"out": "mae"}, "loss_weights": [1.0]},
    ):
        model.compile("sgd", **kwargs)
        logs = model.evaluate(x, {"out": level}, verbose=0, return_dict=True)
        assert logs["loss"] == model.evaluate(x, level, verbose=0, return_dict=True)["loss"]
    assert list(logs) == ["loss", "out_mae"]  # the output's loss is the loss: logged once
    model.compile("sgd", "mse", loss_weights=[0.5])
    half = model.evaluate(x, [level], verbose=0)
    model.compile("sgd", "mse")
    assert half == pytest.approx(0.5 * model.evaluate(x, [level], verbose=0))


def test_an_output_without_a_loss_is_not_trained_and_needs_no_targets(tmp_path):
    # Keras allows None for an output's loss (or a dict that leaves it out): an output read at
    # inference alone. It had been refused ("expected a loss for every output").
    rng = np.random.default_rng(4)
    x, level, _ = _data(rng)
    alone = Model.from_config(_two_heads().get_config())  # the same weights: seeded layers
    for model, loss in ((_two_heads(), {"level": "mse"}), (_two_heads(), ["mse", None])):
        model.compile(fastlstm.optimizers.SGD(0.1), loss=loss)
        head = model.get_layer("kind").get_weights()
        lost = model.evaluate(x, [level, None], verbose=0, return_dict=True)
        assert set(lost) == {"loss", "level_loss"}
        np.testing.assert_allclose(
            lost["loss"], np.mean((model.predict(x, verbose=0)[0] - level) ** 2), rtol=1e-5
        )
        model.fit(x, {"level": level}, epochs=2, batch_size=B, shuffle=False, verbose=0)
        for a, b in zip(head, model.get_layer("kind").get_weights()):
            np.testing.assert_array_equal(a, b)  # no loss reads it: not trained
        assert isinstance(model.predict(x, verbose=0), list)
    # The trunk and the level head train as a model of that output alone would.
    single = Model(alone.inputs, alone.outputs[0])
    single.compile(fastlstm.optimizers.SGD(0.1), loss="mse")
    single.fit(x, level, epochs=2, batch_size=B, shuffle=False, verbose=0)
    for name in ("lstm", "level"):
        for a, b in zip(single.get_layer(name).get_weights(), model.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    model.save(tmp_path / "m.fastlstm")
    again = fastlstm.load_model(tmp_path / "m.fastlstm")
    assert again.evaluate(x, [level, None], verbose=0) == pytest.approx(
        model.evaluate(x, [level, None], verbose=0), rel=1e-6
    )


def test_an_output_without_a_loss_still_needs_targets_for_its_metrics():
    rng = np.random.default_rng(5)
    x, level, kind = _data(rng)
    model = _two_heads()
    model.compile("adam", loss=["mse", None], metrics=[[], ["accuracy"]])
    with pytest.raises(
        ValueError, match=r"^y\[1\]: expected the targets of output 'kind', got None"
    ):
        model.fit(x, [level, None], verbose=0)
    with pytest.raises(ValueError, match=r"y: expected a dict with the outputs' names as keys"):
        model.fit(x, {"level": level}, verbose=0)
    model.compile("adam", loss=["mse", None])
    with pytest.raises(ValueError, match=r"^y\[0\]: expected the targets of output 'level'"):
        model.fit(x, [None, kind], verbose=0)
    with pytest.raises(ValueError, match=r"\['kind'\] may be left out: no loss or metric"):
        model.fit(x, {"kind": kind}, verbose=0)
