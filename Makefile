# The two commands of the README are `make run` and `make test`; both go through `make setup`.
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app cmp_server
PORT   ?= 5000
STAMPS := $(VENV)/.stamps
BANNER := static/banner
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the project needs: Chromium for the browser tests, PostgreSQL's server
# for the database tests, Node.js and npm to build the banner, wrk to drive load (the
# benchmarks, and the stress suite whose short profile is part of make test), strace to
# check from the server's system calls that each answer follows its record's flush.
# Installed only when missing, so setup stays quick.
DEBIAN_PACKAGES := chromium postgresql nodejs npm wrk strace

.PHONY: setup system-packages run serve test bench stress clean banner-missing

setup: system-packages $(STAMPS)/python $(STAMPS)/banner

system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(STAMPS)/python: setup.cfg pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,postgres]'
	@mkdir -p $(STAMPS) && touch $@

# The banner tag: npm packages from the lock file, then the bundle (dist/ is not in git).
# Rebuilt when its sources change, or when dist/ has gone.
$(STAMPS)/banner: $(BANNER)/package.json $(BANNER)/package-lock.json $(BANNER)/build.mjs \
		$(wildcard $(BANNER)/src/*) $(wildcard $(BANNER)/src/modules/*) $(if $(wildcard $(BANNER)/dist/manifest.json),,banner-missing)
	cd $(BANNER) && npm ci --no-audit --no-fund && npm run build
	@mkdir -p $(STAMPS) && touch $@

banner-missing:

run: setup serve

# The embedded default: SQLite in the instance folder, the catalogue, the demo site.
serve:
	$(FLASK) cmp init
	$(FLASK) cmp import-vendors
	$(FLASK) cmp demo --port $(PORT)
	@echo "an IAB TCF publisher too: $(FLASK) cmp demo --tcf --port $(PORT), then /demo/tcf/"
	@echo "serving on http://127.0.0.1:$(PORT)/  (Ctrl-C stops)"
	$(VENV)/bin/gunicorn --bind 127.0.0.1:$(PORT) wsgi:app

test: setup
	$(PY) -m pytest

# Benchmarks against a baseline measured in the same run; wrk drives the load.
bench: setup
	$(PY) -m bench.api
	$(PY) -m bench.banner
	$(PY) -m bench.export
	$(PY) -m bench.flush
	$(PY) -m bench.threads
	$(PY) -m bench.gc_pauses

# The stress suite at full rates and durations (make test runs its short profile).
stress: setup
	CMP_STRESS_PROFILE=full $(PY) -m pytest stress -p no:cacheprovider

clean:
	rm -rf $(VENV) build *.egg-info
