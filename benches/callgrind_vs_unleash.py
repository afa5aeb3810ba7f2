#!/usr/bin/env python3
"""Instructions per evaluation, hanoi and yggdrasil, per case of vs_unleash (callgrind).

Repeatable whatever the machine's load, unlike times: for comparing builds.
Usage: python3 benches/callgrind_vs_unleash.py <vs_unleash bench binary> [evaluations]
(the binary: `cargo bench --manifest-path benches/vs-unleash/Cargo.toml --bench vs_unleash --no-run` prints its path).
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

CASES = ["1 rollout 50%", "2 list 1k", "2 list 100k", "3 list or 50% or ends with 01",
         "4 variant 50-50", "5 rule 2 conditions + 50%"]


def main():
    binary = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--collect-atstart=no",
             "--toggle-collect=vs_unleash::callgrind_loop", "--dump-after=vs_unleash::callgrind_loop",
             f"--callgrind-out-file={d}/cg.out", binary],
            env={**os.environ, "VS_UNLEASH_CALLGRIND": str(n)}, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        parts = sorted(glob.glob(f"{d}/cg.out.*"), key=lambda p: int(p.rsplit(".", 1)[1]))
        costs = []
        for p in parts:
            with open(p) as f:
                m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
            costs.append(int(m.group(1)) if m else 0)
    costs = [c for c in costs if c > 0]
    print(f"{binary}: instructions per evaluation ({n} evaluations per loop)")
    print("| case | hanoi | yggdrasil | hanoi / yggdrasil |")
    print("| --- | --- | --- | --- |")
    for i, case in enumerate(CASES):
        h, y = costs[2 * i] / n, costs[2 * i + 1] / n
        print(f"| {case} | {h:.0f} | {y:.0f} | {h / y:.2f} |")


if __name__ == "__main__":
    main()
