# Two commands: `make demo` runs Visitt with demo data; `make test` runs every test.
# Each installs what it needs (a virtual environment in .venv; Debian's Chromium for the browser tests).

VENV ?= .venv
PYTHON ?= python3

.PHONY: demo test chromium

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.base
	$(VENV)/bin/pip install -q -e '.[test,postgres,redis]'
	touch $@

demo: $(VENV)/.base
	$(VENV)/bin/visitt demo --host 127.0.0.1 --port 8000

chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: $(VENV)/.test chromium
	$(VENV)/bin/python -m pytest
