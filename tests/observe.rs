//! Metadata, history and evaluation counts, end to end: what they show, and
//! that history is the same on a replica, after restarts, DUMP/RESTORE and
//! COPY, while counts stay per server.

mod common;

use std::time::Duration;

use common::{err, int, int_b, ok, query, run, server_ms, snapshot, Server};
use redis::Value;

/// A flat field/value reply (RESP2 map) as pairs.
fn fields(v: &Value) -> Vec<(String, Value)> {
    let Value::Array(items) = v else {
        panic!("not a map: {v:?}")
    };
    items
        .chunks(2)
        .map(|kv| (redis::from_redis_value::<String>(&kv[0]).unwrap(), kv[1].clone()))
        .collect()
}

fn field(v: &Value, name: &str) -> Value {
    fields(v)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {v:?}"))
        .1
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        v => Some(redis::from_redis_value(v).unwrap()),
    }
}

fn history(con: &mut redis::Connection, key: &str) -> Vec<Value> {
    query(con, ("HANOI.HISTORY", key))
}

/// (user, client, command words) of each entry, newest first.
fn who_what(con: &mut redis::Connection, key: &str) -> Vec<(String, Option<String>, Vec<String>)> {
    history(con, key)
        .iter()
        .map(|e| {
            let words: Vec<String> = redis::from_redis_value(&field(e, "command")).unwrap();
            (text(&field(e, "user")).unwrap(), text(&field(e, "client")), words)
        })
        .collect()
}

#[test]
fn metadata_is_free_form_with_limits() {
    let s = Server::start(&["--hanoi.max-meta-fields", "3", "--hanoi.max-meta-value-bytes", "16"]);
    let mut con = s.con();
    let before = server_ms(&mut con);
    ok(&mut con, &["HANOI.DEFINE", "f"]);
    let after = server_ms(&mut con);
    assert_eq!(
        int(&mut con, &["HANOI.META", "f", "SET", "owner", "ana", "tags", "ui,checkout"]),
        2
    );
    assert_eq!(int(&mut con, &["HANOI.META", "f", "SET", "owner", "ana"]), 0);
    let get: Value = query(&mut con, ("HANOI.GET", "f"));
    let created: u64 = redis::from_redis_value(&field(&get, "created")).unwrap();
    assert!((before..=after).contains(&created), "{before} <= {created} <= {after}");
    let meta = fields(&field(&get, "metadata"));
    assert_eq!(meta.len(), 2);
    assert_eq!(text(&meta[0].1).as_deref(), Some("ana"));
    let snap = snapshot(&mut con, "f");
    #[rustfmt::skip]
    let bad: &[(&[&str], &str)] = &[
        (&["HANOI.META", "f", "SET", "created", "5"], "ERR 'created' is set when the flag is created"),
        (&["HANOI.META", "f", "DEL", "created"], "ERR 'created' is set when the flag is created"),
        (&["HANOI.META", "f", "SET", "owner"], "ERR META SET needs field value pairs"),
        (&["HANOI.META", "f", "SET"], "ERR wrong number of arguments"),
        (&["HANOI.META", "f", "SET", "a", "1", "b"], "ERR META SET needs field value pairs"),
        (&["HANOI.META", "f", "SET", "description", "seventeen bytes!!"], "ERR metadata value longer than 16 bytes"),
        (&["HANOI.META", "f", "SET", "a", "1", "b", "2"], "ERR too many metadata fields (limit 3"),
        (&["HANOI.META", "f", "SET", "", "1"], "ERR metadata field name must not be empty"),
        (&["HANOI.META", "f", "PUT", "a", "1"], "ERR expected SET or DEL"),
        (&["HANOI.META", "missing", "SET", "a", "1"], "ERR no such flag"),
    ];
    for (args, want) in bad {
        let e = err(&mut con, args);
        assert!(e.starts_with(want), "{args:?}: got '{e}', want '{want}'");
        assert_eq!(snapshot(&mut con, "f"), snap, "{args:?} changed the flag");
    }
    assert_eq!(int(&mut con, &["HANOI.META", "f", "DEL", "tags", "nope"]), 1);
    // The metadata is part of the digest.
    assert_ne!(snapshot(&mut con, "f").1, snap.1);
}

#[test]
fn history_says_who_changed_what_and_when() {
    let s = Server::start(&["--hanoi.history-length", "5"]);
    let mut admin = s.con();
    ok(&mut admin, &["ACL", "SETUSER", "ana", "on", ">pw", "+@all", "~*"]);
    let mut ana = s.con();
    ok(&mut ana, &["AUTH", "ana", "pw"]);
    ok(&mut ana, &["CLIENT", "SETNAME", "web:ana"]);
    let t0 = server_ms(&mut admin);
    ok(&mut admin, &["HANOI.DEFINE", "f", "PERCENTAGE", "10"]);
    ok(&mut ana, &["HANOI.DISABLE", "f"]);
    // Writes that change nothing add nothing.
    ok(&mut ana, &["HANOI.DISABLE", "f"]);
    assert_eq!(int(&mut ana, &["HANOI.UNREGISTER", "f", "USER", "nobody"]), 0);
    let _ = run(&mut ana, &["HANOI.REGISTER", "f", "REGEX", "("]);
    let ids: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
    let n: i64 = query(&mut admin, ("HANOI.REGISTER", "f", "USER", &ids));
    assert_eq!(n, 1000);
    let t1 = server_ms(&mut admin);
    let h = history(&mut admin, "f");
    assert_eq!(h.len(), 3);
    // Newest first: the long list summarised, its full count given.
    let words: Vec<String> = redis::from_redis_value(&field(&h[0], "command")).unwrap();
    assert_eq!(words[..3], ["HANOI.REGISTER", "USER", "u0"]);
    assert_eq!(words.len(), 9);
    assert_eq!(field(&h[0], "arguments"), Value::Int(1001));
    assert_eq!(text(&field(&h[0], "user")).as_deref(), Some("default"));
    assert_eq!(field(&h[0], "client"), Value::Nil);
    assert_eq!(text(&field(&h[1], "user")).as_deref(), Some("ana"));
    assert_eq!(text(&field(&h[1], "client")).as_deref(), Some("web:ana"));
    let words: Vec<String> = redis::from_redis_value(&field(&h[1], "command")).unwrap();
    assert_eq!(words, ["HANOI.DISABLE"]);
    let mut last = t1;
    for e in &h {
        let t: u64 = redis::from_redis_value(&field(e, "time")).unwrap();
        assert!(t0 <= t && t <= last, "{t0} <= {t} <= {last}");
        last = t;
    }
    // COUNT, and the bad ones.
    assert_eq!(query::<Vec<Value>>(&mut admin, ("HANOI.HISTORY", "f", "COUNT", 1)).len(), 1);
    for bad in ["0", "-1", "x", "+1"] {
        assert!(err(&mut admin, &["HANOI.HISTORY", "f", "COUNT", bad])
            .starts_with("ERR COUNT must be a positive integer"));
    }
    assert!(err(&mut admin, &["HANOI.HISTORY", "f", "LIMIT", "1"]).starts_with("ERR"));
    assert!(history(&mut admin, "missing").is_empty());
    // The last hanoi.history-length entries are kept; 0 keeps none.
    for pct in 20..25 {
        ok(&mut admin, &["HANOI.PERCENTAGE", "f", &pct.to_string()]);
    }
    let h = who_what(&mut admin, "f");
    assert_eq!(h.len(), 5);
    assert_eq!(h[0].2, ["HANOI.PERCENTAGE", "24"]);
    ok(&mut admin, &["CONFIG", "SET", "hanoi.history-length", "0"]);
    ok(&mut admin, &["HANOI.ENABLE", "f"]);
    assert!(history(&mut admin, "f").is_empty());
    // HANOI.REPLAY is not for clients: they could write history in another's name.
    assert!(err(&mut admin, &["HANOI.REPLAY", "f", "1", "x", "", "5", "HANOI.ENABLE"])
        .contains("only replays"));
    assert!(err(&mut admin, &["HANOI.LOAD", "f", "x"]).contains("only loads"));
}

/// HISTORY, GET (the revision among its fields), the digest and the
/// EXPORT bytes of each key.
fn observed(con: &mut redis::Connection, keys: &[&str]) -> Vec<(Value, Value, Value, Value)> {
    keys.iter()
        .map(|k| {
            let (get, digest) = snapshot(con, k);
            let export = query(con, ("HANOI.EXPORT", *k));
            (query(con, ("HANOI.HISTORY", *k)), get, digest, export)
        })
        .collect()
}

#[test]
fn history_is_the_same_everywhere() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut p = Server::start(&aof);
    let mut pc = p.con();
    let mut r = Server::replica_of(&p, &aof);
    let mut rc = r.con();
    for user in ["ana", "bo"] {
        ok(&mut pc, &["ACL", "SETUSER", user, "on", ">pw", "+@all", "~*"]);
    }
    let mut ana = p.con();
    ok(&mut ana, &["AUTH", "ana", "pw"]);
    ok(&mut ana, &["CLIENT", "SETNAME", "web:ana"]);
    let mut bo = p.con();
    ok(&mut bo, &["AUTH", "bo", "pw"]);
    ok(&mut bo, &["CLIENT", "SETNAME", "cli:bo"]);
    ok(&mut ana, &["HANOI.DEFINE", "f", "PERCENTAGE", "10", "VARIANTS", "2", "a", "b"]);
    int(&mut bo, &["HANOI.REGISTER", "f", "USER", "1", "2", "3"]);
    int(&mut ana, &["HANOI.META", "f", "SET", "owner", "ana", "description", "checkout v2"]);
    ok(&mut bo, &["HANOI.DISABLE", "f"]);
    int(&mut ana, &["HANOI.TOGGLE", "f"]);
    int(&mut bo, &["HANOI.REGISTER", "f", "REGEX", "^vip-"]);
    ok(&mut ana, &["HANOI.DEFINE", "g"]);
    // Enough ids, registered out of order and some removed, that their
    // table order differs after a reload: EXPORT writes them sorted.
    let ids: Vec<String> = (0..3000)
        .map(|i| format!("id{}", (i * 7919) % 3000))
        .collect();
    int_b(&mut bo, ("HANOI.REGISTER", "g", "USER", &ids));
    int_b(&mut bo, ("HANOI.UNREGISTER", "g", "USER", &ids[..1000]));
    int_b(&mut bo, ("HANOI.BLOCK", "g", &ids[2000..2100]));
    assert_eq!(int(&mut pc, &["WAIT", "1", "10000"]), 1);
    let keys = ["f", "g"];
    let want = observed(&mut pc, &keys);
    let revision = |o: &(Value, Value, Value, Value)| {
        let fields: Vec<Value> = redis::from_redis_value(&o.1).unwrap();
        let i = fields
            .iter()
            .position(|v| *v == Value::BulkString(b"revision".to_vec()))
            .unwrap();
        fields[i + 1].clone()
    };
    // f: created, then five writes that changed it; g: created, three.
    assert_eq!(revision(&want[0]), Value::Int(6));
    assert_eq!(revision(&want[1]), Value::Int(4));
    let who = who_what(&mut pc, "f");
    assert_eq!(who.len(), 6);
    assert_eq!(
        who[5],
        (
            "ana".into(),
            Some("web:ana".into()),
            vec![
                "HANOI.DEFINE".into(),
                "PERCENTAGE".into(),
                "10".into(),
                "VARIANTS".into(),
                "2".into(),
                "a".into(),
                "b".into()
            ]
        )
    );
    assert_eq!(who[2].0, "bo");
    assert_eq!(who[2].1.as_deref(), Some("cli:bo"));
    // On the replica: the primary's entries, not the replica's clock or user.
    assert_eq!(observed(&mut rc, &keys), want);
    // kill -9 and an AOF restart of each.
    drop((pc, rc, ana, bo));
    p.kill();
    r.kill();
    p.start_again();
    r.start_again();
    let mut pc = p.con();
    let mut rc = r.con();
    assert_eq!(observed(&mut pc, &keys), want, "primary after kill -9 and AOF replay");
    r.wait_synced();
    assert_eq!(observed(&mut rc, &keys), want, "replica after kill -9 and AOF replay");
    // An AOF rewrite, then a restart from it.
    run(&mut pc, &["BGREWRITEAOF"]).unwrap();
    common::wait_persistence_idle(&mut pc);
    drop(pc);
    p.shutdown("NOSAVE");
    p.start_again();
    let mut pc = p.con();
    assert_eq!(observed(&mut pc, &keys), want, "after BGREWRITEAOF and a restart");
    // DEBUG RELOAD, DUMP/RESTORE and COPY carry it too.
    ok(&mut pc, &["DEBUG", "RELOAD"]);
    assert_eq!(observed(&mut pc, &keys), want, "after DEBUG RELOAD");
    let dump: Vec<u8> = query(&mut pc, ("DUMP", "f"));
    ok(&mut pc, &["CONFIG", "SET", "appendonly", "no"]);
    let () = query(&mut pc, ("RESTORE", "f2", 0, dump));
    assert_eq!(int(&mut pc, &["COPY", "f", "f3"]), 1);
    for copy in ["f2", "f3"] {
        assert_eq!(observed(&mut pc, &[copy])[0], want[0], "{copy}");
    }
}

fn stats(con: &mut redis::Connection, key: &str) -> Value {
    query(con, ("HANOI.STATS", key))
}

fn stat(v: &Value, name: &str) -> i64 {
    redis::from_redis_value(&field(v, name)).unwrap()
}

#[test]
fn evaluation_counts_are_per_server() {
    let p = Server::start(&["--hz", "100"]);
    let mut pc = p.con();
    let r = Server::replica_of(&p, &[]);
    let mut rc = r.con();
    ok(&mut pc, &["HANOI.DEFINE", "f", "PERCENTAGE", "100", "VARIANTS", "2", "a", "b"]);
    ok(&mut pc, &["HANOI.DEFINE", "off", "DISABLED"]);
    assert_eq!(int(&mut pc, &["WAIT", "1", "10000"]), 1);
    let fresh = stats(&mut pc, "f");
    assert_eq!(stat(&fresh, "evaluations"), 0);
    assert_eq!(field(&fresh, "last_evaluated"), Value::Nil);
    let since = stat(&fresh, "since");
    let digest = snapshot(&mut pc, "f").1;
    std::thread::sleep(Duration::from_millis(50));
    for id in 0..10 {
        int(&mut pc, &["HANOI.ENABLED", "f", &id.to_string()]);
        let _: Value = query(&mut pc, ("HANOI.VARIANT", "f", id));
    }
    let _: Vec<i64> = query(&mut pc, ("HANOI.MENABLED", "7", "f", "off"));
    let _: Value = query(&mut pc, ("HANOI.EXPLAIN", "f", "7"));
    int(&mut pc, &["HANOI.ENABLED", "off", "7"]);
    std::thread::sleep(Duration::from_millis(50));
    let s = stats(&mut pc, "f");
    assert_eq!(stat(&s, "evaluations"), 22);
    assert_eq!(stat(&s, "enabled"), 22);
    let variants = fields(&field(&s, "variants"));
    let per_variant: i64 = variants
        .iter()
        .map(|(_, n)| redis::from_redis_value::<i64>(n).unwrap())
        .sum();
    assert_eq!(variants.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(per_variant, 11, "10 VARIANT and 1 EXPLAIN answers");
    assert!(stat(&s, "last_evaluated") > since);
    let off = stats(&mut pc, "off");
    assert_eq!((stat(&off, "evaluations"), stat(&off, "enabled")), (2, 0));
    // Counts are not data: the digest is the same, the replica counts nothing.
    assert_eq!(snapshot(&mut pc, "f").1, digest);
    assert_eq!(stat(&stats(&mut rc, "f"), "evaluations"), 0);
    int(&mut rc, &["HANOI.ENABLED", "f", "1"]);
    assert_eq!(stat(&stats(&mut rc, "f"), "evaluations"), 1);
    // RESET is a write: the read-only replica refuses it; on the primary
    // it touches only the primary's counts.
    assert!(err(&mut rc, &["HANOI.TALLY", "f", "RESET"]).starts_with("READONLY"));
    assert!(err(&mut rc, &["HANOI.STATS", "f", "RESET"]).contains("HANOI.TALLY key RESET"));
    ok(&mut pc, &["HANOI.TALLY", "f", "RESET"]);
    assert_eq!(stat(&stats(&mut pc, "f"), "evaluations"), 0);
    assert_eq!(stat(&stats(&mut rc, "f"), "evaluations"), 1);
    int(&mut pc, &["HANOI.ENABLED", "f", "1"]);
    int(&mut pc, &["HANOI.ENABLED", "f", "1"]);
    assert!(err(&mut pc, &["HANOI.STATS", "f", "NOW"]).starts_with("ERR expected SERIES"));
    assert_eq!(query::<Value>(&mut pc, ("HANOI.STATS", "missing")), Value::Nil);
    // Counting can be switched off.
    ok(&mut pc, &["CONFIG", "SET", "hanoi.count-evaluations", "no"]);
    int(&mut pc, &["HANOI.ENABLED", "f", "1"]);
    assert_eq!(stat(&stats(&mut pc, "f"), "evaluations"), 2);
}

#[test]
fn a_mirror_adds_its_counts_with_tally_per_server() {
    let p = Server::start(&[]);
    let mut pc = p.con();
    let r = Server::replica_of(&p, &[]);
    let mut rc = r.con();
    ok(&mut pc, &["HANOI.DEFINE", "f", "PERCENTAGE", "50", "VARIANTS", "2", "a", "b"]);
    assert_eq!(int(&mut pc, &["WAIT", "1", "10000"]), 1);
    let digest = snapshot(&mut pc, "f").1;
    let before = server_ms(&mut pc);
    ok(&mut pc, &["HANOI.TALLY", "f", "10", "6", "a", "2", "b", "4", "gone", "3"]);
    int(&mut pc, &["HANOI.ENABLED", "f", "1"]);
    let s = stats(&mut pc, "f");
    assert_eq!(stat(&s, "evaluations"), 11);
    assert!(stat(&s, "enabled") >= 6);
    let variants: Vec<(String, i64)> = fields(&field(&s, "variants"))
        .into_iter()
        .map(|(k, n)| (k, redis::from_redis_value(&n).unwrap()))
        .collect();
    assert_eq!(
        variants,
        [("a".to_owned(), 2), ("b".to_owned(), 4)],
        "a removed variant is left out"
    );
    assert!(stat(&s, "last_evaluated") as u64 >= before - 1000);
    // Not data, not replicated: the digest is the same, the replica counts
    // nothing; a write, so the read-only replica refuses it.
    assert_eq!(snapshot(&mut pc, "f").1, digest);
    assert_eq!(int(&mut pc, &["WAIT", "1", "10000"]), 1);
    assert_eq!(stat(&stats(&mut rc, "f"), "evaluations"), 0);
    assert!(err(&mut rc, &["HANOI.TALLY", "f", "5", "5"]).starts_with("READONLY"));
    assert_eq!(stat(&stats(&mut rc, "f"), "evaluations"), 0);
    assert_eq!(stat(&stats(&mut pc, "f"), "evaluations"), 11);
    // A missing flag: nil, nothing counted.
    assert_eq!(query::<Value>(&mut pc, ("HANOI.TALLY", "missing", "1", "1")), Value::Nil);
    // Bad input is refused, and counts nothing.
    for bad in [
        &["HANOI.TALLY", "f", "1", "2"][..],
        &["HANOI.TALLY", "f", "-1", "0"],
        &["HANOI.TALLY", "f", "x", "0"],
        &["HANOI.TALLY", "f", "3", "1", "a"],
        &["HANOI.TALLY", "f", "3", "1", "a", "2", "b", "2"],
        &["HANOI.TALLY", "f", "3", "1", "a", "1", "a", "1"],
        &["HANOI.TALLY", "f", "3", "1", "", "1"],
        &["HANOI.TALLY", "f", "99999999999999999999999", "1"],
    ] {
        assert!(err(&mut pc, bad).starts_with("ERR "), "{bad:?}");
    }
    err(&mut pc, &["HANOI.TALLY", "f", "1"]);
    let many: Vec<String> = (0..600).map(|i| format!("v{}", i / 2)).collect();
    let mut args = vec!["HANOI.TALLY", "f", "1", "1"];
    args.extend(many.iter().map(String::as_str));
    assert!(err(&mut pc, &args).contains("too many variants"));
    assert_eq!(stat(&stats(&mut pc, "f"), "evaluations"), 11);
    ok(&mut pc, &["SET", "plain", "x"]);
    assert!(err(&mut pc, &["HANOI.TALLY", "plain", "1", "1"]).starts_with("WRONGTYPE"));
    // Counting switched off: accepted, not counted.
    ok(&mut pc, &["CONFIG", "SET", "hanoi.count-evaluations", "no"]);
    ok(&mut pc, &["HANOI.TALLY", "f", "7", "0"]);
    assert_eq!(stat(&stats(&mut pc, "f"), "evaluations"), 11);
}

/// `HANOI.STATS key SERIES`'s periods: (start, evaluations, enabled).
fn periods(v: &Value, name: &str) -> Vec<(i64, i64, i64)> {
    let Value::Array(items) = field(v, name) else {
        panic!("{name}: {v:?}")
    };
    items
        .iter()
        .map(|p| redis::from_redis_value::<(i64, i64, i64)>(p).unwrap())
        .collect()
}

#[test]
fn counts_over_time_per_minute_and_per_hour() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "50"]);
    let series =
        |con: &mut redis::Connection| -> Value { query(con, ("HANOI.STATS", "f", "SERIES")) };
    let none = series(&mut con);
    let (minutes, hours) = (periods(&none, "minutes"), periods(&none, "hours"));
    assert_eq!((minutes.len(), hours.len()), (60, 168));
    assert!(minutes.iter().chain(&hours).all(|p| p.1 == 0 && p.2 == 0));
    assert!(minutes.windows(2).all(|w| w[1].0 - w[0].0 == 60_000), "oldest first, a minute apart");
    assert!(hours.windows(2).all(|w| w[1].0 - w[0].0 == 3_600_000));

    let mut on = 0;
    for i in 0..200 {
        on += int(&mut con, &["HANOI.ENABLED", "f", &format!("user-{i}")]);
    }
    let v = series(&mut con);
    let (minutes, hours) = (periods(&v, "minutes"), periods(&v, "hours"));
    // The evaluations may straddle a minute's end: the sums are what count.
    let sum = |ps: &[(i64, i64, i64)]| ps.iter().fold((0, 0), |a, p| (a.0 + p.1, a.1 + p.2));
    assert_eq!(sum(&minutes), (200, on));
    assert_eq!(sum(&hours), (200, on));
    assert_eq!(stat(&stats(&mut con, "f"), "evaluations"), 200);

    // A redefinition keeps them; RESET clears them; a bad word is refused.
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "60", "VARIANTS", "2", "a", "b"]);
    assert_eq!(sum(&periods(&series(&mut con), "minutes")).0, 200);
    ok(&mut con, &["HANOI.TALLY", "f", "RESET"]);
    assert_eq!(sum(&periods(&series(&mut con), "minutes")), (0, 0));
    assert!(err(&mut con, &["HANOI.STATS", "f", "HISTORY"]).contains("expected SERIES"));
    assert_eq!(run(&mut con, &["HANOI.STATS", "nope", "SERIES"]).unwrap(), Value::Nil);
}

fn info_evaluations(con: &mut redis::Connection) -> String {
    let info: String = query(con, &["INFO", "hanoi"]);
    info.lines()
        .find(|l| l.starts_with("hanoi_evaluations"))
        .unwrap_or_else(|| panic!("no evaluations in {info}"))
        .to_owned()
}

#[test]
fn preview_answers_as_resolve_and_is_never_counted() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "50", "VARIANTS", "2", "a", "b"]);
    ok(&mut con, &["HANOI.RULE", "f", "SET", "de", "IF", "country", "EQ", "DE"]);
    ok(&mut con, &["HANOI.DEFINE", "off", "DISABLED"]);
    let info_before = info_evaluations(&mut con);
    let queries: Vec<Vec<&str>> = vec![
        vec!["f", "1"],
        vec!["f", "2"],
        vec!["f", "3", "WITH", "country", "DE"],
        vec!["f", "", "WITH", "country", "FR"],
        vec!["off", "7"],
        vec!["missing", "7"],
    ];
    let mut previews = Vec::new();
    for q in &queries {
        let mut args = vec!["HANOI.PREVIEW"];
        args.extend(q);
        previews.push(run(&mut con, &args).unwrap());
    }
    // Nothing moved: no evaluations, no last evaluated, no server totals.
    for key in ["f", "off"] {
        let st = stats(&mut con, key);
        assert_eq!(stat(&st, "evaluations"), 0, "{key}");
        assert_eq!(field(&st, "last_evaluated"), Value::Nil, "{key}");
    }
    assert_eq!(info_evaluations(&mut con), info_before);
    // The same answers as RESOLVE, which counts.
    for (q, preview) in queries.iter().zip(&previews) {
        let mut args = vec!["HANOI.RESOLVE"];
        args.extend(q);
        assert_eq!(&run(&mut con, &args).unwrap(), preview, "{q:?}");
    }
    assert_eq!(stat(&stats(&mut con, "f"), "evaluations"), 4);
    assert_ne!(info_evaluations(&mut con), info_before);
    // Bad calls are refused as RESOLVE refuses them.
    assert!(err(&mut con, &["HANOI.PREVIEW", "f"]).contains("wrong number"));
    let e = err(&mut con, &["HANOI.PREVIEW", "f", "1", "WITH", "country"]);
    assert_eq!(e, err(&mut con, &["HANOI.RESOLVE", "f", "1", "WITH", "country"]));
}
