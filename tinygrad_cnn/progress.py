"""A plain-text progress bar for fit and evaluate, in Keras's format.

    45/45 [==============================] - 1s 12ms/step - loss: 0.5504 - accuracy: 0.8330

verbose=1 redraws the bar in place on a terminal (at most ten times a second) and prints only the
final line elsewhere (logs, CI); verbose=2 prints one line without the bar; verbose=0 nothing.
When the number of steps is unknown (a generator), the bar shows the count so far ("12/Unknown"), without
an ETA, and the final line the count reached.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def format_duration(seconds: float) -> str:
    """3s, 1:02 or 1:02:03."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def format_per_step(seconds: float) -> str:
    """Time per step in Keras's unit: 2s/step, 12ms/step or 350us/step (never a 0ms that hides the time)."""
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def format_values(values: dict[str, float]) -> str:
    """ - loss: 0.5504 - accuracy: 0.8330; a value of at most 1e-3 in Keras's exponent form (1.2346e-05), so
    that a small loss does not read as 0.0000."""
    return "".join(f" - {name}: {value:.4f}" if abs(value) > 1e-3 else f" - {name}: {value:.4e}"
                   for name, value in values.items())


class ProgressBar:
    """Progress of one pass over `steps` batches (None: unknown until the pass ends)."""

    width = 30
    interval = 0.1  # seconds between redraws on a terminal

    def __init__(self, steps: int | None, verbose: int = 1, stream: TextIO | None = None) -> None:
        self.steps, self.verbose = steps, verbose
        self.seen = 0  # the last step reported
        self.stream = stream if stream is not None else sys.stdout
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.drawn = 0  # characters of the line drawn last (to blank it when the next one is shorter)

    def update(self, step: int, values: dict[str, float]) -> None:
        """After batch `step` (1-based): redraw the bar on a terminal, no more often than `interval`."""
        now = time.perf_counter()
        self.seen = step
        if self.verbose != 1 or not self.interactive or (now - self.last_draw < self.interval and step != self.steps):
            return
        self.last_draw = now
        if self.steps is None:
            self._draw(f"{step}/Unknown - {format_duration(now - self.start)}{format_values(values)}", end="")
            return
        eta = (now - self.start) / step * (self.steps - step)
        self._draw(f"{self._bar(step)} - ETA: {format_duration(eta)}{format_values(values)}", end="")

    def finish(self, values: dict[str, Any]) -> None:
        """The final line: the steps done (of all, when a pass ended early), time, time per step and the values."""
        if self.verbose == 0:
            return
        if self.steps is None:  # now known
            self.steps = self.seen
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(self.seen, 1)
        timing = f"{format_duration(elapsed)} {format_per_step(per_step)}"
        head = self._bar(self.seen) if self.verbose == 1 else f"{self.seen}/{self.steps}"
        self._draw(f"{head} - {timing}{format_values(values)}", end="\n")

    def _bar(self, step: int) -> str:
        digits = len(str(self.steps))
        filled = self.width * step // max(self.steps, 1)
        arrow = "=" * filled if filled == self.width else "=" * filled + ">" + "." * (self.width - filled - 1)
        return f"{step:>{digits}}/{self.steps} [{arrow}]"

    def _draw(self, line: str, end: str) -> None:
        if self.interactive:
            self.stream.write("\r" + line.ljust(self.drawn) + end)
            self.drawn = 0 if end else len(line)
        else:
            self.stream.write(line + end)
        self.stream.flush()
