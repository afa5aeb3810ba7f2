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
    /// The shared connection and its generation (which one it is: a
    /// caller forgets only the one it saw fail).
    shared: Mutex<Option<(u64, ConnectionManager)>>,
    /// When the last attempt to connect failed: for a second after, callers
    /// get the error at once while another one is trying again.
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// The next shared connection's generation.
    generation: std::sync::atomic::AtomicU64,
}

impl Node {
    pub(super) fn new(client: redis::Client) -> Arc<Node> {
        Arc::new(Node {
            client,
            shared: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    /// The shared connection, made on first use (and again after a failed
    /// start): the server starts and keeps running while Redis is down.
    pub(super) async fn con(&self) -> Result<(u64, ConnectionManager), RedisError> {
        let recently_failed = || {
            self.failed_at
                .lock()
                .ok()
                .and_then(|t| *t)
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1))
        };
        let unreachable =
            || RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        // After a failed attempt, one caller at a time tries again and the
        // others get the error at once (no queue behind a dead server); the
        // first request once Redis is back connects.
        let mut slot = if recently_failed() {
            match self.shared.try_lock() {
                Ok(slot) => slot,
                Err(_) => return Err(unreachable()),
            }
        } else {
            self.shared.lock().await
        };
        if let Some((generation, c)) = slot.as_ref() {
            return Ok((*generation, c.clone()));
        }
        // One connection attempt, no retries: redis-rs waits about a second
        // between its retries, which a caller would wait on while Redis is
        // down. A request that finds the connection broken makes a new one
        // at once instead (`again`): an outage's 503s come in a moment,
        // and the first request once Redis is back is answered.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(0);
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
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *slot = Some((generation, made.clone()));
        if let Ok(mut t) = self.failed_at.lock() {
            *t = None;
        }
        Ok((generation, made))
    }

    /// Drops the shared connection `generation` (unless another caller has
    /// replaced it already): the next caller makes a new one.
    async fn forget(&self, generation: u64) {
        let mut slot = self.shared.lock().await;
        if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
            *slot = None;
        }
    }

    /// Whether a request that failed with `e` on the shared connection
    /// `generation` is sent once more, so the first request after a
    /// restart succeeds. Two ways a connection is found broken:
    /// - dropped under the request (Redis restarted since the last one);
    /// - refused: the connection's own reconnection gave up during an
    ///   outage and keeps that error. It is forgotten, and a new one made
    ///   at once (refused again at once while Redis is still down).
    ///
    /// A timeout is not sent again: a slow server is not asked twice.
    async fn again(&self, e: &RedisError, generation: u64) -> bool {
        if e.is_connection_refusal() {
            self.forget(generation).await;
            return true;
        }
        dropped(e)
    }

    /// Reads, pipelined; sent once more on a broken connection
    /// ([`Node::again`]).
    pub(super) async fn pipeline(
        &self,
        pipe: &Pipeline,
        n: usize,
    ) -> Result<Vec<Value>, RedisError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let (generation, mut con) = self.con().await?;
        match con.req_packed_commands(pipe, 0, n).await {
            Err(e) if self.again(&e, generation).await => {
                let (_, mut con) = self.con().await?;
                con.req_packed_commands(pipe, 0, n).await
            }
            other => other,
        }
    }

    /// One read; sent once more on a broken connection ([`Node::again`]).
    pub(super) async fn command(&self, cmd: &redis::Cmd) -> Result<Value, RedisError> {
        let (generation, mut con) = self.con().await?;
        match con.req_packed_command(cmd).await {
            Err(e) if self.again(&e, generation).await => {
                let (_, mut con) = self.con().await?;
                con.req_packed_command(cmd).await
            }
            other => other,
        }
    }
}

/// A connection that broke under a request (not a refused connect: that
/// one fails again at once; not a timeout: a slow server is not asked
/// twice).
fn dropped(e: &RedisError) -> bool {
    e.is_connection_dropped() || (e.is_io_error() && !e.is_connection_refusal() && !e.is_timeout())
}
