# The two commands of the quickstart: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck lock bench clean prism

install: $(STAMP)

# Installs exactly what requirements.lock pins (uv is fast; pip would do the same more slowly).
$(STAMP): requirements.lock pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $(STAMP)

demo: install
	$(BIN)/referral-automation demo

# SendGrid contract test (tests/contract): Stoplight Prism serves ../shared/sendgrid's description of
# Mail Send. Installed only where that directory exists (CI); elsewhere the test is skipped with the reason.
PRISM := .tools/prism/node_modules/.bin/prism
PRISM_IF_SPEC := $(if $(wildcard ../shared/sendgrid/tsg_mail_v3.patched.json),$(PRISM))

prism: $(PRISM)

$(PRISM):
	npm install --prefix .tools/prism @stoplight/prism-cli@5.14.2

test: install $(PRISM_IF_SPEC)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

bench: install
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/send.py --requests 100000 --workers 2

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache referral.db* outbox demo-workspace
