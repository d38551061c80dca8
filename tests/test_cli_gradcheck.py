"""`tinygrad-cnn gradcheck`: every built-in op, a table, the exit code, and the options."""
from __future__ import annotations

import subprocess
import sys

import planted

from tinygrad_cnn.cli import main
from tinygrad_cnn.testing import gradcheck_command, op_catalog


def run(capsys, *argv):
    code = main(["gradcheck", *argv])
    return code, capsys.readouterr().out


def rows(output):
    """{op: (cases, worst error, kinks, verdict)} from the printed table."""
    table = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[1].isdigit():
            table[parts[0]] = (int(parts[1]), float(parts[2]), int(parts[3]), parts[4])
    return table


def test_every_builtin_op_passes_and_is_listed(capsys):
    code, output = run(capsys, "--cases", "2")
    table = rows(output)
    assert code == 0 and set(table) == {op.name for op in op_catalog.CATALOG}
    assert {"conv2d", "max_pool2d", "avg_pool2d", "matmul", "relu", "getitem"} <= set(table)
    assert all(verdict == "ok" and cases == 2 and error < 1e-5 for cases, error, _, verdict in table.values())
    assert f"{len(table)} of {len(table)} ops passed" in output


def test_one_op_with_cases_and_seed_counts_kinks(capsys):
    code, output = run(capsys, "--op", "relu", "--cases", "4", "--seed", "3")
    ((name, (cases, _, kinks, verdict)),) = rows(output).items()
    assert code == 0 and (name, cases, verdict) == ("relu", 4, "ok") and kinks > 0   # odd cases sit on 0
    assert "seed 3" in output
    assert run(capsys, "--op", "relu", "--cases", "4", "--seed", "3")[1] == output   # reproducible


def test_a_failing_op_exits_non_zero_with_its_report(capsys, monkeypatch):
    half_exp = op_catalog.CatalogOp("half_exp", planted.HalfExp.apply,
                                    lambda rng, kinks: [rng.standard_normal((2, 3))])
    monkeypatch.setattr(gradcheck_command, "CATALOG", [op_catalog.find("exp"), half_exp])
    code, output = run(capsys, "--cases", "1")
    table = rows(output)
    assert code == 1 and table["half_exp"][3] == "FAILED" and table["exp"][3] == "ok"
    assert table["half_exp"][1] > 0.1   # relative error 0.5 where |numeric| >= 1
    assert "half_exp:\ngradcheck of the gradient failed" in output and "1 of 2 ops passed" in output


def test_bad_options_are_explained_on_stderr(capsys):
    code = main(["gradcheck", "--op", "relux"])
    error = capsys.readouterr().err
    assert code == 2 and "no built-in op called 'relux'" in error and "relu, leaky_relu" in error
    code = main(["gradcheck", "--cases", "0"])
    assert code == 2 and "--cases must be at least 1, got 0" in capsys.readouterr().err


def test_the_command_line_entry():
    done = subprocess.run([sys.executable, "-m", "tinygrad_cnn", "gradcheck", "--op", "conv2d", "--cases", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "conv2d" in done.stdout and "1 of 1 ops passed" in done.stdout
