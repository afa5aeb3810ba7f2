//! A UI user's write: on a connection of its own, named after the user,
//! `WATCH` the key, check the flag's version, then `MULTI` ... `EXEC`; and
//! a copy between environments, one `HANOI.IMPORT` under `WATCH`. Each
//! with its audit entry ([`super::audit`]).

use super::audit::{self, Audit};
use super::read::{bytes, flag_from_bytes, version_on, Described};
use super::{error_text, Store, TIMEOUT};
use redis::aio::ConnectionLike;
use redis::{Cmd, RedisError, Value};

pub enum WriteOutcome {
    /// EXEC ran: the reply of each command (errors included).
    Done(Vec<Result<Value, String>>),
    /// The flag changed since the form was rendered (or during the save).
    Conflict,
}

/// What became of a [`Store::import`].
pub enum ImportOutcome {
    /// The target's flag is now the blob's (or was already).
    Done,
    /// The target refused the import, nothing changed: its `ERR` text.
    Refused(String),
    /// The flag changed since the page was shown (or during the import).
    Conflict,
}

impl Store {
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
        audit: &Audit,
    ) -> Result<WriteOutcome, RedisError> {
        self.write_checked(user, key, Some(expected), cmds, audit)
            .await
    }

    /// [`Store::write`] without the version check: for writes whose meaning
    /// does not depend on what the page showed (removing ids ticked on a
    /// page); `MULTI`/`EXEC` and the user's name as for every write.
    pub async fn write_any(
        &self,
        user: &str,
        key: &[u8],
        cmds: &[Cmd],
        audit: &Audit,
    ) -> Result<WriteOutcome, RedisError> {
        self.write_checked(user, key, None, cmds, audit).await
    }

    /// A copy onto this environment for a UI user: on a connection of its
    /// own named as for [`Store::write`], `WATCH key`, read the target's
    /// flag (`HANOI.EXPORT key NOIDS`; None: no such key), check its
    /// revision is still `expected` (None: the key must not exist), make
    /// the blob from it with `blob` (the parts of it not copied stay), then
    /// `HANOI.IMPORT key blob IDS <ids>` alone in `MULTI`/`EXEC`: one
    /// command, applied whole or refused whole by the module. `blob`'s
    /// error ends it, nothing sent.
    /// The audit entry (`audit.what`: the copy in words) as for
    /// [`Store::write`].
    pub async fn import<E>(
        &self,
        user: &str,
        key: &[u8],
        expected: Option<&str>,
        blob: impl FnOnce(Option<&[u8]>) -> Result<Vec<u8>, E>,
        ids: &str,
        audit: &Audit,
    ) -> Result<Result<ImportOutcome, E>, RedisError> {
        let node = self.node_for(key).await?;
        let inside = !self.cluster;
        let entry = audit::entry(audit, key, &[]);
        let r = import_on(
            &node.client,
            user,
            key,
            expected,
            blob,
            ids,
            inside.then_some(&entry),
        )
        .await;
        if r.is_err() {
            self.forget_topology().await;
        }
        if let (false, Ok(Ok(ImportOutcome::Done))) = (inside, &r) {
            self.audit_after(audit, key, &entry).await;
        }
        r
    }

    /// Where the audit entry is written: standalone, in the change's own
    /// `MULTI`/`EXEC` (the change and its entry, or neither). In a cluster
    /// the stream's key has a slot of its own, most often on another
    /// server: the entry is added right after the `EXEC`, on the stream's
    /// server (a failure there is logged; the change stays made).
    async fn write_checked(
        &self,
        user: &str,
        key: &[u8],
        expected: Option<Option<&str>>,
        cmds: &[Cmd],
        audit: &Audit,
    ) -> Result<WriteOutcome, RedisError> {
        let node = self.node_for(key).await?;
        let inside = !self.cluster;
        let r = write_on(
            &node.client,
            user,
            key,
            expected,
            cmds,
            inside.then_some(audit),
        )
        .await;
        if r.is_err() {
            self.forget_topology().await;
        }
        if let (false, Ok(WriteOutcome::Done(results))) = (inside, &r) {
            if let Some(entry) = entry_for(audit, key, cmds, results) {
                self.audit_after(audit, key, &entry).await;
            }
        }
        r
    }

    /// A cluster's audit entry, right after the change (see
    /// [`Store::write_checked`]).
    async fn audit_after(&self, audit: &Audit, key: &[u8], entry: &Cmd) {
        if let Err(e) = self.write_one(audit::AUDIT_KEY, entry).await {
            eprintln!(
                "hanoi-web: the audit entry of {}'s change to {} was not written: {}",
                audit.user,
                String::from_utf8_lossy(key),
                error_text(&e)
            );
        }
    }
}

/// The audit entry of a change as it went: every command applied, the
/// whole change; some refused, the applied ones and the refusals; all
/// refused, none (nothing changed).
fn entry_for(
    audit: &Audit,
    key: &[u8],
    cmds: &[Cmd],
    results: &[Result<Value, String>],
) -> Option<Cmd> {
    let refused: Vec<&str> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(String::as_str))
        .collect();
    if refused.is_empty() {
        return Some(audit::entry(audit, key, cmds));
    }
    let applied: Vec<Cmd> = cmds
        .iter()
        .zip(results)
        .filter(|(_, r)| r.is_ok())
        .map(|(c, _)| c.clone())
        .collect();
    if applied.is_empty() {
        return None;
    }
    let what = format!(
        "{} (refused in part: {})",
        audit::describe(&applied),
        refused.join("; ")
    );
    Some(audit::xadd(audit, key, &what))
}

/// A connection of its own to `client`'s server, named after `user`.
async fn user_connection(
    client: &redis::Client,
    user: &str,
) -> Result<redis::aio::MultiplexedConnection, RedisError> {
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
    Ok(con)
}

async fn import_on<E>(
    client: &redis::Client,
    user: &str,
    key: &[u8],
    expected: Option<&str>,
    blob: impl FnOnce(Option<&[u8]>) -> Result<Vec<u8>, E>,
    ids: &str,
    entry: Option<&Cmd>,
) -> Result<Result<ImportOutcome, E>, RedisError> {
    let mut con = user_connection(client, user).await?;
    redis::cmd("WATCH")
        .arg(key)
        .query_async::<()>(&mut con)
        .await?;
    let current = con
        .req_packed_command(redis::cmd("HANOI.EXPORT").arg(key).arg("NOIDS"))
        .await?
        .extract_error()?;
    let current = match current {
        Value::BulkString(b) => Some(b),
        _ => None,
    };
    let version = current
        .as_deref()
        .and_then(flag_from_bytes)
        .map(|f| f.version());
    if version.as_deref() != expected {
        redis::cmd("UNWATCH").query_async::<()>(&mut con).await?;
        return Ok(Ok(ImportOutcome::Conflict));
    }
    let blob = match blob(current.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            redis::cmd("UNWATCH").query_async::<()>(&mut con).await?;
            return Ok(Err(e));
        }
    };
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("HANOI.IMPORT")
        .arg(key)
        .arg(blob)
        .arg("IDS")
        .arg(ids);
    // The audit entry with the import, in its MULTI/EXEC.
    if let Some(e) = entry {
        pipe.add_command(e.clone());
    }
    let queued = pipe.cmd_iter().count();
    let replies = con.req_packed_commands(&pipe, queued + 1, 1).await?;
    let mut items = match replies.into_iter().next() {
        Some(Value::Array(items)) => items.into_iter(),
        // EXEC answered nil: the watched key changed.
        _ => return Ok(Ok(ImportOutcome::Conflict)),
    };
    let outcome = match items.next() {
        Some(v) => match v.extract_error() {
            Ok(_) => ImportOutcome::Done,
            Err(e) => ImportOutcome::Refused(error_text(&e)),
        },
        None => ImportOutcome::Conflict,
    };
    // Refused: nothing changed, the entry written with it goes.
    if let (ImportOutcome::Refused(_), Some(id)) = (&outcome, items.next().as_ref().and_then(bytes))
    {
        redis::cmd("XDEL")
            .arg(audit::AUDIT_KEY)
            .arg(id)
            .query_async::<()>(&mut con)
            .await?;
    }
    Ok(Ok(outcome))
}

async fn write_on(
    client: &redis::Client,
    user: &str,
    key: &[u8],
    expected: Option<Option<&str>>,
    cmds: &[Cmd],
    audit: Option<&Audit>,
) -> Result<WriteOutcome, RedisError> {
    let mut con = user_connection(client, user).await?;
    redis::cmd("WATCH")
        .arg(key)
        .query_async::<()>(&mut con)
        .await?;
    let current = version_on(&mut con, key).await?;
    if expected.is_some_and(|e| current.as_deref() != e) {
        redis::cmd("UNWATCH").query_async::<()>(&mut con).await?;
        return Ok(WriteOutcome::Conflict);
    }
    let mut pipe = redis::pipe();
    pipe.atomic();
    for c in cmds {
        pipe.add_command(c.clone());
    }
    // The audit entry, last in the MULTI: written with the change.
    if let Some(a) = audit {
        pipe.add_command(audit::entry(a, key, cmds));
    }
    let queued = pipe.cmd_iter().count();
    let replies = con.req_packed_commands(&pipe, queued + 1, 1).await?;
    let Some(Value::Array(mut items)) = replies.into_iter().next() else {
        // EXEC answered nil: a watched key changed.
        return Ok(WriteOutcome::Conflict);
    };
    let entry_id = match audit {
        Some(_) if items.len() > cmds.len() => items.pop().as_ref().and_then(bytes),
        _ => None,
    };
    let results: Vec<Result<Value, String>> = items
        .into_iter()
        .map(|v| v.extract_error().map_err(|e| error_text(&e)))
        .collect();
    // A command the module refused inside EXEC changed nothing, the others
    // did: the entry written with them is replaced by one that says so
    // (none when all were refused).
    if let (Some(a), Some(id)) = (audit, entry_id) {
        if results.iter().any(Result::is_err) {
            redis::cmd("XDEL")
                .arg(audit::AUDIT_KEY)
                .arg(id)
                .query_async::<()>(&mut con)
                .await?;
            if let Some(entry) = entry_for(a, key, cmds, &results) {
                entry.query_async::<()>(&mut con).await?;
            }
        }
    }
    Ok(WriteOutcome::Done(results))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        assert_eq!(client_name("al ice"), "hanoi-web:al_ice");
    }
}
