# nvisy — the two commands a person needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install build run test test-swift test-python bench check-all clean help

help:
	@echo "make run    install what is missing, build, and start nvisy serve (embedded Postgres + NATS)"
	@echo "make test   install what is missing, build, and run every Swift and Python test"
	@echo "make bench  run the benchmarks (release builds), printing ratios against their baselines"
	@echo "make check-all  the slow hostile-input suites: long parser fuzzing and >= 1,000 schemathesis requests"

## Installs apt packages, the nvisy system user and the Python venv; does nothing when all is there.
install:
	@bash scripts/install-deps.sh

build: install
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

run: build
	$(SWIFT) run $(SWIFT_BUILD_FLAGS) nvisy serve $(ARGS)

test: install
	@bash scripts/test.sh

bench: install
	@bash scripts/bench.sh

check-all: install
	@bash scripts/check-all.sh

clean:
	rm -rf .build .build-*
