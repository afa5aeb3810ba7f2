"""The replies' fields as hanoi-core lays them out (tests/vectors/replies.json,
generated from hanoi_core::reply): the decoders read the same fields in the
same order, and take a reply with a field appended by a newer module."""

import json
from dataclasses import fields
from pathlib import Path

import pytest
from hanoi_redis import Description, _commands
from hanoi_redis._common import (
    ARM_FIELDS,
    CONDITION_FIELDS,
    DESCRIPTION_FIELDS,
    EXPERIMENT_FIELDS,
    EXPLAIN_FIELDS,
    EXPOSURE_FIELDS,
    EXPOSURES_FIELDS,
    HISTORY_FIELDS,
    IDS_FIELDS,
    METRIC_FIELDS,
    PERIOD_FIELDS,
    RESOLVE_FIELDS,
    RULE_FIELDS,
    SERIES_FIELDS,
    STATS_FIELDS,
    Condition,
    Explanation,
    HanoiError,
    HistoryEntry,
    Period,
    Stats,
    TargetingRule,
    history_entries,
    info_dict,
    resolution,
    series_of,
    stats_of,
)

ROOT = Path(__file__).resolve().parents[3]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "replies.json").read_text())
REPLIES = VECTORS["commands"]
TYPES = VECTORS["types"]


def names(command: str):
    return tuple(f["name"] for f in REPLIES[command]["fields"])


@pytest.mark.parametrize(
    "command, fields, shape",
    [
        ("HANOI.EXPLAIN", EXPLAIN_FIELDS, "array"),
        ("HANOI.RESOLVE", RESOLVE_FIELDS, "array"),
        ("HANOI.IDS", IDS_FIELDS, "array"),
        ("HANOI.GET", DESCRIPTION_FIELDS, "map"),
        ("HANOI.ASSIGN", RESOLVE_FIELDS, "array"),
        ("HANOI.EXPERIMENT RESULTS", ARM_FIELDS, "list<map>"),
        ("HANOI.EXPERIMENT EXPOSURES", EXPOSURES_FIELDS, "array"),
        ("HANOI.STATS", STATS_FIELDS, "map"),
        ("HANOI.STATS SERIES", SERIES_FIELDS, "map"),
        ("HANOI.HISTORY", HISTORY_FIELDS, "list<map>"),
    ],
)
def test_decoders_read_the_cores_fields_in_order(command, fields, shape):
    assert REPLIES[command]["shape"] == shape
    assert fields == names(command)


@pytest.mark.parametrize(
    "name, fields",
    [
        ("experiment", EXPERIMENT_FIELDS),
        ("metric", METRIC_FIELDS),
        ("exposure", EXPOSURE_FIELDS),
        ("rule", RULE_FIELDS),
        ("condition", CONDITION_FIELDS),
        ("period", PERIOD_FIELDS),
    ],
)
def test_the_named_types_fields_in_order(name, fields):
    assert TYPES[name]["shape"] == "array"
    assert fields == tuple(f["name"] for f in TYPES[name]["fields"])


EXPLAIN = [1, b"blue", b"rule", b"beta", 40, None]
RESOLVE = [1, b"blue", b'"#00f"', b"rule", b"beta", 40, b"string", None]


def test_explain_takes_an_appended_field():
    want = Explanation(True, "blue", "rule", "beta", 40)
    assert Explanation.from_reply(EXPLAIN) == want
    assert Explanation.from_reply(EXPLAIN + [b"from a newer module"]) == want
    with pytest.raises(HanoiError, match="at least 6"):
        Explanation.from_reply(EXPLAIN[:5])
    missing = Explanation.from_reply([0, None, b"outside", 12, 0, b"beta_testers"])
    assert missing.missing == "beta_testers"


def test_resolve_takes_an_appended_field():
    want = (Explanation(True, "blue", "rule", "beta", 40), "#00f", "string")
    assert resolution(RESOLVE) == want
    assert resolution(RESOLVE + [None, 7]) == want
    with pytest.raises(HanoiError, match="at least 8"):
        resolution(RESOLVE[:7])


def test_ids_and_get_take_appended_fields():
    _, scan = _commands.scan_ids(b"f", [b"USERS", b"0"])
    assert scan([b"0", [b"a"], b"new"]) == (0, [b"a"])
    reply = [b"enabled", 1, b"percentage", 5, b"metadata", [b"owner", b"me"], b"zz_new", b"x"]
    d = info_dict(reply)
    assert d is not None and d["enabled"] is True and d["zz_new"] == b"x"
    assert d.extra == {"zz_new": b"x"} and "zz_new" in d and list(d)[-1] == "zz_new"


def test_description_is_typed_and_still_reads_as_a_dict():
    # The dataclass's fields are the reply's, in order (then `extra`).
    assert tuple(f.name for f in fields(Description))[:-1] == DESCRIPTION_FIELDS
    d = info_dict({b"type": b"string", b"variants": [b"a"], b"metadata": {b"k": b"v"}})
    assert isinstance(d, Description)
    assert d.type == d["type"] == d.get("type") == "string"
    assert d.variants == ["a"] and d.metadata == {"k": "v"} and d.window is None
    assert d.get("missing", 3) == 3
    assert d.kind == "flag" and d.prerequisites == []


def test_rules_are_read_as_structure_and_take_appended_fields():
    assert TYPES["rule"]["fields"][3]["type"] == "list<condition>"
    assert next(f for f in REPLIES["HANOI.GET"]["fields"] if f["name"] == "rules")["type"] == (
        "list<rule>"
    )
    rule = [b"pros", 50, b"b", [[b"plan", "IN", [b"pro", b"team"]], [b"email", b"EXISTS", []]]]
    want = TargetingRule(
        "pros", 50, "b", [Condition("plan", "IN", ("pro", "team")), Condition("email", "EXISTS")]
    )
    assert info_dict({b"rules": [rule]}).rules == [want]
    # a newer module's fields, appended to the rule and to a condition: left out
    newer = [
        b"pros",
        50,
        b"b",
        [[b"plan", "IN", [b"pro", b"team"], b"new"], [b"email", b"EXISTS", [], 7]],
        b"x",
    ]
    assert info_dict({b"rules": [newer]}).rules == [want]
    assert info_dict({b"rules": [[b"r", None, None, [[b"a", "EQ", [b"1"]]]]]}).rules[0] == (
        TargetingRule("r", None, None, [Condition("a", "EQ", ("1",))])
    )
    with pytest.raises(HanoiError, match="at least 3"):
        info_dict({b"rules": [[b"r", None, None, [[b"a", "EQ"]]]]})
    with pytest.raises(HanoiError, match="at least 4"):
        info_dict({b"rules": [[b"r", None, None]]})
    # written back: the module's words, IN's count put back
    assert want.words() == [
        b"ROLLOUT",
        b"50",
        b"VARIANT",
        b"b",
        b"IF",
        b"plan",
        b"IN",
        b"2",
        b"pro",
        b"team",
        b"AND",
        b"email",
        b"EXISTS",
    ]


def test_stats_series_and_history_take_appended_fields():
    stats = {
        b"evaluations": 3,
        b"enabled": 2,
        b"variants": {b"a": 1},
        b"last_evaluated": None,
        b"since": 5,
        b"new": 1,
    }
    assert stats_of(stats) == Stats(3, 2, {"a": 1}, None, 5)
    assert stats_of(
        [
            b"evaluations",
            3,
            b"enabled",
            2,
            b"variants",
            [b"a", 1],
            b"last_evaluated",
            9,
            b"since",
            5,
        ]
    ) == Stats(3, 2, {"a": 1}, 9, 5)
    assert stats_of(None) is None
    with pytest.raises(HanoiError, match="without since"):
        stats_of({b"evaluations": 3, b"enabled": 2, b"variants": {}, b"last_evaluated": None})
    series = series_of({b"minutes": [[60000, 2, 1, b"new"]], b"hours": [], b"new": []})
    assert series is not None and series.minutes == [Period(60000, 2, 1)] and series.hours == []
    entry = {
        b"time": 7,
        b"user": b"default",
        b"client": None,
        b"command": [b"hanoi.enable"],
        b"arguments": 1,
        b"new": b"x",
    }
    assert history_entries([entry]) == [HistoryEntry(7, "default", None, ["hanoi.enable"], 1)]
    assert history_entries([]) == []


def test_description_reads_kind_and_prerequisites_without_the_prefix():
    segment = [[b"segment", b"IN", [b"app:beta", b"app:staff"]], [b"segment", b"EQ", [b"other:x"]]]
    reply = {
        b"kind": b"segment",
        b"prerequisites": [[b"app:payments"], [b"app:theme", b"dark"], [b"other:x"]],
        b"rules": [[b"betas", None, None, segment + [[b"plan", b"EQ", [b"app:x"]]]]],
    }
    d = info_dict(reply, b"app:")
    assert d is not None and d.kind == d["kind"] == "segment"
    assert d.prerequisites == [("payments", None), ("theme", "dark"), ("other:x", None)]
    assert d.rules == [
        TargetingRule(
            "betas",
            None,
            None,
            [
                Condition("segment", "IN", ("beta", "staff")),
                Condition("segment", "EQ", ("other:x",)),
                Condition("plan", "EQ", ("app:x",)),  # not a segment: as it is
            ],
        )
    ]
    assert d.rules[0].segments(b"app:", add=True).when[0].arguments == ("app:beta", "app:staff")
    with pytest.raises(KeyError):
        d["missing"]
    as_dict = dict(d)
    assert list(as_dict) == list(DESCRIPTION_FIELDS) and d == as_dict
    assert {k: v for k, v in d.items() if k != "type"} != as_dict


def test_the_modules_replies_have_the_listed_fields(r):
    r.execute_command("HANOI.DEFINE", "replies:f", "ENABLED", "PERCENTAGE", "50")
    explain = r.execute_command("HANOI.EXPLAIN", "replies:f", "u1")
    assert len(explain) == len(EXPLAIN_FIELDS)
    resolve = r.execute_command("HANOI.RESOLVE", "replies:f", "u1")
    assert len(resolve) == len(RESOLVE_FIELDS)
    assert resolution(resolve)[0] == Explanation.from_reply(explain)
    ids = r.execute_command("HANOI.IDS", "replies:f", "USERS", "0")
    assert len(ids) == len(IDS_FIELDS)
    r.execute_command("HANOI.RULE", "replies:f", "SET", "r", "IF", "plan", "IN", "1", "pro")
    got = r.execute_command("HANOI.GET", "replies:f")
    keys = list(got)[::2] if isinstance(got, list) else list(got)
    assert tuple(k.decode() for k in keys) == DESCRIPTION_FIELDS
    rules = dict(zip(got[::2], got[1::2]))[b"rules"] if isinstance(got, list) else got[b"rules"]
    assert len(rules[0]) == len(RULE_FIELDS) and len(rules[0][3][0]) == len(CONDITION_FIELDS)
    stats = r.execute_command("HANOI.STATS", "replies:f")
    assert stats_of(stats) is not None and len(stats) in (len(STATS_FIELDS), 2 * len(STATS_FIELDS))
    assert series_of(r.execute_command("HANOI.STATS", "replies:f", "SERIES")) is not None
    (entry, *_) = history_entries(r.execute_command("HANOI.HISTORY", "replies:f"))
    assert entry.command[:3] == ["HANOI.RULE", "SET", "r"]
