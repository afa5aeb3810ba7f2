//! A replica fed by full sync and then by the command stream answers like
//! its primary; no-op writes are not replicated.

mod common;

use common::{answers, build_big_flag, err, int, int_b, ok, query, run, snapshot, Server};

fn repl_offset(con: &mut redis::Connection) -> i64 {
    let info: String = query(con, &["INFO", "replication"]);
    info.lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn wait_replica(primary: &mut redis::Connection) {
    assert_eq!(int(primary, &["WAIT", "1", "10000"]), 1, "replica did not acknowledge");
}

#[test]
fn replica_answers_like_primary() {
    let p = Server::start(&["--repl-ping-replica-period", "60"]);
    let mut pc = p.con();
    let ids = build_big_flag(&mut pc, "big", 100_000, 7);
    // Full sync of an existing flag.
    let r = Server::replica_of(&p, &[]);
    let mut rc = r.con();
    wait_replica(&mut pc);
    assert_eq!(answers(&mut rc, "big", &ids), answers(&mut pc, "big", &ids));
    // Then the command stream.
    int(&mut pc, &["HANOI.REGISTER", "big", "USER", "late-user"]);
    int_b(&mut pc, ("HANOI.BLOCK", "big", &ids[0]));
    int(&mut pc, &["HANOI.REGISTER", "big", "REGEX", "^late"]);
    ok(&mut pc, &["HANOI.PERCENTAGE", "big", "60"]);
    #[rustfmt::skip]
    ok(&mut pc, &["HANOI.DEFINE", "fresh", "PERCENTAGE", "25", "VARIANTS", "2", "x", "y", "SALT", "s"]);
    int(&mut pc, &["HANOI.TOGGLE", "fresh"]);
    int(&mut pc, &["HANOI.TOGGLE", "fresh"]);
    wait_replica(&mut pc);
    assert_eq!(answers(&mut rc, "big", &ids), answers(&mut pc, "big", &ids));
    assert_eq!(answers(&mut rc, "fresh", &ids), answers(&mut pc, "fresh", &ids));
    assert_eq!(snapshot(&mut rc, "big"), snapshot(&mut pc, "big"));
    assert_eq!(int(&mut rc, &["HANOI.ENABLED", "big", "late-user"]), 1);
    // The replica refuses writes.
    let e = err(&mut rc, &["HANOI.TOGGLE", "big"]);
    assert!(e.starts_with("READONLY "), "{e}");
    // Writes that change nothing are not replicated.
    let before = repl_offset(&mut pc);
    int(&mut pc, &["HANOI.REGISTER", "big", "USER", "late-user"]);
    ok(&mut pc, &["HANOI.PERCENTAGE", "big", "60"]);
    let _ = run(&mut pc, &["HANOI.PERCENTAGE", "big", "600"]);
    assert_eq!(repl_offset(&mut pc), before);

    // Promotion: the replica becomes a primary with the same answers, and
    // takes writes.
    let want = answers(&mut pc, "big", &ids);
    drop(pc);
    drop(p);
    ok(&mut rc, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(answers(&mut rc, "big", &ids), want);
    assert_eq!(int(&mut rc, &["HANOI.REGISTER", "big", "USER", "after-promotion"]), 1);
    assert_eq!(int(&mut rc, &["HANOI.ENABLED", "big", "after-promotion"]), 1);
}
