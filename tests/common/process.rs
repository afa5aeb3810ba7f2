//! What every Rust test suite's harness starts its servers with, written
//! once: the module's path (built once per test binary), the server binary,
//! a free port, a fresh directory. `tests/common` (the module's suites) and
//! `web/tests/harness` (hanoi-web's) both include this file.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Builds the module once per test binary (a no-op when `make test` already
/// did) and returns the path of `libhanoi.so`.
pub fn module_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Any directory of the workspace will do: this crate's.
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "hanoi", "--lib"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the module failed");
        // In the release directory beside this test binary's profile
        // (<target>/<profile>/deps/): cargo's own target directory,
        // CARGO_TARGET_DIR included, whether the tests are built with
        // --release or not.
        let exe = std::env::current_exe().expect("the test binary's path");
        let so = exe
            .ancestors()
            .nth(3)
            .expect("<target>")
            .join("release/libhanoi.so");
        assert!(so.exists(), "{} missing", so.display());
        so
    })
}

/// `redis-server`, or the binary named by `HANOI_SERVER` (`valkey-server`).
pub fn server_binary() -> String {
    std::env::var("HANOI_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// A free port below 55535 (a cluster node's bus port is port + 10000).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if port < 55535 {
            return port;
        }
    }
    panic!("no free port below 55535")
}

/// An empty directory of its own under the system's temporary one.
pub fn fresh_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hanoi-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Whether process `pid` itself holds a socket listening on
/// `127.0.0.1:port` (from `/proc`), where the harnesses connect. Parallel
/// tests each take a "free" port: between the check and a child's bind
/// another one may take it, and then a plain connect talks to the wrong
/// process. (Only IPv4's loopback: chromedriver binds `::1` first and exits
/// when `127.0.0.1` is taken.)
pub fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let sockets: std::collections::HashSet<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    // 127.0.0.1 as the kernel writes it (little-endian hex), and the port.
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        // local_address, state 0A (LISTEN), inode.
        .any(|f| f.len() > 9 && f[1] == local && f[3] == "0A" && sockets.contains(f[9]))
}
