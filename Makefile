# Two commands for a fresh machine: `make bundle` (compile the bundle into dist/) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= dist
TOOLS ?= .venv-tools
GATE_DIR ?= build/gate

.PHONY: bundle test gates chart golden docs demo clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(VENV)/.installed $@

# checkov and hadolint live in their own venv: their dependency trees would otherwise constrain ours.
$(TOOLS)/.installed: tools-requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet -r tools-requirements.txt
	touch $@

bundle: $(VENV)/.installed
	$(BIN)/aphex compile --out $(OUT)

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest
	$(MAKE) gates

# Security gates over what we ship: checkov on the compiled bundle and on the chart rendered by a real
# Helm engine (Kubernetes and Argo Workflows frameworks, zero failed checks; skips only inline with a
# reason) and hadolint on every Dockerfile.
gates: $(VENV)/.installed-test $(TOOLS)/.installed
	rm -rf $(GATE_DIR)
	$(BIN)/aphex compile --values examples/cluster-values.yaml --config examples/aphex-config.yaml \
		--out $(GATE_DIR)/bundle
	$(BIN)/python -m tests.chart.render $(GATE_DIR)/chart examples/cluster-values.yaml
	$(TOOLS)/bin/checkov --directory $(GATE_DIR) --framework kubernetes argo_workflows \
		--skip-download --compact --quiet
	$(TOOLS)/bin/hadolint images/*/Dockerfile

# Regenerate the golden files after an intended change of the compiled output; review the diff.
golden: $(VENV)/.installed-test
	APHEX_UPDATE_GOLDEN=1 $(BIN)/pytest -m golden

# The implementation DAG end to end on this machine with `aphex run` (docs/demo.md).
demo: $(VENV)/.installed
	$(BIN)/python -m examples.demo

# Regenerate cluster-verify's derived checks and the committed Helm chart after a change of the bundle;
# a test fails while either is stale.
chart: $(VENV)/.installed
	$(BIN)/python tools/derive_checks.py
	$(BIN)/aphex chart --out helm/aphex

clean:
	rm -rf $(OUT) build .pytest_cache .mypy_cache .ruff_cache

# Regenerate the diagrams in the docs from the compiled DAGs.
docs: $(VENV)/.installed
	$(BIN)/python -m tools.docsgen docs/implementation-dag.md docs/architecture.md docs/aphex-pipeline.md docs/install.md
	$(BIN)/python -m tools.config_docgen docs/configuration.md
