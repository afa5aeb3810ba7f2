"""Runs the Python helper against a server on $HANOI_PORT (run by tests/examples.rs)."""
import os
import sys

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hanoi_redis import FeatureNotEnabled, Hanoi

r = redis.Redis(port=int(os.environ["HANOI_PORT"]))
r.execute_command("HANOI.DEFINE", "cdc_on", "PERCENTAGE", 80, "VARIANTS", 2, "foo", "bar")
r.execute_command("HANOI.REGISTER", "cdc_on", "USER", "447568110000")
r.execute_command("HANOI.REGISTER", "cdc_on", "REGEX", "01$")
flags = Hanoi(r)

assert flags.is_enabled("cdc_on")
assert not flags.is_enabled("cdc_on", "44488")
assert flags.is_enabled("cdc_on", "443301")
assert flags.is_enabled("cdc_on", 444401)
assert flags.variant("cdc_on", "443301") == "bar"
assert flags.variant("cdc_on", "44488") is None
assert flags.enabled_many("443301", "cdc_on", "missing") == {"cdc_on": True, "missing": False}


@flags.check("cdc_on", 2)
def execute_again_cdc_logic(parameter, user):
    return "I'm in"


assert execute_again_cdc_logic("foo", "443301") == "I'm in"
try:
    execute_again_cdc_logic("foo", "44488")
    raise AssertionError("should have raised")
except FeatureNotEnabled as e:
    assert str(e) == "feature 'cdc_on' is not enabled for user '44488'", str(e)


@flags.check("cdc_on")
def execute_cdc_logic():
    return "ran"


with flags.user("443301"):
    assert execute_cdc_logic() == "ran"
with flags.user("44488"):
    try:
        execute_cdc_logic()
        raise AssertionError("should have raised")
    except FeatureNotEnabled:
        pass
try:
    execute_cdc_logic()  # no current user
    raise AssertionError("should have raised")
except FeatureNotEnabled:
    pass

r.execute_command("HANOI.DISABLE", "cdc_on")
assert not flags.is_enabled("cdc_on", "443301")
print("python example: ok")
