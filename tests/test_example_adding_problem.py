"""The adding-problem example's data generator: shapes, exactly two markers, target = sum."""

from __future__ import annotations

import numpy as np

from conftest import load_example


def test_adding_problem_data():
    example = load_example("adding_problem")
    x, y = example.adding_data(64, 20, np.random.default_rng(3))
    assert x.shape == (64, 20, 2)
    assert y.shape == (64, 1)
    assert x.dtype == y.dtype == np.float32
    markers = x[:, :, 1]
    assert set(np.unique(markers)) <= {0.0, 1.0}
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :10].sum(axis=1) == 1)  # one marker in each half
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=1), rtol=1e-6)
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))
