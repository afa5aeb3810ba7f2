//! Issue 35, end to end: HANOI.EXPERIMENT (START, STOP, RESULTS,
//! EXPOSURES), HANOI.ASSIGN and HANOI.TRACK against a real server: the
//! split recorded once, sticky arms in every read, exact results, bounds,
//! bad input leaving the flag byte for byte, replicas, RDB, AOF (kill -9),
//! DUMP/RESTORE, COPY and ACLs.

mod common;

use common::{bulk, err, int, ok, query, run, snapshot, to_reply, wait_persistence_idle, Server};
use hanoi_core::reply::{self, ArmResult, ExposuresPage, ResolveReply};
use redis::Value;

fn results(con: &mut redis::Connection, key: &str) -> Option<Vec<ArmResult>> {
    let r = run(con, &["HANOI.EXPERIMENT", key, "RESULTS"]).unwrap();
    reply::decode_results(&to_reply(r)).unwrap()
}

fn assign(con: &mut redis::Connection, key: &str, id: &str) -> ResolveReply {
    ResolveReply::decode(&to_reply(run(con, &["HANOI.ASSIGN", key, id]).unwrap())).unwrap()
}

/// Every exposure (id, arm, time), walking the cursor.
fn exposures(con: &mut redis::Connection, key: &str) -> Vec<(Vec<u8>, Vec<u8>, u64)> {
    let (mut all, mut cursor) = (Vec::new(), 0u64);
    loop {
        let c = cursor.to_string();
        let r = run(con, &["HANOI.EXPERIMENT", key, "EXPOSURES", &c, "COUNT", "7"]).unwrap();
        let page = ExposuresPage::decode(&to_reply(r)).unwrap();
        all.extend(page.exposures);
        if page.cursor == 0 {
            return all;
        }
        cursor = page.cursor;
    }
}

/// What a read gives `id`: ENABLED, VARIANT, VALUE, RESOLVE, MENABLED.
fn reads(
    con: &mut redis::Connection,
    key: &str,
    id: &str,
) -> (i64, Option<String>, Option<String>, Value, Value) {
    (
        int(con, &["HANOI.ENABLED", key, id]),
        bulk(con, &["HANOI.VARIANT", key, id]),
        bulk(con, &["HANOI.VALUE", key, id]),
        // RESOLVE without its effective percentage (the flag's, which moves).
        match run(con, &["HANOI.RESOLVE", key, id]).unwrap() {
            Value::Array(mut a) => {
                a.remove(5);
                Value::Array(a)
            }
            v => v,
        },
        run(con, &["HANOI.MENABLED", id, key]).unwrap(),
    )
}

#[test]
fn assign_records_the_split_once_and_the_arm_sticks() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "b", "PERCENTAGE", "50"]);
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "b", "USER", "vip"]), 1);
    ok(&mut con, &["HANOI.EXPERIMENT", "b", "START", "METRICS", "2", "buy", "revenue"]);
    // Targeted: answered, not recorded.
    assert!(assign(&mut con, "b", "vip").explanation.enabled);
    let mut on = Vec::new();
    let mut off = Vec::new();
    for i in 0..200 {
        let id = format!("u{i}");
        let plain = int(&mut con, &["HANOI.ENABLED", "b", &id]);
        let a = assign(&mut con, "b", &id);
        assert_eq!(i64::from(a.explanation.enabled), plain, "ASSIGN answers as RESOLVE");
        if plain == 1 {
            on.push(id)
        } else {
            off.push(id)
        }
    }
    // A second ASSIGN records nothing new.
    assign(&mut con, "b", &on[0]);
    let r = results(&mut con, "b").unwrap();
    assert_eq!((r[0].arm.as_slice(), r[0].control), (&b"off"[..], true));
    assert_eq!(r[0].exposures, off.len() as u64);
    assert_eq!(r[1].exposures, on.len() as u64);
    let x = exposures(&mut con, "b");
    assert_eq!(x.len(), 200);
    assert_eq!(x[0].0, b"u0", "in the order made");
    assert!(
        x.iter()
            .all(|(id, arm, _)| (arm == b"on")
                == on.contains(&String::from_utf8(id.clone()).unwrap()))
    );

    // Sticky: every read keeps the arm when the percentage moves...
    let before_on = reads(&mut con, "b", &on[0]);
    let before_off = reads(&mut con, "b", &off[0]);
    ok(&mut con, &["HANOI.PERCENTAGE", "b", "0"]);
    assert_eq!(reads(&mut con, "b", &on[0]), before_on);
    ok(&mut con, &["HANOI.PERCENTAGE", "b", "100"]);
    assert_eq!(reads(&mut con, "b", &off[0]), before_off);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "b", "never-exposed"]), 1);
    // ...but the kill switch and the deny list still win.
    ok(&mut con, &["HANOI.DISABLE", "b"]);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "b", &on[0]]), 0);
    ok(&mut con, &["HANOI.ENABLE", "b"]);
    assert_eq!(int(&mut con, &["HANOI.BLOCK", "b", &on[1]]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "b", &on[1]]), 0);

    // TRACK: exposed ids and declared metrics only; sums of squares exact.
    assert_eq!(int(&mut con, &["HANOI.TRACK", "b", &on[0], "buy"]), 1);
    assert_eq!(int(&mut con, &["HANOI.TRACK", "b", &on[0], "revenue", "300"]), 1);
    assert_eq!(int(&mut con, &["HANOI.TRACK", "b", &on[0], "revenue", "200"]), 1);
    assert_eq!(int(&mut con, &["HANOI.TRACK", "b", &on[2], "revenue", "100"]), 1);
    assert_eq!(int(&mut con, &["HANOI.TRACK", "b", &off[0], "revenue", "7"]), 1);
    assert_eq!(int(&mut con, &["HANOI.TRACK", "b", "vip", "buy"]), 0);
    assert_eq!(int(&mut con, &["HANOI.TRACK", "b", &on[0], "clicks"]), 0);
    assert_eq!(int(&mut con, &["HANOI.TRACK", "missing", "x", "buy"]), 0);
    let r = results(&mut con, "b").unwrap();
    let m = &r[1].metrics;
    assert_eq!((m[0].converted, m[0].sum, m[0].sum_squares), (1, 1, 1));
    assert_eq!((m[1].converted, m[1].sum, m[1].sum_squares), (2, 600, 500 * 500 + 100 * 100));
    assert_eq!((r[0].metrics[1].converted, r[0].metrics[1].sum_squares), (1, 49));

    // GET shows the state; STOP keeps the data and ends recording and
    // sticky arms; START again needs RESET.
    let get = run(&mut con, &["HANOI.GET", "b"]).unwrap();
    let d = hanoi_core::Description::decode(&to_reply(get)).unwrap();
    let e = d.experiment.unwrap();
    assert!(e.running && e.exposures == 200 && e.control == b"off" && e.metrics.len() == 2);
    ok(&mut con, &["HANOI.EXPERIMENT", "b", "STOP"]);
    assert_eq!(int(&mut con, &["HANOI.TRACK", "b", &on[0], "buy"]), 0);
    ok(&mut con, &["HANOI.PERCENTAGE", "b", "0"]);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "b", &on[0]]), 0);
    assert_eq!(results(&mut con, "b").unwrap()[1].exposures, on.len() as u64);
    assert!(
        err(&mut con, &["HANOI.EXPERIMENT", "b", "START", "METRICS", "1", "x"]).contains("RESET")
    );
    ok(&mut con, &["HANOI.EXPERIMENT", "b", "START", "METRICS", "1", "x", "RESET"]);
    assert_eq!(results(&mut con, "b").unwrap()[1].exposures, 0);
    // START and STOP are in the history.
    let h: Vec<Value> = query(&mut con, &["HANOI.HISTORY", "b", "COUNT", "2"]);
    assert!(format!("{h:?}").contains("HANOI.EXPERIMENT"));
    assert_eq!(run(&mut con, &["HANOI.EXPERIMENT", "missing", "RESULTS"]).unwrap(), Value::Nil);
}

#[test]
fn a_variant_experiment_keeps_arms_when_weights_change() {
    let s = Server::start(&[]);
    let mut con = s.con();
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "v", "PERCENTAGE", "99", "VARIANTS", "2", "a", "b", "VALUES", "1", "2"]);
    ok(
        &mut con,
        &["HANOI.RULE", "v", "SET", "pros", "VARIANT", "b", "IF", "plan", "IN", "1", "pro"],
    );
    ok(&mut con, &["HANOI.EXPERIMENT", "v", "START", "CONTROL", "b", "METRICS", "1", "buy"]);
    // A rule decided: not randomized, not recorded.
    let r = run(&mut con, &["HANOI.ASSIGN", "v", "p1", "WITH", "plan", "pro"]).unwrap();
    assert!(format!("{r:?}").contains("rule"));
    let ids: Vec<String> = (0..100).map(|i| format!("id{i}")).collect();
    let before: Vec<_> = ids.iter().map(|id| reads(&mut con, "v", id)).collect();
    for id in &ids {
        assign(&mut con, "v", id);
    }
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "v", "PERCENTAGE", "99", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "1000000", "VALUES", "1", "2"]);
    for (id, want) in ids.iter().zip(&before) {
        assert_eq!(&reads(&mut con, "v", id), want, "{id}");
    }
    let r = results(&mut con, "v").unwrap();
    // Every id on by percentage (the pick randomized it), none outside.
    let on = before.iter().filter(|r| r.0 == 1).count() as u64;
    assert!(on > 90);
    assert_eq!(r.iter().map(|a| a.exposures).sum::<u64>(), on);
    assert!(r[1].control);
}

#[test]
fn bad_input_and_the_limit_leave_the_flag_as_it_was() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "100", "VARIANTS", "2", "a", "b"]);
    let snap = snapshot(&mut con, "f");
    for bad in [
        &["HANOI.EXPERIMENT", "f", "START"][..],
        &["HANOI.EXPERIMENT", "f", "START", "METRICS", "0"],
        &["HANOI.EXPERIMENT", "f", "START", "METRICS", "2", "x", "x"],
        &["HANOI.EXPERIMENT", "f", "START", "METRICS", "99999999999999999999", "x"],
        &["HANOI.EXPERIMENT", "f", "START", "CONTROL", "zz", "METRICS", "1", "x"],
        &["HANOI.EXPERIMENT", "f", "STOP"],
        &["HANOI.EXPERIMENT", "nope", "START", "METRICS", "1", "x"],
    ] {
        let e = err(&mut con, bad);
        assert!(e.starts_with("ERR"), "{bad:?}: {e}");
        assert_eq!(snapshot(&mut con, "f"), snap, "{bad:?}");
    }
    ok(&mut con, &["HANOI.EXPERIMENT", "f", "START", "METRICS", "1", "buy"]);
    ok(&mut con, &["CONFIG", "SET", "hanoi.max-exposures", "3"]);
    for id in ["1", "2", "3"] {
        assign(&mut con, "f", id);
    }
    assign(&mut con, "f", "1"); // already exposed: fine at the limit
    let snap = snapshot(&mut con, "f");
    let e = err(&mut con, &["HANOI.ASSIGN", "f", "4"]);
    assert!(e.contains("hanoi.max-exposures"), "{e}");
    let long = "x".repeat(2000);
    for bad in [
        &["HANOI.TRACK", "f", "1", "buy", "-1"][..],
        &["HANOI.TRACK", "f", "1", "buy", "1.5"],
        &["HANOI.TRACK", "f", "1", "buy", "9007199254740993"],
        &["HANOI.ASSIGN", "f", &long],
        &["HANOI.ASSIGN", "f", "1", "WITH", "odd"],
        &["HANOI.EXPERIMENT", "f", "EXPOSURES", "1"],
        &["HANOI.EXPERIMENT", "f", "EXPOSURES", "0", "COUNT", "0"],
        &["HANOI.LOAD", "f", "EXPOSURES", "9", "a", "1"],
    ] {
        let e = err(&mut con, bad);
        assert!(e.starts_with("ERR"), "{bad:?}: {e}");
        assert_eq!(snapshot(&mut con, "f"), snap, "{bad:?}");
    }
    assert_eq!(int(&mut con, &["HANOI.TRACK", "f", "1", "buy", "9007199254740992"]), 1);
    let snap = snapshot(&mut con, "f");
    assert!(err(&mut con, &["HANOI.TRACK", "f", "1", "buy"]).contains("would pass"));
    assert_eq!(snapshot(&mut con, "f"), snap);
    ok(&mut con, &["SET", "str", "x"]);
    assert!(err(&mut con, &["HANOI.ASSIGN", "str", "1"]).starts_with("WRONGTYPE"));
    assert!(err(&mut con, &["HANOI.TRACK", "str", "1", "m"]).starts_with("WRONGTYPE"));
}

fn experiment_with_data(con: &mut redis::Connection, key: &str, n: usize) {
    ok(con, &["HANOI.DEFINE", key, "PERCENTAGE", "50", "VARIANTS", "3", "a", "b", "c"]);
    ok(con, &["HANOI.EXPERIMENT", key, "START", "METRICS", "2", "buy", "rev"]);
    let mut p = redis::pipe();
    for i in 0..n {
        let id = format!("user-{i}");
        p.cmd("HANOI.ASSIGN").arg(key).arg(&id).ignore();
        if i % 3 == 0 {
            p.cmd("HANOI.TRACK")
                .arg(key)
                .arg(&id)
                .arg("rev")
                .arg(i)
                .ignore();
            p.cmd("HANOI.TRACK")
                .arg(key)
                .arg(&id)
                .arg("rev")
                .arg(1)
                .ignore();
        }
        if i % 5 == 0 {
            p.cmd("HANOI.TRACK").arg(key).arg(&id).arg("buy").ignore();
        }
    }
    let () = p.query(con).unwrap();
}

/// Everything that must survive: the digest, RESULTS, every exposure.
type State = ((Value, Value), Value, Vec<(Vec<u8>, Vec<u8>, u64)>);

fn state(con: &mut redis::Connection, key: &str) -> State {
    (
        snapshot(con, key),
        run(con, &["HANOI.EXPERIMENT", key, "RESULTS"]).unwrap(),
        exposures(con, key),
    )
}

#[test]
fn exposures_survive_reload_dump_restore_and_copy() {
    let s = Server::start(&[]);
    let mut con = s.con();
    experiment_with_data(&mut con, "e", 3000);
    let want = state(&mut con, "e");
    assert!(want.2.len() > 1000);
    ok(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(state(&mut con, "e"), want);
    let dump: Vec<u8> = query(&mut con, ("DUMP", "e"));
    assert_eq!(int(&mut con, &["DEL", "e"]), 1);
    let _: () = query(&mut con, ("RESTORE", "e", 0, dump));
    assert_eq!(state(&mut con, "e"), want);
    assert_eq!(int(&mut con, &["COPY", "e", "e2"]), 1);
    let copy = state(&mut con, "e2");
    assert_eq!((copy.1.clone(), copy.2.clone()), (want.1.clone(), want.2.clone()));
    // The copy is its own: recording in it leaves the source.
    assign(&mut con, "e2", "new-one");
    assert_eq!(state(&mut con, "e"), want);
    // MEMORY USAGE counts the exposures.
    let mem = int(&mut con, &["MEMORY", "USAGE", "e"]);
    assert!(mem > 3000 * 10, "{mem}");
}

#[test]
fn exposures_survive_aof_after_kill_9_and_a_rewrite() {
    let mut s = Server::start(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--appendfsync",
        "always",
    ]);
    let mut con = s.con();
    experiment_with_data(&mut con, "e", 1500);
    let want = state(&mut con, "e");
    drop(con);
    s.kill();
    s.start_again();
    let mut con = s.con();
    assert_eq!(state(&mut con, "e"), want, "replayed from the AOF");
    // The exposures are in the AOF as themselves, not as ASSIGNs.
    let _ = run(&mut con, &["BGREWRITEAOF"]);
    wait_persistence_idle(&mut con);
    let first = String::from_utf8(want.2[0].0.clone()).unwrap();
    assert_eq!(int(&mut con, &["HANOI.TRACK", "e", &first, "buy", "5"]), 1);
    let want = state(&mut con, "e");
    drop(con);
    s.kill();
    s.start_again();
    let mut con = s.con();
    assert_eq!(state(&mut con, "e"), want, "the rewritten AOF");
}

#[test]
fn a_replica_gets_the_exposures_and_answers_results() {
    let p = Server::start(&[]);
    let mut pc = p.con();
    experiment_with_data(&mut pc, "e", 500);
    let r = Server::replica_of(&p, &[]);
    let mut rc = r.con();
    // Then the stream: new exposures and conversions.
    for i in 500..700 {
        assign(&mut pc, "e", &format!("user-{i}"));
        int(&mut pc, &["HANOI.TRACK", "e", &format!("user-{i}"), "rev", "3"]);
    }
    ok(&mut pc, &["HANOI.PERCENTAGE", "e", "10"]);
    assert_eq!(int(&mut pc, &["WAIT", "1", "10000"]), 1);
    assert_eq!(state(&mut rc, "e"), state(&mut pc, "e"));
    // Sticky on the replica too.
    for i in (0..700).step_by(37) {
        let id = format!("user-{i}");
        assert_eq!(reads(&mut rc, "e", &id), reads(&mut pc, "e", &id));
    }
    // RESULTS and EXPOSURES are reads: they work on the read-only replica;
    // the writes are refused there.
    assert!(results(&mut rc, "e").is_some());
    for w in [
        &["HANOI.ASSIGN", "e", "x"][..],
        &["HANOI.TRACK", "e", "user-1", "rev"],
        &["HANOI.EXPERIMENT", "e", "STOP"],
    ] {
        assert!(err(&mut rc, w).starts_with("READONLY"), "{w:?}");
    }
    // Internal loads are refused from clients.
    assert!(err(&mut pc, &["HANOI.LOAD", "e", "EXPOSURES", "x", "a", "1"]).contains("only loads"));
}

#[test]
fn acl_reads_and_writes_are_told_apart() {
    let s = Server::start(&[]);
    let mut admin = s.con();
    experiment_with_data(&mut admin, "flags:e", 50);
    // An analyst reads results; ASSIGN and TRACK are writes of their own.
    #[rustfmt::skip]
    ok(&mut admin, &["ACL", "SETUSER", "analyst", "on", ">pw", "~flags:*", "-@all", "+hanoi.experiment", "+hanoi.get"]);
    let mut a = s.con();
    ok(&mut a, &["AUTH", "analyst", "pw"]);
    assert!(results(&mut a, "flags:e").is_some());
    for w in [&["HANOI.ASSIGN", "flags:e", "1"][..], &["HANOI.TRACK", "flags:e", "1", "buy"]] {
        assert!(err(&mut a, w).starts_with("NOPERM"), "{w:?}");
    }
    // Where the server has module ACL categories: ASSIGN, TRACK and
    // EXPERIMENT (it starts and stops experiments) are @write, so a +@read
    // user can do none of them.
    let info: String = query(&mut admin, ("INFO", "server"));
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("0")
        .trim()
        .to_owned();
    let mut v = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    if info.contains("server_name:valkey")
        || (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (7, 2)
    {
        ok(&mut admin, &["ACL", "SETUSER", "reader", "on", ">pw", "~flags:*", "-@all", "+@read"]);
        let mut r = s.con();
        ok(&mut r, &["AUTH", "reader", "pw"]);
        for w in [
            &["HANOI.ASSIGN", "flags:e", "1"][..],
            &["HANOI.TRACK", "flags:e", "1", "buy"],
            &["HANOI.EXPERIMENT", "flags:e", "STOP"],
        ] {
            assert!(err(&mut r, w).starts_with("NOPERM"), "{w:?}");
        }
        let cats: Vec<String> = query(&mut admin, ("ACL", "CAT", "write"));
        for c in ["hanoi.assign", "hanoi.track", "hanoi.experiment"] {
            assert!(cats.iter().any(|x| x == c), "{c} in @write: {cats:?}");
        }
    }
}
