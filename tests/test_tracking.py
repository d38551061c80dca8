"""Layers that hold layers: attributes (and lists, tuples, dicts of layers) are tracked, as in Keras and PyTorch."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten


class Block(tc.layers.Layer):
    """The residual block of the docs: conv1 (relu), then two more convolutions, plus the input."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv1 = Conv2D(filters, 3, padding="same", activation="relu")
        self.convs = [Conv2D(filters, 3, padding="same") for _ in range(2)]

    def call(self, x):
        y = self.conv1(x)
        for conv in self.convs:
            y = conv(y)
        return x + y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


class Holder(tc.layers.Layer):
    """Holds whatever it is given in `self.held`; its call applies every Dense it holds in order."""

    def __init__(self, held=None, **kwargs):
        super().__init__(**kwargs)
        self.held = held

    def call(self, x):
        for layer in self._sublayers():
            x = layer(x)
        return x


class Linear(tc.layers.Layer):
    """Keras's first custom layer: the weights made in build(), an output of another width."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, x):
        return x @ self.w + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def images(shape=(2, 5, 5, 3), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def built_block(filters=3, seed=0):
    tc.manual_seed(seed)
    block = Block(filters)
    block(images((1, 5, 5, filters)))
    return block


# --- what is tracked ---

def test_weights_of_attributes_and_lists_in_assignment_order():
    block = built_block()
    convs = [block.conv1, *block.convs]
    assert block._sublayers() == convs
    assert block.weights == [w for conv in convs for w in (conv.kernel, conv.bias)]
    assert block.trainable_weights == block.weights == block.parameters() and block.non_trainable_weights == []
    assert block.count_params() == 3 * (3 * 3 * 3 * 3 + 3)
    assert [key for key, _ in block.named_parameters()] == [
        "conv1/kernel", "conv1/bias", "convs/0/kernel", "convs/0/bias", "convs/1/kernel", "convs/1/bias"]
    assert [w for _, w in block.named_parameters()] == block.weights
    assert list(block.state_dict()) == [key for key, _ in block.named_parameters()]


def test_keys_in_a_sequential_are_layer_names_then_attribute_paths():
    model = tc.Sequential([tc.Input((5, 5, 3)), Block(3, name="res"), Flatten(), Dense(2, name="head")])
    assert list(model.state_dict()) == ["res/conv1/kernel", "res/conv1/bias", "res/convs/0/kernel",
                                        "res/convs/0/bias", "res/convs/1/kernel", "res/convs/1/bias",
                                        "head/kernel", "head/bias"]
    dense = Dense(2)
    dense.build((None, 3))
    assert list(dense.state_dict()) == ["kernel", "bias"]   # a layer's own weights: their own names, as torch


def test_reassigning_keeps_the_place_and_deleting_untracks():
    holder = Holder()
    holder.a, holder.b, holder.c = Dense(1), Dense(2), Dense(3)
    old_b = holder.b
    holder.b = Dense(4)
    assert [layer.units for layer in holder._sublayers()] == [1, 4, 3] and old_b not in holder._sublayers()
    holder.a = "not a layer any more"
    del holder.c
    assert [layer.units for layer in holder._sublayers()] == [4]
    holder.c = Dense(5)   # a new attribute comes last
    assert [layer.units for layer in holder._sublayers()] == [4, 5]


def test_lists_and_dicts_changed_after_assignment_are_seen():
    holder = Holder([])
    holder.held.append(Dense(2))
    holder.extra = {}
    holder.extra["head"] = Dense(3)
    holder.held.append(Dense(4))
    assert [layer.units for layer in holder._sublayers()] == [2, 4, 3]
    holder(np.ones((1, 5)))
    assert [key for key, _ in holder.named_parameters()] == [
        "held/0/kernel", "held/0/bias", "held/1/kernel", "held/1/bias", "extra/head/kernel", "extra/head/bias"]


def test_layers_assigned_before_super_init_are_tracked():
    class Early(tc.layers.Layer):
        def __init__(self):
            self.dense = Dense(2)
            super().__init__()

        def call(self, x):
            return self.dense(x)

    early = Early()
    early(np.ones((1, 3)))
    assert early.weights == early.dense.weights and len(early.weights) == 2


def test_a_forgotten_super_init_is_named():
    class Forgetful(tc.layers.Layer):
        def __init__(self):
            self.dense = Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(AttributeError, match=r"Layer.__init__ never ran: call super\(\).__init__\(\*\*kwargs\)"):
        Forgetful()(np.ones((1, 2)))
    with pytest.raises(AttributeError, match="'Holder' object has no attribute 'missing'"):
        _ = Holder().missing
    assert not hasattr(Holder(), "missing")


def test_tensors_numbers_and_other_attributes_are_not_weights():
    """Weights come from add_weight only (a Tensor attribute is a constant, as a plain torch tensor is)."""
    holder = Holder()
    holder.constant = tc.Tensor(np.ones(3), requires_grad=True)
    holder.sizes = (3, 3)
    holder.table = np.ones((2, 2))
    holder.names = ["a", "b"]
    holder.build((None, 3))
    assert holder.weights == [] and holder.count_params() == 0 and holder._sublayers() == []


def test_a_set_of_layers_is_refused_with_the_fix():
    holder = Holder({Dense(1), Dense(2)})
    with pytest.raises(TypeError, match=r"Holder 'holder.*'\.held is a set of layers.*use a list or a dict"):
        _ = holder.weights


def test_keys_that_would_come_twice_are_refused():
    holder = Holder({"b/0": Dense(1), "b": [Dense(1)]})
    holder(np.ones((1, 1)))
    with pytest.raises(ValueError, match=r"weight keys \['held/b/0/bias', 'held/b/0/kernel'\] come twice"):
        holder.state_dict()


def test_a_layer_held_twice_counts_once():
    shared = Dense(2)
    holder = Holder([shared, shared])
    holder.again = shared
    holder(np.ones((1, 2)))
    assert holder.weights == shared.weights and holder.count_params() == 6
    assert list(holder.state_dict()) == ["held/0/kernel", "held/0/bias"]


def test_cycles_end():
    holder = Holder()
    child = Holder([Dense(2)])
    holder.child = child
    child.parent = holder     # a cycle through two layers
    holder.me = holder        # and one through itself
    loop = []
    loop.append(loop)         # a list that holds itself
    holder.loop = loop
    holder.child.held[0].build((None, 2))
    assert holder.weights == child.held[0].weights and len(holder.weights) == 2
    holder.trainable = False
    holder.train()
    assert not child.held[0].trainable and child.held[0].training and holder.trainable_weights == []


def test_deep_nesting_needs_no_recursion():
    depth = sys.getrecursionlimit() + 100
    root = inner = Holder()
    for _ in range(depth):
        inner.child = Holder()
        inner = inner.child
    inner.dense = Dense(1)
    inner.dense.build((None, 1))
    assert len(root.weights) == 2
    assert next(iter(root.state_dict())) == "child/" * depth + "dense/kernel"
    nested = current = []
    for _ in range(depth):
        current.append([])
        current = current[0]
    current.append(Dense(1))
    assert len(Holder(nested)._sublayers()) == 1


@st.composite
def structures(draw, depth=3):
    """A nested list/tuple/dict structure of Dense layers (and a few numbers and strings)."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.one_of(st.builds(Dense, st.integers(1, 3)), st.integers(0, 9), st.just("text")))
    items = draw(st.lists(structures(depth - 1), max_size=3))
    kind = draw(st.sampled_from(["list", "tuple", "dict"]))
    if kind == "dict":
        return {f"k{i}": item for i, item in enumerate(items)}
    return items if kind == "list" else tuple(items)


def leaves(structure, path):
    """(path, layer) of the Dense layers in `structure`, depth first, written recursively (the oracle)."""
    if isinstance(structure, Dense):
        return [(path, structure)]
    if isinstance(structure, dict):
        return [pair for key, item in structure.items() for pair in leaves(item, f"{path}/{key}")]
    if isinstance(structure, (list, tuple)):
        return [pair for i, item in enumerate(structure) for pair in leaves(item, f"{path}/{i}")]
    return []


@settings(max_examples=25)
@given(first=structures(), second=structures())
def test_any_nesting_of_lists_tuples_and_dicts(first, second):
    holder = Holder(first)
    holder.second = second
    expected = leaves(first, "held") + leaves(second, "second")
    assert holder._attribute_layers() == expected
    for _, dense in expected:
        dense.build((None, 2))
    assert holder.weights == [w for _, dense in expected for w in dense.weights]
    assert list(holder.state_dict()) == [f"{path}/{name}" for path, _ in expected for name in ("kernel", "bias")]
    holder.trainable = False
    assert all(not w.requires_grad for w in holder.weights) and holder.trainable_weights == []


# --- what propagates ---

def test_trainable_freezes_and_unfreezes_every_sublayer():
    block = built_block()
    block.convs[0].trainable = False
    assert block.non_trainable_weights == block.convs[0].weights
    assert [w.requires_grad for w in block.weights] == [True, True, False, False, True, True]
    block.trainable = False
    assert block.trainable_weights == [] and not any(w.requires_grad for w in block.weights)
    assert not block.conv1.trainable and list(block.named_parameters()) == []
    block.trainable = True    # Keras: unfreezes the layers frozen one by one too
    assert block.trainable_weights == block.weights and all(w.requires_grad for w in block.weights)


def test_train_eval_zero_grad_and_dtype_reach_every_sublayer():
    block = built_block()
    assert block.train() is block and all(layer.training for layer in block._sublayers())
    block.eval()
    assert not any(layer.training for layer in block._sublayers())
    block(images((2, 5, 5, 3))).sum().backward()
    assert all(w.grad is not None for w in block.weights)
    block.zero_grad()
    assert all(w.grad is None for w in block.weights)
    assert block.double() is block and {w.dtype for w in block.weights} == {np.dtype(np.float64)}
    assert block(images((1, 5, 5, 3))).dtype == np.float64
    block.float()
    assert {w.dtype for w in block.weights} == {np.dtype(np.float32)}
    unbuilt = Block(2).double()   # weights made later follow the dtype
    unbuilt(images((1, 4, 4, 2)))
    assert {w.dtype for w in unbuilt.weights} == {np.dtype(np.float64)}


def test_losses_of_sublayers_count_once():
    shared = Dense(2, kernel_regularizer=tc.regularizers.L2(0.5), activity_regularizer=tc.regularizers.L1(0.1))
    holder = Holder([shared])
    holder.again = shared
    holder.other = Dense(2, kernel_regularizer="l2")
    x = images((3, 2))
    holder(x)   # shared, shared again, then other: the last call's activity penalty is the one kept
    last_input = x @ shared.kernel.data + shared.bias.data
    expected = [0.1 * np.abs(last_input @ shared.kernel.data + shared.bias.data).sum(),
                0.5 * (shared.kernel.data ** 2).sum(), 0.01 * (holder.other.kernel.data ** 2).sum()]
    assert [loss.item() for loss in holder.losses] == pytest.approx(expected, rel=1e-5)
    holder.other.trainable = False   # a frozen weight adds no penalty
    assert len(holder.losses) == 2


def test_get_and_set_weights_and_state_dict_into_another_instance():
    source, target = built_block(seed=1), built_block(seed=2)
    x = images((2, 5, 5, 3), seed=3)
    assert not np.allclose(source(x).data, target(x).data)
    assert target.load_state_dict(source.state_dict()) == ([], [])   # same attribute paths: keys match
    np.testing.assert_array_equal(target(x).data, source(x).data)
    other = built_block(seed=4)
    other.set_weights(source.get_weights())
    np.testing.assert_array_equal(other(x).data, source(x).data)
    state = source.state_dict()
    state.pop("convs/1/bias")
    with pytest.raises(KeyError, match=r"missing weights \['convs/1/bias'\]"):
        target.load_state_dict(state)


# --- building, shapes and configs ---

def test_a_block_that_changes_the_shape_builds_a_sequential_right():
    model = tc.Sequential([tc.Input((4, 4, 2)), Linear(5, name="lin"), Holder([Dense(3), Dense(6)]), Flatten(),
                           Dense(2)])
    assert [layer.output_shape for layer in model.layers] == [(None, 4, 4, 5), (None, 4, 4, 6), (None, 96), (None, 2)]
    assert model(images((3, 4, 4, 2))).shape == (3, 2)
    rows = model.summary_str()
    assert "lin (Linear)" in rows and "(None, 4, 4, 6)" in rows and f"{model.count_params():,}" in rows
    assert model.count_params() == (2 * 5 + 5) + (5 * 3 + 3 + 3 * 6 + 6) + (96 * 2 + 2)
    lazy = tc.Sequential([Linear(5), Flatten(), Dense(2)])   # built on the first call
    assert lazy(images((3, 4, 2))).shape == (3, 2) and lazy.layers[1].output_shape == (None, 20)


def test_building_by_hand_and_keras_style_super_build():
    class SuperBuild(Holder):
        def build(self, input_shape):
            super().build(input_shape)   # the Keras idiom; no weights of its own

    holder = Holder([Dense(3)])
    holder.build((None, 2))   # builds the sublayers by running call on a zero sample
    assert holder.built and holder.output_shape == (None, 3) and len(holder.weights) == 2
    other = SuperBuild([Dense(4)])
    assert other(images((2, 3))).shape == (2, 4) and other.output_shape == (None, 4)
    by_hand = SuperBuild([Dense(4)])
    by_hand.build((None, 3))
    assert by_hand.built and by_hand(images((2, 3))).shape == (2, 4)


def test_layers_made_in_build_are_tracked_and_made_once():
    class Lazy(tc.layers.Layer):
        def build(self, input_shape):
            self.dense = Dense(input_shape[-1] * 2)
            self.dense.build(input_shape)

        def call(self, x):
            return self.dense(x)

    lazy = Lazy()
    lazy.build((None, 3))   # by hand: the first call must not make a new Dense
    dense = lazy.dense
    assert lazy(images((2, 3))).shape == (2, 6) and lazy.dense is dense and lazy.weights == dense.weights
    called = Lazy()
    assert called(images((2, 4))).shape == (2, 8) and called.output_shape == (None, 8)


def test_the_shape_trace_leaves_modes_statistics_and_penalties_alone():
    holder = Holder([BatchNormalization(), Dropout(0.5)])
    holder.train()
    holder.activity = Dense(2, activity_regularizer="l2")
    holder.build((None, 2))
    norm = holder.held[0]
    np.testing.assert_array_equal(norm.moving_mean.data, 0)
    np.testing.assert_array_equal(norm.moving_variance.data, 1)
    assert holder.training and norm.training and holder.held[1].training
    assert holder.losses == []   # no activity penalty of the zero sample


def test_unknown_sizes_need_a_compute_output_shape():
    with pytest.raises(ValueError, match=r"every size but the batch's; got \(None, None, 3\).*compute_output_shape"):
        tc.Sequential([tc.Input((None, 3)), Holder([Dense(2)])])


def test_output_shapes_of_several_inputs_and_outputs():
    class TwoHeads(tc.layers.Layer):
        def __init__(self):
            super().__init__()
            self.a, self.b = Dense(4), Dense(5)

        def call(self, inputs):
            first, second = inputs
            return {"a": self.a(first), "b": self.b(second)}

    class Pair(TwoHeads):
        def call(self, inputs):
            return self.a(inputs["x"]), self.b(inputs["x"])

    class Numbers(TwoHeads):
        def call(self, inputs):
            return [self.a(inputs), 3]

    assert TwoHeads().compute_output_shape([(None, 2), (None, 3)]) == {"a": (None, 4), "b": (None, 5)}
    assert Pair().compute_output_shape({"x": (None, 2)}) == [(None, 4), (None, 5)]
    with pytest.raises(TypeError, match="returned list, not a Tensor or a list or dict of them"):
        Numbers().compute_output_shape((None, 2))


def test_the_receptive_field_after_a_block_is_unknown_not_wrong():
    model = tc.Sequential([tc.Input((8, 8, 2)), Conv2D(2, 3, padding="same"), Block(2, name="res"), Conv2D(2, 3),
                           Flatten(), Dense(2)])
    rows = {line.split()[0]: line.split()[-1] for line in model.summary_str(show_receptive_field=True).splitlines()
            if line.split() and line.split()[-1] in ("3x3", "?", "input")}
    assert rows == {model.layers[0].name: "3x3", "res": "?", model.layers[2].name: "?",
                    model.layers[3].name: "?", model.layers[4].name: "input"}


def test_configs_are_the_users_own():
    with pytest.raises(NotImplementedError, match=r"knows only name, trainable, dtype, not held.*define get_config"):
        Holder([Dense(2)]).get_config()
    block = Block(4, name="res")
    assert block.get_config() == {"name": "res", "trainable": True, "dtype": "float32", "filters": 4}
    copy = Block.from_config(block.get_config())
    assert copy.filters == 4 and copy.name == "res" and copy.conv1 is not block.conv1


def test_weight_names_with_a_slash_are_refused():
    with pytest.raises(ValueError, match=r"name must be non-empty and without '/', got 'a/b'"):
        Dense(2).add_weight(name="a/b", shape=(2,))


# --- gradients ---

def block_by_hand(block, x):
    """The block's computation in plain Tensor ops with its weights."""
    def conv(layer, inputs):
        return tc.conv2d(inputs, layer.kernel, layer.bias, padding="same")
    y = conv(block.conv1, x).relu()
    for layer in block.convs:
        y = conv(layer, y)
    return x + y


def test_gradients_match_plain_tensor_code_and_pytorch(torch):
    block = built_block().double()
    x_data = images((2, 5, 5, 3), seed=5, dtype=np.float64)
    upstream = images((2, 5, 5, 3), seed=6, dtype=np.float64)
    x = tc.Tensor(x_data, requires_grad=True)
    (block(x) * tc.Tensor(upstream)).sum().backward()
    ours = [w.grad.data.copy() for w in block.weights] + [x.grad.data]
    block.zero_grad()
    x2 = tc.Tensor(x_data, requires_grad=True)
    (block_by_hand(block, x2) * tc.Tensor(upstream)).sum().backward()
    np.testing.assert_allclose(ours[-1], x2.grad.data, rtol=1e-12, atol=1e-12)
    for got, w in zip(ours, block.weights, strict=False):
        np.testing.assert_allclose(got, w.grad.data, rtol=1e-12, atol=1e-12)

    F = torch.nn.functional
    nchw = torch.tensor(x_data.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    params = [torch.tensor(w.data.transpose(3, 2, 0, 1).copy() if w.ndim == 4 else w.data.copy(), requires_grad=True)
              for w in block.weights]
    y = F.relu(F.conv2d(nchw, params[0], params[1], padding=1))
    for k, b in zip(params[2::2], params[3::2], strict=True):
        y = F.conv2d(y, k, b, padding=1)
    (nchw + y).backward(torch.tensor(upstream.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(ours[-1], nchw.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)
    for got, p in zip(ours[:-1], params, strict=True):
        expected = p.grad.numpy().transpose(2, 3, 1, 0) if p.ndim == 4 else p.grad.numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_gradcheck_of_a_block():
    block = built_block(filters=2).double()
    x = tc.Tensor(images((1, 3, 3, 2), seed=7, dtype=np.float64), requires_grad=True)
    assert tc.gradcheck(lambda x, *weights: block(x), (x, *block.weights))


# --- in a model: training and saving ---

def block_model(seed=0):
    tc.manual_seed(seed)
    model = tc.Sequential([tc.Input((5, 5, 2)), Block(2), Flatten(), Dense(3)])
    model.compile(optimizer=tc.optimizers.SGD(learning_rate=0.05),
                  loss=tc.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_fit_moves_every_weight_of_the_block_but_the_frozen_ones():
    x, y = images((16, 5, 5, 2), seed=8), np.random.default_rng(9).integers(0, 3, 16)
    model = block_model()
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    frozen = block_model()
    block = frozen.layers[0]
    block.convs[1].trainable = False
    frozen.compile(optimizer=tc.optimizers.SGD(learning_rate=0.05),
                   loss=tc.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = {key: value.copy() for key, value in frozen.state_dict().items()}
    frozen.fit(x, y, epochs=1, batch_size=8, verbose=0)
    after = frozen.state_dict()
    moved = {key for key in before if not np.array_equal(before[key], after[key])}
    assert moved == set(before) - {f"{block.name}/convs/1/kernel", f"{block.name}/convs/1/bias"}
    assert len(frozen.trainable_weights) == len(frozen.weights) - 2


def test_a_subclassed_model_finds_its_layers_by_tracking(tmp_path):
    class Net(tc.Model):
        def __init__(self):
            super().__init__()
            self.features = [Conv2D(4, 3), BatchNormalization()]
            self.head = {"flat": Flatten(), "out": Dense(3)}

        def call(self, x, training=False):
            for layer in self.features:
                x = layer(x)
            return self.head["out"](self.head["flat"](x))

    tc.manual_seed(3)
    net = Net()
    net.train()
    net.build((None, 6, 6, 2))   # the shape trace runs in inference mode: the statistics stay put
    norm = net.features[1]
    np.testing.assert_array_equal(norm.moving_variance.data, 1)
    assert net.training and norm.training and net.layers == [*net.features, *net.head.values()]
    assert [key for key, _ in net.named_parameters()] == [
        "features/0/kernel", "features/0/bias", "features/1/gamma", "features/1/beta", "head/out/kernel",
        "head/out/bias"]
    assert net.count_params() == (2 * 9 * 4 + 4) + 4 * 4 + (64 * 3 + 3)
    net.compile(optimizer=tc.optimizers.SGD(learning_rate=0.1),
                loss=tc.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = images((8, 6, 6, 2), seed=11), np.arange(8) % 3
    before = net.get_weights()
    net.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, net.get_weights(), strict=True))
    net.save_weights(tmp_path / "net.weights.npz")
    copy = Net()
    copy.build((None, 6, 6, 2))
    copy.load_weights(tmp_path / "net.weights.npz")
    np.testing.assert_array_equal(copy.predict(x), net.predict(x))


def test_save_weights_and_load_weights_round_trip(tmp_path):
    source = block_model(seed=1)
    x = images((3, 5, 5, 2), seed=10)
    source.save_weights(tmp_path / "block.weights.npz")
    target = block_model(seed=2)
    assert not np.allclose(target.predict(x), source.predict(x))
    target.load_weights(tmp_path / "block.weights.npz")
    np.testing.assert_array_equal(target.predict(x), source.predict(x))


def test_model_save_names_the_class_it_cannot_rebuild(tmp_path):
    with pytest.raises(ValueError, match="Block"):
        block_model().save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()
