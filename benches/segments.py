#!/usr/bin/env python3
"""Issue 32's cost of big segments, side by side in one run on one server:

- memory: a segment of N ids (`HANOI.DEFINE seg SEGMENT`, `HANOI.REGISTER`)
  against a Redis SET of the same ids (`SADD`), both by `MEMORY USAGE key
  SAMPLES 0` (exact);
- membership is O(1): `HANOI.ENABLED` of a flag whose rule is `segment IN`
  one segment of N ids against the same flag over a segment of 1,000 ids
  (the server's time per command, from `INFO commandstats`, for the same
  number of calls; a ratio near 1 says the lookup does not grow with N).

Usage: python3 benches/segments.py [N]   (default 1,000,000)
"""
import sys

from harness import Server

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
BATCH = 50_000
CALLS = 20_000


def ids(n, start=0):
    return [str(10_000_000 + i) for i in range(start, start + n)]


def main():
    s = Server()
    r = s.r
    try:
        r.execute_command("HANOI.DEFINE", "seg:big", "SEGMENT")
        r.execute_command("HANOI.DEFINE", "seg:small", "SEGMENT")
        for start in range(0, N, BATCH):
            batch = ids(min(BATCH, N - start), start)
            r.execute_command("HANOI.REGISTER", "seg:big", "USER", *batch)
            r.sadd("set:big", *batch)
        r.execute_command("HANOI.REGISTER", "seg:small", "USER", *ids(1000))
        r.sadd("set:small", *ids(1000))
        seg = r.execute_command("MEMORY", "USAGE", "seg:big", "SAMPLES", 0)
        st = r.execute_command("MEMORY", "USAGE", "set:big", "SAMPLES", 0)
        print(f"{N} ids: segment {seg / 1e6:.1f} MB, Redis SET {st / 1e6:.1f} MB, "
              f"ratio {seg / st:.2f} (goal <= 0.6)")
        for name in ("big", "small"):
            r.execute_command("HANOI.DEFINE", f"flag:{name}", "PERCENTAGE", 0)
            r.execute_command("HANOI.RULE", f"flag:{name}", "SET", "s", "IF", "segment", "IN", 1, f"seg:{name}")

        def usec(command, key):
            r.config_resetstat()
            p = r.pipeline(transaction=False)
            for i in range(CALLS):
                p.execute_command(command, key, str(10_000_000 + (i * 7919) % N))
                if len(p) == 1000:
                    p.execute()
            p.execute()
            stats = r.info("commandstats")["cmdstat_" + command.lower()]
            return stats["usec"] / stats["calls"]

        for command, big, small in [("HANOI.ENABLED", "flag:big", "flag:small"),
                                    ("SISMEMBER", "set:big", "set:small")]:
            b, sm = usec(command, big), usec(command, small)
            print(f"{command} {big}: {b:.2f} us a call over {N} ids, {small} over 1000 ids: "
                  f"{sm:.2f} us, ratio {b / sm:.2f}")
    finally:
        s.stop()


if __name__ == "__main__":
    main()
