"""OFREP with a client nobody here wrote: the OpenFeature Python SDK and its
OFREP provider (PyPI: openfeature-sdk, openfeature-provider-ofrep) against a
running hanoi-web. Run by web/tests/clients.rs with the base URL and an API
key; prints one line per check and exits non-zero on the first failure."""

import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

base, key = sys.argv[1], sys.argv[2]
api.set_provider(OFREPProvider(base_url=base, headers_factory=lambda: {"Authorization": f"Bearer {key}"}))
client = api.get_client()


def check(what, got, want):
    if got != want:
        print(f"FAIL {what}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok {what}")


ctx = EvaluationContext(targeting_key="u1")
d = client.get_boolean_details("bool-on", False, ctx)
check("boolean on", (d.value, d.reason, d.error_code), (True, Reason.STATIC, None))
check("metadata", d.flag_metadata.get("owner"), "team-a")
d = client.get_boolean_details("bool-off", True, ctx)
check("boolean off", (d.value, d.reason), (False, Reason.DISABLED))
d = client.get_boolean_details("targeted", False, ctx)
check("registered user", (d.value, d.reason), (True, Reason.TARGETING_MATCH))
d = client.get_boolean_details("targeted", False, EvaluationContext(targeting_key="u2", attributes={"country": "DE"}))
check("rule on an attribute", (d.value, d.reason), (True, Reason.TARGETING_MATCH))
d = client.get_boolean_details("targeted", True, EvaluationContext(targeting_key="u2"))
check("outside", (d.value, d.reason), (False, Reason.DEFAULT))
d = client.get_string_details("colour", "grey", ctx)
check("string flag", (d.value, d.variant, d.reason), ("blue", "blue", Reason.STATIC))
d = client.get_string_details("colour-off", "grey", ctx)
check("string flag off: the code default", (d.value, d.reason, d.error_code), ("grey", Reason.DISABLED, None))
d = client.get_boolean_details("most", False, EvaluationContext(targeting_key="44488"))
check("percentage (bucket 88 < 99)", (d.value, d.reason), (True, Reason.SPLIT))
d = client.get_boolean_details("nope", True, ctx)
check("unknown flag", (d.value, d.error_code), (True, ErrorCode.FLAG_NOT_FOUND))
d = client.get_boolean_details("targeted", True, EvaluationContext())
check("no targeting key, decided without one", (d.value, d.reason, d.error_code), (False, Reason.DEFAULT, None))
d = client.get_boolean_details("targeted", False, EvaluationContext(attributes={"country": "DE"}))
check("no targeting key, a rule on an attribute", (d.value, d.reason), (True, Reason.TARGETING_MATCH))
d = client.get_boolean_details("most", True, EvaluationContext())
check("no targeting key where the id decides", (d.value, d.error_code), (True, ErrorCode.TARGETING_KEY_MISSING))
d = client.get_boolean_details("targeted", True, EvaluationContext(targeting_key="u1", attributes={"address": {"city": "Paris"}}))
check("context that cannot be attributes", (d.value, d.error_code), (True, ErrorCode.INVALID_CONTEXT))
d = client.get_string_details("bool-on", "x", ctx)
check("wrong type", (d.value, d.error_code), ("x", ErrorCode.TYPE_MISMATCH))
d = client.get_integer_details("limit", 0, EvaluationContext(targeting_key="44488"))
check("integer: off, the DEFAULT variant's value", (d.value, d.variant, d.reason), (10, "small", Reason.DEFAULT))
d = client.get_float_details("limit", 0.0, EvaluationContext(targeting_key="443301"))
check("float", (d.value, d.variant, d.reason), (2.5, "big", Reason.SPLIT))
d = client.get_object_details("layout", {}, ctx)
check("object", (d.value, d.reason, d.flag_metadata.get("type")), ({"columns": 2}, Reason.STATIC, "object"))
d = client.get_string_details("layout", "x", ctx)
check("object read as a string", (d.value, d.error_code), ("x", ErrorCode.TYPE_MISMATCH))
api.set_provider(OFREPProvider(base_url=base, headers_factory=lambda: {"X-API-Key": "wrong-key-0123456789"}), domain="bad")
d = api.get_client("bad").get_boolean_details("bool-on", False, ctx)
check("wrong API key refused", (d.value, d.error_code), (False, ErrorCode.GENERAL))
print("python openfeature client: all checks passed")
