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
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.025)
    else:
        proc.kill()
        raise RuntimeError("redis-server did not start")
    yield port
    proc.kill()
    proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)


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
