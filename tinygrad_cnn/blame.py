"""Blame: re-check every recorded op of a failing function on its own and name the first wrong one."""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .describe import op_args_text
from .engine import toposort
from .function import Function
from .mode import enable_grad, keeping_inputs, layer_label, recording_sites
from .tensor import Tensor


@dataclass
class Blame:
    """The first op (from the inputs towards the output) whose own gradient is wrong."""

    op: str                         # the Function's class name
    op_args: dict[str, Any]         # its keyword arguments
    input_shapes: tuple[Any, ...]   # shape of each positional input (None for non-Tensors)
    layer: str | None               # scope path of the layer the op ran in
    layer_kind: str | None
    site: tuple[str, int] | None    # the user's file and line of the call
    defined: tuple[str, int] | None  # where the op's Function class is written
    position: int                   # index of the op in engine.toposort(outputs) (consumers first)
    checked: int                    # ops checked before and including this one
    total: int                      # ops in the graph
    report: Any                     # the op's own GradcheckReport

    @property
    def call(self) -> str:
        """The op written as a call: `Name(shape, shape, key=value)`."""
        args = [str(s) if s is not None else "const" for s in self.input_shapes]
        args += op_args_text(self.op_args)
        return f"{self.op}({', '.join(args)})"

    @property
    def fault(self) -> str:
        """What is wrong with the op, in a few words: it fails its check as a whole, or which derivative is wrong."""
        return "fails gradcheck" if self.report.problems else f"wrong {self.report.what}"

    @property
    def error(self) -> str:
        """The op's worst disagreement and its call site, in one line (shown on the drawn graph)."""
        worst = [m for r in self.report.inputs for m in r.mismatches]
        site = f"; called at {os.path.basename(self.site[0])}:{self.site[1]}" if self.site else ""
        if not worst:   # fn as a whole fails (it changes its inputs...), or kinks counted as failures
            return (self.report.problems or self.report.message().splitlines())[0].split(";")[0] + site
        m = max(worst, key=lambda m: m.abs_error)
        return (f"input {m.input_index} {m.element}: analytic {m.analytic:.4g}, "
                f"numeric {m.numeric:.4g} (rel error {m.rel_error:.2g}){site}")

    def message(self, above: str = "") -> str:
        """Where the op is and what its own check found (`above`: the report this blame ends, not repeated)."""
        where = f"in layer {layer_label(repr(self.layer), self.layer_kind)}" if self.layer else "outside any layer"
        called = f"called at {self.site[0]}:{self.site[1]}" if self.site else "applied by the check itself"
        defined = f"; {self.op} is defined at {self.defined[0]}:{self.defined[1]}" if self.defined else ""
        verdict = "fails its own check" if self.report.problems else f"has a wrong {self.report.what} of its own"
        own = self.report.message()
        if own == above:   # the function is this one op, on the same inputs
            local = "  its own check: the report above (the function is this one op)"
        else:
            local = "  its own check:\n" + "\n".join("    " + line for line in own.splitlines())
        return (f"blame: {self.call} {verdict} (op {self.checked} of {self.total} "
                f"checked from the inputs towards the output)\n  {where}, {called}{defined}\n{local}")

    def find_in(self, outputs: Sequence[Tensor] | Tensor) -> Function | None:
        """The blamed op in another recording of the same function (e.g. the graph being drawn)."""
        roots = [o._ctx for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])
                 if o._ctx is not None]
        order = toposort(roots)
        if self.position < len(order) and order[self.position].name == self.op:
            return order[self.position]
        same = [n for n in order if n.name == self.op and getattr(n, "site", None) == self.site]
        return same[0] if same else None


LocalCheck = Callable[[Callable[..., Any], list[Any], Function], Any]


def find_blame(fn: Callable[..., Any], inputs: Sequence[Any], check: LocalCheck) -> tuple[Blame | None, int]:
    """Re-run `fn` keeping every op's inputs; check each op alone, inputs first; (blame, ops checked).

    `check(op_fn, op_inputs, node)` returns the op's GradcheckReport (or None when the op cannot be
    checked alone); `op_fn` re-applies the op.
    """
    with enable_grad(), recording_sites(), keeping_inputs():
        outputs = fn(*inputs)
    outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
    direct = isinstance(getattr(fn, "__self__", None), type)  # fn is MyOp.apply: no user call site
    order = toposort(o._ctx for o in outputs if isinstance(o, Tensor) and o._ctx is not None)
    for checked, position in enumerate(reversed(range(len(order))), start=1):
        node = order[position]
        report = check(_reapply(node), _fresh_inputs(node), node)
        if report is not None and not report.passed:   # None: the op cannot be checked alone
            scope = node.scope
            shapes = tuple(a.shape if isinstance(a, Tensor) else None for a in node.inputs)
            return Blame(node.name, dict(node.op_args), shapes, scope.path if scope else None,
                         scope.kind if scope else None, None if direct else node.site, _definition(type(node)),
                         position, checked, len(order), report), checked
    return None, len(order)


def _definition(cls: type) -> tuple[str, int] | None:
    """File and first line of a class's source, when Python can find it."""
    try:
        return inspect.getsourcefile(cls) or "?", inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return None


def _reapply(node: Function) -> Callable[..., Tensor]:
    """The op alone, as a function of its positional inputs."""
    cls, op_args = type(node), node.op_args
    return lambda *args: cls.apply(*args, **op_args)


def _fresh_inputs(node: Function) -> list[Any]:
    """New leaves with the op's input values; only the inputs it differentiated require grad."""
    return [Tensor(a.data, requires_grad=need) if isinstance(a, Tensor) else a
            for a, need in zip(node.inputs, node.needs_input_grad, strict=True)]
