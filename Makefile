# Cầu Nối — `make run` starts the bot, `make test` runs the suite. Both set up .venv themselves.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev
# Test processes (pytest-xdist): most tests wait on sockets and child processes, so two share two cores well.
TEST_WORKERS  ?= 2

.PHONY: run test test-postgres lint bench i18n screenshots clean help

help:
	@echo "make run    - install, migrate, import content and start the bot (http://127.0.0.1:8080/chat)"
	@echo "make test   - install the dev tools, run the lint step, then the whole test suite"
	@echo "make test-postgres - the suite again with every test database on PostgreSQL (TEST_POSTGRES_URL)"
	@echo "make lint   - ruff (lint and format check), mypy and bandit on the code, and pip-audit when its service answers"
	@echo "make bench  - run the benchmarks in bench/"
	@echo "make i18n   - extract UI strings and merge them into the Vietnamese catalog"
	@echo "make screenshots - run the browser tests and save docs/screenshots/*.png (needs chromium)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(RUNTIME_STAMP)

run: $(RUNTIME_STAMP)
	$(PY) -m bot db upgrade
	$(PY) -m bot content import
	$(PY) -m bot run

test: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS)

# The suite with every test's database on PostgreSQL (TEST_POSTGRES_URL: a server where the test role
# may create databases; .ci/run starts one). Tests about the SQLite file itself and the browser tests
# (covered by `make test`) are left out.
test-postgres: $(DEV_STAMP)
	TEST_DATABASE=postgresql REQUIRE_POSTGRES=1 $(PY) -m pytest -q -n $(TEST_WORKERS) -m "not sqlite_only" -k "not browser"

# pip-audit asks PyPI's JSON API about each installed version. When nothing could be audited (no
# network, or a mirror without that API) it says so and goes on; a vulnerability found fails.
# ruff, mypy and bandit read their settings from pyproject.toml.
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check bot handlers storage content
	$(VENV)/bin/ruff format --check bot handlers storage content
	$(VENV)/bin/mypy bot handlers storage content
	$(VENV)/bin/bandit -q -r bot handlers storage content -c pyproject.toml
	@rm -f $(VENV)/pip-audit.json; \
	$(VENV)/bin/pip-audit --progress-spinner off -l -f json -o $(VENV)/pip-audit.json 2>$(VENV)/pip-audit.log; \
	$(PY) -c 'import json, os, sys; \
	text = open(sys.argv[1]).read() if os.path.exists(sys.argv[1]) else ""; \
	report = json.loads(text) if text.strip() else {"dependencies": []}; \
	deps = report.get("dependencies", []); \
	found = [(d["name"], d["version"], v["id"]) for d in deps for v in d.get("vulns", [])]; \
	audited = [d for d in deps if "skip_reason" not in d]; \
	[print("pip-audit: %s %s: %s" % f) for f in found]; \
	print("pip-audit: vulnerability service not reachable, skipped (%d packages could not be audited)" % len(deps)) if not audited and not found else print("pip-audit: %d packages audited, %d vulnerabilities" % (len(audited), len(found))); \
	sys.exit(1 if found else 0)' $(VENV)/pip-audit.json

bench: $(DEV_STAMP)
	$(PY) bench/throughput.py
	$(PY) bench/faq_search.py
	$(PY) bench/broadcast.py
	$(PY) bench/telegram_http.py

screenshots: $(DEV_STAMP)
	SCREENSHOTS=1 REQUIRE_BROWSER=1 $(PY) -m pytest -q tests -k browser

i18n: $(DEV_STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --omit-header -o $(VENV)/messages.pot .
	$(VENV)/bin/pybabel update -i $(VENV)/messages.pot -d content/locale -D messages -l vi --ignore-obsolete --no-fuzzy-matching -w 100

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
