"""Dependencies point one way: engine <- ops <- conv/pool <- layers/training <- drawing, gradcheck tools, CLI."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tinygrad_cnn"

# Each module's level; a module may import only from its own level or below.
LEVELS = {
    "mode": 0, "anomaly": 0, "arguments": 0, "configs": 0, "describe": 0, "parallel": 0, "blas_threads": 0, "malloc": 0,
    "tensor": 1, "function": 1, "engine": 1, "autograd": 1, "creation": 1,
    "ops": 2,
    "conv": 3,
    "layers": 4, "initializers": 4, "regularizers": 4, "models": 4, "losses": 4, "optimizers": 4, "schedules": 4,
    "metrics": 4, "constraints": 4, "loss_functions": 4,
    "training": 4, "batches": 4, "callbacks": 4, "saving": 4, "datasets": 4, "filters": 4, "progress": 4,
    "utils": 4, "functional": 4, "outputs": 4, "structures": 4,
    "viz": 5, "gradcheck": 5, "blame": 5, "taylor": 5, "testing": 5,
    "__init__": 6, "demo": 6, "cli": 6, "__main__": 6,  # the public API and the programs built on it
}

# Command-line programs that live beside the code they drive: at the programs' level.
FILE_LEVELS = {"viz/command.py": 6, "testing/gradcheck_command.py": 6}

# The sanctioned upward edges, each a convenience method a user expects on a lower object.
ALLOWED_UPWARD = {
    ("tensor", "ops"),        # Tensor's methods are written out and delegate to the op modules
    ("tensor", "viz"),        # Tensor.draw_graph (lazy import inside the method)
    ("models", "viz"),        # Sequential.plot_model, Keras's name (lazy import inside the method)
    ("utils", "viz"),         # tc.utils.plot_model, Keras's keras.utils.plot_model (lazy import inside it)
}


def top_module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def level(path: Path) -> int:
    return FILE_LEVELS.get(path.relative_to(PACKAGE).as_posix(), LEVELS[top_module(path)])


def imported_modules(path: Path) -> set[str]:
    """Top-level package modules a file imports (relative or absolute, at any depth in the file)."""
    tree = ast.parse(path.read_text())
    inside = path.relative_to(PACKAGE).parts[:-1]  # sub-package of the file, for relative imports
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(inside[: len(inside) - (node.level - 1)])
                target = base + (node.module.split(".") if node.module else [])
                names = [target[0]] if target else [alias.name for alias in node.names]
            elif node.module and node.module.startswith("tinygrad_cnn."):
                names = [node.module.split(".")[1]]
            elif node.module == "tinygrad_cnn":
                names = [alias.name for alias in node.names]
            else:
                continue
            found.update(names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tinygrad_cnn."):
                    found.add(alias.name.split(".")[1])
                elif alias.name == "tinygrad_cnn":
                    found.add("__init__")
    return {name for name in found if name in LEVELS}


def test_every_module_has_a_level():
    modules = {top_module(p) for p in PACKAGE.rglob("*.py")}
    assert modules <= set(LEVELS), f"give these modules a level: {sorted(modules - set(LEVELS))}"


def test_nothing_lower_imports_anything_higher():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = top_module(path)
        for target in imported_modules(path):
            if LEVELS[target] > level(path) and (source, target) not in ALLOWED_UPWARD:
                violations.append(f"{path.relative_to(PACKAGE)} (level {level(path)}) imports "
                                  f"{target} (level {LEVELS[target]})")
    assert not violations, "\n".join(violations)


def test_the_checker_sees_relative_imports():
    """The walk itself is checked: relative imports from a sub-package up to the package are found."""
    assert {"tensor", "function"} & imported_modules(PACKAGE / "conv" / "pool.py")
