"""The shared evaluation cases (tests/vectors/evaluation.json) on both
backends, and random write sequences through MemoryBackEnd and
RedisModuleBackEnd side by side: equal replies, errors, answers and
descriptions (the store's rules live once, in hanoi-core)."""

import json
import random
from pathlib import Path
from typing import Any, List, Sequence

import hanoi_redis
import pytest
import redis
import redis.asyncio
from hanoi_redis._core import HanoiCoreError, openfeature_reason
from openfeature.evaluation_context import EvaluationContext

ROOT = Path(__file__).resolve().parents[3]
CASES = json.loads((ROOT / "tests" / "vectors" / "evaluation.json").read_text())["cases"]


def run(backend: Any, command: str, name: str, args: Sequence[str]) -> Any:
    """A write as the module gets it, on either backend: its reply, or its
    error's message (without redis-py's code, with the core's arity wording)."""
    words = [a.encode() for a in args]
    try:
        if isinstance(backend, hanoi_redis.MemoryBackEnd):
            reply = backend._engine.run(command.encode(), name.encode(), words)
        else:
            reply = backend._redis.execute_command("HANOI." + command, name, *words)
    except (HanoiCoreError, redis.ResponseError) as e:
        msg = str(e)
        return "error: " + ("wrong number of arguments" if msg.startswith("wrong number") else msg)
    if isinstance(reply, bytes):
        reply = reply.decode()
    return True if reply == "OK" else reply


def write_case(backend: Any, case: dict) -> None:
    """A case's writes: the keys it references first (`keys`, in order),
    then its own flag's commands, then the keys it deletes (`delete`)."""
    writes = [(k["key"], k["commands"]) for k in case.get("keys", [])]
    writes.append((case["name"], case["commands"]))
    for key, commands in writes:
        for cmd in commands:
            reply = run(backend, cmd[0], key, cmd[1:])
            assert not str(reply).startswith("error"), (key, cmd, reply)
    for gone in case.get("delete", []):
        assert backend.delete(gone), gone


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_cases(backend, case):
    name = case["name"]
    write_case(backend, case)
    for q in case["queries"]:
        pairs = [(k.encode(), v.encode()) for k, v in (q.get("attrs") or {}).items()]
        # No id (None) is the empty one: HANOI.RESOLVE's keyless form.
        id_ = (q["id"] or "").encode()
        e, value, _ = backend.hanoi_resolve(name, id_, pairs)
        got = {
            "value": value,
            "enabled": e.enabled,
            "variant": e.variant,
            "reason": e.reason,
            "detail": e.detail,
            "openfeature": openfeature_reason(e.reason),
        }
        want = {k: q[k] for k in got}
        assert got == want, q
        if id_:
            assert backend.hanoi_explain(name, id_, pairs) == e, q
            assert backend.hanoi_value(name, id_, pairs) == value, q


IDS = ["1", "2", "44488", "443301", "u7", "x01", "anna"]
ATTRS = {"country": ["DE", "FR"], "plan": ["pro", "team", "free"]}
TIMES = ["1000", "2000", "4000000000000", "4000000001000", "0"]


def random_write(rng: random.Random) -> List[str]:
    pick = rng.choice
    k = rng.randrange(14)
    if k < 2:
        w = ["DEFINE"]
        if rng.random() < 0.5:
            w.append(pick(["ENABLED", "DISABLED"]))
        if rng.random() < 0.6:
            w += ["PERCENTAGE", pick(["0", "10", "50", "100", "101"])]
        if rng.random() < 0.5:
            w += ["VARIANTS", "2", "a", "b"]
        return w
    if k == 2:
        return [pick(["REGISTER", "UNREGISTER"]), "USER"] + rng.sample(IDS, 2)
    if k == 3:
        return [pick(["REGISTER", "UNREGISTER"]), "REGEX", pick(["01$", "^u", "n"])]
    if k == 4:
        return [pick(["BLOCK", "UNBLOCK"]), pick(IDS)]
    if k == 5:
        attr = pick(sorted(ATTRS))
        w = ["RULE", "SET", pick(["r1", "r2"])]
        if rng.random() < 0.4:
            w += ["ROLLOUT", pick(["0", "30", "100"])]
        if rng.random() < 0.3:
            w += ["VARIANT", pick(["a", "b"])]
        return w + ["IF", attr, "EQ", pick(ATTRS[attr])]
    if k == 6:
        return ["RULE", "DEL", pick(["r1", "r2"])]
    if k == 7:
        return ["RULE", "MOVE", pick(["r1", "r2"]), pick(["0", "1", "4"])]
    if k == 8:
        return ["SCHEDULE", "WINDOW", pick(TIMES), pick(TIMES)]
    if k == 9:
        return ["SCHEDULE", "RAMP", "0", "100", pick(TIMES), pick(TIMES)]
    if k == 10:
        return ["SCHEDULE", "CLEAR"] + rng.sample(["WINDOW"], rng.randrange(2))
    if k == 11:
        return ["PERCENTAGE", pick(["0", "40", "100", "x"])]
    if k == 12:
        return [pick(["TOGGLE", "ENABLE", "DISABLE"])]
    return ["META", pick(["SET", "DEL"]), "owner"] + (["ana"] if rng.random() < 0.5 else [])


def comparable(info: Any) -> Any:
    if info is None:
        return None
    return {k: v for k, v in info.items() if k != "created"}


def test_random_writes_through_both_backends(r):
    memory = hanoi_redis.MemoryBackEnd()
    remote = hanoi_redis.RedisModuleBackEnd(r)
    rng = random.Random(20261203)
    for round_ in range(15):
        name = f"diff:{round_}"
        for _ in range(40):
            w = random_write(rng)
            assert run(memory, w[0], name, w[1:]) == run(remote, w[0], name, w[1:]), w
            id_ = rng.choice(IDS).encode()
            attr = rng.choice(sorted(ATTRS))
            pairs = [(attr.encode(), rng.choice(ATTRS[attr]).encode())]
            assert memory.hanoi_explain(name, id_, pairs) == remote.hanoi_explain(
                name, id_, pairs
            ), w
        assert comparable(memory.describe(name)) == comparable(remote.describe(name)), name


def test_values_through_rollout(rollout):
    rollout.define("limit", 20, ["small", "big"], values=[10, 250.5], default="small")
    assert rollout.value("limit", "443301") == 250.5
    assert rollout.value("limit", "44488") == 10
    assert rollout.variant("limit", "44488") == "small"
    assert rollout.is_enabled("limit", "44488") is False
    info = rollout.describe("limit")
    assert info is not None
    assert (info["type"], info["values"], info["default"]) == ("number", [10, 250.5], "small")
    rollout.define("layout", 100, ["a"], values=[{"columns": 2, "promo": [1, "x"]}])
    assert rollout.value("layout", "x") == {"columns": 2, "promo": [1, "x"]}
    assert rollout.describe("layout")["type"] == "object"
    rollout.define("copy", 100, ["Hello", "Hi"])
    assert rollout.value("copy", "x") in ("Hello", "Hi")
    assert rollout.describe("copy")["type"] == "string"
    rollout.define("kill", 100)
    assert rollout.value("kill") is True
    assert rollout.describe("kill")["type"] == "boolean"
    assert rollout.value("missing", "x") is None
    with pytest.raises(hanoi_redis.HanoiError, match="values of two types"):
        rollout.define("bad", 0, ["a", "b"], values=[1, "x"])
    assert rollout.describe("bad") is None


async def test_values_through_the_asyncio_api(r, server):
    from hanoi_redis.asyncio import AsyncRedisModuleBackEnd, AsyncRollout

    client = redis.asyncio.Redis(port=server)
    try:
        rollout = AsyncRollout(AsyncRedisModuleBackEnd(client))
        await rollout.define("limit", 0, ["small", "big"], values=[1, 2], default="big")
        assert await rollout.value("limit", "44488") == 2
        assert (await rollout.describe("limit") or {})["values"] == [1, 2]
    finally:
        await client.aclose()


# ----- the same cases through the OpenFeature providers -----

FALLBACK = {"boolean": False, "string": "fallback", "number": -1, "object": {"fallback": True}}


def _define_cases(backend: Any) -> None:
    for case in CASES:
        write_case(backend, case)


def _provider_checks(describe: Any):
    """(flag, query, how to ask, what to expect) for every query: the
    OpenFeature answer the shared case implies (keyless without an id)."""
    for case in CASES:
        name = case["name"]
        kind = (describe(name) or {}).get("type", "boolean")
        for q in case["queries"]:
            attrs = dict(q.get("attrs") or {})
            ctx = (
                EvaluationContext(q["id"], attrs)
                if q["id"] is not None
                else EvaluationContext(None, attrs)
            )
            method = {
                "boolean": "boolean",
                "string": "string",
                "number": "float",
                "object": "object",
            }[kind]
            fallback = FALLBACK[kind]
            if q["reason"] in ("undefined", "needs_id"):
                code = "FLAG_NOT_FOUND" if q["reason"] == "undefined" else "TARGETING_KEY_MISSING"
                want = {"error_code": code}
            elif q["reason"] == "error":  # references past their bounds: off, GENERAL
                want = {
                    "error_code": "GENERAL",
                    "reason": "ERROR",
                    "value": fallback,
                    "error_message": q["detail"],
                }
            else:
                if kind == "boolean" and q["variant"] is None:
                    value = q["enabled"]
                elif q["variant"] is None or q["value"] is None:
                    value = fallback
                else:
                    value = float(q["value"]) if kind == "number" else q["value"]
                want = {"error_code": None, "reason": q["openfeature"], "value": value}
                if q["reason"] == "prerequisite":  # the metadata names it
                    want["prerequisite"] = q["detail"]
            yield name, q, method, fallback, ctx, want


def _seen(details: Any, want: dict) -> dict:
    got = {
        "error_code": details.error_code,
        "error_message": details.error_message,
        "reason": details.reason,
        "value": details.value,
        "prerequisite": details.flag_metadata.get("prerequisite"),
    }
    return {k: got[k] for k in want}


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_shared_cases_through_the_provider(kind, request):
    from hanoi_redis.openfeature import HanoiProvider
    from openfeature import api

    if kind == "memory":
        backend = hanoi_redis.MemoryBackEnd()
    else:
        backend = hanoi_redis.RedisModuleBackEnd(request.getfixturevalue("r"))
    _define_cases(backend)
    api.set_provider_and_wait(HanoiProvider(backend), domain="vectors")
    client = api.get_client("vectors")
    try:
        for name, q, method, fallback, ctx, want in _provider_checks(backend.describe):
            details = getattr(client, f"get_{method}_details")(name, fallback, ctx)
            assert _seen(details, want) == want, (name, q)
    finally:
        api.clear_providers()


async def test_shared_cases_through_the_async_provider(r, server):
    from hanoi_redis.asyncio import AsyncRedisModuleBackEnd
    from hanoi_redis.openfeature import AsyncHanoiProvider
    from openfeature import api

    _define_cases(hanoi_redis.RedisModuleBackEnd(r))
    client = redis.asyncio.Redis(port=server)
    api.set_provider_and_wait(
        AsyncHanoiProvider(AsyncRedisModuleBackEnd(client)), domain="avectors"
    )
    of = api.get_client("avectors")
    try:
        sync = hanoi_redis.RedisModuleBackEnd(r)
        for name, q, method, fallback, ctx, want in _provider_checks(sync.describe):
            details = await getattr(of, f"get_{method}_details_async")(name, fallback, ctx)
            assert _seen(details, want) == want, (name, q)
    finally:
        api.clear_providers()
        await client.aclose()
