"""The one compiled part, optional: max-pool's float32 kernel. Everything else is in pyproject.toml.

It needs no library, only a C compiler (GCC or Clang) at install. Without one the install goes on
(optional=True) and tinygrad_cnn/conv/max_pool.py does the same work with NumPy, more slowly.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "tinygrad_cnn.conv._max_pool", ["tinygrad_cnn/conv/_max_pool.c"],
    extra_compile_args=["-O3"],   # GCC vectorizes the kernel's loops at -O3 (some Pythons are built with -O2)
    optional=True,
)])
