"""fastlstm.optimizers: Keras's update formulas written out by hand, torch.optim over several
steps, clipping, weight decay, saved state and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import optimizers

STEPS = 6


def problem(seed=0):
    """Two weight arrays and a gradient sequence for each."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(STEPS)]
    return params, grads


def run(opt, params, grads):
    params = [p.copy() for p in params]
    for g in grads:
        opt.apply(g, params)
    return params


# -- hand-written references (Keras 3's formulas, one weight at a time) -----------------------


def ref_sgd(p, gs, lr, momentum=0.0, nesterov=False):
    v = np.zeros_like(p)
    for g in gs:
        if momentum:
            v = momentum * v - lr * g
            p = p + (momentum * v - lr * g if nesterov else v)
        else:
            p = p - lr * g
    return p


def ref_adam(p, gs, lr, b1=0.9, b2=0.999, eps=1e-7, wd=0.0, amsgrad=False):
    m, v, vhat = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        p = p - p * wd * lr
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        p = p - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps)
    return p


def ref_rmsprop(p, gs, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    v, a, u = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in gs:
        v = rho * v + (1 - rho) * g * g
        if centered:
            a = rho * a + (1 - rho) * g
            denominator = v - a * a + eps
        else:
            denominator = v + eps
        step = lr * g / np.sqrt(denominator)
        if momentum:
            u = momentum * u + step
            p = p - u
        else:
            p = p - step
    return p


def ref_adagrad(p, gs, lr, initial=0.1, eps=1e-7):
    a = np.full_like(p, initial)
    for g in gs:
        a = a + g * g
        p = p - lr * g / np.sqrt(a + eps)
    return p


def ref_nadam(p, gs, lr, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3's Nadam: the momentum schedule u_t = b1 * (1 - 0.5 * 0.96**t) and its running
    product, one weight at a time."""
    m, v, product = np.zeros_like(p), np.zeros_like(p), 1.0
    for t, g in enumerate(gs, start=1):
        u_t, u_next = b1 * (1 - 0.5 * 0.96**t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product *= u_t
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_next * m / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
        p = p - lr * m_hat / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


@pytest.mark.parametrize(
    ("opt", "ref"),
    [
        (optimizers.SGD(0.1), lambda p, g: ref_sgd(p, g, 0.1)),
        (optimizers.SGD(0.1, momentum=0.9), lambda p, g: ref_sgd(p, g, 0.1, 0.9)),
        (optimizers.SGD(0.1, 0.8, nesterov=True), lambda p, g: ref_sgd(p, g, 0.1, 0.8, True)),
        (optimizers.Adam(0.01), lambda p, g: ref_adam(p, g, 0.01)),
        (optimizers.Adam(0.01, amsgrad=True), lambda p, g: ref_adam(p, g, 0.01, amsgrad=True)),
        (optimizers.AdamW(0.01), lambda p, g: ref_adam(p, g, 0.01, wd=0.004)),
        (optimizers.RMSprop(0.01), lambda p, g: ref_rmsprop(p, g, 0.01)),
        (
            optimizers.RMSprop(0.01, momentum=0.5, centered=True),
            lambda p, g: ref_rmsprop(p, g, 0.01, momentum=0.5, centered=True),
        ),
        (optimizers.Adagrad(0.1), lambda p, g: ref_adagrad(p, g, 0.1)),
        (optimizers.Adagrad(0.1, 0.5, 1e-3), lambda p, g: ref_adagrad(p, g, 0.1, 0.5, 1e-3)),
        (optimizers.Nadam(0.01), lambda p, g: ref_nadam(p, g, 0.01)),
        (optimizers.Nadam(0.01, 0.8, 0.99), lambda p, g: ref_nadam(p, g, 0.01, 0.8, 0.99)),
    ],
    ids=[
        "sgd",
        "momentum",
        "nesterov",
        "adam",
        "amsgrad",
        "adamw",
        "rmsprop",
        "rmsprop_c_m",
        "adagrad",
        "adagrad_options",
        "nadam",
        "nadam_betas",
    ],
)
def test_matches_keras_formulas(opt, ref):
    params, grads = problem()
    got = run(opt, params, grads)
    for i, p in enumerate(params):
        np.testing.assert_allclose(got[i], ref(p, [g[i] for g in grads]), rtol=1e-12, atol=1e-14)
    assert opt.iterations == STEPS


def test_keras_defaults():
    assert optimizers.get("sgd").get_config()["learning_rate"] == 0.01
    adam = optimizers.get("adam")
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert optimizers.get("adamw").weight_decay == 0.004
    rms = optimizers.get("rmsprop")
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon) == (0.001, 0.9, 0.0, 1e-7)
    ada = optimizers.get("adagrad")
    assert (ada.learning_rate, ada.initial_accumulator_value, ada.epsilon) == (0.001, 0.1, 1e-7)
    nadam = optimizers.get("nadam")
    assert (nadam.learning_rate, nadam.beta_1, nadam.beta_2, nadam.epsilon) == (
        0.001,
        0.9,
        0.999,
        1e-7,
    )
    with pytest.raises(TypeError, match="amsgrad: Nadam takes none"):
        optimizers.Nadam(amsgrad=True)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: optimizers.SGD(0.1, momentum=0.9), lambda t, ps: t.optim.SGD(ps, 0.1, 0.9)),
        (
            lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
            lambda t, ps: t.optim.SGD(ps, 0.1, 0.9, nesterov=True),
        ),
        # epsilon tiny on both sides: Keras and torch put it in different places
        (
            lambda: optimizers.Adam(0.01, epsilon=1e-12),
            lambda t, ps: t.optim.Adam(ps, 0.01, eps=1e-12),
        ),
        (
            lambda: optimizers.AdamW(0.01, weight_decay=0.1, epsilon=1e-12),
            lambda t, ps: t.optim.AdamW(ps, 0.01, eps=1e-12, weight_decay=0.1),
        ),
        (
            lambda: optimizers.RMSprop(0.01, rho=0.95, momentum=0.5, epsilon=1e-14),
            lambda t, ps: t.optim.RMSprop(ps, 0.01, alpha=0.95, eps=1e-12, momentum=0.5),
        ),
        (
            lambda: optimizers.RMSprop(0.01, centered=True, epsilon=1e-14),
            lambda t, ps: t.optim.RMSprop(ps, 0.01, alpha=0.9, eps=1e-12, centered=True),
        ),
        # torch adds epsilon to sqrt(a), Keras inside it: none on either side
        (
            lambda: optimizers.Adagrad(0.1, initial_accumulator_value=0.2, epsilon=0),
            lambda t, ps: t.optim.Adagrad(ps, 0.1, initial_accumulator_value=0.2, eps=0),
        ),
    ],
    ids=[
        "sgd_momentum",
        "sgd_nesterov",
        "adam",
        "adamw",
        "rmsprop_momentum",
        "rmsprop_centered",
        "adagrad",
    ],
)
def test_matches_torch_optim(torch, ours, theirs):
    params, grads = problem(3)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    topt = theirs(torch, tparams)
    for g in grads:
        for tp, gi in zip(tparams, g):
            tp.grad = torch.from_numpy(gi.copy())
        topt.step()
    got = run(ours(), params, grads)
    for a, tp in zip(got, tparams):
        np.testing.assert_allclose(a, tp.detach().numpy(), rtol=1e-6, atol=1e-9)


def test_clipping_rules():
    g = [np.array([3.0, 4.0]), np.array([0.0, 1.0])]  # norms 5 and 1, joint sqrt(26)
    p = [np.zeros(2), np.zeros(2)]
    optimizers.SGD(1.0, clipnorm=2.0).apply(g, p)
    np.testing.assert_allclose(p[0], [-1.2, -1.6])  # scaled to norm 2
    np.testing.assert_allclose(p[1], [0.0, -1.0])  # under the norm: unchanged
    p = [np.zeros(2), np.zeros(2)]
    optimizers.SGD(1.0, global_clipnorm=1.0).apply(g, p)
    scale = 1 / np.sqrt(26)
    np.testing.assert_allclose(p[0], -scale * g[0])
    np.testing.assert_allclose(p[1], -scale * g[1])
    p = [np.zeros(2), np.zeros(2)]
    optimizers.SGD(1.0, clipvalue=0.5).apply(g, p)
    np.testing.assert_allclose(p[0], [-0.5, -0.5])
    assert g[0][0] == 3.0  # the caller's gradients are not changed


def test_learning_rate_can_change_between_steps():
    p = [np.ones(3)]
    opt = optimizers.SGD(0.5)
    opt.apply([np.ones(3)], p)
    opt.learning_rate = 0.25
    opt.apply([np.ones(3)], p)
    np.testing.assert_allclose(p[0], 1 - 0.5 - 0.25)


def test_float32_weights_stay_float32_in_place():
    p = [np.ones((2, 2), np.float32)]
    ref = p[0]
    opt = optimizers.Adam(0.1)
    opt.apply([np.ones((2, 2))], p)  # a float64 gradient is cast
    assert p[0] is ref
    assert ref.dtype == np.float32
    assert np.all(ref < 1)
    assert all(s.dtype == np.float32 for s in opt.get_slot_arrays())


@pytest.mark.parametrize("cls", [optimizers.Adam, optimizers.Adagrad, optimizers.Nadam])
def test_state_round_trip_resumes_exactly(cls):
    params, grads = problem(5)
    straight = cls(0.01)
    a = run(straight, params, grads)
    first = cls(0.01)
    b = [p.copy() for p in params]
    for g in grads[:3]:
        first.apply(g, b)
    resumed = cls.from_config(first.get_config())
    resumed.set_slot_arrays(b, first.get_slot_arrays(), first.iterations)
    for g in grads[3:]:
        resumed.apply(g, b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    if cls is not optimizers.Adam:
        return
    with pytest.raises(ValueError, match="optimizer state: expected 4 slot arrays, got 3"):
        resumed.set_slot_arrays(b, first.get_slot_arrays()[:3], 3)
    with pytest.raises(ValueError, match=r"slot 'm' float64 of shape \(3, 4\), got float64 \(4"):
        resumed.set_slot_arrays(b, [np.zeros((4, 3)), *first.get_slot_arrays()[1:]], 3)
    # float64 state for float32 weights had passed the finite check, then become inf in the cast
    b32 = [p.astype(np.float32) for p in b]
    huge = [np.full(p.shape, 1e300) for p in first.get_slot_arrays()]
    with pytest.raises(ValueError, match=r"slot 'm' float32 of shape \(3, 4\), got float64"):
        resumed.set_slot_arrays(b32, huge, 3)


@pytest.mark.parametrize("cls", [optimizers.Adagrad, optimizers.Nadam])
def test_the_same_optimizer_set_back_goes_on_as_it_did(cls):
    params, grads = problem(6)
    opt = cls(0.01)
    p = [x.copy() for x in params]
    for g in grads[:3]:
        opt.apply(g, p)
    back, slots, step = [x.copy() for x in p], opt.get_slot_arrays(), opt.iterations
    for g in grads[3:]:
        opt.apply(g, p)
    opt.set_slot_arrays(back, slots, step)  # Nadam's running product goes back to step 3 too
    for g in grads[3:]:
        opt.apply(g, back)
    for x, y in zip(p, back):
        np.testing.assert_array_equal(x, y)


def test_weights_must_keep_their_shapes():
    opt = optimizers.SGD(0.1, momentum=0.9)
    opt.apply([np.ones(3)], [np.zeros(3)])
    with pytest.raises(ValueError, match="params: expected the weights this optimizer was built"):
        opt.apply([np.ones(4)], [np.zeros(4)])


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: optimizers.get("adamm"), ValueError, r"optimizer: expected .* got 'adamm'"),
        (lambda: optimizers.get(None), ValueError, "optimizer: expected"),
        (lambda: optimizers.Adam(learning_rate=-1), ValueError, "learning_rate: expected"),
        (
            lambda: optimizers.Adam(learning_rate="fast"),
            TypeError,
            "learning_rate: expected a finite number >= 0, got 'fast'",
        ),
        (lambda: optimizers.Adam(epsilon=np.nan), ValueError, "epsilon: expected a finite number"),
        (lambda: optimizers.Adam(clipnorm=0), ValueError, "clipnorm: expected a finite number > 0"),
        (lambda: optimizers.Adam(weight_decay=10**400), ValueError, "weight_decay: expected a"),
        (
            lambda: optimizers.SGD(momentum=1.5),
            ValueError,
            r"momentum: expected a number in \[0, 1\], got 1.5",
        ),
        (lambda: optimizers.SGD(nesterov=1), TypeError, "nesterov"),
        (lambda: optimizers.Adam(clipnorm=1, global_clipnorm=1), ValueError, "at most one"),
        (lambda: optimizers.Adam(beta_1=1.0), ValueError, "beta_1"),
        (lambda: optimizers.Adam(name={"a": 1}), TypeError, "name: expected a str or None"),
        (lambda: optimizers.deserialize({"class_name": "Evil", "config": {}}), ValueError, "class"),
    ],
)
def test_bad_arguments_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    ("opt", "slot", "match"),
    [
        (lambda: optimizers.Adam(), 1, "slot 'v' to hold values of at least 0"),
        (lambda: optimizers.Adam(amsgrad=True), 2, "slot 'v_hat' to hold values of at least 0"),
        (lambda: optimizers.RMSprop(), 0, "slot 'velocity' to hold values of at least 0"),
        (lambda: optimizers.Adagrad(), 0, "slot 'accumulator' to hold values of at least 0"),
    ],
)
def test_slots_no_step_could_make_are_refused(opt, slot, match):
    """A saved state with a negative second moment trained every weight to NaN."""
    params = [np.zeros((2, 3)), np.zeros(3)]
    grads = [np.ones((2, 3)), np.ones(3)]
    source = opt()
    source.apply(grads, params)
    arrays = source.get_slot_arrays()
    arrays[slot] = arrays[slot].copy()
    arrays[slot][0] = -1.0
    target = opt()
    with pytest.raises(ValueError, match=match):
        target.set_slot_arrays(params, arrays, 1)


@pytest.mark.parametrize(
    "opt", [optimizers.Adam, optimizers.RMSprop, optimizers.Adagrad, optimizers.SGD]
)
def test_non_finite_slots_a_step_makes_are_kept(opt):
    """A gradient of inf or NaN (data holding them) makes such slots; set_slot_arrays had
    refused them, so a model saved after that batch did not load."""
    params = [np.zeros((2, 3)), np.zeros(3)]
    source = opt(momentum=0.9) if opt is optimizers.SGD else opt()
    with np.errstate(all="ignore"):  # inf - inf, inf / inf
        source.apply([np.full((2, 3), np.inf), np.full(3, np.nan)], params)
    arrays = source.get_slot_arrays()
    assert not all(np.isfinite(a).all() for a in arrays)
    target = opt(momentum=0.9) if opt is optimizers.SGD else opt()
    target.set_slot_arrays(params, arrays, 1)
    for a, b in zip(target.get_slot_arrays(), arrays):
        np.testing.assert_array_equal(a, b)


def test_a_model_saved_after_a_batch_of_inf_loads_as_it_was(tmp_path):
    """Its optimizer's slots hold NaN and inf: save wrote them and load_model (pickle and
    deepcopy too) had refused the file as "not a valid fastlstm model file"."""
    import copy

    from fastlstm import load_model
    from fastlstm.layers import LSTM, Dense, Input
    from fastlstm.models import Sequential

    model = Sequential([Input((3, 2)), LSTM(2, seed=0), Dense(1, seed=1)])
    model.compile("adam", "mse")
    x = np.ones((4, 3, 2), np.float32)
    x[0, 0, 0] = np.inf
    with np.errstate(all="ignore"):
        model.train_on_batch(x, np.zeros((4, 1)))
    slots = model.optimizer.get_slot_arrays()
    assert not all(np.isfinite(a).all() for a in slots)
    model.save(tmp_path / "m.fastlstm")
    for loaded in (load_model(tmp_path / "m.fastlstm"), copy.deepcopy(model)):
        for a, b in zip(loaded.optimizer.get_slot_arrays(), slots):
            np.testing.assert_array_equal(a, b)


def test_negative_momenta_are_states_steps_make():
    # Adam's m follows the gradient's sign; SGD's momentum (Keras's) the update's.
    for make, sign in ((lambda: optimizers.Adam(), -1), (lambda: optimizers.SGD(momentum=0.9), 1)):
        params = [np.zeros(3)]
        source = make()
        source.apply([sign * np.ones(3)], params)
        arrays = source.get_slot_arrays()
        assert (arrays[0] < 0).all()
        make().set_slot_arrays(params, arrays, 1)
