# Two commands on a fresh machine: `make run` (zhifu with demo data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The public Alipay SDKs the gateway is tested with live in venvs of their own (the two
# Alipay SDKs install the same top-level package name).
SDK_VENV := .venv-alipay-fzlee
SDK_STAMP := $(SDK_VENV)/.installed
OFFICIAL_VENV := .venv-alipay-official
OFFICIAL_STAMP := $(OFFICIAL_VENV)/.installed
# Ant's Node SDK (npm alipay-sdk), for the v3 OpenAPI's test; skipped where npm is missing.
NODE_SDK := .node-alipay
NODE_STAMP := $(NODE_SDK)/.installed

.PHONY: run test lint install clean screenshots fuzz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SDK_STAMP):
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet python-alipay-sdk==3.4.0
	touch $(SDK_STAMP)

$(OFFICIAL_STAMP):
	$(PYTHON) -m venv $(OFFICIAL_VENV)
	$(OFFICIAL_VENV)/bin/pip install --quiet alipay-sdk-python==3.7.1411
	touch $(OFFICIAL_STAMP)

$(NODE_STAMP):
	@if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --prefix $(NODE_SDK) alipay-sdk@4.14.0 && touch $(NODE_STAMP); \
	else echo "npm not found: the Node SDK's v3 test will be skipped"; fi

install: $(STAMP)

run: $(STAMP)
	$(BIN)/zhifu serve --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

# The browser tests drive Debian's Chromium (never a browser Playwright downloads).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# The screenshots in docs/screenshots/, taken by the browser tests (a CJK font for the
# Chinese pages).
screenshots: $(STAMP) $(CHROMIUM)
	fc-list | grep -qi wqy || DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-wqy-zenhei
	ZHIFU_SCREENSHOTS=1 $(BIN)/pytest -q -p no:randomly -m browser tests/browser

test: lint $(SDK_STAMP) $(OFFICIAL_STAMP) $(NODE_STAMP) $(CHROMIUM)
	ZHIFU_NODE_ALIPAY_SDK=$(CURDIR)/$(NODE_SDK)/node_modules/alipay-sdk \
	ZHIFU_FZLEE_PYTHON=$(CURDIR)/$(SDK_VENV)/bin/python \
	ZHIFU_OFFICIAL_PYTHON=$(CURDIR)/$(OFFICIAL_VENV)/bin/python $(BIN)/pytest -q

# Schemathesis over the whole REST API with many examples per operation (`make test` runs
# it with a few): FUZZ_EXAMPLES=500 make fuzz for a longer run.
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP)
	ZHIFU_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/api/test_schemathesis.py

clean:
	rm -rf $(VENV) $(SDK_VENV) $(OFFICIAL_VENV) $(NODE_SDK) .mypy_cache .ruff_cache .pytest_cache .hypothesis
