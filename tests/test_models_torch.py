"""Training parity with PyTorch: the same model, initial weights, batches and optimizer follow
the same loss curve (float64, 20 steps, within 1e-4 relative), for SGD with momentum and Adam.

Models: Embedding -> LSTM -> Dense (classifier, sparse crossentropy from logits) and a 2-layer
LSTM regressor (LSTM(return_sequences) -> LSTM -> Dense, mean squared error)."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import callbacks, convert, losses, optimizers
from fastlstm.layers import LSTM, Dense, Embedding
from fastlstm.models import Sequential

STEPS, BATCH, T = 20, 8, 7
V, E, H1, H2, CLASSES, FEATURES = 13, 5, 6, 4, 3, 3


def torch_lstm(torch, layer):
    net = torch.nn.LSTM(layer.kernel.shape[0], layer.units, batch_first=True).double()
    with torch.no_grad():
        for name, value in zip(
            ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
            convert.to_torch(*layer.get_weights()),
        ):
            getattr(net, name).copy_(torch.from_numpy(value))
    # torch has two biases where fastlstm (and Keras) have one; training both would move the
    # sum twice as fast, so the second stays at zero
    net.bias_hh_l0.requires_grad_(False)
    return net


def torch_linear(torch, layer):
    net = torch.nn.Linear(*layer.kernel.shape).double()
    with torch.no_grad():
        net.weight.copy_(torch.from_numpy(layer.kernel.T.copy()))
        net.bias.copy_(torch.from_numpy(layer.bias))
    return net


def optimizer_pair(torch, kind):
    if kind == "sgd":
        return optimizers.SGD(0.1, momentum=0.9), lambda ps: torch.optim.SGD(ps, 0.1, 0.9)
    # epsilon tiny on both sides: Keras and torch put it in different places
    return optimizers.Adam(0.01, epsilon=1e-12), lambda ps: torch.optim.Adam(ps, 0.01, eps=1e-12)


def torch_curve(torch, modules, forward, loss_fn, x, y, make_opt):
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    opt = make_opt(params)
    curve = []
    for step in range(STEPS):
        sl = slice(step * BATCH, (step + 1) * BATCH)
        opt.zero_grad()
        loss = loss_fn(forward(torch.from_numpy(x[sl])), torch.from_numpy(y[sl]))
        loss.backward()
        opt.step()
        curve.append(loss.item())
    return np.array(curve)


def assert_same_curve(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    assert theirs[-1] < theirs[0]  # it did learn: the comparison is not of flat curves


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_embedding_lstm_dense_classifier(torch, kind):
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (STEPS * BATCH, T))
    y = (x[:, -1] % CLASSES).astype(np.int64)
    model = Sequential(
        [
            Embedding(V, E, dtype="float64"),
            LSTM(H1, dtype="float64"),
            Dense(CLASSES, dtype="float64"),
        ],
        seed=1,
    )
    model.build((None, T))
    emb = torch.nn.Embedding(V, E).double()
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(model.layers[0].embeddings))
    lstm, dense = torch_lstm(torch, model.layers[1]), torch_linear(torch, model.layers[2])

    def forward(xb):
        _, (h, _) = lstm(emb(xb))
        return dense(h[0])

    ours_opt, theirs_opt = optimizer_pair(torch, kind)
    theirs = torch_curve(
        torch, [emb, lstm, dense], forward, torch.nn.functional.cross_entropy, x, y, theirs_opt
    )
    model.compile(ours_opt, losses.SparseCategoricalCrossentropy(from_logits=True))
    running = []
    record = callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: running.append(logs["loss"])
    )
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    # batch logs hold the running mean of the epoch (as Keras 3); undo it for per-batch losses
    running = np.array(running)
    k = np.arange(1, STEPS + 1)
    assert_same_curve(running * k - np.r_[0, running[:-1] * k[:-1]], theirs)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_two_layer_lstm_regressor(torch, kind):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((STEPS * BATCH, T, FEATURES))
    y = np.tanh(x.sum(axis=(1, 2)))[:, None] + 0.1 * rng.standard_normal((STEPS * BATCH, 1))
    model = Sequential(
        [
            LSTM(H1, return_sequences=True, dtype="float64"),
            LSTM(H2, dtype="float64"),
            Dense(1, dtype="float64"),
        ],
        seed=2,
    )
    model.build((None, T, FEATURES))
    first, second = torch_lstm(torch, model.layers[0]), torch_lstm(torch, model.layers[1])
    dense = torch_linear(torch, model.layers[2])

    def forward(xb):
        seq, _ = first(xb)
        _, (h, _) = second(seq)
        return dense(h[0])

    ours_opt, theirs_opt = optimizer_pair(torch, kind)
    theirs = torch_curve(
        torch, [first, second, dense], forward, torch.nn.functional.mse_loss, x, y, theirs_opt
    )
    model.compile(ours_opt, "mse")
    ours = [
        model.train_on_batch(x[s * BATCH : (s + 1) * BATCH], y[s * BATCH : (s + 1) * BATCH])
        for s in range(STEPS)
    ]
    assert_same_curve(np.array(ours), theirs)
    # and the weights after training agree too
    np.testing.assert_allclose(
        model.layers[2].kernel[:, 0], dense.weight.detach().numpy()[0], rtol=1e-4, atol=1e-8
    )
