"""hanoi 0.0.4's README service.py, unchanged but for its prints becoming
asserts, against the module (run by tests/ecosystem.rs with $HANOI_PORT).
Each check is one round trip (HANOI.ENABLED)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstrap  # noqa: E402
from hanoi_redis import RolloutException  # noqa: E402

roll = bootstrap.get_rollout()


@roll.check("cdc_on")  # Check if the current user is registered to `cdc_on`
def execute_cdc_logic():
    return "ran"


# Define the current user: per thread and task with `current_id`, or
# process-wide with hanoi's `set_current_id`.
with roll.current_id("444401"):  # matches 01$ (hanoi's README says otherwise)
    assert execute_cdc_logic() == "ran"
roll.set_current_id("44488")  # bucket 88 is not below 80
try:
    execute_cdc_logic()
    raise AssertionError("should have raised")
except RolloutException:
    pass
roll.cleanup_current_id()

# Check if `cdc_on` is enabled for the user `44488`: False
assert roll.is_enabled("cdc_on", "44488") is False


# Check if `cdc_on` is enabled for the second parameter
@roll.check("cdc_on", 2)
def execute_again_cdc_logic(parameter, user):
    return "I'm in"


# 443301 matches the regular expression
assert execute_again_cdc_logic("foo", "443301") == "I'm in"

# A valid variant for user `443301`
assert roll.variant("cdc_on", "443301") == "bar"

# Beyond hanoi: why, and a page's flags in one round trip.
assert roll.explain("cdc_on", "44488").reason == "outside"
assert roll.enabled_many(["cdc_on", "missing"], "443301") == {"cdc_on": True, "missing": False}
print("python example: ok")
