//! `web/run.sh` (what `make run` calls) stops with a clear message when the
//! Redis port holds a server without the module, instead of starting
//! hanoi-web against it.

mod harness;

use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn run_sh_refuses_a_port_taken_by_a_redis_without_the_module() {
    let port = harness::free_port();
    let dir = harness::fresh_dir();
    let mut plain = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    for _ in 0..200 {
        if client.get_connection().is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("web/run.sh"))
        .arg(port.to_string())
        .arg(harness::free_port().to_string())
        // The binaries are built already (by cargo test and the harness).
        .env("CARGO", "true")
        .current_dir(&root)
        .output()
        .expect("web/run.sh");
    let _ = plain.kill();
    let _ = plain.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("taken by a server without the hanoi module"),
        "{stderr}"
    );
}
