"""The `tinygrad-cnn` command (also `python -m tinygrad_cnn`)."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options."""
    from . import __version__
    from .conv import max_pool
    kernel = "compiled" if max_pool.compiled is not None else "NumPy (no C compiler at install)"
    parser = argparse.ArgumentParser(prog="tinygrad-cnn", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} (max-pool kernel: {kernel})")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")

    from .demo import add_arguments as add_demo_arguments
    add_demo_arguments(command(
        "demo", "train the tutorial's CNN on handwritten digits, draw what it learned, check its gradients"))
    from .testing.gradcheck_command import add_arguments
    add_arguments(command("gradcheck", "gradcheck and gradgradcheck every built-in op"))
    from .viz.command import add_arguments as add_graph_arguments
    add_graph_arguments(command("graph", "draw the demo CNN's graph to a picture file"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo
        return run_demo(args)
    if args.command == "gradcheck":
        from .testing.gradcheck_command import run_gradcheck_command
        return run_gradcheck_command(args)
    if args.command == "graph":
        from .viz.command import run_graph_command
        return run_graph_command(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
