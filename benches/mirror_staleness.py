"""The mirror's staleness bound and memory, measured (issue 23).

Staleness: a flag flipped 1,000 times (HANOI.PERCENTAGE 0 / 100, alternately)
by a writer on its own connection; for each write, the time from its
acknowledgement (execute_command returned) to the first moment a
MirrorBackEnd in the same process answers the new state. The reader polls
`Rollout.is_enabled` every 50 us (time.sleep releases the GIL, as a serving
application does between requests). Also the time to the mirror thread's
change listener (the flag re-read and loaded), which has no polling in it.

Memory: a flag with 100,000 registered ids: `MEMORY USAGE` in Redis against
what hanoi-core holds for it in the mirror (`Engine.heap_size`), and the
growth of this process's RSS when the mirror loads it.

Run by `make bench`; prints numbers, asserts only that answers agree.
"""

import statistics
import sys
import threading
import time

import hanoi_redis
import harness

WRITES = 1000
POLL = 0.00005


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def staleness(server):
    r = server.client()
    writer = server.client()
    r.execute_command("HANOI.DEFINE", "flags:flip", "PERCENTAGE", 0)
    seen = {}
    m = hanoi_redis.MirrorBackEnd(r, prefix="flags:")
    applied = threading.Event()
    m.add_change_listener(lambda names: (seen.__setitem__("t", time.perf_counter()), applied.set()))
    rollout = hanoi_redis.Rollout(m)
    answer, listener = [], []
    try:
        state = False
        for i in range(WRITES):
            state = not state
            applied.clear()
            writer.execute_command("HANOI.PERCENTAGE", "flags:flip", 100 if state else 0)
            t0 = time.perf_counter()
            deadline = t0 + 5
            while rollout.is_enabled("flip", "anyone") != state:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"write {i}: the mirror never answered the new state")
                time.sleep(POLL)
            t1 = time.perf_counter()
            applied.wait(5)
            answer.append((t1 - t0) * 1e3)
            listener.append(max(0.0, seen["t"] - t0) * 1e3)
        assert rollout.is_enabled("flip", "anyone") == bool(
            writer.execute_command("HANOI.ENABLED", "flags:flip", "anyone")
        )
    finally:
        m.close()
    return answer, listener


def memory(server):
    r = server.client()
    r.execute_command("HANOI.DEFINE", "big:ids")
    ids = [f"user-{i:06d}" for i in range(100_000)]
    for i in range(0, len(ids), 5000):
        r.execute_command("HANOI.REGISTER", "big:ids", "USER", *ids[i : i + 5000])
    in_redis = r.memory_usage("big:ids")
    before = rss_kib()
    m = hanoi_redis.MirrorBackEnd(r, prefix="big:")
    after = rss_kib()
    try:
        heap = m.mirror.engine.heap_size(b"ids")
        assert hanoi_redis.Rollout(m).is_enabled("ids", "user-012345")
    finally:
        m.close()
    return in_redis, heap, (after - before) * 1024


def main():
    server = harness.Server()
    try:
        answer, listener = staleness(server)
        print(
            f"mirror staleness (Redis {server.version}, loopback, {WRITES} writes, "
            "write acknowledged -> mirror answers the new state):"
        )
        for label, xs in (("answer (polled every 50 us)", answer), ("mirror thread loaded it", listener)):
            print(
                f"  {label}: p50 {pct(xs, 50):.3f} ms, p99 {pct(xs, 99):.3f} ms, "
                f"max {max(xs):.3f} ms, mean {statistics.mean(xs):.3f} ms"
            )
        in_redis, heap, rss = memory(server)
        print("mirror memory, a flag with 100,000 ids:")
        print(f"  MEMORY USAGE in Redis: {in_redis:,} B")
        print(f"  hanoi-core heap in the mirror: {heap:,} B ({heap / in_redis:.2f}x)")
        print(f"  this process's RSS growth on load: {rss:,} B ({rss / in_redis:.2f}x)")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
