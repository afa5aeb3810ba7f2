"""Segments and prerequisites (issue 32) through the client: the same calls
and answers on MemoryBackEnd (hanoi-core in process, references followed
through the engine) and RedisModuleBackEnd (the module), the prefix kept
out of the names, the asyncio API, and the OpenFeature providers."""

import dataclasses

import hanoi_redis
import pytest
import redis
import redis.asyncio
from hanoi_redis import Condition, HanoiError, Rollout, TargetingRule
from openfeature.evaluation_context import EvaluationContext


def raw_rules(r, key):
    """HANOI.GET's `rules` as Redis gives them (keys, not names)."""
    raw = r.execute_command("HANOI.GET", key)
    raw = dict(zip(raw[::2], raw[1::2])) if isinstance(raw, list) else raw
    return raw[b"rules"]


def tour(rollout: Rollout) -> None:
    """A segment `beta` (anna by id, anyone @example.com by rule, bob
    blocked), a flag `payments` on for anna and carl@example.com, and
    `checkout`: on for the segment, with `payments` as its prerequisite."""
    rollout.define_segment("beta")
    rollout.register_many("beta", ["anna", "carl"])
    rollout.block("beta", "bob")
    rollout.set_targeting_rule("beta", "staff", [("email", "SUFFIX", "@example.com")])
    rollout.define("payments", 0)
    rollout.register_many("payments", ["anna", "dora"])
    rollout.define("checkout", 0, ["new", "old"], default="old")
    rollout.set_targeting_rule("checkout", "betas", [("segment", "IN", ["beta"])], variant="new")
    rollout.set_prereq("checkout", "payments")


def test_a_flag_on_for_a_segment_behind_a_prerequisite(rollout):
    tour(rollout)
    # The segment answers membership.
    assert rollout.is_enabled("beta", "anna") and not rollout.is_enabled("beta", "bob")
    assert rollout.is_enabled("beta", "zed", email="zed@example.com")
    assert rollout.explain("beta", "zed", email="zed@example.com").reason == "rule"
    # anna: in the segment, payments on for her.
    assert rollout.is_enabled("checkout", "anna")
    assert rollout.variant("checkout", "anna") == "new"
    e = rollout.explain("checkout", "anna")
    assert (e.reason, e.detail, e.missing) == ("rule", "betas", None)
    # carl: in the segment, but payments is off for him: the DEFAULT variant.
    e = rollout.explain("checkout", "carl")
    assert (e.enabled, e.variant, e.reason, e.detail) == (False, "old", "prerequisite", "payments")
    assert rollout.variant("checkout", "carl") == "old"
    # dora: payments on, but not in the segment.
    assert rollout.explain("checkout", "dora").reason == "outside"
    assert rollout.enabled_many(["checkout", "payments"], "carl") == {
        "checkout": False,
        "payments": False,
    }
    # A change to the segment reaches the flag at once.
    rollout.register("beta", "dora")
    assert rollout.is_enabled("checkout", "dora")
    rollout.block("beta", "dora")
    assert not rollout.is_enabled("checkout", "dora")
    # Switched off, the prerequisite fails for everyone.
    rollout.disable("payments")
    assert rollout.explain("checkout", "anna").reason == "prerequisite"


def test_describe_names_the_kind_and_the_prerequisites(rollout):
    tour(rollout)
    rollout.define("theme", 100, ["dark", "light"])
    rollout.set_prereq("checkout", "theme", variant="dark")
    beta, checkout = rollout.describe("beta"), rollout.describe("checkout")
    assert beta is not None and checkout is not None
    assert (beta.kind, beta["kind"], checkout.kind) == ("segment", "segment", "flag")
    assert checkout.prerequisites == [("payments", None), ("theme", "dark")]
    assert checkout.rules == [
        TargetingRule("betas", None, "new", [Condition("segment", "IN", ("beta",))])
    ]
    rollout.move_prereq("checkout", "theme", 0)
    assert rollout.describe("checkout").prerequisites == [("theme", "dark"), ("payments", None)]
    assert rollout.delete_prereq("checkout", "theme", "payments", "nothing") == 2
    assert rollout.describe("checkout").prerequisites == []


def test_what_references_refuse(rollout):
    tour(rollout)
    with pytest.raises(HanoiError, match="a segment has no percentage"):
        rollout.set_percentage("beta", 50)
    with pytest.raises(HanoiError, match="a segment has no"):
        rollout.enable("beta")
    with pytest.raises(HanoiError, match="is a segment"):
        rollout.set_prereq("checkout", "beta")
    with pytest.raises(HanoiError, match="cycle"):
        rollout.set_prereq("payments", "checkout")
    with pytest.raises(HanoiError, match="no such key"):
        rollout.set_prereq("checkout", "nowhere")
    with pytest.raises(HanoiError, match="no variant"):
        rollout.set_prereq("checkout", "payments", variant="blue")
    with pytest.raises(HanoiError, match="not a segment"):
        rollout.set_targeting_rule("checkout", "r", [("segment", "EQ", "payments")])
    assert rollout.describe("checkout").prerequisites == [("payments", None)]


def test_a_deleted_segment_fails_closed_and_is_named(rollout):
    tour(rollout)
    rollout.delete_prereq("checkout", "payments")
    rollout.set_targeting_rule("checkout", "others", [("segment", "NOTIN", ["beta"])])
    assert rollout.delete("beta")
    for who in ("anna", "zed"):  # IN and NOTIN both false
        e = rollout.explain("checkout", who)
        assert (e.enabled, e.reason, e.missing) == (False, "outside", "beta")


def test_references_through_a_prefix_are_names(r):
    rollout = Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix="app:"))
    tour(rollout)
    # In Redis, references are keys: the prefix is in them.
    raw = r.execute_command("HANOI.GET", "app:checkout")
    raw = dict(zip(raw[::2], raw[1::2])) if isinstance(raw, list) else raw
    assert raw[b"prerequisites"] == [[b"app:payments"]]
    assert raw[b"rules"][0][3] == [[b"segment", b"IN", [b"app:beta"]]]
    # Through the backend they are names, as its methods take them.
    info = rollout.describe("checkout")
    assert info.prerequisites == [("payments", None)]
    assert info.rules[0].when == [("segment", "IN", ("beta",))]
    # a described rule written back through the prefix stays a name
    rollout.set_targeting_rule("checkout", dataclasses.replace(info.rules[0], name="again"))
    assert raw_rules(r, "app:checkout")[1][3] == [[b"segment", b"IN", [b"app:beta"]]]
    assert rollout.describe("checkout").rules[1].when == info.rules[0].when
    assert rollout.is_enabled("checkout", "anna")
    assert rollout.explain("checkout", "carl").detail == "payments"
    assert rollout.delete_prereq("checkout", "payments") == 1


async def test_the_asyncio_api(r, server):
    from hanoi_redis.asyncio import AsyncRedisModuleBackEnd, AsyncRollout

    client = redis.asyncio.Redis(port=server)
    try:
        rollout = AsyncRollout(AsyncRedisModuleBackEnd(client, prefix="a:"))
        await rollout.define_segment("beta", salt="s1")
        await rollout.register("beta", "anna")
        await rollout.define("payments", 100)
        await rollout.define("checkout", 0)
        await rollout.set_targeting_rule("checkout", "betas", [("segment", "EQ", "beta")])
        await rollout.set_prereq("checkout", "payments")
        assert await rollout.is_enabled("checkout", "anna")
        await rollout.disable("payments")
        e = await rollout.explain("checkout", "anna")
        assert (e.reason, e.detail) == ("prerequisite", "payments")
        info = await rollout.describe("checkout")
        assert info.prerequisites == [("payments", None)]
        assert (await rollout.describe("beta")).kind == "segment"
        await rollout.move_prereq("checkout", "payments", 0)
        assert await rollout.delete_prereq("checkout", "payments") == 1
        assert await rollout.is_enabled("checkout", "anna")
    finally:
        await client.aclose()


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_the_provider_answers_prerequisite_failed(kind, request):
    from hanoi_redis.openfeature import HanoiProvider
    from openfeature import api

    if kind == "memory":
        backend = hanoi_redis.MemoryBackEnd()
    else:
        backend = hanoi_redis.RedisModuleBackEnd(request.getfixturevalue("r"))
    rollout = Rollout(backend)
    tour(rollout)
    rollout.define("banner", 100)
    rollout.set_prereq("banner", "payments")
    api.set_provider_and_wait(HanoiProvider(backend), domain="refs")
    client = api.get_client("refs")
    try:
        # The DEFAULT variant's value, no error, the prerequisite named.
        d = client.get_string_details("checkout", "fallback", EvaluationContext("carl"))
        assert (d.value, d.variant, d.reason, d.error_code) == (
            "old",
            "old",
            "PREREQUISITE_FAILED",
            None,
        )
        assert d.flag_metadata["prerequisite"] == "payments"
        # No DEFAULT, a boolean flag: off.
        d = client.get_boolean_details("banner", True, EvaluationContext("carl"))
        assert (d.value, d.reason, d.error_code) == (False, "PREREQUISITE_FAILED", None)
        assert d.flag_metadata["prerequisite"] == "payments"
        d = client.get_string_details("checkout", "fallback", EvaluationContext("anna"))
        assert (d.value, d.reason) == ("new", "TARGETING_MATCH")
        assert "prerequisite" not in d.flag_metadata
    finally:
        api.clear_providers()
