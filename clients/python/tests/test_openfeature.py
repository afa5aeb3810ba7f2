"""HanoiProvider through the real openfeature-sdk client."""

import threading

import hanoi_redis
import pytest
import redis
from hanoi_redis.openfeature import HanoiProvider
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason


@pytest.fixture(params=["memory", "redis"])
def of(request):
    if request.param == "memory":
        backend = hanoi_redis.MemoryBackEnd()
    else:
        backend = hanoi_redis.RedisModuleBackEnd(request.getfixturevalue("r"))
    rollout = hanoi_redis.Rollout(backend)
    rollout.add_func("cdc_on", percentage=80, variants=("foo", "bar"))
    rollout.register("cdc_on", "447568110000")
    rollout.add_func("beta", percentage=50)
    rollout.set_rule("beta", "de", "IF", "country", "EQ", "DE")
    rollout.add_func("all", percentage=100)
    rollout.block("all", "blocked")
    rollout.add_func("off", percentage=100)
    rollout.disable("off")
    provider = HanoiProvider(backend)
    api.set_provider(provider)
    yield api.get_client(), rollout
    api.shutdown()


def ctx(key=None, **attrs):
    return EvaluationContext(key, attrs)


def test_boolean_reasons(of):
    client, _ = of
    d = client.get_boolean_details("beta", False, ctx("44488"))  # bucket 88 >= 50
    assert (d.value, d.reason, d.error_code) == (False, Reason.DEFAULT, None)
    d = client.get_boolean_details("beta", False, ctx("443301", country="DE"))
    assert (d.value, d.reason) == (True, Reason.TARGETING_MATCH)
    d = client.get_boolean_details("beta", False, ctx("2"))  # crc32("2") % 100 == 37
    assert (d.value, d.reason, d.variant) == (True, Reason.SPLIT, "on")
    d = client.get_boolean_details("all", False, ctx("1"))
    assert (d.value, d.reason) == (True, Reason.STATIC)
    d = client.get_boolean_details("all", True, ctx("blocked"))
    assert (d.value, d.reason) == (False, Reason.TARGETING_MATCH)
    d = client.get_boolean_details("off", True, ctx("1"))
    assert (d.value, d.reason) == (False, Reason.DISABLED)
    d = client.get_boolean_details("off", True, ctx())  # no id needed when switched off
    assert (d.value, d.reason) == (False, Reason.DISABLED)


def test_string_variants(of):
    client, _ = of
    d = client.get_string_details("cdc_on", "none", ctx("443301"))
    assert (d.value, d.variant, d.reason) == ("bar", "bar", Reason.SPLIT)
    d = client.get_string_details("cdc_on", "none", ctx("447568110000"))
    assert d.reason == Reason.TARGETING_MATCH and d.value in ("foo", "bar")
    d = client.get_string_details("cdc_on", "none", ctx("44488"))
    assert (d.value, d.reason) == ("none", Reason.DEFAULT)


def test_errors(of):
    client, _ = of
    d = client.get_boolean_details("missing", True, ctx("1"))
    assert (d.value, d.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    d = client.get_boolean_details("beta", True, ctx())
    assert (d.value, d.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)
    d = client.get_string_details("beta", "x", ctx("2"))  # no variants
    assert (d.value, d.error_code) == ("x", ErrorCode.TYPE_MISMATCH)
    d = client.get_integer_details("beta", 7, ctx("2"))
    assert (d.value, d.error_code) == (7, ErrorCode.TYPE_MISMATCH)
    d = client.get_boolean_details("beta", True, ctx("2", tags=["a", "b"]))
    assert (d.value, d.error_code) == (True, ErrorCode.INVALID_CONTEXT)


def test_configuration_changed_events(r, server):
    r.config_set("notify-keyspace-events", "Kd")
    backend = hanoi_redis.RedisModuleBackEnd(redis.Redis(port=server))
    hanoi_redis.Rollout(backend).add_func("watched", percentage=10)
    seen, got = [], threading.Event()

    def on_change(details):
        seen.append(details.flags_changed)
        got.set()

    api.set_provider(HanoiProvider(backend, events=True))
    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)
    try:
        for _ in range(50):  # until the subscription is live
            r.execute_command("HANOI.TOGGLE", "watched")
            if got.wait(0.1):
                break
        assert ["watched"] in seen
    finally:
        api.remove_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)
        api.shutdown()
        r.config_set("notify-keyspace-events", "")


def test_redis_unreachable_is_general_error(server):
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens on port 1
    api.set_provider(HanoiProvider(hanoi_redis.RedisModuleBackEnd(dead)))
    try:
        d = api.get_client().get_boolean_details("cdc_on", True, ctx("1"))
        assert (d.value, d.error_code) == (True, ErrorCode.GENERAL)
        assert "ConnectionError" in d.error_message
    finally:
        api.shutdown()
