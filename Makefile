# Cầu Nối — `make run` starts the bot, `make test` runs the suite. Both set up .venv themselves.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev

.PHONY: run test bench i18n screenshots clean help

help:
	@echo "make run    - install, migrate, import content and start the bot (http://127.0.0.1:8080/chat)"
	@echo "make test   - install the dev tools and run the whole test suite"
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

test: $(DEV_STAMP)
	$(PY) -m pytest -q

bench: $(DEV_STAMP)
	$(PY) bench/throughput.py
	$(PY) bench/faq_search.py
	$(PY) bench/broadcast.py

screenshots: $(DEV_STAMP)
	SCREENSHOTS=1 REQUIRE_BROWSER=1 $(PY) -m pytest -q tests -k browser

i18n: $(DEV_STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --omit-header -o $(VENV)/messages.pot .
	$(VENV)/bin/pybabel update -i $(VENV)/messages.pot -d content/locale -D messages -l vi --ignore-obsolete --no-fuzzy-matching -w 100

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
