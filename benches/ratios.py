#!/usr/bin/env python3
"""hanoi's server-side benchmark: prints ratios measured in one run.

Starts its own redis-server (or $HANOI_SERVER) with target/release/libhanoi.so on a
free port, loads the data, and measures, alternating the things it compares so that
the noise of a shared machine falls on both sides of each ratio:

1. throughput with redis-benchmark -P 32: HANOI.ENABLED, HANOI.VARIANT and PING
   divided by SISMEMBER on a SET of the same 1M ids;
2. round trips from redis-py, one check at a time: HANOI.ENABLED and hanoi 0.0.4's
   RedisHighPerfBackEnd.is_enabled divided by SISMEMBER;
3. memory: MEMORY USAGE of the flag divided by that of the SET (numeric ids, UUIDs);
4. DEBUG RELOAD time with the flag divided by the same with the SET;
5. HANOI.MENABLED over 50 flags divided by one HANOI.ENABLED;
and HANOI.ENABLED with per-flag counting (HANOI.STATS) divided by without, on a
flag with a full history divided by one without, and with 4 attributes on a flag
of 3 rules divided by plain (and by the same 4 attributes on a flag without rules);
0. first, against Redis's own keyed reads (issue 14): the time of HANOI.ENABLED on
   a 50 % flag divided by that of a GET of a short string, and of HANOI.MENABLED
   over 50 hash-tagged 50 % flags divided by an MGET of 50 short strings
   (redis-benchmark -P 32, 15 alternated rounds, the median of the rounds' ratios);
   and the same for the floor module's FLOOR.ENABLED and FLOOR.MENABLED
   (benches/floor_module.c), which open their keys and reply, nothing else: what
   any module pays.

Usage: python3 benches/ratios.py [--quick] [--reads]   (make bench runs it in a venv;
--reads runs section 0 alone)
"""
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
import zlib

import redis
from harness import (
    ATTRS,
    MODULE,
    PAGE_FLAGS,
    PAGE_STRINGS,
    READS_SETUP,
    RULES_SETUP,
    Server,
    floor_module,
    history_setup,
)

QUICK = "--quick" in sys.argv
READS_ONLY = "--reads" in sys.argv
N_IDS = 1_000_000
ROUNDS = 3
BENCH_N = 300_000 if QUICK else 1_000_000
RT_CHECKS = 20_000


def chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def load_flag(r, key, ids, percentage=50):
    r.execute_command("HANOI.DEFINE", key, "PERCENTAGE", percentage,
                      "VARIANTS", 3, "control", "red", "blue")
    r.execute_command("HANOI.REGISTER", key, "REGEX", "^admin-", r"@example\.com$", "^9{6}")
    p = r.pipeline(transaction=False)
    for c in chunks(ids, 5000):
        p.execute_command("HANOI.REGISTER", key, "USER", *c)
    p.execute()


def load_set(r, key, ids):
    p = r.pipeline(transaction=False)
    for c in chunks(ids, 5000):
        p.sadd(key, *c)
    p.execute()


def benchmark_rps(port, args, pipeline=32, n=None):
    """ops/s of one redis-benchmark run (-P 32 by default, ids drawn from 0..1999999)."""
    n = n or (BENCH_N if pipeline > 1 else BENCH_N // 5)
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-P", str(pipeline), "-n", str(n), "-r", "2000000",
         "-c", "50", "--csv", *args],
        capture_output=True, text=True, check=True).stdout
    last = [line for line in out.splitlines() if line.strip()][-1]
    return float(last.split(",")[1].strip('"'))


class Rounds(dict):
    """The median of each measurement (the dict), and its rounds: a ratio is
    the median of the ratios within each round (`ratio`), whose sides ran a
    few seconds apart at most, so that drift on a shared machine cancels. It
    need not equal the ratio of the two medians."""

    def __init__(self, results):
        super().__init__({name: statistics.median(v) for name, v in results.items()})
        self.results = results

    def ratio(self, a, b):
        return statistics.median(x / y for x, y in zip(self.results[a], self.results[b]))


def alternate(fns, rounds=ROUNDS):
    """Runs each fn once per round, interleaved, each round starting one
    further along the list (no side always first); returns their Rounds."""
    results = {name: [] for name in fns}
    names = list(fns)
    for k in range(rounds):
        for name in names[k % len(names):] + names[:k % len(names)]:
            results[name].append(fns[name]())
    return Rounds(results)


def per_call_us(fn, ids):
    t = time.perf_counter()
    for i in ids:
        fn(i)
    return (time.perf_counter() - t) / len(ids) * 1e6


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


rows = []


def report(what, ratio, goal, better="lower", note=""):
    """One row of the table; goal None for a reference figure."""
    if goal is None:
        rows.append((what, f"{ratio:.2f}", "-", "-", note))
        print(f"  {what}: {ratio:.2f} {note}", flush=True)
        return
    met = ratio <= goal if better == "lower" else ratio >= goal
    sign = "<=" if better == "lower" else ">="
    rows.append((what, f"{ratio:.2f}", f"{sign} {goal}", "yes" if met else "NO", note))
    print(f"  {what}: {ratio:.2f} (goal {sign} {goal}) {note}", flush=True)


def main():
    if not os.path.exists(MODULE):
        sys.exit(f"{MODULE} missing: run `make` first")
    s = Server(extra_modules=[floor_module()])
    try:
        r = s.r
        reads_against_redis(s)
        if READS_ONLY:
            return
        ids = [f"{i:012d}" for i in range(0, 2 * N_IDS, 2)]  # half of 0..1999999
        print(f"loading {len(ids)} ids into a flag and a SET ...", flush=True)
        load_flag(r, "bench:flag", ids)
        load_set(r, "bench:set", ids)

        # 1. Throughput.
        print("1. throughput (redis-benchmark -P 32, random ids, half registered)", flush=True)
        med = alternate({
            "SISMEMBER": lambda: benchmark_rps(s.port, ["SISMEMBER", "bench:set", "__rand_int__"]),
            "ENABLED": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "bench:flag", "__rand_int__"]),
            "VARIANT": lambda: benchmark_rps(s.port, ["HANOI.VARIANT", "bench:flag", "__rand_int__"]),
            "PING": lambda: benchmark_rps(s.port, ["PING"]),
        })
        for k, v in med.items():
            print(f"  {k}: {v:,.0f} ops/s (median of {ROUNDS})")
        report("HANOI.ENABLED ops/s / SISMEMBER ops/s", med.ratio("ENABLED", "SISMEMBER"), 0.9, "higher")
        report("HANOI.VARIANT ops/s / SISMEMBER ops/s", med.ratio("VARIANT", "SISMEMBER"), 0.9, "higher")
        report("PING ops/s / SISMEMBER ops/s", med.ratio("PING", "SISMEMBER"), None, note="the ceiling")

        # 1b. The cost of counting (HANOI.STATS): the same ENABLED with
        # hanoi.count-evaluations on and off, alternated, more rounds.
        print("1b. HANOI.ENABLED with and without per-flag counting", flush=True)

        def enabled_with(counting):
            r.execute_command("CONFIG", "SET", "hanoi.count-evaluations", counting)
            return benchmark_rps(s.port, ["HANOI.ENABLED", "bench:flag", "__rand_int__"])

        med = alternate({"on": lambda: enabled_with("yes"), "off": lambda: enabled_with("no")},
                        rounds=2 * ROUNDS + 1)
        r.execute_command("CONFIG", "SET", "hanoi.count-evaluations", "yes")
        print(f"  counting on: {med['on']:,.0f} ops/s, off: {med['off']:,.0f} ops/s")
        report("HANOI.ENABLED ops/s counting / not counting", med.ratio("on", "off"), 0.97, "higher")

        # 1b'. History: a 50 % flag whose history is full against one with a
        # single entry (its creation), alternated.
        print("1b'. HANOI.ENABLED on a flag with 100 history entries and on one with 1", flush=True)
        for c in history_setup("hist:full"):
            r.execute_command(*c)
        r.execute_command("HANOI.DEFINE", "hist:one", "PERCENTAGE", 50)
        med = alternate({
            "full": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "hist:full", "__rand_int__"]),
            "one": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "hist:one", "__rand_int__"]),
        }, rounds=2 * ROUNDS + 1)
        print(f"  100 entries: {med['full']:,.0f} ops/s, 1 entry: {med['one']:,.0f} ops/s")
        report("HANOI.ENABLED ops/s, 100 history entries / 1", med.ratio("full", "one"), 0.97, "higher",
               "history costs nothing on reads")

        # 1c. Targeting: a flag with 3 rules of 2 conditions asked with 4
        # attributes, against plain HANOI.ENABLED on a 50 % flag (section 0's)
        # and against the same attributes sent to the same flag without its
        # rules (the arguments' own cost).
        print("1c. HANOI.ENABLED with 4 attributes on a flag of 3 rules", flush=True)
        for c in RULES_SETUP:
            r.execute_command(*c)
        med = alternate({
            "plain": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "read:flag", "__rand_int__"]),
            "args": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "bench:norules", "__rand_int__", *ATTRS]),
            "rules": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "bench:rules", "__rand_int__", *ATTRS]),
        })
        print(f"  plain: {med['plain']:,.0f} ops/s, the same with 4 attributes (no rules to read them): "
              f"{med['args']:,.0f} ops/s, with 3 rules and 4 attributes: {med['rules']:,.0f} ops/s")
        report("HANOI.ENABLED ops/s, 3 rules + 4 attributes / plain", med.ratio("rules", "plain"), 0.8, "higher")
        report("HANOI.ENABLED ops/s, 4 attributes (no rules) / plain", med.ratio("args", "plain"), None,
               note="the 9 more arguments alone: Redis reads and allocates each")
        report("HANOI.ENABLED ops/s, 3 rules + 4 attributes / 4 attributes (no rules)", med.ratio("rules", "args"),
               0.8, "higher", "the rules alone, the arguments held equal")

        # 2. Round trips from Python.
        print(f"2. round trips (redis-py, {RT_CHECKS} checks one at a time)", flush=True)
        import hanoi
        roll = hanoi.Rollout(hanoi.RedisHighPerfBackEnd(redis.Redis(port=s.port)))
        roll.add_func("bench", percentage=50)
        load_set(r, "rollout:users:bench", ids[:100_000])
        queries = [f"{zlib.crc32(str(i).encode()) % 2_000_000:012d}" for i in range(RT_CHECKS)]
        c = redis.Redis(port=s.port)
        med = alternate({
            "SISMEMBER": lambda: per_call_us(lambda i: c.sismember("bench:set", i), queries),
            "ENABLED": lambda: per_call_us(lambda i: c.execute_command("HANOI.ENABLED", "bench:flag", i), queries),
            "hanoi": lambda: per_call_us(lambda i: roll.is_enabled("bench", i), queries),
        })
        for k, v in med.items():
            print(f"  {k}: {v:.1f} us per check (median of {ROUNDS})")
        report("HANOI.ENABLED us / SISMEMBER us (redis-py)", med.ratio("ENABLED", "SISMEMBER"), 1.1, "lower",
               "goal: about 1.0")
        report("hanoi 0.0.4 is_enabled us / SISMEMBER us (redis-py)", med.ratio("hanoi", "SISMEMBER"), None,
               note="reference: hanoi's RedisHighPerfBackEnd (GET + SISMEMBER)")

        # 3. Memory.
        print("3. memory (MEMORY USAGE key SAMPLES 0)", flush=True)
        usage = lambda k: r.execute_command("MEMORY", "USAGE", k, "SAMPLES", 0)
        rnd = [str(100_000 + zlib.crc32(b"%d" % i) * 233 % 999_999_900_000) for i in range(N_IDS)]
        uuids = [str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128))) for i in range(N_IDS)]
        for name, sample in [("user ids (6-12 digits)", rnd), ("UUIDs", uuids)]:
            r.delete("m:flag", "m:set")
            load_flag(r, "m:flag", sample)
            load_set(r, "m:set", sample)
            f, st = usage("m:flag"), usage("m:set")
            print(f"  {name}: flag {f / 1e6:.1f} MB, SET {st / 1e6:.1f} MB, {r.scard('m:set')} ids")
            report(f"MEMORY USAGE flag / SET, {name}", f / st, 0.75, "lower")
        r.delete("m:flag", "m:set")

        # 4. Reload.
        print("4. DEBUG RELOAD time", flush=True)
        r.flushall()
        load_flag(r, "bench:flag", ids)
        t_flag = statistics.median(timed(lambda: r.execute_command("DEBUG", "RELOAD")) for _ in range(ROUNDS))
        r.flushall()
        load_set(r, "bench:set", ids)
        t_set = statistics.median(timed(lambda: r.execute_command("DEBUG", "RELOAD")) for _ in range(ROUNDS))
        print(f"  flag {t_flag * 1000:.0f} ms, SET {t_set * 1000:.0f} ms (median of {ROUNDS})")
        report("DEBUG RELOAD flag / SET", t_flag / t_set, 1.5, "lower")

        # 5. Bulk.
        print("5. HANOI.MENABLED over 50 flags vs one HANOI.ENABLED", flush=True)
        r.flushall()
        for i in range(50):
            load_flag(r, f"page:{i}", [f"{j * 50 + i:012d}" for j in range(1000)])
        keys = [f"page:{i}" for i in range(50)]
        med = alternate({
            "ENABLED": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "page:0", "__rand_int__"]),
            "MENABLED": lambda: benchmark_rps(s.port, ["HANOI.MENABLED", "__rand_int__", *keys]),
            "ENABLED P1": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "page:0", "__rand_int__"], 1),
            "MENABLED P1": lambda: benchmark_rps(s.port, ["HANOI.MENABLED", "__rand_int__", *keys], 1),
        })
        print(f"  -P 32: ENABLED {med['ENABLED']:,.0f} ops/s, MENABLED(50) {med['MENABLED']:,.0f} ops/s")
        print(f"  -P 1:  ENABLED {med['ENABLED P1']:,.0f} ops/s, MENABLED(50) {med['MENABLED P1']:,.0f} ops/s")
        report("HANOI.MENABLED x50 / HANOI.ENABLED, one call per round trip (-P 1)",
               med.ratio("ENABLED P1", "MENABLED P1"), 5, "lower")
        report("HANOI.MENABLED x50 / HANOI.ENABLED, server time (-P 32)",
               med.ratio("ENABLED", "MENABLED"), 5, "lower")
    finally:
        version = s.version
        s.stop()
        print_table(version)


def reads_against_redis(s):
    """0. HANOI.ENABLED / GET and HANOI.MENABLED x50 / MGET x50, in time per call."""
    r = s.r
    print("0. against Redis's own keyed reads (redis-benchmark -P 32)", flush=True)
    p = r.pipeline(transaction=False)
    for c in READS_SETUP:
        p.execute_command(*c)
    p.execute()
    flags, strings = PAGE_FLAGS, PAGE_STRINGS
    # Many short rounds (under half a second a run), each ratio the median of
    # the rounds' own: the sides of a ratio run seconds apart at most.
    one, bulk = BENCH_N // 2, BENCH_N // 20
    rounds = 5 if QUICK else 15
    med = alternate({
        "GET": lambda: benchmark_rps(s.port, ["GET", "read:str"], n=one),
        "ENABLED": lambda: benchmark_rps(s.port, ["HANOI.ENABLED", "read:flag", "__rand_int__"], n=one),
        "FLOOR.ENABLED": lambda: benchmark_rps(s.port, ["FLOOR.ENABLED", "read:flag", "__rand_int__"], n=one),
        "MGET": lambda: benchmark_rps(s.port, ["MGET", *strings], n=bulk),
        "MENABLED": lambda: benchmark_rps(s.port, ["HANOI.MENABLED", "__rand_int__", *flags], n=bulk),
        "FLOOR.MENABLED": lambda: benchmark_rps(s.port, ["FLOOR.MENABLED", "__rand_int__", *flags], n=bulk),
    }, rounds=rounds)
    for k, v in med.items():
        print(f"  {k}: {v:,.0f} ops/s (median of {rounds})")
    report("HANOI.ENABLED time / GET time (50 % flag; short string)", med.ratio("GET", "ENABLED"), 1.1,
           "lower")
    report("HANOI.MENABLED x50 time / MGET x50 time (hash-tagged)", med.ratio("MGET", "MENABLED"), 1.2,
           "lower")
    report("FLOOR.ENABLED time / GET time", med.ratio("GET", "FLOOR.ENABLED"), None,
           note="the module API's floor (benches/floor_module.c: open the key, reply)")
    report("FLOOR.MENABLED x50 time / MGET x50 time", med.ratio("MGET", "FLOOR.MENABLED"), None,
           note="the module API's floor")
    report("HANOI.ENABLED time / FLOOR.ENABLED time", med.ratio("FLOOR.ENABLED", "ENABLED"), None,
           note="hanoi's own share")
    report("HANOI.MENABLED x50 time / FLOOR.MENABLED x50 time", med.ratio("FLOOR.MENABLED", "MENABLED"), None,
           note="hanoi's own share")


def print_table(version):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print()
    print(f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"server {version}; date {time.strftime('%Y-%m-%d')}")
    print("| ratio | measured | goal | met | note |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
