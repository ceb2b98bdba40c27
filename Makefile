# inpaintgan: the Makefile is the manual. `make train` and `make test` are all a fresh clone needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install train test test-fast lint format sweep clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with its dev extra (fast when nothing changed)

train: install  ## train the paper model on the embedded sample photos (CPU, a few minutes)
	$(PY) -m inpaintgan.train +experiment=sample $(ARGS)

TESTS ?= tests notebooks/quickstart.ipynb
# pytest-xdist workers: one per core (JOBS=0 runs in this process, e.g. for pdb)
JOBS  ?= auto
XDIST := -n $(JOBS) --dist loadfile

test: install  ## the whole suite on every core, incl. the slow tests and the quickstart notebook (nbmake)
	$(PY) -m pytest -q $(XDIST) --nbmake $(TESTS) $(ARGS)

test-fast: install  ## the fast lane: every test not marked slow (no training, CLI, DDP, browser), under 2 minutes
	$(PY) -m pytest -q $(XDIST) -m "not slow" tests $(ARGS)

lint: install  ## ruff
	$(VENV)/bin/ruff check inpaintgan tests
	$(VENV)/bin/ruff format --check inpaintgan tests

format: install  ## ruff autofix + format
	$(VENV)/bin/ruff check --fix inpaintgan tests
	$(VENV)/bin/ruff format inpaintgan tests

sweep: install  ## example multirun: two settings of the style weight (0 and 10), one epoch each
	$(PY) -m inpaintgan.train -m loss.style_weight=0,10 trainer.max_epochs=1 $(ARGS)

clean:  ## remove outputs, caches and the venv
	rm -rf outputs multirun .pytest_cache .ruff_cache build *.egg-info $(VENV)
