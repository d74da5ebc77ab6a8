# Generate to Classify: every set-up step is a dependency, so `make test` and `make book`
# work on a fresh clone.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= auto
# Notebooks to execute with `make run` (default: every chapter, in book order).
NB      ?= $(sort $(wildcard notebooks/[0-9]*.ipynb))

export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONHASHSEED := 0

.PHONY: help venv data test test-slow unit unit-fast unit-slow prepare-smoke notebooks nbcheck lint \
        book book-test run clean

help:
	@echo "make test              set up, fast unit tests, smoke run of every notebook (nbval), nbcheck, gluecheck, lint"
	@echo "make test-slow         the unit tests marked slow (wheel install, killed runs, two devices...)"
	@echo "make unit              the unit tests not marked slow (both cores)"
	@echo "make notebooks         train the smoke models once, then every notebook under nbval (smoke profile)"
	@echo "make book              set up, build the book into _build/html"
	@echo "make book-test         open the built book in headless Chromium, offline, check the formulas"
	@echo "make run PROFILE=cpu   re-execute notebooks in place (NB=notebooks/02_cnn_basics.ipynb for one)"

$(STAMP): requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

data: venv
	$(BIN)/python -m genclass_utils data

# Both cores: pytest-xdist spreads the tests (and the notebooks, one whole notebook per worker)
# over JOBS processes. --durations keeps the slowest ones in sight.
JOBS    ?= 2

# The default suite: every unit test not marked slow, plus the two slow tests of a reader's install
# path (user_path). `make test-slow` runs the other slow ones; they are kept, and run before a
# release (see CONTRIBUTING.md).
unit: venv data
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -n $(JOBS) -m "not slow or user_path" --durations=15 tests

unit-fast: venv data
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -n $(JOBS) -m "not slow" --durations=10 tests

unit-slow: venv data
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -n $(JOBS) -m "slow and not user_path" --durations=15 tests

test-slow: unit-slow

# Every model a chapter loads from an earlier one, trained once in the smoke profile (into
# artifacts/smoke/) by the same load-or-train functions the chapters call, so that no nbval
# worker trains another chapter's model. --retrain: the smoke run proves today's code trains.
prepare-smoke: venv data
	GENCLASS_PROFILE=smoke MPLBACKEND=Agg $(BIN)/python -m genclass_utils prepare --profile smoke --retrain-if-changed

# A smoke notebook must finish within 30 s on 2 cores, models from other chapters included:
# --nbval-cell-timeout stops a runaway cell, --durations lists the slowest cells.
notebooks: venv data prepare-smoke
	GENCLASS_PROFILE=smoke MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
	  -n $(JOBS) --dist loadfile --nbval-cell-timeout=300 --durations=20 notebooks/

nbcheck: venv
	$(BIN)/python -m genclass_utils nbcheck notebooks/
	$(BIN)/python -m genclass_utils gluecheck notebooks/

lint: venv
	$(BIN)/ruff check genclass_utils tests
	$(BIN)/nbqa ruff notebooks/

test: unit notebooks nbcheck lint

book: venv
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "The book is in _build/html/index.html"

# After `make book`: the formulas of a chapter are typeset from file:// with networking off
# (needs Debian's chromium; skipped with a reason without it).
book-test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider -rs tests/test_browser.py

run: venv data
	$(BIN)/python -m genclass_utils run --profile $(PROFILE) $(NB)
	$(BIN)/python -m genclass_utils overview --profile cpu

clean:
	rm -rf _build .pytest_cache
