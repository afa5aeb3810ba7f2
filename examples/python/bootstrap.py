"""hanoi 0.0.4's README example, moved to the module: only the import and the
backend line differ from hanoi's bootstrap.py (`pip install ./clients/python`)."""

import os
import re

import hanoi_redis as hanoi

port = int(os.environ.get("HANOI_PORT", 6379))
rollout = hanoi.Rollout(hanoi.RedisModuleBackEnd(("localhost", port)))

rollout.add_func(
    "cdc_on",  # Functionality name (CDC on)
    percentage=80,  # Percentage for toggle ON
    variants=("foo", "bar"),  # Valid variants in case of toggle ON
)

rollout.register("cdc_on", "447568110000")  # Register a specific user

rollout.register("cdc_on", re.compile(r"01$"))  # Register a subset of users


def get_rollout():
    return rollout
