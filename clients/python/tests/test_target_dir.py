"""`make` and `web/run.sh` find the binaries where cargo builds them: with
CARGO_TARGET_DIR set, there, not in ./target (issue 34). Cheap: nothing is
built; CARGO_TARGET_DIR is a symlink to the target directory already built,
so the paths they print show which directory they used."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import MODULE, ROOT, _free_port


@pytest.fixture
def linked_target():
    """A CARGO_TARGET_DIR that is not ./target: a symlink to where the
    module was built."""
    d = Path(tempfile.mkdtemp(prefix="hanoi-target-"))
    link = d / "elsewhere"
    link.symlink_to(MODULE.resolve().parent.parent)
    yield link
    shutil.rmtree(d, ignore_errors=True)


def test_make_uses_cargos_target_dir(linked_target):
    env = {**os.environ, "CARGO_TARGET_DIR": str(linked_target)}
    env.pop("HANOI_MODULE", None)
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "test-node"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"{linked_target}/release/libhanoi.so" in out, out


def test_run_sh_uses_cargos_target_dir(linked_target, tmp_path):
    web = linked_target / "release" / "hanoi-web"
    if not web.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{web} missing (make test builds it: cargo test --workspace)")
        pytest.skip(f"SKIPPED: {web} not built (cargo build --release -p hanoi-web)")
    port, web_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "CARGO_TARGET_DIR": str(linked_target),
        "CARGO": "true",  # built already: no build
        "HANOI_WEB_CONFIG": str(tmp_path / "web.toml"),
        # Not the work tree's dump.rdb and appendonlydir (make run's data).
        "HANOI_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        ["bash", str(ROOT / "web" / "run.sh"), str(port), str(web_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "OFREP API key" in line:
                break
        # hanoi-web answers: run.sh found its binary there.
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", web_port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
                time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    text = "".join(lines)
    assert f"with {linked_target}/release/libhanoi.so" in text, text
    assert "No such file" not in text, text
