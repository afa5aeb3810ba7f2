"""hanoi_redis.asyncio over redis.asyncio: the same commands and answers."""

import asyncio
import re
import time

import pytest
import redis.asyncio
from hanoi_redis import (
    Condition,
    Feature,
    RedisModuleBackEnd,
    Rollout,
    RolloutException,
    TargetingRule,
)
from hanoi_redis.asyncio import AsyncRedisModuleBackEnd, AsyncRollout


class User:
    def __init__(self, id):
        self.id = id


@pytest.fixture
async def arollout(r, server):
    client = redis.asyncio.Redis(port=server)
    yield AsyncRollout(AsyncRedisModuleBackEnd(client))
    await client.aclose()


async def test_seed_example(arollout):
    await arollout.add_func("cdc_on", "id", percentage=80, variants=("foo", "bar"))
    await arollout.register("cdc_on", "447568110000")
    await arollout.register("cdc_on", re.compile(r"01$"))
    assert await arollout.is_enabled("cdc_on", "44488") is False
    assert await arollout.is_enabled("cdc_on", User("443301")) is True
    assert await arollout.variant("cdc_on", "443301") == "bar"
    assert (await arollout.explain("cdc_on", "444401")).reason == "regex"
    assert await arollout.enabled_many(["cdc_on", "x"], "443301") == {"cdc_on": True, "x": False}
    assert await arollout.backend.get_functionalities() == ["cdc_on"]
    assert (await arollout.backend.get_functionality("cdc_on")).field == "id"


async def test_decorators_and_current_id_per_task(arollout):
    await arollout.add_func("f")
    await arollout.register("f", "in")

    @arollout.check("f")
    async def guarded():
        return True

    @arollout.check("f", 1)
    async def by_arg(user):
        return user

    async def as_user(item):
        with arollout.current_id(item):
            await asyncio.sleep(0)
            try:
                return await guarded()
            except RolloutException:
                return False

    assert await asyncio.gather(as_user("in"), as_user("out"), as_user("in")) == [True, False, True]
    assert await by_arg("in") == "in"
    with pytest.raises(RolloutException, match="not enabled for user <out>"):
        await by_arg("out")
    with pytest.raises(RolloutException, match="Identifier should be set"):
        await guarded()
    await arollout.set_percentage("f", 100)
    assert await arollout.is_enabled("f", "anyone")
    with pytest.raises(AttributeError):
        await arollout.set_percentage("f", 101)
    assert await arollout.toggle("f") is False

    @arollout.enabled("f")
    async def needs_switch():
        return 1

    with pytest.raises(RolloutException):
        await needs_switch()


@pytest.fixture
async def pair(r, server):
    """An AsyncRollout and a Rollout on the same server, under two prefixes."""
    client = redis.asyncio.Redis(port=server)
    yield (
        AsyncRollout(AsyncRedisModuleBackEnd(client, prefix="async:")),
        Rollout(RedisModuleBackEnd(r, prefix="sync:")),
    )
    await client.aclose()


async def test_the_methods_rollout_has_too(pair):
    """The methods AsyncRollout gained: the same answers as Rollout's."""
    arollout, rollout = pair

    async def both(method, *args, **kwargs):
        got = await getattr(arollout, method)(*args, **kwargs)
        assert got == getattr(rollout, method)(*args, **kwargs), method
        return got

    def described(d):
        return {k: v for k, v in d.items() if k not in ("created", "effective_percentage")}

    now = int(time.time() * 1000)
    await both("define", "f", 30, ["a", "b"], weights=[1, 3], salt="s")
    assert await both("register_many", "f", ["1", "2", "3"]) == 3
    assert await both("unregister", "f", "2") == 1
    await both("register", "f", re.compile("^9"))
    assert await both("unregister", "f", re.compile("^9")) == 1
    assert await both("block", "f", "1", "5") == 2
    assert await both("unblock", "f", "5") == 1
    await both("set_targeting_rule", "f", "de", [("country", "EQ", "DE")])
    await both("set_targeting_rule", "f", "beta", [("plan", "EQ", "pro")], rollout=100)
    await both("move_targeting_rule", "f", "beta", 0)
    assert await both("delete_targeting_rule", "f", "de") == 1
    with pytest.raises(TypeError, match="set_targeting_rule"):
        await arollout.set_rule("f", "de", "IF", "country", "EQ", "DE")
    await both("set_window", "f", 0, now + 10**9)
    await both("set_ramp", "f", 10, 50, now - 1000, now + 10**9)
    await both("clear_schedule", "f", "ramp")
    with pytest.raises(ValueError):
        await arollout.clear_schedule("f", "both")
    assert await both("set_meta", "f", owner="me", tags="a,b") == 2
    a, s = await arollout.describe("f"), rollout.describe("f")
    assert described(a) == described(s)
    assert a["rules"] == [TargetingRule("beta", 100, None, [Condition("plan", "EQ", ("pro",))])]
    assert (await both("resolve", "f", "x", plan="pro")).reason == "rule"
    assert await both("delete_meta", "f", "tags", "nope") == 1
    # Two keys (one per prefix), written a moment apart: the commands agree, the times need not.
    commands = [h.command for h in await arollout.history("f", 2)]
    assert commands == [h.command for h in rollout.history("f", 2)]
    assert [c[0] for c in commands] == ["HANOI.META", "HANOI.META"]
    assert (await arollout.stats("f")).evaluations == rollout.stats("f").evaluations
    assert len((await arollout.stats_series("f")).minutes) == 60
    await both("reset_stats", "f")
    assert (await arollout.stats("f")).evaluations == 0
    assert (a["users"], a["blocked"], a["weights"], a["salt"]) == (2, 1, [1, 3], "s")
    assert a["metadata"] == {"owner": "me", "tags": "a,b"}
    assert a["window"] == [0, now + 10**9] and a["ramp"] is None
    assert (await both("explain", "f", "x", plan="pro")).reason == "rule"
    assert (await both("explain", "f", "1")).reason == "blocked"
    assert await both("names") == ["f"]
    assert await arollout.describe("missing") is None
    assert await both("delete", "f") is True
    assert await both("delete", "f") is False
    assert await both("names") == []


async def test_current_and_is_name(arollout):
    assert arollout.current() is None
    arollout.set_current_id("v")
    with arollout.current_id("u"):
        assert arollout.current() == "u"
    assert arollout.current() == "v"
    arollout.cleanup_current_id()
    assert arollout.current() is None
    await arollout.add_func("shiny")
    await arollout.register("shiny", "in")
    assert await arollout.is_shiny("in") is True
    assert await arollout.is_shiny("out", country="DE") is False
    with pytest.raises(ValueError, match="not defined"):
        await arollout.is_nope("in")
    with pytest.raises(AttributeError):
        _ = arollout.something_else
    with pytest.raises(TypeError):
        _ = AsyncRollout(None).backend


#: A prefix whose glob characters, unescaped, make SCAN match the keys of
#: `OTHER` ("p*?[x]:*" matches "pabcx:g") and miss its own ("p*?[x]:f").
TRICKY, OTHER = "p*?[x]:", "pabcx:"


async def test_names_under_a_prefix_with_glob_characters(r, server):
    RedisModuleBackEnd(r, prefix=TRICKY).add_functionality(Feature("f"))
    RedisModuleBackEnd(r, prefix=OTHER).add_functionality(Feature("g"))
    r.execute_command("HANOI.DEFINE", "p?[x]:h")
    assert [k.decode() for k in r.scan_iter(match=TRICKY + "*")] == ["pabcx:g"]
    assert RedisModuleBackEnd(r, prefix=TRICKY).names() == ["f"]
    assert RedisModuleBackEnd(r, prefix=OTHER).names() == ["g"]
    client = redis.asyncio.Redis(port=server)
    try:
        backend = AsyncRedisModuleBackEnd(client, prefix=TRICKY)
        assert await backend.names() == ["f"]
        assert await backend.get_functionalities() == ["f"]
        assert await AsyncRollout(backend).names() == ["f"]
        assert await AsyncRedisModuleBackEnd(client, prefix=OTHER).names() == ["g"]
    finally:
        await client.aclose()


async def test_ids_walk_through_asyncio(r, server):
    import redis.asyncio
    from hanoi_redis.asyncio import AsyncRedisModuleBackEnd, AsyncRollout

    client = redis.asyncio.Redis(port=server)
    try:
        rollout = AsyncRollout(AsyncRedisModuleBackEnd(client))
        await rollout.define("f", 5)
        await rollout.register_many("f", [f"u{i}" for i in range(120)])
        got = [i async for i in rollout.iter_ids("f", count=9)]
        assert sorted(got) == sorted(f"u{i}" for i in range(120))
        assert await rollout.ids("missing") == (0, [])
    finally:
        await client.aclose()
