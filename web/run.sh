#!/usr/bin/env bash
# The whole product in one step: redis-server with the module, and hanoi-web
# in front of it. On first start it writes a local, git-ignored config
# (hanoi-web.local.toml) with an admin account whose password it generates,
# an OFREP API key and a session key, and prints them on every start.
#   web/run.sh [redis port] [web port]      (make run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-6379}
WEB_PORT=${2:-8080}
CARGO=${CARGO:-cargo}
MODULE=$(pwd)/target/release/libhanoi.so
WEB=$(pwd)/target/release/hanoi-web
CONFIG=hanoi-web.local.toml

"$CARGO" build --release -p hanoi --lib
"$CARGO" build --release -p hanoi-web

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

redis-server redis.conf.example --port "$PORT" --loadmodule "$MODULE" --daemonize no >/dev/null &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
echo "hanoi: redis-server on port $PORT with $MODULE"
echo "hanoi: hanoi-web on http://127.0.0.1:$WEB_PORT  (log in as admin, password: ${password:-see $CONFIG})"
echo "hanoi: OFREP API key: $api_key   (Ctrl-C stops both)"
"$WEB" --redis "redis://127.0.0.1:$PORT" --listen "127.0.0.1:$WEB_PORT" --config "$CONFIG"
