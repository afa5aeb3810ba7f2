//! Reading the module's replies, each decoded by hanoi-core: a flag
//! (`HANOI.EXPORT key NOIDS`, decoded by `hanoi_core::codec` and described
//! as a `hanoi_core::Description`: [`flag_from_export`]), `HANOI.RESOLVE`
//! ([`resolve_reply`]), `HANOI.STATS` ([`stats_reply`], [`series_reply`])
//! through the core's reply value ([`core_reply`]); the history from the
//! export itself ([`flag_and_history`]); the readers of plain Redis replies the other stores
//! use; a flag's version for the stale-save check ([`version_on`]).

use hanoi_core::observe::{Entry, SeriesCounts};
use hanoi_core::reply::{DetailReply, Reply, ResolveReply, StatsReply};
use hanoi_core::{codec, Description};
use redis::aio::ConnectionLike;
use redis::{RedisError, Value};

/// The flag's revision (`hanoi_core::Flag::revision`: one more on every
/// write that changed it, and on nothing else, history kept or not), read
/// from `HANOI.EXPORT key NOIDS`. None when the key does not exist.
pub async fn version_on(
    con: &mut impl ConnectionLike,
    key: &[u8],
) -> Result<Option<String>, RedisError> {
    let reply = con
        .req_packed_command(redis::cmd("HANOI.EXPORT").arg(key).arg("NOIDS"))
        .await?
        .extract_error()?;
    Ok(flag_from_export(&reply).map(|f| f.version()))
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

/// `HANOI.EXPORT key NOIDS`'s reply, described by hanoi-core: None for a
/// nil reply (no such flag), an error, or bytes the core refuses (a newer
/// encoding than this hanoi-web reads).
pub fn flag_from_export(v: &Value) -> Option<Description> {
    flag_and_history(v, 0).map(|(d, _)| d)
}

/// `HANOI.EXPORT`'s bytes (with or without the ids), described as
/// [`flag_from_export`] does (the id counts from the export, the effective
/// percentage now).
pub fn flag_from_bytes(bytes: &[u8]) -> Option<Description> {
    described(bytes, 0).map(|(d, _)| d)
}

/// [`flag_from_export`] and the newest `count` entries of the flag's
/// history, newest first: the export carries them (no `HANOI.HISTORY`).
pub fn flag_and_history(v: &Value, count: usize) -> Option<(Description, Vec<Entry>)> {
    let Value::BulkString(bytes) = v else {
        return None;
    };
    described(bytes, count)
}

/// The one decoding of an export: the description, and `count` entries.
fn described(bytes: &[u8], count: usize) -> Option<(Description, Vec<Entry>)> {
    let flag = codec::from_bytes_partial(bytes).ok()?;
    let history = flag.flag.history().newest().take(count).cloned().collect();
    Some((Description::of_partial(&flag, now_ms()), history))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the pages read of a [`Description`] beyond its fields.
pub trait Described {
    /// The stale-save token: the revision, as a form carries it.
    fn version(&self) -> String;
    /// The `tags` metadata field, split on commas.
    fn tags(&self) -> Vec<String>;
    /// The segments its rules name, each once, in order.
    fn segments_used(&self) -> Vec<Vec<u8>>;
    /// The keys it references: its prerequisites, then its segments.
    fn references(&self) -> Vec<Vec<u8>>;
}

impl Described for Description {
    fn version(&self) -> String {
        self.revision.to_string()
    }

    fn tags(&self) -> Vec<String> {
        self.meta("tags")
            .map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The segments its rules name, each once, in the order the rules name
    /// them.
    fn segments_used(&self) -> Vec<Vec<u8>> {
        let mut seen = std::collections::HashSet::new();
        self.rules
            .iter()
            .flat_map(hanoi_core::RuleDescription::segments)
            .filter(|s| seen.insert(*s))
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// The keys it references: its prerequisites, then the segments its
    /// rules name.
    fn references(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = self.prerequisites.iter().map(|(k, _)| k.clone()).collect();
        let seen: std::collections::HashSet<Vec<u8>> = out.iter().cloned().collect();
        out.extend(
            self.segments_used()
                .into_iter()
                .filter(|s| !seen.contains(s)),
        );
        out
    }
}

/// `HANOI.RESOLVE`'s (and `HANOI.PREVIEW`'s) reply, decoded by hanoi-core
/// ([`ResolveReply`]): None when it does not read as one.
pub fn resolve_reply(v: &Value) -> Option<ResolveReply> {
    ResolveReply::decode(&core_reply(v, 0)?).ok()
}

/// An answer's detail as text: the regex, the rule's or prerequisite's
/// name, the fault, or the id's bucket.
pub fn detail_text(d: &DetailReply) -> String {
    match d {
        DetailReply::Text(t) => String::from_utf8_lossy(t).into_owned(),
        DetailReply::Bucket(b) => b.to_string(),
    }
}

/// A reply as hanoi-core's [`Reply`] (its decoders read that): None for
/// an error reply, a shape it has no word for, or nesting deeper than 8.
pub fn core_reply(v: &Value, depth: usize) -> Option<Reply> {
    if depth > 8 {
        return None;
    }
    Some(match v {
        Value::Nil => Reply::Nil,
        Value::Int(i) => Reply::Int(*i),
        Value::BulkString(b) => Reply::Bulk(b.clone()),
        Value::SimpleString(s) => Reply::Simple(s.clone()),
        Value::Okay => Reply::Simple("OK".to_owned()),
        Value::VerbatimString { text, .. } => Reply::Bulk(text.as_bytes().to_vec()),
        Value::Boolean(b) => Reply::Int(i64::from(*b)),
        Value::Array(items) | Value::Set(items) => Reply::Array(
            items
                .iter()
                .map(|i| core_reply(i, depth + 1))
                .collect::<Option<_>>()?,
        ),
        Value::Map(m) => Reply::Map(
            m.iter()
                .map(|(k, v)| Some((bytes(k)?, core_reply(v, depth + 1)?)))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

/// `HANOI.STATS key`'s reply, decoded by hanoi-core ([`StatsReply`]):
/// None when it does not read as one.
pub fn stats_reply(v: &Value) -> Option<StatsReply> {
    StatsReply::decode(&core_reply(v, 0)?).ok()
}

/// `HANOI.STATS key SERIES`'s reply, decoded by hanoi-core
/// ([`SeriesCounts`]: per minute of the last hour and per hour of the last
/// 7 days, oldest first): None when it does not read as one.
pub fn series_reply(v: &Value) -> Option<SeriesCounts> {
    SeriesCounts::decode(&core_reply(v, 0)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_flag_through_the_core() {
        let limits = hanoi_core::Limits::default();
        let def = hanoi_core::parse_definition(
            &[b"PERCENTAGE", b"80", b"VARIANTS", b"2", b"foo", b"bar"],
            &limits,
        )
        .unwrap();
        let mut flag = hanoi_core::Flag::new(def, &limits).unwrap();
        flag.metadata_mut()
            .set(&[(b"tags", b"a, b,,c")], 8, 64)
            .unwrap();
        flag.add_users([&b"1"[..], b"2"]);
        flag.set_revision(7);
        let v = Value::BulkString(codec::to_bytes_without_ids(&flag));
        let f = flag_from_export(&v).unwrap();
        assert!(f.enabled);
        assert_eq!((f.percentage, f.users, f.revision), (80, 2, 7));
        assert_eq!(f.variants.len(), 2);
        assert_eq!(f.tags(), vec!["a", "b", "c"]);
        assert!(f.window.is_none());
        assert!(flag_from_export(&Value::Nil).is_none());
        assert!(flag_from_export(&Value::BulkString(b"junk".to_vec())).is_none());
        assert!(resolve_reply(&Value::Int(3)).is_none());
    }
}
