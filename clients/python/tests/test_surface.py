"""What type checkers and users read: the backends' Protocol, the asyncio
backend beside the sync ones, the version."""

import inspect
import re
from pathlib import Path

import hanoi_redis
from hanoi_redis import BackEnd, MemoryBackEnd, RedisModuleBackEnd
from hanoi_redis.asyncio import AsyncRedisModuleBackEnd


def params(fn):
    return list(inspect.signature(fn).parameters)


def protocol_methods():
    return sorted(n for n, v in vars(BackEnd).items() if callable(v) and not n.startswith("_"))


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
