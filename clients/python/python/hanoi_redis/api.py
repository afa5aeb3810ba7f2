"""hanoi 0.0.4's `Rollout`, over a backend of this package.

    rollout = hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd())

Everything hanoi's Rollout offers keeps its name, arguments and exceptions;
the answers are the module's (see the README for where hanoi 0.0.4 differs).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    NoReturn,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    cast,
)

from ._common import (
    ArmResult,
    Context,
    Explanation,
    Exposure,
    Feature,
    HistoryEntry,
    Info,
    Resolution,
    RolloutException,
    Series,
    Stats,
    TargetingRule,
    all_ids,
    attr_pairs,
    b,
    current,
    experiment_args,
    exposures_args,
    full_definition,
    ids_args,
    old_set_rule,
    regex_source,
    schedule_parts,
    segment_definition,
    targeting_rule,
    text_of,
    track_value,
)
from .backend import BackEnd

#: A decorated function: the decorators give it back with its own type.
F = TypeVar("F", bound=Callable[..., Any])
Guard = Callable[[Tuple[Any, ...], Dict[str, Any]], None]


def _wrap(fn: F, guard: Guard) -> F:
    """`fn`, run only when `guard(args, kwargs)` does not raise; coroutine
    functions stay coroutine functions."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            guard(args, kwargs)
            return await fn(*args, **kwargs)

        return cast(F, async_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        guard(args, kwargs)
        return fn(*args, **kwargs)

    return cast(F, wrapper)


def pick_item(index: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """The decorated call's item: argument `index` (1-based, as in hanoi), or
    the keyword argument of that name."""
    if isinstance(index, str):
        return kwargs[index]
    return args[index - 1]


class Rollout:
    """hanoi's Rollout: define flags, register ids, check them, decorate
    functions. `backend` is a RedisModuleBackEnd or a MemoryBackEnd."""

    def __init__(self, backend: Optional[BackEnd]) -> None:
        self._backend = backend
        self._item: Any = None

    @property
    def backend(self) -> BackEnd:
        if self._backend is None:
            raise TypeError("BackEnd should be a valid BackEnd object")
        return self._backend

    # ----- hanoi 0.0.4 -----

    def add_func(
        self,
        name: str,
        check: Any = None,
        percentage: Any = 0,
        variants: Optional[Sequence[str]] = None,
    ) -> None:
        """Creates the flag (or replaces its definition; registrations stay),
        switched on, for `percentage` % of ids, with optional variants.
        `check` is the items' id attribute (kept in the flag's metadata) or a
        callable giving an item's id (kept in this process)."""
        self.backend.add_functionality(Feature(name, check, percentage, variants))

    def is_enabled(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> bool:
        """Is the flag on for `item` (an id, or an object read through the
        flag's field) and its attributes (`context` dict and/or keywords)?
        Without an item, its switch. A missing flag is off."""
        return self.backend.is_enabled(name, item, context, **attrs)

    def register(self, name: str, item: Any) -> None:
        """Enables the flag for an item (its id), or for every id a compiled
        `re` pattern matches (the module's Rust regex syntax)."""
        if regex_source(item) is not None:
            self.backend.set_rule(name, item)
        else:
            self.backend.add(name, item)

    def set_percentage(self, name: str, percentage: Any) -> None:
        """Sets the percentage; AttributeError outside 0..100, as in hanoi."""
        self.backend.set_percentage(name, percentage)

    def set_current_id(self, item: Any) -> None:
        """hanoi's process-wide current id for `@check(name)`. Prefer
        `with rollout.current_id(item):`, which is per thread and per task."""
        self._item = item

    def cleanup_current_id(self) -> None:
        self._item = None

    def enabled(self, name: str) -> Callable[[F], F]:
        """Decorator: runs the function only when the flag is switched on
        (no id); RolloutException otherwise."""

        def guard(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
            if not self.is_enabled(name):
                raise RolloutException("Feature <%s> is not enabled" % name)

        return lambda fn: _wrap(fn, guard)

    def variant(self, name: str, item: Any, context: Context = None, **attrs: Any) -> Optional[str]:
        """The item's variant: the decided one when the flag is on for it, its
        DEFAULT when off; None when it serves none."""
        return self.backend.variant(name, item, context, **attrs)

    def value(self, name: str, item: Any = None, context: Context = None, **attrs: Any) -> Any:
        """The value the flag serves the item (HANOI.VALUE), decoded: a bool
        for a boolean flag, the variant's name for a string flag, the
        variant's JSON value otherwise; None when no variant is served. Without
        an item: a boolean flag's switch, or a switched-off flag's DEFAULT."""
        return self.backend.value(name, item, context, **attrs)

    def toggle(self, name: str) -> bool:
        return self.backend.toggle(name)

    def disable(self, name: str) -> None:
        self.backend.disable(name)

    def enable(self, name: str) -> None:
        self.backend.enable(name)

    def check(self, func: str, index: Any = None) -> Callable[[F], F]:
        """Decorator: runs the function only when flag `func` is on for the
        item in argument `index` (1-based, as in hanoi; or a keyword name), or
        for the current id when `index` is None. RolloutException otherwise
        (undefined flag, off, or no current id)."""

        def guard(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
            if index is not None:
                item = pick_item(index, args, kwargs)
            else:
                item = self.current()
            if item is None:
                raise RolloutException("Identifier should be set before checking the functionality")
            if not self.backend.is_enabled(func, item):
                self._refuse(func, item)

        return lambda fn: _wrap(fn, guard)

    def _refuse(self, name: str, item: Any) -> NoReturn:
        if self.backend.get_functionality(name) is None:
            raise RolloutException("Feature <%s> is not defined" % name)
        raise RolloutException(
            "Feature <%s> is not enabled for user <%s> "
            % (name, self.backend.item_id(name, item).decode("utf-8", "replace"))
        )

    def __getattr__(self, key: str) -> Callable[..., bool]:
        """`rollout.is_<name>(item)`: hanoi's shortcut for is_enabled; a
        ValueError when the flag does not exist."""
        if key.startswith("_") or not key.startswith("is_"):
            raise AttributeError(key)
        name = key[3:]
        backend = self.backend
        if not backend.knows(name) and backend.get_functionality(name) is None:
            raise ValueError("Feature <%s> not defined" % name)

        def is_name(item: Any = None, context: Context = None, **attrs: Any) -> bool:
            return backend.is_enabled(name, item, context, **attrs)

        return is_name

    # ----- beyond hanoi -----

    @contextlib.contextmanager
    def current_id(self, item: Any) -> Iterator[None]:
        """`@check(name)` uses `item` within the block: per thread and per
        asyncio task (a context variable), unlike set_current_id."""
        token = current.set(item)
        try:
            yield
        finally:
            current.reset(token)

    def current(self) -> Any:
        """The current id: `current_id(...)`'s, else set_current_id's."""
        item = current.get()
        return self._item if item is None else item

    def explain(self, name: str, item: Any, context: Context = None, **attrs: Any) -> Explanation:
        """Why the flag is on or off for the item: HANOI.EXPLAIN."""
        return self.backend.explain(name, item, context, **attrs)

    def enabled_many(
        self, names: Sequence[str], item: Any, context: Context = None, **attrs: Any
    ) -> Dict[str, bool]:
        """{name: on?} for many flags, one round trip (HANOI.MENABLED; in a
        cluster the flags must share a hash tag)."""
        return self.backend.enabled_many(names, item, context, **attrs)

    def define(
        self,
        name: str,
        percentage: Any = 0,
        variants: Optional[Sequence[str]] = None,
        *,
        enabled: bool = True,
        weights: Optional[Sequence[int]] = None,
        salt: Optional[str] = None,
        values: Optional[Sequence[Any]] = None,
        default: Optional[str] = None,
    ) -> None:
        """HANOI.DEFINE with every option: weighted variants, their values
        (Python values sent as JSON, one per variant, all of one type), the
        variant served when off, and a salt."""
        opts = full_definition(percentage, variants, enabled, weights, salt, values, default)
        self.backend.hanoi_define(name, opts)

    def define_segment(self, name: str, salt: Optional[str] = None) -> None:
        """HANOI.DEFINE name SEGMENT: creates (or redefines) a segment, a key
        whose answer is membership. Who is in it: `register`,
        `register_many`, `block`, `set_targeting_rule` (without a variant);
        flags use it in rules: `set_targeting_rule(flag, "betas", [("segment",
        "IN", [name])])`."""
        self.backend.hanoi_define(name, segment_definition(salt))

    def set_prereq(self, name: str, other: str, variant: Optional[str] = None) -> None:
        """HANOI.PREREQ name SET other [VARIANT v]: the flag is off (reason
        `prerequisite`) unless flag `other` is on for the same id and
        attributes (and serves `variant`, if given); appended, or kept in
        place when already there."""
        self.backend.hanoi_prereq_set(name, other, None if variant is None else b(variant))

    def delete_prereq(self, name: str, *others: str) -> int:
        """HANOI.PREREQ name DEL other ...: how many were removed."""
        return self.backend.hanoi_prereq_del(name, list(others))

    def move_prereq(self, name: str, other: str, index: int) -> None:
        """HANOI.PREREQ name MOVE other index (0-based): checked in order."""
        self.backend.hanoi_prereq_move(name, other, int(index))

    def ids(
        self,
        name: str,
        which: str = "users",
        cursor: int = 0,
        match: Optional[str] = None,
        count: Optional[int] = None,
    ) -> Tuple[int, List[str]]:
        """One step of HANOI.IDS: the registered (`which="users"`) or blocked
        (`"blocked"`) ids a page at a time, with SSCAN's guarantee. Returns
        the next cursor (0 at the end) and the ids; `match` is a glob,
        `count` about how many to examine."""
        nxt, found = self.backend.hanoi_scan_ids(name, ids_args(which, cursor, match, count))
        return nxt, [str(text_of(i)) for i in found]

    def iter_ids(
        self,
        name: str,
        which: str = "users",
        match: Optional[str] = None,
        count: Optional[int] = None,
    ) -> Iterator[str]:
        """Every registered (or blocked) id, walking HANOI.IDS to the end
        (as redis-py's `sscan_iter`): an id there the whole walk comes at
        least once."""
        cursor = 0
        while True:
            cursor, found = self.ids(name, which, cursor, match, count)
            yield from found
            if cursor == 0:
                return

    def register_many(self, name: str, items: Sequence[Any]) -> int:
        """Registers many ids in one command; how many were new."""
        return self.backend.hanoi_ids(name, "user", [self.backend.item_id(name, i) for i in items])

    def unregister(self, name: str, item: Any) -> int:
        """Removes a registered id, or a regex (compiled pattern)."""
        pattern = regex_source(item)
        if pattern is not None:
            return self.backend.hanoi_ids(name, "unregex", [pattern])
        return self.backend.hanoi_ids(name, "unuser", [self.backend.item_id(name, item)])

    def block(self, name: str, *items: Any) -> int:
        """Denies the flag to these ids whatever else holds."""
        return self.backend.hanoi_ids(name, "block", [self.backend.item_id(name, i) for i in items])

    def unblock(self, name: str, *items: Any) -> int:
        return self.backend.hanoi_ids(
            name, "unblock", [self.backend.item_id(name, i) for i in items]
        )

    def set_rule(self, name: str, rule: Any, *words: Any) -> None:
        """hanoi 0.0.4's regex rule (the backend's `set_rule`): the flag is on
        for every id `rule` (a compiled `re` pattern or a string, Rust regex
        syntax) matches. A targeting rule is `set_targeting_rule`."""
        if words:
            raise old_set_rule(words)
        self.backend.set_rule(name, rule)

    def set_targeting_rule(
        self,
        name: str,
        rule_name: Union[str, TargetingRule],
        when: Optional[Sequence[Any]] = None,
        rollout: Optional[int] = None,
        variant: Optional[str] = None,
    ) -> None:
        """HANOI.RULE name SET: adds a targeting rule (or replaces the one of
        that name in place), e.g. `set_targeting_rule('cdc_on', 'de',
        [('country', 'EQ', 'DE'), ('plan', 'IN', ['pro', 'team'])],
        rollout=50, variant='b')`. Each condition is a `Condition` or a tuple
        `(attribute, operator[, value or values])`. `rule_name` may be a
        `TargetingRule` (from `describe(...).rules`): it is copied whole."""
        self.backend.hanoi_rule_set(name, targeting_rule(rule_name, when, rollout, variant))

    def delete_targeting_rule(self, name: str, *rule_names: str) -> int:
        """HANOI.RULE name DEL rule ...: how many were removed."""
        return self.backend.hanoi_rule_del(name, all_ids(rule_names))

    def move_targeting_rule(self, name: str, rule_name: str, index: int) -> None:
        """HANOI.RULE name MOVE rule index (0 is tried first)."""
        self.backend.hanoi_rule_move(name, b(rule_name), int(index))

    def delete_rule(self, name: str, *rule_names: str) -> int:
        """Deprecated: `delete_targeting_rule` (the name of 0.1.0)."""
        warnings.warn(
            "delete_rule is deprecated: use delete_targeting_rule", DeprecationWarning, stacklevel=2
        )
        return self.delete_targeting_rule(name, *rule_names)

    def move_rule(self, name: str, rule_name: str, index: int) -> None:
        """Deprecated: `move_targeting_rule` (the name of 0.1.0)."""
        warnings.warn(
            "move_rule is deprecated: use move_targeting_rule", DeprecationWarning, stacklevel=2
        )
        self.move_targeting_rule(name, rule_name, index)

    def set_window(self, name: str, from_ms: int, until_ms: int) -> None:
        """Active between two Unix-ms times (0 leaves a side open)."""
        self.backend.hanoi_window(name, int(from_ms), int(until_ms))

    def set_ramp(self, name: str, from_pct: int, to_pct: int, start_ms: int, end_ms: int) -> None:
        """The percentage moves linearly from `from_pct` to `to_pct`."""
        self.backend.hanoi_ramp(name, int(from_pct), int(to_pct), int(start_ms), int(end_ms))

    def clear_schedule(self, name: str, which: Optional[str] = None) -> None:
        """Clears the window, the ramp, or (None) both."""
        window, ramp = schedule_parts(which)
        self.backend.hanoi_schedule_clear(name, window, ramp)

    def set_meta(self, name: str, **fields: Any) -> int:
        """Metadata fields: description, owner, tags (comma-separated), ..."""
        return self.backend.hanoi_meta_set(name, [(b(k), b(v)) for k, v in fields.items()])

    def delete_meta(self, name: str, *fields: str) -> int:
        """HANOI.META name DEL field ...: how many were removed."""
        return self.backend.hanoi_meta_del(name, all_ids(fields))

    def describe(self, name: str) -> Optional[Info]:
        """The flag's whole definition (HANOI.GET) as a dict, or None."""
        return self.backend.describe(name)

    def resolve(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> Resolution:
        """HANOI.RESOLVE: the item's answer (`.enabled`, `.variant`,
        `.value`, `.reason`, `.explanation`, `.type`) from one evaluation.
        Without an item, the evaluation without an id: reason `needs_id` when
        the answer depends on the id."""
        id_ = b"" if item is None else self.backend.item_id(name, item)
        e, value, type_ = self.backend.hanoi_resolve(name, id_, attr_pairs(context, attrs))
        return Resolution(e, value, type_)

    def history(self, name: str, count: Optional[int] = None) -> List[HistoryEntry]:
        """HANOI.HISTORY: the writes that changed the flag, newest first (at
        most `count`); none for a missing flag."""
        return self.backend.hanoi_history(name, None if count is None else int(count))

    def stats(self, name: str) -> Optional[Stats]:
        """HANOI.STATS: the server's evaluation counts of the flag (a
        MemoryBackEnd's: this process's), or None when it does not exist."""
        return self.backend.hanoi_stats(name)

    def stats_series(self, name: str) -> Optional[Series]:
        """HANOI.STATS SERIES: the server's counts over the last 60 minutes
        and 168 hours, oldest first, or None when the flag does not exist."""
        return self.backend.hanoi_stats_series(name)

    def reset_stats(self, name: str) -> None:
        """HANOI.TALLY name RESET: the server's counts of the flag (and its
        series) start again from zero."""
        self.backend.hanoi_reset_stats(name)

    # ----- experiments (HANOI.EXPERIMENT, ASSIGN, TRACK) -----

    def start_experiment(
        self,
        name: str,
        metrics: Sequence[str],
        control: Optional[str] = None,
        reset: bool = False,
    ) -> None:
        """HANOI.EXPERIMENT name START: the flag's random split becomes an
        A/B test with these metrics (1 to 32); its arms are `off`/`on` or the
        variants, `control` by default `off` or the first variant. `reset`
        drops a stopped experiment's data."""
        self.backend.hanoi_experiment(name, experiment_args(metrics, control, reset))

    def stop_experiment(self, name: str) -> None:
        """HANOI.EXPERIMENT name STOP: stops recording (and sticky arms); the data stays."""
        self.backend.hanoi_experiment(name, [b"STOP"])

    def assign(self, name: str, item: Any, context: Context = None, **attrs: Any) -> Resolution:
        """HANOI.ASSIGN: the item's answer (as HANOI.RESOLVE's: `.enabled`,
        `.variant`, `.value`, `.reason`) and, while the flag's experiment
        runs, its first exposure recorded when the random split decided it.
        A write (one round trip, also on a MirrorBackEnd)."""
        id_ = self.backend.item_id(name, item)
        e, value, type_ = self.backend.hanoi_assign(name, id_, attr_pairs(context, attrs))
        return Resolution(e, value, type_)

    def track(self, name: str, item: Any, metric: str, value: int = 1) -> bool:
        """HANOI.TRACK: adds `value` (an integer from 0 to 2^53: cents, ms) to
        the exposed item's total for `metric`; whether it was recorded (False:
        not exposed, a metric not declared, no running experiment)."""
        id_ = self.backend.item_id(name, item)
        return self.backend.hanoi_track(name, id_, b(metric), track_value(value))

    def experiment_results(self, name: str) -> Optional[List[ArmResult]]:
        """HANOI.EXPERIMENT name RESULTS: one `ArmResult` per arm (exposures;
        per metric converted, sum, sum of squares), or None without an
        experiment."""
        return self.backend.hanoi_experiment_results(name)

    def experiment_exposures(
        self, name: str, cursor: int = 0, count: Optional[int] = None
    ) -> Tuple[int, List[Exposure]]:
        """One page of HANOI.EXPERIMENT name EXPOSURES: the next cursor (0 at
        the end) and `Exposure(id, arm, time)`s in the order made."""
        return self.backend.hanoi_experiment_exposures(name, exposures_args(cursor, count))

    def iter_exposures(self, name: str, count: Optional[int] = None) -> Iterator[Exposure]:
        """Every exposure, walking EXPOSURES to the end (each once, in order)."""
        cursor = 0
        while True:
            cursor, page = self.experiment_exposures(name, cursor, count)
            yield from page
            if cursor == 0:
                return

    def names(self) -> List[str]:
        """Every flag's name, sorted."""
        return self.backend.names()

    def delete(self, name: str) -> bool:
        """Deletes the flag; whether it existed."""
        return self.backend.delete(name)
