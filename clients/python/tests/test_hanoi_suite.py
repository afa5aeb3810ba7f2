"""hanoi 0.0.4's own Rollout tests (tests/api.py of its sdist on PyPI), run
against hanoi_redis with only the import and backend lines changed: what a
user moving from hanoi would do with their own tests.

The sdist is downloaded at test time (pip download), never committed."""

import re
import subprocess
import sys
import tarfile
import unittest

import pytest

# hanoi 0.0.4 enables `crc32(id) % 100 >= percentage` (the complement of what
# was asked; its git head changed it); hanoi_redis uses `<`. This one test
# asserts the old answer for an unregistered id: crc32("1") % 100 == 83 is on
# at 50 % in hanoi 0.0.4, off here; crc32("2") % 100 == 37 the other way.
EXPECTED_FAILURES = {
    "RolloutTestCase.test_a_functionality_with_percentage_50_enabled",
}


@pytest.fixture(scope="module")
def hanoi_tests(tmp_path_factory):
    pytest.importorskip("pyshould")
    d = tmp_path_factory.mktemp("hanoi-sdist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            "hanoi==0.0.4",
            "-d",
            str(d),
        ],
        check=True,
    )
    with tarfile.open(d / "hanoi-0.0.4.tar.gz") as tar:
        member = tar.getmember("hanoi-0.0.4/tests/api.py")
        return tar.extractfile(member).read().decode()


def test_hanoi_0_0_4_rollout_suite(hanoi_tests, server, tmp_path, monkeypatch):
    source = hanoi_tests
    # The two lines a user changes: the import, and the backends.
    source, n1 = re.subn(
        r"from hanoi\.api import Rollout, RolloutException",
        "from hanoi_redis import Rollout, RolloutException",
        source,
    )
    source, n2 = re.subn(
        r"from hanoi\.backend import Feature, MemoryBackEnd, RedisBackEnd, RedisHighPerfBackEnd",
        "from hanoi_redis import Feature, MemoryBackEnd, RedisModuleBackEnd\n"
        f"RedisBackEnd = RedisHighPerfBackEnd = lambda: RedisModuleBackEnd(('127.0.0.1', {server}))",
        source,
    )
    assert (n1, n2) == (1, 1), "hanoi's tests/api.py changed shape"
    (tmp_path / "hanoi_api_tests.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    import hanoi_api_tests

    suite = unittest.defaultTestLoader.loadTestsFromModule(hanoi_api_tests)
    result = unittest.TestResult()
    suite.run(result)
    failed = {t.id().split(".", 1)[1]: tb for t, tb in result.failures + result.errors}
    assert result.testsRun > 80
    assert set(failed) == EXPECTED_FAILURES, "\n".join(
        f"{k}:\n{v}" for k, v in failed.items() if k not in EXPECTED_FAILURES
    )
