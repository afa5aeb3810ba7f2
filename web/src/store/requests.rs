//! Change requests, for environments with `approvals = N`: a change there
//! is stored, not made, until N writers other than its proposer approved
//! it; then it is applied in one step, under `WATCH` of the flag, if the
//! flag's revision is still the one it was proposed on (else the request
//! is marked stale).
//!
//! Kept in that environment's Redis, shared by every hanoi-web process and
//! surviving their restarts: a hash per request `{hanoi-web:cr}:<id>` and
//! the index `{hanoi-web:cr}:index` (a sorted set, id by creation time),
//! ids from `{hanoi-web:cr}:next`. One hash tag: in a cluster they are on
//! one slot, so each step is one `MULTI`/`EXEC`. A state change is a
//! compare-and-set (`WATCH` the request, check its state, `MULTI`): two
//! processes never both apply one request.

use super::audit::{self, Audit};
use super::read::{bytes, list};
use super::{hex, unhex, Store, WriteOutcome};
use redis::{Cmd, RedisError, Value};

const NEXT: &[u8] = b"{hanoi-web:cr}:next";
const INDEX: &[u8] = b"{hanoi-web:cr}:index";
/// A request's commands, serialized, at most this many bytes.
pub const MAX_COMMANDS_BYTES: usize = 4 << 20;
/// Requests a list reads at most (the newest).
pub const MAX_LISTED: usize = 200;
/// Pending requests one proposer may have at once (among the newest).
pub const MAX_PENDING_PER_USER: usize = 20;
/// The fields a list reads (all but the commands).
const LISTED_FIELDS: [&str; 11] = [
    "flag",
    "proposer",
    "comment",
    "what",
    "note",
    "created",
    "expect",
    "state",
    "approvers",
    "outcome",
    "decided",
];

fn key_of(id: u64) -> Vec<u8> {
    format!("{{hanoi-web:cr}}:{id}").into_bytes()
}

/// What a request expects of the flag when it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The flag at this revision (a change to it).
    Revision(String),
    /// No such key (a new flag).
    Absent,
}

impl Expect {
    fn encode(&self) -> String {
        match self {
            Expect::Revision(r) => format!("rev:{r}"),
            Expect::Absent => "absent".to_owned(),
        }
    }

    fn decode(s: &str) -> Option<Expect> {
        match s {
            "absent" => Some(Expect::Absent),
            _ => s
                .strip_prefix("rev:")
                .map(|r| Expect::Revision(r.to_owned())),
        }
    }
}

/// One change request, as stored.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: u64,
    pub flag: Vec<u8>,
    pub proposer: String,
    pub comment: String,
    /// What it changes, as text (the commands).
    pub what: String,
    /// Before the commands in the audit ("create", "copy from staging").
    pub note: String,
    pub created: i64,
    pub expect: Expect,
    /// pending, applied, rejected, stale, refused
    pub state: String,
    pub approvers: Vec<String>,
    /// Who rejected it, or why it was not applied.
    pub outcome: String,
    pub decided: i64,
    commands: Vec<Vec<Vec<u8>>>,
}

impl Request {
    pub fn pending(&self) -> bool {
        self.state == "pending"
    }

    /// The commands to apply.
    pub fn cmds(&self) -> Vec<Cmd> {
        self.commands
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| {
                let mut cmd = redis::cmd(&String::from_utf8_lossy(&c[0]));
                for a in &c[1..] {
                    cmd.arg(a.as_slice());
                }
                cmd
            })
            .collect()
    }

    fn from_hash(id: u64, v: &Value) -> Option<Request> {
        let items = list(v);
        if items.is_empty() {
            return None;
        }
        let mut get = std::collections::HashMap::new();
        for kv in items.chunks(2) {
            if let (Some(k), Some(v)) = (kv.first().and_then(bytes), kv.get(1).and_then(bytes)) {
                get.insert(k, v);
            }
        }
        let text = |k: &str| {
            get.get(k.as_bytes())
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let commands: Vec<Vec<String>> = serde_json::from_str(&text("commands")).ok()?;
        let commands = commands
            .into_iter()
            .map(|c| c.iter().map(|a| unhex(a)).collect::<Option<Vec<_>>>())
            .collect::<Option<Vec<_>>>()?;
        Some(Request {
            id,
            flag: get.get(&b"flag"[..]).cloned()?,
            proposer: text("proposer"),
            comment: text("comment"),
            what: text("what"),
            note: text("note"),
            created: text("created").parse().unwrap_or(0),
            expect: Expect::decode(&text("expect"))?,
            state: text("state"),
            approvers: text("approvers")
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            outcome: text("outcome"),
            decided: text("decided").parse().unwrap_or(0),
            commands,
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How a decision went.
pub enum Decision {
    /// Recorded; more approvals needed (how many now).
    Approved(usize),
    /// The last approval: applied.
    Applied,
    /// The flag changed since the proposal: marked stale, not applied.
    Stale,
    /// The module refused (some of) it: marked refused, with why.
    Refused(String),
    Rejected,
    /// Not pending any more, or this user may not (why).
    NotAllowed(String),
}

impl Store {
    /// A connection of its own to the requests' server (for `WATCH`).
    async fn dedicated(&self) -> Result<redis::aio::MultiplexedConnection, RedisError> {
        let node = self.node_for(INDEX).await?;
        node.client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(super::TIMEOUT)
                    .set_response_timeout(super::TIMEOUT),
            )
            .await
    }

    /// A pipeline (atomic or not) on the requests' server: its replies.
    async fn atomic(&self, pipe: &redis::Pipeline) -> Result<Vec<Value>, RedisError> {
        let mut con = self.dedicated().await?;
        pipe.query_async(&mut con).await
    }

    /// Stores a change request; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn propose(
        &self,
        flag: &[u8],
        proposer: &str,
        comment: &str,
        note: &str,
        expect: Expect,
        cmds: &[Cmd],
        what: Option<&str>,
    ) -> Result<Result<u64, String>, RedisError> {
        let commands: Vec<Vec<String>> = cmds
            .iter()
            .map(|c| {
                c.args_iter()
                    .filter_map(|a| match a {
                        redis::Arg::Simple(b) => Some(hex(b)),
                        redis::Arg::Cursor => None,
                    })
                    .collect()
            })
            .collect();
        let commands = serde_json::to_string(&commands).unwrap_or_default();
        if commands.len() > MAX_COMMANDS_BYTES {
            return Ok(Err(format!(
                "this change is too large for a change request ({} MB at most): split it",
                MAX_COMMANDS_BYTES >> 20
            )));
        }
        let mine = self
            .requests()
            .await?
            .iter()
            .filter(|r| r.pending() && r.proposer == proposer)
            .count();
        if mine >= MAX_PENDING_PER_USER {
            return Ok(Err(format!(
                "you have {mine} change requests waiting: let them be decided (or withdraw some) first"
            )));
        }
        let id: u64 = match self.write_one(NEXT, redis::cmd("INCR").arg(NEXT)).await? {
            Value::Int(i) if i > 0 => i as u64,
            _ => return Ok(Err("unexpected reply to INCR".into())),
        };
        let created = now_ms();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("HSET")
            .arg(key_of(id))
            .arg("flag")
            .arg(flag)
            .arg("proposer")
            .arg(proposer)
            .arg("comment")
            .arg(audit::clean_comment(comment))
            .arg("what")
            .arg(what.map_or_else(|| audit::describe(cmds), str::to_owned))
            .arg("note")
            .arg(note)
            .arg("created")
            .arg(created)
            .arg("expect")
            .arg(expect.encode())
            .arg("state")
            .arg("pending")
            .arg("approvers")
            .arg("")
            .arg("commands")
            .arg(commands);
        pipe.cmd("ZADD").arg(INDEX).arg(created).arg(id);
        self.atomic(&pipe).await?;
        Ok(Ok(id))
    }

    /// One request.
    pub async fn request(&self, id: u64) -> Result<Option<Request>, RedisError> {
        let v = self
            .query(INDEX, redis::cmd("HGETALL").arg(key_of(id)))
            .await?;
        Ok(Request::from_hash(id, &v))
    }

    /// The newest requests (at most [`MAX_LISTED`]), newest first.
    pub async fn requests(&self) -> Result<Vec<Request>, RedisError> {
        let ids = self
            .query(
                INDEX,
                redis::cmd("ZREVRANGE")
                    .arg(INDEX)
                    .arg(0)
                    .arg(MAX_LISTED - 1),
            )
            .await?;
        let ids: Vec<u64> = list(&ids)
            .iter()
            .filter_map(bytes)
            .filter_map(|b| String::from_utf8(b).ok()?.parse().ok())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Every field but the commands (up to MAX_COMMANDS_BYTES each): a
        // list reads what it shows.
        let mut pipe = redis::pipe();
        for id in &ids {
            let mut c = redis::cmd("HMGET");
            c.arg(key_of(*id));
            for f in LISTED_FIELDS {
                c.arg(f);
            }
            pipe.add_command(c);
        }
        let replies = self.atomic(&pipe).await?;
        Ok(ids
            .iter()
            .zip(replies.iter())
            .filter_map(|(id, v)| {
                let flat: Vec<Value> = LISTED_FIELDS
                    .iter()
                    .zip(list(v))
                    .flat_map(|(k, v)| [Value::BulkString(k.as_bytes().to_vec()), v.clone()])
                    .chain([
                        Value::BulkString(b"commands".to_vec()),
                        Value::BulkString(b"[]".to_vec()),
                    ])
                    .collect();
                Request::from_hash(*id, &Value::Array(flat))
            })
            .collect())
    }

    /// Sets a request's fields if it is still in state `from` (a
    /// compare-and-set under `WATCH`); false when it is not any more.
    async fn transition(
        &self,
        id: u64,
        from: &str,
        fields: &[(&str, String)],
    ) -> Result<bool, RedisError> {
        self.transition_from(id, from, None, fields).await
    }

    /// [`Store::transition`], also only if the approvers are still `seen`
    /// (two approvals at once: neither is lost).
    async fn transition_from(
        &self,
        id: u64,
        from: &str,
        seen: Option<&str>,
        fields: &[(&str, String)],
    ) -> Result<bool, RedisError> {
        let key = key_of(id);
        let mut con = self.dedicated().await?;
        redis::cmd("WATCH")
            .arg(&key)
            .query_async::<()>(&mut con)
            .await?;
        let (state, approvers): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&key)
            .arg("state")
            .arg("approvers")
            .query_async(&mut con)
            .await?;
        if state.as_deref() != Some(from)
            || seen.is_some_and(|s| approvers.as_deref().unwrap_or("") != s)
        {
            redis::cmd("UNWATCH").query_async::<()>(&mut con).await?;
            return Ok(false);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut h = redis::cmd("HSET");
        h.arg(&key);
        for (k, v) in fields {
            h.arg(*k).arg(v);
        }
        pipe.add_command(h);
        let r: Option<Vec<Value>> = pipe.query_async(&mut con).await?;
        Ok(r.is_some())
    }

    /// `who` approves (or rejects) request `id`: an approval by its
    /// proposer is refused; the `needed`th approval applies it.
    pub async fn decide(
        &self,
        id: u64,
        who: &str,
        approve: bool,
        needed: usize,
        audit_length: usize,
    ) -> Result<Decision, RedisError> {
        // A few rounds: another process approving at the same time makes
        // a compare-and-set fail; it is tried again on the new state.
        for _ in 0..8 {
            let Some(r) = self.request(id).await? else {
                return Ok(Decision::NotAllowed("no such change request".into()));
            };
            if !r.pending() {
                return Ok(Decision::NotAllowed(format!(
                    "change request #{id} is {} already",
                    r.state
                )));
            }
            if !approve {
                let done = self
                    .transition(
                        id,
                        "pending",
                        &[
                            ("state", "rejected".into()),
                            ("outcome", format!("rejected by {who}")),
                            ("decided", now_ms().to_string()),
                        ],
                    )
                    .await?;
                if done {
                    return Ok(Decision::Rejected);
                }
                continue;
            }
            if r.proposer == who {
                return Ok(Decision::NotAllowed(
                    "you proposed this change: another writer must approve it".into(),
                ));
            }
            if r.approvers.iter().any(|a| a == who) {
                return Ok(Decision::NotAllowed(
                    "you approved this change already".into(),
                ));
            }
            let mut approvers = r.approvers.clone();
            approvers.push(who.to_owned());
            if approvers.len() < needed.max(1) {
                if self
                    .transition_from(
                        id,
                        "pending",
                        Some(&r.approvers.join(",")),
                        &[("approvers", approvers.join(","))],
                    )
                    .await?
                {
                    return Ok(Decision::Approved(approvers.len()));
                }
                continue;
            }
            // The last approval: this process takes the request (pending
            // → applying) before it applies it.
            if !self
                .transition_from(
                    id,
                    "pending",
                    Some(&r.approvers.join(",")),
                    &[
                        ("state", "applying".into()),
                        ("approvers", approvers.join(",")),
                    ],
                )
                .await?
            {
                continue;
            }
            return self.apply(&r, approvers, audit_length).await;
        }
        Ok(Decision::NotAllowed(
            "too many decisions at once: try again".into(),
        ))
    }

    async fn apply(
        &self,
        r: &Request,
        approvers: Vec<String>,
        audit_length: usize,
    ) -> Result<Decision, RedisError> {
        let a = Audit {
            user: r.proposer.clone(),
            comment: r.comment.clone(),
            note: r.note.clone(),
            request: Some(r.id.to_string()),
            approvers: approvers.clone(),
            length: audit_length,
            what: Some(r.what.clone()),
        };
        let expected = match &r.expect {
            Expect::Revision(v) => Some(v.as_str()),
            Expect::Absent => None,
        };
        // The history names the proposer, the request and its approvers:
        // `hanoi-web:<proposer>:cr-<id>:by-<approver>,<approver>`.
        let client = format!("{}:cr-{}:by-{}", r.proposer, r.id, approvers.join(","));
        let outcome = self.write(&client, &r.flag, expected, &r.cmds(), &a).await;
        let (state, text, decision) = match outcome {
            Ok(WriteOutcome::Conflict) => (
                "stale",
                "the flag changed since it was proposed: not applied".to_owned(),
                Decision::Stale,
            ),
            Ok(WriteOutcome::Done(results)) => {
                let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                if errors.is_empty() {
                    (
                        "applied",
                        format!("applied, approved by {}", approvers.join(", ")),
                        Decision::Applied,
                    )
                } else {
                    let e = errors.join("; ");
                    ("refused", format!("refused: {e}"), Decision::Refused(e))
                }
            }
            Err(e) => {
                // Not applied (Redis unreachable): pending again.
                self.transition(r.id, "applying", &[("state", "pending".into())])
                    .await
                    .ok();
                return Err(e);
            }
        };
        self.transition(
            r.id,
            "applying",
            &[
                ("state", state.to_owned()),
                ("outcome", text),
                ("decided", now_ms().to_string()),
            ],
        )
        .await?;
        Ok(decision)
    }
}
