"""The benchmarks' server: a redis-server (or $HANOI_SERVER) with a hanoi
module on a free loopback port, in a temporary directory, killed by stop()."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.environ.get("HANOI_MODULE") or os.path.join(ROOT, "target", "release", "libhanoi.so")


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
    def __init__(self, module=MODULE, socket_timeout=None):
        self.dir = tempfile.mkdtemp(prefix="hanoi-bench-")
        self.port = free_port()
        self.socket_timeout = socket_timeout
        binary = os.environ.get("HANOI_SERVER", "redis-server")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
             "--loadmodule", module],
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
