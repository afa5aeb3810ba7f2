#!/usr/bin/env python3
"""Prints hanoi ÷ yggdrasil per case of benches/vs-unleash/benches/vs_unleash.rs (issue 14).

Reads criterion's estimates of the last run (target/criterion/*/{hanoi,yggdrasil}/new)
and prints, for each group `vs_unleash/<case>`, both medians and their ratio against
the goal (hanoi at most 0.5 x yggdrasil's time). Standard library only.

Usage: python3 benches/unleash_ratios.py [target dir]   (after
`cargo bench --manifest-path benches/vs-unleash/Cargo.toml --bench vs_unleash`; make bench runs both)
"""
import glob
import json
import os
import sys

GOAL = 0.5


def median_ns(d):
    with open(os.path.join(d, "estimates.json")) as f:
        return json.load(f)["median"]["point_estimate"]


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "target")
    groups = {}
    for bench in glob.glob(os.path.join(target, "criterion", "*", "*", "new", "benchmark.json")):
        with open(bench) as f:
            meta = json.load(f)
        group = meta.get("group_id", "")
        if not group.startswith("vs_unleash/"):
            continue
        groups.setdefault(group, {})[meta.get("function_id")] = median_ns(os.path.dirname(bench))
    if not groups:
        sys.exit("no vs_unleash results: run `cargo bench --manifest-path benches/vs-unleash/Cargo.toml --bench vs_unleash` first")
    print("| case | hanoi (ns) | yggdrasil (ns) | hanoi / yggdrasil | goal | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    unmet = 0
    for group in sorted(groups):
        g = groups[group]
        if "hanoi" not in g or "yggdrasil" not in g:
            continue
        ratio = g["hanoi"] / g["yggdrasil"]
        met = ratio <= GOAL
        unmet += not met
        print(f"| {group[len('vs_unleash/'):]} | {g['hanoi']:.1f} | {g['yggdrasil']:.1f} | "
              f"{ratio:.2f} | <= {GOAL} | {'yes' if met else 'NO'} |")
    print(f"({unmet} case(s) over the goal)" if unmet else "(every case within the goal)")


if __name__ == "__main__":
    main()
