"""The README's calls as a user whose code is type-checked writes them: test_typing runs
``mypy --strict`` over this file (no error may appear: each would be one a user sees on correct
code) and then runs it. Small sizes: it runs in about a second."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

import fastlstm
from fastlstm import (
    GRUStream,
    LSTMGrads,
    LSTMOptionGrads,
    LSTMStream,
    Model,
    Sequential,
    activations,
    callbacks,
    convert,
    layers,
    schedules,
    stacked,
    utils,
)
from fastlstm.convert import StackedWeights, stacked_from_torch
from fastlstm.initializers import GlorotUniform, Orthogonal
from fastlstm.losses import Hinge, Loss
from fastlstm.metrics import AUC, F1Score, Metric, Precision
from fastlstm.models import load_model
from fastlstm.optimizers import Adam, Optimizer

B, T, I, H = 4, 6, 3, 5
rng = np.random.default_rng(0)
x = rng.standard_normal((B, T, I)).astype(np.float32)
kernel = 0.3 * rng.standard_normal((I, 4 * H)).astype(np.float32)
recurrent_kernel = 0.3 * rng.standard_normal((H, 4 * H)).astype(np.float32)
bias = np.zeros(4 * H, np.float32)


def functional() -> float:
    y, (h, c) = fastlstm.lstm(x, kernel, recurrent_kernel, bias)
    y2, state, c_seq = fastlstm.lstm(x, kernel, recurrent_kernel, bias, return_cell_states=True)
    y3, state3, cache = fastlstm.lstm_forward(x, kernel, recurrent_kernel, bias)
    grads = fastlstm.lstm_backward(cache, np.ones_like(y3), state3)
    step: np.ndarray = kernel - 0.1 * grads.kernel
    peephole = np.zeros(3 * H, np.float32)
    _, _, with_options = fastlstm.lstm_forward(x, kernel, recurrent_kernel, bias, peephole=peephole)
    optioned = fastlstm.lstm_backward(with_options, None, (h, None))
    if isinstance(optioned, LSTMOptionGrads) and optioned.peephole is not None:
        step = step + optioned.peephole.sum()
    plain: LSTMGrads | LSTMOptionGrads = fastlstm.lstm_backward(cache, None, input_grad=False)
    gru_bias = np.zeros((2, 3 * H), np.float32)  # input and recurrent bias (reset_after)
    gy, gh = fastlstm.gru(x, kernel[:, : 3 * H], recurrent_kernel[:, : 3 * H], gru_bias)
    return float(y.sum() + y2.sum() + c_seq.sum() + step.sum() + gy.sum() + gh.sum()) + float(
        plain.bias.sum() + state[1].sum() + c.sum()
    )


def streams() -> np.ndarray:
    stream = LSTMStream(kernel, recurrent_kernel, bias, batch_size=B)
    out = np.empty((B, H), np.float32)
    for t in range(T):
        stream.step(x[:, t], out)
    y: np.ndarray = stream.run(x, reset=True)
    h, c = stream.state
    stream.reset((h, c))
    gru_bias = np.zeros((2, 3 * H), np.float32)
    gru = GRUStream(kernel[:, : 3 * H], recurrent_kernel[:, : 3 * H], gru_bias, batch_size=B)
    gru.reset(gru.state)
    return np.concatenate([y, gru.run(x)])


class StopEarly(callbacks.Callback):
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None and logs["loss"] < 1e-9:
            self.model.stop_training = True


def keras_style(folder: str) -> float:
    tokens = rng.integers(1, 20, (32, 7))
    labels = np.eye(2, dtype=np.float32)[(tokens[:, 0] > 10).astype(np.int64)]
    model = Sequential(
        [
            layers.Embedding(20, 4, mask_zero=True, seed=0),
            layers.Bidirectional(layers.LSTM(4, seed=1)),
            layers.Dense(2, activation="softmax", seed=2),
        ]
    )
    optimizer: Optimizer = Adam(learning_rate=schedules.ExponentialDecay(1e-2, 10, 0.9))
    metrics: list[Metric | str] = ["accuracy", F1Score(average="macro"), AUC(), Precision()]
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=metrics)
    board = callbacks.TensorBoard(os.path.join(folder, "logs"), update_freq="batch")
    history = model.fit(
        tokens, labels, batch_size=8, epochs=2, verbose=0, callbacks=[StopEarly(), board]
    )
    path = os.path.join(folder, "classifier.fastlstm")
    model.save(path)
    probabilities: np.ndarray = load_model(path).predict(tokens[:3], verbose=0)
    logs = model.evaluate(tokens, labels, verbose=0, return_dict=True)
    first: float = history.history["loss"][0]
    return first + float(logs["loss"]) + float(probabilities.sum())


class Doubled(layers.Layer):
    """A layer of the user's own, as Keras writes one: call(self, inputs) alone."""

    def call(self, inputs: np.ndarray) -> np.ndarray:
        return 2 * inputs


def functional_model() -> float:
    question = layers.Input(shape=(None, 3), name="question")
    _, h, c = layers.LSTM(4, return_state=True, seed=0)(question)
    merged = layers.concatenate([h, c])
    model = Model(question, layers.Dense(1, seed=1)(merged))
    model.compile(optimizer="adam", loss=Hinge())
    model.fit(x, np.ones((B, 1), np.float32), epochs=1, verbose=0)
    predicted: np.ndarray = model.predict(x, verbose=0)
    doubled = Sequential([layers.Input((T, I)), Doubled(), layers.LSTM(2, seed=2)])
    predicted = predicted + doubled.predict(x, verbose=0)[:, :1]
    loss: Loss = Hinge()
    return float(predicted.sum()) + float(loss(np.ones((B, 1)), predicted))


def conversion() -> float:
    w_ih = rng.standard_normal((4 * H, I)).astype(np.float32)
    w_hh = rng.standard_normal((4 * H, H)).astype(np.float32)
    k, r, b = convert.from_torch(w_ih, w_hh, np.zeros(4 * H), np.zeros(4 * H))
    zero = np.zeros(4 * H, np.float32)
    state = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": zero, "bias_hh_l0": zero}
    converted: StackedWeights = stacked_from_torch(state, cell="lstm")
    y, states = stacked.rnn(x, converted.weights, cell="lstm", num_layers=1)
    padded: np.ndarray = utils.pad_sequences([[1, 2], [3]], maxlen=4, padding="post")
    init = GlorotUniform(seed=0)((I, H)) + Orthogonal(seed=1)((I, H))
    return float(k.sum() + r.sum() + b.sum() + y.sum() + padded.sum() + init.sum()) + len(states)


def main() -> float:
    fastlstm.set_num_threads(fastlstm.get_num_threads())
    with tempfile.TemporaryDirectory() as folder:
        total = functional() + float(streams().sum()) + keras_style(folder)
    total += functional_model() + conversion()
    return total + float(activations.tanh(np.zeros(2)).sum())


if __name__ == "__main__":
    print(main())
