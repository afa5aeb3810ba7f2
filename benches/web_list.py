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
import statistics
import subprocess
import time
import urllib.parse
import urllib.request

from harness import WEB, Server, Web

FLAGS = 10_000
LOADS = 20


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
    hashed = subprocess.run([WEB, "hash-password"], input="bench-password\n", text=True,
                            capture_output=True, check=True).stdout.strip()
    web = Web(server, f'[[user]]\nname = "bench"\npassword_hash = "{hashed}"\nrole = "viewer"\n')
    base = web.base
    try:
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
        web.stop()
        server.stop()


if __name__ == "__main__":
    main()
