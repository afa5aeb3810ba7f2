"""hanoi_redis: hanoi 0.0.4's API over the hanoi Redis module.

    import hanoi_redis as hanoi

    rollout = hanoi.Rollout(hanoi.RedisModuleBackEnd())   # or hanoi.MemoryBackEnd()
    rollout.add_func('cdc_on', 'id', percentage=80, variants=('foo', 'bar'))
    rollout.is_enabled('cdc_on', '44488')                # one round trip

`RedisModuleBackEnd` speaks HANOI.* commands; `MemoryBackEnd` evaluates in
this process with hanoi-core, the module's own Rust code. The asyncio
version is `hanoi_redis.asyncio`; the OpenFeature provider is
`hanoi_redis.openfeature.HanoiProvider`.
"""

from ._common import Explanation, Feature, FlagNotFound, HanoiError, RolloutException
from .api import Rollout
from .backend import MemoryBackEnd, RedisModuleBackEnd

__version__ = "0.1.0"

__all__ = [
    "Explanation",
    "Feature",
    "FlagNotFound",
    "HanoiError",
    "MemoryBackEnd",
    "RedisModuleBackEnd",
    "Rollout",
    "RolloutException",
]
