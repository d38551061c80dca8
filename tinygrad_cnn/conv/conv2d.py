"""2-D convolution as three bilinear primitives that differentiate into one another.

    Conv(x, w)            y = A_w x          (cross-correlation, as every DL framework)
    ConvInputGrad(g, w)   A_w^T g            (the transposed convolution: gradient wrt x)
    ConvKernelGrad(x, g)  B_x^T g            (the correlation of x with g: gradient wrt w)

where A_w x = B_x w = y. Each is linear in each argument, so the derivatives of each are
the other two: <h, A_w^T g> = <A_w h, g> gives d/dg = Conv(h, w) and d/dw = ConvKernelGrad(h, g),
and so on. Gradients of any order therefore stay inside this family of three.

Internally everything is channels_last with the kernel as (kh, kw, C // groups, F); a conv is
one GEMM of the patch matrix (N * OH * OW, kh * kw * Cg) with the kernel (kh * kw * Cg, Fg) per group.
The input gradient is one GEMM per kernel tap and a col2im add per tap; with few channels (narrow,
slow GEMMs) it goes by blocks of B outputs of a row instead: g's blocks (B * F values) times a banded
kernel give whole stretches of input rows, one long add per kernel row and block (up to
ROW_SPAN_LIMIT = 2 times the arithmetic, far fewer and wider GEMMs and adds).
The batch is cut into cache-sized slabs of images, which the threads of tinygrad_cnn.parallel take
from one queue (BLAS on one thread in each); sums over slabs are added in slab order, so every
result is the same on any number of threads. First-order backward makes every wanted gradient in
one pass over g (one wake-up of the threads); second order records the three ops instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import parallel
from ..arguments import positive_int
from ..function import Function
from ..mode import MODE
from ..tensor import Tensor
from .geometry import Geometry, check_data_format, check_rank, spatial_layout, window_geometry
from .windows import col2im, col2im_rows, patch_slabs, slabs, strided, workspace

ROW_SPAN_LIMIT = 2   # the input gradient goes by blocks of outputs whose windows span at most 2 kernel widths
NARROW_GEMM = 16     # GEMMs with fewer output columns run at 3/4 of BLAS's speed here or less (8: 40%)


def _grouped_kernel(w: np.ndarray, groups: int) -> np.ndarray:
    """(kh, kw, Cg, G * Fg) -> (G, kh * kw * Cg, Fg): one GEMM operand per group (a view for G = 1)."""
    kh, kw, cg, f = w.shape
    return w.reshape(kh * kw * cg, groups, f // groups).transpose(1, 0, 2)


def _work_per_image(geometry: Geometry, kernel_shape: tuple[int, ...], groups: int, itemsize: int) -> int:
    """What one image costs a conv kernel, in bytes copied: its patches (kh * kw * C values per
    output) and its GEMM's kh * kw * Cg * F multiply-adds per output, about three to a byte here."""
    (oh, ow), (kh, kw, cg, f) = geometry.out_hw, kernel_shape
    return oh * ow * kh * kw * cg * (groups * itemsize + f // 3)


def _in_slab_order(terms: list[list[tuple[int, np.ndarray]]], shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """The sum of every thread's (slab start, term) pairs, added in slab order whichever thread made
    each: the same float result on any number of threads."""
    total = np.zeros(shape, dtype=dtype)
    for _, term in sorted((pair for pairs in terms for pair in pairs), key=lambda pair: pair[0]):
        total += term
    return total


def _patch_bytes(geometry: Geometry, channels: int, itemsize: int) -> int:
    """The bytes of one image's patches (or of its taps in the input gradient): kh * kw * C values per output."""
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    return oh * ow * kh * kw * channels * itemsize


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: Geometry, groups: int) -> np.ndarray:
    """y (N, OH, OW, F) = patches (M, G, Kg) @ kernel (G, Kg, Fg) + b, one slab of images at a time."""
    n, f = x.shape[0], w.shape[-1]
    y = np.empty((n, *geometry.out_hw, f), dtype=np.result_type(x, w, *([] if b is None else [b])))
    kernel = _grouped_kernel(w, groups)
    ow = geometry.out_hw[1]
    row_bias = None
    if b is not None:   # (OW, F) -> (OW * F,): b along a whole output row, so the add runs long
        row_bias = np.empty((ow, f), dtype=b.dtype)
        row_bias[...] = b
        row_bias = row_bias.reshape(-1)

    def thread(pieces: parallel.Pieces) -> None:
        for part, cols in patch_slabs(x, geometry, groups, pieces):
            out = y[part]
            # (G, m, Kg) @ (G, Kg, Fg) -> (G, m, Fg), written straight into the (m, G, Fg) layout
            np.matmul(cols, kernel, out=out.reshape(cols.shape[1], groups, f // groups).transpose(1, 0, 2))
            if row_bias is not None:   # while the slab is in cache
                rows = out.reshape(-1, ow * f)
                rows += row_bias
    threads = parallel.thread_count(n, _work_per_image(geometry, w.shape, groups, x.itemsize))
    parallel.over_pieces(slabs(n, _patch_bytes(geometry, x.shape[3], x.itemsize)), threads, thread)
    return y


def _kernel_term(cols: np.ndarray, g_slab: np.ndarray, out: np.ndarray) -> None:
    """out (G, Kg, Fg) = one slab's share of dw: patches (G, m, Kg) transposed @ g_slab (m, OH, OW, F)."""
    groups, m, _ = cols.shape
    g_groups = g_slab.reshape(m, groups, -1)                                          # (m, G, Fg)
    for k in range(groups):
        # (Kg, m) @ (m, Fg) -> (Kg, Fg), the long m axis inside; np.dot lets go of the GIL
        # however small its product is (np.matmul keeps it for products under 500 values)
        out[k] = np.dot(cols[k].T, g_groups[:, k])


def _spread(g_slab: np.ndarray, w_taps: np.ndarray, geometry: Geometry, out: np.ndarray) -> None:
    """out (m, H, W, C) = A_w^T g_slab for one slab of g (m, OH, OW, F), tap by tap."""
    images, oh, ow, f = g_slab.shape
    (kh, kw), (_, groups, fg, cg) = geometry.kernel, w_taps.shape
    m = images * oh * ow
    g_groups = g_slab.reshape(m, groups, fg).transpose(1, 0, 2)                      # (G, m, Fg)
    taps = workspace("taps", (kh * kw, m, groups, cg), out.dtype)
    # (1, G, m, Fg) @ (kh*kw, G, Fg, Cg) -> (kh*kw, G, m, Cg), stored as (kh*kw, m, G, Cg)
    np.matmul(g_groups[None], w_taps, out=taps.transpose(0, 2, 1, 3))
    # (kh*kw, m, G, Cg) -> (kh, kw, images, OH, OW, C)
    col2im(taps.reshape(kh, kw, images, oh, ow, cg * groups), geometry, out=out)


def _band(w: np.ndarray, geometry: Geometry, block: int) -> np.ndarray:
    """w (kh, kw, C, F) as the kernel of `block` neighbouring outputs of a row, (kh, block * F, S * C), S =
    the input columns they read: entry [i, (b, f), (u, c)] is w[i, j, c, f] where u = b * sw + j * dw, else 0."""
    kh, kw, c, f = w.shape
    (_, sw), (_, dw) = geometry.strides, geometry.dilation
    span = (block - 1) * sw + (kw - 1) * dw + 1
    band = np.zeros((kh, block, f, span, c), dtype=w.dtype)
    s_i, s_b, s_f, s_u, s_c = band.strides
    # the entries [i, b, f, b * sw + j * dw, c] as one view (kh, block, F, kw, C), each b a diagonal
    taps = strided(band, (kh, block, f, kw, c), (s_i, s_b + sw * s_u, s_f, dw * s_u, s_c), writeable=True)
    taps[...] = w.transpose(0, 3, 1, 2)[:, None]                    # (kh, 1, F, kw, C): the same for every b
    return band.reshape(kh, block * f, span * c)


def _spread_blocks(g_slab: np.ndarray, band: np.ndarray, geometry: Geometry, out: np.ndarray) -> None:
    """out (m, H, W, C) = A_w^T g_slab for one slab of g (m, OH, OW, F), by blocks of B outputs of a row."""
    images, oh, ow, f = g_slab.shape
    kh, block_f, span = band.shape
    blocks = ow * f // block_f
    rows = workspace("taps", (blocks, kh, images * oh, span), out.dtype)
    # block k of every output row, (m*OH, B*F), strided views BLAS reads as they are: (OW/B, 1, m*OH, B*F)
    g_blocks = g_slab.reshape(images * oh, blocks, block_f).transpose(1, 0, 2)[:, None]
    # (OW/B, 1, m*OH, B*F) @ (kh, B*F, S*C) -> (OW/B, kh, m*OH, S*C): what kernel row i of block k adds to a row
    np.matmul(g_blocks, band, out=rows)
    col2im_rows(rows.reshape(blocks, kh, images, oh, span), geometry, out)


def _row_block(g: np.ndarray, geometry: Geometry, channels: int, groups: int) -> int:
    """How many neighbouring outputs of a row go through one band in the input gradient (1: tap by tap).

    Tap by tap, the GEMMs have only C output columns, which BLAS runs slowly when C < NARROW_GEMM. B
    outputs read S = (B - 1) * sw + (kw - 1) * dw + 1 input columns: their band costs S / kw times the
    arithmetic of their taps, but makes one GEMM with S * C columns and kh long adds for all B, instead
    of kh * kw narrow GEMMs and adds. B is the largest divisor of OW with S at most ROW_SPAN_LIMIT
    kernel widths. The band's zeros would spread a NaN or inf of g along the block, so g must be
    finite.
    """
    (_, kw), (_, ow), (_, sw), (_, dw) = geometry.kernel, geometry.out_hw, geometry.strides, geometry.dilation
    fitting = [block for block in range(2, ow + 1)
               if ow % block == 0 and (block - 1) * sw + (kw - 1) * dw + 1 <= ROW_SPAN_LIMIT * kw]
    if groups > 1 or channels >= NARROW_GEMM or not fitting or not np.isfinite(g).all():
        return 1
    return fitting[-1]


def _spreader(g: np.ndarray, w: np.ndarray, geometry: Geometry, groups: int) -> tuple[Any, np.ndarray]:
    """How the input gradient is made from g: (_spread_blocks, the band) or (_spread, w's taps)."""
    block = _row_block(g, geometry, w.shape[2], groups)
    if block > 1:
        return _spread_blocks, _band(w, geometry, block)
    kh, kw, cg, f = w.shape
    # (kh, kw, Cg, F) -> (kh*kw, G, Fg, Cg), copied: BLAS takes a third longer with transposed taps here
    return _spread, np.ascontiguousarray(w.reshape(kh * kw, cg, groups, f // groups).transpose(0, 2, 3, 1))


def _backward_pass(g: np.ndarray, geometry: Geometry, groups: int, kernel_shape: tuple[int, ...],
                   in_shape: tuple[int, ...], *, x: np.ndarray | None = None, w: np.ndarray | None = None,
                   bias: bool = False) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """First-order gradients (dx, dw, db) from one pass over g (N, OH, OW, F), one slab of images at a
    time: dx = A_w^T g when w is given, dw = B_x^T g when x is given, db = the sum of g with `bias`.

    Each slab of g serves every wanted gradient while it is in cache, and the threads wake once for all.
    """
    n, oh, ow, f = g.shape
    kh, kw, cg, _ = kernel_shape
    fg, kg = f // groups, kh * kw * cg
    dtype = np.result_type(*(a for a in (x, g, w) if a is not None))
    dx = None if w is None else np.empty(in_shape, dtype=dtype)
    spread, operand = (None, None) if w is None else _spreader(g, w, geometry, groups)
    dw_size = 0 if x is None else groups * kg * fg
    term_size = dw_size + ow * f * bias                                               # dw's, then db's

    def thread(pieces: parallel.Pieces) -> list[tuple[int, np.ndarray]]:
        terms = []
        with_patches = ((part, None) for part in pieces) if x is None else patch_slabs(x, geometry, groups, pieces)
        for part, cols in with_patches:
            if term_size:
                term = np.empty(term_size, dtype=dtype)
                if cols is not None:
                    _kernel_term(cols, g[part], term[:dw_size].reshape(groups, kg, fg))
                if bias:
                    term[dw_size:] = _row_sums(g[part])
                terms.append((part.start, term))
            if spread is not None:   # while the slab of g is in cache
                spread(g[part], operand, geometry, dx[part])
        return terms
    wanted = (x is not None) + (w is not None)
    if wanted:
        work = wanted * _work_per_image(geometry, kernel_shape, groups, dtype.itemsize)
        image_bytes = _patch_bytes(geometry, in_shape[3], dtype.itemsize)
    else:   # the bias alone: a sum over g
        work = image_bytes = oh * ow * f * dtype.itemsize
    terms = parallel.over_pieces(slabs(n, image_bytes), parallel.thread_count(n, work), thread)
    total = _in_slab_order(terms, (term_size,), dtype)
    # (G, Kg, Fg) -> (Kg, G, Fg) -> (kh, kw, Cg, F)
    dw = None if x is None else total[:dw_size].reshape(groups, kg, fg).transpose(1, 0, 2).reshape(kernel_shape)
    return dx, dw, (total[dw_size:].reshape(ow, f).sum(axis=0) if bias else None)    # (OW * F,) -> (F,)


def _row_sums(g: np.ndarray) -> np.ndarray:
    """(OW * F,): g (m, OH, OW, F) summed over m and OH by BLAS, ones (m * OH,) @ rows (m * OH, OW * F)."""
    m, oh, ow, f = g.shape
    return np.dot(np.ones(m * oh, dtype=g.dtype), g.reshape(m * oh, ow * f))


class Conv(Function):
    """y = conv(x, w) + b for channels_last x (N, H, W, C), w (kh, kw, C // groups, F), b (F,) or None."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, b: Any, *, geometry: Geometry, groups: int) -> np.ndarray:
        y = _conv(x.data, w.data, None if b is None else b.data, geometry, groups)
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any, Any]:
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        geometry, groups = ctx.op_args["geometry"], ctx.op_args["groups"]
        if MODE.grad_enabled:   # gradients that are themselves differentiable
            gx = ConvInputGrad.apply(g, w, geometry=geometry, groups=groups, in_shape=x.shape) if need_x else None
            gw = ConvKernelGrad.apply(x, g, geometry=geometry, groups=groups, kernel_shape=w.shape) if need_w else None
            return gx, gw, (g.sum(axis=(0, 1, 2)) if need_b else None)
        # first order: every wanted gradient from one pass over g, the threads woken once
        return _backward_pass(g.data, geometry, groups, w.shape, x.shape, x=x.data if need_w else None,
                              w=w.data if need_x else None, bias=need_b)


class ConvInputGrad(Function):
    """A_w^T g: the transposed convolution of g (N, OH, OW, F) with w, shaped like the input."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, w: Tensor, *, geometry: Geometry, groups: int,
                in_shape: tuple[int, ...]) -> np.ndarray:
        ctx.save_for_backward(g, w)
        return _backward_pass(g.data, geometry, groups, w.shape, in_shape, w=w.data)[0]

    @staticmethod
    def backward(ctx: Any, h: Tensor) -> tuple[Any, Any]:
        g, w = ctx.saved_tensors
        need_g, need_w = ctx.needs_input_grad
        geometry, groups = ctx.op_args["geometry"], ctx.op_args["groups"]
        # <h, A_w^T g> = <A_w h, g>: d/dg = A_w h, d/dw = B_h^T g
        gg = Conv.apply(h, w, None, geometry=geometry, groups=groups) if need_g else None
        gw = ConvKernelGrad.apply(h, g, geometry=geometry, groups=groups, kernel_shape=w.shape) if need_w else None
        return gg, gw


class ConvKernelGrad(Function):
    """B_x^T g: the correlation of x (N, H, W, C) with g (N, OH, OW, F), shaped like the kernel."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, g: Tensor, *, geometry: Geometry, groups: int,
                kernel_shape: tuple[int, ...]) -> np.ndarray:
        ctx.save_for_backward(x, g)
        return _backward_pass(g.data, geometry, groups, kernel_shape, x.shape, x=x.data)[1]

    @staticmethod
    def backward(ctx: Any, k: Tensor) -> tuple[Any, Any]:
        x, g = ctx.saved_tensors
        need_x, need_g = ctx.needs_input_grad
        geometry, groups = ctx.op_args["geometry"], ctx.op_args["groups"]
        # <k, B_x^T g> = <B_x k, g> = <A_k x, g>: d/dx = A_k^T g, d/dg = A_k x
        gx = ConvInputGrad.apply(g, k, geometry=geometry, groups=groups, in_shape=x.shape) if need_x else None
        gg = Conv.apply(x, k, None, geometry=geometry, groups=groups) if need_g else None
        return gx, gg


# --- the public function: validate, move to channels_last, run one Conv ---

def as_tensor(value: Any, argument: str, like: Tensor | None = None) -> Tensor:
    """value as a Tensor; a list or scalar takes the dtype of a floating `like` (float64 stays float64)."""
    if isinstance(value, Tensor):
        return value
    try:   # first without a dtype: that checks the data are numbers (with one, None would become NaN)
        tensor = Tensor(value)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{argument} must be a Tensor or an array of numbers: {e}") from None
    if like is None or isinstance(value, np.ndarray) or like.dtype.kind != "f":
        return tensor   # an integer `like` would truncate floats (0.5 -> 0)
    return Tensor(value, dtype=like.dtype)


def _check_groups(groups: Any, channels: int, filters: int) -> int:
    groups = positive_int(groups, "groups", "conv2d")
    if channels % groups or filters % groups:
        raise ValueError(f"groups={groups} must divide both the input channels ({channels}) and the "
                         f"filters ({filters}): {channels} % {groups} = {channels % groups}, "
                         f"{filters} % {groups} = {filters % groups}")
    return int(groups)


def conv_operands(x: Any, kernel: Any, data_format: str, kernel_axes: tuple[str, str]) -> tuple[Tensor, Tensor]:
    """x as channels_last (N, H, W, C) and the kernel, as Tensors: x 4-D in its layout, the kernel 4-D
    (kh, kw, *kernel_axes) with no empty axis."""
    x = as_tensor(x, "x")
    kernel = as_tensor(kernel, "kernel", x)
    check_rank(x, "x", spatial_layout(data_format))
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be 4-D (kh, kw, {', '.join(kernel_axes)}), got shape {kernel.shape} "
                         f"({kernel.ndim}-D)")
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)   # (N, C, H, W) -> (N, H, W, C)
    if min(kernel.shape) < 1:
        sizes = [f"{name} {n}" for name, n in zip(("height", "width", *kernel_axes), kernel.shape, strict=True)]
        raise ValueError(f"the kernel {kernel.shape} is empty: its {', '.join(sizes[:-1])} and {sizes[-1]} "
                         "must all be at least 1")
    if x.dtype.kind in "biu" and kernel.dtype.kind in "biu" and np.result_type(x.dtype, kernel.dtype).itemsize < 8:
        # sums of products in int64 (NumPy's sum widens small integers too): in uint8 they would wrap (9 * 255 -> 247);
        # integers take no gradient, so plain copies
        x, kernel = Tensor(x.data.astype(np.int64)), Tensor(kernel.data.astype(np.int64))
    return x, kernel


def bias_operand(bias: Any, filters: int, x: Tensor) -> Tensor | None:
    """The bias as a Tensor of shape (filters,), or None."""
    if bias is None:
        return None
    bias = as_tensor(bias, "bias", x)
    if bias.shape != (filters,):
        raise ValueError(f"bias must have shape (filters,) = ({filters},), got {bias.shape}")
    return bias


def conv2d(x: Any, kernel: Any, bias: Any = None, *, strides: Any = 1, padding: Any = "valid",
           dilation_rate: Any = 1, groups: int = 1, data_format: str = "channels_last") -> Tensor:
    """2-D convolution (cross-correlation) with Keras conventions; kernel (kh, kw, C // groups, filters)."""
    data_format = check_data_format(data_format)
    x, kernel = conv_operands(x, kernel, data_format, ("in_channels // groups", "filters"))
    kh, kw, cg, filters = kernel.shape
    channels = x.shape[-1]
    groups = _check_groups(groups, channels, filters)
    if channels != cg * groups:
        raise ValueError(f"the input has {channels} channels but the kernel {kernel.shape} expects "
                         f"{cg} x groups {groups} = {cg * groups}; the kernel's third axis must be "
                         f"in_channels // groups")
    geometry = window_geometry(x.shape[1:3], (kh, kw), strides, dilation_rate, padding, "kernel")
    bias = bias_operand(bias, filters, x)
    y = Conv.apply(x, kernel, bias, geometry=geometry, groups=groups)
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y
