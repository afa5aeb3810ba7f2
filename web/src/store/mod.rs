//! The Redis side, by concern: [`conn`] holds one server's shared,
//! self-reconnecting connection; [`cluster`] routes each command to the
//! server that holds its key (standalone or Redis Cluster) and lists flags;
//! [`write`] sends a UI user's writes (WATCH/MULTI/EXEC on a connection of
//! their own); [`read`] reads the module's replies into flags, answers and
//! history, and computes the stale-save version. Every reply is untrusted:
//! nothing here panics on an unexpected shape, it reads what it can.

pub mod audit;
mod cluster;
mod conn;
mod read;
pub mod requests;
mod write;

/// A `HANOI.HISTORY` entry, as the core decodes it.
pub use hanoi_core::observe::Entry as HistoryEntry;
pub use read::{
    core_reply, detail_text, flag_and_history, flag_from_bytes, flag_from_export, resolve_reply,
    series_reply, stats_reply, Described,
};
pub use write::{ImportOutcome, WriteOutcome};

use cluster::Topology;
use conn::Node;
use redis::RedisError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Whether an error means "Redis is unreachable" (503) rather than a reply.
pub fn is_unavailable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.kind() == redis::ErrorKind::ClusterDown
        || e.code().is_none()
}

/// An error's text as the server sent it ("ERR no such flag").
pub fn error_text(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => e.to_string(),
    }
}

/// Standalone: one server. Cluster: every primary, found with `CLUSTER
/// SLOTS` from the `--redis` node and found again after a `MOVED`/`ASK`
/// reply or a lost connection.
pub struct Store {
    seed: Arc<Node>,
    info: redis::ConnectionInfo,
    cluster: bool,
    topology: Mutex<Option<Arc<Topology>>>,
}

impl Store {
    pub fn new(info: redis::ConnectionInfo, cluster: bool) -> Result<Store, RedisError> {
        let client = redis::Client::open(info.clone())?;
        Ok(Store {
            seed: Node::new(client),
            info,
            cluster,
            topology: Mutex::new(None),
        })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

/// Escapes a literal for a `SCAN MATCH` glob.
pub fn glob_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_glob() {
        assert_eq!(unhex(&hex(b"\xff<a>")).unwrap(), b"\xff<a>");
        assert!(unhex("zz").is_none());
        assert!(unhex("abc").is_none());
        assert_eq!(glob_escape(b"a*b?"), b"a\\*b\\?");
    }
}
