"""The Python client against hanoi 0.0.4, same machine, same run: checks per
second of `Rollout.is_enabled` (a string id, a 50 % flag with 1,000
registered users and a regex) through

  - hanoi_redis.RedisModuleBackEnd (one HANOI.ENABLED) vs hanoi 0.0.4's
    RedisHighPerfBackEnd (a GET, then a SISMEMBER) on the same server;
  - hanoi_redis.MemoryBackEnd (hanoi-core through PyO3) vs hanoi 0.0.4's
    MemoryBackEnd (pure Python).

Medians of alternated rounds. Run by `make bench`; prints ratios, asserts nothing.
"""
import re
import statistics
import sys
import time

import hanoi
import hanoi_redis
import harness

ROUNDS, CHECKS = 5, 5000
IDS = [str(100000 + i * 7919) for i in range(CHECKS)]


def setup(rollout):
    rollout.add_func("cdc_on", percentage=50)
    for i in range(1000):
        rollout.register("cdc_on", str(100000 + i * 7919 * 2))
    rollout.register("cdc_on", re.compile(r"01$"))
    return rollout


def rate(rollout):
    t = time.perf_counter()
    for id_ in IDS:
        rollout.is_enabled("cdc_on", id_)
    return CHECKS / (time.perf_counter() - t)


def compare(label, ours, theirs):
    a, b = [], []
    for _ in range(ROUNDS):
        a.append(rate(ours))
        b.append(rate(theirs))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"  {label}: hanoi_redis {ma:,.0f}/s, hanoi 0.0.4 {mb:,.0f}/s: {ma / mb:.2f}x")


def main():
    server = harness.Server()
    try:
        ours = setup(hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(server.client())))
        theirs = setup(hanoi.Rollout(hanoi.RedisHighPerfBackEnd(server.client())))
        # The same answers are not expected: hanoi 0.0.4 tests `>=` and keeps
        # regexes in its process. Both sides do the same amount of work.
        print(f"python client: is_enabled checks per second (Redis {server.version}, "
              f"{CHECKS} ids x {ROUNDS} rounds, medians)")
        compare("Redis backend (1 round trip vs 2)", ours, theirs)
        compare("memory backend (hanoi-core vs Python)",
                setup(hanoi_redis.Rollout(hanoi_redis.MemoryBackEnd())),
                setup(hanoi.Rollout(hanoi.MemoryBackEnd())))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
