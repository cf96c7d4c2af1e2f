"""The session-recommendation example: its sessions follow the journeys it describes, its
recall matches the model's own metric, and the GRU knows what a next-item table cannot."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("session_recommendation")


@pytest.fixture(scope="module")
def run(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "sessions.png"
    return example.main(["--test", "500", "--out", str(out)]), out


def test_sessions_run_through_the_journey_their_start_fixes(example):
    sessions, third = example.make_sessions(300, np.random.default_rng(2))
    for items, entered in zip(sessions, third):
        cats = example.category(items)
        assert items.min() >= 1
        assert items.max() <= example.ITEMS
        changes = np.flatnonzero(np.diff(cats)) + 1  # where a new category starts
        assert len(changes) == 2
        assert changes[1] == entered
        segments = np.split(cats, changes)
        assert [s[0] for s in segments] == [
            (cats[0] + offset) % example.CATEGORIES for offset in example.JOURNEY
        ]
        low, high = example.SEGMENT
        assert all(low <= len(s) <= high for s in segments)


def test_pad_shifts_targets_by_one(example):
    x, y = example.pad([np.array([5, 6, 7]), np.array([9, 8])])
    np.testing.assert_array_equal(x, [[5, 6], [9, 0]])
    np.testing.assert_array_equal(y, [[6, 7], [8, 0]])


def test_recall_at_k_counts_ties_with_the_kth(example):
    scores = np.zeros((1, 1, example.ITEMS + 1))
    scores[0, 0, 1 : example.K + 1] = 1.0  # items 1..K score highest
    y = np.array([[3]])
    assert example.recall_at_k(scores, y, (np.array([0]), np.array([0]))) == 1.0
    y = np.array([[example.K + 1]])
    assert example.recall_at_k(scores, y, (np.array([0]), np.array([0]))) == 0.0


def test_the_gru_knows_where_the_session_goes_next(run):
    result, out = run
    gru, table, popular = (result["all"][k] for k in ("GRU", "next-item table", "popularity"))
    assert result["metric"] == pytest.approx(gru, abs=1e-9)  # the metric's recall, recomputed
    assert gru > table + 0.02
    assert table > popular + 0.4
    into = result["third"]
    assert into["GRU"] > 1.6 * into["next-item table"]
    # matplotlib is optional (not a test dependency): the plot is there exactly when it is
    assert out.exists() == (importlib.util.find_spec("matplotlib") is not None)
