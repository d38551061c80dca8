"""Acceptance audit of Keras's functional API: odd but legal graphs, copies, and the errors a user meets."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers as L


def two_branch_model() -> tc.Model:
    """Input -> two Dense branches added together (a diamond), with BatchNormalization on one branch."""
    tc.manual_seed(3)
    x = tc.Input((6,), name="x")
    left = L.Dense(4, name="left")(x)
    right = L.BatchNormalization(name="bn")(L.Dense(4, name="right")(x))
    return tc.Model(x, L.Add(name="join")([left, right]), name="diamond")


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
def test_a_copied_functional_model_runs_on_its_own_weights(clone):
    model = two_branch_model()
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    twin = clone(model)
    np.testing.assert_array_equal(twin(x).numpy(), model(x).numpy())
    twin.get_layer("left").kernel.data[...] = 0   # the copy's weights are its own
    assert not np.array_equal(twin(x).numpy(), model(x).numpy())
    assert twin.get_layer("left").output.layer is twin.get_layer("left")
    # the copy still builds new models from its symbolic tensors and saves its config
    head = tc.Model(twin.input, L.Dense(1, name="head")(twin.output))
    assert head(x).shape == (5, 1) and tc.Model.from_config(twin.get_config()).count_params() == 28 + 28 + 4 * 4


def test_outputs_made_by_one_layer_get_names_of_their_own():
    x = tc.Input((2,), name="x")
    y = L.Dense(1, name="score")(x)
    assert tc.Model(x, [y, y]).output_names == ["score", "score_1"]
    inner = tc.Model(x, [L.Dense(1, name="p")(x), L.Dense(1, name="q")(x), y], name="inner")
    z = tc.Input((2,), name="z")
    outer = tc.Model(z, [*inner(z), L.Dense(1, name="inner_1")(z)])
    assert outer.output_names == ["inner", "inner_2", "inner_3", "inner_1"]


@pytest.mark.parametrize("use", [np.exp, np.sum, np.asarray, lambda t: np.zeros(3) + t,
                                 lambda t: np.concatenate([t, t])],
                         ids=["ufunc", "reduction", "asarray", "array_plus", "concatenate"])
def test_numpy_on_a_symbolic_tensor_says_what_to_do(use):
    with pytest.raises(TypeError, match="symbolic tensor.*Call layers on it"):
        use(tc.Input((3,)))


@pytest.mark.parametrize("argument", [dict(trainable="no"), dict(trainable=None)])
def test_a_functional_model_refuses_a_trainable_that_is_not_a_bool(argument):
    x = tc.Input((3,))
    with pytest.raises(TypeError, match="tc.Model: trainable must be True or False"):
        tc.Model(x, L.Dense(1)(x), **argument)


@pytest.mark.parametrize("argument", ["show_formula", "show_receptive_field"])
def test_a_functional_summary_refuses_flags_that_are_not_bools(argument):
    x = tc.Input((3,))
    with pytest.raises(TypeError, match=f"summary: {argument} must be True or False, got 'yes'"):
        tc.Model(x, L.Dense(1)(x)).summary(**{argument: "yes"})


class TwoInputs(tc.Model):
    """A subclassed model whose call takes a list of two inputs."""

    def __init__(self) -> None:
        super().__init__(name="two")
        self.left, self.right = L.Dense(2, name="left"), L.Dense(2, name="right")

    def call(self, inputs, training=False):
        return self.left(inputs[0]) + self.right(inputs[1])


def test_plot_model_draws_a_subclassed_model_with_two_inputs():
    model = TwoInputs()
    graph = tc.viz.plot_model(model, None, input_shape=[(3,), (4,)])   # not built: the shapes given
    assert "left (Dense)" in graph.source and "in (1, 4)" in graph.source
    model([np.ones((1, 3), np.float32), np.ones((1, 4), np.float32)])
    assert tc.viz.plot_model(model, None).source == graph.source       # built: its own shapes
    with pytest.raises(ValueError, match=r"input_shape must be a list of 2 shapes .* got \(3,\)"):
        tc.viz.plot_model(model, None, input_shape=(3,))


def test_plot_model_feeds_each_input_its_own_dtype():
    wide, narrow = tc.Input((3,), dtype="float64", name="wide"), tc.Input((2,), name="narrow")
    model = tc.Model([wide, narrow], [L.Activation("tanh", name="t64")(wide), L.ReLU(name="r32")(narrow)])
    source = tc.viz.plot_model(model, None, show_dtype=True).source
    assert "(1, 3) float64" in source and "(1, 2) float32" in source and "(1, 3) float32" not in source


def test_plot_model_takes_keras_to_file(tmp_path):
    model = two_branch_model()
    tc.viz.plot_model(model, to_file=tmp_path / "keras.png", show_shapes=True)
    model.plot_model(to_file=tmp_path / "method.png")
    assert (tmp_path / "keras.png").stat().st_size > 0 and (tmp_path / "method.png").stat().st_size > 0
    with pytest.raises(TypeError, match="give the file once"):
        tc.viz.plot_model(model, tmp_path / "a.png", to_file=tmp_path / "b.png")


def damaged_call(change) -> dict:
    """The config of Input -> Dense 'd', with `change` made to d's call entry."""
    x = tc.Input((4,), name="a")
    config = tc.Model(x, L.Dense(3, name="d")(x)).get_config()
    change(config["layers"][1]["inbound_nodes"][0])
    return config


@pytest.mark.parametrize("change, message", [
    (lambda call: call.__setitem__("kwargs", []), "layer 'd' has a call that is not"),
    (lambda call: call.__setitem__("args", []), "layer 'd' has a call that is not"),
    (lambda call: call.__setitem__("kwargs", {"training": "yes"}), r"kwargs \{'training': 'yes'\}"),
    (lambda call: call.__setitem__("kwargs", {"mask": [1]}), r"kwargs \{'mask': \[1\]\}.*only fix training"),
], ids=["kwargs_list", "no_args", "training_string", "unknown_kwarg"])
def test_a_damaged_layer_call_in_a_config_is_named(change, message):
    with pytest.raises(ValueError, match="graph cannot be rebuilt.*" + message):
        tc.Model.from_config(damaged_call(change))


def test_a_config_call_keeps_a_training_flag_and_takes_arguments_left_at_none():
    config = damaged_call(lambda call: call.__setitem__("kwargs", {"training": False}))
    assert tc.Model.from_config(config).get_config() == config
    assert tc.Model.from_config(damaged_call(lambda call: call.__setitem__("kwargs", {"mask": None}))).built


def tangled_model() -> tc.Model:
    """A layer shared by two branches, a nested model used twice, a diamond joined by Multiply and
    Concatenate, two outputs: the odd but legal graph a Keras user may draw."""
    tc.manual_seed(7)
    inner_in = tc.Input((3,), name="inner_in")
    block = tc.Model(inner_in, L.Dense(3, activation="tanh", name="inner_dense")(inner_in), name="block")
    x, side = tc.Input((3,), name="x"), tc.Input((2,), name="side")
    shared = L.Dense(3, activation="tanh", name="shared")
    left, right = shared(x), shared(block(x))
    joined = L.Multiply(name="mul")([left, block(right)])
    return tc.Model([x, side], [joined, L.Concatenate(name="cat")([joined, side])], name="tangled")


def test_gradients_through_a_tangled_graph_pass_gradcheck_in_float64():
    model = tangled_model()
    model.astype(np.float64)
    rng = np.random.default_rng(1)
    x = tc.Tensor(rng.normal(size=(2, 3)), requires_grad=True)
    side = tc.Tensor(rng.normal(size=(2, 2)), requires_grad=True)
    upstream = [rng.normal(size=(2, 3)), rng.normal(size=(2, 5))]   # a random direction, not sum()

    def projected(x, side, *weights):
        first, second = model([x, side])
        return (first * tc.Tensor(upstream[0])).sum() + (second * tc.Tensor(upstream[1])).sum()

    assert tc.gradcheck(projected, (x, side, *model.trainable_weights))
    assert model([x, side])[1].dtype == np.float64


def test_the_training_flag_reaches_layers_inside_nested_models():
    inner_in = tc.Input((8,), name="inner_in")
    inner = tc.Model(inner_in, L.Dropout(0.5, name="drop")(inner_in), name="inner")
    x = tc.Input((8,), name="x")
    dropped = inner(x)
    model = tc.Model(x, [dropped, L.BatchNormalization(name="bn")(dropped)])
    data = np.ones((64, 8), np.float32)
    bn = model.get_layer("bn")
    before = bn.moving_mean.numpy().copy()
    assert not (model(data)[0].numpy() == 0).any()                       # inference: no dropout
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)        # nor moving statistics
    assert 0.3 < (model(data, training=True)[0].numpy() == 0).mean() < 0.7   # reached the nested Dropout
    assert not np.array_equal(before, bn.moving_mean.numpy())            # and the BatchNormalization


def test_a_frozen_nested_model_keeps_its_weights_and_statistics_through_fit():
    inner_in = tc.Input((4,), name="inner_in")
    inner = tc.Model(inner_in, L.BatchNormalization(name="bn")(L.Dense(4, name="d")(inner_in)), name="inner")
    x = tc.Input((4,), name="x")
    model = tc.Model(x, L.Dense(1, name="head")(inner(x)))
    inner.trainable = False
    frozen = [w.numpy().copy() for w in inner.weights]
    head = model.get_layer("head").kernel.numpy().copy()
    model.compile(optimizer="sgd", loss="mse")
    data = np.random.default_rng(2).normal(size=(32, 4)).astype(np.float32) + 3
    model.fit(data, np.ones((32, 1)), epochs=2, verbose=0)
    assert all(np.array_equal(w, v.numpy()) for w, v in zip(frozen, inner.weights, strict=True))
    assert not np.array_equal(head, model.get_layer("head").kernel.numpy())
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6


def test_a_list_of_rows_for_a_one_input_model_says_to_stack_them():
    x = tc.Input((6,), name="x")
    model = tc.Model(x, L.Dense(2)(x))
    rows = [np.zeros(6, np.float32)] * 3
    with pytest.raises(ValueError, match=r"has 1 input \['x'\] but was called on a list of 3 arrays.*np.stack"):
        model(rows)
    assert model(np.stack(rows)).shape == (3, 2) and model([np.stack(rows)]).shape == (3, 2)


@pytest.mark.parametrize("input_shape", [(8, 8, 1), [8, 8, 1], [(8, 8, 1)], [np.zeros((1, 8, 8, 1))]],
                         ids=["tuple", "list_of_sizes", "list_of_one_shape", "list_of_one_batch"])
def test_plot_model_of_a_sequential_without_input_takes_one_shape_in_any_form(input_shape):
    model = tc.Sequential([L.Conv2D(2, 3, name="conv"), L.Flatten(name="flat"), L.Dense(2, name="out")])
    assert "out (Dense)" in tc.viz.plot_model(model, None, input_shape=input_shape).source


def test_keras_fine_tuning_keeps_a_base_called_with_training_false_in_inference_mode():
    tc.manual_seed(0)
    base = tc.Sequential([tc.Input((6, 6, 1)), L.Conv2D(4, 3, name="conv"), L.BatchNormalization(name="bn"),
                          L.ReLU()], name="base")
    base.trainable = False
    inputs = tc.Input((6, 6, 1))
    features = L.GlobalAveragePooling2D()(base(inputs, training=False))
    model = tc.Model(inputs, L.Dense(1, name="head")(features))
    data = np.random.default_rng(4).random((32, 6, 6, 1)).astype(np.float32)
    targets = np.random.default_rng(5).random((32, 1))
    model.compile(optimizer="adam", loss="mse")
    model.fit(data, targets, verbose=0)
    assert len(model.trainable_weights) == 2                       # only the head trains
    statistics, kernel = base.get_layer("bn").moving_mean.numpy().copy(), base.get_layer("conv").kernel.numpy().copy()
    base.trainable = True                                           # fine-tuning, compiled again
    model.compile(optimizer=tc.optimizers.Adam(learning_rate=1e-4), loss="mse")
    model.fit(data, targets, verbose=0)
    assert len(model.trainable_weights) == 6                       # conv 2 + gamma, beta + head 2
    assert not np.array_equal(kernel, base.get_layer("conv").kernel.numpy())
    np.testing.assert_array_equal(statistics, base.get_layer("bn").moving_mean.numpy())   # training=False held


def test_compute_output_shape_checks_the_inputs_sizes():
    x, meta = tc.Input((6,), name="x"), tc.Input((2,), name="meta")
    model = tc.Model([x, meta], L.Concatenate()([L.Dense(3)(x), meta]))
    assert model.compute_output_shape([(4, 6), (4, 2)]) == (4, 5)
    assert model.compute_output_shape({"meta": (None, 2), "x": (None, 6)}) == (None, 5)
    with pytest.raises(ValueError, match=r"input 'x' expects shape \(None, 6\), got \(4, 5\)"):
        model.compute_output_shape([(4, 5), (4, 2)])


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["dense", "add", "multiply", "shared", "nested"]),
                          st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=7),
       st.lists(st.integers(0, 99), min_size=1, max_size=3))
def test_random_graphs_survive_copies_configs_and_files(tmp_path_factory, steps, picks):
    """A random DAG (shared layers, a nested model used again and again, outputs listed twice or that are
    the input): deepcopy, pickle, from_config with the same weights and save/load give the same outputs."""
    tc.manual_seed(0)
    inner_in = tc.Input((4,), name="inner_in")
    nested = tc.Model(inner_in, L.Dense(4, activation="tanh", name="inner_dense")(inner_in), name="nested")
    shared = L.Dense(4, name="shared")
    tensors = [tc.Input((4,), name="x")]
    for kind, i, j in steps:
        a, b = tensors[i % len(tensors)], tensors[j % len(tensors)]
        layer = {"dense": lambda: L.Dense(4), "add": L.Add, "multiply": L.Multiply, "shared": lambda: shared,
                 "nested": lambda: nested}[kind]()
        tensors.append(layer([a, b]) if kind in ("add", "multiply") else layer(a))
    model = tc.Model(tensors[0], [tensors[-1]] + [tensors[k % len(tensors)] for k in picks])
    data = np.random.default_rng(len(steps)).standard_normal((3, 4)).astype(np.float32)
    expected = [y.numpy() for y in model(data)]
    rebuilt = tc.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    path = tmp_path_factory.mktemp("random") / "model.npz"
    model.save(path)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model)), rebuilt, tc.load_model(path)):
        assert twin.output_names == model.output_names
        for y, want in zip(twin(data), expected, strict=True):
            np.testing.assert_array_equal(y.numpy(), want)


class TwoOutputs(tc.Model):
    """A subclassed model whose call returns a tuple of two outputs."""

    def __init__(self) -> None:
        super().__init__(name="pair")
        self.first, self.second = L.Dense(2, name="first"), L.Dense(3, name="second")

    def call(self, x, training=False):
        return self.first(x), self.second(x)


def test_plot_model_draws_every_output_of_a_call_that_returns_a_tuple():
    source = tc.viz.plot_model(TwoOutputs(), None, input_shape=(4,)).source
    assert "first (Dense)" in source and "second (Dense)" in source
