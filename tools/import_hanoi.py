#!/usr/bin/env python3
"""Imports flags written by the Python library hanoi 0.0.4 into hanoi module flags.

hanoi 0.0.4 keeps, for a feature NAME (its real key layout, PREFIX "rollout:{0}"):

  RedisHighPerfBackEnd   rollout:NAME        "enabled|percentage|field|variants"
                         rollout:users:NAME  a SET of the registered ids
  RedisBackEnd           rollout:NAME        "enabled|percentage|field|users|variants"
                                             (users comma-separated in the string)

Each feature becomes one flag (key TARGET_PREFIX + NAME): HANOI.DEFINE with the same
switch, percentage and variants, then HANOI.REGISTER USER with every registered id.
Registered users keep their answers. Two things cannot come across:
  * hanoi kept regexes in the process (Rollout.register with a compiled regex), not in
    Redis: register them again with HANOI.REGISTER key REGEX;
  * hanoi 0.0.4's code turned a feature on when crc32(id) % 100 >= percentage (at 80 it
    enabled about 20 % of users, the opposite of its README). hanoi evaluates
    crc32(id) % 100 < percentage, so a feature keeps its percentage (80 % now means 80 %)
    but not the same unregistered users: the script warns for each such feature.

Usage: import_hanoi.py [--url redis://127.0.0.1:6379/0] [--target-prefix PREFIX] [--dry-run]
"""
import argparse
import sys

import redis

SOURCE_PREFIX = b"rollout:"
USERS_PREFIX = b"rollout:users:"
BATCH = 1000


def parse(value):
    """(enabled, percentage, users or None, variants) from a hanoi feature string."""
    parts = value.decode("utf-8").split("|")
    if len(parts) == 4:  # RedisHighPerfBackEnd
        enabled, percentage, _field, variants = parts
        users = None
    elif len(parts) == 5:  # RedisBackEnd
        enabled, percentage, _field, users, variants = parts
        users = [u for u in users.split(",") if u]
    else:
        raise ValueError(f"not a hanoi 0.0.4 feature: {value!r}")
    return enabled == "1", int(percentage), users, [v for v in variants.split(",") if v]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--target-prefix", default="")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    r = redis.Redis.from_url(args.url)
    imported = 0
    for key in r.scan_iter(match=SOURCE_PREFIX + b"*", count=1000):
        if key.startswith(USERS_PREFIX) or r.type(key) != b"string":
            continue
        name = key[len(SOURCE_PREFIX):]
        enabled, pct, users, variants = parse(r.get(key))
        if users is None:
            users = list(r.sscan_iter(USERS_PREFIX + name, count=1000))
        target = args.target_prefix.encode() + name
        define = ["HANOI.DEFINE", target, "ENABLED" if enabled else "DISABLED", "PERCENTAGE", pct]
        if variants:
            define += ["VARIANTS", len(variants), *variants]
        print(f"{name.decode()}: {'on' if enabled else 'off'}, {pct} %, {len(users)} users, "
              f"variants {variants or '-'} -> {target.decode()}")
        if 0 < pct < 100:
            print(f"  warning: hanoi 0.0.4 enabled buckets >= {pct} (about {100 - pct} % of users); "
                  f"this flag enables buckets < {pct} ({pct} %)", file=sys.stderr)
        if args.dry_run:
            continue
        r.execute_command(*define)
        for i in range(0, len(users), BATCH):
            r.execute_command("HANOI.REGISTER", target, "USER", *users[i:i + BATCH])
        imported += 1
    print(f"{imported} flags imported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
