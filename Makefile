# Two commands: `make run` (set up and start the app) and `make test` (set up and run all tests).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# The interpreter the venv is made from: python3.11 when it runs (the pins are for 3.11), else
# python3; `make test BASE_PYTHON=/path/to/python3.11` picks another.
BASE_PYTHON ?= $(shell python3.11 -c "" >/dev/null 2>&1 && echo python3.11 || echo python3)
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run test browser benchmark clean

# The project itself goes in editable (no dependencies: the pins above are the ones to use),
# so the venv has the `clear-vision` command too; setuptools' notice about editable installs is silenced.
$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PYTHON) || $(BASE_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	PYTHONWARNINGS=ignore $(PYTHON) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PYTHON) app.py --host $(HOST) --port $(PORT)

# Debian's Chromium for the real-browser tests (Playwright must not download its own browser).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: /usr/bin/chromium missing and not root: browser tests will be skipped (sudo apt-get install chromium)"; fi

test: $(VENV)/.dev browser
	$(PYTHON) -m pytest -q -rs

benchmark: $(VENV)/.runtime
	$(PYTHON) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache
