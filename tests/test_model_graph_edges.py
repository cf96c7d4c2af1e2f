"""The functional Model where a review of it found faults: outputs given as a list of one, a
layer unfrozen between compile and loss_and_gradients, Inputs' dtypes and saved files, models
sharing layers (their locks and their layers' names), Keras's input/output attributes, a batch
size declared on a later input, merges that broadcast, Bidirectional's dtype. Each failed
before its fix."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import fastlstm
from conftest import child_timeout, import_peer
from fastlstm import Model
from fastlstm._locks import WeightsLock
from fastlstm.layers import (
    GRU,
    LSTM,
    Add,
    Bidirectional,
    Concatenate,
    Dense,
    Embedding,
    Flatten,
    Input,
    Maximum,
    Multiply,
    RepeatVector,
    Subtract,
)

B, T, I = 8, 5, 3


def _xy(rng, dtype=np.float32):
    return rng.standard_normal((B, T, I)).astype(dtype), rng.standard_normal((B, 2)).astype(dtype)


def test_a_model_of_one_output_given_in_a_list_trains_with_y_or_a_list_of_it():
    rng = np.random.default_rng(0)
    x, y = _xy(rng)
    inp = Input(shape=(T, I))
    listed = Model(inp, [Dense(2, seed=1)(LSTM(4, seed=2)(inp))])
    alone = Model(inp, listed.outputs[0])
    for m in (listed, alone):
        m.compile("sgd", "mse")
    assert listed.evaluate(x, y, verbose=0) == alone.evaluate(x, [y], verbose=0)
    listed.fit(x, [y], epochs=1, verbose=0, shuffle=False)
    listed.fit(x, y, epochs=1, verbose=0, shuffle=False)
    called = listed(x)
    assert isinstance(called, list)
    assert len(called) == 1
    # predict gives the one output's array, as Keras 3's (which unpacks a list of one)
    out = listed.predict(x, verbose=0)
    np.testing.assert_array_equal(out, alone.predict(x, verbose=0))  # one set of weights
    np.testing.assert_array_equal(out, called[0])
    assert listed.output_shape == [(None, 2)]
    assert alone.output_shape == (None, 2)


def test_a_sequentials_inputs_and_its_layers_outputs_make_a_feature_extractor():
    """Keras's guide: Model(seq.inputs, seq.get_layer(name).output) and the outputs of every
    layer. A Sequential had no inputs, outputs, input or output, nor its layers an output."""
    rng = np.random.default_rng(4)
    x, y = _xy(rng)
    seq = fastlstm.Sequential(
        [Input((T, I)), LSTM(5, return_sequences=True, name="l1"), LSTM(4, name="l2"), Dense(2)],
        seed=0,
    )
    seq.compile("adam", "mse")
    seq.fit(x, y, epochs=2, verbose=0)  # trained first: the extractor shares the weights
    # a layer's output before the model's inputs were read, as Keras's has it by then
    extractor = Model(outputs=seq.get_layer("l2").output, inputs=seq.inputs)
    l1, l2, _ = seq.layers
    np.testing.assert_allclose(extractor.predict(x, verbose=0), l2(l1(x)), rtol=1e-6)
    every = Model(inputs=seq.input, outputs=[layer.output for layer in seq.layers])
    outs = every.predict(x, verbose=0)
    assert [o.shape for o in outs] == [(B, T, 5), (B, 4), (B, 2)]
    np.testing.assert_allclose(outs[-1], seq.predict(x, verbose=0), rtol=1e-6)
    assert seq.outputs == [seq.output]
    np.testing.assert_array_equal(
        Model(seq.inputs, seq.outputs).predict(x, verbose=0), seq.predict(x, verbose=0)
    )
    assert seq.output.shape == (None, 2)
    seq.pop()
    assert seq.output.shape == (None, 4)  # made again for the layers now held
    with pytest.raises(AttributeError, match=r"Sequential 'later' has no input yet: start it"):
        _ = fastlstm.Sequential([LSTM(3)], name="later").inputs


def test_a_model_of_one_output_takes_its_targets_by_the_outputs_name():
    """As Keras 3: {"scores": y}. It had met "y: expected an array of real numbers, got dtype
    object"; a Sequential given a dict now says that only a functional Model takes one."""
    rng = np.random.default_rng(0)
    x, y = _xy(rng)
    inp = Input(shape=(T, I))
    model = Model(inp, Dense(2, seed=1, name="scores")(LSTM(4, seed=2)(inp)))
    model.compile("sgd", "mse")
    assert model.evaluate(x, {"scores": y}, verbose=0) == model.evaluate(x, y, verbose=0)
    before = model.get_weights()
    model.fit(x, {"scores": y}, epochs=1, verbose=0, shuffle=False)
    by_name = model.get_weights()
    model.set_weights(before)
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(by_name, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"outputs' names as keys, \['scores'\], got the keys"):
        model.fit(x, {"other": y}, verbose=0)
    # and compile's loss and metrics by that name too (Keras takes them so)
    named = Model(inp, model.outputs[0])
    named.compile("sgd", loss={"scores": "mse"}, metrics={"scores": ["mae"]})
    named.set_weights(before)
    logs = named.evaluate(x, {"scores": y}, verbose=0, return_dict=True)
    model.set_weights(before)
    assert logs["loss"] == model.evaluate(x, y, verbose=0)
    assert logs["mae"] == pytest.approx(float(np.mean(np.abs(model.predict(x, verbose=0) - y))))
    with pytest.raises(ValueError, match=r"loss: expected a dict with the output's name as its"):
        named.compile("sgd", loss={"other": "mse"})
    sequential = fastlstm.Sequential([Input((T, I)), LSTM(4), Dense(2)])
    sequential.compile("sgd", "mse")
    with pytest.raises(TypeError, match=r"y: expected an array, got a dict \(keys \['dense'\]\)"):
        sequential.fit(x, {"dense": y}, verbose=0)


def test_loss_and_gradients_sees_a_layer_unfrozen_after_compile():
    rng = np.random.default_rng(1)
    x, y = _xy(rng, np.float64)
    first = LSTM(4, return_sequences=True, seed=1, dtype="float64")
    inp = Input(shape=(T, I))
    model = Model(
        inp, Dense(2, seed=3, dtype="float64")(LSTM(4, seed=2, dtype="float64")(first(inp)))
    )
    model.compile("sgd", "mse")
    first.trainable = False
    model.compile("sgd", "mse")
    first.trainable = True  # and no compile() since
    _, grads = model.loss_and_gradients(x, y)
    fresh = fastlstm.models.clone_model(model)
    fresh.set_weights(model.get_weights())
    fresh.compile("sgd", "mse")
    _, want = fresh.loss_and_gradients(x, y)
    assert len(grads) == len(want) == 8
    for g, w in zip(grads, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_an_inputs_dtype_is_checked_when_made_and_saved_as_given(tmp_path):
    for bad in ("complex64", "object", "str", 5, "bogus"):
        with pytest.raises(ValueError, match=r"dtype: expected None or one of float16"):
            Input(shape=(4,), dtype=bad)
    tokens = Input(shape=(4,), dtype=np.uint16)
    assert tokens.dtype == "uint16"
    model = Model(tokens, Dense(1, seed=1)(Flatten()(Embedding(10, 2, seed=2)(tokens))))
    model.save(tmp_path / "m.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "m.fastlstm")
    assert loaded.inputs[0].dtype == "uint16"
    x = np.arange(8, dtype=np.uint16).reshape(2, 4)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _excludes(writer_lock, reader_lock) -> bool:
    """Whether a reader of ``reader_lock`` waits while a writer holds ``writer_lock``."""
    entered = threading.Event()

    def read():
        with reader_lock.reading:
            entered.set()

    with writer_lock.writing:
        thread = threading.Thread(target=read)
        thread.start()
        waited = not entered.wait(0.2)
    thread.join(5)
    return waited and entered.is_set()


def test_models_made_separately_then_joined_share_one_lock():
    u, i = Input(shape=(4,)), Input(shape=(4,))
    user_tower, item_tower = Model(u, Dense(8, seed=1)(u)), Model(i, Dense(8, seed=2)(i))
    assert not _excludes(user_tower._weights_lock, item_tower._weights_lock)
    full = Model([u, i], Dense(1)(Concatenate()([user_tower.outputs[0], item_tower.outputs[0]])))
    locks = [m._weights_lock for m in (user_tower, item_tower, full)]
    for a in locks:
        for b in locks:
            assert _excludes(a, b)


def test_a_join_waits_for_a_held_lock_and_moves_its_waiters():
    a, b = WeightsLock(), WeightsLock()
    joined, read = threading.Event(), threading.Event()

    def join():
        a.join(b)
        joined.set()

    def reader():
        with a.reading:
            read.set()

    with a.writing:  # a training step of a's model in progress
        threads = [threading.Thread(target=join), threading.Thread(target=reader)]
        for t in threads:
            t.start()
        assert not joined.wait(0.2)  # the join waits for the step
        assert not read.is_set()
    for t in threads:
        t.join(5)
    assert joined.is_set()
    assert read.is_set()
    assert _excludes(a, b)
    assert _excludes(b, a)
    a.join(b)  # joined already: nothing to do


def test_a_layer_another_model_holds_keeps_its_name():
    item_in = Input(shape=(6,))
    item_dense = Dense(4)
    tower = Model(item_in, item_dense(item_in))
    user_in = Input(shape=(6,))
    user = Dense(4)(Dense(6)(user_in))  # new layers with the same automatic name, first
    full = Model([user_in, item_in], Multiply()([user, item_dense(item_in)]))
    assert tower.get_layer("dense") is item_dense
    assert full.get_layer("dense") is item_dense
    names = [layer.name for layer in full.layers]
    assert len(set(names)) == len(names)


def test_keras_input_and_output_attributes():
    inp = Input(shape=(T, I), name="x")
    encoder = LSTM(4, return_sequences=True, seed=1)
    y, _h, _c = LSTM(3, return_state=True, seed=2)(encoder(inp))
    model = Model(inp, Dense(1, seed=3)(y))
    assert model.input is inp
    assert model.output is model.outputs[0]
    assert encoder.input is inp
    assert [t.shape for t in model.get_layer("lstm_1").output] == [(None, 3)] * 3
    features = Model(model.input, model.get_layer("lstm").output)  # Keras's feature extractor
    x = np.random.default_rng(2).standard_normal((2, T, I)).astype(np.float32)
    np.testing.assert_array_equal(features.predict(x, verbose=0), encoder(x))
    assert inp.name == "x"
    assert y.name is None
    shared = Dense(2)
    shared(inp), shared(inp)
    with pytest.raises(
        AttributeError, match=r"output: layer .* called on symbolic tensors 2 times"
    ):
        _ = shared.output
    with pytest.raises(AttributeError, match=r"input: layer .* 0 times"):
        _ = Dense(2).input


def test_a_batch_size_declared_on_a_later_input_is_the_models():
    a, b = Input(shape=(T, I)), Input(batch_shape=(4, T, 2))
    model = Model([a, b], Concatenate()([LSTM(2)(a), LSTM(2, stateful=True)(b)]))
    xs = [np.ones((8, T, I), np.float32), np.ones((8, T, 2), np.float32)]
    with pytest.raises(ValueError, match=r"batch_size: expected 4 \(the batch size the model"):
        model.predict(xs, batch_size=8, verbose=0)
    assert model.predict(xs, verbose=0).shape == (8, 4)  # two batches of the declared 4
    c = Input(batch_shape=(3, T, I))
    outputs = [LSTM(2)(b), LSTM(2)(c)]
    with pytest.raises(ValueError, match=r"declare different batch sizes, \[3, 4\]"):
        Model([b, c], outputs)


@pytest.mark.parametrize("merge", [Add, Subtract, Multiply, Maximum])
def test_merges_broadcast_axes_of_size_one_against_torch(merge):
    torch = import_peer("torch")
    seq, one = Input(shape=(None, 4)), Input(shape=(1, 4))
    assert merge()([seq, one]).shape == (None, None, 4)
    with pytest.raises(ValueError, match=r"or of size 1 where they differ"):
        merge()([seq, Input(shape=(3, 5))])
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((2, 7, 4)), rng.standard_normal((2, 1, 4))]
    layer = merge(dtype="float64")
    out, cache = layer.forward(xs)
    ts = [torch.tensor(a, requires_grad=True) for a in xs]
    fns = {
        "add": lambda a, b: a + b,
        "subtract": lambda a, b: a - b,
        "multiply": lambda a, b: a * b,
        "maximum": torch.maximum,
    }
    want = fns[layer.default_name](*ts)
    np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-12)
    dout = rng.standard_normal(out.shape)
    (want * torch.tensor(dout)).sum().backward()
    for g, t in zip(layer.backward(cache, dout), ts, strict=True):
        assert g.shape == tuple(t.shape)
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_bidirectional_takes_its_layers_dtype_by_name():
    assert Bidirectional(GRU(3, dtype="float64"), dtype="float64").dtype == np.float64
    with pytest.raises(ValueError, match=r"dtype: a Bidirectional computes in its layer's dtype"):
        Bidirectional(GRU(3), dtype="float64")


def test_a_refused_graph_leaves_its_layers_names_and_locks_as_they_were():
    a, b = Input(shape=(T, I)), Input(shape=(T, I))
    first, second, state = Dense(2), Dense(2), LSTM(2, stateful=True)
    out = Add()([first(state(a)), second(state(b))])
    with pytest.raises(ValueError, match=r"it is stateful"):
        Model([a, b], out)
    assert first.name == second.name == "dense"
    assert all(getattr(l, "_model_lock", None) is None for l in (first, second, state))


def test_a_sequential_that_takes_a_models_layer_joins_its_lock():
    inp = Input(shape=(T, I))
    lstm = LSTM(4)
    encoder = Model(inp, lstm(inp))
    stack = fastlstm.Sequential([Input(shape=(T, I)), lstm, Dense(1)])
    assert _excludes(stack._weights_lock, encoder._weights_lock)
    x = Input(shape=(T, I))
    outer = Model(x, Dense(1)(encoder(x)))
    assert _excludes(outer._weights_lock, encoder._weights_lock)
    assert _excludes(stack._weights_lock, outer._weights_lock)


def test_models_inside_a_model_keep_their_layers_names(tmp_path):
    inp = Input(shape=(T, I))
    encoder = Model(inp, Dense(4, name="proj")(LSTM(4)(inp)), name="encoder")
    code = Input(shape=(4,))
    decoder = Model(code, Dense(2, name="proj")(LSTM(3)(RepeatVector(T)(code))), name="decoder")
    before = [[l.name for l in m.layers] for m in (encoder, decoder)]
    x = Input(shape=(T, I))
    autoencoder = Model(x, decoder(encoder(x)))
    assert [[l.name for l in m.layers] for m in (encoder, decoder)] == before
    assert decoder.get_layer("lstm") is decoder.layers[-2]
    assert autoencoder.get_layer("proj") is encoder.layers[-1]  # the first of that name
    autoencoder.save(tmp_path / "ae.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "ae.fastlstm")
    assert [l.name for l in loaded.layers] == [l.name for l in autoencoder.layers]
    data = np.random.default_rng(4).standard_normal((2, T, I)).astype(np.float32)
    np.testing.assert_array_equal(
        loaded.predict(data, verbose=0), autoencoder.predict(data, verbose=0)
    )
    fresh = Dense(1, name="proj")
    with pytest.raises(ValueError, match=r"the name 'proj' is already used"):
        Model(x, fresh(autoencoder(x)))


def test_a_model_takes_a_dict_of_tensors_by_its_inputs_names():
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    two = Model([a, b], Dense(1, seed=1)(Concatenate()([a, b])))
    p, q = Input(shape=(3,)), Input(shape=(3,))
    outer = Model([p, q], two({"b": q, "a": p}))
    xa, xb = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(
        outer.predict([xa, xb], verbose=0), two.predict([xa, xb], verbose=0)
    )
    with pytest.raises(ValueError, match=r"x: expected a dict with the Inputs' names as keys"):
        two({"a": p})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_child_forked_while_a_thread_draws_a_seed_can_draw_one():
    """The lock around the global seed is renewed in a child: a thread that held it at the
    fork (making a layer) had left it held for ever there."""
    from fastlstm import _arrays

    held, release = threading.Event(), threading.Event()

    def hold():
        with _arrays._global_lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: draw a seed (os._exit: no pytest teardown here)
        code = 1
        try:
            _arrays.generator()
            Dense(2).build((None, 3))
            code = 0
        finally:
            os._exit(code)
    release.set()
    thread.join(10)
    deadline = time.monotonic() + child_timeout(30)
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the seed lock")
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_functional_summary_says_what_each_call_reads():
    a, b = Input(shape=(T, I), name="seq"), Input(shape=(4,))
    _, h, c = LSTM(4, return_state=True)(a)
    shared = Dense(4)
    y = LSTM(4)(a, initial_state=[h, c])
    model = Model([a, b], Dense(1)(Concatenate()([y, shared(b), shared(shared(b))])))
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[2].split()[-2:] == ["Connected", "to"]
    rows = {line.split()[0]: line for line in lines[4:11]}
    # Keras 3's rows: deepest first, an InputLayer's with no parameters, reading nothing
    other = model.layers[1].name  # the unnamed Input's layer: input_layer_<n>
    assert [line.split()[0] for line in lines[4:11]] == [
        "seq",
        other,
        "lstm",
        "dense",
        "lstm_1",
        "concatenate",
        "dense_1",
    ]
    assert lines[4].split() == ["seq", "(InputLayer)", "(None,", f"{T},", f"{I})", "0", "-"]
    assert lines[5].split() == [other, "(InputLayer)", "(None,", "4)", "0", "-"]
    assert rows["lstm_1"].endswith("seq[0][0], lstm[0][1], lstm[0][2]")  # the states' tensors
    assert rows["dense"].endswith(f"{other}[0][0]; {other}[0][0]; dense[1][0]")  # three calls
    assert rows["concatenate"].endswith("lstm_1[0][0], dense[0][0], dense[2][0]")
    assert all(line == line.rstrip() for line in lines)
    assert len({len(lines[1]), len(lines[3]), len(lines[-1])}) == 1  # rules as wide as rows
