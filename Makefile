# Shortcuts for the README's commands; `make` alone lists them.
# Hydra overrides go in ARGS:  make train ARGS="+experiment=NAME seed=3"
PYTHON ?= python
ARGS ?= +experiment=cnn

.PHONY: help install train test tb format lint clean clean-data

help:  ## list the targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install:  ## set up: the package, editable, with the dev tools (and Chromium for a test)
	pip install -e ".[dev]"
	python tests/install_browser.py

train:  ## train one run (ARGS: Hydra overrides; default: +experiment=cnn)
	$(PYTHON) scripts/train.py $(ARGS)

test:  ## the whole test suite, as CI runs it
	pytest

tb:  ## TensorBoard on every run under logs/
	tensorboard --logdir logs

format:  ## apply ruff's fixes, then format
	ruff check --fix .
	ruff format .

lint:  ## what CI checks, changing nothing
	ruff check .
	ruff format --check .

clean:  ## remove runs (logs/, outputs/, multirun/) and caches; keeps data/
	rm -rf logs outputs multirun .pytest_cache .ruff_cache notebooks/.ipynb_checkpoints
	find src tests scripts -type d -name __pycache__ -prune -exec rm -rf {} +

clean-data:  ## remove data/: the downloaded data sets and any file of yours there
	rm -rf data
