"""Differential fuzzing: random programs of 1 to 8 ops give the same values and gradients (under a random
upstream gradient) as PyTorch in float64. A failure prints both programs as runnable code."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import require_torch
from fuzz_programs import BY_NAME, OPS, WINDOWED, Program, Step, programs
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def compare(program: Program, order: int = 1) -> None:
    """Run both versions; skip programs whose reference overflows; compare output and every gradient
    (with order 2: every Hessian-vector product)."""
    require_torch()   # skips (or fails in CI) without the oracle
    note(program.describe(order))   # printed with the failing example: both programs as runnable code
    theirs, their_grads = program.run("torch", order)
    assume(np.isfinite(theirs).all() and all(np.isfinite(g).all() for g in their_grads))
    assume(np.abs(theirs).max(initial=0) < 1e6)
    ours, our_grads = program.run("ours", order)
    for name, a, b in [("out", ours, theirs)] + [
            (f"{name}.grad", g, h) for (name, _), g, h in zip(program.inputs, our_grads, their_grads)]:
        assert a.shape == b.shape, f"{name}: shape {a.shape}, PyTorch gives {b.shape}"
        scale = max(1.0, float(np.abs(b).max(initial=0)))
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9 * scale, err_msg=name)


# CI's budget; a longer hunt: TINYGRAD_CNN_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz_torch.py
BUDGET = int(os.environ.get("TINYGRAD_CNN_FUZZ_EXAMPLES", "300"))
PER_OP = max(1, BUDGET // 30)   # programs built around each op (10 per op in CI)


@settings(max_examples=BUDGET, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs())
def test_random_programs_match_pytorch(program):
    compare(program)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(max_steps=3))
def test_short_programs_match_pytorch(program):
    """Short programs reach every op more evenly; hypothesis shrinks failures to few steps."""
    compare(program)


@settings(max_examples=BUDGET // 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(max_steps=5))
def test_random_programs_second_order_match_pytorch(program):
    """Gradients of gradients: create_graph=True, then a Hessian-vector product in random directions."""
    compare(program, order=2)


@pytest.mark.parametrize("op", [op.name for op in OPS])
@settings(max_examples=PER_OP, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_op_in_random_programs_matches_pytorch(op, data):
    """Programs that contain `op` (first order, and second order for every third example)."""
    compare(data.draw(programs(focus=op), label="program"), order=2 if data.draw(st.integers(0, 2)) == 2 else 1)


def test_every_op_is_reachable_and_renders_runnable_code():
    """Each op of the table runs on a shape it applies to, in both flavours (no dead entries)."""
    for op in OPS:
        shape = (1, 4, 5, 2) if op in WINDOWED else (2, 1, 3)
        assert op.applies(shape), op.name
    program = Program(seed=3, inputs=[("x0", (2, 3))])
    program.steps.append(Step("tanh", ["x0"], {}, "v1", (2, 3)))
    source = program.to_source("ours")
    assert "v1 = x0.tanh()" in source and "out.backward(tc.Tensor(upstream))" in source
    ours, grads = program.run("ours")
    assert ours.shape == (2, 3) and grads[0].shape == (2, 3)
    assert "index_ref" in BY_NAME["slice"].theirs(["x"], {"slices": [(None, None, -1)]})
    assert isinstance(tc.Tensor(ours).sum().item(), float)


def test_a_planted_gradient_bug_fails_and_prints_both_programs(monkeypatch):
    """The harness is not blind: a sigmoid gradient off by 0.1% fails, and the failure carries both programs
    as code that runs as printed."""
    from tinygrad_cnn.ops.elementwise import Sigmoid
    require_torch()
    correct = Sigmoid.backward
    monkeypatch.setattr(Sigmoid, "backward", staticmethod(lambda ctx, g: correct(ctx, g) * 1.001))
    program = Program(seed=5, inputs=[("x0", (2, 3))])
    program.steps.append(Step("sigmoid", ["x0"], {}, "v1", (2, 3)))

    @settings(max_examples=1, database=None)
    @given(st.just(program))
    def check(p: Program) -> None:
        compare(p)
    with pytest.raises(AssertionError, match="x0.grad") as info:
        check()
    report = next(n for n in getattr(info.value, "__notes__", []) if "# --- tinygrad_cnn ---" in n)
    ours = report[report.index("# --- tinygrad_cnn ---"):report.index("# --- PyTorch ---")]
    theirs = report[report.index("# --- PyTorch ---"):]
    assert "v1 = x0.sigmoid()" in ours and "import torch" in theirs
    for source in (ours, theirs):
        scope: dict = {}
        exec(source, scope)   # runs as printed, and leaves the gradient it compared
        assert scope["x0"].grad.shape == (2, 3)
