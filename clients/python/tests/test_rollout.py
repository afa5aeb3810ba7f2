"""Every method of hanoi's API, and what hanoi_redis adds, on both backends:
the same calls give the same answers in Redis and in process."""

import dataclasses
import re
import threading
import zlib

import hanoi_redis
import pytest
import redis
from hanoi_redis import (
    Condition,
    Explanation,
    FlagNotFound,
    HanoiError,
    Rollout,
    RolloutException,
    TargetingRule,
)


class User:
    def __init__(self, id, uid=None):
        self.id = id
        self.uid = uid


def bucket(id_):
    return zlib.crc32(id_.encode()) % 100


def test_seed_example(rollout):
    # hanoi's README, bootstrap.py and service.py (corrected: 444401 matches 01$).
    rollout.add_func("cdc_on", percentage=80, variants=("foo", "bar"))
    rollout.register("cdc_on", "447568110000")
    rollout.register("cdc_on", re.compile(r"01$"))
    assert rollout.is_enabled("cdc_on", "44488") is False
    assert rollout.is_enabled("cdc_on", "447568110000") is True
    assert rollout.is_enabled("cdc_on", "443301") is True
    assert rollout.is_enabled("cdc_on", "444401") is True
    assert rollout.variant("cdc_on", "443301") == "bar"
    assert rollout.variant("cdc_on", "44488") is None

    @rollout.check("cdc_on", 2)
    def execute_again_cdc_logic(parameter, user):
        return "I'm in"

    assert execute_again_cdc_logic("foo", "443301") == "I'm in"
    with pytest.raises(RolloutException, match=r"Feature <cdc_on> is not enabled for user <44488>"):
        execute_again_cdc_logic("foo", "44488")

    @rollout.check("cdc_on")
    def execute_cdc_logic():
        return "ran"

    rollout.set_current_id("444401")
    assert execute_cdc_logic() == "ran"
    rollout.set_current_id("44488")
    with pytest.raises(RolloutException):
        execute_cdc_logic()
    rollout.cleanup_current_id()
    with pytest.raises(RolloutException, match="Identifier should be set"):
        execute_cdc_logic()


def test_percentage_is_crc32_below(rollout):
    rollout.add_func("half", percentage=50)
    ids = [str(i) for i in range(1000)]
    assert [rollout.is_enabled("half", i) for i in ids] == [bucket(i) < 50 for i in ids]
    rollout.set_percentage("half", 100)
    assert all(rollout.is_enabled("half", i) for i in ids[:100])
    rollout.set_percentage("half", "0")
    assert not any(rollout.is_enabled("half", i) for i in ids[:100])


@pytest.mark.parametrize("bad", [101, -1, "abc", None])
def test_set_percentage_out_of_range_is_attribute_error(rollout, bad):
    rollout.add_func("f", percentage=10)
    with pytest.raises(AttributeError):
        rollout.set_percentage("f", bad)
    with pytest.raises(AttributeError):
        rollout.add_func("g", percentage=bad)
    assert rollout.backend.get_functionality("f").percentage == 10
    assert rollout.backend.get_functionality("g") is None


def test_switch(rollout):
    rollout.add_func("f", percentage=100)
    assert rollout.is_enabled("f") and rollout.is_enabled("f", "1")
    rollout.disable("f")
    assert not rollout.is_enabled("f") and not rollout.is_enabled("f", "1")
    rollout.enable("f")
    assert rollout.is_enabled("f")
    assert rollout.toggle("f") is False
    assert not rollout.is_enabled("f")
    assert rollout.toggle("f") is True
    assert not rollout.is_enabled("missing") and not rollout.is_enabled("missing", "1")
    rollout.backend.disable("f")
    rollout.backend.enable("f", enable_to_all=True)
    assert rollout.backend.get_functionality("f").percentage == 100


def test_objects_through_the_field(rollout):
    rollout.add_func("f", "id", percentage=0)
    rollout.register("f", User("7"))
    assert rollout.is_enabled("f", User("7"))
    assert rollout.is_enabled("f", "7")
    assert not rollout.is_enabled("f", User("8"))
    assert rollout.variant("f", User("7")) is None
    feature = rollout.backend.get_functionality("f")
    assert (feature.name, feature.field, feature.percentage, feature.enabled) == (
        "f",
        "id",
        0,
        True,
    )
    assert rollout.describe("f")["metadata"]["field"] == "id"

    @rollout.check("f", 1)
    def needs(user):
        return user.id

    assert needs(User("7")) == "7"
    with pytest.raises(RolloutException):
        needs(User("9"))


def test_field_is_shared_through_redis(r):
    first = Rollout(hanoi_redis.RedisModuleBackEnd(r))
    first.add_func("f", "uid")
    first.register("f", User("a", uid="u1"))
    other = Rollout(
        hanoi_redis.RedisModuleBackEnd(("127.0.0.1", r.connection_pool.connection_kwargs["port"]))
    )
    assert other.is_enabled("f", User("b", uid="u1"))
    assert not other.is_enabled("f", User("u1", uid="u2"))
    first.add_func("f")  # no field any more
    assert "field" not in first.describe("f")["metadata"]


def test_callable_check(rollout):
    rollout.add_func("f", lambda u: u.uid, percentage=0)
    rollout.register("f", User("x", uid="42"))
    assert rollout.is_enabled("f", User("y", uid="42"))
    assert not rollout.is_enabled("f", User("42", uid="43"))
    assert rollout.backend.get_functionality("f").field is not None


def test_regexes_rust_syntax(rollout):
    rollout.add_func("f")
    rollout.register("f", re.compile(r"^\d{3}$"))
    assert rollout.is_enabled("f", "123") and not rollout.is_enabled("f", "1234")
    with pytest.raises(HanoiError):
        rollout.register("f", re.compile(r"(?P<a>x)(?P=a)"))  # backreferences: not Rust syntax
    assert rollout.describe("f")["regexes"] == [r"^\d{3}$"]
    assert rollout.unregister("f", re.compile(r"^\d{3}$")) == 1
    assert not rollout.is_enabled("f", "123")


def test_missing_flag_is_flag_not_found(rollout):
    for call in (
        lambda: rollout.register("nope", "1"),
        lambda: rollout.set_percentage("nope", 5),
        lambda: rollout.enable("nope"),
        lambda: rollout.toggle("nope"),
    ):
        with pytest.raises(FlagNotFound) as e:
            call()
        assert isinstance(e.value, ValueError) and isinstance(e.value, KeyError)
        assert "no such flag" in str(e.value)
    assert rollout.backend.get_functionality("nope") is None


def test_decorators_enabled_and_undefined(rollout):
    rollout.add_func("f", percentage=100)

    @rollout.enabled("f")
    def go(x):
        return x

    @rollout.enabled("nope")
    def never(x):
        return x

    @rollout.check("nope", 1)
    def undefined(x):
        return x

    assert go(3) == 3
    with pytest.raises(RolloutException, match="Feature <nope> is not enabled"):
        never(3)
    with pytest.raises(RolloutException, match="Feature <nope> is not defined"):
        undefined("1")
    rollout.disable("f")
    with pytest.raises(RolloutException):
        go(3)
    assert go.__name__ == "go"


def test_check_by_keyword(rollout):
    rollout.add_func("f")
    rollout.register("f", "5")

    @rollout.check("f", "user")
    def handler(*, user):
        return user

    assert handler(user="5") == "5"
    with pytest.raises(RolloutException):
        handler(user="6")


def test_current_id_is_per_thread(rollout):
    rollout.add_func("f")
    rollout.register("f", "in")

    @rollout.check("f")
    def guarded():
        return True

    results = {}

    def run(item):
        with rollout.current_id(item):
            try:
                results[item] = guarded()
            except RolloutException:
                results[item] = False

    threads = [threading.Thread(target=run, args=(i,)) for i in ("in", "out")]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results == {"in": True, "out": False}
    rollout.set_current_id("in")
    with rollout.current_id("out"):
        with pytest.raises(RolloutException):
            guarded()
    assert guarded()


def test_is_name_shortcut(rollout):
    rollout.add_func("cdc_on", "id")
    rollout.register("cdc_on", "1")
    assert rollout.is_cdc_on("1") is True
    assert rollout.is_cdc_on(User("1")) is True
    assert rollout.is_cdc_on("2") is False
    with pytest.raises(ValueError, match="not defined"):
        _ = rollout.is_nope
    with pytest.raises(AttributeError):
        _ = rollout.something_else


def test_get_functionalities(rollout):
    rollout.add_func("a")
    rollout.add_func("b", "id", percentage=5, variants=("x", "y"))
    assert sorted(rollout.backend.get_functionalities()) == ["a", "b"]
    f = rollout.backend.get_functionality("b")
    assert (f.percentage, f.variants, f.field) == (5, ("x", "y"), "id")
    assert repr(f) == "<b> applying id to 5% users"


def test_variants(rollout):
    rollout.add_func("exp", percentage=100, variants=("a", "b", "c"))
    for i in range(200):
        id_ = str(i)
        assert rollout.variant("exp", id_) == "abc"[zlib.crc32(id_.encode()) % 3]
    rollout.add_func("plain", percentage=100)
    assert rollout.variant("plain", "1") is None
    rollout.define("w", 100, ["x", "y"], weights=[1, 0 + 3], salt="s1")
    seen = {rollout.variant("w", str(i)) for i in range(300)}
    assert seen == {"x", "y"}


def test_attributes_and_rules(rollout):
    rollout.add_func("f", percentage=0)
    rollout.set_targeting_rule("f", "de", [("country", "EQ", "DE"), ("age", "GE", 18)])
    assert rollout.is_enabled("f", "1", country="DE", age=30)
    assert rollout.is_enabled("f", "1", {"country": "DE", "age": 18.0})
    assert not rollout.is_enabled("f", "1", country="DE", age=17)
    assert not rollout.is_enabled("f", "1")
    e = rollout.explain("f", "1", country="DE", age="40")
    assert e == Explanation(True, None, "rule", "de", 0)
    assert rollout.enabled_many(["f", "missing"], "1", country="DE", age=20) == {
        "f": True,
        "missing": False,
    }
    with pytest.raises(TypeError):
        rollout.is_enabled("f", "1", tags=["a"])
    with pytest.raises(HanoiError):
        rollout.is_enabled("f", "1", {"id": "2"})
    rollout.set_targeting_rule("f", "beta", [("plan", "IN", ["pro", "team"])], variant=None)
    rollout.move_targeting_rule("f", "beta", 0)
    assert [r.name for r in rollout.describe("f")["rules"]] == ["beta", "de"]
    assert rollout.describe("f").rules == [
        TargetingRule("beta", None, None, [Condition("plan", "IN", ("pro", "team"))]),
        TargetingRule("de", None, None, [("country", "EQ", ("DE",)), ("age", "GE", ("18",))]),
    ]
    assert rollout.explain("f", "1", plan="pro").detail == "beta"
    assert rollout.delete_targeting_rule("f", "beta", "de") == 2
    with pytest.raises(HanoiError):
        rollout.set_targeting_rule("f", "bad", [("x", "NOPE", "1")])


def test_targeting_rules_round_trip(rollout):
    rollout.define("f", 0, ["a", "b"])
    rollout.set_targeting_rule(
        "f",
        "pros",
        [("plan", "IN", ["pro", "team"]), ("email", "EXISTS"), ("version", "SEMVER_GE", "2.1.0")],
        rollout=50,
        variant="b",
    )
    (rule,) = rollout.describe("f").rules
    assert rule == TargetingRule(
        "pros",
        50,
        "b",
        [
            Condition("plan", "IN", ("pro", "team")),
            Condition("email", "EXISTS", ()),
            Condition("version", "SEMVER_GE", ("2.1.0",)),
        ],
    )
    assert (rule.name, rule.rollout, rule.variant, rule.when[0].arguments) == (
        "pros",
        50,
        "b",
        ("pro", "team"),
    )
    # a described rule is written again as it is: to this flag or another
    rollout.define("g", 0, ["a", "b"])
    rollout.set_targeting_rule("g", rule)
    assert rollout.describe("g").rules == [rule]
    rollout.set_targeting_rule("g", "copy", rule.when, rule.rollout, rule.variant)
    assert rollout.describe("g").rules[1] == dataclasses.replace(rule, name="copy")
    with pytest.raises(TypeError):
        rollout.set_targeting_rule("g", rule, when=[("a", "EXISTS")])
    with pytest.raises(TypeError, match="list of conditions"):
        rollout.set_targeting_rule("g", "r", ["IF", "country", "EQ", "DE"])
    with pytest.raises(TypeError, match="when"):
        rollout.set_targeting_rule("g", "r")
    # A Condition given one value, or none, reads as a tuple does.
    rollout.set_targeting_rule(
        "g", "one", [Condition("country", "EQ", "DE"), ("beta", "EXISTS", None)]
    )  # type: ignore[arg-type]
    assert rollout.describe("g").rules[-1].when == [
        Condition("country", "EQ", ("DE",)),
        Condition("beta", "EXISTS", ()),
    ]


def test_a_rule_as_words_is_an_older_module():
    from hanoi_redis._common import HanoiError, TargetingRule

    with pytest.raises(HanoiError, match="older"):
        TargetingRule.from_reply([b"de", b"IF", b"country", b"EQ", b"DE"])
    # Fields a newer module appends are left out.
    r = TargetingRule.from_reply(
        [b"de", None, None, [[b"country", b"EQ", [b"DE"], b"new"]], b"new"]
    )
    assert r == TargetingRule("de", None, None, [Condition("country", "EQ", ("DE",))])


def test_set_rule_is_hanoi_s_regex(rollout):
    rollout.add_func("f", percentage=0)
    rollout.set_rule("f", re.compile("^7"))
    rollout.set_rule("f", "9$")
    assert rollout.describe("f").regexes == ["^7", "9$"]
    assert rollout.is_enabled("f", "71") and rollout.is_enabled("f", "19")
    with pytest.raises(TypeError, match="set_targeting_rule"):
        rollout.set_rule("f", "de", "IF", "country", "EQ", "DE")
    assert rollout.describe("f").rules == []


def test_old_rule_names_still_work_with_a_warning(rollout):
    rollout.define("f", 0)
    rollout.set_targeting_rule("f", "a", [("country", "EQ", "DE")])
    rollout.set_targeting_rule("f", "b", [("country", "EQ", "AT")])
    with pytest.warns(DeprecationWarning, match="move_targeting_rule"):
        rollout.move_rule("f", "b", 0)
    assert [r.name for r in rollout.describe("f").rules] == ["b", "a"]
    with pytest.warns(DeprecationWarning, match="delete_targeting_rule"):
        assert rollout.delete_rule("f", "a", "b") == 2


def test_resolve_meta_history_stats(rollout):
    rollout.define("f", 100, ["a", "b"], values=[1, 2])
    r = rollout.resolve("f", "1")
    assert (r.enabled, r.value, r.type, r.reason) == (
        True,
        {"a": 1, "b": 2}[r.variant],
        "number",
        "all",
    )
    assert rollout.resolve("f").reason == "needs_id"
    assert rollout.resolve("missing", "1").type is None
    rollout.set_meta("f", owner="me", tags="x")
    assert rollout.delete_meta("f", "tags", "nope") == 1
    assert rollout.describe("f").metadata == {"owner": "me"}
    s = rollout.stats("f")
    assert s is not None and s.evaluations >= 2 and set(s.variants) == {"a", "b"}
    rollout.reset_stats("f")
    assert rollout.stats("f").evaluations == 0
    assert rollout.stats("missing") is None
    if isinstance(rollout.backend, hanoi_redis.MemoryBackEnd):
        with pytest.raises(NotImplementedError, match="history"):
            rollout.history("f")
        with pytest.raises(NotImplementedError, match="SERIES"):
            rollout.stats_series("f")
        return
    rollout.is_enabled("f", "1")
    series = rollout.stats_series("f")
    assert (len(series.minutes), len(series.hours)) == (60, 168)
    assert series.minutes[-1].evaluations >= 1
    assert rollout.stats_series("missing") is None
    h = rollout.history("f")
    assert [e.command[0] for e in h[:2]] == ["HANOI.META", "HANOI.META"]
    assert h[0].command[1:] == ["DEL", "tags", "nope"] and h[0].arguments == 3
    assert len(rollout.history("f", 1)) == 1
    assert rollout.history("missing") == []


def test_explain(rollout):
    rollout.add_func("cdc_on", percentage=80, variants=("foo", "bar"))
    rollout.register("cdc_on", re.compile("01$"))
    assert rollout.explain("cdc_on", "444401") == Explanation(True, "bar", "regex", "01$", 80)
    assert rollout.explain("cdc_on", "44488") == Explanation(False, None, "outside", 88, 80)
    assert rollout.explain("missing", "1").reason == "undefined"
    rollout.block("cdc_on", "444401")
    assert rollout.explain("cdc_on", "444401").reason == "blocked"
    assert rollout.unblock("cdc_on", "444401") == 1


def test_schedule(rollout):
    rollout.add_func("f", percentage=100)
    rollout.set_window("f", 1, 2)  # long past
    assert rollout.explain("f", "1").reason == "inactive"
    rollout.clear_schedule("f", "window")
    assert rollout.is_enabled("f", "1")
    rollout.set_ramp("f", 0, 100, 1, 2)  # done: 100 %
    assert rollout.explain("f", "1").percentage == 100
    rollout.clear_schedule("f")
    assert rollout.describe("f")["ramp"] is None


def test_metadata_and_many(rollout):
    rollout.add_func("f", percentage=0)
    assert rollout.set_meta("f", owner="payments", tags="a,b") == 2
    assert rollout.describe("f")["metadata"] == {"owner": "payments", "tags": "a,b"}
    assert rollout.register_many("f", [str(i) for i in range(1000)]) == 1000
    assert rollout.describe("f")["users"] == 1000
    assert rollout.is_enabled("f", "999") and not rollout.is_enabled("f", "1000")
    assert rollout.delete("f") and rollout.describe("f") is None


def test_same_answers_on_both_backends(r):
    mem = Rollout(hanoi_redis.MemoryBackEnd())
    red = Rollout(hanoi_redis.RedisModuleBackEnd(r))
    for rollout in (mem, red):
        rollout.define("x", 30, ["a", "b", "c"], weights=[5, 3, 2], salt="pepper")
        rollout.register_many("x", [str(i) for i in range(0, 5000, 7)])
        rollout.register("x", re.compile(r"(13|42)$"))
        rollout.block("x", "700", "14")
        rollout.set_targeting_rule("x", "de", [("country", "EQ", "DE")], rollout=50, variant="c")
    for i in range(3000):
        id_, attrs = str(i * 37), {"country": "DE" if i % 3 else "FR"}
        assert mem.explain("x", id_, attrs) == red.explain("x", id_, attrs), id_
        assert mem.variant("x", id_, attrs) == red.variant("x", id_, attrs)
        assert mem.is_enabled("x", id_, attrs) == red.is_enabled("x", id_, attrs)


@pytest.mark.parametrize("kwargs", [{"decode_responses": True}, {"protocol": 3}])
def test_any_redis_py_client(r, server, kwargs):
    client = redis.Redis(port=server, **kwargs)
    rollout = Rollout(hanoi_redis.RedisModuleBackEnd(client, prefix="flags:"))
    rollout.add_func("cdc_on", "id", percentage=80, variants=("foo", "bar"))
    rollout.register("cdc_on", re.compile("01$"))
    rollout.set_meta("cdc_on", owner="payments")
    assert r.exists("flags:cdc_on") and not r.exists("cdc_on")
    assert rollout.is_enabled("cdc_on", User("443301"))
    assert rollout.variant("cdc_on", "443301") == "bar"
    assert rollout.explain("cdc_on", "44488") == Explanation(False, None, "outside", 88, 80)
    info = rollout.describe("cdc_on")
    assert info["metadata"] == {"field": "id", "owner": "payments"} and info["enabled"] is True
    assert rollout.backend.get_functionalities() == ["cdc_on"]
    assert rollout.enabled_many(["cdc_on"], "443301") == {"cdc_on": True}
    client.close()


def test_ids_walk_registered_and_blocked_ids(rollout):
    """HANOI.IDS on both backends: every id there the whole walk comes, a
    glob filters, a missing flag is empty; bad arguments are refused."""
    rollout.define("f", 5)
    rollout.register_many("f", [f"user-{i}" for i in range(300)])
    rollout.block("f", "mallory", "eve")
    assert sorted(rollout.iter_ids("f", count=7)) == sorted(f"user-{i}" for i in range(300))
    assert sorted(rollout.iter_ids("f", "blocked")) == ["eve", "mallory"]
    assert sorted(rollout.iter_ids("f", match="user-29?", count=1000)) == [
        f"user-29{i}" for i in range(10)
    ]
    assert rollout.ids("missing") == (0, [])
    cursor, page = rollout.ids("f", count=10)
    assert cursor != 0 and len(page) < 300
    with pytest.raises(ValueError):
        rollout.ids("f", "everyone")
    with pytest.raises(hanoi_redis.HanoiError, match="COUNT"):
        rollout.ids("f", count=0)
