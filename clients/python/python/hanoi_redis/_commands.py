"""Each HANOI.* command once: its arguments and how its reply reads in Python.

A builder returns `(args, parse)`; the sync and the asyncio Redis backends
send `args` and pass the reply to `parse`.
"""

from __future__ import annotations

from typing import Any, Callable, List, Sequence, Tuple

from ._common import Explanation, info_dict, text_of, with_args

Built = Tuple[List[Any], Callable[[Any], Any]]


def _one(reply: Any) -> bool:
    return reply == 1


def _int(reply: Any) -> int:
    return int(reply)


def _none(reply: Any) -> None:
    return None


def enabled(key: bytes, id_: Any, pairs: Sequence) -> Built:
    args = ["HANOI.ENABLED", key]
    if id_ is not None:
        args += [id_] + with_args(pairs)
    return args, _one


def variant(key: bytes, id_: bytes, pairs: Sequence) -> Built:
    return ["HANOI.VARIANT", key, id_] + with_args(pairs), text_of


def explain(key: bytes, id_: bytes, pairs: Sequence) -> Built:
    return ["HANOI.EXPLAIN", key, id_] + with_args(pairs), Explanation.from_reply


def menabled(keys: Sequence[bytes], id_: bytes, pairs: Sequence) -> Built:
    args: List[Any] = ["HANOI.MENABLED", id_]
    if pairs or (keys and keys[0].upper() == b"WITH"):
        args += [b"WITH", len(pairs)]
        for k, v in pairs:
            args += [k, v]
    return args + list(keys), lambda reply: [r == 1 for r in reply]


def define(key: bytes, options: Sequence[bytes]) -> Built:
    return ["HANOI.DEFINE", key] + list(options), _none


_IDS = {
    "user": ("HANOI.REGISTER", b"USER"),
    "regex": ("HANOI.REGISTER", b"REGEX"),
    "unuser": ("HANOI.UNREGISTER", b"USER"),
    "unregex": ("HANOI.UNREGISTER", b"REGEX"),
    "block": ("HANOI.BLOCK",),
    "unblock": ("HANOI.UNBLOCK",),
}


def ids(key: bytes, what: str, items: Sequence[bytes]) -> Built:
    cmd, *target = _IDS[what]
    return [cmd, key] + target + list(items), _int


def enable(key: bytes) -> Built:
    return ["HANOI.ENABLE", key], _none


def disable(key: bytes) -> Built:
    return ["HANOI.DISABLE", key], _none


def toggle(key: bytes) -> Built:
    return ["HANOI.TOGGLE", key], _one


def set_percentage(key: bytes, pct: int) -> Built:
    return ["HANOI.PERCENTAGE", key, pct], _none


def set_rule(key: bytes, rule: bytes, args: Sequence[bytes]) -> Built:
    return ["HANOI.RULE", key, b"SET", rule] + list(args), _none


def delete_rules(key: bytes, rules: Sequence[bytes]) -> Built:
    return ["HANOI.RULE", key, b"DEL"] + list(rules), _int


def move_rule(key: bytes, rule: bytes, index: int) -> Built:
    return ["HANOI.RULE", key, b"MOVE", rule, index], _none


def set_window(key: bytes, from_ms: int, until_ms: int) -> Built:
    return ["HANOI.SCHEDULE", key, b"WINDOW", from_ms, until_ms], _none


def set_ramp(key: bytes, from_pct: int, to_pct: int, start_ms: int, end_ms: int) -> Built:
    return ["HANOI.SCHEDULE", key, b"RAMP", from_pct, to_pct, start_ms, end_ms], _none


def clear_schedule(key: bytes, window: bool, ramp: bool) -> Built:
    which = [] if window == ramp else [b"WINDOW" if window else b"RAMP"]
    return ["HANOI.SCHEDULE", key, b"CLEAR"] + which, _none


def meta_set(key: bytes, pairs: Sequence) -> Built:
    args: List[Any] = ["HANOI.META", key, b"SET"]
    for k, v in pairs:
        args += [k, v]
    return args, _int


def meta_del(key: bytes, fields: Sequence[bytes]) -> Built:
    return ["HANOI.META", key, b"DEL"] + list(fields), _int


def info(key: bytes) -> Built:
    return ["HANOI.GET", key], info_dict


#: Every builder: a backend gets one primitive for each, named `_<builder>`.
ALL = (
    enabled, variant, explain, menabled, define, ids, enable, disable, toggle, set_percentage,
    set_rule, delete_rules, move_rule, set_window, set_ramp, clear_schedule, meta_set, meta_del,
    info,
)  # fmt: skip


def primitives(make: Callable[[Callable, bool], Any]) -> Callable[[type], type]:
    """Class decorator: `cls._<name> = make(builder, names)` for every
    builder, `names` true for the one whose first argument is a list of flags."""

    def install(cls: type) -> type:
        for build in ALL:
            setattr(cls, "_" + build.__name__, make(build, build is menabled))
        return cls

    return install
