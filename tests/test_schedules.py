"""Learning-rate schedules: Keras 3's formulas, optimizers stepping with schedule(iterations), saving, errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.optimizers import schedules

STEPS = st.integers(0, 500)
RATES = st.floats(1e-4, 1.0)


def test_hand_computed_values():
    """Values worked out by hand from Keras's documented formulas."""
    assert schedules.ExponentialDecay(0.1, 10, 0.5)(20) == pytest.approx(0.025)          # 0.1 * 0.5^2
    assert schedules.ExponentialDecay(0.1, 10, 0.5)(5) == pytest.approx(0.1 / math.sqrt(2))
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(19) == pytest.approx(0.05)
    assert schedules.InverseTimeDecay(0.1, 1.0, 0.5)(2) == pytest.approx(0.05)          # 0.1 / (1 + 0.5 * 2)
    assert schedules.InverseTimeDecay(0.1, 4, 1.0, staircase=True)(7) == pytest.approx(0.05)
    piecewise = schedules.PiecewiseConstantDecay([100000, 110000], [1.0, 0.5, 0.1])  # Keras's example
    assert [piecewise(s) for s in (0, 100000, 100001, 110000, 110001)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    from_arrays = schedules.PiecewiseConstantDecay(np.array([100000, 110000]), np.array([1.0, 0.5, 0.1]))
    assert from_arrays.get_config() == piecewise.get_config() and json.dumps(from_arrays.get_config())
    assert schedules.PolynomialDecay(0.1, 10, 0.01)(5) == pytest.approx(0.055)           # halfway, power 1
    assert schedules.PolynomialDecay(0.1, 10, 0.0, power=2.0)(5) == pytest.approx(0.025)
    assert schedules.PolynomialDecay(0.1, 10, 0.01)(50) == pytest.approx(0.01)           # stays at the end
    assert schedules.PolynomialDecay(0.1, 10, 0.0, cycle=True)(15) == pytest.approx(0.025)  # period 20
    assert schedules.PolynomialDecay(0.1, 10, 0.0, cycle=True)(0) == pytest.approx(0.1)
    assert schedules.CosineDecay(0.1, 100)(50) == pytest.approx(0.05)                    # cos(pi/2) = 0
    assert schedules.CosineDecay(0.1, 100, alpha=0.2)(100) == pytest.approx(0.02)
    assert schedules.CosineDecay(0.1, 100, alpha=0.2)(1000) == pytest.approx(0.02)
    warm = schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)
    assert [warm(s) for s in (0, 5, 10, 60, 110, 500)] == pytest.approx([0.0, 0.05, 0.1, 0.05, 0.0, 0.0])


@pytest.mark.parametrize("cls, positional, expected", [  # every argument by position, in Keras 3's order
    (schedules.ExponentialDecay, (0.1, 10, 0.5, True, "e"),
     {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "staircase": True, "name": "e"}),
    (schedules.InverseTimeDecay, (0.1, 10, 0.5, True, "i"),
     {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "staircase": True, "name": "i"}),
    (schedules.PiecewiseConstantDecay, ([5], [0.1, 0.01], "p"),
     {"boundaries": [5], "values": [0.1, 0.01], "name": "p"}),
    (schedules.PolynomialDecay, (0.1, 10, 0.01, 2.0, True, "q"), {"initial_learning_rate": 0.1, "decay_steps": 10,
     "end_learning_rate": 0.01, "power": 2.0, "cycle": True, "name": "q"}),
    (schedules.CosineDecay, (0.1, 10, 0.2, "c", 0.5, 3), {"initial_learning_rate": 0.1, "decay_steps": 10,
     "alpha": 0.2, "name": "c", "warmup_target": 0.5, "warmup_steps": 3}),
])
def test_positional_arguments_follow_keras(cls, positional, expected):
    assert cls(*positional).get_config() == expected


@settings(max_examples=30)
@given(step=STEPS, lr=RATES, decay_steps=st.integers(1, 200), rate=st.floats(0.05, 1.5), staircase=st.booleans())
def test_exponential_and_inverse_time(step, lr, decay_steps, rate, staircase):
    p = step // decay_steps if staircase else step / decay_steps
    assert schedules.ExponentialDecay(lr, decay_steps, rate, staircase)(step) == pytest.approx(lr * rate ** p)
    assert schedules.InverseTimeDecay(lr, decay_steps, rate, staircase)(step) == pytest.approx(lr / (1 + rate * p))


@settings(max_examples=30)
@given(values=st.lists(RATES, min_size=1, max_size=5), gaps=st.lists(st.integers(1, 50), min_size=4, max_size=4),
       step=st.integers(0, 250))
def test_piecewise_constant(values, gaps, step):
    boundaries = list(np.cumsum(gaps[: len(values) - 1]).tolist())
    expected = values[sum(step > b for b in boundaries)]  # values[i] for boundaries[i-1] < step <= boundaries[i]
    assert schedules.PiecewiseConstantDecay(boundaries, values)(step) == expected


@settings(max_examples=30)
@given(step=STEPS, lr=RATES, end=st.floats(0, 1e-3), decay_steps=st.integers(1, 200), power=st.floats(0.5, 3),
       cycle=st.booleans())
def test_polynomial(step, lr, end, decay_steps, power, cycle):
    if cycle:
        period = decay_steps * max(1, math.ceil(step / decay_steps))
        s = step
    else:
        period, s = decay_steps, min(step, decay_steps)
    expected = (lr - end) * (1 - s / period) ** power + end
    assert schedules.PolynomialDecay(lr, decay_steps, end, power, cycle)(step) == pytest.approx(expected)


@settings(max_examples=30)
@given(step=STEPS, lr=RATES, decay_steps=st.integers(1, 200), alpha=st.floats(0, 1),
       warmup=st.one_of(st.none(), st.tuples(RATES, st.integers(0, 100))))
def test_cosine(step, lr, decay_steps, alpha, warmup):
    def decayed(s, start):
        s = min(s, decay_steps)
        return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / decay_steps)) + alpha)

    if warmup is None:
        expected = decayed(step, lr)
        schedule = schedules.CosineDecay(lr, decay_steps, alpha)
    else:
        target, warmup_steps = warmup
        if step < warmup_steps:
            expected = lr + (target - lr) * step / warmup_steps
        else:
            expected = decayed(step - warmup_steps, target)
        schedule = schedules.CosineDecay(lr, decay_steps, alpha, warmup_target=target, warmup_steps=warmup_steps)
    assert schedule(step) == pytest.approx(expected)


def test_each_step_uses_the_schedule_at_the_step_count():
    """Step k (k = 0, 1, ...) uses schedule(k); reading learning_rate gives the next step's rate."""
    w = tc.Tensor(np.zeros(2), requires_grad=True)
    schedule = schedules.ExponentialDecay(0.5, 1, 0.5)   # 0.5, 0.25, 0.125, ...
    opt = tc.optimizers.SGD([w], learning_rate=schedule)
    moved = []
    for k in range(4):
        assert opt.learning_rate == schedule(k) == 0.5 ** (k + 1)
        before = w.data.copy()
        w.grad = tc.Tensor(np.ones(2))
        opt.step()
        moved.append(float(before[0] - w.data[0]))
    assert moved == pytest.approx([0.5, 0.25, 0.125, 0.0625])
    assert opt.iterations == 4 and opt.learning_rate == pytest.approx(0.5 ** 5)


def test_adam_with_a_schedule_matches_torch_with_the_same_rates(torch):
    """torch's Adam given schedule(k) as its rate at step k takes the same steps."""
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4))
    schedule = schedules.CosineDecay(0.0, 5, alpha=0.1, warmup_target=0.05, warmup_steps=3)
    ours = tc.Tensor(start.copy(), requires_grad=True)
    theirs = torch.tensor(start.copy(), requires_grad=True)
    opt = tc.optimizers.Adam([ours], learning_rate=schedule)
    reference = torch.optim.Adam([theirs], lr=0.0, eps=1e-7)
    for k in range(9):
        g = rng.standard_normal((3, 4))
        ours.grad, theirs.grad = tc.Tensor(g), torch.tensor(g)
        reference.param_groups[0]["lr"] = schedule(k)
        opt.step()
        reference.step()
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=f"step {k}")


def test_the_rate_cannot_be_set_by_hand_but_a_schedule_can_replace_it():
    opt = tc.optimizers.Adam(learning_rate=schedules.PiecewiseConstantDecay([10], [0.1, 0.01]))
    with pytest.raises(TypeError, match="Adam.*PiecewiseConstantDecay.*float learning_rate"):
        opt.learning_rate = 0.5
    opt.learning_rate = schedules.ExponentialDecay(0.2, 10, 0.5)
    assert opt.learning_rate == 0.2
    plain = tc.optimizers.SGD(learning_rate=0.1)
    plain.learning_rate = 0.05
    assert plain.learning_rate == 0.05
    with pytest.raises(ValueError, match="learning_rate"):
        plain.learning_rate = -1.0


def test_state_dict_and_config_keep_the_schedule():
    w = tc.Tensor(np.ones(3), requires_grad=True)
    schedule = schedules.PolynomialDecay(0.1, 20, 0.001, power=2.0)
    opt = tc.optimizers.Adam([w], learning_rate=schedule)
    for _ in range(5):
        w.grad = tc.Tensor(np.ones(3))
        opt.step()
    assert opt.get_config()["learning_rate"] == {"class_name": "PolynomialDecay", "config": schedule.get_config()}
    rebuilt = tc.optimizers.get(tc.optimizers.serialize(opt))
    assert isinstance(rebuilt._learning_rate, schedules.PolynomialDecay) and rebuilt.learning_rate == schedule(0)
    other = tc.optimizers.Adam([tc.Tensor(np.ones(3), requires_grad=True)], learning_rate=0.3)
    other.load_state_dict(opt.state_dict())
    assert other.iterations == 5 and other.learning_rate == schedule(5)
    assert "PolynomialDecay(initial_learning_rate=0.1" in repr(opt)


def test_model_files_keep_the_schedule_and_the_step_count(tmp_path):
    x = np.random.default_rng(1).standard_normal((12, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(1)])
    model.compile(tc.optimizers.SGD(learning_rate=schedules.InverseTimeDecay(0.1, 2, 1.0)), "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert model.optimizer.iterations == 3
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    assert loaded.optimizer.iterations == 3
    assert loaded.optimizer.learning_rate == pytest.approx(0.1 / (1 + 1.5))
    assert loaded.optimizer.get_config() == model.optimizer.get_config()


@pytest.mark.parametrize("callback", [lambda: tc.callbacks.ReduceLROnPlateau(monitor="loss", patience=0),
                                      lambda: tc.callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)])
def test_callbacks_that_set_the_rate_refuse_a_schedule(callback):
    x = np.ones((4, 2), np.float32)
    model = tc.Sequential([tc.Input((2,)), tc.layers.Dense(1)])
    model.compile(tc.optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.9)), "mse")
    with pytest.raises(TypeError, match="follows the schedule ExponentialDecay.*use a float learning_rate"):
        model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[callback()])
    assert model.optimizer.iterations == 0  # refused before any training step


@pytest.mark.parametrize("make, error, words", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.9), ValueError, ["ExponentialDecay", "decay_steps", "> 0", "0"]),
    (lambda: schedules.InverseTimeDecay(-0.1, 10, 0.5), ValueError, ["InverseTimeDecay", "initial_learning_rate",
                                                                     "-0.1"]),
    (lambda: schedules.ExponentialDecay(0.1, 10, -0.5), ValueError, ["decay_rate", "-0.5", ">= 0"]),
    (lambda: schedules.ExponentialDecay(0.1, 10, 0.5, staircase="yes"), TypeError, ["staircase", "True or False"]),
    (lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]), ValueError,
     ["PiecewiseConstantDecay", "one more", "2 boundaries", "2 values"]),
    (lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), ValueError,
     ["strictly increasing", "[20, 10]"]),
    (lambda: schedules.PiecewiseConstantDecay(10, [1.0, 0.5]), TypeError, ["boundaries", "list", "int"]),
    (lambda: schedules.PiecewiseConstantDecay([10], [1.0, -0.5]), ValueError, ["values[1]", "-0.5"]),
    (lambda: schedules.PolynomialDecay(0.1, -5), ValueError, ["PolynomialDecay", "decay_steps", "-5"]),
    (lambda: schedules.CosineDecay(0.1, 100, alpha=1.5), ValueError, ["CosineDecay", "alpha", "[0, 1]", "1.5"]),
    (lambda: schedules.CosineDecay(0.1, 100, warmup_target=float("nan"), warmup_steps=5), ValueError,
     ["warmup_target", "nan"]),
    (lambda: schedules.CosineDecay(0.1, 100)(-1), ValueError, ["CosineDecay", "step", "-1"]),
    (lambda: schedules.CosineDecay(0.1, 100)("3"), TypeError, ["CosineDecay", "step", "number"]),
    (lambda: schedules.deserialize({"class_name": "os.system", "config": {}}), ValueError,
     ["os.system", "ExponentialDecay"]),
    (lambda: tc.optimizers.get({"class_name": "sgd", "config": {"learning_rate": {"class_name": "Evil"}}}),
     ValueError, ["Evil", "CosineDecay"]),
    (lambda: schedules.deserialize({"class_name": "CosineDecay", "config": {"steps": 3}}), ValueError,
     ["CosineDecay", "steps"]),
    (lambda: tc.optimizers.SGD(learning_rate=lambda step: 0.1), TypeError,
     ["SGD", "learning_rate", "callable", "LearningRateSchedule", "rate(step)"]),
    (lambda: tc.optimizers.SGD(learning_rate=-0.1), ValueError, ["learning_rate", "-0.1"]),
    (lambda: tc.optimizers.Adam(schedules.ExponentialDecay(0.1, 10, 0.5), 0.1), TypeError,  # the rate twice
     ["Adam", "learning rate 2 times", "ExponentialDecay", "first argument", "learning_rate"]),
    (lambda: tc.optimizers.SGD(0.1, 0.9), TypeError, ["SGD", "0.1 (first argument)", "0.9 (learning_rate)",
                                                      "SGD(0.01, momentum=0.9)"]),
])
def test_bad_arguments_say_what_and_how(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_a_custom_schedule_trains_but_cannot_be_saved(tmp_path):
    class Halving(schedules.LearningRateSchedule):
        def rate(self, step):
            return 0.1 / 2 ** step

    class KerasStyle(schedules.LearningRateSchedule):  # Keras's way: __call__ itself
        def __call__(self, step):
            return 0.1 / (step + 1)

    assert tc.optimizers.SGD(learning_rate=KerasStyle()).learning_rate == 0.1

    w = tc.Tensor(np.zeros(1), requires_grad=True)
    opt = tc.optimizers.SGD([w], learning_rate=Halving())
    for _ in range(2):
        w.grad = tc.Tensor(np.ones(1))
        opt.step()
    assert w.data[0] == pytest.approx(-0.15)
    with pytest.raises(ValueError, match="custom class"):
        tc.optimizers.serialize(opt)


class Returns(schedules.LearningRateSchedule):
    """A schedule of one's own returning `value` at every step."""

    def __init__(self, value):
        self.value = value

    def __call__(self, step):
        return self.value


@pytest.mark.parametrize("value", [tc.Tensor(0.5), np.array(0.5), np.float32(0.5)])
def test_a_custom_schedule_may_return_a_zero_dimensional_tensor_or_array(value):
    w = tc.Tensor(np.ones(2), requires_grad=True)
    opt = tc.optimizers.SGD([w], learning_rate=Returns(value))
    w.grad = tc.Tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(w.data, [0.5, 0.5])
    assert type(opt.learning_rate) is float


@pytest.mark.parametrize("value, error, words", [
    (float("nan"), ValueError, ["nan"]), (-0.1, ValueError, ["-0.1"]), ("0.1", TypeError, ["str"]),
    (np.array([0.1, 0.2]), TypeError, ["ndarray"])])
def test_a_bad_rate_from_a_custom_schedule_is_refused_before_the_step(value, error, words):
    w = tc.Tensor(np.ones(2), requires_grad=True)
    opt = tc.optimizers.SGD([w], learning_rate=Returns(value))
    w.grad = tc.Tensor(np.ones(2))
    with pytest.raises(error) as info:
        opt.step()
    for word in ["SGD", "learning_rate", "schedule Returns at step 0", *words]:
        assert word in str(info.value), (word, str(info.value))
    np.testing.assert_array_equal(w.data, [1.0, 1.0])  # nothing changed
    assert opt.iterations == 0


def test_a_model_on_a_custom_schedule_is_saved_uncompiled_so_checkpoints_keep_training(tmp_path):
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    tc.manual_seed(0)
    model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(1)])
    model.compile(tc.optimizers.SGD(learning_rate=Returns(0.01)), "mse")
    with pytest.warns(UserWarning, match="schedule Returns is a custom callable.*saved uncompiled"):
        history = model.fit(x, x[:, :1], epochs=2, verbose=0,
                            callbacks=tc.callbacks.ModelCheckpoint(str(tmp_path / "m{epoch}.npz")))
    assert history.epoch == [0, 1]
    loaded = tc.load_model(tmp_path / "m2.npz")
    assert getattr(loaded, "optimizer", None) is None
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
