//! Reading the module's replies: `HANOI.GET` as a [`FlagView`],
//! `HANOI.EXPLAIN` as an [`Explain`], `HANOI.STATS` as [`Stats`],
//! `HANOI.HISTORY` as [`HistoryEntry`]s, the readers of reply values they
//! use, and a flag's version for the stale-save check ([`version_on`]).

use super::{hex, Store};
use redis::aio::ConnectionLike;
use redis::{RedisError, Value};
use sha2::{Digest, Sha256};

impl Store {
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
}
