"""hanoi_redis: hanoi 0.0.4's API over the hanoi Redis module.

    import hanoi_redis as hanoi

    rollout = hanoi.Rollout(hanoi.RedisModuleBackEnd())   # or hanoi.MemoryBackEnd()
    rollout.add_func('cdc_on', 'id', percentage=80, variants=('foo', 'bar'))
    rollout.is_enabled('cdc_on', '44488')                # one round trip

`RedisModuleBackEnd` speaks HANOI.* commands; `MemoryBackEnd` evaluates in
this process with hanoi-core, the module's own Rust code; `MirrorBackEnd`
mirrors Redis's flags in this process (answers from memory, kept in step by
client-side tracking). The asyncio
version is `hanoi_redis.asyncio`; the OpenFeature provider is
`hanoi_redis.openfeature.HanoiProvider`.
"""

from importlib import metadata as _metadata

from ._common import (
    ArmResult,
    Condition,
    Description,
    ExperimentState,
    Explanation,
    Exposure,
    Feature,
    FlagNotFound,
    HanoiError,
    HistoryEntry,
    MetricResult,
    Period,
    Resolution,
    RolloutException,
    Series,
    Stats,
    TargetingRule,
)
from .api import Rollout
from .backend import BackEnd, MemoryBackEnd, RedisModuleBackEnd
from .mirror import MirrorBackEnd

try:
    # Written once, in clients/python/Cargo.toml (pyproject's version is dynamic).
    __version__ = _metadata.version("hanoi-redis")
except _metadata.PackageNotFoundError:  # a source tree, not installed
    __version__ = "0+unknown"

__all__ = [
    "ArmResult",
    "BackEnd",
    "Condition",
    "Description",
    "ExperimentState",
    "Explanation",
    "Exposure",
    "Feature",
    "FlagNotFound",
    "HanoiError",
    "HistoryEntry",
    "MemoryBackEnd",
    "MetricResult",
    "MirrorBackEnd",
    "Period",
    "RedisModuleBackEnd",
    "Resolution",
    "Rollout",
    "RolloutException",
    "Series",
    "Stats",
    "TargetingRule",
]
