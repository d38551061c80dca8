"""The BLAS library NumPy loaded, found once, with its thread count read and set through ctypes.

Found: OpenBLAS, as NumPy's own wheels bundle it (scipy-openblas since NumPy 2, plain openblas in the
1.24-1.26 wheels), as a system or conda package provides it, and as SciPy's wheels bundle theirs; and
Intel MKL's single runtime library (mkl_rt). Where we look: on Linux, every file the process has mapped
(/proc/self/maps); on macOS, every image dyld has loaded; on every system, the folders where NumPy's wheel
keeps its bundled libraries (the only place we look on Windows).

When nothing controllable is found (Apple's Accelerate, BLIS, a Windows MKL outside NumPy's folders),
loaded_blas() is empty and holding BLAS to one thread does nothing: BLAS's own threads may then run
beside ours and compete with them for the cores, which is slower but gives the same results.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np

# (setter, getter) names in the order they are tried; each library answers to the first pair it exports
THREAD_FUNCTIONS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),   # NumPy 2's wheels
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),         # SciPy's wheels (32-bit ints)
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),               # NumPy 1.24-1.26's wheels
    ("openblas_set_num_threads", "openblas_get_num_threads"),                     # a system or conda OpenBLAS
    ("MKL_Set_Num_Threads", "MKL_Get_Max_Threads"),                               # Intel MKL (mkl_rt)
)
# the file names BLAS libraries go by (Debian's libblas.so.3 may be OpenBLAS); no other file is opened
NAME_PREFIXES = ("libscipy_openblas", "libopenblas", "openblas", "libblas", "libmkl_rt", "mkl_rt")


class BlasLibrary(NamedTuple):
    """One loaded BLAS library and the two C functions that read and set its thread count."""

    path: str
    get_num_threads: Callable[[], int]
    set_num_threads: Callable[[int], None]


def _mapped_files() -> Iterator[str]:
    """Linux: the files mapped into this process (the last field of /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    yield fields[5].rstrip("\n")
    except OSError:   # not Linux
        return


def _dyld_images() -> Iterator[str]:
    """macOS: the images dyld has loaded into this process."""
    if sys.platform != "darwin":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc._dyld_image_count.restype = ctypes.c_uint32
    libc._dyld_get_image_name.restype = ctypes.c_char_p
    libc._dyld_get_image_name.argtypes = [ctypes.c_uint32]
    for i in range(libc._dyld_image_count()):
        yield os.fsdecode(libc._dyld_get_image_name(i))


def _numpy_bundled_files() -> Iterator[str]:
    """The libraries NumPy's wheel ships: in numpy.libs (Linux, Windows), numpy/.libs or numpy/.dylibs (macOS)."""
    package = os.path.dirname(np.__file__)
    for folder in (package + ".libs", os.path.join(package, ".libs"), os.path.join(package, ".dylibs")):
        if os.path.isdir(folder):
            yield from (os.path.join(folder, name) for name in sorted(os.listdir(folder)))


def blas_in(paths: Iterable[str]) -> tuple[BlasLibrary, ...]:
    """The BLAS libraries among these files that are loaded already and whose thread count we can set, each once."""
    found: dict[int, BlasLibrary] = {}   # by the setter's address: two files may lead to one library
    for path in dict.fromkeys(paths):   # each file once (/proc/self/maps lists one line per mapped segment)
        if not os.path.basename(path).lower().startswith(NAME_PREFIXES):
            continue
        try:   # RTLD_NOLOAD: only a library already loaded (Windows lacks it: there NumPy's own DLLs are tried)
            library = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0))
        except OSError:
            continue
        for setter_name, getter_name in THREAD_FUNCTIONS:
            if hasattr(library, setter_name) and hasattr(library, getter_name):
                setter, getter = getattr(library, setter_name), getattr(library, getter_name)
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                found.setdefault(ctypes.cast(setter, ctypes.c_void_p).value, BlasLibrary(path, getter, setter))
                break
    return tuple(found.values())


@functools.cache
def loaded_blas() -> tuple[BlasLibrary, ...]:
    """The BLAS libraries this process has loaded, found on the first call (a millisecond) and kept.

    A BLAS loaded after the first call (say by importing SciPy later) is not seen.
    """
    try:
        images = list(_dyld_images())
    except (OSError, AttributeError):   # no libc to ask: look elsewhere
        images = []
    return blas_in([*_mapped_files(), *images, *_numpy_bundled_files()])
