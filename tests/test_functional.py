"""Keras's functional API (tc.Model(inputs, outputs)), the Model base and subclassed models."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers as L
from tinygrad_cnn.functional import Functional
from tinygrad_cnn.layers.symbolic import KerasTensor


def resnetish(seed: int = 0) -> tc.Model:
    """The task's residual CNN, small: Conv -> Conv, added to its input, pooled, flattened, Dense."""
    tc.manual_seed(seed)
    inputs = tc.Input(shape=(6, 6, 1), name="image")
    x = L.Conv2D(3, 3, padding="same", activation="relu", name="c1")(inputs)
    y = L.Conv2D(3, 3, padding="same", name="c2")(x)
    x = L.Add(name="residual")([x, y])
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Flatten(name="flat")(x)
    return tc.Model(inputs=inputs, outputs=L.Dense(4, name="logits")(x), name="resnetish")


def plain_resnetish(model: tc.Model, x: tc.Tensor) -> tc.Tensor:
    """The same computation written with plain Tensor ops on the model's own weights."""
    k1, b1, k2, b2, kd, bd = model.weights
    h = tc.conv2d(x, k1, b1, padding="same").relu()
    h = h + tc.conv2d(h, k2, b2, padding="same")
    h = tc.max_pool2d(h, 2)
    return h.reshape(h.shape[0], -1) @ kd + bd   # (n, 3, 3, 3) -> (n, 27) -> (n, 4)


def test_input_is_a_symbolic_tensor_with_keras_shape_dtype_and_name():
    x = tc.Input((28, 28, 1), name="pixels")
    assert isinstance(x, KerasTensor) and x.shape == (None, 28, 28, 1) and x.dtype == np.float32
    assert x.name == "pixels" and x.ndim == 4 and isinstance(x.layer, L.InputLayer)
    assert tc.Input((3,), batch_size=8, dtype="float64").shape == (8, 3)
    assert tc.Input(batch_shape=(None, 5)).shape == (None, 5)
    assert L.InputLayer(shape=(4,)).output.shape == (None, 4)
    assert repr(x) == "<KerasTensor shape=(None, 28, 28, 1), dtype=float32, name=pixels>"
    # Sequential takes tc.Input as Keras 3 does, and keeps its summary and config
    seq = tc.Sequential([tc.Input((4,), name="entry"), L.Dense(2, name="d")])
    assert seq.input_shape == (None, 4) and seq.get_config()["layers"][0]["config"]["name"] == "entry"
    seq2 = tc.Sequential()
    seq2.add(tc.Input((4,)))
    assert seq2.built and isinstance(seq2, tc.Model) and isinstance(seq2, tc.models.Model)


def test_a_layer_called_on_symbolic_tensors_builds_and_gives_the_output_shape():
    x = tc.Input((8, 8, 2))
    conv = L.Conv2D(5, 3, strides=2)
    y = conv(x)
    assert conv.built and conv.kernel.shape == (3, 3, 2, 5)
    assert isinstance(y, KerasTensor) and y.shape == (None, 3, 3, 5) and y.layer is conv


@pytest.mark.parametrize("use", [
    lambda t: np.asarray(t), lambda t: t + np.ones(3), lambda t: np.ones(3) * t, lambda t: t.numpy(),
    lambda t: float(t), lambda t: t[0], lambda t: bool(t), lambda t: -t])
def test_a_symbolic_tensor_used_as_data_is_a_clear_error(use):
    with pytest.raises(TypeError, match=r"is a symbolic tensor.*holds no numbers.*tc.layers.Add\(\)"):
        use(tc.Input((3,)))


def test_residual_cnn_forward_and_gradients_match_plain_tensor_code():
    model = resnetish()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6, 6, 1))
    model.double()
    out = model(x)
    expected = plain_resnetish(model, tc.Tensor(x))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(out.shape)
    ours = tc.grad((out * upstream).sum(), model.weights)
    theirs = tc.grad((plain_resnetish(model, tc.Tensor(x)) * upstream).sum(), model.weights)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def test_fit_of_the_residual_cnn_is_plain_gradient_descent_on_the_same_computation():
    model = resnetish()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 4, 8)
    start = model.get_weights()
    loss = tc.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=tc.optimizers.SGD(learning_rate=0.1), loss=loss, metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    twin = resnetish(seed=5)
    twin.set_weights(start)
    value = loss(y, plain_resnetish(twin, tc.Tensor(x)))
    grads = tc.grad(value, twin.weights)
    assert history.history["loss"][0] == pytest.approx(float(value.item()), rel=1e-5)
    for after, before, g in zip(model.get_weights(), start, grads, strict=True):
        np.testing.assert_allclose(after, before - 0.1 * g.numpy(), rtol=1e-5, atol=1e-6)
    assert model.evaluate(x, y, verbose=0)[0] < history.history["loss"][0]
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), rtol=1e-6)


def test_summary_lists_layers_shapes_params_and_connections():
    model = resnetish()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert lines[0] == 'Model: "resnetish"'
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Connected", "to"]
    rows = {line.split()[0]: line for line in lines if line and line.split()[0] in
            {"image", "c1", "c2", "residual", "pool", "flat", "logits"}}
    c1 = 3 * 3 * 1 * 3 + 3
    c2 = 3 * 3 * 3 * 3 + 3
    dense = 3 * 3 * 3 * 4 + 4
    assert rows["c1"].split()[-2:] == [str(c1), "image[0][0]"]
    assert rows["c2"].split()[-2:] == [str(c2), "c1[0][0]"]
    assert "(None, 3, 3, 3)" in rows["pool"] and rows["flat"].split()[-1] == "pool[0][0]"
    # the merge has two connections: the second on its own line under the first
    after = lines[lines.index(rows["residual"]) + 1]
    assert rows["residual"].split()[-1] == "c1[0][0]" and after.strip() == "c2[0][0]"
    assert f"Total params: {c1 + c2 + dense:,}" in text and "Non-trainable params: 0" in text
    assert str(model) == text


def test_shared_layer_counts_once_and_gets_gradients_from_both_uses():
    a, b = tc.Input((3,), name="a"), tc.Input((3,), name="b")
    shared = L.Dense(2, name="shared")
    model = tc.Model([a, b], L.Subtract()([shared(a), shared(b)]))
    assert model.count_params() == 8 and len(model.weights) == 2
    xa, xb = np.random.default_rng(2).standard_normal((2, 4, 3))
    out = model([xa, xb])
    np.testing.assert_allclose(out.numpy(), (xa - xb) @ shared.kernel.numpy(), rtol=1e-5, atol=1e-6)
    upstream = np.random.default_rng(3).standard_normal(out.shape)
    (grad,) = tc.grad((out * upstream).sum(), [shared.kernel])
    np.testing.assert_allclose(grad.numpy(), (xa - xb).T @ upstream, rtol=1e-5, atol=1e-6)
    summary = model.summary_str()
    assert "shared[0][0]" in summary and "shared[1][0]" in summary and "a[0][0]" in summary


def test_several_inputs_and_outputs_as_lists_and_dicts():
    image, meta = tc.Input((4, 4, 1), name="image"), tc.Input((2,), name="meta")
    features = L.Flatten()(L.Conv2D(2, 3)(image))
    joined = L.concatenate([features, meta])
    digit, parity = L.Dense(3, name="digit")(joined), L.Dense(1, name="parity")(joined)
    rng = np.random.default_rng(4)
    xi, xm = rng.standard_normal((5, 4, 4, 1)), rng.standard_normal((5, 2))
    as_dict = tc.Model([image, meta], {"digit": digit, "parity": parity})
    as_list = tc.Model([image, meta], [digit, parity])
    assert as_dict.input_names == ["image", "meta"] and as_dict.output_names == ["digit", "parity"]
    assert as_list.output_names == ["digit", "parity"] and as_list.output_shape == [(None, 3), (None, 1)]
    assert as_dict.input_shape == [(None, 4, 4, 1), (None, 2)]
    by_list, by_tuple, by_name = as_dict([xi, xm]), as_dict((xi, xm)), as_dict({"meta": xm, "image": xi})
    outputs = as_list([xi, xm])
    assert isinstance(by_list, dict) and isinstance(outputs, list)
    for result in (by_tuple, by_name):
        np.testing.assert_array_equal(result["digit"].numpy(), by_list["digit"].numpy())
    np.testing.assert_array_equal(outputs[1].numpy(), by_list["parity"].numpy())
    predicted = as_dict.predict({"image": xi, "meta": xm}, verbose=0)
    np.testing.assert_allclose(predicted["parity"], by_list["parity"].numpy(), rtol=1e-5, atol=1e-6)  # float32
    # a one-element output list gives the tensor itself, as Keras 3 does
    assert isinstance(tc.Model(meta, [L.Dense(2)(meta)])(xm), tc.Tensor)


def test_inputs_given_as_a_dict_are_named_by_its_keys():
    inputs = {"left": tc.Input((2,), name="left"), "right": tc.Input((2,), name="right")}
    model = tc.Model(inputs, L.multiply([inputs["left"], inputs["right"]]))
    assert model.input_names == ["left", "right"]
    x, y = np.arange(4.0).reshape(2, 2), np.full((2, 2), 3.0)
    np.testing.assert_allclose(model({"right": y, "left": x}).numpy(), x * y)


def test_nested_models_run_as_layers_and_round_trip():
    inner_in = tc.Input((3,))
    inner = tc.Model(inner_in, L.Dense(2, activation="tanh")(inner_in), name="inner")
    stack = tc.Sequential([L.Dense(3, name="seq_dense")], name="stack")
    x = tc.Input((3,))
    model = tc.Model(x, L.Dense(1)(inner(stack(x))), name="outer")
    assert [layer.name for layer in model.layers][1:3] == ["stack", "inner"]
    data = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)
    expected = model.layers[-1](inner(stack(data)))
    np.testing.assert_allclose(model(data).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    rebuilt = tc.Model.from_config(json.loads(json.dumps(model.get_config())))
    assert isinstance(rebuilt, Functional) and [type(la).__name__ for la in rebuilt.layers] == \
        ["InputLayer", "Sequential", "Functional", "Dense"]
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt(data).numpy(), model(data).numpy(), rtol=1e-6)
    # a functional model inside a Sequential
    seq = tc.Sequential([tc.Input((3,)), inner, L.Dense(1)])
    assert seq.output_shape == (None, 1) and seq(data).shape == (4, 1)


def test_config_has_keras_3s_functional_form_and_round_trips():
    model = resnetish()
    config = json.loads(json.dumps(model.get_config()))
    assert set(config) == {"name", "trainable", "layers", "input_layers", "output_layers"}
    assert config["input_layers"] == [["image", 0, 0]] and config["output_layers"] == [["logits", 0, 0]]
    residual = next(entry for entry in config["layers"] if entry["name"] == "residual")
    assert residual["class_name"] == "Add"
    (node,) = residual["inbound_nodes"]
    assert [arg["config"]["keras_history"] for arg in node["args"][0]] == [["c1", 0, 0], ["c2", 0, 0]]
    assert node["args"][0][0]["class_name"] == "__keras_tensor__"
    rebuilt = Functional.from_config(config)
    assert rebuilt.get_config() == config
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(6).standard_normal((2, 6, 6, 1)).astype(np.float32)
    np.testing.assert_array_equal(rebuilt(x).numpy(), model(x).numpy())


def test_save_and_load_model_keep_architecture_weights_and_training(tmp_path):
    model = resnetish()
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((8, 6, 6, 1)).astype(np.float32), rng.integers(0, 4, 8)
    model.compile("adam", tc.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    assert isinstance(loaded, Functional) and loaded.name == "resnetish"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, verbose=0, shuffle=False)   # the optimizer state came along: same next step
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    model.save_weights(tmp_path / "w.npz")
    fresh = resnetish(seed=9)
    fresh.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_training_fixed_when_building_wins_over_the_model_mode():
    x = tc.Input((50,))
    always = L.Dropout(0.5, seed=1)(x, training=True)
    never = L.Dropout(0.5, seed=2)(x, training=False)
    model = tc.Model(x, [always, never])
    data = np.ones((4, 50), np.float32)
    dropped, kept = model(data, training=False)
    assert (dropped.numpy() == 0).any()
    np.testing.assert_array_equal(model(data, training=True)[1].numpy(), data)
    np.testing.assert_array_equal(kept.numpy(), data)
    entry = next(e for e in model.get_config()["layers"] if e["class_name"] == "Dropout"
                 and e["inbound_nodes"][0]["kwargs"] == {"training": True})
    assert entry


def test_subclassed_model_trains_summarises_and_saves_weights_only(tmp_path):
    class MyModel(tc.Model):
        def __init__(self):
            super().__init__()
            self.conv = L.Conv2D(2, 3)
            self.flat = L.Flatten()
            self.out = L.Dense(3)

        def call(self, x, training=False):
            return self.out(self.flat(self.conv(x)))

    model = MyModel()
    assert isinstance(model, tc.Model) and model.name.startswith("my_model")
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((6, 5, 5, 1)).astype(np.float32), rng.integers(0, 3, 6)
    model.compile(optimizer="adam", loss=tc.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()] if model.built else None
    model.fit(x, y, epochs=2, verbose=0)
    assert before is None and [layer.name for layer in model.layers] == [model.conv.name, model.flat.name,
                                                                          model.out.name]
    assert model.count_params() == (9 * 2 + 2) + (18 * 3 + 3)
    assert f"Total params: {model.count_params():,}" in model.summary_str()
    with pytest.raises(ValueError, match="subclassed model.*save_weights"):
        model.save(tmp_path / "m.npz")
    model.save_weights(tmp_path / "w.npz")
    twin = MyModel()
    twin(x[:1])
    twin.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(twin(x).numpy(), model(x).numpy())
    # used as a layer of a functional model: its output shape comes from running its call once
    inputs = tc.Input((5, 5, 1))
    assert twin(inputs).shape == (None, 3)


def test_get_layer_by_name_and_index():
    model = resnetish()
    assert model.get_layer("c2") is model.layers[2] and model.get_layer(index=0).name == "image"
    with pytest.raises(ValueError, match="no layer named 'nope'.*'c1'"):
        model.get_layer("nope")
    with pytest.raises(IndexError, match="has 7 layers, no index 9"):
        model.get_layer(index=9)
    with pytest.raises(ValueError, match="exactly one of name and index"):
        model.get_layer()
    with pytest.raises(TypeError, match="index must be an int position in model.layers, got str '0'"):
        model.get_layer(index="0")


def test_plot_model_draws_every_input_and_output():
    a, b = tc.Input((3,), name="a"), tc.Input((4,), name="b")
    model = tc.Model([a, b], [L.Dense(2, name="head_a")(a), L.Dense(5, name="head_b")(L.concatenate([a, b]))])
    source = model.plot_model(None).source
    assert "head_a" in source and "head_b" in source and "concatenate" in source
    assert "(1, 3)" in source and "(1, 4)" in source and "(1, 5)" in source
    with pytest.raises(ValueError, match="has 2 inputs.*list of 2 shapes"):
        tc.viz.plot_model(model, None, input_shape=(3,))


def test_a_deep_chain_builds_without_recursion():
    x = tc.Input((2,))
    y = x
    for _ in range(1500):
        y = L.Activation("linear")(y)
    model = tc.Model(x, y)
    assert len(model.layers) == 1501
    np.testing.assert_array_equal(model(np.ones((1, 2))).numpy(), np.ones((1, 2)))


@settings(max_examples=15)
@given(st.lists(st.tuples(st.sampled_from(["dense", "add", "concat", "relu", "shared"]),
                          st.integers(0, 100), st.integers(0, 100)), min_size=1, max_size=8))
def test_random_graphs_run_as_the_same_layers_called_eagerly(steps):
    """Build a random DAG twice, symbolically and on real tensors, with the same layers: same outputs."""
    tc.manual_seed(0)
    data = np.random.default_rng(len(steps)).standard_normal((3, 4)).astype(np.float32)
    symbolic, eager = [tc.Input((4,))], [tc.Tensor(data)]
    shared = L.Dense(4)
    for kind, i, j in steps:
        i, j = i % len(symbolic), j % len(symbolic)
        layer = {"dense": lambda: L.Dense(4), "add": L.Add, "concat": lambda: L.Concatenate(),
                 "relu": L.ReLU, "shared": lambda: shared}[kind]()
        if kind in ("add", "concat"):
            symbolic.append(layer([symbolic[i], symbolic[j]]))
            eager.append(layer([eager[i], eager[j]]))
        else:
            symbolic.append(layer(symbolic[i]))
            eager.append(layer(eager[i]))
        if kind == "concat":   # back to 4 features for the next steps
            squeeze = L.Dense(4)
            symbolic[-1], eager[-1] = squeeze(symbolic[-1]), squeeze(eager[-1])
    model = tc.Model(symbolic[0], symbolic[-1])
    np.testing.assert_allclose(model(data).numpy(), eager[-1].numpy(), rtol=1e-6, atol=1e-6)


# --- every bad input, with its message ---

def test_model_construction_errors_name_the_problem():
    x, other = tc.Input((3,), name="x"), tc.Input((3,), name="other")
    y = L.Dense(2)(x)
    with pytest.raises(TypeError, match=r"needs both; outputs is missing"):
        tc.Model(x)
    with pytest.raises(TypeError, match=r"needs both; inputs is missing"):
        tc.Model(outputs=y)
    with pytest.raises(TypeError, match=r"inputs must be symbolic tensors.*got ndarray"):
        tc.Model(np.ones((2, 3)), y)
    with pytest.raises(TypeError, match=r"outputs must be symbolic tensors.*got Tensor"):
        tc.Model(x, tc.ones(2))
    with pytest.raises(ValueError, match=r"depend on the Input 'x' \(None, 3\), which is not in inputs=.*"
                                         r"disconnected"):
        tc.Model(other, L.add([y, L.Dense(2)(other)]))
    with pytest.raises(ValueError, match=r"the inputs \['other'\] are not used to compute any output"):
        tc.Model([x, other], y)
    with pytest.raises(ValueError, match="list one tensor twice"):
        tc.Model([x, x], y)
    clash = L.Dense(2, name="dense_twin")(L.Dense(2, name="dense_twin")(x))
    with pytest.raises(ValueError, match=r"unique names.*\['dense_twin'\]"):
        tc.Model(x, clash)


def test_calling_a_model_with_the_wrong_inputs_names_them():
    a, b = tc.Input((3,), name="a"), tc.Input((2,), name="b")
    model = tc.Model([a, b], L.concatenate([a, b]))
    with pytest.raises(ValueError, match=r"has 2 inputs \['a', 'b'\] but was called on a list of 3 arrays"):
        model([np.ones((1, 3)), np.ones((1, 2)), np.ones((1, 2))])
    with pytest.raises(ValueError, match=r"has 2 inputs \['a', 'b'\] but was called on one arrays?"):
        model(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"keys \['a', 'c'\].*missing \['b'\], unknown \['c'\]"):
        model({"a": np.ones((1, 3)), "c": np.ones((1, 2))})
    with pytest.raises(ValueError, match=r"input 'b' expects shape \(None, 2\), got \(1, 4\)"):
        model([np.ones((1, 3)), np.ones((1, 4))])
    with pytest.raises(ValueError, match=r"input 'a' expects shape \(None, 3\), got \(3,\)"):
        model([np.ones(3), np.ones((1, 2))])


def test_layers_refuse_real_data_mixed_with_symbolic_tensors():
    x = tc.Input((3,))
    with pytest.raises(TypeError, match=r"mixed with ndarray.*must come from tc.Input"):
        L.Add()([x, np.ones((1, 3))])
    with pytest.raises(TypeError, match=r"Sequential.add needs a layer, got the symbolic tensor.*tc.Model"):
        tc.Sequential().add(L.Dense(2)(x))
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        tc.Input((3,), dtype="complex64")


def test_receptive_field_is_refused_for_a_graph():
    with pytest.raises(ValueError, match="show_receptive_field needs a tc.Sequential"):
        resnetish().summary(show_receptive_field=True)


def test_a_compiled_model_with_two_outputs_saves_its_losses_weights_and_metrics(tmp_path):
    image, meta = tc.Input((4, 4, 1), name="image"), tc.Input((2,), name="meta")
    joined = L.concatenate([L.Flatten()(L.Conv2D(2, 3)(image)), meta])
    model = tc.Model([image, meta], {"digit": L.Dense(3, name="d")(joined),
                                     "parity": L.Dense(1, activation="sigmoid", name="p")(joined)})
    model.compile(optimizer="adam", loss={"digit": tc.losses.SparseCategoricalCrossentropy(from_logits=True),
                                          "parity": "binary_crossentropy"},
                  loss_weights={"digit": 1.0, "parity": 0.25}, metrics={"digit": ["accuracy"]},
                  weighted_metrics={"parity": ["mae"]})
    rng = np.random.default_rng(10)
    x = [rng.random((12, 4, 4, 1)), rng.random((12, 2))]
    y = {"digit": rng.integers(0, 3, 12), "parity": rng.integers(0, 2, (12, 1)).astype(np.float32)}
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    assert loaded.compiled_outputs.weights == [1.0, 0.25]
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(x, y, verbose=0, return_dict=True)
    # one output: a loss weight other than 1 is kept too
    x1 = tc.Input((3,))
    single = tc.Model(x1, L.Dense(1)(x1))
    single.compile("sgd", "mse", loss_weights=3.0)
    single.save(tmp_path / "s.npz")
    assert tc.load_model(tmp_path / "s.npz").compiled_outputs.weights == [3.0]


def test_a_nested_model_accepts_symbolic_inputs_with_unknown_sizes_and_checks_real_ones():
    fixed = tc.Input((8, 8, 1))
    inner = tc.Model(fixed, L.GlobalAveragePooling2D()(L.Conv2D(2, 3)(fixed)))
    free = tc.Input((None, None, 1))
    outer = tc.Model(free, inner(free))
    assert outer.output_shape == (None, 2) and outer(np.ones((1, 8, 8, 1))).shape == (1, 2)
    with pytest.raises(ValueError, match=r"expects shape \(None, 8, 8, 1\), got \(1, 10, 10, 1\)"):
        outer(np.ones((1, 10, 10, 1)))


@pytest.mark.parametrize("damage, message", [
    (lambda c: c["layers"][2]["inbound_nodes"][0]["args"][0]["config"].update(keras_history=["nope", 0, 0]),
     r"cannot be rebuilt: these layer calls use tensors no layer makes"),
    (lambda c: c["layers"][2]["inbound_nodes"].__setitem__(0, "junk"), r"cannot be rebuilt"),
    (lambda c: c.update(output_layers=[["logits", 3, 0]]), r"output_layers name a tensor no layer makes"),
    (lambda c: c["layers"][1].update(class_name="Lambda"), r"unknown layer class 'Lambda'"),
    (lambda c: c["layers"][2].update(name="c1"), r"names two layers 'c1'"),
    (lambda c: c.pop("layers"), r"must be a dict with a 'layers' list"),
])
def test_a_damaged_functional_config_is_refused_clearly(damage, message):
    config = json.loads(json.dumps(resnetish().get_config()))
    damage(config)
    with pytest.raises(ValueError, match=message):
        tc.Model.from_config(config)


def test_a_subclassed_model_with_two_inputs_takes_a_list():
    class Two(tc.Model):
        def __init__(self):
            super().__init__()
            self.left, self.right = L.Dense(2), L.Dense(2)

        def call(self, inputs):
            x, y = inputs
            return self.left(x) + self.right(y)

    model = Two()
    x, y = np.ones((3, 4), np.float32), np.full((3, 5), 2.0, np.float32)
    out = model([x, y])   # two arrays of one shape would once have been stacked into one input
    assert out.shape == (3, 2) and model.input_shape == [(None, 4), (None, 5)] and model.count_params() == 22
    expected = x @ model.left.kernel.numpy() + y @ model.right.kernel.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert Two()([tc.Input((4,)), tc.Input((5,))]).shape == (None, 2)
    same = Two()
    assert same([x, x]).shape == (3, 2) and same.input_shape == [(None, 4), (None, 4)]


def test_compile_takes_loss_weights_third_and_points_metrics_to_their_keyword():
    model = resnetish()
    with pytest.raises(TypeError, match=r"loss_weights=\['accuracy'\] holds names.*metrics="):
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.compile("adam", "sparse_categorical_crossentropy", 2.0, ["accuracy"])
    assert model.compiled_outputs.weights == [2.0] and model.compiled_metrics == ["accuracy"]


def test_layer_outputs_give_feature_extraction_models_as_in_keras():
    seq = tc.Sequential([tc.Input((8, 8, 1)), L.Conv2D(4, 3, name="conv"), L.MaxPooling2D(), L.Flatten(),
                         L.Dense(3)])
    extractor = tc.Model(inputs=seq.inputs, outputs=[layer.output for layer in seq.layers])
    data = np.random.default_rng(11).standard_normal((2, 8, 8, 1)).astype(np.float32)
    features = extractor(data)
    assert [f.shape for f in features] == [(2, 6, 6, 4), (2, 3, 3, 4), (2, 36), (2, 3)]
    np.testing.assert_array_equal(features[0].numpy(), seq.get_layer("conv")(data).numpy())
    np.testing.assert_array_equal(features[-1].numpy(), seq(data).numpy())
    assert seq.output is seq.outputs[0] and seq.input is seq.inputs[0] and seq.input.shape == (None, 8, 8, 1)
    assert seq.get_layer("conv").input is seq.input
    seq.pop()
    assert seq.output.shape == (None, 36) and seq.output_shape == (None, 36)
    model = resnetish()
    assert model.input is model.inputs[0] and model.output is model.outputs[0]
    assert tc.Model(model.input, model.get_layer("c2").output)(np.zeros((1, 6, 6, 1))).shape == (1, 6, 6, 3)
    with pytest.raises(ValueError, match="is not built yet, so it has no symbolic inputs; start it with tc.Input"):
        _ = tc.Sequential([L.Dense(2)]).inputs
    with pytest.raises(ValueError, match="never been called on symbolic tensors.*no output"):
        _ = L.Dense(2).output


def test_augmentation_layers_work_in_a_functional_model():
    x = tc.Input((6, 6, 1))
    flipped = L.RandomFlip("horizontal", seed=1)(x)
    model = tc.Model(x, L.Flatten()(flipped))
    data = np.arange(72, dtype=np.float32).reshape(2, 6, 6, 1)
    np.testing.assert_array_equal(model(data).numpy(), data.reshape(2, 36))      # inference: the identity
    trained = model(data, training=True).numpy().reshape(2, 6, 6, 1)
    assert all(np.array_equal(t, d) or np.array_equal(t, d[:, ::-1]) for t, d in zip(trained, data, strict=True))


def test_a_sub_model_from_an_intermediate_tensor_shares_the_layers():
    x = tc.Input((6, 6, 1), name="img")
    features = L.Conv2D(2, 3, name="conv")(x)
    head = L.Dense(3, name="head")(L.GlobalAveragePooling2D(name="gap")(features))
    full = tc.Model(x, head)
    tail = tc.Model(features, head, name="tail")   # Keras: a new InputLayer stands for the intermediate tensor
    assert [type(la).__name__ for la in tail.layers] == ["InputLayer", "GlobalAveragePooling2D", "Dense"]
    assert tail.input_shape == (None, 4, 4, 2) and tail.get_layer("head") is full.get_layer("head")
    data = np.random.default_rng(12).standard_normal((2, 6, 6, 1)).astype(np.float32)
    inner = full.get_layer("conv")(data)
    np.testing.assert_array_equal(tail(inner).numpy(), full(data).numpy())
    name = tail.input_names[0]
    assert "gap[0][0]" in tail.summary_str() and f"{name}[0][0]" in tail.summary_str()
    rebuilt = tc.Model.from_config(json.loads(json.dumps(tail.get_config())))
    rebuilt.set_weights(tail.get_weights())
    np.testing.assert_array_equal(rebuilt(inner).numpy(), tail(inner).numpy())
    with pytest.raises(ValueError, match=r"depend on the Input 'img'.*not in inputs="):
        tc.Model(features, L.add([head, L.Dense(3)(L.Flatten()(x))]))


def test_a_sequential_model_still_reads_a_list_of_samples_as_one_batch():
    model = tc.Sequential([L.Dense(2)])
    assert model([np.ones(3), np.zeros(3)]).shape == (2, 2)


def test_a_one_tensor_layer_called_on_a_list_of_symbolic_tensors_points_to_merge_layers():
    a, b = tc.Input((4,)), tc.Input((4,))
    with pytest.raises(TypeError, match=r"takes one tensor, but was called on a list of symbolic tensors of "
                                        r"shapes \[\(None, 4\), \(None, 4\)\].*Concatenate\(\)\(\[a, b\]\)"):
        L.Dense(3)([a, b])
