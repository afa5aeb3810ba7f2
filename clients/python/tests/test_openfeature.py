"""HanoiProvider and AsyncHanoiProvider through the real openfeature-sdk client."""

import contextlib
import logging
import os
import signal
import threading
import time

import hanoi_redis
import pytest
import redis
import redis.asyncio
from conftest import Server, _free_port
from hanoi_redis.asyncio import AsyncRedisModuleBackEnd
from hanoi_redis.openfeature import AsyncHanoiProvider, HanoiProvider
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus
from redis.backoff import NoBackoff
from redis.retry import Retry

#: Every metadata field reaches flag_metadata, not only description, owner
#: and tags (issue 34): `jira` and `runbook` are fields of the team's own.
CDC_META = {
    "description": "change data capture",
    "owner": "data",
    "tags": "etl,beta",
    "jira": "DATA-12",
    "runbook": "https://wiki/cdc",
}


def define_flags(rollout):
    rollout.add_func("cdc_on", percentage=80, variants=("foo", "bar"))
    rollout.register("cdc_on", "447568110000")
    rollout.set_meta("cdc_on", **CDC_META)
    rollout.add_func("beta", percentage=50)
    rollout.set_targeting_rule("beta", "de", [("country", "EQ", "DE")])
    rollout.add_func("all", percentage=100)
    rollout.block("all", "blocked")
    rollout.add_func("off", percentage=100)
    rollout.disable("off")
    rollout.add_func("off_variants", percentage=100, variants=("a", "b"))
    rollout.disable("off_variants")


@pytest.fixture(params=["memory", "redis"])
def of(request):
    if request.param == "memory":
        backend = hanoi_redis.MemoryBackEnd()
    else:
        backend = hanoi_redis.RedisModuleBackEnd(request.getfixturevalue("r"))
    rollout = hanoi_redis.Rollout(backend)
    define_flags(rollout)
    api.set_provider_and_wait(HanoiProvider(backend))
    yield api.get_client(), rollout
    api.shutdown()


def ctx(key=None, **attrs):
    return EvaluationContext(key, attrs)


def test_boolean_reasons(of):
    client, _ = of
    d = client.get_boolean_details("beta", False, ctx("44488"))  # bucket 88 >= 50
    assert (d.value, d.reason, d.error_code) == (False, Reason.DEFAULT, None)
    d = client.get_boolean_details("beta", False, ctx("443301", country="DE"))
    assert (d.value, d.reason) == (True, Reason.TARGETING_MATCH)
    d = client.get_boolean_details("beta", False, ctx("2"))  # crc32("2") % 100 == 37
    assert (d.value, d.reason, d.variant) == (True, Reason.SPLIT, "on")
    d = client.get_boolean_details("all", False, ctx("1"))
    assert (d.value, d.reason) == (True, Reason.STATIC)
    d = client.get_boolean_details("all", True, ctx("blocked"))
    assert (d.value, d.reason) == (False, Reason.TARGETING_MATCH)
    d = client.get_boolean_details("off", True, ctx("1"))
    assert (d.value, d.reason) == (False, Reason.DISABLED)
    d = client.get_boolean_details("off", True, ctx())  # no id needed when switched off
    assert (d.value, d.reason, d.variant) == (False, Reason.DISABLED, "off")


def test_string_variants(of):
    client, _ = of
    d = client.get_string_details("cdc_on", "none", ctx("443301"))
    assert (d.value, d.variant, d.reason) == ("bar", "bar", Reason.SPLIT)
    d = client.get_string_details("cdc_on", "none", ctx("447568110000"))
    assert d.reason == Reason.TARGETING_MATCH and d.value in ("foo", "bar")
    d = client.get_string_details("cdc_on", "none", ctx("44488"))
    assert (d.value, d.variant, d.reason) == ("none", None, Reason.DEFAULT)
    d = client.get_string_details("off_variants", "none", ctx())  # switched off: no id needed
    assert (d.value, d.reason, d.error_code) == ("none", Reason.DISABLED, None)


def test_types_follow_the_flag_not_the_id(of):
    client, _ = of
    # beta has no variants: a boolean flag, off for 44488 and on for 2.
    for id_ in ("44488", "2"):
        d = client.get_string_details("beta", "x", ctx(id_))
        assert (d.value, d.error_code, d.reason) == ("x", ErrorCode.TYPE_MISMATCH, Reason.ERROR)
    # cdc_on has variants: a string flag, on for 443301 and off for 44488.
    for id_ in ("443301", "44488"):
        d = client.get_boolean_details("cdc_on", False, ctx(id_))
        assert (d.value, d.error_code) == (False, ErrorCode.TYPE_MISMATCH)
    # The type is checked before the id is needed.
    d = client.get_string_details("off", "x", ctx())
    assert (d.value, d.error_code) == ("x", ErrorCode.TYPE_MISMATCH)
    for flag in ("beta", "cdc_on"):
        assert client.get_integer_details(flag, 7, ctx("2")).error_code == ErrorCode.TYPE_MISMATCH
        assert client.get_float_details(flag, 0.5, ctx("2")).error_code == ErrorCode.TYPE_MISMATCH
        d = client.get_object_details(flag, {"a": 1}, ctx("2"))
        assert (d.value, d.error_code) == ({"a": 1}, ErrorCode.TYPE_MISMATCH)


def test_typed_values(of):
    client, rollout = of
    rollout.define("limit", 20, ["small", "big"], values=[10, 250], default="small")
    rollout.define("ratio", 20, ["low", "high"], values=[0.25, 2.5])
    rollout.define("layout", 100, ["a"], values=[{"columns": 2}])
    rollout.define("layout_off", 100, ["a", "b"], values=[[1], [2]], default="b", enabled=False)
    d = client.get_integer_details("limit", 0, ctx("443301"))  # bucket 5: on
    assert (d.value, d.variant, d.reason) == (250, "big", Reason.SPLIT)
    d = client.get_integer_details("limit", 0, ctx("44488"))  # off: the DEFAULT
    assert (d.value, d.variant, d.reason) == (10, "small", Reason.DEFAULT)
    d = client.get_float_details("limit", 0.0, ctx("443301"))  # a whole number is a float too
    assert (d.value, d.error_code) == (250.0, None)
    d = client.get_float_details("ratio", 0.0, ctx("443301"))
    assert (d.value, d.variant) == (2.5, "high")
    d = client.get_integer_details("ratio", 7, ctx("443301"))  # 2.5 is no integer
    assert (d.value, d.error_code) == (7, ErrorCode.TYPE_MISMATCH)
    d = client.get_float_details("ratio", 0.75, ctx("44488"))  # off, no DEFAULT: the code's
    assert (d.value, d.variant, d.reason) == (0.75, None, Reason.DEFAULT)
    d = client.get_object_details("layout", {}, ctx("x"))
    assert (d.value, d.reason, d.flag_metadata) == (
        {"columns": 2},
        Reason.STATIC,
        {"type": "object"},
    )
    d = client.get_object_details("layout_off", {}, ctx())  # switched off: the DEFAULT, no id
    assert (d.value, d.variant, d.reason) == ([2], "b", Reason.DISABLED)
    for flag, kind in (("limit", "string"), ("layout", "boolean"), ("cdc_on", "object")):
        get = getattr(client, f"get_{kind}_details")
        default = {"string": "x", "boolean": False, "object": {}}[kind]
        assert get(flag, default, ctx("443301")).error_code == ErrorCode.TYPE_MISMATCH, flag


def test_without_a_targeting_key(of):
    client, rollout = of
    # What does not depend on the id is answered without one.
    d = client.get_boolean_details("all", False, ctx())
    assert (d.value, d.reason, d.error_code) == (True, Reason.STATIC, None)
    rollout.add_func("kill", percentage=0)
    rollout.set_targeting_rule("kill", "de", [("country", "EQ", "DE")])
    d = client.get_boolean_details("kill", False, ctx(None, country="DE"))
    assert (d.value, d.reason) == (True, Reason.TARGETING_MATCH)
    d = client.get_boolean_details("kill", True, ctx("", country="US"))  # empty: no key
    assert (d.value, d.reason) == (False, Reason.DEFAULT)
    # What does: TARGETING_KEY_MISSING.
    d = client.get_boolean_details("beta", False, ctx(None, country="FR"))  # 50 %
    assert (d.value, d.error_code) == (False, ErrorCode.TARGETING_KEY_MISSING)
    d = client.get_string_details("cdc_on", "none", ctx())  # a pick among variants
    assert (d.value, d.error_code) == ("none", ErrorCode.TARGETING_KEY_MISSING)


def test_flag_metadata(of):
    client, _ = of
    d = client.get_string_details("cdc_on", "none", ctx("443301"))
    assert d.flag_metadata == {**CDC_META, "type": "string"}
    d = client.get_boolean_details("beta", False, ctx("2"))
    assert d.flag_metadata == {"type": "boolean"}
    d = client.get_boolean_details("off", False, ctx())
    assert d.flag_metadata == {"type": "boolean"}
    d = client.get_boolean_details("cdc_on", False, ctx("443301"))  # a mismatch tells the type
    assert (d.error_code, d.flag_metadata) == (
        ErrorCode.TYPE_MISMATCH,
        {**CDC_META, "type": "string"},
    )


def test_errors(of):
    client, _ = of
    d = client.get_boolean_details("missing", True, ctx("1"))
    assert (d.value, d.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    for get, default in (
        (client.get_string_details, "x"),
        (client.get_integer_details, 1),
        (client.get_float_details, 1.5),
        (client.get_object_details, [1]),
    ):
        d = get("missing", default, ctx("1"))
        assert (d.value, d.error_code) == (default, ErrorCode.FLAG_NOT_FOUND)
    assert client.get_boolean_details("missing", True, ctx()).error_code == ErrorCode.FLAG_NOT_FOUND
    # Switched on: an id is needed, and an empty one is none (as hanoi-web's OFREP).
    for no_id in (ctx(), ctx("")):
        d = client.get_boolean_details("beta", True, no_id)
        assert (d.value, d.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)
        d = client.get_string_details("cdc_on", "x", no_id)
        assert (d.value, d.error_code) == ("x", ErrorCode.TARGETING_KEY_MISSING)
    d = client.get_boolean_details("off", True, ctx(""))
    assert (d.value, d.reason) == (False, Reason.DISABLED)
    d = client.get_boolean_details("beta", True, ctx("2", tags=["a", "b"]))
    assert (d.value, d.error_code) == (True, ErrorCode.INVALID_CONTEXT)


def test_a_key_that_is_not_a_flag_is_not_found(r, server):
    r.set("plain", "x")
    api.set_provider_and_wait(HanoiProvider(hanoi_redis.RedisModuleBackEnd(r)))
    client = api.get_client()
    try:
        for c in (ctx("1"), ctx()):
            d = client.get_boolean_details("plain", True, c)
            assert (d.value, d.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
            assert "not a flag" in d.error_message
            d = client.get_string_details("plain", "x", c)
            assert (d.value, d.error_code) == ("x", ErrorCode.FLAG_NOT_FOUND)
    finally:
        api.shutdown()


def test_a_redefinition_shows_in_the_answer_despite_the_cache(r):
    backend = hanoi_redis.RedisModuleBackEnd(r)
    rollout = hanoi_redis.Rollout(backend)
    rollout.add_func("f", percentage=100)
    api.set_provider_and_wait(HanoiProvider(backend, cache_seconds=3600))
    client = api.get_client()
    try:
        assert client.get_boolean_value("f", False, ctx("1")) is True  # described: boolean
        rollout.add_func("f", percentage=100, variants=("a", "b"))
        d = client.get_boolean_details("f", False, ctx("1"))  # the answer has a variant
        assert (d.value, d.error_code) == (False, ErrorCode.TYPE_MISMATCH)
        d = client.get_string_details("f", "x", ctx("1"))  # described again
        assert (d.value, d.reason, d.flag_metadata["type"]) == ("b", Reason.STATIC, "string")
        rollout.delete("f")
        assert client.get_string_details("f", "x", ctx("1")).error_code == ErrorCode.FLAG_NOT_FOUND
    finally:
        api.shutdown()


# ----- lifecycle and events -----


class Seen:
    """The provider events a user's handlers see (api.add_handler), in order."""

    EVENTS = (
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_STALE,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    )

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()
        self.handlers = {e: self._handler(e) for e in self.EVENTS}

    def _handler(self, event):
        def on(details):
            with self.cond:
                self.events.append((event, details))
                self.cond.notify_all()

        return on

    def add(self):
        for e, h in self.handlers.items():
            api.add_handler(e, h)

    def kinds(self):
        with self.cond:
            return [e for e, _ in self.events]

    def wait(self, pred, what):
        """Until pred(events) holds (a bound only against hanging)."""
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.events), timeout=30), (what, self.events)

    def wait_count(self, event, n):
        self.wait(lambda evs: sum(e == event for e, _ in evs) >= n, f"{n} x {event}")

    def wait_changed(self, name):
        self.wait(
            lambda evs: any(
                e == ProviderEvent.PROVIDER_CONFIGURATION_CHANGED and d.flags_changed == [name]
                for e, d in evs
            ),
            f"change of {name}",
        )


def listener_threads():
    return [t for t in threading.enumerate() if t.name == "hanoi-openfeature" and t.is_alive()]


def test_configuration_changed_events(own_server):
    r = redis.Redis(port=own_server.port)
    backend = hanoi_redis.RedisModuleBackEnd(r)
    hanoi_redis.Rollout(backend).add_func("watched", percentage=10)
    seen = Seen()
    api.set_provider_and_wait(HanoiProvider(backend, events=True))
    seen.add()
    try:
        r.execute_command("HANOI.TOGGLE", "watched")  # subscribed once initialized
        seen.wait_changed("watched")
        r.delete("watched")
        seen.wait(lambda evs: any(d.message == "del" for _, d in evs), "the deletion")
        deleted = [d for _, d in seen.events if d.message == "del"]
        assert deleted[0].flags_changed == ["watched"]
    finally:
        api.shutdown()
        r.close()


def test_events_survive_a_redis_restart(own_server):
    r = redis.Redis(port=own_server.port)
    backend = hanoi_redis.RedisModuleBackEnd(r)
    rollout = hanoi_redis.Rollout(backend)
    rollout.add_func("watched", percentage=100)
    seen = Seen()
    api.set_provider_and_wait(HanoiProvider(backend, events=True, max_backoff=0.5))
    client = api.get_client()
    seen.add()  # READY at once: the provider is ready
    try:
        seen.wait_count(ProviderEvent.PROVIDER_READY, 1)
        own_server.kill()
        seen.wait_count(ProviderEvent.PROVIDER_ERROR, 1)
        assert client.get_provider_status() == ProviderStatus.ERROR
        d = client.get_boolean_details("watched", False, ctx("1"))
        assert (d.value, d.error_code) == (False, ErrorCode.GENERAL)

        own_server.start()  # empty: nothing is saved
        seen.wait_count(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, 1)
        seen.wait_count(ProviderEvent.PROVIDER_READY, 2)
        kinds = seen.kinds()
        assert kinds[:2] == [ProviderEvent.PROVIDER_READY, ProviderEvent.PROVIDER_ERROR]
        # The SDK runs handlers on a thread pool: these two may arrive either way round.
        assert sorted(kinds[2:], key=str) == [
            ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
            ProviderEvent.PROVIDER_READY,
        ]
        changed = [d for e, d in seen.events if e == ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]
        assert changed[0].flags_changed is None  # any flag may have changed
        assert client.get_provider_status() == ProviderStatus.READY

        # Evaluations and change events work again.
        assert client.get_boolean_details("watched", False, ctx("1")).error_code == (
            ErrorCode.FLAG_NOT_FOUND
        )
        rollout.add_func("watched", percentage=100)
        seen.wait_changed("watched")
        assert client.get_boolean_value("watched", False, ctx("1")) is True
        assert len(listener_threads()) == 1
    finally:
        api.shutdown()
        r.close()
    assert listener_threads() == []


def test_shutdown_stops_the_listener_and_registering_again_works(own_server):
    r = redis.Redis(port=own_server.port)
    backend = hanoi_redis.RedisModuleBackEnd(r)
    rollout = hanoi_redis.Rollout(backend)
    rollout.add_func("watched", percentage=10)
    provider = HanoiProvider(backend, events=True)
    try:
        for _ in range(2):
            api.set_provider_and_wait(provider)
            assert len(listener_threads()) == 1
            seen = Seen()
            seen.add()
            rollout.toggle("watched")
            seen.wait_changed("watched")
            api.shutdown()
            assert listener_threads() == []
    finally:
        api.shutdown()
        r.close()


def test_initialize_raises_when_redis_is_unreachable():
    # Nothing listens there; no retries (redis-py's default retries for seconds).
    dead = redis.Redis(port=_free_port(), retry=Retry(NoBackoff(), 0))
    provider = HanoiProvider(hanoi_redis.RedisModuleBackEnd(dead), events=True)
    seen = Seen()
    seen.add()
    try:
        with pytest.raises(redis.ConnectionError):
            api.set_provider_and_wait(provider)
        client = api.get_client()
        assert client.get_provider_status() == ProviderStatus.ERROR
        d = client.get_boolean_details("cdc_on", True, ctx("1"))
        assert (d.value, d.error_code) == (True, ErrorCode.GENERAL)
        assert "ConnectionError" in d.error_message
        assert listener_threads() == []
        # Registered without waiting, a handler sees the error.
        api.set_provider(HanoiProvider(hanoi_redis.RedisModuleBackEnd(dead)))
        seen.wait_count(ProviderEvent.PROVIDER_ERROR, 2)
    finally:
        api.shutdown()


def test_keyspace_events_off_is_a_warning(caplog):
    s = Server(notify="")
    s.start()
    try:
        with caplog.at_level(logging.WARNING, logger="hanoi_redis.openfeature"):
            api.set_provider_and_wait(HanoiProvider(redis.Redis(port=s.port), events=True))
        assert "notify-keyspace-events" in caplog.text
        assert api.get_client().get_provider_status() == ProviderStatus.READY
    finally:
        api.shutdown()
        s.close()


# ----- the async provider -----


@pytest.fixture
async def aof(r, server):
    define_flags(hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(r)))
    client = redis.asyncio.Redis(port=server)
    api.set_provider_and_wait(AsyncHanoiProvider(AsyncRedisModuleBackEnd(client)))
    yield api.get_client()
    api.shutdown()
    await client.aclose()


async def test_async_answers(aof):
    d = await aof.get_boolean_details_async("beta", False, ctx("443301", country="DE"))
    assert (d.value, d.reason, d.variant) == (True, Reason.TARGETING_MATCH, "on")
    assert d.flag_metadata == {"type": "boolean"}
    d = await aof.get_boolean_details_async("beta", False, ctx("44488"))
    assert (d.value, d.reason) == (False, Reason.DEFAULT)
    d = await aof.get_string_details_async("cdc_on", "none", ctx("443301"))
    assert (d.value, d.variant, d.reason) == ("bar", "bar", Reason.SPLIT)
    assert d.flag_metadata == {**CDC_META, "type": "string"}
    d = await aof.get_string_details_async("cdc_on", "none", ctx("44488"))
    assert (d.value, d.reason) == ("none", Reason.DEFAULT)
    d = await aof.get_boolean_details_async("off", True, ctx())
    assert (d.value, d.reason) == (False, Reason.DISABLED)
    # Without a targeting key: a rule on an attribute decides; a percentage
    # needs the key.
    d = await aof.get_boolean_details_async("beta", False, ctx(None, country="DE"))
    assert (d.value, d.reason) == (True, Reason.TARGETING_MATCH)
    d = await aof.get_boolean_details_async("beta", False, ctx(None, country="FR"))
    assert (d.value, d.error_code) == (False, ErrorCode.TARGETING_KEY_MISSING)


async def test_async_errors(aof, r):
    r.set("plain", "x")
    cases = [
        (aof.get_string_details_async("beta", "x", ctx("2")), "x", ErrorCode.TYPE_MISMATCH),
        (aof.get_boolean_details_async("cdc_on", True, ctx("443301")), True, ErrorCode.TYPE_MISMATCH),
        (aof.get_integer_details_async("beta", 3, ctx("2")), 3, ErrorCode.TYPE_MISMATCH),
        (aof.get_float_details_async("beta", 0.5, ctx("2")), 0.5, ErrorCode.TYPE_MISMATCH),
        (aof.get_object_details_async("cdc_on", [1], ctx("2")), [1], ErrorCode.TYPE_MISMATCH),
        (aof.get_boolean_details_async("missing", True, ctx("1")), True, ErrorCode.FLAG_NOT_FOUND),
        (aof.get_boolean_details_async("plain", True, ctx("1")), True, ErrorCode.FLAG_NOT_FOUND),
        (aof.get_boolean_details_async("beta", True, ctx("")), True, ErrorCode.TARGETING_KEY_MISSING),
        (aof.get_boolean_details_async("beta", True, ctx("2", l=[1])), True, ErrorCode.INVALID_CONTEXT),
    ]  # fmt: skip
    for call, default, code in cases:
        d = await call
        assert (d.value, d.error_code) == (default, code)
    d = aof.get_boolean_details("beta", True, ctx("2"))  # the sync API
    assert (d.value, d.error_code) == (True, ErrorCode.GENERAL)
    assert "async" in d.error_message


async def test_async_events_survive_a_redis_restart(own_server):
    client = redis.asyncio.Redis(port=own_server.port)
    backend = AsyncRedisModuleBackEnd(client)
    seen = Seen()
    api.set_provider_and_wait(AsyncHanoiProvider(backend, events=True, max_backoff=0.5))
    seen.add()
    try:
        await backend.hanoi_define("watched", [b"PERCENTAGE", b"100"])
        seen.wait_changed("watched")
        own_server.kill()
        seen.wait_count(ProviderEvent.PROVIDER_ERROR, 1)
        own_server.start()
        seen.wait_count(ProviderEvent.PROVIDER_READY, 2)
        await backend.hanoi_define("watched", [b"PERCENTAGE", b"100"])
        seen.wait(
            lambda evs: sum(d.flags_changed == ["watched"] for _, d in evs) == 2,
            "a change after the restart",
        )
        d = await api.get_client().get_boolean_details_async("watched", False, ctx("1"))
        assert (d.value, d.reason) == (True, Reason.STATIC)
    finally:
        api.shutdown()
        await client.aclose()
    assert listener_threads() == []


async def test_async_initialize_raises_when_redis_is_unreachable():
    dead = redis.asyncio.Redis(port=_free_port())
    with pytest.raises(redis.ConnectionError):
        api.set_provider_and_wait(AsyncHanoiProvider(dead))
    try:
        assert api.get_client().get_provider_status() == ProviderStatus.ERROR
    finally:
        api.shutdown()


# ----- issue 34: every metadata field, a bounded wait -----


def test_every_metadata_field_through_the_mirror(r):
    rollout = hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(r))
    define_flags(rollout)
    mirror = hanoi_redis.MirrorBackEnd(
        redis.Redis(port=r.connection_pool.connection_kwargs["port"])
    )
    try:
        api.set_provider_and_wait(HanoiProvider(mirror))
        d = api.get_client().get_string_details("cdc_on", "none", ctx("443301"))
        assert (d.value, d.flag_metadata) == ("bar", {**CDC_META, "type": "string"})
    finally:
        api.shutdown()
        mirror.close()


#: The longest a test waits for a provider that must give up after 0.3 s (a
#: hang guard, not a timing assertion).
HANG_GUARD = 20


def _paused(s: Server):
    """The server stopped (SIGSTOP): it accepts connections and never answers."""
    os.kill(s.proc.pid, signal.SIGSTOP)
    return lambda: os.kill(s.proc.pid, signal.SIGCONT)


def test_an_evaluation_gives_up_after_timeout(own_server):
    # A default redis-py client (no socket timeout) and a server that stops
    # answering: the provider answers GENERAL and the default.
    client = redis.Redis(port=own_server.port)
    hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(client)).add_func("f", percentage=100)
    api.set_provider_and_wait(HanoiProvider(client, timeout=0.3, cache_seconds=0))
    resume = _paused(own_server)
    try:
        started = time.monotonic()
        d = api.get_client().get_boolean_details("f", False, ctx("1"))
        assert time.monotonic() - started < HANG_GUARD
        assert (d.value, d.error_code, d.reason) == (False, ErrorCode.GENERAL, Reason.ERROR)
        assert "within 0.3 s" in d.error_message
    finally:
        resume()
    # Back: it answers again.
    deadline = time.monotonic() + HANG_GUARD
    while api.get_client().get_boolean_details("f", False, ctx("1")).error_code is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    api.shutdown()
    client.close()


async def test_an_async_evaluation_gives_up_after_timeout(own_server):
    sync = redis.Redis(port=own_server.port)
    hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(sync)).add_func("f", percentage=100)
    sync.close()
    client = redis.asyncio.Redis(port=own_server.port)
    api.set_provider_and_wait(AsyncHanoiProvider(client, timeout=0.3, cache_seconds=0))
    resume = _paused(own_server)
    try:
        started = time.monotonic()
        d = await api.get_client().get_boolean_details_async("f", False, ctx("1"))
        assert time.monotonic() - started < HANG_GUARD
        assert (d.value, d.error_code) == (False, ErrorCode.GENERAL)
        assert "within 0.3 s" in d.error_message
    finally:
        resume()
        api.shutdown()
        await client.aclose()


def test_the_default_timeout_is_one_second():
    import inspect

    for cls in (HanoiProvider, AsyncHanoiProvider):
        assert inspect.signature(cls.__init__).parameters["timeout"].default == 1.0


# ----- issue 31: one change feed -----


def _wait(what, ok, within=HANG_GUARD):
    deadline = time.monotonic() + within
    while not ok():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.02)


def _connections(port):
    """The server's clients: (name, subscriptions) of each."""
    admin = redis.Redis(port=port)
    try:
        return [(c["name"], int(c["sub"]) + int(c["psub"])) for c in admin.client_list()]
    finally:
        admin.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_provider_over_a_mirror_follows_the_mirrors_feed(own_server, kind):
    # events=True or not, a provider over a mirror subscribes to nothing: its
    # events come from the mirror's tracking connection.
    from hanoi_redis.asyncio import AsyncMirrorBackEnd

    writer = redis.Redis(port=own_server.port)
    rollout = hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(writer))
    rollout.add_func("f", percentage=100)
    if kind == "sync":
        backend = hanoi_redis.MirrorBackEnd(redis.Redis(port=own_server.port), max_backoff=0.2)
        provider = HanoiProvider(backend, events=True)
        sync_backend = backend
    else:
        backend = AsyncMirrorBackEnd(redis.asyncio.Redis(port=own_server.port), max_backoff=0.2)
        provider = AsyncHanoiProvider(backend, events=True)
        sync_backend = backend.mirror
    events = []
    handlers = {
        ev: (lambda d, ev=ev: events.append((ev, list(d.flags_changed or []))))
        for ev in (
            ProviderEvent.PROVIDER_STALE,
            ProviderEvent.PROVIDER_READY,
            ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
        )
    }
    for ev, h in handlers.items():
        api.add_handler(ev, h)
    try:
        api.set_provider_and_wait(provider)
        client = api.get_client()

        async def value():
            if kind == "sync":
                return client.get_boolean_value("f", False, ctx("1"))
            return await client.get_boolean_value_async("f", False, ctx("1"))

        assert await value() is True
        assert not any(subs for _, subs in _connections(own_server.port))
        assert [n for n, _ in _connections(own_server.port)].count("hanoi-mirror") == 1

        rollout.set_percentage("f", 0)
        _wait(
            "the change event",
            lambda: (ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, ["f"]) in events,
        )
        assert await value() is False

        own_server.kill()
        _wait("PROVIDER_STALE", lambda: (ProviderEvent.PROVIDER_STALE, []) in events)
        assert await value() is False, "the last state, while away"
        own_server.start()
        _wait("PROVIDER_READY", lambda: (ProviderEvent.PROVIDER_READY, []) in events)
        writer = redis.Redis(port=own_server.port)
        hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(writer)).add_func("f", percentage=100)
        _wait("in step", lambda: sync_backend.sync() and not sync_backend.stale)
        assert await value() is True
    finally:
        api.shutdown()
        for ev, h in handlers.items():
            with contextlib.suppress(ValueError):  # api.shutdown may have
                api.remove_handler(ev, h)
        backend.close()
        writer.close()
