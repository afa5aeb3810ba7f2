# hanoi: feature flags evaluated inside Redis.
SHELL := /bin/bash
CARGO ?= cargo
MODULE := target/release/libhanoi.so
PORT ?= 6379

.PHONY: all build test lint bench run clean

all: build

build:
	$(CARGO) build --release -p hanoi --lib

# The whole suite: core unit tests and end-to-end tests against a real
# redis-server started by the harness with the freshly built module.
test: build
	$(CARGO) test --workspace --release

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

BENCH_VENV := target/bench-venv

# Benchmarks, not tests: the in-process evaluator (criterion), then the
# server-side ratios (redis-benchmark, redis-py, hanoi 0.0.4 from PyPI).
bench: build
	$(CARGO) bench -p hanoi-core --bench evaluate
	@command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing (Debian: apt-get install redis-tools)"; exit 1; }
	@test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/pip install -q redis hanoi==0.0.4
	$(BENCH_VENV)/bin/python benches/ratios.py

run: build
	@if ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else \
	    echo "redis-server is missing: install Redis 7 (Debian: apt-get install redis-server)"; exit 1; \
	  fi; \
	fi
	@echo "hanoi: redis-server on port $(PORT) with $(MODULE) (Ctrl-C to stop)"
	redis-server redis.conf.example --port $(PORT) --loadmodule $(abspath $(MODULE))

clean:
	$(CARGO) clean
