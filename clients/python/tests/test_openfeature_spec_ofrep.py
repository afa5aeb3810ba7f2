"""OpenFeature's evaluation suite (`openfeature_spec/evaluation_v2.feature`)
through hanoi-web's OFREP: the real openfeature-sdk and its OFREP provider
(`openfeature-provider-ofrep`) against a real `hanoi-web` process in front of
the same redis-server, flags and steps as `test_openfeature_spec.py`.

The steps are that module's, imported (not copied); this module only gives
them another `layer`: how each provider state is made with the OFREP
provider, and what OFREP cannot express (`CANNOT`, listed in the README,
"OpenFeature's evaluation suite"). Each skipped provider state is made for
real first, and what the provider does instead is checked before the skip.

hanoi-web is the binary beside $HANOI_MODULE (cargo's target directory, as
the Makefile resolves it), or $HANOI_WEB; without it every scenario is
skipped, with the reason.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis
import test_openfeature_spec as spec
from conftest import MODULE, _free_port
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from pytest_bdd import scenarios

WEB = Path(os.environ.get("HANOI_WEB") or MODULE.parent / "hanoi-web")

pytestmark = pytest.mark.skipif(
    not WEB.is_file(),
    reason=f"hanoi-web is not built ({WEB}): cargo build --release -p hanoi-web (make test does)",
)

# The suite's step definitions and its fixtures `state` (the flags defined,
# cleaned up after) and `no_module_server`: pytest-bdd keeps each step as a
# fixture of the module that defined it, and looks a step up among the test
# module's fixtures.
globals().update(
    {
        name: fixture
        for name, fixture in vars(spec).items()
        if name.startswith("pytestbdd_stepdef_") or name in ("state", "no_module_server")
    }
)

scenarios("openfeature_spec/evaluation_v2.feature")

KEY = "ofrep-suite-key-0123456789"

#: What the suite asks that OFREP (hanoi-web and openfeature-provider-ofrep
#: 0.3.0) cannot express, and why (the README lists the same).
CANNOT = {
    "CACHED": "hanoi-web answers every OFREP evaluation with one HANOI.RESOLVE on the flag's "
    "current state (it keeps flag descriptions for a second, never answers) and "
    "openfeature-provider-ofrep keeps no cache, so no answer is CACHED",
    "metadata": "hanoi's flag metadata is free-form strings: hanoi-web's OFREP sends every "
    "field as a string, and the flag's type; no typed integer, float or boolean metadata",
    "immutable": spec.CANNOT["immutable"],
    "not_ready": "openfeature-provider-ofrep's initialize contacts nothing: it is READY at "
    "once, before hanoi-web has answered, so never NOT_READY (nor PROVIDER_NOT_READY)",
    "error": "openfeature-provider-ofrep's initialize contacts nothing: with hanoi-web "
    "unreachable it is READY, not ERROR, and each evaluation fails with GENERAL",
    "fatal": "OFREP has no fatal error and openfeature-provider-ofrep never reports one: a "
    "hanoi-web whose Redis has no hanoi module fails each evaluation with GENERAL, and the "
    "provider stays READY (never FATAL, nor PROVIDER_FATAL)",
    "stale": "openfeature-provider-ofrep keeps no last answers and has no STALE: with "
    "hanoi-web's Redis gone each evaluation fails with GENERAL (hanoi-web's 503), and the "
    "provider stays READY",
    "boolean as integer": "an OFREP request does not say which type the caller asks for, and "
    "openfeature-provider-ofrep (as openfeature-sdk) checks an Integer with "
    "isinstance(value, int), which Python's bool passes: a boolean flag's true comes back as "
    "the Integer's value, not TYPE_MISMATCH",
}


class Web:
    """The real hanoi-web on a free port in front of the redis-server on
    `redis_port`, with one API key for every flag; `close` stops it."""

    def __init__(self, redis_port: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hanoi-web-of-"))
        config = self.dir / "hanoi-web.toml"
        config.write_text(f'[[api_key]]\nkey = "{KEY}"\nprefix = ""\n')
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        with open(self.dir / "stderr", "wb") as log:
            self.proc = subprocess.Popen(
                [str(WEB), "--redis", f"redis://127.0.0.1:{redis_port}",
                 "--listen", f"127.0.0.1:{self.port}", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )  # fmt: skip
        for _ in range(1200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.025)
        why = (self.dir / "stderr").read_text(errors="replace")
        self.close()
        raise RuntimeError(f"hanoi-web did not start: {why}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def web(server):
    """hanoi-web in front of the session's redis-server (the suite's flags)."""
    w = Web(server)
    yield w
    w.close()


def _provider(base: str) -> OFREPProvider:
    return OFREPProvider(base_url=base, headers_factory=lambda: {"Authorization": f"Bearer {KEY}"})


class Ofrep:
    """The suite's providers as openfeature-provider-ofrep makes them, over a
    real hanoi-web (the layer `test_openfeature_spec.Hanoi` is for
    HanoiProvider)."""

    cannot = CANNOT

    def __init__(self, request, web: Web) -> None:
        self.request = request
        self.web = web

    def stable(self, state) -> None:
        api.set_provider_and_wait(_provider(self.web.base))

    def _ready_anyway(self, state, base: str) -> None:
        """The provider over `base` is READY, whatever is there."""
        api.set_provider_and_wait(_provider(base), domain=state.domain)
        assert api.get_client(state.domain).get_provider_status().value == "READY"

    def _general_error(self, state, why: str) -> None:
        """An evaluation through the state's provider fails with GENERAL, the
        error's message saying `why`."""
        details = api.get_client(state.domain).get_boolean_details("boolean-flag", False)
        assert (details.value, details.error_code) == (False, "GENERAL"), details
        assert why in (details.error_message or ""), details

    def not_ready(self, state) -> None:
        # A hanoi-web that has not answered yet: a socket that accepts and
        # says nothing.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        state.silent = silent
        state.domain = "not-ready"
        self._ready_anyway(state, f"http://127.0.0.1:{silent.getsockname()[1]}")
        pytest.skip(CANNOT["not_ready"])

    def error(self, state) -> None:
        # hanoi-web unreachable: nothing listens on its port.
        state.domain = "error"
        self._ready_anyway(state, f"http://127.0.0.1:{spec._closed_port()}")
        self._general_error(state, "Connection refused")
        pytest.skip(CANNOT["error"])

    def fatal(self, state) -> None:
        # A hanoi-web whose Redis has no hanoi module: it will never answer a flag.
        other = Web(self.request.getfixturevalue("no_module_server"))
        state.closers.append(other.close)
        state.domain = "fatal"
        self._ready_anyway(state, other.base)
        # hanoi-web's 500: the module's commands are unknown there.
        self._general_error(state, "unknown command")
        pytest.skip(CANNOT["fatal"])

    def stale(self, state) -> None:
        # A hanoi-web whose Redis went away after answering.
        own_server = self.request.getfixturevalue("own_server")
        redis.Redis(port=own_server.port).execute_command(
            "HANOI.DEFINE", "boolean-flag", "PERCENTAGE", "100"
        )
        other = Web(own_server.port)
        state.closers.append(other.close)
        state.domain = "stale"
        self._ready_anyway(state, other.base)
        details = api.get_client(state.domain).get_boolean_details("boolean-flag", False)
        assert (details.value, details.error_code) == (True, None), details
        own_server.kill()
        # hanoi-web's 503.
        self._general_error(state, "the flag store (Redis) is unreachable")
        assert api.get_client(state.domain).get_provider_status().value == "READY"
        pytest.skip(CANNOT["stale"])

    def async_provider(self, state):
        """The same provider: its asynchronous resolves are openfeature-sdk's
        defaults, which call its synchronous ones."""

        async def close() -> None:
            pass

        return _provider(self.web.base), close

    def check(self, state) -> None:
        details = state.details
        if state.kind == "integer" and isinstance(details.value, bool):
            # hanoi-web said which type the flag is; the provider let it pass.
            assert details.error_code is None, details
            assert details.flag_metadata.get("type") == "boolean", details
            pytest.skip(CANNOT["boolean as integer"])


@pytest.fixture
def layer(request, web):
    return Ofrep(request, web)
