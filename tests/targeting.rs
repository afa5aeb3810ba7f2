//! Targeting end to end: attributes (WITH), rules with their rollout and
//! variant, windows and ramps, the evaluation order, bad input, and rules
//! and schedules through persistence and replication; module against core.

mod common;

use common::{err, int, ok, query, run, server_ms, snapshot, Rng, Server};
use hanoi_core::rules::Attrs;
use hanoi_core::{codec, Query};
use redis::Value;

/// EXPLAIN's reason and detail (as text).
fn why(con: &mut redis::Connection, args: &[&str]) -> (String, Option<String>) {
    let v: Vec<Value> = query(con, args);
    let reason: String = redis::from_redis_value(&v[2]).unwrap();
    let detail = match &v[3] {
        Value::Nil => None,
        d => Some(redis::from_redis_value::<String>(d).unwrap()),
    };
    (reason, detail)
}

#[test]
fn rules_decide_after_users_and_regexes_and_serve_their_variant() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "VARIANTS", "3", "control", "red", "blue"]);
    int(&mut con, &["HANOI.REGISTER", "f", "USER", "vip"]);
    int(&mut con, &["HANOI.REGISTER", "f", "REGEX", "^staff-"]);
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.RULE", "f", "SET", "de-pros", "VARIANT", "blue", "IF", "country", "EQ", "DE", "AND", "plan", "IN", "2", "pro", "team"]);
    ok(&mut con, &["HANOI.RULE", "f", "SET", "beta", "IF", "app", "SEMVER_GE", "2.0.0-rc.1"]);
    // No attributes: as before rules existed.
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "u1"]), 0);
    assert_eq!(why(&mut con, &["HANOI.EXPLAIN", "f", "u1"]).0, "outside");
    // The first matching rule decides, serves its variant.
    let de = ["WITH", "country", "DE", "plan", "pro"];
    let args =
        |cmd: &'static str, id: &'static str, w: &[&'static str]| [&[cmd, "f", id][..], w].concat();
    assert_eq!(int(&mut con, &args("HANOI.ENABLED", "u1", &de)), 1);
    assert_eq!(
        why(&mut con, &args("HANOI.EXPLAIN", "u1", &de)),
        ("rule".into(), Some("de-pros".into()))
    );
    assert_eq!(common::bulk(&mut con, &args("HANOI.VARIANT", "u1", &de)).as_deref(), Some("blue"));
    let beta = ["WITH", "app", "2.0.0"];
    assert_eq!(
        why(&mut con, &args("HANOI.EXPLAIN", "u1", &beta)),
        ("rule".into(), Some("beta".into()))
    );
    assert_eq!(int(&mut con, &args("HANOI.ENABLED", "u1", &["WITH", "app", "2.0.0-beta.9"])), 0);
    // Registered ids and regexes come first and get the flag's pick.
    assert_eq!(why(&mut con, &args("HANOI.EXPLAIN", "vip", &de)).0, "user");
    assert_eq!(why(&mut con, &args("HANOI.EXPLAIN", "staff-1", &de)).0, "regex");
    let pick = common::bulk(&mut con, &["HANOI.VARIANT", "f", "vip"]);
    assert_eq!(common::bulk(&mut con, &args("HANOI.VARIANT", "vip", &de)), pick);
    // MOVE changes which rule decides; DEL removes.
    ok(&mut con, &["HANOI.RULE", "f", "SET", "all-de", "IF", "country", "EQ", "DE"]);
    ok(&mut con, &["HANOI.RULE", "f", "MOVE", "all-de", "0"]);
    assert_eq!(
        why(&mut con, &args("HANOI.EXPLAIN", "u1", &de))
            .1
            .as_deref(),
        Some("all-de")
    );
    assert_eq!(int(&mut con, &["HANOI.RULE", "f", "DEL", "all-de", "nope"]), 1);
    assert_eq!(
        why(&mut con, &args("HANOI.EXPLAIN", "u1", &de))
            .1
            .as_deref(),
        Some("de-pros")
    );
    // SET on an existing name replaces it in place.
    ok(&mut con, &["HANOI.RULE", "f", "SET", "de-pros", "IF", "country", "EQ", "AT"]);
    assert_eq!(int(&mut con, &args("HANOI.ENABLED", "u1", &de)), 0);
    let get: Vec<Value> = query(&mut con, ("HANOI.GET", "f"));
    let rules = get
        .chunks(2)
        .find(|kv| kv[0] == Value::BulkString(b"rules".to_vec()))
        .unwrap()[1]
        .clone();
    // Each rule as structure: [name, rollout, variant, [[attribute, operator, [arguments]]]].
    let Value::Array(rules) = rules else {
        panic!("rules: {rules:?}")
    };
    let first = &rules[0];
    assert_eq!(
        first,
        &Value::Array(vec![
            Value::BulkString(b"de-pros".to_vec()),
            Value::Nil,
            Value::Nil,
            Value::Array(vec![Value::Array(vec![
                Value::BulkString(b"country".to_vec()),
                Value::SimpleString("EQ".into()),
                Value::Array(vec![Value::BulkString(b"AT".to_vec())]),
            ])]),
        ])
    );
    let Value::Array(second) = &rules[1] else {
        panic!("{:?}", rules[1])
    };
    assert_eq!(second[0], Value::BulkString(b"beta".to_vec()));
    // MENABLED with attributes, and its keys.
    ok(&mut con, &["HANOI.DEFINE", "g", "PERCENTAGE", "100"]);
    let v: Vec<i64> =
        query(&mut con, ("HANOI.MENABLED", "u1", "WITH", 1, "app", "3.0.0", "f", "g", "missing"));
    assert_eq!(v, [1, 1, 0]);
    let keys: Vec<String> = query(
        &mut con,
        ("COMMAND", "GETKEYS", "HANOI.MENABLED", "u1", "WITH", 1, "a", "b", "f", "g"),
    );
    assert_eq!(keys, ["f", "g"]);
    // A first key named WITH: WITH 0 says there are no attributes.
    ok(&mut con, &["HANOI.DEFINE", "WITH", "PERCENTAGE", "100"]);
    let v: Vec<i64> = query(&mut con, ("HANOI.MENABLED", "u1", "WITH", 0, "WITH", "g"));
    assert_eq!(v, [1, 1]);
}

#[test]
fn a_rule_rollout_uses_the_flag_bucket() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "SALT", "s"]);
    ok(&mut con, &["HANOI.RULE", "f", "SET", "r", "ROLLOUT", "20", "IF", "plan", "EQ", "pro"]);
    let ids: Vec<String> = (0..2000).map(|i| format!("user-{i}")).collect();
    let on = |con: &mut redis::Connection| -> Vec<bool> {
        ids.iter()
            .map(|id| int(con, &["HANOI.ENABLED", "f", id, "WITH", "plan", "pro"]) == 1)
            .collect()
    };
    let at20 = on(&mut con);
    ok(&mut con, &["HANOI.RULE", "f", "SET", "r", "ROLLOUT", "50", "IF", "plan", "EQ", "pro"]);
    let at50 = on(&mut con);
    let n20 = at20.iter().filter(|b| **b).count();
    let n50 = at50.iter().filter(|b| **b).count();
    assert!((300..500).contains(&n20) && (900..1100).contains(&n50), "{n20} {n50}");
    // Inside at 20 % stays inside at 50 %; and it is the flag's bucket.
    assert!(at20.iter().zip(&at50).all(|(a, b)| !a || *b));
    for (id, on) in ids.iter().zip(&at20).take(200) {
        let v: Vec<Value> = query(&mut con, ("HANOI.EXPLAIN", "f", id));
        let bucket: i64 = redis::from_redis_value(&v[3]).unwrap();
        assert_eq!(*on, bucket < 20, "{id}");
    }
}

#[test]
fn windows_and_ramps_at_their_boundaries() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "100"]);
    let now = server_ms(&mut con);
    let h = 3_600_000;
    // A window in the future, then the past, then around now.
    for (from, until, active) in [
        (now + h, 0, false),
        (0, now - h, false),
        (now - h, now + h, true),
        (0, 0, true),
        (now - h, 0, true),
    ] {
        ok(&mut con, &["HANOI.SCHEDULE", "f", "WINDOW", &from.to_string(), &until.to_string()]);
        assert_eq!(
            int(&mut con, &["HANOI.ENABLED", "f", "x"]),
            i64::from(active),
            "{from} {until}"
        );
        assert_eq!(int(&mut con, &["HANOI.ENABLED", "f"]), i64::from(active));
        let reason = why(&mut con, &["HANOI.EXPLAIN", "f", "x"]).0;
        assert_eq!(reason, if active { "all" } else { "inactive" });
    }
    ok(&mut con, &["HANOI.SCHEDULE", "f", "CLEAR", "WINDOW"]);
    // A ramp: before its start, halfway, after its end.
    let pct = |con: &mut redis::Connection| -> i64 {
        let v: Vec<Value> = query(con, ("HANOI.EXPLAIN", "f", "x"));
        redis::from_redis_value(&v[4]).unwrap()
    };
    let ramp = |con: &mut redis::Connection, start: u64, end: u64| {
        ok(con, &["HANOI.SCHEDULE", "f", "RAMP", "10", "50", &start.to_string(), &end.to_string()]);
    };
    ramp(&mut con, now + h, now + 2 * h);
    assert_eq!(pct(&mut con), 10);
    ramp(&mut con, now - 2 * h, now - h);
    assert_eq!(pct(&mut con), 50);
    // HANOI.GET shows the effective percentage too (without counting).
    let get: Vec<Value> = query(&mut con, ("HANOI.GET", "f"));
    let field = |name: &[u8]| {
        get.chunks(2)
            .find(|kv| kv[0] == Value::BulkString(name.to_vec()))
            .map(|kv| kv[1].clone())
    };
    assert_eq!(field(b"effective_percentage"), Some(Value::Int(50)));
    let now = server_ms(&mut con);
    ramp(&mut con, now - 10 * h, now + 10 * h);
    assert!((29..=30).contains(&pct(&mut con)), "{}", pct(&mut con));
    // Setting the percentage by hand ends the ramp.
    ok(&mut con, &["HANOI.PERCENTAGE", "f", "7"]);
    assert_eq!(pct(&mut con), 7);
    let get: Vec<Value> = query(&mut con, ("HANOI.GET", "f"));
    assert!(get
        .chunks(2)
        .any(|kv| kv[0] == Value::BulkString(b"ramp".to_vec()) && kv[1] == Value::Nil));
    ramp(&mut con, now - 10 * h, now + 10 * h);
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "8"]);
    assert_eq!(pct(&mut con), 8);
    ramp(&mut con, now - 10 * h, now + 10 * h);
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "8"]);
    assert_eq!(pct(&mut con), 8, "an identical DEFINE with PERCENTAGE ends the ramp too");
}

#[test]
fn bad_targeting_input_is_refused_and_changes_nothing() {
    let s = Server::start(&["--hanoi.max-rules", "2", "--hanoi.max-in-values", "3"]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "VARIANTS", "1", "a"]);
    ok(&mut con, &["HANOI.RULE", "f", "SET", "r1", "IF", "x", "EXISTS"]);
    ok(&mut con, &["HANOI.RULE", "f", "SET", "r2", "VARIANT", "a", "IF", "y", "EXISTS"]);
    let before = snapshot(&mut con, "f");
    #[rustfmt::skip]
    let bad: &[(&[&str], &str)] = &[
        (&["HANOI.RULE", "f", "SET", "r3", "IF", "z", "EXISTS"], "ERR too many rules on one flag (limit 2"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z", "FOO"], "ERR unknown operator 'FOO'"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z"], "ERR condition on 'z' needs an operator"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z", "EQ"], "ERR EQ on 'z' needs 1 argument"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z", "EQ", "1", "2"], "ERR expected AND or the end"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z", "IN", "2", "a"], "ERR IN on 'z' needs 2 argument"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z", "IN", "4", "a", "b", "c", "d"], "ERR too many values in an IN list (limit 3"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z", "GT", "ten"], "ERR GT needs a decimal number"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z", "SEMVER_GT", "1.2"], "ERR SEMVER_GT needs a semantic version"),
        (&["HANOI.RULE", "f", "SET", "r1", "IF", "z", "MATCHES", "("], "ERR invalid regex"),
        (&["HANOI.RULE", "f", "SET", "r1", "VARIANT", "zz", "IF", "z", "EXISTS"], "ERR rule 'r1' serves VARIANT 'zz', which the flag does not have"),
        (&["HANOI.RULE", "f", "SET", "r1", "ROLLOUT", "101", "IF", "z", "EXISTS"], "ERR percentage must be"),
        (&["HANOI.RULE", "f", "SET", "r1"], "ERR a rule needs IF and at least one condition"),
        (&["HANOI.RULE", "f", "SET"], "ERR wrong number of arguments"),
        (&["HANOI.RULE", "f", "SET", "r1", "z", "EXISTS"], "ERR expected ROLLOUT, VARIANT or IF"),
        (&["HANOI.RULE", "f", "MOVE", "r1", "2"], "ERR MOVE index 2 out of range"),
        (&["HANOI.RULE", "f", "MOVE", "nope", "0"], "ERR no rule named 'nope'"),
        (&["HANOI.RULE", "f", "MOVE", "r1", "-1"], "ERR MOVE index must be a non-negative integer"),
        (&["HANOI.RULE", "f", "PUT", "r1"], "ERR expected SET, DEL or MOVE"),
        (&["HANOI.RULE", "missing", "SET", "r", "IF", "z", "EXISTS"], "ERR no such flag"),
        (&["HANOI.SCHEDULE", "f", "WINDOW", "5", "3"], "ERR the window ends before it starts"),
        (&["HANOI.SCHEDULE", "f", "WINDOW", "-5", "3"], "ERR from_ms must be a Unix time"),
        (&["HANOI.SCHEDULE", "f", "RAMP", "10", "50", "9", "9"], "ERR the ramp ends before it starts"),
        (&["HANOI.SCHEDULE", "f", "RAMP", "10", "500", "1", "9"], "ERR percentage must be"),
        (&["HANOI.SCHEDULE", "f", "RAMP", "10", "50", "1"], "ERR expected HANOI.SCHEDULE key RAMP"),
        (&["HANOI.SCHEDULE", "f", "CLEAR", "BOTH"], "ERR expected HANOI.SCHEDULE key CLEAR"),
        (&["HANOI.SCHEDULE", "f", "LATER", "1"], "ERR expected WINDOW, RAMP or CLEAR"),
        (&["HANOI.DEFINE", "f", "VARIANTS", "1", "b"], "ERR rule 'r2' serves a variant this definition drops"),
        (&["HANOI.ENABLED", "f", "u", "WITH"], "ERR WITH needs attribute value pairs"),
        (&["HANOI.ENABLED", "f", "u", "WITH", "a"], "ERR WITH needs attribute value pairs"),
        (&["HANOI.ENABLED", "f", "u", "WITH", "a", "1", "a", "2"], "ERR attribute 'a' given twice"),
        (&["HANOI.ENABLED", "f", "u", "WITH", "id", "1"], "ERR the id is the attribute 'id'"),
        (&["HANOI.ENABLED", "f", "u", "FOR", "a", "1"], "ERR expected WITH"),
        (&["HANOI.VARIANT", "f", "u", "WITH", "a"], "ERR WITH needs attribute value pairs"),
        (&["HANOI.EXPLAIN", "f", "u", "WITH", "a", "1", "a", "1"], "ERR attribute 'a' given twice"),
        (&["HANOI.MENABLED", "u", "WITH", "2", "a", "1", "f"], "ERR WITH 2 needs 2 attribute value pairs"),
        (&["HANOI.MENABLED", "u", "WITH", "x", "a", "1", "f"], "ERR WITH needs a count"),
        (&["HANOI.MENABLED", "u", "WITH", "-1", "f"], "ERR WITH needs a count"),
        (&["HANOI.MENABLED", "u", "WITH", "1", "a", "1"], "ERR WITH 1 needs 1 attribute value pairs, then at least one key"),
    ];
    for (args, want) in bad {
        let e = err(&mut con, args);
        assert!(e.starts_with(want), "{args:?}: got '{e}', want '{want}'");
        assert_eq!(snapshot(&mut con, "f"), before, "{args:?} changed the flag");
    }
}

/// Random rules, random attributes: the module answers as the core does on
/// the flag it exports.
#[test]
fn module_and_core_agree_on_random_rules() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let mut rng = Rng(0x7a6e);
    let attrs = ["country", "plan", "app", "age", "email"];
    let values: [&[&str]; 5] = [
        &["DE", "FR", "US", ""],
        &["free", "pro", "team"],
        &["1.0.0", "2.0.0-rc.1", "2.0.0", "10.1.2", "x"],
        &["-3", "0", "17.5", "18", "99999999999999999999"],
        &["ana@corp.com", "bo@example.org", "c@corp.com.evil"],
    ];
    #[rustfmt::skip]
    let conditions: &[&[&str]] = &[
        &["country", "EQ", "DE"], &["country", "NE", "FR"], &["plan", "IN", "2", "pro", "team"],
        &["plan", "NOTIN", "1", "free"], &["age", "GE", "18"], &["age", "LT", "0"],
        &["app", "SEMVER_GE", "2.0.0-rc.1"], &["app", "SEMVER_LT", "2.0.0"], &["email", "SUFFIX", "@corp.com"],
        &["email", "MATCHES", "^[a-c]+@"], &["email", "CONTAINS", "corp"], &["country", "MISSING"],
        &["plan", "EXISTS"], &["id", "PREFIX", "u1"],
    ];
    for f in 0..8 {
        let key = format!("f{f}");
        ok(
            &mut con,
            &[
                "HANOI.DEFINE",
                &key,
                "PERCENTAGE",
                &rng.below(30).to_string(),
                "VARIANTS",
                "2",
                "a",
                "b",
                "SALT",
                &key,
            ],
        );
        for r in 0..1 + rng.below(4) {
            let mut args: Vec<String> =
                vec!["HANOI.RULE".into(), key.clone(), "SET".into(), format!("r{r}")];
            if rng.chance(50) {
                args.extend(["ROLLOUT".into(), rng.below(101).to_string()]);
            }
            if rng.chance(50) {
                args.extend(["VARIANT".into(), "b".into()]);
            }
            for c in 0..1 + rng.below(3) {
                args.push(if c == 0 { "IF".into() } else { "AND".into() });
                args.extend(rng.pick(conditions).iter().map(|s| s.to_string()));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(&mut con, &args);
        }
        let bytes: Vec<u8> = query(&mut con, ("HANOI.EXPORT", &key));
        let flag = codec::from_bytes(&bytes).unwrap();
        for i in 0..300 {
            let id = format!("u{}", rng.below(5000));
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            for (a, vs) in attrs.iter().zip(values.iter()) {
                if rng.chance(70) {
                    pairs.push((a, *rng.pick(vs)));
                }
            }
            let mut cmd: Vec<&str> = vec!["HANOI.EXPLAIN", &key, &id];
            if !pairs.is_empty() {
                cmd.push("WITH");
                cmd.extend(pairs.iter().flat_map(|(a, v)| [*a, *v]));
            }
            let got = run(&mut con, &cmd).unwrap();
            let raw: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(a, v)| (a.as_bytes(), v.as_bytes()))
                .collect();
            let q = Query {
                attrs: Attrs::new(&raw).unwrap(),
                now_ms: 0,
                ..Query::default()
            };
            let e = flag.explain_with(id.as_bytes(), &q);
            let Value::Array(got) = got else { panic!() };
            assert_eq!(got[0], Value::Int(i64::from(e.enabled)), "{cmd:?} #{i}");
            assert_eq!(
                got[1],
                e.variant
                    .map_or(Value::Nil, |v| Value::BulkString(v.to_vec())),
                "{cmd:?}"
            );
            assert_eq!(got[2], Value::SimpleString(e.reason.as_str().into()), "{cmd:?}");
        }
    }
}

#[test]
fn rules_and_schedules_survive_persistence_and_replication() {
    let mut p = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut pc = p.con();
    let r = Server::replica_of(&p, &[]);
    let mut rc = r.con();
    ok(&mut pc, &["HANOI.DEFINE", "f", "PERCENTAGE", "5", "VARIANTS", "2", "a", "b"]);
    #[rustfmt::skip]
    ok(&mut pc, &["HANOI.RULE", "f", "SET", "r", "ROLLOUT", "60", "VARIANT", "b", "IF", "plan", "IN", "2", "pro", "team", "AND", "app", "SEMVER_GE", "2.0.0"]);
    ok(&mut pc, &["HANOI.RULE", "f", "SET", "s", "IF", "email", "MATCHES", "@corp\\.com$"]);
    let now = server_ms(&mut pc);
    ok(&mut pc, &["HANOI.SCHEDULE", "f", "WINDOW", &(now - 1000).to_string(), "0"]);
    ok(
        &mut pc,
        &[
            "HANOI.SCHEDULE",
            "f",
            "RAMP",
            "5",
            "40",
            &(now - 1000).to_string(),
            &(now + 100_000_000).to_string(),
        ],
    );
    assert_eq!(int(&mut pc, &["WAIT", "1", "10000"]), 1);
    let probe = |con: &mut redis::Connection, key: &str| -> Vec<Value> {
        (0..200)
            .map(|i| {
                let id = format!("u{i}");
                let plan = ["pro", "free"][i % 2];
                run(
                    con,
                    &[
                        "HANOI.ENABLED",
                        key,
                        &id,
                        "WITH",
                        "plan",
                        plan,
                        "app",
                        "2.1.0",
                        "email",
                        "x@corp.com",
                    ],
                )
                .unwrap()
            })
            .collect()
    };
    let want = (snapshot(&mut pc, "f"), probe(&mut pc, "f"));
    assert_eq!((snapshot(&mut rc, "f"), probe(&mut rc, "f")), want, "replica");
    let dump: Vec<u8> = query(&mut pc, ("DUMP", "f"));
    let () = query(&mut pc, ("RESTORE", "g", 0, dump));
    assert_eq!(int(&mut pc, &["COPY", "f", "h"]), 1);
    assert_eq!(probe(&mut pc, "g"), want.1);
    assert_eq!(probe(&mut pc, "h"), want.1);
    ok(&mut pc, &["DEBUG", "RELOAD"]);
    assert_eq!((snapshot(&mut pc, "f"), probe(&mut pc, "f")), want, "DEBUG RELOAD");
    run(&mut pc, &["BGREWRITEAOF"]).unwrap();
    common::wait_persistence_idle(&mut pc);
    drop(pc);
    p.kill();
    p.start_again();
    let mut pc = p.con();
    assert_eq!((snapshot(&mut pc, "f"), probe(&mut pc, "f")), want, "AOF after rewrite");
}
