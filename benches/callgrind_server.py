#!/usr/bin/env python3
"""Instructions the server spends per command (callgrind), hanoi's reads against
Redis's own: repeatable whatever the machine's load, for comparing builds.

Starts redis-server (or $HANOI_SERVER) under callgrind with the module, loads the
keys of benches/ratios.py section 0, then for each command zeroes the counters,
runs `redis-benchmark -n N -P 32` of it, dumps, and prints the server's total
instructions per command: in all (event loop, parsing, the command, the reply;
serverCron's share moves a little from run to run) and inside `call()` (the
command's execution alone, as Redis dispatches it: steadier).

Usage: python3 benches/callgrind_server.py [libhanoi.so] [N]
Needs valgrind (callgrind_control), redis-server, redis-benchmark, redis-cli.
"""
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = [f"{{page}}:flag:{i}" for i in range(50)]
STRINGS = [f"{{page}}:str:{i}" for i in range(50)]
COMMANDS = [
    ("GET", ["GET", "read:str"]),
    ("HANOI.ENABLED", ["HANOI.ENABLED", "read:flag", "__rand_int__"]),
    ("HANOI.VARIANT", ["HANOI.VARIANT", "read:variants", "__rand_int__"]),
    ("MGET x50", ["MGET", *STRINGS]),
    ("HANOI.MENABLED x50", ["HANOI.MENABLED", "__rand_int__", *FLAGS]),
]


def in_call(profile):
    """Inclusive instructions of Redis's call() in a callgrind profile."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", profile],
                         capture_output=True, text=True).stdout
    m = re.search(r"^\s*([\d,]+) .*\?\?\?:call \[", out, re.M)
    return int(m.group(1).replace(",", "")) if m else 0


def main():
    module = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                             os.path.join(ROOT, "target", "release", "libhanoi.so"))
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    d = tempfile.mkdtemp(prefix="hanoi-cg-")
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/cg.out",
         os.environ.get("HANOI_SERVER", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", d, "--save", "", "--appendonly", "no", "--loadmodule", module],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = ["redis-cli", "-p", str(port)]
    try:
        for _ in range(600):
            if subprocess.run([*cli, "PING"], capture_output=True, text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.1)
        setup = [["HANOI.DEFINE", "read:flag", "PERCENTAGE", "50"], ["SET", "read:str", "on"],
                 ["HANOI.DEFINE", "read:variants", "PERCENTAGE", "50", "VARIANTS", "2", "a", "b"]]
        setup += [["HANOI.DEFINE", f, "PERCENTAGE", "50"] for f in FLAGS]
        setup += [["SET", k, "on"] for k in STRINGS]
        for c in setup:
            subprocess.run([*cli, *c], check=True, capture_output=True)
        print(f"{module}: server instructions per command ({n} commands each, -P 32, -c 1)")
        print("| command | instructions in all | inside call() |")
        print("| --- | --- | --- |")
        per = {}
        for name, args in COMMANDS:
            subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
            before = set(glob.glob(f"{d}/cg.out*"))
            subprocess.run(["redis-benchmark", "-p", str(port), "-P", "32", "-c", "1", "-n", str(n),
                            "-r", "2000000", "-q", *args], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
            new = sorted(set(glob.glob(f"{d}/cg.out*")) - before, key=os.path.getmtime)
            with open(new[-1]) as f:
                total = int(re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M).group(1))
            per[name] = total / n
            per[name + " call"] = in_call(new[-1]) / n
            print(f"| {name} | {per[name]:.0f} | {per[name + ' call']:.0f} |", flush=True)
        for x in ["", " call"]:
            print(f"HANOI.ENABLED / GET{x}: {per['HANOI.ENABLED' + x] / per['GET' + x]:.2f}; "
                  f"HANOI.MENABLED x50 / MGET x50{x}: "
                  f"{per['HANOI.MENABLED x50' + x] / per['MGET x50' + x]:.2f} (instructions, not time)")
    finally:
        server.terminate()
        server.wait()
        if "--keep" in sys.argv:
            print("profiles kept in", d)
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
