"""OpenFeature providers (`openfeature-sdk` on PyPI) for hanoi flags.

    from openfeature import api
    from hanoi_redis.openfeature import HanoiProvider

    api.set_provider_and_wait(HanoiProvider(RedisModuleBackEnd(redis.Redis())))
    client = api.get_client()
    client.get_boolean_value('new_checkout', False, EvaluationContext('44488', {'country': 'DE'}))

`HanoiProvider` works over `RedisModuleBackEnd` (or `MemoryBackEnd`, or
`MirrorBackEnd`: answers from memory; while the mirror has lost Redis the
provider is `PROVIDER_STALE` and answers from the last state, then
`PROVIDER_READY` and `PROVIDER_CONFIGURATION_CHANGED` once resynced; every
flag the mirror re-reads is a `PROVIDER_CONFIGURATION_CHANGED` with its name);
`AsyncHanoiProvider` over `hanoi_redis.asyncio.AsyncRedisModuleBackEnd`, for
the SDK's `get_*_async` methods.

- `targetingKey` is the id; the other context attributes go to the rules
  (`WITH`): strings, numbers and booleans (`true`/`false`); a list or a map
  is `INVALID_CONTEXT`.
- A flag's type is the flag's, whatever the id: `boolean` (no variants, or
  boolean values), `string` (variants without values, or string values),
  `number` or `object` (the values' type), read from its description
  (`HANOI.GET`, kept `cache_seconds`, default 1 s; with `events=True` a
  change drops it at once; an answer naming another type drops it too).
  Resolving as another type is `TYPE_MISMATCH` (with the flag's metadata);
  `number` answers integer resolution when the value is a whole number, and
  float resolution always.
- The answer is one `HANOI.RESOLVE` (enabled, variant, value, reason, type):
  a flag without variants answers True/False with variant `on`/`off`; a flag
  with variants serves the variant's value; an off answer serves the
  flag's `DEFAULT` variant when it has one, else the caller's default.
- Reasons (as hanoi-web's OFREP, from hanoi-core): switched off or outside
  its window → `DISABLED`; a registered id, a regex, a rule, or a blocked id
  → `TARGETING_MATCH`; the percentage → `SPLIT`, at 100 % `STATIC` (on for
  everyone); outside the percentage and the rules → `DEFAULT`; a
  prerequisite that failed → `PREREQUISITE_FAILED` (no error code: the
  flag's DEFAULT variant's value, else the caller's default; the flag
  metadata's `prerequisite` names it); references past their bounds (more
  than 8 levels, a cycle) → reason `ERROR`, error code `GENERAL`, the
  module's detail as the message.
- `flag_metadata`: `type`, and every field of the flag's metadata
  (`HANOI.META`: `description`, `owner`, `tags`, `created`, any other), as
  strings.
- Without a targetingKey (or with an empty one) the flag answers what does
  not depend on the id (the switch, the window, attribute rules, a
  percentage of 0 or 100, a single or DEFAULT variant); only where the
  answer depends on the id's hash (a percentage or a rule's rollout strictly
  between 0 and 100 that is reached, weighted variants) it is
  `TARGETING_KEY_MISSING`.
- Errors: a missing flag, or a key that is not a flag → `FLAG_NOT_FOUND`;
  Redis unreachable → `GENERAL`. Over Redis an evaluation waits at most
  `timeout` seconds (default 1; None: as long as the Redis client does),
  then answers `GENERAL` (the caller's default): a redis-py client retries
  a refused connection and, without `socket_timeout`, waits for an answer
  as long as it takes.
- `initialize` pings Redis and raises when it is unreachable (the SDK then
  reports the provider in error: `PROVIDER_ERROR`); a server without the
  module raises `ProviderFatalError` (status `FATAL`: it will never answer).
- Experiments (`experiments=True`, or the names of the flags): an
  evaluation of a flag whose description shows a running experiment is one
  `HANOI.ASSIGN` instead of `HANOI.RESOLVE` (the same answer; the id's
  first exposure is recorded, a write: over a mirror, a round trip). The
  description is the cached one: an experiment started less than
  `cache_seconds` ago may be missed that long.
- `track(event, context, details)` (the SDK's `client.track`) is
  `HANOI.TRACK flag targetingKey event value`: the event's name is the
  metric, `details.value` the value (a whole number from 0 to 2^53; 1 when
  none), the targetingKey the id. OpenFeature's tracking names no flag:
  the flag is `details.attributes["flag"]` (a name, or a list of names),
  else every flag named by `experiments=[...]`, else (with
  `experiments=True`) every flag this provider evaluated with a running
  experiment declaring that metric. It returns nothing and raises nothing:
  what cannot be recorded (no targetingKey, no flag, a bad value, Redis
  away) is logged (logger `hanoi_redis.openfeature`). `AsyncHanoiProvider`
  sends it as a task on the running event loop (`await
  provider.track_async(...)` to wait for it).
- `events=True` (a single Redis server, not a cluster) watches the flags and
  the connection from one thread, on a connection of its own:
  - a flag's change → `PROVIDER_CONFIGURATION_CHANGED` with its name, from
    keyspace notifications. The server needs `notify-keyspace-events` with
    `K` (keyspace events) and `d` (module events: every hanoi write), and `g`
    and `x` for deletions and expiries (`Kgxd`, or `KA`). The provider does
    not change the server's configuration: when it can read it
    (`CONFIG GET`) and `K` or `d` is missing it logs a warning (logger
    `hanoi_redis.openfeature`) and runs on, without change events;
  - the connection lost (Redis restarting, the network) →
    `PROVIDER_ERROR` (not fatal: evaluations fail with `GENERAL` meanwhile,
    they need Redis); it reconnects with exponential backoff (from 0.1 s,
    doubling, at most `max_backoff` seconds, default 30) and, once
    subscribed again, emits `PROVIDER_READY`, then
    `PROVIDER_CONFIGURATION_CHANGED` without names (any flag may have
    changed meanwhile);
  - `shutdown()` stops the thread (within 0.2 s) and closes its
    connection; the provider can be registered again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
    Union,
    cast,
)

import redis
import redis.connection
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import (
    ErrorCode,
    FlagNotFoundError,
    GeneralError,
    InvalidContextError,
    OpenFeatureError,
    ProviderFatalError,
    TargetingKeyMissingError,
)
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata
from openfeature.track import TrackingEventDetails
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._common import (
    Explanation,
    FlagNotFound,
    HanoiError,
    Info,
    attr_pairs,
    b,
    prefix_match,
    text_of,
    track_value,
)
from ._core import openfeature_reason
from .asyncio import AsyncMirrorBackEnd, AsyncRedisModuleBackEnd
from .backend import MemoryBackEnd, RedisModuleBackEnd
from .mirror import MirrorBackEnd

log = logging.getLogger("hanoi_redis.openfeature")

#: Every reason HANOI.EXPLAIN gives (`Reason::ALL` in hanoi-core).
HANOI_REASONS = (
    "undefined",
    "disabled",
    "inactive",
    "blocked",
    "user",
    "regex",
    "rule",
    "all",
    "percentage",
    "outside",
    "needs_id",
    "prerequisite",
    "error",
)


def _openfeature(word: str) -> Union[Reason, str]:
    """The SDK's Reason when it has one; else OpenFeature's word (the
    SDK 0.10 has no `PREREQUISITE_FAILED` yet, its details take a str)."""
    try:
        return Reason(word)
    except ValueError:
        return word


#: HANOI.EXPLAIN's reason → OpenFeature's, from hanoi-core (the mapping
#: hanoi-web's OFREP uses: `Reason::openfeature`). `undefined`, `needs_id`
#: and `error` are answered as errors (FLAG_NOT_FOUND,
#: TARGETING_KEY_MISSING, GENERAL).
REASONS: Dict[str, Union[Reason, str]] = {
    r: _openfeature(openfeature_reason(r)) for r in HANOI_REASONS
}
#: OpenFeature's reason for a failed prerequisite.
PREREQUISITE_FAILED = "PREREQUISITE_FAILED"

Backend = Union[RedisModuleBackEnd, MemoryBackEnd]
Pairs = Sequence[Tuple[bytes, bytes]]
FlagMetadata = Dict[str, Union[bool, int, float, str]]
T = TypeVar("T")

#: The keyspace events that change a flag (besides the module's `hanoi.*`).
KEY_EVENTS = frozenset({"del", "expired", "evicted", "rename_to", "restore", "copy_to", "move_to"})


#: OpenFeature's resolution kinds each flag type answers.
KINDS = {
    "boolean": ("boolean",),
    "string": ("string",),
    "number": ("integer", "float"),
    "object": ("object",),
}


def flag_type(info: Info) -> str:
    """A flag's OpenFeature type from its description: the module's `type`
    when it gives one, else `string` with variants, `boolean` without."""
    t = info.get("type")
    if t is not None:
        return str(text_of(t))
    return "string" if info.get("variants") else "boolean"


def _meta_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def flag_metadata(info: Info) -> FlagMetadata:
    """`flag_metadata` (OpenFeature 2.2.9): every field of the flag's
    metadata (`HANOI.META`: description, owner, tags, created, any other), as
    strings, and the flag's type."""
    meta = info.get("metadata") or {}
    out: FlagMetadata = {_meta_text(k): _meta_text(v) for k, v in meta.items() if v is not None}
    out["type"] = flag_type(info)
    return out


class _Deadline:
    """Runs a call on a daemon thread of its own and waits at most `timeout`
    seconds for it (a redis-py client retries a refused connection, and
    waits as long as its socket timeout, None by default, for an answer):
    past it, GENERAL. A call that did not finish goes on in its thread, its
    answer dropped; its thread serves again once it returns."""

    IDLE = 8  # threads kept waiting for work

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._idle: List["_Worker"] = []
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], T], what: str) -> T:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(self)
        box = worker.submit(fn)
        if not box.done.wait(self.timeout):
            raise GeneralError(f"no answer from Redis within {self.timeout:g} s ({what})")
        if box.error is not None:
            raise box.error
        return cast(T, box.value)

    def _back(self, worker: "_Worker") -> bool:
        with self._lock:
            if len(self._idle) >= self.IDLE:
                return False
            self._idle.append(worker)
            return True


class _Box:
    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None


class _Worker:
    def __init__(self, owner: _Deadline) -> None:
        self.owner = owner
        self.work: "queue.SimpleQueue[Tuple[Callable[[], Any], _Box]]" = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="hanoi-openfeature-eval", daemon=True).start()

    def submit(self, fn: Callable[[], Any]) -> _Box:
        box = _Box()
        self.work.put((fn, box))
        return box

    def _loop(self) -> None:
        while True:
            fn, box = self.work.get()
            try:
                box.value = fn()
            except BaseException as e:  # handed to the caller
                box.error = e
            box.done.set()
            if not self.owner._back(self):
                return


class _Resolver:
    """What both providers decide, without I/O: the context, the cached
    descriptions, the type check, and the details of an answer."""

    def _setup(self, cache_seconds: float) -> None:
        self._ttl = cache_seconds
        self._cache: Dict[str, Tuple[float, Info]] = {}

    # ----- experiments -----

    def _setup_experiments(self, experiments: Union[bool, Sequence[str]]) -> None:
        if isinstance(experiments, str):
            experiments = [experiments]
        self._experiments: Union[bool, frozenset[str]] = (
            experiments if isinstance(experiments, bool) else frozenset(experiments)
        )
        self._named: List[str] = [] if isinstance(experiments, bool) else list(experiments)
        # The flags evaluated with a running experiment: their metrics.
        self._running: Dict[str, Tuple[str, ...]] = {}

    def _assigns(self, flag_key: str, info: Info) -> bool:
        """Whether this evaluation records the exposure (HANOI.ASSIGN)."""
        if self._experiments is False:
            return False
        if self._experiments is not True and flag_key not in self._experiments:
            return False
        exp = info.experiment
        if exp is None or not exp.running:
            self._running.pop(flag_key, None)
            return False
        if len(self._running) > 10_000:
            self._running.clear()
        self._running[flag_key] = tuple(exp.metrics)
        return True

    def _tracking(
        self,
        event: str,
        ctx: Optional[EvaluationContext],
        details: Optional[TrackingEventDetails],
    ) -> Optional[Tuple[List[str], bytes, int]]:
        """A `track` call as (flags, id, value); None (logged) when it cannot
        be recorded."""
        key = ctx.targeting_key if ctx else None
        if not key:
            log.warning("track(%r): no targetingKey, nothing recorded", event)
            return None
        attrs: Mapping[str, Any] = details.attributes if details else {}
        flag = attrs.get("flag")
        if isinstance(flag, str):
            flags = [flag]
        elif isinstance(flag, (list, tuple)):
            flags = [str(f) for f in flag]
        else:
            flags = list(self._named) or [
                f for f, metrics in self._running.items() if event in metrics
            ]
        if not flags:
            log.warning(
                "track(%r): no flag (details.attributes['flag'], or experiments=[...]): "
                "nothing recorded",
                event,
            )
            return None
        raw = details.value if details is not None and details.value is not None else 1
        try:
            value = track_value(raw)
        except (TypeError, ValueError) as e:
            log.warning("track(%r): %s: nothing recorded", event, e)
            return None
        return flags, b(key), value

    # ----- descriptions -----

    def _cached(self, flag_key: str) -> Optional[Info]:
        hit = self._cache.get(flag_key)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        return None

    def _keep(self, flag_key: str, info: Info) -> None:
        if self._ttl <= 0:
            return
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[flag_key] = (time.monotonic(), info)

    def forget(self, flag_key: Optional[str] = None) -> None:
        """Drops a flag's cached description (None: every flag's)."""
        if flag_key is None:
            self._cache.clear()
        else:
            self._cache.pop(flag_key, None)

    # ----- the steps of a resolution -----

    @staticmethod
    def _context(ctx: Optional[EvaluationContext]) -> Tuple[Optional[bytes], Pairs]:
        """The id (None when missing or empty) and the attributes for WITH."""
        attrs: Mapping[str, Any] = (ctx.attributes if ctx else None) or {}
        try:
            pairs = attr_pairs(attrs, {})
        except TypeError as e:
            raise InvalidContextError(str(e)) from None
        key = ctx.targeting_key if ctx else None
        return (b(key) if key else None), pairs

    @staticmethod
    def _failure(flag_key: str, e: Exception, evaluating: bool) -> OpenFeatureError:
        """A backend's exception as OpenFeature's error."""
        if isinstance(e, OpenFeatureError):
            return e
        if isinstance(e, FlagNotFound):
            return FlagNotFoundError(f"no such flag: {flag_key}")
        if isinstance(e, HanoiError):
            if str(e).startswith("WRONGTYPE"):
                return FlagNotFoundError(f"{flag_key} is not a flag")
            if evaluating:  # the module refused the attributes
                return InvalidContextError(str(e))
        return GeneralError(f"{type(e).__name__}: {e}")

    def _before(
        self, kind: str, flag_key: str, default: T, info: Optional[Info], id_: Optional[bytes]
    ) -> Optional[FlagResolutionDetails[T]]:
        """A type mismatch, answered without an evaluation; else None."""

        if info is None:
            raise FlagNotFoundError(f"no such flag: {flag_key}")
        t = flag_type(info)
        if kind not in KINDS.get(t, ()):
            return self._mismatch(kind, flag_key, default, info)
        return None

    def _typed(
        self,
        kind: str,
        flag_key: str,
        default: T,
        info: Info,
        value: Any,
        variant: Optional[str],
        reason: Union[Reason, str],
        meta: Optional[FlagMetadata] = None,
    ) -> FlagResolutionDetails[T]:
        """A served value as the kind asked: an integer must be a whole
        number (a float value is TYPE_MISMATCH), a float takes any number."""
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return self._mismatch(kind, flag_key, default, info)
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self._mismatch(kind, flag_key, default, info)
            value = float(value)
        return FlagResolutionDetails(
            value,
            variant=variant,
            reason=reason,
            flag_metadata=flag_metadata(info) if meta is None else meta,
        )

    @staticmethod
    def _mismatch(kind: str, flag_key: str, default: T, info: Info) -> FlagResolutionDetails[T]:
        t = flag_type(info)
        return FlagResolutionDetails(
            default,
            error_code=ErrorCode.TYPE_MISMATCH,
            error_message=f"{flag_key} is a {t} flag, not {kind}",
            reason=Reason.ERROR,
            flag_metadata=flag_metadata(info),
        )

    def _after(
        self,
        kind: str,
        flag_key: str,
        default: T,
        info: Info,
        resolved: Tuple[Explanation, Any, Optional[str]],
    ) -> FlagResolutionDetails[T]:
        """The answer for HANOI.RESOLVE's (explanation, value, type)."""
        e, value, now = resolved
        if e.reason == "undefined":  # deleted since its description was read
            self.forget(flag_key)
            raise FlagNotFoundError(f"no such flag: {flag_key}")
        if e.reason == "needs_id":  # asked without one, and the answer depends on it
            raise TargetingKeyMissingError(
                f"{flag_key}'s answer depends on the targetingKey (a percentage, a rule's "
                "rollout or a pick among variants)"
            )
        if e.reason == "error":  # references too deep, a cycle, too many: off
            return FlagResolutionDetails(
                default,
                error_code=ErrorCode.GENERAL,
                error_message=str(e.detail),
                reason=Reason.ERROR,
                flag_metadata=flag_metadata(info),
            )
        reason = REASONS.get(e.reason)
        if reason is None:  # a newer module's reason
            raise GeneralError(f"{flag_key}: unknown reason {e.reason!r}")
        # Redefined since its description was read? The answer names the
        # type it has now.
        if now is not None and now != flag_type(info):
            self.forget(flag_key)
            info = dataclasses.replace(info, type=now)
            if kind not in KINDS.get(now, ()):
                return self._mismatch(kind, flag_key, default, info)
        meta = flag_metadata(info)
        if e.reason == "prerequisite":  # off: the DEFAULT's value, or the caller's default
            meta["prerequisite"] = str(e.detail)
        if now == "boolean" and e.variant is None and value is not None:
            # A flag without variants: on or off.
            on: Any = e.enabled
            return FlagResolutionDetails(
                on,
                variant="on" if e.enabled else "off",
                reason=reason,
                flag_metadata=meta,
            )
        if e.variant is None or value is None:  # off, no DEFAULT: the code's default
            return FlagResolutionDetails(default, variant=None, reason=reason, flag_metadata=meta)
        return self._typed(kind, flag_key, default, info, value, e.variant, reason, meta)


def _listener_client(client: Any) -> Any:
    """A redis-py client of its own for the listener, to the server and db
    `client` (sync or asyncio) talks to: no silent retries (a lost
    connection must be seen), a bounded connect time."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        raise ValueError("events=True needs a single Redis server (not a cluster client)")
    kwargs = dict(pool.connection_kwargs)
    for k in ("retry", "retry_on_error", "retry_on_timeout", "redis_connect_func"):
        kwargs.pop(k, None)
    kwargs["retry"] = Retry(NoBackoff(), 0)
    kwargs["socket_connect_timeout"] = kwargs.get("socket_connect_timeout") or 2.0
    kwargs["socket_keepalive"] = True
    kwargs["health_check_interval"] = 10
    # The asyncio classes have sync namesakes (Connection, SSLConnection,
    # UnixDomainSocketConnection).
    name = pool.connection_class.__name__
    cls = getattr(redis.connection, name, redis.connection.Connection)
    kwargs.pop("connection_class", None)
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=cls, **kwargs))


class _Watcher:
    """`events=True`: keyspace events → PROVIDER_CONFIGURATION_CHANGED, and
    the connection's health → PROVIDER_ERROR / PROVIDER_READY, on one thread."""

    MIN_BACKOFF = 0.1
    POLL = 0.2

    def __init__(
        self,
        provider: AbstractProvider,
        client: Any,
        db: int,
        prefix: bytes,
        forget: Callable[[Optional[str]], None],
        max_backoff: float,
    ) -> None:
        self.provider = provider
        self.client = client
        self.channel = b"__keyspace@%d__:" % db
        self.prefix = prefix
        self.forget = forget
        self.max_backoff = max_backoff
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Subscribes (raises when Redis is unreachable), then listens on a
        thread: every change made after this returns is seen."""
        pubsub = self._subscribe()
        self.thread = threading.Thread(
            target=self._run, args=(pubsub,), name="hanoi-openfeature", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
            self.thread = None
        self.client.close()

    def _subscribe(self) -> Any:
        self._check_config()
        pubsub = self.client.pubsub()
        try:
            pubsub.psubscribe(self.channel + prefix_match(self.prefix))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not self.stop.is_set():  # confirmed?
                msg = pubsub.get_message(timeout=self.POLL)
                if msg and msg.get("type") == "psubscribe":
                    return pubsub
            raise redis.TimeoutError("no answer to PSUBSCRIBE")
        except BaseException:
            pubsub.close()
            raise

    def _check_config(self) -> None:
        try:
            conf = self.client.config_get("notify-keyspace-events")
        except redis.ResponseError:  # CONFIG refused (ACL, managed Redis): cannot tell
            return
        flags = str(text_of(next(iter(conf.values()), b"")))
        if "A" in flags:
            flags += "gd"
        if "K" not in flags or "d" not in flags:
            log.warning(
                "notify-keyspace-events is %r: without K and d no flag change is seen "
                "(PROVIDER_CONFIGURATION_CHANGED); set it to Kgxd",
                flags,
            )

    def _run(self, pubsub: Any) -> None:
        lost = False
        backoff = self.MIN_BACKOFF
        while not self.stop.is_set():
            if pubsub is None:
                try:
                    pubsub = self._subscribe()
                except Exception:  # down, loading, refused: try again later
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
            if lost:
                lost, backoff = False, self.MIN_BACKOFF
                self.forget(None)
                self.provider.emit_provider_ready(ProviderEventDetails(message="reconnected"))
                self.provider.emit_provider_configuration_changed(
                    ProviderEventDetails(message="reconnected: any flag may have changed")
                )
            try:
                self._listen(pubsub)
            except Exception as e:  # the connection lost (or Redis answered nonsense)
                pubsub.close()
                pubsub, lost = None, True
                self.forget(None)
                self.provider.emit_provider_error(
                    ProviderEventDetails(
                        message=f"lost the connection to Redis: {e}",
                        error_code=ErrorCode.GENERAL,
                    )
                )
        if pubsub is not None:
            pubsub.close()

    def _listen(self, pubsub: Any) -> None:
        cut = len(self.channel) + len(self.prefix)
        while not self.stop.is_set():
            msg = pubsub.get_message(timeout=self.POLL)
            if not msg or msg.get("type") != "pmessage":
                continue
            event = str(text_of(b(msg["data"])))
            if not (event.startswith("hanoi.") or event in KEY_EVENTS):
                continue
            name = str(text_of(b(msg["channel"])[cut:]))
            self.forget(name)
            self.provider.emit_provider_configuration_changed(
                ProviderEventDetails(flags_changed=[name], message=event)
            )


def _fatal_without_module(error: Exception) -> None:
    """A server without the module never answers a flag: PROVIDER_FATAL
    (the SDK's FATAL status), not an error worth retrying."""
    if "unknown command" in str(error).lower():
        raise ProviderFatalError(
            "the server has no hanoi module (HANOI.GET is an unknown command): "
            "load it with --loadmodule libhanoi.so"
        ) from None


def _db(client: Any) -> int:
    pool = getattr(client, "connection_pool", None)
    return int(pool.connection_kwargs.get("db", 0)) if pool is not None else 0


class _MirrorEvents(AbstractProvider):
    """A provider over a mirror follows the mirror's one change feed (its
    tracking connections): stale → PROVIDER_STALE, in step again →
    PROVIDER_READY and PROVIDER_CONFIGURATION_CHANGED, a flag re-read →
    PROVIDER_CONFIGURATION_CHANGED with its name. No connection of its own."""

    _following = False

    def _follow(self, mirror: MirrorBackEnd) -> None:
        mirror.add_stale_listener(self._mirror_stale)
        mirror.add_change_listener(self._mirror_changed)

    if TYPE_CHECKING:  # _Resolver's

        def forget(self, flag_key: Optional[str] = None) -> None: ...

    def _mirror_stale(self, stale: bool) -> None:
        if not self._following:
            return
        self.forget(None)
        if stale:
            self.emit_provider_stale(
                ProviderEventDetails(
                    message="lost the connection to Redis: answers from the mirror's last state"
                )
            )
        else:
            self.emit_provider_ready(ProviderEventDetails(message="in step with Redis again"))
            self.emit_provider_configuration_changed(
                ProviderEventDetails(message="resynced: any flag may have changed")
            )

    def _mirror_changed(self, names: List[str]) -> None:
        for name in names:
            self.forget(name)
        if self._following and names:
            self.emit_provider_configuration_changed(
                ProviderEventDetails(flags_changed=names, message="changed in Redis")
            )


class HanoiProvider(_Resolver, _MirrorEvents):
    """OpenFeature over a hanoi backend (or a redis-py client, wrapped in a
    RedisModuleBackEnd). See the module's documentation."""

    def __init__(
        self,
        backend: Any = None,
        *,
        events: bool = False,
        cache_seconds: float = 1.0,
        max_backoff: float = 30.0,
        timeout: Optional[float] = 1.0,
        experiments: Union[bool, Sequence[str]] = False,
    ) -> None:
        super().__init__()
        self._setup_experiments(experiments)
        if not isinstance(backend, (RedisModuleBackEnd, MemoryBackEnd)):
            backend = RedisModuleBackEnd(backend)
        self.backend: Backend = backend
        # Over Redis, each evaluation waits at most `timeout` seconds (None:
        # as long as the client does); the mirror and memory answer at once.
        self._deadline: Optional[_Deadline] = None
        remote = isinstance(backend, RedisModuleBackEnd) and not isinstance(backend, MirrorBackEnd)
        if timeout is not None and remote:
            self._deadline = _Deadline(timeout)
        self._events = events
        self._max_backoff = max_backoff
        self._watcher: Optional[_Watcher] = None
        self._following = False
        self._by_generation: Dict[str, Tuple[int, Info]] = {}
        # A mirror's descriptions are in memory, in step: kept per generation.
        self._setup(0.0 if isinstance(backend, MirrorBackEnd) else cache_seconds)
        if isinstance(backend, MirrorBackEnd):
            self._follow(backend)

    def get_metadata(self) -> Metadata:
        return Metadata(name="hanoi")

    # ----- lifecycle -----

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.shutdown()  # a provider registered again starts afresh
        if isinstance(self.backend, MirrorBackEnd):
            # Answers come from memory: no ping (a stale mirror still answers).
            self._following = True
            if self.backend.stale:
                self.emit_provider_stale(ProviderEventDetails(message="the mirror is not in step"))
            return
        if not isinstance(self.backend, RedisModuleBackEnd):
            return
        self.backend.redis.ping()
        try:  # the module is there?
            self.backend.describe("")
        except (HanoiError, redis.ResponseError) as e:
            _fatal_without_module(e)
        if self._events:
            r = self.backend.redis
            watcher = _Watcher(
                self,
                _listener_client(r),
                _db(r),
                self.backend.prefix,
                self.forget,
                self._max_backoff,
            )
            watcher.start()
            self._watcher = watcher

    def shutdown(self) -> None:
        self._following = False
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
        self.forget(None)

    # ----- resolution -----

    def _describe(self, flag_key: str) -> Optional[Info]:
        if isinstance(self.backend, MirrorBackEnd):
            return self._mirror_describe(self.backend, flag_key)
        info = self._cached(flag_key)
        if info is None:
            try:
                info = self.backend.describe(flag_key)
            except Exception as e:
                raise self._failure(flag_key, e, evaluating=False) from None
            if info is not None:
                self._keep(flag_key, info)
        return info

    def _mirror_describe(self, mirror: MirrorBackEnd, flag_key: str) -> Optional[Info]:
        """A mirror's description, kept while the flag's generation stays
        (read before the description: a change in between is seen next time)."""
        gen = mirror.generation(flag_key)
        hit = self._by_generation.get(flag_key)
        if hit is not None and hit[0] == gen:
            return hit[1]
        try:
            info = mirror.describe(flag_key)
        except Exception as e:
            raise self._failure(flag_key, e, evaluating=False) from None
        if len(self._by_generation) > 10_000:
            self._by_generation.clear()
        if info is not None:
            self._by_generation[flag_key] = (gen, info)
        return info

    def _resolve(
        self, kind: str, flag_key: str, default: T, ctx: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[T]:
        if self._deadline is None:
            return self._evaluate(kind, flag_key, default, ctx)
        return self._deadline.run(lambda: self._evaluate(kind, flag_key, default, ctx), flag_key)

    def _evaluate(
        self, kind: str, flag_key: str, default: T, ctx: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[T]:
        id_, pairs = self._context(ctx)
        info = self._describe(flag_key)
        early = self._before(kind, flag_key, default, info, id_)
        if early is not None:
            return early
        assert info is not None
        try:
            # No id is the empty one: the module's keyless form.
            if self._assigns(flag_key, info):
                resolved = self.backend.hanoi_assign(flag_key, id_ or b"", pairs)
            else:
                resolved = self.backend.hanoi_resolve(flag_key, id_ or b"", pairs)
        except Exception as err:
            raise self._failure(flag_key, err, evaluating=True) from None
        return self._after(kind, flag_key, default, info, resolved)

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: Optional[EvaluationContext] = None,
        tracking_event_details: Optional[TrackingEventDetails] = None,
    ) -> None:
        """OpenFeature's tracking: HANOI.TRACK on each flag (see the module's
        documentation); within `timeout`; never raises."""
        job = self._tracking(tracking_event_name, evaluation_context, tracking_event_details)
        if job is None:
            return
        flags, id_, value = job
        metric = b(tracking_event_name)

        def send() -> None:
            for flag in flags:
                self.backend.hanoi_track(flag, id_, metric, value)

        try:
            if self._deadline is None:
                send()
            else:
                self._deadline.run(send, tracking_event_name)
        except Exception as e:
            log.warning("track(%r) on %s: %s", tracking_event_name, flags, e)

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve("boolean", flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve("string", flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[int]:
        return self._resolve("integer", flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve("float", flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Union[Sequence[Any], Mapping[str, Any]],
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[Union[Sequence[Any], Mapping[str, Any]]]:
        return self._resolve("object", flag_key, default_value, evaluation_context)


class AsyncHanoiProvider(_Resolver, _MirrorEvents):
    """OpenFeature over `AsyncRedisModuleBackEnd` (or a `redis.asyncio`
    client, wrapped in one), for the SDK's `get_*_async` methods; the sync
    ones answer `GENERAL`. The same answers as `HanoiProvider`. `initialize`
    and `events=True` use a sync connection of their own to the same server
    (the SDK calls `initialize` outside any event loop)."""

    def __init__(
        self,
        backend: Any = None,
        *,
        events: bool = False,
        cache_seconds: float = 1.0,
        max_backoff: float = 30.0,
        timeout: Optional[float] = 1.0,
        experiments: Union[bool, Sequence[str]] = False,
    ) -> None:
        super().__init__()
        self._setup_experiments(experiments)
        self._tracks: Set["asyncio.Task[None]"] = set()
        self._timeout = timeout
        if not isinstance(backend, AsyncRedisModuleBackEnd):
            backend = AsyncRedisModuleBackEnd(backend)
        self.backend = backend
        self._events = events
        self._max_backoff = max_backoff
        self._watcher: Optional[_Watcher] = None
        self._setup(cache_seconds)
        if isinstance(backend, AsyncMirrorBackEnd):
            self._follow(backend.mirror)

    def get_metadata(self) -> Metadata:
        return Metadata(name="hanoi")

    # ----- lifecycle -----

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.shutdown()
        if isinstance(self.backend, AsyncMirrorBackEnd):
            # The mirror's change feed, as HanoiProvider over a MirrorBackEnd.
            self._following = True
            if self.backend.stale:
                self.emit_provider_stale(ProviderEventDetails(message="the mirror is not in step"))
            return
        r = self.backend.redis
        if getattr(r, "connection_pool", None) is None:  # a cluster: nothing to ping from here
            if self._events:
                raise ValueError("events=True needs a single Redis server (not a cluster client)")
            return
        client = _listener_client(r)
        try:
            client.ping()
            try:  # the module is there?
                client.execute_command("HANOI.GET", self.backend.prefix)
            except redis.ResponseError as e:
                _fatal_without_module(e)
        except BaseException:
            client.close()
            raise
        if not self._events:
            client.close()
            return
        watcher = _Watcher(
            self, client, _db(r), self.backend.prefix, self.forget, self._max_backoff
        )
        watcher.start()
        self._watcher = watcher

    def shutdown(self) -> None:
        self._following = False
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
        self.forget(None)

    # ----- resolution -----

    async def _describe(self, flag_key: str) -> Optional[Info]:
        info = self._cached(flag_key)
        if info is None:
            try:
                info = await self.backend.describe(flag_key)
            except Exception as e:
                raise self._failure(flag_key, e, evaluating=False) from None
            if info is not None:
                self._keep(flag_key, info)
        return info

    async def _resolve(
        self, kind: str, flag_key: str, default: T, ctx: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[T]:
        if self._timeout is None:
            return await self._evaluate(kind, flag_key, default, ctx)
        try:
            return await asyncio.wait_for(
                self._evaluate(kind, flag_key, default, ctx), self._timeout
            )
        except asyncio.TimeoutError:
            raise GeneralError(
                f"no answer from Redis within {self._timeout:g} s ({flag_key})"
            ) from None

    async def _evaluate(
        self, kind: str, flag_key: str, default: T, ctx: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[T]:
        id_, pairs = self._context(ctx)
        info = await self._describe(flag_key)
        early = self._before(kind, flag_key, default, info, id_)
        if early is not None:
            return early
        assert info is not None
        try:
            if self._assigns(flag_key, info):
                resolved = await self.backend.hanoi_assign(flag_key, id_ or b"", pairs)
            else:
                resolved = await self.backend.hanoi_resolve(flag_key, id_ or b"", pairs)
        except Exception as err:
            raise self._failure(flag_key, err, evaluating=True) from None
        return self._after(kind, flag_key, default, info, resolved)

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: Optional[EvaluationContext] = None,
        tracking_event_details: Optional[TrackingEventDetails] = None,
    ) -> None:
        """OpenFeature's tracking (the SDK's `track` is not a coroutine): sent
        as a task on the running event loop; outside one, logged and dropped
        (await `track_async` there)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning(
                "track(%r): AsyncHanoiProvider tracks from a running event loop "
                "(or await provider.track_async(...)): nothing recorded",
                tracking_event_name,
            )
            return
        task = loop.create_task(
            self.track_async(tracking_event_name, evaluation_context, tracking_event_details)
        )
        self._tracks.add(task)
        task.add_done_callback(self._tracks.discard)

    async def track_async(
        self,
        tracking_event_name: str,
        evaluation_context: Optional[EvaluationContext] = None,
        tracking_event_details: Optional[TrackingEventDetails] = None,
    ) -> None:
        """`track`, awaited: HANOI.TRACK on each flag, within `timeout`; never raises."""
        job = self._tracking(tracking_event_name, evaluation_context, tracking_event_details)
        if job is None:
            return
        flags, id_, value = job
        metric = b(tracking_event_name)

        async def send() -> None:
            for flag in flags:
                await self.backend.hanoi_track(flag, id_, metric, value)

        try:
            await asyncio.wait_for(send(), self._timeout)
        except Exception as e:
            log.warning("track(%r) on %s: %s", tracking_event_name, flags, e)

    async def flush(self) -> None:
        """Waits for the `track` calls still being sent."""
        while self._tracks:
            await asyncio.gather(*list(self._tracks), return_exceptions=True)

    @staticmethod
    def _sync_refused() -> GeneralError:
        return GeneralError(
            "AsyncHanoiProvider answers the async API (get_boolean_value_async, ...)"
        )

    async def resolve_boolean_details_async(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[bool]:
        return await self._resolve("boolean", flag_key, default_value, evaluation_context)

    async def resolve_string_details_async(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[str]:
        return await self._resolve("string", flag_key, default_value, evaluation_context)

    async def resolve_integer_details_async(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[int]:
        return await self._resolve("integer", flag_key, default_value, evaluation_context)

    async def resolve_float_details_async(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[float]:
        return await self._resolve("float", flag_key, default_value, evaluation_context)

    async def resolve_object_details_async(
        self,
        flag_key: str,
        default_value: Union[Sequence[Any], Mapping[str, Any]],
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[Union[Sequence[Any], Mapping[str, Any]]]:
        return await self._resolve("object", flag_key, default_value, evaluation_context)

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[bool]:
        raise self._sync_refused()

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[str]:
        raise self._sync_refused()

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[int]:
        raise self._sync_refused()

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[float]:
        raise self._sync_refused()

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Union[Sequence[Any], Mapping[str, Any]],
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[Union[Sequence[Any], Mapping[str, Any]]]:
        raise self._sync_refused()
