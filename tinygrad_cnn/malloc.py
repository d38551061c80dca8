"""glibc's malloc, set from the start where its own adaptive rule ends up after a large free.

A training step allocates and frees arrays of a few megabytes. glibc serves each array of
128 KiB or more with a fresh mmap, and every 4 KiB page of it then costs a page fault when it is
first written. That is 1 to 6 us a page on these machines, several milliseconds a step. glibc
adapts: once an mmapped block of S bytes (up to 32 MiB) is freed, it serves blocks below S from
its heap and keeps up to 2 S of free heap before giving memory back. A process that happens to
free a 32 MiB array early trains up to 1.3x faster than one that never does. `tune_malloc` sets
that end state at import (M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 64 MiB), so every process
gets it.

It does nothing when the user chose for themselves (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
or malloc tunables in GLIBC_TUNABLES), when TINYGRAD_CNN_TUNE_MALLOC=0, or off glibc.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1         # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20     # glibc's largest adaptive mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit)
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD   # what its adaptive rule pairs with it


def user_chose_malloc_settings() -> bool:
    """True when the environment already sets glibc's malloc thresholds, or asks us to leave them."""
    if os.environ.get("TINYGRAD_CNN_TUNE_MALLOC", "").strip() == "0":
        return True
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return True
    return "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds as above; True if they were set."""
    if user_chose_malloc_settings() or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
