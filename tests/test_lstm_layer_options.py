"""fastlstm.layers.LSTM's options beyond Keras: ``proj_size`` (PyTorch's), ``use_peepholes`` and
``clip`` (ONNX's). The layer against the functional API with the same weights (outputs, states,
every gradient; masks, go_backwards, recurrent dropout), a projected model against torch's
nn.LSTM(proj_size) + Linear (predictions, gradients, loss curves), whole-model finite differences,
saving and configs (and files without the new keys), Bidirectional, stateful layers, bad input.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import fastlstm
from badinput import raises
from conftest import check_model_gradients, with_header
from fastlstm import convert, losses, saving
from fastlstm.layers import LSTM, Bidirectional, Dense, Embedding, deserialize, serialize
from fastlstm.models import Sequential
from test_cells import assert_close
from test_models_torch import BATCH, STEPS, assert_same_curve, optimizer_pair, torch_curve
from test_models_torch import torch_linear as torch_dense
from test_stacked import torch_module

B, T, I, H, P = 4, 6, 3, 5, 2  # H != P: a transposed projection cannot pass unnoticed
CLIP = 0.6  # below many pre-activations of these problems: clipping happens
ONEDNN = "ignore:LSTM with projections is not supported with oneDNN"
ALL = {"proj_size": P, "use_peepholes": True, "clip": CLIP}
OPTIONS = pytest.mark.parametrize(
    "options",
    [{"proj_size": P}, {"use_peepholes": True}, {"clip": CLIP}, ALL],
    ids=["proj", "peep", "clip", "all"],
)
# The keys a plain LSTM's config had before the options (a file from then holds exactly these).
OLD_KEYS = {
    "name", "dtype", "seed", "trainable", "units", "return_sequences", "return_state",
    "time_major", "go_backwards", "stateful", "dropout", "recurrent_dropout",
    "kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "unit_forget_bias",
}  # fmt: skip
MASK = np.array(
    [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 1, 1, 0, 1, 1], [1, 0, 0, 0, 0, 0]], bool
)


def random_weights(options, seed=0, units=H, inputs=I):
    """Every weight of an LSTM with these options, N(0, 0.5²), by name (peepholes non-zero, with
    distinct blocks, so that a swapped block order changes the answer)."""
    rng = np.random.default_rng(seed)
    width = options.get("proj_size") or units

    def r(*shape):
        return 0.5 * rng.standard_normal(shape)

    w = {"kernel": r(inputs, 4 * units), "recurrent_kernel": r(width, 4 * units)}
    w["bias"] = r(4 * units)
    if options.get("use_peepholes"):
        w["peephole"] = r(3 * units)
    if options.get("proj_size"):
        w["projection"] = r(units, width)
    return w


def functional_options(w, options):
    """The functional API's keywords for the layer's options, from the weights by name."""
    kw = {name: w[name] for name in ("peephole", "projection") if name in w}
    return {**kw, "clip": options["clip"]} if "clip" in options else kw


def make_layer(options, w, **kwargs):
    layer = LSTM(H, dtype="float64", **options, **kwargs)
    names = ("kernel", "recurrent_kernel", "bias", "peephole", "projection")
    layer.set_weights([w[n] for n in names if n in w])  # the documented order
    assert layer.weight_names == tuple(n for n in names if n in w)
    return layer


def flip(a):
    return None if a is None else np.ascontiguousarray(np.asarray(a)[:, ::-1])


def states(seed, width=H):
    rng = np.random.default_rng(seed)
    return 0.5 * rng.standard_normal((B, width)), 0.5 * rng.standard_normal((B, H))


# -- (1) the layer is the functional API ----------------------------------------------------


@pytest.mark.parametrize("masked", [False, True], ids=["full", "mask"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "go_backwards"])
@OPTIONS
def test_layer_equals_the_functional_api(options, go_backwards, masked):
    w = random_weights(options, seed=1)
    layer = make_layer(
        options, w, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    width = options.get("proj_size", H)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((B, T, I))
    h0, c0 = states(3, width)
    mask = MASK if masked else None
    out, cache = layer.forward(x, mask=mask, initial_state=[h0, c0])
    assert [a.shape for a in out] == [(B, T, width), (B, width), (B, H)]

    x_in, mask_in = (flip(x), flip(mask)) if go_backwards else (x, mask)
    args = (x_in, w["kernel"], w["recurrent_kernel"], w["bias"], (h0, c0))
    kw = functional_options(w, options)
    y, (h, c), ref_cache = fastlstm.lstm_forward(*args, mask=mask_in, **kw)
    for name, a, e in zip(("y", "h", "c"), out, (y, h, c)):
        np.testing.assert_array_equal(a, e, err_msg=name)
    for name, a, e in zip(("y", "h", "c"), layer(x, [h0, c0], mask=mask), (y, h, c)):
        np.testing.assert_array_equal(a, e, err_msg=f"{name} (inference)")

    dy, dh = rng.standard_normal((B, T, width)), rng.standard_normal((B, width))
    dc = rng.standard_normal((B, H))
    grads = layer.backward(cache, [dy, dh, dc])
    ref = fastlstm.lstm_backward(ref_cache, dy, (dh, dc))
    assert grads._fields == ref._fields
    for name in ref._fields:
        expected = getattr(ref, name)
        if name == "x" and go_backwards:
            expected = flip(expected)
        if expected is None:
            assert getattr(grads, name) is None, name
        else:
            np.testing.assert_array_equal(getattr(grads, name), expected, err_msg="d" + name)
    assert len(layer.grads) == len(layer.weight_names)
    for name, g in zip(layer.weight_names, layer.grads):
        np.testing.assert_array_equal(g, getattr(ref, name), err_msg="grads: " + name)

    # Each option changes the answer: the comparison is not one of plain LSTMs.
    for option in ("peephole", "clip"):
        if option in kw:
            other, _ = fastlstm.lstm(
                *args, mask=mask_in, **{k: v for k, v in kw.items() if k != option}
            )
            assert np.max(np.abs(other - y)) > 1e-3, option


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "go_backwards"])
@OPTIONS
def test_recurrent_dropout_mask_is_as_wide_as_h(options, go_backwards):
    w = random_weights(options, seed=4)
    layer = make_layer(
        options, w, return_sequences=True, recurrent_dropout=0.4, go_backwards=go_backwards, seed=5
    )
    x = np.random.default_rng(6).standard_normal((B, T, I))
    out, cache = layer.forward(x, training=True, mask=MASK)
    m = cache.recurrent_dropout
    assert m.shape == (B, options.get("proj_size", H))  # it multiplies h_{t-1}
    assert 0 < np.count_nonzero(m) < m.size
    x_in, mask_in = (flip(x), flip(MASK)) if go_backwards else (x, MASK)
    kw = functional_options(w, options)
    y, _, ref_cache = fastlstm.lstm_forward(
        x_in, w["kernel"], w["recurrent_kernel"], w["bias"], mask=mask_in,
        recurrent_dropout_mask=m, **kw,
    )  # fmt: skip
    np.testing.assert_array_equal(out, y)
    dy = np.random.default_rng(7).standard_normal(out.shape)
    grads = layer.backward(cache, dy)
    ref = fastlstm.lstm_backward(ref_cache, dy)
    for name, g in zip(layer.weight_names, layer.grads):
        np.testing.assert_array_equal(g, getattr(ref, name), err_msg=name)
    np.testing.assert_array_equal(grads.x, flip(ref.x) if go_backwards else ref.x)


def test_new_weights_are_made_after_the_old_ones():
    plain = LSTM(H, seed=8)
    full = LSTM(H, seed=8, use_peepholes=True, proj_size=P)
    plain.build((None, T, I))
    full.build((None, T, I))
    assert [w.shape for w in full.get_weights()] == [
        (I, 4 * H), (P, 4 * H), (4 * H,), (3 * H,), (H, P)
    ]  # fmt: skip
    assert full.trainable_weights[3] is full.peephole
    assert full.trainable_weights[4] is full.projection
    np.testing.assert_array_equal(full.kernel, plain.kernel)  # the same draws, in the same order
    np.testing.assert_array_equal(full.bias, plain.bias)
    np.testing.assert_array_equal(full.peephole, 0)
    limit = np.sqrt(6 / (H + P))
    assert 0 < np.abs(full.projection).max() <= limit
    r = full.recurrent_kernel
    np.testing.assert_allclose(r @ r.T, np.eye(P), atol=1e-6)  # orthonormal rows
    peep = LSTM(H, seed=8, use_peepholes=True)
    peep.build((None, T, I))
    for a, b in zip(peep.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert plain.weight_names == ("kernel", "recurrent_kernel", "bias")
    assert plain.peephole is None
    assert plain.projection is None


def test_stream_uses_the_options():
    w = random_weights(ALL, seed=9)
    layer = make_layer(ALL, w, return_sequences=True)
    x = np.random.default_rng(10).standard_normal((B, T, I))
    stream = layer.stream(batch_size=B)
    steps = np.stack([stream.step(x[:, t]) for t in range(T)], axis=1)
    np.testing.assert_allclose(steps, layer(x), rtol=1e-14, atol=1e-14)


def test_mask_zero_padding_equals_unpadded_sequences():
    lengths = [6, 2, 4, 1]
    x = np.zeros((4, T), np.int64)
    rng = np.random.default_rng(11)
    for b, n in enumerate(lengths):
        x[b, :n] = rng.integers(1, 9, n)
    model = Sequential(
        [Embedding(9, I, mask_zero=True, dtype="float64"), LSTM(H, dtype="float64", **ALL)],
        seed=12,
    )
    model.build((None, T))
    model.layers[1].peephole = 0.5 * rng.standard_normal(3 * H)
    padded = model.predict(x, verbose=0)
    assert padded.shape == (4, P)
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(padded[b], model(x[b : b + 1, :n])[0], rtol=1e-12)


# -- (2) a projected model against torch -----------------------------------------------------


def torch_pair(torch, model):
    """torch's nn.LSTM(proj_size) and Linear holding the weights of model = [LSTM, Dense], and
    their forward function (the last h into the Linear)."""
    lstm, dense = model.layers
    net, _ = torch_module(
        torch, "lstm", I, H, 1, False, lstm.dtype, [tuple(lstm.get_weights())], lstm.proj_size
    )
    linear = torch_dense(torch, dense).to(net.weight_ih_l0.dtype)

    def forward(x):
        _, (h, _) = net(x)
        return linear(h[0])

    return net, linear, forward


@pytest.mark.filterwarnings(ONEDNN)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_projected_model_matches_torch(torch, dtype):
    """Predictions, the loss and the gradient of every weight, weight_hr included."""
    model = Sequential([LSTM(H, proj_size=P, dtype=dtype), Dense(3, dtype=dtype)], seed=13)
    model.build((None, T, I))
    net, linear, forward = torch_pair(torch, model)
    rng = np.random.default_rng(14)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    y = rng.standard_normal((B, 3)).astype(dtype)
    prediction = forward(torch.from_numpy(x))
    ours = model.predict(x, verbose=0)
    assert ours.shape == (B, 3)
    assert_close(ours, prediction.detach().numpy().astype(np.float64), dtype, "prediction")

    model.compile("sgd", "mse")
    loss, grads = model.loss_and_gradients(x, y)
    theirs = torch.nn.functional.mse_loss(prediction, torch.from_numpy(y))
    theirs.backward()
    assert_close(np.array(loss), np.array(theirs.item()), dtype, "loss")
    kernel, recurrent, _ = convert.from_torch(
        net.weight_ih_l0.grad, net.weight_hh_l0.grad, proj_size=P
    )
    expected = {
        "kernel": kernel,
        "recurrent_kernel": recurrent,
        "bias": net.bias_ih_l0.grad.numpy(),
        "projection": convert.projection_from_torch(net.weight_hr_l0.grad),
        "dense kernel": linear.weight.grad.numpy().T,
        "dense bias": linear.bias.grad.numpy(),
    }
    assert len(grads) == len(expected)
    for (name, e), g in zip(expected.items(), grads):
        assert_close(g, e.astype(np.float64), dtype, "d" + name)
    assert_close(grads[2], net.bias_hh_l0.grad.numpy().astype(np.float64), dtype, "dbias_hh")


@pytest.mark.filterwarnings(ONEDNN)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_projected_model_trains_like_torch(torch, kind):
    """The same loss curve over STEPS batches (float64), and the same weights after."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((STEPS * BATCH, T, I))
    y = np.tanh(x.sum(axis=(1, 2)))[:, None] + 0.1 * rng.standard_normal((STEPS * BATCH, 1))
    model = Sequential([LSTM(H, proj_size=P, dtype="float64"), Dense(1, dtype="float64")], seed=16)
    model.build((None, T, I))
    net, linear, forward = torch_pair(torch, model)
    net.bias_hh_l0.requires_grad_(False)  # one bias in fastlstm: torch's second stays at zero
    ours_opt, theirs_opt = optimizer_pair(torch, kind)
    theirs = torch_curve(
        torch, [net, linear], forward, torch.nn.functional.mse_loss, x, y, theirs_opt
    )
    model.compile(ours_opt, "mse")
    ours = [
        model.train_on_batch(x[s * BATCH : (s + 1) * BATCH], y[s * BATCH : (s + 1) * BATCH])
        for s in range(STEPS)
    ]
    assert_same_curve(np.array(ours), theirs)
    projection = convert.projection_from_torch(net.weight_hr_l0.detach().numpy())
    np.testing.assert_allclose(model.layers[0].projection, projection, rtol=1e-4, atol=1e-8)


# -- (3) finite differences through a whole model ---------------------------------------------


def test_whole_model_gradients_match_finite_differences():
    rng = np.random.default_rng(17)
    x = rng.integers(1, 9, (4, T))
    x[1, 4:] = 0  # padding, masked by the embedding
    x[3, 2:] = 0
    y = rng.integers(0, 2, 4)
    model = Sequential(
        [
            Embedding(9, I, mask_zero=True, dtype="float64"),
            LSTM(H, return_sequences=True, dtype="float64", **ALL),
            LSTM(4, proj_size=3, use_peepholes=True, clip=CLIP, go_backwards=True, dtype="float64"),
            Dense(2, dtype="float64"),
        ],
        seed=18,
    )
    model.build((None, T))
    for layer in model.layers:  # N(0, 1): zero peepholes would hide their part of the gradient
        layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    clipped = model(x)
    for layer in model.layers[1:3]:
        layer.clip = None
    assert np.max(np.abs(model(x) - clipped)) > 1e-3  # the clip is reached
    for layer in model.layers[1:3]:
        layer.clip = CLIP

    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    _, grads = model.loss_and_gradients(x, y)
    assert len(model.trainable_weights) == 1 + 5 + 5 + 2
    check_model_gradients(model, x, y, grads, rng)


# -- (4) saving, (5) configs -----------------------------------------------------------------


def tokens(n=48, seed=19):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 12, (n, 7))
    x[::3, 5:] = 0  # padding
    return x, (x[:, 0] > 6).astype(np.int64)


def options_model():
    return Sequential(
        [
            Embedding(12, 4, mask_zero=True),
            Bidirectional(LSTM(6, return_sequences=True, recurrent_dropout=0.2, **ALL)),
            LSTM(5, proj_size=3, use_peepholes=True, clip=2.0),
            Dense(2, activation="softmax"),
        ],
        seed=20,
    )


def test_model_trains_saves_and_loads(tmp_path):
    x, y = tokens()
    model = options_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.build((None, 7))
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    names = [n for layer in model.layers for n in layer.weight_names]
    for name, a, b in zip(names, before, model.get_weights()):
        assert not np.array_equal(a, b), f"{name} was not trained"
    assert model.predict(x, verbose=0).shape == (len(x), 2)

    path = tmp_path / "options.fastlstm"
    model.save(path)
    loaded = fastlstm.load_model(path)
    assert loaded.get_config() == model.get_config()
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    more = model.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"]
    again = loaded.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"]
    assert more == again, "training resumes exactly"


def _header(blob: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return json.loads(zf.read(saving.HEADER))


def test_files_without_the_new_keys_load_as_before():
    """A plain LSTM writes the config it wrote before the options (the keys of OLD_KEYS), so old
    files are these files; they load without options. Explicit defaults load the same."""
    x, y = tokens(12)
    model = Sequential([Embedding(12, 4, mask_zero=True), LSTM(5), Dense(2)], seed=21)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    blob = saving.model_to_bytes(model)
    config = _header(blob)["model"]["config"]["layers"][1]["config"]
    assert set(config) == OLD_KEYS
    loaded = saving.model_from_bytes(blob)
    layer = loaded.layers[1]
    assert (layer.proj_size, layer.use_peepholes, layer.clip) == (None, False, None)
    assert layer.weight_names == ("kernel", "recurrent_kernel", "bias")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

    def explicit(header):
        header["model"]["config"]["layers"][1]["config"].update(
            proj_size=None, use_peepholes=False, clip=None, peephole_initializer="zeros",
            projection_initializer="glorot_uniform",
        )  # fmt: skip

    same = saving.model_from_bytes(with_header(blob, explicit))
    assert same.get_config() == model.get_config()
    np.testing.assert_array_equal(same.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_file_that_loses_the_keys_but_keeps_the_weights_is_refused():
    model = Sequential([LSTM(5, use_peepholes=True, proj_size=2), Dense(1)], seed=22)
    model.build((None, T, I))
    blob = saving.model_to_bytes(model)

    def strip(header):
        for key in ("use_peepholes", "proj_size"):
            del header["model"]["config"]["layers"][0]["config"][key]

    with pytest.raises(ValueError, match="expected 3 weight arrays, got 5"):
        saving.model_from_bytes(with_header(blob, strip))


def test_config_round_trips_through_json():
    layer = LSTM(
        H, seed=23, dtype="float64", proj_size=P, use_peepholes=True, clip=np.float32(1.5),
        peephole_initializer="ones", projection_initializer="orthogonal", return_sequences=True,
    )  # fmt: skip
    config = json.loads(json.dumps(layer.get_config()))
    assert {k: config[k] for k in ALL} == {"proj_size": P, "use_peepholes": True, "clip": 1.5}
    assert config["peephole_initializer"] == "ones"
    assert config["projection_initializer"] == "orthogonal"
    clone = LSTM.from_config(config)
    assert clone.get_config() == config
    x = np.random.default_rng(24).standard_normal((B, T, I))
    np.testing.assert_array_equal(clone(x), layer(x))  # same seed: the same weights
    np.testing.assert_array_equal(clone.peephole, 1)
    assert set(LSTM(H).get_config()) == OLD_KEYS  # no new keys at their defaults
    assert set(LSTM(H, clip=2).get_config()) == {*OLD_KEYS, "clip"}
    wrapper = Bidirectional(LSTM(H, seed=25, **ALL, return_sequences=True), merge_mode="sum")
    spec = json.loads(json.dumps(serialize(wrapper)))
    copy = deserialize(spec)
    assert serialize(copy) == spec
    np.testing.assert_array_equal(copy(x), wrapper(x))


# -- (6) Bidirectional and stateful ------------------------------------------------------------


def test_bidirectional_with_a_projection_equals_two_functional_calls():
    options = {"proj_size": P, "use_peepholes": True}
    layer = Bidirectional(
        LSTM(H, dtype="float64", return_sequences=True, return_state=True, seed=26, **options)
    )
    assert layer.compute_output_shape((None, T, I)) == [
        (None, T, 2 * P), (None, P), (None, H), (None, P), (None, H)
    ]  # fmt: skip
    layer.build((None, T, I))
    w_f, w_b = random_weights(options, seed=27), random_weights(options, seed=28)
    names = layer.forward_layer.weight_names
    layer.set_weights([w_f[n] for n in names] + [w_b[n] for n in names])
    rng = np.random.default_rng(29)
    x = rng.standard_normal((B, T, I))
    out, cache = layer.forward(x, mask=MASK)
    assert [a.shape for a in out] == [(B, T, 2 * P), (B, P), (B, H), (B, P), (B, H)]

    def run(w, x, mask):
        kw = functional_options(w, options)
        return fastlstm.lstm_forward(
            x, w["kernel"], w["recurrent_kernel"], w["bias"], mask=mask, **kw
        )

    y_f, (h_f, c_f), cache_f = run(w_f, x, MASK)
    y_b, (h_b, c_b), cache_b = run(w_b, flip(x), flip(MASK))
    # Both halves' outputs are zero at masked steps (Keras's Bidirectional), so they get no
    # gradient there.
    keep = np.asarray(MASK, dtype=bool)[..., None]
    halves = [np.where(keep, y_f, 0), np.where(keep, flip(y_b), 0)]
    expected = [np.concatenate(halves, axis=-1), h_f, c_f, h_b, c_b]
    for a, e in zip(out, expected):
        np.testing.assert_array_equal(a, e)
    dy = rng.standard_normal((B, T, 2 * P))
    dx = layer.backward(cache, [dy, None, None, None, None])
    g_f = fastlstm.lstm_backward(cache_f, np.where(keep, dy[..., :P], 0))
    g_b = fastlstm.lstm_backward(cache_b, flip(np.where(keep, dy[..., P:], 0)))
    np.testing.assert_allclose(dx, g_f.x + flip(g_b.x), rtol=1e-13, atol=1e-13)
    for g, e in zip(
        layer.grads, [getattr(g_f, n) for n in names] + [getattr(g_b, n) for n in names]
    ):
        np.testing.assert_array_equal(g, e)


def test_bidirectional_halves_of_other_widths_merge_by_concatenation_only():
    """The halves' widths are P where a projection has one, else H (Keras allows other widths
    with "concat"; "sum", "mul" and "ave" need one width)."""
    with pytest.raises(ValueError, match=r"merge_mode 'sum' .* layer gives 2 and backward_layer 3"):
        Bidirectional(
            LSTM(H, proj_size=2),
            merge_mode="sum",
            backward_layer=LSTM(H, proj_size=3, go_backwards=True),
        )
    with pytest.raises(ValueError, match=f"merge_mode 'ave' .* gives 2 and backward_layer {H}"):
        Bidirectional(
            LSTM(H, proj_size=2), merge_mode="ave", backward_layer=LSTM(H, go_backwards=True)
        )
    layer = Bidirectional(LSTM(H, proj_size=2), backward_layer=LSTM(H, go_backwards=True))
    x = np.random.default_rng(5).standard_normal((B, 6, I))
    assert layer(x).shape == (B, 2 + H)
    assert layer.compute_output_shape((None, 6, I)) == (None, 2 + H)


def test_stateful_layer_carries_h_of_width_p(tmp_path):
    w = random_weights(ALL, seed=30)
    whole = make_layer(ALL, w, return_sequences=True)
    parts = make_layer(ALL, w, return_sequences=True, stateful=True)
    x = np.random.default_rng(31).standard_normal((B, 8, I))
    y = whole(x)
    np.testing.assert_allclose(np.concatenate([parts(x[:, :3]), parts(x[:, 3:])], 1), y, rtol=1e-12)
    h, c = parts.states
    assert (h.shape, c.shape) == ((B, P), (B, H))
    np.testing.assert_array_equal(h, y[:, -1])
    start = states(32, P)
    parts.reset_states(start)
    kernels = [w[n] for n in ("kernel", "recurrent_kernel", "bias")]
    expected, _ = fastlstm.lstm(x, *kernels, start, **functional_options(w, ALL))
    np.testing.assert_array_equal(parts(x), expected)
    with pytest.raises(ValueError, match=r"states: expected h of shape \(batch, 2\)"):
        parts.reset_states(states(33))  # h as wide as c
    with pytest.raises(ValueError, match=r"initial_state\[0\]: expected shape \(4, 2\)"):
        whole(x, initial_state=list(states(33)))

    model = Sequential([make_layer(ALL, w, stateful=True), Dense(1, dtype="float64")], seed=34)
    model.predict(x[:, :4], batch_size=B, verbose=0)
    path = tmp_path / "stateful.fastlstm"
    model.save(path)
    loaded = fastlstm.load_model(path)
    for a, b in zip(loaded.layers[0].states, model.layers[0].states):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        loaded.predict(x[:, 4:], batch_size=B, verbose=0),
        model.predict(x[:, 4:], batch_size=B, verbose=0),
    )


# -- (7) bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "name", "expected", "got"),
    [
        ({"proj_size": 0}, ValueError, "proj_size", "0 < P < units = 5", "0"),
        ({"proj_size": -2}, ValueError, "proj_size", "0 < P < units = 5", "-2"),
        ({"proj_size": H}, ValueError, "proj_size", "0 < P < units = 5", "5"),
        ({"proj_size": H + 3}, ValueError, "proj_size", "0 < P < units = 5", "8"),
        ({"proj_size": 2.0}, TypeError, "proj_size", "None or an int", "2.0"),
        ({"proj_size": True}, TypeError, "proj_size", "None or an int", "True"),
        ({"proj_size": "2"}, TypeError, "proj_size", "None or an int", "'2'"),
        ({"use_peepholes": 1}, TypeError, "use_peepholes", "True or False", "1"),
        ({"use_peepholes": None}, TypeError, "use_peepholes", "True or False", "None"),
        ({"use_peepholes": "yes"}, TypeError, "use_peepholes", "True or False", "'yes'"),
        ({"clip": 0}, ValueError, "clip", "a positive finite number", "0"),
        ({"clip": -1.5}, ValueError, "clip", "a positive finite number", "-1.5"),
        ({"clip": float("nan")}, ValueError, "clip", "a positive finite number", "nan"),
        ({"clip": float("inf")}, ValueError, "clip", "a positive finite number", "inf"),
        ({"clip": True}, TypeError, "clip", "a positive finite number", "True"),
        ({"clip": "1"}, TypeError, "clip", "a positive finite number", "'1'"),
        ({"clip": [1.0]}, TypeError, "clip", "a positive finite number", "[1.0]"),
        ({"clip": 10**400}, ValueError, "clip", "a positive finite number", "1000"),
        ({"peephole_initializer": "nope"}, ValueError, "peephole_initializer", "zeros", "'nope'"),
        ({"projection_initializer": 3}, ValueError, "projection_initializer", "glorot", "3"),
    ],
)
def test_bad_arguments_are_named(kwargs, exc, name, expected, got):
    with raises(exc, name, expected, got):
        LSTM(H, **kwargs)


def test_bad_option_weights_are_named():
    layer = LSTM(H, dtype="float64", **ALL)
    w = random_weights(ALL)
    good = [w[n] for n in layer.weight_names]
    with raises(ValueError, "projection", "(5, 2)", "(2, 5)"):  # transposed
        layer.set_weights([*good[:4], w["projection"].T])
    with raises(ValueError, "recurrent_kernel", "(2, 20)", "(5, 20)"):
        layer.set_weights([good[0], np.zeros((H, 4 * H)), *good[2:]])
    with raises(ValueError, "peephole", "(15,)", "(20,)"):
        layer.set_weights([*good[:3], np.zeros(4 * H), good[4]])
    with raises(
        ValueError, "weights", "[kernel, recurrent_kernel, bias, peephole, projection]", "3"
    ):
        layer.set_weights(good[:3])
    assert not layer.built  # nothing was set
    layer.set_weights(good)
    with raises(ValueError, "projection", "(5, 2)", "(5, 3)"):
        layer.projection = np.zeros((H, 3))
    np.testing.assert_array_equal(layer.projection, w["projection"])
