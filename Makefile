# Two commands for a new user: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-fast lint check lock clean bench-transfer bench-matching bench-delta bench-national bench-staging bench-e2e bench-discovery bench-disclosures compose-keys compose-images compose-up compose-down compose-test bench-stack

$(STAMP): requirements.txt requirements-dev.txt requirements-spark.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## The main job, end to end, on the embedded default (two local SFTP servers, SQLite).
demo: install
	$(BIN)/crosswalk demo

## The whole suite: lint, config check, unit, DAG-integrity and end-to-end tests, in parallel workers
## (a test module stays on one worker, so its shared fixtures are made once); the 20 slowest are listed.
TEST_WORKERS ?= 3
test: install lint check
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --durations=20

## The unit layer alone: no server, no Airflow run, no gigabyte stress test (`server` and `stress` left out).
test-fast: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope -m "not server and not stress" --durations=10

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: install
	$(BIN)/crosswalk check --offline

## Transfer benchmark: 1 GiB both ways, ours vs age + OpenSSH sftp (needs root and the age CLI).
bench-transfer: install
	$(BIN)/python bench/transfer.py --mib 1024 --runs 5

## Matching benchmark: ours vs plain Splink on FEBRL4 and the hard synthetic population (200k).
bench-matching: install
	$(BIN)/pip install --quiet --no-deps -r bench/requirements.txt
	$(BIN)/python bench/matching.py --sizes 200000

## A day's delta (10k) against a 1M index with a saved model, and without one.
bench-delta: install
	$(BIN)/python bench/delta.py --index 1000000 --delta 10000

## National scale (issue 23): a 5.5M index deduplicated and a 500k extract linked to it, on DuckDB and Spark local.
bench-national: install
	$(BIN)/python bench/national.py

## Disclosure log (issue 25): "where has this person's data gone?" among 10M disclosed records, beside age -d | grep.
bench-disclosures: install
	$(BIN)/python bench/disclosures.py --records 10000000

## Staging benchmark: 1M and 5M client rows into PostgreSQL, ours vs psql \copy (needs the local PostgreSQL).
bench-staging: install
	$(BIN)/python bench/staging.py --rows 1000000 5000000

## Discovery benchmark: a 20,000-file outbox (5,000 new drops, the rest in the ledger), ours vs OpenSSH sftp ls -l.
bench-discovery: install
	$(BIN)/python bench/discovery.py --runs 5

## End-to-end benchmark: 10k, 100k and 1M clients through every DAG (PostgreSQL, real sshd), beside the
## floor of standard tools (sftp, age, psql, plain Splink) in the same run (needs root and the local PostgreSQL).
bench-e2e: install
	$(BIN)/python bench/e2e.py --sizes 10000 100000 1000000

## Keys and a pinned config copy for `docker compose up` (see docker-compose.yaml; writes .compose/ and .env).
compose-keys: install
	$(BIN)/python docker/compose_keys.py

## The compose stack's images. With a registry: on the official Airflow image. Where no registry is reachable
## (CI here), CROSSWALK_OFFLINE=1 builds every base image from Debian's packages first (debootstrap).
compose-images:
	bash docker/images.sh

## Start or stop the stack (after compose-keys and compose-images); the offline base images come from .compose/images.env.
COMPOSE := $(shell command -v docker-compose || echo docker compose)
compose-up:
	set -a; [ -f .compose/images.env ] && . .compose/images.env; set +a; $(COMPOSE) up -d --no-build
compose-down:
	$(COMPOSE) down

## Throughput of the stack, one Celery worker against two (needs compose-images and a Docker engine).
bench-stack: install
	set -a; [ -f .compose/images.env ] && . .compose/images.env; set +a; $(BIN)/python bench/stack.py

## The stack for real: engine, images, keys, up, an exchange across two Celery workers with one killed, checked; down -v.
compose-test: install
	CROSSWALK_OFFLINE=$${CROSSWALK_OFFLINE:-1} bash docker/images.sh
	CROSSWALK_SKIP_IMAGES=1 $(BIN)/python docker/compose_test.py

## Regenerate the lock files from the current venv (after a deliberate upgrade).
## Regenerate the pins after a deliberate upgrade: the runtime lock, the dev tools, the Spark backend.
DEV_TOOLS := pytest|pytest-xdist|execnet|iniconfig|sortedcontainers|hypothesis|ruff|selenium|trio|trio-websocket|wsproto|PySocks|websocket-client|aiosmtpd|atpublic
SPARK := pyspark|py4j
lock:
	{ echo "# The project's lock: the full resolved runtime set, pinned exactly (Python 3.11)."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -Ev '^($(DEV_TOOLS)|$(SPARK))=='; } > requirements.txt
	{ echo "# Test and lint tools, pinned exactly, on top of the runtime lock."; echo "-r requirements.txt"; \
	  echo "-r requirements-spark.txt"; $(BIN)/pip freeze --exclude-editable | grep -E '^($(DEV_TOOLS))=='; } \
	  > requirements-dev.txt
	{ grep '^#' requirements-spark.txt; $(BIN)/pip freeze --exclude-editable | grep -E '^($(SPARK))=='; } \
	  > requirements-spark.txt.new && mv requirements-spark.txt.new requirements-spark.txt

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
