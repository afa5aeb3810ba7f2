"""MirrorBackEnd: the flags mirrored in process answer as the module does.

A differential test: random writes on Redis (hanoi writes, DEL, RENAME, COPY,
another type under the prefix, FLUSHDB), and after each one has settled
(`sync()`) a mirror and the module answer the same random queries (ids,
attributes, values) the same. Also through a Redis restart (with writes the
mirror cannot see while it is away), and on a three-primary cluster.
"""

import contextlib
import os
import random
import shutil
import subprocess
import tempfile
import time

import hanoi_redis
import pytest
import redis
from conftest import MODULE, _free_port, wait_until_ours
from hanoi_redis import Rollout
from hanoi_redis.openfeature import HanoiProvider
from test_cluster import cluster  # noqa: F401 (the fixture)

PREFIX = "mf:"
NAMES = [f"f{i}" for i in range(8)] + ["{t}a", "{t}b"]
IDS = [str(i) for i in range(40)] + ["", "x\u00e9", "10001"]
ATTRS = [{}, {"country": "DE"}, {"country": "FR", "plan": "pro"}, {"plan": "team", "age": "30"}]


def random_write(rng, r, prefix=PREFIX, in_cluster=False, unseen=False):
    """One random write (a refused one is fine: it changes nothing).
    `unseen`: one the mirror cannot see (before it starts, while it is
    away), so no key of another type is created: the mirror learns of those
    only from a write it sees (README: the mirror's limits)."""
    k = prefix + rng.choice(NAMES)
    ids = rng.sample(IDS[:40], rng.randint(1, 6))
    choices = [
        lambda: (
            [
                "HANOI.DEFINE",
                k,
                rng.choice(["ENABLED", "DISABLED"]),
                "PERCENTAGE",
                rng.randint(0, 100),
            ]
            + rng.choice(
                [[], ["VARIANTS", 2, "a", "b"], ["VARIANTS", 2, "a", "b", "WEIGHTS", 1, 3]]
            )
            + rng.choice([[], ["SALT", "s1"]])
        ),
        lambda: [
            "HANOI.DEFINE",
            k,
            "PERCENTAGE",
            rng.randint(0, 100),
            "VARIANTS",
            3,
            "x",
            "y",
            "z",
            "VALUES",
            "1",
            "2",
            "3",
            "DEFAULT",
            "z",
        ],  # fmt: skip
        lambda: ["HANOI.REGISTER", k, "USER", *ids],
        lambda: ["HANOI.UNREGISTER", k, "USER", *ids],
        lambda: ["HANOI.REGISTER", k, "REGEX", rng.choice(["^1", "0$", "^x"])],
        lambda: ["HANOI.BLOCK", k, *ids],
        lambda: ["HANOI.UNBLOCK", k, *ids],
        lambda: [rng.choice(["HANOI.ENABLE", "HANOI.DISABLE", "HANOI.TOGGLE"]), k],
        lambda: ["HANOI.PERCENTAGE", k, rng.randint(0, 100)],
        lambda: [
            "HANOI.RULE",
            k,
            "SET",
            "r1",
            "ROLLOUT",
            rng.randint(0, 100),
            "IF",
            "country",
            "EQ",
            "DE",
            "AND",
            "plan",
            "IN",
            2,
            "pro",
            "team",
        ],  # fmt: skip
        lambda: ["HANOI.RULE", k, "SET", "r2", "IF", "age", "GE", rng.randint(18, 40)],
        lambda: ["HANOI.RULE", k, "DEL", "r1"],
        lambda: ["HANOI.META", k, "SET", "owner", rng.choice(["ana", "bo"])],
        lambda: ["DEL", k],
        # Segments and prerequisites: references between mirrored keys.
        lambda: ["HANOI.DEFINE", k, "SEGMENT"],
        lambda: [
            "HANOI.RULE",
            k,
            "SET",
            "rs",
            "IF",
            "segment",
            "IN",
            1,
            prefix + rng.choice(NAMES),
        ],
        lambda: ["HANOI.RULE", k, "SET", "rn", "IF", "segment", "NE", prefix + rng.choice(NAMES)],
        lambda: ["HANOI.PREREQ", k, "SET", prefix + rng.choice(NAMES)],
        lambda: ["HANOI.PREREQ", k, "SET", prefix + rng.choice(NAMES), "VARIANT", "a"],
        lambda: ["HANOI.PREREQ", k, "DEL", prefix + rng.choice(NAMES)],
    ]
    if not in_cluster:
        choices += [
            lambda: ["RENAME", k, prefix + rng.choice(NAMES)],
            lambda: ["COPY", k, prefix + rng.choice(NAMES), "REPLACE"],
            lambda: ["SET", k, "not a flag"] if not unseen else ["DEL", k],
            lambda: ["HANOI.DEFINE", "elsewhere:" + rng.choice(NAMES)],
        ]
    cmd = rng.choice(choices)()
    if unseen and cmd[0] in ("RENAME", "COPY") and r.type(k) != b"hanoiflag":
        cmd = ["DEL", k]  # a key of another type under a name the mirror never saw
    try:
        r.execute_command(*cmd)
    except redis.ResponseError:
        pass
    return cmd


def answers(rollout, rng, n=25):
    """Random queries, the same for both sides (seeded alike)."""
    out = []
    for _ in range(n):
        name = rng.choice(NAMES + ["missing"])
        id_ = rng.choice(IDS)
        attrs = rng.choice(ATTRS)
        one = []
        for call, args in (
            (rollout.is_enabled, (name, id_, attrs)),
            (rollout.variant, (name, id_, attrs)),
            (rollout.value, (name, id_, attrs)),
            (rollout.value, (name,)),
            (rollout.is_enabled, (name,)),
            (rollout.explain, (name, id_, attrs)),
            (rollout.enabled_many, (["{t}a", "{t}b"], id_, attrs)),
            (rollout.backend.describe, (name,)),
        ):
            try:
                one.append(call(*args))
            except Exception as e:  # the same refusal on both sides
                one.append((type(e).__name__, str(e)))
        out.append((name, id_, attrs, one))
    return out


def compare(module, mirror, seed, what=""):
    assert mirror.backend.sync(), f"mirror not in step {what}"
    want = answers(module, random.Random(seed))
    got = answers(mirror, random.Random(seed))
    for w, g in zip(want, got):
        assert g == w, what


def differential(r, client, writes, seed, in_cluster=False):
    module = Rollout(hanoi_redis.RedisModuleBackEnd(client, prefix=PREFIX))
    rng = random.Random(seed)
    for _ in range(10):
        random_write(rng, r, in_cluster=in_cluster, unseen=True)
    with hanoi_redis.MirrorBackEnd(client, prefix=PREFIX) as m:
        mirror = Rollout(m)
        compare(module, mirror, seed, "at start")
        for i in range(writes):
            cmd = random_write(rng, r, in_cluster=in_cluster)
            compare(module, mirror, seed * 1000 + i, f"after {cmd}")
        assert sorted(m.names()) == sorted(module.backend.names())
        assert not m.stale


def test_mirror_answers_as_the_module_after_every_write(r):
    differential(r, r, 150, seed=7)


def test_a_change_to_a_segment_reaches_every_flag_that_uses_it(r):
    module = Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix=PREFIX))
    module.define_segment("beta")
    module.register("beta", "anna")
    module.define("payments", 100)
    for flag in ("checkout", "search"):
        module.define(flag, 0)
        module.set_targeting_rule(flag, "betas", [("segment", "IN", ["beta"])])
    module.define("banner", 100)
    module.set_prereq("banner", "checkout")  # uses beta through checkout
    module.set_prereq("checkout", "payments")
    with hanoi_redis.MirrorBackEnd(r, prefix=PREFIX) as m:
        changes = []
        m.add_change_listener(changes.append)
        mirror = Rollout(m)
        assert [mirror.is_enabled(f, "anna") for f in ("checkout", "search", "banner")] == [
            True,
            True,
            True,
        ]
        assert not mirror.is_enabled("checkout", "zed")
        # A member added in Redis: every flag using the segment, at once.
        module.register("beta", "zed")
        assert m.sync()
        assert mirror.enabled_many(["checkout", "search", "banner"], "zed") == {
            "checkout": True,
            "search": True,
            "banner": True,
        }
        assert ["banner", "beta", "checkout", "search"] in changes
        # A prerequisite switched off in Redis.
        module.disable("payments")
        assert m.sync()
        e = mirror.explain("checkout", "zed")
        assert (e.enabled, e.reason, e.detail) == (False, "prerequisite", "payments")
        assert mirror.explain("banner", "zed").detail == "checkout"
        assert mirror.is_enabled("search", "zed")
        module.enable("payments")
        # The segment deleted: its conditions are false, the missing one named.
        module.delete("beta")
        assert m.sync()
        e = mirror.explain("search", "anna")
        assert (e.enabled, e.reason, e.missing) == (False, "outside", "beta")
        assert mirror.explain("checkout", "anna") == module.explain("checkout", "anna")
        assert m.describe("banner").prerequisites == [("checkout", None)]


def test_a_flushdb_empties_the_mirror_and_new_flags_appear(r):
    rollout = Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix=PREFIX))
    rollout.add_func("a", percentage=100)
    with hanoi_redis.MirrorBackEnd(r, prefix=PREFIX) as m:
        assert m.names() == ["a"]
        r.flushdb()
        assert m.sync() and m.names() == []
        rollout.add_func("b", percentage=100)
        r.execute_command("HANOI.DEFINE", "other:c")  # outside the prefix
        assert m.sync() and m.names() == ["b"]
        assert Rollout(m).is_enabled("b", "1")


def test_writes_through_the_mirror_go_to_redis(r):
    with hanoi_redis.MirrorBackEnd(r, prefix=PREFIX) as m:
        rollout = Rollout(m)
        rollout.add_func("w", "id", percentage=0, variants=("p", "q"))
        rollout.register("w", "42")
        assert r.exists(PREFIX + "w")
        assert m.sync()
        assert rollout.is_enabled("w", "42") and not rollout.is_enabled("w", "41")
        assert rollout.variant("w", "42") in ("p", "q")
        assert rollout.backend.get_functionality("w").field == "id"


def test_counts_go_to_hanoi_stats(r):
    r.execute_command("HANOI.DEFINE", PREFIX + "s", "PERCENTAGE", 100, "VARIANTS", 2, "a", "b")
    with hanoi_redis.MirrorBackEnd(r, prefix=PREFIX, report_interval=3600) as m:
        rollout = Rollout(m)
        for i in range(20):
            rollout.is_enabled("s", str(i))
            rollout.variant("s", str(i))
        rollout.enabled_many(["s"], "1")
        assert m.report()
        stats = r.execute_command("HANOI.STATS", PREFIX + "s")
        assert stats[b"evaluations"] == 41 and stats[b"enabled"] == 41
        assert sum(stats[b"variants"].values()) == 20
        assert stats[b"last_evaluated"] is not None
        # Nothing new: nothing sent, nothing counted twice.
        assert m.report()
        assert r.execute_command("HANOI.STATS", PREFIX + "s")[b"evaluations"] == 41
        # A reload of the flag (a write) keeps the counts not yet sent.
        rollout.is_enabled("s", "1")
        r.execute_command("HANOI.PERCENTAGE", PREFIX + "s", 50)
        assert m.sync()
        rollout.is_enabled("s", "1")
    # close() sends what is left.
    assert r.execute_command("HANOI.STATS", PREFIX + "s")[b"evaluations"] == 43


def test_a_mirrored_flag_with_100k_ids_costs_what_it_costs_in_redis(r):
    ids = [f"user-{i:06d}" for i in range(100_000)]
    r.execute_command("HANOI.DEFINE", PREFIX + "big")
    for i in range(0, len(ids), 5_000):
        r.execute_command("HANOI.REGISTER", PREFIX + "big", "USER", *ids[i : i + 5_000])
    with hanoi_redis.MirrorBackEnd(r, prefix=PREFIX) as m:
        in_redis = r.memory_usage(PREFIX + "big")
        in_mirror = m.mirror.engine.heap_size(b"big")
        assert in_mirror is not None and in_mirror <= 1.5 * in_redis, (in_mirror, in_redis)
        assert Rollout(m).is_enabled("big", "user-099999")


class Restartable:
    """A redis-server with the module and an AOF (fsync always) on a fixed
    port: killed and started again with its data."""

    def __init__(self):
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="hanoi-py-mirror-")
        self.proc = None
        self.start()

    def start(self, offline=False):
        """Started on its port; `offline`: on a Unix socket only, out of the
        mirror's reach (writes it cannot see, made while it is away)."""
        binary = os.environ.get("HANOI_SERVER") or shutil.which("redis-server")
        where = ["--port", str(self.port), "--bind", "127.0.0.1"]
        if offline:
            where = ["--port", "0", "--unixsocket", self.unix_socket()]
        self.proc = subprocess.Popen(
            [binary, *where, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--dir", self.dir, "--loadmodule", str(MODULE)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        wait_until_ours(self.proc, self.client(offline))

    def unix_socket(self):
        return os.path.join(self.dir, "redis.sock")

    def client(self, offline=False):
        if offline:
            return redis.Redis(unix_socket_path=self.unix_socket())
        return redis.Redis(port=self.port)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(what, ok, within=30.0):
    deadline = time.monotonic() + within
    while not ok():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.02)


def test_a_restart_in_the_middle(request):
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEvent

    s = Restartable()
    request.addfinalizer(s.close)
    r = redis.Redis(port=s.port)
    module = Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix=PREFIX))
    rng = random.Random(11)
    r.execute_command("HANOI.DEFINE", PREFIX + "f0", "PERCENTAGE", 100)
    r.execute_command("HANOI.DEFINE", PREFIX + "f1", "PERCENTAGE", 0)
    m = hanoi_redis.MirrorBackEnd(redis.Redis(port=s.port), prefix=PREFIX, max_backoff=0.2)
    request.addfinalizer(m.close)
    mirror = Rollout(m)
    events = []
    provider = HanoiProvider(m)
    handlers = {
        ev: (lambda d, ev=ev: events.append(ev))
        for ev in (ProviderEvent.PROVIDER_STALE, ProviderEvent.PROVIDER_READY)
    }
    for ev, h in handlers.items():
        api.add_handler(ev, h)
    api.set_provider_and_wait(provider)
    try:
        for i in range(40):
            random_write(rng, r)
            compare(module, mirror, 100 + i)
        r.execute_command("HANOI.DEFINE", PREFIX + "doomed", "PERCENTAGE", 100)
        r.execute_command("HANOI.DEFINE", PREFIX + "later", "PERCENTAGE", 0)
        r.execute_command("HANOI.DEFINE", PREFIX + "replaced", "PERCENTAGE", 100)
        compare(module, mirror, 200)
        before = answers(mirror, random.Random(300))

        s.kill()
        wait_for("stale", lambda: m.stale)
        wait_for("PROVIDER_STALE", lambda: ProviderEvent.PROVIDER_STALE in events)
        assert answers(mirror, random.Random(300)) == before, "the last state, while away"

        # Back, out of the mirror's reach (a Unix socket only): one flag
        # deleted, one changed, random writes; none of it is ever pushed to
        # the mirror, only its resync can catch it.
        s.start(offline=True)
        u = s.client(offline=True)
        for _ in range(20):
            random_write(rng, u, unseen=True)
        u.set(PREFIX + "replaced", "a flag replaced by a string while the mirror is away")
        u.delete(PREFIX + "doomed")
        u.execute_command("HANOI.PERCENTAGE", PREFIX + "later", 100)
        s.kill()
        assert m.stale and mirror.is_enabled("doomed", "1") and not mirror.is_enabled("later", "1")

        s.start()
        r = s.client()
        module = Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix=PREFIX))
        wait_for("in step again", lambda: not m.stale and m.sync())
        wait_for("PROVIDER_READY", lambda: events[-1] == ProviderEvent.PROVIDER_READY)
        assert api.get_client().get_boolean_value("later", False, EvaluationContext("1")) is True
        assert not mirror.is_enabled("doomed", "1") and "doomed" not in m.names()
        assert mirror.is_enabled("later", "1")
        with pytest.raises(hanoi_redis.HanoiError, match="WRONGTYPE"):
            mirror.is_enabled("replaced", "1")
        compare(module, mirror, 400)
        for i in range(40):
            random_write(rng, r)
            compare(module, mirror, 500 + i)
    finally:
        api.clear_providers()
        for ev, h in handlers.items():
            with contextlib.suppress(ValueError):  # clear_providers may have
                api.remove_handler(ev, h)


def test_an_unreachable_redis_at_start_raises():
    with pytest.raises(redis.ConnectionError):
        hanoi_redis.MirrorBackEnd(redis.Redis(port=_free_port()), prefix=PREFIX)


def test_a_three_primary_cluster(cluster):  # noqa: F811 (the fixture)
    client = redis.RedisCluster(host="127.0.0.1", port=cluster[0])
    for n in NAMES:
        client.delete(PREFIX + n)
    with hanoi_redis.MirrorBackEnd(client, prefix=PREFIX) as m:
        assert len(m.mirror.links) == 3
    differential(client, client, 60, seed=3, in_cluster=True)
    assert len({client.keyslot(PREFIX + n) % 3 for n in NAMES}) > 1
    client.close()


async def test_the_asyncio_mirror(r, server):
    import redis.asyncio
    from hanoi_redis.asyncio import AsyncRollout, MirrorBackEnd

    client = redis.asyncio.Redis(port=server)
    backend = MirrorBackEnd(client, prefix=PREFIX)
    try:
        rollout = AsyncRollout(backend)
        module = Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix=PREFIX))
        await rollout.add_func("a", "id", percentage=50, variants=("p", "q"))
        await rollout.register("a", "7")
        assert await backend.sync() and not backend.stale
        for i in range(50):
            id_ = str(i)
            assert await rollout.is_enabled("a", id_) == module.is_enabled("a", id_)
            assert await rollout.variant("a", id_) == module.variant("a", id_)
            assert await rollout.explain("a", id_) == module.explain("a", id_)
        assert await rollout.names() == ["a"]
    finally:
        backend.close()
        await client.aclose()


class TlsServer(Restartable):
    """A server of its own reached over TLS only (a self-signed certificate
    made with openssl, for 127.0.0.1), killed and started again on its port."""

    def __init__(self):
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="hanoi-tls-")
        self.proc = None
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", self.key, "-out", self.cert],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def start(self, offline=False):
        binary = os.environ.get("HANOI_SERVER") or shutil.which("redis-server")
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--tls-cert-file", self.cert, "--tls-key-file", self.key,
             "--tls-ca-cert-file", self.cert, "--tls-auth-clients", "no",
             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--dir", self.dir, "--loadmodule", str(MODULE)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        c = self.client()
        for _ in range(400):
            if self.proc.poll() is not None:
                pytest.skip("this server has no TLS (--tls-port refused)")
            try:
                c.ping()
                return
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.025)
        raise RuntimeError("redis-server did not start")

    def client(self, offline=False):
        return redis.Redis.from_url(f"rediss://127.0.0.1:{self.port}", ssl_ca_certs=self.cert)


def test_a_mirror_over_tls(request):
    if not shutil.which("openssl"):
        pytest.skip("no openssl to make a certificate")
    s = TlsServer()
    request.addfinalizer(s.close)
    s.start()
    r = s.client()
    assert r.connection_pool.connection_class is redis.SSLConnection
    differential(r, r, 60, seed=5)

    # Keys of another type made before a mirror starts are not seen (README):
    # a mirror of its own from an empty database.
    r.flushall()
    m = hanoi_redis.MirrorBackEnd(s.client(), prefix=PREFIX, max_backoff=0.2)
    request.addfinalizer(m.close)
    r.execute_command("HANOI.DEFINE", PREFIX + "tls", "PERCENTAGE", 100)
    assert m.sync() and Rollout(m).is_enabled("tls", "1")
    s.kill()
    wait_for("stale", lambda: m.stale)
    assert Rollout(m).is_enabled("tls", "1"), "the last state, while away"
    s.start()
    r = s.client()
    r.execute_command("HANOI.PERCENTAGE", PREFIX + "tls", 0)
    wait_for("in step again", lambda: not m.stale and m.sync())
    assert not Rollout(m).is_enabled("tls", "1")
    compare(Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix=PREFIX)), Rollout(m), 77)
