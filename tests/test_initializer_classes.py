"""Keras 3's initializer classes (fastlstm.initializers): each against its Keras 3 formula, the
names against the classes (and against the functions the names always stood for, bit for bit),
the seeding rules, the layers that take them, configs and model files, and bad arguments.
Expected values come from NumPy computations written here."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import fastlstm
from badinput import raises
from conftest import with_header
from fastlstm import _arrays, initializers, saving, utils
from fastlstm.initializers import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)
from fastlstm.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Input,
    SimpleRNN,
    TimeDistributed,
)

TRUNCATED_STD = 0.87962566103423978  # the std of a unit normal truncated at +-2
SHAPE = (300, 500)  # fan_in 300, fan_out 500, fan_avg 400: 150k values, std within ~1%


def draw(init, shape=SHAPE, dtype=np.float64, seed=0):
    """``init``'s values from a generator seeded ``seed``, as a layer hands it its own."""
    return init(shape, dtype, np.random.default_rng(seed))


# -- each class against Keras 3's formula ------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "fans"),
    [((), (1, 1)), ((7,), (7, 7)), ((3, 4), (3, 4)), ((2, 3, 4, 5), (24, 30))],
)
def test_fans_are_counted_as_keras_3_counts_them(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_constant_gives_its_value_exactly():
    np.testing.assert_array_equal(Constant(0.25)((2, 3)), np.full((2, 3), 0.25, np.float32))
    assert Constant(3)((2,), "float64").dtype == np.float64
    matrix = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(Constant(matrix)((5, 4)), matrix)
    row = np.arange(4.0)
    np.testing.assert_array_equal(Constant(row)((3, 4)), np.tile(row, (3, 1)))  # broadcast
    out = Constant(matrix)((5, 4))
    out[0, 0] = 99.0  # a copy: the initialiser's value is not the layer's weight
    assert matrix[0, 0] != 99.0
    assert Constant().get_config() == {"value": 0.0}


def test_zeros_ones_and_identity():
    np.testing.assert_array_equal(Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(Ones()((4,), "float64"), np.ones(4))
    np.testing.assert_array_equal(Identity(gain=2.5)((3, 5)), 2.5 * np.eye(3, 5))
    assert Identity()((2, 2)).dtype == np.float32


@pytest.mark.parametrize(("mean", "stddev"), [(0.0, 0.05), (1.5, 2.0)])
def test_random_normal_has_its_mean_and_stddev(mean, stddev):
    w = draw(RandomNormal(mean, stddev))
    assert w.mean() == pytest.approx(mean, abs=0.02 * stddev)
    assert w.std() == pytest.approx(stddev, rel=0.01)


@pytest.mark.parametrize(("mean", "stddev"), [(0.0, 0.05), (-1.0, 3.0)])
def test_truncated_normal_stays_within_two_stddevs(mean, stddev):
    w = draw(TruncatedNormal(mean, stddev))
    assert np.abs(w - mean).max() <= 2 * stddev * (1 + 1e-12)
    assert w.mean() == pytest.approx(mean, abs=0.02 * stddev)
    assert w.std() == pytest.approx(stddev * TRUNCATED_STD, rel=0.01)


def test_random_uniform_has_its_limits():
    w = draw(RandomUniform(-1.0, 3.0))
    assert w.min() >= -1.0
    assert w.max() < 3.0
    assert w.min() < -0.999
    assert w.max() > 2.999
    assert w.std() == pytest.approx(4.0 / np.sqrt(12), rel=0.01)


def _n(mode):
    return {"fan_in": 300, "fan_out": 500, "fan_avg": 400}[mode]


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_variance_scaling_follows_keras_3(mode, scale):
    """Keras 3: "truncated_normal" draws with stddev sqrt(scale / n) / .8796 truncated at two
    of those, so that its std is sqrt(scale / n); "untruncated_normal" with sqrt(scale / n);
    "uniform" in +-sqrt(3 scale / n)."""
    std = np.sqrt(scale / _n(mode))
    trunc = draw(VarianceScaling(scale, mode, "truncated_normal"))
    assert trunc.std() == pytest.approx(std, rel=0.01)
    assert np.abs(trunc).max() <= 2 * std / TRUNCATED_STD * (1 + 1e-12)
    normal = draw(VarianceScaling(scale, mode, "untruncated_normal"))
    assert normal.std() == pytest.approx(std, rel=0.01)
    assert np.abs(normal).max() > 2 * std / TRUNCATED_STD  # not truncated
    limit = np.sqrt(3 * scale / _n(mode))
    uniform = draw(VarianceScaling(scale, mode, "uniform"))
    assert np.abs(uniform).max() <= limit
    assert np.abs(uniform).max() > 0.999 * limit
    assert uniform.std() == pytest.approx(std, rel=0.01)
    # Keras's old name for the truncated normal
    np.testing.assert_array_equal(draw(VarianceScaling(scale, mode, "Normal")), trunc)


@pytest.mark.parametrize(
    ("cls", "scale", "mode", "distribution"),
    [
        (GlorotUniform, 1.0, "fan_avg", "uniform"),
        (GlorotNormal, 1.0, "fan_avg", "truncated_normal"),
        (HeUniform, 2.0, "fan_in", "uniform"),
        (HeNormal, 2.0, "fan_in", "truncated_normal"),
        (LecunUniform, 1.0, "fan_in", "uniform"),
        (LecunNormal, 1.0, "fan_in", "truncated_normal"),
    ],
)
def test_glorot_he_lecun_are_variance_scaling(cls, scale, mode, distribution):
    np.testing.assert_array_equal(draw(cls()), draw(VarianceScaling(scale, mode, distribution)))
    assert draw(cls()).std() == pytest.approx(np.sqrt(scale / _n(mode)), rel=0.01)
    assert isinstance(cls(), VarianceScaling)
    assert cls(seed=4).get_config() == {"seed": 4}


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 8), (2, 3, 4)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal_rows_or_columns_are_orthonormal(shape, gain):
    w = draw(Orthogonal(gain), shape)
    assert w.shape == shape
    m = w.reshape(-1, shape[-1]) / gain  # Keras flattens (..., n) to (rest, n)
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


# -- the names are the classes, and did not move ---------------------------------------------


NAMES = {
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal,
    "random_normal": RandomNormal,
    "normal": RandomNormal,
    "random_uniform": RandomUniform,
    "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "zeros": Zeros,
    "ones": Ones,
}


@pytest.mark.parametrize("name", sorted(NAMES))
@pytest.mark.parametrize("shape", [(7,), (3, 5), (5, 3), (2, 12), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_name_gives_the_values_of_its_class(name, shape, dtype):
    by_name = initializers.get(name)
    assert type(by_name) is NAMES[name]
    np.testing.assert_array_equal(draw(by_name, shape, dtype), draw(NAMES[name](), shape, dtype))
    function = getattr(initializers, name, None)
    if function is not None:  # the functions (shape, dtype, rng) the names stood for
        np.testing.assert_array_equal(
            function(shape, dtype, np.random.default_rng(0)), draw(NAMES[name](), shape, dtype)
        )


def _old_truncated(shape, stddev, rng):
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


def _old_orthogonal(shape, dtype, rng):
    rows, cols = shape[0], int(np.prod(shape[1:]))
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return (q.T if rows < cols else q).reshape(shape).astype(dtype)


OLD = {  # the names' functions before the classes, as they were written: saved models hold them
    "glorot_uniform": lambda s, d, rng: rng.uniform(
        -np.sqrt(6.0 / max(1, s[0] + s[-1])), np.sqrt(6.0 / max(1, s[0] + s[-1])), size=s
    ).astype(d),
    "he_normal": lambda s, d, rng: _old_truncated(
        s, np.sqrt(2.0 / max(1.0, s[0])) / TRUNCATED_STD, rng
    ).astype(d),
    "glorot_normal": lambda s, d, rng: _old_truncated(
        s, np.sqrt(1.0 / max(1.0, (s[0] + s[-1]) / 2.0)) / TRUNCATED_STD, rng
    ).astype(d),
    "lecun_uniform": lambda s, d, rng: rng.uniform(
        -np.sqrt(3.0 / max(1.0, s[0])), np.sqrt(3.0 / max(1.0, s[0])), size=s
    ).astype(d),
    "orthogonal": _old_orthogonal,
    "random_normal": lambda s, d, rng: (rng.standard_normal(size=s) * 0.05).astype(d),
    "truncated_normal": lambda s, d, rng: _old_truncated(s, 0.05, rng).astype(d),
    "uniform": lambda s, d, rng: rng.uniform(-0.05, 0.05, size=s).astype(d),
}


@pytest.mark.parametrize("name", sorted(OLD))
@pytest.mark.parametrize("shape", [(4,), (3, 8), (8, 3), (64, 256), (9, 9), (1, 5)])
def test_the_names_give_bit_for_bit_what_they_gave_before_the_classes(name, shape):
    for dtype in (np.float32, np.float64):
        got = initializers.get(name)(shape, dtype, np.random.default_rng(3))
        want = OLD[name](shape, dtype, np.random.default_rng(3))
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()


def _weights_equal(a, b):
    assert len(a.get_weights()) == len(b.get_weights())
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda **k: LSTM(6, seed=3, **k), (None, 4, 5)),
        (lambda **k: GRU(6, seed=3, **k), (None, 4, 5)),
        (lambda **k: SimpleRNN(6, seed=3, **k), (None, 4, 5)),
    ],
)
def test_a_recurrent_layer_with_default_instances_has_the_weights_of_the_names(make, shape):
    plain = make()
    classes = make(
        kernel_initializer=GlorotUniform(),
        recurrent_initializer=Orthogonal(),
        bias_initializer=Zeros(),
    )
    plain.build(shape)
    classes.build(shape)
    _weights_equal(plain, classes)


def test_dense_and_embedding_with_default_instances_have_the_weights_of_the_names():
    a, b = Dense(5, seed=2), Dense(5, kernel_initializer=GlorotUniform(), seed=2)
    a.build((None, 3))
    b.build((None, 3))
    _weights_equal(a, b)
    a, b = Embedding(9, 4, seed=2), Embedding(9, 4, embeddings_initializer=RandomUniform(), seed=2)
    a.build((None, 3))
    b.build((None, 3))
    _weights_equal(a, b)


# -- seeds -------------------------------------------------------------------------------------


def test_a_seeded_instance_gives_the_same_values_at_every_call():
    init = HeNormal(seed=5)
    first = init((4, 6))
    np.testing.assert_array_equal(init((4, 6)), first)
    np.testing.assert_array_equal(HeNormal(seed=5)((4, 6)), first)
    # its own seed, whatever generator a layer hands it
    np.testing.assert_array_equal(init((4, 6), "float32", np.random.default_rng(9)), first)
    assert not np.array_equal(HeNormal(seed=6)((4, 6)), first)


def test_an_unseeded_instance_called_directly_keeps_the_seed_it_drew():
    """Keras 3: an unseeded initializer gives the same values at every call."""
    init = RandomNormal()
    np.testing.assert_array_equal(init((50,)), init((50,)))
    assert not np.array_equal(RandomNormal()((50,)), init((50,)))  # another instance, another seed


@pytest.fixture
def global_seed():
    yield
    _arrays._global_seed[:] = [None, 0]  # fresh entropy again for the other tests


def test_set_random_seed_makes_unseeded_direct_calls_repeat(global_seed):
    utils.set_random_seed(11)
    first = GlorotUniform()((5, 5))
    utils.set_random_seed(11)
    np.testing.assert_array_equal(GlorotUniform()((5, 5)), first)


def test_an_unseeded_instance_in_a_layer_draws_from_the_layer_seed():
    init = GlorotNormal()  # one instance in three layers
    layers = [Dense(4, kernel_initializer=init, seed=s) for s in (1, 1, 2)]
    for layer in layers:
        layer.build((None, 6))
    np.testing.assert_array_equal(layers[0].kernel, layers[1].kernel)
    assert not np.array_equal(layers[0].kernel, layers[2].kernel)
    np.testing.assert_array_equal(layers[0].kernel, draw(GlorotNormal(), (6, 4), np.float32, 1))


def test_a_seeded_instance_in_a_layer_ignores_the_layer_seed_and_leaves_its_generator():
    """The seeded kernel is the same in layers of any seed; the weights after it come from the
    layer's seed, its generator not advanced by the seeded kernel."""
    a = LSTM(4, kernel_initializer=GlorotUniform(seed=7), seed=1)
    b = LSTM(4, kernel_initializer=GlorotUniform(seed=7), seed=2)
    for layer in (a, b):
        layer.build((None, 3, 5))
    np.testing.assert_array_equal(a.kernel, b.kernel)
    np.testing.assert_array_equal(a.kernel, GlorotUniform(seed=7)((5, 16)))
    assert not np.array_equal(a.recurrent_kernel, b.recurrent_kernel)
    np.testing.assert_array_equal(a.recurrent_kernel, draw(Orthogonal(), (4, 16), np.float32, 1))


def test_a_seeded_model_seeds_the_unseeded_instances():
    def model():
        return fastlstm.Sequential(
            [Input((3, 2)), LSTM(4, kernel_initializer=HeUniform()), Dense(1)], seed=5
        )

    _weights_equal(model(), model())


# -- layers ------------------------------------------------------------------------------------


def test_pretrained_embeddings_as_keras_writes_them():
    matrix = np.random.default_rng(1).standard_normal((20, 8)).astype(np.float32)
    layer = Embedding(20, 8, embeddings_initializer=Constant(matrix), trainable=False)
    model = fastlstm.Sequential([Input((5,)), layer, LSTM(3), Dense(1)], seed=0)
    np.testing.assert_array_equal(layer.embeddings, matrix)
    assert layer.trainable_weights == []
    model.compile("adam", "mse")
    x = np.random.default_rng(2).integers(0, 20, (8, 5))
    model.fit(x, np.zeros((8, 1)), epochs=1, verbose=0)
    np.testing.assert_array_equal(layer.embeddings, matrix)  # frozen


def test_a_constant_of_the_wrong_shape_names_the_argument_and_both_shapes():
    matrix = np.zeros((20, 8))
    with raises(ValueError, "embeddings_initializer", "(21, 8)", "(20, 8)"):
        Embedding(21, 8, embeddings_initializer=Constant(matrix))
    layer = Dense(3, kernel_initializer=Constant(np.zeros((4, 2))))
    with raises(ValueError, "kernel_initializer", "(4, 3)", "(4, 2)"):
        layer.build((None, 4))
    with raises(ValueError, "bias_initializer", "2-D", "(3,)"):
        Dense(3, bias_initializer=Identity()).build((None, 4))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Dense(3, kernel_initializer=Identity(2.0), bias_initializer=Constant(0.5)),
        lambda: LSTM(
            3,
            kernel_initializer=RandomNormal(0.1, 0.2, seed=1),
            recurrent_initializer=Orthogonal(gain=1.5),
            bias_initializer=Ones(),
            use_peepholes=True,
            peephole_initializer=Constant(0.25),
            proj_size=2,
            projection_initializer=LecunNormal(seed=3),
        ),
        lambda: GRU(3, kernel_initializer="GlorotNormal", bias_initializer=RandomUniform(0, 1)),
        lambda: Embedding(7, 3, embeddings_initializer={"class_name": "Ones", "config": {}}),
    ],
)
def test_layers_take_the_classes_and_their_configs_survive_json(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(config)
    assert again.get_config() == config
    shape = (None, 3) if isinstance(layer, (Dense, Embedding)) else (None, 2, 3)
    for l in (layer, again):
        l.seed = 4  # a model assigns unseeded layers their seed before the build
        l.build(shape)
    _weights_equal(layer, again)
    pickle.loads(pickle.dumps(layer))  # layers still pickle


def test_the_layer_config_holds_class_name_and_config():
    layer = LSTM(3, kernel_initializer=VarianceScaling(0.5, "fan_out", "uniform", seed=2))
    assert layer.get_config()["kernel_initializer"] == {
        "class_name": "VarianceScaling",
        "config": {"scale": 0.5, "mode": "fan_out", "distribution": "uniform", "seed": 2},
    }
    assert Dense(2).get_config()["kernel_initializer"] == "glorot_uniform"  # names stay names


def test_values_of_lstm_projection_and_peephole_initializers():
    layer = LSTM(
        4,
        use_peepholes=True,
        peephole_initializer=Constant(0.5),
        proj_size=2,
        projection_initializer=Identity(3.0),
        seed=0,
    )
    layer.build((None, 2, 3))
    np.testing.assert_array_equal(layer.peephole, np.full(12, 0.5, np.float32))
    np.testing.assert_array_equal(layer.projection, 3.0 * np.eye(4, 2, dtype=np.float32))


# -- model files -------------------------------------------------------------------------------


def every_class_model():
    return fastlstm.Sequential(
        [
            Input((5,)),
            Embedding(10, 4, embeddings_initializer=TruncatedNormal(0.0, 0.1, seed=1)),
            Bidirectional(
                LSTM(
                    3,
                    return_sequences=True,
                    kernel_initializer=VarianceScaling(2.0, "fan_avg", "untruncated_normal"),
                    recurrent_initializer=Orthogonal(0.9, seed=2),
                    bias_initializer=Constant(0.1),
                )
            ),
            GRU(
                3,
                kernel_initializer=HeNormal(),
                recurrent_initializer=Identity(0.5),
                bias_initializer=RandomNormal(0.0, 0.01, seed=3),
                return_sequences=True,
            ),
            TimeDistributed(
                Dense(2, kernel_initializer=LecunUniform(seed=4), bias_initializer=Zeros())
            ),
            SimpleRNN(2, kernel_initializer=GlorotNormal(seed=5), bias_initializer=Ones()),
            Dense(1, kernel_initializer=HeUniform(), bias_initializer=RandomUniform(-0.1, 0.1)),
        ],
        seed=8,
    )


def test_a_model_of_every_class_saves_and_loads():
    model = every_class_model()
    blob = saving.model_to_bytes(model)
    loaded = saving.model_from_bytes(blob)
    assert loaded.get_config() == model.get_config()
    _weights_equal(loaded, model)
    assert saving.model_to_bytes(loaded) == blob
    # and from its config alone, the same weights again (the seeds are in it)
    _weights_equal(
        fastlstm.Sequential.from_config(json.loads(json.dumps(model.get_config()))), model
    )


def test_a_constant_array_is_refused_at_save_naming_the_layer_and_the_way_out(tmp_path):
    matrix = np.ones((2000, 4))  # beyond the values a config holds
    assert matrix.size > initializers.MAX_SAVED_CONSTANT
    model = fastlstm.Sequential(
        [Input((5,)), Embedding(2000, 4, embeddings_initializer=Constant(matrix), name="glove")]
    )
    with pytest.raises(
        ValueError,
        match=r"layer 'glove': embeddings_initializer is a Constant "
        r"holding an array of shape \(2000, 4\).*weights=\[matrix\]",
    ):
        saving.model_to_bytes(model)
    # A checkpoint says so before training, not after the first epoch (and trains nothing)
    model.add(fastlstm.layers.Dense(1))
    model.compile("sgd", "mse")
    before = model.get_weights()
    checkpoint = fastlstm.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))
    x, y = np.ones((4, 5)), np.ones((4, 5, 1))
    with pytest.raises(ValueError, match=r"layer 'glove': embeddings_initializer is a Constant"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    # A small array (a bias's values) is kept in the config, as Keras keeps it
    wrapped = fastlstm.Sequential(
        [
            Input((3, 2)),
            Bidirectional(
                LSTM(2, unit_forget_bias=False, bias_initializer=Constant(np.arange(8.0)))
            ),
        ]
    )
    loaded = saving.model_from_bytes(saving.model_to_bytes(wrapped))
    _weights_equal(loaded, wrapped)
    fresh = fastlstm.models.clone_model(loaded)  # made again from the saved config
    np.testing.assert_array_equal(fresh.layers[0].forward_layer.bias, np.arange(8.0))
    # the way out: the same weights, given as weights, save
    good = fastlstm.Sequential([Input((5,)), Embedding(2000, 4, weights=[matrix], trainable=False)])
    _weights_equal(saving.model_from_bytes(saving.model_to_bytes(good)), good)
    # in memory, the config round trip holds the array (as Keras's does)
    clone = fastlstm.models.clone_model(model)
    np.testing.assert_array_equal(clone.layers[0].get_weights()[0], matrix)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"class_name": "builtins.eval", "config": {}}, "class_name among"),
        ({"class_name": "Initializer", "config": {}}, "class_name among"),
        ({"class_name": "Zeros", "config": {"value": 1}}, "config keys among"),
        ({"class_name": "Orthogonal", "config": {"gain": "1"}}, "gain: expected"),
        ({"class_name": "Orthogonal", "config": [1]}, "config as a dict"),
        ({"class_name": "Zeros", "config": {}, "import": "os"}, "the keys class_name and config"),
        ("exec", "expected one of"),
    ],
)
def test_a_file_naming_an_unknown_initializer_is_refused(spec, reason):
    model = fastlstm.Sequential([Input((3, 2)), LSTM(2)], seed=0)

    def change(header):
        header["model"]["config"]["layers"][0]["config"]["kernel_initializer"] = spec

    with pytest.raises(ValueError, match=rf"not a valid fastlstm model file: .*{reason}"):
        saving.model_from_bytes(with_header(saving.model_to_bytes(model), change))


# -- get, serialize, deserialize ---------------------------------------------------------------


def test_get_takes_what_keras_get_takes():
    assert initializers.get(None) is None
    assert type(initializers.get("glorot_uniform")) is GlorotUniform
    assert type(initializers.get("GlorotUniform")) is GlorotUniform
    assert type(initializers.get("OrthogonalInitializer")) is Orthogonal
    assert type(initializers.get(HeNormal)) is HeNormal
    instance = Orthogonal(gain=2.0)
    assert initializers.get(instance) is instance
    config = {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 0.5, "seed": 3}}
    assert initializers.get(config) == RandomNormal(1.0, 0.5, seed=3)

    def fn(shape, dtype=None):
        return np.zeros(shape)

    assert initializers.get(fn) is fn
    with raises(ValueError, "initializer", "glorot_uniform", "'nope'"):
        initializers.get("nope")
    with raises(ValueError, "kernel_initializer", "glorot_uniform", "3"):
        initializers.get(3, "kernel_initializer")


@pytest.mark.parametrize(
    "init",
    [
        Constant(2),
        Constant([[1.0, 2.0]]),
        Zeros(),
        Ones(),
        Identity(0.5),
        RandomNormal(0.5, 2.0, seed=1),
        RandomUniform(-2.0, 1.0),
        TruncatedNormal(seed=2),
        VarianceScaling(3.0, "fan_out", "untruncated_normal", seed=3),
        GlorotUniform(seed=4),
        GlorotNormal(),
        HeUniform(),
        HeNormal(seed=5),
        LecunUniform(),
        LecunNormal(),
        Orthogonal(gain=2.0, seed=6),
    ],
    ids=repr,
)
def test_config_round_trips(init):
    spec = json.loads(json.dumps(initializers.serialize(init)))
    assert spec["class_name"] == type(init).__name__
    again = initializers.deserialize(spec)
    assert again == init
    assert type(again) is type(init)
    assert type(init).from_config(init.get_config()) == init
    assert init.clone() == init
    np.testing.assert_array_equal(draw(again, (3, 2)), draw(init, (3, 2)))


def test_a_callable_of_ones_own_still_cannot_be_saved():
    class Mine(initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 0.5)

    layer = Dense(2, kernel_initializer=Mine(), name="mine")
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.kernel, np.full((3, 2), 0.5, np.float32))
    with pytest.raises(ValueError, match=r"get_config: layer 'mine''s kernel_initializer is a "):
        layer.get_config()


# -- bad arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exc", "name", "expected", "got"),
    [
        (lambda: Constant("a"), TypeError, "value", "real number", "'a'"),
        (lambda: Constant(True), TypeError, "value", "real number", "True"),
        (lambda: Constant(float("nan")), ValueError, "value", "finite", "nan"),
        (lambda: Constant([1.0, np.inf]), ValueError, "value", "finite", "inf"),
        (lambda: Identity(gain="2"), TypeError, "gain", "finite number", "'2'"),
        (lambda: RandomNormal(stddev=-1.0), ValueError, "stddev", ">= 0", "-1.0"),
        (lambda: RandomNormal(mean=None), TypeError, "mean", "finite number", "None"),
        (lambda: TruncatedNormal(stddev=np.inf), ValueError, "stddev", ">= 0", "inf"),
        (lambda: RandomUniform(1.0, 0.0), ValueError, "maxval", ">= 1", "0.0"),
        (lambda: VarianceScaling(scale=0.0), ValueError, "scale", "> 0", "0.0"),
        (lambda: VarianceScaling(mode="fan"), ValueError, "mode", "fan_avg", "'fan'"),
        (lambda: VarianceScaling(mode=1), TypeError, "mode", "fan_in", "1"),
        (
            lambda: VarianceScaling(distribution="gauss"),
            ValueError,
            "distribution",
            "uniform",
            "'gauss'",
        ),
        (lambda: GlorotUniform(seed=-1), ValueError, "seed", "non-negative integer", "-1"),
        (lambda: HeNormal(seed=1.5), TypeError, "seed", "non-negative integer", "1.5"),
        (lambda: Orthogonal(seed="1"), TypeError, "seed", "non-negative integer", "'1'"),
        (lambda: Orthogonal(gain=np.nan), ValueError, "gain", "finite number", "nan"),
    ],
)
def test_bad_constructor_arguments_are_named(make, exc, name, expected, got):
    with raises(exc, name, expected, got):
        make()


@pytest.mark.parametrize(
    ("call", "exc", "name", "expected", "got"),
    [
        (lambda: Zeros()("3"), TypeError, "shape", "tuple of sizes", "'3'"),
        (lambda: Zeros()((2, -1)), ValueError, "shape", "tuple of sizes", "-1"),
        (lambda: Ones()((2.0, 3)), TypeError, "shape", "tuple of sizes", "2.0"),
        (lambda: GlorotUniform()((2, 3), "int32"), TypeError, "dtype", "float32", "int32"),
        (lambda: GlorotUniform()((2, 3), None, 5), TypeError, "rng", "Generator", "5"),
        (lambda: Identity()((2, 2, 2)), ValueError, "shape", "2-D", "(2, 2, 2)"),
        (lambda: Orthogonal()(()), ValueError, "shape", "at least one dimension", "()"),
        (lambda: Constant(np.ones(3))((2, 4)), ValueError, "value", "(2, 4)", "(3,)"),
    ],
)
def test_bad_call_arguments_are_named(call, exc, name, expected, got):
    with raises(exc, name, expected, got):
        call()


@pytest.mark.parametrize(
    ("value", "expected", "got"),
    [
        ({"class_name": "Nope"}, "class_name among", "'Nope'"),
        ({"class_name": "HeNormal", "config": {"scale": 2.0}}, "config keys among", "['scale']"),
        ("GlorotUniformish", "glorot_uniform", "'GlorotUniformish'"),
        (None, "zeros", "None"),
    ],
)
def test_bad_layer_initializers_are_named(value, expected, got):
    with raises(ValueError, "kernel_initializer", expected, got):
        Dense(2, kernel_initializer=value)
