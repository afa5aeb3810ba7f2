"""OpenFeature's own evaluation suite (`openfeature_spec/evaluation_v2.feature`,
vendored unchanged) through the real openfeature-sdk and `HanoiProvider`,
over a real redis-server with the module.

The suite's flags (flagd's test bed) are defined below as hanoi flags. No
targeting key is ever given: hanoi answers what does not depend on the id.
What hanoi cannot express is skipped with the reason (`CANNOT`), and listed
in the README ("OpenFeature's evaluation suite").

The steps make their providers through the `layer` fixture (`Hanoi` here);
`test_openfeature_spec_ofrep.py` runs the same steps through hanoi-web's
OFREP by giving its own `layer`.
"""

import asyncio
import json
import socket
import time
from dataclasses import FrozenInstanceError

import pytest
import redis
import redis.asyncio
from conftest import Server
from hanoi_redis import MirrorBackEnd
from hanoi_redis.asyncio import AsyncRedisModuleBackEnd
from hanoi_redis.openfeature import AsyncHanoiProvider, HanoiProvider
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ProviderFatalError
from openfeature.flag_evaluation import FlagEvaluationOptions
from openfeature.hook import Hook
from pytest_bdd import given, parsers, scenarios, then, when

scenarios("openfeature_spec/evaluation_v2.feature")

OBJECT = '{"showImages": true,"title": "Check out these pics!","imagesPerPage": 100}'
ZEROS = {"boolean": "false", "string": '""', "integer": "0", "float": "0.0", "object": "{}"}
ONES = {"boolean": "true", "string": '"hi"', "integer": "10", "float": "0.5", "object": OBJECT}
NAMES = {
    "boolean": "on",
    "string": "greeting",
    "integer": "ten",
    "float": "half",
    "object": "template",
}

#: The suite's flags as hanoi commands (the key, then HANOI.DEFINE's arguments,
#: then HANOI.RULE / HANOI.META argument lists).
FLAGS = [
    # On for everyone, one variant: the value, reason STATIC.
    *[(f"{t}-flag", f"PERCENTAGE 100 VARIANTS 1 {NAMES[t]} VALUES {ONES[t]}") for t in ONES if t != "boolean"],
    ("boolean-flag", "PERCENTAGE 100"),  # no variants: a boolean flag, variant on/off
    *[(f"{t}-zero-flag", f"PERCENTAGE 100 VARIANTS 1 zero VALUES {ZEROS[t]}") for t in ZEROS],
    # Off for everyone but a rule; its DEFAULT variant serves the zero value.
    *[
        (
            f"{t}-targeted-zero-flag",
            f"PERCENTAGE 0 VARIANTS 1 zero VALUES {ZEROS[t]} DEFAULT zero",
            "macrosoft VARIANT zero IF email SUFFIX @macrosoft.com",
        )
        for t in ZEROS
    ],
    # Switched off, no DEFAULT: the caller's default, reason DISABLED.
    *[(f"{t}-disabled-flag", f"DISABLED PERCENTAGE 100 VARIANTS 1 {NAMES[t]} VALUES {ONES[t]}") for t in ONES],
    (
        "complex-targeted",
        'PERCENTAGE 0 VARIANTS 2 internal external VALUES "INTERNAL" "EXTERNAL" DEFAULT external',
        "staff VARIANT internal IF email SUFFIX @macrosoft.com AND role EQ admin AND age GT 60 "
        "AND customer EQ false",
    ),
    ("metadata-flag", "PERCENTAGE 100"),
]  # fmt: skip

#: What hanoi cannot express, and why (the README lists the same).
CANNOT = {
    "CACHED": "the providers never answer from a cache: every evaluation is one HANOI.RESOLVE "
    "on the flag's current state, so no answer is CACHED",
    "metadata": "hanoi's flag metadata is free-form strings (the providers pass on every "
    "field, as a string, and the type): no typed integer, float or boolean metadata",
    "immutable": "openfeature-sdk's FlagEvaluationDetails is a plain (mutable) dataclass: "
    "not the provider's to freeze",
}


def _define(client: redis.Redis) -> None:
    for key, define, *rule in FLAGS:
        client.execute_command("HANOI.DEFINE", key, *_args(define))
        for r in rule:
            client.execute_command("HANOI.RULE", key, "SET", *r.split())


def _args(text: str) -> list:
    """DEFINE's arguments: words, with a JSON value kept whole."""
    out, rest = [], text
    while rest:
        rest = rest.lstrip()
        if rest[:1] in '{"':
            value, end = json.JSONDecoder().raw_decode(rest)
            out.append(rest[:end])
            rest = rest[end:]
        else:
            word, _, rest = rest.partition(" ")
            out.append(word)
    return out


def _unescape(text: str) -> str:
    return text.replace('\\"', '"')


def _typed(kind: str, text: str):
    text = _unescape(text)
    if kind == "boolean":
        return {"true": True, "false": False}[text]
    if kind == "integer":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "object":
        return json.loads(text)
    return text


class State:
    def __init__(self, port: int) -> None:
        self.port = port
        self.domain = None
        self.silent = None
        self.closers: list = []
        self.kind = self.key = self.default = None
        self.attrs: dict = {}
        self.details = None
        self.hooks: list = []
        self.calls: list = []


@pytest.fixture
def state(r, server):
    _define(r)
    st = State(server)
    yield st
    api.shutdown()
    api.clear_providers()
    if st.silent is not None:
        st.silent.close()
    for close in st.closers:
        close()


# ----- providers -----


class Hanoi:
    """The suite's providers as `HanoiProvider` (over a real Redis with the
    module) makes them: each provider state of the suite, the provider the
    asynchronous scenario uses, what cannot be expressed (`cannot`), and a
    look at each evaluation (`check`: nothing to add here)."""

    cannot = CANNOT

    def __init__(self, request) -> None:
        self.request = request

    def stable(self, state) -> None:
        api.set_provider_and_wait(HanoiProvider(redis.Redis(port=state.port)))

    def not_ready(self, state) -> None:
        # Its Redis has not answered yet: a socket that accepts and says nothing.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        state.silent = silent
        state.domain = "not-ready"
        api.set_provider(HanoiProvider(redis.Redis(port=silent.getsockname()[1])), state.domain)

    def error(self, state) -> None:
        # Its Redis unreachable: initialize raises, the SDK reports ERROR.
        state.domain = "error"
        client = redis.Redis(port=_closed_port(), socket_connect_timeout=1)
        with pytest.raises(redis.ConnectionError):
            api.set_provider_and_wait(HanoiProvider(client), domain=state.domain)

    def fatal(self, state) -> None:
        # A Redis without the module: it will never answer a flag (FATAL).
        port = self.request.getfixturevalue("no_module_server")
        state.domain = "fatal"
        with pytest.raises(ProviderFatalError):
            api.set_provider_and_wait(HanoiProvider(redis.Redis(port=port)), domain=state.domain)

    def stale(self, state) -> None:
        # A provider over the in-process mirror whose Redis went away: it keeps
        # answering from its last state, and says so (PROVIDER_STALE).
        own_server = self.request.getfixturevalue("own_server")
        mirror = MirrorBackEnd(redis.Redis(port=own_server.port))
        state.closers.append(mirror.close)
        state.domain = "stale"
        api.set_provider_and_wait(HanoiProvider(mirror), domain=state.domain)
        own_server.kill()
        status = api.get_client(state.domain).get_provider_status
        deadline = time.monotonic() + 10
        while status().value != "STALE" and time.monotonic() < deadline:
            time.sleep(0.02)

    def async_provider(self, state):
        """A provider for asynchronous evaluation, and what closes it."""
        client = redis.asyncio.Redis(port=state.port)
        return AsyncHanoiProvider(AsyncRedisModuleBackEnd(client)), client.aclose

    def check(self, state) -> None:
        """A look at each evaluation (`state.details`) before the steps' checks."""


def _closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def layer(request):
    return Hanoi(request)


@given("a stable provider")
def stable(state, layer):
    layer.stable(state)


@given("a not ready provider")
def not_ready(state, layer):
    layer.not_ready(state)


@given("a error provider")
def error(state, layer):
    layer.error(state)


@given("a fatal provider")
def fatal(state, layer):
    layer.fatal(state)


@given("a stale provider")
def stale(state, layer):
    layer.stale(state)


@then(parsers.parse('the provider status should be "{status}"'))
def provider_status(state, status):
    assert api.get_client(state.domain).get_provider_status().value == status


# ----- the flag and the context -----


@given(
    parsers.re(
        r'a (?P<kind>\w+)-flag with key "(?P<key>[^"]*)" and a fallback value "(?P<default>.*)"$'
    )
)
def a_flag(state, kind, key, default):
    state.kind = kind.lower()
    state.key = key
    state.default = _typed(state.kind, default)


@given(
    parsers.parse(
        'a context containing a key "{name}", with type "{kind}" and with value "{value}"'
    )
)
def context_value(state, name, kind, value):
    state.attrs[name] = _typed(kind.lower(), value)


@given(parsers.parse('a context containing a key "{name}" with null value'))
def context_null(state, name):
    state.attrs[name] = None


def _evaluate(state, layer, options=None):
    client = api.get_client(state.domain)
    get = getattr(client, f"get_{state.kind}_details")
    ctx = EvaluationContext(attributes=state.attrs) if state.attrs else None
    state.details = get(state.key, state.default, ctx, options)
    layer.check(state)


@when("the flag was evaluated with details")
def evaluated(state, layer):
    _evaluate(state, layer)


# ----- what came back -----


@then(parsers.re(r'the resolved details value should be "(?P<value>.*)"$'))
def value_is(state, value):
    want = _typed(state.kind, value)
    assert state.details.value == want, state.details
    assert type(state.details.value) is type(want), state.details


@then(parsers.parse('the reason should be "{reason}"'))
def reason_is(state, layer, reason):
    if reason == "CACHED":
        pytest.skip(layer.cannot["CACHED"])
    assert state.details.reason == reason, state.details


@then(parsers.parse('the error-code should be "{code}"'))
def error_code_is(state, code):
    assert state.details.error_code == code, state.details


@then(parsers.parse('the flag key should be "{key}"'))
def flag_key_is(state, key):
    assert state.details.flag_key == key


@then(parsers.parse('the variant should be "{variant}"'))
def variant_is(state, variant):
    assert state.details.variant == variant, state.details


@then("the resolved metadata should contain")
def metadata(state, layer, datatable):
    pytest.skip(layer.cannot["metadata"])


# ----- hooks, immutability, async -----


class Recorder(Hook):
    def __init__(self, calls: list, name: str) -> None:
        self.calls, self.name = calls, name

    def before(self, hook_context, hints):
        self.calls.append((self.name, "before"))

    def after(self, hook_context, details, hints):
        self.calls.append((self.name, "after"))

    def finally_after(self, hook_context, details, hints):
        self.calls.append((self.name, "finally"))


@given("evaluation options containing specific hooks")
def with_hooks(state):
    state.hooks = [Recorder(state.calls, "first"), Recorder(state.calls, "second")]


@when("the flag was evaluated with details using the evaluation options")
def evaluated_with_options(state, layer):
    _evaluate(state, layer, FlagEvaluationOptions(hooks=state.hooks))


@then("the specified hooks should execute during evaluation")
def hooks_ran(state):
    assert {name for name, _ in state.calls} == {"first", "second"}
    assert state.details.value is True and state.details.error_code is None


@then("the hook order should be maintained")
def hook_order(state):
    # Spec 4.4.2: before in order, after and finally in reverse.
    assert state.calls == [
        ("first", "before"),
        ("second", "before"),
        ("second", "after"),
        ("first", "after"),
        ("second", "finally"),
        ("first", "finally"),
    ]


@given("an evaluation context with modifiable data")
def modifiable_context(state):
    state.attrs = {"email": "ballmer@macrosoft.com", "tags": "a,b"}
    state.original = dict(state.attrs)


@then("the original evaluation context should remain unmodified")
def context_unmodified(state):
    assert state.attrs == state.original


@then("the evaluation details should be immutable")
def details_immutable(state, layer):
    try:
        state.details.value = not state.details.value
    except (FrozenInstanceError, AttributeError):
        return
    pytest.skip(layer.cannot["immutable"])


@when("the flag was evaluated with details asynchronously")
def evaluated_async(state, layer):
    async def run():
        provider, close = layer.async_provider(state)
        api.set_provider_and_wait(provider, domain="async")
        get = getattr(api.get_client("async"), f"get_{state.kind}_details_async")
        # Two evaluations at once on one event loop: neither waits for the other.
        state.details, again = await asyncio.gather(
            get(state.key, state.default), get(state.key, state.default)
        )
        assert again == state.details
        await close()

    asyncio.run(run())


@then("the evaluation should complete without blocking")
def completed(state):
    assert state.details is not None and state.details.error_code is None, state.details


@pytest.fixture
def no_module_server():
    """A redis-server without the module, on a free port."""
    server = Server(module=False)
    server.start()
    yield server.port
    server.close()
