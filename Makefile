# The two commands in the README: `make serve` (install, train if needed, run) and `make test`.
VENV := .venv
PYTHON := $(VENV)/bin/python
STANCEFRAME := $(VENV)/bin/stanceframe
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
PORT ?= 3000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Nothing may download a model or dataset at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TRANSFORMERS_VERBOSITY := error
# BentoML usage tracking off: nothing leaves the machine.
export BENTOML_DO_NOT_TRACK := true

.PHONY: install install-dev model serve test test-fast train evaluate score bento bench soak

# The runtime (make serve): the package and its pinned dependencies, nothing else.
$(RUNTIME): pyproject.toml service/requirements.txt training/requirements.txt
	test -x $(PYTHON) || python3.11 -m venv $(VENV)
	# torch first, pinned: its CPU wheel is on local disk, anything else pulls CUDA wheels.
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e .
	touch $@

# Tests and benchmarks (make test, make bench): the dev extras, Debian's Chromium for the
# browser test and wrk for the load tests; installing those needs root.
$(DEV): $(RUNTIME)
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	command -v chromium >/dev/null && command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium wrk; }
	touch $@

install: $(RUNTIME)

install-dev: $(DEV)

model: install
	$(STANCEFRAME) train --if-missing

train: install
	$(STANCEFRAME) train

evaluate: install
	$(STANCEFRAME) evaluate

serve: model
	$(VENV)/bin/bentoml serve service.service:StanceFrame --host 127.0.0.1 --port $(PORT)

score: model
	$(STANCEFRAME) score training/data/seeds --output build/seeds-scored.jsonl

bench: model install-dev
	$(PYTHON) -m service.bench

# Faults and sustained load: a killed worker, a 10-minute soak, every schemathesis check.
soak: model install-dev
	$(PYTHON) -m service.faults

bento: model
	$(VENV)/bin/bentoml build

test: install-dev
	$(PYTHON) -m pytest

# The tiers without a server, a browser or a Bento build: pure logic, the tiny model, the
# service in-process.
test-fast: install-dev
	$(PYTHON) -m pytest -m "not slow"
