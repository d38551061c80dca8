"""Random programs for differential fuzzing against PyTorch.

A `Program` is a chain of 1 to 8 ops drawn from the whole op set (elementwise with broadcasting,
reductions, movement and indexing, matmul, the softmax family, conv2d and pooling). Each op knows how to
render itself as a line of tinygrad_cnn code and as the equivalent line of PyTorch code, so a program *is*
its source: `to_source("ours")` and `to_source("torch")` give two runnable scripts, and running a program
means executing them. A failing program therefore prints as code anyone can paste and run.

Every step consumes the previous step's result (plus, for binary ops, a fresh input or an earlier value),
so every input reaches the output and gets a gradient. Shapes are tracked with NumPy on empty arrays.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

Shape = tuple[int, ...]
MAX_SIZE = 192   # ops that grow a tensor are left out once it has this many elements


# --- PyTorch references for ops PyTorch spells differently (channels_last, TF 'same', shared ties) ---

def tf_pads(size: tuple[int, int], window: tuple[int, int], strides: tuple[int, int], padding: Any) -> list[int]:
    """[top, bottom, left, right] for 'valid', 'same' (TensorFlow: extra pixel at the end) or explicit sizes."""
    if padding == "valid":
        return [0, 0, 0, 0]
    if padding == "same":
        pads = []
        for n, k, s in zip(size, window, strides):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return pads
    v, h = (padding, padding) if isinstance(padding, int) else padding
    return [v, v, h, h]


def conv2d_ref(x, kernel, bias, strides, padding, dilation, groups):
    """tc.conv2d in PyTorch: NHWC input, (kh, kw, C/groups, F) kernel."""
    import torch.nn.functional as F
    kh, kw = kernel.shape[:2]
    window = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    top, bottom, left, right = tf_pads(tuple(x.shape[1:3]), window, strides, padding)
    x = F.pad(x.permute(0, 3, 1, 2), (left, right, top, bottom))
    y = F.conv2d(x, kernel.permute(3, 2, 0, 1).contiguous(), bias, stride=strides, dilation=dilation, groups=groups)
    return y.permute(0, 2, 3, 1)


def pool2d_ref(x, size, strides, padding, kind):
    """tc.max_pool2d / tc.avg_pool2d in PyTorch, from windows (unfold), so that tied maxima share the
    gradient (amax) and 'same' average pooling leaves the padding out of the mean, as Keras does."""
    import torch
    import torch.nn.functional as F
    n, h, w, c = x.shape
    top, bottom, left, right = tf_pads((h, w), size, strides, padding)
    oh, ow = (h + top + bottom - size[0]) // strides[0] + 1, (w + left + right - size[1]) // strides[1] + 1

    def windows(t, fill):  # (N, H, W, C) -> (N, C, kh*kw, OH, OW)
        padded = F.pad(t.permute(0, 3, 1, 2), (left, right, top, bottom), value=fill)
        return F.unfold(padded, size, stride=strides).reshape(n, c, size[0] * size[1], oh, ow)
    if kind == "max":
        y = windows(x, float("-inf")).amax(dim=2)
    elif padding == "same":
        y = windows(x, 0.0).sum(dim=2) / windows(torch.ones_like(x), 0.0).sum(dim=2)
    else:
        y = windows(x, 0.0).mean(dim=2)
    return y.permute(0, 2, 3, 1)


def index_ref(x, slices):
    """NumPy basic slicing (negative steps too, which PyTorch lacks) as one index_select per axis."""
    import torch
    for axis, (n, s) in enumerate(zip(x.shape, slices)):
        x = x.index_select(axis, torch.tensor(list(range(n))[slice(*s)], dtype=torch.long))
    return x


HELPERS = {"conv2d_ref": [tf_pads, conv2d_ref], "pool2d_ref": [tf_pads, pool2d_ref], "index_ref": [index_ref]}


# --- ops ---

@dataclass(frozen=True)
class Op:
    """An op: which shapes it applies to, how to draw its parameters, and its two renderings."""

    name: str
    applies: Callable[[Shape], bool]
    draw: Callable[[Any, Shape], tuple[dict[str, Any], list[Shape], Shape]]  # params, new input shapes, output
    ours: Callable[..., str]     # (args, params) -> tinygrad_cnn expression
    theirs: Callable[..., str]   # (args, params) -> PyTorch expression
    helper: str | None = None    # name of the PyTorch reference helper it needs


def _out(shape: Shape, fn: Callable[[np.ndarray], np.ndarray]) -> Shape:
    """The shape NumPy gives for `fn` applied to an empty array of `shape`."""
    return tuple(fn(np.empty(shape)).shape)


def _unary(name: str, ours: str, theirs: str | None = None) -> Op:
    theirs = ours if theirs is None else theirs
    return Op(name, lambda s: True, lambda draw, s: ({}, [], s),
              lambda a, p: ours.format(*a), lambda a, p: theirs.format(*a))


def _broadcast_partner(draw: Any, shape: Shape) -> Shape:
    """A shape that broadcasts with `shape`: some axes set to 1, leading axes dropped or (if small) added."""
    partner = [draw(st.sampled_from([n, 1])) for n in shape]
    partner = partner[draw(st.integers(0, len(partner))):]
    if int(np.prod(shape)) * 3 <= MAX_SIZE and len(partner) == len(shape) < 4 and draw(st.booleans()):
        partner = [draw(st.integers(1, 3))] + partner
    return tuple(partner)


def _binary(name: str, ours: str, theirs: str | None = None) -> Op:
    theirs = ours if theirs is None else theirs

    def draw(draw_: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
        other = _broadcast_partner(draw_, s)
        swap = draw_(st.booleans())
        return {"swap": swap}, [other], tuple(np.broadcast_shapes(s, other))

    def render(template: str) -> Callable[..., str]:
        return lambda a, p: template.format(*(a[::-1] if p["swap"] else a))
    return Op(name, lambda s: True, draw, render(ours), render(theirs))


def _axes(draw: Any, ndim: int) -> Any:
    """NumPy's axis: None, an int or a tuple (negative values too)."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    picked = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(draw(st.sampled_from([a, a - ndim])) for a in picked)


def _dims(axis: Any, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)


def _reduction(name: str, theirs: str) -> Op:
    def draw(draw_: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
        axis, keepdims = _axes(draw_, len(s)), draw_(st.booleans())
        return {"axis": axis, "keepdims": keepdims}, [], _out(s, lambda e: e.sum(axis=axis, keepdims=keepdims))
    return Op(name, lambda s: len(s) >= 1, draw,
              lambda a, p: f"{a[0]}.{name}(axis={p['axis']!r}, keepdims={p['keepdims']})",
              lambda a, p: theirs.format(a[0], dims=_dims(p["axis"], len(p["shape"])), keepdims=p["keepdims"]))


def _with_shape(op: Op) -> Op:
    """Let the renderers see the input shape as params['shape']."""
    def draw(draw_: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
        params, new, out = op.draw(draw_, s)
        return {**params, "shape": s}, new, out
    return Op(op.name, op.applies, draw, op.ours, op.theirs, op.helper)


def _reshape(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    size = int(np.prod(s))
    candidates = [(size,), tuple(reversed(s)), (1, *s), s + (1,)]
    if len(s) >= 2:
        candidates.append((s[0] * s[1], *s[2:]))
    target = draw(st.sampled_from(candidates))
    return {"to": target}, [], target


def _slices(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    slices = []
    for n in s:
        step = draw(st.sampled_from([1, 2, -1, -2]))
        start = draw(st.none() | st.integers(-n, n - 1))
        stop = draw(st.none() | st.integers(-n - 1, n))
        if not list(range(n))[slice(start, stop, step)]:   # keep at least one element per axis
            start, stop = None, None
        slices.append((start, stop, step))
    return {"slices": slices}, [], _out(s, lambda e: e[tuple(slice(*x) for x in slices)])


def _slice_text(slices: list[tuple[Any, Any, int]]) -> str:
    parts = [":".join("" if v is None else str(v) for v in x) for x in slices]
    return ", ".join(parts)


def _swap(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    """Two axes (negative too, possibly the same one) for swapaxes."""
    axes = (draw(st.integers(-len(s), len(s) - 1)), draw(st.integers(-len(s), len(s) - 1)))
    out = list(s)
    out[axes[0]], out[axes[1]] = s[axes[1]], s[axes[0]]
    return {"axes": axes}, [], tuple(out)


def _take(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    axis = draw(st.integers(0, len(s) - 1))
    index = draw(st.lists(st.integers(-s[axis], s[axis] - 1), min_size=1, max_size=4))  # repeats accumulate
    return {"axis": axis, "index": index}, [], _out(s, lambda e: e[(slice(None),) * axis + (np.array(index),)])


def _take_text(a: list[str], p: dict[str, Any]) -> str:
    return f"{a[0]}[{':, ' * p['axis']}{p['index']}]"   # the same in NumPy and PyTorch


def _mask(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    flat = draw(st.lists(st.booleans(), min_size=int(np.prod(s)), max_size=int(np.prod(s))))
    flat[draw(st.integers(0, len(flat) - 1))] = True   # select at least one element
    mask = np.array(flat, dtype=bool).reshape(s)
    return {"mask": mask.tolist()}, [], (int(mask.sum()),)


def _pad(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    pairs = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in s]
    value = draw(st.sampled_from([0.0, 1.5]))
    return {"pairs": pairs, "value": value}, [], tuple(n + b + a for n, (b, a) in zip(s, pairs))


def _torch_pad(pairs: list[tuple[int, int]]) -> list[int]:
    return [p for pair in reversed(pairs) for p in pair]   # PyTorch lists the last axis first


def _concatenate(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    axis = draw(st.integers(-len(s), len(s) - 1))
    other = list(s)
    other[axis] = draw(st.integers(1, 3))
    out = list(s)
    out[axis] += other[axis]
    return {"axis": axis}, [tuple(other)], tuple(out)


def _stack(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    axis = draw(st.integers(-len(s) - 1, len(s)))
    return {"axis": axis}, [s], _out(s, lambda e: np.stack([e, e], axis=axis))


def _matmul(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    k, n = s[-1], draw(st.integers(1, 3))
    other = draw(st.sampled_from([(k,), (k, n), (draw(st.integers(1, 2)), k, n)]))
    if len(s) >= 3 and len(other) == 3:
        other = (draw(st.sampled_from([s[-3], 1])), k, n)
    if draw(st.booleans()):   # current @ new
        return {"swap": False}, [other], _out(s, lambda e: e @ np.empty(other))
    # new @ current: the new operand's last axis meets the current's contraction axis
    k = s[0] if len(s) == 1 else s[-2]
    left = draw(st.sampled_from([(k,), (n, k)]))
    return {"swap": True}, [left], _out(s, lambda e: np.empty(left) @ e)


def _broadcast_to(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    target = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in s)
    if len(target) < 4 and draw(st.booleans()):
        target = (draw(st.integers(1, 2)),) + target
    return {"to": target}, [], target


def _window_out(n: int, k: int, s: int, before: int, after: int) -> int:
    return (n + before + after - k) // s + 1


def _conv(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    _, h, w, c = s
    groups = draw(st.sampled_from([g for g in (2, 3, 1) if c % g == 0]))   # hypothesis favours the first
    filters = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same", 1, (0, 1)]))
    window = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    top, bottom, left, right = tf_pads((h, w), window, strides, padding)
    if window[0] > h + top + bottom or window[1] > w + left + right:
        padding = "same"
        top, bottom, left, right = tf_pads((h, w), window, strides, padding)
    if strides != (1, 1):
        dilation = (1, 1) if draw(st.booleans()) else dilation
        window = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
        top, bottom, left, right = tf_pads((h, w), window, strides, padding)
        if window[0] > h + top + bottom or window[1] > w + left + right:
            padding, dilation = "same", (1, 1)
            window = kernel
            top, bottom, left, right = tf_pads((h, w), window, strides, padding)
    bias = draw(st.booleans())
    out = (s[0], _window_out(h, window[0], strides[0], top, bottom), _window_out(w, window[1], strides[1], left, right),
           filters)
    new = [(*kernel, c // groups, filters)] + ([(filters,)] if bias else [])
    return {"strides": strides, "padding": padding, "dilation": dilation, "groups": groups, "bias": bias}, new, out


def _conv_ours(a: list[str], p: dict[str, Any]) -> str:
    bias = a[2] if p["bias"] else "None"
    return (f"tc.conv2d({a[0]}, {a[1]}, {bias}, strides={p['strides']}, padding={p['padding']!r}, "
            f"dilation_rate={p['dilation']}, groups={p['groups']})")


def _conv_theirs(a: list[str], p: dict[str, Any]) -> str:
    bias = a[2] if p["bias"] else "None"
    return f"conv2d_ref({a[0]}, {a[1]}, {bias}, {p['strides']}, {p['padding']!r}, {p['dilation']}, {p['groups']})"


def _pool(draw: Any, s: Shape) -> tuple[dict[str, Any], list[Shape], Shape]:
    _, h, w, c = s
    size = (draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w))))
    strides = draw(st.none() | st.tuples(st.integers(1, 2), st.integers(1, 2)))
    step = size if strides is None else strides
    padding = draw(st.sampled_from(["valid", "same", 1]))
    if padding == 1 and min(size) < 2:
        padding = "valid"
    top, bottom, left, right = tf_pads((h, w), size, step, padding)
    out = (s[0], _window_out(h, size[0], step[0], top, bottom), _window_out(w, size[1], step[1], left, right), c)
    return {"size": size, "strides": strides, "step": step, "padding": padding}, [], out


def _pool_op(kind: str) -> Op:
    return Op(f"{kind}_pool2d", lambda s: len(s) == 4, _pool,
              lambda a, p: f"tc.{kind}_pool2d({a[0]}, {p['size']}, strides={p['strides']}, padding={p['padding']!r})",
              lambda a, p: f"pool2d_ref({a[0]}, {p['size']}, {p['step']}, {p['padding']!r}, {kind!r})", "pool2d_ref")


def _small(s: Shape) -> bool:
    return int(np.prod(s)) * 4 <= MAX_SIZE


def _softmax(method: str) -> Op:
    """softmax or log_softmax over a drawn axis (torch names it dim)."""
    return Op(method, lambda s: len(s) >= 1, lambda d, s: ({"axis": d(st.integers(-len(s), len(s) - 1))}, [], s),
              lambda a, p: f"{a[0]}.{method}(axis={p['axis']})", lambda a, p: f"{a[0]}.{method}(dim={p['axis']})")


OPS: list[Op] = [
    _unary("neg", "-{0}"),
    _unary("exp", "({0} * 0.5).exp()"),
    _unary("log", "({0} * {0} + 1).log()"),
    _unary("sqrt", "({0} * {0} + 0.5).sqrt()"),
    _unary("tanh", "{0}.tanh()"),
    _unary("sigmoid", "{0}.sigmoid()"),
    _unary("relu", "{0}.relu()"),
    _unary("abs", "{0}.abs()"),
    _unary("leaky_relu", "{0}.leaky_relu(0.1)", "torch.nn.functional.leaky_relu({0}, 0.1)"),
    # clip bounds: binary fractions (exact sums, so ties stay ties in both libraries) that no mean of small
    # integers reaches (so rounding never decides on which side of a bound a value falls)
    _unary("clip", "{0}.clip(-0.484375, 0.6875)", "{0}.clamp(-0.484375, 0.6875)"),
    _unary("clip_max", "{0}.clip(max=0.3125)", "{0}.clamp(max=0.3125)"),
    _unary("square", "{0} ** 2"),
    _unary("scale", "2.5 - {0} / 3"),
    _unary("reciprocal", "1 / ({0} * {0} + 1)"),
    _unary("rpow", "1.5 ** {0}"),
    _unary("cast", "{0}.float().double()"),            # float32 rounding on the way, identity gradient
    _unary("detach", "{0}.detach() * {0}"),            # the gradient flows through one factor only
    _binary("add", "{0} + {1}"),
    _binary("sub", "{0} - {1}"),
    _binary("mul", "{0} * {1}"),
    _binary("div", "{0} / ({1} * {1} + 0.5)"),
    _binary("pow", "({0} * {0} + 0.5) ** {1}"),
    _binary("maximum", "tc.maximum({0}, {1})", "torch.maximum({0}, {1})"),
    _binary("minimum", "tc.minimum({0}, {1})", "torch.minimum({0}, {1})"),
    _binary("where", "tc.where({0} > {1}, {0}, {1} * 2)", "torch.where({0} > {1}, {0}, {1} * 2)"),
    _with_shape(_reduction("sum", "{0}.sum(dim={dims}, keepdim={keepdims})")),
    _with_shape(_reduction("mean", "{0}.mean(dim={dims}, keepdim={keepdims})")),
    _with_shape(_reduction("max", "{0}.amax(dim={dims}, keepdim={keepdims})")),
    _with_shape(_reduction("min", "{0}.amin(dim={dims}, keepdim={keepdims})")),
    _with_shape(_reduction("var", "{0}.var(dim={dims}, correction=0, keepdim={keepdims})")),
    _with_shape(_reduction("logsumexp", "torch.logsumexp({0}, dim={dims}, keepdim={keepdims})")),
    _softmax("softmax"),
    _softmax("log_softmax"),
    Op("reshape", lambda s: True, _reshape,
       lambda a, p: f"{a[0]}.reshape({p['to']})", lambda a, p: f"{a[0]}.reshape({p['to']})"),
    Op("transpose", lambda s: len(s) >= 2, lambda d, s: ({"axes": tuple(d(st.permutations(range(len(s)))))}, [],
                                                          None),
       lambda a, p: f"{a[0]}.transpose({p['axes']})", lambda a, p: f"{a[0]}.permute({p['axes']})"),
    Op("swapaxes", lambda s: len(s) >= 2, _swap,
       lambda a, p: f"{a[0]}.swapaxes({p['axes'][0]}, {p['axes'][1]})",
       lambda a, p: f"{a[0]}.transpose({p['axes'][0]}, {p['axes'][1]})"),
    Op("slice", lambda s: len(s) >= 1, _slices,
       lambda a, p: f"{a[0]}[{_slice_text(p['slices'])}]", lambda a, p: f"index_ref({a[0]}, {p['slices']})",
       "index_ref"),
    Op("int_index", lambda s: len(s) >= 1, lambda d, s: ({"i": d(st.integers(-s[0], s[0] - 1))}, [], s[1:]),
       lambda a, p: f"{a[0]}[{p['i']}]", lambda a, p: f"{a[0]}[{p['i']}]"),
    Op("newaxis", lambda s: len(s) <= 3, lambda d, s: ({}, [], (1, *s)),
       lambda a, p: f"{a[0]}[None, ...]", lambda a, p: f"{a[0]}[None, ...]"),
    Op("take", lambda s: len(s) >= 1, _take, _take_text, _take_text),
    Op("mask", lambda s: 1 <= len(s) and int(np.prod(s)) <= 32, _mask,
       lambda a, p: f"{a[0]}[np.array({p['mask']})]", lambda a, p: f"{a[0]}[torch.tensor({p['mask']})]"),
    Op("pad", lambda s: 1 <= len(s) and _small(s), _pad,
       lambda a, p: f"{a[0]}.pad({p['pairs']}, value={p['value']})",
       lambda a, p: f"torch.nn.functional.pad({a[0]}, {_torch_pad(p['pairs'])}, value={p['value']})"),
    Op("squeeze", lambda s: 1 in s, lambda d, s: ({"axis": d(st.sampled_from([i for i, n in enumerate(s) if n == 1]))},
                                                  [], None),
       lambda a, p: f"{a[0]}.squeeze({p['axis']})", lambda a, p: f"{a[0]}.squeeze({p['axis']})"),
    Op("unsqueeze", lambda s: len(s) <= 3, lambda d, s: ({"axis": d(st.integers(-len(s) - 1, len(s)))}, [], None),
       lambda a, p: f"{a[0]}.unsqueeze({p['axis']})", lambda a, p: f"{a[0]}.unsqueeze({p['axis']})"),
    Op("flatten", lambda s: True, lambda d, s: ({}, [], (int(np.prod(s)),)),
       lambda a, p: f"{a[0]}.flatten()", lambda a, p: f"{a[0]}.flatten()"),
    Op("broadcast_to", lambda s: _small(s), _broadcast_to,
       lambda a, p: f"{a[0]}.broadcast_to({p['to']})", lambda a, p: f"{a[0]}.expand({p['to']})"),
    Op("concatenate", lambda s: len(s) >= 1 and _small(s), _concatenate,
       lambda a, p: f"tc.concatenate([{a[0]}, {a[1]}], axis={p['axis']})",
       lambda a, p: f"torch.cat([{a[0]}, {a[1]}], dim={p['axis']})"),
    Op("stack", lambda s: len(s) <= 3 and _small(s), _stack,
       lambda a, p: f"tc.stack([{a[0]}, {a[1]}], axis={p['axis']})",
       lambda a, p: f"torch.stack([{a[0]}, {a[1]}], dim={p['axis']})"),
    Op("matmul", lambda s: len(s) >= 1 and _small(s), _matmul,
       lambda a, p: f"{a[1]} @ {a[0]}" if p["swap"] else f"{a[0]} @ {a[1]}",
       lambda a, p: f"{a[1]} @ {a[0]}" if p["swap"] else f"{a[0]} @ {a[1]}"),
    Op("conv2d", lambda s: len(s) == 4 and min(s) >= 1, _conv, _conv_ours, _conv_theirs, "conv2d_ref"),
    _pool_op("max"),
    _pool_op("avg"),
    Op("global_max_pool2d", lambda s: len(s) == 4, lambda d, s: ({}, [], (s[0], s[3])),
       lambda a, p: f"tc.global_max_pool2d({a[0]})", lambda a, p: f"{a[0]}.amax(dim=(1, 2))"),
    Op("global_avg_pool2d", lambda s: len(s) == 4, lambda d, s: ({}, [], (s[0], s[3])),
       lambda a, p: f"tc.global_avg_pool2d({a[0]})", lambda a, p: f"{a[0]}.mean(dim=(1, 2))"),
]
BY_NAME = {op.name: op for op in OPS}
WINDOWED = [BY_NAME[name] for name in ("conv2d", "max_pool2d", "avg_pool2d", "global_max_pool2d",
                                        "global_avg_pool2d")]


def _output_shape(op: Op, shape: Shape, params: dict[str, Any], out: Shape | None) -> Shape:
    """Shapes the drawers leave as None are those NumPy computes directly from the parameters."""
    if out is not None:
        return out
    if op.name == "transpose":
        return tuple(shape[i] for i in params["axes"])
    if op.name == "squeeze":
        return shape[:params["axis"]] + shape[params["axis"] + 1:]
    return _out(shape, lambda e: np.expand_dims(e, params["axis"]))   # unsqueeze


# --- programs ---

@dataclass
class Step:
    op: str
    args: list[str]
    params: dict[str, Any]
    out: str
    shape: Shape


@dataclass
class Program:
    """Inputs (name, shape) drawn with one seed, then steps; the last step's value is the output."""

    seed: int
    inputs: list[tuple[str, Shape]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    ties: bool = False   # inputs of small integers: equal values meet in max, maximum, clip and pooling

    def to_source(self, flavour: str, order: int = 1) -> str:
        """A runnable script: 'ours' (tinygrad_cnn) or 'torch'; it leaves `out` and the inputs' `.grad`.

        With order 2 it takes the gradients with create_graph=True (kept in `grads`) and back-propagates
        their inner product with random directions, so `.grad` holds a Hessian-vector product.
        """
        torch = flavour == "torch"
        lines = ["import numpy as np"]
        lines += ["import torch", ""] if torch else ["import tinygrad_cnn as tc", ""]
        helpers = []
        for step in self.steps:
            name = BY_NAME[step.op].helper
            for helper in HELPERS.get(name, []) if torch else []:
                if helper not in helpers:
                    helpers.append(helper)
        lines += [inspect.getsource(h) for h in helpers]
        make = "torch.tensor({}, requires_grad=True)" if torch else "tc.Tensor({}, requires_grad=True)"
        lines.append(f"rng = np.random.default_rng({self.seed})")
        draw = "rng.integers(-2, 3, {}).astype(float)" if self.ties else "rng.standard_normal({})"
        for name, shape in self.inputs:
            lines.append(f"{name} = " + make.format(f"np.asarray({draw.format(shape)})"))
        for step in self.steps:
            op = BY_NAME[step.op]
            render = op.theirs if torch else op.ours
            lines.append(f"{step.out} = {render(step.args, step.params)}  # {step.op} -> {step.shape}")
        lines.append(f"out = {self.steps[-1].out}")
        lines.append("upstream = np.asarray(rng.standard_normal(out.shape))  # a random upstream gradient")
        seed = "torch.tensor(upstream)" if torch else "tc.Tensor(upstream)"
        if order == 1:
            lines.append(f"out.backward({seed})")
            return "\n".join(lines) + "\n"
        inputs = ", ".join(name for name, _ in self.inputs)
        grad = "torch.autograd.grad" if torch else "tc.grad"
        lines += [f"grads = {grad}(out, [{inputs}], {seed}, create_graph=True, allow_unused=True)",
                  "second = 0",
                  f"for g, x in zip(grads, [{inputs}]):  # <grads, v> for a random direction v per input",
                  "    direction = np.asarray(rng.standard_normal(tuple(x.shape)))",
                  "    if g is not None and g.requires_grad:",
                  f"        second = second + (g * {'torch.tensor' if torch else 'tc.Tensor'}(direction)).sum()",
                  "if not isinstance(second, int):",
                  "    second.backward()"]
        return "\n".join(lines) + "\n"

    def run(self, flavour: str, order: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
        """Execute the script; returns the output and the inputs' `.grad` (zeros where None) as arrays."""
        scope: dict[str, Any] = {"__name__": "fuzz_program"}
        exec(compile(self.to_source(flavour, order), f"<fuzz program, {flavour}>", "exec"), scope)

        def array(t: Any, shape: Shape) -> np.ndarray:
            if t is None or (flavour == "torch" and t._is_zerotensor()):  # PyTorch's symbolic zeros
                return np.zeros(shape)
            return t.detach().numpy() if flavour == "torch" else t.data
        return (array(scope["out"], ()),
                [array(scope[name].grad, shape) for name, shape in self.inputs])

    def __repr__(self) -> str:
        return self.describe(1)

    def describe(self, order: int) -> str:
        """Both scripts, for a failure report."""
        return ("\n# --- tinygrad_cnn ---\n" + self.to_source("ours", order) +
                "\n# --- PyTorch ---\n" + self.to_source("torch", order))


@st.composite
def programs(draw: Any, max_steps: int = 8, focus: str | None = None) -> Program:
    """A random program of 1 to `max_steps` ops; half of them start from an image batch (N, H, W, C).

    With `focus` (an op's name) that op is one of the steps, at a drawn position or the first step after
    it where it applies: hypothesis draws the first entries of a list far more often than the last, so a
    budget of 300 unfocused programs ran conv2d 8 times and `**` once; CI runs every op this way.
    """
    program = Program(seed=draw(st.integers(0, 2**32 - 1)), ties=draw(st.booleans()))

    def new_input(shape: Shape) -> str:
        name = f"x{len(program.inputs)}"
        program.inputs.append((name, tuple(shape)))
        return name
    if BY_NAME.get(focus) in WINDOWED or draw(st.booleans()):
        shape: Shape = (draw(st.integers(1, 2)), draw(st.integers(3, 6)), draw(st.integers(3, 6)),
                        draw(st.sampled_from([2, 3, 1])))   # channels that groups can divide, mostly
    else:
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    current = new_input(shape)
    values = [(current, shape)]
    count = draw(st.integers(1, max_steps))
    at = draw(st.integers(0, count - 1)) if focus else count
    for index in range(count):
        windowed = [op for op in WINDOWED if op.applies(shape)]
        if index >= at and focus not in [step.op for step in program.steps] and BY_NAME[focus].applies(shape):
            op = BY_NAME[focus]
        elif windowed and draw(st.booleans()):   # image batches get convolutions and pooling half the time
            op = draw(st.sampled_from(windowed))
        else:
            op = draw(st.sampled_from([op for op in OPS if op.applies(shape)]))
        params, new_shapes, out = op.draw(draw, shape)
        args = [current]
        for new_shape in new_shapes:   # reuse an earlier value of the right shape now and then
            same = [name for name, s in values if s == new_shape]   # the current value too: x * x, ties
            reuse = same and op.name != "conv2d" and draw(st.booleans())
            args.append(draw(st.sampled_from(same)) if reuse else new_input(new_shape))
        shape = _output_shape(op, shape, params, out)
        current = f"v{index + 1}"
        program.steps.append(Step(op.name, args, params, current, shape))
        values.append((current, shape))
    assume(focus is None or focus in [step.op for step in program.steps])   # it never applied: draw again
    return program
