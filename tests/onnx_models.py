"""Test helper: an ONNX Runtime session running one recurrent node (LSTM, GRU or RNN).

ONNX Runtime's CPU kernels for these nodes are float32 only, so the model is float32 throughout.
"""

from __future__ import annotations

import numpy as np

from conftest import import_peer


def recurrent_session(op, W, R, B, *, sequence_lens=False, P=None, **attributes):
    """A session for one ``op`` node ("LSTM", "GRU" or "RNN") holding W, R, B (one direction),
    and for an LSTM the peepholes P when given.

    Its inputs are X (T, B, I), initial_h (1, B, H), initial_c (1, B, H) for an LSTM, and with
    ``sequence_lens`` an int32 (B,) sequence_lens; its outputs Y (T, 1, B, H), Y_h (1, B, H) and,
    for an LSTM, Y_c. ``attributes`` go on the node (linear_before_reset, activations...).
    """
    onnx = import_peer("onnx")
    ort = import_peer("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    lstm = op == "LSTM"
    hidden = np.shape(R)[-1]
    # Optional inputs are positional: X, W, R, B, sequence_lens, initial_h[, initial_c[, P]].
    inputs = ["X", "W", "R", "B", "sequence_lens" if sequence_lens else "", "initial_h"]
    outputs = ["Y", "Y_h"]
    if lstm:
        inputs.append("initial_c")
        outputs.append("Y_c")
    if P is not None:
        inputs.append("P")
    node = helper.make_node(op, inputs, outputs, hidden_size=hidden, **attributes)
    graph_inputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [None] * 3)
        for n in ("X", "initial_h", "initial_c")
        if n in inputs
    ]
    if sequence_lens:
        graph_inputs.append(
            helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [None])
        )
    graph = helper.make_graph(
        [node],
        op.lower(),
        graph_inputs,
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, [None] * (4 if n == "Y" else 3))
            for n in outputs
        ],
        initializer=[
            numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)
            for a, name in ((W, "W"), (R, "R"), (B, "B"), (P, "P"))
            if a is not None
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    # make_model stamps the installed onnx's IR version, which an older ONNX Runtime rejects
    # (onnx 1.23 wrote IR 14; ONNX Runtime 1.30 reads up to 13). IR 8 is read by every ONNX
    # Runtime since 1.10 and holds everything opset 14 needs.
    model.ir_version = 8
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def run(session, x, h0, c0=None, lengths=None):
    """Run a ``recurrent_session`` on time-major x (T, B, I), h0 (B, H) (and c0, lengths (B,));
    returns its outputs with the direction axis dropped: Y (T, B, H), Y_h (B, H)[, Y_c]."""
    feeds = {"X": x.astype(np.float32), "initial_h": h0[None].astype(np.float32)}
    if c0 is not None:
        feeds["initial_c"] = c0[None].astype(np.float32)
    if lengths is not None:
        feeds["sequence_lens"] = np.asarray(lengths, dtype=np.int32)
    Y, *states = session.run(None, feeds)
    return (Y[:, 0], *(s[0] for s in states))
