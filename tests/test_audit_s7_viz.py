"""Session 7 audit of graph drawing (issue 5): each test failed before the fix it guards."""
from __future__ import annotations

import numpy as np

import tinygrad_cnn as tc


def residual_chain(steps: int) -> tc.Tensor:
    """tanh(0.5 * previous + an output up to 30 steps back), `steps` times: skip connections everywhere."""
    rng = np.random.default_rng(0)
    tensors = [tc.randn(2, 3, requires_grad=True)]
    for _ in range(steps):
        skipped = tensors[int(rng.integers(max(0, len(tensors) - 30), len(tensors)))]
        tensors.append((tensors[-1] * 0.5 + skipped).tanh())
    return tensors[-1].sum()


def test_text_graph_of_skip_connections_stays_narrow():
    # each skip connection used to open a side branch that copied the path it skips, one level deeper
    # each time: 1,000 steps made lines of ~200 characters (50,000 ops: 359 MB of text)
    out = residual_chain(1000)
    lines = tc.viz.text_graph(out, max_nodes=None, show=("shape",)).splitlines()
    assert max(map(len, lines)) < 40
    assert len(lines) < 6 * 1000
    assert sum(" -> " in line for line in lines) == 3 * 1000 + 1  # every op printed once, in full
