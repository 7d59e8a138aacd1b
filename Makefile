# Outpost: make install | demo | test | bench | chaos | proto | lint
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install bytecode demo test bench chaos proto lint clean

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

test: bytecode
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

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
	rm -rf $(VENV) .demo .chaos
