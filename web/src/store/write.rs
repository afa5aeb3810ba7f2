//! A UI user's write: on a connection of its own, named after the user,
//! `WATCH` the key, check the flag's version, then `MULTI` ... `EXEC`; and
//! a copy between environments, one `HANOI.IMPORT` under `WATCH`.

use super::read::{version_on, FlagView};
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
    ) -> Result<WriteOutcome, RedisError> {
        self.write_checked(user, key, Some(expected), cmds).await
    }

    /// [`Store::write`] without the version check: for writes whose meaning
    /// does not depend on what the page showed (removing ids ticked on a
    /// page); `MULTI`/`EXEC` and the user's name as for every write.
    pub async fn write_any(
        &self,
        user: &str,
        key: &[u8],
        cmds: &[Cmd],
    ) -> Result<WriteOutcome, RedisError> {
        self.write_checked(user, key, None, cmds).await
    }

    /// A copy onto this environment for a UI user: on a connection of its
    /// own named as for [`Store::write`], `WATCH key`, read the target's
    /// flag (`HANOI.EXPORT key NOIDS`; None: no such key), check its
    /// revision is still `expected` (None: the key must not exist), then
    /// `HANOI.IMPORT key blob IDS <ids>` alone in `MULTI`/`EXEC`: one
    /// command, applied whole or refused whole by the module.
    pub async fn import(
        &self,
        user: &str,
        key: &[u8],
        expected: Option<&str>,
        blob: &[u8],
        ids: &str,
    ) -> Result<ImportOutcome, RedisError> {
        let node = self.node_for(key).await?;
        let r = import_on(&node.client, user, key, expected, blob, ids).await;
        if r.is_err() {
            self.forget_topology().await;
        }
        r
    }

    async fn write_checked(
        &self,
        user: &str,
        key: &[u8],
        expected: Option<Option<&str>>,
        cmds: &[Cmd],
    ) -> Result<WriteOutcome, RedisError> {
        let node = self.node_for(key).await?;
        let r = write_on(&node.client, user, key, expected, cmds).await;
        if r.is_err() {
            self.forget_topology().await;
        }
        r
    }
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

async fn import_on(
    client: &redis::Client,
    user: &str,
    key: &[u8],
    expected: Option<&str>,
    blob: &[u8],
    ids: &str,
) -> Result<ImportOutcome, RedisError> {
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
        .and_then(FlagView::from_bytes)
        .map(|f| f.version());
    if version.as_deref() != expected {
        redis::cmd("UNWATCH").query_async::<()>(&mut con).await?;
        return Ok(ImportOutcome::Conflict);
    }
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("HANOI.IMPORT")
        .arg(key)
        .arg(blob)
        .arg("IDS")
        .arg(ids);
    let replies = con.req_packed_commands(&pipe, 2, 1).await?;
    Ok(match replies.into_iter().next() {
        Some(Value::Array(items)) => match items.into_iter().next() {
            Some(v) => match v.extract_error() {
                Ok(_) => ImportOutcome::Done,
                Err(e) => ImportOutcome::Refused(error_text(&e)),
            },
            None => ImportOutcome::Conflict,
        },
        // EXEC answered nil: the watched key changed.
        _ => ImportOutcome::Conflict,
    })
}

async fn write_on(
    client: &redis::Client,
    user: &str,
    key: &[u8],
    expected: Option<Option<&str>>,
    cmds: &[Cmd],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        assert_eq!(client_name("al ice"), "hanoi-web:al_ice");
    }
}
