//! The flag as a Redis key: TYPE, SCAN, DEL, EXPIRE, RENAME, COPY,
//! DUMP/RESTORE, MEMORY USAGE, key positions, keyspace events, and the
//! commands inside MULTI/EXEC, pipelines and Lua.

mod common;

use common::{snapshot, Server};
use redis::Value;

fn define(con: &mut redis::Connection, key: &str) {
    let () = redis::cmd("HANOI.DEFINE")
        .arg(key)
        .arg(&["PERCENTAGE", "50", "VARIANTS", "2", "a", "b"])
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("HANOI.REGISTER")
        .arg(key)
        .arg(&["USER", "u1", "u2"])
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("HANOI.REGISTER")
        .arg(key)
        .arg(&["REGEX", "^vip-"])
        .query(con)
        .unwrap();
}

fn enabled(con: &mut redis::Connection, key: &str, id: &str) -> i64 {
    redis::cmd("HANOI.ENABLED")
        .arg(key)
        .arg(id)
        .query(con)
        .unwrap()
}

#[test]
fn a_flag_is_a_redis_key() {
    let s = Server::start(&[]);
    let mut con = s.con();
    define(&mut con, "flags:a");
    define(&mut con, "flags:b");
    let () = redis::cmd("SET")
        .arg("plain")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let t: String = redis::cmd("TYPE").arg("flags:a").query(&mut con).unwrap();
    assert_eq!(t, "hanoiflag");
    let (_, mut keys): (String, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(1000)
        .arg("TYPE")
        .arg("hanoiflag")
        .query(&mut con)
        .unwrap();
    keys.sort();
    assert_eq!(keys, ["flags:a", "flags:b"]);
    let n: i64 = redis::cmd("EXISTS").arg("flags:a").query(&mut con).unwrap();
    assert_eq!(n, 1);
    let mem: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("flags:a")
        .query(&mut con)
        .unwrap();
    assert!(mem > 0);

    // COPY, RENAME, DUMP/RESTORE keep every answer.
    let snap = snapshot(&mut con, "flags:a");
    let n: i64 = redis::cmd("COPY")
        .arg("flags:a")
        .arg("flags:copy")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(snapshot(&mut con, "flags:copy"), snap);
    // The copy is independent.
    let _: i64 = redis::cmd("HANOI.REGISTER")
        .arg("flags:copy")
        .arg(&["USER", "u3"])
        .query(&mut con)
        .unwrap();
    assert_eq!(enabled(&mut con, "flags:copy", "u3"), 1);
    assert_eq!(snapshot(&mut con, "flags:a"), snap);
    let () = redis::cmd("RENAME")
        .arg("flags:copy")
        .arg("flags:renamed")
        .query(&mut con)
        .unwrap();
    assert_eq!(enabled(&mut con, "flags:renamed", "u3"), 1);
    let dump: Vec<u8> = redis::cmd("DUMP").arg("flags:a").query(&mut con).unwrap();
    let () = redis::cmd("RESTORE")
        .arg("flags:restored")
        .arg(0)
        .arg(&dump)
        .query(&mut con)
        .unwrap();
    assert_eq!(snapshot(&mut con, "flags:restored"), snap);
    // A corrupted or truncated payload is an error, and the server lives.
    let mut bad = dump.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    let r: redis::RedisResult<()> = redis::cmd("RESTORE")
        .arg("flags:bad")
        .arg(0)
        .arg(&bad)
        .query(&mut con);
    assert!(r.is_err());
    let r: redis::RedisResult<()> = redis::cmd("RESTORE")
        .arg("flags:bad")
        .arg(0)
        .arg(&dump[..dump.len() - 12])
        .query(&mut con);
    assert!(r.is_err());
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");

    // EXPIRE and DEL.
    let n: i64 = redis::cmd("PEXPIRE")
        .arg("flags:b")
        .arg(50)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert_eq!(enabled(&mut con, "flags:b", "u1"), 0);
    let n: i64 = redis::cmd("DEL")
        .arg("flags:renamed")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(enabled(&mut con, "flags:renamed", "u3"), 0);
}

#[test]
fn key_positions_and_command_flags() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "HANOI.MENABLED", "user1", "k1", "k2", "k3"])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["k1", "k2", "k3"]);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "HANOI.ENABLED", "flag", "user1"])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["flag"]);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "HANOI.REGISTER", "flag", "USER", "a", "b"])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["flag"]);
    let info: Value = redis::cmd("COMMAND")
        .arg(&["INFO", "hanoi.enabled", "hanoi.register"])
        .query(&mut con)
        .unwrap();
    let text = format!("{info:?}");
    let flags = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(a) => match &a[2] {
                Value::Array(f) => f.iter().map(|x| format!("{x:?}")).collect(),
                _ => vec![],
            },
            _ => vec![],
        }
    };
    let Value::Array(cmds) = info else {
        panic!("{text}")
    };
    let read = flags(&cmds[0]).join(" ");
    let write = flags(&cmds[1]).join(" ");
    assert!(read.contains("readonly") && read.contains("fast"), "{read}");
    assert!(
        write.contains("write") && write.contains("denyoom"),
        "{write}"
    );
}

#[test]
fn writes_notify_and_no_ops_stay_silent() {
    let s = Server::start(&["--notify-keyspace-events", "Ed"]);
    let mut con = s.con();
    let mut sub = s.con();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:hanoi.*").unwrap();
    pubsub
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let writes: &[(&[&str], &str)] = &[
        (&["HANOI.DEFINE", "f", "PERCENTAGE", "10"], "hanoi.define"),
        (&["HANOI.DEFINE", "f", "PERCENTAGE", "10"], ""),
        (&["HANOI.REGISTER", "f", "USER", "1"], "hanoi.register"),
        (&["HANOI.REGISTER", "f", "USER", "1"], ""),
        (&["HANOI.REGISTER", "f", "REGEX", "^x"], "hanoi.register"),
        (&["HANOI.UNREGISTER", "f", "USER", "1"], "hanoi.unregister"),
        (&["HANOI.UNREGISTER", "f", "REGEX", "^nope"], ""),
        (&["HANOI.BLOCK", "f", "2"], "hanoi.block"),
        (&["HANOI.UNBLOCK", "f", "2"], "hanoi.unblock"),
        (&["HANOI.UNBLOCK", "f", "2"], ""),
        (&["HANOI.DISABLE", "f"], "hanoi.disable"),
        (&["HANOI.DISABLE", "f"], ""),
        (&["HANOI.ENABLE", "f"], "hanoi.enable"),
        (&["HANOI.TOGGLE", "f"], "hanoi.toggle"),
        (&["HANOI.PERCENTAGE", "f", "20"], "hanoi.percentage"),
        (&["HANOI.PERCENTAGE", "f", "20"], ""),
        (&["HANOI.PERCENTAGE", "f", "x"], ""),
    ];
    for (args, _) in writes {
        let mut c = redis::cmd(args[0]);
        c.arg(&args[1..]);
        let _: redis::RedisResult<Value> = c.query(&mut con);
    }
    let expected: Vec<&str> = writes
        .iter()
        .map(|w| w.1)
        .filter(|e| !e.is_empty())
        .collect();
    for want in expected {
        let msg = pubsub.get_message().expect("event");
        assert_eq!(msg.get_channel_name(), format!("__keyevent@0__:{want}"));
        assert_eq!(msg.get_payload::<String>().unwrap(), "f");
    }
    // Nothing else arrives: the no-ops raised no event.
    pubsub
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    assert!(pubsub.get_message().is_err());
}

#[test]
fn multi_exec_pipeline_and_lua() {
    let s = Server::start(&[]);
    let mut con = s.con();
    define(&mut con, "flags:page");
    // MULTI/EXEC
    let (a, b, c): (i64, i64, Option<String>) = redis::pipe()
        .atomic()
        .cmd("HANOI.REGISTER")
        .arg(&["flags:page", "USER", "m1"])
        .cmd("HANOI.ENABLED")
        .arg(&["flags:page", "m1"])
        .cmd("HANOI.VARIANT")
        .arg(&["flags:page", "m1"])
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b), (1, 1));
    assert!(c.is_some());
    // A plain pipeline.
    let (x, y, z): (i64, i64, Vec<i64>) = redis::pipe()
        .cmd("HANOI.ENABLED")
        .arg(&["flags:page", "u1"])
        .cmd("HANOI.ENABLED")
        .arg(&["flags:page", "nobody-here-0"])
        .cmd("HANOI.MENABLED")
        .arg(&["vip-7", "flags:page", "flags:none"])
        .query(&mut con)
        .unwrap();
    assert_eq!((x, z.clone()), (1, vec![1, 0]));
    assert!(y == 0 || y == 1);
    // Lua
    let on: i64 = redis::Script::new("return redis.call('HANOI.ENABLED', KEYS[1], ARGV[1])")
        .key("flags:page")
        .arg("u2")
        .invoke(&mut con)
        .unwrap();
    assert_eq!(on, 1);
    let v: Vec<Value> = redis::Script::new(
        "redis.call('HANOI.BLOCK', KEYS[1], ARGV[1]) \
         return {redis.call('HANOI.ENABLED', KEYS[1], ARGV[1]), redis.call('HANOI.VARIANT', KEYS[1], 'u2')}",
    )
    .key("flags:page")
    .arg("u1")
    .invoke(&mut con)
    .unwrap();
    assert_eq!(v[0], Value::Int(0));
    assert!(matches!(v[1], Value::BulkString(_)));
}
