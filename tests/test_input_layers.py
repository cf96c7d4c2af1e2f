"""A functional Model lists an InputLayer for each Input first in ``layers``, as Keras 3 does, so
that code indexing a Keras model's layers picks the same layers here (keras.io's seq2seq
inference setup reads ``model.layers[2]`` for the encoder's LSTM). Before, the inputs were left
out and every index named the layer two places on."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import child_output
from fastlstm import layers
from fastlstm.layers import LSTM, Dense, Input, InputLayer
from fastlstm.models import Model, Sequential, load_model, model_from_json

rng = np.random.default_rng(5)
B, T_ENC, T_DEC, V, H = 6, 5, 4, 7, 8


def _seq2seq() -> Model:
    """keras.io's character-level seq2seq training model, small: an encoder LSTM whose states
    start a decoder LSTM, a softmax over the tokens at every decoder step."""
    encoder_inputs = Input(shape=(None, V))
    _, state_h, state_c = LSTM(H, return_state=True, seed=1)(encoder_inputs)
    decoder_inputs = Input(shape=(None, V))
    decoder = LSTM(H, return_sequences=True, return_state=True, seed=2)
    decoder_outputs, _, _ = decoder(decoder_inputs, initial_state=[state_h, state_c])
    outputs = Dense(V, activation="softmax", seed=3)(decoder_outputs)
    return Model([encoder_inputs, decoder_inputs], outputs)


def test_the_keras_seq2seq_inference_models_by_keras_indices(tmp_path):
    """The training model saved and loaded, then the encoder and the step-by-step decoder made
    from it as keras.io makes them, by index: decoding with the training model's own decoder
    inputs gives its outputs at every step."""
    model = _seq2seq()
    model.compile("adam", "categorical_crossentropy")
    enc = np.eye(V, dtype=np.float32)[rng.integers(0, V, (B, T_ENC))]
    dec = np.eye(V, dtype=np.float32)[rng.integers(0, V, (B, T_DEC))]
    model.fit([enc, dec], dec, epochs=2, verbose=0)
    model.save(tmp_path / "s2s.keras")
    model = load_model(tmp_path / "s2s.keras")

    encoder_inputs = model.input[0]  # input_1 in Keras's example
    _, state_h_enc, state_c_enc = model.layers[2].output  # the encoder's LSTM
    encoder_model = Model(encoder_inputs, [state_h_enc, state_c_enc])
    decoder_inputs = model.input[1]
    state_inputs = [Input(shape=(H,)), Input(shape=(H,))]
    decoder_lstm = model.layers[3]
    out, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=state_inputs)
    decoder_dense = model.layers[4]
    decoder_model = Model(
        [decoder_inputs, *state_inputs], [decoder_dense(out), state_h_dec, state_c_dec]
    )

    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer",
        "InputLayer",
        "LSTM",
        "LSTM",
        "Dense",
    ]
    expected = model.predict([enc, dec], verbose=0)
    h, c = encoder_model.predict(enc, verbose=0)
    for t in range(T_DEC):
        probs, h, c = decoder_model.predict([dec[:, t : t + 1], h, c], verbose=0)
        np.testing.assert_allclose(probs[:, 0], expected[:, t], rtol=1e-5, atol=1e-6)


def test_a_functional_models_input_layers():
    a, b = Input(shape=(T_ENC, V)), Input(shape=(3,), name="extra")
    lstm = LSTM(H)
    model = Model([a, b], Dense(1)(layers.Concatenate()([lstm(a), b])))
    first, second = model.layers[0], model.layers[2]
    assert isinstance(first, layers.InputLayer)
    assert isinstance(second, InputLayer)
    assert first.name.startswith("input_layer")
    assert second.name == "extra"
    assert first.output is a
    assert first.input is a
    assert second.output is b
    assert first.batch_shape == (None, T_ENC, V)
    assert first.weights == []
    assert first.get_weights() == []
    assert first.count_params() == 0
    assert model.layers[1] is lstm
    assert model.get_layer(index=1) is lstm
    assert model.get_layer(index=0) is first
    assert model.get_layer("extra") is second
    # the parameters are the other layers' alone
    assert model.count_params() == sum(layer.count_params() for layer in model.layers)
    x = rng.standard_normal((2, T_ENC, V)).astype(np.float32)
    np.testing.assert_array_equal(first(x), x)  # called on an array: passes it through


def test_an_input_that_joins_late_is_listed_where_keras_lists_it():
    """Keras 3 orders a functional model's layers by their depth from the outputs, deepest
    first: an input concatenated near the end comes after the other input's layers (keras.io's
    multi-input models index them so)."""
    main, aux = Input(shape=(10,), dtype="int32", name="main"), Input(shape=(5,), name="aux")
    joined = layers.Concatenate()([LSTM(8)(layers.Embedding(50, 8)(main)), aux])
    model = Model([main, aux], Dense(1)(Dense(8)(joined)))
    names = ["main", "embedding", "lstm", "aux", "concatenate", "dense", "dense_1"]
    assert [layer.name for layer in model.layers] == names
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert [line.split()[0] for line in lines[4:11]] == names
    assert lines[7].split()[-1] == "-"  # aux's row reads nothing
    assert model.layers[0].dtype == np.dtype("int32")  # the Input's dtype


def test_inputs_layers_are_named_once_for_every_model():
    """Unnamed Inputs' layers take Keras 3's names, input_layer_<n> in the order they are made,
    so the same Input's layer has one name in each model that reads it; a layer's automatic
    name steps aside for an Input's, a name given twice is refused."""
    a, b = Input(shape=(4,)), Input(shape=(4,))
    model = Model([a, b], layers.Add()([Dense(2)(a), Dense(2)(b)]))
    first, second = model.layers[:2]
    assert first.name != second.name
    assert first.name.startswith("input_layer")
    assert second.name.startswith("input_layer")
    alone = Model(b, Dense(1)(b))
    assert alone.layers[0] is second  # the same layer, the same name
    named = Input(shape=(4,), name="dense")
    auto = Dense(2)
    clash = Model(named, auto(named))
    assert [layer.name for layer in clash.layers] == ["dense", "dense_1"]
    given = Input(shape=(4,), name="features")
    with pytest.raises(ValueError, match="'features' is already used"):
        Model(given, Dense(2, name="features")(given))


def test_an_input_layer_made_by_the_user_is_the_one_listed():
    made = InputLayer(shape=(T_ENC, V), name="tokens")
    model = Model(made.output, Dense(2)(LSTM(H)(made.output)))
    assert model.layers[0] is made
    assert made.output.name == "tokens"
    with pytest.raises(TypeError, match=r"inputs: expected a symbolic tensor.*its \.output"):
        Model(made, Dense(2)(made.output))
    with pytest.raises(TypeError, match="is not called on tensors"):
        made(Input(shape=(T_ENC, V)))
    with pytest.raises(TypeError, match=r"call the next layer on its \.output"):
        LSTM(H)(made)


def test_layers_is_a_copy_and_cannot_be_set():
    model = _seq2seq()
    listed = model.layers
    listed.pop()
    assert len(model.layers) == 5
    with pytest.raises(AttributeError, match="layers"):
        model.layers = []
    seq = Sequential([Input(shape=(T_ENC, V)), LSTM(H), Dense(1)])
    seq.layers.clear()
    assert len(seq.layers) == 2  # a Sequential's Input is not among them, as in Keras 3
    with pytest.raises(AttributeError, match="add and pop"):
        seq.layers = []


def test_the_input_layers_survive_save_pickle_and_json(tmp_path):
    model = _seq2seq()
    names = [layer.name for layer in model.layers]
    model.save(tmp_path / "m.keras")
    for again in (
        load_model(tmp_path / "m.keras"),
        pickle.loads(pickle.dumps(model)),
        model_from_json(model.to_json()),
    ):
        assert [layer.name for layer in again.layers] == names
        assert [layer.output for layer in again.layers[:2]] == again.inputs


def test_freezing_every_listed_layer_and_a_sequential_of_them():
    """Keras idioms over ``model.layers``: freeze each (an InputLayer among them), and a
    Sequential made of a one-input chain's layers (its InputLayer first declares the shape)."""
    inputs = Input(shape=(T_ENC, V))
    model = Model(inputs, Dense(2, seed=4)(LSTM(H, seed=5)(inputs)))
    for layer in model.layers:
        layer.trainable = False
    assert model.trainable_weights == []
    for layer in model.layers:
        layer.trainable = True
    chain = Sequential(model.layers)
    assert chain.input_shape == (None, T_ENC, V)
    assert chain.layers == model.layers[1:]
    x = rng.standard_normal((3, T_ENC, V)).astype(np.float32)
    np.testing.assert_array_equal(chain.predict(x, verbose=0), model.predict(x, verbose=0))


def test_input_layer_takes_keras_keywords_and_refuses_what_it_cannot_be():
    assert InputLayer(input_shape=(T_ENC, V)).batch_shape == (None, T_ENC, V)  # Keras 2's names
    assert InputLayer(batch_input_shape=(2, T_ENC, V)).batch_shape == (2, T_ENC, V)
    assert InputLayer(shape=(3,), sparse=False, ragged=None, optional=False).batch_shape == (
        None,
        3,
    )
    for keyword in ("sparse", "ragged", "optional"):
        with pytest.raises(ValueError, match=f"{keyword}: expected None or False, got True"):
            InputLayer(shape=(3,), **{keyword: True})
    with pytest.raises(ValueError, match=r"input_tensor: .*expected no shape"):
        InputLayer(shape=(4,), input_tensor=Input(shape=(3,)))
    made = InputLayer(shape=(T_ENC,), dtype="int32", name="tokens")
    again = layers.deserialize(layers.serialize(made))
    assert isinstance(again, InputLayer)
    assert (again.name, again.batch_shape, again.output.dtype) == ("tokens", (None, T_ENC), "int32")


def test_a_sequential_takes_one_input_and_a_nested_output_list_is_named():
    with pytest.raises(ValueError, match="an Input can only be the first entry"):
        Sequential([Input(shape=(T_ENC, V)), Input(shape=(3, 2)), LSTM(2)])
    with pytest.raises(ValueError, match="an Input can only be the first entry"):
        Sequential([InputLayer(shape=(T_ENC, V)), InputLayer(shape=(3, 2))])
    inputs = Input(shape=(T_ENC, V))
    sequence, h, c = LSTM(H, return_sequences=True, return_state=True)(inputs)
    with pytest.raises(TypeError, match=r"outputs\[1\]: .*got list \(a layer of several outputs"):
        Model(inputs, [sequence, [h, c]])


def test_inputs_made_after_a_load_in_a_new_process_are_named_apart(tmp_path):
    """keras.io's seq2seq inference setup in the process that loads the model: the loaded
    Inputs keep their saved names (input_layer, input_layer_1), and the state Inputs made then
    take names after them (they had taken the same ones: the decoder model was refused)."""
    # the names a training process's first two Inputs get
    encoder_inputs = Input(shape=(None, V), name="input_layer")
    _, state_h, state_c = LSTM(H, return_state=True, seed=1)(encoder_inputs)
    decoder_inputs = Input(shape=(None, V), name="input_layer_1")
    decoded, _, _ = LSTM(H, return_sequences=True, return_state=True, seed=2)(
        decoder_inputs, initial_state=[state_h, state_c]
    )
    model = Model([encoder_inputs, decoder_inputs], Dense(V, activation="softmax")(decoded))
    model.compile("adam", "categorical_crossentropy")
    path = tmp_path / "s2s.keras"
    model.save(path)
    code = """
import sys
from fastlstm.layers import Input
from fastlstm.models import Model, load_model
model = load_model(sys.argv[1])
states = [Input(shape=(8,)), Input(shape=(8,))]
out, h, c = model.layers[3](model.input[1], initial_state=states)
decoder = Model([model.input[1], *states], [model.layers[4](out), h, c])
print(" ".join(layer.name for layer in decoder.layers[:3]))
"""
    names = child_output(code, str(path)).split()
    assert len(set(names)) == 3
    assert names[0] == "input_layer_1"  # the decoder's Input keeps its saved name
