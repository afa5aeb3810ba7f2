"""Types of `hanoi_redis._core`, the PyO3 extension (clients/python/src/lib.rs):
hanoi-core's in-memory evaluator, the Redis module's own rules.

Names, ids and values go in as `bytes` (the Python layer encodes `str`);
errors come out as `HanoiCoreError` with the module's message (`no such
flag`, ...).
"""

from typing import Dict, List, Literal, Optional, Sequence, Tuple, Union, final

__all__ = ["Engine", "HanoiCoreError", "openfeature_reason"]

_Pairs = Sequence[Tuple[bytes, bytes]]

class HanoiCoreError(Exception):
    """An error from hanoi-core."""

def openfeature_reason(reason: str) -> str:
    """OpenFeature's reason for a hanoi reason (`HANOI.EXPLAIN`'s third
    field), from the core: the mapping OFREP uses too."""

@final
class Engine:
    """An in-memory set of flags, evaluated by hanoi-core. Thread-safe: reads
    share a lock, writes take it alone. References (prerequisites,
    `segment IN`) are Redis keys: `prefix` is what the keys of the flags
    held here start with (their names here are without it)."""

    def __new__(cls, prefix: bytes = ...) -> "Engine": ...
    def dependents(self, names: Sequence[bytes]) -> List[bytes]:
        """The flags here that use any of `names`, directly or through other
        flags and segments (sorted)."""
    def define(self, name: bytes, options: Sequence[bytes]) -> None:
        """`HANOI.DEFINE name [options...]`: creates or replaces the definition
        (with `PERCENTAGE`, a running ramp ends), as the module does."""
    def run(self, command: bytes, name: bytes, args: Sequence[bytes]) -> Union[str, int]:
        """Any write as the module gets it: `command` (`RULE`, `HANOI.RULE`),
        the flag's name, the arguments after it. The reply as the module's:
        `"OK"`, a count, or the new state (`TOGGLE`) as 1 or 0."""
    def delete(self, name: bytes) -> bool:
        """Deletes the flag; whether it existed."""
    def exists(self, name: bytes) -> bool: ...
    def names(self) -> List[bytes]: ...
    def scan_ids(self, name: bytes, args: Sequence[bytes]) -> Tuple[int, List[bytes]]: ...
    def ids(
        self,
        name: bytes,
        what: Literal["user", "regex", "unuser", "unregex", "block", "unblock"],
        items: Sequence[bytes],
    ) -> int:
        """`HANOI.REGISTER name USER|REGEX ...`, `HANOI.UNREGISTER`,
        `HANOI.BLOCK`, `HANOI.UNBLOCK`: how many were added or removed."""
    def enable(self, name: bytes) -> None: ...
    def disable(self, name: bytes) -> None: ...
    def toggle(self, name: bytes) -> bool:
        """Flips the switch; the new state."""
    def set_percentage(self, name: bytes, percentage: int) -> None: ...
    def enabled(self, name: bytes, id: Optional[bytes] = None, attrs: _Pairs = ...) -> bool:
        """`HANOI.ENABLED name [id [WITH ...]]`."""
    def menabled(self, names: Sequence[bytes], id: bytes, attrs: _Pairs = ...) -> List[bool]:
        """`HANOI.MENABLED id [WITH ...] name ...`."""
    def variant(self, name: bytes, id: bytes, attrs: _Pairs = ...) -> Optional[bytes]:
        """`HANOI.VARIANT name id [WITH ...]`."""
    def value(
        self, name: bytes, id: Optional[bytes] = None, attrs: _Pairs = ...
    ) -> Optional[bytes]:
        """`HANOI.VALUE name [id [WITH ...]]`: the JSON text served, or None."""
    def resolve(
        self, name: bytes, id: bytes, attrs: _Pairs = ...
    ) -> List[Union[int, bytes, str, None]]:
        """`HANOI.RESOLVE name id [WITH ...]`: [enabled, variant, value (JSON
        text), reason, detail, effective percentage, type], as the module
        replies."""
    def explain(
        self, name: bytes, id: bytes, attrs: _Pairs = ...
    ) -> List[Union[int, bytes, str, None]]:
        """`HANOI.EXPLAIN name id [WITH ...]`: [enabled (0 or 1), variant,
        reason, detail (a regex or rule name as bytes, or a bucket), effective
        percentage], as the module replies."""
    def load(self, name: bytes, data: bytes) -> None:
        """Puts a flag in from `HANOI.EXPORT`'s bytes (hanoi-core's codec),
        replacing any flag of that name; its evaluations not yet taken carry
        over. `HanoiCoreError` for bytes that are not a flag."""
    def take_counts(self) -> List[Tuple[bytes, int, int, List[Tuple[bytes, int]]]]:
        """The evaluations counted since the last take, per flag evaluated at
        least once: (name, evaluations, enabled, [(variant, count), ...]);
        zero again after (what `HANOI.TALLY` adds on the server)."""
    def heap_size(self, name: bytes) -> Optional[int]:
        """The heap bytes hanoi-core holds for the flag, or None."""
    def set_rule(self, name: bytes, rule: bytes, args: Sequence[bytes]) -> None:
        """`HANOI.RULE name SET rule args...`."""
    def delete_rules(self, name: bytes, rules: Sequence[bytes]) -> int:
        """`HANOI.RULE name DEL rule ...`: how many were removed."""
    def move_rule(self, name: bytes, rule: bytes, index: int) -> None:
        """`HANOI.RULE name MOVE rule index`."""
    def set_window(self, name: bytes, from_ms: int, until_ms: int) -> None:
        """`HANOI.SCHEDULE name WINDOW from until`."""
    def set_ramp(self, name: bytes, from_pct: int, to_pct: int, start_ms: int, end_ms: int) -> None:
        """`HANOI.SCHEDULE name RAMP from to start end`."""
    def clear_schedule(self, name: bytes, window: bool, ramp: bool) -> None:
        """`HANOI.SCHEDULE name CLEAR [WINDOW|RAMP]`."""
    def meta_set(self, name: bytes, pairs: _Pairs) -> int:
        """`HANOI.META name SET field value ...`: fields added or changed."""
    def meta_del(self, name: bytes, fields: Sequence[bytes]) -> int:
        """`HANOI.META name DEL field ...`: fields removed."""
    def assign(
        self, name: bytes, id: bytes, attrs: _Pairs = ...
    ) -> List[Union[int, bytes, str, None]]:
        """`HANOI.ASSIGN name id [WITH ...]`: `HANOI.RESOLVE`'s list, after
        recording the id's first exposure (experiment running, random split)."""
    def track(self, name: bytes, id: bytes, metric: bytes, value: int) -> bool:
        """`HANOI.TRACK name id metric value`: whether it was recorded."""
    def expose(self, name: bytes, triples: Sequence[bytes]) -> int:
        """Exposures made elsewhere (`id, arm, Unix ms` triples; the first
        one wins): how many were new."""
    def results(
        self, name: bytes
    ) -> Optional[List[Tuple[bytes, bool, int, List[Tuple[bytes, int, int, int]]]]]:
        """`HANOI.EXPERIMENT name RESULTS`: per arm (arm, control, exposures,
        [(metric, converted, sum, sum of squares), ...]); None without one."""
    def exposures(
        self, name: bytes, args: Sequence[bytes]
    ) -> Tuple[int, List[Tuple[bytes, bytes, int]]]:
        """`HANOI.EXPERIMENT name EXPOSURES cursor [COUNT n]` (the arguments
        after EXPOSURES): the next cursor and (id, arm, Unix ms) triples."""
    def get(self, name: bytes) -> Optional[Dict[str, object]]:
        """`HANOI.GET name`: the same fields as the module's map, or None."""
    def stats(self, name: bytes) -> Optional[Dict[bytes, object]]:
        """`HANOI.STATS name`: this process's counts (the module's map), or
        None; `last_evaluated` stays None (no clock read per evaluation)."""
    def reset_stats(self, name: bytes) -> bool:
        """`HANOI.TALLY name RESET`: the counts start again; whether the flag exists."""
