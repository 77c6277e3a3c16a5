# Quanyi: `make run` installs, migrates, seeds the demo and starts everything; `make test` runs the suite.
# Every install step leaves a stamp, so running either command again only redoes what changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
QUANYI := $(BIN)/quanyi
CHROMIUM ?= /usr/bin/chromium
PO := $(wildcard app/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)
PYBABEL_KEYWORDS := -k _l -k lazy_gettext -k lazy_ngettext:1,2

.PHONY: run test test-fast install install-test assets catalogs messages lint system-packages lock

run: install
	$(QUANYI) db upgrade
	$(QUANYI) demo seed
	$(QUANYI) up

# Everything: the fast tier, the slow tier (soak, chaos, processes) and the browser tests.
test: install-test system-packages
	$(PY) -m pytest --durations=30 $(PYTEST_ARGS)

# The fast tier alone: no `slow` and no `e2e` tests, no system packages needed.
test-fast: install-test
	$(PY) -m pytest -m "not slow and not e2e" $(PYTEST_ARGS)

install: $(VENV)/.stamp-pip assets catalogs
install-test: install $(VENV)/.stamp-pip-test

$(PY):
	$(PYTHON) -m venv $(VENV)

# Dependencies come from the lock files, every file checked against its hash; the project itself is
# installed on top without dependencies. `make lock` rewrites the locks from pyproject.toml.
$(VENV)/.stamp-pip: requirements.lock pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.stamp-pip-test: requirements-test.lock $(VENV)/.stamp-pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-test.lock
	touch $@

# Re-resolve every dependency (newest versions pyproject.toml allows) and pin it with its hashes.
lock:
	test -x .venv-tools/bin/pip-compile || { $(PYTHON) -m venv .venv-tools && .venv-tools/bin/pip install --quiet pip-tools; }
	.venv-tools/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links -o requirements.lock pyproject.toml
	.venv-tools/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --extra test -o requirements-test.lock pyproject.toml

# Front-end packages (htmx, Bulma, ECharts) from package.json, copied into static/vendor (not committed).
assets: static/vendor/.stamp-build

node_modules/.stamp-npm: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

static/vendor/.stamp-build: node_modules/.stamp-npm scripts/build_assets.mjs
	npm run build
	touch $@

# Compiled translations (.mo, not committed).
catalogs: $(MO)

%.mo: %.po | $(VENV)/.stamp-pip
	$(BIN)/pybabel compile --statistics -i $< -o $@
	@test -f $@ || { echo "$< was not compiled (a catalog marked fuzzy?)" >&2; exit 1; }

# Extract the messages from the code and templates and merge them into every catalog.
messages: $(VENV)/.stamp-pip
	@mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg $(PYBABEL_KEYWORDS) --project=Quanyi --copyright-holder=Quanyi \
		-o build/messages.pot .
	$(BIN)/pybabel update -i build/messages.pot -d app/translations

# ruff, and the one-way stack of domains (import-linter contracts in .importlinter).
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Chromium, the CJK fonts, Pango and poppler: installed with apt-get when we are root on Debian, otherwise the
# exact command is printed. The one list lives in scripts/system-packages.sh (.ci/run uses it too).
system-packages:
	@scripts/system-packages.sh
