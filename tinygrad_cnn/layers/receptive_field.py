"""`ReceptiveField`: the input window one output value sees, carried through the layers of a summary."""
from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

Span = tuple[int, int] | None   # the first and last input pixel one output sees (None: it sees none)


class ReceptiveField:
    """The input window one output value sees: size and jump (input pixels between neighbouring outputs).

    Per axis it keeps the window (first, last input pixel) of each output over one period: after an
    upsampling neighbouring outputs are a fraction of a pixel apart and their windows repeat only every
    few outputs, so `size`, the widest window, cannot be worked out from the size and jump alone.
    """

    __slots__ = ("size", "jump", "whole", "spans", "known")

    def __init__(self, size: tuple[int, int] = (1, 1), jump: tuple[Any, Any] = (1, 1), whole: bool = False,
                 spans: tuple[tuple[Span, ...], ...] | None = None, known: bool = True) -> None:
        self.size, self.jump, self.whole, self.known = size, jump, whole, known
        # per axis, the spans of outputs 0 .. q - 1; output o + q sees the span of o moved by jump * q pixels
        self.spans = spans if spans is not None else tuple(_even_spans(n, j) for n, j in zip(size, jump, strict=True))

    def _after(self, jumps: tuple[Any, ...], periods: tuple[int, ...],
               sources: Callable[[int, int], list[int]]) -> ReceptiveField:
        """The field of new outputs: output o along `axis` sees the old outputs sources(axis, o)."""
        if self.whole or not self.known:
            return self
        spans = tuple(tuple(_union([_span(self.spans[axis], self.jump[axis], i) for i in sources(axis, o)])
                            for o in range(period)) for axis, period in enumerate(periods))
        size = tuple(max((last - first + 1 for first, last in filter(None, axis)), default=0) for axis in spans)
        return ReceptiveField(size, jumps, spans=spans)  # type: ignore[arg-type]

    def through(self, kernel: tuple[int, int], strides: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> ReceptiveField:
        """After a window of `kernel` moved by `strides`: output o sees outputs s * o + t * d, t < k."""
        return self._after(tuple(j * s for j, s in zip(self.jump, strides, strict=True)),
                           tuple(len(spans) for spans in self.spans),
                           lambda a, o: [strides[a] * o + t * dilation[a] for t in range(kernel[a])])

    def transposed(self, kernel: tuple[int, int], strides: tuple[int, int],
                   dilation: tuple[int, int] = (1, 1)) -> ReceptiveField:
        """After a transposed convolution: output o gathers the inputs i with o = s * i + t * d, t < k
        (a constant shift of 'same' padding aside)."""
        return self._after(tuple(Fraction(j) / s for j, s in zip(self.jump, strides, strict=True)),
                           tuple(len(spans) * s for spans, s in zip(self.spans, strides, strict=True)),
                           lambda a, o: [(o - t * dilation[a]) // strides[a] for t in range(kernel[a])
                                         if (o - t * dilation[a]) % strides[a] == 0])

    def upsampled(self, factors: tuple[int, int], bilinear: bool = False) -> ReceptiveField:
        """After an upsampling: output o repeats value o // f, or interpolates the values on either side of
        (o + 1/2) / f - 1/2 (half-pixel centres)."""
        def sources(a: int, o: int) -> list[int]:
            if not bilinear:
                return [o // factors[a]]
            centre = Fraction(2 * o + 1, 2 * factors[a]) - Fraction(1, 2)
            return [math.floor(centre), math.ceil(centre)]
        return self._after(tuple(Fraction(j) / f for j, f in zip(self.jump, factors, strict=True)),
                           tuple(len(spans) * f for spans, f in zip(self.spans, factors, strict=True)), sources)

    def __str__(self) -> str:
        if not self.known:
            return "?"
        return "whole input" if self.whole else f"{math.ceil(self.size[0])}x{math.ceil(self.size[1])}"


def _even_spans(size: Any, jump: Any) -> tuple[Span, ...]:
    """Spans `size` wide starting jump * o (rounded down) for o over one period (the jump's denominator)."""
    jump = Fraction(jump)
    return tuple((math.floor(o * jump), math.floor(o * jump) + math.ceil(size) - 1) for o in range(jump.denominator))


def _span(spans: tuple[Span, ...], jump: Any, o: int) -> Span:
    """The span of output o (any integer, also beyond the period)."""
    period, span = len(spans), spans[o % len(spans)]
    shift = int((o // period) * period * Fraction(jump))   # whole pixels: jump * period is an integer
    return None if span is None else (span[0] + shift, span[1] + shift)


def _union(spans: list[Span]) -> Span:
    """The smallest span holding all the given ones (None if none sees anything)."""
    seen = [span for span in spans if span is not None]
    return (min(f for f, _ in seen), max(last for _, last in seen)) if seen else None


WHOLE_INPUT = ReceptiveField(whole=True)
UNKNOWN_FIELD = ReceptiveField(known=False)   # after a layer that holds layers (see Layer.receptive_field)
