"""The masked-classification example: its data, and that the mask makes padding invisible."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from conftest import load_example

# A short run: T = 20, 1000 training sequences, 3 epochs at a higher learning rate; the masked
# model reached 1.000 test accuracy on seeds 0-3 and the run takes a few seconds.
QUICK = ["--length", "20", "--train", "1000", "--test", "200", "--epochs", "3"]
QUICK += ["--learning-rate", "0.01", "--seed", "1"]


@pytest.fixture(scope="module")
def example():
    return load_example("masked_classification")


@pytest.fixture(scope="module")
def quick_run(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "masked.png"
    return example.main([*QUICK, "--out", str(out)]), out


def test_sequences_hold_one_a_and_one_b(example):
    seqs, y = example.make_sequences(300, 12, np.random.default_rng(4))
    assert y.shape == (300, 1)
    assert y.dtype == np.float32
    assert {len(s) for s in seqs} <= set(range(example.MIN_LENGTH, 13))
    assert len({len(s) for s in seqs}) > 5  # lengths really vary
    for seq, label in zip(seqs, y[:, 0]):
        assert np.sum(seq == example.A) == 1
        assert np.sum(seq == example.B) == 1
        assert np.all(seq != example.PAD)
        assert label == (np.argmax(seq == example.A) < np.argmax(seq == example.B))
    assert 0.35 < y.mean() < 0.65  # both classes, about evenly


def test_pad_puts_zeros_on_the_chosen_side(example):
    seqs = [np.array([5, 1, 2]), np.array([3, 4, 2, 1, 6])]
    np.testing.assert_array_equal(example.pad(seqs, 6), [[5, 1, 2, 0, 0, 0], [3, 4, 2, 1, 6, 0]])
    np.testing.assert_array_equal(
        example.pad(seqs, 6, "left"), [[0, 0, 0, 5, 1, 2], [0, 3, 4, 2, 1, 6]]
    )
    with pytest.raises(ValueError, match="more than length 4"):
        example.pad(seqs, 4)
    with pytest.raises(ValueError, match="side"):
        example.pad(seqs, 6, "middle")


def test_masked_model_learns_the_task(quick_run):
    result, _ = quick_run
    for variant, accuracy in result["accuracy"]["masked"].items():
        assert accuracy >= 0.9, variant  # chance is 0.5
    assert result["history"]["masked"]["val_accuracy"][-1] >= 0.9


def test_masked_predictions_do_not_depend_on_padding(quick_run):
    # Every padding gives the probabilities of the sequence run alone (a batch of one).
    result, _ = quick_run
    probs = result["probabilities"]["masked"]
    alone = probs["alone"]
    assert alone.shape == (200,)
    for variant, p in probs.items():
        np.testing.assert_allclose(p, alone, rtol=0, atol=1e-5, err_msg=variant)
    assert result["max_change"]["masked"] <= 1e-5


def test_masked_model_ignores_any_amount_of_padding_on_both_sides(example, quick_run):
    # Independently of the example's own variants: pad each test sequence with random amounts on
    # both sides at once, in one batch, and compare with the sequence alone.
    model = quick_run[0]["models"]["masked"]
    rng = np.random.default_rng(7)
    seqs, _ = example.make_sequences(40, 20, rng)
    width = 45
    x = np.zeros((len(seqs), width), np.int64)
    for i, seq in enumerate(seqs):
        start = rng.integers(0, width - len(seq) + 1)
        x[i, start : start + len(seq)] = seq
    batched = model.predict(x, verbose=0)[:, 0]
    alone = np.array([model.predict_on_batch(seq[None])[0, 0] for seq in seqs])
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-5)


def test_unmasked_model_sees_the_padding(quick_run):
    # Without the mask the pad token is input: other padding, other probabilities.
    result, _ = quick_run
    assert result["max_change"]["unmasked"] > 0.05
    probs = result["probabilities"]["unmasked"]
    assert not np.allclose(probs["left, T"], probs["right, T"], atol=1e-3)


def test_prints_the_table_and_saves_the_plot(example, tmp_path, capsys):
    has_plotting = importlib.util.find_spec("matplotlib") is not None
    out = tmp_path / "small.png"
    result = example.main(
        ["--length", "8", "--train", "64", "--test", "16", "--epochs", "1", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert "test accuracy by padding" in printed
    assert "right-padded to 8 (as trained)" in printed
    assert "left-padded to 16" in printed
    assert "each sequence alone, no padding" in printed
    assert "masked: the same probabilities under every padding" in printed
    assert result["plot"] == has_plotting
    assert out.exists() == has_plotting
    if has_plotting:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plot saved to {out}" in printed


def test_without_matplotlib_still_prints(example, tmp_path, capsys, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "none.png"
    result = example.main(
        ["--length", "8", "--train", "64", "--test", "16", "--epochs", "1", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert not result["plot"]
    assert not out.exists()
    assert "matplotlib is not installed" in printed
    assert "test accuracy by padding" in printed


def test_same_seed_same_run(example, tmp_path):
    args = ["--length", "10", "--train", "128", "--test", "32", "--epochs", "2", "--seed", "5"]
    first = example.main([*args, "--out", str(tmp_path / "a.png")])
    second = example.main([*args, "--out", str(tmp_path / "b.png")])
    assert first["history"] == second["history"]
    for name in ("masked", "unmasked"):
        for variant, p in first["probabilities"][name].items():
            np.testing.assert_array_equal(p, second["probabilities"][name][variant])
