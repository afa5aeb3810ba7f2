#!/usr/bin/env bash
# The whole product in one step: redis-server with the module, and hanoi-web
# in front of it. On first start it writes a local, git-ignored config
# (hanoi-web.local.toml) with an admin account whose password it generates,
# an OFREP API key and a session key, and prints them on every start.
#   web/run.sh [redis port] [web port]      (make run calls it)
# Redis keeps its data (AOF and RDB, redis.conf.example) in HANOI_DATA_DIR,
# the repository's root when unset (both git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-6379}
WEB_PORT=${2:-8080}
CARGO=${CARGO:-cargo}
# Where cargo builds (CARGO_TARGET_DIR, a .cargo/config.toml), by its own account.
target_dir() {
  "$1" metadata --format-version 1 --no-deps 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null
}
TARGET=$(target_dir "$CARGO" || true)
[ -n "$TARGET" ] || TARGET=$(target_dir cargo || true)
[ -n "$TARGET" ] || TARGET=$(pwd)/target
MODULE=$TARGET/release/libhanoi.so
WEB=$TARGET/release/hanoi-web
CONFIG=${HANOI_WEB_CONFIG:-hanoi-web.local.toml}
DATA_DIR=${HANOI_DATA_DIR:-.}

"$CARGO" build --release -p hanoi --lib
"$CARGO" build --release -p hanoi-web

# A server already on the port would take our place silently (ours exits):
# say so and stop, rather than start hanoi-web against something else.
if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
  if redis-cli -p "$PORT" MODULE LIST 2>/dev/null | grep -qx hanoi; then
    echo "hanoi: port $PORT already has a redis-server with the hanoi module: stop it, or pick another port (web/run.sh <redis port> <web port>)" >&2
  else
    echo "hanoi: port $PORT is taken by a server without the hanoi module (redis-server without --loadmodule?): stop it, or pick another port (web/run.sh <redis port> <web port>)" >&2
  fi
  exit 1
fi

random() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "$1"; }
if [ ! -f "$CONFIG" ]; then
  password=$(random 20)
  hash=$(printf '%s\n' "$password" | "$WEB" hash-password)
  umask 077
  cat >"$CONFIG" <<TOML
# Written by web/run.sh on first start; git-ignored. Delete it to start afresh.
# first admin password: $password
session_secret = "$(random 40)"

[[user]]
name = "admin"
password_hash = "$hash"
role = "admin"

[[api_key]]
key = "$(random 32)"
prefix = ""
TOML
fi
password=$(sed -n 's/^# first admin password: //p' "$CONFIG")
api_key=$(sed -n '/\[\[api_key\]\]/,$ s/^key = "\(.*\)"/\1/p' "$CONFIG" | head -1)

log=$(mktemp)
redis-server redis.conf.example --port "$PORT" --dir "$DATA_DIR" --loadmodule "$MODULE" --daemonize no >"$log" 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  kill -0 "$redis_pid" 2>/dev/null || break
  redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
if ! kill -0 "$redis_pid" 2>/dev/null || ! redis-cli -p "$PORT" ping >/dev/null 2>&1; then
  echo "hanoi: redis-server did not start on port $PORT; its log:" >&2
  tail -20 "$log" >&2
  exit 1
fi
if ! redis-cli -p "$PORT" MODULE LIST 2>/dev/null | grep -qx hanoi; then
  echo "hanoi: the redis-server on port $PORT has no hanoi module loaded ($MODULE)" >&2
  exit 1
fi
echo "hanoi: redis-server on port $PORT with $MODULE"
echo "hanoi: hanoi-web on http://127.0.0.1:$WEB_PORT  (log in as admin, password: ${password:-see $CONFIG})"
echo "hanoi: OFREP API key: $api_key   (Ctrl-C stops both)"
"$WEB" --redis "redis://127.0.0.1:$PORT" --listen "127.0.0.1:$WEB_PORT" --config "$CONFIG"
