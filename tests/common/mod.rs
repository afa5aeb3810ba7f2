//! Test harness: [`Server`] (`server.rs`, a real `redis-server` with the
//! freshly built module, shared with hanoi-web's suites) and the helpers the
//! module's suites send commands with.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use hanoi_core::reply::Reply;

mod process;
mod server;
#[allow(unused_imports)]
pub use process::server_binary;
pub use server::Server;

// One command, one line.
//
// `int(&mut con, &["HANOI.ENABLED", "f", "1"])` sends a command (its name
// first) and checks the kind of reply; the reply or error is returned. The
// `_b` forms take any arguments redis-rs can send: a `&[&[u8]]` of byte
// strings, or a tuple mixing strings, bytes, numbers and lists (a list of ids
// is one argument per id), e.g. `("HANOI.REGISTER", key, "USER", &ids[..10])`.
// Every helper takes a plain, RESP3 or cluster connection.

/// A connection the helpers can use: plain, RESP3 or cluster.
pub type Con = dyn redis::ConnectionLike;

/// An error's full text as the server sent it: "ERR ...", "WRONGTYPE ...",
/// "NOPERM ..." (redis-rs keeps the code apart from the rest).
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => e.to_string(),
    }
}

/// Arguments for a panic message: lossy, long ones cut.
fn show(args: &[Vec<u8>]) -> String {
    let one = |a: &Vec<u8>| {
        let text = String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned();
        if a.len() > 40 {
            format!("{text}...({} bytes)", a.len())
        } else {
            text
        }
    };
    args.iter().map(one).collect::<Vec<_>>().join(" ")
}

fn send(con: &mut Con, args: &[Vec<u8>]) -> Result<redis::Value, String> {
    let mut c = redis::Cmd::new();
    c.arg(args);
    c.query::<redis::Value>(con).map_err(|e| error_text(&e))
}

/// Runs a command; an error comes back as its full text ("ERR ...").
pub fn run(con: &mut Con, args: &[&str]) -> Result<redis::Value, String> {
    run_b(con, args)
}

/// [`run`] with any arguments (bytes, numbers, lists of ids).
pub fn run_b(con: &mut Con, args: impl redis::ToRedisArgs) -> Result<redis::Value, String> {
    send(con, &args.to_redis_args())
}

/// The server's clock (`TIME`) in Unix ms.
pub fn server_ms(con: &mut Con) -> u64 {
    let (s, us): (u64, u64) = query(con, ("TIME",));
    s * 1000 + us / 1000
}

/// A command that must answer OK.
pub fn ok(con: &mut Con, args: &[&str]) {
    ok_b(con, args)
}

pub fn ok_b(con: &mut Con, args: impl redis::ToRedisArgs) {
    let args = args.to_redis_args();
    match send(con, &args) {
        Ok(redis::Value::Okay) => {}
        other => panic!("{}: expected OK, got {other:?}", show(&args)),
    }
}

/// A command that must answer an integer.
pub fn int(con: &mut Con, args: &[&str]) -> i64 {
    int_b(con, args)
}

pub fn int_b(con: &mut Con, args: impl redis::ToRedisArgs) -> i64 {
    let args = args.to_redis_args();
    match send(con, &args) {
        Ok(redis::Value::Int(i)) => i,
        other => panic!("{}: expected an integer, got {other:?}", show(&args)),
    }
}

/// A command that must answer a UTF-8 bulk string or nil.
pub fn bulk(con: &mut Con, args: &[&str]) -> Option<String> {
    bulk_b(con, args).map(|b| String::from_utf8(b).expect("a UTF-8 reply"))
}

/// A command that must answer a bulk string (any bytes) or nil.
pub fn bulk_b(con: &mut Con, args: impl redis::ToRedisArgs) -> Option<Vec<u8>> {
    let args = args.to_redis_args();
    match send(con, &args) {
        Ok(redis::Value::BulkString(b)) => Some(b),
        Ok(redis::Value::Nil) => None,
        other => panic!("{}: expected a bulk string or nil, got {other:?}", show(&args)),
    }
}

/// A command that must fail: its error's full text.
pub fn err(con: &mut Con, args: &[&str]) -> String {
    err_b(con, args)
}

pub fn err_b(con: &mut Con, args: impl redis::ToRedisArgs) -> String {
    let args = args.to_redis_args();
    match send(con, &args) {
        Err(e) => e,
        Ok(v) => panic!("{}: expected an error, got {v:?}", show(&args)),
    }
}

/// A command whose reply converts to `T` (a `String`, `Vec<String>`, a
/// tuple...); panics with the error otherwise.
pub fn query<T: redis::FromRedisValue>(con: &mut Con, args: impl redis::ToRedisArgs) -> T {
    let args = args.to_redis_args();
    let mut c = redis::Cmd::new();
    c.arg(&args);
    c.query(con)
        .unwrap_or_else(|e| panic!("{}: {}", show(&args), error_text(&e)))
}

/// A small deterministic PRNG (xorshift64*), so tests need no extra crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A mix of ids: numeric user ids, UUID-like, non-ASCII and binary.
pub fn random_id(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => format!(
            "{:08x}-{:04x}-4{:03x}",
            rng.next() as u32,
            rng.below(1 << 16),
            rng.below(1 << 12)
        )
        .into_bytes(),
        1 => format!("usuario-ñ-{}", rng.below(1000)).into_bytes(),
        2 => (0..rng.below(6)).map(|_| rng.next() as u8).collect(),
        _ => (100_000 + rng.below(999_999_900_000))
            .to_string()
            .into_bytes(),
    }
}

/// `HANOI.GET` and `DEBUG DIGEST-VALUE` of a key: what must not change
/// after a refused write.
pub fn snapshot(con: &mut redis::Connection, key: &str) -> (redis::Value, redis::Value) {
    let get = run(con, &["HANOI.GET", key]).expect("HANOI.GET");
    let digest = run(con, &["DEBUG", "DIGEST-VALUE", key]).expect("DEBUG DIGEST-VALUE");
    (get, digest)
}

/// Answers of a flag for many ids, in one pipeline: EXPLAIN for each id
/// (enabled, variant, reason, detail).
pub fn answers(con: &mut redis::Connection, key: &str, ids: &[Vec<u8>]) -> Vec<redis::Value> {
    let mut p = redis::pipe();
    for id in ids {
        p.cmd("HANOI.EXPLAIN").arg(key).arg(id);
    }
    p.query(con).expect("pipeline of HANOI.EXPLAIN")
}

/// Builds a flag with `n` registered ids, regexes, blocks, weighted
/// variants and a salt; returns 10k ids to sample it with (half registered).
pub fn build_big_flag(con: &mut redis::Connection, key: &str, n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed | 1);
    let salt = format!("salt-{seed}");
    #[rustfmt::skip]
    ok(con, &["HANOI.DEFINE", key, "PERCENTAGE", "35", "VARIANTS", "3", "control", "red", "blue", "WEIGHTS", "50", "30", "20", "SALT", &salt]);
    let ids: Vec<Vec<u8>> = (0..n).map(|_| random_id(&mut rng)).collect();
    for batch in ids.chunks(10_000) {
        int_b(con, ("HANOI.REGISTER", key, "USER", batch));
    }
    int(con, &["HANOI.REGISTER", key, "REGEX", "^9{3}", "@example\\.com$", "ñ"]);
    let blocked: Vec<&Vec<u8>> = ids.iter().step_by(97).collect();
    int_b(con, ("HANOI.BLOCK", key, blocked));
    (0..10_000)
        .map(|i| {
            if i % 2 == 0 {
                ids[rng.below(n as u64) as usize].clone()
            } else {
                random_id(&mut rng)
            }
        })
        .collect()
}

/// Waits until no background save or AOF rewrite is running.
pub fn wait_persistence_idle(con: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info: String = query(con, &["INFO", "persistence"]);
        let busy =
            ["rdb_bgsave_in_progress:1", "aof_rewrite_in_progress:1", "aof_rewrite_scheduled:1"]
                .iter()
                .any(|s| info.contains(s));
        if !busy {
            return;
        }
        assert!(Instant::now() < deadline, "background persistence did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A reply from redis-rs as the core's [`Reply`] (for its decoders).
pub fn to_reply(v: redis::Value) -> Reply {
    let key = |k: redis::Value| match to_reply(k) {
        Reply::Bulk(b) => b,
        Reply::Simple(s) => s.into_bytes(),
        k => panic!("a map key that is no string: {k:?}"),
    };
    match v {
        redis::Value::Nil => Reply::Nil,
        redis::Value::Int(i) => Reply::Int(i),
        redis::Value::Boolean(b) => Reply::Int(i64::from(b)),
        redis::Value::BulkString(b) => Reply::Bulk(b),
        redis::Value::SimpleString(s) => Reply::Simple(s),
        redis::Value::Okay => Reply::Simple("OK".into()),
        redis::Value::Array(a) | redis::Value::Set(a) => {
            Reply::Array(a.into_iter().map(to_reply).collect())
        }
        redis::Value::Map(m) => {
            Reply::Map(m.into_iter().map(|(k, v)| (key(k), to_reply(v))).collect())
        }
        v => panic!("unexpected reply {v:?}"),
    }
}
