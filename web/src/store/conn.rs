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
    /// When the last attempt to connect failed (none since it), and whether
    /// it was slow (not a refusal). Until an attempt succeeds, one caller
    /// at a time tries and the others get the error at once; for a second
    /// after a slow failure, nobody tries.
    failed_at: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
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
        let asked = std::time::Instant::now();
        let failed = || self.failed_at.lock().ok().and_then(|t| *t);
        let unreachable =
            || RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        // Since a failed attempt: no queue behind a dead server. A refused
        // attempt is cheap, so the next caller tries again (the first
        // request once Redis is back connects); a slow one (a host that
        // does not answer) is not tried again for a second.
        let mut slot = match failed() {
            None => self.shared.lock().await,
            Some((at, true)) if at.elapsed() < std::time::Duration::from_secs(1) => {
                return Err(unreachable())
            }
            Some(_) => match self.shared.try_lock() {
                Ok(slot) => slot,
                Err(_) => return Err(unreachable()),
            },
        };
        if let Some((generation, c)) = slot.as_ref() {
            return Ok((*generation, c.clone()));
        }
        // A caller that waited for the lock while another one's attempt
        // failed does not try again in turn: no queue of attempts.
        if failed().is_some_and(|(at, _)| at >= asked) {
            return Err(unreachable());
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
                    *t = Some((std::time::Instant::now(), !e.is_connection_refusal()));
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
    /// restart succeeds:
    /// - refused: nothing was sent. The connection's own reconnection gave
    ///   up during an outage and keeps that error: it is forgotten, and a
    ///   new one made at once (refused again at once while Redis is still
    ///   down). Reads and writes alike;
    /// - timed out (a slow server, or a reconnection to a host that does
    ///   not answer): not sent again, as a slow server is not asked twice,
    ///   but the connection is forgotten, so the next request connects
    ///   afresh;
    /// - dropped under the request (Redis restarted since the last one):
    ///   a read is sent again; a write is not (Redis may have run it).
    async fn again(&self, e: &RedisError, generation: u64, read: bool) -> bool {
        if e.is_connection_refusal() {
            self.forget(generation).await;
            return true;
        }
        if e.is_timeout() {
            self.forget(generation).await;
            return false;
        }
        read && dropped(e)
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
            Err(e) if self.again(&e, generation, true).await => {
                let (_, mut con) = self.con().await?;
                con.req_packed_commands(pipe, 0, n).await
            }
            other => other,
        }
    }

    /// One command; `read`: sent once more on a broken connection, else
    /// only when it was not sent ([`Node::again`]).
    pub(super) async fn command(&self, cmd: &redis::Cmd, read: bool) -> Result<Value, RedisError> {
        let (generation, mut con) = self.con().await?;
        match con.req_packed_command(cmd).await {
            Err(e) if self.again(&e, generation, read).await => {
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
