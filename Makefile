# imagelist: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean system-deps glance atrope oidc

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the tests drive as real peers (openssl, PostgreSQL, OpenSSH, qemu-img).
system-deps:
	@./.ci/system-deps

# A real OpenStack Glance in its own virtualenv (.venv-glance) for the backend tests.
glance:
	@./.ci/glance-setup

# EGI's atrope in its own virtualenv (.venv-atrope): a second real consumer of the market's lists.
atrope:
	@./.ci/atrope-setup

# A real OpenID provider (npm oidc-provider, pinned) in .oidc-provider for the OIDC login test.
oidc:
	@./.ci/oidc-setup

demo: $(STAMP)
	$(BIN)/python -m imagelist.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/

unit: $(STAMP)
	$(BIN)/pytest --cov=imagelist --cov-branch --cov-report=term --cov-fail-under=90

test: system-deps $(STAMP) glance atrope oidc lint typecheck unit

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .venv-glance .venv-atrope .oidc-provider .pytest_cache .mypy_cache .ruff_cache .coverage
