"""StringLookup and IntegerLookup: a recommender's ids to indices and back, checked on data
whose counts are worked out here (frequencies, ties, the mask and OOV indices, the output
modes), with a vocabulary file, the refusals, and a two-tower recommender fed their indices."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm.layers import Dense, Dot, Embedding, Flatten, Input, IntegerLookup, StringLookup


def test_string_lookup_adapts_by_frequency_and_inverts():
    layer = StringLookup()
    layer.adapt(np.array([["a", "b"], ["a", "c"], ["a", "b"], ["d", "e"]]))
    # a 3, b 2, then c, d, e once each, the later first; "[UNK]" at 0 (no mask token)
    assert layer.get_vocabulary() == ["[UNK]", "a", "b", "e", "d", "c"]
    ids = layer(np.array([["a", "zzz"], ["c", "b"]]))
    np.testing.assert_array_equal(ids, [[1, 0], [5, 2]])
    assert ids.dtype == np.int64
    back = StringLookup(vocabulary=layer.get_vocabulary(), invert=True)
    assert back(ids).tolist() == [["a", "[UNK]"], ["c", "b"]]
    assert back(np.array([99])).tolist() == ["[UNK]"]  # out of range: the OOV token


def test_output_modes_and_a_mask_token():
    vocabulary = ["x", "y"]
    hot = StringLookup(vocabulary=vocabulary, output_mode="one_hot")
    np.testing.assert_array_equal(hot(np.array([["x"], ["q"]])), [[0, 1, 0], [1, 0, 0]])
    multi = StringLookup(vocabulary=vocabulary, output_mode="multi_hot")
    np.testing.assert_array_equal(multi([["x", "x", "q"], ["y", "y", "y"]]), [[1, 1, 0], [0, 0, 1]])
    count = StringLookup(vocabulary=vocabulary, output_mode="count", pad_to_max_tokens=True,
                         max_tokens=5)  # fmt: skip
    np.testing.assert_array_equal(count(["x", "x", "q"]), [1, 2, 0, 0, 0])  # one sample
    masked = StringLookup(mask_token="", vocabulary=vocabulary)
    assert masked.get_vocabulary() == ["", "[UNK]", "x", "y"]
    np.testing.assert_array_equal(masked([["x", ""], ["q", "y"]]), [[2, 0], [1, 3]])
    strict = StringLookup(num_oov_indices=0, vocabulary=vocabulary)
    np.testing.assert_array_equal(strict(["y", "x"]), [1, 0])
    with pytest.raises(ValueError, match="'q' is not in the vocabulary, and num_oov_indices=0"):
        strict(["q"])


def test_integer_lookup_with_a_mask_and_a_file(tmp_path):
    layer = IntegerLookup(mask_token=0)
    layer.adapt([7, 7, 3, 9, 9, 9, 0, 4])
    # 9 three times, 7 twice, then 4 and 3 once (the larger first); 0 the mask, -1 the OOV
    assert layer.get_vocabulary() == [0, -1, 9, 7, 4, 3]
    np.testing.assert_array_equal(layer(np.array([[9, 5], [0, 3]])), [[2, 1], [0, 5]])
    back = IntegerLookup(mask_token=0, vocabulary=layer.get_vocabulary(), invert=True)
    np.testing.assert_array_equal(back(np.array([0, 2, 5, 77])), [0, 9, 3, -1])
    path = tmp_path / "items.txt"
    path.write_text("12\n40\n\n", encoding="utf-8")
    from_file = IntegerLookup(vocabulary=path)
    assert from_file.get_vocabulary() == [-1, 12, 40]
    again = IntegerLookup.from_config({**from_file.get_config(), "vocabulary_size": 3})
    assert again.get_vocabulary() == from_file.get_vocabulary()


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "message"),
    [
        (StringLookup, {"num_oov_indices": 2}, ValueError, "num_oov_indices: expected 0 or 1"),
        (StringLookup, {"output_mode": "tf_idf"}, ValueError, "output_mode"),
        (StringLookup, {"invert": True, "output_mode": "count"}, ValueError, "invert: True"),
        (StringLookup, {"sparse": True}, ValueError, "sparse: expected False"),
        (StringLookup, {"vocabulary": ["a", "a"]}, ValueError, "'a' is listed more than once"),
        (StringLookup, {"oov_token": 3}, TypeError, "oov_token: expected a str or None"),
        (IntegerLookup, {"vocabulary": [1, -1]}, ValueError, r"vocabulary\[1\]: -1 is reserved"),
        (IntegerLookup, {"max_tokens": 2, "vocabulary": [1, 2]}, ValueError, "max_tokens=2"),
    ],
)
def test_bad_arguments_are_named(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(**kwargs)


def test_wrong_values_and_a_model_are_refused():
    with pytest.raises(TypeError, match="x: expected strings, got int"):
        StringLookup(vocabulary=["a"])([["a", 3]])
    with pytest.raises(TypeError, match="x: expected integers, got <U1"):
        IntegerLookup(vocabulary=[1])(np.array(["a"]))
    with pytest.raises(TypeError, match="apply it to the data before fit"):
        fastlstm.Sequential([IntegerLookup(vocabulary=[1, 2]), Embedding(4, 2)])


def test_a_two_tower_recommender_learns_from_the_indices():
    rng = np.random.default_rng(9)
    users = np.array([f"user{u}" for u in rng.integers(0, 12, 600)])
    items = rng.choice([101, 205, 307, 410, 512, 618], 600)
    # a user likes an item where both ids are even or both odd
    liked = ((np.char.str_len(users) + [int(u[4:]) for u in users]) % 2 == items % 2).astype(
        np.float32
    )
    user_lookup, item_lookup = StringLookup(), IntegerLookup()
    user_lookup.adapt(users)
    item_lookup.adapt(items)
    u_in, i_in = Input((1,), dtype="int64"), Input((1,), dtype="int64")
    u_vec = Flatten()(Embedding(user_lookup.vocabulary_size(), 4, seed=1)(u_in))
    i_vec = Flatten()(Embedding(item_lookup.vocabulary_size(), 4, seed=2)(i_in))
    score = Dense(1, activation="sigmoid", seed=3)(Dot(axes=1)([u_vec, i_vec]))
    model = fastlstm.Model([u_in, i_in], score)
    model.compile(fastlstm.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    x = [user_lookup(users)[:, None], item_lookup(items)[:, None]]
    history = model.fit(x, liked, epochs=40, batch_size=64, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
