"""Regularizers: Keras 3's penalties, layer and model `losses`, the loss fit and evaluate use, configs, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import tinygrad_cnn as tc
from tinygrad_cnn import regularizers

FACTORS = st.floats(0.0, 3.0)


def weights(min_magnitude=0.0):
    """float64 arrays of 1 to 3 axes; with min_magnitude, every value at least that far from 0 (|x| has a kink)."""
    values = st.floats(-5, 5).filter(lambda v: abs(v) >= min_magnitude)
    return arrays(np.float64, array_shapes(min_dims=1, max_dims=3, max_side=4), elements=values)


@settings(max_examples=25)
@given(w=weights(), l1=FACTORS, l2=FACTORS)
def test_penalties_are_keras_formulas(w, l1, l2):
    x = tc.Tensor(w)
    np.testing.assert_allclose(regularizers.L1(l1)(x).data, l1 * np.abs(w).sum(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(regularizers.L2(l2)(x).data, l2 * (w ** 2).sum(), rtol=1e-12, atol=1e-12)
    both = regularizers.L1L2(l1=l1, l2=l2)(x)
    assert both.ndim == 0 and both.dtype == np.float64
    np.testing.assert_allclose(both.data, l1 * np.abs(w).sum() + l2 * (w ** 2).sum(), rtol=1e-12, atol=1e-12)


def test_keras_documented_numbers():
    """Keras's docstring: L2(2.) of ones (5, 5) is 50; a Dense of ones kernel with L1(0.01) has 0.25."""
    assert float(regularizers.L2(2.0)(tc.ones(5, 5)).data) == pytest.approx(50.0)
    layer = tc.layers.Dense(5, kernel_initializer="ones", kernel_regularizer=regularizers.L1(0.01))
    layer(tc.ones(5, 5))
    assert [float(v.data) for v in layer.losses] == pytest.approx([0.25])
    assert regularizers.L1L2()(tc.ones(3)).data == 0  # Keras's class defaults are 0 and 0


@settings(max_examples=10)
@given(w=weights(min_magnitude=0.1), l1=FACTORS, l2=FACTORS)
def test_gradients_pass_gradcheck(w, l1, l2):
    tc.gradcheck(lambda x: regularizers.L1L2(l1, l2)(x) * 1.7, [tc.Tensor(w, requires_grad=True)])


@settings(max_examples=15)
@given(w=weights(), l2=FACTORS)
def test_l2_gradient_is_two_l2_w(w, l2):
    x = tc.Tensor(w, requires_grad=True)
    regularizers.L2(l2)(x).backward()
    np.testing.assert_allclose(x.grad.data, 2 * l2 * w, rtol=1e-12, atol=1e-12)


def test_identifiers_and_aliases():
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.get("l1") == regularizers.L1(0.01)
    assert regularizers.get("L2") == regularizers.L2(0.01)
    assert regularizers.get("l1_l2") == regularizers.L1L2(0.01, 0.01)   # the factors Keras documents
    assert regularizers.get("L1L2") == regularizers.L1L2(0.0, 0.0)      # the class with its defaults
    assert regularizers.get(None) is None
    penalty = regularizers.L2(0.3)
    assert regularizers.get(penalty) is penalty
    assert regularizers.get(regularizers.L1) == regularizers.L1()
    assert regularizers.L1(None) == regularizers.L1(0.01)   # None means the default, as in Keras

    def custom(x):
        return x.sum()

    assert regularizers.get(custom) is custom


@pytest.mark.parametrize("penalty", [regularizers.L1(0.2), regularizers.L2(0.05), regularizers.L1L2(0.1, 0.3)])
def test_config_round_trip(penalty):
    config = penalty.get_config()
    assert type(penalty).from_config(config) == penalty
    assert regularizers.get(regularizers.serialize(penalty)) == penalty
    assert regularizers.deserialize(regularizers.serialize(penalty)) == penalty  # Keras's pair
    keras_style = {"module": "keras.regularizers", "registered_name": None, **regularizers.serialize(penalty)}
    assert regularizers.deserialize(keras_style) == penalty
    with pytest.raises(TypeError, match="deserialize.*'l2'.*get"):
        regularizers.deserialize("l2")


@pytest.mark.parametrize("make, error, words", [
    (lambda: regularizers.L1(-0.1), ValueError, ["L1", "l1", "-0.1", ">= 0"]),
    (lambda: regularizers.L2(float("nan")), ValueError, ["L2", "l2", "nan"]),
    (lambda: regularizers.L1L2(l2=float("inf")), ValueError, ["L1L2", "l2", "inf"]),
    (lambda: regularizers.L1L2(l1="0.1"), TypeError, ["L1L2", "l1", "number", "'0.1'"]),
    (lambda: regularizers.L2(True), TypeError, ["L2", "l2", "True"]),
    (lambda: regularizers.get("l3"), ValueError, ["'l3'", "l1_l2"]),
    (lambda: regularizers.get(5), TypeError, ["int", "L2(0.01)"]),
    (lambda: regularizers.get({"class_name": "os.system", "config": {}}), ValueError, ["os.system", "L1L2"]),
    (lambda: regularizers.get({"class_name": "L2", "config": {"l3": 1}}), ValueError, ["L2", "l3"]),
    (lambda: regularizers.L2()(np.ones(3)), TypeError, ["L2", "Tensor", "ndarray"]),
    (lambda: tc.layers.Dense(3, kernel_regularizer="l3"), ValueError, ["Dense", "kernel_regularizer", "'l3'"]),
    (lambda: tc.layers.Conv2D(3, 3, activity_regularizer=2.0), TypeError, ["Conv2D", "activity_regularizer"]),
])
def test_bad_arguments_say_what_and_how(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_layer_arguments_take_keras_positions():
    """The regularizers sit at Keras 3's positions (right after the initializers; name is a keyword), so
    positional calls written for Keras keep their meaning; Keras's keyword names work."""
    dense = tc.layers.Dense(4, "relu", False, "ones", "zeros", "l2", None, "l1", name="d")
    assert (dense.name, dense.use_bias, dense.kernel_regularizer, dense.activity_regularizer) == \
        ("d", False, regularizers.L2(0.01), regularizers.L1(0.01))
    conv = tc.layers.Conv2D(2, 3, 1, "valid", "channels_last", 1, 1, None, True, "ones", "zeros", name="c",
                            bias_regularizer=regularizers.L1(0.5))
    assert conv.name == "c" and conv.bias_regularizer == regularizers.L1(0.5) and conv.kernel_regularizer is None


def test_losses_are_recomputed_from_the_current_weights():
    layer = tc.layers.Dense(3, kernel_regularizer=regularizers.L2(0.1), bias_regularizer=regularizers.L1(0.2))
    layer(np.ones((2, 4), np.float32))
    kernel, bias = np.full((4, 3), 0.5, np.float32), np.array([1.0, -2.0, 0.0], np.float32)
    layer.set_weights([kernel, bias])
    assert [float(v.data) for v in layer.losses] == pytest.approx([0.1 * (kernel ** 2).sum(),
                                                                   0.2 * np.abs(bias).sum()])
    layer.set_weights([2 * kernel, bias])
    assert float(layer.losses[0].data) == pytest.approx(0.1 * (4 * kernel ** 2).sum())


def test_activity_penalty_is_from_the_last_call_without_batch_division():
    """Keras 3 adds activity_regularizer(output) (not divided by the batch size) and resets it on each call."""
    layer = tc.layers.Dense(2, kernel_initializer="ones", activity_regularizer=regularizers.L2(0.01))
    assert layer.losses == []
    layer(np.full((5, 5), 2.0, np.float32))              # outputs 10: 0.01 * 10 values * 100
    assert [float(v.data) for v in layer.losses] == pytest.approx([10.0])
    layer(np.ones((1, 5), np.float32))                    # outputs 5: 0.01 * 2 values * 25
    assert [float(v.data) for v in layer.losses] == pytest.approx([0.5])


def test_model_losses_cover_nested_layers_and_skip_frozen_weights():
    inner = tc.Sequential([tc.layers.Dense(3, kernel_regularizer="l2", activity_regularizer="l1", name="a")])
    model = tc.Sequential([tc.Input((4,)), inner, tc.layers.Dense(2, bias_regularizer="l1", name="b")])
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    hidden = inner(x)
    model(x)
    a = inner.layers[0]
    expected = [0.01 * np.abs(hidden.data).sum(), 0.01 * (a.kernel.data ** 2).sum(), 0.0]  # activity first
    assert [float(v.data) for v in model.losses] == pytest.approx(expected, rel=1e-5)
    inner.trainable = False   # frozen weights are not penalized (Keras: trainable weights only)
    assert len(model.losses) == 2


def test_penalty_gradients_reach_the_conv_kernel():
    conv = tc.layers.Conv2D(2, 3, kernel_regularizer=regularizers.L2(0.25))
    conv(np.zeros((1, 5, 5, 1), np.float32))
    (total,) = conv.losses
    total.backward()
    np.testing.assert_allclose(conv.kernel.grad.data, 2 * 0.25 * conv.kernel.data, rtol=1e-6)


def _data(seed=0, n=16):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.standard_normal((n, 2)).astype(np.float32)


def test_fit_and_evaluate_log_data_loss_plus_penalties():
    """One batch: the logged loss is the MSE at the starting weights plus l2 * |W|^2 + l1 * |b|_1 + the activity
    penalty of that batch, all computed here with NumPy; evaluate adds the penalties of the weights after."""
    x, y = _data()
    tc.manual_seed(1)
    model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(2, bias_initializer="ones", kernel_regularizer="l2",
                                                            bias_regularizer=regularizers.L1(0.3),
                                                            activity_regularizer=regularizers.L1(0.02))])
    model.compile(tc.optimizers.SGD(learning_rate=0.1), "mse")
    kernel, bias = model.get_weights()

    def expected(kernel, bias):
        out = x @ kernel + bias
        return (((out - y) ** 2).mean() + 0.01 * (kernel ** 2).sum() + 0.3 * np.abs(bias).sum()
                + 0.02 * np.abs(out).sum())

    logged = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history["loss"][0]
    assert logged == pytest.approx(expected(kernel, bias), rel=1e-5)
    kernel, bias = model.get_weights()
    assert model.evaluate(x, y, batch_size=len(x), verbose=0) == pytest.approx(expected(kernel, bias), rel=1e-5)


def test_one_sgd_step_matches_torch_weight_decay(torch):
    """L2(l2) adds 2 * l2 * W to the kernel's gradient: torch's SGD with weight_decay = 2 * l2 on the kernel."""
    x, y = _data(seed=3)
    l2, lr = 0.05, 0.2
    tc.manual_seed(2)
    model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(2, kernel_regularizer=regularizers.L2(l2))])
    model.compile(tc.optimizers.SGD(learning_rate=lr), "mse")
    kernel, bias = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in model.get_weights())
    reference = torch.optim.SGD([{"params": [kernel], "weight_decay": 2 * l2}, {"params": [bias]}], lr=lr)
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    loss = ((torch.tensor(x, dtype=torch.float64) @ kernel + bias - torch.tensor(y, dtype=torch.float64)) ** 2).mean()
    loss.backward()
    reference.step()
    np.testing.assert_allclose(model.get_weights()[0], kernel.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], bias.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_adam_with_l2_is_torch_adam_with_coupled_weight_decay(torch):
    """Five Adam steps with L2(l2) on the kernel: torch's Adam with weight_decay = 2 * l2 on the kernel (not AdamW)."""
    x, y = _data(seed=5)
    l2, lr = 0.05, 0.01
    tc.manual_seed(5)
    model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(2, kernel_regularizer=regularizers.L2(l2))])
    model.compile(tc.optimizers.Adam(learning_rate=lr), "mse")
    kernel, bias = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in model.get_weights())
    reference = torch.optim.Adam([{"params": [kernel], "weight_decay": 2 * l2}, {"params": [bias]}], lr=lr, eps=1e-7)
    model.fit(x, y, batch_size=len(x), epochs=5, shuffle=False, verbose=0)
    inputs, targets = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    for _ in range(5):
        reference.zero_grad()
        ((inputs @ kernel + bias - targets) ** 2).mean().backward()
        reference.step()
    np.testing.assert_allclose(model.get_weights()[0], kernel.detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], bias.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_save_and_load_keep_the_regularizers(tmp_path):
    tc.manual_seed(4)
    model = tc.Sequential([tc.Input((6, 6, 1)),
                           tc.layers.Conv2D(2, 3, kernel_regularizer=regularizers.L1L2(0.01, 0.02), name="c"),
                           tc.layers.Flatten(),
                           tc.layers.Dense(3, bias_regularizer="l1", activity_regularizer="l2", name="d")])
    model.compile("adam", "mse")
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = tc.load_model(path)
    assert loaded.get_config() == model.get_config()
    assert loaded.get_layer("c").kernel_regularizer == regularizers.L1L2(0.01, 0.02)
    assert loaded.get_layer("d").activity_regularizer == regularizers.L2(0.01)
    assert [float(v.data) for v in loaded.losses] == [float(v.data) for v in model.losses]


def test_a_custom_penalty_trains_but_cannot_be_saved(tmp_path):
    model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(2, kernel_regularizer=lambda w: (w * w).sum() * 0.5)])
    model.compile("sgd", "mse")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    assert len(model.losses) == 1
    with pytest.raises(ValueError, match=r"custom callable.*L1, L2, L1L2.*ModelCheckpoint\(save_weights_only=True\)"):
        model.save(tmp_path / "model.npz")
    model.fit(x, y, epochs=1, verbose=0, callbacks=tc.callbacks.ModelCheckpoint(tmp_path / "w.npz",
                                                                              save_weights_only=True))
    model.load_weights(tmp_path / "w.npz")  # the way out the message gives works


def test_a_penalty_that_is_not_a_scalar_is_summed_as_in_keras():
    x, y = _data()
    histories = []
    for penalty in (regularizers.L2(0.05), lambda w: (w * w) * 0.05):  # the same penalty, summed by fit
        tc.manual_seed(0)
        model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(2, kernel_regularizer=penalty)])
        model.compile(tc.optimizers.SGD(learning_rate=0.1), "mse")
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
                         + [model.evaluate(x, y, verbose=0)])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-6)
