"""Each HANOI.* command once: its arguments and how its reply reads in Python.

A builder returns `(args, parse)`; the sync and the asyncio Redis backends
send `args` and pass the reply to `parse` (`RedisModuleBackEnd.hanoi_*`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

from ._common import (
    IDS_FIELDS,
    ArmResult,
    Explanation,
    Exposure,
    HistoryEntry,
    IdList,
    Info,
    Pairs,
    Series,
    Stats,
    TargetingRule,
    b,
    by_position,
    experiment_results,
    exposures_page,
    history_entries,
    info_dict,
    json_value,
    resolution,
    series_of,
    stats_of,
    text_of,
    with_args,
)

T = TypeVar("T")
#: A command's arguments, and what reads its reply.
Built = Tuple[List[Any], Callable[[Any], T]]


def _one(reply: Any) -> bool:
    return bool(reply == 1)


def _int(reply: Any) -> int:
    return int(reply)


def _none(reply: Any) -> None:
    return None


def _variant(reply: Any) -> Optional[str]:
    return None if reply is None else str(text_of(reply))


def enabled(key: bytes, id_: Optional[bytes], pairs: Pairs) -> Built[bool]:
    args: List[Any] = ["HANOI.ENABLED", key]
    if id_ is not None:
        args += [id_] + with_args(pairs)
    return args, _one


def variant(key: bytes, id_: bytes, pairs: Pairs) -> Built[Optional[str]]:
    return ["HANOI.VARIANT", key, id_] + with_args(pairs), _variant


def value(key: bytes, id_: Optional[bytes], pairs: Pairs) -> Built[Any]:
    args: List[Any] = ["HANOI.VALUE", key]
    if id_ is not None:
        args += [id_] + with_args(pairs)
    return args, json_value


def resolve(
    key: bytes, id_: bytes, pairs: Pairs, prefix: bytes = b""
) -> Built[Tuple[Explanation, Any, Optional[str]]]:
    """HANOI.RESOLVE; the keys the answer names lose `prefix`."""
    return ["HANOI.RESOLVE", key, id_] + with_args(pairs), lambda r: resolution(r, prefix)


def assign(
    key: bytes, id_: bytes, pairs: Pairs, prefix: bytes = b""
) -> Built[Tuple[Explanation, Any, Optional[str]]]:
    """HANOI.ASSIGN: RESOLVE's reply, the id's first exposure recorded."""
    return ["HANOI.ASSIGN", key, id_] + with_args(pairs), lambda r: resolution(r, prefix)


def track(key: bytes, id_: bytes, metric: bytes, value: int) -> Built[bool]:
    """HANOI.TRACK key id metric [value]: whether it was recorded."""
    args: List[Any] = ["HANOI.TRACK", key, id_, metric]
    if value != 1:
        args.append(value)
    return args, _one


def experiment(key: bytes, args: Sequence[bytes]) -> Built[None]:
    """HANOI.EXPERIMENT key START ... | STOP (`args`: from the subcommand on)."""
    return ["HANOI.EXPERIMENT", key] + list(args), _none


def experiment_results_of(key: bytes) -> Built[Optional[List[ArmResult]]]:
    """HANOI.EXPERIMENT key RESULTS: one `ArmResult` per arm, or None."""
    return ["HANOI.EXPERIMENT", key, b"RESULTS"], experiment_results


def experiment_exposures(key: bytes, args: Sequence[bytes]) -> Built[Tuple[int, List[Exposure]]]:
    """HANOI.EXPERIMENT key EXPOSURES cursor [COUNT n] (`args`: from the cursor on)."""
    return ["HANOI.EXPERIMENT", key, b"EXPOSURES"] + list(args), exposures_page


def explain(key: bytes, id_: bytes, pairs: Pairs, prefix: bytes = b"") -> Built[Explanation]:
    """HANOI.EXPLAIN; the keys the answer names lose `prefix`."""
    return ["HANOI.EXPLAIN", key, id_] + with_args(pairs), lambda r: Explanation.from_reply(
        r, prefix
    )


def menabled(keys: Sequence[bytes], id_: bytes, pairs: Pairs) -> Built[List[bool]]:
    args: List[Any] = ["HANOI.MENABLED", id_]
    if pairs or (keys and keys[0].upper() == b"WITH"):
        args += [b"WITH", len(pairs)]
        for k, v in pairs:
            args += [k, v]
    return args + list(keys), lambda reply: [r == 1 for r in reply]


def define(key: bytes, options: Sequence[bytes]) -> Built[None]:
    return ["HANOI.DEFINE", key] + list(options), _none


_IDS: Dict[str, Tuple[Any, ...]] = {
    "user": ("HANOI.REGISTER", b"USER"),
    "regex": ("HANOI.REGISTER", b"REGEX"),
    "unuser": ("HANOI.UNREGISTER", b"USER"),
    "unregex": ("HANOI.UNREGISTER", b"REGEX"),
    "block": ("HANOI.BLOCK",),
    "unblock": ("HANOI.UNBLOCK",),
}


def ids(key: bytes, what: IdList, items: Sequence[bytes]) -> Built[int]:
    cmd, *target = _IDS[what]
    return [cmd, key] + target + list(items), _int


def _scan(reply: Any) -> Tuple[int, List[bytes]]:
    f = by_position(reply, IDS_FIELDS, "HANOI.IDS")
    return int(f["cursor"]), [bytes(i) for i in f["ids"]]


def scan_ids(key: bytes, args: Sequence[bytes]) -> Built[Tuple[int, List[bytes]]]:
    """HANOI.IDS key USERS|BLOCKED cursor [MATCH pattern] [COUNT n]."""
    return ["HANOI.IDS", key] + list(args), _scan


def enable(key: bytes) -> Built[None]:
    return ["HANOI.ENABLE", key], _none


def disable(key: bytes) -> Built[None]:
    return ["HANOI.DISABLE", key], _none


def toggle(key: bytes) -> Built[bool]:
    return ["HANOI.TOGGLE", key], _one


def set_percentage(key: bytes, pct: int) -> Built[None]:
    return ["HANOI.PERCENTAGE", key, pct], _none


def rule_set(key: bytes, rule: TargetingRule, prefix: bytes = b"") -> Built[None]:
    """HANOI.RULE key SET name [ROLLOUT p] [VARIANT v] IF ...: the segments
    its conditions name get `prefix` (keys for the module)."""
    rule = rule.segments(prefix, add=True)
    return ["HANOI.RULE", key, b"SET", b(rule.name)] + rule.words(), _none


def delete_rules(key: bytes, rules: Sequence[bytes]) -> Built[int]:
    return ["HANOI.RULE", key, b"DEL"] + list(rules), _int


def move_rule(key: bytes, rule: bytes, index: int) -> Built[None]:
    return ["HANOI.RULE", key, b"MOVE", rule, index], _none


def set_window(key: bytes, from_ms: int, until_ms: int) -> Built[None]:
    return ["HANOI.SCHEDULE", key, b"WINDOW", from_ms, until_ms], _none


def set_ramp(key: bytes, from_pct: int, to_pct: int, start_ms: int, end_ms: int) -> Built[None]:
    return ["HANOI.SCHEDULE", key, b"RAMP", from_pct, to_pct, start_ms, end_ms], _none


def clear_schedule(key: bytes, window: bool, ramp: bool) -> Built[None]:
    which: List[bytes] = [] if window == ramp else [b"WINDOW" if window else b"RAMP"]
    return ["HANOI.SCHEDULE", key, b"CLEAR"] + which, _none


def meta_set(key: bytes, pairs: Pairs) -> Built[int]:
    args: List[Any] = ["HANOI.META", key, b"SET"]
    for k, v in pairs:
        args += [k, v]
    return args, _int


def meta_del(key: bytes, fields: Sequence[bytes]) -> Built[int]:
    return ["HANOI.META", key, b"DEL"] + list(fields), _int


def prereq_set(key: bytes, args: Sequence[bytes]) -> Built[None]:
    """HANOI.PREREQ key SET other [VARIANT v] (`args`: from `other` on)."""
    return ["HANOI.PREREQ", key, b"SET"] + list(args), _none


def prereq_del(key: bytes, others: Sequence[bytes]) -> Built[int]:
    return ["HANOI.PREREQ", key, b"DEL"] + list(others), _int


def prereq_move(key: bytes, other: bytes, index: int) -> Built[None]:
    return ["HANOI.PREREQ", key, b"MOVE", other, index], _none


def history(key: bytes, count: Optional[int]) -> Built[List[HistoryEntry]]:
    """HANOI.HISTORY key [COUNT n]: newest first."""
    args: List[Any] = ["HANOI.HISTORY", key]
    if count is not None:
        args += [b"COUNT", int(count)]
    return args, history_entries


def stats(key: bytes) -> Built[Optional[Stats]]:
    """HANOI.STATS key: this server's counts, or None (no such flag)."""
    return ["HANOI.STATS", key], stats_of


def stats_series(key: bytes) -> Built[Optional[Series]]:
    """HANOI.STATS key SERIES: per minute and per hour, or None."""
    return ["HANOI.STATS", key, b"SERIES"], series_of


def reset_stats(key: bytes) -> Built[None]:
    """HANOI.TALLY key RESET: this server's counts start again (a write)."""
    return ["HANOI.TALLY", key, b"RESET"], _none


def info(key: bytes, prefix: bytes = b"") -> Built[Optional[Info]]:
    """HANOI.GET; the keys it names lose `prefix` (see `info_dict`)."""
    return ["HANOI.GET", key], lambda reply: info_dict(reply, prefix)
