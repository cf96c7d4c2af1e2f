"""The sequence-to-sequence addition example: its questions and answers say what they stand
for, no test question is one it trained on, and the encoder-decoder answers unseen questions
where the decoder alone cannot."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("addition_seq2seq")


def test_questions_and_answers_spell_the_sums(example):
    train, test = example.split(7000, np.random.default_rng(4))
    assert len(train) == 7000
    assert len(test) == 3000
    assert not {tuple(p) for p in train} & {tuple(p) for p in test}
    questions, answers = example.questions_and_answers(test)
    for (a, b), q, s in zip(test, questions, answers):
        assert len(q) == example.QUESTION
        assert len(s) == example.ANSWER
        left, right = q[::-1].split("+")
        assert (int(left), int(right)) == (a, b)
        assert int(s) == a + b
    x = example.one_hot(questions)
    assert x.shape == (3000, example.QUESTION, len(example.CHARS))
    np.testing.assert_array_equal(x.sum(axis=-1), 1.0)
    inputs, targets = example.teacher_forcing(answers)
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])  # the answer, one step late
    assert np.all(inputs[:, 0, example.INDEX["\t"]] == 1)


def test_the_encoders_state_carries_the_question(example, capsys):
    results = example.main(["--epochs", "20"])
    exact, chars = results["encoder-decoder"]
    alone_exact, alone_chars = results["decoder alone"]
    assert exact > 0.8
    assert chars > 0.9
    assert alone_exact < 0.05
    assert alone_chars < 0.5
    assert "unseen ones to answer" in capsys.readouterr().out
