# Outpost: make install | demo | test | fuzz | bench | chaos | proto | lint
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install bytecode demo test fuzz bench chaos proto lint clean

install: $(STAMP)

# The project's own modules compiled ahead: an editable install leaves them as source, and where
# PYTHONDONTWRITEBYTECODE is set (this machine's environment) every process (the CLI, the
# controller, each agent the tests start) compiled them again at start-up, 0.3 s each here.
bytecode: install
	@$(PY) -m compileall -q controller agent plugins proto bench > /dev/null

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

proto: install
	$(PY) -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto --grpc_python_out=proto proto/outpost/v1/outpost.proto

demo: bytecode
	$(PY) -m controller.dev.demo

# Three workers (pytest-xdist), a test file each at a time: most of the suite is end-to-end tests that
# wait on real processes (agents, controllers, PostgreSQL), so on this 2-core machine a third worker
# fills the time the other two spend waiting (two took 17 min once the suite passed 3,700 tests).
# TEST_WORKERS=0 runs them in this process, one after the other.
TEST_WORKERS ?= 3

test: bytecode
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The fuzz properties of tests/fuzz at their full counts (tests/fuzz/budget.py: 1.05 million cases),
# shared out among FUZZ_JOBS processes, with a random seed unless FUZZ_SEED is given: a failure is
# found again with the same seed. Each process's log and counts land in .fuzz/. make test runs the
# same properties, a few cases each.
FUZZ_JOBS ?= 2
ifndef FUZZ_SEED
FUZZ_SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif

fuzz: bytecode
	@echo "fuzz seed $(FUZZ_SEED), $(FUZZ_JOBS) processes (again: make fuzz FUZZ_SEED=$(FUZZ_SEED))"
	@mkdir -p .fuzz && rm -f .fuzz/*.json .fuzz/*.log
	@pids=""; for i in $$(seq 0 $$(($(FUZZ_JOBS) - 1))); do \
	  OUTPOST_FUZZ_PROFILE=fuzz OUTPOST_FUZZ_SHARD=$$i/$(FUZZ_JOBS) OUTPOST_FUZZ_REPORT=.fuzz/$$i.json \
	    $(PY) -m pytest -q -p no:cacheprovider -o timeout=0 --hypothesis-seed=$(FUZZ_SEED) tests/fuzz \
	    > .fuzz/$$i.log 2>&1 & pids="$$pids $$!"; \
	done; status=0; for p in $$pids; do wait $$p || status=1; done; \
	cat .fuzz/*.log; $(PY) -m tests.fuzz.report .fuzz; \
	echo "fuzz seed $(FUZZ_SEED)"; exit $$status

bench: bytecode
	$(PY) -m bench

# Randomized fault injection on real processes (controller/dev/chaos): CHAOS_RUNS runs (at least 100
# for the figures in docs/reliability.md), CHAOS_SEED to replay a campaign; writes the table there.
CHAOS_RUNS ?= 100
CHAOS_SEED ?=
chaos: bytecode
	$(PY) -m controller.dev.chaos --runs $(CHAOS_RUNS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) \
		--doc docs/reliability.md $(CHAOS_ARGS)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .demo .fuzz .chaos
