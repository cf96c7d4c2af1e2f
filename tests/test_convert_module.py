"""convert.stacked_from_torch: a whole nn.LSTM (proj_size included), nn.GRU or nn.RNN, every layer
and direction, from its state_dict, run by stacked.rnn and checked against the module live."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import convert
from fastlstm.stacked import rnn
from test_stacked import assert_close

B, T, I, H, P = 3, 5, 4, 6, 3
MODULES = {"lstm": "LSTM", "lstm_proj": "LSTM", "gru": "GRU", "simple_rnn": "RNN"}


def torch_net(torch, kind, layers, bidirectional, dtype, seed=0, **kwargs):
    """A torch module of ``kind`` (a key of MODULES), batch_first, in ``dtype``, seeded."""
    torch.manual_seed(seed)
    if kind == "lstm_proj":
        kwargs["proj_size"] = P
    cls = getattr(torch.nn, MODULES[kind])
    net = cls(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=True, **kwargs)
    return net.to(getattr(torch, np.dtype(dtype).name))


def numpy_state(net) -> dict:
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", list(MODULES))
def test_a_whole_torch_module_converts(torch, kind, layers, bidirectional, dtype):
    net = torch_net(torch, kind, layers, bidirectional, dtype)
    cell = "lstm" if kind.startswith("lstm") else kind
    converted = convert.stacked_from_torch(numpy_state(net), cell=cell)
    assert converted.cell == cell
    assert converted.num_layers == layers
    assert converted.bidirectional == bidirectional
    D = 2 if bidirectional else 1
    assert len(converted.weights) == layers * D
    assert all(len(w) == (4 if kind == "lstm_proj" else 3) for w in converted.weights)

    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    width = P if kind == "lstm_proj" else H
    h0 = (0.5 * rng.standard_normal((layers * D, B, width))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((layers * D, B, H))).astype(dtype)
    lstm = cell == "lstm"
    with torch.no_grad():
        h0t, c0t = torch.from_numpy(h0), torch.from_numpy(c0)
        out, hn = net(torch.from_numpy(x), (h0t, c0t) if lstm else h0t)
    states = list(zip(h0, c0)) if lstm else list(h0)
    y, final = rnn(x, initial_state=states, **converted._asdict())

    assert y.dtype == dtype
    assert_close(y, out.numpy(), dtype, "y")
    for k in range(layers * D):
        if lstm:
            assert_close(final[k][0], hn[0].numpy()[k], dtype, f"h_n[{k}]")
            assert_close(final[k][1], hn[1].numpy()[k], dtype, f"c_n[{k}]")
        else:
            assert_close(final[k], hn.numpy()[k], dtype, f"h_n[{k}]")


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
def test_a_module_without_biases_converts_with_zero_biases(torch, kind):
    net = torch_net(torch, kind, 2, True, np.float64, bias=False)
    state = numpy_state(net)
    assert not any(k.startswith("bias") for k in state)
    converted = convert.stacked_from_torch(state, cell=kind)
    for w in converted.weights:
        np.testing.assert_array_equal(w[2], np.zeros((2, 3 * H) if kind == "gru" else w[2].shape))
        assert not w[2].any()
    x = np.random.default_rng(2).standard_normal((B, T, I))
    with torch.no_grad():
        out, _ = net(torch.from_numpy(x))
    y, _ = rnn(x, **converted._asdict())
    assert_close(y, out.numpy(), np.float64, "y")


def state_of(kind="lstm", layers=2, bidirectional=True, proj_size=None) -> dict:
    """A module's NumPy state_dict, made by converting random fastlstm weights (no torch)."""
    rng = np.random.default_rng(5)
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[kind]
    to_torch = {"lstm": convert.to_torch, "gru": convert.gru_to_torch}.get(
        kind, convert.rnn_to_torch
    )
    D, width = 2 if bidirectional else 1, proj_size or H
    extra = {"proj_size": proj_size} if proj_size else {}
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    state = {}
    for layer in range(layers):
        rows = I if layer == 0 else D * width
        for d in range(D):
            bias = rng.standard_normal((2, gates * H) if kind == "gru" else gates * H)
            w = (rng.standard_normal((rows, gates * H)), rng.standard_normal((width, gates * H)))
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            state |= {n + suffix: a for n, a in zip(names, to_torch(*w, bias, **extra))}
            if proj_size:
                state["weight_hr" + suffix] = rng.standard_normal((proj_size, H))
    return state


def test_the_state_dict_made_here_converts_back():
    converted = convert.stacked_from_torch(state_of("gru"), cell="gru")
    assert (converted.num_layers, converted.bidirectional) == (2, True)


@pytest.mark.parametrize(
    ("change", "cell", "match"),
    [
        (lambda s: s.pop("weight_hh_l1_reverse"), "lstm", r"missing key 'weight_hh_l1_reverse'"),
        (lambda s: s.pop("bias_ih_l1"), "lstm", r"missing key 'bias_ih_l1'"),
        (lambda s: s.pop("weight_ih_l0_reverse"), "lstm", r"missing key 'weight_ih_l0_reverse'"),
        (
            lambda s: s.update({"lstm.weight_ih_l0": s["weight_ih_l0"]}),
            "lstm",
            r"unexpected key 'lstm.weight_ih_l0'.*recurrent module's own",
        ),
        (lambda s: s.update({"weight_ih_l3": s["weight_ih_l0"]}), "lstm", "missing key"),
        (
            lambda s: s.update({"weight_hr_l0": np.zeros((3, 6))}),
            "gru",
            r"unexpected key 'weight_hr_l0'",
        ),
        (
            lambda s: s.update({"weight_hh_l1_reverse": s["weight_hh_l1_reverse"][:, :5]}),
            "lstm",
            r"_l1_reverse.*weight_hh: expected",
        ),
        (
            lambda s: s.update({"weight_ih_l1": s["weight_ih_l1"][:, :6]}),
            "lstm",
            r"^weight_ih_l1: expected .*\(24, 12\).*got shape \(24, 6\)",
        ),
        (lambda s: None, "gru", r"expected nn.GRU's"),  # an LSTM's weights
        (lambda s: None, "rnn", r"^cell: expected one of lstm, gru, simple_rnn, got 'rnn'"),
    ],
)
def test_bad_state_dicts_name_the_key(change, cell, match):
    state = state_of("lstm")
    change(state)
    with pytest.raises(ValueError, match=match):
        convert.stacked_from_torch(state, cell=cell)


@pytest.mark.parametrize(
    ("module", "cell", "match"),
    [
        ("gru", "lstm", r"these are nn.GRU's weights .*cell='gru' for stacked_from_torch$"),
        ("lstm", "simple_rnn", r"these are nn.LSTM's weights .*cell='lstm' for stacked_from_"),
        ("simple_rnn", "lstm", r"weight_ih: .*these are nn.RNN's weights .*convert.rnn_from_"),
        ("lstm", "gru", r"expected nn.GRU's .*these are nn.LSTM's weights .*convert.from_torch"),
    ],
)
def test_another_modules_weights_are_named_as_its(module, cell, match):
    """A GRU's state_dict given as an LSTM's had been refused for weight_hh's width alone."""
    with pytest.raises(ValueError, match=match):
        convert.stacked_from_torch(state_of(module), cell=cell)


def test_torchs_h0_for_a_one_state_cell_is_named_as_such():
    converted = convert.stacked_from_torch(state_of("gru"), cell="gru")._asdict()
    h0 = np.zeros((4, B, H))  # 2 layers x 2 directions
    with pytest.raises(ValueError, match=r"got a 3-D array; from PyTorch's h0 .* pass list\(h0\)"):
        rnn(np.zeros((B, T, I)), **converted, initial_state=h0)
    y, _ = rnn(np.zeros((B, T, I)), **converted, initial_state=list(h0))  # as it advises
    assert y.shape == (B, T, 2 * H)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_one_entrys_state_given_bare_is_named_as_such(torch, cell):
    # A single layer's (h, c) (or h) not wrapped in the list of entries had been refused as
    # "got 2 entries" (or as the array itself), without what to pass.
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H, batch_first=True)
    state = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    converted = convert.stacked_from_torch(state, cell=cell)._asdict()
    h = np.ones((B, H), np.float32)
    bare, wrapped = ((h, h), [(h, h)]) if cell == "lstm" else (h, [h])
    advice = r"\[\(h, c\)\]" if cell == "lstm" else r"\[h\]"
    with pytest.raises(ValueError, match=rf"^initial_state: expected a list of 1 .*pass {advice}$"):
        rnn(np.zeros((B, T, I), np.float32), **converted, initial_state=bare)
    y, _ = rnn(np.zeros((B, T, I), np.float32), **converted, initial_state=wrapped)  # as advised
    assert y.shape == (B, T, H)


def test_an_lstms_bare_arrays_are_named_as_pairs_to_give():
    # Keras's [h, c] for one layer, and one (h, c) for a bidirectional layer's two entries (the
    # latter had been told to pass the tuple (h, c), which it had).
    w = [(np.zeros((I, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H))]
    h = np.zeros((B, H))
    with pytest.raises(
        ValueError, match=r"got an \(h, c\) pair; for the one entry pass \[\(h, c\)\]"
    ):
        rnn(np.zeros((B, T, I)), w, initial_state=[h, h])
    with pytest.raises(
        ValueError,
        match=r"an \(h, c\) pair per weight entry, got 2 arrays; pass \[\(h0, c0\), \(h1, c1\)\]$",
    ):
        rnn(np.zeros((B, T, I)), w * 2, initial_state=(h, h), bidirectional=True)


def test_projections_in_some_entries_only_are_refused():
    state = state_of("lstm", proj_size=P)
    assert len(convert.stacked_from_torch(state).weights[3]) == 4
    state.pop("weight_hr_l1_reverse")
    with pytest.raises(ValueError, match=r"missing key 'weight_hr_l1_reverse'"):
        convert.stacked_from_torch(state)


def test_not_a_state_dict():
    with pytest.raises(TypeError, match=r"^state_dict: expected a mapping .*got list"):
        convert.stacked_from_torch([np.zeros((24, 4))])
    with pytest.raises(ValueError, match=r"^state_dict: expected .*weight_ih_l0.*got no keys"):
        convert.stacked_from_torch({})
