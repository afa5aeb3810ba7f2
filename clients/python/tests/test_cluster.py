"""RedisModuleBackEnd over redis.RedisCluster: three primaries with the module."""

import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time

import hanoi_redis
import pytest
import redis
from conftest import MODULE


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _cluster_ports(n):
    # Redis refuses ports above 55535 (the bus is port + 10000): pick them here.
    ports = []
    while len(ports) < n:
        p = random.randrange(20000, 45000)
        if p not in ports and _free(p) and _free(p + 10000):
            ports.append(p)
    return ports


@pytest.fixture(scope="module")
def cluster():
    binary = os.environ.get("HANOI_SERVER") or shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if not cli:
        pytest.fail("redis-cli is needed to create the cluster (Debian: redis-tools)")
    work = tempfile.mkdtemp(prefix="hanoi-py-cluster-")
    ports = _cluster_ports(3)
    procs = []
    for p in ports:
        d = os.path.join(work, str(p))
        os.mkdir(d)
        procs.append(subprocess.Popen(
            [binary, "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--save", "", "--dir", d, "--loadmodule", str(MODULE)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))  # fmt: skip
    try:
        for p in ports:
            for _ in range(200):
                try:
                    redis.Redis(port=p).ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.025)
        subprocess.run(
            [cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        for p in ports:
            for _ in range(400):
                if redis.Redis(port=p).cluster("info")["cluster_state"] == "ok":
                    break
                time.sleep(0.025)
        yield ports
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def test_cluster_client(cluster):
    client = redis.RedisCluster(host="127.0.0.1", port=cluster[0])
    rollout = hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(client))
    names = [f"flag{i}" for i in range(12)] + ["{page}a", "{page}b"]
    for n in names:
        rollout.add_func(n, "id", percentage=50, variants=("foo", "bar"))
    assert len({client.keyslot(n) for n in names}) > 3  # spread over the primaries
    rollout.register("flag0", re.compile("01$"))
    assert rollout.is_enabled("flag0", "443301") and not rollout.is_enabled("flag0", "44488")
    assert rollout.variant("flag1", "443301") == "bar"
    assert rollout.explain("flag2", "44488").reason == "outside"
    assert rollout.enabled_many(["{page}a", "{page}b"], "2") == {"{page}a": True, "{page}b": True}
    assert rollout.backend.get_functionalities() == sorted(names)
    assert rollout.backend.get_functionality("flag5").field == "id"
    client.close()
