"""`tinygrad-cnn gradcheck`: gradcheck and gradgradcheck of every built-in op on drawn inputs, as a table."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from ..gradcheck import GradcheckReport, check_gradients, second_derivative_report
from .op_catalog import CATALOG, CatalogOp, find


def check_op(op: CatalogOp, cases: int, rng: np.random.Generator) -> list[GradcheckReport]:
    """First- and second-order reports for `cases` draws; odd cases of piecewise ops sit on kinks."""
    reports = []
    for case in range(cases):
        inputs = op.inputs(rng, kinks=op.has_kinks and case % 2 == 1)
        reports += [check_gradients(op.fn, inputs, seed=case), second_derivative_report(op.fn, inputs, seed=case)]
    return reports


def run_gradcheck_command(args: argparse.Namespace) -> int:
    """Print one row per op (cases, worst relative error, kinks, verdict); 1 if any check failed."""
    try:
        ops = CATALOG if args.op is None else [find(args.op)]
    except ValueError as error:
        print(f"tinygrad-cnn gradcheck: {error}", file=sys.stderr)
        return 2
    if args.cases < 1:
        print(f"tinygrad-cnn gradcheck: --cases must be at least 1, got {args.cases}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print(f"tinygrad-cnn gradcheck: --seed must be a non-negative int, got {args.seed}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    print(f"gradcheck and gradgradcheck in float64, {args.cases} drawn cases per op (seed {args.seed}); "
          "relative error = |analytic - numeric| / max(|numeric|, 1)")
    width = max(18, *(len(op.name) + 1 for op in ops))
    print(f"{'op':<{width}} {'cases':>5} {'worst rel error':>16} {'kinks':>6}  verdict")
    failures = []
    for op in ops:
        reports = check_op(op, args.cases, rng)
        failed = [r for r in reports if not r.passed]
        failures += [(op.name, r) for r in failed]
        worst = max(r.worst_rel_error for r in reports)
        kinks = sum(len(r.kinks) for r in reports)
        print(f"{op.name:<{width}} {args.cases:>5} {worst:>16.2e} {kinks:>6}  {'FAILED' if failed else 'ok'}")
    for name, report in failures[:3]:
        print(f"\n{name}:\n{report.message()}")
    print(f"\n{len(ops) - len({name for name, _ in failures})} of {len(ops)} ops passed")
    return 1 if failures else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the `gradcheck` subcommand."""
    parser.add_argument("--op", metavar="NAME", help="check one op only (default: all built-in ops)")
    parser.add_argument("--cases", type=int, default=3, metavar="N", help="drawn cases per op (default 3)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the drawn inputs (default 0)")
