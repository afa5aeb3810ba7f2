//! The one test server of every Rust suite: a real `redis-server` (or the
//! binary named by `HANOI_SERVER`, e.g. `valkey-server`) on a free loopback
//! port in a fresh directory, with the freshly built module loaded (or not:
//! [`Server::start_without_module`]), killed on drop. Its directory is
//! removed then, or kept (and named on stderr) when the test panicked.
//! `tests/common` (the module's suites) and `web/tests/harness` (hanoi-web's,
//! which calls it `Redis`) both include this file, beside `process.rs`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{free_port, fresh_dir, module_path, server_binary};

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
    /// Whether the hanoi module is loaded.
    module: bool,
}

impl Server {
    /// Starts a server with the module and `extra` arguments (they come
    /// last, so they override the harness's own).
    pub fn start(extra: &[&str]) -> Server {
        let mut s = Server::prepare(extra);
        s.spawn();
        s
    }

    /// A replica of `primary` with the module and `extra` arguments, once
    /// its first sync is done.
    pub fn replica_of(primary: &Server, extra: &[&str]) -> Server {
        let port = primary.port.to_string();
        let mut args = vec!["--replicaof", "127.0.0.1", &port];
        args.extend_from_slice(extra);
        let replica = Server::start(&args);
        replica.wait_synced();
        replica
    }

    /// Waits (up to 60 s) until this replica's link to its primary is up
    /// and no sync is in progress.
    pub fn wait_synced(&self) {
        let mut con = self.con();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut con)
                .expect("INFO replication");
            if info.contains("master_link_status:up") && !info.contains("master_sync_in_progress:1")
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!("replica never synced:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A plain server: the hanoi module not loaded.
    pub fn start_without_module() -> Server {
        let mut s = Server::prepare(&[]);
        s.module = false;
        s.spawn();
        s
    }

    /// A server not started yet: put files in `dir`, then `spawn`.
    pub fn prepare(extra: &[&str]) -> Server {
        Server {
            child: None,
            port: free_port(),
            dir: fresh_dir(),
            args: extra.iter().map(|s| s.to_string()).collect(),
            module: true,
        }
    }

    /// Starts the process and waits until it answers PING; panics with its
    /// log when it exits or does not answer within 30 s. Another process
    /// that took the free port first (a parallel test) is told apart by its
    /// process id, and a new port is tried.
    pub fn spawn(&mut self) {
        for _ in 0..5 {
            if self.try_spawn() {
                return;
            }
            self.port = free_port();
        }
        panic!("no port of five was free to start on:\n{}", self.log());
    }

    /// [`Server::spawn`] on this port: false when the port was taken.
    fn try_spawn(&mut self) -> bool {
        let mut cmd = Command::new(server_binary());
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("server.log"))
            .args(["--save", ""])
            .args(["--enable-debug-command", "yes"]);
        if self.module {
            cmd.arg("--loadmodule").arg(module_path());
        }
        cmd.args(&self.args).stdout(Stdio::null()).stderr(
            std::fs::File::create(self.dir.join("stderr.log"))
                .map_or_else(|_| Stdio::null(), Stdio::from),
        );
        let child = cmd.spawn().expect("start redis-server (is it installed?)");
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                if self.log().contains("Address already in use") {
                    return false;
                }
                panic!("server exited ({status}) on start:\n{}", self.log());
            }
            if let Ok(mut con) = self.try_con() {
                if let Ok(info) = redis::cmd("INFO").arg("server").query::<String>(&mut con) {
                    if !info.contains(&format!("process_id:{pid}\r\n")) {
                        // Another server on this port: ours cannot bind it.
                        if let Some(mut c) = self.child.take() {
                            let _ = c.kill();
                            let _ = c.wait();
                        }
                        return false;
                    }
                    // Ours; PING answers once its data is loaded.
                    if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                        return true;
                    }
                }
            }
            if Instant::now() >= deadline {
                panic!("server did not start:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server wrote: its stderr, then its log file.
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        read("stderr.log") + &read("server.log")
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A connection, or why there is none (the server is down).
    pub fn try_con(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(5))
    }

    /// A RESP2 connection (replies may take up to 120 s).
    pub fn con(&self) -> redis::Connection {
        let con = self.try_con().expect("connect");
        con.set_read_timeout(Some(Duration::from_secs(120))).ok();
        con
    }

    /// A RESP3 connection (replies may take up to 120 s).
    pub fn con3(&self) -> redis::Connection {
        let con = redis::Client::open(format!("{}?protocol=resp3", self.url()))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("connect resp3");
        con.set_read_timeout(Some(Duration::from_secs(120))).ok();
        con
    }

    /// One command on a connection of its own: its reply.
    pub fn cmd(&self, args: &[&[u8]]) -> redis::Value {
        let mut cmd = redis::Cmd::new();
        cmd.arg(args);
        cmd.query(&mut self.con()).expect("redis command")
    }

    /// Is the process still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Stops the server with `SHUTDOWN <how>` (e.g. "SAVE", "NOSAVE").
    pub fn shutdown(&mut self, how: &str) {
        let mut con = self.con();
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg(how).query(&mut con);
        self.wait_exit();
    }

    /// Kills the server with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
        }
        self.wait_exit();
    }

    fn wait_exit(&mut self) {
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again (after `kill` or `shutdown`) on the same
    /// port (clients, hanoi-web among them, keep its address), in the same
    /// directory, with the same arguments.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        for _ in 0..50 {
            if self.try_spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("port {} stayed taken:\n{}", self.port, self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("server log kept in {}", self.dir.display());
        }
    }
}
