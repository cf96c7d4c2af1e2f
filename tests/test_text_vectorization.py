"""TextVectorization: Keras's text-to-ids layer in NumPy. Its rules are checked on texts whose
answers are counted here by hand (frequencies, ties, n-grams, OOV, padding), with a dataset of
batches, a vocabulary file, the refusals, and a text classifier fed its ids."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm.layers import LSTM, Dense, Embedding, Input, TextVectorization

TEXTS = ["The cat sat on the mat.", "The dog ate the cat!", "A cat, a dog."]


def test_adapt_orders_by_frequency_and_maps_to_ids():
    layer = TextVectorization(max_tokens=10, output_sequence_length=6)
    layer.adapt(TEXTS)
    # the 4, cat 3, then a and dog 2 (the later in code-point order first), then those seen
    # once, the later first, cut at max_tokens = 2 reserved + 8
    vocabulary = ["", "[UNK]", "the", "cat", "dog", "a", "sat", "on", "mat", "ate"]
    assert layer.get_vocabulary() == vocabulary
    assert layer.get_vocabulary(include_special_tokens=False) == vocabulary[2:]
    assert layer.vocabulary_size() == 10
    ids = layer(["the cat AND the dog!", "zebra", "the " * 9])
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [[2, 3, 1, 2, 4, 0], [1, 0, 0, 0, 0, 0], [2] * 6])
    # without output_sequence_length: the batch's longest, the rest padded with 0
    free = TextVectorization(vocabulary=vocabulary[2:])
    np.testing.assert_array_equal(free(["cat", "a dog ate"]), [[3, 0, 0], [5, 4, 9]])


def test_multi_hot_count_and_ngrams():
    counts = TextVectorization(output_mode="count", ngrams=2)
    counts.adapt(["a b a", "b c"])
    # a, b twice; c, "a b", "b a", "b c" once; "[UNK]" at 0 (no mask token in these modes)
    assert counts.get_vocabulary() == ["[UNK]", "b", "a", "c", "b c", "b a", "a b"]
    np.testing.assert_array_equal(counts(["a b a b", "d"]), [[0, 2, 2, 0, 0, 1, 2], [1] + [0] * 6])
    hot = TextVectorization(output_mode="multi_hot", ngrams=(2,), vocabulary=["a b", "b a"])
    hot_pad = TextVectorization(
        output_mode="multi_hot", max_tokens=6, pad_to_max_tokens=True, vocabulary=["x"]
    )
    np.testing.assert_array_equal(hot(["a b a b", "a"]), [[0, 1, 1], [0, 0, 0]])
    assert hot_pad(["x y"]).tolist() == [[1, 1, 0, 0, 0, 0]]


def test_standardize_and_split_choices_and_functions():
    raw = TextVectorization(standardize=None, split="character", vocabulary=["A", "b"])
    np.testing.assert_array_equal(raw(["Ab", "ab"]), [[2, 3], [1, 3]])
    lower = TextVectorization(standardize="lower", vocabulary=["hi!"])
    np.testing.assert_array_equal(lower(["HI! hi"]), [[2, 1]])
    strip = TextVectorization(standardize="strip_punctuation", split=None, vocabulary=["Hi you"])
    np.testing.assert_array_equal(strip(["Hi, you.", "hi you"]), [[2], [1]])
    custom = TextVectorization(standardize=str.upper, split=lambda t: t.split("-"))
    custom.adapt(["a-b-b"])
    assert custom.get_vocabulary() == ["", "[UNK]", "B", "A"]
    with pytest.raises(TypeError, match="cannot be written into a config"):
        custom.get_config()
    again = TextVectorization.from_config(raw.get_config())
    assert again.get_vocabulary() == raw.get_vocabulary()


def test_adapt_from_a_dataset_of_batches_and_a_vocabulary_file(tmp_path):
    def batches():
        yield (np.array(["b b b", "a"]), np.array([0, 1]))  # (x, y): its x
        yield (np.array(["a c"]), np.array([1]))
        yield (np.array(["z z z z z"]), np.array([0]))  # past steps=2: not read

    layer = TextVectorization()
    layer.adapt(batches(), steps=2)
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a", "c"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(layer.get_vocabulary()), encoding="utf-8")
    from_file = TextVectorization(vocabulary=str(path))  # the reserved ones given: taken as such
    assert from_file.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_array_equal(from_file(np.array([["c a"]])), [[4, 3]])  # a (N, 1) column


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"output_mode": "tf_idf"}, ValueError, "output_mode"),
        ({"output_mode": "count", "output_sequence_length": 4}, ValueError, "only output_mode"),
        ({"max_tokens": 1}, ValueError, "max_tokens"),
        ({"pad_to_max_tokens": True}, ValueError, "pad_to_max_tokens: True needs max_tokens"),
        ({"standardize": "upper"}, ValueError, "standardize"),
        ({"ragged": True}, ValueError, "ragged: expected False"),
        ({"vocabulary": ["a", "a"]}, ValueError, "'a' is listed more than once"),
        ({"vocabulary": ["a", "[UNK]"]}, ValueError, r"vocabulary\[1\]: '\[UNK\]' is reserved"),
        ({"max_tokens": 3, "vocabulary": ["a", "b"]}, ValueError, "more than max_tokens=3"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        TextVectorization(**kwargs)


def test_a_model_refuses_it_and_a_text_classifier_trains_on_its_ids():
    layer = TextVectorization(output_sequence_length=5)
    with pytest.raises(TypeError, match="apply it to the data before fit"):
        fastlstm.Sequential([layer, Embedding(10, 4), LSTM(4)])
    with pytest.raises(TypeError, match="a model takes numbers only"):
        layer(Input(shape=(1,)))
    with pytest.raises(TypeError, match=r"x\[1\]: expected a str, got int"):
        layer(["fine", 3])
    rng = np.random.default_rng(4)
    words = ["good", "great", "fine", "bad", "awful", "poor", "the", "movie", "was", "plot"]
    texts, labels = [], []
    for _ in range(200):
        positive = rng.random() < 0.5
        mood = rng.choice(words[:3] if positive else words[3:6])
        filler = rng.choice(words[6:], size=3)
        texts.append(" ".join([*filler[:2], mood, filler[2]]))
        labels.append(float(positive))
    layer.adapt(texts)
    ids = layer(texts)
    model = fastlstm.Sequential(
        [
            Input((5,), dtype="int64"),
            Embedding(layer.vocabulary_size(), 8, mask_zero=True, seed=1),
            LSTM(8, seed=2),
            Dense(1, activation="sigmoid", seed=3),
        ],
        seed=4,  # fit's shuffled batch order too: the same accuracy every run
    )
    model.compile(fastlstm.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(ids, np.array(labels), epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9


def test_vocabulary_files_bytes_and_keras_configs(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("great\nfilm\n\n", encoding="utf-8")  # the file's last newlines
    layer = TextVectorization(vocabulary=path)  # a pathlib.Path
    assert layer.get_vocabulary() == ["", "[UNK]", "great", "film"]
    path.write_text("great\n\nfilm\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocabulary \(line 2 of .*\): '' is reserved"):
        TextVectorization(vocabulary=path)
    with pytest.raises(ValueError, match=r"x\[0\]: expected UTF-8 text, got invalid start byte"):
        layer([b"\xff\xfe great"])
    config = {**layer.get_config(), "vocabulary_size": 4}  # Keras 3's config has it
    assert TextVectorization.from_config(config).get_vocabulary() == layer.get_vocabulary()
    smallest = TextVectorization(max_tokens=2)  # the reserved tokens alone, as Keras allows
    smallest.adapt(["a b"])
    np.testing.assert_array_equal(smallest(["a b"]), [[1, 1]])
