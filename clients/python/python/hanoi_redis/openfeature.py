"""An OpenFeature provider (`openfeature-sdk` on PyPI) for hanoi flags.

    from openfeature import api
    from hanoi_redis.openfeature import HanoiProvider

    api.set_provider(HanoiProvider(RedisModuleBackEnd(redis.Redis())))
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
- `events=True` emits `PROVIDER_CONFIGURATION_CHANGED` (with the flag's name)
  when a flag changes, from keyspace notifications (the server needs
  `notify-keyspace-events` with `K` and `d`, e.g. `Kd`; the provider does not
  change the server's configuration).
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, NoReturn, Optional, Sequence, Union

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import (
    FlagNotFoundError,
    GeneralError,
    InvalidContextError,
    TargetingKeyMissingError,
    TypeMismatchError,
)
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from ._common import Explanation, FlagNotFound, HanoiError, attr_pairs, b, prefix_match, text_of
from ._core import openfeature_reason
from .backend import MemoryBackEnd, RedisModuleBackEnd

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


class HanoiProvider(AbstractProvider):
    """OpenFeature over a hanoi backend (or a redis-py client, wrapped in a
    RedisModuleBackEnd)."""

    def __init__(self, backend: Any = None, *, events: bool = False) -> None:
        super().__init__()
        if not isinstance(backend, (RedisModuleBackEnd, MemoryBackEnd)):
            backend = RedisModuleBackEnd(backend)
        self.backend: Backend = backend
        self._events = events
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def get_metadata(self) -> Metadata:
        return Metadata(name="hanoi")

    # ----- lifecycle: keyspace events → PROVIDER_CONFIGURATION_CHANGED -----

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        if self._events and isinstance(self.backend, RedisModuleBackEnd):
            pubsub = self.backend.redis.pubsub(ignore_subscribe_messages=True)
            db = self.backend.redis.connection_pool.connection_kwargs.get("db", 0)
            pubsub.psubscribe(b"__keyspace@%d__:" % db + prefix_match(self.backend.prefix))
            self._thread = threading.Thread(
                target=self._listen, args=(pubsub, db), name="hanoi-openfeature", daemon=True
            )
            self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _listen(self, pubsub: Any, db: int) -> None:
        assert isinstance(self.backend, RedisModuleBackEnd)
        cut = len(b"__keyspace@%d__:" % db) + len(self.backend.prefix)
        try:
            while not self._stop.is_set():
                msg = pubsub.get_message(timeout=0.2)
                if not msg or msg.get("type") != "pmessage":
                    continue
                event = text_of(b(msg["data"]))
                if not (event.startswith("hanoi.") or event in ("del", "expired", "rename_to")):
                    continue
                name = text_of(b(msg["channel"])[cut:])
                self.emit_provider_configuration_changed(
                    ProviderEventDetails(flags_changed=[name], message=event)
                )
        finally:
            pubsub.close()

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
