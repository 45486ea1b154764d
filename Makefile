# Two commands: `make demo` runs Visitt with demo data; `make test` runs every test.
# Each installs what it needs (a virtual environment in .venv; Debian's Chromium and coturn for the tests).

VENV ?= .venv
PYTHON ?= python3

.PHONY: demo test system-packages

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[testroom]'
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.base
	$(VENV)/bin/pip install -q -e '.[test,postgres,redis,hypercorn,granian]'
	touch $@

demo: $(VENV)/.base
	$(VENV)/bin/visitt demo --host 127.0.0.1 --port 8000

# Debian's Chromium (browser tests), coturn (TURN relay tests) and nginx (the failover test's proxy).
system-packages:
	@{ command -v chromium && command -v turnserver && command -v nginx; } >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium coturn nginx-light; }

test: $(VENV)/.test system-packages
	$(VENV)/bin/python -m pytest
