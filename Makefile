# funnelbridge — the two commands of the README: `make run` and `make test`.
# Each does all of its own set-up: creates .venv, installs, prepares the database.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SERVE  ?= 1
LEADS  ?= 4000
DAYS   ?= 180
SEED   ?= 7
DB     ?= sqlite:///funnelbridge-demo.db

.PHONY: run test lint typecheck pytest bench clean services

$(BIN)/funnelbridge: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,api,web,ml,spark]"
	touch $@

run: $(BIN)/funnelbridge
	$(BIN)/funnelbridge demo --leads $(LEADS) --days $(DAYS) --seed $(SEED) --db $(DB) --reset $(if $(filter 0,$(SERVE)),--no-serve,--serve)

services:
	@scripts/ensure-services

lint: $(BIN)/funnelbridge
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(BIN)/funnelbridge
	$(BIN)/mypy

pytest: $(BIN)/funnelbridge services
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(BIN)/funnelbridge
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) funnelbridge-demo.db* .pytest_cache .mypy_cache .ruff_cache
