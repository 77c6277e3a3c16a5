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

.PHONY: run test install install-test assets catalogs messages lint check-chromium

run: install
	$(QUANYI) db upgrade
	$(QUANYI) demo seed
	$(QUANYI) up

test: install-test check-chromium
	$(PY) -m pytest

install: $(VENV)/.stamp-pip assets catalogs
install-test: install $(VENV)/.stamp-pip-test

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-pip: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-pip-test: $(VENV)/.stamp-pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# Front-end packages (htmx, Bulma) from package.json, copied into static/vendor (not committed).
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

lint: install-test
	$(BIN)/ruff check .

check-chromium:
	@test -x $(CHROMIUM) || { \
		echo "Chromium is needed for the browser tests and was not found at $(CHROMIUM)."; \
		echo "Install it (Debian/Ubuntu, as root):  apt-get install -y chromium fonts-noto-cjk poppler-utils"; \
		exit 1; } >&2
	@command -v pdftotext >/dev/null || { \
		echo "pdftotext is needed to read the statements' PDFs in the tests."; \
		echo "Install it (Debian/Ubuntu, as root):  apt-get install -y poppler-utils"; \
		exit 1; } >&2
