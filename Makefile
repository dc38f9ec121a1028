# The two commands of the README: `make run` and `make test`. Both bootstrap first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: bootstrap run test unit check gates hooks chaos bench cluster-test admin lint lock clean

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	@$(PY) scripts/stack.py run

# The lowest share of the services', shop's and the gateway's lines the tests must run
# (measured in-process, so lines only the system tests' `nameko run` children run are not
# counted). Measured: 94 % (464 tests, 2026-11-22); the margin is for timing-dependent
# paths (retries, reconnects) that a run may or may not take.
COVERAGE_FLOOR ?= 90

# The static gates first (seconds), then every test against real servers, with coverage.
test:
	@scripts/bootstrap.sh test
	@$(MAKE) --no-print-directory gates
	@$(PY) scripts/stack.py test -- --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR) --durations=25 \
	  $(PYTEST_ARGS)

# The unit tests alone: no servers, seconds.
unit:
	@scripts/bootstrap.sh test
	@$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

# What CI runs: the same as make test.
check: test

# Style (ruff), the import layering of pyproject.toml's [tool.importlinter] and the types
# ([tool.mypy]).
gates:
	@echo "==> ruff check ."
	@$(VENV)/bin/ruff check .
	@echo "==> lint-imports"
	@$(VENV)/bin/lint-imports --no-cache
	@echo "==> mypy"
	@$(VENV)/bin/mypy

# The fault, fuzz, concurrency and security suites at full length (minutes, not seconds).
CHAOS_SUITES := tests/system/test_faults.py tests/system/test_fuzz.py \
	tests/integration/test_concurrency.py tests/integration/test_security.py \
	tests/integration/test_redis_down.py tests/system/test_edge_attacks.py tests/integration/test_edge.py
chaos:
	@scripts/bootstrap.sh test
	@FAULT_LOAD_SECONDS=$${FAULT_LOAD_SECONDS:-20} FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-200} \
	  EDGE_ATTACK_CONNECTIONS=$${EDGE_ATTACK_CONNECTIONS:-2000} \
	  FUZZ_MAX_SECONDS=$${FUZZ_MAX_SECONDS:-300} FUZZ_SEED=$${FUZZ_SEED:-random} \
	  $(PY) scripts/stack.py test -- -s --timeout=1800 $(CHAOS_SUITES) $(PYTEST_ARGS)

# The shop on a cluster of network namespaces (root only), killing a node at a time:
# README, "Running on a cluster". Minutes; not part of make test.
cluster-test:
	@scripts/bootstrap.sh test
	@CLUSTER_TEST=1 $(PY) -m pytest tests/cluster -s --timeout=1800 $(PYTEST_ARGS)
	@! ip netns list 2>/dev/null | grep -q '^shopns-' || { echo "namespaces left behind"; exit 1; }

# The first admin without the shell: make admin EMAIL=you@example.com (with make run up).
admin:
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.com"; exit 2; }
	@$(PY) -m users.admin "$(EMAIL)"

# The benchmark (not part of make test): see BENCHMARKS.md.
bench:
	@scripts/bootstrap.sh test
	@$(PY) -m bench.run

lint: bootstrap
	@$(MAKE) --no-print-directory gates

# Runs the fast gates (.pre-commit-config.yaml) before every commit of this clone.
hooks:
	@scripts/bootstrap.sh test
	@$(VENV)/bin/pre-commit install

# Re-resolve the pinned versions from pyproject.toml's dependencies (needs the registry):
# run-time pins in requirements.lock, test tools on top in requirements-dev.lock.
lock:
	rm -rf .lockenv && python3.11 -m venv .lockenv
	.lockenv/bin/pip install --quiet .
	{ echo "# Exact versions of what the services need at run time (the Docker image installs this)."; \
	  echo "# Regenerate with 'make lock'."; \
	  .lockenv/bin/pip freeze --all --exclude-editable | grep -v -E '^(pip|nameko-shop)=='; } > requirements.lock
	.lockenv/bin/pip install --quiet ".[dev]"
	{ echo "# Exact versions for development and tests: the run-time pins plus the test tools."; \
	  echo "# scripts/bootstrap.sh installs this. Regenerate with 'make lock'."; \
	  echo "-r requirements.lock"; \
	  .lockenv/bin/pip freeze --all --exclude-editable | grep -v -E '^(pip|nameko-shop)==' \
	    | grep -v -x -F -f requirements.lock; } > requirements-dev.lock
	rm -rf .lockenv && python3.11 -m venv .lockenv && .lockenv/bin/pip install --quiet checkov
	{ echo "# Tools the tests run as commands, in a virtualenv of their own (.venv-tools) because"; \
	  echo "# their pins clash with the project's: checkov, which checks deploy/k8s. scripts/bootstrap.sh"; \
	  echo "# installs this for make test. Regenerate with 'make lock'."; \
	  .lockenv/bin/pip freeze --all | grep -v -E '^(pip|setuptools|wheel)=='; } > requirements-tools.lock
	rm -rf .lockenv

clean:
	rm -rf .run .venv-tools
