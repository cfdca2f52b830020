# Every target works from a fresh clone with only Python 3.10+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Airflow-style constraints, one file per Python minor (scripts/update_constraints.py writes them).
PY_MINOR := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
CONSTRAINTS := constraints/constraints-$(PY_MINOR).txt
FLOOR_CONSTRAINTS := constraints/constraints-floor-$(PY_MINOR).txt
LATEST := .venv-latest
FLOOR := .venv-floor
# Drift checks the library surface on the newest releases; the slow whole-DAG runs are proven by
# make test on the pinned set (and the floor), so they do not run a second time here (CI time).
LATEST_MARKERS ?= not e2e and not slow

.PHONY: install lint typecheck pytest docs test demo bench clean constraints test-latest test-floor test-model

constraints/constraints-%.txt:
	@echo "$@ is missing: Python $(PY_MINOR) is not a tested Python (see constraints/, make constraints)" >&2
	@exit 1

$(BIN)/uv: | $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) uv

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e ".[test,dev,docs]"
	touch $(STAMP)

install: $(STAMP)

# Re-pin after a dependency change (keeps the other pins; --upgrade moves them all).
constraints: install
	$(BIN)/python scripts/update_constraints.py

# Drift: the newest releases pyproject.toml allows, no constraints, all but the e2e and slow tests.
test-latest: | $(BIN)/uv
	$(BIN)/uv venv --quiet --allow-existing --python $(PYTHON) $(LATEST)
	$(BIN)/uv pip install --quiet --python $(LATEST)/bin/python --upgrade --refresh -e ".[test]"
	$(LATEST)/bin/python scripts/update_constraints.py --drift $(CONSTRAINTS)
	$(LATEST)/bin/pytest -m "$(LATEST_MARKERS)"

# The lowest Airflow pyproject.toml allows, with its own constraints: the tests marked floor.
test-floor: | $(BIN)/uv $(FLOOR_CONSTRAINTS)
	$(BIN)/uv venv --quiet --allow-existing --python $(PYTHON) $(FLOOR)
	$(BIN)/uv pip install --quiet --python $(FLOOR)/bin/python -c $(FLOOR_CONSTRAINTS) -e ".[test]"
	$(FLOOR)/bin/python -c 'import airflow; print("Airflow", airflow.__version__)'
	$(FLOOR)/bin/pytest -m floor

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Two pytest processes at once: the end-to-end tests (tests/e2e: real Airflow stacks, mostly waiting on
# Gong's processing and Airflow's loops) beside all the others (mostly CPU), so those waits overlap the
# rest instead of adding to it (CI time, issue 18). The e2e output follows the rest's; either failing
# fails the target. PYTEST_ARGS goes to both (e.g. PYTEST_ARGS=--durations=30).
E2E_LOG := build/pytest-e2e.log
PYTEST_ARGS ?=
pytest: install
	@mkdir -p build
	@$(BIN)/pytest -m e2e $(PYTEST_ARGS) >$(E2E_LOG) 2>&1 & e2e=$$!; \
	$(BIN)/pytest -m "not e2e" -p no:cacheprovider $(PYTEST_ARGS); rest=$$?; \
	wait $$e2e; e2e_status=$$?; \
	echo "--- end-to-end tests (tests/e2e, run beside the others; $(E2E_LOG)) ---"; cat $(E2E_LOG); \
	test $$rest -eq 0 && test $$e2e_status -eq 0

# The documentation site (Sphinx) into build/docs; any warning, such as a broken link or a docstring
# that does not parse, fails it.
docs: install
	$(BIN)/sphinx-build -W --keep-going -E -q -b html docs build/docs

test: lint typecheck pytest docs

# The change-capture model test (hypothesis stateful: crashes, retries, overlaps, Gong's answers) with
# many more examples than CI runs; GONG_MODEL_EXAMPLES=2000 make test-model for a night. No per-test
# timeout here: the suite's 300 s would stop a long run and report it as a failure.
GONG_MODEL_EXAMPLES ?= 300
test-model: install
	GONG_MODEL_EXAMPLES=$(GONG_MODEL_EXAMPLES) $(BIN)/pytest --timeout 0 tests/changes/test_changes_model.py

demo: install
	$(BIN)/python scripts/demo.py

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(LATEST) $(FLOOR) .mypy_cache .ruff_cache .pytest_cache .demo .bench
