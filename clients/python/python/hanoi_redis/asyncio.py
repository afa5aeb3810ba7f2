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

import contextlib
import functools
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

import redis
import redis.asyncio

from . import _commands as cmd
from ._common import (
    FIELD,
    Context,
    Explanation,
    Feature,
    IdList,
    Info,
    Pairs,
    RolloutException,
    attr_pairs,
    b,
    current,
    define_options,
    feature_from_info,
    is_plain,
    item_id,
    prefix_match,
    raise_refusal,
    regex_source,
    text_of,
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
            field = (info or {}).get("metadata", {}).get(FIELD)
            if info is not None:
                self._fields[name] = field
        return b(item_id(field, item))

    def knows(self, name: str) -> bool:
        return name in self._fields

    # ----- hanoi 0.0.4's backend API -----

    async def add_functionality(self, fn: Feature) -> None:
        await self.hanoi_define(fn.name, define_options(fn.enabled, fn.percentage, fn.variants))
        had = ((await self.hanoi_get(fn.name)) or {}).get("metadata", {}).get(FIELD)
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

    async def hanoi_explain(self, name: str, id_: bytes, pairs: Pairs) -> Explanation:
        return await self._run(name, cmd.explain(self._key(name), id_, pairs))

    async def hanoi_menabled(self, names: Sequence[str], id_: bytes, pairs: Pairs) -> List[bool]:
        return await self._run(names, cmd.menabled([self._key(n) for n in names], id_, pairs))

    async def hanoi_define(self, name: str, options: Sequence[bytes]) -> None:
        await self._run(name, cmd.define(self._key(name), options))

    async def hanoi_ids(self, name: str, what: IdList, items: Sequence[bytes]) -> int:
        return await self._run(name, cmd.ids(self._key(name), what, items))

    async def hanoi_enable(self, name: str) -> None:
        await self._run(name, cmd.enable(self._key(name)))

    async def hanoi_disable(self, name: str) -> None:
        await self._run(name, cmd.disable(self._key(name)))

    async def hanoi_toggle(self, name: str) -> bool:
        return await self._run(name, cmd.toggle(self._key(name)))

    async def hanoi_percentage(self, name: str, percentage: int) -> None:
        await self._run(name, cmd.set_percentage(self._key(name), percentage))

    async def hanoi_rule_set(self, name: str, rule: bytes, args: Sequence[bytes]) -> None:
        await self._run(name, cmd.set_rule(self._key(name), rule, args))

    async def hanoi_rule_del(self, name: str, rules: Sequence[bytes]) -> int:
        return await self._run(name, cmd.delete_rules(self._key(name), rules))

    async def hanoi_rule_move(self, name: str, rule: bytes, index: int) -> None:
        await self._run(name, cmd.move_rule(self._key(name), rule, index))

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
        return await self._run(name, cmd.info(self._key(name)))


class AsyncRollout:
    """hanoi's Rollout, awaitable: every method that talks to Redis is a coroutine."""

    def __init__(self, backend: AsyncRedisModuleBackEnd) -> None:
        self.backend = backend
        self._item = None

    async def add_func(self, name, check=None, percentage=0, variants=None) -> None:
        await self.backend.add_functionality(Feature(name, check, percentage, variants))

    async def is_enabled(self, name: str, item: Any = None, context: Context = None, **attrs):
        be = self.backend
        if item is None:
            return await be.hanoi_enabled(name, None, ())
        return await be.hanoi_enabled(
            name, await be.item_id(name, item), attr_pairs(context, attrs)
        )

    async def variant(self, name: str, item: Any, context: Context = None, **attrs):
        be = self.backend
        return await be.hanoi_variant(
            name, await be.item_id(name, item), attr_pairs(context, attrs)
        )

    async def explain(self, name: str, item: Any, context: Context = None, **attrs) -> Explanation:
        be = self.backend
        return await be.hanoi_explain(
            name, await be.item_id(name, item), attr_pairs(context, attrs)
        )

    async def enabled_many(
        self, names: Sequence[str], item: Any, context: Context = None, **attrs
    ) -> Dict[str, bool]:
        names = list(names)
        if not names:
            return {}
        id_ = await self.backend.item_id(names[0], item)
        answers = await self.backend.hanoi_menabled(names, id_, attr_pairs(context, attrs))
        return dict(zip(names, answers))

    async def register(self, name: str, item: Any) -> None:
        pattern = regex_source(item)
        if pattern is not None:
            await self.backend.hanoi_ids(name, "regex", [pattern])
        else:
            await self.backend.hanoi_ids(name, "user", [await self.backend.item_id(name, item)])

    async def set_percentage(self, name: str, percentage: Any) -> None:
        await self.backend.hanoi_percentage(name, validate_percentage(percentage))

    async def enable(self, name: str) -> None:
        await self.backend.hanoi_enable(name)

    async def disable(self, name: str) -> None:
        await self.backend.hanoi_disable(name)

    async def toggle(self, name: str) -> bool:
        return await self.backend.hanoi_toggle(name)

    def set_current_id(self, item: Any) -> None:
        self._item = item

    def cleanup_current_id(self) -> None:
        self._item = None

    @contextlib.contextmanager
    def current_id(self, item: Any) -> Iterator[None]:
        token = current.set(item)
        try:
            yield
        finally:
            current.reset(token)

    def enabled(self, name: str) -> Callable:
        """Decorator for coroutine functions: runs only when the flag is on."""

        def decorator(fn):
            @functools.wraps(fn)
            async def wrapper(*args, **kwargs):
                if not await self.is_enabled(name):
                    raise RolloutException("Feature <%s> is not enabled" % name)
                return await fn(*args, **kwargs)

            return wrapper

        return decorator

    def check(self, func: str, index: Any = None) -> Callable:
        """Decorator for coroutine functions, as Rollout.check."""

        def decorator(fn):
            @functools.wraps(fn)
            async def wrapper(*args, **kwargs):
                if index is not None:
                    item = pick_item(index, args, kwargs)
                else:
                    item = current.get()
                    item = self._item if item is None else item
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

            return wrapper

        return decorator
