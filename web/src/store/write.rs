//! A UI user's write: on a connection of its own, named after the user,
//! `WATCH` the key, check the flag's version, then `MULTI` ... `EXEC`.

use super::read::version_on;
use super::{error_text, Store, TIMEOUT};
use redis::aio::ConnectionLike;
use redis::{Cmd, RedisError, Value};

pub enum WriteOutcome {
    /// EXEC ran: the reply of each command (errors included).
    Done(Vec<Result<Value, String>>),
    /// The flag changed since the form was rendered (or during the save).
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

async fn write_on(
    client: &redis::Client,
    user: &str,
    key: &[u8],
    expected: Option<Option<&str>>,
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
