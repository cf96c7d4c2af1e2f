"""The character-level language model example: its text, baselines and sampler, and a short run
that must learn (loss falling, below the unigram baseline), sample valid text and be repeatable."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest

from conftest import load_example

# A short run (about 3 s on 2 cores): 60,000 characters, LSTM(64), 3 epochs of batches of 16.
QUICK = ["--chars", "60000", "--epochs", "3", "--units", "64", "--batch-size", "16"]
# A tiny run (well under a second) for the checks that need no learning.
TINY = ["--chars", "8000", "--steps", "16", "--epochs", "2", "--units", "8", "--length", "30"]


@pytest.fixture(scope="module")
def example():
    return load_example("char_lm")


def test_text_comes_from_the_standard_library(example):
    train, val = example.load_text(24_000)
    assert (train, val) == example.load_text(24_000)  # the same selection every time
    assert 0 < len(train) + len(val) <= 24_000
    assert 0.08 < len(val) / (len(train) + len(val)) < 0.12  # HELD_OUT of each module
    assert set(train + val) <= example.KEPT | {example.UNKNOWN}
    assert "def " in train  # Python source, not something else
    assert "import " in train


def test_windows_targets_are_the_next_characters(example):
    ids = np.arange(50)
    x, y = example.windows(ids, 7)
    assert x.shape == y.shape == (7, 7)  # (50 - 1) // 7 whole windows
    np.testing.assert_array_equal(x.ravel(), ids[:49])
    np.testing.assert_array_equal(y, x + 1)


def test_ngram_baselines_against_direct_counts(example):
    rng = np.random.default_rng(0)
    train, val, V = rng.integers(0, 4, 500), rng.integers(0, 4, 100), 5
    # unigram: add-one smoothed frequencies, symbol 4 never seen
    freq = {s: (np.sum(train == s) + 1) / (len(train) + V) for s in range(V)}
    expected = -np.mean([math.log2(freq[s]) for s in val])
    assert example.ngram_bits(train, val, V, 1) == pytest.approx(expected, rel=1e-12)
    # bigram: add-one smoothed P(b | a), counted pair by pair
    pairs = list(zip(train[:-1], train[1:]))
    after = {a: sum(1 for p, _ in pairs if p == a) for a in range(V)}
    bits = [
        -math.log2((pairs.count((a, b)) + 1) / (after[a] + V)) for a, b in zip(val[:-1], val[1:])
    ]
    assert example.ngram_bits(train, val, V, 2) == pytest.approx(np.mean(bits), rel=1e-12)
    # one symbol only: a unigram model is then certain, up to the smoothing
    assert example.ngram_bits(np.zeros(1000, int), np.zeros(10, int), 2, 1) < 0.002


def test_sampler_steps_match_the_whole_sequence(example):
    # The stateful twin fed piece by piece must give the logits of the trained model run on
    # the whole sequence at once: the state is carried across calls and the weights copied.
    vocab = "abcdefgh"
    model = example.build_model(len(vocab), 12, seed=4, learning_rate=0.01)
    model.build((None, None))
    ids = np.random.default_rng(1).integers(0, len(vocab), 20)
    whole = model.predict(ids[None], verbose=0)[0]
    sampler = example.Sampler(model, vocab, 12)
    sampler.twin.layers[1].reset_states()
    pieces = [sampler.logits(ids[:6])] + [sampler.logits(ids[t : t + 1]) for t in range(6, 20)]
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=1e-5, atol=1e-5)
    # sample() starts from a fresh state: the same generator gives the same text twice
    first = sampler.sample("abc", 25, 1.0, np.random.default_rng(7))
    assert first == sampler.sample("abc", 25, 1.0, np.random.default_rng(7))
    assert len(first) == 25
    assert set(first) <= set(vocab)


def test_example_learns_and_samples(example, tmp_path, capsys):
    out = tmp_path / "char_lm.png"
    result = example.main([*QUICK, "--length", "120", "--out", str(out)])
    printed = capsys.readouterr().out

    train, val = result["train_bits"], result["val_bits"]
    assert len(train) == len(val) == 3
    assert all(math.isfinite(v) for v in train + val)
    # untrained, the logits are near zero: about log2(V) bits, the uniform guess
    assert abs(result["untrained_bits"] - math.log2(len(result["vocab"]))) < 0.2
    assert train[-1] < train[0] - 0.5
    assert val[-1] < val[0] - 0.3
    # over seeds 0-7 the last validation value was 3.36-3.47 bits, the unigram baseline 4.59:
    # the network must beat the baseline clearly, not just match it
    assert result["bigram_bits"] < result["unigram_bits"] < result["untrained_bits"]
    assert val[-1] < result["unigram_bits"] - 0.5

    assert sorted(result["samples"]) == [1, 2, 3]  # first, middle and last epoch
    for text in result["samples"].values():
        assert len(text) == 120
        assert set(text) <= set(result["vocab"])
    assert "sample after epoch 3" in printed
    assert "unigram" in printed
    assert "bigram" in printed

    if importlib.util.find_spec("matplotlib") is not None:
        assert result["plot"]
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_run(example, tmp_path, capsys):
    first = example.main([*TINY, "--seed", "5", "--out", str(tmp_path / "a.png")])
    second = example.main([*TINY, "--seed", "5", "--out", str(tmp_path / "b.png")])
    other = example.main([*TINY, "--seed", "6", "--out", str(tmp_path / "c.png")])
    capsys.readouterr()
    assert first["train_bits"] == second["train_bits"]
    assert first["val_bits"] == second["val_bits"]
    assert first["samples"] == second["samples"]
    assert first["train_bits"] != other["train_bits"]  # the seed is used, not ignored


def test_example_without_matplotlib_still_prints(example, tmp_path, capsys, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "none.png"
    result = example.main([*TINY, "--out", str(out)])
    printed = capsys.readouterr().out

    assert not result["plot"]
    assert not out.exists()
    assert "matplotlib is not installed" in printed
    assert "epoch  2" in printed
    assert len(result["val_bits"]) == 2


@pytest.mark.parametrize(
    "args", [["--steps", "1"], ["--temperature", "0"], ["--chars", "100"], ["--epochs", "0"]]
)
def test_bad_arguments_are_refused(example, args, capsys):
    with pytest.raises(SystemExit):
        example.main(args)
    assert "error" in capsys.readouterr().err
