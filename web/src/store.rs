//! The Redis side: one shared, self-reconnecting connection for reads and
//! OFREP, a dedicated connection per UI write (WATCH/MULTI/EXEC), and readers
//! of the module's replies. Every reply is untrusted: nothing here panics on
//! an unexpected shape, it reads what it can.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisError, Value};
use sha2::{Digest, Sha256};
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

pub enum WriteOutcome {
    /// EXEC ran: the reply of each command (errors included).
    Done(Vec<Result<Value, String>>),
    /// The flag changed since the form was rendered (or during the save).
    Conflict,
}

/// One Redis server: a shared, self-reconnecting connection, and the
/// client that opens dedicated connections for writes.
pub struct Node {
    client: redis::Client,
    shared: Mutex<Option<ConnectionManager>>,
    /// When the last attempt to connect failed: for a second after, callers
    /// get the error at once instead of queueing behind another attempt.
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Node {
    fn new(client: redis::Client) -> Arc<Node> {
        Arc::new(Node {
            client,
            shared: Mutex::new(None),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    /// The shared connection, made on first use (and again after a failed
    /// start): the server starts and keeps running while Redis is down.
    async fn con(&self) -> Result<ConnectionManager, RedisError> {
        let recently_failed = || {
            self.failed_at
                .lock()
                .ok()
                .and_then(|t| *t)
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1))
        };
        let unreachable =
            || RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        if recently_failed() {
            return Err(unreachable());
        }
        let mut slot = self.shared.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        if recently_failed() {
            return Err(unreachable());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(2)
            .set_max_delay(500);
        let made = tokio::time::timeout(
            TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        .map_err(|_| RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))
        .and_then(|made| made);
        let made = match made {
            Ok(m) => m,
            Err(e) => {
                if let Ok(mut t) = self.failed_at.lock() {
                    *t = Some(std::time::Instant::now());
                }
                return Err(e);
            }
        };
        *slot = Some(made.clone());
        Ok(made)
    }

    async fn pipeline(&self, pipe: &Pipeline, n: usize) -> Result<Vec<Value>, RedisError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut con = self.con().await?;
        con.req_packed_commands(pipe, 0, n).await
    }
}

/// Which primary serves which slots (Redis Cluster).
struct Topology {
    ranges: Vec<(u16, u16, usize)>,
    nodes: Vec<Arc<Node>>,
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

/// The cluster slot of a key (CRC16/XMODEM of the key or its `{hash tag}`).
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &b in tagged {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

fn moved(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if matches!(e.code(), "MOVED" | "ASK" | "CLUSTERDOWN" | "TRYAGAIN"))
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

    async fn topology(&self) -> Result<Arc<Topology>, RedisError> {
        let mut slot = self.topology.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let reply = {
            let mut con = self.seed.con().await?;
            con.req_packed_command(redis::cmd("CLUSTER").arg("SLOTS"))
                .await?
                .extract_error()?
        };
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

    async fn forget_topology(&self) {
        if self.cluster {
            *self.topology.lock().await = None;
        }
    }

    /// The server that holds `key`.
    async fn node_for(&self, key: &[u8]) -> Result<Arc<Node>, RedisError> {
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

    /// One command about `key`; an error reply is an `Err`.
    pub async fn query(&self, key: &[u8], cmd: &Cmd) -> Result<Value, RedisError> {
        let node = self.node_for(key).await?;
        let r = node.con().await;
        let reply = match r {
            Ok(mut con) => con.req_packed_command(cmd).await,
            Err(e) => Err(e),
        };
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
        let runs = groups.iter().map(|(node, members)| {
            let mut pipe = redis::pipe();
            let counts: Vec<usize> = members
                .iter()
                .map(|&i| build(&mut pipe, &keys[i]))
                .collect();
            let node = node.clone();
            async move {
                let total = counts.iter().sum();
                node.pipeline(&pipe, total).await.map(|r| (counts, r))
            }
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

    /// A write for a UI user: on a connection of its own to the key's
    /// server, named `hanoi-web:<user>` (the name the module records in the
    /// history), `WATCH key`, check that the flag's version is still
    /// `expected` (None: the key must not exist), then `MULTI` the commands
    /// and `EXEC`.
    pub async fn write(
        &self,
        user: &str,
        key: &[u8],
        expected: Option<&str>,
        cmds: &[Cmd],
    ) -> Result<WriteOutcome, RedisError> {
        let node = self.node_for(key).await?;
        let r = write_on(&node.client, user, key, expected, cmds).await;
        if r.is_err() {
            self.forget_topology().await;
        }
        r
    }

    /// The flag's version (see [`version_on`]).
    pub async fn version(&self, key: &[u8]) -> Result<Option<String>, RedisError> {
        let node = self.node_for(key).await?;
        let mut con = node.con().await?;
        let r = version_on(&mut con, key).await;
        if r.is_err() {
            self.forget_topology().await;
        }
        r
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
            let mut con = node.con().await?;
            let reply = con
                .req_packed_command(
                    redis::cmd("SCAN")
                        .arg(c)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .arg("TYPE")
                        .arg("hanoiflag"),
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
}

async fn write_on(
    client: &redis::Client,
    user: &str,
    key: &[u8],
    expected: Option<&str>,
    cmds: &[Cmd],
) -> Result<WriteOutcome, RedisError> {
    let mut con = client
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new()
                .set_connection_timeout(TIMEOUT)
                .set_response_timeout(TIMEOUT),
        )
        .await?;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(client_name(user))
        .query_async::<()>(&mut con)
        .await?;
    redis::cmd("WATCH")
        .arg(key)
        .query_async::<()>(&mut con)
        .await?;
    let current = version_on(&mut con, key).await?;
    if current.as_deref() != expected {
        redis::cmd("UNWATCH").query_async::<()>(&mut con).await?;
        return Ok(WriteOutcome::Conflict);
    }
    let mut pipe = redis::pipe();
    pipe.atomic();
    for c in cmds {
        pipe.add_command(c.clone());
    }
    let replies = con.req_packed_commands(&pipe, cmds.len() + 1, 1).await?;
    match replies.into_iter().next() {
        Some(Value::Array(items)) => Ok(WriteOutcome::Done(
            items
                .into_iter()
                .map(|v| v.extract_error().map_err(|e| error_text(&e)))
                .collect(),
        )),
        // EXEC answered nil: a watched key changed.
        _ => Ok(WriteOutcome::Conflict),
    }
}

/// `hanoi-web:<user>`, with what CLIENT SETNAME refuses (spaces, newlines)
/// replaced.
pub fn client_name(user: &str) -> String {
    let clean: String = user
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    format!("hanoi-web:{clean}")
}

/// A digest of `HANOI.GET` and the newest history entry: any write that
/// changed the flag changes one of them. None when the key does not exist.
pub async fn version_on(
    con: &mut impl ConnectionLike,
    key: &[u8],
) -> Result<Option<String>, RedisError> {
    let mut pipe = redis::pipe();
    pipe.cmd("HANOI.GET").arg(key);
    pipe.cmd("HANOI.HISTORY").arg(key).arg("COUNT").arg(1);
    pipe.cmd("EXISTS").arg(key);
    let replies = con.req_packed_commands(&pipe, 0, 3).await?;
    if replies.get(2).and_then(int) == Some(0) {
        return Ok(None);
    }
    let mut h = Sha256::new();
    for (i, r) in replies.iter().enumerate() {
        let r = if i == 0 {
            without_moving_fields(r)
        } else {
            r.clone()
        };
        h.update(format!("{r:?}").as_bytes());
        h.update([0]);
    }
    Ok(Some(hex(&h.finalize()[..16])))
}

/// `HANOI.GET` without what changes with time alone (the effective
/// percentage moves along a ramp): a version must change only on writes.
fn without_moving_fields(get: &Value) -> Value {
    let moving = |k: &Value| bytes(k).is_some_and(|k| k == b"effective_percentage");
    match get {
        Value::Array(items) => Value::Array(
            items
                .chunks(2)
                .filter(|kv| !moving(&kv[0]))
                .flatten()
                .cloned()
                .collect(),
        ),
        Value::Map(pairs) => {
            Value::Map(pairs.iter().filter(|(k, _)| !moving(k)).cloned().collect())
        }
        other => other.clone(),
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

// ---- reading replies -------------------------------------------------------

pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

pub fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        Value::Okay => Some(b"OK".to_vec()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes().to_vec()),
        _ => None,
    }
}

/// Text for people: invalid UTF-8 shown with replacement characters.
pub fn text(v: &Value) -> String {
    bytes(v)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

pub fn list(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

/// Field/value pairs of a map (RESP3) or a flat array (RESP2).
pub fn pairs(v: &Value) -> Vec<(Vec<u8>, &Value)> {
    match v {
        Value::Map(m) => m.iter().filter_map(|(k, v)| Some((bytes(k)?, v))).collect(),
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|p| Some((bytes(&p[0])?, &p[1])))
            .collect(),
        _ => Vec::new(),
    }
}

pub fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let name = name.as_bytes();
    match v {
        Value::Map(m) => m.iter().find(|(k, _)| raw(k) == Some(name)).map(|(_, v)| v),
        Value::Array(items) => items
            .chunks_exact(2)
            .find(|p| raw(&p[0]) == Some(name))
            .map(|p| &p[1]),
        _ => None,
    }
}

/// The bytes of a string reply, borrowed.
fn raw(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A flag as `HANOI.GET` describes it.
#[derive(Debug, Clone, Default)]
pub struct FlagView {
    pub enabled: bool,
    pub percentage: i64,
    /// The percentage now, a ramp applied (the module computes it).
    pub effective_percentage: i64,
    pub variants: Vec<Vec<u8>>,
    pub weights: Vec<i64>,
    pub salt: Option<Vec<u8>>,
    pub users: i64,
    pub blocked: i64,
    pub regexes: Vec<Vec<u8>>,
    /// Each rule: its name, then its arguments as `HANOI.RULE SET` takes them.
    pub rules: Vec<Vec<Vec<u8>>>,
    pub window: Option<(i64, i64)>,
    pub ramp: Option<(i64, i64, i64, i64)>,
    pub created: i64,
    pub metadata: Vec<(Vec<u8>, Vec<u8>)>,
}

impl FlagView {
    /// None for a nil reply (no such flag) or an error.
    pub fn from_get(v: &Value) -> Option<FlagView> {
        let fields: Vec<(&[u8], &Value)> = match v {
            Value::Map(m) => m.iter().filter_map(|(k, v)| Some((raw(k)?, v))).collect(),
            Value::Array(items) => items
                .chunks_exact(2)
                .filter_map(|p| Some((raw(&p[0])?, &p[1])))
                .collect(),
            _ => return None,
        };
        let all_bytes = |l: &Value| -> Vec<Vec<u8>> { list(l).iter().filter_map(bytes).collect() };
        let ints = |l: &Value| -> Vec<i64> { list(l).iter().filter_map(int).collect() };
        let mut f = FlagView::default();
        for (name, val) in fields {
            match name {
                b"enabled" => f.enabled = int(val) == Some(1),
                b"percentage" => f.percentage = int(val).unwrap_or(0),
                b"effective_percentage" => f.effective_percentage = int(val).unwrap_or(0),
                b"variants" => f.variants = all_bytes(val),
                b"weights" => f.weights = ints(val),
                b"salt" => f.salt = bytes(val),
                b"users" => f.users = int(val).unwrap_or(0),
                b"blocked" => f.blocked = int(val).unwrap_or(0),
                b"regexes" => f.regexes = all_bytes(val),
                b"rules" => f.rules = list(val).iter().map(all_bytes).collect(),
                b"window" => {
                    let w = ints(val);
                    f.window = (w.len() == 2).then(|| (w[0], w[1]));
                }
                b"ramp" => {
                    let r = ints(val);
                    f.ramp = (r.len() == 4).then(|| (r[0], r[1], r[2], r[3]));
                }
                b"created" => f.created = int(val).unwrap_or(0),
                b"metadata" => {
                    f.metadata = pairs(val)
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, bytes(v)?)))
                        .collect()
                }
                _ => {}
            }
        }
        Some(f)
    }

    pub fn meta(&self, name: &str) -> Option<String> {
        self.metadata
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn tags(&self) -> Vec<String> {
        self.meta("tags")
            .map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `HANOI.EXPLAIN`'s answer.
#[derive(Debug, Clone)]
pub struct Explain {
    pub enabled: bool,
    pub variant: Option<Vec<u8>>,
    pub reason: String,
    pub detail: Option<String>,
    pub percentage: Option<i64>,
}

impl Explain {
    pub fn from_reply(v: &Value) -> Option<Explain> {
        let items = list(v);
        if items.len() < 3 {
            return None;
        }
        Some(Explain {
            enabled: int(&items[0]) == Some(1),
            variant: bytes(&items[1]),
            reason: text(&items[2]),
            detail: items
                .get(3)
                .and_then(bytes)
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            percentage: items.get(4).and_then(int),
        })
    }
}

/// `HANOI.STATS`'s answer.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub evaluations: i64,
    pub enabled: i64,
    pub variants: Vec<(Vec<u8>, i64)>,
    pub last_evaluated: Option<i64>,
    pub since: Option<i64>,
}

impl Stats {
    pub fn from_reply(v: &Value) -> Option<Stats> {
        if !matches!(v, Value::Array(_) | Value::Map(_)) {
            return None;
        }
        Some(Stats {
            evaluations: field(v, "evaluations").and_then(int).unwrap_or(0),
            enabled: field(v, "enabled").and_then(int).unwrap_or(0),
            variants: field(v, "variants")
                .map(|m| {
                    pairs(m)
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, int(v)?)))
                        .collect()
                })
                .unwrap_or_default(),
            last_evaluated: field(v, "last_evaluated").and_then(int),
            since: field(v, "since").and_then(int),
        })
    }
}

/// One `HANOI.HISTORY` entry.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub time: i64,
    pub user: String,
    pub client: String,
    pub command: Vec<String>,
    pub arguments: i64,
}

pub fn history(v: &Value) -> Vec<HistoryEntry> {
    list(v)
        .iter()
        .map(|e| HistoryEntry {
            time: field(e, "time").and_then(int).unwrap_or(0),
            user: field(e, "user").map(text).unwrap_or_default(),
            client: field(e, "client").map(text).unwrap_or_default(),
            command: field(e, "command")
                .map(|c| {
                    list(c)
                        .iter()
                        .filter_map(bytes)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            arguments: field(e, "arguments").and_then(int).unwrap_or(0),
        })
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
    fn reads_a_resp2_get_reply() {
        let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let v = Value::Array(vec![
            b("enabled"),
            Value::Int(1),
            b("percentage"),
            Value::Int(80),
            b("variants"),
            Value::Array(vec![b("foo"), b("bar")]),
            b("metadata"),
            Value::Array(vec![b("tags"), b("a, b,,c")]),
            b("window"),
            Value::Nil,
        ]);
        let f = FlagView::from_get(&v).unwrap();
        assert!(f.enabled);
        assert_eq!(f.percentage, 80);
        assert_eq!(f.variants.len(), 2);
        assert_eq!(f.tags(), vec!["a", "b", "c"]);
        assert!(f.window.is_none());
        assert!(FlagView::from_get(&Value::Nil).is_none());
        assert!(Explain::from_reply(&Value::Int(3)).is_none());
    }

    #[test]
    fn hex_round_trip_and_glob() {
        assert_eq!(unhex(&hex(b"\xff<a>")).unwrap(), b"\xff<a>");
        assert!(unhex("zz").is_none());
        assert!(unhex("abc").is_none());
        assert_eq!(glob_escape(b"a*b?"), b"a\\*b\\?");
        assert_eq!(client_name("al ice"), "hanoi-web:al_ice");
        // Redis's own examples (CLUSTER KEYSLOT).
        assert_eq!(slot(b"somekey"), 11058);
        assert_eq!(slot(b"foo{hash_tag}"), slot(b"hash_tag"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
    }
}
