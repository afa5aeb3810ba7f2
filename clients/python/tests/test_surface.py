"""What type checkers and users read: the version."""

import re
from pathlib import Path

import hanoi_redis


def test_version_is_cargo_toml_s():
    cargo = (Path(__file__).resolve().parents[1] / "Cargo.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
    assert hanoi_redis.__version__ == version
