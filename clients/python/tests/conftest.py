"""A real redis-server (or $HANOI_SERVER, e.g. valkey-server) with the freshly
built module, on a free port, for the whole session; stopped at the end."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import hanoi_redis
import pytest
import redis

ROOT = Path(__file__).resolve().parents[3]
MODULE = Path(os.environ.get("HANOI_MODULE", ROOT / "target" / "release" / "libhanoi.so"))


def _free_port() -> int:
    # A standalone server: any free port will do (no cluster bus to fit).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ours(proc, client, tries=400):
    """Until `client` reaches the server `proc` itself (INFO's process_id,
    not another process that took the port first) and it has loaded its
    data (PING); raises when it exits or is not ready in about 10 s."""
    for _ in range(tries):
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited ({proc.returncode}): is the port taken?")
        try:
            if client.info("server").get("process_id") == proc.pid and client.ping():
                return
        except redis.RedisError:  # not up, loading, or not a Redis server
            pass
        time.sleep(0.025)
    raise RuntimeError("redis-server did not start")


@pytest.fixture(scope="session")
def server():
    assert MODULE.exists(), f"build the module first (make build): {MODULE}"
    binary = os.environ.get("HANOI_SERVER") or shutil.which("redis-server")
    assert binary, "redis-server is not on the PATH"
    workdir = tempfile.mkdtemp(prefix="hanoi-py-")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--loadmodule",
            str(MODULE),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port, socket_timeout=1)
    try:
        wait_until_ours(proc, client)
    except RuntimeError:
        proc.kill()
        raise
    finally:
        client.close()
    yield port
    proc.kill()
    proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)


class Server:
    """A redis-server of the test's own, with the module (unless
    `module=False`), that it can kill and start again on the same port."""

    def __init__(self, notify="Kgxd", module=True):
        self.port = _free_port()
        self.module = module
        self.dir = tempfile.mkdtemp(prefix="hanoi-of-")
        self.notify = notify
        self.proc = None

    def start(self):
        binary = os.environ.get("HANOI_SERVER") or shutil.which("redis-server")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--notify-keyspace-events", self.notify,
             *(["--loadmodule", str(MODULE)] if self.module else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            wait_until_ours(self.proc, client)
        finally:
            client.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def own_server():
    s = Server()
    s.start()
    yield s
    s.close()


@pytest.fixture
def r(server):
    client = redis.Redis(port=server)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request):
    """Each case runs on both backends: same calls, same answers."""
    if request.param == "memory":
        return hanoi_redis.MemoryBackEnd()
    client = request.getfixturevalue("r")
    return hanoi_redis.RedisModuleBackEnd(client)


@pytest.fixture
def rollout(backend):
    return hanoi_redis.Rollout(backend)


def pytest_bdd_apply_tag(tag, function):
    """The OpenFeature suite's tags (spec-1.4.7, ...) are not pytest marks:
    nothing to apply."""
    return True


def pytest_configure(config):
    # The OpenFeature suite's Examples tags, which pytest-bdd makes marks.
    for kind in ("booleans", "strings", "numbers", "objects"):
        config.addinivalue_line("markers", f"{kind}: OpenFeature's {kind} examples")
