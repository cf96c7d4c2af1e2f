"""The serving example: the three ways of answering a request agree, and each is timed."""

from __future__ import annotations

import pytest

from conftest import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("serving")


def test_a_short_run_agrees_and_times_every_way(example, capsys):
    result = example.main(["--steps", "12", "--inputs", "9", "--units", "40", "--requests", "20"])
    assert result["max_difference"] <= 1e-5
    ways = {"layer(x)", "fastlstm.lstm", "stream.run", "stream.step (per frame)"}
    assert set(result["latency_us"]) == ways
    for p50, p99 in result["latency_us"].values():
        assert 0 < p50 <= p99
    printed = capsys.readouterr().out
    assert all(way in printed for way in ways)


def test_sizes_below_one_are_refused(example):
    with pytest.raises(SystemExit) as info:
        example.main(["--requests", "0"])
    assert info.value.code == 2
