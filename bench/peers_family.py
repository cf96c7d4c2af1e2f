"""The rest of the recurrent family for the peer benchmark: GRU, SimpleRNN, 2-layer BiLSTM.

Same contract as peers.py (which holds the single-layer LSTM): ``setup_<library>(case, threads)``
returns a :class:`peers.Runner` whose ``output`` names its arrays alike across libraries. Cells:

  gru      fastlstm's default GRU (``reset_after=True``): torch.nn.GRU, ONNX ``GRU`` with
           ``linear_before_reset=1``; kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) =
           [input bias; recurrent bias], gate blocks z, r, h (torch: r, z, n; fastlstm.convert).
  gru_rb   the reset-before GRU (``reset_after=False``, ONNX's default): ONNX ``GRU`` with
           ``linear_before_reset=0`` (torch has no such GRU); bias (3H,).
  rnn      SimpleRNN with tanh: torch.nn.RNN, ONNX ``RNN`` (Tanh); kernel (I, H), bias (H,).
  bilstm2  two bidirectional LSTM layers (fastlstm.stacked.rnn): torch.nn.LSTM(num_layers=2,
           bidirectional=True), ONNX two ``LSTM`` nodes with direction="bidirectional", the second
           fed the first's Y (T, 2, B, H) transposed and reshaped to (T, B, 2H). Weights are four
           LSTM entries in PyTorch's order: layer 0 forward, layer 0 backward, layer 1 forward,
           layer 1 backward (layer 1's kernel has 2H rows). Outputs: y (B, T, 2H) and the final
           states h, c stacked in that order, (4, B, H), as torch's h_n and c_n.

:func:`libraries` gives the setup functions for a cell (peers.LIBRARIES for "lstm").
"""

from __future__ import annotations

from functools import partial

import numpy as np

import fastlstm
from fastlstm import convert, oracle, stacked
from peers import (
    LIBRARIES,
    Runner,
    make_weights,
    ort_session,
    serve_runner,
    torch_train_call,
)

GATES = {"lstm": 4, "gru": 3, "gru_rb": 3, "rnn": 1}  # gate blocks per cell: kernel (I, G·H)
TORCH_CLASS = {"gru": "GRU", "rnn": "RNN"}
ONNX_OP = {"gru": "GRU", "gru_rb": "GRU", "rnn": "RNN"}
STACK = (2, True)  # bilstm2: num_layers, bidirectional


def make_cell_weights(cell: str, input_size: int, hidden: int, seed: int):
    """Random float32 weights for ``cell`` in fastlstm's layout, uniform in ±1/√H.

    "lstm": peers.make_weights (the LSTM rows' weights, unchanged); "gru": bias (2, 3H);
    "rnn": bias (H,); "bilstm2": ``{"layers": [4 LSTM weight dicts]}`` (layer 1 takes 2H inputs).
    """
    if cell == "lstm":
        return make_weights(input_size, hidden, seed)
    if cell == "bilstm2":
        sizes = [input_size, input_size, 2 * hidden, 2 * hidden]
        return {
            "layers": [make_weights(n, hidden, seed + 1000 * (k + 1)) for k, n in enumerate(sizes)]
        }
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden)
    width = GATES[cell] * hidden

    def uniform(*shape):
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    bias = uniform(2, width) if cell == "gru" else uniform(width)
    return {
        "kernel": uniform(input_size, width),
        "recurrent_kernel": uniform(hidden, width),
        "bias": bias,
    }


def _triple(w: dict) -> tuple:
    return w["kernel"], w["recurrent_kernel"], w["bias"]


# --- the peers' models ---------------------------------------------------------------------------


def to_torch_module(cell: str, weights: dict, input_size: int, hidden: int):
    """A batch-first torch.nn.GRU, nn.RNN (tanh) or 2-layer bidirectional nn.LSTM with the
    weights."""
    import torch

    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    if cell == "bilstm2":
        layers, bidirectional = STACK
        module = torch.nn.LSTM(
            input_size, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True
        )
        suffixes = ["_l0", "_l0_reverse", "_l1", "_l1_reverse"]
        pairs = [(s, convert.to_torch(*_triple(w))) for s, w in zip(suffixes, weights["layers"])]
    else:
        module = getattr(torch.nn, TORCH_CLASS[cell])(input_size, hidden, batch_first=True)
        to = convert.gru_to_torch if cell == "gru" else convert.rnn_to_torch
        pairs = [("_l0", to(*_triple(weights)))]
    with torch.no_grad():
        for suffix, converted in pairs:
            for name, value in zip(names, converted):
                getattr(module, name + suffix).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def _initializers(arrays: dict) -> list:
    from onnx import numpy_helper

    return [
        numpy_helper.from_array(np.ascontiguousarray(a, dtype=np.float32), name)
        for name, a in arrays.items()
    ]


def _finish(graph) -> bytes:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8  # readable by every ONNX Runtime since 1.10
    onnx.checker.check_model(model)
    return model.SerializeToString()


def to_onnx_cell_model(
    cell: str, weights: dict, with_state: bool, with_lengths: bool = False
) -> bytes:
    """A one-node model (opset 14): ONNX ``GRU`` (linear_before_reset=1; 0 for gru_rb) or
    ``RNN`` (Tanh).

    X is time-major (T, B, I); with ``with_state`` it also takes initial_h (1, B, H), with
    ``with_lengths`` sequence_lens (B,) int32. Outputs Y (T, 1, B, H) and Y_h (1, B, H).
    """
    from onnx import TensorProto, helper

    input_size, width = weights["kernel"].shape
    hidden = width // GATES[cell]
    if cell in ("gru", "gru_rb"):
        w, r, b = convert.gru_to_onnx(*_triple(weights), reset_after=cell == "gru")
        attrs = {"linear_before_reset": int(cell == "gru")}
    else:
        w, r, b = convert.rnn_to_onnx(*_triple(weights))
        attrs = {"activations": ["Tanh"]}
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", input_size])]
    node_inputs = ["X", "W", "R", "B", "sequence_lens" if with_lengths else ""]
    if with_lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
    if with_state:
        inputs.append(
            helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, [1, "B", hidden])
        )
        node_inputs.append("initial_h")  # after sequence_lens, "" where there is none
    while not node_inputs[-1]:
        node_inputs.pop()
    outputs = [
        helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "B", hidden]),
        helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "B", hidden]),
    ]
    node = helper.make_node(
        ONNX_OP[cell], node_inputs, ["Y", "Y_h"], hidden_size=hidden, direction="forward", **attrs
    )
    inits = _initializers({"W": w, "R": r, "B": b})
    return _finish(helper.make_graph([node], cell, inputs, outputs, initializer=inits))


def to_onnx_bilstm2_model(weights: dict) -> bytes:
    """Two bidirectional ``LSTM`` nodes (opset 14); layer 1 reads layer 0's Y (T, 2, B, H)
    transposed to (T, B, 2, H) and reshaped to (T, B, 2H). X is (T, B, I); outputs Y (T, 2, B, H)
    of layer 1 and both layers' Y_h, Y_c (2, B, H)."""
    from onnx import TensorProto, helper

    layers = weights["layers"]
    input_size, four_h = layers[0]["kernel"].shape
    hidden = four_h // 4
    arrays, nodes = {}, []
    for layer in range(2):
        pair = [convert.to_onnx(*_triple(w)) for w in layers[2 * layer : 2 * layer + 2]]
        for j, name in enumerate("WRB"):
            arrays[f"{name}{layer}"] = np.concatenate([p[j] for p in pair], axis=0)
    inits = _initializers(arrays)
    inits.append(helper.make_tensor("shape", TensorProto.INT64, [3], [0, 0, -1]))  # T, B, 2H
    lstm = {"hidden_size": hidden, "direction": "bidirectional"}
    nodes.append(helper.make_node("LSTM", ["X", "W0", "R0", "B0"], ["Y0", "Y_h0", "Y_c0"], **lstm))
    nodes.append(helper.make_node("Transpose", ["Y0"], ["Y0t"], perm=[0, 2, 1, 3]))
    nodes.append(helper.make_node("Reshape", ["Y0t", "shape"], ["X1"]))
    nodes.append(helper.make_node("LSTM", ["X1", "W1", "R1", "B1"], ["Y", "Y_h1", "Y_c1"], **lstm))
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 2, "B", hidden])]
    outputs += [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, "B", hidden])
        for name in ("Y_h0", "Y_c0", "Y_h1", "Y_c1")
    ]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", input_size])]
    return _finish(helper.make_graph(nodes, "bilstm2", inputs, outputs, initializer=inits))


# --- the libraries, one setup function each ------------------------------------------------------
# ``case`` is a bench_peers.Case with ``cell`` "gru", "rnn" or "bilstm2"; h0 (B, H) for step (no
# c0: these cells carry h alone), dy (B, T, H) for train.


def setup_fastlstm(case, threads: int) -> Runner:
    """fastlstm: GRUStream / SimpleRNNStream.step with ``out=`` (step), gru / simple_rnn (seq),
    the stream's run (serve), *_forward + *_backward (train), fastlstm.stacked.rnn (bilstm2)."""
    del threads  # set once for the process by peers.apply_threads
    if case.cell == "bilstm2":
        ws = [_triple(w) for w in case.weights["layers"]]
        layers, bidirectional = STACK

        def call():
            return stacked.rnn(
                case.x, ws, cell="lstm", num_layers=layers, bidirectional=bidirectional
            )

        y, states = call()
        h, c = (np.stack([s[j] for s in states]) for j in range(2))
        return Runner(call, {"y": y, "h": h, "c": c})
    args = _triple(case.weights)
    gru = case.cell in ("gru", "gru_rb")
    opts = {"reset_after": False} if case.cell == "gru_rb" else {}
    stream_class = partial(fastlstm.GRUStream, **opts) if gru else fastlstm.SimpleRNNStream
    if case.kind == "step":
        stream = stream_class(*args, case.h0)
        x_t = np.ascontiguousarray(case.x[:, 0])
        out = np.empty_like(case.h0)

        def step():
            return stream.step(x_t, out=out)

        step()
        return Runner(step, {"h": stream.state})
    if case.kind == "serve":
        return serve_runner(stream_class(*args, batch_size=case.batch), case.x)
    if case.kind == "seq":
        run = partial(fastlstm.gru, **opts) if gru else fastlstm.simple_rnn
        y, h = run(case.x, *args)
        return Runner(lambda: run(case.x, *args), {"y": y, "h": h})
    forward = partial(fastlstm.gru_forward, **opts) if gru else fastlstm.simple_rnn_forward
    backward = fastlstm.gru_backward if gru else fastlstm.simple_rnn_backward

    def train():
        y, _, cache = forward(case.x, *args)
        return y, backward(cache, case.dy)

    y, grads = train()
    output = {"y": y, "dx": grads.x, "dkernel": grads.kernel}
    output.update({"drecurrent_kernel": grads.recurrent_kernel, "dbias": grads.bias})
    return Runner(train, output)


def setup_torch(case, threads: int) -> Runner:
    """torch.nn.GRU / nn.RNN / 2-layer bidirectional nn.LSTM, batch-first; inference without
    autograd; one step passes h and carries the returned h."""
    import torch

    del threads  # set once for the process by peers.apply_threads
    module = to_torch_module(case.cell, case.weights, case.input_size, case.hidden)
    x = torch.from_numpy(case.x)
    if case.kind == "train":
        return torch_train_cell(case.cell, module, x, torch.from_numpy(case.dy))
    module.requires_grad_(False)
    if case.cell == "bilstm2":
        y, (h, c) = module(x)
        return Runner(lambda: module(x), {"y": y.numpy(), "h": h.numpy(), "c": c.numpy()})
    if case.kind == "step":
        state = [torch.from_numpy(case.h0)[None]]  # (num_layers, B, H)

        def call():
            _, state[0] = module(x, state[0])

        call()
        return Runner(call, {"h": state[0][0].numpy().copy()})
    y, h = module(x)
    return Runner(lambda: module(x), {"y": y.numpy(), "h": h[0].numpy()})


def torch_train_cell(cell: str, module, x, dy, forward=None) -> Runner:
    """torch training step: forward (``forward()``, default ``module(x)``), then
    ``y.backward(dy)``; gradients back in fastlstm's layout (GRU: convert.gru_from_torch, linear
    in its arguments; RNN: transposes, bias_ih's gradient)."""
    call, y = torch_train_call(module, x, dy, forward)
    params = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    grads = [p.grad.numpy() for p in params]
    if cell == "gru":
        dkernel, drecurrent, dbias = convert.gru_from_torch(*grads)
    else:
        dkernel, drecurrent, dbias = grads[0].T, grads[1].T, grads[2]
    output = {"y": y.detach().numpy(), "dx": x.grad.numpy(), "dkernel": dkernel}
    output.update({"drecurrent_kernel": drecurrent, "dbias": dbias})
    return Runner(call, output)


def setup_onnxruntime(case, threads: int) -> Runner:
    """ONNX Runtime's GRU / RNN op, or the two-node bidirectional LSTM graph; time-major input;
    one step passes and carries initial_h."""
    x = np.ascontiguousarray(case.x.transpose(1, 0, 2))  # (T, B, I)
    if case.cell == "bilstm2":
        session = ort_session(to_onnx_bilstm2_model(case.weights), threads)
        y, h0, c0, h1, c1 = session.run(None, {"X": x})
        batch, steps = case.batch, case.steps
        y = y.transpose(2, 0, 1, 3).reshape(batch, steps, 2 * case.hidden)  # (B, T, 2H)
        output = {"y": y, "h": np.concatenate([h0, h1]), "c": np.concatenate([c0, c1])}
        return Runner(lambda: session.run(None, {"X": x}), output)
    step = case.kind == "step"
    session = ort_session(to_onnx_cell_model(case.cell, case.weights, with_state=step), threads)
    if step:
        feeds = {"X": x, "initial_h": case.h0[None]}

        def call():
            feeds["initial_h"] = session.run(["Y_h"], feeds)[0]

        call()
        return Runner(call, {"h": feeds["initial_h"][0]})
    y, h = session.run(None, {"X": x})
    output = {"y": y[:, 0].transpose(1, 0, 2), "h": h[0]}
    return Runner(lambda: session.run(None, {"X": x}), output)


def setup_numpy(case, threads: int) -> Runner:
    """fastlstm.oracle.gru_forward / rnn_forward: the plain NumPy loop, time-major."""
    del threads  # NumPy's BLAS threads are set by the environment (bench_peers sets it)
    args = _triple(case.weights)
    loop = oracle.rnn_forward
    if case.cell in ("gru", "gru_rb"):
        loop = partial(oracle.gru_forward, reset_after=case.cell == "gru")
    x = np.ascontiguousarray(case.x.transpose(1, 0, 2))  # (T, B, I)
    if case.kind == "step":
        state = [case.h0]

        def call():
            _, state[0], _ = loop(x, *args, state[0])

        call()
        return Runner(call, {"h": state[0]})
    zeros = np.zeros((case.batch, case.hidden), np.float32)
    y, h, _ = loop(x, *args, zeros)
    return Runner(lambda: loop(x, *args, zeros), {"y": y.transpose(1, 0, 2), "h": h})


FAMILY = {
    "fastlstm": setup_fastlstm,
    "torch": setup_torch,
    "onnxruntime": setup_onnxruntime,
    "numpy": setup_numpy,
}


def libraries(cell: str) -> dict:
    """Display name -> setup function for ``cell``; fastlstm first (every ratio divides by it)."""
    return LIBRARIES if cell == "lstm" else FAMILY
