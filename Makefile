# Two commands: `make demo` runs Visitt with demo data; `make test` runs every test.
# Each installs what it needs (a virtual environment in .venv; for the tests, Debian's Chromium, coturn and
# nginx, and PostgreSQL and Redis where none answers on this machine).

VENV ?= .venv
# pytest-xdist workers: two processes, one per core, each taking whole test modules as it is free, the long ones
# (browser, install, packaging) first (tests/conftest.py); TEST_WORKERS=0 runs one process. One process took
# 1,138 s for 1,016 tests on a quiet 2-core machine (2026-12-05); two took 625 s for 1,024 there (fresh clone, 11 min 9 s in all).
TEST_WORKERS ?= 2
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

# Debian's Node.js and npm (the OpenID provider of tests/test_sso.py), Chromium (browser tests), Firefox ESR and PulseAudio (tests/test_firefox_browser.py: Firefox's Web
# Audio needs a sound server; the test starts a private one with a null sink), coturn (TURN relay tests), nginx
# (the failover test's proxy), Janus (tests/test_janus.py: the media server for group calls), its recordings' converter
# janus-pp-rec (tests/test_e2ee_browser.py: what Janus recorded of an encrypted call) and the Noto Naskh Arabic and Nastaliq Urdu fonts (the Arabic and Urdu
# screenshots in test-artefacts/), each only where its command is missing (a Node.js from elsewhere that bundles
# npm stays: Debian's npm conflicts with it); and PostgreSQL and the Redis server where nothing answers on 127.0.0.1:5432 / :6379 and they are not installed:
# the tests then start private ones on free ports (tests/services.py). VISITT_TEST_POSTGRES="" leaves both out.
answers = $(PYTHON) -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)' $(1) 2>/dev/null
system-packages:
	@missing=""; \
	for pair in chromium:chromium firefox-esr:firefox-esr pulseaudio:pulseaudio turnserver:coturn nginx:nginx-light \
	            node:nodejs npm:npm janus:janus janus-pp-rec:janus-tools nft:nftables ip:iproute2 openssl:openssl; do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	fc-list 2>/dev/null | grep -q "Noto Nastaliq Urdu" || missing="$$missing fonts-noto-core"; \
	[ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }
	@if [ -z "$${VISITT_TEST_POSTGRES+set}" ] || [ -n "$$VISITT_TEST_POSTGRES" ]; then \
	  missing=""; \
	  $(call answers,5432) || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="postgresql"; \
	  $(call answers,6379) || command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	  [ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }; \
	fi

# The OpenID provider tests/test_sso.py signs in with: the certified oidc-provider from the npm registry, at the
# version tests/oidc/package-lock.json names, run with Debian's Node.js (never committed: .gitignore)
OIDC_PROVIDER = tests/oidc/node_modules/.installed
$(OIDC_PROVIDER): tests/oidc/package.json tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
	touch $@

# pyflakes and mypy --strict first: a name typo or a type error fails in seconds, not after the browser tests.
test: $(VENV)/.test system-packages $(OIDC_PROVIDER)
	$(VENV)/bin/python -m pyflakes visitt tests
	$(VENV)/bin/mypy --strict visitt
	$(VENV)/bin/python -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)
