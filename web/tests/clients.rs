//! OFREP with clients nobody here wrote: the OpenFeature Python SDK with its
//! OFREP provider (`ofrep_client.py`). Python is `$HANOI_PYTHON` (make test's
//! venv) or `python3`; without the packages the test says so and passes,
//! except under CI (`CI` set), where it must run.

mod harness;

use harness::{Redis, Web, ALL_KEY};
use std::process::Command;

#[test]
fn python_openfeature_sdk_with_the_ofrep_provider() {
    let python = std::env::var("HANOI_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import openfeature.contrib.provider.ofrep"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the OFREP client test: pip install openfeature-sdk openfeature-provider-ofrep into {python}"
        );
        eprintln!("SKIPPED python_openfeature_sdk_with_the_ofrep_provider: {python} lacks openfeature-provider-ofrep");
        return;
    }
    let redis = Redis::start(&[]);
    harness::define_ofrep_flags(&redis);
    // Typed values: a number flag (its DEFAULT served when off), an object.
    #[rustfmt::skip]
    redis.cmd(&[b"HANOI.DEFINE", b"limit", b"PERCENTAGE", b"20", b"VARIANTS", b"2", b"small", b"big", b"VALUES", b"10", b"2.5", b"DEFAULT", b"small"]);
    #[rustfmt::skip]
    redis.cmd(&[b"HANOI.DEFINE", b"layout", b"PERCENTAGE", b"100", b"VARIANTS", b"1", b"wide", b"VALUES", br#"{"columns": 2}"#]);
    let web = Web::start(&redis);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ofrep_client.py");
    let out = Command::new(&python)
        .args([script, &web.base, ALL_KEY])
        .output()
        .expect("run ofrep_client.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
