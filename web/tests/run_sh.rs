//! `web/run.sh` (what `make run` calls) stops with a clear message when the
//! Redis port holds a server without the module, instead of starting
//! hanoi-web against it.

mod harness;

use harness::Redis;
use std::process::Command;

#[test]
fn run_sh_refuses_a_port_taken_by_a_redis_without_the_module() {
    let plain = Redis::start_without_module();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("web/run.sh"))
        .arg(plain.port.to_string())
        .arg(harness::free_port().to_string())
        // The binaries are built already (by cargo test and the harness).
        .env("CARGO", "true")
        .current_dir(&root)
        .output()
        .expect("web/run.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("taken by a server without the hanoi module"),
        "{stderr}"
    );
}
