"""Experiments (issue 35) through the client: assign, track, results and
exposures on MemoryBackEnd (hanoi-core in process) and RedisModuleBackEnd
(the module), the asyncio API, the mirror (ASSIGN in Redis, sticky arms in
process) and the OpenFeature providers (ASSIGN instead of RESOLVE, tracking
as HANOI.TRACK)."""

import asyncio
import logging

import hanoi_redis
import pytest
import redis
import redis.asyncio
from hanoi_redis import ArmResult, Exposure, HanoiError, MetricResult, Rollout
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails

IDS = [f"u{i}" for i in range(40)]


def checkout(rollout: Rollout) -> None:
    rollout.define("checkout", 100, ["one_page", "two_pages"])
    rollout.block("checkout", "vip")  # not from the split: never exposed
    rollout.start_experiment("checkout", ["bought", "revenue"], control="one_page")


def test_assign_track_and_read_the_results(rollout):
    checkout(rollout)
    arms = {}
    for i in IDS:
        a = rollout.assign("checkout", i)
        assert a.enabled and a.reason in ("all", "percentage") and a.value == a.variant
        arms[i] = a.variant
    assert rollout.assign("checkout", "vip").reason == "blocked"
    # The same answer as a read, and a second ASSIGN records nothing new.
    assert all(rollout.variant("checkout", i) == arms[i] for i in IDS)
    assert rollout.assign("checkout", IDS[0]).variant == arms[IDS[0]]
    # Conversions: bought once by the first ten, revenue twice by the first five.
    for i in IDS[:10]:
        assert rollout.track("checkout", i, "bought")
    for i in IDS[:5]:
        assert rollout.track("checkout", i, "revenue", 1000)
        assert rollout.track("checkout", i, "revenue", 999.0)  # a whole float passes
    assert not rollout.track("checkout", "vip", "bought")  # not exposed
    assert not rollout.track("checkout", IDS[0], "refunded")  # not declared
    assert not rollout.track("missing", IDS[0], "bought")
    with pytest.raises(ValueError):
        rollout.track("checkout", IDS[0], "revenue", 1.5)
    with pytest.raises(ValueError):
        rollout.track("checkout", IDS[0], "revenue", -1)

    results = rollout.experiment_results("checkout")
    assert [(a.arm, a.control) for a in results] == [("one_page", True), ("two_pages", False)]
    by_arm = {a.arm: a for a in results}
    for arm, r in by_arm.items():
        mine = [i for i in IDS if arms[i] == arm]
        assert r.exposures == len(mine)
        bought = sum(1 for i in IDS[:10] if arms[i] == arm)
        payers = sum(1 for i in IDS[:5] if arms[i] == arm)
        assert r.metrics["bought"] == MetricResult("bought", bought, bought, bought)
        assert r.metrics["revenue"] == MetricResult(
            "revenue", payers, payers * 1999, payers * 1999 * 1999
        )
        assert list(r.metrics) == ["bought", "revenue"]
        assert r.rate("bought") == pytest.approx(bought / len(mine))
        assert r.mean("revenue") == pytest.approx(payers * 1999 / len(mine))
    assert sum(a.exposures for a in results) == len(IDS)

    # The exposures, in the order made, a page at a time.
    cursor, page = rollout.experiment_exposures("checkout", count=7)
    assert len(page) == 7 and cursor != 0 and isinstance(page[0], Exposure)
    walked = list(rollout.iter_exposures("checkout", count=7))
    assert [(e.id, e.arm) for e in walked] == [(i, arms[i]) for i in IDS]
    assert all(e.time > 1_600_000_000_000 for e in walked)

    state = rollout.describe("checkout").experiment
    assert state is not None and state.running and state.state == "running"
    assert (state.control, state.arms, state.metrics, state.exposures) == (
        "one_page",
        ["one_page", "two_pages"],
        ["bought", "revenue"],
        len(IDS),
    )
    assert state.stopped is None

    # Stopped: nothing recorded, the data stays; START again needs RESET.
    rollout.stop_experiment("checkout")
    assert not rollout.track("checkout", IDS[0], "bought")
    assert rollout.describe("checkout").experiment.state == "stopped"
    assert rollout.experiment_results("checkout") == results
    with pytest.raises(HanoiError, match="RESET"):
        rollout.start_experiment("checkout", ["bought"])
    rollout.start_experiment("checkout", "bought", reset=True)
    assert [a.exposures for a in rollout.experiment_results("checkout")] == [0, 0]


def test_arms_are_sticky_while_the_experiment_runs(rollout):
    rollout.define("search", 50)
    rollout.start_experiment("search", ["searched"])
    answers = {i: rollout.assign("search", i) for i in IDS}
    off = [i for i in IDS if not answers[i].enabled]
    assert off and all(answers[i].reason == "outside" for i in off)
    assert [a.arm for a in rollout.experiment_results("search")] == ["off", "on"]
    rollout.set_percentage("search", 100)
    # Exposed ids keep their arm in every read; a new id gets the new split.
    assert not any(rollout.is_enabled("search", i) for i in off)
    assert not any(rollout.assign("search", i).enabled for i in off)
    assert rollout.is_enabled("search", "newcomer")
    rollout.stop_experiment("search")
    assert all(rollout.is_enabled("search", i) for i in off)


def test_refusals_and_missing(rollout):
    assert rollout.experiment_results("nothing") is None
    assert rollout.experiment_exposures("nothing") == (0, [])
    assert rollout.assign("nothing", "u1").reason == "undefined"
    rollout.define("plain", 30)
    assert rollout.experiment_results("plain") is None
    assert rollout.describe("plain").experiment is None
    assert rollout.assign("plain", "u1").reason in ("percentage", "outside")  # no experiment
    with pytest.raises(HanoiError):
        rollout.stop_experiment("plain")  # no experiment
    with pytest.raises(HanoiError):
        rollout.start_experiment("plain", ["m"], control="blue")  # not an arm
    with pytest.raises(hanoi_redis.FlagNotFound):
        rollout.start_experiment("nothing", ["m"])


def test_results_decode_resp2_flat_arrays():
    reply = [
        [b"arm", b"off", b"control", 1, b"exposures", 3, b"metrics", [[b"m", 2, b"5", b"13"]]],
    ]
    (arm,) = hanoi_redis._common.experiment_results(reply)
    assert arm == ArmResult("off", True, 3, {"m": MetricResult("m", 2, 5, 13)})
    assert arm.variance("m") == pytest.approx(13 / 3 - (5 / 3) ** 2)


async def test_the_asyncio_api(r, server):
    from hanoi_redis.asyncio import AsyncRedisModuleBackEnd, AsyncRollout

    client = redis.asyncio.Redis(port=server)
    try:
        rollout = AsyncRollout(AsyncRedisModuleBackEnd(client, prefix="a:"))
        await rollout.define("banner", 100, ["red", "blue"])
        await rollout.start_experiment("banner", ["clicked"], control="blue")
        seen = {i: (await rollout.assign("banner", i)).variant for i in IDS[:10]}
        assert await rollout.track("banner", IDS[0], "clicked", 3)
        assert not await rollout.track("banner", "stranger", "clicked")
        results = await rollout.experiment_results("banner")
        assert [(a.arm, a.control) for a in results] == [("red", False), ("blue", True)]
        assert sum(a.exposures for a in results) == 10
        arm = next(a for a in results if a.arm == seen[IDS[0]])
        assert arm.metrics["clicked"] == MetricResult("clicked", 1, 3, 9)
        walked = [e async for e in rollout.iter_exposures("banner", count=3)]
        assert [e.id for e in walked] == IDS[:10]
        # The key has the prefix; the results are the module's.
        assert r.execute_command("HANOI.EXPERIMENT", "a:banner", "RESULTS") is not None
        await rollout.stop_experiment("banner")
        assert (await rollout.describe("banner")).experiment.state == "stopped"
    finally:
        await client.aclose()


# ----- the mirror -----

PREFIX = "exp:"


def test_the_mirror_assigns_in_redis_and_its_reads_are_sticky(r):
    direct = Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix=PREFIX))
    with hanoi_redis.MirrorBackEnd(r, prefix=PREFIX) as m:
        rollout = Rollout(m)
        rollout.define("search", 50)
        rollout.start_experiment("search", ["searched"])  # waits until mirrored
        assert rollout.describe("search").experiment.running
        answers = {i: rollout.assign("search", i) for i in IDS[:20]}
        # Recorded in Redis (one ASSIGN each) ...
        assert sum(a.exposures for a in direct.experiment_results("search")) == 20
        # ... and in the mirror's copy at once, with no reload.
        assert rollout.describe("search").experiment.exposures == 20
        # Exposures made by another process arrive with the next reload.
        for i in IDS[20:]:
            direct.assign("search", i)
        off = [i for i in IDS[:20] if not answers[i].enabled]
        others_off = [i for i in IDS[20:] if not direct.is_enabled("search", i)]
        assert off and others_off
        # A percentage change (a write: the flag is reloaded, exposures and all)
        # leaves every exposed id on its arm, in the mirror as in Redis.
        direct.set_percentage("search", 100)
        assert m.sync()
        assert rollout.describe("search").experiment.exposures == len(IDS)
        for i in off + others_off:
            assert not rollout.is_enabled("search", i)
            assert rollout.explain("search", i).reason == "outside"
            assert not direct.is_enabled("search", i)
        assert rollout.is_enabled("search", "newcomer")
        # Conversions go to Redis.
        assert rollout.track("search", off[0], "searched")
        results = {a.arm: a for a in rollout.experiment_results("search")}
        assert results["off"].metrics["searched"].converted == 1
        rollout.stop_experiment("search")
        assert rollout.is_enabled("search", off[0])


def test_the_mirror_keeps_its_own_assign_before_any_reload(r):
    """A change made while the mirror's copy is older than Redis's: the
    exposure the mirror sent is sticky here even before the flag reloads."""
    with hanoi_redis.MirrorBackEnd(r, prefix=PREFIX) as m:
        rollout = Rollout(m)
        rollout.define("banner", 0)
        rollout.start_experiment("banner", ["clicked"])
        assert not rollout.assign("banner", "ann").enabled  # arm off, at 0 %
        m.close()  # no more reloads: the mirror's copy stays as it is
        m.mirror.engine.run(b"PERCENTAGE", b"banner", [b"100"])
        assert not rollout.is_enabled("banner", "ann")  # sticky here too
        assert rollout.is_enabled("banner", "bob")


async def test_the_asyncio_mirror_assigns_in_redis(r, server):
    from hanoi_redis.asyncio import AsyncRollout, MirrorBackEnd

    client = redis.asyncio.Redis(port=server)
    backend = MirrorBackEnd(client, prefix=PREFIX)
    try:
        rollout = AsyncRollout(backend)
        await rollout.define("search", 50)
        await rollout.start_experiment("search", ["searched"])
        for i in IDS[:10]:
            await rollout.assign("search", i)
        assert (await rollout.describe("search")).experiment.exposures == 10
        direct = Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix=PREFIX))
        assert sum(a.exposures for a in direct.experiment_results("search")) == 10
    finally:
        backend.close()
        await client.aclose()


# ----- the OpenFeature providers -----


def exposures(r, key):
    out = {}
    for a in Rollout(hanoi_redis.RedisModuleBackEnd(r)).experiment_results(key) or []:
        out[a.arm] = a
    return out


@pytest.mark.parametrize("kind", ["redis", "mirror"])
def test_the_provider_records_exposures_and_tracks_conversions(kind, r, caplog):
    from hanoi_redis.openfeature import HanoiProvider

    direct = Rollout(hanoi_redis.RedisModuleBackEnd(r))
    direct.define("checkout", 100, ["one_page", "two_pages"])
    direct.define("quiet", 100, ["a", "b"])
    direct.start_experiment("checkout", ["bought", "revenue"])
    direct.start_experiment("quiet", ["bought"])
    backend = (
        hanoi_redis.MirrorBackEnd(r) if kind == "mirror" else hanoi_redis.RedisModuleBackEnd(r)
    )
    provider = HanoiProvider(backend, experiments=["checkout"])
    api.set_provider_and_wait(provider, domain="exp")
    client = api.get_client("exp")
    try:
        served = {}
        for i in IDS[:10]:
            d = client.get_string_details("checkout", "x", EvaluationContext(i))
            assert d.reason == "SPLIT" and d.error_code is None  # sticky: the split's reason
            served[i] = d.value
            # Not named in `experiments`: RESOLVE, nothing recorded.
            client.get_string_value("quiet", "x", EvaluationContext(i))
        assert sum(a.exposures for a in exposures(r, "checkout").values()) == 10
        assert sum(a.exposures for a in exposures(r, "quiet").values()) == 0
        # track: the event is the metric, details.value the value, the flag
        # the one named in `experiments`.
        client.track("bought", EvaluationContext(IDS[0]))
        client.track("revenue", EvaluationContext(IDS[0]), TrackingEventDetails(value=1999))
        client.track("revenue", EvaluationContext(IDS[1]), TrackingEventDetails(1000.0))
        got = exposures(r, "checkout")
        assert got[served[IDS[0]]].metrics["bought"].converted == 1
        assert sum(a.metrics["revenue"].sum for a in got.values()) == 2999
        assert sum(a.metrics["revenue"].converted for a in got.values()) == 2
        # details.attributes["flag"] names another flag: nothing there (not exposed).
        client.track(
            "bought", EvaluationContext(IDS[2]), TrackingEventDetails(attributes={"flag": "quiet"})
        )
        assert sum(a.metrics["bought"].converted for a in exposures(r, "quiet").values()) == 0
        # What cannot be recorded is logged, never raised.
        with caplog.at_level(logging.WARNING, logger="hanoi_redis.openfeature"):
            client.track("bought", EvaluationContext())
            client.track("revenue", EvaluationContext(IDS[0]), TrackingEventDetails(value=1.5))
        assert "no targetingKey" in caplog.text and "whole number" in caplog.text
    finally:
        api.clear_providers()
        if kind == "mirror":
            backend.close()


def test_experiments_true_follows_every_running_experiment(r):
    from hanoi_redis.openfeature import HanoiProvider

    direct = Rollout(hanoi_redis.RedisModuleBackEnd(r))
    direct.define("search", 50)
    direct.start_experiment("search", ["searched"])
    api.set_provider_and_wait(
        HanoiProvider(hanoi_redis.RedisModuleBackEnd(r), experiments=True), domain="exp2"
    )
    client = api.get_client("exp2")
    try:
        on = [i for i in IDS if client.get_boolean_value("search", False, EvaluationContext(i))]
        assert sum(a.exposures for a in exposures(r, "search").values()) == len(IDS)
        # No flag named: the flags evaluated with an experiment declaring the metric.
        client.track("searched", EvaluationContext(on[0]), TrackingEventDetails(value=2))
        assert exposures(r, "search")["on"].metrics["searched"].sum == 2
        # Without the option: RESOLVE, nothing recorded.
        api.set_provider_and_wait(HanoiProvider(hanoi_redis.RedisModuleBackEnd(r)), domain="exp2")
        client.get_boolean_value("search", False, EvaluationContext("someone-new"))
        assert sum(a.exposures for a in exposures(r, "search").values()) == len(IDS)
    finally:
        api.clear_providers()


async def test_the_async_provider_records_and_tracks(r, server):
    from hanoi_redis.asyncio import AsyncRedisModuleBackEnd
    from hanoi_redis.openfeature import AsyncHanoiProvider

    direct = Rollout(hanoi_redis.RedisModuleBackEnd(r))
    direct.define("checkout", 100, ["one_page", "two_pages"])
    direct.start_experiment("checkout", ["bought"])
    aclient = redis.asyncio.Redis(port=server)
    provider = AsyncHanoiProvider(AsyncRedisModuleBackEnd(aclient), experiments=True)
    api.set_provider_and_wait(provider, domain="aexp")
    client = api.get_client("aexp")
    try:
        served = {}
        for i in IDS[:6]:
            served[i] = await client.get_string_value_async("checkout", "x", EvaluationContext(i))
        assert sum(a.exposures for a in exposures(r, "checkout").values()) == 6
        client.track("bought", EvaluationContext(IDS[0]))  # a task on this loop
        await provider.flush()
        await provider.track_async("bought", EvaluationContext(IDS[1]), TrackingEventDetails(4))
        got = exposures(r, "checkout")
        total = sum(a.metrics["bought"].sum for a in got.values())
        assert total == 5
        assert got[served[IDS[0]]].metrics["bought"].converted >= 1
        await asyncio.sleep(0)
    finally:
        api.clear_providers()
        await aclient.aclose()
