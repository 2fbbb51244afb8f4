# Two commands do all set-up on a fresh machine with only Python 3.11+:
#   make demo   - create .venv, install the kit and its Jupyter kernel, run the demo chain
#   make test   - the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= data/configs/demo.yaml

.PHONY: install demo test lab bench batch org clean workshop-check

# Re-installs only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name kit --display-name "Python (kit)" >/dev/null
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m kit run $(CONFIG) --force

test: $(STAMP)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

batch: $(STAMP)
	$(BIN)/python -m kit batch data/configs/demo.yaml data/configs/level1.yaml --workers 2 --out reports/batch --force

# Pre-flight check of a participant's laptop (docs/workshop/): READY / NOT READY with the fix.
workshop-check: $(STAMP)
	$(BIN)/python -m kit workshop check

# The organization example: four runs of one fictional group (data/configs/org/), then its roll-up.
# `kit batch` already writes reports/org/org.html (linked from its index); `kit org` rebuilds it from the folders.
org: $(STAMP)
	-$(BIN)/python -m kit batch data/configs/org/*.yaml --workers 2 --out reports/org --force
	$(BIN)/python -m kit org reports/org --out reports/org

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_chain.py

clean:
	rm -rf reports/demo reports/batch reports/lab reports/org .pytest_cache
