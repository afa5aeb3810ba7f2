"""The benchmarks' server: a redis-server (or $HANOI_SERVER) with a hanoi
module on a free loopback port, in a temporary directory, killed by stop()."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.environ.get("HANOI_MODULE") or os.path.join(ROOT, "target", "release", "libhanoi.so")


def floor_module():
    """benches/floor_module.c built into target/bench/floor.so (the module API's
    floor: a command that only opens its key and replies), against the
    redismodule.h of the redis-module crate hanoi builds with."""
    out = os.path.join(ROOT, "target", "bench", "floor.so")
    src = os.path.join(ROOT, "benches", "floor_module.c")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--manifest-path",
         os.path.join(ROOT, "Cargo.toml")], capture_output=True, text=True, check=True).stdout)
    crate = next(os.path.dirname(p["manifest_path"]) for p in meta["packages"] if p["name"] == "redis-module")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-fPIC", "-shared", "-I",
                    os.path.join(crate, "src", "include"), "-o", out, src], check=True)
    return out


def free_port():
    """A free port below 55535 (a cluster's bus port is port + 10000)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55535:
            return port
    raise RuntimeError("no free port below 55535")


class Server:
    def __init__(self, module=MODULE, socket_timeout=None, extra_modules=()):
        self.dir = tempfile.mkdtemp(prefix="hanoi-bench-")
        self.port = free_port()
        self.socket_timeout = socket_timeout
        binary = os.environ.get("HANOI_SERVER", "redis-server")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
             "--loadmodule", module, *[a for m in extra_modules for a in ("--loadmodule", m)]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.r = self.client()
        for _ in range(300):
            try:
                self.r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        self.version = self.r.info("server").get("redis_version") or "?"

    def client(self):
        return redis.Redis(port=self.port, socket_timeout=self.socket_timeout)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# Section 3 of issue 14: a flag with 3 rules of 2 conditions, asked with 4
# attributes, and the same flag without its rules, asked with the same
# attributes (benches/ratios.py and benches/callgrind_server.py).
RULES_SETUP = [
    ["HANOI.DEFINE", "bench:norules", "PERCENTAGE", 10],
    ["HANOI.DEFINE", "bench:rules", "PERCENTAGE", 10],
    ["HANOI.RULE", "bench:rules", "SET", "r0", "IF", "country", "EQ", "DE", "AND", "plan", "IN", 2, "pro", "team"],
    ["HANOI.RULE", "bench:rules", "SET", "r1", "ROLLOUT", 50, "IF", "app", "SEMVER_GE", "2.0.0", "AND", "age",
     "GE", 18],
    ["HANOI.RULE", "bench:rules", "SET", "r2", "IF", "email", "SUFFIX", "@corp.com", "AND", "plan", "NE", "free"],
]
ATTRS = ["WITH", "country", "FR", "plan", "pro", "app", "2.1.0", "age", "30"]
# Issue 32: a flag answering from its own ids, and the same answer through one
# prerequisite and one `segment IN` rule, each an O(1) id lookup.
REFS_SETUP = [
    ["HANOI.DEFINE", "ref:own", "PERCENTAGE", 0],
    ["HANOI.REGISTER", "ref:own", "USER", "member"],
    ["HANOI.DEFINE", "ref:pay", "PERCENTAGE", 0],
    ["HANOI.REGISTER", "ref:pay", "USER", "member"],
    ["HANOI.DEFINE", "ref:seg", "SEGMENT"],
    ["HANOI.REGISTER", "ref:seg", "USER", "member"],
    ["HANOI.DEFINE", "ref:flag", "PERCENTAGE", 0],
    ["HANOI.PREREQ", "ref:flag", "SET", "ref:pay"],
    ["HANOI.RULE", "ref:flag", "SET", "s", "IF", "segment", "IN", 1, "ref:seg"],
]
# Issue 35: an experiment's flag with an id already exposed (and one never
# exposed), for ASSIGN against RESOLVE.
EXPERIMENT_SETUP = [
    ["HANOI.DEFINE", "exp:flag", "PERCENTAGE", 100, "VARIANTS", 2, "a", "b"],
    ["HANOI.EXPERIMENT", "exp:flag", "START", "METRICS", 1, "buy"],
    ["HANOI.ASSIGN", "exp:flag", "member"],
]


WEB = os.path.join(ROOT, "target", "release", "hanoi-web")


class Web:
    """target/release/hanoi-web on a free port in front of `server`, with
    `config` (TOML) as its config file; stop() kills it."""

    def __init__(self, server, config):
        self.dir = tempfile.mkdtemp(prefix="hanoi-web-bench-")
        path = os.path.join(self.dir, "hanoi-web.toml")
        with open(path, "w") as f:
            f.write(config)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([WEB, "--redis", f"redis://127.0.0.1:{server.port}",
                                      "--listen", f"127.0.0.1:{port}", "--config", path],
                                     stdout=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/healthz").read()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("hanoi-web did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def history_setup(key, entries=100):
    """A 50 % flag whose history is full (hanoi.history-length is 100 by
    default): its last `entries` writes are kept, and reads must not pay
    for them."""
    return [["HANOI.DEFINE", key, "PERCENTAGE", 50]] + [
        ["HANOI.PERCENTAGE", key, 50 - i % 2] for i in range(1, entries)] + [["HANOI.PERCENTAGE", key, 50]]


# Issue 14 section 2: keyed reads against Redis's own. A 50 % flag and a
# 2-byte string, and 50 hash-tagged of each (one slot, for MENABLED / MGET).
PAGE_FLAGS = [f"{{page}}:flag:{i}" for i in range(50)]
PAGE_STRINGS = [f"{{page}}:str:{i}" for i in range(50)]
READS_SETUP = ([["HANOI.DEFINE", "read:flag", "PERCENTAGE", 50], ["SET", "read:str", "on"]]
               + [["HANOI.DEFINE", f, "PERCENTAGE", 50] for f in PAGE_FLAGS]
               + [["SET", k, "on"] for k in PAGE_STRINGS])
