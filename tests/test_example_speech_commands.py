"""The speech-commands example: its recordings are the sounds it describes, and the LSTM hears
the order that the average frame cannot."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("speech_commands")


@pytest.fixture(scope="module")
def run(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "speech.png"
    return example.main(["--test", "500", "--out", str(out)]), out


def test_a_recording_is_silence_its_sounds_in_order_and_silence(example):
    x = example.record("no", np.random.default_rng(3))
    assert x.dtype == np.float32
    assert x.shape[1] == example.BANDS
    loud = x.sum(axis=1) > 3  # frames where a sound is (noise alone sums to about 1 or less)
    assert not loud[:2].any()
    assert not loud[-2:].any()
    # the n's peak at band 16 comes before the o's at band 4, whatever the speaker
    frames_n = np.flatnonzero(x[:, 15:18].max(axis=1) > 0.5)
    frames_o = np.flatnonzero(x[:, 3:5].max(axis=1) > 0.5)
    assert frames_n.mean() < frames_o.mean()


def test_anagrams_have_the_same_average_frame_but_not_the_same_order(example):
    no = example.record("no", np.random.default_rng(5))
    on = example.record("on", np.random.default_rng(5))  # the same speaker, sounds swapped
    assert no.shape == on.shape
    np.testing.assert_allclose(np.sort(no.sum(axis=0)), np.sort(on.sum(axis=0)), rtol=0.2)
    assert not np.allclose(no, on, atol=0.5)


def test_pad_leaves_zeros_after_each_recording(example):
    x = example.pad([np.ones((3, example.BANDS)), np.ones((5, example.BANDS))], 6)
    assert x.shape == (2, 6, example.BANDS)
    np.testing.assert_array_equal(x[0, 3:], 0)
    np.testing.assert_array_equal(x[1, :5], 1)


def test_the_lstm_hears_the_order(run, example):
    result, out = run
    assert result["accuracy"]["BiLSTM"] > 0.97
    assert result["accuracy"]["average frame"] < 0.9
    matrix = result["confusion"]["average frame"]
    no, on = example.NAMES.index("no"), example.NAMES.index("on")
    mistakes = matrix.sum() - np.trace(matrix)
    said_no_or_on = matrix[[no, on]].sum() - matrix[no, no] - matrix[on, on]
    assert said_no_or_on > 0.6 * mistakes  # the anagrams are where it fails
    assert matrix[no, on] + matrix[on, no] > 0.3 * mistakes
    # matplotlib is optional (not a test dependency): the plot is there exactly when it is
    assert out.exists() == (importlib.util.find_spec("matplotlib") is not None)
