# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench

$(VENV)/.installed: pyproject.toml setup.py tinygrad_cnn/conv/_max_pool.c   # the C kernel: built by the install
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e ".[dev,viz,examples]"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m tinygrad_cnn demo

test: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check tinygrad_cnn tests benchmarks examples setup.py

bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py
