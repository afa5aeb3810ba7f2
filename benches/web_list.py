#!/usr/bin/env python3
"""hanoi-web's flag list with 10,000 flags: the time of a page.

Starts its own redis-server with target/release/libhanoi.so and
target/release/hanoi-web in front of it, defines 10,000 flags (each with an
owner and tags, a few evaluated), logs in, and times each page (median and
worst of 20 loads, one after the other, over loopback): the first page and a
late one sorted by name (only the page's flags are read), a search over
names, descriptions, owners and tags, and the order by last evaluation (both
read every flag).

Usage: python3 benches/web_list.py   (needs redis-py)
"""
import http.cookiejar
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from harness import ROOT, Server, free_port

FLAGS = 10_000
LOADS = 20
WEB = os.path.join(ROOT, "target", "release", "hanoi-web")


def main():
    server = Server()
    r = server.r
    pipe = r.pipeline(transaction=False)
    for i in range(FLAGS):
        key = f"flag-{i:05d}"
        pipe.execute_command("HANOI.DEFINE", key, "PERCENTAGE", i % 101)
        pipe.execute_command("HANOI.META", key, "SET", "owner", f"team-{i % 40}",
                             "tags", f"area-{i % 13},web", "description", f"flag number {i}")
        if i % 100 == 0:
            pipe.execute_command("HANOI.ENABLED", key, "u1")
    pipe.execute()
    work = tempfile.mkdtemp(prefix="hanoi-web-list-")
    hashed = subprocess.run([WEB, "hash-password"], input="bench-password\n", text=True,
                            capture_output=True, check=True).stdout.strip()
    config = os.path.join(work, "hanoi-web.toml")
    with open(config, "w") as f:
        f.write(f'[[user]]\nname = "bench"\npassword_hash = "{hashed}"\nrole = "viewer"\n')
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen([WEB, "--redis", f"redis://127.0.0.1:{server.port}",
                            "--listen", f"127.0.0.1:{port}", "--config", config],
                           stdout=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz").read()
                break
            except OSError:
                time.sleep(0.02)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login = urllib.request.Request(
            base + "/login", method="POST", headers={"Origin": base},
            data=urllib.parse.urlencode({"name": "bench", "password": "bench-password"}).encode())
        opener.open(login).read()
        print(f"hanoi-web flag list: {FLAGS} flags, page_size 50, {platform.machine()}, "
              f"{os.cpu_count()} cores, redis {server.version}, {LOADS} loads each")
        for label, path in [
            ("first page, by name", "/flags"),
            ("page 150, by name", "/flags?page=150"),
            ("search 'team-7' (every flag read)", "/flags?q=team-7"),
            ("by last evaluated (every flag read)", "/flags?sort=evaluated"),
        ]:
            times = []
            for _ in range(LOADS):
                t = time.perf_counter()
                body = opener.open(base + path).read()
                times.append((time.perf_counter() - t) * 1000)
                assert b'id="flags"' in body, body[:300]
            print(f"{label:40s} median {statistics.median(times):7.1f} ms, worst {max(times):7.1f} ms")
    finally:
        web.kill()
        web.wait()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
