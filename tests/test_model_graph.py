"""The functional Model (Keras's functional API): layers called on Inputs record a graph that
Model(inputs, outputs) runs, trains, saves and loads. Checked: the graph's gradients against
finite differences (fan-out, every merge layer, initial states from other layers' states), an
encoder-decoder against torch (loss and every gradient), masks through merges, a linear graph
against the same Sequential, inference models made of a trained model's layers, saving, and
every refusal."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import fastlstm
from conftest import import_peer
from fastlstm import Model, Sequential
from fastlstm.layers import (
    GRU,
    LSTM,
    Add,
    Average,
    BatchNormalization,
    Bidirectional,
    Concatenate,
    Dense,
    Dot,
    Embedding,
    Input,
    Maximum,
    Minimum,
    Multiply,
    RepeatVector,
    Subtract,
    TimeDistributed,
    concatenate,
)

B, T, I, H, F = 4, 6, 3, 5, 2


def _branching(dtype="float64", frozen_gru=False):
    """A graph with every merge layer, a tensor read by several layers and a recurrent layer's
    initial state made from another's states through merges."""
    kw = {"dtype": dtype}
    a, b = Input(shape=(T, I), name="seq"), Input(shape=(F,), name="meta")
    enc, h, c = LSTM(H, return_sequences=True, return_state=True, seed=1, **kw)(a)
    gru = GRU(H, return_sequences=True, seed=2, trainable=not frozen_gru, **kw)
    s = Add(**kw)([enc, gru(a)])
    d = Dense(H, activation="tanh", seed=3, **kw)(b)
    dec = LSTM(H, seed=4, **kw)(s, initial_state=[Multiply(**kw)([h, d]), c])
    m = Maximum(**kw)([dec, h])
    n = Minimum(**kw)([dec, d])
    z = Concatenate(**kw)([m, n, Subtract(**kw)([dec, d]), Average(**kw)([c, h])])
    return Model([a, b], Dense(2, seed=5, **kw)(z)), gru


def _data(rng, dtype="float64"):
    xa = rng.standard_normal((B, T, I)).astype(dtype)
    xb = rng.standard_normal((B, F)).astype(dtype)
    y = rng.standard_normal((B, 2)).astype(dtype)
    return [xa, xb], y


def _loss(model, x, y) -> float:
    return model.loss_and_gradients(x, y, training=False)[0]


@pytest.mark.parametrize("frozen_gru", [False, True], ids=["all-trained", "gru-frozen"])
def test_the_gradients_of_a_branching_graph_match_finite_differences(frozen_gru):
    rng = np.random.default_rng(0)
    model, gru = _branching(frozen_gru=frozen_gru)
    model.compile("sgd", "mse")
    x, y = _data(rng)
    assert len(model.trainable_weights) == (13 if not frozen_gru else 10)
    _check_against_finite_differences(model, x, y, rng)
    if frozen_gru:
        assert not any(w is v for w in model.trainable_weights for v in gru.weights)


def _siamese(dtype="float64"):
    """Two inputs through the same layers (wrapped ones among them), and a layer applied to its
    own output: each shared layer's gradient is the sum over its calls."""
    kw = {"dtype": dtype}
    a, b, m = Input(shape=(T, I)), Input(shape=(T, I)), Input(shape=(F,))
    td = TimeDistributed(Dense(4, seed=1, **kw))
    bi = Bidirectional(LSTM(3, seed=2, **kw))
    ea, eb = bi(td(a)), bi(td(b))
    tied = Dense(F, activation="tanh", seed=3, **kw)
    z = Concatenate(**kw)([Subtract(**kw)([ea, eb]), Multiply(**kw)([ea, eb]), tied(tied(m))])
    return Model([a, b, m], Dense(2, seed=4, **kw)(z))


def _check_against_finite_differences(model, x, y, rng, per_weight=4):
    _, grads = model.loss_and_gradients(x, y, training=False)
    weights = model.trainable_weights
    assert len(grads) == len(weights)
    assert all(g.shape == w.shape for g, w in zip(grads, weights))
    eps = 1e-6
    where = [next(i for i, v in enumerate(model.weights) if v is w) for w in weights]
    for k, index in enumerate(where):
        size = weights[k].size
        for j in rng.choice(size, size=min(per_weight, size), replace=False):
            values = model.get_weights()
            numeric = []
            for sign in (1, -1):
                changed = [v.copy() for v in values]
                changed[index].reshape(-1)[j] += sign * eps
                model.set_weights(changed)
                numeric.append(_loss(model, x, y))
            model.set_weights(values)
            fd = (numeric[0] - numeric[1]) / (2 * eps)
            assert grads[k].reshape(-1)[j] == pytest.approx(fd, rel=1e-5, abs=1e-8), (k, j)


def test_a_shared_layers_gradients_are_summed_over_its_calls():
    rng = np.random.default_rng(8)
    model = _siamese()
    # each shared layer listed once, with an InputLayer per Input, deepest first, as Keras 3
    # lists them (depths: a, b 5; td, m 4; bi, tied 3 (its inner call); subtract, multiply 2)
    assert [type(l).__name__ for l in model.layers] == [
        "InputLayer",
        "InputLayer",
        "TimeDistributed",
        "InputLayer",
        "Bidirectional",
        "Dense",
        "Subtract",
        "Multiply",
        "Concatenate",
        "Dense",
    ]
    model.compile("sgd", "mse")
    x = [rng.standard_normal((B, T, I)), rng.standard_normal((B, T, I))]
    x.append(rng.standard_normal((B, F)))
    _check_against_finite_differences(model, x, rng.standard_normal((B, 2)), rng)


def test_models_inside_a_model_are_their_layers_called_again():
    """An autoencoder of an encoder model and a decoder Sequential, and a tower model called on
    two inputs (its layers shared): the same answers as the parts, gradients by finite
    differences, and the weights one set with the parts'."""
    rng = np.random.default_rng(10)
    kw = {"dtype": "float64"}
    inp = Input(shape=(T, I))
    encoder = Model(inp, LSTM(H, seed=1, **kw)(inp))
    decoder = Sequential(
        [RepeatVector(T, **kw), LSTM(H, return_sequences=True, seed=2, **kw), Dense(I, **kw)],
        seed=3,
    )
    x_in = Input(shape=(T, I))
    autoencoder = Model(x_in, decoder(encoder(x_in)))
    assert len(autoencoder.layers) == 5  # its InputLayer and the parts' four
    x = rng.standard_normal((B, T, I))
    np.testing.assert_array_equal(autoencoder.predict(x, verbose=0), decoder(encoder(x)))
    autoencoder.compile("sgd", "mse")
    _check_against_finite_differences(autoencoder, x, x, rng, per_weight=3)
    autoencoder.fit(x, x, epochs=1, verbose=0)  # trains the parts' weights
    np.testing.assert_array_equal(autoencoder.predict(x, verbose=0), decoder(encoder(x)))

    a, b = Input(shape=(T, I)), Input(shape=(T, I))
    t_in = Input(shape=(T, I))
    tower = Model(t_in, Dense(4, seed=5, **kw)(LSTM(H, seed=4, **kw)(t_in)))
    twin = Model([a, b], Dot(axes=1, normalize=True, **kw)([tower(a), tower(b)]))
    twin.compile("sgd", "mse")
    xs = [rng.standard_normal((B, T, I)), rng.standard_normal((B, T, I))]
    _check_against_finite_differences(twin, xs, rng.standard_normal((B, 1)), rng, per_weight=3)


def test_a_layer_that_cannot_be_called_twice_in_one_model_says_why():
    a, b = Input(shape=(T, I)), Input(shape=(T, I))
    for layer, why in (
        (LSTM(2, stateful=True), "it is stateful"),
        (LSTM(2, kernel_regularizer="l2"), "it has a regularizer"),
        (TimeDistributed(Dense(2, bias_regularizer="l1")), "it has a regularizer"),
    ):
        with pytest.raises(ValueError, match=rf"called more than once in this model.*{why}"):
            Model([a, b], Add()([layer(a), layer(b)]))
    norm = BatchNormalization()
    with pytest.raises(ValueError, match=r"moves its averages at each call"):
        Model([a, b], Add()([norm(a), norm(b)]))


def test_an_encoder_decoder_matches_torch_loss_and_every_gradient():
    torch = import_peer("torch")
    rng = np.random.default_rng(1)
    enc_in, dec_in = Input(shape=(T, I)), Input(shape=(T + 1, F))
    encoder, decoder = LSTM(H, return_state=True, seed=1), LSTM(H, return_sequences=True, seed=2)
    _, h, c = encoder(enc_in)
    dense = Dense(3, seed=3)
    model = Model([enc_in, dec_in], dense(decoder(dec_in, initial_state=[h, c])))
    model.compile("sgd", "mse")
    xe = rng.standard_normal((B, T, I)).astype(np.float32)
    xd = rng.standard_normal((B, T + 1, F)).astype(np.float32)
    y = rng.standard_normal((B, T + 1, 3)).astype(np.float32)
    loss, grads = model.loss_and_gradients([xe, xd], y, training=False)

    def lstm(layer, inputs):
        k, r, bias = layer.get_weights()
        t = torch.nn.LSTM(inputs, H, batch_first=True)
        with torch.no_grad():
            t.weight_ih_l0.copy_(torch.from_numpy(k.T))
            t.weight_hh_l0.copy_(torch.from_numpy(r.T))
            t.bias_ih_l0.copy_(torch.from_numpy(bias))
            t.bias_hh_l0.zero_()
        return t

    te, td = lstm(encoder, I), lstm(decoder, F)
    lin = torch.nn.Linear(H, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(dense.get_weights()[0].T))
        lin.bias.copy_(torch.from_numpy(dense.get_weights()[1]))
    _, state = te(torch.from_numpy(xe))
    out = lin(td(torch.from_numpy(xd), state)[0])
    t_loss = ((out - torch.from_numpy(y)) ** 2).mean()
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-5)
    expected = []
    for t in (te, td):
        expected += [t.weight_ih_l0.grad.T, t.weight_hh_l0.grad.T, t.bias_ih_l0.grad]
    expected += [lin.weight.grad.T, lin.bias.grad]
    for got, want in zip(grads, expected, strict=True):
        want = want.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1, np.abs(want).max()))


def test_a_linear_graph_is_the_same_sequential():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, T, I)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    seq = Sequential([Input((T, I)), LSTM(H, return_sequences=True), LSTM(H), Dense(1)], seed=0)
    inp = Input(shape=(T, I))
    layers = [LSTM(H, return_sequences=True), LSTM(H), Dense(1)]
    out = inp
    for layer in layers:
        out = layer(out)
    model = Model(inp, out)
    model.set_weights(seq.get_weights())
    np.testing.assert_array_equal(model.predict(x, verbose=0), seq.predict(x, verbose=0))
    for m in (seq, model):
        m.compile("adam", "mse")
    ls, gs = seq.loss_and_gradients(x, y)
    lm, gm = model.loss_and_gradients(x, y)
    assert lm == ls
    for a, b in zip(gm, gs, strict=True):
        np.testing.assert_array_equal(a, b)
    for m in (seq, model):
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), seq.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_mask_flows_through_a_merge_into_the_recurrent_layer():
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, 9, size=(5, T))
    tokens[0, 4:] = 0
    tokens[2, 1:] = 0
    inp = Input(shape=(T,), dtype="int32")
    embed, dense, lstm = Embedding(9, 4, mask_zero=True, seed=1), Dense(4, seed=2), LSTM(3, seed=3)
    e = embed(inp)
    model = Model(inp, lstm(Add()([e, dense(e)])))
    e_arr = embed(tokens)
    want = lstm(e_arr + dense(e_arr), mask=tokens != 0)
    np.testing.assert_allclose(model.predict(tokens, verbose=0), want, rtol=1e-6, atol=1e-7)
    unmasked = lstm(e_arr + dense(e_arr))
    assert not np.allclose(want[0], unmasked[0])  # the padding would have changed row 0


def test_merge_masks_join_as_keras_joins_them():
    m1 = np.array([[True, True, False]])
    m2 = np.array([[True, False, False]])
    x = np.zeros((1, 3, 2))
    np.testing.assert_array_equal(Add().compute_mask([x, x], [m1, m2]), m1 & m2)
    np.testing.assert_array_equal(Add().compute_mask([x, x], [m1, None]), m1)
    assert Add().compute_mask([x, x], [None, None]) is None
    along_time = Concatenate(axis=1).compute_mask([x, x], [m1, None])
    np.testing.assert_array_equal(along_time, [[True, True, False, True, True, True]])


_MERGES = {  # each merge layer and what torch computes of the three inputs t
    "add": (Add, lambda torch, t: t[0] + t[1] + t[2]),
    "multiply": (Multiply, lambda torch, t: t[0] * t[1] * t[2]),
    "average": (Average, lambda torch, t: (t[0] + t[1] + t[2]) / 3),
    "maximum": (Maximum, lambda torch, t: torch.maximum(torch.maximum(t[0], t[1]), t[2])),
    "minimum": (Minimum, lambda torch, t: torch.minimum(torch.minimum(t[0], t[1]), t[2])),
    "concatenate-time": (
        lambda **kw: Concatenate(axis=1, **kw),
        lambda torch, t: torch.cat(t, dim=1),
    ),
}


@pytest.mark.parametrize("name", list(_MERGES))
def test_each_merge_layer_against_torch_forward_and_backward(name):
    torch = import_peer("torch")
    make, fn = _MERGES[name]
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
    merge = make(dtype="float64")
    ts = [torch.tensor(a, requires_grad=True) for a in xs]
    want = fn(torch, ts)
    out, cache = merge.forward(xs)
    np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-12)
    dout = rng.standard_normal(out.shape)
    grads = merge.backward(cache, dout)
    (want * torch.tensor(dout)).sum().backward()
    for g, t in zip(grads, ts, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=1e-15)


_DOTS = {  # Dot's arguments, the inputs' shapes, and what torch computes
    "rows": (1, False, (4, 5), (4, 5), lambda torch, x, y: (x * y).sum(1, keepdim=True)),
    "cosine": (
        -1,
        True,
        (4, 5),
        (4, 5),
        lambda torch, x, y: (
            torch.nn.functional.normalize(x, dim=1, eps=1e-6)
            * torch.nn.functional.normalize(y, dim=1, eps=1e-6)
        ).sum(1, keepdim=True),
    ),
    "scores": (2, False, (2, 3, 5), (2, 4, 5), lambda torch, x, y: x @ y.transpose(1, 2)),
    "matmul": ((2, 1), False, (2, 3, 5), (2, 5, 4), lambda torch, x, y: x @ y),
    "time-axes": ((1, 1), False, (2, 5, 3), (2, 5, 4), lambda torch, x, y: x.transpose(1, 2) @ y),
    "cosine-scores": (
        (2, 2),
        True,
        (2, 3, 5),
        (2, 4, 5),
        lambda torch, x, y: (
            torch.nn.functional.normalize(x, dim=2, eps=1e-6)
            @ torch.nn.functional.normalize(y, dim=2, eps=1e-6).transpose(1, 2)
        ),
    ),
}


@pytest.mark.parametrize("name", list(_DOTS))
def test_dot_against_torch_forward_and_backward(name):
    torch = import_peer("torch")
    axes, normalize, sx, sy, fn = _DOTS[name]
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal(sx), rng.standard_normal(sy)]
    layer = Dot(axes=axes, normalize=normalize, dtype="float64")
    ts = [torch.tensor(a, requires_grad=True) for a in xs]
    want = fn(torch, *ts)
    out, cache = layer.forward(xs)
    assert out.shape == tuple(want.shape)
    assert layer.compute_output_shape([sx, sy]) == out.shape
    np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-12, atol=1e-14)
    dout = rng.standard_normal(out.shape)
    grads = layer.backward(cache, dout)
    (want * torch.tensor(dout)).sum().backward()
    for g, t in zip(grads, ts, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_dot_refuses_what_it_cannot_multiply():
    a, b = Input(shape=(5,)), Input(shape=(4,))
    with pytest.raises(ValueError, match=r"summed axes to match"):
        Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match=r"two 2-D or two 3-D inputs"):
        Dot(axes=-1)([a, Input(shape=(3, 5))])
    with pytest.raises(ValueError, match=r"other than the batch's"):
        Dot(axes=0)([a, a])
    with pytest.raises(TypeError, match=r"axes: expected an int or a pair of ints"):
        Dot(axes="last")


def test_subtract_and_a_tie_give_the_gradient_as_tensorflow():
    a, b = np.array([[1.0, 2.0]]), np.array([[1.0, 3.0]])
    out, cache = Subtract(dtype="float64").forward([a, b])
    np.testing.assert_array_equal(out, a - b)
    da, db = Subtract(dtype="float64").backward(cache, np.ones((1, 2)))
    np.testing.assert_array_equal(db, -da)
    out, cache = Maximum(dtype="float64").forward([a, b])
    da, db = Maximum(dtype="float64").backward(cache, np.ones((1, 2)))
    np.testing.assert_array_equal(da, [[1.0, 0.0]])  # the tie at 1.0: the first input's
    np.testing.assert_array_equal(db, [[0.0, 1.0]])


def test_inference_models_made_of_the_trained_layers_decode_step_by_step():
    """Keras's seq2seq recipe: the training model reads the whole target sequence; an encoder
    model and a one-step decoder model, made of the same layers, give the same outputs."""
    rng = np.random.default_rng(5)
    enc_in, dec_in = Input(shape=(None, I)), Input(shape=(None, F))
    _, h, c = LSTM(H, return_state=True, seed=1)(enc_in)
    decoder = LSTM(H, return_sequences=True, return_state=True, seed=2)
    dense = Dense(F, activation="softmax", seed=3)
    y, _, _ = decoder(dec_in, initial_state=[h, c])
    model = Model([enc_in, dec_in], dense(y))
    xe = rng.standard_normal((B, T, I)).astype(np.float32)
    xd = rng.standard_normal((B, T, F)).astype(np.float32)
    model.compile("adam", "categorical_crossentropy")
    model.fit([xe, xd], np.eye(F, dtype=np.float32)[rng.integers(0, F, (B, T))], verbose=0)
    teacher = model.predict([xe, xd], verbose=0)

    encoder_model = Model(enc_in, [h, c])
    step_in, h_in, c_in = Input(shape=(1, F)), Input(shape=(H,)), Input(shape=(H,))
    y1, h1, c1 = decoder(step_in, initial_state=[h_in, c_in])
    decoder_model = Model([step_in, h_in, c_in], [dense(y1), h1, c1])
    assert decoder_model._weights_lock._root() is model._weights_lock._root()  # one lock
    state = encoder_model.predict(xe, verbose=0)
    assert isinstance(state, list)
    assert [s.shape for s in state] == [(B, H), (B, H)]
    steps = []
    for t in range(T):
        out, *state = decoder_model.predict([xd[:, t : t + 1], *state], verbose=0)
        steps.append(out)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), teacher, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("graph", ["branching", "siamese"])
def test_save_load_clone_and_pickle_keep_the_graph(graph):
    rng = np.random.default_rng(6)
    if graph == "branching":
        model, _ = _branching(dtype="float32")
        x, y = _data(rng, "float32")
    else:
        model = _siamese(dtype="float32")
        x = [rng.standard_normal((B, T, I)), rng.standard_normal((B, T, I))]
        x = [a.astype(np.float32) for a in (*x, rng.standard_normal((B, F)))]
        y = rng.standard_normal((B, 2)).astype(np.float32)
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(x, y, epochs=2, verbose=0)
    path = "model.fastlstm"
    for restored in (
        pickle.loads(pickle.dumps(model)),
        fastlstm.load_model(_saved(model, path)),
    ):
        assert type(restored) is Model
        assert restored.name == model.name
        assert [l.name for l in restored.layers] == [l.name for l in model.layers]
        np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
        # the optimizer's state came too: the next step is the same
        restored.fit(x, y, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )
    clone = fastlstm.models.clone_model(model)
    assert clone.get_config() == model.get_config()
    assert clone.layers[0] is not model.layers[0]
    if graph == "branching":
        by_name = {"seq": x[0], "meta": x[1]}
        np.testing.assert_array_equal(
            model.predict(by_name, verbose=0), model.predict(x, verbose=0)
        )


def _saved(model, name):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / name
    model.save(path)
    return path


def test_a_damaged_graph_in_a_file_is_refused_before_running():
    model, _ = _branching(dtype="float32")
    config = model.get_config()
    for change in (
        lambda c: c["nodes"][0]["inputs"].__setitem__(0, ["node", 5, 0]),  # a later node
        lambda c: c["nodes"][1]["inputs"].__setitem__(0, ["input", 9]),
        lambda c: c["outputs"].__setitem__(0, ["node", 0, 7]),
        lambda c: c["nodes"][0].__setitem__("listed", True),
        lambda c: c["inputs"][0].__setitem__("dtype", "object"),
    ):
        damaged = pickle.loads(pickle.dumps(config))
        change(damaged)
        with pytest.raises((ValueError, TypeError)):
            Model.from_config(damaged)


def test_data_for_several_inputs_is_checked_and_named():
    model, _ = _branching(dtype="float32")
    x, _ = _data(np.random.default_rng(7), "float32")
    with pytest.raises(ValueError, match=r"x: expected a list of 2 arrays, one per input"):
        model.predict(x[0], verbose=0)
    with pytest.raises(ValueError, match=r"same number of samples in every input"):
        model.predict([x[0], x[1][:2]], verbose=0)
    with pytest.raises(ValueError, match=r"x\[1\]: expected an array of shape \(None, 2\)"):
        model.predict([x[0], x[0]], verbose=0)
    with pytest.raises(ValueError, match=r"Inputs' names as keys, \['seq', 'meta'\]"):
        model.predict({"seq": x[0]}, verbose=0)


def test_what_a_graph_cannot_hold_is_refused_when_described():
    a, b = Input(shape=(T, I)), Input(shape=(T, I))
    with pytest.raises(ValueError, match=r"not among the model's inputs"):
        Model(a, Add()([LSTM(2)(a), LSTM(2)(b)]))
    with pytest.raises(
        ValueError, match=r"not supported for LSTM, GRU and SimpleRNN|supported for"
    ):
        Bidirectional(LSTM(2))(a, initial_state=[Input(shape=(2,))] * 4)
    with pytest.raises(ValueError, match=r"initial_state: expected 2 tensors \(h, c\)"):
        LSTM(2)(a, initial_state=[Input(shape=(2,))])
    with pytest.raises(ValueError, match=r"initial_state: expected c of shape \(batch, 2\)"):
        LSTM(2)(a, initial_state=[Input(shape=(2,)), Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"expected inputs of one shape"):
        Add()([LSTM(2)(a), LSTM(3)(a)])
    with pytest.raises(ValueError, match=r"exactly 2 inputs"):
        Subtract()([a, a, a])
    with pytest.raises(ValueError, match=r"other than the batch's"):
        concatenate([a, b], axis=0)
    with pytest.raises(TypeError, match=r"expected a list of symbolic tensors"):
        Add()(a)
    with pytest.raises(TypeError, match=r"symbolic tensors .* only, got ndarray"):
        Add()([a, np.zeros((1, T, I))])
    with pytest.raises(ValueError, match=r"training= and mask= are given by the model"):
        LSTM(2)(a, training=True)
    with pytest.raises(TypeError, match=r"inputs\[0\]: expected an Input"):
        Model(LSTM(2)(a), Dense(1)(LSTM(2)(a)))
    with pytest.raises(TypeError, match=r"expected Model\(inputs, outputs\)"):
        Model()
    with pytest.raises(ValueError, match=r"merge_mode=None"):
        Bidirectional(LSTM(2), merge_mode=None)(a)
    model = Model(a, Dense(1)(LSTM(2)(a)))
    with pytest.raises(ValueError, match=r"expected 1 symbolic tensors, one per input"):
        model([a, b])
    with pytest.raises(ValueError, match=r"expected a tensor of shape \(None, 6, 3\) for input 0"):
        model(Input(shape=(T, 4)))
    with pytest.raises(ValueError, match=r"training= and mask= are given by the model"):
        model(b, training=True)
    with pytest.raises(TypeError, match=r"add: a functional Model's layers come from its graph"):
        model.add(Dense(1))
    with pytest.raises(TypeError, match=r"has no values"):
        np.asarray(a)


def test_a_layer_called_on_an_input_gives_its_output_shape():
    """A layer called on an Input had said the functional API was not supported."""
    inp = Input((5, 2))
    assert inp.shape == (None, 5, 2)
    assert Input(batch_shape=(3, 5, 2)).shape == (3, 5, 2)
    y, h, c = LSTM(4, return_sequences=True, return_state=True)(inp)
    assert (y.shape, h.shape, c.shape) == ((None, 5, 4), (None, 4), (None, 4))
    assert Dense(3)(inp).shape == (None, 5, 3)
    assert Bidirectional(LSTM(2))(inp).shape == (None, 4)
