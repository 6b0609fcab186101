# stacktender: `make demo` and `make test` on a fresh machine.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test venv deps services lint format unit integration bench clean

# setup.py builds the optional C part of `logs merge`: a change to it reinstalls
$(VENV)/.installed: pyproject.toml setup.py $(wildcard stacktender/logs/_cmerge*.[ch]) examples/stacktender-example-check/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	# --compile-bytecode: as pip does by default; uv does not, and PYTHONDONTWRITEBYTECODE
	# environments would otherwise compile every module from source on every start.
	$(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode -e '.[dev,upgrade,web]' -e examples/stacktender-example-check
	$(PY) -m compileall -q stacktender examples >/dev/null
	touch $@

venv: $(VENV)/.installed

deps:
	bash scripts/install-deps.sh

services: deps
	bash scripts/ensure-services.sh

lint: venv
	$(VENV)/bin/ruff check stacktender tests bench examples
	$(VENV)/bin/ruff format --check stacktender tests bench examples
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix stacktender tests bench examples
	$(VENV)/bin/ruff format stacktender tests bench examples

test: venv services lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/pytest -m "not integration and not testcloud" $(PYTEST_ARGS)

bench: venv services
	$(VENV)/bin/uv pip install -q --python $(PY) -e '.[bench]'
	$(PY) bench/run.py

demo: venv services
	bash scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
