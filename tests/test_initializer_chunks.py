"""The random initialisers draw a weight chunk by chunk (fastlstm._initializer_classes._CHUNK
values at a time): the values of one draw of the whole weight, bit for bit, with float64
temporaries of one chunk, not of the weight (an Embedding of 10^6 x 128 had peaked at three
times its float32 size)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from fastlstm import _initializer_classes as classes
from fastlstm.initializers import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    LecunUniform,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)

RANDOM = [
    RandomNormal(0.3, 2.0, seed=4),
    RandomNormal(seed=4),
    TruncatedNormal(-1.0, 0.5, seed=4),
    TruncatedNormal(seed=4),
    RandomUniform(-0.2, 0.7, seed=4),
    GlorotUniform(seed=4),
    GlorotNormal(seed=4),
    HeNormal(seed=4),
    LecunUniform(seed=4),
    VarianceScaling(2.0, "fan_avg", "untruncated_normal", seed=4),
]


@pytest.mark.parametrize("init", RANDOM, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunks_give_the_values_of_one_draw(init, dtype, monkeypatch):
    """(37, 113) in one chunk and in chunks of 50 and 7 values: the truncated normals' redraws
    (about 1 value in 22 out of range) fall in other chunks than their first draws."""
    whole = init((37, 113), dtype)
    for chunk in (50, 7):
        monkeypatch.setattr(classes, "_CHUNK", chunk)
        chunked = init((37, 113), dtype)
        assert chunked.dtype == dtype
        assert chunked.tobytes() == whole.tobytes()


def test_uniform_and_normal_are_the_generators_values_cast():
    """The seeded generator's stream, as NumPy draws it whole in float64, cast to float32."""
    rng = np.random.default_rng(4)
    want = rng.uniform(-0.2, 0.7, size=(300, 50)).astype(np.float32)
    np.testing.assert_array_equal(RandomUniform(-0.2, 0.7, seed=4)((300, 50)), want)
    rng = np.random.default_rng(4)
    want = (rng.standard_normal((300, 50)) * 2.0 + 0.3).astype(np.float32)
    np.testing.assert_array_equal(RandomNormal(0.3, 2.0, seed=4)((300, 50)), want)


@pytest.mark.parametrize(
    "init",
    [RandomUniform(seed=1), TruncatedNormal(seed=1), GlorotUniform(seed=1), GlorotNormal(seed=1)],
    ids=repr,
)
def test_a_large_weight_takes_little_more_memory_than_itself(init):
    """A (2048, 2048) float32 weight (16 MiB) drawn whole in float64 had peaked at 5 times its
    size (the draw, its scaled copy, the cast); in chunks of 8 MiB of float64, under 2.5."""
    tracemalloc.start()
    try:
        w = init((2048, 2048), np.float32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * w.nbytes
    assert 0.01 < w.std() < 0.1  # drawn, not left empty
