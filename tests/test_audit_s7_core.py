"""Session 7 audit of the autograd core against PyTorch's contract: one regression test per defect found."""
from __future__ import annotations

import pytest

import tinygrad_cnn as tc

# --- grad mode decorators ---

@pytest.mark.parametrize("make, inside", [(tc.no_grad, False), (lambda: tc.set_grad_enabled(False), False),
                                          (tc.enable_grad, True), (tc.inference_mode, False)])
def test_grad_mode_decorators_hold_inside_a_generator_as_in_pytorch(torch, make, inside):
    x = tc.Tensor([1.0], requires_grad=True)

    def steps():
        for _ in range(2):
            yield (x * 2).requires_grad, tc.is_grad_enabled()

    outside = not inside
    with tc.set_grad_enabled(outside):
        seen = list(make()(steps)())
        assert tc.is_grad_enabled() is outside   # restored between the steps and after
    assert seen == [(inside, inside)] * 2
    xt = torch.ones(1, requires_grad=True)

    def torch_steps():
        for _ in range(2):
            yield (xt * 2).requires_grad, torch.is_grad_enabled()

    torch_decorator = {False: torch.no_grad(), True: torch.enable_grad()}[inside]
    with torch.set_grad_enabled(outside):
        assert list(torch_decorator(torch_steps)()) == seen


def test_a_generator_closed_early_restores_the_mode():
    @tc.no_grad()
    def steps():
        while True:
            yield tc.is_grad_enabled()

    it = steps()
    assert next(it) is False and tc.is_grad_enabled()
    it.close()
    assert tc.is_grad_enabled()


def test_enable_grad_and_no_grad_work_as_bare_decorators(torch):
    x = tc.Tensor([1.0], requires_grad=True)

    @tc.enable_grad
    def doubled(t):
        return t * 2

    with tc.no_grad():
        assert doubled(x).requires_grad
    assert doubled.__name__ == "doubled"
    xt = torch.ones(1, requires_grad=True)
    with torch.no_grad():
        assert torch.enable_grad(lambda t: t * 2)(xt).requires_grad


def test_inference_mode_records_nothing_as_a_context_and_a_decorator():
    x = tc.Tensor([1.0], requires_grad=True)
    with tc.inference_mode():
        assert not (x * 2).requires_grad
    with tc.inference_mode(False):
        assert (x * 2).requires_grad
    assert tc.inference_mode()(lambda: (x * 2).requires_grad)() is False
    assert tc.is_grad_enabled()
