//! An in-process `Rollout` kept in sync with Redis from keyspace events:
//! the app evaluates locally, in nanoseconds, and still follows every change.
//!
//! The server needs keyspace events for module writes (`d`), generic
//! commands (`g`: DEL, RENAME, COPY, RESTORE) and expiry (`x`), e.g.
//! `notify-keyspace-events Kgxd`.
//!
//! Only a definite answer removes a local flag: the key is missing, or holds
//! another type, or its bytes do not decode. A lost connection keeps every
//! flag as it was; the follower reconnects (a bounded backoff), subscribes
//! again and reloads every flag, so changes made meanwhile are not missed.
//!
//!     cargo run --example follow -- redis://127.0.0.1:6379/
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use hanoi_core::{codec, quote, Rollout};
use redis::{ErrorKind, RedisError, RedisResult};

/// Keyspace events of database 0.
const PATTERN: &str = "__keyspace@0__:*";
const CHANNEL_PREFIX: &[u8] = b"__keyspace@0__:";
/// Connecting, and waiting for any one reply.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How often the event thread looks whether it should stop.
const POLL: Duration = Duration::from_millis(100);

/// How often, and how patiently, a lost connection is tried again: waits
/// of `first`, doubled up to `max`, for at most `tries` attempts.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub tries: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Retry {
    /// 8 tries, about 5 seconds of waiting in all.
    fn default() -> Self {
        Retry {
            tries: 8,
            first: Duration::from_millis(50),
            max: Duration::from_secs(2),
        }
    }
}

/// No answer about any key: the connection failed, timed out or was
/// refused, or the server is still loading its data.
pub fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || matches!(
            e.kind(),
            ErrorKind::BusyLoadingError | ErrorKind::ParseError
        )
}

/// A local copy of every flag of database 0.
pub struct Follower {
    pub rollout: Rollout,
    pub retry: Retry,
    client: redis::Client,
    con: redis::Connection,
    events: Events,
    /// The connection was lost: events may have been missed, so the next
    /// [`Follower::apply_events`] reconnects and reloads everything first.
    lost: bool,
}

impl Follower {
    /// Subscribes to keyspace events, then loads every flag: no change can
    /// fall between the two.
    pub fn start(client: &redis::Client) -> RedisResult<Follower> {
        let events = Events::subscribe(client)?;
        let mut f = Follower {
            rollout: Rollout::new(),
            retry: Retry::default(),
            client: client.clone(),
            con: connect(client)?,
            events,
            lost: false,
        };
        f.resync()?;
        Ok(f)
    }

    /// Is the follower in touch with the server? When it is not, its flags
    /// are the last ones it saw.
    pub fn is_connected(&self) -> bool {
        !self.lost
    }

    /// Loads every flag (`SCAN ... TYPE hanoiflag`, then `HANOI.EXPORT`) and
    /// drops the local flags whose keys are gone. Returns the number of flags.
    pub fn resync(&mut self) -> RedisResult<usize> {
        let mut seen = HashSet::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .arg("TYPE")
                .arg("hanoiflag")
                .query(&mut self.con)
                .map_err(|e| self.failed(e))?;
            for k in keys {
                self.refresh(&k)?;
                seen.insert(k);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        // The scan is complete: a local flag it did not see is gone.
        let gone: Vec<Vec<u8>> = self
            .rollout
            .names()
            .filter(|name| !seen.contains(*name))
            .map(<[u8]>::to_vec)
            .collect();
        for name in gone {
            self.rollout.remove(name);
        }
        Ok(seen.len())
    }

    /// Re-reads one key: the flag as it is now, or gone. A connection error
    /// changes nothing (it is returned, and the follower will resync).
    pub fn refresh(&mut self, key: &[u8]) -> RedisResult<()> {
        let r: RedisResult<Option<Vec<u8>>> =
            redis::cmd("HANOI.EXPORT").arg(key).query(&mut self.con);
        match r {
            Ok(Some(bytes)) => match codec::from_bytes(&bytes) {
                Ok(flag) => self.rollout.insert(key, flag),
                Err(e) => {
                    eprintln!(
                        "follow: dropping flag {}: its export does not decode: {e}",
                        quote(key)
                    );
                    self.rollout.remove(key);
                }
            },
            // No such key.
            Ok(None) => {
                self.rollout.remove(key);
            }
            // The key now holds another type.
            Err(e) if e.code() == Some("WRONGTYPE") => {
                self.rollout.remove(key);
            }
            Err(e) => return Err(self.failed(e)),
        }
        Ok(())
    }

    /// Applies the events that arrive until none comes for `quiet`, and
    /// returns how many. After a lost connection it first reconnects and
    /// resyncs; if that fails within [`Follower::retry`], the error is
    /// returned and every local flag stays as it was.
    pub fn apply_events(&mut self, quiet: Duration) -> RedisResult<usize> {
        if self.lost {
            self.reconnect()?;
        }
        let mut n = 0;
        loop {
            match self.events.next(quiet) {
                Ok(Some(key)) => match self.refresh(&key) {
                    Ok(()) => n += 1,
                    Err(_) if self.lost => self.reconnect()?,
                    Err(e) => return Err(e),
                },
                Ok(None) => return Ok(n),
                Err(e) => {
                    eprintln!("follow: keyspace events lost ({e}); reconnecting");
                    self.lost = true;
                    self.reconnect()?;
                }
            }
        }
    }

    /// Notes a connection error (the next call resyncs); passes `e` on.
    fn failed(&mut self, e: RedisError) -> RedisError {
        if is_connection_error(&e) {
            self.lost = true;
        }
        e
    }

    /// Subscribes again, reconnects and resyncs, with a bounded backoff.
    /// Until it succeeds the follower stays "lost": the flags it has are
    /// kept and the next call tries again.
    fn reconnect(&mut self) -> RedisResult<()> {
        self.lost = true;
        let mut wait = self.retry.first;
        let mut tries = 1;
        loop {
            match self.try_reconnect() {
                Ok(()) => {
                    self.lost = false;
                    return Ok(());
                }
                Err(e) if !is_connection_error(&e) || tries >= self.retry.tries => return Err(e),
                Err(_) => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(self.retry.max);
                    tries += 1;
                }
            }
        }
    }

    fn try_reconnect(&mut self) -> RedisResult<()> {
        // Subscribed first, so no change falls between the resync and the events.
        self.events = Events::subscribe(&self.client)?;
        self.con = connect(&self.client)?;
        self.resync()?;
        Ok(())
    }
}

fn connect(client: &redis::Client) -> RedisResult<redis::Connection> {
    let con = client.get_connection_with_timeout(TIMEOUT)?;
    con.set_read_timeout(Some(TIMEOUT))?;
    con.set_write_timeout(Some(TIMEOUT))?;
    Ok(con)
}

/// The keys named by keyspace events, read by a thread of its own (a
/// subscribed connection only listens). The thread ends when this is
/// dropped or its connection fails.
struct Events {
    keys: Receiver<RedisResult<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl Events {
    /// Returns once the subscription is active.
    fn subscribe(client: &redis::Client) -> RedisResult<Events> {
        let mut con = client.get_connection_with_timeout(TIMEOUT)?;
        con.set_read_timeout(Some(TIMEOUT))?;
        let (ready_tx, ready) = mpsc::channel();
        let (tx, keys) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut pubsub = con.as_pubsub();
            let subscribed = pubsub
                .psubscribe(PATTERN)
                .and_then(|()| pubsub.set_read_timeout(Some(POLL)));
            let ok = subscribed.is_ok();
            let _ = ready_tx.send(subscribed);
            while ok && !stopped.load(Ordering::Relaxed) {
                let sent = match pubsub.get_message() {
                    Ok(msg) => {
                        // Channel: __keyspace@0__:<key>, the key any bytes.
                        let channel: Vec<u8> = msg.get_channel().unwrap_or_default();
                        match channel.strip_prefix(CHANNEL_PREFIX) {
                            Some(key) => tx.send(Ok(key.to_vec())),
                            None => Ok(()),
                        }
                    }
                    Err(e) if e.is_timeout() => Ok(()),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        match ready.recv_timeout(TIMEOUT + POLL) {
            Ok(subscribed) => subscribed?,
            Err(_) => return Err(lost("PSUBSCRIBE did not answer")),
        }
        Ok(Events { keys, stop })
    }

    /// The key of the next event; `None` when none comes within `quiet`; an
    /// error when the subscription is lost.
    fn next(&self, quiet: Duration) -> RedisResult<Option<Vec<u8>>> {
        match self.keys.recv_timeout(quiet) {
            Ok(key) => key.map(Some),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(lost("the keyspace event thread ended")),
        }
    }
}

/// A connection error of our own making.
fn lost(what: &str) -> RedisError {
    std::io::Error::new(std::io::ErrorKind::NotConnected, what.to_owned()).into()
}

impl Drop for Events {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn main() -> RedisResult<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
    let client = redis::Client::open(url)?;
    let mut f = Follower::start(&client)?;
    println!("following {} flags", f.rollout.names().count());
    loop {
        match f.apply_events(Duration::from_secs(1)) {
            Ok(0) => {}
            Ok(n) => println!(
                "{n} changes applied; cdc_on for 443301: {}",
                f.rollout.is_enabled("cdc_on", Some(b"443301"))
            ),
            Err(e) => eprintln!("follow: {e}; answering from the last known flags"),
        }
    }
}
