"""What the benchmarks share: each library is measured in a fresh worker process of the benchmark script."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

THREAD_VARIABLES = ("TINYGRAD_CNN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_environment(threads: int) -> dict[str, str]:
    """The environment that gives a fresh process `threads` threads in NumPy's BLAS, OpenMP, torch and us."""
    return dict(os.environ, **{name: str(threads) for name in THREAD_VARIABLES})


def run_worker(script: str, library: str, arguments: list[str], env: dict[str, str] | None = None) -> Any:
    """`python script --worker library *arguments` in a fresh process: its last line of output, read as JSON."""
    done = subprocess.run([sys.executable, script, "--worker", library, *arguments], capture_output=True,
                          text=True, env=env)
    if done.returncode:
        raise SystemExit(f"the {library} worker of {os.path.basename(script)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
