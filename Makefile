# Two commands for a fresh machine: `make bundle` (compile the bundle into dist/) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= dist

.PHONY: bundle test golden docs clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(VENV)/.installed $@

bundle: $(VENV)/.installed
	$(BIN)/aphex compile --out $(OUT)

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# Regenerate the golden files after an intended change of the compiled output; review the diff.
golden: $(VENV)/.installed-test
	APHEX_UPDATE_GOLDEN=1 $(BIN)/pytest -m golden

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache

# Regenerate the diagrams in the docs from the compiled DAGs.
docs: $(VENV)/.installed
	$(BIN)/python -m dsl.docsgen docs/implementation-dag.md
