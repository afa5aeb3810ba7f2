//! What the hardening review asked for, end to end: ACL categories, WATCH
//! and client-side caching only on real changes, kill switches at
//! maxmemory, digests that tell flags apart, Redis-strict integers, the id
//! cap of regexes, and EXPORT's header.

mod common;

use common::{bulk_b, err, int, ok, query, run, snapshot, Server};
use redis::Value;

/// Is the server one whose module API has ACL categories (Redis 7.2+,
/// Valkey 8)? Read from `INFO server`, not from the module.
fn has_acl_api(con: &mut redis::Connection) -> bool {
    let info: String = query(con, ("INFO", "server"));
    if info.contains("server_name:valkey") {
        return true;
    }
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .expect("redis_version in INFO");
    let mut parts = version
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (7, 2)
}

fn login(s: &Server, user: &str) -> redis::Connection {
    let mut con = s.con();
    ok(&mut con, &["AUTH", user, "pw"]);
    con
}

#[test]
fn acl_categories_where_the_server_has_them() {
    let s = Server::start(&[]);
    let mut admin = s.con();
    ok(&mut admin, &["HANOI.DEFINE", "flags:f", "PERCENTAGE", "100", "VARIANTS", "1", "v"]);
    ok(&mut admin, &["HANOI.DEFINE", "other:g", "PERCENTAGE", "100"]);
    ok(&mut admin, &["ACL", "SETUSER", "app", "on", ">pw", "+@read", "~flags:*"]);
    let mut app = login(&s, "app");
    if has_acl_api(&mut admin) {
        ok(&mut admin, &["ACL", "SETUSER", "ops", "on", ">pw", "+@hanoi", "~*"]);
        let cats: Vec<String> = query(&mut admin, ("ACL", "CAT"));
        assert!(cats.iter().any(|c| c == "hanoi"), "{cats:?}");
        // +@read ~flags:* evaluates, reads, and cannot write.
        assert_eq!(int(&mut app, &["HANOI.ENABLED", "flags:f", "1"]), 1);
        assert_eq!(bulk_b(&mut app, ("HANOI.VARIANT", "flags:f", "1")), Some(b"v".to_vec()));
        let _: Vec<i64> = query(&mut app, ("HANOI.MENABLED", "1", "flags:f"));
        let _: Value = query(&mut app, ("HANOI.EXPLAIN", "flags:f", "1"));
        let _: Value = query(&mut app, ("HANOI.GET", "flags:f"));
        for write in [
            &["HANOI.DISABLE", "flags:f"][..],
            &["HANOI.DEFINE", "flags:new"],
            &["HANOI.REGISTER", "flags:f", "USER", "1"],
            // Counts are writes too: a reader cannot reset, inflate or
            // refresh them (issue 30).
            &["HANOI.TALLY", "flags:f", "RESET"],
            &["HANOI.TALLY", "flags:f", "1000", "1000"],
            &["HANOI.IMPORT", "flags:f", "x"],
        ] {
            assert!(err(&mut app, write).starts_with("NOPERM"), "{write:?}");
        }
        assert!(err(&mut app, &["HANOI.ENABLED", "other:g", "1"]).starts_with("NOPERM"));
        // STATS stays a read, without RESET; the counts are untouched.
        assert!(err(&mut app, &["HANOI.STATS", "flags:f", "RESET"]).contains("HANOI.TALLY"));
        let stats: Vec<Value> = query(&mut app, ("HANOI.STATS", "flags:f"));
        let at = stats
            .iter()
            .position(|v| *v == Value::BulkString(b"evaluations".to_vec()));
        assert_eq!(at.map(|i| &stats[i + 1]), Some(&Value::Int(4)), "{stats:?}");
        // +@hanoi grants every HANOI command, and nothing else.
        let mut ops = login(&s, "ops");
        ok(&mut ops, &["HANOI.DISABLE", "other:g"]);
        assert_eq!(int(&mut ops, &["HANOI.REGISTER", "other:g", "USER", "7"]), 1);
        assert_eq!(int(&mut ops, &["HANOI.ENABLED", "other:g", "7"]), 0);
        assert!(err(&mut ops, &["SET", "x", "1"]).starts_with("NOPERM"));
        // The categories as COMMAND INFO shows them.
        let info = format!(
            "{:?}",
            query::<Value>(
                &mut admin,
                ("COMMAND", "INFO", "hanoi.enabled", "hanoi.toggle", "hanoi.tally")
            )
        );
        for cat in ["@read", "@fast", "@write", "@hanoi"] {
            assert!(info.contains(cat), "{cat} missing from {info}");
        }
    } else {
        // Redis 7.0: no API; +@read does not cover module commands, a grant
        // by name does, and the module said so in the log.
        assert!(err(&mut app, &["HANOI.ENABLED", "flags:f", "1"]).starts_with("NOPERM"));
        ok(
            &mut admin,
            &["ACL", "SETUSER", "app", "+hanoi.enabled", "+hanoi.variant", "+hanoi.menabled"],
        );
        assert_eq!(int(&mut app, &["HANOI.ENABLED", "flags:f", "1"]), 1);
        assert!(err(&mut app, &["HANOI.DISABLE", "flags:f"]).starts_with("NOPERM"));
        assert!(err(&mut admin, &["ACL", "SETUSER", "x", "+@hanoi"]).contains("Unknown"));
        assert!(
            s.log()
                .contains("cannot put module commands in ACL categories"),
            "{}",
            s.log()
        );
    }
}

/// Runs `write` from another client between WATCH and EXEC on `key`:
/// does the transaction still commit?
fn exec_survives(s: &Server, key: &str, write: &[&str]) -> bool {
    let mut watcher = s.con();
    let mut other = s.con();
    ok(&mut watcher, &["WATCH", key]);
    let _ = run(&mut other, write);
    ok(&mut watcher, &["MULTI"]);
    let _ = run(&mut watcher, &["PING"]);
    !matches!(run(&mut watcher, &["EXEC"]), Ok(Value::Nil))
}

#[test]
fn writes_that_change_nothing_abort_no_watch() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "DISABLED", "PERCENTAGE", "5"]);
    int(&mut con, &["HANOI.REGISTER", "f", "USER", "known"]);
    int(&mut con, &["HANOI.BLOCK", "f", "bad"]);
    ok(&mut con, &["SET", "str", "x"]);
    #[rustfmt::skip]
    let unchanged: &[(&str, &[&str])] = &[
        ("f", &["HANOI.REGISTER", "f", "USER", "known"]),
        ("f", &["HANOI.DISABLE", "f"]),
        ("f", &["HANOI.DEFINE", "f", "DISABLED", "PERCENTAGE", "5"]),
        ("f", &["HANOI.UNREGISTER", "f", "USER", "absent"]),
        ("f", &["HANOI.UNREGISTER", "f", "REGEX", "absent"]),
        ("f", &["HANOI.UNBLOCK", "f", "absent"]),
        ("f", &["HANOI.PERCENTAGE", "f", "5"]),
        ("f", &["HANOI.REGISTER", "f", "REGEX", "("]),
        ("f", &["HANOI.PERCENTAGE", "f", "101"]),
        ("missing", &["HANOI.REGISTER", "missing", "USER", "1"]),
        ("missing", &["HANOI.ENABLE", "missing"]),
        ("str", &["HANOI.REGISTER", "str", "USER", "1"]),
        ("str", &["HANOI.DEFINE", "str"]),
    ];
    for (key, write) in unchanged {
        let before = run(&mut con, &["HANOI.GET", key]);
        assert!(exec_survives(&s, key, write), "{write:?} aborted a WATCH on {key}");
        assert_eq!(run(&mut con, &["HANOI.GET", key]), before, "{write:?}");
    }
    #[rustfmt::skip]
    let changed: &[(&str, &[&str])] = &[
        ("f", &["HANOI.REGISTER", "f", "USER", "new"]),
        ("f", &["HANOI.ENABLE", "f"]),
        ("f", &["HANOI.DEFINE", "f", "PERCENTAGE", "6"]),
        ("f", &["HANOI.UNBLOCK", "f", "bad"]),
        ("f", &["HANOI.TOGGLE", "f"]),
        ("g", &["HANOI.DEFINE", "g"]),
    ];
    for (key, write) in changed {
        assert!(!exec_survives(&s, key, write), "{write:?} did not abort a WATCH on {key}");
    }
}

#[test]
fn client_side_caching_is_invalidated_only_by_real_changes() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "5"]);
    ok(&mut con, &["HANOI.DEFINE", "g"]);
    int(&mut con, &["HANOI.REGISTER", "f", "USER", "known"]);
    // A subscriber gets the invalidations of a tracking client (RESP2 redirect).
    let mut sub = s.con();
    let sub_id: i64 = query(&mut sub, ("CLIENT", "ID"));
    let _: Value = query(&mut sub, ("SUBSCRIBE", "__redis__:invalidate"));
    let mut reader = s.con();
    ok(&mut reader, &["CLIENT", "TRACKING", "on", "REDIRECT", &sub_id.to_string()]);
    int(&mut reader, &["HANOI.ENABLED", "f", "1"]);
    int(&mut reader, &["HANOI.ENABLED", "g", "1"]);
    // No-op and failing writes on f, then a real change on g: the first
    // invalidation must be g's.
    int(&mut con, &["HANOI.REGISTER", "f", "USER", "known"]);
    ok(&mut con, &["HANOI.PERCENTAGE", "f", "5"]);
    let _ = run(&mut con, &["HANOI.REGISTER", "f", "REGEX", "("]);
    ok(&mut con, &["HANOI.PERCENTAGE", "g", "9"]);
    let first = sub.recv_response().expect("an invalidation");
    let Value::Array(parts) = &first else {
        panic!("not a message: {first:?}");
    };
    assert_eq!(parts.get(1), Some(&Value::BulkString(b"__redis__:invalidate".to_vec())));
    assert_eq!(
        parts.get(2),
        Some(&Value::Array(vec![Value::BulkString(b"g".to_vec())])),
        "{first:?}"
    );
}

#[test]
fn kill_switches_work_at_maxmemory() {
    let s = Server::start(&["--maxmemory-policy", "noeviction"]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "50"]);
    int(&mut con, &["HANOI.REGISTER", "f", "USER", "1", "2"]);
    int(&mut con, &["HANOI.REGISTER", "f", "REGEX", "^x"]);
    int(&mut con, &["HANOI.BLOCK", "f", "3"]);
    ok(&mut con, &["CONFIG", "SET", "maxmemory", "1"]);
    ok(&mut con, &["HANOI.DISABLE", "f"]);
    assert_eq!(int(&mut con, &["HANOI.TOGGLE", "f"]), 1);
    ok(&mut con, &["HANOI.PERCENTAGE", "f", "0"]);
    assert_eq!(int(&mut con, &["HANOI.UNREGISTER", "f", "USER", "1"]), 1);
    assert_eq!(int(&mut con, &["HANOI.UNREGISTER", "f", "REGEX", "^x"]), 1);
    assert_eq!(int(&mut con, &["HANOI.UNBLOCK", "f", "3"]), 1);
    ok(&mut con, &["HANOI.ENABLE", "f"]);
    for grow in [
        &["HANOI.DEFINE", "g"][..],
        &["HANOI.REGISTER", "f", "USER", "9"],
        &["HANOI.BLOCK", "f", "9"],
    ] {
        assert!(err(&mut con, grow).starts_with("OOM"), "{grow:?}");
    }
    ok(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
}

#[test]
fn digests_tell_flags_apart() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "a", "SALT", "x"]);
    int(&mut con, &["HANOI.REGISTER", "a", "REGEX", "y"]);
    ok(&mut con, &["HANOI.DEFINE", "c"]);
    int(&mut con, &["HANOI.REGISTER", "c", "REGEX", "SALT", "x", "y"]);
    let (_, da) = snapshot(&mut con, "a");
    let (_, dc) = snapshot(&mut con, "c");
    assert_ne!(da, dc);
    // Users and blocked ids with the same bytes differ too.
    ok(&mut con, &["HANOI.DEFINE", "u"]);
    int(&mut con, &["HANOI.REGISTER", "u", "USER", "ab"]);
    ok(&mut con, &["HANOI.DEFINE", "b"]);
    int(&mut con, &["HANOI.BLOCK", "b", "ab"]);
    assert_ne!(snapshot(&mut con, "u").1, snapshot(&mut con, "b").1);
    // And a copy of a flag (same data, history included) has its digest.
    assert_eq!(int(&mut con, &["COPY", "a", "a2"]), 1);
    assert_eq!(snapshot(&mut con, "a2").1, da);
}

#[test]
fn integers_are_parsed_as_redis_parses_them() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "0"]);
    let before = snapshot(&mut con, "f");
    #[rustfmt::skip]
    let bad: &[(&[&str], &str)] = &[
        (&["HANOI.PERCENTAGE", "f", "+5"], "ERR percentage must be an integer between 0 and 100"),
        (&["HANOI.PERCENTAGE", "f", "05"], "ERR percentage must be"),
        (&["HANOI.PERCENTAGE", "f", "+0"], "ERR percentage must be"),
        (&["HANOI.PERCENTAGE", "f", "-0"], "ERR percentage must be"),
        (&["HANOI.PERCENTAGE", "f", " 5"], "ERR percentage must be"),
        (&["HANOI.DEFINE", "f", "PERCENTAGE", "+5"], "ERR percentage must be"),
        (&["HANOI.DEFINE", "f", "VARIANTS", "+2", "a", "b"], "ERR VARIANTS count must be a non-negative integer, got '+2'"),
        (&["HANOI.DEFINE", "f", "VARIANTS", "02", "a", "b"], "ERR VARIANTS count must be a non-negative integer, got '02'"),
        (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "+1", "1"], "ERR weight must be an integer greater than 0"),
        (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "01", "1"], "ERR weight must be"),
    ];
    for (args, want) in bad {
        let e = err(&mut con, args);
        assert!(e.starts_with(want), "{args:?}: got '{e}', want '{want}'");
        assert_eq!(snapshot(&mut con, "f"), before, "{args:?} changed the flag");
    }
    ok(&mut con, &["HANOI.PERCENTAGE", "f", "5"]);
    ok(&mut con, &["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "10", "1"]);
}

#[test]
fn regexes_see_ids_of_at_most_1024_bytes() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f"]);
    int(&mut con, &["HANOI.REGISTER", "f", "REGEX", "^a"]);
    let edge = "a".repeat(1024);
    let over = "a".repeat(1025);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", &edge]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", &over]), 0);
    let e: Vec<Value> = query(&mut con, ("HANOI.EXPLAIN", "f", &over));
    assert_eq!(e[2], Value::SimpleString("outside".into()));
    // A long id (with hanoi.max-id-bytes raised) still works as a
    // registered user.
    ok(&mut con, &["CONFIG", "SET", "hanoi.max-id-bytes", "2048"]);
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "f", "USER", &over]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", &over]), 1);
    // Removing regexes reports what was removed.
    assert_eq!(int(&mut con, &["HANOI.UNREGISTER", "f", "REGEX", "^a", "^a", "nope"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", &edge]), 0);
}

#[test]
fn export_bytes_start_with_magic_and_version() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "30"]);
    let bytes = bulk_b(&mut con, ("HANOI.EXPORT", "f")).expect("bytes");
    assert_eq!(&bytes[..8], b"hanoiflg");
    assert_eq!(bytes[8..16], (hanoi_core::codec::ENCODING_VERSION as u64).to_le_bytes());
    let flag = hanoi_core::codec::from_bytes(&bytes).expect("loads");
    assert_eq!(flag.definition().percentage, 30);
}
