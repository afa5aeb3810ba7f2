"""An OpenFeature provider (`openfeature-sdk` on PyPI) for hanoi flags.

    from openfeature import api
    from hanoi_redis.openfeature import HanoiProvider

    api.set_provider_and_wait(HanoiProvider(RedisModuleBackEnd(redis.Redis())))
    client = api.get_client()
    client.get_boolean_value('cdc_on', False, EvaluationContext('44488', {'country': 'DE'}))

- `targetingKey` is the id; the other context attributes go to the rules
  (`WITH`): strings, numbers and booleans (`true`/`false`); a list or a map
  is `INVALID_CONTEXT`.
- Boolean resolution: is the flag on for the id (any flag). String
  resolution: the id's variant; a flag without variants is `TYPE_MISMATCH`;
  when the flag is off for the id the default value comes back (reason
  `DISABLED` or `DEFAULT`). Integer, float and object flags do not exist in
  hanoi: `TYPE_MISMATCH`.
- Reasons (as hanoi-web's OFREP): switched off or outside its window →
  `DISABLED`; a registered id, a regex, a rule, or a blocked id →
  `TARGETING_MATCH`; the percentage → `SPLIT`, at 100 % `STATIC` (on for
  everyone); outside the percentage → `DEFAULT`.
- Errors: unknown flag → `FLAG_NOT_FOUND`. Without a targetingKey a flag
  that is switched off answers `DISABLED` (no id is needed for that); one that
  is switched on needs an id: `TARGETING_KEY_MISSING`.
- One round trip per evaluation (`HANOI.EXPLAIN`).
- `initialize` pings Redis and raises when it is unreachable (the SDK then
  reports the provider in error: `PROVIDER_ERROR`).
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

import logging
import threading
import time
from typing import Any, Mapping, NoReturn, Optional, Sequence, Union

import redis
import redis.connection
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import (
    ErrorCode,
    FlagNotFoundError,
    GeneralError,
    InvalidContextError,
    TargetingKeyMissingError,
    TypeMismatchError,
)
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._common import Explanation, FlagNotFound, HanoiError, attr_pairs, b, prefix_match, text_of
from ._core import openfeature_reason
from .backend import MemoryBackEnd, RedisModuleBackEnd

log = logging.getLogger("hanoi_redis.openfeature")

#: HANOI.EXPLAIN's reason → OpenFeature's, from hanoi-core (the mapping
#: hanoi-web's OFREP uses: `Reason::openfeature`).
REASONS = {
    r: Reason(openfeature_reason(r))
    for r in (
        "disabled",
        "inactive",
        "blocked",
        "user",
        "regex",
        "rule",
        "all",
        "percentage",
        "outside",
    )
}

Backend = Union[RedisModuleBackEnd, MemoryBackEnd]

#: The keyspace events that change a flag (besides the module's `hanoi.*`).
KEY_EVENTS = frozenset({"del", "expired", "evicted", "rename_to", "restore", "copy_to", "move_to"})


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
        max_backoff: float,
    ) -> None:
        self.provider = provider
        self.client = client
        self.channel = b"__keyspace@%d__:" % db
        self.prefix = prefix
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
                self.provider.emit_provider_ready(ProviderEventDetails(message="reconnected"))
                self.provider.emit_provider_configuration_changed(
                    ProviderEventDetails(message="reconnected: any flag may have changed")
                )
            try:
                self._listen(pubsub)
            except Exception as e:  # the connection lost (or Redis answered nonsense)
                pubsub.close()
                pubsub, lost = None, True
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
            self.provider.emit_provider_configuration_changed(
                ProviderEventDetails(flags_changed=[name], message=event)
            )


def _db(client: Any) -> int:
    pool = getattr(client, "connection_pool", None)
    return int(pool.connection_kwargs.get("db", 0)) if pool is not None else 0


class HanoiProvider(AbstractProvider):
    """OpenFeature over a hanoi backend (or a redis-py client, wrapped in a
    RedisModuleBackEnd). See the module's documentation."""

    def __init__(
        self,
        backend: Any = None,
        *,
        events: bool = False,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__()
        if not isinstance(backend, (RedisModuleBackEnd, MemoryBackEnd)):
            backend = RedisModuleBackEnd(backend)
        self.backend: Backend = backend
        self._events = events
        self._max_backoff = max_backoff
        self._watcher: Optional[_Watcher] = None

    def get_metadata(self) -> Metadata:
        return Metadata(name="hanoi")

    # ----- lifecycle -----

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.shutdown()  # a provider registered again starts afresh
        if not isinstance(self.backend, RedisModuleBackEnd):
            return
        self.backend.redis.ping()
        if self._events:
            r = self.backend.redis
            watcher = _Watcher(
                self,
                _listener_client(r),
                _db(r),
                self.backend.prefix,
                self._max_backoff,
            )
            watcher.start()
            self._watcher = watcher

    def shutdown(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()

    # ----- resolution -----

    def _explain(self, flag_key: str, ctx: Optional[EvaluationContext]) -> Optional[Explanation]:
        """EXPLAIN for the context's id and attributes; None when the flag is
        switched off and no id was given."""
        attrs: Mapping[str, Any] = (ctx.attributes if ctx else None) or {}
        try:
            pairs = attr_pairs(attrs, {})
        except TypeError as e:
            raise InvalidContextError(str(e)) from None
        key = ctx.targeting_key if ctx else None
        try:
            if key is None or key == "":
                if self.backend.hanoi_enabled(flag_key, None, ()):
                    raise TargetingKeyMissingError("hanoi flags are evaluated per targetingKey")
                if self.backend.describe(flag_key) is None:
                    raise FlagNotFoundError(f"no such flag: {flag_key}")
                return None
            answer = self.backend.hanoi_explain(flag_key, b(key), pairs)
        except FlagNotFound as e:
            raise FlagNotFoundError(str(e)) from None
        except HanoiError as e:
            raise InvalidContextError(str(e)) from None
        except Exception as e:  # the server is unreachable, ...
            if isinstance(e, (TargetingKeyMissingError, FlagNotFoundError)):
                raise
            raise GeneralError(f"{type(e).__name__}: {e}") from None
        if answer.reason == "undefined":
            raise FlagNotFoundError(f"no such flag: {flag_key}")
        return answer

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[bool]:
        e = self._explain(flag_key, evaluation_context)
        if e is None:
            return FlagResolutionDetails(False, variant="off", reason=Reason.DISABLED)
        return FlagResolutionDetails(
            e.enabled, variant="on" if e.enabled else "off", reason=REASONS[e.reason]
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[str]:
        e = self._explain(flag_key, evaluation_context)
        if e is None:
            return FlagResolutionDetails(default_value, reason=Reason.DISABLED)
        if e.enabled and e.variant is None:
            raise TypeMismatchError(f"{flag_key} has no variants: resolve it as a boolean")
        if not e.enabled or e.variant is None:
            return FlagResolutionDetails(default_value, reason=REASONS[e.reason])
        return FlagResolutionDetails(e.variant, variant=e.variant, reason=REASONS[e.reason])

    def _no_such_type(self, flag_key: str, kind: str) -> NoReturn:
        raise TypeMismatchError(f"hanoi flags are boolean or string, not {kind}")

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[int]:
        return self._no_such_type(flag_key, "integer")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[float]:
        return self._no_such_type(flag_key, "float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Union[Sequence[Any], Mapping[str, Any]],
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[Union[Sequence[Any], Mapping[str, Any]]]:
        return self._no_such_type(flag_key, "object")
