#!/usr/bin/env python3
"""hanoi-web's benchmark, with oha (cargo install oha) as the load generator.

Starts its own redis-server with target/release/libhanoi.so and
target/release/hanoi-web in front of it, defines 50 flags, and measures in
one run, alternating the two sides of the ratio so the noise of a shared
machine falls on both:

1. OFREP single-flag evaluations per second divided by the requests per
   second of a trivial endpoint of the same server (GET /healthz): the HTTP
   ceiling (goal >= 0.5);
2. bulk evaluation of all 50 flags at a fixed 500 requests/s: p50 and p99
   latency (goal p99 <= 5 ms).

Usage: python3 benches/web.py [--quick]   (needs redis-py and oha)
"""
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

from harness import Server, Web

QUICK = "--quick" in sys.argv
SECONDS = 5 if QUICK else 10
ROUNDS = 2 if QUICK else 3
CONNECTIONS = 32
KEY = "bench-key-0123456789abcdef"


def oha(args):
    out = subprocess.run(["oha", "--no-tui", "--output-format", "json", *args],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if not shutil.which("oha"):
        sys.exit("oha is missing: cargo install oha")
    server = Server()
    r = server.r
    for i in range(50):
        key = f"bench:{i}"
        if i % 3 == 0:
            r.execute_command("HANOI.DEFINE", key, "PERCENTAGE", 50, "VARIANTS", 2, "red", "blue")
        else:
            r.execute_command("HANOI.DEFINE", key, "PERCENTAGE", i * 2)
        r.execute_command("HANOI.REGISTER", key, "USER", *[f"user-{j}" for j in range(1000)])
        r.execute_command("HANOI.RULE", key, "SET", "de", "IF", "country", "EQ", "DE")
        r.execute_command("HANOI.META", key, "SET", "owner", "bench", "tags", "a,b")
    web = Web(server, f'[[api_key]]\nkey = "{KEY}"\nprefix = ""\n')
    base = web.base
    try:
        body = json.dumps({"context": {"targetingKey": "user-77", "country": "FR"}})
        post = ["-m", "POST", "-H", f"X-API-Key: {KEY}", "-H", "Content-Type: application/json",
                "-d", body]
        trivial, single, bulk = [], [], []
        for _ in range(ROUNDS):
            t = oha(["-z", f"{SECONDS}s", "-c", str(CONNECTIONS), base + "/healthz"])
            s = oha(["-z", f"{SECONDS}s", "-c", str(CONNECTIONS), *post,
                     base + "/ofrep/v1/evaluate/flags/bench:3"])
            b = oha(["-z", f"{SECONDS}s", "-q", "500", "-c", str(CONNECTIONS), *post,
                     base + "/ofrep/v1/evaluate/flags"])
            for res in (t, s, b):
                codes = res.get("statusCodeDistribution", {})
                if set(codes) - {"200"}:
                    sys.exit(f"non-200 answers: {codes}")
            trivial.append(t["summary"]["requestsPerSec"])
            single.append(s["summary"]["requestsPerSec"])
            bulk.append(b)
        ratio = statistics.median(s / t for s, t in zip(single, trivial))
        p50 = statistics.median(b["latencyPercentiles"]["p50"] for b in bulk) * 1000
        p99 = statistics.median(b["latencyPercentiles"]["p99"] for b in bulk) * 1000
        bulk_rps = statistics.median(b["summary"]["requestsPerSec"] for b in bulk)
        print(f"hanoi-web benchmark: {platform.machine()}, {os.cpu_count()} cores, redis {server.version}, "
              f"{ROUNDS} rounds of {SECONDS} s, {CONNECTIONS} connections, oha")
        print(f"trivial endpoint (GET /healthz):     {statistics.median(trivial):10.0f} req/s")
        print(f"OFREP single flag:                   {statistics.median(single):10.0f} req/s")
        print(f"ratio single / trivial:              {ratio:10.2f}   (goal >= 0.5)")
        print(f"OFREP bulk, 50 flags, at 500 req/s:  {bulk_rps:10.0f} req/s, "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms   (goal p99 <= 5 ms)")
    finally:
        web.stop()
        server.stop()


if __name__ == "__main__":
    main()
