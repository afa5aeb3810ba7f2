//! The flag as a Redis key: TYPE, SCAN, DEL, EXPIRE, RENAME, COPY,
//! DUMP/RESTORE, MEMORY USAGE, key positions, keyspace events, and the
//! commands inside MULTI/EXEC, pipelines and Lua.

mod common;

use common::{err_b, int, ok, ok_b, query, run, snapshot, Server};
use redis::Value;

fn define(con: &mut redis::Connection, key: &str) {
    ok(con, &["HANOI.DEFINE", key, "PERCENTAGE", "50", "VARIANTS", "2", "a", "b"]);
    int(con, &["HANOI.REGISTER", key, "USER", "u1", "u2"]);
    int(con, &["HANOI.REGISTER", key, "REGEX", "^vip-"]);
}

fn enabled(con: &mut redis::Connection, key: &str, id: &str) -> i64 {
    int(con, &["HANOI.ENABLED", key, id])
}

#[test]
fn a_flag_is_a_redis_key() {
    let s = Server::start(&[]);
    let mut con = s.con();
    define(&mut con, "flags:a");
    define(&mut con, "flags:b");
    ok(&mut con, &["SET", "plain", "x"]);
    assert_eq!(query::<String>(&mut con, &["TYPE", "flags:a"]), "hanoiflag");
    let (_, mut keys): (String, Vec<String>) =
        query(&mut con, &["SCAN", "0", "COUNT", "1000", "TYPE", "hanoiflag"]);
    keys.sort();
    assert_eq!(keys, ["flags:a", "flags:b"]);
    assert_eq!(int(&mut con, &["EXISTS", "flags:a"]), 1);
    assert!(int(&mut con, &["MEMORY", "USAGE", "flags:a"]) > 0);

    // COPY, RENAME, DUMP/RESTORE keep every answer.
    let snap = snapshot(&mut con, "flags:a");
    assert_eq!(int(&mut con, &["COPY", "flags:a", "flags:copy"]), 1);
    assert_eq!(snapshot(&mut con, "flags:copy"), snap);
    // The copy is independent.
    int(&mut con, &["HANOI.REGISTER", "flags:copy", "USER", "u3"]);
    assert_eq!(enabled(&mut con, "flags:copy", "u3"), 1);
    assert_eq!(snapshot(&mut con, "flags:a"), snap);
    ok(&mut con, &["RENAME", "flags:copy", "flags:renamed"]);
    assert_eq!(enabled(&mut con, "flags:renamed", "u3"), 1);
    let dump: Vec<u8> = query(&mut con, &["DUMP", "flags:a"]);
    ok_b(&mut con, ("RESTORE", "flags:restored", 0, &dump));
    assert_eq!(snapshot(&mut con, "flags:restored"), snap);
    // A corrupted or truncated payload is an error, and the server lives.
    let mut bad = dump.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    err_b(&mut con, ("RESTORE", "flags:bad", 0, &bad));
    err_b(&mut con, ("RESTORE", "flags:bad", 0, &dump[..dump.len() - 12]));
    assert_eq!(query::<String>(&mut con, &["PING"]), "PONG");

    // EXPIRE and DEL.
    assert_eq!(int(&mut con, &["PEXPIRE", "flags:b", "50"]), 1);
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert_eq!(enabled(&mut con, "flags:b", "u1"), 0);
    assert_eq!(int(&mut con, &["DEL", "flags:renamed"]), 1);
    assert_eq!(enabled(&mut con, "flags:renamed", "u3"), 0);
}

#[test]
fn key_positions_and_command_flags() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let getkeys = |con: &mut redis::Connection, args: &[&str]| -> Vec<String> {
        query(con, ("COMMAND", "GETKEYS", args))
    };
    let keys = getkeys(&mut con, &["HANOI.MENABLED", "user1", "k1", "k2", "k3"]);
    assert_eq!(keys, ["k1", "k2", "k3"]);
    let keys = getkeys(&mut con, &["HANOI.ENABLED", "flag", "user1"]);
    assert_eq!(keys, ["flag"]);
    let keys = getkeys(&mut con, &["HANOI.REGISTER", "flag", "USER", "a", "b"]);
    assert_eq!(keys, ["flag"]);
    let info = run(&mut con, &["COMMAND", "INFO", "hanoi.enabled", "hanoi.register"]).unwrap();
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
    assert!(write.contains("write") && write.contains("denyoom"), "{write}");
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
        let _ = run(&mut con, args);
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
