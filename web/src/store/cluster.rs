//! Routing: which server holds a key (standalone: the one server; Redis
//! Cluster: the primary serving its slot, from `CLUSTER SLOTS`, found again
//! after a `MOVED`/`ASK` reply or a lost connection), one command or
//! per-key pipelines sent there, and the SCAN for flag keys over every
//! primary.

use super::conn::Node;
use super::read::{bytes, int, list, text};
use super::Store;
use redis::{Cmd, Pipeline, RedisError, Value};
use std::sync::Arc;

/// Keys per pipeline (see [`Store::per_key`]).
const CHUNK: usize = 64;

/// Which primary serves which slots (Redis Cluster).
pub(super) struct Topology {
    ranges: Vec<(u16, u16, usize)>,
    nodes: Vec<Arc<Node>>,
}

/// The cluster slot of a key (CRC16/XMODEM of the key or its `{hash tag}`):
/// the core's, which the module's reference checks use too.
pub use hanoi_core::slot::key_slot as slot;

fn moved(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if matches!(e.code(), "MOVED" | "ASK" | "CLUSTERDOWN" | "TRYAGAIN"))
}

impl Store {
    async fn topology(&self) -> Result<Arc<Topology>, RedisError> {
        let mut slot = self.topology.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let reply = self
            .seed
            .command(redis::cmd("CLUSTER").arg("SLOTS"), true)
            .await?
            .extract_error()?;
        let seed_host = match &self.info.addr {
            redis::ConnectionAddr::Tcp(h, _) => h.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let mut addrs: Vec<(String, u16)> = Vec::new();
        let mut ranges = Vec::new();
        for r in list(&reply) {
            let items = list(r);
            let (Some(lo), Some(hi), Some(master)) = (
                items.first().and_then(int),
                items.get(1).and_then(int),
                items.get(2),
            ) else {
                continue;
            };
            let m = list(master);
            let host = m.first().map(text).filter(|h| !h.is_empty() && h != "?");
            let Some(port) = m.get(1).and_then(int) else {
                continue;
            };
            let addr = (host.unwrap_or_else(|| seed_host.clone()), port as u16);
            let at = match addrs.iter().position(|a| *a == addr) {
                Some(i) => i,
                None => {
                    addrs.push(addr);
                    addrs.len() - 1
                }
            };
            ranges.push((lo as u16, hi as u16, at));
        }
        if ranges.is_empty() {
            return Err(RedisError::from((
                redis::ErrorKind::ClusterDown,
                "no slots served",
            )));
        }
        let mut nodes = Vec::new();
        for (host, port) in addrs {
            let mut info = self.info.clone();
            info.addr = redis::ConnectionAddr::Tcp(host, port);
            nodes.push(Node::new(redis::Client::open(info)?));
        }
        let t = Arc::new(Topology { ranges, nodes });
        *slot = Some(t.clone());
        Ok(t)
    }

    pub(super) async fn forget_topology(&self) {
        if self.cluster {
            *self.topology.lock().await = None;
        }
    }

    /// The server that holds `key`.
    pub(super) async fn node_for(&self, key: &[u8]) -> Result<Arc<Node>, RedisError> {
        if !self.cluster {
            return Ok(self.seed.clone());
        }
        let t = self.topology().await?;
        let s = slot(key);
        t.ranges
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&s))
            .and_then(|(_, _, i)| t.nodes.get(*i).cloned())
            .ok_or_else(|| RedisError::from((redis::ErrorKind::ClusterDown, "slot not served")))
    }

    /// Every primary (the one server when standalone).
    async fn primaries(&self) -> Result<Vec<Arc<Node>>, RedisError> {
        if !self.cluster {
            return Ok(vec![self.seed.clone()]);
        }
        Ok(self.topology().await?.nodes.clone())
    }

    /// One read about `key`; an error reply is an `Err`.
    pub async fn query(&self, key: &[u8], cmd: &Cmd) -> Result<Value, RedisError> {
        self.one(key, cmd, true).await
    }

    /// One write about `key` on the shared connection (an audit entry, a
    /// counter): as [`Store::query`], but never sent twice.
    pub async fn write_one(&self, key: &[u8], cmd: &Cmd) -> Result<Value, RedisError> {
        self.one(key, cmd, false).await
    }

    async fn one(&self, key: &[u8], cmd: &Cmd, read: bool) -> Result<Value, RedisError> {
        let node = self.node_for(key).await?;
        let reply = node.command(cmd, read).await;
        if reply.as_ref().map_or(true, moved) {
            self.forget_topology().await;
        }
        reply?.extract_error()
    }

    /// Commands about each key, pipelined: one pipeline per server, the
    /// servers asked at once. `build` queues a key's commands and says how
    /// many; the answer has each key's replies in order, an error reply
    /// kept as `Value::ServerError`.
    pub async fn per_key(
        &self,
        keys: &[Vec<u8>],
        build: impl Fn(&mut Pipeline, &[u8]) -> usize,
    ) -> Result<Vec<Vec<Value>>, RedisError> {
        let mut groups: Vec<(Arc<Node>, Vec<usize>)> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let node = self.node_for(k).await?;
            match groups.iter_mut().find(|(n, _)| Arc::ptr_eq(n, &node)) {
                Some((_, members)) => members.push(i),
                None => groups.push((node, vec![i])),
            }
        }
        // A server's keys go in pipelines of at most CHUNK keys, one after
        // the other: one big request never holds a server (or the shared
        // connection) for long, and what waits behind it is served between
        // its chunks.
        // Each chunk's pipeline is built when it is sent: a request holds
        // one chunk's commands in memory, not all of them.
        let build = &build;
        let runs = groups.iter().map(|(node, members)| async move {
            let mut counts = Vec::with_capacity(members.len());
            let mut replies = Vec::new();
            for part in members.chunks(CHUNK) {
                let mut pipe = redis::pipe();
                let c: Vec<usize> = part.iter().map(|&i| build(&mut pipe, &keys[i])).collect();
                let total = c.iter().sum();
                replies.extend(node.pipeline(&pipe, total).await?);
                counts.extend(c);
            }
            Ok::<_, RedisError>((counts, replies))
        });
        let results = futures_util::future::join_all(runs).await;
        let mut out: Vec<Vec<Value>> = vec![Vec::new(); keys.len()];
        let mut stale = false;
        for ((_, members), result) in groups.iter().zip(results) {
            let (counts, replies) = match result {
                Ok(r) => r,
                Err(e) => {
                    self.forget_topology().await;
                    return Err(e);
                }
            };
            let mut it = replies.into_iter();
            for (&i, n) in members.iter().zip(counts) {
                out[i] = it.by_ref().take(n).collect();
                stale |= out[i].iter().any(moved);
            }
        }
        if stale {
            self.forget_topology().await;
        }
        Ok(out)
    }

    /// Flag keys (`SCAN ... TYPE hanoiflag` on every primary in turn) from
    /// `cursor` ("" to start; `node.cursor`), until at least `want` are found
    /// or the scan ends; returns the keys and the next cursor ("" at the end).
    pub async fn scan_flags(
        &self,
        pattern: &[u8],
        cursor: &str,
        want: usize,
    ) -> Result<(Vec<Vec<u8>>, String), RedisError> {
        let nodes = self.primaries().await?;
        let (mut at, mut c) = cursor
            .split_once('.')
            .and_then(|(n, c)| Some((n.parse::<usize>().ok()?, c.parse::<u64>().ok()?)))
            .unwrap_or((0, 0));
        let mut keys = Vec::new();
        for _ in 0..256 {
            let Some(node) = nodes.get(at) else {
                break;
            };
            let reply = node
                .command(
                    redis::cmd("SCAN")
                        .arg(c)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .arg("TYPE")
                        .arg("hanoiflag"),
                    true,
                )
                .await?
                .extract_error()?;
            let items = list(&reply);
            c = items.first().and_then(int).unwrap_or(0) as u64;
            if let Some(found) = items.get(1) {
                keys.extend(list(found).iter().filter_map(bytes));
            }
            if c == 0 {
                at += 1;
            }
            if keys.len() >= want {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        let next = if at < nodes.len() {
            format!("{at}.{c}")
        } else {
            String::new()
        };
        Ok((keys, next))
    }

    /// Every flag matching `pattern` on every primary: SCAN to the end (a
    /// partial list would silently hide flags from OFREP's bulk answer).
    pub async fn all_flags(&self, pattern: &[u8]) -> Result<Vec<Vec<u8>>, RedisError> {
        let (mut all, mut cursor) = self.scan_flags(pattern, "", usize::MAX).await?;
        while !cursor.is_empty() {
            let (keys, next) = self.scan_flags(pattern, &cursor, usize::MAX).await?;
            all.extend(keys);
            cursor = next;
        }
        all.sort();
        all.dedup();
        Ok(all)
    }
    /// Whether every primary answers, with the hanoi module loaded
    /// (`COMMAND INFO hanoi.get` describes the command): None when they
    /// all do, else why not.
    pub async fn unreachable(&self) -> Option<String> {
        let nodes = match self.primaries().await {
            Ok(n) => n,
            Err(e) => return Some(super::error_text(&e)),
        };
        let mut info = redis::cmd("COMMAND");
        info.arg("INFO").arg("hanoi.get");
        for n in nodes {
            match n.command(&info, true).await {
                Ok(v) => match v.extract_error() {
                    Err(e) => return Some(super::error_text(&e)),
                    // One entry per command asked: nil when it is unknown.
                    Ok(redis::Value::Array(a))
                        if a.first().is_some_and(|c| !matches!(c, redis::Value::Nil)) => {}
                    Ok(_) => return Some("the hanoi module is not loaded".to_owned()),
                },
                Err(e) => {
                    self.forget_topology().await;
                    return Some(super::error_text(&e));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots() {
        // Redis's own examples (CLUSTER KEYSLOT).
        assert_eq!(slot(b"somekey"), 11058);
        assert_eq!(slot(b"foo{hash_tag}"), slot(b"hash_tag"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
    }
}
