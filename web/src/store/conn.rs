//! One Redis server: a shared, self-reconnecting connection made on first
//! use, and the client that opens dedicated connections for writes.

use super::TIMEOUT;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Pipeline, RedisError, Value};
use std::sync::Arc;
use tokio::sync::Mutex;

/// One Redis server: a shared, self-reconnecting connection, and the
/// client that opens dedicated connections for writes.
pub struct Node {
    pub(super) client: redis::Client,
    shared: Mutex<Option<ConnectionManager>>,
    /// When the last attempt to connect failed: for a second after, callers
    /// get the error at once instead of queueing behind another attempt.
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Node {
    pub(super) fn new(client: redis::Client) -> Arc<Node> {
        Arc::new(Node {
            client,
            shared: Mutex::new(None),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    /// The shared connection, made on first use (and again after a failed
    /// start): the server starts and keeps running while Redis is down.
    pub(super) async fn con(&self) -> Result<ConnectionManager, RedisError> {
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

    pub(super) async fn pipeline(
        &self,
        pipe: &Pipeline,
        n: usize,
    ) -> Result<Vec<Value>, RedisError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut con = self.con().await?;
        con.req_packed_commands(pipe, 0, n).await
    }
}
