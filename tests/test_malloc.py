"""glibc's malloc thresholds, set at import: freed megabyte arrays are reused without page faults."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")

# minor page faults of 30 rounds of a training step's pattern (8 live arrays of 2 MiB, written, then
# all freed), after one warm-up round
FAULTS = """
import resource, numpy as np
import tinygrad_cnn
def step():
    arrays = [np.ones(1 << 19, dtype=np.float32) for _ in range(8)]
    del arrays
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(**environment: str) -> int:
    ours = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "TINYGRAD_CNN_TUNE_MALLOC")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    done = subprocess.run([sys.executable, "-c", FAULTS], env={**env, **environment}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_freed_arrays_are_reused_without_page_faults():
    assert faults() < 300                     # 30 rounds x 8 arrays x 512 pages would fault without reuse


@pytest.mark.parametrize("environment", [{"TINYGRAD_CNN_TUNE_MALLOC": "0"}, {"MALLOC_MMAP_THRESHOLD_": "131072"}])
def test_the_user_can_keep_glibcs_own_settings(environment):
    assert faults(**environment) > 30 * 1000  # glibc gives the freed pages back, and every round faults them in
