"""The libraries under test, each wrapped the same way for the peer benchmark.

Every ``setup_<library>(case, threads)`` returns a :class:`Runner`: ``call`` is the zero-argument
function that is timed, and ``output`` holds what the first call returned, as NumPy arrays named
alike across libraries, so that every peer can be checked against fastlstm before anything is
timed. All libraries get the same float32 weights, in fastlstm's layout (Keras's: kernel (I, 4H),
recurrent_kernel (H, 4H), bias (4H,), gate blocks i, f, g, o); fastlstm.convert is the only
place where another framework's layout appears (README of fastlstm, "weight layouts").

Case kinds (see ``bench_peers.CONFIGS``):
  step   one timestep, the state (h, c) carried from call to call, as a streaming service does;
  seq    a whole sequence from a zero state, the output y at every step;
  serve  the same, as a service answers a request with weights it loaded once: fastlstm from a
         stream made once (its weights packed then: reset, then run), ONNX Runtime from its
         session (whose weights it prepacked when it was made), torch from its module;
  train  forward and backward (x, weight and bias gradients) for a fixed dL/dy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import fastlstm
from fastlstm import convert, oracle


@dataclass
class Runner:
    """One library set up for one case: the timed call and the first call's result."""

    call: Callable[[], object]
    output: dict[str, np.ndarray]


# --- weights and the peers' models (layouts converted by fastlstm.convert) --------------------------


def make_weights(input_size: int, hidden: int, seed: int) -> dict[str, np.ndarray]:
    """Random float32 weights in fastlstm's layout, uniform in ±1/√H (PyTorch's initialisation)."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden)

    def uniform(*shape):
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    return {
        "kernel": uniform(input_size, 4 * hidden),
        "recurrent_kernel": uniform(hidden, 4 * hidden),
        "bias": uniform(4 * hidden),
    }


def to_torch_lstm(weights: dict[str, np.ndarray]):
    """A batch-first torch.nn.LSTM holding the same weights.

    torch's gate order i, f, g, o is fastlstm's, so the weights only transpose; torch has two
    biases that it adds, so bias_ih takes fastlstm's bias and bias_hh is zero.
    """
    import torch

    input_size, four_h = weights["kernel"].shape
    module = torch.nn.LSTM(input_size, four_h // 4, batch_first=True)
    converted = convert.to_torch(weights["kernel"], weights["recurrent_kernel"], weights["bias"])
    with torch.no_grad():
        for name, value in zip(
            ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), converted
        ):
            getattr(module, name).copy_(torch.from_numpy(value))
    return module


def to_onnx_model(
    weights: dict[str, np.ndarray], with_state: bool, with_lengths: bool = False
) -> bytes:
    """A one-node ONNX model (opset 14) running the LSTM op with the same weights, serialised.

    Input X is time-major (T, B, I) (ONNX Runtime's CPU kernel rejects layout 1). W (1, 4H, I),
    R (1, 4H, H) and B (1, 8H) = [Wb, Rb] are initializers. With ``with_state`` the model also
    takes initial_h and initial_c (1, B, H), with ``with_lengths`` sequence_lens (B,) int32; it
    returns Y (T, 1, B, H), Y_h and Y_c (1, B, H).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    input_size, four_h = weights["kernel"].shape
    hidden = four_h // 4
    w, r, b = convert.to_onnx(weights["kernel"], weights["recurrent_kernel"], weights["bias"])
    initializers = [
        numpy_helper.from_array(np.ascontiguousarray(a, dtype=np.float32), name)
        for name, a in (("W", w), ("R", r), ("B", b))
    ]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", input_size])]
    # Optional inputs are positional: "" skips one.
    node_inputs = ["X", "W", "R", "B", "sequence_lens" if with_lengths else ""]
    if with_lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
    if with_state:
        for name in ("initial_h", "initial_c"):
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, "B", hidden]))
        node_inputs += ["initial_h", "initial_c"]
    while not node_inputs[-1]:
        node_inputs.pop()
    outputs = [
        helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "B", hidden]),
        helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "B", hidden]),
        helper.make_tensor_value_info("Y_c", TensorProto.FLOAT, [1, "B", hidden]),
    ]
    node = helper.make_node(
        "LSTM", node_inputs, ["Y", "Y_h", "Y_c"], hidden_size=hidden, direction="forward"
    )
    graph = helper.make_graph([node], "lstm", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8  # readable by every ONNX Runtime since 1.10
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ort_session(model: bytes, threads: int):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads, one inter-op, sequential."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def apply_threads(threads: int) -> str:
    """Give torch and fastlstm ``threads`` threads; returns how many fastlstm runs, in words.

    ONNX Runtime gets its count per session (ort_session), NumPy's BLAS through the environment
    (bench_peers.set_thread_env).
    """
    import torch

    torch.set_num_threads(threads)
    fastlstm.set_num_threads(threads)
    count = fastlstm.get_num_threads()
    return f"fastlstm: {count} thread{'s' if count > 1 else ''} (one where the work is too small)"


# --- the libraries, one setup function each ------------------------------------------------------
# ``case`` is a bench_peers.Case: kind, the sizes and the arrays x (B, T, I), h0 and c0 (B, H)
# (step only), dy (B, T, H) (train only) and the weights.


def setup_fastlstm(case, threads: int) -> Runner:
    """fastlstm: LSTMStream.step with ``out=`` (step), lstm (seq), LSTMStream.run (serve),
    lstm_forward+backward (train)."""
    del threads  # set once for the process by apply_threads
    w = case.weights
    args = (w["kernel"], w["recurrent_kernel"], w["bias"])
    if case.kind == "step":
        stream = fastlstm.LSTMStream(*args, (case.h0, case.c0))
        x_t = np.ascontiguousarray(case.x[:, 0])
        out = np.empty_like(case.h0)

        def call():
            return stream.step(x_t, out=out)

        call()
        h, c = stream.state
        return Runner(call, {"h": h, "c": c})
    if case.kind == "seq":
        y, (h, c) = fastlstm.lstm(case.x, *args)
        return Runner(lambda: fastlstm.lstm(case.x, *args), {"y": y, "h": h, "c": c})
    if case.kind == "serve":
        return serve_runner(fastlstm.LSTMStream(*args, batch_size=case.batch), case.x)

    def train():
        y, _, cache = fastlstm.lstm_forward(case.x, *args)
        return y, fastlstm.lstm_backward(cache, case.dy)

    y, grads = train()
    output = {"y": y, "dx": grads.x, "dkernel": grads.kernel}
    output.update({"drecurrent_kernel": grads.recurrent_kernel, "dbias": grads.bias})
    return Runner(train, output)


def serve_runner(stream, x: np.ndarray) -> Runner:
    """fastlstm's serve call: ``stream`` (made once for the case) run from a zero state over x
    (B, T, I) into a preallocated output. Output: y, and the final h (and c)."""
    out = np.empty((*x.shape[:2], stream.units), x.dtype)

    def call():
        return stream.run(x, out, reset=True)

    y = call().copy()
    state = stream.state
    h, c = state if isinstance(state, tuple) else (state, None)
    return Runner(call, {"y": y, "h": h} if c is None else {"y": y, "h": h, "c": c})


def setup_torch(case, threads: int) -> Runner:
    """torch.nn.LSTM, batch-first. Inference runs without autograd (weights need no gradient)."""
    import torch

    del threads  # set once for the process by apply_threads
    module = to_torch_lstm(case.weights)
    x = torch.from_numpy(case.x)
    if case.kind == "train":
        return torch_train(module, x, torch.from_numpy(case.dy))
    module.requires_grad_(False)
    if case.kind == "step":
        # nn.LSTM wants (num_layers, B, H) states; the returned state is carried into the next call.
        state = [(torch.from_numpy(case.h0)[None], torch.from_numpy(case.c0)[None])]

        def call():
            _, state[0] = module(x, state[0])

        call()
        h, c = state[0]
        return Runner(call, {"h": h[0].numpy().copy(), "c": c[0].numpy().copy()})
    y, (h, c) = module(x)
    output = {"y": y.numpy(), "h": h[0].numpy(), "c": c[0].numpy()}
    return Runner(lambda: module(x), output)


def torch_train_call(module, x, dy, forward=None):
    """A torch training step of a one-layer module: forward, then backward of sum(y * dy), i.e.
    ``y.backward(dy)``. ``forward`` (default ``module(x)``) returns (y, state). Returns the timed
    call and the first call's y."""
    x.requires_grad_(True)  # fastlstm computes dx too
    params = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    forward = forward or (lambda: module(x))

    def call():
        for tensor in (x, *params):
            tensor.grad = None
        y, _ = forward()
        y.backward(dy)
        return y

    return call, call()


def torch_train(module, x, dy, forward=None) -> Runner:
    """torch training step (torch_train_call), gradients in fastlstm's layout."""
    call, y = torch_train_call(module, x, dy, forward)
    output = {
        "y": y.detach().numpy(),
        "dx": x.grad.numpy(),
        "dkernel": module.weight_ih_l0.grad.numpy().T,
        "drecurrent_kernel": module.weight_hh_l0.grad.numpy().T,
        "dbias": module.bias_ih_l0.grad.numpy(),
    }
    return Runner(call, output)


def setup_onnxruntime(case, threads: int) -> Runner:
    """ONNX Runtime's LSTM op; time-major input; step passes and carries initial_h/initial_c."""
    step = case.kind == "step"
    session = ort_session(to_onnx_model(case.weights, with_state=step), threads)
    x = np.ascontiguousarray(case.x.transpose(1, 0, 2))  # (T, B, I)
    if step:
        feeds = {"X": x, "initial_h": case.h0[None], "initial_c": case.c0[None]}

        def call():
            feeds["initial_h"], feeds["initial_c"] = session.run(["Y_h", "Y_c"], feeds)

        call()
        return Runner(call, {"h": feeds["initial_h"][0], "c": feeds["initial_c"][0]})
    y, h, c = session.run(None, {"X": x})
    output = {"y": y[:, 0].transpose(1, 0, 2), "h": h[0], "c": c[0]}
    return Runner(lambda: session.run(None, {"X": x}), output)


def setup_numpy(case, threads: int) -> Runner:
    """fastlstm.oracle.forward: the plain NumPy loop, time-major, one matmul pair per step."""
    del threads  # NumPy's BLAS threads are set by the environment (bench_peers sets it)
    w = case.weights
    args = (w["kernel"], w["recurrent_kernel"], w["bias"])
    x = np.ascontiguousarray(case.x.transpose(1, 0, 2))  # (T, B, I)
    if case.kind == "step":
        state = [case.h0, case.c0]

        def call():
            _, state[0], state[1], _ = oracle.forward(x, *args, state[0], state[1])

        call()
        return Runner(call, {"h": state[0], "c": state[1]})
    zeros = np.zeros((case.batch, case.hidden), np.float32)
    y, h, c, _ = oracle.forward(x, *args, zeros, zeros)
    output = {"y": y.transpose(1, 0, 2), "h": h, "c": c}
    return Runner(lambda: oracle.forward(x, *args, zeros, zeros), output)


# Display name -> setup function; fastlstm first: it is the reference every ratio divides by.
LIBRARIES = {
    "fastlstm": setup_fastlstm,
    "torch": setup_torch,
    "onnxruntime": setup_onnxruntime,
    "numpy": setup_numpy,
}
