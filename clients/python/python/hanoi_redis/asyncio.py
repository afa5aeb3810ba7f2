"""hanoi_redis for asyncio, over `redis.asyncio`:

    from hanoi_redis.asyncio import AsyncRollout, AsyncRedisModuleBackEnd

    rollout = AsyncRollout(AsyncRedisModuleBackEnd(redis.asyncio.Redis()))
    await rollout.is_enabled('cdc_on', '44488')

    @rollout.check('cdc_on', 1)
    async def handler(user): ...

The same commands and answers as `RedisModuleBackEnd`; the current id of
`with rollout.current_id(...)` is per task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import warnings
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    cast,
)

import redis
import redis.asyncio

from . import _commands as cmd
from ._common import (
    FIELD,
    ArmResult,
    Context,
    Explanation,
    Exposure,
    Feature,
    HistoryEntry,
    IdList,
    Info,
    Pairs,
    Resolution,
    RolloutException,
    Series,
    Stats,
    TargetingRule,
    all_ids,
    attr_pairs,
    b,
    current,
    define_options,
    experiment_args,
    exposures_args,
    feature_from_info,
    full_definition,
    ids_args,
    is_plain,
    item_id,
    old_set_rule,
    prefix_match,
    prereq_args,
    raise_refusal,
    regex_source,
    schedule_parts,
    segment_definition,
    targeting_rule,
    text_of,
    track_value,
    validate_percentage,
)
from .api import pick_item

T = TypeVar("T")
#: A decorated coroutine function: the decorators give it back with its own type.
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_UNKNOWN = object()


class AsyncRedisModuleBackEnd:
    """Flags in Redis, evaluated by the hanoi module, over redis.asyncio: the
    methods of `hanoi_redis.backend.BackEnd` as coroutines (but `knows`).
    `obj`: a `redis.asyncio.Redis` (or RedisCluster), a (host, port[, db])
    tuple, or None for localhost. `prefix` is prepended to every flag name."""

    def __init__(self, obj: Any = None, prefix: str = "") -> None:
        if obj is None:
            obj = redis.asyncio.Redis()
        elif isinstance(obj, (list, tuple)):
            obj = redis.asyncio.Redis(host=obj[0], port=obj[1], db=obj[2] if len(obj) > 2 else 0)
        self._redis = obj
        self._prefix = b(prefix)
        self._fields: Dict[str, Any] = {}

    @property
    def redis(self) -> Any:
        return self._redis

    @property
    def prefix(self) -> bytes:
        """What every flag's key starts with."""
        return self._prefix

    def _key(self, name: Any) -> bytes:
        return self._prefix + b(name)

    async def _run(self, name: Any, built: cmd.Built[T]) -> T:
        argv, parse = built
        try:
            return parse(await self._redis.execute_command(*argv))
        except redis.ResponseError as e:
            raise_refusal(str(e), name)

    # ----- ids -----

    async def item_id(self, name: str, item: Any) -> bytes:
        if is_plain(item):
            return b(item)
        field = self._fields.get(name, _UNKNOWN)
        if field is _UNKNOWN:
            info = await self.hanoi_get(name)
            field = info.metadata.get(FIELD) if info is not None else None
            if info is not None:
                self._fields[name] = field
        return b(item_id(field, item))

    def knows(self, name: str) -> bool:
        return name in self._fields

    # ----- hanoi 0.0.4's backend API -----

    async def add_functionality(self, fn: Feature) -> None:
        await self.hanoi_define(fn.name, define_options(fn.enabled, fn.percentage, fn.variants))
        stored = await self.hanoi_get(fn.name)
        had = stored.metadata.get(FIELD) if stored is not None else None
        if isinstance(fn.field, str) and fn.field != had:
            await self.hanoi_meta_set(fn.name, [(b(FIELD), b(fn.field))])
        elif not isinstance(fn.field, str) and had is not None:
            await self.hanoi_meta_del(fn.name, [b(FIELD)])
        self._fields[fn.name] = fn.field

    async def get_functionality(self, name: str) -> Optional[Feature]:
        info = await self.hanoi_get(name)
        if info is None:
            self._fields.pop(name, None)
            return None
        feature = feature_from_info(name, info, self._fields.get(name))
        self._fields[name] = feature.field
        return feature

    async def get_functionalities(self) -> List[str]:
        return await self.names()

    async def add(self, name: str, item: Any) -> None:
        await self.hanoi_ids(name, "user", [await self.item_id(name, item)])

    async def set_rule(self, name: str, rule: Any) -> None:
        await self.hanoi_ids(name, "regex", [regex_source(rule) or b(rule)])

    async def set_percentage(self, name: str, percentage: Any) -> None:
        await self.hanoi_percentage(name, validate_percentage(percentage))

    async def is_enabled(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> bool:
        if item is None:
            return await self.hanoi_enabled(name, None, ())
        id_ = await self.item_id(name, item)
        return await self.hanoi_enabled(name, id_, attr_pairs(context, attrs))

    async def variant(
        self, name: str, item: Any, context: Context = None, **attrs: Any
    ) -> Optional[str]:
        id_ = await self.item_id(name, item)
        return await self.hanoi_variant(name, id_, attr_pairs(context, attrs))

    async def value(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> Any:
        if item is None:
            return await self.hanoi_value(name, None, ())
        id_ = await self.item_id(name, item)
        return await self.hanoi_value(name, id_, attr_pairs(context, attrs))

    async def enable(self, name: str, enable_to_all: bool = False) -> None:
        await self.hanoi_enable(name)
        if enable_to_all:
            await self.hanoi_percentage(name, 100)

    async def disable(self, name: str) -> None:
        await self.hanoi_disable(name)

    async def toggle(self, name: str) -> bool:
        return await self.hanoi_toggle(name)

    # ----- beyond hanoi -----

    async def explain(
        self, name: str, item: Any, context: Context = None, **attrs: Any
    ) -> Explanation:
        id_ = await self.item_id(name, item)
        return await self.hanoi_explain(name, id_, attr_pairs(context, attrs))

    async def enabled_many(
        self, names: Sequence[str], item: Any, context: Context = None, **attrs: Any
    ) -> Dict[str, bool]:
        names = list(names)
        if not names:
            return {}
        id_ = await self.item_id(names[0], item)
        answers = await self.hanoi_menabled(names, id_, attr_pairs(context, attrs))
        return dict(zip(names, answers))

    async def describe(self, name: str) -> Optional[Info]:
        return await self.hanoi_get(name)

    async def names(self) -> List[str]:
        """Every flag under the prefix (SCAN ... TYPE hanoiflag, never KEYS)."""
        cut = len(self._prefix)
        match = prefix_match(self._prefix)
        keys = self._redis.scan_iter(match=match, count=1000, _type="hanoiflag")
        return sorted({str(text_of(b(k)[cut:])) async for k in keys})

    async def delete(self, name: str) -> bool:
        """Deletes the flag's key (UNLINK); whether it existed."""
        self._fields.pop(name, None)
        return bool(await self._redis.unlink(self._key(name)))

    # ----- one coroutine per HANOI.* command (see BackEnd) -----

    async def hanoi_enabled(self, name: str, id_: Optional[bytes], pairs: Pairs) -> bool:
        return await self._run(name, cmd.enabled(self._key(name), id_, pairs))

    async def hanoi_variant(self, name: str, id_: bytes, pairs: Pairs) -> Optional[str]:
        return await self._run(name, cmd.variant(self._key(name), id_, pairs))

    async def hanoi_value(self, name: str, id_: Optional[bytes], pairs: Pairs) -> Any:
        return await self._run(name, cmd.value(self._key(name), id_, pairs))

    async def hanoi_explain(self, name: str, id_: bytes, pairs: Pairs) -> Explanation:
        return await self._run(name, cmd.explain(self._key(name), id_, pairs, self._prefix))

    async def hanoi_resolve(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        return await self._run(name, cmd.resolve(self._key(name), id_, pairs, self._prefix))

    async def hanoi_menabled(self, names: Sequence[str], id_: bytes, pairs: Pairs) -> List[bool]:
        return await self._run(names, cmd.menabled([self._key(n) for n in names], id_, pairs))

    async def hanoi_define(self, name: str, options: Sequence[bytes]) -> None:
        await self._run(name, cmd.define(self._key(name), options))

    async def hanoi_ids(self, name: str, what: IdList, items: Sequence[bytes]) -> int:
        return await self._run(name, cmd.ids(self._key(name), what, items))

    async def hanoi_scan_ids(self, name: str, args: Sequence[bytes]) -> Tuple[int, List[bytes]]:
        return await self._run(name, cmd.scan_ids(self._key(name), args))

    async def hanoi_enable(self, name: str) -> None:
        await self._run(name, cmd.enable(self._key(name)))

    async def hanoi_disable(self, name: str) -> None:
        await self._run(name, cmd.disable(self._key(name)))

    async def hanoi_toggle(self, name: str) -> bool:
        return await self._run(name, cmd.toggle(self._key(name)))

    async def hanoi_percentage(self, name: str, percentage: int) -> None:
        await self._run(name, cmd.set_percentage(self._key(name), percentage))

    async def hanoi_rule_set(self, name: str, rule: TargetingRule) -> None:
        await self._run(name, cmd.rule_set(self._key(name), rule, self._prefix))

    async def hanoi_rule_del(self, name: str, rules: Sequence[bytes]) -> int:
        return await self._run(name, cmd.delete_rules(self._key(name), rules))

    async def hanoi_rule_move(self, name: str, rule: bytes, index: int) -> None:
        await self._run(name, cmd.move_rule(self._key(name), rule, index))

    async def hanoi_prereq_set(self, name: str, other: str, variant: Optional[bytes]) -> None:
        args = prereq_args(self._key(other), variant)
        await self._run(name, cmd.prereq_set(self._key(name), args))

    async def hanoi_prereq_del(self, name: str, others: Sequence[str]) -> int:
        keys = [self._key(o) for o in others]
        return await self._run(name, cmd.prereq_del(self._key(name), keys))

    async def hanoi_prereq_move(self, name: str, other: str, index: int) -> None:
        await self._run(name, cmd.prereq_move(self._key(name), self._key(other), index))

    async def hanoi_window(self, name: str, from_ms: int, until_ms: int) -> None:
        await self._run(name, cmd.set_window(self._key(name), from_ms, until_ms))

    async def hanoi_ramp(
        self, name: str, from_pct: int, to_pct: int, start_ms: int, end_ms: int
    ) -> None:
        await self._run(name, cmd.set_ramp(self._key(name), from_pct, to_pct, start_ms, end_ms))

    async def hanoi_schedule_clear(self, name: str, window: bool, ramp: bool) -> None:
        await self._run(name, cmd.clear_schedule(self._key(name), window, ramp))

    async def hanoi_meta_set(self, name: str, pairs: Pairs) -> int:
        return await self._run(name, cmd.meta_set(self._key(name), pairs))

    async def hanoi_meta_del(self, name: str, fields: Sequence[bytes]) -> int:
        return await self._run(name, cmd.meta_del(self._key(name), fields))

    async def hanoi_get(self, name: str) -> Optional[Info]:
        return await self._run(name, cmd.info(self._key(name), self._prefix))

    async def hanoi_history(self, name: str, count: Optional[int]) -> List[HistoryEntry]:
        return await self._run(name, cmd.history(self._key(name), count))

    async def hanoi_stats(self, name: str) -> Optional[Stats]:
        return await self._run(name, cmd.stats(self._key(name)))

    async def hanoi_stats_series(self, name: str) -> Optional[Series]:
        return await self._run(name, cmd.stats_series(self._key(name)))

    async def hanoi_reset_stats(self, name: str) -> None:
        await self._run(name, cmd.reset_stats(self._key(name)))

    async def hanoi_assign(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        return await self._run(name, cmd.assign(self._key(name), id_, pairs, self._prefix))

    async def hanoi_track(self, name: str, id_: bytes, metric: bytes, value: int) -> bool:
        return await self._run(name, cmd.track(self._key(name), id_, metric, value))

    async def hanoi_experiment(self, name: str, args: Sequence[bytes]) -> None:
        await self._run(name, cmd.experiment(self._key(name), args))

    async def hanoi_experiment_results(self, name: str) -> Optional[List[ArmResult]]:
        return await self._run(name, cmd.experiment_results_of(self._key(name)))

    async def hanoi_experiment_exposures(
        self, name: str, args: Sequence[bytes]
    ) -> Tuple[int, List[Exposure]]:
        return await self._run(name, cmd.experiment_exposures(self._key(name), args))


class AsyncMirrorBackEnd(AsyncRedisModuleBackEnd):
    """`hanoi_redis.MirrorBackEnd` for asyncio: every flag under `prefix`
    mirrored in this process, answered from memory (the reads are
    coroutines that never wait on Redis); writes go through `obj`, a
    `redis.asyncio` client. The mirror follows Redis on threads of its own,
    over a sync twin of `obj`'s connection (`sync_client` to give one, e.g. a
    `redis.RedisCluster` for an asyncio cluster client). The other keyword
    arguments are `MirrorBackEnd`'s."""

    def __init__(
        self, obj: Any = None, prefix: str = "", *, sync_client: Any = None, **options: Any
    ) -> None:
        super().__init__(obj, prefix)
        from .mirror import MirrorBackEnd, sync_twin

        twin = sync_client if sync_client is not None else sync_twin(self._redis)
        self._mirror = MirrorBackEnd(twin, prefix, **options)

    @property
    def mirror(self) -> Any:
        """The sync `MirrorBackEnd` that holds the flags."""
        return self._mirror

    @property
    def stale(self) -> bool:
        """True while the connection to Redis is lost: answers from the last state."""
        return bool(self._mirror.stale)

    async def sync(self, timeout: float = 5.0) -> bool:
        """Waits (on a thread) until every change acknowledged before the
        call is in the mirror."""
        return bool(await asyncio.to_thread(self._mirror.sync, timeout))

    def close(self) -> None:
        """Stops following Redis."""
        self._mirror.close()

    async def names(self) -> List[str]:
        return list(self._mirror.names())

    async def hanoi_enabled(self, name: str, id_: Optional[bytes], pairs: Pairs) -> bool:
        return bool(self._mirror.hanoi_enabled(name, id_, pairs))

    async def hanoi_variant(self, name: str, id_: bytes, pairs: Pairs) -> Optional[str]:
        return self._mirror.hanoi_variant(name, id_, pairs)

    async def hanoi_value(self, name: str, id_: Optional[bytes], pairs: Pairs) -> Any:
        return self._mirror.hanoi_value(name, id_, pairs)

    async def hanoi_explain(self, name: str, id_: bytes, pairs: Pairs) -> Explanation:
        return self._mirror.hanoi_explain(name, id_, pairs)

    async def hanoi_resolve(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        return self._mirror.hanoi_resolve(name, id_, pairs)

    async def hanoi_menabled(self, names: Sequence[str], id_: bytes, pairs: Pairs) -> List[bool]:
        return list(self._mirror.hanoi_menabled(names, id_, pairs))

    async def hanoi_get(self, name: str) -> Optional[Info]:
        return self._mirror.hanoi_get(name)

    async def hanoi_assign(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        """HANOI.ASSIGN in Redis, then kept in the mirror (as MirrorBackEnd's)."""
        resolved = await super().hanoi_assign(name, id_, pairs)
        self._mirror.keep_exposure(name, id_, resolved[0])
        return resolved

    async def hanoi_experiment(self, name: str, args: Sequence[bytes]) -> None:
        await super().hanoi_experiment(name, args)
        await self.sync(1.0)


#: `hanoi_redis.asyncio.MirrorBackEnd`, as the sync one is named.
MirrorBackEnd = AsyncMirrorBackEnd


class AsyncRollout:
    """hanoi's Rollout, awaitable: every method of `Rollout`, with the same
    arguments; those that talk to Redis are coroutines, the decorators take
    coroutine functions."""

    def __init__(self, backend: Optional[AsyncRedisModuleBackEnd]) -> None:
        self._backend = backend
        self._item: Any = None

    @property
    def backend(self) -> AsyncRedisModuleBackEnd:
        if self._backend is None:
            raise TypeError("BackEnd should be a valid BackEnd object")
        return self._backend

    # ----- hanoi 0.0.4 -----

    async def add_func(
        self,
        name: str,
        check: Any = None,
        percentage: Any = 0,
        variants: Optional[Sequence[str]] = None,
    ) -> None:
        """As Rollout.add_func: creates or replaces the flag, switched on."""
        await self.backend.add_functionality(Feature(name, check, percentage, variants))

    async def is_enabled(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> bool:
        return await self.backend.is_enabled(name, item, context, **attrs)

    async def register(self, name: str, item: Any) -> None:
        """An id, or every id a compiled `re` pattern matches."""
        if regex_source(item) is not None:
            await self.backend.set_rule(name, item)
        else:
            await self.backend.add(name, item)

    async def set_percentage(self, name: str, percentage: Any) -> None:
        """AttributeError outside 0..100, as in hanoi."""
        await self.backend.set_percentage(name, percentage)

    def set_current_id(self, item: Any) -> None:
        """The process-wide current id; prefer `with rollout.current_id(item):`."""
        self._item = item

    def cleanup_current_id(self) -> None:
        self._item = None

    def enabled(self, name: str) -> Callable[[F], F]:
        """Decorator for coroutine functions: runs only when the flag is on."""

        def decorator(fn: F) -> F:
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                if not await self.is_enabled(name):
                    raise RolloutException("Feature <%s> is not enabled" % name)
                return await fn(*args, **kwargs)

            return cast(F, wrapper)

        return decorator

    async def variant(
        self, name: str, item: Any, context: Context = None, **attrs: Any
    ) -> Optional[str]:
        return await self.backend.variant(name, item, context, **attrs)

    async def value(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> Any:
        return await self.backend.value(name, item, context, **attrs)

    async def toggle(self, name: str) -> bool:
        return await self.backend.toggle(name)

    async def disable(self, name: str) -> None:
        await self.backend.disable(name)

    async def enable(self, name: str) -> None:
        await self.backend.enable(name)

    def check(self, func: str, index: Any = None) -> Callable[[F], F]:
        """Decorator for coroutine functions, as Rollout.check."""

        def decorator(fn: F) -> F:
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                item = pick_item(index, args, kwargs) if index is not None else self.current()
                if item is None:
                    raise RolloutException(
                        "Identifier should be set before checking the functionality"
                    )
                if not await self.is_enabled(func, item):
                    if await self.backend.get_functionality(func) is None:
                        raise RolloutException("Feature <%s> is not defined" % func)
                    id_ = (await self.backend.item_id(func, item)).decode("utf-8", "replace")
                    raise RolloutException(
                        "Feature <%s> is not enabled for user <%s> " % (func, id_)
                    )
                return await fn(*args, **kwargs)

            return cast(F, wrapper)

        return decorator

    def __getattr__(self, key: str) -> Callable[..., Awaitable[bool]]:
        """`await rollout.is_<name>(item)`: hanoi's shortcut for is_enabled; a
        ValueError (when awaited) when the flag does not exist."""
        if key.startswith("_") or not key.startswith("is_"):
            raise AttributeError(key)
        name = key[3:]
        backend = self.backend

        async def is_name(item: Any = None, context: Context = None, **attrs: Any) -> bool:
            if not backend.knows(name) and await backend.get_functionality(name) is None:
                raise ValueError("Feature <%s> not defined" % name)
            return await backend.is_enabled(name, item, context, **attrs)

        return is_name

    # ----- beyond hanoi -----

    @contextlib.contextmanager
    def current_id(self, item: Any) -> Iterator[None]:
        """`@check(name)` uses `item` within the block, per asyncio task."""
        token = current.set(item)
        try:
            yield
        finally:
            current.reset(token)

    def current(self) -> Any:
        """The current id: `current_id(...)`'s, else set_current_id's."""
        item = current.get()
        return self._item if item is None else item

    async def explain(
        self, name: str, item: Any, context: Context = None, **attrs: Any
    ) -> Explanation:
        return await self.backend.explain(name, item, context, **attrs)

    async def enabled_many(
        self, names: Sequence[str], item: Any, context: Context = None, **attrs: Any
    ) -> Dict[str, bool]:
        return await self.backend.enabled_many(names, item, context, **attrs)

    async def define(
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
        await self.backend.hanoi_define(name, opts)

    async def _ids(self, name: str, items: Sequence[Any]) -> List[bytes]:
        return [await self.backend.item_id(name, i) for i in items]

    async def define_segment(self, name: str, salt: Optional[str] = None) -> None:
        """HANOI.DEFINE name SEGMENT, as Rollout.define_segment."""
        await self.backend.hanoi_define(name, segment_definition(salt))

    async def set_prereq(self, name: str, other: str, variant: Optional[str] = None) -> None:
        """HANOI.PREREQ name SET other [VARIANT v], as Rollout.set_prereq."""
        await self.backend.hanoi_prereq_set(name, other, None if variant is None else b(variant))

    async def delete_prereq(self, name: str, *others: str) -> int:
        """HANOI.PREREQ name DEL other ...: how many were removed."""
        return await self.backend.hanoi_prereq_del(name, list(others))

    async def move_prereq(self, name: str, other: str, index: int) -> None:
        """HANOI.PREREQ name MOVE other index (0-based)."""
        await self.backend.hanoi_prereq_move(name, other, int(index))

    async def ids(
        self,
        name: str,
        which: str = "users",
        cursor: int = 0,
        match: Optional[str] = None,
        count: Optional[int] = None,
    ) -> Tuple[int, List[str]]:
        """One step of HANOI.IDS, as `Rollout.ids`."""
        args = ids_args(which, cursor, match, count)
        nxt, found = await self.backend.hanoi_scan_ids(name, args)
        return nxt, [str(text_of(i)) for i in found]

    async def iter_ids(
        self,
        name: str,
        which: str = "users",
        match: Optional[str] = None,
        count: Optional[int] = None,
    ) -> AsyncIterator[str]:
        """Every registered (or blocked) id, as `Rollout.iter_ids`."""
        cursor = 0
        while True:
            cursor, found = await self.ids(name, which, cursor, match, count)
            for i in found:
                yield i
            if cursor == 0:
                return

    async def register_many(self, name: str, items: Sequence[Any]) -> int:
        """Registers many ids in one command; how many were new."""
        return await self.backend.hanoi_ids(name, "user", await self._ids(name, items))

    async def unregister(self, name: str, item: Any) -> int:
        """Removes a registered id, or a regex (compiled pattern)."""
        pattern = regex_source(item)
        if pattern is not None:
            return await self.backend.hanoi_ids(name, "unregex", [pattern])
        return await self.backend.hanoi_ids(name, "unuser", await self._ids(name, [item]))

    async def block(self, name: str, *items: Any) -> int:
        """Denies the flag to these ids whatever else holds."""
        return await self.backend.hanoi_ids(name, "block", await self._ids(name, items))

    async def unblock(self, name: str, *items: Any) -> int:
        return await self.backend.hanoi_ids(name, "unblock", await self._ids(name, items))

    async def set_rule(self, name: str, rule: Any, *words: Any) -> None:
        """hanoi 0.0.4's regex rule, as Rollout.set_rule (a targeting rule is
        `set_targeting_rule`)."""
        if words:
            raise old_set_rule(words)
        await self.backend.set_rule(name, rule)

    async def set_targeting_rule(
        self,
        name: str,
        rule_name: Union[str, TargetingRule],
        when: Optional[Sequence[Any]] = None,
        rollout: Optional[int] = None,
        variant: Optional[str] = None,
    ) -> None:
        """HANOI.RULE name SET, as Rollout.set_targeting_rule."""
        await self.backend.hanoi_rule_set(name, targeting_rule(rule_name, when, rollout, variant))

    async def delete_targeting_rule(self, name: str, *rule_names: str) -> int:
        """HANOI.RULE name DEL rule ...: how many were removed."""
        return await self.backend.hanoi_rule_del(name, all_ids(rule_names))

    async def move_targeting_rule(self, name: str, rule_name: str, index: int) -> None:
        """HANOI.RULE name MOVE rule index (0 is tried first)."""
        await self.backend.hanoi_rule_move(name, b(rule_name), int(index))

    async def delete_rule(self, name: str, *rule_names: str) -> int:
        """Deprecated: `delete_targeting_rule` (the name of 0.1.0)."""
        warnings.warn(
            "delete_rule is deprecated: use delete_targeting_rule", DeprecationWarning, stacklevel=2
        )
        return await self.delete_targeting_rule(name, *rule_names)

    async def move_rule(self, name: str, rule_name: str, index: int) -> None:
        """Deprecated: `move_targeting_rule` (the name of 0.1.0)."""
        warnings.warn(
            "move_rule is deprecated: use move_targeting_rule", DeprecationWarning, stacklevel=2
        )
        await self.move_targeting_rule(name, rule_name, index)

    async def set_window(self, name: str, from_ms: int, until_ms: int) -> None:
        """Active between two Unix-ms times (0 leaves a side open)."""
        await self.backend.hanoi_window(name, int(from_ms), int(until_ms))

    async def set_ramp(
        self, name: str, from_pct: int, to_pct: int, start_ms: int, end_ms: int
    ) -> None:
        """The percentage moves linearly from `from_pct` to `to_pct`."""
        await self.backend.hanoi_ramp(name, int(from_pct), int(to_pct), int(start_ms), int(end_ms))

    async def clear_schedule(self, name: str, which: Optional[str] = None) -> None:
        """Clears the window, the ramp, or (None) both."""
        window, ramp = schedule_parts(which)
        await self.backend.hanoi_schedule_clear(name, window, ramp)

    async def set_meta(self, name: str, **fields: Any) -> int:
        """Metadata fields: description, owner, tags (comma-separated), ..."""
        pairs = [(b(k), b(v)) for k, v in fields.items()]
        return await self.backend.hanoi_meta_set(name, pairs)

    async def delete_meta(self, name: str, *fields: str) -> int:
        """HANOI.META name DEL field ...: how many were removed."""
        return await self.backend.hanoi_meta_del(name, all_ids(fields))

    async def describe(self, name: str) -> Optional[Info]:
        """The flag's whole definition (HANOI.GET) as a dict, or None."""
        return await self.backend.describe(name)

    async def resolve(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> Resolution:
        """HANOI.RESOLVE, as Rollout.resolve."""
        id_ = b"" if item is None else await self.backend.item_id(name, item)
        pairs = attr_pairs(context, attrs)
        e, value, type_ = await self.backend.hanoi_resolve(name, id_, pairs)
        return Resolution(e, value, type_)

    async def history(self, name: str, count: Optional[int] = None) -> List[HistoryEntry]:
        """HANOI.HISTORY, as Rollout.history."""
        return await self.backend.hanoi_history(name, None if count is None else int(count))

    async def stats(self, name: str) -> Optional[Stats]:
        """HANOI.STATS, as Rollout.stats."""
        return await self.backend.hanoi_stats(name)

    async def stats_series(self, name: str) -> Optional[Series]:
        """HANOI.STATS SERIES, as Rollout.stats_series."""
        return await self.backend.hanoi_stats_series(name)

    async def reset_stats(self, name: str) -> None:
        """HANOI.TALLY name RESET, as Rollout.reset_stats."""
        await self.backend.hanoi_reset_stats(name)

    async def names(self) -> List[str]:
        """Every flag's name under the backend's prefix, sorted."""
        return await self.backend.names()

    # ----- experiments -----

    async def start_experiment(
        self,
        name: str,
        metrics: Sequence[str],
        control: Optional[str] = None,
        reset: bool = False,
    ) -> None:
        """HANOI.EXPERIMENT name START, as `Rollout.start_experiment`."""
        await self.backend.hanoi_experiment(name, experiment_args(metrics, control, reset))

    async def stop_experiment(self, name: str) -> None:
        """HANOI.EXPERIMENT name STOP: stops recording; the data stays."""
        await self.backend.hanoi_experiment(name, [b"STOP"])

    async def assign(
        self, name: str, item: Any, context: Context = None, **attrs: Any
    ) -> Resolution:
        """HANOI.ASSIGN, as `Rollout.assign`."""
        id_ = await self.backend.item_id(name, item)
        e, value, type_ = await self.backend.hanoi_assign(name, id_, attr_pairs(context, attrs))
        return Resolution(e, value, type_)

    async def track(self, name: str, item: Any, metric: str, value: int = 1) -> bool:
        """HANOI.TRACK, as `Rollout.track`: whether it was recorded."""
        id_ = await self.backend.item_id(name, item)
        return await self.backend.hanoi_track(name, id_, b(metric), track_value(value))

    async def experiment_results(self, name: str) -> Optional[List[ArmResult]]:
        """HANOI.EXPERIMENT name RESULTS, as `Rollout.experiment_results`."""
        return await self.backend.hanoi_experiment_results(name)

    async def experiment_exposures(
        self, name: str, cursor: int = 0, count: Optional[int] = None
    ) -> Tuple[int, List[Exposure]]:
        """One page of HANOI.EXPERIMENT name EXPOSURES."""
        return await self.backend.hanoi_experiment_exposures(name, exposures_args(cursor, count))

    async def iter_exposures(
        self, name: str, count: Optional[int] = None
    ) -> AsyncIterator[Exposure]:
        """Every exposure, in the order made."""
        cursor = 0
        while True:
            cursor, page = await self.experiment_exposures(name, cursor, count)
            for e in page:
                yield e
            if cursor == 0:
                return

    async def delete(self, name: str) -> bool:
        """Deletes the flag; whether it existed."""
        return await self.backend.delete(name)
