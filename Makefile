# The two commands of the README: `make run` and `make test`. Both bootstrap first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: bootstrap run test lint lock clean

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	@$(PY) scripts/stack.py run

test: bootstrap
	@$(PY) scripts/stack.py test -- $(PYTEST_ARGS)

lint: bootstrap
	@$(VENV)/bin/ruff check .

# Re-resolve the pinned versions from pyproject.toml's dependencies (needs the registry).
lock:
	rm -rf .lockenv && python3.11 -m venv .lockenv
	.lockenv/bin/pip install --quiet ".[dev]"
	{ echo "# Exact versions installed by 'make' (scripts/bootstrap.sh). Regenerate with 'make lock'."; \
	  .lockenv/bin/pip freeze --all --exclude-editable | grep -v -E '^(pip|nameko-shop)=='; } > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf .run
