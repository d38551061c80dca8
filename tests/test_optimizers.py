"""Optimizers: update rules step by step against PyTorch's, state round trips, binding and errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import optimizers

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 6


def run_both(torch, ours_cls, torch_cls, ours_kwargs, torch_kwargs, seed=0, dtype=np.float64):
    """Apply the same random gradients for STEPS steps to our optimizer and PyTorch's; compare each step."""
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [tc.Tensor(a.copy(), requires_grad=True) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = ours_cls(ours, **ours_kwargs)
    ref = torch_cls(theirs, **torch_kwargs)
    for step in range(STEPS):
        for p, q, shape in zip(ours, theirs, SHAPES, strict=True):
            g = rng.standard_normal(shape).astype(dtype)
            p.grad = tc.Tensor(g)
            q.grad = torch.tensor(g)
        opt.step()
        ref.step()
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"parameter {i} after step {step + 1}")
    return opt


@settings(max_examples=15)
@given(lr=st.floats(1e-3, 0.5), momentum=st.sampled_from([0.0, 0.5, 0.9]), nesterov=st.booleans(),
       weight_decay=st.sampled_from([0.0, 1e-2, 0.3]))
def test_sgd_matches_torch(lr, momentum, nesterov, weight_decay):
    torch = _torch()
    nesterov = nesterov and momentum > 0
    kwargs = dict(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    run_both(torch, optimizers.SGD, torch.optim.SGD, dict(learning_rate=lr, **kwargs), dict(lr=lr, **kwargs))


@settings(max_examples=15)
@given(lr=st.floats(1e-4, 0.1), beta_1=st.sampled_from([0.0, 0.8, 0.9]), beta_2=st.sampled_from([0.9, 0.999]),
       eps=st.sampled_from([1e-8, 1e-3]), weight_decay=st.sampled_from([0.0, 0.1]), amsgrad=st.booleans())
def test_adam_matches_torch(lr, beta_1, beta_2, eps, weight_decay, amsgrad):
    torch = _torch()
    run_both(torch, optimizers.Adam, torch.optim.Adam,
             dict(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, epsilon=eps, weight_decay=weight_decay,
                  amsgrad=amsgrad),
             dict(lr=lr, betas=(beta_1, beta_2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))


@settings(max_examples=10)
@given(lr=st.floats(1e-4, 0.1), weight_decay=st.sampled_from([0.0, 0.004, 0.1]), amsgrad=st.booleans())
def test_adamw_matches_torch(lr, weight_decay, amsgrad):
    torch = _torch()
    run_both(torch, optimizers.AdamW, torch.optim.AdamW,
             dict(learning_rate=lr, epsilon=1e-8, weight_decay=weight_decay, amsgrad=amsgrad),
             dict(lr=lr, eps=1e-8, weight_decay=weight_decay, amsgrad=amsgrad))


@settings(max_examples=15)
@given(lr=st.floats(1e-4, 0.05), rho=st.sampled_from([0.9, 0.99]), momentum=st.sampled_from([0.0, 0.9]),
       centered=st.booleans(), weight_decay=st.sampled_from([0.0, 0.05]))
def test_rmsprop_matches_torch(lr, rho, momentum, centered, weight_decay):
    torch = _torch()
    run_both(torch, optimizers.RMSprop, torch.optim.RMSprop,
             dict(learning_rate=lr, rho=rho, momentum=momentum, epsilon=1e-6, centered=centered,
                  weight_decay=weight_decay),
             dict(lr=lr, alpha=rho, momentum=momentum, eps=1e-6, centered=centered, weight_decay=weight_decay))


def _torch():
    from conftest import require_torch
    return require_torch()


def test_defaults_are_keras():
    assert optimizers.SGD().learning_rate == 0.01
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert optimizers.AdamW().weight_decay == 0.004
    rms = optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.epsilon, rms.centered) == (0.001, 0.9, 1e-7, False)


def test_float32_parameters_stay_float32_and_versions_bump():
    p = tc.Tensor(np.ones((3, 3), np.float32), requires_grad=True)
    opt = optimizers.Adam([p], learning_rate=0.1)
    (p * p).sum().backward()
    version = p._version
    opt.step()
    assert p.dtype == np.float32 and p._version == version + 1
    assert np.all(p.data < 1)  # moved against the gradient 2p > 0


def test_in_place_update_invalidates_saved_graph():
    p = tc.Tensor(np.ones(3), requires_grad=True)
    loss = (p * p).sum()
    loss.backward(retain_graph=True)
    optimizers.SGD([p], learning_rate=0.1).step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_hand_written_loop_reduces_loss():
    tc.manual_seed(0)
    w = tc.randn(4, 1, requires_grad=True)
    x = tc.randn(32, 4)
    y = x @ tc.Tensor(np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32))
    opt = optimizers.Adam([w], learning_rate=0.1)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert w.grad is not None and losses[-1] < 1e-3 * losses[0]
    opt.zero_grad()
    assert w.grad is None


def test_parameters_without_gradient_are_skipped():
    a, b = tc.Tensor(np.ones(2), requires_grad=True), tc.Tensor(np.ones(2), requires_grad=True)
    opt = optimizers.SGD([a, b], learning_rate=0.5, momentum=0.9)
    a.sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.data, [0.5, 0.5])
    np.testing.assert_array_equal(b.data, [1.0, 1.0])


@pytest.mark.parametrize("name, cls", [("sgd", optimizers.SGD), ("Adam", optimizers.Adam),
                                       ("adamw", optimizers.AdamW), ("RMSprop", optimizers.RMSprop)])
def test_get_by_name_and_config(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is cls and opt.params is None
    copy = optimizers.get(optimizers.serialize(opt))
    assert type(copy) is cls and copy.get_config() == opt.get_config()
    assert optimizers.get(opt) is opt


def test_get_rejects_unknown():
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'.*sgd"):
        optimizers.get("adagrad")
    with pytest.raises(TypeError, match="optimizer must be"):
        optimizers.get(3)


@pytest.mark.parametrize("cls, kwargs", [
    (optimizers.SGD, dict(momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optimizers.Adam, dict(amsgrad=True)),
    (optimizers.AdamW, dict()),
    (optimizers.RMSprop, dict(centered=True, momentum=0.5)),
])
def test_state_dict_round_trip_resumes_exactly(cls, kwargs):
    rng = np.random.default_rng(1)
    start = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(6)]

    def run(params, opt, steps):
        for gs in steps:
            for p, g in zip(params, gs, strict=True):
                p.grad = tc.Tensor(g)
            opt.step()

    straight = [tc.Tensor(a.copy(), requires_grad=True) for a in start]
    run(straight, cls(straight, **kwargs), grads)
    first = [tc.Tensor(a.copy(), requires_grad=True) for a in start]
    opt = cls(first, **kwargs)
    run(first, opt, grads[:3])
    saved = opt.state_dict()
    resumed = [tc.Tensor(p.data.copy(), requires_grad=True) for p in first]
    opt2 = cls(resumed)  # default hyperparameters: the state dict brings the real ones
    opt2.load_state_dict(saved)
    assert opt2.get_config() == opt.get_config() and opt2.iterations == 3
    run(resumed, opt2, grads[3:])
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_checks_before_changing():
    p = tc.Tensor(np.ones((2, 2)), requires_grad=True)
    opt = optimizers.Adam([p], learning_rate=0.5)
    p.grad = tc.Tensor(np.ones((2, 2)))
    opt.step()
    state = opt.state_dict()
    state["state"][0]["m"] = np.zeros(3)
    state["config"]["learning_rate"] = 0.1
    with pytest.raises(ValueError, match="'m' of parameter 0 has shape \\(3,\\)"):
        opt.load_state_dict(state)
    assert opt.learning_rate == 0.5
    with pytest.raises(ValueError, match="SGD's; it cannot load into a Adam"):
        opt.load_state_dict(optimizers.SGD([p]).state_dict())


@pytest.mark.parametrize("make, message", [
    (lambda: optimizers.SGD(learning_rate=-1), "learning_rate must be in"),
    (lambda: optimizers.SGD(learning_rate="fast"), "learning_rate must be a number"),
    (lambda: optimizers.SGD(momentum=1.5), "momentum must be in"),
    (lambda: optimizers.SGD(nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda: optimizers.Adam(beta_1=1.0), "beta_1 must be in"),
    (lambda: optimizers.RMSprop(epsilon=float("nan")), "epsilon must be in"),
    (lambda: optimizers.Adam([]), "empty parameter list"),
    (lambda: optimizers.Adam([np.ones(3)]), "parameter 0 is a ndarray, not a Tensor"),
    (lambda: optimizers.Adam([tc.Tensor(np.ones(2), requires_grad=True) * 2]), "leaf tensor"),
    (lambda: optimizers.SGD(tc.Tensor(np.ones(2), requires_grad=True)), r"got Tensor \(wrap a single tensor"),
    (lambda: optimizers.SGD(object()), "params must be an iterable of Tensors"),  # SGD(3): Keras's rate 3
])
def test_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_duplicate_and_rebinding():
    p, q = tc.Tensor(np.ones(2), requires_grad=True), tc.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="appears twice"):
        optimizers.SGD([p, p])
    opt = optimizers.SGD([p])
    assert opt.bind([p]) is opt
    with pytest.raises(ValueError, match="already bound"):
        opt.bind([q])


def test_rebind_keeps_the_state_of_parameters_still_present():
    p, q, r = (tc.Tensor(np.full(2, v), requires_grad=True) for v in (1.0, 2.0, 3.0))
    opt = optimizers.Adam([p, q])
    p.grad, q.grad = tc.Tensor(np.ones(2)), tc.Tensor(np.ones(2))
    opt.step()
    kept = opt.state[1]
    assert opt.rebind([q, r]) is opt and opt.params == [q, r] and opt.state == [kept, {}]
    with pytest.raises(ValueError, match="appears twice"):
        opt.rebind([q, q])
    assert opt.params == [q, r] and opt.state[0] is kept  # a refused rebind changes nothing


def test_step_without_parameters_is_a_clear_error():
    with pytest.raises(RuntimeError, match="has no parameters.*compile"):
        optimizers.Adam().step()
