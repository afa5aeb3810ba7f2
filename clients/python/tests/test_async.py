"""hanoi_redis.asyncio over redis.asyncio: the same commands and answers."""

import asyncio
import re

import pytest
import redis.asyncio
from hanoi_redis import Feature, RedisModuleBackEnd, RolloutException
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
        assert await AsyncRedisModuleBackEnd(client, prefix=TRICKY).get_functionalities() == ["f"]
        assert await AsyncRedisModuleBackEnd(client, prefix=OTHER).get_functionalities() == ["g"]
    finally:
        await client.aclose()
