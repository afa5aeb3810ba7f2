//! An in-process `Rollout` kept in sync with Redis from keyspace events:
//! the app evaluates locally, in nanoseconds, and still follows every change.
//!
//! The server needs keyspace events for module writes (`d`), generic
//! commands (`g`: DEL, RENAME, COPY, RESTORE) and expiry (`x`), e.g.
//! `notify-keyspace-events Kgxd`.
//!
//!     cargo run --example follow -- redis://127.0.0.1:6379/
#![allow(dead_code)]

use std::time::Duration;

use hanoi_core::{codec, Rollout};

/// A local copy of every flag of database 0.
pub struct Follower {
    pub rollout: Rollout,
    con: redis::Connection,
}

impl Follower {
    /// Loads every flag (`SCAN ... TYPE hanoiflag`, then `HANOI.EXPORT`).
    /// Subscribe before calling this, so no change falls between the two.
    pub fn load(client: &redis::Client) -> redis::RedisResult<Follower> {
        let mut f = Follower {
            rollout: Rollout::new(),
            con: client.get_connection()?,
        };
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .arg("TYPE")
                .arg("hanoiflag")
                .query(&mut f.con)?;
            for k in keys {
                f.refresh(&k)?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(f)
    }

    /// Re-reads one key: the flag as it is now, or gone.
    pub fn refresh(&mut self, key: &[u8]) -> redis::RedisResult<()> {
        let r: redis::RedisResult<Option<Vec<u8>>> =
            redis::cmd("HANOI.EXPORT").arg(key).query(&mut self.con);
        match r {
            Ok(Some(bytes)) => match codec::from_bytes(&bytes) {
                Ok(flag) => self.rollout.insert(key, flag),
                Err(_) => {
                    self.rollout.remove(key);
                }
            },
            // Missing, or now a key of another type.
            Ok(None) | Err(_) => {
                self.rollout.remove(key);
            }
        }
        Ok(())
    }

    /// Applies the events waiting on `pubsub` (subscribed with
    /// [`Follower::subscribe`]) until none arrives for `quiet`.
    pub fn apply_events(
        &mut self,
        pubsub: &mut redis::PubSub,
        quiet: Duration,
    ) -> redis::RedisResult<usize> {
        pubsub.set_read_timeout(Some(quiet))?;
        let mut n = 0;
        while let Ok(msg) = pubsub.get_message() {
            // Channel: __keyspace@0__:<key>
            let channel = msg.get_channel_name().as_bytes().to_vec();
            if let Some(key) = channel.strip_prefix(b"__keyspace@0__:".as_slice()) {
                self.refresh(key)?;
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn subscribe(pubsub: &mut redis::PubSub) -> redis::RedisResult<()> {
        pubsub.psubscribe("__keyspace@0__:*")
    }
}

fn main() -> redis::RedisResult<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
    let client = redis::Client::open(url)?;
    let mut sub = client.get_connection()?;
    let mut pubsub = sub.as_pubsub();
    Follower::subscribe(&mut pubsub)?;
    let mut f = Follower::load(&client)?;
    println!("following {} flags", f.rollout.names().count());
    loop {
        let n = f.apply_events(&mut pubsub, Duration::from_secs(1))?;
        if n > 0 {
            println!(
                "{n} changes applied; cdc_on for 443301: {}",
                f.rollout.is_enabled("cdc_on", Some(b"443301"))
            );
        }
    }
}
