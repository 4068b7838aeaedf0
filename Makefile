# The two commands of the README. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test install bench clean

# setup.py and the C source: a changed reader is rebuilt by the next make
$(STAMP): pyproject.toml setup.py src/vpnet/data/_skeleton.c src/vpnet/poses.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: on these machines 2.13.0 resolves to a local CPU wheel,
	# an unpinned torch would pull gigabytes of CUDA packages.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# MediaPipe for the pose extra (--no-deps: see src/vpnet/poses.py); the tests run it
	$(VENV)/bin/vpnet pose install --quiet
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vpnet demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache src/vpnet/data/*.so
