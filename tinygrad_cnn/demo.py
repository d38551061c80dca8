"""The demo: build a small graph, backpropagate, and check the gradients against finite differences."""
from __future__ import annotations

import argparse

import numpy as np

import tinygrad_cnn as tc


def run_demo(args: argparse.Namespace) -> int:
    """Print what the autodiff engine computes and whether gradcheck agrees; 0 on success."""
    tc.manual_seed(args.seed)
    x = tc.randn(4, 3, requires_grad=True)
    w = tc.randn(3, 2, requires_grad=True)
    b = tc.zeros(2, requires_grad=True)
    labels = np.array([0, 1, 1, 0])

    def loss_fn(x: tc.Tensor, w: tc.Tensor, b: tc.Tensor) -> tc.Tensor:
        logits = (x @ w + b).tanh() * 3
        return -logits.log_softmax(axis=1)[np.arange(4), labels].mean()

    loss = loss_fn(x, w, b)
    loss.backward()
    print(f"loss = {loss.item():.6f}")
    for name, t in (("x", x), ("w", w), ("b", b)):
        print(f"d loss / d {name}: shape {t.grad.shape}, norm {np.linalg.norm(t.grad.data):.6f}")
    ok = tc.gradcheck(loss_fn, (x, w, b), raise_exception=False)
    ok2 = tc.gradgradcheck(loss_fn, (x, w, b), raise_exception=False)
    print(f"gradcheck (float64 finite differences): {'passed' if ok else 'FAILED'}")
    print(f"gradgradcheck (second derivatives):     {'passed' if ok2 else 'FAILED'}")
    return 0 if ok and ok2 else 1
