"""Backends: hanoi 0.0.4's backend API over the hanoi Redis module, or over
hanoi-core in this process. Both decide with the same Rust code.

A backend has a few primitives (one per HANOI.* command, `_enabled`,
`_define`, ...) and hanoi's methods on top of them (`add_functionality`,
`get_functionality`, `is_enabled`, ...).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import redis

from . import _commands as cmd
from ._common import (
    FIELD,
    Context,
    Explanation,
    Feature,
    FlagNotFound,
    HanoiError,
    attr_pairs,
    b,
    define_options,
    feature_from_info,
    info_dict,
    is_plain,
    item_id,
    prefix_match,
    raise_refusal,
    regex_source,
    text_of,
    validate_percentage,
)

_UNKNOWN = object()


class _BackEnd:
    """hanoi's backend methods, on the primitives each backend implements."""

    def __init__(self) -> None:
        # The id field of each flag seen by this process: an attribute name,
        # a callable (never stored), or None. Filled by add_functionality and
        # by the first object item checked against a flag.
        self._fields: Dict[str, Any] = {}

    # ----- ids -----

    def _field(self, name: str) -> Any:
        field = self._fields.get(name, _UNKNOWN)
        if field is _UNKNOWN:
            info = self._info(name)
            field = (info or {}).get("metadata", {}).get(FIELD)
            if info is not None:
                self._fields[name] = field
        return field

    def item_id(self, name: str, item: Any) -> bytes:
        """The id the module sees for `item`: itself when it is a string or a
        number, else read through the flag's field (one lookup per flag and
        process, then remembered)."""
        if is_plain(item):
            return b(item)
        return b(item_id(self._field(name), item))

    # ----- hanoi 0.0.4's backend API -----

    def add_functionality(self, fn: Feature) -> None:
        """Creates the flag or replaces its definition (registrations stay);
        its id field goes to the flag's metadata when it is an attribute name."""
        self._define(fn.name, define_options(fn.enabled, fn.percentage, fn.variants))
        stored = self._info(fn.name) or {}
        had = stored.get("metadata", {}).get(FIELD)
        if isinstance(fn.field, str) and fn.field != had:
            self._meta_set(fn.name, [(b(FIELD), b(fn.field))])
        elif not isinstance(fn.field, str) and had is not None:
            self._meta_del(fn.name, [b(FIELD)])
        self._fields[fn.name] = fn.field

    def get_functionality(self, name: str) -> Optional[Feature]:
        """hanoi's Feature for the flag, or None when it does not exist."""
        info = self._info(name)
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
        """Registers the item's id (hanoi: a missing flag is a ValueError)."""
        self._ids(name, "user", [self.item_id(name, item)])

    def set_rule(self, name: str, rule: Any) -> None:
        """hanoi's regex rule: registers the pattern (a compiled `re` pattern or
        a string; Rust regex syntax; added to the flag's regexes)."""
        self._ids(name, "regex", [regex_source(rule) or b(rule)])

    def set_percentage(self, name: str, percentage: Any) -> None:
        self._set_percentage(name, validate_percentage(percentage))

    def is_enabled(self, name: str, item: Any = None, context: Context = None, **attrs) -> bool:
        """Is the flag on for the item (and its attributes)? Without an item,
        its switch. A missing flag is off. One round trip."""
        if item is None:
            return self._enabled(name, None, ())
        return self._enabled(name, self.item_id(name, item), attr_pairs(context, attrs))

    def variant(self, name: str, item: Any, context: Context = None, **attrs) -> Optional[str]:
        return self._variant(name, self.item_id(name, item), attr_pairs(context, attrs))

    def enable(self, name: str, enable_to_all: bool = False) -> None:
        self._enable(name)
        if enable_to_all:
            self._set_percentage(name, 100)

    def disable(self, name: str) -> None:
        self._disable(name)

    def toggle(self, name: str) -> bool:
        """Flips the switch; the new state."""
        return self._toggle(name)

    # ----- beyond hanoi -----

    def explain(self, name: str, item: Any, context: Context = None, **attrs) -> Explanation:
        return self._explain(name, self.item_id(name, item), attr_pairs(context, attrs))

    def enabled_many(
        self, names: Sequence[str], item: Any, context: Context = None, **attrs
    ) -> Dict[str, bool]:
        """{name: on?} for many flags and one item, in one round trip. Objects
        are read through the first flag's field."""
        names = list(names)
        if not names:
            return {}
        id_ = self.item_id(names[0], item)
        return dict(zip(names, self._menabled(names, id_, attr_pairs(context, attrs))))

    def describe(self, name: str) -> Optional[dict]:
        """The flag's whole definition (HANOI.GET) as a dict, or None."""
        return self._info(name)


def _redis_client(obj: Any) -> Any:
    """hanoi's convention: a client, a (host, port[, db]) tuple, or None for localhost."""
    if obj is None:
        return redis.Redis()
    if isinstance(obj, (list, tuple)):
        db = obj[2] if len(obj) >= 3 else 0
        return redis.Redis(host=obj[0], port=obj[1], db=db)
    return obj


def _command(build: Callable, names: bool):
    """A primitive of RedisModuleBackEnd: the command's arguments, sent, and
    its reply read, with the module's refusals as HanoiError/FlagNotFound."""

    def primitive(self, name, *args):
        key = [self._key(n) for n in name] if names else self._key(name)
        argv, parse = build(key, *args)
        try:
            return parse(self._redis.execute_command(*argv))
        except redis.ResponseError as e:
            raise_refusal(str(e), name)

    primitive.__name__ = "_" + build.__name__
    return primitive


@cmd.primitives(_command)
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

    def _key(self, name: Any) -> bytes:
        return self._prefix + b(name)

    def names(self) -> List[str]:
        """Every flag under the prefix (SCAN ... TYPE hanoiflag, never KEYS)."""
        cut = len(self._prefix)
        match = prefix_match(self._prefix)
        keys = self._redis.scan_iter(match=match, count=1000, _type="hanoiflag")
        return sorted({text_of(b(k)[cut:]) for k in keys})

    def delete(self, name: str) -> bool:
        """Deletes the flag's key (UNLINK); whether it existed."""
        return bool(self._redis.unlink(self._key(name)))


def _engine_call(method: str, wrap: Callable[[Any], Any] = lambda r: r):
    """A primitive of MemoryBackEnd: the engine's method of the same name,
    with its refusals as HanoiError/FlagNotFound."""

    def primitive(self, name, *args):
        key = [b(n) for n in name] if method == "menabled" else b(name)
        try:
            return wrap(getattr(self._engine, method)(key, *args))
        except _CoreError as e:
            raise_refusal(str(e), name)

    primitive.__name__ = "_" + method
    return primitive


try:
    from ._core import Engine as _Engine
    from ._core import HanoiCoreError as _CoreError
except ImportError:  # a source tree without the built extension
    _Engine = None
    _CoreError = HanoiError


class MemoryBackEnd(_BackEnd):
    """Flags in this process, evaluated by hanoi-core (the module's own Rust
    code, through PyO3): the same answers as RedisModuleBackEnd, no server.
    Thread-safe."""

    def __init__(self) -> None:
        super().__init__()
        if _Engine is None:
            raise ImportError("hanoi_redis._core is not built: pip install ./clients/python")
        self._engine = _Engine()

    _enabled = _engine_call("enabled")
    _variant = _engine_call("variant", text_of)
    _explain = _engine_call("explain", Explanation.from_reply)
    _menabled = _engine_call("menabled")
    _define = _engine_call("define")
    _ids = _engine_call("ids")
    _enable = _engine_call("enable")
    _disable = _engine_call("disable")
    _toggle = _engine_call("toggle")
    _set_percentage = _engine_call("set_percentage")
    _set_rule = _engine_call("set_rule")
    _delete_rules = _engine_call("delete_rules")
    _move_rule = _engine_call("move_rule")
    _set_window = _engine_call("set_window")
    _set_ramp = _engine_call("set_ramp")
    _clear_schedule = _engine_call("clear_schedule")
    _meta_set = _engine_call("meta_set")
    _meta_del = _engine_call("meta_del")

    def _info(self, name: Any) -> Optional[dict]:
        return info_dict(self._engine.get(b(name)))

    def names(self) -> List[str]:
        return sorted(text_of(n) for n in self._engine.names())

    def delete(self, name: str) -> bool:
        self._fields.pop(name, None)
        return self._engine.delete(b(name))


__all__ = ["RedisModuleBackEnd", "MemoryBackEnd", "Feature", "FlagNotFound", "HanoiError"]
