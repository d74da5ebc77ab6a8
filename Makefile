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

.PHONY: help venv data test unit notebooks nbcheck lint book run clean

help:
	@echo "make test              set up, unit tests, smoke run of every notebook (nbval), nbcheck, gluecheck"
	@echo "make book              set up, build the book into _build/html"
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

unit: venv data
	MPLBACKEND=Agg $(BIN)/python -m pytest -q tests

notebooks: venv data
	GENCLASS_PROFILE=smoke MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
	  --nbval-cell-timeout=900 notebooks/

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

run: venv data
	$(BIN)/python -m genclass_utils run --profile $(PROFILE) $(NB)
	$(BIN)/python -m genclass_utils overview --profile cpu

clean:
	rm -rf _build .pytest_cache
