# mlirfuse: `make demo` runs the main job, `make test` runs the tests.
# Each sets up .venv by itself on a fresh machine where only Python is installed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lit pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: these machines hold the CPU build of 2.13.0 locally;
	# an unpinned torch would download a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) examples/demo.py

test: lit pytest

lit: setup
	$(VENV)/bin/lit -sv test

pytest: setup
	$(PY) -m pytest test/python

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
