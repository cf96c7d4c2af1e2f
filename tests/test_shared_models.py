"""A model or layer that threads share while its weights change: calls beside fit see the
weights of one training step, set_weights swaps a Bidirectional's halves together, two
evaluations of one model keep their metrics apart, and a fork during another thread's build or
step leaves a child that works. Each failed before (found by a review of concurrent use)."""

from __future__ import annotations

import copy
import os
import pickle
import sys
import threading

import numpy as np
import pytest

from conftest import child_output, child_timeout
from fastlstm import optimizers
from fastlstm.layers import GRU, LSTM, Bidirectional, Dense, Input
from fastlstm.models import Sequential

rng = np.random.default_rng(0)


def _switching_often():
    """The threads take turns often: a call that spans two steps shows at once."""
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    return switch


def test_a_call_beside_fit_sees_the_weights_of_one_step():
    """The optimizer updates the weights in place, array after array, while a call's core
    read them without the GIL: 31 of 799 predictions beside fit matched no step's weights.
    Here a training step stops halfway through its update (one weight changed, the rest not
    yet) while another thread calls the model: the call must wait and see the step's end."""
    model = Sequential([Input((5, 3)), LSTM(8), Dense(2)], seed=0)
    model.compile(optimizers.SGD(0.05), "mse")
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    y = rng.standard_normal((4, 2)).astype(np.float32)
    before = model(x)
    apply = model.optimizer.apply
    halfway, answered = threading.Event(), threading.Event()

    def halting_apply(grads, params):
        params[0] += 1.0  # the first array updated, the others not yet
        halfway.set()
        answered.wait(0.5)  # a call that does not wait answers now, from the torn weights
        params[0] -= 1.0
        apply(grads, params)

    model.optimizer.apply = halting_apply
    trainer = threading.Thread(target=lambda: model.train_on_batch(x, y))
    trainer.start()
    assert halfway.wait(child_timeout(30))
    during = model(x)
    answered.set()
    trainer.join(child_timeout(30))
    after = model(x)
    assert not np.array_equal(before, after)  # the step changed the weights
    np.testing.assert_array_equal(during, after)  # it waited for the step's end


def test_set_weights_swaps_both_halves_of_a_bidirectional_layer_together():
    """Its set_weights had set the forward half, then the backward one: 17,153 of 42,761 calls
    in other threads mixed the old forward half with the new backward one. Here set_weights
    stops while it converts the backward half's arrays, and another thread calls the layer."""
    layer = Bidirectional(LSTM(16, seed=1))
    x = rng.standard_normal((2, 6, 4)).astype(np.float32)
    old_out = layer(x)
    old = layer.get_weights()
    new = [w + 0.5 for w in old]
    halfway, answered = threading.Event(), threading.Event()
    convert = layer.backward_layer._converted

    def halting_convert(*args):
        halfway.set()
        answered.wait(0.5)  # a call that does not wait answers now
        return convert(*args)

    layer.backward_layer._converted = halting_convert
    setter = threading.Thread(target=layer.set_weights, args=(new,))
    setter.start()
    assert halfway.wait(child_timeout(30))
    during = layer(x)
    answered.set()
    setter.join(child_timeout(30))
    del layer.backward_layer._converted
    new_out = layer(x)
    assert not np.array_equal(old_out, new_out)
    assert np.array_equal(during, old_out) or np.array_equal(during, new_out)


def test_a_bidirectional_set_weights_that_fails_changes_neither_half():
    layer = Bidirectional(LSTM(3, seed=1))
    layer(np.ones((1, 2, 4), np.float32))
    before = layer.get_weights()
    bad = [w + 1 for w in before]
    bad[-1] = np.zeros(5, np.float32)  # the backward bias, of the wrong size
    with pytest.raises(ValueError, match="bias"):
        layer.set_weights(bad)
    for a, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_bidirectional_refuses_halves_of_other_input_sizes():
    """Both read the same x: such a pair (from set_weights or a file) had loaded, and then run
    on no input at all."""
    rng_ = np.random.default_rng(2)
    weights = [
        rng_.standard_normal(s).astype(np.float32)
        for s in ((3, 12), (4, 12), (2, 12), (0, 12), (4, 12), (2, 12))
    ]
    layer = Bidirectional(GRU(4))
    with pytest.raises(ValueError, match=r"forward layer's kernel takes 3 input features and"):
        layer.set_weights(weights)
    assert not layer.built
    weights[3] = rng_.standard_normal((3, 12)).astype(np.float32)
    layer.set_weights(weights)
    assert layer(np.ones((2, 5, 3), np.float32)).shape == (2, 8)


def test_two_threads_evaluating_one_model_keep_their_metrics_apart():
    """Both had updated the model's metric objects: accuracies of 1.0 and 0.0 came out near
    0.5 each."""
    model = Sequential([Input((4, 3)), LSTM(4), Dense(2, activation="softmax")], seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((32, 4, 3)).astype(np.float32)
    predicted = model.predict(x, verbose=0).argmax(-1)
    right, wrong = predicted, 1 - predicted  # accuracy exactly 1 and exactly 0
    results = {"right": [], "wrong": []}

    def evaluate(name, labels):
        for _ in range(15):
            results[name].append(model.evaluate(x, labels, batch_size=4, verbose=0)[1])

    switch = _switching_often()
    try:
        threads = [
            threading.Thread(target=evaluate, args=(n, labels))
            for n, labels in (("right", right), ("wrong", wrong))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(child_timeout(120))
    finally:
        sys.setswitchinterval(switch)
    assert results["right"] == [1.0] * 15
    assert results["wrong"] == [0.0] * 15
    # test_on_batch of one batch alone, too
    assert model.test_on_batch(x[:8], right[:8])[1] == 1.0


@pytest.mark.skipif(
    not hasattr(os, "fork"), reason="forks the process: os.fork is POSIX only (not on Windows)"
)
@pytest.mark.parametrize("during", ["build", "step"])
def test_a_fork_during_another_threads_build_or_step_leaves_a_working_child(during):
    """The lock a build (or a training step's update) holds was inherited held by the child,
    whose first build (or save) then waited for ever."""
    code = f"""
import os, signal, threading, time
import numpy as np
import fastlstm
from fastlstm.layers import LSTM, Dense, Input
during = {during!r}
started = threading.Event()
if during == "build":
    import fastlstm.initializers as init
    slow = init.get("orthogonal", "kernel")
    def held(shape, dtype, rng):
        started.set()
        time.sleep(1.0)  # the fork lands while this build holds the lock
        return slow(shape, dtype, rng)
    big = LSTM(8, recurrent_initializer=held, seed=1)
    work = lambda: big(np.ones((1, 2, 3), np.float32))
    model = fastlstm.Sequential([Input((2, 3)), LSTM(3), Dense(1)], seed=0)
else:
    model = fastlstm.Sequential([Input((2, 3)), LSTM(3), Dense(1)], seed=0)
    model.compile("sgd", "mse")
    apply = model.optimizer.apply
    def held_apply(grads, params):
        started.set()
        time.sleep(1.0)  # the fork lands while this step holds the weights
        apply(grads, params)
    model.optimizer.apply = held_apply
    work = lambda: model.fit(np.ones((4, 2, 3), np.float32), np.ones((4, 1), np.float32),
                             verbose=0)
threading.Thread(target=work).start()
started.wait(30)
pid = os.fork()
if pid == 0:
    signal.alarm(20)  # a hang ends the child with SIGALRM
    LSTM(2)(np.ones((1, 2, 3), np.float32))
    model.predict(np.ones((1, 2, 3), np.float32), verbose=0)
    model.get_weights()
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""
    assert child_output(code, seconds=60).strip().endswith("child 0")


def test_layers_copy_with_locks_of_their_own():
    layer = Bidirectional(LSTM(3, seed=1))
    x = np.ones((1, 2, 4), np.float32)
    expected = layer(x)
    for copied in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert copied._pair_lock is not layer._pair_lock
        np.testing.assert_array_equal(copied(x), expected)
