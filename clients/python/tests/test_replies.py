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
    DESCRIPTION_FIELDS,
    EXPERIMENT_FIELDS,
    EXPLAIN_FIELDS,
    EXPOSURE_FIELDS,
    EXPOSURES_FIELDS,
    IDS_FIELDS,
    METRIC_FIELDS,
    RESOLVE_FIELDS,
    Explanation,
    HanoiError,
    info_dict,
    resolution,
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
    ],
)
def test_decoders_read_the_cores_fields_in_order(command, fields, shape):
    assert REPLIES[command]["shape"] == shape
    assert fields == names(command)


@pytest.mark.parametrize(
    "name, fields",
    [("experiment", EXPERIMENT_FIELDS), ("metric", METRIC_FIELDS), ("exposure", EXPOSURE_FIELDS)],
)
def test_the_experiment_types_fields_in_order(name, fields):
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


def test_description_reads_kind_and_prerequisites_without_the_prefix():
    reply = {
        b"kind": b"segment",
        b"prerequisites": [[b"app:payments"], [b"app:theme", b"dark"], [b"other:x"]],
        b"rules": [[b"betas", b"IF", b"segment", b"IN", b"2", b"app:beta", b"app:staff"]],
    }
    d = info_dict(reply, b"app:")
    assert d is not None and d.kind == d["kind"] == "segment"
    assert d.prerequisites == [("payments", None), ("theme", "dark"), ("other:x", None)]
    assert d.rules == [["betas", "IF", "segment", "IN", "2", "beta", "staff"]]
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
    got = r.execute_command("HANOI.GET", "replies:f")
    keys = list(got)[::2] if isinstance(got, list) else list(got)
    assert tuple(k.decode() for k in keys) == DESCRIPTION_FIELDS
