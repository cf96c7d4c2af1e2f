"""fastlstm.optimizers: Adamax, Adadelta, Lion and Ftrl, Keras 3's base arguments (weight decay
for every optimizer, gradient accumulation, the EMA and loss-scale arguments) and
schedules.CosineDecayRestarts. Each update is checked against Keras 3's update_step written
out in NumPy (float64), against torch.optim where torch has the algorithm, by training, and by
resuming from a model file bit for bit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fastlstm
from fastlstm import layers, optimizers
from fastlstm.optimizers import schedules

STEPS = 6
NEW = (optimizers.Adamax, optimizers.Adadelta, optimizers.Lion, optimizers.Ftrl)
ALL = (
    optimizers.SGD,
    optimizers.Adam,
    optimizers.AdamW,
    optimizers.RMSprop,
    optimizers.Adagrad,
    optimizers.Nadam,
    *NEW,
)


def problem(seed=0, steps=STEPS):
    """Two weight arrays and a gradient sequence for each."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(steps)]
    return params, grads


def run(opt, params, grads):
    params = [p.copy() for p in params]
    for g in grads:
        opt.apply(g, params)
    return params


# -- Keras 3's update_step, written out for one weight (state in a dict, step t from 1) -------


def adamax_step(b1=0.9, b2=0.999, eps=1e-7):
    def step(w, g, s, lr, t):
        m, u = s.get("m", 0 * w), s.get("u", 0 * w)
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        s.update(m=m, u=u)
        return w - lr * m / ((1 - b1**t) * (u + eps))

    return step


def adadelta_step(rho=0.95, eps=1e-7):
    def step(w, g, s, lr, t):
        a, d = s.get("a", 0 * w), s.get("d", 0 * w)
        a = rho * a + (1 - rho) * np.square(g)
        delta = -(np.sqrt(d + eps) * g / np.sqrt(a + eps))
        d = rho * d + (1 - rho) * np.square(delta)
        s.update(a=a, d=d)
        return w + lr * delta

    return step


def lion_step(b1=0.9, b2=0.99):
    def step(w, g, s, lr, t):
        m = s.get("m", 0 * w)
        w = w - lr * np.sign(m * b1 + g * (1 - b1))
        s["m"] = m * b2 + g * (1 - b2)
        return w

    return step


def ftrl_step(power=-0.5, initial=0.1, l1=0.0, l2=0.0, l2s=0.0, beta=0.0):
    def step(w, g, s, lr, t):
        n, z = s.get("n", np.full_like(w, initial)), s.get("z", 0 * w)
        l2_reg = l2 + beta / (2.0 * lr)
        grad_to_use = g + 2 * l2s * w
        n_new = n + np.square(g)
        z = z + (grad_to_use - (n_new**-power - n**-power) / lr * w)
        quadratic = n_new**-power / lr + 2 * l2_reg
        w = (np.clip(z, -l1, l1) - z) / quadratic
        s.update(n=n_new, z=z)
        return w

    return step


def keras_run(step, p, gs, rates, wd=None, clipnorm=None, state=None):
    """Keras 3's apply for one weight: clip, decoupled weight decay, update_step. ``state``,
    a dict, receives the slots (in fastlstm's slot order)."""
    state = {} if state is None else state
    for t, (g, lr) in enumerate(zip(gs, rates), start=1):
        if clipnorm is not None:
            g = g * clipnorm / max(np.sqrt(np.sum(g * g)), clipnorm)
        if wd is not None:
            p = p - p * wd * lr
        p = step(p, g, state, lr, t)
    return p


def constant(lr):
    return [lr] * STEPS


DECAY = schedules.ExponentialDecay(0.05, 2, 0.5)

CASES = {
    "adamax": (optimizers.Adamax(0.01), adamax_step(), constant(0.01), {}),
    "adamax_options": (
        optimizers.Adamax(DECAY, 0.8, 0.99, 1e-3, weight_decay=0.1),
        adamax_step(0.8, 0.99, 1e-3),
        [DECAY(i) for i in range(STEPS)],
        {"wd": 0.1},
    ),
    "adadelta": (optimizers.Adadelta(1.0), adadelta_step(), constant(1.0), {}),
    "adadelta_options": (
        optimizers.Adadelta(0.5, rho=0.8, epsilon=1e-4, clipnorm=1.0),
        adadelta_step(0.8, 1e-4),
        constant(0.5),
        {"clipnorm": 1.0},
    ),
    "lion": (optimizers.Lion(0.01), lion_step(), constant(0.01), {}),
    "lion_options": (
        optimizers.Lion(DECAY, beta_1=0.5, beta_2=0.9, weight_decay=0.3),
        lion_step(0.5, 0.9),
        [DECAY(i) for i in range(STEPS)],
        {"wd": 0.3},
    ),
    "ftrl": (optimizers.Ftrl(0.1), ftrl_step(), constant(0.1), {}),
    "ftrl_options": (
        # l1 large enough that some weights are set to 0 (|z| <= l1)
        optimizers.Ftrl(0.2, -0.7, 0.3, 0.5, 0.2, 0.1, 0.4),
        ftrl_step(-0.7, 0.3, 0.5, 0.2, 0.1, 0.4),
        constant(0.2),
        {},
    ),
    "ftrl_fixed_rate": (
        optimizers.Ftrl(DECAY, learning_rate_power=0.0, initial_accumulator_value=0.0),
        ftrl_step(0.0, 0.0),
        [DECAY(i) for i in range(STEPS)],
        {},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_keras_update_step(case):
    opt, step, rates, extra = case
    params, grads = problem()
    got = run(opt, params, grads)
    slots = opt.get_slot_arrays()
    for i, p in enumerate(params):
        state = {}
        want = keras_run(step, p, [g[i] for g in grads], rates, **extra, state=state)
        np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-14)
        mine = slots[i * len(state) : (i + 1) * len(state)]
        for a, b in zip(mine, state.values(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert len(slots) == 2 * len(state)
    assert opt.iterations == STEPS
    if opt is CASES["ftrl_options"][0]:
        assert (got[0] == 0).any()  # the l1 clip did set weights to 0
        assert (got[0] != 0).any()


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        # torch adds epsilon to |g| inside the max, Keras to u outside it: none on either side
        (
            lambda: optimizers.Adamax(0.01, epsilon=0.0),
            lambda t, ps: t.optim.Adamax(ps, 0.01, eps=0),
        ),
        (
            lambda: optimizers.Adamax(0.01, 0.8, 0.9, epsilon=0.0),
            lambda t, ps: t.optim.Adamax(ps, 0.01, (0.8, 0.9), eps=0),
        ),
        # the same formula; torch's defaults differ (lr 1.0, rho 0.9, eps 1e-6): spelt out
        (
            lambda: optimizers.Adadelta(1.0, rho=0.9, epsilon=1e-6),
            lambda t, ps: t.optim.Adadelta(ps, 1.0, 0.9, 1e-6),
        ),
        (
            lambda: optimizers.Adadelta(0.5),  # Keras's rho 0.95 and epsilon 1e-7
            lambda t, ps: t.optim.Adadelta(ps, 0.5, 0.95, 1e-7),
        ),
    ],
    ids=["adamax", "adamax_betas", "adadelta", "adadelta_keras_defaults"],
)
def test_matches_torch_optim(torch, ours, theirs):
    params, grads = problem(3)
    got = run(ours(), params, grads)
    want = torch_run(torch, theirs, params, grads)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def torch_run(torch, make, params, grads):
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    topt = make(torch, tparams)
    for g in grads:
        for tp, gi in zip(tparams, g):
            tp.grad = torch.from_numpy(gi.copy())
        topt.step()
    return [tp.detach().numpy() for tp in tparams]


def test_adamax_epsilon_sits_elsewhere_than_in_torch(torch):
    """With epsilon the two differ: Keras's u = max(b2*u, |g|) and divides by u + eps, torch's
    u = max(b2*u, |g| + eps), so where the decayed u wins torch's holds b2*eps, not eps."""
    params, grads = problem(3)
    got = run(optimizers.Adamax(0.01, beta_2=0.5, epsilon=0.5), params, grads)
    want = torch_run(
        torch, lambda t, ps: t.optim.Adamax(ps, 0.01, (0.9, 0.5), eps=0.5), params, grads
    )
    ours, theirs = got[0] - params[0], want[0] - params[0]
    assert np.max(np.abs(ours - theirs) / np.abs(theirs)) > 0.05


def test_names_and_keras_defaults():
    adamax = optimizers.get("adamax")
    assert type(adamax) is optimizers.Adamax
    assert (adamax.learning_rate, adamax.beta_1, adamax.beta_2, adamax.epsilon) == (
        0.001,
        0.9,
        0.999,
        1e-7,
    )
    adadelta = optimizers.get("Adadelta")
    assert (adadelta.learning_rate, adadelta.rho, adadelta.epsilon) == (0.001, 0.95, 1e-7)
    lion = optimizers.get("lion")
    assert (lion.learning_rate, lion.beta_1, lion.beta_2) == (0.001, 0.9, 0.99)
    ftrl = optimizers.get("ftrl")
    assert (
        ftrl.get_config().items()
        >= {
            "learning_rate": 0.001,
            "learning_rate_power": -0.5,
            "initial_accumulator_value": 0.1,
            "l1_regularization_strength": 0.0,
            "l2_regularization_strength": 0.0,
            "l2_shrinkage_regularization_strength": 0.0,
            "beta": 0.0,
        }.items()
    )
    assert [o.name for o in (adamax, adadelta, lion, ftrl)] == [
        "adamax",
        "adadelta",
        "lion",
        "ftrl",
    ]
    assert isinstance(optimizers.get(optimizers.Lion), optimizers.Lion)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_config_survives_json(cls):
    opt = cls(schedules.CosineDecayRestarts(0.01, 5), clipnorm=2.0, gradient_accumulation_steps=2)
    config = json.loads(json.dumps(opt.get_config()))
    clone = cls.from_config(config)
    assert clone.get_config() == opt.get_config()
    again = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(opt))))
    assert type(again) is cls
    assert again.get_config() == opt.get_config()
    assert config["gradient_accumulation_steps"] == 2
    assert (config["use_ema"], config["ema_momentum"], config["loss_scale_factor"]) == (
        False,
        0.99,
        None,
    )


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_weight_decay_is_keras_decoupled_step_for_every_optimizer(cls):
    """Keras 3's base class: w -= w * wd * lr, then the optimizer's own update."""
    params, grads = problem(4)
    decayed, plain = cls(0.05, weight_decay=0.2), cls(0.05, weight_decay=None)
    a, b = [p.copy() for p in params], [p.copy() for p in params]
    for g in grads:
        decayed.apply(g, a)
        for p in b:
            p -= p * 0.2 * 0.05
        plain.apply(g, b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_keras_base_arguments_at_their_defaults_change_nothing():
    params, grads = problem(5)
    spelt = optimizers.Lion(
        0.01,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name="my_lion",
    )
    assert spelt.name == "my_lion"
    for a, b in zip(run(spelt, params, grads), run(optimizers.Lion(0.01), params, grads)):
        np.testing.assert_array_equal(a, b)
    # without use_ema Keras reads neither: checked, kept, and nothing changes
    quiet = optimizers.Adam(0.01, ema_momentum=0.9, ema_overwrite_frequency=5)
    assert quiet.get_config()["ema_overwrite_frequency"] == 5
    for a, b in zip(run(quiet, params, grads), run(optimizers.Adam(0.01), params, grads)):
        np.testing.assert_array_equal(a, b)


# -- gradient accumulation ----------------------------------------------------------------


def test_gradient_accumulation_is_keras_3s():
    """k = 3: steps 1 and 2 add the gradients up; step 3 updates from (g3 + (g1 + g2)) / 3,
    clipped, at the rate of the schedule at step 2 (Keras reads its raw count), as Adamax's
    update 1 (its bias correction); the same again for steps 4 to 6."""
    params, grads = problem(6)
    opt = optimizers.Adamax(DECAY, clipnorm=0.5, weight_decay=0.1, gradient_accumulation_steps=3)
    got = [p.copy() for p in params]
    for n, g in enumerate(grads, start=1):
        before = [p.copy() for p in got]
        opt.apply(g, got)
        assert opt.iterations == n
        if n % 3:
            for x, y in zip(got, before):
                np.testing.assert_array_equal(x, y)  # only the accumulators moved
    for i, p in enumerate(params):
        gs = [g[i] for g in grads]
        means = [(gs[2] + (gs[0] + gs[1])) / 3, (gs[5] + (gs[3] + gs[4])) / 3]
        want = keras_run(adamax_step(), p, means, [DECAY(2), DECAY(5)], wd=0.1, clipnorm=0.5)
        np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-14)
    # the accumulator is each weight's last slot, zero after an update
    assert len(opt.get_slot_arrays()) == 2 * 3
    assert not opt.get_slot_arrays()[2].any()


def test_gradient_accumulation_resumes_mid_group():
    params, grads = problem(7, steps=8)
    straight = run(optimizers.Nadam(0.01, gradient_accumulation_steps=3), params, grads)
    first = optimizers.Nadam(0.01, gradient_accumulation_steps=3)
    p = run(first, params, grads[:4])  # one update, one gradient held
    assert first.get_slot_arrays()[2].any()
    resumed = optimizers.Nadam.from_config(first.get_config())
    resumed.set_slot_arrays(p, first.get_slot_arrays(), first.iterations)
    for g in grads[4:]:
        resumed.apply(g, p)
    for a, b in zip(straight, p):
        np.testing.assert_array_equal(a, b)


# -- models: compile by name and as an instance, training, resuming from a file -----------


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5, 3))
    return x, x.mean(axis=(1, 2))[:, None]


def model(optimizer):
    m = fastlstm.Sequential([layers.LSTM(4), layers.Dense(1)], seed=0)  # seeds the shuffle too
    m.compile(optimizer, "mse")
    return m


@pytest.mark.parametrize(
    "opt",
    [
        optimizers.Adamax(0.02),
        optimizers.Adadelta(1.0),
        optimizers.Lion(0.003),
        optimizers.Ftrl(0.5),  # Ftrl's first step pulls the weights to 0: a large rate
    ],
    ids=lambda o: type(o).__name__,
)
def test_training_lowers_the_loss(opt):
    x, y = data()
    loss = model(opt).fit(x, y, epochs=15, batch_size=8, verbose=0).history["loss"]
    assert loss[-1] < 0.6 * loss[0]


@pytest.mark.parametrize("name", ["adamax", "adadelta", "lion", "ftrl"])
def test_compile_by_name(name):
    x, y = data()
    m = model(name)
    assert type(m.optimizer) is optimizers.get(name).__class__
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert m.optimizer.iterations == 4


RESUMED = {
    "adamax": lambda: optimizers.Adamax(
        schedules.CosineDecayRestarts(0.02, 3, m_mul=0.9), clipnorm=0.5, weight_decay=0.01
    ),
    "adadelta": lambda: optimizers.Adadelta(1.0, global_clipnorm=1.0, clipvalue=0.3),
    "lion": lambda: optimizers.Lion(0.003, weight_decay=0.1, gradient_accumulation_steps=3),
    "ftrl": lambda: optimizers.Ftrl(
        schedules.ExponentialDecay(0.5, 4, 0.8), l1_regularization_strength=0.001, beta=0.1
    ),
    "adam_accumulating": lambda: optimizers.Adam(0.01, gradient_accumulation_steps=3),
}


@pytest.mark.parametrize("make", RESUMED.values(), ids=RESUMED.keys())
def test_resuming_from_a_file_goes_on_bit_for_bit(make, tmp_path):
    x, y = data()
    straight = model(make())
    straight_loss = straight.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"]
    first = model(make())
    first.fit(x, y, epochs=2, batch_size=8, verbose=0)  # 8 steps: with k = 3, 2 held
    first.save(tmp_path / "m.fastlstm")
    resumed = fastlstm.load_model(tmp_path / "m.fastlstm")
    assert resumed.optimizer.get_config() == first.optimizer.get_config()
    assert resumed.optimizer.iterations == 8
    loss = resumed.fit(x, y, epochs=3, initial_epoch=2, batch_size=8, verbose=0).history["loss"]
    assert loss == straight_loss[2:]
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("opt", "slot", "match"),
    [
        (optimizers.Adamax, 1, "slot 'u' to hold values of at least 0"),
        (optimizers.Adadelta, 0, "slot 'accumulated_grad' to hold values of at least 0"),
        (optimizers.Adadelta, 1, "slot 'accumulated_delta_var' to hold values of at least 0"),
        (optimizers.Ftrl, 0, "slot 'accumulator' to hold values of at least 0"),
    ],
)
def test_slots_no_step_could_make_are_refused(opt, slot, match):
    params, grads = [np.zeros((2, 3)), np.zeros(3)], [np.ones((2, 3)), np.ones(3)]
    source = opt()
    source.apply(grads, params)
    arrays = source.get_slot_arrays()
    arrays[slot] = arrays[slot].copy()
    arrays[slot][0] = -1.0
    with pytest.raises(ValueError, match=match):
        opt().set_slot_arrays(params, arrays, 1)


@pytest.mark.parametrize(
    "opt", [optimizers.Adamax, optimizers.Adadelta, optimizers.Lion, optimizers.Ftrl]
)
def test_non_finite_slots_a_step_makes_are_kept(opt):
    params = [np.zeros((2, 3)), np.zeros(3)]
    source = opt()
    with np.errstate(all="ignore"):  # inf - inf, inf / inf
        source.apply([np.full((2, 3), np.inf), np.full(3, np.nan)], params)
    arrays = source.get_slot_arrays()
    assert not all(np.isfinite(a).all() for a in arrays)
    target = opt()
    target.set_slot_arrays(params, arrays, 1)
    for a, b in zip(target.get_slot_arrays(), arrays):
        np.testing.assert_array_equal(a, b)


def test_negative_momenta_and_linear_slots_are_states_steps_make():
    for make in (optimizers.Adamax, optimizers.Lion, optimizers.Ftrl):
        params = [np.zeros(3)]
        source = make()
        source.apply([-np.ones(3)], params)
        arrays = source.get_slot_arrays()
        assert any((a < 0).any() for a in arrays)
        make().set_slot_arrays(params, arrays, 1)


# -- CosineDecayRestarts -------------------------------------------------------------------


def keras_restarts(step, initial, first, t_mul=2.0, m_mul=1.0, alpha=0.0):
    """Keras 3's CosineDecayRestarts.__call__, written out."""
    fraction = step / first
    if t_mul == 1.0:
        i = math.floor(fraction)
        fraction -= i
    else:
        i = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
        sum_r = (1.0 - t_mul**i) / (1.0 - t_mul)
        fraction = (fraction - sum_r) / t_mul**i
    cosine = 0.5 * m_mul**i * (1.0 + math.cos(math.pi * fraction))
    return initial * ((1 - alpha) * cosine + alpha)


def walked_restarts(step, initial, first, t_mul=2.0, m_mul=1.0, alpha=0.0):
    """The same schedule from its definition: walk the periods (period i lasts first * t_mul**i
    steps and starts at m_mul**i times the rate), no logarithms."""
    start, length, i = 0.0, float(first), 0
    while step >= start + length:
        start, length, i = start + length, length * t_mul, i + 1
    cosine = 0.5 * m_mul**i * (1 + math.cos(math.pi * (step - start) / length))
    return initial * ((1 - alpha) * cosine + alpha)


SGDR = [
    {"first": 10},
    {"first": 10, "t_mul": 1.0, "m_mul": 0.8},
    {"first": 7, "t_mul": 1.5, "m_mul": 0.9, "alpha": 0.1},
    {"first": 3, "t_mul": 3.0, "m_mul": 0.5, "alpha": 0.2},
    {"first": 20, "t_mul": 0.5, "m_mul": 1.2},  # shrinking periods: 40 steps in all
]


@pytest.mark.parametrize("kw", SGDR, ids=lambda kw: "_".join(f"{k}{v}" for k, v in kw.items()))
def test_cosine_decay_restarts_is_keras_formula(kw):
    rest = {k: v for k, v in kw.items() if k != "first"}
    schedule = schedules.CosineDecayRestarts(0.1, kw["first"], **rest)
    end = 39 if kw.get("t_mul", 2.0) < 1 else 800
    starts = {0}  # the periods' first steps, walked out
    while (last := max(starts)) <= end:
        length = kw["first"] * kw.get("t_mul", 2.0) ** len(starts - {0})
        starts.add(last + length)
    for step in range(end + 1):
        if step in starts:  # Keras's float64 logarithms may round to the period before here
            continue
        want = keras_restarts(step, 0.1, kw["first"], **rest)
        assert schedule(step) == pytest.approx(want, rel=1e-12, abs=1e-15)
    clone = schedules.deserialize(json.loads(json.dumps(schedules.serialize(schedule))))
    assert clone.get_config() == schedule.get_config()
    assert clone(17) == schedule(17)


@pytest.mark.parametrize("kw", SGDR[:4], ids=["t2", "t1", "t1.5", "t3"])
def test_cosine_decay_restarts_restarts_where_its_periods_say(kw):
    """At every step, the formula equals the periods walked out, period starts included: the
    floor of a ratio of logarithms had fallen one short at some (t_mul=3: log(243) / log(3) is
    4.999... in float64, so step 121 * first_decay_steps got period 4's end, alpha, where a
    restart's full rate belongs)."""
    rest = {k: v for k, v in kw.items() if k != "first"}
    schedule = schedules.CosineDecayRestarts(0.1, kw["first"], **rest)
    for step in range(1200):
        want = walked_restarts(step, 0.1, kw["first"], **rest)
        assert schedule(step) == pytest.approx(want, rel=1e-9, abs=1e-13)


def test_cosine_decay_restarts_at_chosen_steps():
    s = schedules.CosineDecayRestarts(1.0, 10, m_mul=0.5, alpha=0.1)  # periods 10, 20, 40, 80
    assert s.name == "SGDRDecay"
    for step, rate in [(0, 1.0), (10, 0.5), (30, 0.25), (70, 0.125), (150, 0.0625)]:
        assert s(step) == pytest.approx(0.1 + 0.9 * rate, rel=1e-12)  # alpha is not scaled
    assert s(5) == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the first cosine
    assert s(20) == pytest.approx(0.1 + 0.9 * 0.25)  # half way down the second
    assert s(29.999999) == pytest.approx(0.1, abs=1e-9)  # its end: alpha
    opt = optimizers.SGD(s)
    p = [np.zeros(1)]
    for _ in range(10):
        opt.apply([np.ones(1)], p)
    assert opt.learning_rate == pytest.approx(0.1 + 0.9 * 0.5)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: optimizers.Adamax(beta_1=1.0), ValueError, "beta_1"),
        (lambda: optimizers.Adamax(epsilon=-1), ValueError, "epsilon: expected"),
        (lambda: optimizers.Adadelta(rho=1.5), ValueError, r"rho: expected a number in \[0, 1\]"),
        (lambda: optimizers.Lion(beta_1=0.0), ValueError, r"beta_1: expected a number in \(0, 1\]"),
        (lambda: optimizers.Lion(beta_2="0.9"), TypeError, "beta_2"),
        (lambda: optimizers.Ftrl(learning_rate_power=0.5), ValueError, "learning_rate_power"),
        (lambda: optimizers.Ftrl(l1_regularization_strength=-1), ValueError, "l1_regularization"),
        (
            lambda: optimizers.Ftrl(initial_accumulator_value=-0.1),
            ValueError,
            "initial_accumulator_value",
        ),
        (lambda: optimizers.Ftrl(beta=np.inf), ValueError, "beta: expected"),
        (
            lambda: optimizers.Ftrl(0.0).apply([np.ones(2)], [np.zeros(2)]),
            ValueError,
            "learning_rate: Ftrl divides by it",
        ),
        (lambda: optimizers.Lion(loss_scale_factor=128.0), TypeError, "loss_scale_factor: not"),
        (lambda: optimizers.SGD(ema_momentum=1.5), ValueError, "ema_momentum: expected"),
        (lambda: optimizers.SGD(ema_overwrite_frequency=0), ValueError, "ema_overwrite_freq"),
        (
            lambda: optimizers.Adamax(gradient_accumulation_steps=1),
            ValueError,
            "gradient_accumulation_steps: expected an integer >= 2 or None, got 1",
        ),
        (
            lambda: optimizers.Adadelta(gradient_accumulation_steps=2.0),
            TypeError,
            "gradient_accumulation_steps",
        ),
        (lambda: optimizers.Lion(lr=0.1), TypeError, "lr: Keras 2's name"),
        (lambda: optimizers.get("lion2"), ValueError, r"optimizer: expected .* got 'lion2'"),
        (
            lambda: schedules.CosineDecayRestarts(0.1, 0),
            ValueError,
            "first_decay_steps: expected a finite number > 0, got 0",
        ),
        (lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0), ValueError, "t_mul: expected"),
        (lambda: schedules.CosineDecayRestarts(0.1, 10, m_mul=-1), ValueError, "m_mul: expected"),
        (lambda: schedules.CosineDecayRestarts(0.1, 10, alpha=2), ValueError, r"alpha: .*\[0, 1"),
        (lambda: schedules.CosineDecayRestarts(0.1, 10)(-1), ValueError, "step: expected"),
        (
            lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0.5)(20),
            ValueError,
            r"step: CosineDecayRestarts with t_mul=0.5 < 1 ends after 20.0 steps, got step 20",
        ),
    ],
)
def test_bad_arguments_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
