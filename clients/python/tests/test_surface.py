"""What type checkers and users read: the backends' Protocol, AsyncRollout
beside Rollout, the asyncio backend beside the sync ones, the version."""

import inspect
import re
from pathlib import Path

import hanoi_redis
from hanoi_redis import BackEnd, MemoryBackEnd, RedisModuleBackEnd, Rollout
from hanoi_redis.asyncio import AsyncRedisModuleBackEnd, AsyncRollout


def public(cls):
    return {n for n in dir(cls) if not n.startswith("_")}


def params(fn):
    return list(inspect.signature(fn).parameters)


def protocol_methods():
    return sorted(n for n, v in vars(BackEnd).items() if callable(v) and not n.startswith("_"))


def test_async_rollout_has_every_public_method_of_rollout():
    assert len(public(Rollout)) == 55  # 54 methods and the backend property
    assert public(Rollout) - public(AsyncRollout) == set()
    assert public(AsyncRollout) - public(Rollout) == set()
    for name in public(Rollout) - {"backend"}:
        assert params(getattr(AsyncRollout, name)) == params(getattr(Rollout, name)), name


def test_both_backends_implement_the_protocol():
    methods = protocol_methods()
    assert "add_functionality" in methods and "hanoi_get" in methods
    for cls in (MemoryBackEnd, RedisModuleBackEnd):
        for name in methods:
            impl = getattr(cls, name)
            assert impl is not getattr(BackEnd, name), f"{cls.__name__}.{name} is the Protocol's"
            assert params(impl) == params(getattr(BackEnd, name)), f"{cls.__name__}.{name}"
    assert isinstance(MemoryBackEnd(), BackEnd)
    assert isinstance(RedisModuleBackEnd(("127.0.0.1", 1)), BackEnd)  # no connection made


def test_async_backend_has_the_protocol_as_coroutines():
    for name in protocol_methods():
        impl = getattr(AsyncRedisModuleBackEnd, name)
        assert params(impl) == params(getattr(BackEnd, name)), name
        assert inspect.iscoroutinefunction(impl) == (name != "knows"), name


def test_version_is_cargo_toml_s():
    cargo = (Path(__file__).resolve().parents[1] / "Cargo.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
    assert hanoi_redis.__version__ == version
