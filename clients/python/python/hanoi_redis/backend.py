"""Backends: hanoi 0.0.4's backend API over the hanoi Redis module, or over
hanoi-core in this process. Both decide with the same Rust code.

`BackEnd` (a `typing.Protocol`) is what `Rollout` needs from a backend:
hanoi's methods (`add_functionality`, `get_functionality`, `is_enabled`,
...), the ones beyond hanoi (`explain`, `describe`, ...), and one `hanoi_*`
method per HANOI.* command. `RedisModuleBackEnd` sends those commands to
Redis; `MemoryBackEnd` runs them in hanoi-core; everything above them is
shared (`_BackEnd`).
"""

from __future__ import annotations

import contextlib
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    TypeVar,
    runtime_checkable,
)

import redis

from . import _commands as cmd
from ._common import (
    FIELD,
    ArmResult,
    Context,
    Explanation,
    Exposure,
    Feature,
    FlagNotFound,
    HanoiError,
    HistoryEntry,
    IdList,
    Info,
    Pairs,
    Series,
    Stats,
    TargetingRule,
    attr_pairs,
    b,
    define_options,
    experiment_results,
    exposures_page,
    feature_from_info,
    info_dict,
    is_plain,
    item_id,
    json_value,
    prefix_match,
    prereq_args,
    raise_refusal,
    regex_source,
    resolution,
    stats_of,
    text_of,
    validate_percentage,
)

T = TypeVar("T")


@runtime_checkable
class BackEnd(Protocol):
    """What a `Rollout` calls on its backend; `RedisModuleBackEnd` and
    `MemoryBackEnd` implement all of it, with the same answers.

    `name` is a flag's name (str); an `item` is an id (str, bytes or int) or
    an object whose id is read through the flag's field. A missing flag is
    `FlagNotFound` wherever a write or a lookup needs it; refusals of the
    module (or hanoi-core) are `HanoiError` with its message."""

    # ----- hanoi 0.0.4's backend API -----

    def add_functionality(self, fn: Feature) -> None:
        """Creates the flag or replaces its definition (switch, percentage,
        variants; registrations stay); the id field goes to the flag's
        metadata when it is an attribute name, or stays in this process when
        it is a callable."""
        ...

    def get_functionality(self, name: str) -> Optional[Feature]:
        """hanoi's Feature for the flag, or None when it does not exist."""
        ...

    def get_functionalities(self) -> List[str]:
        """Every flag's name, sorted (as `names`)."""
        ...

    def add(self, name: str, item: Any) -> None:
        """Registers the item's id: the flag is on for it."""
        ...

    def set_rule(self, name: str, rule: Any) -> None:
        """hanoi's regex rule: registers a pattern (a compiled `re` pattern or
        a string, in Rust regex syntax), added to the flag's regexes."""
        ...

    def set_percentage(self, name: str, percentage: Any) -> None:
        """Sets the percentage; AttributeError outside 0..100 or not a number."""
        ...

    def is_enabled(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> bool:
        """Is the flag on for the item and its attributes? Without an item,
        its switch. A missing flag is off. One command."""
        ...

    def variant(self, name: str, item: Any, context: Context = None, **attrs: Any) -> Optional[str]:
        """The item's variant: the decided one when the flag is on for it, its
        DEFAULT when off; None when it serves none."""
        ...

    def value(self, name: str, item: Any = None, context: Context = None, **attrs: Any) -> Any:
        """The value the flag serves the item (HANOI.VALUE), decoded: a bool
        for a boolean flag, the variant's name for a string flag, the
        variant's JSON value otherwise; None when no variant is served."""
        ...

    def enable(self, name: str, enable_to_all: bool = False) -> None:
        """Switches the flag on (and to 100 % with `enable_to_all`)."""
        ...

    def disable(self, name: str) -> None:
        """Switches the flag off: off for everyone."""
        ...

    def toggle(self, name: str) -> bool:
        """Flips the switch; the new state."""
        ...

    # ----- beyond hanoi -----

    def item_id(self, name: str, item: Any) -> bytes:
        """The id the module sees for `item`: itself when it is a string or a
        number, else read through the flag's field (looked up once per flag
        and process, then remembered)."""
        ...

    def knows(self, name: str) -> bool:
        """Whether this process already saw the flag (defined it or read its
        field): no command sent."""
        ...

    def explain(self, name: str, item: Any, context: Context = None, **attrs: Any) -> Explanation:
        """Why the flag is on or off for the item (HANOI.EXPLAIN)."""
        ...

    def enabled_many(
        self, names: Sequence[str], item: Any, context: Context = None, **attrs: Any
    ) -> Dict[str, bool]:
        """{name: on?} for many flags and one item, in one command. Objects
        are read through the first flag's field."""
        ...

    def describe(self, name: str) -> Optional[Info]:
        """The flag's whole definition (HANOI.GET) as a dict, or None."""
        ...

    def names(self) -> List[str]:
        """Every flag's name, sorted (a Redis backend: under its prefix)."""
        ...

    def delete(self, name: str) -> bool:
        """Deletes the flag; whether it existed."""
        ...

    # ----- one method per HANOI.* command: ids and values already bytes -----

    def hanoi_enabled(self, name: str, id_: Optional[bytes], pairs: Pairs) -> bool:
        """HANOI.ENABLED name [id [WITH attr value ...]]: a missing flag is off."""
        ...

    def hanoi_variant(self, name: str, id_: bytes, pairs: Pairs) -> Optional[str]:
        """HANOI.VARIANT name id [WITH ...]."""
        ...

    def hanoi_value(self, name: str, id_: Optional[bytes], pairs: Pairs) -> Any:
        """HANOI.VALUE name [id [WITH ...]], decoded from its JSON (None: nil)."""
        ...

    def hanoi_explain(self, name: str, id_: bytes, pairs: Pairs) -> Explanation:
        """HANOI.EXPLAIN name id [WITH ...] (reason `undefined` for a missing flag)."""
        ...

    def hanoi_resolve(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        """HANOI.RESOLVE name id [WITH ...]: the explanation, the value served
        (decoded) and the flag's type (None for a missing flag), from one
        evaluation."""
        ...

    def hanoi_menabled(self, names: Sequence[str], id_: bytes, pairs: Pairs) -> List[bool]:
        """HANOI.MENABLED id [WITH ...] name ...: one answer per name."""
        ...

    def hanoi_assign(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        """HANOI.ASSIGN name id [WITH ...]: HANOI.RESOLVE's answer, and while
        the flag's experiment runs the id's first exposure recorded (when
        the random split answered it). A write."""
        ...

    def hanoi_track(self, name: str, id_: bytes, metric: bytes, value: int) -> bool:
        """HANOI.TRACK name id metric value: whether a conversion was
        recorded (an exposed id, a metric of the running experiment)."""
        ...

    def hanoi_experiment(self, name: str, args: Sequence[bytes]) -> None:
        """HANOI.EXPERIMENT name START [CONTROL arm] METRICS n m... [RESET] | STOP."""
        ...

    def hanoi_experiment_results(self, name: str) -> Optional[List[ArmResult]]:
        """HANOI.EXPERIMENT name RESULTS: per arm, or None without an experiment."""
        ...

    def hanoi_experiment_exposures(
        self, name: str, args: Sequence[bytes]
    ) -> Tuple[int, List[Exposure]]:
        """HANOI.EXPERIMENT name EXPOSURES cursor [COUNT n]: the next cursor
        (0 at the end) and a page of exposures."""
        ...

    def hanoi_define(self, name: str, options: Sequence[bytes]) -> None:
        """HANOI.DEFINE name options... (ENABLED|DISABLED, PERCENTAGE n,
        VARIANTS n v..., WEIGHTS w..., SALT s): creates or replaces."""
        ...

    def hanoi_ids(self, name: str, what: IdList, items: Sequence[bytes]) -> int:
        """HANOI.REGISTER (`user`, `regex`), HANOI.UNREGISTER (`unuser`,
        `unregex`), HANOI.BLOCK, HANOI.UNBLOCK: how many were added or removed."""
        ...

    def hanoi_scan_ids(self, name: str, args: Sequence[bytes]) -> Tuple[int, List[bytes]]:
        """HANOI.IDS name USERS|BLOCKED cursor [MATCH pattern] [COUNT n]: the
        next cursor (0 at the end) and a page of ids."""
        ...

    def hanoi_enable(self, name: str) -> None:
        """HANOI.ENABLE name."""
        ...

    def hanoi_disable(self, name: str) -> None:
        """HANOI.DISABLE name."""
        ...

    def hanoi_toggle(self, name: str) -> bool:
        """HANOI.TOGGLE name: the new state."""
        ...

    def hanoi_percentage(self, name: str, percentage: int) -> None:
        """HANOI.PERCENTAGE name pct (0..100; ends a running ramp)."""
        ...

    def hanoi_rule_set(self, name: str, rule: TargetingRule) -> None:
        """HANOI.RULE name SET rule ...: adds or replaces a targeting rule (the
        segments it names are names: a Redis backend puts its prefix before them)."""
        ...

    def hanoi_rule_del(self, name: str, rules: Sequence[bytes]) -> int:
        """HANOI.RULE name DEL rule ...: how many were removed."""
        ...

    def hanoi_rule_move(self, name: str, rule: bytes, index: int) -> None:
        """HANOI.RULE name MOVE rule index: rules are tried in order."""
        ...

    def hanoi_prereq_set(self, name: str, other: str, variant: Optional[bytes]) -> None:
        """HANOI.PREREQ name SET other [VARIANT v]: `other` (a flag's name)
        must be on for the same id first (serving `variant` if given)."""
        ...

    def hanoi_prereq_del(self, name: str, others: Sequence[str]) -> int:
        """HANOI.PREREQ name DEL other ...: how many were removed."""
        ...

    def hanoi_prereq_move(self, name: str, other: str, index: int) -> None:
        """HANOI.PREREQ name MOVE other index: prerequisites are checked in order."""
        ...

    def hanoi_window(self, name: str, from_ms: int, until_ms: int) -> None:
        """HANOI.SCHEDULE name WINDOW from until (Unix ms; 0 leaves a side open)."""
        ...

    def hanoi_ramp(self, name: str, from_pct: int, to_pct: int, start_ms: int, end_ms: int) -> None:
        """HANOI.SCHEDULE name RAMP from to start end."""
        ...

    def hanoi_schedule_clear(self, name: str, window: bool, ramp: bool) -> None:
        """HANOI.SCHEDULE name CLEAR [WINDOW|RAMP]: the window, the ramp, or both."""
        ...

    def hanoi_meta_set(self, name: str, pairs: Pairs) -> int:
        """HANOI.META name SET field value ...: fields added or changed."""
        ...

    def hanoi_meta_del(self, name: str, fields: Sequence[bytes]) -> int:
        """HANOI.META name DEL field ...: fields removed."""
        ...

    def hanoi_get(self, name: str) -> Optional[Info]:
        """HANOI.GET name as a dict (str keys, metadata as str), or None."""
        ...

    def hanoi_history(self, name: str, count: Optional[int]) -> List[HistoryEntry]:
        """HANOI.HISTORY name [COUNT n]: the writes that changed the flag,
        newest first (none for a missing flag)."""
        ...

    def hanoi_stats(self, name: str) -> Optional[Stats]:
        """HANOI.STATS name: the evaluation counts, or None (no such flag)."""
        ...

    def hanoi_stats_series(self, name: str) -> Optional[Series]:
        """HANOI.STATS name SERIES: the counts per minute and per hour, or None."""
        ...

    def hanoi_reset_stats(self, name: str) -> None:
        """HANOI.TALLY name RESET: the counts start again from zero."""
        ...


_UNKNOWN = object()


class _BackEnd(BackEnd):
    """hanoi's backend methods (BackEnd's first two parts), on the `hanoi_*`
    command methods each backend implements (mypy refuses a backend that
    misses one: they are the Protocol's)."""

    def __init__(self) -> None:
        # The id field of each flag seen by this process: an attribute name,
        # a callable (never stored), or None. Filled by add_functionality and
        # by the first object item checked against a flag.
        self._fields: Dict[str, Any] = {}

    # ----- ids -----

    def _field(self, name: str) -> Any:
        field = self._fields.get(name, _UNKNOWN)
        if field is _UNKNOWN:
            info = self.hanoi_get(name)
            field = info.metadata.get(FIELD) if info is not None else None
            if info is not None:
                self._fields[name] = field
        return field

    def item_id(self, name: str, item: Any) -> bytes:
        if is_plain(item):
            return b(item)
        return b(item_id(self._field(name), item))

    def knows(self, name: str) -> bool:
        return name in self._fields

    # ----- hanoi 0.0.4's backend API -----

    def add_functionality(self, fn: Feature) -> None:
        self.hanoi_define(fn.name, define_options(fn.enabled, fn.percentage, fn.variants))
        stored = self.hanoi_get(fn.name)
        had = stored.metadata.get(FIELD) if stored is not None else None
        if isinstance(fn.field, str) and fn.field != had:
            self.hanoi_meta_set(fn.name, [(b(FIELD), b(fn.field))])
        elif not isinstance(fn.field, str) and had is not None:
            self.hanoi_meta_del(fn.name, [b(FIELD)])
        self._fields[fn.name] = fn.field

    def get_functionality(self, name: str) -> Optional[Feature]:
        info = self.hanoi_get(name)
        if info is None:
            self._fields.pop(name, None)
            return None
        local = self._fields.get(name)
        feature = feature_from_info(name, info, local)
        self._fields[name] = feature.field
        return feature

    def get_functionalities(self) -> List[str]:
        return self.names()

    def add(self, name: str, item: Any) -> None:
        self.hanoi_ids(name, "user", [self.item_id(name, item)])

    def set_rule(self, name: str, rule: Any) -> None:
        self.hanoi_ids(name, "regex", [regex_source(rule) or b(rule)])

    def set_percentage(self, name: str, percentage: Any) -> None:
        self.hanoi_percentage(name, validate_percentage(percentage))

    def is_enabled(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> bool:
        if item is None:
            return self.hanoi_enabled(name, None, ())
        return self.hanoi_enabled(name, self.item_id(name, item), attr_pairs(context, attrs))

    def variant(self, name: str, item: Any, context: Context = None, **attrs: Any) -> Optional[str]:
        return self.hanoi_variant(name, self.item_id(name, item), attr_pairs(context, attrs))

    def value(self, name: str, item: Any = None, context: Context = None, **attrs: Any) -> Any:
        if item is None:
            return self.hanoi_value(name, None, ())
        return self.hanoi_value(name, self.item_id(name, item), attr_pairs(context, attrs))

    def enable(self, name: str, enable_to_all: bool = False) -> None:
        self.hanoi_enable(name)
        if enable_to_all:
            self.hanoi_percentage(name, 100)

    def disable(self, name: str) -> None:
        self.hanoi_disable(name)

    def toggle(self, name: str) -> bool:
        return self.hanoi_toggle(name)

    # ----- beyond hanoi -----

    def explain(self, name: str, item: Any, context: Context = None, **attrs: Any) -> Explanation:
        return self.hanoi_explain(name, self.item_id(name, item), attr_pairs(context, attrs))

    def enabled_many(
        self, names: Sequence[str], item: Any, context: Context = None, **attrs: Any
    ) -> Dict[str, bool]:
        names = list(names)
        if not names:
            return {}
        id_ = self.item_id(names[0], item)
        return dict(zip(names, self.hanoi_menabled(names, id_, attr_pairs(context, attrs))))

    def describe(self, name: str) -> Optional[Info]:
        return self.hanoi_get(name)


def _redis_client(obj: Any) -> Any:
    """hanoi's convention: a client, a (host, port[, db]) tuple, or None for localhost."""
    if obj is None:
        return redis.Redis()
    if isinstance(obj, (list, tuple)):
        db = obj[2] if len(obj) >= 3 else 0
        return redis.Redis(host=obj[0], port=obj[1], db=db)
    return obj


class RedisModuleBackEnd(_BackEnd):
    """Flags in Redis, evaluated by the hanoi module: one round trip per check.

    `obj` is a redis-py client (`redis.Redis`, `redis.RedisCluster`), a
    `(host, port[, db])` tuple, or None for localhost:6379, as in hanoi.
    `prefix` is prepended to every flag name to make its key."""

    def __init__(self, obj: Any = None, prefix: str = "") -> None:
        super().__init__()
        self._redis = _redis_client(obj)
        self._prefix = b(prefix)

    @property
    def redis(self) -> Any:
        return self._redis

    @property
    def prefix(self) -> bytes:
        """What every flag's key starts with."""
        return self._prefix

    def _key(self, name: Any) -> bytes:
        return self._prefix + b(name)

    def _run(self, name: Any, built: cmd.Built[T]) -> T:
        """Sends a command, reads its reply; the module's refusals as
        HanoiError/FlagNotFound."""
        argv, parse = built
        try:
            return parse(self._redis.execute_command(*argv))
        except redis.ResponseError as e:
            raise_refusal(str(e), name)

    def names(self) -> List[str]:
        """Every flag under the prefix (SCAN ... TYPE hanoiflag, never KEYS)."""
        cut = len(self._prefix)
        match = prefix_match(self._prefix)
        keys = self._redis.scan_iter(match=match, count=1000, _type="hanoiflag")
        return sorted({text_of(b(k)[cut:]) for k in keys})

    def delete(self, name: str) -> bool:
        """Deletes the flag's key (UNLINK); whether it existed."""
        return bool(self._redis.unlink(self._key(name)))

    # ----- the commands -----

    def hanoi_enabled(self, name: str, id_: Optional[bytes], pairs: Pairs) -> bool:
        return self._run(name, cmd.enabled(self._key(name), id_, pairs))

    def hanoi_variant(self, name: str, id_: bytes, pairs: Pairs) -> Optional[str]:
        return self._run(name, cmd.variant(self._key(name), id_, pairs))

    def hanoi_value(self, name: str, id_: Optional[bytes], pairs: Pairs) -> Any:
        return self._run(name, cmd.value(self._key(name), id_, pairs))

    def hanoi_explain(self, name: str, id_: bytes, pairs: Pairs) -> Explanation:
        return self._run(name, cmd.explain(self._key(name), id_, pairs, self._prefix))

    def hanoi_resolve(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        return self._run(name, cmd.resolve(self._key(name), id_, pairs, self._prefix))

    def hanoi_menabled(self, names: Sequence[str], id_: bytes, pairs: Pairs) -> List[bool]:
        return self._run(names, cmd.menabled([self._key(n) for n in names], id_, pairs))

    def hanoi_assign(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        return self._run(name, cmd.assign(self._key(name), id_, pairs, self._prefix))

    def hanoi_track(self, name: str, id_: bytes, metric: bytes, value: int) -> bool:
        return self._run(name, cmd.track(self._key(name), id_, metric, value))

    def hanoi_experiment(self, name: str, args: Sequence[bytes]) -> None:
        self._run(name, cmd.experiment(self._key(name), args))

    def hanoi_experiment_results(self, name: str) -> Optional[List[ArmResult]]:
        return self._run(name, cmd.experiment_results_of(self._key(name)))

    def hanoi_experiment_exposures(
        self, name: str, args: Sequence[bytes]
    ) -> Tuple[int, List[Exposure]]:
        return self._run(name, cmd.experiment_exposures(self._key(name), args))

    def hanoi_define(self, name: str, options: Sequence[bytes]) -> None:
        self._run(name, cmd.define(self._key(name), options))

    def hanoi_ids(self, name: str, what: IdList, items: Sequence[bytes]) -> int:
        return self._run(name, cmd.ids(self._key(name), what, items))

    def hanoi_scan_ids(self, name: str, args: Sequence[bytes]) -> Tuple[int, List[bytes]]:
        return self._run(name, cmd.scan_ids(self._key(name), args))

    def hanoi_enable(self, name: str) -> None:
        self._run(name, cmd.enable(self._key(name)))

    def hanoi_disable(self, name: str) -> None:
        self._run(name, cmd.disable(self._key(name)))

    def hanoi_toggle(self, name: str) -> bool:
        return self._run(name, cmd.toggle(self._key(name)))

    def hanoi_percentage(self, name: str, percentage: int) -> None:
        self._run(name, cmd.set_percentage(self._key(name), percentage))

    def hanoi_rule_set(self, name: str, rule: TargetingRule) -> None:
        self._run(name, cmd.rule_set(self._key(name), rule, self._prefix))

    def hanoi_rule_del(self, name: str, rules: Sequence[bytes]) -> int:
        return self._run(name, cmd.delete_rules(self._key(name), rules))

    def hanoi_rule_move(self, name: str, rule: bytes, index: int) -> None:
        self._run(name, cmd.move_rule(self._key(name), rule, index))

    def hanoi_prereq_set(self, name: str, other: str, variant: Optional[bytes]) -> None:
        self._run(name, cmd.prereq_set(self._key(name), prereq_args(self._key(other), variant)))

    def hanoi_prereq_del(self, name: str, others: Sequence[str]) -> int:
        return self._run(name, cmd.prereq_del(self._key(name), [self._key(o) for o in others]))

    def hanoi_prereq_move(self, name: str, other: str, index: int) -> None:
        self._run(name, cmd.prereq_move(self._key(name), self._key(other), index))

    def hanoi_window(self, name: str, from_ms: int, until_ms: int) -> None:
        self._run(name, cmd.set_window(self._key(name), from_ms, until_ms))

    def hanoi_ramp(self, name: str, from_pct: int, to_pct: int, start_ms: int, end_ms: int) -> None:
        self._run(name, cmd.set_ramp(self._key(name), from_pct, to_pct, start_ms, end_ms))

    def hanoi_schedule_clear(self, name: str, window: bool, ramp: bool) -> None:
        self._run(name, cmd.clear_schedule(self._key(name), window, ramp))

    def hanoi_meta_set(self, name: str, pairs: Pairs) -> int:
        return self._run(name, cmd.meta_set(self._key(name), pairs))

    def hanoi_meta_del(self, name: str, fields: Sequence[bytes]) -> int:
        return self._run(name, cmd.meta_del(self._key(name), fields))

    def hanoi_get(self, name: str) -> Optional[Info]:
        return self._run(name, cmd.info(self._key(name), self._prefix))

    def hanoi_history(self, name: str, count: Optional[int]) -> List[HistoryEntry]:
        return self._run(name, cmd.history(self._key(name), count))

    def hanoi_stats(self, name: str) -> Optional[Stats]:
        return self._run(name, cmd.stats(self._key(name)))

    def hanoi_stats_series(self, name: str) -> Optional[Series]:
        return self._run(name, cmd.stats_series(self._key(name)))

    def hanoi_reset_stats(self, name: str) -> None:
        self._run(name, cmd.reset_stats(self._key(name)))


try:
    from ._core import Engine as _Engine
    from ._core import HanoiCoreError as _CoreError
except ImportError:  # a source tree without the built extension
    _Engine = None  # type: ignore[assignment, misc]
    _CoreError = HanoiError  # type: ignore[assignment, misc]


class MemoryBackEnd(_BackEnd):
    """Flags in this process, evaluated by hanoi-core (the module's own Rust
    code, through PyO3): the same answers as RedisModuleBackEnd, no server.
    Thread-safe."""

    def __init__(self) -> None:
        super().__init__()
        if _Engine is None:
            raise ImportError("hanoi_redis._core is not built: pip install ./clients/python")
        self._engine = _Engine()

    @contextlib.contextmanager
    def _refusals(self, name: Any) -> Iterator[None]:
        """hanoi-core's refusals as HanoiError/FlagNotFound."""
        try:
            yield
        except _CoreError as e:
            raise_refusal(str(e), name)

    def names(self) -> List[str]:
        return sorted(str(text_of(n)) for n in self._engine.names())

    def delete(self, name: str) -> bool:
        self._fields.pop(name, None)
        return self._engine.delete(b(name))

    # ----- the commands -----

    def hanoi_enabled(self, name: str, id_: Optional[bytes], pairs: Pairs) -> bool:
        with self._refusals(name):
            return self._engine.enabled(b(name), id_, pairs)

    def hanoi_variant(self, name: str, id_: bytes, pairs: Pairs) -> Optional[str]:
        with self._refusals(name):
            v = self._engine.variant(b(name), id_, pairs)
        return None if v is None else str(text_of(v))

    def hanoi_value(self, name: str, id_: Optional[bytes], pairs: Pairs) -> Any:
        with self._refusals(name):
            return json_value(self._engine.value(b(name), id_, pairs))

    def hanoi_explain(self, name: str, id_: bytes, pairs: Pairs) -> Explanation:
        with self._refusals(name):
            return Explanation.from_reply(self._engine.explain(b(name), id_, pairs))

    def hanoi_resolve(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        with self._refusals(name):
            return resolution(self._engine.resolve(b(name), id_, pairs))

    def hanoi_menabled(self, names: Sequence[str], id_: bytes, pairs: Pairs) -> List[bool]:
        with self._refusals(names):
            return self._engine.menabled([b(n) for n in names], id_, pairs)

    def hanoi_assign(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        with self._refusals(name):
            return resolution(self._engine.assign(b(name), id_, pairs))

    def hanoi_track(self, name: str, id_: bytes, metric: bytes, value: int) -> bool:
        with self._refusals(name):
            return self._engine.track(b(name), id_, metric, value)

    def hanoi_experiment(self, name: str, args: Sequence[bytes]) -> None:
        with self._refusals(name):
            self._engine.run(b"EXPERIMENT", b(name), list(args))

    def hanoi_experiment_results(self, name: str) -> Optional[List[ArmResult]]:
        with self._refusals(name):
            return experiment_results(self._engine.results(b(name)))

    def hanoi_experiment_exposures(
        self, name: str, args: Sequence[bytes]
    ) -> Tuple[int, List[Exposure]]:
        with self._refusals(name):
            return exposures_page(self._engine.exposures(b(name), list(args)))

    def hanoi_define(self, name: str, options: Sequence[bytes]) -> None:
        with self._refusals(name):
            self._engine.define(b(name), options)

    def hanoi_ids(self, name: str, what: IdList, items: Sequence[bytes]) -> int:
        with self._refusals(name):
            return self._engine.ids(b(name), what, items)

    def hanoi_scan_ids(self, name: str, args: Sequence[bytes]) -> Tuple[int, List[bytes]]:
        with self._refusals(name):
            return self._engine.scan_ids(b(name), list(args))

    def hanoi_enable(self, name: str) -> None:
        with self._refusals(name):
            self._engine.enable(b(name))

    def hanoi_disable(self, name: str) -> None:
        with self._refusals(name):
            self._engine.disable(b(name))

    def hanoi_toggle(self, name: str) -> bool:
        with self._refusals(name):
            return self._engine.toggle(b(name))

    def hanoi_percentage(self, name: str, percentage: int) -> None:
        with self._refusals(name):
            self._engine.set_percentage(b(name), percentage)

    def hanoi_rule_set(self, name: str, rule: TargetingRule) -> None:
        with self._refusals(name):
            self._engine.set_rule(b(name), b(rule.name), rule.words())

    def hanoi_rule_del(self, name: str, rules: Sequence[bytes]) -> int:
        with self._refusals(name):
            return self._engine.delete_rules(b(name), rules)

    def hanoi_rule_move(self, name: str, rule: bytes, index: int) -> None:
        with self._refusals(name):
            self._engine.move_rule(b(name), rule, index)

    def hanoi_prereq_set(self, name: str, other: str, variant: Optional[bytes]) -> None:
        with self._refusals(name):
            self._engine.run(b"PREREQ", b(name), [b"SET"] + prereq_args(b(other), variant))

    def hanoi_prereq_del(self, name: str, others: Sequence[str]) -> int:
        with self._refusals(name):
            return int(self._engine.run(b"PREREQ", b(name), [b"DEL"] + [b(o) for o in others]))

    def hanoi_prereq_move(self, name: str, other: str, index: int) -> None:
        with self._refusals(name):
            self._engine.run(b"PREREQ", b(name), [b"MOVE", b(other), b(index)])

    def hanoi_window(self, name: str, from_ms: int, until_ms: int) -> None:
        with self._refusals(name):
            self._engine.set_window(b(name), from_ms, until_ms)

    def hanoi_ramp(self, name: str, from_pct: int, to_pct: int, start_ms: int, end_ms: int) -> None:
        with self._refusals(name):
            self._engine.set_ramp(b(name), from_pct, to_pct, start_ms, end_ms)

    def hanoi_schedule_clear(self, name: str, window: bool, ramp: bool) -> None:
        with self._refusals(name):
            self._engine.clear_schedule(b(name), window, ramp)

    def hanoi_meta_set(self, name: str, pairs: Pairs) -> int:
        with self._refusals(name):
            return self._engine.meta_set(b(name), pairs)

    def hanoi_meta_del(self, name: str, fields: Sequence[bytes]) -> int:
        with self._refusals(name):
            return self._engine.meta_del(b(name), fields)

    def hanoi_get(self, name: str) -> Optional[Info]:
        with self._refusals(name):
            return info_dict(self._engine.get(b(name)))

    def hanoi_history(self, name: str, count: Optional[int]) -> List[HistoryEntry]:
        raise NotImplementedError(
            "MemoryBackEnd keeps no history: the Redis module records each write with"
            " its ACL user and client (HANOI.HISTORY); use a RedisModuleBackEnd"
        )

    def hanoi_stats(self, name: str) -> Optional[Stats]:
        with self._refusals(name):
            return stats_of(self._engine.stats(b(name)))

    def hanoi_stats_series(self, name: str) -> Optional[Series]:
        raise NotImplementedError(
            "MemoryBackEnd counts evaluations without their times (no clock read per"
            " evaluation): stats() has the counts, HANOI.STATS SERIES needs the module"
        )

    def hanoi_reset_stats(self, name: str) -> None:
        with self._refusals(name):
            self._engine.reset_stats(b(name))


__all__ = [
    "BackEnd",
    "RedisModuleBackEnd",
    "MemoryBackEnd",
    "Feature",
    "FlagNotFound",
    "HanoiError",
]
