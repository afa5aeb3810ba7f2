"""What the backends share: hanoi's Feature, ids and attributes as bytes, the
arguments of each HANOI.* command, and the replies turned into Python values.

Nothing here decides whether a flag is on: the Redis module or hanoi-core does.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import re
from dataclasses import dataclass
from dataclasses import field as _field
from typing import (
    Any,
    Callable,
    Dict,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    List,
    Literal,
    Mapping,
    NamedTuple,
    NoReturn,
    Optional,
    Sequence,
    Tuple,
    Union,
)

Id = Union[str, bytes, int]
#: A call's attributes for the targeting rules (`{'country': 'DE'}`), or None.
Context = Optional[Mapping[str, Any]]
#: Attributes as the (name, value) byte pairs of `WITH`.
Pairs = Sequence[Tuple[bytes, bytes]]
#: A flag's id field: an attribute name, a callable giving an item's id, or None.
Field = Union[None, str, Callable[[Any], Any]]
#: The id lists of HANOI.REGISTER/UNREGISTER (USER or REGEX), BLOCK and UNBLOCK.
IdList = Literal["user", "regex", "unuser", "unregex", "block", "unblock"]

_regex_type = type(re.compile(""))

#: The current id of `Rollout.current_id(...)`: per thread and per asyncio task.
current: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "hanoi_redis_current_id", default=None
)

#: The metadata field that keeps hanoi's `check` (the item's id field).
FIELD = "field"


class HanoiError(ValueError):
    """The module (or hanoi-core) refused the command; the message is its own."""


class FlagNotFound(HanoiError, KeyError):
    """The flag does not exist (hanoi raised ValueError or KeyError here: both catch it)."""

    __str__ = Exception.__str__


class RolloutException(Exception):
    """A decorated function's feature is off, undefined, or no id is known."""


def raise_refusal(message: str, name: Any = None) -> NoReturn:
    """Raises the module's refusal as hanoi_redis's exception."""
    text = message[4:] if message.startswith("ERR ") else message
    if text.startswith("no such flag"):
        raise FlagNotFound(f"no such flag: {text_of(name)}" if name is not None else text)
    raise HanoiError(text)


def b(value: Any) -> bytes:
    """A name, an id or a value as the bytes the module sees."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float)):
        return str(value).encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"expected str, bytes or a number, not {type(value).__name__}")


def text_of(value: Any) -> Any:
    """bytes from Redis (or the core) as str; anything else as it is."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def attr_pairs(context: Context, attrs: Mapping[str, Any]) -> List[Tuple[bytes, bytes]]:
    """`context` and keyword attributes as (name, value) byte pairs for WITH.
    Values are strings, bytes, numbers or booleans (`true`/`false`); None
    leaves the attribute out; lists and dicts are refused (TypeError)."""
    merged = dict(context) if context else {}
    merged.update(attrs)
    pairs = []
    for k, v in merged.items():
        if v is None:
            continue
        if isinstance(v, (list, tuple, dict, set)):
            raise TypeError(f"attribute {k!r}: {type(v).__name__} cannot be compared by rules")
        pairs.append((b(k), b(v)))
    return pairs


def ids_args(which: str, cursor: int, match: Optional[str], count: Optional[int]) -> List[bytes]:
    """HANOI.IDS's arguments after the key."""
    if which not in ("users", "blocked"):
        raise ValueError(f"which must be 'users' or 'blocked', not {which!r}")
    args = [which.upper().encode(), str(int(cursor)).encode()]
    if match is not None:
        args += [b"MATCH", b(match)]
    if count is not None:
        args += [b"COUNT", str(int(count)).encode()]
    return args


def with_args(pairs: Pairs) -> List[bytes]:
    out: List[bytes] = []
    if pairs:
        out.append(b"WITH")
        for k, v in pairs:
            out += (k, v)
    return out


def validate_percentage(percentage: Any) -> int:
    """hanoi's check, with hanoi's exceptions (AttributeError)."""
    try:
        value = int(percentage)
    except (ValueError, TypeError):
        raise AttributeError("Percentage should be a valid number") from None
    if value < 0 or value > 100:
        raise AttributeError("Percentage should be a number between 0 and 100")
    return value


def segment_definition(salt: Optional[str]) -> List[bytes]:
    """HANOI.DEFINE's options for a segment."""
    return [b"SEGMENT"] + ([b"SALT", b(salt)] if salt is not None else [])


def prereq_args(other: bytes, variant: Optional[Any]) -> List[bytes]:
    """HANOI.PREREQ key SET's arguments: the prerequisite's key [VARIANT v]."""
    return [other] + ([b"VARIANT", b(variant)] if variant is not None else [])


#: The operators whose arguments are a list (a count before them on the
#: command line; none in a described rule's `arguments`).
_LISTED = ("IN", "NOTIN")


class Condition(NamedTuple):
    """One condition of a targeting rule (HANOI.GET's `condition`): the
    attribute, the operator (`EQ`, `IN`, `EXISTS`, `SEMVER_GE`, ...) and its
    arguments (none, one, or a list's values; `IN` and `NOTIN` without the
    count they take on the command line). Writing, a plain tuple does too:
    `("plan", "EXISTS")`, `("country", "EQ", "DE")`, `("plan", "IN", ["pro", "team"])`."""

    attribute: str
    operator: str
    arguments: Tuple[str, ...] = ()

    @classmethod
    def of(cls, c: Any) -> "Condition":
        """A condition from a `Condition` or a tuple `(attribute, operator[,
        value or list of values])`: values are strings or numbers."""
        if isinstance(c, (str, bytes)) or not 2 <= len(c) <= 3:
            raise TypeError(
                "a condition is (attribute, operator) or (attribute, operator, value or values),"
                f" not {c!r}"
            )
        # A Condition too: its arguments may have been given as one value.
        args: Any = c[2] if len(c) == 3 else ()
        if args is None:
            args = ()
        if isinstance(args, (str, bytes, int, float)):
            args = (args,)
        return cls(str(text_of(c[0])), str(text_of(c[1])), tuple(str(text_of(b(a))) for a in args))


@dataclass(frozen=True)
class TargetingRule:
    """A targeting rule (HANOI.GET's `rule`, `describe(name).rules`): its
    name, the share of the ids it matches that it serves (None: all), the
    variant it serves (None: the flag's pick) and its conditions, all of
    which must hold. `set_targeting_rule(flag, rule)` writes it again (to
    this flag or another)."""

    name: str
    rollout: Optional[int] = None
    variant: Optional[str] = None
    when: List[Condition] = _field(default_factory=list)

    @classmethod
    def from_reply(cls, reply: Any) -> "TargetingRule":
        """A rule of HANOI.GET's `rules` (an array read by position; fields
        a newer module appended are left out)."""
        # A word where the rollout (an integer or nil) is: `[name, "IF", ...]`.
        if (
            isinstance(reply, (list, tuple))
            and len(reply) > 1
            and isinstance(reply[1], (bytes, str))
        ):
            raise HanoiError(
                "HANOI.GET: a rule as words, not [name, rollout, variant, conditions]:"
                " the module is older than this client (upgrade the module)"
            )
        f = by_position(reply, RULE_FIELDS, "HANOI.GET rule")
        when = []
        for c in f["conditions"] or ():
            x = by_position(c, CONDITION_FIELDS, "HANOI.GET condition")
            when.append(
                Condition(
                    str(text_of(x["attribute"])),
                    str(text_of(x["operator"])),
                    tuple(str(text_of(a)) for a in x["arguments"] or ()),
                )
            )
        return cls(
            str(text_of(f["name"])),
            None if f["rollout"] is None else int(f["rollout"]),
            None if f["variant"] is None else str(text_of(f["variant"])),
            when,
        )

    def segments(self, prefix: bytes, add: bool) -> "TargetingRule":
        """The rule with `prefix` put before (`add`) or taken from each
        segment its conditions on `segment` name: keys for the module,
        names for the backend's callers."""
        if not prefix:
            return self
        p = str(text_of(prefix))

        def key(v: str) -> str:
            if add:
                return p + v
            return v[len(p) :] if v.startswith(p) else v

        when = [
            c._replace(arguments=tuple(key(a) for a in c.arguments))
            if c.attribute == "segment"
            else c
            for c in self.when
        ]
        return dataclasses.replace(self, when=when)

    def words(self) -> List[bytes]:
        """The words after `HANOI.RULE key SET name` (as the core's
        `rule_args` writes them)."""
        out: List[bytes] = []
        if self.rollout is not None:
            out += [b"ROLLOUT", b(int(self.rollout))]
        if self.variant is not None:
            out += [b"VARIANT", b(self.variant)]
        if not self.when:
            raise ValueError("a targeting rule needs at least one condition (when)")
        for i, c in enumerate(self.when):
            out += [b"AND" if i else b"IF", b(c.attribute), b(c.operator)]
            if c.operator.upper() in _LISTED:
                out.append(b(len(c.arguments)))
            out += [b(a) for a in c.arguments]
        return out


def old_set_rule(words: Sequence[Any]) -> TypeError:
    """The error of `Rollout.set_rule(name, rule, *words)`: the words of a
    targeting rule, a call of before `set_targeting_rule`."""
    return TypeError(
        "Rollout.set_rule(name, pattern) registers a regex (hanoi 0.0.4's); a targeting"
        " rule is set_targeting_rule(name, rule_name, when, rollout=None, variant=None),"
        f" its conditions as structure: [(attribute, operator, value), ...] (got {len(words)}"
        " more argument(s))"
    )


def targeting_rule(
    rule: Union[str, TargetingRule],
    when: Optional[Sequence[Any]],
    rollout: Optional[int],
    variant: Optional[str],
) -> TargetingRule:
    """`set_targeting_rule`'s arguments as a rule: a name and its parts, or
    a described rule (copied; `when`, `rollout`, `variant` then not given)."""
    if isinstance(rule, TargetingRule):
        if when is not None or rollout is not None or variant is not None:
            raise TypeError("a TargetingRule is copied whole: give no when, rollout or variant")
        return rule
    if when is None:
        raise TypeError("set_targeting_rule needs the rule's conditions (when)")
    if isinstance(when, (str, bytes)) or (when and isinstance(when[0], (str, bytes))):
        raise TypeError(
            "when is a list of conditions: [(attribute, operator, value), ...]"
            " (the words of HANOI.RULE are not taken)"
        )
    return TargetingRule(
        str(text_of(rule)),
        None if rollout is None else int(rollout),
        None if variant is None else str(text_of(variant)),
        [Condition.of(c) for c in when],
    )


def define_options(
    enabled: bool, percentage: int, variants: Optional[Sequence[Any]]
) -> List[bytes]:
    """HANOI.DEFINE's options for hanoi's (enabled, percentage, variants)."""
    opts: List[bytes] = [
        b"ENABLED" if enabled else b"DISABLED",
        b"PERCENTAGE",
        str(percentage).encode(),
    ]
    if variants:
        opts += [b"VARIANTS", str(len(variants)).encode()] + [b(v) for v in variants]
    return opts


def full_definition(
    percentage: Any,
    variants: Optional[Sequence[Any]],
    enabled: bool,
    weights: Optional[Sequence[int]],
    salt: Optional[str],
    values: Optional[Sequence[Any]] = None,
    default: Optional[str] = None,
) -> List[bytes]:
    """HANOI.DEFINE's options for `Rollout.define` (every option): `values`
    are Python values sent as JSON, one per variant."""
    opts = [b"ENABLED" if enabled else b"DISABLED", b"PERCENTAGE", b(percentage)]
    if variants:
        opts += [b"VARIANTS", b(len(variants))] + all_ids(variants)
    if weights:
        opts += [b"WEIGHTS"] + all_ids(weights)
    if values is not None:
        opts += [b"VALUES"] + [json.dumps(v).encode() for v in values]
    if default is not None:
        opts += [b"DEFAULT", b(default)]
    if salt is not None:
        opts += [b"SALT", b(salt)]
    return opts


#: Each array reply's fields, in order, as hanoi-core lays them out
#: (`tests/vectors/replies.json`, checked by tests/test_replies.py). A newer
#: module may append fields: the decoders read these and leave the rest.
EXPLAIN_FIELDS: Tuple[str, ...] = (
    "enabled",
    "variant",
    "reason",
    "detail",
    "percentage",
    "missing",
)
RESOLVE_FIELDS: Tuple[str, ...] = (
    "enabled",
    "variant",
    "value",
    "reason",
    "detail",
    "percentage",
    "type",
    "missing",
)
IDS_FIELDS: Tuple[str, ...] = ("cursor", "ids")
#: HANOI.GET's `rules`: each rule, and each of its conditions (arrays read by position).
RULE_FIELDS: Tuple[str, ...] = ("name", "rollout", "variant", "conditions")
CONDITION_FIELDS: Tuple[str, ...] = ("attribute", "operator", "arguments")
#: HANOI.STATS (a map), HANOI.STATS SERIES (a map of lists of periods, each
#: an array) and each entry of HANOI.HISTORY (a map).
STATS_FIELDS: Tuple[str, ...] = ("evaluations", "enabled", "variants", "last_evaluated", "since")
SERIES_FIELDS: Tuple[str, ...] = ("minutes", "hours")
PERIOD_FIELDS: Tuple[str, ...] = ("start", "evaluations", "enabled")
HISTORY_FIELDS: Tuple[str, ...] = ("time", "user", "client", "command", "arguments")
#: HANOI.GET's fields (a map: read by name; names not listed are kept as they are).
DESCRIPTION_FIELDS: Tuple[str, ...] = (
    "blocked",
    "created",
    "default",
    "effective_percentage",
    "enabled",
    "experiment",
    "kind",
    "metadata",
    "percentage",
    "prerequisites",
    "ramp",
    "regexes",
    "revision",
    "rules",
    "salt",
    "type",
    "users",
    "values",
    "variants",
    "weights",
    "window",
)


def by_position(reply: Sequence[Any], fields: Tuple[str, ...], command: str) -> Dict[str, Any]:
    """An array reply's fields by name: at least `fields`, in order; fields a
    newer module appended after them are left out."""
    if len(reply) < len(fields):
        raise HanoiError(
            f"{command}: a reply of {len(reply)} fields, expected at least {len(fields)}"
        )
    return dict(zip(fields, reply))


def resolution(
    reply: Sequence[Any], prefix: bytes = b""
) -> Tuple["Explanation", Any, Optional[str]]:
    """HANOI.RESOLVE's reply: the explanation, the value served (decoded
    JSON, None when none) and the flag's type (None for a missing flag).
    The keys it names lose `prefix` (see `Explanation.named`)."""
    f = by_position(reply, RESOLVE_FIELDS, "HANOI.RESOLVE")
    e = Explanation.from_fields(f).named(prefix)
    return e, json_value(f["value"]), text_of(f["type"])


_JSON_WORDS: Dict[bytes, Any] = {b"true": True, b"false": False, b"null": None}


def json_value(reply: Any) -> Any:
    """HANOI.VALUE's reply (JSON text, or nil) as a Python value. The
    common answers (a boolean, a string without escapes) without the JSON
    parser: the module only serves valid JSON (a variant's name as a JSON
    string has its control characters escaped)."""
    if reply is None:
        return None
    if reply in _JSON_WORDS:
        return _JSON_WORDS[reply]
    if (
        isinstance(reply, bytes)
        and len(reply) >= 2
        and reply[0] == 0x22
        and reply[-1] == 0x22
        and b"\\" not in reply
        and b'"' not in reply[1:-1]
    ):
        return reply[1:-1].decode("utf-8")
    return json.loads(reply)


def schedule_parts(which: Optional[str]) -> Tuple[bool, bool]:
    """`clear_schedule`'s `which` ('window', 'ramp' or None for both) as
    (window, ramp)."""
    if which not in (None, "window", "ramp"):
        raise ValueError("which is 'window', 'ramp' or None")
    return which != "ramp", which != "window"


class Feature:
    """hanoi's Feature: a flag's name, id field, percentage, switch and variants.

    `field` is the item's attribute that holds its id (kept in the flag's
    metadata as `field`), or a callable giving the id of an item (kept in
    this process only), or None (the item is its own id)."""

    __slots__ = ["name", "field", "percentage", "enabled", "variants"]

    name: str
    field: Field
    percentage: int
    enabled: bool
    variants: Optional[Sequence[str]]

    def __init__(
        self,
        name: str,
        field: Field = None,
        percentage: Any = 100,
        variants: Optional[Sequence[str]] = None,
    ) -> None:
        if not isinstance(name, str):
            raise AttributeError("Feature name should be a string")
        self.name = name
        self.field = field
        self.percentage = percentage
        self.enabled = True
        self.variants = variants

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "percentage":
            value = validate_percentage(value)
        elif name == "name" and hasattr(self, name):
            raise RuntimeError("Unable to update the Feature name")
        object.__setattr__(self, name, value)

    def get_item_id(self, item: Any) -> Any:
        return item_id(self.field, item)

    def __repr__(self) -> str:
        return "<{0}> applying {1} to {2}% users".format(self.name, self.field, self.percentage)


def is_plain(item: Any) -> bool:
    """An id as it is (no field to read)."""
    return isinstance(item, (str, bytes, int))


def item_id(field: Field, item: Any) -> Any:
    """The id of `item`: itself when it is a string or a number, else through
    the flag's field (an attribute name or a callable), else str(item)."""
    if is_plain(item):
        return item
    if callable(field):
        return field(item)
    if field and hasattr(item, field):
        return getattr(item, field)
    return str(item)


@dataclass(frozen=True)
class Explanation:
    """HANOI.EXPLAIN's answer: on or off, the variant, why, the detail (the
    regex or rule that matched, the id's bucket, the prerequisite that
    failed, or what went wrong for reason `error`), the effective percentage,
    and `missing`: a segment the flag's rules name that does not exist."""

    enabled: bool
    variant: Optional[str]
    reason: str
    detail: Union[str, int, None]
    percentage: int
    missing: Optional[str] = None

    @classmethod
    def from_reply(cls, reply: Sequence[Any], prefix: bytes = b"") -> "Explanation":
        """HANOI.EXPLAIN's reply (fields appended by a newer module are left
        out); the keys it names lose `prefix`."""
        return cls.from_fields(by_position(reply, EXPLAIN_FIELDS, "HANOI.EXPLAIN")).named(prefix)

    def named(self, prefix: bytes) -> "Explanation":
        """The keys the module names (the prerequisite that failed, the
        missing segment) as names: without the backend's `prefix`."""
        if not prefix:
            return self
        p = str(text_of(prefix))
        detail, missing = self.detail, self.missing
        if self.reason == "prerequisite" and isinstance(detail, str) and detail.startswith(p):
            detail = detail[len(p) :]
        if missing is not None and missing.startswith(p):
            missing = missing[len(p) :]
        return dataclasses.replace(self, detail=detail, missing=missing)

    @classmethod
    def from_fields(cls, f: Mapping[str, Any]) -> "Explanation":
        """The explanation's fields of an EXPLAIN or RESOLVE reply, by name."""
        return cls(
            bool(f["enabled"]),
            text_of(f["variant"]),
            text_of(f["reason"]),
            text_of(f["detail"]),
            int(f["percentage"]),
            text_of(f.get("missing")),
        )


@dataclass(frozen=True)
class Resolution:
    """HANOI.RESOLVE's (and HANOI.ASSIGN's) answer: the explanation, the
    value served (decoded JSON; None when none) and the flag's type (None
    for a missing flag)."""

    explanation: Explanation
    value: Any
    type: Optional[str]

    @property
    def enabled(self) -> bool:
        return self.explanation.enabled

    @property
    def variant(self) -> Optional[str]:
        return self.explanation.variant

    @property
    def reason(self) -> str:
        return self.explanation.reason


def feature_from_info(name: str, info: "Description", local_field: Any = None) -> Feature:
    """hanoi's Feature for a flag's `HANOI.GET` answer."""
    meta = info.get("metadata") or {}
    field = local_field if callable(local_field) else meta.get(FIELD)
    variants = tuple(text_of(v) for v in info.get("variants") or ()) or None
    f = Feature(name, field or None, int(info.get("percentage", 0)), variants)
    f.enabled = bool(int(info.get("enabled", 1)))
    return f


@dataclass(frozen=True, eq=False)
class Description:
    """HANOI.GET's answer (`describe`), by attribute (`d.type`, `d.metadata`)
    or, as a dict, by the reply's field names (`d["type"]`, `d.get("salt")`,
    `dict(d)`, `d.items()`); `extra` keeps the fields a newer module added
    (reached by name too). `d.values` is the field (one value per variant):
    the mapping's values are `dict(d).values()`."""

    blocked: int = 0
    created: int = 0
    default: Optional[str] = None
    effective_percentage: int = 0
    enabled: bool = False
    #: The flag's experiment (`HANOI.EXPERIMENT`), or None.
    experiment: Optional["ExperimentState"] = None
    #: `flag`, or `segment` (a key whose answer is membership).
    kind: str = "flag"
    metadata: Dict[str, str] = _field(default_factory=dict)
    percentage: int = 0
    #: Each prerequisite, in order: its name and the variant it must serve (or None).
    prerequisites: List[Tuple[str, Optional[str]]] = _field(default_factory=list)
    #: [from %, to %, start ms, end ms], or None.
    ramp: Optional[List[int]] = None
    regexes: List[str] = _field(default_factory=list)
    revision: int = 0
    #: The targeting rules, in order (each a `TargetingRule`).
    rules: List[TargetingRule] = _field(default_factory=list)
    salt: Optional[str] = None
    type: Optional[str] = None
    users: int = 0
    #: One decoded JSON value per variant, or none.
    values: List[Any] = _field(default_factory=list)
    variants: List[str] = _field(default_factory=list)
    weights: List[int] = _field(default_factory=list)
    #: [from ms, until ms], or None.
    window: Optional[List[int]] = None
    #: Fields this client does not know (a newer module's), by name.
    extra: Dict[str, Any] = _field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        if key in _DESCRIPTION_SET:
            return getattr(self, key)
        return self.extra[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return key in _DESCRIPTION_SET or key in self.extra

    def __iter__(self) -> Iterator[str]:
        yield from DESCRIPTION_FIELDS
        yield from self.extra

    def __len__(self) -> int:
        return len(DESCRIPTION_FIELDS) + len(self.extra)

    def as_dict(self) -> Dict[str, Any]:
        return {k: self[k] for k in self}

    def keys(self) -> KeysView[str]:
        return self.as_dict().keys()

    def items(self) -> ItemsView[str, Any]:
        return self.as_dict().items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Description, dict)):
            return self.as_dict() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


_DESCRIPTION_SET = frozenset(DESCRIPTION_FIELDS)
#: HANOI.GET's answer (`describe`).
Info = Description


def info_dict(reply: Any, prefix: bytes = b"") -> Optional[Description]:
    """HANOI.GET's reply (a RESP3 map, a RESP2 flat array, or the core's dict)
    as a `Description`; fields it does not know are kept in `extra`. The
    keys it names (prerequisites, segments in rules) lose `prefix`: names,
    as the backend's methods take them."""
    if reply is None:
        return None
    if isinstance(reply, dict):
        d = {text_of(k): v for k, v in reply.items()}
    else:
        d = {text_of(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
    meta = d.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {meta[i]: meta[i + 1] for i in range(0, len(meta) - 1, 2)}
    d["metadata"] = {text_of(k): text_of(v) for k, v in meta.items()}
    d["variants"] = [text_of(v) for v in d.get("variants") or ()]
    d["regexes"] = [text_of(r) for r in d.get("regexes") or ()]
    d["rules"] = [
        TargetingRule.from_reply(r).segments(prefix, add=False) for r in d.get("rules") or ()
    ]
    d["kind"] = text_of(d.get("kind")) or "flag"
    d["prerequisites"] = [
        (text_of(unprefixed(b(p[0]), prefix)), text_of(p[1]) if len(p) > 1 else None)
        for p in d.get("prerequisites") or ()
    ]
    d["salt"] = text_of(d.get("salt"))
    d["type"] = text_of(d.get("type"))
    d["values"] = [json.loads(v) for v in d.get("values") or ()]
    d["default"] = text_of(d.get("default"))
    d["enabled"] = bool(int(d.get("enabled", 0)))
    d["experiment"] = ExperimentState.from_reply(d.get("experiment"))
    known = {k: v for k, v in d.items() if k in _DESCRIPTION_SET}
    extra = {k: v for k, v in d.items() if k not in _DESCRIPTION_SET}
    return Description(**known, extra=extra)


#: HANOI.GET's `experiment` (an array read by position).
EXPERIMENT_FIELDS: Tuple[str, ...] = (
    "state",
    "started",
    "stopped",
    "control",
    "arms",
    "metrics",
    "exposures",
)
#: Each arm of HANOI.EXPERIMENT RESULTS (a map), and each of its metrics (an array).
ARM_FIELDS: Tuple[str, ...] = ("arm", "control", "exposures", "metrics")
METRIC_FIELDS: Tuple[str, ...] = ("metric", "converted", "sum", "sum_squares")
#: HANOI.EXPERIMENT EXPOSURES's page, and each exposure.
EXPOSURES_FIELDS: Tuple[str, ...] = ("cursor", "exposures")
EXPOSURE_FIELDS: Tuple[str, ...] = ("id", "arm", "time")


@dataclass(frozen=True)
class ExperimentState:
    """A flag's experiment as `describe` shows it (HANOI.GET's `experiment`):
    `running` or `stopped`, when it started and stopped (Unix ms), its
    control arm, its arms, its metrics and how many ids were exposed."""

    state: str
    started: int
    stopped: Optional[int]
    control: str
    arms: List[str]
    metrics: List[str]
    exposures: int

    @property
    def running(self) -> bool:
        return self.state == "running"

    @classmethod
    def from_reply(cls, reply: Any) -> Optional["ExperimentState"]:
        if reply is None or isinstance(reply, ExperimentState):
            return reply
        f = by_position(reply, EXPERIMENT_FIELDS, "HANOI.GET experiment")
        return cls(
            str(text_of(f["state"])),
            int(f["started"]),
            None if f["stopped"] is None else int(f["stopped"]),
            str(text_of(f["control"])),
            [str(text_of(a)) for a in f["arms"]],
            [str(text_of(m)) for m in f["metrics"]],
            int(f["exposures"]),
        )


@dataclass(frozen=True)
class MetricResult:
    """One metric on one arm: the exposed units that converted, the sum of
    their per-unit totals and the sum of the squares of those totals (exact
    integers)."""

    metric: str
    converted: int
    sum: int
    sum_squares: int


@dataclass(frozen=True)
class ArmResult:
    """One arm of `experiment_results` (HANOI.EXPERIMENT RESULTS): its name,
    whether it is the control, its exposures, and each metric's sums by name
    (in the experiment's order)."""

    arm: str
    control: bool
    exposures: int
    metrics: Dict[str, MetricResult]

    def rate(self, metric: str) -> float:
        """The share of the arm's exposed units that converted (0.0 without
        exposures)."""
        return self.metrics[metric].converted / self.exposures if self.exposures else 0.0

    def mean(self, metric: str) -> float:
        """The mean per-unit total over the arm's exposed units (0.0 without
        exposures)."""
        return self.metrics[metric].sum / self.exposures if self.exposures else 0.0

    def variance(self, metric: str) -> float:
        """The (population) variance of the per-unit totals over the exposed units."""
        if not self.exposures:
            return 0.0
        m = self.metrics[metric]
        mean = m.sum / self.exposures
        return max(m.sum_squares / self.exposures - mean * mean, 0.0)

    @classmethod
    def from_reply(cls, reply: Any) -> "ArmResult":
        """One arm: a RESP3 map, a RESP2 flat array, or the core's tuple."""
        if isinstance(reply, tuple):
            arm, control, exposures, metrics = reply
        else:
            if isinstance(reply, dict):
                d = {text_of(k): v for k, v in reply.items()}
            else:
                d = {text_of(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
            missing = [f for f in ARM_FIELDS if f not in d]
            if missing:
                raise HanoiError(f"HANOI.EXPERIMENT RESULTS: an arm without {missing[0]}")
            arm, control, exposures, metrics = (d[f] for f in ARM_FIELDS)
        ms: Dict[str, MetricResult] = {}
        for m in metrics:
            f = by_position(m, METRIC_FIELDS, "HANOI.EXPERIMENT RESULTS metric")
            name = str(text_of(f["metric"]))
            ms[name] = MetricResult(name, int(f["converted"]), int(f["sum"]), int(f["sum_squares"]))
        return cls(str(text_of(arm)), bool(int(control)), int(exposures), ms)


def experiment_results(reply: Any) -> Optional[List[ArmResult]]:
    """HANOI.EXPERIMENT RESULTS's reply (nil: no flag or no experiment)."""
    if reply is None:
        return None
    return [ArmResult.from_reply(a) for a in reply]


class Exposure(NamedTuple):
    """An exposure: the id, its arm, when (Unix ms, the server's clock)."""

    id: str
    arm: str
    time: int


def exposures_page(reply: Any) -> Tuple[int, List[Exposure]]:
    """HANOI.EXPERIMENT EXPOSURES's reply (or the core's (cursor, triples))."""
    f = by_position(reply, EXPOSURES_FIELDS, "HANOI.EXPERIMENT EXPOSURES")
    rows = []
    for e in f["exposures"]:
        x = by_position(e, EXPOSURE_FIELDS, "HANOI.EXPERIMENT EXPOSURES exposure")
        rows.append(Exposure(str(text_of(x["id"])), str(text_of(x["arm"])), int(x["time"])))
    return int(f["cursor"]), rows


def experiment_args(metrics: Sequence[Any], control: Optional[Any], reset: bool) -> List[bytes]:
    """HANOI.EXPERIMENT key START's arguments (from START on)."""
    if isinstance(metrics, (str, bytes)):
        metrics = [metrics]
    args = [b"START"]
    if control is not None:
        args += [b"CONTROL", b(control)]
    args += [b"METRICS", b(len(metrics))] + all_ids(metrics)
    if reset:
        args.append(b"RESET")
    return args


def exposures_args(cursor: int, count: Optional[int]) -> List[bytes]:
    """HANOI.EXPERIMENT key EXPOSURES's arguments after EXPOSURES."""
    args = [str(int(cursor)).encode()]
    if count is not None:
        args += [b"COUNT", str(int(count)).encode()]
    return args


def track_value(value: Any) -> int:
    """A conversion's value: an integer from 0 to 2^53 (a float that is a
    whole number passes: OpenFeature's values are numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a tracked value is an integer, not {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"a tracked value is a whole number (cents, ms), not {value}")
        value = int(value)
    if not 0 <= value <= 1 << 53:
        raise ValueError(f"a tracked value is from 0 to 2^53, not {value}")
    return int(value)


#: Explanation reasons that come from the random split: an id answered so by
#: HANOI.ASSIGN while the experiment runs is exposed (to the arm served).
SPLIT_REASONS = frozenset(("percentage", "outside", "all"))


def unprefixed(key: bytes, prefix: bytes) -> bytes:
    """A key as a name: without `prefix` (a key outside it stays whole)."""
    return key[len(prefix) :] if prefix and key.startswith(prefix) else key


def regex_source(item: Any) -> Optional[bytes]:
    """The pattern of a compiled `re` pattern (hanoi's `register(name, re.compile(...))`)."""
    if isinstance(item, _regex_type):
        return b(item.pattern)
    return None


def all_ids(items: Iterable[Any]) -> List[bytes]:
    return [b(i) for i in items]


def glob_escape(s: bytes) -> bytes:
    """`s` matched literally in a Redis glob (SCAN MATCH, PSUBSCRIBE): a
    backslash before each of `\\ * ? [ ]`."""
    for c in b"\\*?[]":
        s = s.replace(bytes([c]), b"\\" + bytes([c]))
    return s


def prefix_match(prefix: bytes) -> bytes:
    """The SCAN MATCH pattern of every key under `prefix`, and no other."""
    return glob_escape(prefix) + b"*"


def as_map(reply: Any, fields: Tuple[str, ...], command: str) -> Dict[str, Any]:
    """A map reply (a RESP3 dict, a RESP2 flat array, or the core's dict) by
    name: every one of `fields` must be there; names not known are left out."""
    if isinstance(reply, dict):
        d = {text_of(k): v for k, v in reply.items()}
    else:
        d = {text_of(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
    for f in fields:
        if f not in d:
            raise HanoiError(f"{command}: a reply without {f}")
    return {f: d[f] for f in fields}


@dataclass(frozen=True)
class HistoryEntry:
    """A write that changed the flag (HANOI.HISTORY): when (Unix ms, the
    primary's clock), the ACL user, the client's name (None without one),
    the command's name and first arguments (the key left out) and how many
    arguments it had in all."""

    time: int
    user: str
    client: Optional[str]
    command: List[str]
    arguments: int


def history_entries(reply: Any) -> List[HistoryEntry]:
    """HANOI.HISTORY's reply (newest first; a missing flag has none)."""
    out = []
    for e in reply or ():
        f = as_map(e, HISTORY_FIELDS, "HANOI.HISTORY")
        out.append(
            HistoryEntry(
                int(f["time"]),
                str(text_of(f["user"])),
                None if f["client"] is None else str(text_of(f["client"])),
                [str(text_of(w)) for w in f["command"]],
                int(f["arguments"]),
            )
        )
    return out


@dataclass(frozen=True)
class Stats:
    """This server's (or this process's) evaluation counts of a flag
    (HANOI.STATS): evaluations, how many answered on, each variant's count,
    the last evaluation (Unix ms, None when never) and when counting began."""

    evaluations: int
    enabled: int
    variants: Dict[str, int]
    last_evaluated: Optional[int]
    since: int


def stats_of(reply: Any) -> Optional[Stats]:
    """HANOI.STATS's reply (nil: no such flag)."""
    if reply is None:
        return None
    f = as_map(reply, STATS_FIELDS, "HANOI.STATS")
    v = f["variants"] or {}
    if not isinstance(v, dict):
        v = {v[i]: v[i + 1] for i in range(0, len(v) - 1, 2)}
    return Stats(
        int(f["evaluations"]),
        int(f["enabled"]),
        {str(text_of(k)): int(n) for k, n in v.items()},
        None if f["last_evaluated"] is None else int(f["last_evaluated"]),
        int(f["since"]),
    )


class Period(NamedTuple):
    """A minute or an hour of HANOI.STATS SERIES: its start (Unix ms), the
    evaluations in it and how many answered on."""

    start: int
    evaluations: int
    enabled: int


@dataclass(frozen=True)
class Series:
    """HANOI.STATS SERIES: the counts over the last 60 minutes and the last
    168 hours, oldest first, the current period last."""

    minutes: List[Period]
    hours: List[Period]


def series_of(reply: Any) -> Optional[Series]:
    """HANOI.STATS key SERIES's reply (nil: no such flag)."""
    if reply is None:
        return None
    f = as_map(reply, SERIES_FIELDS, "HANOI.STATS SERIES")

    def periods(ps: Any) -> List[Period]:
        out = []
        for p in ps or ():
            x = by_position(p, PERIOD_FIELDS, "HANOI.STATS SERIES period")
            out.append(Period(int(x["start"]), int(x["evaluations"]), int(x["enabled"])))
        return out

    return Series(periods(f["minutes"]), periods(f["hours"]))
