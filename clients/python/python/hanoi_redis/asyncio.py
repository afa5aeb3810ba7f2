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
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import redis
import redis.asyncio

from . import _commands as cmd
from ._common import (
    FIELD,
    Context,
    Explanation,
    Feature,
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

_UNKNOWN = object()


def _command(build: Callable, names: bool):
    async def primitive(self, name, *args):
        key = [self._key(n) for n in name] if names else self._key(name)
        argv, parse = build(key, *args)
        try:
            return parse(await self._redis.execute_command(*argv))
        except redis.ResponseError as e:
            raise_refusal(str(e), name)

    primitive.__name__ = "_" + build.__name__
    return primitive


@cmd.primitives(_command)
class AsyncRedisModuleBackEnd:
    """Flags in Redis, evaluated by the hanoi module, over redis.asyncio.
    `obj`: a `redis.asyncio.Redis` (or RedisCluster), a (host, port[, db])
    tuple, or None for localhost."""

    def __init__(self, obj: Any = None, prefix: str = "") -> None:
        if obj is None:
            obj = redis.asyncio.Redis()
        elif isinstance(obj, (list, tuple)):
            obj = redis.asyncio.Redis(host=obj[0], port=obj[1], db=obj[2] if len(obj) > 2 else 0)
        self._redis = obj
        self._prefix = b(prefix)
        self._fields: Dict[str, Any] = {}

    def _key(self, name: Any) -> bytes:
        return self._prefix + b(name)

    async def item_id(self, name: str, item: Any) -> bytes:
        if is_plain(item):
            return b(item)
        field = self._fields.get(name, _UNKNOWN)
        if field is _UNKNOWN:
            info = await self._info(name)
            field = (info or {}).get("metadata", {}).get(FIELD)
            if info is not None:
                self._fields[name] = field
        return b(item_id(field, item))

    async def add_functionality(self, fn: Feature) -> None:
        await self._define(fn.name, define_options(fn.enabled, fn.percentage, fn.variants))
        had = ((await self._info(fn.name)) or {}).get("metadata", {}).get(FIELD)
        if isinstance(fn.field, str) and fn.field != had:
            await self._meta_set(fn.name, [(b(FIELD), b(fn.field))])
        elif not isinstance(fn.field, str) and had is not None:
            await self._meta_del(fn.name, [b(FIELD)])
        self._fields[fn.name] = fn.field

    async def get_functionality(self, name: str) -> Optional[Feature]:
        info = await self._info(name)
        if info is None:
            return None
        feature = feature_from_info(name, info, self._fields.get(name))
        self._fields[name] = feature.field
        return feature

    async def get_functionalities(self) -> List[str]:
        cut = len(self._prefix)
        keys = self._redis.scan_iter(
            match=prefix_match(self._prefix), count=1000, _type="hanoiflag"
        )
        return sorted({text_of(b(k)[cut:]) async for k in keys})


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
            return await be._enabled(name, None, ())
        return await be._enabled(name, await be.item_id(name, item), attr_pairs(context, attrs))

    async def variant(self, name: str, item: Any, context: Context = None, **attrs):
        be = self.backend
        return await be._variant(name, await be.item_id(name, item), attr_pairs(context, attrs))

    async def explain(self, name: str, item: Any, context: Context = None, **attrs) -> Explanation:
        be = self.backend
        return await be._explain(name, await be.item_id(name, item), attr_pairs(context, attrs))

    async def enabled_many(
        self, names: Sequence[str], item: Any, context: Context = None, **attrs
    ) -> Dict[str, bool]:
        names = list(names)
        if not names:
            return {}
        id_ = await self.backend.item_id(names[0], item)
        answers = await self.backend._menabled(names, id_, attr_pairs(context, attrs))
        return dict(zip(names, answers))

    async def register(self, name: str, item: Any) -> None:
        pattern = regex_source(item)
        if pattern is not None:
            await self.backend._ids(name, "regex", [pattern])
        else:
            await self.backend._ids(name, "user", [await self.backend.item_id(name, item)])

    async def set_percentage(self, name: str, percentage: Any) -> None:
        await self.backend._set_percentage(name, validate_percentage(percentage))

    async def enable(self, name: str) -> None:
        await self.backend._enable(name)

    async def disable(self, name: str) -> None:
        await self.backend._disable(name)

    async def toggle(self, name: str) -> bool:
        return await self.backend._toggle(name)

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
