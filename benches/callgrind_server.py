#!/usr/bin/env python3
"""Instructions the server spends per command (callgrind): hanoi's reads against
Redis's own and against the module API's floor, and what targeting and counting
add. Repeatable whatever the machine's load, for comparing builds; the timed
ratios are benches/ratios.py's.

Starts redis-server (or $HANOI_SERVER) under callgrind with the module and the
floor module (benches/floor_module.c: a command that opens its key and replies,
nothing else), loads the keys, then for each command runs it unmeasured (a tenth
of N), zeroes the counters, runs `redis-benchmark -n N -P 32 -c 1` of it, dumps,
and prints the server's total
instructions per command: in all (event loop, parsing, the command, the reply;
serverCron's share moves a little from run to run) and inside `call()` (the
command's execution alone, as Redis dispatches it: steadier). A server that is
CPU-bound spends its time in proportion, so a ratio of instructions stands for
a ratio of time (cache misses aside).

Usage: python3 benches/callgrind_server.py [libhanoi.so] [N] [--keep] [--only=part-of-a-name ...]
Needs valgrind (callgrind_control), a C compiler, redis-server,
redis-benchmark, redis-cli.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from harness import (
    ATTRS,
    EXPERIMENT_SETUP,
    MODULE,
    PAGE_FLAGS,
    PAGE_STRINGS,
    READS_SETUP,
    REFS_SETUP,
    RULES_SETUP,
    floor_module,
    free_port,
    history_setup,
)

FLAGS, STRINGS = PAGE_FLAGS, PAGE_STRINGS
COUNTING_OFF = ["CONFIG", "SET", "hanoi.count-evaluations", "no"]
COUNTING_ON = ["CONFIG", "SET", "hanoi.count-evaluations", "yes"]
# (name, command, config before, config after)
CASES = [
    ("GET", ["GET", "read:str"], None, None),
    ("FLOOR.ENABLED", ["FLOOR.ENABLED", "read:flag", "__rand_int__"], None, None),
    ("HANOI.ENABLED", ["HANOI.ENABLED", "read:flag", "__rand_int__"], None, None),
    ("HANOI.ENABLED not counting", ["HANOI.ENABLED", "read:flag", "__rand_int__"], COUNTING_OFF, COUNTING_ON),
    ("HANOI.ENABLED, 100 history entries", ["HANOI.ENABLED", "read:hist", "__rand_int__"], None, None),
    ("HANOI.ENABLED + 4 attributes, no rules", ["HANOI.ENABLED", "bench:norules", "__rand_int__", *ATTRS], None, None),
    ("HANOI.ENABLED + 4 attributes, 3 rules", ["HANOI.ENABLED", "bench:rules", "__rand_int__", *ATTRS], None, None),
    ("HANOI.VARIANT", ["HANOI.VARIANT", "read:variants", "__rand_int__"], None, None),
    ("HANOI.ENABLED, on from its own ids", ["HANOI.ENABLED", "ref:own", "member"], None, None),
    ("HANOI.ENABLED, a prerequisite and a segment", ["HANOI.ENABLED", "ref:flag", "member"], None, None),
    ("HANOI.RESOLVE, an experiment's flag", ["HANOI.RESOLVE", "exp:flag", "member"], None, None),
    ("HANOI.ASSIGN, an id already exposed", ["HANOI.ASSIGN", "exp:flag", "member"], None, None),
    ("HANOI.TRACK", ["HANOI.TRACK", "exp:flag", "member", "buy", "3"], None, None),
    ("MGET x50", ["MGET", *STRINGS], None, None),
    ("FLOOR.MENABLED x50", ["FLOOR.MENABLED", "__rand_int__", *FLAGS], None, None),
    ("HANOI.MENABLED x50", ["HANOI.MENABLED", "__rand_int__", *FLAGS], None, None),
]
# (numerator, denominator, goal on the ratio of times, what it says)
RATIOS = [
    ("HANOI.ENABLED", "GET", 1.1, "issue 14 section 2"),
    ("FLOOR.ENABLED", "GET", None, "the module API's floor: open the key, reply"),
    ("HANOI.ENABLED", "FLOOR.ENABLED", None, "hanoi's own share"),
    ("HANOI.MENABLED x50", "MGET x50", 1.2, "issue 14 section 2"),
    ("FLOOR.MENABLED x50", "MGET x50", None, "the module API's floor"),
    ("HANOI.MENABLED x50", "FLOOR.MENABLED x50", None, "hanoi's own share"),
    ("HANOI.ENABLED", "HANOI.ENABLED not counting", 1.03, "counting (throughput >= 0.97)"),
    ("HANOI.ENABLED, 100 history entries", "HANOI.ENABLED", 1.03, "history costs nothing on reads"),
    ("HANOI.ENABLED + 4 attributes, 3 rules", "HANOI.ENABLED", 1.25, "targeting (throughput >= 0.8)"),
    ("HANOI.ENABLED + 4 attributes, no rules", "HANOI.ENABLED", None, "the 9 more arguments alone"),
    ("HANOI.ENABLED + 4 attributes, 3 rules", "HANOI.ENABLED + 4 attributes, no rules", None, "the rules alone"),
    ("HANOI.ENABLED, a prerequisite and a segment", "HANOI.ENABLED, on from its own ids", 1.35,
     "issue 32: references (instructions)"),
    ("HANOI.ASSIGN, an id already exposed", "HANOI.RESOLVE, an experiment's flag", 1.5,
     "issue 35: ASSIGN on an exposed id (instructions)"),
    ("HANOI.TRACK", "GET", None, "issue 35: TRACK is O(1)"),
]


def in_call(profile):
    """Inclusive instructions of Redis's call() in a callgrind profile."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", profile],
                         capture_output=True, text=True).stdout
    m = re.search(r"^\s*([\d,]+) .*\?\?\?:call \[", out, re.M)
    return int(m.group(1).replace(",", "")) if m else 0


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    module = os.path.abspath(args[0] if args else MODULE)
    n = int(args[1]) if len(args) > 1 else 20000
    floor = floor_module()
    d = tempfile.mkdtemp(prefix="hanoi-cg-")
    port = free_port()
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/cg.out",
         os.environ.get("HANOI_SERVER", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", d, "--save", "", "--appendonly", "no", "--loadmodule", module, "--loadmodule", floor],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = ["redis-cli", "-p", str(port)]

    def bench(command, count):
        subprocess.run(["redis-benchmark", "-p", str(port), "-P", "32", "-c", "1", "-n", str(count),
                        "-r", "2000000", "-q", *command], check=True, capture_output=True)

    def run(c):
        """A command's reply; setup that an older module refuses is left out."""
        return subprocess.run([*cli, *map(str, c)], capture_output=True, text=True).stdout

    try:
        for _ in range(600):
            if subprocess.run([*cli, "PING"], capture_output=True, text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.1)
        variants = [["HANOI.DEFINE", "read:variants", "PERCENTAGE", "50", "VARIANTS", "2", "a", "b"]]
        for c in READS_SETUP + variants + RULES_SETUP + REFS_SETUP + EXPERIMENT_SETUP + history_setup("read:hist"):
            run(c)
        print(f"{module}: server instructions per command ({n} commands each, -P 32, -c 1)")
        print("| command | instructions in all | inside call() |")
        print("| --- | --- | --- |")
        per = {}
        only = [a[len("--only="):] for a in sys.argv if a.startswith("--only=")]
        for name, command, before_cfg, after_cfg in CASES:
            if only and not any(o in name for o in only):
                continue
            if before_cfg and "ERR" in run(before_cfg) or "ERR" in run([a.replace("__rand_int__", "1") for a in command]):
                print(f"| {name} | - | - |  (this module refuses it)", flush=True)
                if after_cfg:
                    run(after_cfg)
                continue
            # A short unmeasured run first: a dictionary still rehashing after
            # the setup, and first-use costs, are not the command's.
            bench(command, n // 10)
            subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
            before = set(glob.glob(f"{d}/cg.out*"))
            bench(command, n)
            subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
            if after_cfg:
                run(after_cfg)
            new = sorted(set(glob.glob(f"{d}/cg.out*")) - before, key=os.path.getmtime)
            with open(new[-1]) as f:
                total = int(re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M).group(1))
            per[name] = (total / n, in_call(new[-1]) / n)
            print(f"| {name} | {per[name][0]:.0f} | {per[name][1]:.0f} |", flush=True)
        print()
        print("| ratio of instructions | in all | inside call() | goal (on time) | |")
        print("| --- | --- | --- | --- | --- |")
        for a, b, goal, what in RATIOS:
            if a not in per or b not in per:
                continue
            # (a server built without symbols has no call() to find: "-")
            r = [f"{per[a][i] / per[b][i]:.2f}" if per[b][i] else "-" for i in (0, 1)]
            print(f"| {a} / {b} | {r[0]} | {r[1]} | {'<= ' + str(goal) if goal else '-'} | {what} |")
    finally:
        server.terminate()
        server.wait()
        if "--keep" in sys.argv:
            print("profiles kept in", d)
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
