# The two commands of README.md: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint install install-test browser dovecot nmap

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml agent/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q -e ./agent
	touch $(STAMP) $(TEST_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

# Migrates, loads the demo data into an empty database, then serves until Ctrl-C
# (ATALAYA_PORT / ATALAYA_HOST choose where).
run: install
	mkdir -p "$${ATALAYA_DATA_DIR:-var}"
	$(BIN)/atalaya migrate --no-input -v0
	$(BIN)/atalaya demo --if-empty
	ATALAYA_DEMO_FLEET=$${ATALAYA_DEMO_FLEET:-1} $(BIN)/atalaya serve

# Debian's chromium drives the browser tests; Playwright never downloads a browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# Debian's Dovecot is the real IMAP server of the mail fetch tests (they start their own).
dovecot:
	@test -x /usr/sbin/dovecot || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; fi; }

# Debian's nmap, the yardstick of benchmarks/scan.py (the tests never need it).
nmap:
	@command -v nmap >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nmap >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nmap >/dev/null; fi; }

# Lint and types first (seconds), then the whole suite on two workers.
test: install-test browser dovecot
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy atalaya
	$(BIN)/mypy agent/atalaya_agent
	$(BIN)/pytest -q -n 2 --dist loadfile
