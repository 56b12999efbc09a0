# Two commands on a fresh machine: `make run` (zhifu with demo data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The public Alipay SDK the gateway is tested with lives in a venv of its own (the two
# Alipay SDKs install the same top-level package name).
SDK_VENV := .venv-alipay-fzlee
SDK_STAMP := $(SDK_VENV)/.installed

.PHONY: run test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SDK_STAMP):
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet python-alipay-sdk==3.4.0
	touch $(SDK_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/zhifu serve --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint $(SDK_STAMP)
	ZHIFU_FZLEE_PYTHON=$(CURDIR)/$(SDK_VENV)/bin/python $(BIN)/pytest -q

clean:
	rm -rf $(VENV) $(SDK_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
