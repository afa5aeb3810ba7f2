//! Issue 32 end to end: segments (`HANOI.DEFINE key SEGMENT`), rules that
//! use them (`segment IN …`) and prerequisites (`HANOI.PREREQ`), on a real
//! server: what a segment refuses, membership and its reasons, evaluation
//! order, the checks at the write (kinds, cycles, the limit, ACL, cluster
//! slots), faults at evaluation, counts through references, and that
//! replicas, RDB, AOF, DUMP/RESTORE and the export carry references.

mod common;

use common::{err, int, ok, query, run, Server};
use redis::Value;

/// EXPLAIN's reason, detail and missing segment.
fn why(con: &mut redis::Connection, key: &str, id: &str, with: &[&str]) -> (String, Value, Value) {
    let mut args = vec!["HANOI.EXPLAIN", key, id];
    if !with.is_empty() {
        args.push("WITH");
        args.extend(with);
    }
    let Ok(Value::Array(e)) = run(con, &args) else {
        panic!("EXPLAIN {key} {id}")
    };
    let Value::SimpleString(reason) = &e[2] else {
        panic!("reason {:?}", e[2])
    };
    (reason.clone(), e[3].clone(), e[5].clone())
}

fn text(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn get_field(con: &mut redis::Connection, key: &str, field: &str) -> Value {
    let Ok(Value::Array(flat)) = run(con, &["HANOI.GET", key]) else {
        panic!("GET {key}")
    };
    let i = flat.iter().position(|v| *v == text(field)).expect(field);
    flat[i + 1].clone()
}

#[test]
fn a_segment_answers_membership_and_refuses_what_it_has_not() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "beta", "SEGMENT"]);
    assert_eq!(get_field(&mut con, "beta", "kind"), Value::SimpleString("segment".into()));
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "beta", "USER", "anna", "bob"]), 2);
    assert_eq!(int(&mut con, &["HANOI.BLOCK", "beta", "bob"]), 1);
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "beta", "REGEX", "^staff-"]), 1);
    ok(&mut con, &["HANOI.RULE", "beta", "SET", "de", "IF", "country", "EQ", "DE"]);
    assert_eq!(int(&mut con, &["HANOI.META", "beta", "SET", "owner", "growth"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "beta", "anna"]), 1);
    assert_eq!(why(&mut con, "beta", "anna", &[]).0, "user");
    assert_eq!(why(&mut con, "beta", "bob", &[]).0, "blocked");
    assert_eq!(why(&mut con, "beta", "staff-1", &[]).0, "regex");
    assert_eq!(why(&mut con, "beta", "x", &["country", "DE"]).0, "rule");
    assert_eq!(why(&mut con, "beta", "x", &["country", "DE"]).1, text("de"));
    assert_eq!(why(&mut con, "beta", "x", &[]).0, "outside");
    // IDS browses it as a flag's ids.
    let Ok(Value::Array(page)) = run(&mut con, &["HANOI.IDS", "beta", "USERS", "0"]) else {
        panic!()
    };
    let Value::Array(mut ids) = page[1].clone() else {
        panic!()
    };
    ids.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(ids, vec![text("anna"), text("bob")]);
    // What a segment does not have is refused, and nothing changes.
    let before: Vec<u8> = query(&mut con, &["DUMP", "beta"]);
    for (cmd, what) in [
        (vec!["HANOI.PERCENTAGE", "beta", "10"], "percentage"),
        (vec!["HANOI.DISABLE", "beta"], "switch"),
        (vec!["HANOI.TOGGLE", "beta"], "switch"),
        (vec!["HANOI.SCHEDULE", "beta", "WINDOW", "0", "99"], "schedule"),
        (vec!["HANOI.SCHEDULE", "beta", "RAMP", "0", "50", "1", "9"], "schedule"),
        (vec!["HANOI.DEFINE", "beta", "SEGMENT", "PERCENTAGE", "5"], "percentage"),
        (vec!["HANOI.DEFINE", "beta", "SEGMENT", "VARIANTS", "2", "a", "b"], "variants"),
        (vec!["HANOI.DEFINE", "beta", "SEGMENT", "DISABLED"], "switch"),
        (vec!["HANOI.DEFINE", "beta", "SEGMENT", "DEFAULT", "a"], "default"),
        (vec!["HANOI.RULE", "beta", "SET", "v", "VARIANT", "a", "IF", "x", "EXISTS"], "variants"),
    ] {
        let e = err(&mut con, &cmd);
        assert!(e.starts_with(&format!("ERR a segment has no {what}")), "{cmd:?}: {e}");
    }
    ok(&mut con, &["HANOI.DEFINE", "pay", "PERCENTAGE", "100"]);
    let e = err(&mut con, &["HANOI.PREREQ", "beta", "SET", "pay"]);
    assert!(e.starts_with("ERR a segment has no prerequisites"), "{e}");
    let after: Vec<u8> = query(&mut con, &["DUMP", "beta"]);
    assert_eq!(before, after);
    // A flag with a schedule does not become a segment.
    ok(&mut con, &["HANOI.SCHEDULE", "pay", "WINDOW", "0", "99999999999999"]);
    let e = err(&mut con, &["HANOI.DEFINE", "pay", "SEGMENT"]);
    assert!(e.contains("no schedule"), "{e}");
    assert_eq!(get_field(&mut con, "pay", "kind"), Value::SimpleString("flag".into()));
}

#[test]
fn rules_use_segments_and_a_deleted_one_fails_closed() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "beta", "SEGMENT"]);
    ok(&mut con, &["HANOI.DEFINE", "staff", "SEGMENT"]);
    int(&mut con, &["HANOI.REGISTER", "beta", "USER", "anna"]);
    int(&mut con, &["HANOI.REGISTER", "staff", "USER", "carl"]);
    ok(&mut con, &["HANOI.DEFINE", "checkout", "PERCENTAGE", "0"]);
    ok(
        &mut con,
        &[
            "HANOI.RULE",
            "checkout",
            "SET",
            "betas",
            "IF",
            "segment",
            "IN",
            "2",
            "beta",
            "staff",
            "AND",
            "country",
            "EQ",
            "DE",
        ],
    );
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "checkout", "anna", "WITH", "country", "DE"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "checkout", "carl", "WITH", "country", "DE"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "checkout", "anna"]), 0);
    // A client's own `segment` attribute never overrides membership.
    let with = ["country", "DE", "segment", "beta"];
    assert_eq!(why(&mut con, "checkout", "zed", &with).0, "outside");
    assert_eq!(
        run(
            &mut con,
            &["HANOI.MENABLED", "anna", "WITH", "1", "country", "DE", "checkout", "beta"]
        ),
        Ok(Value::Array(vec![Value::Int(1), Value::Int(1)]))
    );
    // Only IN, NOTIN, EQ and NE; only segments.
    let e = err(&mut con, &["HANOI.RULE", "checkout", "SET", "x", "IF", "segment", "PREFIX", "b"]);
    assert!(e.contains("'segment' takes IN, NOTIN, EQ or NE"), "{e}");
    let e =
        err(&mut con, &["HANOI.RULE", "checkout", "SET", "x", "IF", "segment", "EQ", "checkout2"]);
    assert!(e.contains("'checkout2' is not a segment"), "{e}");
    ok(&mut con, &["HANOI.DEFINE", "plainflag", "PERCENTAGE", "100"]);
    let e =
        err(&mut con, &["HANOI.RULE", "checkout", "SET", "x", "IF", "segment", "EQ", "plainflag"]);
    assert!(e.contains("is not a segment"), "{e}");
    // NOTIN / NE.
    ok(&mut con, &["HANOI.RULE", "checkout", "SET", "others", "IF", "segment", "NE", "staff"]);
    assert_eq!(why(&mut con, "checkout", "zed", &[]), ("rule".into(), text("others"), Value::Nil));
    // Deleted: both conditions are false, and EXPLAIN names it.
    int(&mut con, &["DEL", "staff"]);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "checkout", "carl", "WITH", "country", "DE"]), 0);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "checkout", "zed"]), 0);
    let (reason, _, missing) = why(&mut con, "checkout", "zed", &[]);
    assert_eq!((reason.as_str(), missing), ("outside", text("staff")));
    // RESOLVE names it too (its 8th field).
    let Ok(Value::Array(r)) = run(&mut con, &["HANOI.RESOLVE", "checkout", "zed"]) else {
        panic!()
    };
    assert_eq!(r[7], text("staff"));
    // A flag of that name is no segment either.
    ok(&mut con, &["HANOI.DEFINE", "staff", "PERCENTAGE", "100"]);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "checkout", "zed"]), 0);
}

#[test]
fn prerequisites_come_first_in_order_and_are_checked_at_the_write() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "payments", "PERCENTAGE", "0"]);
    int(&mut con, &["HANOI.REGISTER", "payments", "USER", "anna", "bob"]);
    ok(&mut con, &["HANOI.DEFINE", "api", "PERCENTAGE", "0", "VARIANTS", "2", "v1", "v2"]);
    ok(&mut con, &["HANOI.RULE", "api", "SET", "de", "VARIANT", "v2", "IF", "country", "EQ", "DE"]);
    ok(
        &mut con,
        &[
            "HANOI.DEFINE",
            "checkout",
            "PERCENTAGE",
            "100",
            "VARIANTS",
            "2",
            "new",
            "old",
            "DEFAULT",
            "old",
            "VALUES",
            "{\"v\":1}",
            "{\"v\":0}",
        ],
    );
    int(&mut con, &["HANOI.REGISTER", "checkout", "USER", "carl"]);
    ok(&mut con, &["HANOI.PREREQ", "checkout", "SET", "payments"]);
    ok(&mut con, &["HANOI.PREREQ", "checkout", "SET", "api", "VARIANT", "v2"]);
    assert_eq!(
        get_field(&mut con, "checkout", "prerequisites"),
        Value::Array(vec![
            Value::Array(vec![text("payments")]),
            Value::Array(vec![text("api"), text("v2")]),
        ])
    );
    // A registered id does not pass a prerequisite: they come first.
    assert_eq!(why(&mut con, "checkout", "carl", &["country", "DE"]).0, "prerequisite");
    assert_eq!(why(&mut con, "checkout", "carl", &["country", "DE"]).1, text("payments"));
    assert_eq!(
        bulk_value(&mut con, "checkout", "carl", &["country", "DE"]),
        Some("{\"v\":0}".into())
    );
    assert_eq!(why(&mut con, "checkout", "anna", &["country", "DE"]).0, "all");
    assert_eq!(why(&mut con, "checkout", "anna", &["country", "FR"]).1, text("api"));
    // Switched off, a prerequisite that would be on fails.
    ok(&mut con, &["HANOI.DISABLE", "payments"]);
    assert_eq!(why(&mut con, "checkout", "anna", &["country", "DE"]).1, text("payments"));
    ok(&mut con, &["HANOI.ENABLE", "payments"]);
    // MOVE, DEL.
    ok(&mut con, &["HANOI.PREREQ", "checkout", "MOVE", "api", "0"]);
    assert_eq!(why(&mut con, "checkout", "carl", &["country", "FR"]).1, text("api"));
    assert_eq!(int(&mut con, &["HANOI.PREREQ", "checkout", "DEL", "api", "nope"]), 1);
    // Refused at the write, naming what is wrong, changing nothing.
    let before: Vec<u8> = query(&mut con, &["DUMP", "checkout"]);
    ok(&mut con, &["HANOI.DEFINE", "beta", "SEGMENT"]);
    for (cmd, says) in [
        (vec!["HANOI.PREREQ", "checkout", "SET", "nope"], "'nope' is not a flag"),
        (vec!["HANOI.PREREQ", "checkout", "SET", "beta"], "is a segment"),
        (vec!["HANOI.PREREQ", "checkout", "SET", "api", "VARIANT", "v9"], "has no variant 'v9'"),
        (
            vec!["HANOI.PREREQ", "checkout", "SET", "checkout"],
            "a cycle of references: checkout -> checkout",
        ),
        (vec!["HANOI.PREREQ", "checkout", "SET"], "wrong number of arguments"),
        (vec!["HANOI.PREREQ", "checkout", "MOVE", "payments", "3"], "out of range"),
        (vec!["HANOI.PREREQ", "checkout", "FROB", "x"], "expected SET, DEL or MOVE"),
    ] {
        let e = err(&mut con, &cmd);
        assert!(e.contains(says), "{cmd:?}: {e}");
    }
    // A cycle through another flag, named.
    ok(&mut con, &["HANOI.PREREQ", "api", "SET", "checkout"]);
    let e = err(&mut con, &["HANOI.PREREQ", "checkout", "SET", "api"]);
    assert!(e.contains("checkout -> api -> checkout"), "{e}");
    let after: Vec<u8> = query(&mut con, &["DUMP", "checkout"]);
    assert_eq!(before, after);
    // The limit (hanoi.max-prereqs).
    ok(&mut con, &["CONFIG", "SET", "hanoi.max-prereqs", "2"]);
    ok(&mut con, &["HANOI.DEFINE", "p2", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "p3", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.PREREQ", "checkout", "SET", "p2"]);
    let e = err(&mut con, &["HANOI.PREREQ", "checkout", "SET", "p3"]);
    assert!(e.contains("hanoi.max-prereqs"), "{e}");
}

fn bulk_value(con: &mut redis::Connection, key: &str, id: &str, with: &[&str]) -> Option<String> {
    let mut args = vec!["HANOI.VALUE", key, id, "WITH"];
    args.extend(with);
    common::bulk(con, &args)
}

#[test]
fn too_deep_or_a_cycle_that_arrived_answers_error_and_counts_reach_prerequisites() {
    let s = Server::start(&[]);
    let mut con = s.con();
    // Nine levels: the ninth is one too many.
    ok(&mut con, &["HANOI.DEFINE", "l9", "PERCENTAGE", "100"]);
    for i in (1..9).rev() {
        let (me, next) = (format!("l{i}"), format!("l{}", i + 1));
        ok(&mut con, &["HANOI.DEFINE", &me, "PERCENTAGE", "100"]);
        ok(&mut con, &["HANOI.PREREQ", &me, "SET", &next]);
    }
    assert_eq!(why(&mut con, "l1", "anna", &[]).0, "all", "8 levels below l1");
    ok(&mut con, &["HANOI.DEFINE", "top", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.PREREQ", "top", "SET", "l1"]);
    let (reason, detail, _) = why(&mut con, "top", "anna", &[]);
    assert_eq!(reason, "error");
    assert!(matches!(detail, Value::BulkString(d) if d.starts_with(b"more than 8 levels")));
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "top", "anna"]), 0);
    // A cycle that arrived without the write's check (RESTORE takes stored
    // data as it is): a -> b -> a answers error, bounded, never a crash.
    ok(&mut con, &["HANOI.DEFINE", "a", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "b", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.PREREQ", "a", "SET", "b"]);
    ok(&mut con, &["HANOI.DEFINE", "c", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.PREREQ", "c", "SET", "a"]);
    let dump: Vec<u8> = query(&mut con, &["DUMP", "c"]);
    common::ok_b(&mut con, ("RESTORE", "b", 0, dump, "REPLACE"));
    let (reason, detail, _) = why(&mut con, "a", "anna", &[]);
    assert_eq!(reason, "error");
    assert!(matches!(detail, Value::BulkString(d) if d.ends_with(b"or a cycle")));
    assert_eq!(
        run(&mut con, &["HANOI.MENABLED", "anna", "a", "b", "c"]),
        Ok(Value::Array(vec![Value::Int(0), Value::Int(0), Value::Int(0)]))
    );
    // IMPORT refuses a cycle through the target: c's form (c -> a) as a.
    let blob: Vec<u8> = query(&mut con, &["HANOI.EXPORT", "c"]);
    let e = common::err_b(&mut con, ("HANOI.IMPORT", "a", &blob));
    assert!(e.contains("cycle"), "{e}");
}

#[test]
fn an_evaluation_through_a_reference_counts_on_the_referenced_key() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "beta", "SEGMENT"]);
    int(&mut con, &["HANOI.REGISTER", "beta", "USER", "anna"]);
    ok(&mut con, &["HANOI.DEFINE", "payments", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "checkout", "PERCENTAGE", "0"]);
    ok(&mut con, &["HANOI.PREREQ", "checkout", "SET", "payments"]);
    ok(&mut con, &["HANOI.RULE", "checkout", "SET", "b", "IF", "segment", "IN", "1", "beta"]);
    let evaluations = |con: &mut redis::Connection, key: &str| -> i64 {
        let Ok(Value::Array(a)) = run(con, &["HANOI.STATS", key]) else {
            panic!()
        };
        let i = a.iter().position(|v| *v == text("evaluations")).unwrap();
        match a[i + 1] {
            Value::Int(n) => n,
            _ => panic!(),
        }
    };
    for id in ["anna", "bob", "carl"] {
        int(&mut con, &["HANOI.ENABLED", "checkout", id]);
    }
    assert_eq!(evaluations(&mut con, "checkout"), 3);
    assert_eq!(evaluations(&mut con, "payments"), 3);
    assert_eq!(evaluations(&mut con, "beta"), 3);
    // PREVIEW counts nowhere.
    run(&mut con, &["HANOI.PREVIEW", "checkout", "anna"]).unwrap();
    assert_eq!(evaluations(&mut con, "payments"), 3);
    // A flag with an experiment and a prerequisite: the prerequisite is
    // evaluated (and counted) once per evaluation, failed or not, by every
    // read.
    ok(&mut con, &["HANOI.DEFINE", "pay", "PERCENTAGE", "100"]);
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "page", "PERCENTAGE", "50", "VARIANTS", "2", "a", "b"]);
    ok(&mut con, &["HANOI.PREREQ", "page", "SET", "pay"]);
    ok(&mut con, &["HANOI.EXPERIMENT", "page", "START", "METRICS", "1", "bought"]);
    let ids: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
    for id in &ids {
        run(&mut con, &["HANOI.ASSIGN", "page", id]).unwrap();
    }
    for fail in [false, true] {
        if fail {
            ok(&mut con, &["HANOI.DISABLE", "pay"]);
        }
        let before = evaluations(&mut con, "pay");
        for id in &ids {
            for read in ["HANOI.ENABLED", "HANOI.VARIANT", "HANOI.EXPLAIN", "HANOI.RESOLVE"] {
                run(&mut con, &[read, "page", id]).unwrap();
            }
        }
        assert_eq!(evaluations(&mut con, "pay") - before, 4 * 40, "prerequisite failing: {fail}");
    }
    let (reason, detail, _) = why(&mut con, "page", "u1", &[]);
    assert_eq!((reason.as_str(), detail), ("prerequisite", text("pay")));
}

#[test]
fn writing_a_reference_needs_read_permission_on_it() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "secret-seg", "SEGMENT"]);
    ok(&mut con, &["HANOI.DEFINE", "secret-flag", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "open-seg", "SEGMENT"]);
    ok(&mut con, &["HANOI.DEFINE", "team:checkout", "PERCENTAGE", "0"]);
    ok(&mut con, &["ACL", "SETUSER", "alice", "on", "nopass", "+@all", "~team:*", "%R~open-*"]);
    let mut alice = s.con();
    ok(&mut alice, &["AUTH", "alice", "x"]);
    let e = err(
        &mut alice,
        &["HANOI.RULE", "team:checkout", "SET", "r", "IF", "segment", "EQ", "secret-seg"],
    );
    assert!(e.starts_with("NOPERM") && e.contains("secret-seg"), "{e}");
    let e = err(&mut alice, &["HANOI.PREREQ", "team:checkout", "SET", "secret-flag"]);
    assert!(e.starts_with("NOPERM") && e.contains("secret-flag"), "{e}");
    ok(&mut alice, &["HANOI.RULE", "team:checkout", "SET", "r", "IF", "segment", "EQ", "open-seg"]);
}

#[test]
fn in_a_cluster_a_reference_shares_the_slot() {
    let s = Server::start(&["--cluster-enabled", "yes"]);
    let mut con = s.con();
    common::ok_b(&mut con, ("CLUSTER", "ADDSLOTSRANGE", 0, 16383));
    let up = (0..400).any(|_| {
        let info: String = query(&mut con, &["CLUSTER", "INFO"]);
        let ok = info.contains("cluster_state:ok");
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        ok
    });
    assert!(up, "the one-node cluster did not come up");
    ok(&mut con, &["HANOI.DEFINE", "{checkout}:payments", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "payments", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "{checkout}:beta", "SEGMENT"]);
    ok(&mut con, &["HANOI.DEFINE", "checkout", "PERCENTAGE", "100"]);
    let e = err(&mut con, &["HANOI.PREREQ", "checkout", "SET", "payments"]);
    assert!(e.contains("another cluster slot") && e.contains("{checkout}"), "{e}");
    ok(&mut con, &["HANOI.PREREQ", "checkout", "SET", "{checkout}:payments"]);
    ok(&mut con, &["HANOI.RULE", "checkout", "SET", "b", "IF", "segment", "EQ", "{checkout}:beta"]);
    assert_eq!(why(&mut con, "checkout", "anna", &[]).0, "all");
}

/// The answers of a flag that uses a segment and a prerequisite.
fn reference_answers(con: &mut redis::Connection) -> Vec<Value> {
    ["anna", "bob", "carl", "zed"]
        .iter()
        .map(|id| run(con, &["HANOI.RESOLVE", "checkout", id, "WITH", "country", "DE"]).unwrap())
        .collect()
}

fn build_references(con: &mut redis::Connection) {
    ok(con, &["HANOI.DEFINE", "beta", "SEGMENT", "SALT", "s"]);
    int(con, &["HANOI.REGISTER", "beta", "USER", "anna", "bob"]);
    ok(con, &["HANOI.RULE", "beta", "SET", "de", "ROLLOUT", "50", "IF", "country", "EQ", "DE"]);
    ok(con, &["HANOI.DEFINE", "payments", "PERCENTAGE", "0"]);
    int(con, &["HANOI.REGISTER", "payments", "USER", "anna", "carl", "zed"]);
    ok(
        con,
        &["HANOI.DEFINE", "checkout", "PERCENTAGE", "0", "VARIANTS", "2", "a", "b", "DEFAULT", "a"],
    );
    ok(con, &["HANOI.PREREQ", "checkout", "SET", "payments"]);
    ok(
        con,
        &[
            "HANOI.RULE",
            "checkout",
            "SET",
            "betas",
            "VARIANT",
            "b",
            "IF",
            "segment",
            "IN",
            "1",
            "beta",
        ],
    );
}

#[test]
fn replicas_rdb_aof_and_restore_carry_references() {
    let mut p = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let r = Server::replica_of(&p, &[]);
    let mut pc = p.con();
    build_references(&mut pc);
    let want = reference_answers(&mut pc);
    assert_ne!(want[0], want[1], "the references decide something");
    assert_eq!(int(&mut pc, &["WAIT", "1", "10000"]), 1);
    let mut rc = r.con();
    assert_eq!(reference_answers(&mut rc), want);
    let get: Value = query(&mut pc, &["HANOI.GET", "checkout"]);
    assert_eq!(query::<Value>(&mut rc, &["HANOI.GET", "checkout"]), get);
    assert_eq!(
        query::<Value>(&mut rc, &["HANOI.GET", "beta"]),
        query::<Value>(&mut pc, &["HANOI.GET", "beta"])
    );
    // RDB.
    ok(&mut pc, &["DEBUG", "RELOAD"]);
    assert_eq!(reference_answers(&mut pc), want);
    // DUMP/RESTORE and COPY keep them by name.
    let dump: Vec<u8> = query(&mut pc, &["DUMP", "checkout"]);
    common::ok_b(&mut pc, ("RESTORE", "checkout2", 0, dump));
    assert_eq!(int(&mut pc, &["COPY", "checkout", "checkout3"]), 1);
    for k in ["checkout2", "checkout3"] {
        let prereqs = get_field(&mut pc, k, "prerequisites");
        assert_eq!(prereqs, Value::Array(vec![Value::Array(vec![text("payments")])]));
    }
    // The AOF (kill -9 after the writes, then the rewrite's form too).
    drop(pc);
    p.kill();
    p.start_again();
    let mut pc = p.con();
    assert_eq!(reference_answers(&mut pc), want);
    let _ = run(&mut pc, &["BGREWRITEAOF"]);
    common::wait_persistence_idle(&mut pc);
    drop(pc);
    p.kill();
    p.start_again();
    let mut pc = p.con();
    assert_eq!(reference_answers(&mut pc), want);
    assert_eq!(get_field(&mut pc, "beta", "kind"), Value::SimpleString("segment".into()));
}

#[test]
fn wide_references_stay_bounded_and_experiments_are_for_flags() {
    let s = Server::start(&[]);
    let mut con = s.con();
    // 64 segments, each naming all 64 in 16 conditions of one rule: the
    // write's check and every evaluation stay bounded.
    let names: Vec<String> = (0..64).map(|i| format!("s{i}")).collect();
    for n in &names {
        ok(&mut con, &["HANOI.DEFINE", n, "SEGMENT"]);
    }
    let mut rule: Vec<String> = ["HANOI.RULE", "s0", "SET", "wide"]
        .map(String::from)
        .to_vec();
    for c in 0..16 {
        rule.push(if c == 0 { "IF" } else { "AND" }.into());
        rule.extend(["segment", "NOTIN", "63"].map(String::from));
        rule.extend(names[1..].iter().cloned());
    }
    for n in &names[1..] {
        let mut r = rule.clone();
        r[1] = n.clone();
        // Each names every other segment but itself (s0 named last).
        let own = r.iter().position(|w| w == n).unwrap();
        r[own] = "s0".into();
        let r: Vec<&str> = r.iter().map(String::as_str).collect();
        assert!(run(&mut con, &r).is_ok() || err(&mut con, &r).contains("cycle"));
    }
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "0"]);
    ok(&mut con, &["HANOI.RULE", "f", "SET", "r", "IF", "segment", "IN", "2", "s1", "s2"]);
    let (reason, _, _) = why(&mut con, "f", "anna", &[]);
    assert!(["outside", "error", "rule"].contains(&reason.as_str()), "{reason}");
    assert_eq!(query::<String>(&mut con, &["PING"]), "PONG");
    // Experiments are for flags.
    let e = err(&mut con, &["HANOI.EXPERIMENT", "s1", "START", "METRICS", "1", "x"]);
    assert!(e.contains("a segment has no experiments"), "{e}");
    ok(&mut con, &["HANOI.DEFINE", "g", "PERCENTAGE", "50"]);
    ok(&mut con, &["HANOI.EXPERIMENT", "g", "START", "METRICS", "1", "x"]);
    let e = err(&mut con, &["HANOI.DEFINE", "g", "SEGMENT"]);
    assert!(e.contains("a segment has no experiment"), "{e}");
}
