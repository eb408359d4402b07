# One entry point for people, pre-commit and CI. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv

.PHONY: help demo test bench lint typecheck fmt infra-up infra-down infra-status clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo:  ## set up everything and run the live demo (Kafka + Redis + worker + generator)
	ops/demo.sh

test:  ## set up everything, start test Kafka + Redis, run lint, mypy and all tests
	ops/test.sh

bench:  ## install the `bench` extra, run every benchmark into ops/bench/results (BENCH_STEPS, BENCH_ARGS for e2e)
	ops/bench.sh $(BENCH_ARGS)

lint:  ## ruff
	$(VENV)/bin/ruff check .

typecheck:  ## mypy (strict) over the whole tree, tests/ and ops/ too (the list is in pyproject.toml)
	$(VENV)/bin/mypy

fmt:  ## ruff format + import sort
	$(VENV)/bin/ruff check --fix --select I .
	$(VENV)/bin/ruff format .

infra-up:  ## start local Kafka + Redis
	$(VENV)/bin/sentistream infra up

infra-down:  ## stop local Kafka + Redis
	$(VENV)/bin/sentistream infra down

infra-status:  ## health of local Kafka + Redis
	$(VENV)/bin/sentistream infra status

clean:  ## remove caches and the virtualenv (not the Kafka jar cache)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .state *.egg-info
